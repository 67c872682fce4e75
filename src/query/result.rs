//! Module implementing what a query returns to its caller. See [`QueryValue`] for details.

use time::OffsetDateTime;

/// What a PromQL query returns: an instant query a scalar or a vector, a range query a
/// matrix.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QueryValue {
    /// A number (`1 + 1`, `scalar(x)`, `time()`).
    Scalar(f64),
    /// One sample per series at the query's time.
    Vector(Vec<QuerySample>),
    /// The samples of each series over a range query's steps, or of a range vector
    /// (`x[5m]`, `x[5m:1m]`) in an instant query.
    Matrix(Vec<QuerySeries>),
    /// A string literal (`"text"`), which an instant query returns as is.
    String(String),
}

/// One series' value in an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    /// The labels, sorted by name, with `__name__` when the series still has its name.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// One series' values over a range query's steps.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySeries {
    /// The labels, sorted by name, with `__name__` when the series still has its name.
    pub labels: Vec<(String, String)>,
    /// The steps at which the series had a value, in time order.
    pub points: Vec<(OffsetDateTime, f64)>,
}
