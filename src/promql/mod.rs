//! PromQL text, the bottom of the query layers: parsing with Prometheus 2.42's error
//! wording and positions, selectors' matchers, and [`QueryError`]. Every layer that reads
//! PromQL (the history's selectors, the configuration's rules, the evaluator, the alerting)
//! comes here; parsing itself is the `promql-parser` crate's.
//!
//! - `parse`: [`parse`], with the checks for what Prometheus 2.42 refuses and the parser takes.
//! - `selectors`: a selector's matchers and [`matches_all`].
//! - `lex`: Prometheus 2.42's lexer; `quote`: Go's `%q`.
//! - `error`: [`QueryError`], why an expression was refused.

mod check;
mod error;
mod lex;
mod parse;
mod quote;
mod selectors;

pub use error::QueryError;
pub(crate) use parse::parse;
pub(crate) use quote::go_quote;
pub(crate) use selectors::{matchers_of, matches_all};
