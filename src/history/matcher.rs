//! Module implementing label matchers for history queries. See [`LabelMatcher`] for details.

use crate::LabelSet;

/// Selects series by one label, as `name="value"` or `name!="value"` do in PromQL.
///
/// A label a series does not have matches as the empty string, as in Prometheus: `env=""`
/// selects series without an `env` label.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::{LabelMatcher, LabelSet};
///
/// let labels = LabelSet::new("m", &[("op", "get")])?;
/// assert!(LabelMatcher::eq("op", "get").matches(&labels));
/// assert!(LabelMatcher::ne("op", "put").matches(&labels));
/// assert!(LabelMatcher::eq("region", "").matches(&labels));
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMatcher {
    name: String,
    value: String,
    equal: bool,
}

impl LabelMatcher {
    /// Matches series whose label `name` equals `value`.
    pub fn eq(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            equal: true,
        }
    }

    /// Matches series whose label `name` differs from `value`.
    pub fn ne(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            equal: false,
        }
    }

    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        (labels.get(&self.name).unwrap_or("") == self.value) == self.equal
    }
}
