//! Module implementing `histogram_quantile` over classic buckets. See
//! [`histogram_quantile`].

use super::{Args, Out};
use crate::query::value::{Labels, Sample};
use crate::query::QueryError;

pub(super) fn function(a: &Args<'_>) -> Result<Out, QueryError> {
    Ok(Out::Samples(histogram_quantile(a.scalar(0)?, a.vector(1)?)))
}

/// Prometheus's `histogram_quantile` over classic buckets: the `_bucket{le}` samples grouped
/// by their other labels, and `bucketQuantile` over each group.
fn histogram_quantile(q: f64, input: Vec<Sample>) -> Vec<Sample> {
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    for s in input {
        // Go's ParseFloat of the le label; a sample without a readable one is skipped.
        let Some(bound) = s
            .labels
            .iter()
            .find(|(n, _)| n == "le")
            .and_then(|(_, v)| v.parse::<f64>().ok())
        else {
            continue;
        };
        let key: Labels = s
            .labels
            .iter()
            .filter(|(n, _)| n != "le")
            .cloned()
            .collect();
        let at = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((
                key.into_iter().filter(|(n, _)| n != "__name__").collect(),
                Vec::new(),
            ));
            groups.len() - 1
        });
        groups[at].1.push((bound, s.value));
    }
    groups
        .into_iter()
        .map(|(labels, buckets)| Sample {
            labels,
            value: bucket_quantile(q, buckets),
        })
        .collect()
}

/// Prometheus's `bucketQuantile`: buckets sorted by bound, equal bounds merged, counts made
/// monotonic, then linear interpolation within the bucket the rank falls in.
fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (bound, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    let mut max = merged[0].1;
    for b in merged.iter_mut().skip(1) {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged[..merged.len() - 1].partition_point(|b| b.1 < rank);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}
