//! The names results are keyed by: a scenario point (its swept keys and values) and the
//! summary metrics (vllm bench field names).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The swept keys and their values at one scenario point, in sweep order (empty without a
/// sweep). Serialised as a JSON object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Point(pub serde_json::Map<String, serde_json::Value>);

impl Point {
    pub fn new() -> Point {
        Point::default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `key=value, …` for people (strings without quotes).
    pub fn label(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={}", plain(v)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Like [`Point::label`], with each key shortened to its last dotted part.
    pub fn short_label(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{}={}", k.rsplit('.').next().unwrap_or(k), plain(v)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A numeric key's value.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.0.get(key).and_then(serde_json::Value::as_f64)
    }
}

/// A JSON value as people write it (strings without quotes).
pub fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl std::ops::Deref for Point {
    type Target = serde_json::Map<String, serde_json::Value>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Point {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl FromIterator<(String, serde_json::Value)> for Point {
    fn from_iter<I: IntoIterator<Item = (String, serde_json::Value)>>(iter: I) -> Point {
        Point(iter.into_iter().collect())
    }
}

macro_rules! metrics {
    ($($variant:ident => $name:literal, $banded:literal;)*) => {
        /// A summary metric, by its `vllm bench serve` field name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Metric {
            $($variant,)*
        }

        impl Metric {
            /// Every metric, in summary order.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant,)*];

            /// The field name (`p99_ttft_ms`, `output_throughput`, …).
            pub fn name(self) -> &'static str {
                match self {
                    $(Metric::$variant => $name,)*
                }
            }

            /// Whether predictions carry a band for it and validation compares it: the
            /// throughputs and latencies, not the counts.
            pub fn banded(self) -> bool {
                match self {
                    $(Metric::$variant => $banded,)*
                }
            }
        }
    };
}

metrics! {
    RequestThroughput => "request_throughput", true;
    OutputThroughput => "output_throughput", true;
    TotalTokenThroughput => "total_token_throughput", true;
    MeanTtft => "mean_ttft_ms", true;
    MedianTtft => "median_ttft_ms", true;
    P90Ttft => "p90_ttft_ms", true;
    P99Ttft => "p99_ttft_ms", true;
    MeanTpot => "mean_tpot_ms", true;
    MedianTpot => "median_tpot_ms", true;
    P90Tpot => "p90_tpot_ms", true;
    P99Tpot => "p99_tpot_ms", true;
    MeanItl => "mean_itl_ms", true;
    MedianItl => "median_itl_ms", true;
    P90Itl => "p90_itl_ms", true;
    P99Itl => "p99_itl_ms", true;
    MeanE2el => "mean_e2el_ms", true;
    MedianE2el => "median_e2el_ms", true;
    P90E2el => "p90_e2el_ms", true;
    P99E2el => "p99_e2el_ms", true;
    MeanUserOutputThroughput => "mean_user_output_throughput", true;
    Completed => "completed", false;
    Failed => "failed", false;
    Duration => "duration", false;
    Preemptions => "preemptions", false;
    PrefixCacheHitTokens => "prefix_cache_hit_tokens", false;
}

impl Metric {
    /// The metrics predictions carry bands for and validation compares.
    pub fn banded_metrics() -> impl Iterator<Item = Metric> {
        Metric::ALL.iter().copied().filter(|m| m.banded())
    }

    /// A metric by its field name.
    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// Every field name, for error messages.
    pub fn names() -> Vec<&'static str> {
        Metric::ALL.iter().map(|m| m.name()).collect()
    }

    /// Latencies are better lower; throughputs and completions higher.
    pub fn lower_is_better(self) -> bool {
        self.name().ends_with("_ms")
            || matches!(
                self,
                Metric::Failed | Metric::Duration | Metric::Preemptions
            )
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Ordered by name, so maps keyed by metric (bands, errors) list fields alphabetically.
impl Ord for Metric {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for Metric {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Metric, D::Error> {
        let name = String::deserialize(d)?;
        Metric::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown metric '{name}' (known: {})",
                Metric::names().join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_round_trip_and_sort_alphabetically() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.name()), Some(*m));
        }
        let mut sorted = Metric::ALL.to_vec();
        sorted.sort();
        let names: Vec<&str> = sorted.iter().map(|m| m.name()).collect();
        let mut expected = names.clone();
        expected.sort_unstable();
        assert_eq!(names, expected);
        assert_eq!(Metric::banded_metrics().count(), 20);
    }
}
