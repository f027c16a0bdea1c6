//! Service-level objectives: `METRIC OP NUMBER`, e.g. `p99_ttft_ms<=500`, `median_tpot_ms<50`,
//! `failed==0`, `output_throughput>=1000`, over the fields of a summary.

use crate::error::{InputError, InputResult};
use crate::metrics::{Metric, Summary};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
}

/// One objective.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slo {
    pub text: String,
    pub metric: Metric,
    pub op: Op,
    pub limit: f64,
}

/// Metrics an SLO may name: the latency and throughput fields plus counts.
pub fn metric_names() -> Vec<&'static str> {
    Metric::ALL
        .iter()
        .filter(|m| **m != Metric::Duration)
        .map(|m| m.name())
        .collect()
}

impl Slo {
    pub fn parse(text: &str) -> InputResult<Slo> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let ops = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        let (pos, len, op) = ops
            .iter()
            .filter_map(|(s, op)| t.find(s).map(|p| (p, s.len(), *op)))
            .min_by_key(|(p, len, _)| (*p, usize::MAX - len))
            .ok_or_else(|| {
                InputError::new(
                    "--slo",
                    format!("'{text}' is not METRIC<=NUMBER (operators: <=, <, >=, >, ==)"),
                )
            })?;
        let metric = &t[..pos];
        let number = &t[pos + len..];
        let Some(metric) = Metric::parse(metric).filter(|m| *m != Metric::Duration) else {
            return Err(InputError::new(
                "--slo",
                format!(
                    "'{text}': unknown metric '{metric}' (known: {})",
                    metric_names().join(", ")
                ),
            ));
        };
        let limit: f64 = number
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| {
                InputError::new("--slo", format!("'{text}': '{number}' is not a number"))
            })?;
        Ok(Slo {
            text: text.to_string(),
            metric,
            op,
            limit,
        })
    }

    /// The summary's value of this metric (NaN when it has none, e.g. no completed request).
    pub fn value(&self, s: &Summary) -> f64 {
        s.metric(self.metric)
    }

    /// Whether the summary meets this objective (a NaN value never does).
    pub fn met(&self, s: &Summary) -> bool {
        let v = self.value(s);
        match self.op {
            Op::Le => v <= self.limit,
            Op::Lt => v < self.limit,
            Op::Ge => v >= self.limit,
            Op::Gt => v > self.limit,
            Op::Eq => v == self.limit,
        }
    }

    /// Whether more load (users, rate, prompt length) makes this objective easier to meet: a
    /// floor on a throughput that grows with load (`output_throughput>=1000`). Latency
    /// ceilings, per-user speed floors and failure limits get harder with load.
    pub fn helped_by_load(&self) -> bool {
        let grows = matches!(
            self.metric,
            Metric::RequestThroughput | Metric::OutputThroughput | Metric::TotalTokenThroughput
        );
        grows && matches!(self.op, Op::Ge | Op::Gt)
    }

    /// How much room is left, in percent of the limit (negative: missed).
    pub fn margin_pct(&self, s: &Summary) -> f64 {
        let v = self.value(s);
        let scale = self.limit.abs().max(1e-9);
        match self.op {
            Op::Le | Op::Lt => (self.limit - v) / scale * 100.0,
            Op::Ge | Op::Gt => (v - self.limit) / scale * 100.0,
            Op::Eq => -((v - self.limit).abs() / scale * 100.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let s = Slo::parse("p99_ttft_ms<=500").unwrap();
        assert_eq!(
            (s.metric.name(), s.op, s.limit),
            ("p99_ttft_ms", Op::Le, 500.0)
        );
        assert_eq!(Slo::parse("failed == 0").unwrap().op, Op::Eq);
        assert_eq!(Slo::parse("output_throughput>1e3").unwrap().limit, 1000.0);
        assert_eq!(Slo::parse("median_tpot_ms<50").unwrap().op, Op::Lt);
    }

    #[test]
    fn bad_expressions_say_which_part_is_wrong() {
        assert!(Slo::parse("p99_ttft_ms")
            .unwrap_err()
            .problem
            .contains("is not METRIC"));
        assert!(Slo::parse("p99_ttfb_ms<=5")
            .unwrap_err()
            .problem
            .contains("unknown metric"));
        assert!(Slo::parse("p99_ttft_ms<=fast")
            .unwrap_err()
            .problem
            .contains("not a number"));
        assert!(Slo::parse("p99_ttft_ms<=inf").is_err());
    }
}
