//! The Prometheus HTTP API's query endpoints on the exporter: exact JSON, POST forms, range
//! queries, errors with Prometheus's types and status codes, and auth.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::request;
use kotoba_monitoring::{
    HttpAuth, LabelSet, MetricsCollector, MonitoringConfig, PrometheusConfig, PrometheusExporter,
};
use time::OffsetDateTime;

/// An exporter whose history holds `jobs{op}` at 1,700,000,000 s and one minute later.
fn exporter_with_history(auth: Option<HttpAuth>) -> PrometheusExporter {
    let collector = Arc::new(MetricsCollector::standalone(MonitoringConfig::default()).unwrap());
    let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    for (op, values) in [("get", [1.0, 2.5]), ("put", [10.0, 20.0])] {
        let labels = LabelSet::new("jobs", &[("op", op)]).unwrap();
        for (i, v) in values.iter().enumerate() {
            collector.history().append(
                "jobs",
                &labels,
                t0 + Duration::from_secs(60 * i as u64),
                *v,
            );
        }
    }
    let exporter = PrometheusExporter::new(
        collector,
        PrometheusConfig {
            address: "127.0.0.1".into(),
            port: 0,
            auth,
            ..Default::default()
        },
    )
    .unwrap();
    exporter.start().unwrap();
    exporter
}

#[test]
fn instant_queries_answer_in_prometheus_json() {
    let e = exporter_with_history(None);
    let addr = e.local_addr().unwrap();
    let reply = request(
        addr,
        "GET",
        "/api/v1/query?query=jobs%20*%202&time=1700000060.5",
        &[],
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    // Milliseconds as Prometheus's MarshalTimestamp writes them: all three digits.
    assert_eq!(
        reply.text(),
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"op":"get"},"value":[1700000060.500,"5"]},{"metric":{"op":"put"},"value":[1700000060.500,"40"]}]}}"#
    );
    let scalar = request(
        addr,
        "GET",
        "/api/v1/query?query=1%2F3&time=1700000000",
        &[],
    );
    assert_eq!(
        scalar.text(),
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.3333333333333333"]}}"#
    );
}

#[test]
fn post_forms_and_range_queries() {
    let e = exporter_with_history(None);
    let addr = e.local_addr().unwrap();
    let body = "query=sum(jobs)&start=1700000000&end=2023-11-14T22:14:20Z&step=30";
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "POST /api/v1/query_range HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let reply = common::parse_reply(&raw);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.text(),
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"11"],[1700000030,"11"],[1700000060,"22.5"]]}]}}"#
    );
}

#[test]
fn errors_carry_prometheus_types_and_codes() {
    let e = exporter_with_history(Some(HttpAuth::bearer("s3cret")));
    let addr = e.local_addr().unwrap();
    let auth = [("Authorization", "Bearer s3cret")];
    let cases = [
        ("/api/v1/query", 400, "bad_data"),
        ("/api/v1/query?query=rate(jobs%5B5m%5D", 400, "bad_data"),
        ("/api/v1/query?query=jobs&time=yesterday", 400, "bad_data"),
        (
            "/api/v1/query?query=jobs%20%2B%20on()%20jobs&time=1700000000",
            422,
            "execution",
        ),
        (
            "/api/v1/query_range?query=jobs&start=20&end=10&step=1",
            400,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=jobs&start=0&end=100000&step=1",
            400,
            "bad_data",
        ),
    ];
    for (path, status, kind) in cases {
        let reply = request(addr, "GET", path, &auth);
        assert_eq!(reply.status, status, "{path}: {}", reply.text());
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(json["status"], "error", "{path}");
        assert_eq!(json["errorType"], kind, "{path}");
        assert!(!json["error"].as_str().unwrap().is_empty());
    }
    // The API is behind the same credentials as every endpoint.
    assert_eq!(
        request(addr, "GET", "/api/v1/query?query=jobs", &[]).status,
        401
    );
    assert_eq!(
        request(addr, "PUT", "/api/v1/query?query=jobs", &auth).status,
        405
    );
}

#[test]
fn series_labels_and_values_list_the_history() {
    let e = exporter_with_history(None);
    let addr = e.local_addr().unwrap();
    let get = |path: &str| {
        let reply = request(addr, "GET", path, &[]);
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        reply.text()
    };
    assert_eq!(
        get("/api/v1/series?match[]=jobs%7Bop%3D~%22g.*%22%7D&match[]=nothing"),
        r#"{"status":"success","data":[{"__name__":"jobs","op":"get"}]}"#
    );
    // Only series with a sample in the range: none before the first.
    assert_eq!(
        get("/api/v1/series?match[]=jobs&end=1699999999"),
        r#"{"status":"success","data":[]}"#
    );
    assert_eq!(
        get("/api/v1/labels?match[]=jobs"),
        r#"{"status":"success","data":["__name__","op"]}"#
    );
    assert_eq!(
        get("/api/v1/label/op/values"),
        r#"{"status":"success","data":["get","put"]}"#
    );
    let names: serde_json::Value =
        serde_json::from_str(&get("/api/v1/label/__name__/values")).unwrap();
    assert!(names["data"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("jobs")));
    for (path, status) in [
        ("/api/v1/series", 400),
        ("/api/v1/series?match[]=sum(jobs)", 400),
        ("/api/v1/label/bad-name/values", 400),
        ("/api/v1/labels?start=never", 400),
    ] {
        let reply = request(addr, "GET", path, &[]);
        assert_eq!(reply.status, status, "{path}: {}", reply.text());
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(json["errorType"], "bad_data", "{path}");
    }
    assert_eq!(
        request(addr, "POST", "/api/v1/label/op/values", &[]).status,
        405
    );
}

#[test]
fn metadata_and_buildinfo_answer_as_prometheus() {
    let e = exporter_with_history(None);
    let addr = e.local_addr().unwrap();
    let reply = request(
        addr,
        "GET",
        "/api/v1/metadata?metric=kotoba_monitoring_scrape_duration_seconds",
        &[],
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.text(),
        r#"{"status":"success","data":{"kotoba_monitoring_scrape_duration_seconds":[{"type":"histogram","help":"Time to encode one scrape of every series.","unit":"seconds"}]}}"#
    );
    let all: serde_json::Value =
        serde_json::from_slice(&request(addr, "GET", "/api/v1/metadata?limit=2", &[]).body)
            .unwrap();
    assert_eq!(all["data"].as_object().unwrap().len(), 2);
    let build: serde_json::Value =
        serde_json::from_slice(&request(addr, "GET", "/api/v1/status/buildinfo", &[]).body)
            .unwrap();
    assert_eq!(build["data"]["version"], "2.42.0");
    assert!(build["data"]["revision"]
        .as_str()
        .unwrap()
        .starts_with("kotoba-monitoring "));
}

#[test]
fn range_vectors_and_strings_answer_as_prometheus_does() {
    let e = exporter_with_history(None);
    let addr = e.local_addr().unwrap();
    let get = |path: &str| {
        let reply = request(addr, "GET", path, &[]);
        (reply.status, reply.text())
    };
    assert_eq!(
        get("/api/v1/query?query=jobs%7Bop%3D%22put%22%7D%5B2m%5D&time=1700000060"),
        (
            200,
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"jobs","op":"put"},"values":[[1700000000,"10"],[1700000060,"20"]]}]}}"#
                .to_owned()
        )
    );
    // A subquery: `sum(jobs)` at each multiple of 20 s in the last minute.
    assert_eq!(
        get("/api/v1/query?query=sum(jobs)%5B1m%3A20s%5D&time=1700000060"),
        (
            200,
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"11"],[1700000020,"11"],[1700000040,"11"],[1700000060,"22.5"]]}]}}"#
                .to_owned()
        )
    );
    assert_eq!(
        get("/api/v1/query?query=%22hi%20%5C%22there%5C%22%22&time=1700000000.5"),
        (
            200,
            r#"{"status":"success","data":{"resultType":"string","result":[1700000000.500,"hi \"there\""]}}"#
                .to_owned()
        )
    );
    let (status, text) =
        get("/api/v1/query_range?query=jobs%5B1m%5D&start=1700000000&end=1700000060&step=60");
    assert_eq!(status, 400, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("invalid expression type \"range vector\" for range query"),
        "{text}"
    );
}
