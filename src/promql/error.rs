//! Module implementing the query errors. See [`QueryError`] for details.

use std::fmt;

/// Why a PromQL expression was refused.
///
/// [`MonitoringError::Query`](crate::MonitoringError::Query) carries it, and gives it as its
/// [`source`](std::error::Error::source).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QueryError {
    /// The expression is not valid PromQL (as Prometheus's grammar has it).
    Parse {
        /// The expression as given.
        expr: String,
        /// Where it came from, when it came from the configuration
        /// (`alerting_config.rules[0].query`).
        origin: Option<String>,
        /// The parser's reason.
        reason: String,
    },
    /// Evaluating the expression failed, as it would in Prometheus (many-to-many matching,
    /// two results with one label set).
    Evaluation {
        /// The expression as given.
        expr: String,
        /// Prometheus's reason.
        reason: String,
    },
    /// The expression is valid PromQL but uses something not evaluated here yet.
    Unsupported {
        /// The expression as given.
        expr: String,
        /// What is not evaluated (`"function rate"`, `"subqueries"`).
        feature: String,
    },
}

impl QueryError {
    /// [`QueryError::Evaluation`] of `expr` for `reason`.
    pub(crate) fn evaluation(expr: &str, reason: impl Into<String>) -> Self {
        Self::Evaluation {
            expr: expr.to_owned(),
            reason: reason.into(),
        }
    }

    /// Where the expression came from, if it came from the configuration.
    pub fn origin(&self) -> Option<&str> {
        match self {
            Self::Parse { origin, .. } => origin.as_deref(),
            Self::Evaluation { .. } | Self::Unsupported { .. } => None,
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse {
                expr,
                origin: Some(origin),
                reason,
            } => write!(f, "invalid PromQL in {origin}, {expr:?}: {reason}"),
            // Prometheus's own message, with its position, is all it says, and all we say.
            Self::Parse {
                origin: None,
                reason,
                ..
            } if is_positioned(reason) => f.write_str(reason),
            Self::Parse {
                expr,
                origin: None,
                reason,
            } => write!(f, "invalid PromQL {expr:?}: {reason}"),
            Self::Evaluation { expr, reason } => write!(f, "evaluating {expr:?}: {reason}"),
            Self::Unsupported { expr, feature } => write!(
                f,
                "{expr:?} uses {feature}, which this library does not evaluate yet"
            ),
        }
    }
}

impl std::error::Error for QueryError {}

/// Whether `reason` is Prometheus's parse error, `line:column: parse error: …`.
fn is_positioned(reason: &str) -> bool {
    let mut parts = reason.splitn(3, ':');
    let digits =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next())
        && digits(parts.next())
        && parts
            .next()
            .is_some_and(|rest| rest.starts_with(" parse error: "))
}
