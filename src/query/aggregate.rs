//! Module implementing the aggregation operators (`sum`, `avg`, `min`, `max`, `count`,
//! `group`, `stddev`, `stdvar`, `topk`, `bottomk`, `quantile`, `count_values`) with `by` and
//! `without`, as Prometheus 2.42's `promql/engine.go` computes them, in the same order of
//! floating-point operations. See [`eval_aggregate`] for details.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::engine::{check_unique, eval_instant, unparen};
use super::store::Store;
use super::value::{Labels, Sample, Value};
use super::QueryError;
use crate::metrics::name::is_label_name;

/// Evaluates `a` at `ts`.
pub(crate) fn eval_aggregate(
    text: &str,
    a: &AggregateExpr,
    ts: i64,
    store: &Store,
) -> Result<Value, QueryError> {
    let op = a.op.to_string();
    let fail = |reason: String| QueryError::evaluation(text, reason);
    let (without, mut grouping) = match &a.modifier {
        Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
        Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
        None => (false, Vec::new()),
    };
    grouping.sort();
    let param = match a.param.as_deref().map(unparen) {
        None => Param::None,
        Some(Expr::StringLiteral(s)) => Param::Label(s.val.clone()),
        Some(expr) => match eval_instant(text, expr, ts, store)? {
            Value::Scalar(v) => Param::Number(v),
            Value::Vector(_) => {
                return Err(fail(format!("the parameter of {op} must be a scalar")))
            }
        },
    };
    let Value::Vector(input) = eval_instant(text, &a.expr, ts, store)? else {
        return Err(fail(format!("{op} aggregates a vector, not a scalar")));
    };
    let out = aggregate(&op, &grouping, without, &param, input).map_err(fail)?;
    check_unique(text, &out)?;
    Ok(Value::Vector(out))
}

/// An aggregation's parameter: `k`, `φ`, or the label of `count_values`.
enum Param {
    None,
    Number(f64),
    Label(String),
}

/// One group's running state, as Prometheus's `groupedAggregation`.
struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: u64,
    heap: Vec<Sample>,
}

fn aggregate(
    op: &str,
    grouping: &[String],
    without: bool,
    param: &Param,
    input: Vec<Sample>,
) -> Result<Vec<Sample>, String> {
    let mut k: usize = 0;
    if matches!(op, "topk" | "bottomk") {
        let Param::Number(f) = param else {
            return Err(format!("{op} needs a number of series"));
        };
        // Prometheus's convertibleToInt64 (NaN fails it too).
        if !(*f >= i64::MIN as f64 && *f <= i64::MAX as f64) {
            return Err(format!("Scalar value {f} overflows int64"));
        }
        let k64 = *f as i64;
        if k64 < 1 {
            return Ok(Vec::new());
        }
        k = usize::try_from(k64).unwrap_or(usize::MAX);
    }
    let q = match (op, param) {
        ("quantile", Param::Number(q)) => *q,
        _ => 0.0,
    };
    let mut grouping = grouping.to_vec();
    let value_label = match (op, param) {
        ("count_values", Param::Label(name)) => {
            if !is_label_name(name) {
                return Err(format!("invalid label name {name:?}"));
            }
            if !without {
                grouping.push(name.clone());
                grouping.sort();
            }
            Some(name.clone())
        }
        _ => None,
    };
    let mut groups: Vec<Group> = Vec::new();
    let mut by_key: HashMap<Labels, usize> = HashMap::new();
    for s in input {
        let mut metric = s.labels.clone();
        if let Some(name) = &value_label {
            metric.retain(|(n, _)| n != name);
            metric.push((name.clone(), crate::gofmt::format_float(s.value, 'f')));
            metric.sort();
        }
        let key: Labels = if without {
            metric
                .iter()
                .filter(|(n, _)| n != "__name__" && !grouping.contains(n))
                .cloned()
                .collect()
        } else {
            metric
                .iter()
                .filter(|(n, _)| grouping.contains(n))
                .cloned()
                .collect()
        };
        let Some(&at) = by_key.get(&key) else {
            let labels = if without || !grouping.is_empty() {
                key.clone()
            } else {
                Labels::new()
            };
            let mut group = Group {
                labels,
                value: s.value,
                mean: s.value,
                count: 1,
                heap: Vec::new(),
            };
            match op {
                "stdvar" | "stddev" => group.value = 0.0,
                "topk" | "bottomk" | "quantile" => group.heap.push(s.clone()),
                "group" => group.value = 1.0,
                _ => {}
            }
            by_key.insert(key, groups.len());
            groups.push(group);
            continue;
        };
        let group = &mut groups[at];
        let v = s.value;
        match op {
            "sum" => group.value += v,
            "avg" => {
                group.count += 1;
                let n = group.count as f64;
                // Prometheus keeps an infinite mean once the values cannot change it.
                let settled = group.mean.is_infinite()
                    && ((v.is_infinite() && (group.mean > 0.0) == (v > 0.0))
                        || (!v.is_infinite() && !v.is_nan()));
                if !settled {
                    group.mean += v / n - group.mean / n;
                }
            }
            "max" => {
                if group.value < v || group.value.is_nan() {
                    group.value = v;
                }
            }
            "min" => {
                if group.value > v || group.value.is_nan() {
                    group.value = v;
                }
            }
            "count" | "count_values" => group.count += 1,
            "stdvar" | "stddev" => {
                group.count += 1;
                let delta = v - group.mean;
                group.mean += delta / group.count as f64;
                group.value += delta * (v - group.mean);
            }
            "topk" => top(&mut group.heap, k, s, |a, b| a < b),
            "bottomk" => top(&mut group.heap, k, s, |a, b| a > b),
            "quantile" => group.heap.push(s),
            "group" => {}
            other => return Err(format!("unknown aggregation {other}")),
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for group in groups {
        let value = match op {
            "avg" => group.mean,
            "count" | "count_values" => group.count as f64,
            "stdvar" => group.value / group.count as f64,
            "stddev" => (group.value / group.count as f64).sqrt(),
            "topk" | "bottomk" => {
                out.extend(group.heap);
                continue;
            }
            "quantile" => quantile(q, group.heap),
            _ => group.value,
        };
        out.push(Sample {
            labels: group.labels,
            value,
        });
    }
    Ok(out)
}

/// One step of `topk` (with `less` as `<`) or `bottomk` (`>`) over a heap kept as Go's
/// `container/heap` keeps it, so that ties fall as in Prometheus: the heap's root is the
/// sample that leaves first, and a NaN counts as the least.
fn top(heap: &mut Vec<Sample>, k: usize, s: Sample, less: fn(f64, f64) -> bool) {
    let is_less =
        |h: &[Sample], i: usize, j: usize| h[i].value.is_nan() || less(h[i].value, h[j].value);
    let replace = heap.len() < k || less(heap[0].value, s.value) || heap[0].value.is_nan();
    if !replace {
        return;
    }
    if heap.len() == k {
        if k == 1 {
            heap[0] = s;
            return;
        }
        // heap.Pop: the root to the end, sift down, drop it.
        let n = heap.len() - 1;
        heap.swap(0, n);
        down(heap, 0, n, &is_less);
        heap.pop();
    }
    // heap.Push: append, sift up.
    heap.push(s);
    let mut j = heap.len() - 1;
    while j > 0 {
        let parent = (j - 1) / 2;
        if !is_less(heap, j, parent) {
            break;
        }
        heap.swap(parent, j);
        j = parent;
    }
}

/// Go's `container/heap` `down`.
fn down(
    heap: &mut [Sample],
    i0: usize,
    n: usize,
    is_less: &dyn Fn(&[Sample], usize, usize) -> bool,
) {
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && is_less(heap, j2, j1) {
            j = j2;
        }
        if !is_less(heap, j, i) {
            break;
        }
        heap.swap(i, j);
        i = j;
    }
}

/// Prometheus's `quantile`: values sorted (NaN first), the weighted average of the two values
/// around rank `q·(n−1)`.
pub(crate) fn quantile(q: f64, mut values: Vec<Sample>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.value.is_nan(), b.value.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a
            .value
            .partial_cmp(&b.value)
            .unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (n - 1.0).min(lower + 1.0);
    let weight = rank - rank.floor();
    values[lower as usize].value * (1.0 - weight) + values[upper as usize].value * weight
}
