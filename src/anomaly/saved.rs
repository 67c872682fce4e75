//! Module implementing a detector's state as bytes, so that it survives a restart of the
//! monitor: see [`AnomalyDetector::to_bytes`] and [`AnomalyDetector::from_bytes`].

use super::detector::{AnomalyDetector, Scale, DISTANCES};
use crate::storage::bytes::{put_uvarint, ByteReader};
use crate::MonitoringError;

/// The format's first byte; a detector of another layout is refused, not misread.
const FORMAT: u8 = 2;

fn put_f32s(out: &mut Vec<u8>, values: &[f32]) {
    put_uvarint(out, values.len() as u64);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

fn f32_of(r: &mut ByteReader<'_>) -> Option<f32> {
    r.take(4)?.try_into().ok().map(f32::from_le_bytes)
}

fn f32s(r: &mut ByteReader<'_>, max: usize) -> Option<Vec<f32>> {
    let n = r.count(max)?;
    (0..n).map(|_| f32_of(r)).collect()
}

fn f64(r: &mut ByteReader<'_>) -> Option<f64> {
    r.u64_le().map(f64::from_bits)
}

impl AnomalyDetector {
    /// The detector's whole state as bytes (about 9 KiB once its memory is full), for
    /// [`from_bytes`](Self::from_bytes) to take back: a detector restored from them scores
    /// the next samples exactly as this one would.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![FORMAT];
        put_uvarint(&mut out, self.seen);
        put_f64(&mut out, self.min);
        put_f64(&mut out, self.max);
        put_f32s(&mut out, &self.recent);
        put_uvarint(&mut out, self.scales.len() as u64);
        for scale in &self.scales {
            put_f32s(&mut out, &scale.means);
            put_f32s(&mut out, &scale.distances);
            put_uvarint(&mut out, scale.next_distance as u64);
            out.extend_from_slice(&scale.block_max.to_le_bytes());
            put_uvarint(&mut out, scale.block_len as u64);
            out.extend_from_slice(&scale.last.to_le_bytes());
            out.push(u8::from(scale.counts));
        }
        put_f32s(&mut out, &self.surprises);
        put_f64(&mut out, self.mean);
        put_f64(&mut out, self.variance);
        put_uvarint(&mut out, u64::from(self.quiet));
        put_uvarint(&mut out, self.learned);
        put_uvarint(&mut out, u64::from(self.joining));
        out
    }

    /// The detector [`to_bytes`](Self::to_bytes) saved.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidState`] when `bytes` are not a detector this version of the
    /// crate saved (cut short, another layout).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MonitoringError> {
        Self::read(bytes).ok_or_else(|| MonitoringError::InvalidState {
            reason: "these bytes are not an anomaly detector's state saved by this version of kotoba-monitoring; start a new detector".to_owned(),
        })
    }

    fn read(bytes: &[u8]) -> Option<Self> {
        let mut r = ByteReader::new(bytes);
        if r.u8()? != FORMAT {
            return None;
        }
        let mut d = AnomalyDetector::new();
        d.seen = r.uvarint()?;
        d.min = f64(&mut r)?;
        d.max = f64(&mut r)?;
        let recent = f32s(&mut r, d.recent.len())?;
        if recent.len() != d.recent.len() || r.count(d.scales.len())? != d.scales.len() {
            return None;
        }
        d.recent.copy_from_slice(&recent);
        for scale in &mut d.scales {
            read_scale(&mut r, scale)?;
        }
        let surprises = f32s(&mut r, d.surprises.len())?;
        if surprises.len() != d.surprises.len() {
            return None;
        }
        d.surprises.copy_from_slice(&surprises);
        d.mean = f64(&mut r)?;
        d.variance = f64(&mut r)?;
        d.quiet = u32::try_from(r.uvarint()?).ok()?;
        d.learned = r.uvarint()?;
        d.joining = u32::try_from(r.uvarint()?).ok()?;
        r.is_empty().then_some(d)
    }
}

/// Reads a scale into `scale`, a new one: no more means than it keeps and no more distances
/// than `DISTANCES`.
fn read_scale(r: &mut ByteReader<'_>, scale: &mut Scale) -> Option<()> {
    let means = f32s(r, scale.kept)?;
    scale.means.extend(means);
    let distances = f32s(r, DISTANCES)?;
    scale.distances.extend(distances);
    scale.next_distance = usize::try_from(r.uvarint()?).ok()?;
    scale.block_max = f32_of(r)?;
    scale.block_len = usize::try_from(r.uvarint()?).ok()?;
    scale.last = f32_of(r)?;
    scale.counts = match r.u8()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    // An index within what it indexes, so that a damaged file cannot make a later write
    // land outside.
    (scale.next_distance < DISTANCES && scale.next_distance <= scale.distances.len()).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_detector_scores_as_the_original() {
        let mut a = AnomalyDetector::new();
        let mut x: u64 = 17;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1000) as f64 / 10.0
        };
        for _ in 0..3000 {
            a.score(next());
        }
        let mut b = AnomalyDetector::from_bytes(&a.to_bytes()).unwrap();
        for _ in 0..2000 {
            let v = next();
            assert_eq!(a.score(v).to_bits(), b.score(v).to_bits());
        }
        assert_eq!(a.to_bytes(), b.to_bytes());
        assert!(b.memory_bytes() <= 16 * 1024);
    }

    #[test]
    fn damaged_state_is_refused() {
        let mut a = AnomalyDetector::new();
        for i in 0..500 {
            a.score(f64::from(i % 17));
        }
        let bytes = a.to_bytes();
        for cut in [0, 1, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                AnomalyDetector::from_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut other = bytes.clone();
        other[0] = 9;
        let err = AnomalyDetector::from_bytes(&other).unwrap_err();
        assert!(err.to_string().contains("start a new detector"), "{err}");
    }
}
