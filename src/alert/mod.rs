//! Alerting: Prometheus rule files, their evaluation and alerts' lifecycle, and the runner of
//! `promtool test rules` files, which tests rules and expressions without a Prometheus.
//!
//! - `rules`: rule files read and checked; `lifecycle`: an alerting rule's alerts from
//!   pending to firing to resolved; `group`: a group evaluated, its outputs written back;
//!   `engine`: the `kotoba-alert` thread evaluating groups over the history; `restore`:
//!   alert state across restarts.
//! - `unittest`: [`test_rules_file`] and its [`RulesTestReport`].

mod engine;
mod group;
mod lifecycle;
mod positions;
mod restore;
mod rules;
mod template;
mod unittest;

pub(crate) use engine::RuleEngine;
pub use engine::{ActiveAlert, AlertTransition};
pub(crate) use group::GroupRun;
pub use lifecycle::AlertState;
pub(crate) use lifecycle::{FlapDetection as FlapDetectionRule, ForRestore, TemplateContext};
pub(crate) use restore::Durability;
pub(crate) use rules::{load_rule_file, seed_rule_group, Rule, RuleGroup};

pub use unittest::{test_rules_file, RulesTestReport};
