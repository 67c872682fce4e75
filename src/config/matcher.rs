//! Module implementing Alertmanager's label matchers (`severity="critical"`,
//! `team=~"db|ops"`), as routes and inhibition rules use them. See [`Matcher`].

use crate::metrics::escape_into;

/// An alert's labels, sorted by name.
type Labels = [(String, String)];

/// One label matcher, as Alertmanager writes it: `name` `=`, `!=`, `=~` or `!~`, then a
/// value, in double quotes or bare. A regular expression matches the whole value; a label
/// the alert does not have matches as the empty value.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: Op,
    value: String,
    regex: Option<regex::Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl Matcher {
    /// Parses `text`.
    ///
    /// # Errors
    ///
    /// What is wrong with it, and the form it should take.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let form = "write a matcher as name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\"";
        let text = text.trim();
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        let name = &text[..end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("{text:?} does not start with a label name; {form}"));
        }
        let rest = text[end..].trim_start();
        let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
            (Op::Regex, r)
        } else if let Some(r) = rest.strip_prefix("!~") {
            (Op::NotRegex, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (Op::NotEqual, r)
        } else if let Some(r) = rest.strip_prefix('=') {
            (Op::Equal, r)
        } else {
            return Err(format!("{text:?} has no operator after {name:?}; {form}"));
        };
        let rest = rest.trim();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let inner = quoted
                .strip_suffix('"')
                .ok_or_else(|| format!("{text:?}: the value's quote is not closed"))?;
            serde_json::from_str::<String>(&format!("\"{inner}\""))
                .map_err(|_| format!("{text:?}: the quoted value has a bad escape"))?
        } else {
            rest.to_owned()
        };
        let regex = match op {
            Op::Regex | Op::NotRegex => Some(
                regex::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("{text:?}: bad regular expression: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value,
            regex,
        })
    }

    /// Whether `labels` satisfy it.
    pub(crate) fn matches(&self, labels: &Labels) -> bool {
        let value = labels
            .iter()
            .find(|(n, _)| *n == self.name)
            .map_or("", |(_, v)| v.as_str());
        match (self.op, &self.regex) {
            (Op::Equal, _) => value == self.value,
            (Op::NotEqual, _) => value != self.value,
            (Op::Regex, Some(re)) => re.is_match(value),
            (Op::NotRegex, Some(re)) => !re.is_match(value),
            _ => false,
        }
    }

    /// As Alertmanager prints it in a route's key: `name="value"`, `name=~"regex"`, the value
    /// escaped as OpenMetrics escapes a label value (Alertmanager's `openMetricsEscape`).
    pub(crate) fn key_text(&self) -> String {
        let op = match self.op {
            Op::Equal => "=",
            Op::NotEqual => "!=",
            Op::Regex => "=~",
            Op::NotRegex => "!~",
        };
        let mut text = format!("{}{op}\"", self.name);
        escape_into(&self.value, &mut text);
        text.push('"');
        text
    }
}

/// Whether every matcher of `matchers` holds for `labels`.
pub(crate) fn all_match(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn matchers_parse_and_match_as_alertmanager_s() {
        let l = labels(&[("severity", "critical"), ("team", "db")]);
        for (text, expected) in [
            ("severity=\"critical\"", true),
            ("severity = critical", true),
            ("severity!=\"critical\"", false),
            ("team=~\"db|ops\"", true),
            ("team=~\"d\"", false),
            ("team!~\"ops\"", true),
            ("missing=\"\"", true),
            ("missing!=\"\"", false),
        ] {
            assert_eq!(
                Matcher::parse(text).unwrap().matches(&l),
                expected,
                "{text}"
            );
        }
        assert_eq!(
            Matcher::parse("a=~\"x\\\"y\"").unwrap().key_text(),
            "a=~\"x\\\"y\""
        );
        for bad in ["=\"x\"", "a", "a=\"x", "a=~\"(\""] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
    }
}
