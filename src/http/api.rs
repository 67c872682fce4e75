//! Module implementing the Prometheus HTTP API's query endpoints, `/api/v1/query` and
//! `/api/v1/query_range`, over the history store, in Prometheus 2.42's JSON. See
//! [`query_api`] for details.

use std::fmt::Write;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::request::Request;
use super::response::Response;
use crate::query::{format_float, QueryError, QuerySample, QuerySeries, QueryValue};
use crate::{HistoryStore, MonitoringError};

/// How long a query may run unless its `timeout` parameter says otherwise, as Prometheus's
/// default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Answers `GET` or `POST` `/api/v1/query` (`range` false) or `/api/v1/query_range`.
/// Parameters come from the URL and, for `POST`, from a form-encoded body, which wins.
pub(crate) fn query_api(request: &Request, history: &HistoryStore, range: bool) -> Response {
    let mut params = request.query_params();
    if request.method == "POST" {
        let body: Vec<(String, String)> = form_urlencoded::parse(&request.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        params.splice(0..0, body);
    }
    match answer(&params, history, range) {
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

fn answer(
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
        history.query(expr, at).map(|v| (at, v))
    };
    let (at, value) = value.map_err(|e| match e {
        MonitoringError::Query(QueryError::Parse { .. }) => bad_data(e.to_string()),
        MonitoringError::InvalidTimeRange { .. } => bad_data(e.to_string()),
        MonitoringError::Timeout { .. } => (503, "timeout", e.to_string()),
        other => (422, "execution", other.to_string()),
    })?;
    Ok(success(at, &value))
}

/// The success body: `{"status":"success","data":{"resultType":…,"result":…}}`.
fn success(at: OffsetDateTime, value: &QueryValue) -> String {
    let mut out = String::from(r#"{"status":"success","data":{"resultType":""#);
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
    }
    out.push_str("}}");
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
    out.push_str(",\"");
    out.push_str(&format_value(value));
    out.push_str("\"]");
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
