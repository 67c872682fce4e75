//! Module implementing the sample store the evaluator reads. See [`Store`] for details.

use promql_parser::label::Matcher;

use super::value::Labels;

/// Series and their samples, in time order, as the evaluator reads them: a test's input
/// series now, the history store later.
#[derive(Debug, Default)]
pub(crate) struct Store {
    series: Vec<(Labels, Vec<(i64, f64)>)>,
}

impl Store {
    /// Adds a series with `samples` (milliseconds, value), which must be in time order.
    /// Series are kept sorted by labels, the order Prometheus's storage yields them in, which
    /// decides the order of floating-point additions in `sum` and the like.
    pub(crate) fn add(&mut self, labels: Labels, samples: Vec<(i64, f64)>) {
        let at = self.series.partition_point(|(l, _)| *l < labels);
        self.series.insert(at, (labels, samples));
    }

    /// The series every matcher accepts (a missing label reads as the empty string).
    pub(crate) fn select<'a>(
        &'a self,
        matchers: &'a [Matcher],
    ) -> impl Iterator<Item = (&'a Labels, &'a [(i64, f64)])> + 'a {
        self.series
            .iter()
            .filter(move |(labels, _)| {
                matchers.iter().all(|m| {
                    let value = labels
                        .iter()
                        .find(|(n, _)| *n == m.name)
                        .map_or("", |(_, v)| v.as_str());
                    m.is_match(value)
                })
            })
            .map(|(labels, samples)| (labels, samples.as_slice()))
    }
}
