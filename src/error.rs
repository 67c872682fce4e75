//! Module implementing the crate's error type. See [`MonitoringError`] for details.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Every error a fallible call of this crate can return.
///
/// Each variant says what was wrong and, in its [`Display`](fmt::Display) text, how to fix it.
/// The text is lowercase and has no trailing period, like the standard library's errors.
/// Match on the variant to react to one kind of failure; use the accessors
/// ([`metric_name`](Self::metric_name), [`field`](Self::field)) to find what it was about.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::{MonitoringError, Registry};
///
/// let registry = Registry::new();
/// let err = registry.counter("2xx_total", "Responses.", &[]).unwrap_err();
/// assert!(matches!(err, MonitoringError::InvalidMetricName { .. }));
/// assert_eq!(err.metric_name(), Some("2xx_total"));
/// assert!(err.to_string().contains("must not start with a digit"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum MonitoringError {
    /// A metric name broke the Prometheus naming rule `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName {
        /// The name as given.
        name: String,
        /// Which part of the rule it broke.
        reason: String,
    },
    /// A label name broke the rule `[a-zA-Z_][a-zA-Z0-9_]*`, or used the reserved `__` prefix.
    InvalidLabelName {
        /// The metric the label was given for.
        metric: String,
        /// The label name as given.
        label: String,
        /// Which part of the rule it broke.
        reason: String,
    },
    /// The same label name was given twice for one series.
    DuplicateLabel {
        /// The metric the labels were given for.
        metric: String,
        /// The label name that appeared more than once.
        label: String,
    },
    /// A name already registered as one metric type was asked for as another.
    TypeConflict {
        /// The metric name.
        metric: String,
        /// The type it is registered as.
        registered: &'static str,
        /// The type that was asked for.
        requested: &'static str,
    },
    /// A family already holds its maximum number of label sets; the new series was refused.
    CardinalityLimit {
        /// The metric name.
        metric: String,
        /// The configured cap (`MonitoringConfig::max_series_per_metric`).
        limit: usize,
    },
    /// A new family would export a name another family already exports (counter `x` and gauge
    /// `x_total`, histogram `h` and gauge `h_count`, …): the scrape would carry two
    /// descriptions of one name, which Prometheus rejects.
    NameClash {
        /// The metric that was refused.
        metric: String,
        /// The exported name both would write.
        exported: String,
        /// The family that already writes it.
        owner: String,
    },
    /// The registry holds the most families, or the most series in all, that it may; the new
    /// one was refused and counted.
    RegistryFull {
        /// The metric whose family or series was refused.
        metric: String,
        /// What is full: `"metric families"` or `"series"`.
        what: &'static str,
        /// The configured cap.
        limit: usize,
    },
    /// A PromQL expression was refused. Errors of a component with several ways to fail nest
    /// like this, with the component's own type as the [`source`](std::error::Error::source).
    Query(crate::QueryError),
    /// Several things went wrong at once, each reported: for example several threads that did
    /// not stop in time.
    Multiple {
        /// Every error, in the order they happened.
        errors: Vec<MonitoringError>,
    },
    /// A value cannot be recorded into this metric (a negative counter increment, a NaN, …).
    InvalidValue {
        /// The metric name.
        metric: String,
        /// The value as given.
        value: f64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A configuration field holds a value that cannot work.
    InvalidConfig {
        /// The field, as a dotted path (`prometheus_config.path`).
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A configuration text (TOML) could not be parsed.
    ConfigParse {
        /// The file it came from, if any.
        path: Option<PathBuf>,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The storage folder (`storage.path`) or a file in it could not be used.
    Storage {
        /// The folder or file.
        path: PathBuf,
        /// What was wrong and what to do about it.
        reason: String,
        /// The operating system's error, when there was one.
        source: Option<io::Error>,
    },
    /// Saved state (an anomaly detector's) could not be taken back.
    InvalidState {
        /// What was wrong and what to do about it.
        reason: String,
    },
    /// A time range was empty or reversed.
    InvalidTimeRange {
        /// What was wrong.
        reason: String,
    },
    /// `start()` was called on a component that is already running.
    AlreadyStarted {
        /// The component (`"metrics collector"`, `"monitor"`).
        component: &'static str,
    },
    /// A background thread could not be spawned.
    ThreadSpawn {
        /// The thread's name.
        thread: std::borrow::Cow<'static, str>,
        /// The operating system's error.
        source: io::Error,
    },
    /// An operation did not finish within its deadline.
    Timeout {
        /// What was waited for.
        operation: &'static str,
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// The exporter could not listen on its address (the port is taken, the address is not
    /// this machine's, …).
    Bind {
        /// The `address:port` asked for.
        address: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// A monitored database (or another source) does not provide this figure. Return it from a
    /// [`MonitoredDatabase`](crate::MonitoredDatabase) method you do not implement: the
    /// library then uses its own measurements and does not count an error.
    Unsupported {
        /// What is not provided (`"query metrics"`).
        what: &'static str,
    },
    /// A source the collector reads (the database, the system, the cluster) failed or panicked.
    Source {
        /// Which source.
        source_name: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A health check could not be registered.
    InvalidCheck {
        /// The name it was given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A W3C `traceparent` header, or an exemplar's labels, could not be taken.
    InvalidTrace {
        /// The text given (at most 80 characters of it).
        text: String,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// A scrape could not be encoded.
    Encode {
        /// The exposition format.
        format: &'static str,
    },
    /// A background thread did not finish within the shutdown deadline.
    ShutdownTimeout {
        /// The thread's name.
        thread: std::borrow::Cow<'static, str>,
        /// How long `stop()` waited.
        waited: std::time::Duration,
    },
}

impl MonitoringError {
    /// The metric this error is about, if it is about one.
    pub fn metric_name(&self) -> Option<&str> {
        match self {
            Self::InvalidMetricName { name, .. } => Some(name),
            Self::InvalidLabelName { metric, .. }
            | Self::DuplicateLabel { metric, .. }
            | Self::TypeConflict { metric, .. }
            | Self::CardinalityLimit { metric, .. }
            | Self::NameClash { metric, .. }
            | Self::RegistryFull { metric, .. }
            | Self::InvalidValue { metric, .. } => Some(metric),
            _ => None,
        }
    }

    /// The configuration field this error is about, if it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidConfig { field, .. } => Some(field),
            Self::Query(e) => e.origin(),
            _ => None,
        }
    }

    /// Every error `results` hold: `Ok` when there is none, the one when there is one, and
    /// [`MonitoringError::Multiple`] when there are more, so that none goes unreported.
    pub(crate) fn all(
        results: impl IntoIterator<Item = Result<(), MonitoringError>>,
    ) -> Result<(), MonitoringError> {
        let mut errors: Vec<MonitoringError> = Vec::new();
        for result in results {
            match result {
                Ok(()) => {}
                Err(MonitoringError::Multiple { errors: inner }) => errors.extend(inner),
                Err(e) => errors.push(e),
            }
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(MonitoringError::Multiple { errors }),
        }
    }

    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for MonitoringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidMetricName { name, reason } => write!(
                f,
                "invalid metric name {name:?}: {reason}; metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*"
            ),
            Self::InvalidLabelName {
                metric,
                label,
                reason,
            } => write!(
                f,
                "invalid label name {label:?} on metric {metric:?}: {reason}; label names must match [a-zA-Z_][a-zA-Z0-9_]* and must not start with \"__\""
            ),
            Self::DuplicateLabel { metric, label } => write!(
                f,
                "label {label:?} is given twice for metric {metric:?}; give each label name once"
            ),
            Self::TypeConflict {
                metric,
                registered,
                requested,
            } => write!(
                f,
                "metric {metric:?} is registered as a {registered} and cannot be used as a {requested}; use another name or the {registered} handle"
            ),
            Self::CardinalityLimit { metric, limit } => write!(
                f,
                "metric {metric:?} already has {limit} label sets, the most allowed; the new series was refused (raise max_series_per_metric, or drop the high-cardinality label)"
            ),
            Self::InvalidValue {
                metric,
                value,
                reason,
            } => write!(f, "value {value} refused for metric {metric:?}: {reason}"),
            Self::Query(e) => write!(f, "{e}"),
            Self::Multiple { errors } => {
                write!(f, "{} errors: ", errors.len())?;
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
            Self::NameClash {
                metric,
                exported,
                owner,
            } => write!(
                f,
                "metric {metric:?} would export {exported:?}, which the family {owner:?} already exports; choose a name that no other family's series or suffixes (_total, _bucket, _sum, _count, _created, _window) use"
            ),
            Self::RegistryFull {
                metric,
                what,
                limit,
            } => {
                let option = match *what {
                    "series" => "max_total_series",
                    _ => "max_metric_families",
                };
                write!(
                    f,
                    "the registry already holds {limit} {what}, the most allowed; {metric:?} was refused (raise {option}, or record fewer distinct names and label sets)"
                )
            }
            Self::InvalidConfig { field, reason } => {
                write!(f, "invalid configuration field `{field}`: {reason}")
            }
            Self::ConfigParse { path, message } => match path {
                Some(path) => write!(f, "cannot parse configuration {}: {message}", path.display()),
                None => write!(f, "cannot parse configuration: {message}"),
            },
            Self::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Storage {
                path,
                reason,
                source,
            } => {
                write!(f, "storage {}: {reason}", path.display())?;
                match source {
                    Some(source) => write!(f, " ({source})"),
                    None => Ok(()),
                }
            }
            Self::InvalidTimeRange { reason } => write!(f, "invalid time range: {reason}"),
            Self::InvalidState { reason } => write!(f, "invalid saved state: {reason}"),
            Self::AlreadyStarted { component } => write!(
                f,
                "the {component} is already running; call stop() before starting it again"
            ),
            Self::ThreadSpawn { thread, source } => {
                write!(f, "cannot spawn thread {thread:?}: {source}")
            }
            Self::Timeout { operation, waited } => {
                write!(f, "{operation} did not finish within {waited:?}")
            }
            Self::Bind { address, source } if source.kind() == io::ErrorKind::AddrInUse => write!(
                f,
                "cannot listen on {address}: the port is already in use by another process or exporter; choose another port, or port 0 for any free one"
            ),
            Self::Bind { address, source } => write!(
                f,
                "cannot listen on {address}: {source}; check prometheus_config.address (an address of this machine, \"127.0.0.1\" or \"0.0.0.0\") and port"
            ),
            Self::Unsupported { what } => write!(
                f,
                "{what} are not provided by this source; the library's own measurements are used instead"
            ),
            Self::Source {
                source_name,
                message,
            } => write!(f, "the {source_name} failed: {message}"),
            Self::InvalidCheck { name, reason } => {
                write!(f, "cannot register health check {name:?}: {reason}")
            }
            Self::InvalidTrace { text, reason } => write!(f, "invalid {text:?}: {reason}"),
            Self::Encode { format } => write!(
                f,
                "encoding the {format} exposition failed; the scrape was not served, and the next one tries again"
            ),
            Self::ShutdownTimeout { thread, waited } => write!(
                f,
                "thread {thread:?} did not stop within {waited:?}; it is left detached"
            ),
        }
    }
}

impl From<crate::QueryError> for MonitoringError {
    fn from(e: crate::QueryError) -> Self {
        Self::Query(e)
    }
}

impl std::error::Error for MonitoringError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. }
            | Self::ThreadSpawn { source, .. }
            | Self::Bind { source, .. } => Some(source),
            Self::Storage {
                source: Some(source),
                ..
            } => Some(source),
            Self::Query(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        // Errors travel through every fallible call; keep them at most ten words wide.
        assert!(std::mem::size_of::<MonitoringError>() <= 80);
    }

    #[test]
    fn a_nested_error_is_the_source() {
        let err = MonitoringError::from(crate::QueryError::Parse {
            expr: "1 +".into(),
            origin: Some("alerting_config.rules[0].query".into()),
            reason: "invalid promql query".into(),
        });
        assert_eq!(err.field(), Some("alerting_config.rules[0].query"));
        let source = std::error::Error::source(&err).expect("the query error");
        assert_eq!(source.to_string(), err.to_string());
        assert!(source.is::<crate::QueryError>());
    }

    #[test]
    fn source_is_the_io_error() {
        let err = MonitoringError::Io {
            path: "/nowhere".into(),
            source: io::Error::new(io::ErrorKind::NotFound, "gone"),
        };
        let source = std::error::Error::source(&err).expect("io errors keep their source");
        assert_eq!(source.to_string(), "gone");
        assert!(err.to_string().starts_with("cannot read /nowhere"));
    }
}
