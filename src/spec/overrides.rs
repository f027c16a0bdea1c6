//! `--set KEY=VALUE` overrides and `[sweep]` expansion, applied to the TOML document before it
//! is read, so an override is checked exactly like a key written in the file.

use crate::error::{InputError, InputResult};

/// A dotted key path and the value to put there.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub path: Vec<String>,
    pub value: toml::Value,
}

impl Override {
    pub fn key(&self) -> String {
        self.path.join(".")
    }
}

/// Parses `KEY=VALUE`: VALUE is read as a TOML value (number, boolean, array, inline table,
/// quoted string) and falls back to a bare string.
pub fn parse_set(arg: &str) -> InputResult<Override> {
    let (key, value) = arg.split_once('=').ok_or_else(|| {
        InputError::new(
            "--set",
            format!("'{arg}' is not KEY=VALUE (e.g. workload.concurrency=32)"),
        )
    })?;
    let path = split_key(key.trim()).map_err(|p| InputError::new("--set", p))?;
    let value = value.trim();
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    Ok(Override {
        path,
        value: parsed,
    })
}

/// Splits a dotted key; segments may be quoted (`sweep."workload.rate"`).
pub fn split_key(key: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    for c in key.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '.' if !quoted => {
                if cur.is_empty() && !was_quoted {
                    return Err(format!("empty segment in key '{key}'"));
                }
                parts.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            _ => cur.push(c),
        }
    }
    if quoted {
        return Err(format!("unbalanced quote in key '{key}'"));
    }
    if cur.is_empty() && !was_quoted {
        return Err(format!("empty segment in key '{key}'"));
    }
    parts.push(cur);
    Ok(parts)
}

/// Applies a `--set` to the scenario document. A key the `[sweep]` sweeps is taken out of the
/// sweep, so the value given is the one used (a `--set` is never silently overwritten by the
/// sweep): the returned note says so.
pub fn apply_set(doc: &mut toml::Table, ov: &Override) -> InputResult<Option<String>> {
    apply(doc, ov)?;
    let key = ov.key();
    let Some(toml::Value::Table(sweep)) = doc.get_mut("sweep") else {
        return Ok(None);
    };
    let swept = sweep
        .keys()
        .find(|k| split_key(k).is_ok_and(|p| p == ov.path))
        .cloned();
    let Some(swept) = swept else {
        return Ok(None);
    };
    let values = sweep.remove(&swept);
    if sweep.is_empty() {
        doc.remove("sweep");
    }
    Ok(Some(format!(
        "--set {key}={} replaces the sweep over {key} ({})",
        ov.value,
        values.map_or(String::new(), |v| v.to_string())
    )))
}

/// Puts `value` at `path`, creating tables on the way.
pub fn apply(doc: &mut toml::Table, ov: &Override) -> InputResult<()> {
    let key = ov.key();
    let (last, parents) = ov.path.split_last().expect("split_key never returns empty");
    let mut table = doc;
    for (i, seg) in parents.iter().enumerate() {
        // `class[1]` descends into element 1 of an array of tables ([[workload.class]]).
        if let Some((name, index)) = indexed(seg) {
            let here = ov.path[..=i].join(".");
            let element = match table.get_mut(name) {
                Some(toml::Value::Array(items)) => items.get_mut(index),
                _ => None,
            };
            table = match element {
                Some(toml::Value::Table(t)) => t,
                _ => {
                    return Err(InputError::new(
                        key,
                        format!("'{here}' names no table (is there a [[{name}]] number {index}, counting from 0?)"),
                    ))
                }
            };
            continue;
        }
        let entry = table
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(InputError::new(
                    key,
                    format!("'{}' is a value, not a table", ov.path[..=i].join(".")),
                ))
            }
        };
    }
    table.insert(last.clone(), ov.value.clone());
    Ok(())
}

/// `name[3]` → ("name", 3).
fn indexed(seg: &str) -> Option<(&str, usize)> {
    let (name, rest) = seg.split_once('[')?;
    let index = rest.strip_suffix(']')?.parse().ok()?;
    Some((name, index))
}

/// One point of a sweep: the swept keys with their values, and the document to read.
#[derive(Debug)]
pub struct SweepPoint {
    pub point: Vec<(String, toml::Value)>,
    pub doc: toml::Table,
}

/// Takes `[sweep]` out of the document and returns the cartesian product of its keys (first key
/// outermost), or the document alone when there is no sweep.
pub fn expand_sweep(mut doc: toml::Table) -> InputResult<Vec<SweepPoint>> {
    let sweep = match doc.remove("sweep") {
        None => return Ok(vec![SweepPoint { point: vec![], doc }]),
        Some(toml::Value::Table(t)) => t,
        Some(_) => {
            return Err(InputError::new(
                "sweep",
                "must be a table of KEY = [values]",
            ))
        }
    };
    let mut axes: Vec<(Vec<String>, String, Vec<toml::Value>)> = Vec::new();
    for (key, values) in sweep {
        let path = split_key(&key).map_err(|p| InputError::new(format!("sweep.{key}"), p))?;
        let values = match values {
            toml::Value::Array(a) if !a.is_empty() => a,
            toml::Value::Array(_) => {
                return Err(InputError::new(
                    format!("sweep.\"{key}\""),
                    "needs at least one value",
                ))
            }
            _ => {
                return Err(InputError::new(
                    format!("sweep.\"{key}\""),
                    "must be an array of values, e.g. [4, 8, 16]",
                ))
            }
        };
        if path.first().map(String::as_str) == Some("sweep") {
            return Err(InputError::new(
                format!("sweep.\"{key}\""),
                "a sweep cannot sweep itself",
            ));
        }
        axes.push((path, key, values));
    }
    let total: usize = axes.iter().map(|a| a.2.len()).product();
    if total > 100_000 {
        return Err(InputError::new(
            "sweep",
            format!("{total} points is too many (at most 100000)"),
        ));
    }
    let mut points = Vec::with_capacity(total);
    for index in 0..total {
        let mut rest = index;
        let mut coords = vec![0; axes.len()];
        for (i, axis) in axes.iter().enumerate().rev() {
            coords[i] = rest % axis.2.len();
            rest /= axis.2.len();
        }
        let mut point_doc = doc.clone();
        let mut point = Vec::new();
        for (axis, &c) in axes.iter().zip(&coords) {
            let ov = Override {
                path: axis.0.clone(),
                value: axis.2[c].clone(),
            };
            apply(&mut point_doc, &ov)?;
            point.push((axis.1.clone(), axis.2[c].clone()));
        }
        points.push(SweepPoint {
            point,
            doc: point_doc,
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_set_on_a_swept_key_replaces_the_sweep_and_says_so() {
        let mut doc: toml::Table = toml::from_str(
            "[workload]\nconcurrency = 1\n[sweep]\n\"workload.concurrency\" = [1, 2, 4]\n",
        )
        .unwrap();
        let note = apply_set(&mut doc, &parse_set("workload.concurrency=32").unwrap())
            .unwrap()
            .unwrap();
        assert!(note.contains("replaces the sweep"), "{note}");
        assert!(doc.get("sweep").is_none());
        let points = expand_sweep(doc).unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(
            points[0].doc["workload"]["concurrency"].as_integer(),
            Some(32)
        );
    }

    use super::*;

    #[test]
    fn set_values_parse_as_toml_and_fall_back_to_strings() {
        assert_eq!(
            parse_set("workload.rate=2.5").unwrap().value,
            toml::Value::Float(2.5)
        );
        assert_eq!(
            parse_set("workload.arrival=poisson").unwrap().value,
            toml::Value::String("poisson".into())
        );
        assert_eq!(
            parse_set("engine.enable_chunked_prefill=false")
                .unwrap()
                .value,
            toml::Value::Boolean(false)
        );
        let o =
            parse_set(r#"workload.input_tokens={ dist = "uniform", min = 1, max = 63 }"#).unwrap();
        assert!(o.value.is_table());
        let o = parse_set(r#"sweep."workload.concurrency"=[1,2]"#).unwrap();
        assert_eq!(o.path, vec!["sweep", "workload.concurrency"]);
        assert!(parse_set("nonsense").is_err());
        assert!(parse_set("a..b=1").is_err());
    }

    #[test]
    fn apply_refuses_to_descend_into_a_value() {
        let mut doc: toml::Table = toml::from_str("[workload]\nrate = 1.0").unwrap();
        let e = apply(&mut doc, &parse_set("workload.rate.x=1").unwrap()).unwrap_err();
        assert!(e.problem.contains("not a table"));
        apply(&mut doc, &parse_set("cluster.replicas=4").unwrap()).unwrap();
        assert_eq!(doc["cluster"]["replicas"].as_integer(), Some(4));
    }

    #[test]
    fn sweep_is_a_cartesian_product_in_listed_order() {
        let doc: toml::Table = toml::from_str(
            "[workload]\nrate = 1.0\n[sweep]\n\"workload.concurrency\" = [1, 2, 3]\n\"cluster.replicas\" = [1, 2]\n",
        )
        .unwrap();
        let points = expand_sweep(doc).unwrap();
        assert_eq!(points.len(), 6);
        assert_eq!(points[1].point[0].1.as_integer(), Some(1));
        assert_eq!(points[1].point[1].1.as_integer(), Some(2));
        assert_eq!(
            points[5].doc["workload"]["concurrency"].as_integer(),
            Some(3)
        );
        assert!(!points[0].doc.contains_key("sweep"));
    }

    #[test]
    fn bad_sweeps_are_named() {
        let doc: toml::Table = toml::from_str("[sweep]\n\"workload.rate\" = 3").unwrap();
        let e = expand_sweep(doc).unwrap_err();
        assert!(e.key.contains("workload.rate") && e.problem.contains("array"));
        let doc: toml::Table = toml::from_str("[sweep]\n\"workload.rate\" = []").unwrap();
        assert!(expand_sweep(doc).is_err());
    }
}
