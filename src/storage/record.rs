//! The framing of every record the storage writes, and reading records back up to the first
//! that is torn or damaged. See [`frame`] and [`Records`].
//!
//! A record is its length (4 bytes, little-endian, counting the kind and the payload), the
//! CRC-32 of the kind and the payload (4 bytes), the kind (1 byte) and the payload. A crash
//! mid-write leaves a record whose length runs past the end of the file; flipped bytes
//! leave one whose checksum does not match. Either way, everything before it is good.

/// The largest record a reader accepts: a length past this is damage, not a record.
const MAX_RECORD: usize = 1 << 30;

/// Bytes before a record's kind: the length and the checksum.
const HEADER: usize = 8;

/// Appends a record of `kind` holding `payload` to `out`.
pub(crate) fn frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let len = u32::try_from(payload.len() + 1).unwrap_or(u32::MAX);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(payload);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
}

/// A record as read: its offset in the file, its kind and its payload; or the damage where
/// reading stopped.
pub(crate) type ReadRecord<'a> = Result<(u64, u8, &'a [u8]), Damage>;

/// Where a file stops being readable, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    /// The offset of the first byte not kept.
    pub(crate) offset: u64,
    /// What was found there.
    pub(crate) reason: String,
}

/// The records of `bytes` from `at`, each `(offset, kind, payload)`, then the damage that
/// ended them early, if any.
pub(crate) struct Records<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Set once damage was reported: nothing more is read.
    done: bool,
}

impl<'a> Records<'a> {
    pub(crate) fn new(bytes: &'a [u8], at: usize) -> Self {
        Self {
            bytes,
            at,
            done: false,
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = ReadRecord<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.at == self.bytes.len() {
            return None;
        }
        let damage = |reason: String| {
            Some(Err(Damage {
                offset: self.at as u64,
                reason,
            }))
        };
        self.done = true;
        let rest = &self.bytes[self.at..];
        if rest.len() < HEADER + 1 {
            return damage(format!(
                "a record header cut short ({} bytes at the end)",
                rest.len()
            ));
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len == 0 || len > MAX_RECORD {
            return damage(format!(
                "a record length of {len} bytes, which no record has"
            ));
        }
        let Some(body) = rest.get(HEADER..HEADER + len) else {
            return damage(format!(
                "a record of {len} bytes with only {} written (a write cut short)",
                rest.len() - HEADER
            ));
        };
        if crc32fast::hash(body) != crc {
            return damage("a record whose checksum does not match its bytes".to_owned());
        }
        self.done = false;
        let offset = self.at as u64;
        self.at += HEADER + len;
        Some(Ok((offset, body[0], &body[1..])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Vec<u8> {
        let mut out = Vec::new();
        frame(&mut out, 1, b"one");
        frame(&mut out, 2, b"");
        frame(&mut out, 3, &[0u8; 100]);
        out
    }

    fn read(bytes: &[u8]) -> (Vec<u8>, Option<Damage>) {
        let mut kinds = Vec::new();
        for r in Records::new(bytes, 0) {
            match r {
                Ok((_, kind, _)) => kinds.push(kind),
                Err(d) => return (kinds, Some(d)),
            }
        }
        (kinds, None)
    }

    #[test]
    fn records_come_back_in_order() {
        let bytes = three();
        let got: Vec<(u8, Vec<u8>)> = Records::new(&bytes, 0)
            .map(|r| r.map(|(_, k, p)| (k, p.to_vec())).unwrap())
            .collect();
        assert_eq!(
            got,
            [(1, b"one".to_vec()), (2, Vec::new()), (3, vec![0; 100])]
        );
    }

    #[test]
    fn every_cut_keeps_the_whole_records_before_it() {
        let bytes = three();
        let ends = [0, 12, 21, 21 + 109];
        for cut in 0..bytes.len() {
            let (kinds, damage) = read(&bytes[..cut]);
            let whole = ends.iter().filter(|&&e| e > 0 && e <= cut).count();
            assert_eq!(kinds.len(), whole, "cut at {cut}");
            let clean = ends.contains(&cut);
            assert_eq!(damage.is_none(), clean, "cut at {cut}: {damage:?}");
            if let Some(d) = damage {
                assert_eq!(d.offset as usize, ends[whole], "cut at {cut}");
            }
        }
    }

    #[test]
    fn a_flipped_byte_stops_reading_at_its_record() {
        let clean = three();
        for i in 0..clean.len() {
            let mut bytes = clean.clone();
            bytes[i] ^= 0x40;
            let (kinds, damage) = read(&bytes);
            let damage = damage.unwrap_or_else(|| panic!("flip at {i} went unnoticed"));
            assert!(
                damage.offset as usize <= i,
                "flip at {i}: {damage:?} {kinds:?}"
            );
        }
    }
}
