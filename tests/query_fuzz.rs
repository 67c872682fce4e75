//! Bad and strange PromQL, hand-picked and generated with quickcheck: every expression is
//! answered with a value or an error, never a panic, in instant and range queries alike; the
//! limits (subquery steps and samples, the API's timeout) give errors.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use common::request;
use kotoba_monitoring::{HistoryStore, LabelSet, MonitoringError};
use quickcheck::{Arbitrary, Gen, QuickCheck};
use time::OffsetDateTime;

const T0: i64 = 1_700_000_000;

/// `jobs{op}` counters, `lat_bucket{le}` and a gauge with NaN and infinities, every 15 s for
/// ten minutes from `T0`.
fn store() -> HistoryStore {
    let store = HistoryStore::new(Duration::from_secs(3600), 1000);
    let t0 = OffsetDateTime::from_unix_timestamp(T0).unwrap();
    for i in 0..40u32 {
        let at = t0 + Duration::from_secs(15) * i;
        for (op, rate) in [("get", 3.0), ("put", 0.5)] {
            let labels = LabelSet::new("jobs", &[("op", op)]).unwrap();
            store.append("jobs", &labels, at, rate * f64::from(i));
        }
        for (le, share) in [("0.1", 0.5), ("1", 0.9), ("+Inf", 1.0)] {
            let labels = LabelSet::new("lat_bucket", &[("le", le)]).unwrap();
            store.append("lat_bucket", &labels, at, share * f64::from(i * 10));
        }
        let odd = [f64::NAN, f64::INFINITY, -0.0, f64::NEG_INFINITY, 1e308][i as usize % 5];
        store.append("odd", &LabelSet::default(), at, odd);
    }
    store
}

/// Runs `expr` as an instant and a range query; `Err` with the expression if either panics.
fn never_panics(store: &HistoryStore, expr: &str) -> Result<(), String> {
    let at = OffsetDateTime::from_unix_timestamp(T0 + 300).unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let _ = store.query(expr, at);
        let _ = store.query_range(
            expr,
            at - Duration::from_secs(120),
            at,
            Duration::from_secs(30),
        );
    }));
    outcome.map_err(|_| format!("panicked on {expr:?}"))
}

/// A random PromQL-ish text: tokens of the language in any order.
#[derive(Clone, Debug)]
struct Tokens(String);

impl Arbitrary for Tokens {
    fn arbitrary(g: &mut Gen) -> Self {
        const TOKENS: &[&str] = &[
            "jobs",
            "lat_bucket",
            "odd",
            "nothing",
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            ",",
            "5m",
            "1s",
            "0s",
            "-1m",
            ":",
            "+",
            "-",
            "*",
            "/",
            "%",
            "^",
            "==",
            "!=",
            ">",
            "<=",
            "and",
            "or",
            "unless",
            "bool",
            "on",
            "ignoring",
            "group_left",
            "group_right",
            "by",
            "without",
            "offset",
            "@",
            "start()",
            "end()",
            "sum",
            "topk",
            "quantile",
            "count_values",
            "rate",
            "histogram_quantile",
            "label_replace",
            "holt_winters",
            "exp",
            "ln",
            "round",
            "clamp",
            "time()",
            "vector",
            "scalar",
            "absent",
            "le",
            "op",
            "=",
            "=~",
            "!~",
            "\"get\"",
            "\".*\"",
            "\"(\"",
            "0",
            "1",
            "-1",
            "0.5",
            "NaN",
            "Inf",
            "1e308",
            "0x10",
            "'x'",
            "`y`",
            "#",
            "\\",
            "\u{1F600}",
            "   ",
        ];
        let n = usize::arbitrary(g) % 24;
        let text: Vec<&str> = (0..n).map(|_| *g.choose(TOKENS).unwrap()).collect();
        Tokens(text.join(if bool::arbitrary(g) { " " } else { "" }))
    }
}

/// A random expression from PromQL's grammar, mostly well formed, to reach evaluation.
#[derive(Clone, Debug)]
struct Expression(String);

fn selector(g: &mut Gen) -> String {
    let name = *g
        .choose(&["jobs", "lat_bucket", "odd", "nothing", ""])
        .unwrap();
    let matcher = *g
        .choose(&[
            "",
            "{op=\"get\"}",
            "{op=~\"g.*|p.*\"}",
            "{le!=\"+Inf\"}",
            "{__name__=~\"jobs|odd\"}",
            "{op!~\"\"}",
        ])
        .unwrap();
    let name = if name.is_empty() && matcher.is_empty() {
        "jobs"
    } else {
        name
    };
    let modifier = *g
        .choose(&[
            "",
            "",
            " offset 1m",
            " offset -30s",
            " @ 1700000100",
            " @ start()",
        ])
        .unwrap();
    format!("{name}{matcher}{modifier}")
}

fn range(g: &mut Gen, depth: u32) -> String {
    let window = *g.choose(&["1m", "5m", "30s", "2h", "15s"]).unwrap();
    if depth > 0 && bool::arbitrary(g) {
        let step = *g.choose(&["", "15s", "1m", "7s"]).unwrap();
        format!("({})[{window}:{step}]", expression(g, depth - 1))
    } else {
        let vs = selector(g);
        // A modifier goes after the range.
        match vs.split_once(' ') {
            Some((head, modifier)) => format!("{head}[{window}] {modifier}"),
            None => format!("{vs}[{window}]"),
        }
    }
}

fn number(g: &mut Gen) -> String {
    (*g.choose(&[
        "0", "1", "-1", "0.5", "2", "NaN", "Inf", "-Inf", "1e-300", "100",
    ])
    .unwrap())
    .to_owned()
}

fn expression(g: &mut Gen, depth: u32) -> String {
    if depth == 0 {
        return if u8::arbitrary(g) % 4 == 0 {
            number(g)
        } else {
            selector(g)
        };
    }
    let sub = |g: &mut Gen| expression(g, depth - 1);
    match u8::arbitrary(g) % 9 {
        0 => selector(g),
        1 => number(g),
        2 => {
            let op = *g
                .choose(&[
                    "+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or",
                    "unless", "atan2",
                ])
                .unwrap();
            let modifier = *g
                .choose(&[
                    "",
                    "",
                    " bool",
                    " on(op)",
                    " ignoring(le)",
                    " on(op) group_left",
                    " ignoring(op) group_right(le)",
                    " on()",
                ])
                .unwrap();
            format!("{} {op}{modifier} {}", sub(g), sub(g))
        }
        3 => {
            let agg = *g
                .choose(&[
                    "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
                ])
                .unwrap();
            let grouping = *g
                .choose(&["", " by (op)", " without (le)", " by ()"])
                .unwrap();
            format!("{agg}{grouping} ({})", sub(g))
        }
        4 => {
            let (agg, param) = match u8::arbitrary(g) % 4 {
                0 => ("topk", number(g)),
                1 => ("bottomk", number(g)),
                2 => ("quantile", number(g)),
                _ => ("count_values", "\"v\"".to_owned()),
            };
            format!("{agg}({param}, {})", sub(g))
        }
        5 => {
            let f = *g
                .choose(&[
                    "rate",
                    "irate",
                    "increase",
                    "delta",
                    "idelta",
                    "changes",
                    "resets",
                    "deriv",
                    "avg_over_time",
                    "max_over_time",
                    "stddev_over_time",
                    "last_over_time",
                    "present_over_time",
                    "absent_over_time",
                    "count_over_time",
                ])
                .unwrap();
            format!("{f}({})", range(g, depth - 1))
        }
        6 => {
            let f = *g
                .choose(&[
                    "abs",
                    "ceil",
                    "exp",
                    "ln",
                    "log2",
                    "sqrt",
                    "sgn",
                    "sin",
                    "atan",
                    "cosh",
                    "acosh",
                    "atanh",
                    "deg",
                    "absent",
                    "timestamp",
                    "sort_desc",
                    "year",
                    "hour",
                    "scalar",
                ])
                .unwrap();
            format!("{f}({})", sub(g))
        }
        7 => match u8::arbitrary(g) % 5 {
            0 => format!("histogram_quantile({}, {})", number(g), sub(g)),
            1 => format!("clamp({}, {}, {})", sub(g), number(g), number(g)),
            2 => format!(
                "label_replace({}, \"dst\", \"$1\", \"op\", \"(.*)\")",
                sub(g)
            ),
            3 => format!(
                "holt_winters({}, {}, {})",
                range(g, depth - 1),
                number(g),
                number(g)
            ),
            _ => format!("quantile_over_time({}, {})", number(g), range(g, depth - 1)),
        },
        _ => format!("-({})", sub(g)),
    }
}

impl Arbitrary for Expression {
    fn arbitrary(g: &mut Gen) -> Self {
        Expression(expression(g, 3))
    }
}

#[test]
fn generated_token_soup_never_panics() {
    static STORE: std::sync::OnceLock<HistoryStore> = std::sync::OnceLock::new();
    fn property(t: Tokens) -> bool {
        never_panics(STORE.get_or_init(store), &t.0).is_ok()
    }
    QuickCheck::new()
        .tests(3000)
        .quickcheck(property as fn(Tokens) -> bool);
}

#[test]
fn generated_expressions_evaluate_or_refuse_but_never_panic() {
    let store = store();
    let mut evaluated = 0;
    let mut g = Gen::new(8);
    for _ in 0..3000 {
        let Expression(expr) = Expression::arbitrary(&mut g);
        if let Err(e) = never_panics(&store, &expr) {
            panic!("{e}");
        }
        let at = OffsetDateTime::from_unix_timestamp(T0 + 300).unwrap();
        if store.query(&expr, at).is_ok() {
            evaluated += 1;
        }
    }
    // The generator must reach evaluation, not only the parser.
    assert!(evaluated > 1000, "only {evaluated} of 3000 evaluated");
}

#[test]
fn hand_picked_bad_expressions_are_errors_naming_the_problem() {
    let store = store();
    let at = OffsetDateTime::from_unix_timestamp(T0 + 300).unwrap();
    for (expr, says) in [
        ("", "1:1: parse error: no expression found in input"),
        ("rate(jobs[5m]", "unclosed left parenthesis"),
        ("rate(jobs)", "1:6: parse error: expected type range vector"),
        ("jobs[5m] + 1", "binary expression"),
        (
            "nosuchfn(jobs)",
            "1:1: parse error: unknown function with name \"nosuchfn\"",
        ),
        (
            "jobs{op=\"get\"}}",
            "1:15: parse error: unexpected character: '}'",
        ),
        ("jobs[5x]", "1:6: parse error: bad duration syntax: \"5\""),
        ("jobs + on() jobs", "many-to-many matching not allowed"),
        ("histogram_count(jobs)", "function histogram_count"),
        ("max_over_time(jobs[1y:1ms])", "larger step"),
        ("holt_winters(jobs[5m], 2, 0.5)", "invalid smoothing factor"),
        (
            "label_replace(jobs, \"1bad\", \"\", \"op\", \"\")",
            "invalid destination label",
        ),
        (
            "label_replace(jobs, \"d\", \"\", \"op\", \"(\")",
            "invalid regular expression",
        ),
    ] {
        let err = store.query(expr, at).unwrap_err();
        assert!(matches!(err, MonitoringError::Query(_)), "{expr}: {err:?}");
        assert!(err.to_string().contains(says), "{expr}: {err}");
    }
}

#[test]
fn a_slow_query_on_the_api_times_out_with_prometheus_s_error() {
    let exporter = common::exporter(|_| {});
    let t0 = OffsetDateTime::from_unix_timestamp(T0).unwrap();
    let labels = LabelSet::new("jobs", &[("op", "get")]).unwrap();
    exporter
        .collector()
        .history()
        .append("jobs", &labels, t0, 1.0);
    // 900,000 steps of a subquery in one instant query: far past 10 ms.
    let reply = request(
        exporter.local_addr().unwrap(),
        "GET",
        "/api/v1/query?query=count_over_time(jobs%5B15m%3A1ms%5D)&time=1700000100&timeout=10ms",
        &[],
    );
    assert_eq!(reply.status, 503, "{}", reply.text());
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(json["errorType"], "timeout");
    exporter.stop().unwrap();
}
