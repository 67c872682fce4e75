//! Module implementing the Prometheus HTTP API over the history store, in Prometheus 2.42's
//! JSON: queries (`/api/v1/query`, `/api/v1/query_range`), the catalog (`/api/v1/series`,
//! `/api/v1/labels`, `/api/v1/label/<name>/values`), `/api/v1/metadata`,
//! `/api/v1/status/buildinfo`, and the alerts and rules the routes hand in
//! (`/api/v1/alerts`, `/api/v1/rules`). See [`api`] for details.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::exposition::{Exposition, ExpositionFormat};
use super::request::Request;
use super::response::Response;
use crate::gofmt::format_float;
use crate::query::{QueryError, QuerySample, QuerySeries, QueryValue};
use crate::{HistoryStore, MonitoringError};

/// How long a query may run unless its `timeout` parameter says otherwise, as Prometheus's
/// default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The Prometheus version whose query semantics and API we answer with, which
/// `/api/v1/status/buildinfo` reports so that clients (Grafana) pick the features to use.
const PROMETHEUS_VERSION: &str = "2.42.0";

/// One endpoint of the API.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Endpoint<'a> {
    Query,
    QueryRange,
    Series,
    Labels,
    /// `/api/v1/label/<name>/values`, with the name from the path.
    LabelValues(&'a str),
    Metadata,
    BuildInfo,
    /// `/api/v1/alerts`.
    Alerts,
    /// `/api/v1/rules`.
    Rules,
    /// `/api/v1/query_exemplars`.
    QueryExemplars,
    /// `/api/v1/slow_queries`: ours, the slow-query log.
    SlowQueries,
}

impl<'a> Endpoint<'a> {
    /// The endpoint at `path`, if it is one.
    pub(crate) fn of(path: &'a str) -> Option<Self> {
        Some(match path {
            "/api/v1/query" => Self::Query,
            "/api/v1/query_range" => Self::QueryRange,
            "/api/v1/series" => Self::Series,
            "/api/v1/labels" => Self::Labels,
            "/api/v1/metadata" => Self::Metadata,
            "/api/v1/status/buildinfo" => Self::BuildInfo,
            "/api/v1/alerts" => Self::Alerts,
            "/api/v1/rules" => Self::Rules,
            "/api/v1/query_exemplars" => Self::QueryExemplars,
            "/api/v1/slow_queries" => Self::SlowQueries,
            _ => Self::LabelValues(
                path.strip_prefix("/api/v1/label/")?
                    .strip_suffix("/values")
                    .filter(|name| !name.contains('/'))?,
            ),
        })
    }

    /// The name counted in `kotoba_monitoring_http_requests_total{endpoint}` (one for every
    /// label name, so that names cannot grow the series).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Query => "api/v1/query",
            Self::QueryRange => "api/v1/query_range",
            Self::Series => "api/v1/series",
            Self::Labels => "api/v1/labels",
            Self::LabelValues(_) => "api/v1/label/values",
            Self::Metadata => "api/v1/metadata",
            Self::BuildInfo => "api/v1/status/buildinfo",
            Self::Alerts => "api/v1/alerts",
            Self::Rules => "api/v1/rules",
            Self::QueryExemplars => "api/v1/query_exemplars",
            Self::SlowQueries => "api/v1/slow_queries",
        }
    }

    /// The methods it answers, as Prometheus's: `POST` where parameters can be long.
    pub(crate) fn methods(self) -> &'static [&'static str] {
        match self {
            Self::Query | Self::QueryRange | Self::Series | Self::Labels | Self::QueryExemplars => {
                &["GET", "POST"]
            }
            Self::LabelValues(_)
            | Self::Metadata
            | Self::BuildInfo
            | Self::Alerts
            | Self::Rules
            | Self::SlowQueries => &["GET"],
        }
    }
}

/// Answers `request` to `endpoint`. Parameters come from the URL and, for `POST`, from a
/// form-encoded body, which wins.
pub(crate) fn api(
    request: &Request,
    endpoint: Endpoint<'_>,
    history: &HistoryStore,
    exposition: &Exposition,
    alerts: &dyn Fn() -> serde_json::Value,
    rules: &dyn Fn() -> serde_json::Value,
    slow_queries: &dyn Fn() -> serde_json::Value,
) -> Response {
    let mut params = request.query_params();
    if request.method == "POST" {
        let body: Vec<(String, String)> = form_urlencoded::parse(&request.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        params.splice(0..0, body);
    }
    let answer = match endpoint {
        Endpoint::Query => query(&params, history, false),
        Endpoint::QueryRange => query(&params, history, true),
        Endpoint::Series => series(&params, history),
        Endpoint::Labels => labels(&params, history, None),
        Endpoint::LabelValues(name) => labels(&params, history, Some(name)),
        Endpoint::Metadata => metadata(&params, exposition),
        Endpoint::BuildInfo => Ok(buildinfo()),
        Endpoint::Alerts => Ok(success(
            &serde_json::json!({ "alerts": alerts() }).to_string(),
        )),
        Endpoint::Rules => Ok(success(&rules().to_string())),
        Endpoint::QueryExemplars => query_exemplars(&params, history),
        Endpoint::SlowQueries => Ok(success(&slow_queries().to_string())),
    };
    match answer {
        Ok(json) => Response::new(200, "application/json", json.into_bytes()),
        Err((status, kind, message)) => {
            let mut json = String::from(r#"{"status":"error","errorType":""#);
            json.push_str(kind);
            json.push_str(r#"","error":"#);
            json.push_str(&serde_json::to_string(&message).unwrap_or_default());
            json.push('}');
            Response::new(status, "application/json", json.into_bytes())
        }
    }
}

type Failure = (u16, &'static str, String);

fn bad_data(message: String) -> Failure {
    (400, "bad_data", message)
}

/// The first non-empty value of parameter `name`.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Optional time parameter `name`.
fn time_param(params: &[(String, String)], name: &str) -> Result<Option<OffsetDateTime>, Failure> {
    param(params, name)
        .map(|text| {
            parse_time(text).map_err(|e| bad_data(format!("invalid parameter \"{name}\": {e}")))
        })
        .transpose()
}

/// `{"status":"success","data":` `data` `}`.
fn success(data: &str) -> String {
    format!(r#"{{"status":"success","data":{data}}}"#)
}

/// How a failed call of the store reads in the API: a bad expression or range is the
/// client's (400), a timeout 503, anything else an execution error (422).
fn failure(e: MonitoringError) -> Failure {
    match e {
        MonitoringError::Query(QueryError::Parse { .. }) => bad_data(e.to_string()),
        MonitoringError::InvalidTimeRange { .. } => bad_data(e.to_string()),
        MonitoringError::Timeout { .. } => (503, "timeout", e.to_string()),
        other => (422, "execution", other.to_string()),
    }
}

fn query(
    params: &[(String, String)],
    history: &HistoryStore,
    range: bool,
) -> Result<String, Failure> {
    let param = |name: &str| param(params, name);
    let Some(expr) = param("query") else {
        return Err(bad_data(
            "invalid parameter \"query\": the query is empty".to_owned(),
        ));
    };
    let timeout = match param("timeout") {
        Some(text) => parse_duration(text)
            .map_err(|e| bad_data(format!("invalid parameter \"timeout\": {e}")))?,
        None => DEFAULT_TIMEOUT,
    };
    let deadline = Instant::now() + timeout;
    let value = if range {
        let time_param = |name: &str| -> Result<OffsetDateTime, Failure> {
            let text = param(name)
                .ok_or_else(|| bad_data(format!("invalid parameter \"{name}\": it is missing")))?;
            parse_time(text).map_err(|e| bad_data(format!("invalid parameter \"{name}\": {e}")))
        };
        let (start, end) = (time_param("start")?, time_param("end")?);
        if end < start {
            return Err(bad_data(
                "invalid parameter \"end\": end timestamp must not be before start time".to_owned(),
            ));
        }
        let step = param("step")
            .ok_or_else(|| bad_data("invalid parameter \"step\": it is missing".to_owned()))
            .and_then(|s| {
                parse_duration(s).map_err(|e| bad_data(format!("invalid parameter \"step\": {e}")))
            })?;
        if step.is_zero() {
            return Err(bad_data("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".to_owned()));
        }
        history
            .query_range_until(expr, start, end, step, deadline)
            .map(|v| (start, v))
    } else {
        let at = match param("time") {
            Some(text) => parse_time(text)
                .map_err(|e| bad_data(format!("invalid parameter \"time\": {e}")))?,
            None => OffsetDateTime::now_utc(),
        };
        history
            .query_until(expr, at, Some(deadline))
            .map(|v| (at, v))
    };
    let (at, value) = value.map_err(failure)?;
    Ok(success(&query_result(at, &value)))
}

/// The `match[]` selectors and the `start`/`end` times of a catalog request.
struct Selection<'a> {
    selectors: Vec<&'a str>,
    start: Option<OffsetDateTime>,
    end: Option<OffsetDateTime>,
}

/// `/api/v1/query_exemplars`: the exemplars of the series `query`'s selectors select, from
/// `start` to `end` (everything kept when left out), as Prometheus lists them.
fn query_exemplars(params: &[(String, String)], history: &HistoryStore) -> Result<String, Failure> {
    let Some(text) = param(params, "query") else {
        return Err(bad_data(
            "no query parameter provided; give an expression whose selectors name the series, such as query=kotoba_db_query_latency_seconds_bucket".to_owned(),
        ));
    };
    let expr = crate::query::parse(text, None)
        .map_err(|e| bad_data(format!("invalid parameter \"query\": {e}")))?;
    let start = time_param(params, "start")?.unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let end = time_param(params, "end")?
        .unwrap_or_else(|| OffsetDateTime::now_utc() + Duration::from_secs(86_400));
    if end < start {
        return Err(bad_data(
            "end timestamp must not be before start timestamp".to_owned(),
        ));
    }
    let selectors = crate::query::selector_texts(&expr);
    let selectors: Vec<&str> = selectors.iter().map(String::as_str).collect();
    let found = history.exemplars(&selectors, start, end).map_err(failure)?;
    // As Prometheus writes it: labels as objects, the value as a string, the time in
    // seconds with the milliseconds after a point only when there are any.
    let mut out = String::from("[");
    comma_separated(&mut out, &found, |out, (labels, exemplars)| {
        out.push_str(r#"{"seriesLabels":"#);
        metric(out, labels);
        out.push_str(r#","exemplars":["#);
        comma_separated(out, exemplars, |out, e| {
            let labels: Vec<(String, String)> = e
                .labels()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            out.push_str(r#"{"labels":"#);
            metric(out, &labels);
            out.push_str(r#","value":"#);
            out.push_str(&serde_json::to_string(&format_value(e.value())).unwrap_or_default());
            out.push_str(r#","timestamp":"#);
            seconds(out, e.timestamp_ms());
            out.push('}');
        });
        out.push_str("]}");
    });
    out.push(']');
    Ok(success(&out))
}

/// Unix milliseconds as Prometheus's `marshalTimestamp` writes them: whole seconds, then
/// `.` and three digits when there is a fraction.
fn seconds(out: &mut String, ms: i64) {
    use std::fmt::Write;
    if ms < 0 {
        out.push('-');
    }
    let ms = ms.unsigned_abs();
    let _ = write!(out, "{}", ms / 1000);
    if !ms.is_multiple_of(1000) {
        let _ = write!(out, ".{:03}", ms % 1000);
    }
}

fn selection(params: &[(String, String)]) -> Result<Selection<'_>, Failure> {
    Ok(Selection {
        selectors: params
            .iter()
            .filter(|(k, _)| k == "match[]")
            .map(|(_, v)| v.as_str())
            .collect(),
        start: time_param(params, "start")?,
        end: time_param(params, "end")?,
    })
}

/// `/api/v1/series`: the label sets of the series `match[]` selects, as JSON objects.
fn series(params: &[(String, String)], history: &HistoryStore) -> Result<String, Failure> {
    let Selection {
        selectors,
        start,
        end,
    } = selection(params)?;
    if selectors.is_empty() {
        return Err(bad_data(
            "no match[] parameter provided; give one or more series selectors, such as match[]=up"
                .to_owned(),
        ));
    }
    let found = history.series(&selectors, start, end).map_err(failure)?;
    let mut out = String::from("[");
    comma_separated(&mut out, &found, |out, labels| metric(out, labels));
    out.push(']');
    Ok(success(&out))
}

/// `/api/v1/labels` (`name` `None`): the label names; `/api/v1/label/<name>/values`: the
/// values of label `name`.
fn labels(
    params: &[(String, String)],
    history: &HistoryStore,
    name: Option<&str>,
) -> Result<String, Failure> {
    let Selection {
        selectors,
        start,
        end,
    } = selection(params)?;
    let found = match name {
        None => history.label_names(&selectors, start, end),
        Some(name) => {
            if !crate::metrics::name::is_label_name(name) {
                return Err(bad_data(format!(
                    "invalid label name: {name:?}; a label name matches [a-zA-Z_][a-zA-Z0-9_]*"
                )));
            }
            history.label_values(name, &selectors, start, end)
        }
    }
    .map_err(failure)?;
    Ok(success(&serde_json::to_string(&found).unwrap_or_default()))
}

/// One metric's metadata, as Prometheus's `/api/v1/metadata` lists it.
#[derive(serde::Serialize, PartialEq)]
struct Metadata {
    #[serde(rename = "type")]
    kind: String,
    help: String,
    unit: String,
}

/// `/api/v1/metadata`: the type, help and unit of each metric family, read from our own
/// OpenMetrics exposition, so that they are exactly what a Prometheus scraping us records
/// (`metric` picks one family, `limit` caps how many are listed).
fn metadata(params: &[(String, String)], exposition: &Exposition) -> Result<String, Failure> {
    let limit = match param(params, "limit") {
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            bad_data(format!(
                "invalid parameter \"limit\": {text:?} is not a number of metrics"
            ))
        })?)
        .filter(|&l| l >= 0),
        None => None,
    };
    let wanted = param(params, "metric");
    let text = exposition
        .encode(ExpositionFormat::OpenMetrics)
        .map_err(|_| {
            (
                500,
                "internal",
                "the exposition failed to encode".to_owned(),
            )
        })?;
    let mut families: BTreeMap<String, Metadata> = BTreeMap::new();
    for line in text.lines() {
        let Some(comment) = line.strip_prefix("# ") else {
            continue;
        };
        let Some((keyword, rest)) = comment.split_once(' ') else {
            continue;
        };
        let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
        if wanted.is_some_and(|w| w != name) {
            continue;
        }
        let entry = families.entry(name.to_owned()).or_insert_with(|| Metadata {
            kind: "unknown".to_owned(),
            help: String::new(),
            unit: String::new(),
        });
        match keyword {
            "TYPE" => entry.kind = value.to_owned(),
            "HELP" => entry.help = unescape_help(value),
            "UNIT" => entry.unit = value.to_owned(),
            _ => {}
        }
    }
    let shown: BTreeMap<String, [Metadata; 1]> = families
        .into_iter()
        .take(limit.map_or(usize::MAX, |l| l as usize))
        .map(|(name, m)| (name, [m]))
        .collect();
    Ok(success(&serde_json::to_string(&shown).unwrap_or_default()))
}

/// An OpenMetrics HELP text as written, unescaped (`\\`, `\n`, `\"`).
fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// `/api/v1/status/buildinfo`: the Prometheus version we answer as, and ours.
fn buildinfo() -> String {
    let data = serde_json::json!({
        "version": PROMETHEUS_VERSION,
        "revision": concat!("kotoba-monitoring ", env!("CARGO_PKG_VERSION")),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    });
    success(&data.to_string())
}

/// A query's data: `{"resultType":…,"result":…}`.
fn query_result(at: OffsetDateTime, value: &QueryValue) -> String {
    let mut out = String::from(r#"{"resultType":""#);
    match value {
        QueryValue::Scalar(v) => {
            out.push_str(r#"scalar","result":"#);
            point(&mut out, at, *v);
        }
        QueryValue::Vector(samples) => {
            out.push_str(r#"vector","result":["#);
            comma_separated(&mut out, samples, |out, QuerySample { labels, value }| {
                out.push_str(r#"{"metric":"#);
                metric(out, labels);
                out.push_str(r#","value":"#);
                point(out, at, *value);
                out.push('}');
            });
            out.push(']');
        }
        QueryValue::Matrix(series) => {
            out.push_str(r#"matrix","result":["#);
            comma_separated(&mut out, series, |out, QuerySeries { labels, points }| {
                out.push_str(r#"{"metric":"#);
                metric(out, labels);
                out.push_str(r#","values":["#);
                comma_separated(out, points, |out, (t, v)| point(out, *t, *v));
                out.push_str("]}");
            });
            out.push(']');
        }
        QueryValue::String(text) => {
            out.push_str(r#"string","result":"#);
            pair(
                &mut out,
                at,
                &serde_json::to_string(text).unwrap_or_default(),
            );
        }
    }
    out.push('}');
    out
}

/// Writes each of `items` with `write`, a comma between two.
fn comma_separated<T>(
    out: &mut String,
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut String, T),
) {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, item);
    }
}

fn metric(out: &mut String, labels: &[(String, String)]) {
    out.push('{');
    comma_separated(out, labels, |out, (name, value)| {
        out.push_str(&serde_json::to_string(name).unwrap_or_default());
        out.push(':');
        out.push_str(&serde_json::to_string(value).unwrap_or_default());
    });
    out.push('}');
}

/// `[<seconds>,"<value>"]`, both as Prometheus writes them (`jsonutil.MarshalTimestamp` and
/// `MarshalValue`).
fn point(out: &mut String, at: OffsetDateTime, value: f64) {
    pair(out, at, &format!("\"{}\"", format_value(value)));
}

/// `[<seconds>,<json>]`: a time as `jsonutil.MarshalTimestamp` writes it, and a JSON value.
fn pair(out: &mut String, at: OffsetDateTime, json: &str) {
    let ms = (at.unix_timestamp_nanos().div_euclid(1_000_000)) as i64;
    out.push('[');
    if ms < 0 {
        out.push('-');
    }
    let ms = ms.unsigned_abs();
    let _ = write!(out, "{}", ms / 1000);
    let fraction = ms % 1000;
    if fraction != 0 {
        let _ = write!(out, ".{fraction:03}");
    }
    out.push(',');
    out.push_str(json);
    out.push(']');
}

/// Go's `strconv.AppendFloat(v, 'f', -1, 64)`, or `'e'` below 1e-6 and from 1e21, as
/// Prometheus writes sample values.
fn format_value(v: f64) -> String {
    let abs = v.abs();
    let fmt = if abs != 0.0 && abs.is_finite() && !(1e-6..1e21).contains(&abs) {
        'e'
    } else {
        'f'
    };
    format_float(v, fmt)
}

/// A time as Prometheus's API takes it: Unix seconds (a fraction rounded to milliseconds) or
/// RFC 3339.
fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && seconds.abs() < 1e15 {
            let ms = (seconds * 1000.0).round() as i128;
            return OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
                .map_err(|e| format!("cannot parse {text:?} to a valid timestamp: {e}"));
        }
    }
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("cannot parse {text:?} to a valid timestamp"))
}

/// A duration as Prometheus's API takes it: seconds (`15`, `0.5`) or a Prometheus duration
/// (`1m30s`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds)
            .map_err(|_| format!("cannot parse {text:?} to a valid duration"));
    }
    crate::query::duration_ms(text)
        .ok()
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
        .ok_or_else(|| format!("cannot parse {text:?} to a valid duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_times_are_written_as_prometheus_writes_them() {
        let time = |ms| {
            let mut out = String::new();
            seconds(&mut out, ms);
            out
        };
        assert_eq!(time(1_796_645_981_000), "1796645981");
        assert_eq!(time(1_796_645_980_060), "1796645980.060");
        assert_eq!(time(-1_500), "-1.500");
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e-7), "1e-07");
        assert_eq!(format_value(1.5e21), "1.5e+21");
        assert_eq!(format_value(123456789.5), "123456789.5");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        let mut out = String::new();
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_435_781_451_781_000_000).unwrap();
        point(&mut out, t, 2.5);
        assert_eq!(out, r#"[1435781451.781,"2.5"]"#);
        out.clear();
        point(&mut out, t.replace_millisecond(5).unwrap(), 1.0);
        assert_eq!(out, r#"[1435781451.005,"1"]"#);
    }

    #[test]
    fn times_and_durations_parse_both_ways() {
        let t = parse_time("1435781451.781").unwrap();
        assert_eq!(t.unix_timestamp_nanos(), 1_435_781_451_781_000_000);
        assert_eq!(parse_time("2015-07-01T20:10:51.781Z").unwrap(), t);
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration("15").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("soon").is_err());
    }
}
