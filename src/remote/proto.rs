//! The messages of Prometheus's remote-write protocol 1.0 (`prompb/remote.proto` and
//! `prompb/types.proto`), the fields we send, with their numbers. See [`WriteRequest`].

/// One request: series with their samples, or the metrics' metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub(crate) timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub(crate) metadata: Vec<MetricMetadata>,
}

/// A series: its labels (`__name__` among them, sorted by name) and samples, oldest first.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub(crate) exemplars: Vec<Exemplar>,
}

/// An exemplar of a series: its labels (a trace id), value and time in milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    #[prost(double, tag = "2")]
    pub(crate) value: f64,
    #[prost(int64, tag = "3")]
    pub(crate) timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Label {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

/// A value at a time in Unix milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Sample {
    #[prost(double, tag = "1")]
    pub(crate) value: f64,
    #[prost(int64, tag = "2")]
    pub(crate) timestamp: i64,
}

/// A metric family's type, help and unit.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct MetricMetadata {
    /// `UNKNOWN` 0, `COUNTER` 1, `GAUGE` 2, `HISTOGRAM` 3, `GAUGEHISTOGRAM` 4, `SUMMARY` 5,
    /// `INFO` 6, `STATESET` 7.
    #[prost(int32, tag = "1")]
    pub(crate) kind: i32,
    #[prost(string, tag = "2")]
    pub(crate) metric_family_name: String,
    #[prost(string, tag = "4")]
    pub(crate) help: String,
    #[prost(string, tag = "5")]
    pub(crate) unit: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn the_encoding_is_prometheus_wire_format() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 1000,
                }],
                exemplars: Vec::new(),
            }],
            metadata: Vec::new(),
        };
        let bytes = request.encode_to_vec();
        // Field 1 (length-delimited) holding a series: label field 1, then sample field 2
        // with the double under tag 1 and the varint time under tag 2.
        let expected: &[u8] = &[
            0x0a, 0x1e, // timeseries, 30 bytes
            0x0a, 0x0e, 0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x12, 0x02,
            b'u', b'p', // label
            0x12, 0x0c, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0xe8, 0x07, // sample
        ];
        assert_eq!(bytes, expected);
        assert_eq!(WriteRequest::decode(&bytes[..]).unwrap(), request);
    }
}
