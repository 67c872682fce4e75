//! Alerting: Prometheus rule files, their evaluation and alerts' lifecycle, and the runner of
//! `promtool test rules` files, which tests rules and expressions without a Prometheus.
//!
//! - `rules`: rule files read and checked; `lifecycle`: an alerting rule's alerts from
//!   pending to firing to resolved; `group`: a group evaluated, its outputs written back.
//! - `unittest`: [`test_rules_file`] and its [`RulesTestReport`].

mod group;
mod lifecycle;
mod rules;
mod unittest;

pub use unittest::{test_rules_file, RulesTestReport};
