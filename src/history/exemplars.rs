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

/// One kept exemplar and its series (`x_bucket{…,le}` or `x_total{…}`).
#[derive(Debug, Clone)]
pub(crate) struct KeptExemplar {
    pub(crate) name: Arc<str>,
    pub(crate) labels: LabelSet,
    pub(crate) exemplar: Exemplar,
}

/// The kept exemplars, oldest first, and the newest each series gave, so that a scrape adds
/// only what is new.
#[derive(Debug, Default)]
pub(crate) struct ExemplarRing {
    kept: VecDeque<KeptExemplar>,
    last_seq: HashMap<(Arc<str>, LabelSet), u64>,
}

impl ExemplarRing {
    /// Keeps `exemplar` of series `name{labels}` unless it was kept already.
    pub(crate) fn offer(&mut self, name: &str, labels: &LabelSet, exemplar: Exemplar) {
        let key = (Arc::<str>::from(name), labels.clone());
        let last = self.last_seq.entry(key.clone()).or_insert(0);
        if exemplar.seq <= *last {
            return;
        }
        *last = exemplar.seq;
        if self.kept.len() == EXEMPLAR_CAPACITY {
            self.kept.pop_front();
        }
        self.kept.push_back(KeptExemplar {
            name: key.0,
            labels: key.1,
            exemplar,
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

    /// The kept exemplars observed after `after_ms` up to `upto_ms`, by series.
    pub(crate) fn by_series(
        &self,
        after_ms: i64,
        upto_ms: i64,
    ) -> HashMap<(Arc<str>, LabelSet), Vec<Exemplar>> {
        let mut out: HashMap<(Arc<str>, LabelSet), Vec<Exemplar>> = HashMap::new();
        for k in &self.kept {
            let t = k.exemplar.timestamp_ms();
            if t > after_ms && t <= upto_ms {
                out.entry((k.name.clone(), k.labels.clone()))
                    .or_default()
                    .push(k.exemplar.clone());
            }
        }
        out
    }
}
