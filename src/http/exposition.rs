//! Module implementing the Prometheus and OpenMetrics exposition of our registries, written by
//! prometheus-client's own encoders through a custom collector. See [`Exposition`] for details.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, LabelSetEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType as WireType;
use prometheus_client::registry::{Registry as WireRegistry, Unit};

use crate::metrics::{
    escape_count, escape_into, split_unit_suffix, FamilyCore, FamilyKind, LabelSet, Series,
    WINDOW_QUANTILES,
};
use crate::{HistogramOpts, Registry};

/// A text exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpositionFormat {
    /// OpenMetrics 1.0 text, ending in `# EOF`.
    OpenMetrics,
    /// The Prometheus text format 0.0.4, which every Prometheus version reads.
    PrometheusText,
}

impl ExpositionFormat {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::PrometheusText => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }

    /// The format a scraper's `Accept` header asks for: OpenMetrics when it lists
    /// `application/openmetrics-text` with a higher (or equal) weight than `text/plain`,
    /// Prometheus text otherwise, including when there is no header.
    ///
    /// # Examples
    ///
    /// ```
    /// use kotoba_monitoring::ExpositionFormat;
    ///
    /// // What Prometheus 2.x sends.
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(ExpositionFormat::negotiate(Some(prometheus)), ExpositionFormat::OpenMetrics);
    /// assert_eq!(ExpositionFormat::negotiate(Some("*/*")), ExpositionFormat::PrometheusText);
    /// assert_eq!(ExpositionFormat::negotiate(None), ExpositionFormat::PrometheusText);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::PrometheusText;
        };
        let (mut openmetrics, mut text) = (None::<f64>, None::<f64>);
        for item in accept.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut weight = 1.0;
            let mut version_ok = true;
            for param in parts {
                let (key, value) = param.split_once('=').unwrap_or((param, ""));
                match key.trim().to_ascii_lowercase().as_str() {
                    "q" => weight = value.trim().parse::<f64>().unwrap_or(0.0),
                    // We speak OpenMetrics 1.0.0 (and 0.0.1 is the same text).
                    "version" => version_ok = matches!(value.trim(), "1.0.0" | "0.0.1" | "0.0.4"),
                    _ => {}
                }
            }
            if !version_ok || weight <= 0.0 {
                continue;
            }
            let slot = match media.as_str() {
                "application/openmetrics-text" => &mut openmetrics,
                "text/plain" => &mut text,
                _ => continue,
            };
            *slot = Some(slot.map_or(weight, |w| w.max(weight)));
        }
        match (openmetrics, text) {
            (Some(om), Some(t)) if om >= t => Self::OpenMetrics,
            (Some(_), None) => Self::OpenMetrics,
            _ => Self::PrometheusText,
        }
    }
}

/// What the last encodes found, for the exporter's self-metrics.
#[derive(Debug, Default)]
pub(crate) struct EncodeStats {
    /// Series written by the last scrape.
    pub(crate) series: AtomicU64,
    /// Series and families the last scrape left out because an earlier registry had the same
    /// name (and, for series, the same labels).
    pub(crate) duplicates: AtomicU64,
}

/// Our registries as a prometheus-client [`Collector`]: each scrape walks the families and
/// writes them with the encoder prometheus-client hands in.
#[derive(Debug)]
struct RegistryCollector {
    registries: Vec<Registry>,
    global_labels: Arc<[(String, String)]>,
    format: ExpositionFormat,
    /// Write the `<name>_window{q}` gauges beside each histogram family.
    window_quantiles: bool,
    stats: Arc<EncodeStats>,
    /// Whether the scrape being written counts its sample lines for exemplars: the
    /// thread-local [`ExemplarPlan`]'s presence, read once per scrape rather than once per
    /// series. Scrapes at once store the same value, but at the first exemplar of all, when one
    /// without a plan may count lines that nothing reads.
    counting: std::sync::atomic::AtomicBool,
}

/// The encoders of both formats over the same registries.
#[derive(Debug)]
pub(crate) struct Exposition {
    openmetrics: WireRegistry,
    text: WireRegistry,
    stats: Arc<EncodeStats>,
    /// The length of the last scrape, to size the next one's buffer.
    last_len: AtomicUsize,
}

impl Exposition {
    /// An exposition of `registries` (see [`merge_series`] for a name in several) with
    /// `global_labels` on every series, with or without the histograms' window quantiles.
    pub(crate) fn new(
        registries: Vec<Registry>,
        global_labels: &[(String, String)],
        window_quantiles: bool,
    ) -> Self {
        let mut global_labels = global_labels.to_vec();
        global_labels.sort();
        let global_labels: Arc<[(String, String)]> = global_labels.into();
        let stats = Arc::new(EncodeStats::default());
        let wire = |format| {
            let mut registry = WireRegistry::default();
            registry.register_collector(Box::new(RegistryCollector {
                registries: registries.clone(),
                global_labels: global_labels.clone(),
                format,
                window_quantiles,
                stats: stats.clone(),
                counting: std::sync::atomic::AtomicBool::new(false),
            }));
            registry
        };
        Self {
            openmetrics: wire(ExpositionFormat::OpenMetrics),
            text: wire(ExpositionFormat::PrometheusText),
            stats,
            last_len: AtomicUsize::new(0),
        }
    }

    /// The whole exposition in `format`.
    pub(crate) fn encode(&self, format: ExpositionFormat) -> Result<String, fmt::Error> {
        // A scrape is usually the size of the last one: growing the buffer from small copies
        // everything written so far, again and again.
        let last = self.last_len.load(Ordering::Relaxed);
        let mut out = String::with_capacity((last + last / 8).max(16 * 1024));
        match format {
            ExpositionFormat::OpenMetrics if crate::metrics::exemplar::any_recorded() => {
                // Exemplars go after their samples: prometheus-client takes them only as its
                // own metrics, so the lines are counted as they are written and each
                // exemplar appended to the line the collector planned for it.
                let _planning = ExemplarPlan::begin();
                prometheus_client::encoding::text::encode(
                    &mut ExemplarWriter { out: &mut out },
                    &self.openmetrics,
                )?
            }
            ExpositionFormat::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.openmetrics)?
            }
            ExpositionFormat::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.text)?
            }
        }
        self.last_len.store(out.len(), Ordering::Relaxed);
        Ok(out)
    }

    pub(crate) fn stats(&self) -> &EncodeStats {
        &self.stats
    }
}

thread_local! {
    /// While an OpenMetrics scrape with exemplars is written on this thread: how many sample
    /// lines were encoded and how many reached the output, and the exemplars to append.
    static PLAN: std::cell::RefCell<Option<ExemplarPlan>> = const { std::cell::RefCell::new(None) };
}

/// Exemplars to append, each to the end of one sample line of the scrape. Sample lines are
/// counted twice: as the collector has them encoded (each encodes its labels once, through
/// [`Labels`]) and as they reach the output (lines not starting with `#`), which
/// prometheus-client buffers in between.
#[derive(Debug, Default)]
struct ExemplarPlan {
    encoded: u64,
    written: u64,
    /// Whether the output is inside a line (past its first byte), and whether that line is a
    /// comment.
    mid_line: bool,
    comment: bool,
    pending: std::collections::VecDeque<(u64, String)>,
}

/// Ends the plan of the scrape being written on this thread when dropped.
struct PlanGuard;

impl Drop for PlanGuard {
    fn drop(&mut self) {
        PLAN.with(|p| p.borrow_mut().take());
    }
}

impl ExemplarPlan {
    fn begin() -> PlanGuard {
        PLAN.with(|p| *p.borrow_mut() = Some(ExemplarPlan::default()));
        PlanGuard
    }

    /// Whether a scrape on this thread takes exemplars.
    fn active() -> bool {
        PLAN.with(|p| p.borrow().is_some())
    }

    /// Notes that one more sample line was encoded.
    fn count_line() {
        PLAN.with(|p| {
            if let Some(plan) = p.borrow_mut().as_mut() {
                plan.encoded += 1;
            }
        });
    }

    /// Plans `suffix` for the sample line `ahead` lines after the next one to be encoded.
    fn append(ahead: u64, suffix: String) {
        PLAN.with(|p| {
            if let Some(plan) = p.borrow_mut().as_mut() {
                let line = plan.encoded + ahead;
                plan.pending.push_back((line, suffix));
            }
        });
    }

    /// Copies `s` to `out`, appending planned exemplars before their lines' newlines.
    fn copy(&mut self, out: &mut String, mut s: &str) {
        loop {
            if !self.mid_line && !s.is_empty() {
                self.comment = s.starts_with('#');
                self.mid_line = true;
            }
            let Some(at) = s.find('\n') else {
                out.push_str(s);
                return;
            };
            out.push_str(&s[..at]);
            if !self.comment {
                if self
                    .pending
                    .front()
                    .is_some_and(|(line, _)| *line == self.written)
                {
                    if let Some((_, suffix)) = self.pending.pop_front() {
                        out.push_str(&suffix);
                    }
                }
                self.written += 1;
            }
            out.push('\n');
            self.mid_line = false;
            s = &s[at + 1..];
        }
    }
}

/// Writes a scrape into `out` through this thread's [`ExemplarPlan`].
struct ExemplarWriter<'a> {
    out: &'a mut String,
}

impl fmt::Write for ExemplarWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        PLAN.with(|p| match p.borrow_mut().as_mut() {
            Some(plan) => plan.copy(self.out, s),
            None => self.out.push_str(s),
        });
        Ok(())
    }
}

impl Collector for RegistryCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        self.counting.store(
            self.format == ExpositionFormat::OpenMetrics && ExemplarPlan::active(),
            Ordering::Relaxed,
        );
        // One group per name, sorted, in registry order within a group. Each registry lists
        // its families sorted by name, so the stable sort only merges those runs.
        let per_registry: Vec<Vec<Arc<FamilyCore>>> =
            self.registries.iter().map(Registry::families).collect();
        let mut duplicates_left_out = 0u64;
        let clashing = clashes_across(&per_registry);
        let mut all: Vec<Arc<FamilyCore>> = Vec::new();
        for family in per_registry.into_iter().flatten() {
            if clashing.contains(&family.name) {
                duplicates_left_out += family.series.read().len() as u64;
            } else {
                all.push(family);
            }
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let mut series_written = 0u64;
        for families in all.chunk_by(|a, b| a.name == b.name) {
            // Both registries hold the self-metric families, but usually only one has series.
            let mut live = families.iter().filter(|f| !f.series.read().is_empty());
            let single = match (live.next(), live.next()) {
                (Some(family), None) => Some(family),
                (None, _) => families.first(),
                (Some(_), Some(_)) => None,
            };
            if let Some(family) = single {
                // One registry has series under the name, the usual case: write them under
                // its read lock, without copying or merging them.
                let guard = family.series.read();
                let items: Vec<(&LabelSet, &Series)> = guard.iter().collect();
                series_written += self.encode_family(&mut encoder, family, &items, &[])?;
                continue;
            }
            let (merged, duplicates) = merge_series(families);
            duplicates_left_out += duplicates;
            let items: Vec<(&LabelSet, &Series)> =
                merged.series.iter().map(|(l, s)| (l, s)).collect();
            series_written +=
                self.encode_family(&mut encoder, &families[0], &items, &merged.extra)?;
        }
        self.stats.series.store(series_written, Ordering::Relaxed);
        self.stats
            .duplicates
            .store(duplicates_left_out, Ordering::Relaxed);
        Ok(())
    }
}

/// The names of families that would write a name a family of another name, in an earlier
/// registry, already writes (counter `x` in one, gauge `x_total` in the other): the scrape
/// would describe one name twice. Each registry refuses such clashes itself, so only
/// registries scraped together can have them; the first registry's family is kept.
fn clashes_across(per_registry: &[Vec<Arc<FamilyCore>>]) -> std::collections::HashSet<Arc<str>> {
    let mut clashing = std::collections::HashSet::new();
    let own = |f: &Arc<FamilyCore>| f.name.starts_with("kotoba_monitoring_");
    let with_own_families = per_registry
        .iter()
        .filter(|families| families.iter().any(|f| !own(f)))
        .count();
    if with_own_families < 2 {
        return clashing;
    }
    let mut writers: HashMap<String, Arc<str>> = HashMap::new();
    for families in per_registry {
        let mut claims = Vec::new();
        for family in families {
            let names = crate::metrics::exported_names(&family.name, family.kind.metric_type());
            let taken = names
                .iter()
                .any(|n| writers.get(n).is_some_and(|w| *w != family.name));
            if taken {
                clashing.insert(family.name.clone());
            } else {
                claims.extend(names.into_iter().map(|n| (n, family.name.clone())));
            }
        }
        writers.extend(claims);
    }
    clashing
}

/// One histogram series' labels and its window quantiles (`None` while the window is empty).
type Window<'a> = (&'a LabelSet, Option<Vec<f64>>);

/// The series of one name across registries: each label set once, with the counters of the
/// same labels in later registries to add to it.
struct Merged {
    series: Vec<(LabelSet, Series)>,
    /// `(index into series, counter)`: usually empty.
    extra: Vec<(usize, Series)>,
}

/// A counter series' value, whole and fractional parts: its own plus the extra counters of the
/// same labels (from other registries).
fn counter_value(own: &Series, at: usize, extra: &[(usize, Series)]) -> (u128, f64) {
    let parts = |s: &Series| match s {
        Series::Counter(c) => c.parts(),
        _ => (0, 0.0),
    };
    let (mut whole, mut fraction) = parts(own);
    for (_, series) in extra.iter().filter(|(i, _)| *i == at) {
        let (w, f) = parts(series);
        whole = whole.saturating_add(w);
        fraction += f;
    }
    (whole, fraction)
}

/// Merges the families of one name. The first fixes the type. Counters with the same labels in
/// several registries (the registries' own `kotoba_monitoring_*` counters) are added up; any
/// other repeat, or a family of another type, is left out and counted. Only called when more
/// than one registry has series under the name; otherwise the scrape writes the one directly.
fn merge_series(families: &[Arc<FamilyCore>]) -> (Merged, u64) {
    let kind = families[0].kind.metric_type();
    let series: Vec<(LabelSet, Series)> = families[0]
        .series
        .read()
        .iter()
        .map(|(l, s)| (l.clone(), s.clone()))
        .collect();
    let mut merged = Merged {
        series,
        extra: Vec::new(),
    };
    let mut duplicates = 0;
    let mut index: HashMap<LabelSet, usize> = merged
        .series
        .iter()
        .enumerate()
        .map(|(i, (l, _))| (l.clone(), i))
        .collect();
    for family in &families[1..] {
        if family.kind.metric_type() != kind {
            duplicates += 1;
            continue;
        }
        for (labels, series) in family.series.read().iter() {
            match index.get(labels) {
                None => {
                    index.insert(labels.clone(), merged.series.len());
                    merged.series.push((labels.clone(), series.clone()));
                }
                Some(&at) if matches!(series, Series::Counter(_)) => {
                    merged.extra.push((at, series.clone()))
                }
                Some(_) => duplicates += 1,
            }
        }
    }
    (merged, duplicates)
}

impl RegistryCollector {
    /// Writes one family; returns the series written.
    fn encode_family(
        &self,
        encoder: &mut DescriptorEncoder,
        family: &FamilyCore,
        series: &[(&LabelSet, &Series)],
        extra: &[(usize, Series)],
    ) -> Result<u64, fmt::Error> {
        if series.is_empty() {
            return Ok(0);
        }
        let help = self.help(&family.help, family.help_has_escapes);
        let name: &str = &family.name;
        match &family.kind {
            FamilyKind::Counter => self.encode_counters(encoder, name, &help, series, extra),
            FamilyKind::Gauge => self.encode_gauges(encoder, name, &help, series),
            FamilyKind::Histogram(plan) => {
                let windows = self.encode_histograms(encoder, name, &help, plan.opts(), series)?;
                if self.window_quantiles {
                    self.encode_window_gauges(encoder, name, plan.opts(), &windows)?;
                    Ok((series.len() * (1 + WINDOW_QUANTILES.len())) as u64)
                } else {
                    Ok(series.len() as u64)
                }
            }
        }
    }

    /// A counter family: `<stem>_total` per series, the whole count exact while it fits.
    fn encode_counters(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        series: &[(&LabelSet, &Series)],
        extra: &[(usize, Series)],
    ) -> Result<u64, fmt::Error> {
        let stem = name.strip_suffix("_total").unwrap_or(name);
        let (stem, unit) = split_unit(stem);
        let mut metric = encoder.encode_descriptor(stem, help, unit.as_ref(), WireType::Counter)?;
        // Values first, in a loop of loads alone: the cache misses of many counters then
        // overlap, where between two texts they would follow each other.
        let values: Vec<(u128, f64)> = (0..series.len())
            .map(|at| counter_value(series[at].1, at, extra))
            .collect();
        let counting = self.counting.load(Ordering::Relaxed);
        for (&(labels, series), &(whole, fraction)) in series.iter().zip(&values) {
            if counting {
                if let Series::Counter(c) = series {
                    if let Some(exemplar) = c.exemplar() {
                        let mut suffix = String::with_capacity(96);
                        exemplar.openmetrics_suffix(&mut suffix);
                        ExemplarPlan::append(0, suffix);
                    }
                }
            }
            let labels = self.labels(labels, None);
            let mut m = metric.encode_family(&labels)?;
            // A count of whole increments prints as the exact integer, while it fits the
            // encoder's u64.
            let exact = u64::try_from(whole).ok().filter(|_| fraction == 0.0);
            if let Some(whole) = exact {
                m.encode_counter::<NoLabelSet, _, u64>(&whole, None)?;
            } else {
                m.encode_counter::<NoLabelSet, _, u64>(&(whole as f64 + fraction), None)?;
            }
        }
        Ok(series.len() as u64)
    }

    /// A gauge family: one value per series.
    fn encode_gauges(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        series: &[(&LabelSet, &Series)],
    ) -> Result<u64, fmt::Error> {
        let (stem, unit) = split_unit(name);
        let mut metric = encoder.encode_descriptor(stem, help, unit.as_ref(), WireType::Gauge)?;
        let values: Vec<Option<f64>> = series
            .iter()
            .map(|(_, s)| match s {
                Series::Gauge(g) => Some(g.get()),
                _ => None,
            })
            .collect();
        for (&(labels, _), value) in series.iter().zip(values) {
            if let Some(value) = value {
                metric
                    .encode_family(&self.labels(labels, None))?
                    .encode_gauge(&value)?;
            }
        }
        Ok(series.len() as u64)
    }

    /// A histogram family: cumulative `_bucket{le}`, `_sum` and `_count` per series. Returns
    /// each series' window quantiles (when they are exported) for
    /// [`encode_window_gauges`](Self::encode_window_gauges).
    fn encode_histograms<'a>(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        opts: &HistogramOpts,
        series: &[(&'a LabelSet, &Series)],
    ) -> Result<Vec<Window<'a>>, fmt::Error> {
        let (stem, unit) = split_unit(name);
        let bounds = opts.bucket_bounds();
        let mut windows = Vec::with_capacity(series.len());
        let mut metric =
            encoder.encode_descriptor(stem, help, unit.as_ref(), WireType::Histogram)?;
        let width = bounds.len() + 1;
        // Every series' buckets first, in a loop of loads alone, so that their cache misses
        // overlap; then the text.
        let mut per_bucket = Vec::with_capacity(series.len() * width);
        let sums: Vec<f64> = series
            .iter()
            .map(|(_, s)| match s {
                Series::Histogram(h) => h.export_buckets(&mut per_bucket),
                _ => {
                    per_bucket.resize(per_bucket.len() + width, 0);
                    0.0
                }
            })
            .collect();
        let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(width);
        let qs: Vec<f64> = WINDOW_QUANTILES.iter().map(|(q, _)| *q).collect();
        let mut scratch = crate::metrics::Cells::default();
        let rows = per_bucket.chunks_exact(width).zip(&sums);
        for (&(labels, series), (counts, &sum)) in series.iter().zip(rows) {
            let Series::Histogram(h) = series else {
                continue;
            };
            buckets.clear();
            let bounds = bounds.iter().copied().chain([f64::INFINITY]);
            buckets.extend(bounds.zip(counts.iter().copied()));
            let count = counts.iter().sum();
            if self.counting.load(Ordering::Relaxed) {
                // `_sum`, `_count`, then one line per bucket.
                h.each_exemplar(|i, exemplar| {
                    let mut suffix = String::with_capacity(96);
                    exemplar.openmetrics_suffix(&mut suffix);
                    ExemplarPlan::append(2 + i as u64, suffix);
                });
            }
            metric
                .encode_family(&self.labels(labels, None))?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            if self.window_quantiles {
                windows.push((labels, h.window_quantiles(&qs, &mut scratch)));
            }
        }
        Ok(windows)
    }

    /// The gauge family `<stem>_window<_unit>{q}` of a histogram family's recent-window
    /// quantiles, `NaN` while a window is empty.
    fn encode_window_gauges(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        opts: &HistogramOpts,
        windows: &[Window<'_>],
    ) -> Result<(), fmt::Error> {
        let (stem, unit) = split_unit(name);
        let window_stem = format!("{stem}_window");
        let window_help = format!(
            "Quantiles q of {name} over the last {}s (within 1%); NaN while the window is empty.",
            opts.window_len().as_secs_f64()
        );
        // A name holds nothing that needs escaping, and neither does the rest.
        let mut metric = encoder.encode_descriptor(
            &window_stem,
            &window_help,
            unit.as_ref(),
            WireType::Gauge,
        )?;
        for (labels, window) in windows {
            for (i, (_, q_text)) in WINDOW_QUANTILES.iter().enumerate() {
                let value = window.as_ref().map_or(f64::NAN, |values| values[i]);
                metric
                    .encode_family(&self.labels(labels, Some(("q", q_text))))?
                    .encode_gauge(&value)?;
            }
        }
        Ok(())
    }

    /// HELP as this format needs it: prometheus-client escapes HELP in Prometheus text but
    /// writes it raw in OpenMetrics, where a newline would end the line and a stray `\` or
    /// `"` would be read as an escape.
    /// `has_escapes` says whether `help` holds any of those (`FamilyCore::help_has_escapes`).
    fn help<'h>(&self, help: &'h str, has_escapes: bool) -> Cow<'h, str> {
        match self.format {
            ExpositionFormat::OpenMetrics if has_escapes => Cow::Owned(escape_openmetrics(help)),
            _ => Cow::Borrowed(help),
        }
    }

    fn labels<'a>(&'a self, own: &'a LabelSet, extra: Option<(&'a str, &'a str)>) -> Labels<'a> {
        Labels {
            own,
            global: &self.global_labels,
            extra,
            counted: self.counting.load(Ordering::Relaxed),
        }
    }
}

/// `help` with the OpenMetrics escapes, the label values' own.
fn escape_openmetrics(help: &str) -> String {
    let mut out = String::with_capacity(help.len() + escape_count(help));
    escape_into(help, &mut out);
    out
}

/// A series' labels as written: its own, the global labels it does not override, and the
/// exposition's own (`q`).
struct Labels<'a> {
    own: &'a LabelSet,
    global: &'a [(String, String)],
    extra: Option<(&'a str, &'a str)>,
    /// Count the line for the scrape's [`ExemplarPlan`]: each sample line encodes its
    /// labels once.
    counted: bool,
}

impl EncodeLabelSet for Labels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), fmt::Error> {
        if self.counted {
            ExemplarPlan::count_line();
        }
        let own = self.own.exposition_text();
        if !own.is_empty() {
            // The series' own labels were escaped and joined when the series was made, so
            // they go out as one string. The text encoder writes a key as it is given and
            // opens the value only when asked, so the whole `name="value",…` is written
            // through the key, after the `{` or `,` the encoder puts before it. The interop
            // tests parse this output with promtool and a real Prometheus.
            let mut label = encoder.encode_label();
            fmt::Write::write_str(&mut label.encode_label_key()?, own)?;
        }
        for (k, v) in self.global {
            if self.own.get(k).is_none() {
                (k.as_str(), v.as_str()).encode(encoder.encode_label())?;
            }
        }
        if let Some(pair) = self.extra {
            pair.encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

/// Splits a base-unit suffix off a name (`query_latency_seconds` → `query_latency`, seconds),
/// so that prometheus-client writes it back and declares the UNIT.
fn split_unit(name: &str) -> (&str, Option<Unit>) {
    let (stem, unit) = split_unit_suffix(name);
    let unit = unit.map(|unit| match unit {
        "seconds" => Unit::Seconds,
        "bytes" => Unit::Bytes,
        "celsius" => Unit::Celsius,
        "meters" => Unit::Meters,
        "volts" => Unit::Volts,
        "amperes" => Unit::Amperes,
        "joules" => Unit::Joules,
        "grams" => Unit::Grams,
        other => Unit::Other(other.to_owned()),
    });
    (stem, unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry with one series of each type and known values.
    fn known() -> Registry {
        let r = Registry::new();
        r.counter("jobs_total", "Jobs run.", &[("kind", "a\"b")])
            .unwrap()
            .inc_by(3);
        r.gauge("queue_bytes", "Queued bytes.", &[])
            .unwrap()
            .set(2.5);
        let opts = crate::HistogramOpts::latency().buckets([0.1, 1.0]);
        let h = r
            .histogram_family_with("wait_seconds", "Wait.", opts)
            .unwrap()
            .with_labels(&[])
            .unwrap();
        h.observe(0.5);
        h.observe(2.0);
        r
    }

    fn encoded(format: ExpositionFormat, window_quantiles: bool) -> String {
        let labels = [("zone".to_owned(), "eu".to_owned())];
        Exposition::new(vec![known()], &labels, window_quantiles)
            .encode(format)
            .unwrap()
    }

    #[test]
    fn exemplars_follow_their_buckets_in_openmetrics_only() {
        let r = Registry::new();
        let opts = crate::HistogramOpts::latency().buckets([0.1, 1.0]);
        let h = r
            .histogram_family_with("rpc_seconds", "RPC.", opts)
            .unwrap()
            .with_labels(&[("op", "get")])
            .unwrap();
        h.observe(0.05);
        h.observe_with_exemplar(0.5, &[("trace_id", "abc")])
            .unwrap();
        h.observe_with_exemplar(0.7, &[("trace_id", "def")])
            .unwrap();
        h.observe_with_exemplar(5.0, &[("trace_id", "ghi")])
            .unwrap();
        let exposition = Exposition::new(vec![r], &[], false);
        let om = exposition.encode(ExpositionFormat::OpenMetrics).unwrap();
        let lines: Vec<&str> = om
            .lines()
            .filter(|l| l.starts_with("rpc_seconds"))
            .collect();
        assert_eq!(lines[0], "rpc_seconds_sum{op=\"get\"} 6.25");
        assert_eq!(lines[1], "rpc_seconds_count{op=\"get\"} 4");
        assert_eq!(lines[2], "rpc_seconds_bucket{le=\"0.1\",op=\"get\"} 1");
        assert!(
            lines[3].starts_with(
                "rpc_seconds_bucket{le=\"1.0\",op=\"get\"} 3 # {trace_id=\"def\"} 0.7 1"
            ),
            "{om}"
        );
        assert!(
            lines[4].starts_with(
                "rpc_seconds_bucket{le=\"+Inf\",op=\"get\"} 4 # {trace_id=\"ghi\"} 5 1"
            ),
            "{om}"
        );
        let text = exposition.encode(ExpositionFormat::PrometheusText).unwrap();
        assert!(!text.contains("trace_id"), "{text}");
    }

    #[test]
    fn a_counter_keeps_its_newest_exemplar_on_its_total() {
        let r = Registry::new();
        let jobs = r.counter("jobs_total", "Jobs.", &[("queue", "a")]).unwrap();
        let other = r.counter("jobs_total", "Jobs.", &[("queue", "b")]).unwrap();
        jobs.inc_by_with_exemplar(2, &[("trace_id", "old")])
            .unwrap();
        jobs.inc_by_with_exemplar(3, &[("trace_id", "new")])
            .unwrap();
        other.inc();
        assert!(jobs.inc_by_with_exemplar(1, &[("bad name", "x")]).is_err());
        let om = Exposition::new(vec![r], &[], false)
            .encode(ExpositionFormat::OpenMetrics)
            .unwrap();
        let line = |queue: &str| {
            om.lines()
                .find(|l| l.starts_with(&format!("jobs_total{{queue=\"{queue}\"}}")))
                .unwrap()
                .to_owned()
        };
        assert!(
            line("a").starts_with("jobs_total{queue=\"a\"} 6 # {trace_id=\"new\"} 3 "),
            "{om}"
        );
        assert_eq!(line("b"), "jobs_total{queue=\"b\"} 1");
    }

    #[test]
    fn openmetrics_text_is_exactly_this() {
        let expected = r#"# HELP jobs Jobs run.
# TYPE jobs counter
jobs_total{kind="a\"b",zone="eu"} 3
# HELP kotoba_monitoring_families_rejected New metric names refused because the registry holds max_metric_families families.
# TYPE kotoba_monitoring_families_rejected counter
kotoba_monitoring_families_rejected_total{zone="eu"} 0
# HELP kotoba_monitoring_samples_dropped record_metric samples dropped because the ingest queue was full.
# TYPE kotoba_monitoring_samples_dropped counter
kotoba_monitoring_samples_dropped_total{zone="eu"} 0
# HELP queue_bytes Queued bytes.
# TYPE queue_bytes gauge
# UNIT queue_bytes bytes
queue_bytes{zone="eu"} 2.5
# HELP wait_seconds Wait.
# TYPE wait_seconds histogram
# UNIT wait_seconds seconds
wait_seconds_sum{zone="eu"} 2.5
wait_seconds_count{zone="eu"} 2
wait_seconds_bucket{le="0.1",zone="eu"} 0
wait_seconds_bucket{le="1.0",zone="eu"} 1
wait_seconds_bucket{le="+Inf",zone="eu"} 2
# HELP wait_window_seconds Quantiles q of wait_seconds over the last 60s (within 1%); NaN while the window is empty.
# TYPE wait_window_seconds gauge
# UNIT wait_window_seconds seconds
wait_window_seconds{zone="eu",q="0.5"} 0.5008937161677618
wait_window_seconds{zone="eu",q="0.9"} 2.0
wait_window_seconds{zone="eu",q="0.95"} 2.0
wait_window_seconds{zone="eu",q="0.99"} 2.0
wait_window_seconds{zone="eu",q="0.999"} 2.0
# EOF
"#;
        assert_eq!(encoded(ExpositionFormat::OpenMetrics, true), expected);
    }

    #[test]
    fn prometheus_text_is_exactly_this() {
        let expected = r#"# HELP jobs_total Jobs run.
# TYPE jobs_total counter
jobs_total{kind="a\"b",zone="eu"} 3
# HELP kotoba_monitoring_families_rejected_total New metric names refused because the registry holds max_metric_families families.
# TYPE kotoba_monitoring_families_rejected_total counter
kotoba_monitoring_families_rejected_total{zone="eu"} 0
# HELP kotoba_monitoring_samples_dropped_total record_metric samples dropped because the ingest queue was full.
# TYPE kotoba_monitoring_samples_dropped_total counter
kotoba_monitoring_samples_dropped_total{zone="eu"} 0
# HELP queue_bytes Queued bytes.
# TYPE queue_bytes gauge
queue_bytes{zone="eu"} 2.5
# HELP wait_seconds Wait.
# TYPE wait_seconds histogram
wait_seconds_bucket{zone="eu",le="0.1"} 0
wait_seconds_bucket{zone="eu",le="1"} 1
wait_seconds_bucket{zone="eu",le="+Inf"} 2
wait_seconds_sum{zone="eu"} 2.5
wait_seconds_count{zone="eu"} 2
"#;
        assert_eq!(encoded(ExpositionFormat::PrometheusText, false), expected);
    }

    #[test]
    fn units_split_off_only_as_a_suffix() {
        assert_eq!(split_unit("a_seconds").0, "a");
        assert_eq!(split_unit("a_seconds").1.unwrap().as_str(), "seconds");
        assert_eq!(split_unit("bytes_read").0, "bytes_read");
        assert!(split_unit("_bytes").1.is_none());
        assert_eq!(split_unit("cpu_percent").1.unwrap().as_str(), "percent");
    }

    #[test]
    fn negotiation_weighs_the_types() {
        use ExpositionFormat::*;
        let n = |a| ExpositionFormat::negotiate(Some(a));
        assert_eq!(n("application/openmetrics-text"), OpenMetrics);
        assert_eq!(
            n("text/plain;q=0.9, application/openmetrics-text;q=0.5"),
            PrometheusText
        );
        assert_eq!(
            n("application/openmetrics-text;version=2.0.0"),
            PrometheusText
        );
        assert_eq!(n("application/openmetrics-text;q=0"), PrometheusText);
        assert_eq!(n("text/plain"), PrometheusText);
        assert_eq!(n(""), PrometheusText);
    }

    #[test]
    fn openmetrics_escapes() {
        assert_eq!(escape_openmetrics("a\\b\n\"c\" é"), "a\\\\b\\n\\\"c\\\" é");
    }
}
