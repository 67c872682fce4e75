//! Module implementing the history's exemplars: the newest exemplars the self-scrape found,
//! each with the series it belongs to, in a ring of bounded size, as Prometheus's exemplar
//! storage keeps them. See [`ExemplarRing`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::metrics::LabelSet;
use crate::Exemplar;

/// How many exemplars the history keeps, the newest (Prometheus keeps 100,000 by default; a
/// database's few slow queries need far fewer).
pub(crate) const EXEMPLAR_CAPACITY: usize = 10_000;

/// Exemplars by series name, then labels: looked up with a `&str` and a `&LabelSet`.
pub(crate) type ExemplarsBySeries = HashMap<Arc<str>, HashMap<LabelSet, Vec<Exemplar>>>;

/// One kept exemplar and its series (`x_bucket{…,le}` or `x_total{…}`).
#[derive(Debug, Clone)]
pub(crate) struct KeptExemplar {
    pub(crate) name: Arc<str>,
    pub(crate) labels: LabelSet,
    pub(crate) exemplar: Exemplar,
}

/// The kept exemplars, oldest first, and the newest each series gave (by name, then labels,
/// so that looking one up copies nothing), so that a scrape adds only what is new.
#[derive(Debug, Default)]
pub(crate) struct ExemplarRing {
    kept: VecDeque<KeptExemplar>,
    last_seq: HashMap<Arc<str>, HashMap<LabelSet, u64>>,
}

impl ExemplarRing {
    /// Keeps a copy of `exemplar` of series `name{labels}` unless it was kept already.
    pub(crate) fn offer(&mut self, name: &str, labels: &LabelSet, exemplar: &Exemplar) {
        let last = self
            .last_seq
            .get(name)
            .and_then(|series| series.get(labels))
            .copied();
        if last.is_some_and(|last| exemplar.seq <= last) {
            return;
        }
        let name: Arc<str> = match self.last_seq.get_key_value(name) {
            Some((have, _)) => have.clone(),
            None => Arc::from(name),
        };
        self.last_seq
            .entry(name.clone())
            .or_default()
            .insert(labels.clone(), exemplar.seq);
        if self.kept.len() == EXEMPLAR_CAPACITY {
            self.kept.pop_front();
        }
        self.kept.push_back(KeptExemplar {
            name,
            labels: labels.clone(),
            exemplar: exemplar.clone(),
        });
    }

    /// The kept exemplars observed from `from_ms` to `to_ms` (Unix milliseconds, both
    /// included) of the series `wanted` says yes to, oldest first.
    pub(crate) fn between(
        &self,
        from_ms: i64,
        to_ms: i64,
        wanted: impl Fn(&str, &LabelSet) -> bool,
    ) -> Vec<KeptExemplar> {
        self.kept
            .iter()
            .filter(|k| (from_ms..=to_ms).contains(&k.exemplar.timestamp_ms()))
            .filter(|k| wanted(&k.name, &k.labels))
            .cloned()
            .collect()
    }

    /// The kept exemplars observed after `after_ms` up to `upto_ms`, by series name, then
    /// labels.
    pub(crate) fn by_series(&self, after_ms: i64, upto_ms: i64) -> ExemplarsBySeries {
        let mut out = ExemplarsBySeries::new();
        for k in &self.kept {
            let t = k.exemplar.timestamp_ms();
            if t > after_ms && t <= upto_ms {
                out.entry(k.name.clone())
                    .or_default()
                    .entry(k.labels.clone())
                    .or_default()
                    .push(k.exemplar.clone());
            }
        }
        out
    }
}
