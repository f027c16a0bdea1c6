//! Prompts of exact token lengths, with distinct random content per request so no prefix cache
//! helps (unless the scenario asks for a shared prefix).
//!
//! Completions get token-id arrays: the server counts them exactly and adds no BOS. Chat needs
//! text: random ids are detokenized, re-tokenized through the server, and trimmed or extended
//! until the content has the wanted length; the chat template's own tokens (measured once with
//! a probe request) are subtracted. A server without `/tokenize` gets plain words (about one
//! token each), and the usage the server reports shows the difference.

use super::server::Server;
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Builds prompts for one run.
pub struct PromptMaker {
    /// Token ids are drawn from [lo, hi): the middle of the vocabulary, clear of special and
    /// byte tokens at either end.
    lo: u32,
    hi: u32,
    shared_prefix: Vec<u32>,
    /// Tokens the chat template adds around the content.
    pub chat_overhead: u32,
    tokenizer: bool,
}

const WORDS: &[&str] = &[
    "time",
    "year",
    "people",
    "way",
    "day",
    "man",
    "thing",
    "woman",
    "life",
    "child",
    "world",
    "school",
    "state",
    "family",
    "student",
    "group",
    "country",
    "problem",
    "hand",
    "part",
    "place",
    "case",
    "week",
    "company",
    "system",
    "program",
    "question",
    "work",
    "government",
    "number",
    "night",
    "point",
    "home",
    "water",
    "room",
    "mother",
    "area",
    "money",
    "story",
    "fact",
    "month",
    "lot",
    "right",
    "study",
    "book",
    "eye",
    "job",
    "word",
    "business",
    "issue",
];

impl PromptMaker {
    pub fn new(
        vocab_size: Option<u32>,
        shared_prefix_tokens: u32,
        tokenizer: bool,
        rng: &mut Xoshiro256PlusPlus,
    ) -> PromptMaker {
        let n = vocab_size.unwrap_or(32000).max(64);
        let (lo, hi) = (n / 8, n - n / 8);
        let shared_prefix = (0..shared_prefix_tokens)
            .map(|_| rng.random_range(lo..hi))
            .collect();
        PromptMaker {
            lo,
            hi,
            shared_prefix,
            chat_overhead: 0,
            tokenizer,
        }
    }

    /// `n` token ids: the shared prefix, then random ones.
    pub fn token_ids(&self, n: u32, rng: &mut Xoshiro256PlusPlus) -> Vec<u32> {
        let n = n.max(1) as usize;
        let mut ids: Vec<u32> = self.shared_prefix.iter().copied().take(n).collect();
        while ids.len() < n {
            ids.push(rng.random_range(self.lo..self.hi));
        }
        ids
    }

    /// Chat content of `n` tokens (after the template's overhead is taken off).
    pub async fn chat_text<S: Server>(
        &self,
        server: &S,
        n: u32,
        rng: &mut Xoshiro256PlusPlus,
    ) -> String {
        let want = n.saturating_sub(self.chat_overhead).max(1);
        if !self.tokenizer {
            return (0..want)
                .map(|_| format!(" {}", WORDS[rng.random_range(0..WORDS.len())]))
                .collect();
        }
        let mut ids = self.token_ids(want, rng);
        let mut best = String::new();
        for _ in 0..8 {
            let Some(text) = server.detokenize(&ids).await else {
                break;
            };
            let Some(count) = server.tokenize(&text).await.map(|t| t.len() as u32) else {
                return text;
            };
            best = text;
            if count == want {
                break;
            }
            if count > want {
                let drop = ((count - want) as usize)
                    .min(ids.len().saturating_sub(1))
                    .max(1);
                ids.truncate(ids.len() - drop);
            } else {
                for _ in 0..(want - count) {
                    ids.push(rng.random_range(self.lo..self.hi));
                }
            }
        }
        if best.is_empty() {
            best = (0..want)
                .map(|_| format!(" {}", WORDS[rng.random_range(0..WORDS.len())]))
                .collect();
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn token_ids_have_the_length_asked_and_differ_per_request() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let m = PromptMaker::new(Some(32000), 0, false, &mut rng);
        let a = m.token_ids(100, &mut rng);
        let b = m.token_ids(100, &mut rng);
        assert_eq!(a.len(), 100);
        assert_ne!(a, b);
        assert!(a.iter().all(|&t| (4000..28000).contains(&t)));
    }

    #[test]
    fn shared_prefix_is_the_same_in_every_prompt() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let m = PromptMaker::new(Some(32000), 10, false, &mut rng);
        let a = m.token_ids(50, &mut rng);
        let b = m.token_ids(50, &mut rng);
        assert_eq!(a[..10], b[..10]);
        assert_ne!(a[10..], b[10..]);
        assert_eq!(m.token_ids(4, &mut rng).len(), 4);
    }
}
