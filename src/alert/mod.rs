//! Alerting. For now, the runner of `promtool test rules` files, which tests PromQL
//! expressions without a Prometheus; rules and their evaluation come with the alerting issue.
//!
//! - `unittest`: [`test_rules_file`] and its [`RulesTestReport`].

mod unittest;

pub use unittest::{test_rules_file, RulesTestReport};
