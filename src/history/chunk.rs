//! Module implementing a series' samples, compressed as Facebook's Gorilla paper (and
//! Prometheus's chunks) store them: each timestamp as the change of its delta from the
//! previous one (nothing but a zero bit for a regular series), each value as its XOR with the
//! previous value's bits (a zero bit when unchanged). See [`Points`] for details.

/// Samples per sealed chunk, as Prometheus's.
const CHUNK: u32 = 120;

/// Bits appended to a byte vector, most significant first.
#[derive(Debug, Default, Clone)]
pub(super) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 when it is full or there is none).
    used: u32,
}

impl BitWriter {
    /// Appends the low `n` bits of `value` (n ≤ 64).
    pub(super) fn write(&mut self, value: u64, n: u32) {
        let mut left = n;
        while left > 0 {
            if self.used == 0 {
                if self.bytes.len() == self.bytes.capacity() {
                    // Small steps: an open chunk's spare capacity is memory every series pays.
                    self.bytes.reserve_exact(16);
                }
                self.bytes.push(0);
            }
            let room = 8 - self.used;
            let take = room.min(left);
            let bits = ((value >> (left - take)) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= bits << (room - take);
            self.used = (self.used + take) % 8;
            left -= take;
        }
    }

    pub(super) fn bit(&mut self, set: bool) {
        self.write(u64::from(set), 1);
    }

    /// The bytes written so far (the last one padded with zero bits).
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes held.
    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Empties it, keeping its memory.
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.used = 0;
    }
}

/// Reads bits written by [`BitWriter`]; past the end it reads zeros.
pub(super) struct BitReader<'a> {
    bytes: &'a [u8],
    /// The next bit's position.
    at: usize,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// Whether every bit has been read.
    pub(super) fn is_at_end(&self) -> bool {
        self.at >= self.bytes.len() * 8
    }

    /// The next `n` bits (n ≤ 64).
    #[inline]
    pub(super) fn read(&mut self, n: u32) -> u64 {
        let mut out = 0u64;
        let mut left = n;
        while left > 0 {
            let byte = self.bytes.get(self.at / 8).copied().unwrap_or(0);
            let offset = (self.at % 8) as u32;
            let room = 8 - offset;
            let take = room.min(left);
            let bits = (u64::from(byte) >> (room - take)) & ((1u64 << take) - 1);
            out = (out << take) | bits;
            self.at += take as usize;
            left -= take;
        }
        out
    }

    #[inline]
    pub(super) fn bit(&mut self) -> bool {
        self.read(1) == 1
    }
}

/// What encoding the next sample needs of the ones before.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct State {
    t: i64,
    delta: i64,
    v: u64,
    /// The leading and trailing zeros of the last XOR window (`leading` 0xff: none yet).
    leading: u8,
    trailing: u8,
    /// The last change between two whole values, 0 when either was not whole.
    int_delta: i64,
}

impl State {
    /// The state after a first sample `(t, v bits)`, written some other way.
    pub(super) fn start(t: i64, v: u64) -> Self {
        State {
            t,
            delta: 0,
            v,
            leading: 0xff,
            trailing: 0,
            int_delta: 0,
        }
    }
}

/// `v` as a whole number, when it is one that a `f64` holds exactly (and not `-0.0`).
fn whole(v: u64) -> Option<i64> {
    let f = f64::from_bits(v);
    (f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 && v != (-0.0f64).to_bits())
        .then_some(f as i64)
}

/// The change of a whole value's change: a prefix, then this many bits (zigzag).
const INT_DOD_BITS: [(u64, u32, u32); 4] =
    [(0b0, 1, 7), (0b10, 2, 16), (0b110, 3, 32), (0b111, 3, 64)];

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// The timestamp buckets: a prefix, then the change of delta in this many bits (signed).
const DOD_BITS: [(u64, u32, u32); 4] = [
    // (prefix, prefix length, value bits)
    (0b10, 2, 14),
    (0b110, 3, 24),
    (0b1110, 4, 40),
    (0b1111, 4, 64),
];

/// Reads back what [`encode`] wrote, one sample at a time.
#[derive(Debug, Default, Clone)]
pub(super) struct Decoder {
    t: i64,
    v: u64,
    delta: i64,
    leading: u32,
    trailing: u32,
    int_delta: i64,
    started: bool,
}

impl Decoder {
    /// A decoder whose first sample `(t, v)` was read some other way.
    pub(super) fn started(t: i64, v: f64) -> Self {
        Decoder {
            t,
            v: v.to_bits(),
            started: true,
            ..Decoder::default()
        }
    }

    /// The next sample. Damaged bits decode to wrong samples, never to a panic.
    #[inline]
    pub(super) fn next(&mut self, r: &mut BitReader) -> (i64, f64) {
        if !self.started {
            self.started = true;
            self.t = r.read(64) as i64;
            self.v = r.read(64);
            return (self.t, f64::from_bits(self.v));
        }
        let dod = if !r.bit() {
            0
        } else {
            let bits = if !r.bit() {
                14
            } else if !r.bit() {
                24
            } else if !r.bit() {
                40
            } else {
                64
            };
            let raw = r.read(bits);
            if bits == 64 {
                raw as i64
            } else {
                // Sign-extend.
                ((raw << (64 - bits)) as i64) >> (64 - bits)
            }
        };
        self.delta = self.delta.wrapping_add(dod);
        self.t = self.t.wrapping_add(self.delta);
        if !r.bit() {
            self.int_delta = 0;
        } else if !r.bit() {
            let bits = if !r.bit() {
                7
            } else if !r.bit() {
                16
            } else if !r.bit() {
                32
            } else {
                64
            };
            let change = self.int_delta.wrapping_add(unzigzag(r.read(bits)));
            let previous = whole(self.v).unwrap_or(0);
            self.v = (previous.wrapping_add(change) as f64).to_bits();
            self.int_delta = change;
        } else {
            self.int_delta = 0;
            if r.bit() {
                self.leading = r.read(5) as u32;
                let meaningful = match r.read(6) as u32 {
                    0 => 64,
                    m => m,
                };
                self.trailing = 64u32.saturating_sub(self.leading + meaningful);
            }
            let meaningful = 64u32.saturating_sub(self.leading + self.trailing).max(1);
            self.v ^= r.read(meaningful).checked_shl(self.trailing).unwrap_or(0);
        }
        (self.t, f64::from_bits(self.v))
    }
}

/// Calls `f` with each of the `count` samples encoded in `bytes`, oldest first, from the
/// `skip`th, until `f` says stop.
fn decode(bytes: &[u8], count: u32, skip: u32, mut f: impl FnMut(i64, f64) -> bool) {
    let mut r = BitReader::new(bytes);
    let mut decoder = Decoder::default();
    for i in 0..count {
        let (t, v) = decoder.next(&mut r);
        if i >= skip && !f(t, v) {
            return;
        }
    }
}

/// The `count` samples encoded in `bytes`, oldest first.
fn decoded(bytes: &[u8], count: u32) -> Vec<(i64, f64)> {
    let mut out = Vec::with_capacity(count as usize);
    decode(bytes, count, 0, |t, v| {
        out.push((t, v));
        true
    });
    out
}

/// Appends sample `(t, v)` to `out`, given the state `s` after the samples before it
/// (`first` when there are none), and moves the state on.
pub(super) fn encode(out: &mut BitWriter, s: &mut State, first: bool, t: i64, v: f64) {
    let v = v.to_bits();
    if first {
        out.write(t as u64, 64);
        out.write(v, 64);
        *s = State::start(t, v);
        return;
    }
    let delta = t.wrapping_sub(s.t);
    let dod = delta.wrapping_sub(s.delta);
    if dod == 0 {
        out.bit(false);
    } else {
        let &(prefix, len, bits) = DOD_BITS
            .iter()
            .find(|(_, _, bits)| {
                *bits == 64 || (-(1i64 << (bits - 1)) <= dod && dod < (1i64 << (bits - 1)))
            })
            .unwrap_or(&DOD_BITS[3]);
        out.write(prefix, len);
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        out.write(dod as u64 & mask, bits);
    }
    // A value: `0` unchanged; `10` and the change of its change, when it and the last
    // are whole numbers (counters, bucket counts); else `11` and Gorilla's XOR.
    let xor = v ^ s.v;
    let int_dod = match (whole(v), whole(s.v)) {
        (Some(now), Some(before)) => now
            .checked_sub(before)
            .and_then(|d| d.checked_sub(s.int_delta).map(|dod| (d, dod))),
        _ => None,
    };
    if xor == 0 {
        out.bit(false);
    } else if let Some((_, dod)) = int_dod {
        out.write(0b10, 2);
        let z = zigzag(dod);
        let &(prefix, len, bits) = INT_DOD_BITS
            .iter()
            .find(|(_, _, bits)| *bits == 64 || z < (1u64 << bits))
            .unwrap_or(&INT_DOD_BITS[3]);
        out.write(prefix, len);
        out.write(z, bits);
    } else {
        out.write(0b11, 2);
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if s.leading != 0xff && leading >= s.leading && trailing >= s.trailing {
            // Within the previous window: its meaningful bits only.
            out.bit(false);
            let meaningful = 64 - u32::from(s.leading) - u32::from(s.trailing);
            out.write(xor >> s.trailing, meaningful);
        } else {
            out.bit(true);
            let meaningful = 64 - u32::from(leading) - u32::from(trailing);
            out.write(u64::from(leading), 5);
            // 64 meaningful bits are written as 0: six bits hold 0 to 63.
            out.write(u64::from(meaningful % 64), 6);
            out.write(xor >> trailing, meaningful);
            s.leading = leading;
            s.trailing = trailing;
        }
    }
    s.int_delta = match int_dod {
        Some((d, _)) if xor != 0 => d,
        _ => 0,
    };
    s.t = t;
    s.delta = delta;
    s.v = v;
}

/// A chunk of samples in time order, Gorilla-encoded.
#[derive(Debug, Clone)]
struct Chunk {
    bits: BitWriter,
    count: u32,
    /// The last sample, and the encoder's state after it.
    last: State,
}

/// A chunk that takes no more appends: its bytes, its sample count and its last sample.
#[derive(Debug, Clone)]
struct Sealed {
    bytes: Box<[u8]>,
    count: u32,
    last_t: i64,
    last_v: u64,
}

impl Sealed {
    fn last_sample(&self) -> (i64, f64) {
        (self.last_t, f64::from_bits(self.last_v))
    }

    fn each(&self, skip: u32, f: impl FnMut(i64, f64) -> bool) {
        decode(&self.bytes, self.count, skip, f);
    }

    fn samples(&self) -> Vec<(i64, f64)> {
        decoded(&self.bytes, self.count)
    }
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            bits: BitWriter::default(),
            count: 0,
            last: State::default(),
        }
    }

    fn last_sample(&self) -> (i64, f64) {
        (self.last.t, f64::from_bits(self.last.v))
    }

    /// Appends a sample no older than the last.
    fn push(&mut self, t: i64, v: f64) {
        encode(&mut self.bits, &mut self.last, self.count == 0, t, v);
        self.count += 1;
    }

    fn each(&self, skip: u32, f: impl FnMut(i64, f64) -> bool) {
        decode(&self.bits.bytes, self.count, skip, f);
    }

    /// Its samples, decoded.
    fn samples(&self) -> Vec<(i64, f64)> {
        decoded(&self.bits.bytes, self.count)
    }

    fn from_samples(samples: &[(i64, f64)]) -> Self {
        let mut chunk = Chunk::new();
        for &(t, v) in samples {
            chunk.push(t, v);
        }
        chunk
    }

    /// The chunk made compact, once no sample will be appended.
    fn seal(self) -> Sealed {
        Sealed {
            bytes: self.bits.bytes.into_boxed_slice(),
            count: self.count,
            last_t: self.last.t,
            last_v: self.last.v,
        }
    }
}

/// A series' samples in time order, compressed: sealed chunks of 120 samples and one open
/// chunk taking appends. Dropping old samples drops whole chunks, and until then skips the
/// front chunk's first ones. A sample older than the newest is inserted in its place (its
/// chunk decoded and encoded again), as happens when a recorded sample lands just after a
/// collection tick.
#[derive(Debug, Clone)]
pub(crate) struct Points {
    /// Oldest first; a `Vec` grown one at a time, so that it holds no spare room.
    sealed: Vec<Sealed>,
    open: Chunk,
    /// Samples dropped from the front of the first chunk (sealed, else the open one).
    skip: u32,
    len: usize,
    /// The oldest kept sample's time (meaningless while empty), so that a trim with nothing
    /// to drop decodes nothing.
    front_t: i64,
}

impl Default for Points {
    fn default() -> Self {
        Points {
            sealed: Vec::new(),
            open: Chunk::new(),
            skip: 0,
            len: 0,
            front_t: 0,
        }
    }
}

impl Points {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The oldest sample's time.
    pub(crate) fn front(&self) -> Option<i64> {
        (self.len > 0).then_some(self.front_t)
    }

    /// The newest sample.
    pub(crate) fn last(&self) -> Option<(i64, f64)> {
        if self.len == 0 {
            return None;
        }
        if self.open.count > 0 {
            return Some(self.open.last_sample());
        }
        self.sealed.last().map(Sealed::last_sample)
    }

    /// The oldest sample's time.
    #[cfg(test)]
    fn first_time(&self) -> Option<i64> {
        let mut first = None;
        self.each_from(i64::MIN, |t, _| {
            first = Some(t);
            false
        });
        first
    }

    /// Stores `(t, v)` after every sample not newer than it.
    pub(crate) fn insert(&mut self, t: i64, v: f64) {
        if self.len == 0 || t < self.front_t {
            self.front_t = t;
        }
        match self.last() {
            Some((last, _)) if t < last => self.insert_before(t, v),
            _ => {
                self.open.push(t, v);
                self.len += 1;
                if self.open.count >= CHUNK {
                    let full = std::mem::replace(&mut self.open, Chunk::new());
                    self.sealed.reserve_exact(1);
                    self.sealed.push(full.seal());
                }
            }
        }
    }

    /// Inserts a sample older than the newest into the chunk it belongs to.
    fn insert_before(&mut self, t: i64, v: f64) {
        // The first chunk whose last sample is newer than t; among equal times, the new one
        // goes after them.
        let target = self.sealed.iter().position(|c| c.last_t > t);
        let skip = if target == Some(0) || (target.is_none() && self.sealed.is_empty()) {
            self.skip as usize
        } else {
            0
        };
        let mut samples = match target {
            Some(i) => self.sealed[i].samples(),
            None => self.open.samples(),
        };
        // The front chunk is rebuilt without the samples it skipped.
        samples.drain(..skip);
        if skip > 0 {
            self.skip = 0;
        }
        let position = samples
            .iter()
            .rposition(|&(st, _)| st <= t)
            .map_or(0, |i| i + 1);
        samples.insert(position, (t, v));
        match target {
            // A chunk that late samples keep landing in is split, so that no insert costs
            // more than two chunks' worth.
            Some(i) if samples.len() > 2 * CHUNK as usize => {
                let (older, newer) = samples.split_at(samples.len() / 2);
                self.sealed[i] = Chunk::from_samples(newer).seal();
                self.sealed.insert(i, Chunk::from_samples(older).seal());
            }
            Some(i) => self.sealed[i] = Chunk::from_samples(&samples).seal(),
            // A full open chunk is sealed, as an in-order append would.
            None if samples.len() >= CHUNK as usize => {
                self.sealed.reserve_exact(1);
                self.sealed.push(Chunk::from_samples(&samples).seal());
                self.open = Chunk::new();
            }
            None => self.open = Chunk::from_samples(&samples),
        }
        self.len += 1;
    }

    /// Drops samples older than `oldest_kept`, then the oldest while more than `max` remain.
    pub(crate) fn trim(&mut self, oldest_kept: i64, max: usize) {
        if self.len <= max && (self.len == 0 || self.front_t >= oldest_kept) {
            return;
        }
        self.drop_front(oldest_kept, max);
        let mut front = None;
        self.each_from(i64::MIN, |t, _| {
            front = Some(t);
            false
        });
        self.front_t = front.unwrap_or(0);
    }

    fn drop_front(&mut self, oldest_kept: i64, max: usize) {
        // Whole chunks first, then within the front one.
        while let Some(front) = self.sealed.first() {
            let kept = (front.count - self.skip) as usize;
            if front.last_t < oldest_kept || self.len - kept >= max {
                self.sealed.remove(0);
                self.len -= kept;
                self.skip = 0;
            } else {
                break;
            }
        }
        let mut old = 0u32;
        let count_old = |t: i64, _| {
            if t < oldest_kept {
                old += 1;
                true
            } else {
                false
            }
        };
        let front_count = match self.sealed.first() {
            Some(front) => {
                front.each(self.skip, count_old);
                front.count
            }
            None => {
                self.open.each(self.skip, count_old);
                self.open.count
            }
        };
        let excess = self.len.saturating_sub(max) as u32;
        let dropped = old.max(excess).min(front_count - self.skip);
        self.skip += dropped;
        self.len -= dropped as usize;
        if self.sealed.is_empty() && self.skip == self.open.count {
            self.open = Chunk::new();
            self.skip = 0;
        }
    }

    /// Calls `f` with each sample at or after `from`, oldest first, until it says stop.
    pub(crate) fn each_from(&self, from: i64, mut f: impl FnMut(i64, f64) -> bool) {
        let going = std::cell::Cell::new(true);
        let mut visit = |t: i64, v: f64| {
            if t < from {
                return true;
            }
            going.set(f(t, v));
            going.get()
        };
        for (i, chunk) in self.sealed.iter().enumerate() {
            if chunk.last_t < from {
                continue;
            }
            chunk.each(if i == 0 { self.skip } else { 0 }, &mut visit);
            if !going.get() {
                return;
            }
        }
        if self.open.count > 0 && self.open.last.t >= from {
            let skip = if self.sealed.is_empty() { self.skip } else { 0 };
            self.open.each(skip, &mut visit);
        }
    }

    /// The samples from `from` to `to` inclusive, oldest first.
    pub(crate) fn range(&self, from: i64, to: i64) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        self.each_from(from, |t, v| {
            if t > to {
                return false;
            }
            out.push((t, v));
            true
        });
        out
    }

    /// Appends the samples as held, still compressed, for a checkpoint.
    pub(super) fn write_image(&self, out: &mut Vec<u8>) {
        use crate::storage::bytes::{put_bytes, put_ivarint, put_uvarint};
        put_uvarint(out, u64::from(self.skip));
        put_uvarint(out, self.sealed.len() as u64);
        for chunk in &self.sealed {
            put_uvarint(out, u64::from(chunk.count));
            put_ivarint(out, chunk.last_t);
            out.extend_from_slice(&chunk.last_v.to_le_bytes());
            put_bytes(out, &chunk.bytes);
        }
        let open = &self.open;
        put_uvarint(out, u64::from(open.count));
        if open.count > 0 {
            let s = &open.last;
            put_ivarint(out, s.t);
            put_ivarint(out, s.delta);
            out.extend_from_slice(&s.v.to_le_bytes());
            out.push(s.leading);
            out.push(s.trailing);
            put_ivarint(out, s.int_delta);
            out.push(open.bits.used as u8);
            put_bytes(out, &open.bits.bytes);
        }
    }

    /// Samples from [`write_image`](Self::write_image)'s bytes, or `None` when they do not
    /// hold together (counts past what a chunk holds, a skip past its chunk).
    pub(super) fn read_image(r: &mut crate::storage::bytes::ByteReader) -> Option<Self> {
        // A chunk holds up to twice CHUNK samples after late inserts; anything more is damage.
        let most = 2 * CHUNK as usize + 1;
        let skip = r.count(most)? as u32;
        let sealed_count = r.count(1 << 24)?;
        let mut sealed = Vec::with_capacity(sealed_count);
        let mut len = 0usize;
        for _ in 0..sealed_count {
            let count = r.count(most)? as u32;
            let last_t = r.ivarint()?;
            let last_v = r.u64_le()?;
            let bytes = r.bytes()?;
            if count == 0 {
                return None;
            }
            len += count as usize;
            sealed.push(Sealed {
                bytes: bytes.into(),
                count,
                last_t,
                last_v,
            });
        }
        let count = r.count(CHUNK as usize)? as u32;
        let open = if count == 0 {
            Chunk::new()
        } else {
            let last = State {
                t: r.ivarint()?,
                delta: r.ivarint()?,
                v: r.u64_le()?,
                leading: r.u8()?,
                trailing: r.u8()?,
                int_delta: r.ivarint()?,
            };
            let used = u32::from(r.u8()?);
            let bytes = r.bytes()?.to_vec();
            if used >= 8 || (last.leading != 0xff && (last.leading > 31 || last.trailing > 63)) {
                return None;
            }
            Chunk {
                bits: BitWriter { bytes, used },
                count,
                last,
            }
        };
        len += count as usize;
        let front = sealed.first().map_or(count, |c| c.count);
        if skip > front || (skip > 0 && front == skip && !sealed.is_empty()) {
            return None;
        }
        let mut points = Points {
            sealed,
            open,
            skip,
            len: len - skip as usize,
            front_t: 0,
        };
        let mut front_t = None;
        points.each_from(i64::MIN, |t, _| {
            front_t = Some(t);
            false
        });
        points.front_t = front_t.unwrap_or(0);
        Some(points)
    }

    /// Heap bytes held, for the memory figures.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.sealed.iter().map(|c| c.bytes.len()).sum::<usize>()
            + self.open.bits.bytes.capacity()
            + self.sealed.capacity() * std::mem::size_of::<Sealed>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: &Points) -> Vec<(i64, u64)> {
        p.range(i64::MIN, i64::MAX)
            .into_iter()
            .map(|(t, v)| (t, v.to_bits()))
            .collect()
    }

    #[test]
    fn it_behaves_as_a_sorted_list_under_random_inserts_and_trims() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20 {
            let mut p = Points::default();
            let mut model: Vec<(i64, u64)> = Vec::new();
            let mut now = 0i64;
            for _ in 0..3000 {
                match next() % 20 {
                    0 => {
                        let keep_from = now - (next() % 2000) as i64;
                        let max = 50 + (next() % 400) as usize;
                        p.trim(keep_from, max);
                        model.retain(|&(t, _)| t >= keep_from);
                        let excess = model.len().saturating_sub(max);
                        model.drain(..excess);
                    }
                    1..=4 => {
                        // Late: up to a few hundred back.
                        let t = now - (next() % 300) as i64;
                        let v = (next() % 1000) as f64;
                        p.insert(t, v);
                        let at = model
                            .iter()
                            .rposition(|&(mt, _)| mt <= t)
                            .map_or(0, |i| i + 1);
                        model.insert(at, (t, v.to_bits()));
                    }
                    _ => {
                        now += (next() % 20) as i64;
                        let v = if next() % 3 == 0 {
                            1.5
                        } else {
                            (now / 3) as f64
                        };
                        p.insert(now, v);
                        let at = model
                            .iter()
                            .rposition(|&(mt, _)| mt <= now)
                            .map_or(0, |i| i + 1);
                        model.insert(at, (now, v.to_bits()));
                    }
                }
                assert_eq!(p.len(), model.len());
            }
            assert_eq!(all(&p), model);
            let (from, to) = (now - 700, now - 100);
            let window: Vec<(i64, u64)> = model
                .iter()
                .copied()
                .filter(|&(t, _)| t >= from && t <= to)
                .collect();
            let got: Vec<(i64, u64)> = p
                .range(from, to)
                .into_iter()
                .map(|(t, v)| (t, v.to_bits()))
                .collect();
            assert_eq!(got, window);
        }
    }

    #[test]
    fn samples_come_back_bit_for_bit() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut expected = Vec::new();
        let mut p = Points::default();
        let mut t = -5_000_000_000i64;
        for i in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Regular, jittered and jumping timestamps; constant, counting, random and
            // special values (the stale marker's NaN among them).
            t += match i % 7 {
                0 => 15_000_000_000,
                1 => 15_000_000_000 + (x % 2_000_000) as i64 - 1_000_000,
                2 => 1,
                3 => 0,
                4 => (x % (1 << 40)) as i64,
                _ => 15_000_000_000,
            };
            let v = match i % 5 {
                0 => 42.0,
                1 => i as f64,
                2 => f64::from_bits(x),
                3 => f64::from_bits(crate::metrics::STALE_NAN_BITS),
                _ => -0.0,
            };
            p.insert(t, v);
            expected.push((t, v.to_bits()));
        }
        assert_eq!(p.len(), 1000);
        assert_eq!(all(&p), expected);
        assert_eq!(
            p.last().map(|(t, v)| (t, v.to_bits())),
            expected.last().copied()
        );
    }

    #[test]
    fn out_of_order_samples_take_their_place() {
        let mut p = Points::default();
        for i in 0..300 {
            p.insert(i * 10, i as f64);
        }
        p.insert(5, -1.0);
        p.insert(2995, -2.0);
        p.insert(1500, -3.0);
        let got = all(&p);
        assert_eq!(got.len(), 303);
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(got[1], (5, (-1.0f64).to_bits()));
        // Among equal times the new one goes after.
        assert_eq!(got[152], (1500, (-3.0f64).to_bits()));
    }

    #[test]
    fn late_samples_never_grow_a_chunk_without_bound() {
        let mut p = Points::default();
        p.insert(1_000_000, 0.0);
        // Every later sample is older than the first: each lands before it.
        for i in 0..5_000i64 {
            p.insert(i, i as f64);
        }
        let got = all(&p);
        assert_eq!(got.len(), 5_001);
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
        let biggest = p.sealed.iter().map(|c| c.count).max().unwrap_or(0);
        assert!(biggest <= 2 * CHUNK && p.open.count <= CHUNK, "{biggest}");
    }

    #[test]
    fn a_late_sample_in_a_trimmed_front_chunk_keeps_the_trim() {
        let mut p = Points::default();
        for i in 0..200i64 {
            p.insert(i * 10, i as f64);
        }
        p.trim(500, usize::MAX);
        assert_eq!(p.len(), 150);
        p.insert(555, -1.0);
        let got = all(&p);
        assert_eq!(got.len(), 151);
        assert_eq!(got[0].0, 500);
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
        p.trim(0, 10);
        assert_eq!(all(&p).len(), 10);
    }

    #[test]
    fn trimming_keeps_the_newest_by_time_and_count() {
        let mut p = Points::default();
        for i in 0..500 {
            p.insert(i, i as f64);
        }
        p.trim(130, usize::MAX);
        assert_eq!(p.len(), 370);
        assert_eq!(p.first_time(), Some(130));
        p.trim(0, 100);
        assert_eq!(p.len(), 100);
        assert_eq!(all(&p).first().map(|s| s.0), Some(400));
        assert_eq!(p.range(450, 455).len(), 6);
        p.trim(1000, usize::MAX);
        assert!(p.is_empty() && p.last().is_none());
        p.insert(2000, 1.0);
        assert_eq!(all(&p), [(2000, 1f64.to_bits())]);
    }

    #[test]
    fn an_image_reads_back_as_the_same_points() {
        let mut p = Points::default();
        for i in 0..500i64 {
            p.insert(i * 15_000, (i * 7 % 13) as f64 + 0.5);
        }
        p.insert(100, -1.0);
        p.trim(40_000, usize::MAX);
        let mut image = Vec::new();
        p.write_image(&mut image);
        let mut r = crate::storage::bytes::ByteReader::new(&image);
        let mut back = Points::read_image(&mut r).expect("a whole image");
        assert!(r.is_empty());
        assert_eq!(back.len(), p.len());
        assert_eq!(all(&back), all(&p));
        // It takes appends where the original would.
        p.insert(500 * 15_000, 3.0);
        back.insert(500 * 15_000, 3.0);
        assert_eq!(all(&back), all(&p));
        // Every cut is refused, not misread.
        for cut in 0..image.len() {
            let mut r = crate::storage::bytes::ByteReader::new(&image[..cut]);
            assert!(Points::read_image(&mut r).is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn a_regular_series_takes_under_two_bytes_a_sample() {
        let mut p = Points::default();
        let mut x: u64 = 7;
        for i in 0..240i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            p.insert(i * 15_000_000_000, (i * 100 + (x % 50) as i64) as f64);
        }
        let per_sample = p.heap_bytes() as f64 / 240.0;
        assert!(per_sample < 2.0, "{per_sample}");
        // A constant gauge: two bits a sample, plus each chunk's first sample and header.
        let mut q = Points::default();
        for i in 0..240i64 {
            q.insert(i * 15_000_000_000, 0.25);
        }
        assert!((q.heap_bytes() as f64 / 240.0) < 1.0, "{}", q.heap_bytes());
    }
}
