//! Numbers and strings in record payloads: LEB128 varints (signed ones zigzagged) and
//! length-prefixed bytes, and a reader that answers `None` for anything cut short rather
//! than panicking. See [`ByteReader`].

/// Appends `n` as an unsigned LEB128 varint.
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends `n` zigzagged, so that small negative numbers stay short.
pub(crate) fn put_ivarint(out: &mut Vec<u8>, n: i64) {
    put_uvarint(out, ((n << 1) ^ (n >> 63)) as u64);
}

/// Appends `bytes` after their length.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_uvarint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads what the `put_` functions wrote, front to back.
#[derive(Debug, Clone)]
pub(crate) struct ByteReader<'a> {
    rest: &'a [u8],
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Whether everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn uvarint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.rest.split_first()?;
            self.rest = rest;
            n |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(n);
            }
        }
        None
    }

    pub(crate) fn ivarint(&mut self) -> Option<i64> {
        let n = self.uvarint()?;
        Some(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    /// A varint that must fit `usize` and be at most `max`.
    pub(crate) fn count(&mut self, max: usize) -> Option<usize> {
        usize::try_from(self.uvarint()?).ok().filter(|&n| n <= max)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&byte, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(byte)
    }

    /// Eight bytes, little-endian.
    pub(crate) fn u64_le(&mut self) -> Option<u64> {
        let bytes = self.take(8)?;
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(head)
    }

    /// Length-prefixed bytes.
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.count(self.rest.len())?;
        self.take(n)
    }

    /// Length-prefixed UTF-8.
    pub(crate) fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_put_is_read_back() {
        let mut out = Vec::new();
        let numbers = [0u64, 1, 127, 128, 300, u64::MAX];
        for n in numbers {
            put_uvarint(&mut out, n);
        }
        for n in [0i64, -1, 1, -64, 64, i64::MIN, i64::MAX] {
            put_ivarint(&mut out, n);
        }
        put_bytes(&mut out, "ラベル".as_bytes());
        out.extend_from_slice(&7u64.to_le_bytes());
        let mut r = ByteReader::new(&out);
        for n in numbers {
            assert_eq!(r.uvarint(), Some(n));
        }
        for n in [0i64, -1, 1, -64, 64, i64::MIN, i64::MAX] {
            assert_eq!(r.ivarint(), Some(n));
        }
        assert_eq!(r.str(), Some("ラベル"));
        assert_eq!(r.u64_le(), Some(7));
        assert!(r.is_empty());
    }

    #[test]
    fn anything_cut_short_reads_as_none() {
        let mut out = Vec::new();
        put_bytes(&mut out, b"hello");
        put_uvarint(&mut out, u64::MAX);
        for cut in 0..out.len() {
            let mut r = ByteReader::new(&out[..cut]);
            let whole = r.bytes().is_some() && r.uvarint().is_some();
            assert!(!whole, "cut at {cut}");
        }
        // A length past the bytes left, and a varint that never ends.
        assert_eq!(ByteReader::new(&[9, 1, 2]).bytes(), None);
        assert_eq!(ByteReader::new(&[0xff; 11]).uvarint(), None);
    }
}
