//! Module implementing what the health endpoints answer from a
//! [`HealthReport`](crate::HealthReport): the `application/health+json` body of `/health` and
//! the Kubernetes-style text of `/livez` and `/readyz`.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;

use super::response::Response;
use crate::health::{CheckReport, HealthReport, ProbeStatus};

impl HealthReport {
    /// The report of an exporter with no health source: nothing is checked, which is not the
    /// same as healthy, so `/health` says `warn` (still `200`).
    pub(crate) fn unchecked() -> Self {
        Self {
            status: ProbeStatus::Warn,
            output: Some("no health checks are attached to this exporter".to_owned()),
            checks: Vec::new(),
        }
    }

    /// The `/health` response: `application/health+json`, `200` for pass and warn, `503` for
    /// fail.
    pub(crate) fn to_health_response(&self) -> Response {
        let mut checks = Map::new();
        for check in &self.checks {
            let mut entry = Map::new();
            entry.insert("status".into(), check.status.as_str().into());
            if let Some(time) = check.time.and_then(|t| t.format(&Rfc3339).ok()) {
                entry.insert("time".into(), time.into());
            }
            if let Some(duration) = check.duration {
                entry.insert("observedValue".into(), json!(duration.as_secs_f64() * 1e3));
                entry.insert("observedUnit".into(), "ms".into());
            }
            if let Some(output) = &check.output {
                entry.insert("output".into(), output.as_str().into());
            }
            checks.insert(check.name.clone(), Value::Array(vec![Value::Object(entry)]));
        }
        let mut body = Map::new();
        body.insert("status".into(), self.status.as_str().into());
        body.insert("description".into(), "kotoba-monitoring health".into());
        if let Some(output) = &self.output {
            body.insert("output".into(), output.as_str().into());
        }
        body.insert("checks".into(), Value::Object(checks));
        let code = if self.status == ProbeStatus::Fail {
            503
        } else {
            200
        };
        Response::json(code, "application/health+json", &Value::Object(body))
    }

    /// The `/livez` or `/readyz` response (`probe` is `"livez"` or `"readyz"`) for the query
    /// `params`: `200` unless an included check fails; `?verbose` lists every check,
    /// `?exclude=name` (repeatable) leaves one out.
    pub(crate) fn to_probe_response(&self, probe: &str, params: &[(String, String)]) -> Response {
        let verbose = params.iter().any(|(k, _)| k == "verbose");
        let excluded: HashSet<&str> = params
            .iter()
            .filter(|(k, _)| k == "exclude")
            .map(|(_, v)| v.as_str())
            .collect();
        let counts = |c: &CheckReport| match probe {
            "livez" => c.liveness,
            _ => c.readiness,
        };
        let mut text = String::new();
        let mut failed = false;
        let mut matched = HashSet::new();
        for check in self.checks.iter().filter(|c| counts(c)) {
            if excluded.contains(check.name.as_str()) {
                matched.insert(check.name.as_str());
                let _ = writeln!(text, "[+]{} excluded: ok", check.name);
                continue;
            }
            let reason = check.output.as_deref().unwrap_or("no reason given");
            let _ = match check.status {
                ProbeStatus::Pass => writeln!(text, "[+]{} ok", check.name),
                // `[+]`: the check does not fail the probe; it is not "ok" either.
                ProbeStatus::Warn => {
                    writeln!(text, "[+]{} passes with a warning: {reason}", check.name)
                }
                ProbeStatus::Fail => {
                    failed = true;
                    writeln!(text, "[-]{} failed: {reason}", check.name)
                }
            };
        }
        let unmatched: Vec<&str> = excluded.difference(&matched).copied().collect();
        if !unmatched.is_empty() {
            let _ = writeln!(
                text,
                "warn: some health checks cannot be excluded: no matches for {}",
                unmatched
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if failed {
            let _ = writeln!(text, "{probe} check failed");
            Response::text(503, text)
        } else if verbose {
            let _ = writeln!(text, "{probe} check passed");
            Response::text(200, text)
        } else {
            Response::text(200, "ok\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::OffsetDateTime;

    use super::*;

    fn check(name: &str, status: ProbeStatus, liveness: bool) -> CheckReport {
        CheckReport {
            name: name.into(),
            status,
            output: (status != ProbeStatus::Pass).then(|| format!("{name} is off")),
            time: Some(OffsetDateTime::UNIX_EPOCH),
            duration: Some(Duration::from_millis(3)),
            liveness,
            readiness: true,
        }
    }

    fn body(r: &Response) -> String {
        String::from_utf8(r.body.clone()).unwrap()
    }

    #[test]
    fn health_json_follows_the_draft() {
        let report = HealthReport {
            status: ProbeStatus::Fail,
            output: None,
            checks: vec![check("database", ProbeStatus::Fail, true)],
        };
        let r = report.to_health_response();
        assert_eq!(r.status, 503);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["status"], "fail");
        let db = &v["checks"]["database"][0];
        assert_eq!(db["status"], "fail");
        assert_eq!(db["output"], "database is off");
        assert_eq!(db["time"], "1970-01-01T00:00:00Z");
        assert_eq!(db["observedValue"], 3.0);
        assert_eq!(HealthReport::unchecked().to_health_response().status, 200);
    }

    #[test]
    fn probes_list_exclude_and_fail() {
        let report = HealthReport {
            status: ProbeStatus::Fail,
            output: None,
            checks: vec![
                check("disk", ProbeStatus::Warn, true),
                check("database", ProbeStatus::Fail, false),
            ],
        };
        let p = |probe, q: &[(&str, &str)]| {
            let q: Vec<(String, String)> = q
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            report.to_probe_response(probe, &q)
        };
        // The database only counts for readiness.
        assert_eq!(body(&p("livez", &[])), "ok\n");
        let verbose = p("livez", &[("verbose", "")]);
        assert_eq!(
            body(&verbose),
            "[+]disk passes with a warning: disk is off\nlivez check passed\n"
        );
        let ready = p("readyz", &[]);
        assert_eq!(ready.status, 503);
        assert!(body(&ready).contains("[-]database failed: database is off\n"));
        let excluded = p("readyz", &[("exclude", "database"), ("exclude", "nope")]);
        assert_eq!(excluded.status, 200);
        let excluded = p(
            "readyz",
            &[
                ("verbose", ""),
                ("exclude", "database"),
                ("exclude", "nope"),
            ],
        );
        assert!(body(&excluded).contains("[+]database excluded: ok"));
        assert!(body(&excluded).contains("no matches for \"nope\""));
    }
}
