//! Module implementing label sets, the identity of a series within a family.
//! See [`LabelSet`] for details.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::name::validate_label_name;
use crate::MonitoringError;

/// The labels that identify one series of a metric family, sorted by label name.
///
/// Label values are any UTF-8 text. A `LabelSet` is cheap to clone (it shares its storage), so
/// history points and snapshots can carry it without copying strings.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::LabelSet;
///
/// let labels = LabelSet::new("kotoba_db_queries_total", &[("op", "get"), ("db", "main")])?;
/// assert_eq!(labels.get("op"), Some("get"));
/// // Sorted by name, whatever order they were given in.
/// let names: Vec<&str> = labels.iter().map(|(name, _)| name).collect();
/// assert_eq!(names, ["db", "op"]);
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LabelSet(Arc<[(Box<str>, Box<str>)]>);

impl LabelSet {
    /// Builds a label set for `metric` (named in errors), checking every label name.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidLabelName`] when a name breaks the Prometheus label rules and
    /// [`MonitoringError::DuplicateLabel`] when a name appears twice.
    pub fn new(metric: &str, labels: &[(&str, &str)]) -> Result<Self, MonitoringError> {
        Self::from_pairs(metric, labels.iter().map(|(n, v)| (*n, *v)))
    }

    /// Builds a label set from a map, as the seed's `record_metric` passes labels.
    ///
    /// # Errors
    ///
    /// As [`LabelSet::new`].
    pub fn from_map(
        metric: &str,
        labels: &HashMap<String, String>,
    ) -> Result<Self, MonitoringError> {
        Self::from_pairs(metric, labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    }

    fn from_pairs<'a>(
        metric: &str,
        pairs: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, MonitoringError> {
        let mut pairs: Vec<(Box<str>, Box<str>)> = pairs
            .map(|(name, value)| {
                validate_label_name(metric, name)?;
                Ok((name.into(), value.into()))
            })
            .collect::<Result<_, MonitoringError>>()?;
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(MonitoringError::DuplicateLabel {
                metric: metric.to_owned(),
                label: w[0].0.to_string(),
            });
        }
        Ok(Self(pairs.into()))
    }

    /// This set with one more label, replacing a label of that name. The name must be valid.
    pub(crate) fn with_label(&self, name: &str, value: &str) -> Self {
        let mut pairs: Vec<(Box<str>, Box<str>)> = self
            .0
            .iter()
            .filter(|(n, _)| &**n != name)
            .cloned()
            .collect();
        pairs.push((name.into(), value.into()));
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Self(pairs.into())
    }

    /// The value of label `name`, if the set has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// The `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.0.iter().map(|(n, v)| (&**n, &**v))
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Prints `{name="value",…}` with Prometheus escaping, or nothing for an empty set.
impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (name, value)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{name}=\"")?;
            for c in value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_matter() {
        let a = LabelSet::new("m", &[("b", "2"), ("a", "1")]).unwrap();
        let b = LabelSet::new("m", &[("a", "1"), ("b", "2")]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), r#"{a="1",b="2"}"#);
    }

    #[test]
    fn duplicate_label_is_refused() {
        let err = LabelSet::new("m", &[("a", "1"), ("a", "2")]).unwrap_err();
        assert!(matches!(err, MonitoringError::DuplicateLabel { ref label, .. } if label == "a"));
    }

    #[test]
    fn values_are_any_utf8_and_escaped_in_display() {
        let labels = LabelSet::new("m", &[("v", "a\"b\\c\nd 日本")]).unwrap();
        assert_eq!(labels.get("v"), Some("a\"b\\c\nd 日本"));
        assert_eq!(labels.to_string(), r#"{v="a\"b\\c\nd 日本"}"#);
    }

    #[test]
    fn from_map_checks_names() {
        let map = HashMap::from([("bad-name".to_owned(), "x".to_owned())]);
        assert!(matches!(
            LabelSet::from_map("m", &map),
            Err(MonitoringError::InvalidLabelName { .. })
        ));
    }
}
