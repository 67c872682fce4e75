//! Module implementing the functions that write labels (`label_replace`, `label_join`)
//! and `absent`, which makes them up. See [`label_replace`].

use promql_parser::parser::Expr;

use super::{Args, Out};
use crate::metrics::name::is_label_name;
use crate::promql::matchers_of;
use crate::query::value::{label_value, Labels, Sample};
use crate::query::QueryError;

pub(super) fn label_replace(a: &Args<'_>) -> Result<Out, QueryError> {
    let (dst, replacement, src, pattern) = (a.string(1)?, a.string(2)?, a.string(3)?, a.string(4)?);
    let re = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|_| {
        QueryError::evaluation(
            a.text,
            format!("invalid regular expression in label_replace(): {pattern}"),
        )
    })?;
    if !is_label_name(&dst) {
        return Err(QueryError::evaluation(
            a.text,
            format!("invalid destination label name in label_replace(): {dst}"),
        ));
    }
    Ok(Out::Samples(
        a.vector(0)?
            .into_iter()
            .map(|s| {
                let value = label_value(&s.labels, &src);
                let labels = match re.captures(value) {
                    None => s.labels,
                    Some(caps) => {
                        let mut out = String::new();
                        caps.expand(&replacement, &mut out);
                        set_label(s.labels, &dst, &out)
                    }
                };
                Sample {
                    labels,
                    value: s.value,
                }
            })
            .collect(),
    ))
}

pub(super) fn label_join(a: &Args<'_>) -> Result<Out, QueryError> {
    let dst = a.string(1)?;
    let separator = a.string(2)?;
    let sources: Vec<String> = (3..a.args.len())
        .map(|i| a.string(i))
        .collect::<Result<_, _>>()?;
    if let Some(bad) = std::iter::once(&dst)
        .chain(&sources)
        .find(|l| !is_label_name(l))
    {
        return Err(QueryError::evaluation(
            a.text,
            format!("invalid label name in label_join(): {bad}"),
        ));
    }
    Ok(Out::Samples(
        a.vector(0)?
            .into_iter()
            .map(|s| {
                let joined: Vec<&str> = sources.iter().map(|l| label_value(&s.labels, l)).collect();
                let joined = joined.join(&separator);
                Sample {
                    labels: set_label(s.labels.clone(), &dst, &joined),
                    value: s.value,
                }
            })
            .collect(),
    ))
}

pub(super) fn absent(a: &Args<'_>) -> Result<Out, QueryError> {
    Ok(Out::Samples(if a.vector(0)?.is_empty() {
        vec![Sample {
            labels: absent_labels(a.args[0]),
            value: 1.0,
        }]
    } else {
        Vec::new()
    }))
}

pub(super) fn absent_over_time(a: &Args<'_>) -> Result<Out, QueryError> {
    let Some(window) = a.range(0)? else {
        return Err(a.unsupported());
    };
    Ok(Out::Samples(if window.series.is_empty() {
        vec![Sample {
            labels: absent_labels(a.args[0]),
            value: 1.0,
        }]
    } else {
        Vec::new()
    }))
}

/// The labels `absent` gives: the selector's equality matchers but the name (a label matched
/// twice, or otherwise, is left out).
pub(super) fn absent_labels(arg: &Expr) -> Labels {
    let matchers = match arg {
        Expr::VectorSelector(vs) => matchers_of(vs),
        Expr::MatrixSelector(ms) => matchers_of(&ms.vs),
        _ => return Labels::new(),
    };
    let mut labels = Labels::new();
    let mut seen = std::collections::HashSet::new();
    for m in &matchers {
        if m.name == "__name__" {
            continue;
        }
        let first = seen.insert(m.name.clone());
        labels.retain(|(n, _)| *n != m.name);
        if first && matches!(m.op, promql_parser::label::MatchOp::Equal) {
            labels.push((m.name.clone(), m.value.clone()));
        }
    }
    labels.sort();
    labels
}

/// `labels` with `name` set to `value`, or removed when `value` is empty.
fn set_label(mut labels: Labels, name: &str, value: &str) -> Labels {
    labels.retain(|(n, _)| n != name);
    if !value.is_empty() {
        labels.push((name.to_owned(), value.to_owned()));
        labels.sort();
    }
    labels
}
