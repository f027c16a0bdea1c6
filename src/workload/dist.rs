//! Distributions for lengths (tokens) and times (seconds), read from scenario values.
//!
//! A value is a plain number (fixed) or an inline table with `dist` =
//! `fixed | uniform | normal | lognormal | exponential | empirical`. `lognormal` takes the
//! distribution's own `mean` and `stddev` (not those of its logarithm). Any form takes optional
//! `min` and `max` clamps. `empirical` samples uniformly from `values = [...]` or from a column
//! of a CSV file (`file`, `column`).

use crate::error::{InputError, InputResult};
use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal};
use std::path::Path;

#[derive(Clone, Debug)]
enum Shape {
    Fixed(f64),
    Uniform(f64, f64),
    Normal(Normal<f64>),
    LogNormal(LogNormal<f64>),
    Exponential(Exp<f64>),
    Empirical(Vec<f64>),
}

/// A distribution of non-negative values with optional clamps.
#[derive(Clone, Debug)]
pub struct Dist {
    shape: Shape,
    mean: f64,
    min: f64,
    max: f64,
}

impl Dist {
    pub fn fixed(v: f64) -> Dist {
        Dist {
            shape: Shape::Fixed(v),
            mean: v,
            min: 0.0,
            max: f64::INFINITY,
        }
    }

    /// Whether every sample is the same value.
    pub fn is_fixed(&self) -> bool {
        matches!(self.shape, Shape::Fixed(_))
    }

    /// The mean before clamping.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The largest value a sample can take (infinite for unbounded shapes).
    pub fn upper_bound(&self) -> f64 {
        let natural = match &self.shape {
            Shape::Fixed(v) => *v,
            Shape::Uniform(_, hi) => *hi,
            Shape::Empirical(v) => v.iter().cloned().fold(0.0, f64::max),
            _ => f64::INFINITY,
        };
        natural.min(self.max)
    }

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let v = match &self.shape {
            Shape::Fixed(v) => *v,
            Shape::Uniform(lo, hi) => {
                if hi > lo {
                    rng.random_range(*lo..=*hi)
                } else {
                    *lo
                }
            }
            Shape::Normal(d) => d.sample(rng),
            Shape::LogNormal(d) => d.sample(rng),
            Shape::Exponential(d) => d.sample(rng),
            Shape::Empirical(values) => values[rng.random_range(0..values.len())],
        };
        v.clamp(self.min, self.max)
    }

    /// Parses a scenario value; `key` names it in errors, `base` resolves relative files.
    pub fn from_toml(value: &toml::Value, key: &str, base: &Path) -> InputResult<Dist> {
        let err = |problem: String| InputError::new(key, problem);
        let number = |v: &toml::Value, what: &str| -> InputResult<f64> {
            let x = match v {
                toml::Value::Integer(i) => *i as f64,
                toml::Value::Float(f) => *f,
                other => {
                    return Err(err(format!(
                        "{what} must be a number (got {})",
                        other.type_str()
                    )))
                }
            };
            if !x.is_finite() || x < 0.0 {
                return Err(err(format!(
                    "{what} must be a non-negative number (got {x})"
                )));
            }
            Ok(x)
        };
        let table = match value {
            toml::Value::Integer(_) | toml::Value::Float(_) => {
                return Ok(Dist::fixed(number(value, "the value")?))
            }
            toml::Value::Table(t) => t,
            other => {
                return Err(err(format!(
                    "must be a number or a table like {{ dist = \"lognormal\", mean = 1000, stddev = 800 }} (got {})",
                    other.type_str()
                )))
            }
        };
        let field = |name: &str| -> InputResult<f64> {
            let v = table
                .get(name)
                .ok_or_else(|| err(format!("this distribution needs '{name}'")))?;
            number(v, name)
        };
        let opt = |name: &str| -> InputResult<Option<f64>> {
            table.get(name).map(|v| number(v, name)).transpose()
        };
        let kind = match table.get("dist") {
            Some(toml::Value::String(s)) => s.as_str(),
            Some(other) => return Err(err(format!("'dist' must be a string (got {})", other.type_str()))),
            None => return Err(err("a distribution table needs 'dist' (fixed, uniform, normal, lognormal, exponential, empirical)".into())),
        };
        let allowed: &[&str] = match kind {
            "fixed" => &["value"],
            "uniform" => &["min", "max"],
            "normal" | "lognormal" => &["mean", "stddev"],
            "exponential" => &["mean"],
            "empirical" => &["values", "file", "column"],
            other => {
                return Err(err(format!(
                    "unknown dist '{other}' (expected fixed, uniform, normal, lognormal, exponential, empirical)"
                )))
            }
        };
        for k in table.keys() {
            if k != "dist" && k != "min" && k != "max" && !allowed.contains(&k.as_str()) {
                return Err(err(format!("unknown field '{k}' for dist = \"{kind}\"")));
            }
        }
        let (shape, mean) = match kind {
            "fixed" => {
                let v = field("value")?;
                (Shape::Fixed(v), v)
            }
            "uniform" => {
                let (lo, hi) = (field("min")?, field("max")?);
                if hi < lo {
                    return Err(err(format!("uniform needs min <= max (got {lo} > {hi})")));
                }
                (Shape::Uniform(lo, hi), (lo + hi) / 2.0)
            }
            "normal" => {
                let (m, s) = (field("mean")?, field("stddev")?);
                let d = Normal::new(m, s).map_err(|e| err(format!("bad normal: {e}")))?;
                (Shape::Normal(d), m)
            }
            "lognormal" => {
                let (m, s) = (field("mean")?, field("stddev")?);
                if m <= 0.0 {
                    return Err(err(format!("lognormal needs mean > 0 (got {m})")));
                }
                let sigma2 = (1.0 + (s * s) / (m * m)).ln();
                let mu = m.ln() - sigma2 / 2.0;
                let d = LogNormal::new(mu, sigma2.sqrt())
                    .map_err(|e| err(format!("bad lognormal: {e}")))?;
                (Shape::LogNormal(d), m)
            }
            "exponential" => {
                let m = field("mean")?;
                if m <= 0.0 {
                    return Err(err(format!("exponential needs mean > 0 (got {m})")));
                }
                let d = Exp::new(1.0 / m).map_err(|e| err(format!("bad exponential: {e}")))?;
                (Shape::Exponential(d), m)
            }
            _ => {
                let values = empirical_values(table, key, base)?;
                let m = values.iter().sum::<f64>() / values.len() as f64;
                (Shape::Empirical(values), m)
            }
        };
        let min = opt("min")?.unwrap_or(0.0);
        let max = opt("max")?.unwrap_or(f64::INFINITY);
        if kind != "uniform" && max < min {
            return Err(err(format!("min must be <= max (got {min} > {max})")));
        }
        let (min, max) = if kind == "uniform" {
            (0.0, f64::INFINITY)
        } else {
            (min, max)
        };
        Ok(Dist {
            shape,
            mean,
            min,
            max,
        })
    }
}

fn empirical_values(table: &toml::Table, key: &str, base: &Path) -> InputResult<Vec<f64>> {
    let err = |problem: String| InputError::new(key, problem);
    let values: Vec<f64> = match (table.get("values"), table.get("file")) {
        (Some(toml::Value::Array(a)), None) => a
            .iter()
            .map(|v| match v {
                toml::Value::Integer(i) if *i >= 0 => Ok(*i as f64),
                toml::Value::Float(f) if f.is_finite() && *f >= 0.0 => Ok(*f),
                other => Err(err(format!(
                    "empirical values must be non-negative numbers (got {other})"
                ))),
            })
            .collect::<InputResult<_>>()?,
        (None, Some(toml::Value::String(file))) => {
            let column = match table.get("column") {
                Some(toml::Value::String(c)) => c.clone(),
                None => {
                    return Err(err(
                        "empirical 'file' needs 'column' (a CSV header name)".into()
                    ))
                }
                Some(other) => {
                    return Err(err(format!(
                        "'column' must be a string (got {})",
                        other.type_str()
                    )))
                }
            };
            read_csv_column(&base.join(file), &column).map_err(|e| InputError::new(key, e))?
        }
        _ => {
            return Err(err(
                "empirical needs either 'values = [...]' or 'file' and 'column'".into(),
            ))
        }
    };
    if values.is_empty() {
        return Err(err("empirical needs at least one value".into()));
    }
    Ok(values)
}

fn read_csv_column(path: &Path, column: &str) -> Result<Vec<f64>, String> {
    let mut rdr =
        csv::Reader::from_path(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let headers = rdr
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let idx = headers
        .iter()
        .position(|h| h.trim() == column)
        .ok_or_else(|| format!("{}: no column '{column}'", path.display()))?;
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| format!("{}: line {}: {e}", path.display(), i + 2))?;
        let cell = rec.get(idx).unwrap_or("").trim();
        let v: f64 = cell.parse().map_err(|_| {
            format!(
                "{}: line {}: '{cell}' is not a number",
                path.display(),
                i + 2
            )
        })?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!(
                "{}: line {}: negative or invalid value {v}",
                path.display(),
                i + 2
            ));
        }
        out.push(v);
    }
    Ok(out)
}

/// A token-count distribution: samples rounded up to whole tokens, at least 1 and at most
/// [`LengthDist::MAX_TOKENS`].
#[derive(Clone, Debug)]
pub struct LengthDist(pub Dist);

impl LengthDist {
    pub fn fixed(tokens: u32) -> LengthDist {
        LengthDist(Dist::fixed(tokens as f64))
    }

    /// No request is longer than this (2^30 tokens), so sums of lengths cannot overflow.
    pub const MAX_TOKENS: u32 = 1 << 30;

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        let v = self.0.sample(rng).ceil();
        v.clamp(1.0, Self::MAX_TOKENS as f64) as u32
    }

    pub fn from_toml(value: &toml::Value, key: &str, base: &Path) -> InputResult<LengthDist> {
        let d = Dist::from_toml(value, key, base)?;
        if d.is_fixed() && d.mean() < 1.0 {
            return Err(InputError::new(
                key,
                format!("must be at least 1 token (got {})", d.mean()),
            ));
        }
        if let Shape::Empirical(values) = &d.shape {
            if let Some(v) = values.iter().find(|v| **v < 1.0) {
                return Err(InputError::new(
                    key,
                    format!("empirical token counts must be at least 1 (got {v})"),
                ));
            }
        }
        let top = d.upper_bound();
        if top.is_finite() && top > Self::MAX_TOKENS as f64 {
            return Err(InputError::new(
                key,
                format!(
                    "reaches {top} tokens; a request holds at most {} (2^30)",
                    Self::MAX_TOKENS
                ),
            ));
        }
        Ok(LengthDist(d))
    }

    /// The largest length a sample can take.
    pub fn upper_bound(&self) -> f64 {
        self.0
            .upper_bound()
            .ceil()
            .clamp(1.0, Self::MAX_TOKENS as f64)
    }

    /// A token count scaled by `factor` (trace replay's token_scale), rounded, kept in range.
    pub fn scale(tokens: u32, factor: f64) -> u32 {
        (tokens as f64 * factor)
            .round()
            .clamp(1.0, Self::MAX_TOKENS as f64) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn parse(s: &str) -> InputResult<Dist> {
        let v: toml::Table = toml::from_str(&format!("x = {s}")).unwrap();
        Dist::from_toml(&v["x"], "workload.input_tokens", Path::new("."))
    }

    fn mean_of(d: &Dist, n: usize) -> f64 {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        (0..n).map(|_| d.sample(&mut rng)).sum::<f64>() / n as f64
    }

    #[test]
    fn lognormal_takes_the_distributions_own_mean() {
        let d = parse(r#"{ dist = "lognormal", mean = 1000, stddev = 800 }"#).unwrap();
        let m = mean_of(&d, 200_000);
        assert!((m / 1000.0 - 1.0).abs() < 0.02, "{m}");
    }

    #[test]
    fn every_shape_parses_and_samples_near_its_mean() {
        for (s, mean) in [
            ("256", 256.0),
            (r#"{ dist = "uniform", min = 1, max = 63 }"#, 32.0),
            (r#"{ dist = "normal", mean = 500, stddev = 50 }"#, 500.0),
            (r#"{ dist = "exponential", mean = 100 }"#, 100.0),
            (r#"{ dist = "empirical", values = [10, 20, 30] }"#, 20.0),
            (r#"{ dist = "fixed", value = 7 }"#, 7.0),
        ] {
            let d = parse(s).unwrap();
            let m = mean_of(&d, 100_000);
            assert!((m / mean - 1.0).abs() < 0.03, "{s}: {m}");
        }
    }

    #[test]
    fn clamps_apply() {
        let d = parse(r#"{ dist = "exponential", mean = 100, max = 150, min = 20 }"#).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        for _ in 0..10_000 {
            let v = d.sample(&mut rng);
            assert!((20.0..=150.0).contains(&v));
        }
        assert_eq!(d.upper_bound(), 150.0);
    }

    #[test]
    fn bad_distributions_say_what_is_wrong() {
        for (s, needle) in [
            (r#""long""#, "must be a number or a table"),
            (r#"{ dist = "zipf" }"#, "unknown dist"),
            (r#"{ dist = "normal", mean = 5 }"#, "needs 'stddev'"),
            (r#"{ dist = "uniform", min = 9, max = 2 }"#, "min <= max"),
            (
                r#"{ dist = "lognormal", mean = 5, stddev = 1, sigma = 2 }"#,
                "unknown field 'sigma'",
            ),
            ("-3", "non-negative"),
            (r#"{ dist = "empirical", values = [] }"#, "at least one"),
        ] {
            let e = parse(s).unwrap_err();
            assert!(e.problem.contains(needle), "{s}: {e}");
            assert_eq!(e.key, "workload.input_tokens");
        }
    }

    #[test]
    fn lengths_are_at_least_one_token() {
        let v: toml::Table = toml::from_str("x = 0").unwrap();
        assert!(LengthDist::from_toml(&v["x"], "k", Path::new(".")).is_err());
        let d = LengthDist(parse(r#"{ dist = "uniform", min = 0, max = 0.2 }"#).unwrap());
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        assert_eq!(d.sample(&mut rng), 1);
    }
}
