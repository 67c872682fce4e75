//! Runs `promtool test rules` files with this library's PromQL, as promtool does:
//!
//! ```text
//! cargo run --release --example rules -- test FILE...
//! ```
//!
//! Prints promtool's report for each file (the failures on stderr, as promtool does) and
//! exits 0 when every test passes, 1 when any fails or a file cannot be run.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, files)) = args.split_first() else {
        eprintln!("usage: rules test FILE...");
        return ExitCode::from(2);
    };
    if command != "test" || files.is_empty() {
        eprintln!("usage: rules test FILE...");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for file in files {
        match kotoba_monitoring::test_rules_file(file) {
            Ok(report) => {
                // As promtool: the failure block on stderr, the rest on stdout.
                let text = report.to_string();
                match text.split_once("  FAILED:") {
                    Some((header, rest)) => {
                        let (block, tail) = rest.split_at(rest.len() - 2);
                        print!("{header}");
                        eprint!("  FAILED:{block}");
                        print!("{tail}");
                    }
                    None => print!("{text}"),
                }
                failed |= !report.passed();
            }
            Err(e) => {
                println!("Unit Testing:  {file}\n  FAILED:\n{e}\n");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
