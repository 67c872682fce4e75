//! Module implementing the binary operators: arithmetic, comparison (with and without `bool`)
//! and the set operators, between scalars and vectors, with `on`/`ignoring` and
//! `group_left`/`group_right`, as Prometheus 2.42's `promql/engine.go` defines them. See
//! [`eval_binary`] for details.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::engine::{check_unique, eval_instant, without_name};
use super::store::Store;
use super::value::{labels_string, Labels, Sample, Value};
use super::QueryError;

/// Evaluates `b` at `ts`. The operands' kinds (scalar or vector) decide the operation, as
/// their static types do in Prometheus.
pub(crate) fn eval_binary(
    text: &str,
    b: &BinaryExpr,
    ts: i64,
    store: &Store,
) -> Result<Value, QueryError> {
    let op = b.op.to_string();
    let returns_bool = b.return_bool();
    let lhs = eval_instant(text, &b.lhs, ts, store)?;
    let rhs = eval_instant(text, &b.rhs, ts, store)?;
    let fail = |reason: String| QueryError::evaluation(text, reason);
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => Ok(Value::Scalar(scalar_op(&op, l, r))),
        (Value::Vector(v), Value::Scalar(s)) => {
            Ok(Value::Vector(vector_scalar(&op, v, s, false, returns_bool)))
        }
        (Value::Scalar(s), Value::Vector(v)) => {
            Ok(Value::Vector(vector_scalar(&op, v, s, true, returns_bool)))
        }
        (Value::Vector(l), Value::Vector(r)) => {
            let matching = Matching::of(b, &op);
            let out = if matches!(op.as_str(), "and" | "or" | "unless") {
                set_op(&op, l, r, &matching)
            } else {
                vector_op(&op, l, r, &matching, returns_bool).map_err(fail)?
            };
            check_unique(text, &out)?;
            Ok(Value::Vector(out))
        }
    }
}

/// What decides which samples of two vectors match, and the labels of the result.
struct Matching {
    card: Card,
    /// `on(...)` rather than `ignoring(...)`.
    on: bool,
    /// The labels of `on` or `ignoring`.
    labels: Vec<String>,
    /// The labels `group_left`/`group_right` copy from the "one" side.
    include: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

impl Matching {
    fn of(b: &BinaryExpr, op: &str) -> Self {
        let set = matches!(op, "and" | "or" | "unless");
        let (card, include) = match b.modifier.as_ref().map(|m| &m.card) {
            None if set => (Card::ManyToMany, Vec::new()),
            None | Some(VectorMatchCardinality::OneToOne) => (Card::OneToOne, Vec::new()),
            Some(VectorMatchCardinality::ManyToOne(l)) => (Card::ManyToOne, l.labels.clone()),
            Some(VectorMatchCardinality::OneToMany(l)) => (Card::OneToMany, l.labels.clone()),
            Some(VectorMatchCardinality::ManyToMany) => (Card::ManyToMany, Vec::new()),
        };
        let (on, labels) = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            None => (false, Vec::new()),
        };
        Self {
            card,
            on,
            labels,
            include,
        }
    }

    /// The labels two samples must share to match: the `on` labels, or all but `__name__`
    /// and the `ignoring` labels.
    fn signature(&self, labels: &Labels) -> Labels {
        labels
            .iter()
            .filter(|(n, _)| {
                if self.on {
                    self.labels.contains(n)
                } else {
                    n != "__name__" && !self.labels.contains(n)
                }
            })
            .cloned()
            .collect()
    }
}

/// Prometheus's `scalarBinop`: comparisons give 1 or 0.
fn scalar_op(op: &str, l: f64, r: f64) -> f64 {
    match op {
        "+" => l + r,
        "-" => l - r,
        "*" => l * r,
        "/" => l / r,
        "^" => super::gomath::pow(l, r),
        // Go's math.Mod: the remainder with the sign of `l`, as Rust's `%` on floats.
        "%" => l % r,
        "atan2" => l.atan2(r),
        comparison => f64::from(u8::from(compare(comparison, l, r))),
    }
}

/// Prometheus's `vectorElemBinop`: the value, and whether to keep it (comparisons keep the
/// left value when true).
fn element_op(op: &str, l: f64, r: f64) -> (f64, bool) {
    match op {
        "==" | "!=" | ">" | "<" | ">=" | "<=" => (l, compare(op, l, r)),
        arithmetic => (scalar_op(arithmetic, l, r), true),
    }
}

fn compare(op: &str, l: f64, r: f64) -> bool {
    match op {
        "==" => l == r,
        "!=" => l != r,
        ">" => l > r,
        "<" => l < r,
        ">=" => l >= r,
        _ => l <= r,
    }
}

/// Whether `op` drops the metric name from its result (arithmetic but `atan2`).
fn drops_name(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "^" | "%")
}

/// Prometheus's `VectorscalarBinop`; `swap` when the scalar is on the left.
fn vector_scalar(op: &str, v: Vec<Sample>, s: f64, swap: bool, returns_bool: bool) -> Vec<Sample> {
    let comparison = matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=");
    let mut out = Vec::with_capacity(v.len());
    for sample in v {
        let (l, r) = if swap {
            (s, sample.value)
        } else {
            (sample.value, s)
        };
        let (mut value, mut keep) = element_op(op, l, r);
        // A comparison keeps the vector's value, wherever the vector stands.
        if comparison && swap {
            value = r;
        }
        if returns_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let labels = if drops_name(op) || returns_bool {
                without_name(sample.labels)
            } else {
                sample.labels
            };
            out.push(Sample { labels, value });
        }
    }
    out
}

/// Prometheus's `VectorAnd`, `VectorOr` and `VectorUnless`.
fn set_op(op: &str, lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    match op {
        "and" => {
            if lhs.is_empty() || rhs.is_empty() {
                return Vec::new();
            }
            let right: HashSet<Labels> = rhs.iter().map(|s| m.signature(&s.labels)).collect();
            lhs.into_iter()
                .filter(|s| right.contains(&m.signature(&s.labels)))
                .collect()
        }
        "or" => {
            let left: HashSet<Labels> = lhs.iter().map(|s| m.signature(&s.labels)).collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|s| !left.contains(&m.signature(&s.labels))),
            );
            out
        }
        _ => {
            if lhs.is_empty() || rhs.is_empty() {
                return lhs;
            }
            let right: HashSet<Labels> = rhs.iter().map(|s| m.signature(&s.labels)).collect();
            lhs.into_iter()
                .filter(|s| !right.contains(&m.signature(&s.labels)))
                .collect()
        }
    }
}

/// Prometheus's `VectorBinop`: one-to-one, many-to-one or one-to-many matching.
fn vector_op(
    op: &str,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    m: &Matching,
    returns_bool: bool,
) -> Result<Vec<Sample>, String> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    // The "one" side is always the right here: for one-to-many the sides are swapped, and
    // swapped back for the values.
    let swapped = m.card == Card::OneToMany;
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut ones: HashMap<Labels, &Sample> = HashMap::with_capacity(one.len());
    for sample in &one {
        let sig = m.signature(&sample.labels);
        if let Some(earlier) = ones.insert(sig.clone(), sample) {
            let side = if swapped { "left" } else { "right" };
            return Err(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                labels_string(&sig),
                labels_string(&sample.labels),
                labels_string(&earlier.labels)
            ));
        }
    }
    let mut matched: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for sample in &many {
        let sig = m.signature(&sample.labels);
        let Some(other) = ones.get(&sig) else {
            continue;
        };
        let (l, r) = if swapped {
            (other.value, sample.value)
        } else {
            (sample.value, other.value)
        };
        let (mut value, keep) = element_op(op, l, r);
        if returns_bool {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let mut labels = result_labels(&sample.labels, &other.labels, op, m);
        if returns_bool {
            labels = without_name(labels);
        }
        let seen = matched.entry(sig).or_default();
        if m.card == Card::OneToOne {
            if !seen.is_empty() {
                return Err("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".to_owned());
            }
        } else if seen.contains(&labels) {
            return Err(
                "multiple matches for labels: grouping labels must ensure unique matches"
                    .to_owned(),
            );
        }
        seen.insert(labels.clone());
        out.push(Sample { labels, value });
    }
    Ok(out)
}

/// Prometheus's `resultMetric`: the "many" side's labels, less the name for arithmetic, only
/// the `on` labels (or without the `ignoring` ones) for one-to-one matching, and the
/// `group_x` labels from the "one" side.
fn result_labels(many: &Labels, one: &Labels, op: &str, m: &Matching) -> Labels {
    let mut labels = many.clone();
    if drops_name(op) {
        labels.retain(|(n, _)| n != "__name__");
    }
    if m.card == Card::OneToOne {
        if m.on {
            labels.retain(|(n, _)| m.labels.contains(n));
        } else {
            labels.retain(|(n, _)| !m.labels.contains(n));
        }
    }
    for name in &m.include {
        labels.retain(|(n, _)| n != name);
        if let Some((_, v)) = one.iter().find(|(n, _)| n == name) {
            if !v.is_empty() {
                labels.push((name.clone(), v.clone()));
            }
        }
    }
    labels.sort();
    labels
}
