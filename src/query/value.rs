//! Module implementing the values a PromQL expression evaluates to. See [`Value`] for
//! details.

/// A series' labels, sorted by name, `__name__` among them when it has one.
pub(crate) type Labels = Vec<(String, String)>;

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) labels: Labels,
    pub(crate) value: f64,
}

/// What an instant query yields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A single number.
    Scalar(f64),
    /// One sample per series.
    Vector(Vec<Sample>),
}

/// A range vector: each series' labels and its samples (milliseconds, value) in time order.
pub(crate) type RangeSeries = Vec<(Labels, Vec<(i64, f64)>)>;
