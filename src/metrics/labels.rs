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
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LabelSet {
    /// The pairs as exposition text, and again in a second form after a newline when a value
    /// needed an escape; see `pack`. One thin handle: a series' labels are a key of its
    /// family's map and every byte of the key counts a million times.
    packed: Arc<str>,
}

// The pairs, sorted by name, packed into one string so that reading a series' labels touches
// one allocation, not one per name and value. It holds:
// - first the exposition text, `name="value",…` with the value escaped as both text formats
//   escape it, so that a scrape writes a series' labels as one string;
// - then, only when some value needed an escape, a newline (which the text never holds: it is
//   escaped there) and the pairs again: the pair count in hex and `;`, then for each pair the
//   name, `=`, the value's length in bytes in hex, `:` and the value. Names never hold `=`, and the length delimits the value, so nothing needs escaping.
//   Without escapes the text alone gives the pairs: no value holds a `"`, so each runs from
//   the `"` after its name's `=` to the next `"`.
// The packing is canonical, so equal sets are equal strings.
impl LabelSet {
    fn pack<'a>(pairs: &[(&'a str, &'a str)]) -> Self {
        use fmt::Write;
        // Both forms, escapes aside: a name, `=""` and `,`, then a name, `=`, hex digits, `:`.
        let size: usize = pairs
            .iter()
            .map(|(n, v)| 2 * (n.len() + v.len()) + 14)
            .sum();
        let mut packed = String::with_capacity(size + 4);
        for (i, (name, value)) in pairs.iter().enumerate() {
            if i > 0 {
                packed.push(',');
            }
            let _ = write!(packed, "{name}=\"");
            escape_into(value, &mut packed);
            packed.push('"');
        }
        if pairs.iter().any(|(_, value)| escape_count(value) > 0) {
            packed.push('\n');
            let _ = write!(packed, "{:x};", pairs.len());
            for (name, value) in pairs {
                let _ = write!(packed, "{name}={:x}:{value}", value.len());
            }
        }
        Self {
            packed: packed.into(),
        }
    }

    /// Where the exposition text ends: at the newline before the second form, if any.
    fn text_end(&self) -> usize {
        self.packed.find('\n').unwrap_or(self.packed.len())
    }

    /// The labels as the exposition writes them between the braces: `name="value",…` in name
    /// order, each value with `\`, `"` and newline escaped; empty for an empty set.
    pub(crate) fn exposition_text(&self) -> &str {
        self.packed.get(..self.text_end()).unwrap_or("")
    }
}

/// Appends `text` with the escapes both text formats use for label values, and OpenMetrics
/// for HELP: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub(crate) fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// How many bytes of `text` [`escape_into`] escapes (each then takes one byte more).
pub(crate) fn escape_count(text: &str) -> usize {
    text.bytes()
        .filter(|b| matches!(b, b'\\' | b'"' | b'\n'))
        .count()
}

impl Default for LabelSet {
    fn default() -> Self {
        Self::pack(&[])
    }
}

impl PartialOrd for LabelSet {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Pair by pair, names then values: the order of the pairs themselves.
impl Ord for LabelSet {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
    }
}

/// The pairs of a [`LabelSet`], in name order.
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    rest: &'a str,
    /// The pairs left in the packed form; unused in the text form, which ends with its text
    /// and is counted only when asked.
    left: usize,
    /// Whether `rest` is exposition text without escapes, rather than the packed pairs.
    text: bool,
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 && !self.text {
            return None;
        }
        let bytes = self.rest.as_bytes();
        let eq = bytes.iter().position(|&b| b == b'=')?;
        if self.text {
            // `name="value"`, then `,` unless it is the last.
            let name = self.rest.get(..eq)?;
            let after = self.rest.get(eq + 2..)?;
            let end = after.find('"')?;
            let value = &after[..end];
            self.rest = after.get(end + 2..).unwrap_or("");
            return Some((name, value));
        }
        let (len, digits) = hex_prefix(&bytes[eq + 1..]);
        let start = eq + 1 + digits + 1; // the digits, then `:`
        let name = self.rest.get(..eq)?;
        let value = self.rest.get(start..start + len)?;
        self.rest = &self.rest[start + len..];
        self.left -= 1;
        Some((name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = match self.text {
            // Every value is quoted, and none holds a quote.
            true => self.rest.bytes().filter(|&b| b == b'"').count() / 2,
            false => self.left,
        };
        (left, Some(left))
    }
}

impl ExactSizeIterator for LabelIter<'_> {}

/// The hex number at the start of `bytes`, and how many digits it took.
fn hex_prefix(bytes: &[u8]) -> (usize, usize) {
    let mut n = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return (n, i),
        };
        n = n * 16 + usize::from(digit);
    }
    (n, bytes.len())
}

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

    /// Builds a label set from a map, as the kotoba-monitoring 0.1.21 API's `record_metric` passes
    /// labels.
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
        let mut pairs: Vec<(&str, &str)> = pairs
            .map(|(name, value)| {
                validate_label_name(metric, name)?;
                Ok((name, value))
            })
            .collect::<Result<_, MonitoringError>>()?;
        // The exposition text's length: each name, `=""` and `,`, and each value with one more
        // byte per character it escapes.
        let text: usize = pairs
            .iter()
            .map(|(n, v)| n.len() + v.len() + escape_count(v) + 4)
            .sum();
        if let (true, Some((name, _))) = (text > u32::MAX as usize, pairs.first()) {
            return Err(MonitoringError::InvalidLabelName {
                metric: metric.to_owned(),
                label: (*name).to_owned(),
                reason:
                    "the series' labels, escaped, come to more than 4 GiB; keep label values short"
                        .to_owned(),
            });
        }
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(MonitoringError::DuplicateLabel {
                metric: metric.to_owned(),
                label: w[0].0.to_owned(),
            });
        }
        Ok(Self::pack(&pairs))
    }

    /// This set with one more label, replacing a label of that name. The name must be valid.
    pub(crate) fn with_label(&self, name: &str, value: &str) -> Self {
        let mut pairs: Vec<(&str, &str)> = self.iter().filter(|(n, _)| *n != name).collect();
        pairs.push((name, value));
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Self::pack(&pairs)
    }

    /// The value of label `name`, if the set has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The `(name, value)` pairs in name order.
    pub fn iter(&self) -> LabelIter<'_> {
        let end = self.text_end();
        let Some(pairs) = self.packed.get(end + 1..) else {
            return LabelIter {
                rest: &self.packed,
                left: 0,
                text: true,
            };
        };
        let (left, digits) = hex_prefix(pairs.as_bytes());
        LabelIter {
            // The count's digits, then `;`.
            rest: pairs.get(digits + 1..).unwrap_or(""),
            left,
            text: false,
        }
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.iter().len()
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        match self.exposition_text() {
            "" => Ok(()),
            text => write!(f, "{{{text}}}"),
        }
    }
}

/// A series' labels as name-value pairs, sorted by name, `__name__` among them when it has
/// one: how queries, rules and notifications carry them (a [`LabelSet`] is the registry's
/// packed form).
pub(crate) type Labels = Vec<(String, String)>;

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
    fn packing_keeps_values_whatever_they_hold() {
        // Values that look like the packing's own separators, empty ones, long ones.
        let long = "x".repeat(300);
        let pairs = [
            ("a", "1;b=2:3"),
            ("b", ""),
            ("c", "=:;\u{0}"),
            ("d", long.as_str()),
            ("e", "日本"),
        ];
        let labels = LabelSet::new("m", &pairs).unwrap();
        assert_eq!(labels.iter().collect::<Vec<_>>(), pairs);
        // The same without the escaped value: read from the exposition text alone.
        let plain = LabelSet::new("m", &pairs[..2]).unwrap();
        assert_eq!(
            plain.packed.len(),
            plain.exposition_text().len(),
            "one form"
        );
        assert_eq!(plain.iter().collect::<Vec<_>>(), pairs[..2]);
        assert_eq!(plain.iter().len(), 2);
        let quoted = LabelSet::new("m", &[("q", "say \"hi\", then ="), ("r", "")]).unwrap();
        assert!(
            quoted.packed.len() > quoted.exposition_text().len() + 1,
            "two forms"
        );
        assert_eq!(quoted.get("q"), Some("say \"hi\", then ="));
        assert_eq!(quoted.get("r"), Some(""));
        assert_eq!(labels.len(), 5);
        assert_eq!(labels.get("c"), Some("=:;\u{0}"));
        assert_eq!(labels.get("z"), None);
        let more = labels.with_label("b", "now set").with_label("aa", "new");
        assert_eq!(more.get("b"), Some("now set"));
        assert_eq!(more.iter().map(|(n, _)| n).collect::<String>(), "aaabcde");
        assert!(LabelSet::default().is_empty());
        assert_eq!(LabelSet::default(), LabelSet::new("m", &[]).unwrap());
    }

    #[test]
    fn sets_order_pair_by_pair() {
        let set = |pairs: &[(&str, &str)]| LabelSet::new("m", pairs).unwrap();
        // "a" before "a0" as names, though the packing would put '0' before '='.
        assert!(set(&[("a", "1")]) < set(&[("a0", "1")]));
        assert!(set(&[("a", "1")]) < set(&[("a", "2")]));
        assert!(set(&[("a", "1")]) < set(&[("a", "1"), ("b", "0")]));
        assert!(set(&[]) < set(&[("a", "")]));
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
