//! Quantiles read from histograms against exact quantiles of known data.

use kotoba_monitoring::{HistogramOpts, Registry};

/// A deterministic generator (xorshift64*), so every run checks the same data.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal, by Box–Muller.
    fn normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// The smallest value that at least `q` of the values are less than or equal to.
fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn check(values: &[f64], opts: HistogramOpts, tolerance: f64) {
    let registry = Registry::new();
    let h = registry
        .histogram_family_with("latency_seconds", "", opts)
        .unwrap()
        .with_labels(&[])
        .unwrap();
    values.iter().for_each(|v| h.observe(*v));
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let s = h.snapshot();
    assert_eq!(s.count, values.len() as u64);
    assert_eq!(s.min, sorted[0]);
    assert_eq!(s.max, *sorted.last().unwrap());
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    assert!(
        (s.mean - mean).abs() <= mean * 1e-12,
        "{} vs {mean}",
        s.mean
    );
    for (q, got) in [
        (0.5, s.p50),
        (0.9, s.p90),
        (0.95, s.p95),
        (0.99, s.p99),
        (0.999, s.p999),
        (0.1, s.quantile(0.1)),
    ] {
        let exact = exact_quantile(&sorted, q);
        let error = (got - exact).abs() / exact;
        assert!(
            error <= tolerance,
            "q={q}: got {got}, exact {exact}, relative error {error:.5} > {tolerance}"
        );
    }
}

#[test]
fn log_normal_latencies_within_one_percent() {
    // Median 1 ms, a long tail: what database latencies look like.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let values: Vec<f64> = (0..200_000)
        .map(|_| (1e-3f64.ln() + 1.2 * rng.normal()).exp())
        .collect();
    check(&values, HistogramOpts::latency(), 0.01);
}

#[test]
fn uniform_values_within_one_percent() {
    let mut rng = Rng(42);
    let values: Vec<f64> = (0..100_000).map(|_| 1e-5 + rng.next_f64() * 0.5).collect();
    check(&values, HistogramOpts::latency(), 0.01);
}

#[test]
fn three_figures_within_a_tenth_of_a_percent() {
    let mut rng = Rng(7);
    let values: Vec<f64> = (0..100_000).map(|_| (rng.normal() * 0.8).exp()).collect();
    check(
        &values,
        HistogramOpts::new(1e-6, 1e4).significant_figures(3),
        0.001,
    );
}

#[test]
fn window_and_total_agree_while_nothing_has_aged() {
    let registry = Registry::new();
    let h = registry.histogram("w_seconds", "", &[]).unwrap();
    for i in 1..=10_000 {
        h.observe(i as f64 * 1e-6);
    }
    let (total, window) = (h.snapshot(), h.window_snapshot());
    assert_eq!(total.count, window.count);
    assert_eq!(total.p99, window.p99);
}

#[test]
fn empty_snapshot_is_all_zero() {
    let registry = Registry::new();
    let s = registry.histogram("e_seconds", "", &[]).unwrap().snapshot();
    assert_eq!(s.count, 0);
    for v in [s.sum, s.min, s.max, s.mean, s.p50, s.p99, s.quantile(0.3)] {
        assert_eq!(v, 0.0);
    }
}
