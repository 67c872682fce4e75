//! Scores a Numenta Anomaly Benchmark data file with the crate's streaming detector, the same
//! one the monitor runs: reads `timestamp,value` rows (with a header) and writes
//! `timestamp,value,anomaly_score` for every row, each score computed from that row and the
//! ones before it only.
//!
//! ```text
//! cargo run --release --example anomaly -- INPUT.csv OUTPUT.csv
//! ```

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use kotoba_monitoring::AnomalyDetector;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!(
            "usage: anomaly INPUT.csv OUTPUT.csv (a NAB data file: timestamp,value with a header)"
        );
        return ExitCode::from(2);
    };
    match run(input, output) {
        Ok(rows) => {
            eprintln!("{output}: {rows} rows scored");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("anomaly: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(input: &str, output: &str) -> Result<usize, String> {
    let file = std::fs::File::open(input).map_err(|e| format!("cannot read {input}: {e}"))?;
    let out = std::fs::File::create(output).map_err(|e| format!("cannot write {output}: {e}"))?;
    let mut out = BufWriter::new(out);
    let write_failed = |e: std::io::Error| format!("cannot write {output}: {e}");
    writeln!(out, "timestamp,value,anomaly_score").map_err(write_failed)?;
    let mut detector = AnomalyDetector::new();
    let mut rows = 0;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read {input}: {e}"))?;
        if n == 0 || line.trim().is_empty() {
            continue;
        }
        let Some((timestamp, value)) = line.split_once(',') else {
            return Err(format!(
                "{input}:{}: expected timestamp,value, got {line:?}",
                n + 1
            ));
        };
        let parsed: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("{input}:{}: the value {value:?} is not a number", n + 1))?;
        let score = detector.score(parsed);
        writeln!(out, "{timestamp},{},{score}", value.trim()).map_err(write_failed)?;
        rows += 1;
    }
    out.flush().map_err(write_failed)?;
    Ok(rows)
}
