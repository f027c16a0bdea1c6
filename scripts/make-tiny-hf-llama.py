#!/usr/bin/env python3
"""Write a tiny random-weight Llama (Hugging Face format) with a word-level tokenizer, for the
live tests against vLLM. Nothing is downloaded: transformers builds the model from a config,
the `tokenizers` package builds the tokenizer.

    make-tiny-hf-llama.py --out DIR [--layers 4 --hidden 512 --heads 8 --kv-heads 2
                                     --ffn 1408 --vocab 32000]

The default is 44M parameters in bf16 (hidden 512, 4 layers, 8 heads / 2 KV heads,
intermediate 1408, vocabulary 32000). The vocabulary is "w<i>" words plus the special
tokens and the chat roles, split on white space, so any text made of its words tokenizes to
one token a word and detokenizes back; the chat template wraps each message in <s> … </s>.
Run it with the python of scripts/vllm-server's venv (transformers, tokenizers, torch).
"""

import argparse
import json
import os

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIAL = ["<unk>", "<s>", "</s>"]
WORDS = ["system", "user", "assistant"]
TEMPLATE = (
    "{% for m in messages %}<s> {{ m['role'] }} {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<s> assistant {% endif %}"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=1408)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--context", type=int, default=4096)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    vocab = {t: i for i, t in enumerate(SPECIAL + WORDS)}
    for i in range(len(vocab), a.vocab):
        vocab[f"w{i}"] = i
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        model_max_length=a.context,
    )
    fast.chat_template = TEMPLATE
    fast.save_pretrained(a.out)

    config = LlamaConfig(
        vocab_size=a.vocab,
        hidden_size=a.hidden,
        intermediate_size=a.ffn,
        num_hidden_layers=a.layers,
        num_attention_heads=a.heads,
        num_key_value_heads=a.kv_heads,
        max_position_embeddings=a.context,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(a.out, safe_serialization=True)
    with open(os.path.join(a.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2}, f)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {a.out}: {n / 1e6:.1f} M parameters, vocabulary {a.vocab}")


if __name__ == "__main__":
    main()
