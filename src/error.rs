//! Errors a user can act on. [`InputError`] is bad input (a scenario, a trace, a flag): the CLI
//! prints it as one line naming the file, the key and the problem, and exits with status 2.
//! Everything else is an internal or I/O failure and exits with status 1.

use std::fmt;
use std::path::{Path, PathBuf};

/// Bad input: which file, which key (dotted path, or `line N` for row data), what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub file: Option<PathBuf>,
    pub key: String,
    pub problem: String,
}

impl InputError {
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> InputError {
        InputError {
            file: None,
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// Attaches the file the input came from, unless one is already named.
    pub fn in_file(mut self, file: &Path) -> InputError {
        if self.file.is_none() {
            self.file = Some(file.to_path_buf());
        }
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        // One line, always: a multi-line message from a parser is folded.
        let problem: String = self
            .problem
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        write!(f, "{problem}")
    }
}

impl std::error::Error for InputError {}

/// Shorthand for results that fail with bad input.
pub type InputResult<T> = Result<T, InputError>;

/// Reads a keyword (an enum written as a string in a scenario file): `parse` maps the text,
/// `what` and `names` word the error ("unknown router 'x' (expected …)"). The key is named by
/// the caller's path tracking (serde_path_to_error).
pub fn deserialize_keyword<'de, D, T>(
    d: D,
    what: &str,
    names: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = <String as serde::Deserialize>::deserialize(d)?;
    parse(&text).ok_or_else(|| {
        serde::de::Error::custom(format!("unknown {what} '{text}' (expected {names})"))
    })
}

/// Implements `Deserialize` for a keyword enum through its `parse` and `NAMES`.
#[macro_export]
macro_rules! keyword_deserialize {
    ($t:ty, $what:literal) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::error::deserialize_keyword(d, $what, <$t>::NAMES, <$t>::parse)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_error_is_one_line_with_file_and_key() {
        let e = InputError::new("workload.rate", "must be positive\n  (got -1)")
            .in_file(Path::new("s.toml"));
        assert_eq!(
            e.to_string(),
            "s.toml: workload.rate: must be positive (got -1)"
        );
    }
}
