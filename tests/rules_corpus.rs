//! The corpus of `promtool test rules` files under `tests/rules/`, run by our runner and by
//! the real promtool (Debian's `prometheus` package): both must pass every file, and both must
//! fail every mutated copy (one expected value changed), so a test that could not fail counts
//! for nothing. Files under `tests/rules/errors/` hold expressions Prometheus refuses as it
//! evaluates them: both must fail those, with the same report.

mod common;

use std::path::{Path, PathBuf};

use common::peer_test;
use libtest_mimic::{Arguments, Failed, Trial};

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let tests = vec![
        Trial::test("our_runner_passes_every_corpus_file", our_runner_passes),
        Trial::test(
            "our_runner_fails_every_mutated_copy",
            our_runner_fails_mutants,
        ),
        peer_test(
            "promtool_passes_every_corpus_file",
            &["promtool"],
            "apt-get install -y prometheus",
            promtool_passes,
        ),
        peer_test(
            "promtool_fails_every_mutated_copy",
            &["promtool"],
            "apt-get install -y prometheus",
            promtool_fails_mutants,
        ),
    ];
    libtest_mimic::run(&args, tests).exit_code()
}

/// Whether Go's `math.Exp` takes its fused multiply-add path on this CPU (AVX and FMA), as
/// on the machine `tests/rules/gomath.yml`'s expected values were taken from promtool on.
fn cpu_has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Every `.yml` file of the corpus. `gomath.yml` holds Go's `exp` as it rounds with FMA:
/// on a CPU without, promtool and we both give the other path's digits (the unit tests of
/// `gomath` cover that path), so the file is left out, visibly.
fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules");
    let fma = cpu_has_fma();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/rules")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .filter(|p| {
            let kept = fma || !p.ends_with("gomath.yml");
            if !kept {
                eprintln!("skipping {}: this CPU has no AVX and FMA", p.display());
            }
            kept
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

/// The files both runners must fail.
fn failing() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules/errors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/rules/errors")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

/// The lines of each test's expected values that the mutants change: all of a test's
/// values up to three, else its first, middle and last.
fn value_lines(lines: &[&str]) -> Vec<usize> {
    let mut chosen = Vec::new();
    let mut test: Vec<usize> = Vec::new();
    let mut flush = |test: &mut Vec<usize>| {
        if test.len() <= 3 {
            chosen.append(test);
        } else {
            chosen.extend([test[0], test[test.len() / 2], test[test.len() - 1]]);
            test.clear();
        }
    };
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("- expr:") {
            flush(&mut test);
        }
        let numeric = line
            .split_once("value: ")
            .is_some_and(|(_, v)| v.trim().parse::<f64>().is_ok());
        if numeric {
            test.push(i);
        }
    }
    flush(&mut test);
    chosen
}

/// For each corpus file, copies with one expected value plus one (negated where one is too
/// small to change it), for the values [`value_lines`] picks, written to `dir`.
fn mutants(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for file in corpus() {
        let text = std::fs::read_to_string(&file).unwrap();
        // The copies live elsewhere: their rule files are named by absolute path.
        let folder = file.parent().unwrap();
        let absolute: Vec<String> = text
            .lines()
            .scan(false, |in_rule_files, line| {
                if !line.starts_with(' ') {
                    *in_rule_files = line.starts_with("rule_files:");
                }
                Some(match line.strip_prefix("  - ") {
                    Some(rule_file) if *in_rule_files => {
                        format!("  - {}", folder.join(rule_file).display())
                    }
                    _ => line.to_owned(),
                })
            })
            .collect();
        let lines: Vec<&str> = absolute.iter().map(String::as_str).collect();
        let mut changes: Vec<(usize, String)> = Vec::new();
        for i in value_lines(&lines) {
            let Some((indent, value)) = lines[i].split_once("value: ") else {
                continue;
            };
            let Ok(v) = value.trim().parse::<f64>() else {
                continue;
            };
            let mutated = if v + 1.0 != v { v + 1.0 } else { -v };
            changes.push((i, format!("{indent}value: {mutated:?}")));
        }
        for i in alert_lines(&lines) {
            changes.push((i, format!("{}_mutant", lines[i])));
        }
        for (i, replaced) in changes {
            let mut changed = lines.clone();
            changed[i] = &replaced;
            let name = format!(
                "{}-line{}.yml",
                file.file_stem().unwrap().to_string_lossy(),
                i + 1
            );
            let path = dir.join(name);
            std::fs::write(&path, changed.join("\n")).unwrap();
            out.push((path, format!("{} line {}", file.display(), i + 1)));
        }
    }
    assert!(!out.is_empty());
    out
}

/// For each expected alert, the line of its first label or annotation value: a mutant
/// changes it.
fn alert_lines(lines: &[&str]) -> Vec<usize> {
    let mut chosen = Vec::new();
    let mut block: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let key = line.trim_start().trim_start_matches("- ");
        if key.starts_with("exp_labels:") || key.starts_with("exp_annotations:") {
            block = Some(indent);
            continue;
        }
        match block {
            Some(at) if indent > at && line.contains(": ") => {
                chosen.push(i);
                block = None;
            }
            Some(at) if indent <= at => block = None,
            _ => {}
        }
    }
    chosen
}

fn ours(path: &Path) -> kotoba_monitoring::RulesTestReport {
    kotoba_monitoring::test_rules_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn our_runner_passes() -> Result<(), Failed> {
    for file in corpus() {
        let report = ours(&file);
        if !report.passed() {
            return Err(report.to_string().into());
        }
    }
    for file in failing() {
        let report = ours(&file);
        let text = report.to_string();
        if report.passed() || !(text.contains(", err: ") || text.contains(": group \"")) {
            return Err(format!("{} should fail with errors:\n{report}", file.display()).into());
        }
    }
    Ok(())
}

fn our_runner_fails_mutants() -> Result<(), Failed> {
    let dir = tempfile::tempdir().unwrap();
    for (path, what) in mutants(dir.path()) {
        let report = ours(&path);
        if report.passed() {
            return Err(format!("our runner passed a mutant of {what}").into());
        }
        if !report.to_string().contains("exp:") {
            return Err(format!("{what}: no expected/got in:\n{report}").into());
        }
    }
    Ok(())
}

fn promtool(path: &Path) -> (bool, String) {
    common::promtool_test_rules(path)
}

fn promtool_passes() {
    for file in corpus() {
        let (passed, said) = promtool(&file);
        assert!(passed, "promtool failed {}:\n{said}", file.display());
        assert_eq!(ours(&file).to_string(), said);
    }
    for file in failing() {
        let (passed, said) = promtool(&file);
        assert!(!passed, "promtool passed {}:\n{said}", file.display());
        assert_eq!(ours(&file).to_string(), said, "{}", file.display());
    }
}

fn promtool_fails_mutants() {
    let dir = tempfile::tempdir().unwrap();
    for (path, what) in mutants(dir.path()) {
        let (passed, said) = promtool(&path);
        assert!(!passed, "promtool passed a mutant of {what}:\n{said}");
        // Our report is promtool's, byte for byte.
        assert_eq!(ours(&path).to_string(), said, "{what}");
    }
}
