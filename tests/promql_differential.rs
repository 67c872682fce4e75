//! A differential test of our PromQL against Prometheus's own: random series (counters with
//! resets, gauges with gaps, stale markers, NaN and infinities, histogram buckets) and random
//! expressions over them, written as `promtool test rules` files that expect nothing, so that
//! both promtool 2.42 and our runner report every expression's result (or error) in full.
//! The two reports must be the same, byte for byte, expression by expression.
//!
//! promtool loads a test's series through a Go map, so the order in which series meet in an
//! aggregation or a binary operation changes from one run of promtool to the next, and with it
//! the last digits of float sums, means and deviations over several series, which of tied
//! series `topk` keeps, and the order a many-to-many error lists series in (`sum` of five
//! series gave 0, 0.1, 0.3 and 0.6 over twelve runs). The generator leaves those out: values
//! are quarters, and `sum` over several series takes them as they are, so its sums are exact
//! in any order; `avg`, `min`, `max`, `stddev`, `stdvar`
//! and `quantile` (whose sort keeps -0 and 0 in input order) aggregate one series per group;
//! no `topk`, `bottomk` or `ignoring`.
//!
//! About one expression in twelve is then corrupted (a piece dropped, a token put in or
//! swapped in), so that parse errors, their positions and their words are compared too.
//!
//! CI runs a fixed seed; `FUZZ_SEED=n FUZZ_CASES=m cargo test --test promql_differential`
//! runs others (a failure prints the seed and the file to keep as a corpus case). Needs
//! Debian's `prometheus` package for promtool; without it the test shows as ignored, and fails
//! under `CI`.

mod common;

use std::fmt::Write as _;
use std::path::Path;

fn main() -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let tests = vec![common::peer_test(
        "random_expressions_answer_as_promtool_answers",
        &["promtool"],
        "apt-get install -y prometheus",
        random_expressions_answer_as_promtool_answers,
    )];
    libtest_mimic::run(&args, tests).exit_code()
}

/// xorshift64*: repeatable from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Input series in promtool's notation: counters that reset, gauges with gaps, stale markers,
/// NaN and infinities, and a histogram's cumulative buckets.
fn series(rng: &mut Rng) -> String {
    let mut out = String::new();
    let mut add = |name: &str, labels: &str, values: String| {
        let _ = writeln!(
            out,
            "      - series: '{name}{{{labels}}}'\n        values: '{values}'"
        );
    };
    for (job, inst) in [("a", "1"), ("a", "2"), ("b", "1")] {
        let labels = format!("job=\"{job}\",inst=\"{inst}\"");
        let start = rng.below(50);
        let step = 1 + rng.below(9);
        let reset = rng.below(12);
        add(
            "c_total",
            &labels,
            format!(
                "{start}+{step}x{reset} {}+{}x{}",
                rng.below(5),
                step,
                12 - reset
            ),
        );
        let gauge: Vec<String> = (0..14)
            .map(|_| match rng.below(40) {
                0 => "_".to_owned(),
                1 => "stale".to_owned(),
                2 => "NaN".to_owned(),
                3 => "+Inf".to_owned(),
                4 => "-Inf".to_owned(),
                5 => "0".to_owned(),
                // Quarters: any sum of them is exact, in any order (see `vector`).
                _ => format!("{}", (rng.below(4000) as f64 - 2000.0) / 4.0),
            })
            .collect();
        add("g", &labels, gauge.join(" "));
    }
    for job in ["a", "b"] {
        let mut below = 0;
        for le in ["0.1", "0.5", "1", "+Inf"] {
            below += rng.below(4);
            add(
                "h_bucket",
                &format!("job=\"{job}\",le=\"{le}\""),
                format!("{below}+{}x13", below + rng.below(3)),
            );
        }
    }
    out
}

/// A random instant-vector expression, `depth` levels deep at most.
fn vector(rng: &mut Rng, depth: u32) -> String {
    let selector = |rng: &mut Rng| {
        let name = rng.pick(&["c_total", "g", "g", "c_total"]);
        match rng.below(4) {
            0 => format!("{name}{{job=\"a\"}}"),
            1 => format!("{name}{{inst!=\"2\"}}"),
            _ => name.to_owned(),
        }
    };
    if depth == 0 {
        return selector(rng);
    }
    let sub = |rng: &mut Rng| vector(rng, depth - 1);
    match rng.below(10) {
        0 | 1 => selector(rng),
        2 => {
            let agg = rng.pick(&["sum", "count", "group"]);
            let grouping = rng.pick(&["", " by (job)", " without (inst)", " by (inst)"]);
            // A sum over several series is exact in any order only of quarters themselves.
            let arg = if agg == "sum" {
                selector(rng)
            } else {
                sub(rng)
            };
            format!("{agg}{grouping} ({arg})")
        }
        3 => {
            // Over one series per group: these depend on the order of their inputs.
            let agg = rng.pick(&["avg", "min", "max", "stddev", "stdvar"]);
            format!("{agg} by (job, inst) ({})", sub(rng))
        }
        // Sorting puts -0 and 0 in input order: one series per group here too.
        4 => format!(
            "quantile by (job, inst) ({}, {})",
            rng.pick(&["0", "0.25", "0.5", "0.9", "1", "-1", "2"]),
            sub(rng)
        ),
        5 => {
            let f = rng.pick(&[
                "abs",
                "ceil",
                "floor",
                "exp",
                "ln",
                "log2",
                "log10",
                "sqrt",
                "sgn",
                "sin",
                "cos",
                "tan",
                "asin",
                "acos",
                "atan",
                "sinh",
                "cosh",
                "tanh",
                "asinh",
                "acosh",
                "atanh",
                "deg",
                "rad",
                "timestamp",
                "year",
                "hour",
                "day_of_year",
                "days_in_month",
            ]);
            format!("{f}({})", sub(rng))
        }
        6 => {
            let range = rng.pick(&["2m", "3m", "5m", "10m"]);
            let f = rng.pick(&[
                "rate",
                "irate",
                "increase",
                "delta",
                "idelta",
                "deriv",
                "changes",
                "resets",
                "avg_over_time",
                "sum_over_time",
                "min_over_time",
                "max_over_time",
                "count_over_time",
                "stddev_over_time",
                "stdvar_over_time",
                "last_over_time",
                "present_over_time",
            ]);
            format!("{f}({}[{range}])", selector(rng))
        }
        7 => {
            let range = rng.pick(&["3m", "5m", "10m"]);
            match rng.below(4) {
                0 => format!(
                    "quantile_over_time({}, {}[{range}])",
                    rng.pick(&["0.5", "0.9", "0", "1"]),
                    selector(rng)
                ),
                1 => format!("predict_linear({}[{range}], 60)", selector(rng)),
                2 => format!("holt_winters({}[{range}], 0.5, 0.3)", selector(rng)),
                _ => format!(
                    "histogram_quantile({}, sum by (le{}) (rate(h_bucket[{range}])))",
                    rng.pick(&["0.5", "0.9", "0.99", "0", "1"]),
                    rng.pick(&["", ", job"])
                ),
            }
        }
        8 => {
            let op = rng.pick(&[
                "+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=",
            ]);
            let bool_ = if ["==", "!=", ">", "<", ">=", "<="].contains(&op) && rng.chance(40) {
                " bool"
            } else {
                ""
            };
            if rng.chance(50) {
                let number = rng.pick(&["0", "1", "2", "0.5", "-3", "100"]);
                format!("{} {op}{bool_} {number}", sub(rng))
            } else {
                let matching = rng.pick(&["", " on (job, inst)"]);
                let (l, r) = (sub(rng), sub(rng));
                format!("({l}) {op}{bool_}{matching} ({r})")
            }
        }
        _ => {
            let op = rng.pick(&["and", "or", "unless"]);
            format!("({}) {op} ({})", sub(rng), sub(rng))
        }
    }
}

/// `expr` made invalid, or perhaps not, the way a user's typing goes wrong: a piece of it
/// dropped, a token put in, or a piece replaced by a token. What Prometheus then says (where
/// and why it is wrong) is what we must say.
fn corrupt(rng: &mut Rng, expr: &str) -> String {
    // Token boundaries, roughly: where the kind of character changes, and around punctuation.
    let kind = |c: char| {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            0
        } else if c == ' ' {
            1
        } else {
            2
        }
    };
    let chars: Vec<(usize, char)> = expr.char_indices().collect();
    let mut cuts = vec![0];
    for w in chars.windows(2) {
        if kind(w[0].1) != kind(w[1].1) || kind(w[1].1) == 2 {
            cuts.push(w[1].0);
        }
    }
    cuts.push(expr.len());
    let token = rng.pick(&[
        "(",
        ")",
        "[5m]",
        "[5m:1m]",
        "{",
        "}",
        ",",
        "by",
        "without",
        "on",
        "ignoring (job)",
        "group_left",
        "bool",
        "offset",
        "offset 5m",
        "@",
        "@ 100",
        "x",
        "5",
        "\"s\"",
        "+",
        "==",
        "and",
        "sum",
        "rate",
        "5m",
        ":",
        "=~",
        "[",
        "]",
        "[5]",
        "!",
        "job=\"a\"",
        "[0s]",
    ]);
    let i = rng.below(cuts.len() - 1);
    let (from, to) = (cuts[i], cuts[i + 1]);
    match rng.below(3) {
        0 => format!("{}{}", &expr[..from], &expr[to..]),
        1 => format!("{} {token} {}", &expr[..from], &expr[from..]),
        _ => format!("{} {token} {}", &expr[..from], &expr[to..]),
    }
}

/// One test file: the series, then `cases` expressions each at a random time, expecting
/// nothing so that each result is reported.
fn test_file(rng: &mut Rng, cases: usize) -> String {
    let mut out =
        String::from("evaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n");
    out.push_str(&series(rng));
    out.push_str("    promql_expr_test:\n");
    for _ in 0..cases {
        let mut expr = vector(rng, 3);
        if rng.chance(8) {
            expr = corrupt(rng, &expr);
        }
        let at = rng.below(13);
        let _ = writeln!(
            out,
            "      - expr: '{}'\n        eval_time: {at}m",
            expr.replace('\'', "''")
        );
    }
    out
}

fn promtool(path: &Path) -> String {
    common::promtool_test_rules(path).1
}

/// `line` with the series a many-to-many error lists in sorted order: promtool lists them in
/// its Go map's order, which changes from run to run (a corrupted selector without a name
/// can match several metrics).
fn sorted_duplicates(line: &str) -> String {
    let Some(at) = line.find("operation: [") else {
        return line.to_owned();
    };
    let start = at + "operation: [".len();
    let Some(len) = line[start..].find("];") else {
        return line.to_owned();
    };
    let mut series: Vec<&str> = line[start..start + len].split("}, {").collect();
    for s in &mut series {
        *s = s.trim_start_matches('{').trim_end_matches('}');
    }
    series.sort_unstable();
    format!(
        "{}{{{}}}{}",
        &line[..start],
        series.join("}, {"),
        &line[start + len..]
    )
}

/// The blocks of a report, one per expression: from its `expr:` line to the next blank line.
fn blocks(report: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for line in report.lines() {
        let line = &sorted_duplicates(line);
        if line.trim_start().starts_with("expr:") {
            out.push(line.to_owned());
            open = true;
        } else if line.trim().is_empty() {
            open = false;
        } else if open {
            if let Some(block) = out.last_mut() {
                block.push('\n');
                block.push_str(line);
            }
        }
    }
    out
}

fn random_expressions_answer_as_promtool_answers() {
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_207);
    let cases: usize = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let per_file = 60;
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut compared = 0;
    let mut differing = Vec::new();
    for file in 0..cases.div_ceil(per_file) {
        let path = dir.path().join(format!("fuzz_{file}.yml"));
        std::fs::write(&path, test_file(&mut rng, per_file)).unwrap();
        let theirs = promtool(&path);
        let ours = kotoba_monitoring::test_rules_file(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_string();
        let (theirs_blocks, ours_blocks) = (blocks(&theirs), blocks(&ours));
        compared += theirs_blocks.len();
        let whole = |report: &str| report.lines().map(sorted_duplicates).collect::<Vec<_>>();
        if whole(&theirs) != whole(&ours) {
            let kept = std::env::temp_dir().join(format!("promql_differential_{seed}_{file}.yml"));
            let _ = std::fs::copy(&path, &kept);
            for (t, o) in theirs_blocks.iter().zip(&ours_blocks) {
                if t != o {
                    differing.push(format!("promtool:\n{t}\nours:\n{o}"));
                }
            }
            if theirs_blocks.len() != ours_blocks.len() {
                differing.push(format!(
                    "{} reports from promtool, {} from ours (file kept at {})",
                    theirs_blocks.len(),
                    ours_blocks.len(),
                    kept.display()
                ));
            }
        }
    }
    eprintln!(
        "promql_differential: seed {seed}, {cases} expressions, {compared} reported results, {} differing",
        differing.len()
    );
    assert!(
        differing.is_empty(),
        "seed {seed}: {} of {compared} results differ (files kept in {}):\n\n{}",
        differing.len(),
        std::env::temp_dir().display(),
        differing.join("\n\n")
    );
}
