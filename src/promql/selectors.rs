//! Module implementing selectors' matchers: which series a selector names and whether a label
//! set matches. See [`matches_all`] for details.

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::VectorSelector;

use crate::metrics::Labels;

/// A selector's matchers, its metric name among them.
pub(crate) fn matchers_of(selector: &VectorSelector) -> Vec<Matcher> {
    let mut matchers: Vec<Matcher> = selector.matchers.matchers.clone();
    if let Some(name) = &selector.name {
        matchers.push(Matcher::new(MatchOp::Equal, "__name__", name));
    }
    matchers
}

/// Whether every matcher accepts `labels` (a missing label reads as the empty string).
pub(crate) fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| {
        let value = labels
            .iter()
            .find(|(n, _)| *n == m.name)
            .map_or("", |(_, v)| v.as_str());
        m.is_match(value)
    })
}
