//! `GET /federate?match[]=…`: the newest sample of each series the selectors match, with its
//! timestamp, in the Prometheus text format, as Prometheus 2.42's `web/federate.go` serves
//! it. See [`federate`].
//!
//! As in Prometheus, every series is `untyped` (federation carries samples, not metadata),
//! stale markers are left out, and the global labels are added to each series that lacks
//! them, `instance=""` among them when none is configured. A central Prometheus scraping
//! this with `honor_labels: true` keeps the series' own labels (`job`, `instance` and the
//! global ones); without it, its target's `job` and `instance` win, and ours are kept as
//! `exported_job` and `exported_instance`.

use std::fmt::Write;

use time::OffsetDateTime;

use crate::gofmt::format_float;
use crate::query::Labels;
use crate::{HistoryStore, MonitoringError};

/// The body of a `/federate` answer for `selectors` at `at`: the text format, one `# TYPE
/// name untyped` line per metric name before its series.
///
/// # Errors
///
/// [`MonitoringError::Query`] when a selector is not a series selector (a `400`).
pub(crate) fn federate(
    history: &HistoryStore,
    selectors: &[&str],
    global_labels: &Labels,
    at: OffsetDateTime,
) -> Result<String, MonitoringError> {
    let samples = history.latest(selectors, at)?;
    let mut external = global_labels.clone();
    if !external.iter().any(|(n, _)| n == "instance") {
        external.push(("instance".to_owned(), String::new()));
    }
    external.sort();
    let mut out = String::new();
    let mut last_name: Option<String> = None;
    for (labels, t, v) in samples {
        let name = labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if last_name.as_deref() != Some(name.as_str()) {
            let _ = writeln!(out, "# TYPE {name} untyped");
            last_name = Some(name.clone());
        }
        out.push_str(&name);
        let own = labels
            .iter()
            .filter(|(n, v)| n != "__name__" && !v.is_empty());
        let added = external
            .iter()
            .filter(|(n, _)| !labels.iter().any(|(have, v)| have == n && !v.is_empty()));
        let mut first = true;
        for (n, value) in own.chain(added) {
            out.push(if first { '{' } else { ',' });
            first = false;
            let _ = write!(out, "{n}=\"");
            crate::metrics::escape_into(value, &mut out);
            out.push('"');
        }
        if !first {
            out.push('}');
        }
        let value = match v {
            0.0 => "0".to_owned(),
            1.0 => "1".to_owned(),
            -1.0 => "-1".to_owned(),
            v => format_float(v, 'g'),
        };
        let _ = writeln!(out, " {value} {t}");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::LabelSet;

    #[test]
    fn the_newest_sample_of_each_match_with_global_labels() {
        let store = HistoryStore::new(Duration::from_secs(3600), 100);
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let put = |name: &str, labels: &[(&str, &str)], ago: u64, v: f64| {
            let set = LabelSet::new(name, labels).unwrap();
            store.append(name, &set, now - Duration::from_secs(ago), v);
        };
        put("job:queries:rate5m", &[("op", "get")], 30, 1.5);
        put("job:queries:rate5m", &[("op", "get")], 15, 2.5);
        put("job:queries:rate5m", &[("op", "put \"x\"")], 15, 1234567.0);
        put("job:queries:rate5m", &[("op", "old")], 600, 9.0);
        put(
            "ALERTS",
            &[("alertname", "Down"), ("instance", "db-1")],
            0,
            1.0,
        );
        put("other", &[], 0, 7.0);
        let globals = vec![("cluster".to_owned(), "east".to_owned())];
        let text = federate(&store, &["{__name__=~\"job:.*\"}", "ALERTS"], &globals, now).unwrap();
        let t = |ago: i64| (now.unix_timestamp() - ago) * 1000;
        assert_eq!(
            text,
            format!(
                "# TYPE ALERTS untyped\n\
                 ALERTS{{alertname=\"Down\",instance=\"db-1\",cluster=\"east\"}} 1 {}\n\
                 # TYPE job:queries:rate5m untyped\n\
                 job:queries:rate5m{{op=\"get\",cluster=\"east\",instance=\"\"}} 2.5 {}\n\
                 job:queries:rate5m{{op=\"put \\\"x\\\"\",cluster=\"east\",instance=\"\"}} 1.234567e+06 {}\n",
                t(0),
                t(15),
                t(15)
            )
        );
        // No selector, no series; a selector that is not one is an error.
        assert_eq!(federate(&store, &[], &globals, now).unwrap(), "");
        assert!(federate(&store, &["rate(x[5m])"], &globals, now).is_err());
    }
}
