//! Request traces in the Azure LLM inference format: `TIMESTAMP,ContextTokens,GeneratedTokens`,
//! one request per row, rows in time order. `TIMESTAMP` is `YYYY-MM-DD hh:mm:ss[.fffffff]` or a
//! plain number of seconds. Arrival times are taken relative to the first row.

use crate::error::{InputError, InputResult};
use crate::units::Nanos;
use std::path::Path;

/// One request of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceRow {
    /// Arrival time since the first row.
    pub at: Nanos,
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// The Azure LLM inference traces (2023), compiled in: `builtin:azure-conv`, `builtin:azure-code`.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "azure-conv",
        include_str!("../../data/traces/azure_llm_2023_conv.csv"),
    ),
    (
        "azure-code",
        include_str!("../../data/traces/azure_llm_2023_code.csv"),
    ),
];

/// A compiled-in trace by name.
pub fn builtin(name: &str) -> InputResult<Vec<TraceRow>> {
    let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        let known: Vec<String> = BUILTIN
            .iter()
            .map(|(n, _)| format!("builtin:{n}"))
            .collect();
        InputError::new(
            "workload.trace",
            format!(
                "unknown built-in trace '{name}' (known: {})",
                known.join(", ")
            ),
        )
    })?;
    parse(text)
        .map_err(|(line, problem)| InputError::new(format!("builtin:{name} line {line}"), problem))
}

/// Reads a trace file (or `builtin:NAME`); a malformed row stops with the file and line named.
pub fn load(path: &Path) -> InputResult<Vec<TraceRow>> {
    if let Some(name) = path
        .to_str()
        .and_then(|p| p.rsplit_once("builtin:"))
        .map(|(_, n)| n)
    {
        return builtin(name);
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputError::new(
            "workload.trace",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    parse(&text)
        .map_err(|(line, problem)| InputError::new(format!("line {line}"), problem).in_file(path))
}

/// A row that could not be read: its 1-based line number and the problem.
pub type BadRow = (usize, String);

/// Parses trace text; errors carry the 1-based line number.
pub fn parse(text: &str) -> Result<Vec<TraceRow>, (usize, String)> {
    parse_with(text, false).map(|(rows, _)| rows)
}

/// Reads a trace file; with `skip_bad`, malformed, negative or out-of-order rows are skipped
/// and returned as (line, problem) instead of stopping the run.
pub fn load_with(path: &Path, skip_bad: bool) -> InputResult<(Vec<TraceRow>, Vec<BadRow>)> {
    if !skip_bad {
        return load(path).map(|rows| (rows, Vec::new()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputError::new(
            "workload.trace",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    parse_with(&text, true)
        .map_err(|(line, problem)| InputError::new(format!("line {line}"), problem).in_file(path))
}

/// Parses trace text, stopping at the first bad row or (with `skip_bad`) skipping bad rows.
pub fn parse_with(text: &str, skip_bad: bool) -> Result<(Vec<TraceRow>, Vec<BadRow>), BadRow> {
    let mut skipped = Vec::new();
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().ok_or((1, "the trace is empty".to_string()))?;
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let find = |names: &[&str]| cols.iter().position(|c| names.contains(&c.as_str()));
    let (Some(ts), Some(ctx), Some(gen)) = (
        find(&["timestamp"]),
        find(&["contexttokens", "context_tokens", "input_tokens"]),
        find(&["generatedtokens", "generated_tokens", "output_tokens"]),
    ) else {
        return Err((
            1,
            format!(
                "header must name TIMESTAMP,ContextTokens,GeneratedTokens (got '{}')",
                header.trim()
            ),
        ));
    };
    let mut rows = Vec::new();
    let mut first: Option<i128> = None;
    let mut last: i128 = i128::MIN;
    for (i, line) in lines {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let row = (|| -> Result<(i128, u32, u32), (usize, String)> {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != cols.len() {
                return Err((
                    line_no,
                    format!("expected {} fields, found {}", cols.len(), cells.len()),
                ));
            }
            let t = parse_timestamp(cells[ts])
                .ok_or((line_no, format!("bad timestamp '{}'", cells[ts])))?;
            if t < last {
                return Err((
                    line_no,
                    "timestamps go backwards (rows must be in time order)".to_string(),
                ));
            }
            let count = |cell: &str, what: &str| -> Result<u32, (usize, String)> {
                let v: i64 = cell
                    .parse()
                    .map_err(|_| (line_no, format!("{what} '{cell}' is not an integer")))?;
                if v < 0 {
                    return Err((line_no, format!("{what} is negative ({v})")));
                }
                u32::try_from(v).map_err(|_| (line_no, format!("{what} {v} is too large")))
            };
            Ok((
                t,
                count(cells[ctx], "ContextTokens")?,
                count(cells[gen], "GeneratedTokens")?,
            ))
        })();
        let (t, input, output) = match row {
            Ok(r) => r,
            Err(e) if skip_bad => {
                skipped.push(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let t0 = *first.get_or_insert(t);
        if t - t0 > MAX_SPAN_NS {
            let e = (
                line_no,
                format!(
                    "this row comes {:.0} days after the first, more than a trace of a year would span: TIMESTAMP is in seconds (or YYYY-MM-DD hh:mm:ss), so milliseconds or nanoseconds since the epoch read as seconds look like this",
                    (t - t0) as f64 / 86_400e9
                ),
            );
            if skip_bad {
                skipped.push(e);
                continue;
            }
            return Err(e);
        }
        last = t;
        rows.push(TraceRow {
            at: Nanos((t - t0) as u64),
            input_tokens: input.max(1),
            output_tokens: output.max(1),
        });
    }
    if rows.is_empty() {
        return Err((2, "the trace has a header but no rows".to_string()));
    }
    Ok((rows, skipped))
}

/// The longest time a trace may span from its first row to its last: a year (a longer span
/// is almost surely a timestamp column in a finer unit than seconds).
const MAX_SPAN_NS: i128 = 366 * 86_400 * 1_000_000_000;

/// Nanoseconds since the epoch (or since 0 for plain seconds).
fn parse_timestamp(s: &str) -> Option<i128> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| (secs * 1e9).round() as i128);
    }
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let mut t = hms.split(':');
    let (hh, mm, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if t.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let frac_ns: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i128>().ok()? * 10i128.pow(9 - frac.len() as u32)
    };
    let days = days_from_civil(y, m, day);
    Some(((days * 86400 + hh * 3600 + mm * 60 + ss) as i128) * 1_000_000_000 + frac_ns)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_azure_rows_relative_to_the_first() {
        let text = "TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:15:46.6805900,374,44\r\n2023-11-16 18:15:50.9951690,396,109";
        let rows = parse(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].at, Nanos(0));
        assert_eq!(rows[1].at, Nanos(4_314_579_000));
        assert_eq!((rows[1].input_tokens, rows[1].output_tokens), (396, 109));
    }

    #[test]
    fn builtin_traces_match_their_readme() {
        assert_eq!(builtin("azure-conv").unwrap().len(), 19366);
        let code = builtin("azure-code").unwrap();
        assert_eq!(code.len(), 8819);
        let span = code.last().unwrap().at.as_secs_f64();
        assert!((span - 3435.9).abs() < 0.1, "{span}");
        assert!(builtin("azure-chat").is_err());
    }

    #[test]
    fn bad_rows_can_be_skipped_and_counted() {
        let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,10,5\n2023-11-16 18:15:45,3,3\n2023-11-16 18:15:47,-4,5\nnot,a,row\n2023-11-16 18:15:48,7,2\n";
        assert_eq!(parse(text).unwrap_err().0, 3);
        let (rows, skipped) = parse_with(text, true).unwrap();
        assert_eq!(rows.len(), 2);
        let lines: Vec<usize> = skipped.iter().map(|s| s.0).collect();
        assert_eq!(lines, [3, 4, 5]);
    }

    #[test]
    fn crossing_midnight_keeps_time_monotone() {
        let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-12-31 23:59:59.5,1,1\n2024-01-01 00:00:00.25,1,1";
        assert_eq!(parse(text).unwrap()[1].at, Nanos(750_000_000));
    }

    #[test]
    fn malformed_rows_name_the_line() {
        let h = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
        for (body, line, needle) in [
            ("2023-11-16 18:15:46,10\n", 2, "expected 3 fields"),
            (
                "2023-11-16 18:15:46,10,5\n2023-11-16 18:15:45,10,5\n",
                3,
                "backwards",
            ),
            ("2023-11-16 18:15:46,-4,5\n", 2, "negative"),
            ("yesterday,4,5\n", 2, "bad timestamp"),
            ("1.5,4,x\n", 2, "not an integer"),
        ] {
            let (l, p) = parse(&format!("{h}{body}")).unwrap_err();
            assert_eq!(l, line, "{body}");
            assert!(p.contains(needle), "{p}");
        }
        assert_eq!(parse("a,b\n1,2").unwrap_err().0, 1);
    }
}
