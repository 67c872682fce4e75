//! Module implementing the sample store the evaluator reads. See [`Store`] for details.

use promql_parser::label::Matcher;

use super::value::Labels;
use crate::promql::matches_all;

/// Series and their samples, in time order, as the evaluator reads them: a rules test's input
/// series, or what a query reads of the history store.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    series: Vec<(Labels, Vec<(i64, f64)>)>,
}

impl Store {
    /// A store of `series`, each with its samples (milliseconds, value) in time order.
    /// Series are kept sorted by labels, the order Prometheus's storage yields them in, which
    /// decides the order of floating-point additions in `sum` and the like; of two with one
    /// label set, the later given comes first.
    pub(crate) fn from_series(series: impl IntoIterator<Item = (Labels, Vec<(i64, f64)>)>) -> Self {
        let mut series: Vec<_> = series.into_iter().collect();
        // Sorted once, stably, after reversing: later duplicates first.
        series.reverse();
        series.sort_by(|(a, _), (b, _)| a.cmp(b));
        Self { series }
    }

    /// Adds the sample `(t, v)` to series `labels` (sorted by name), making the series if it
    /// is new, as Prometheus's appender does for rule outputs: a sample older than the
    /// series' last is refused, and so is another value at the same time (the same value is
    /// taken as written once).
    ///
    /// # Errors
    ///
    /// Prometheus's storage message: `out of order sample` or `duplicate sample for
    /// timestamp`.
    pub(crate) fn append(&mut self, labels: Labels, t: i64, v: f64) -> Result<(), &'static str> {
        let at = self.series.partition_point(|(l, _)| *l < labels);
        match self.series.get_mut(at) {
            Some((l, samples)) if *l == labels => match samples.last() {
                Some(&(last, _)) if t < last => Err("out of order sample"),
                Some(&(last, value)) if t == last => {
                    if value.to_bits() == v.to_bits() {
                        Ok(())
                    } else {
                        Err("duplicate sample for timestamp")
                    }
                }
                _ => {
                    samples.push((t, v));
                    Ok(())
                }
            },
            _ => {
                self.series.insert(at, (labels, vec![(t, v)]));
                Ok(())
            }
        }
    }

    /// The series every matcher accepts (a missing label reads as the empty string).
    pub(crate) fn select<'a>(
        &'a self,
        matchers: &'a [Matcher],
    ) -> impl Iterator<Item = (&'a Labels, &'a [(i64, f64)])> + 'a {
        self.series
            .iter()
            .filter(move |(labels, _)| matches_all(matchers, labels))
            .map(|(labels, samples)| (labels, samples.as_slice()))
    }
}
