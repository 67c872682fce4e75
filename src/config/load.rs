//! Module implementing reading the configuration from TOML, with parse errors that never quote
//! a secret. See [`MonitoringConfig::from_toml_str`] for details.

use std::path::Path;

use super::MonitoringConfig;
use crate::MonitoringError;

/// Words in a key whose value is a credential or a secret URL: on a line holding one, a parse
/// error shows none of the line's values.
const SECRET_KEY_WORDS: [&str; 8] = [
    "token", "password", "secret", "auth", "key", "webhook", "url", "smtp",
];

/// A TOML error as position, key and reason, never quoting the configuration: toml's own
/// `Display` shows the offending line, which may hold a token, and serde's reasons quote the
/// value they refused (``invalid type: string "…"``, ``unknown variant `…` ``), so on a line
/// with a secret-bearing key any quoted text taken from the line's values is left out.
fn parse_error_message(text: &str, e: &toml::de::Error) -> String {
    let reason = e.message().trim_end();
    let Some(span) = e.span() else {
        // No position to look at: show no quoted text at all.
        return redact_quoted(reason, |_| true);
    };
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |l| l.chars().count() + 1);
    let line_text = text.lines().nth(line - 1).unwrap_or("");
    let (key, values) = match line_text.split_once('=') {
        Some((k, v)) => (k.trim().trim_matches('"'), v),
        None => ("", line_text),
    };
    let lower = line_text.to_ascii_lowercase();
    let reason = if SECRET_KEY_WORDS.iter().any(|w| lower.contains(w)) {
        redact_quoted(reason, |quoted| values.contains(quoted))
    } else {
        reason.to_owned()
    };
    let is_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if is_key {
        format!("line {line}, column {column} (key `{key}`): {reason}")
    } else {
        format!("line {line}, column {column}: {reason}")
    }
}

/// `reason` with each text between double quotes or backticks that `hide` picks replaced by
/// `…`.
fn redact_quoted(reason: &str, hide: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut rest = reason;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[open] as char;
        let Some(len) = rest[open + 1..].find(quote) else {
            break;
        };
        let quoted = &rest[open + 1..open + 1 + len];
        out.push_str(&rest[..=open]);
        out.push_str(if hide(quoted) { "…" } else { quoted });
        out.push(quote);
        rest = &rest[open + 2 + len..];
    }
    out.push_str(rest);
    out
}

impl MonitoringConfig {
    /// Parses a TOML text and validates the result. Fields not in the text keep their defaults.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::ConfigParse`] with the line and column for text that is not valid
    /// TOML or has an unknown field or wrong type; [`MonitoringError::InvalidConfig`] for values
    /// [`validate`](Self::validate) refuses.
    pub fn from_toml_str(text: &str) -> Result<Self, MonitoringError> {
        let config: Self = toml::from_str(text).map_err(|e| MonitoringError::ConfigParse {
            path: None,
            message: parse_error_message(text, &e),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file, as [`from_toml_str`](Self::from_toml_str).
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Io`] when the file cannot be read, and as
    /// [`from_toml_str`](Self::from_toml_str), with the path.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, MonitoringError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| MonitoringError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            MonitoringError::ConfigParse { message, .. } => MonitoringError::ConfigParse {
                path: Some(path.to_owned()),
                message,
            },
            other => other,
        })
    }

    /// The defaults, or `file` when given, then the environment overrides, validated: the
    /// documented precedence in one call.
    ///
    /// # Errors
    ///
    /// As [`from_toml_file`](Self::from_toml_file) and [`apply_env`](Self::apply_env).
    pub fn load(file: Option<&Path>) -> Result<Self, MonitoringError> {
        let mut config = match file {
            Some(path) => Self::from_toml_file(path)?,
            None => Self::default(),
        };
        config.apply_env()?;
        config.validate()?;
        Ok(config)
    }
}
