//! Reading a sweep: the latency–throughput knee and the saturation plateau.
//!
//! - **Knee** (where users put it): the last point before the elasticity of p99 TTFT with
//!   respect to output throughput, d ln(p99 TTFT) / d ln(throughput) between neighbouring
//!   points, first exceeds [`KNEE_ELASTICITY`]: past it each 1% more throughput costs more than
//!   2% more tail latency (or latency rises with no throughput gained).
//! - **Kneedle** (a second reading, kept for comparison): the sweep's points in swept order give
//!   x = output throughput and y = p99 TTFT; both are scaled to [0, 1] and the knee is the
//!   point farthest below the diagonal, max(x − y): past it, latency grows faster than
//!   throughput. Needs three points, throughput that grows along the sweep and a latency that
//!   rises.
//! - **Plateau**: achieved throughput stops rising with offered load. With the peak request
//!   throughput X, the plateau starts at the first point that reaches 95% of X (later points
//!   may stay flat or fall, as overloaded servers do); it is reported only when at least two
//!   points lie on it.

use crate::metrics::Summary;
use serde::Serialize;

pub mod breakdown;
pub mod slo;

/// Where latency starts to grow faster than throughput.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Knee {
    pub key: String,
    pub value: serde_json::Value,
    pub method: String,
}

/// Where achieved throughput stops rising.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Plateau {
    pub key: String,
    pub starts_at: serde_json::Value,
    pub request_throughput: f64,
    pub output_throughput: f64,
}

/// Elasticity of p99 TTFT to output throughput past which a sweep is past its knee.
pub const KNEE_ELASTICITY: f64 = 2.0;

/// The `analysis.json` of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Analysis {
    /// The knee by elasticity (see the module's documentation).
    pub knee: Option<Knee>,
    /// The knee by Kneedle, for comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kneedle: Option<Knee>,
    pub plateau: Option<Plateau>,
    /// The first value of the swept key at which the KV cache ran out (preemptions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preemption_onset: Option<serde_json::Value>,
    /// The first value of the swept key at which requests failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_onset: Option<serde_json::Value>,
}

/// The swept key whose values order the points: the first key that varies and is numeric.
pub fn swept_key(points: &[Summary]) -> Option<String> {
    let first = points.first()?;
    first
        .point
        .keys()
        .find(|k| {
            let values: Vec<f64> = points
                .iter()
                .filter_map(|p| p.point.get(*k)?.as_f64())
                .collect();
            values.len() == points.len() && values.iter().any(|v| *v != values[0])
        })
        .cloned()
}

/// Indices of the points sorted by the swept key (other keys fixed at the first point's values).
fn along(points: &[Summary], key: &str) -> Vec<usize> {
    let first = &points[0].point;
    let mut idx: Vec<usize> = (0..points.len())
        .filter(|&i| {
            points[i]
                .point
                .iter()
                .all(|(k, v)| k == key || first.get(k) == Some(v))
        })
        .collect();
    idx.sort_by(|&a, &b| {
        let x = points[a].point[key].as_f64().unwrap_or(0.0);
        let y = points[b].point[key].as_f64().unwrap_or(0.0);
        x.total_cmp(&y)
    });
    idx
}

/// The knee by elasticity: the last point before d ln(p99 TTFT) / d ln(output throughput)
/// between neighbouring points exceeds [`KNEE_ELASTICITY`].
pub fn knee(points: &[Summary]) -> Option<Knee> {
    let key = swept_key(points)?;
    let idx = along(points, &key);
    if idx.len() < 3 {
        return None;
    }
    let x: Vec<f64> = idx.iter().map(|&i| points[i].output_throughput).collect();
    let y: Vec<f64> = idx.iter().map(|&i| points[i].p99_ttft_ms).collect();
    if x.iter().chain(&y).any(|v| !(v.is_finite() && *v > 0.0)) {
        return None;
    }
    for i in 0..idx.len() - 1 {
        let dy = (y[i + 1] / y[i]).ln();
        let dx = (x[i + 1] / x[i]).ln();
        // Latency up while throughput barely moves (or falls) is past any knee.
        let elasticity = if dx > 1e-3 {
            dy / dx
        } else if dy > 0.01 {
            f64::INFINITY
        } else {
            0.0
        };
        if elasticity > KNEE_ELASTICITY {
            if i == 0 {
                return None; // past the knee from the first point: it lies below this range
            }
            let e = if elasticity.is_finite() {
                format!("{elasticity:.1}")
            } else {
                "unbounded (throughput no longer grows)".into()
            };
            return Some(Knee {
                key: key.clone(),
                value: points[idx[i]].point[&key].clone(),
                method: format!(
                    "elasticity: from here to the next point p99 TTFT grows {:.0}% for {:.0}% more output throughput (elasticity {e} > {KNEE_ELASTICITY})",
                    (y[i + 1] / y[i] - 1.0) * 100.0,
                    (x[i + 1] / x[i] - 1.0) * 100.0
                ),
            });
        }
    }
    None
}

/// Kneedle on (output throughput, p99 TTFT) along the swept key.
pub fn kneedle(points: &[Summary]) -> Option<Knee> {
    let key = swept_key(points)?;
    let idx = along(points, &key);
    if idx.len() < 3 {
        return None;
    }
    let xs: Vec<f64> = idx.iter().map(|&i| points[i].output_throughput).collect();
    let ys: Vec<f64> = idx.iter().map(|&i| points[i].p99_ttft_ms).collect();
    if xs.iter().chain(&ys).any(|v| !v.is_finite()) {
        return None;
    }
    if xs[xs.len() - 1] <= xs[0] * 1.05 {
        return None; // throughput does not grow along this sweep (e.g. longer prompts): no knee
    }
    let norm = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(*x), b.max(*x))
            });
        v.iter()
            .map(|x| if hi > lo { (x - lo) / (hi - lo) } else { 0.0 })
            .collect::<Vec<f64>>()
    };
    let (xn, yn) = (norm(&xs), norm(&ys));
    if ys[ys.len() - 1] <= ys[0] {
        return None; // latency does not rise along the sweep (e.g. more replicas): no knee
    }
    let (best, gap) = (0..idx.len())
        .map(|i| (i, xn[i] - yn[i]))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    if gap <= 0.05 {
        return None; // the curve never bends away from the diagonal
    }
    Some(Knee {
        key: key.clone(),
        value: points[idx[best]].point[&key].clone(),
        method: "kneedle: max(x − y) of output_throughput (x) and p99_ttft_ms (y), each scaled to [0, 1], along the swept key".into(),
    })
}

/// Where request throughput stops rising (within 5% of its peak to the end of the sweep).
pub fn plateau(points: &[Summary]) -> Option<Plateau> {
    let key = swept_key(points)?;
    let idx = along(points, &key);
    if idx.len() < 3 {
        return None;
    }
    let xs: Vec<f64> = idx.iter().map(|&i| points[i].request_throughput).collect();
    let peak = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !(peak.is_finite() && peak > 0.0) {
        return None;
    }
    // The first point that reaches 95% of the peak; past it throughput may stay flat or fall
    // (overload), but it does not rise again.
    let start = xs
        .iter()
        .position(|&x| x >= 0.95 * peak)
        .unwrap_or(idx.len());
    if start == 0 {
        return None; // throughput never rose along this sweep (e.g. longer prompts): no plateau
    }
    if idx.len() - start < 2 {
        return None;
    }
    let on: Vec<usize> = idx[start..].to_vec();
    let mean =
        |f: fn(&Summary) -> f64| on.iter().map(|&i| f(&points[i])).sum::<f64>() / on.len() as f64;
    Some(Plateau {
        key: key.clone(),
        starts_at: points[idx[start]].point[&key].clone(),
        request_throughput: mean(|s| s.request_throughput),
        output_throughput: mean(|s| s.output_throughput),
    })
}

/// The first value of the swept key at which `happens` holds.
fn onset(points: &[Summary], happens: fn(&Summary) -> bool) -> Option<serde_json::Value> {
    let key = swept_key(points)?;
    along(points, &key)
        .into_iter()
        .find(|&i| happens(&points[i]))
        .map(|i| points[i].point[&key].clone())
}

pub fn analyse(points: &[Summary]) -> Analysis {
    Analysis {
        knee: knee(points),
        kneedle: kneedle(points),
        plateau: plateau(points),
        preemption_onset: onset(points, |s| s.preemptions > 0),
        failure_onset: onset(points, |s| s.failed > 0),
    }
}

impl Analysis {
    /// Two lines for the summary table.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        match &self.knee {
            Some(k) => s.push_str(&format!("knee: {} = {} ({})\n", k.key, k.value, k.method)),
            None => s.push_str(&format!(
                "knee: none in this range (p99 TTFT never grows more than {KNEE_ELASTICITY}x as fast as throughput between points)\n"
            )),
        }
        if let Some(k) = &self.kneedle {
            s.push_str(&format!(
                "kneedle knee: {} = {} (the point farthest below the diagonal of the normalised latency–throughput curve)\n",
                k.key, k.value
            ));
        }
        match &self.plateau {
            Some(p) => s.push_str(&format!(
                "plateau: from {} = {}: {:.2} req/s, {:.1} output tok/s\n",
                p.key, p.starts_at, p.request_throughput, p.output_throughput
            )),
            None => s.push_str("plateau: none (throughput does not level off in this range)\n"),
        }
        if let Some(v) = &self.preemption_onset {
            s.push_str(&format!("preemptions (KV cache full) from {v}\n"));
        }
        if let Some(v) = &self.failure_onset {
            s.push_str(&format!("failed requests from {v}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{summarize, ItlStats, RunFacts};

    fn point(load: f64, tput: f64, p99: f64) -> Summary {
        let mut s = summarize(
            Default::default(),
            "simulated",
            &[],
            &ItlStats::default(),
            RunFacts::default(),
        );
        s.point.insert("workload.rate".into(), load.into());
        s.request_throughput = tput;
        s.output_throughput = tput * 100.0;
        s.p99_ttft_ms = p99;
        s
    }

    /// A saturating server: throughput min(load, 4), latency 1/(1 − ρ)-like then queue growth.
    fn curve() -> Vec<Summary> {
        [0.5, 1.0, 2.0, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0]
            .iter()
            .map(|&l: &f64| {
                let x = l.min(4.0);
                let rho = (l / 4.0).min(0.99);
                let y = if l <= 3.5 {
                    100.0 / (1.0 - rho)
                } else {
                    100.0 / (1.0 - 0.875) + 2000.0 * (l - 3.5)
                };
                point(l, x, y)
            })
            .collect()
    }

    #[test]
    fn finds_the_knee_before_saturation() {
        let k = knee(&curve()).unwrap();
        let v = k.value.as_f64().unwrap();
        assert!((3.0..=4.0).contains(&v), "knee at {v}");
        assert_eq!(k.key, "workload.rate");
    }

    #[test]
    fn kneedle_reads_the_same_curve_as_a_second_opinion() {
        let k = kneedle(&curve()).unwrap();
        let v = k.value.as_f64().unwrap();
        assert!((2.0..=4.0).contains(&v), "kneedle knee at {v}");
        assert!(k.method.starts_with("kneedle"));
    }

    #[test]
    fn finds_the_plateau_where_throughput_stops_rising() {
        let p = plateau(&curve()).unwrap();
        assert_eq!(p.starts_at.as_f64(), Some(4.0));
        assert!((p.request_throughput - 4.0).abs() < 1e-9);
    }

    #[test]
    fn a_linear_curve_has_neither() {
        let pts: Vec<Summary> = (1..6)
            .map(|i| point(i as f64, i as f64, 100.0 + i as f64))
            .collect();
        assert!(plateau(&pts).is_none());
        assert!(
            knee(&pts).is_none(),
            "latency rising in step with throughput has no knee"
        );
        assert!(knee(&pts[..2]).is_none());
    }

    #[test]
    fn onsets_are_the_first_points_with_preemptions_and_failures() {
        let mut pts = curve();
        pts[6].preemptions = 3;
        pts[7].preemptions = 9;
        pts[8].failed = 1;
        pts.reverse();
        let a = analyse(&pts);
        assert_eq!(a.preemption_onset.and_then(|v| v.as_f64()), Some(5.0));
        assert_eq!(a.failure_onset.and_then(|v| v.as_f64()), Some(8.0));
        assert!(analyse(&curve()).preemption_onset.is_none());
    }

    #[test]
    fn falling_throughput_has_no_knee() {
        let pts: Vec<Summary> = (1..6)
            .map(|i| point(i as f64, 10.0 / i as f64, 100.0 * i as f64))
            .collect();
        assert!(knee(&pts).is_none());
    }

    #[test]
    fn the_sweep_may_arrive_in_any_order() {
        let mut pts = curve();
        pts.reverse();
        assert_eq!(plateau(&pts).unwrap().starts_at.as_f64(), Some(4.0));
    }
}
