//! Module implementing a histogram's recent window: a ring of marks, one per closed slice,
//! each holding what its slice added, packed. See [`Window`].

use std::time::{Duration, Instant};

use super::readout::Cells;

/// The end of a window slice: what the slice added to each cell, and the running sum then.
pub(super) struct Mark {
    /// The slice's count per cell, as varints, from cell `first` to the last it added to.
    added: Vec<u8>,
    first: usize,
    /// The running sum at the end of the slice.
    pub(super) sum: f64,
    pub(super) at: Instant,
}

/// The marks of a series' recent window, and when the next slice closes.
///
/// The window at a moment is what was added since its base, the youngest mark at least a
/// window old: what each slice after the base added, plus what was added since the newest
/// mark, which is the running totals now less those noted at the newest mark. Those are kept
/// whole, as 32-bit counts (a cell adds far fewer than 2^32 values in a window, so differences
/// modulo 2^32 are exact); a slice keeps only what it added, a byte for most cells of a busy
/// series, next to nothing for a quiet one.
pub(super) struct Window {
    /// A ring of the marks of the last `slices + 2` rotations: a window is measured from the
    /// youngest mark at least a window old, which may be `slices + 1` slices back while the
    /// newest slice has not been closed yet.
    pub(super) marks: Box<[Mark]>,
    /// The ring position of the newest mark.
    pub(super) newest: usize,
    /// How many ring positions hold a mark.
    pub(super) filled: usize,
    /// The running totals per cell at the newest mark, modulo 2^32, from cell `noted_first`.
    noted: Vec<u32>,
    noted_first: usize,
    /// Slices end on a grid from the series' creation, so that a slice closed late does not
    /// move the ends of the next ones, and a check a moment early does not skip one.
    created: Instant,
    /// The end of the current slice.
    pub(super) due: Instant,
    slice_len: Duration,
    window: Duration,
}

impl Window {
    /// The window of a series created `now`, `window` long in `slices` slices.
    pub(super) fn new(now: Instant, window: Duration, slices: u32) -> Self {
        let slice_len = window / slices.max(1);
        Self {
            marks: (0..slices + 2)
                .map(|_| Mark {
                    added: Vec::new(),
                    first: 0,
                    sum: 0.0,
                    at: now,
                })
                .collect(),
            newest: 0,
            filled: 1,
            noted: Vec::new(),
            noted_first: 0,
            created: now,
            due: now + slice_len,
            slice_len,
            window,
        }
    }

    /// The ring position of the mark the window is measured from at `now`: the youngest mark
    /// at least a window old, or the oldest one while none is (the series is younger than its
    /// window).
    pub(super) fn base(&self, now: Instant) -> usize {
        // A read that took its time before the latest rotation is taken at that rotation, so
        // that no base is older than one a rotation has already passed (whose slices it let
        // go).
        let now = now.max(self.marks[self.newest].at);
        let n = self.marks.len();
        for back in 0..self.filled {
            let mark = (self.newest + n - back) % n;
            if now.saturating_duration_since(self.marks[mark].at) >= self.window {
                return mark;
            }
        }
        (self.newest + n + 1 - self.filled) % n
    }

    /// How much time the window covers at `now` (taken at the latest rotation if earlier):
    /// from its base mark.
    pub(super) fn span(&self, now: Instant) -> Duration {
        let now = now.max(self.marks[self.newest].at);
        now.saturating_duration_since(self.marks[self.base(now)].at)
    }

    /// Whether the current slice has run its length at `now`.
    pub(super) fn due(&self, now: Instant) -> bool {
        now >= self.due
    }

    /// Closes the current slice at `now`, given the running totals `totals` and `sum`: the
    /// next slice ends on the grid after `now`.
    pub(super) fn rotate(&mut self, now: Instant, totals: &Cells, sum: f64) {
        self.due = self.next_end(now);
        let n = self.marks.len();
        self.newest = (self.newest + 1) % n;
        self.filled = (self.filled + 1).min(n);
        // What the slice added: the totals less those noted, whose range the totals' holds
        // (the extremes only widen).
        let start = totals.range.start;
        let added: Vec<u32> = totals
            .counts
            .iter()
            .enumerate()
            .map(|(i, &count)| (count as u32).wrapping_sub(self.noted_at(start + i)))
            .collect();
        let mark = &mut self.marks[self.newest];
        mark.added.clear();
        mark.first = start;
        if let (Some(first), Some(last)) = (
            added.iter().position(|&c| c != 0),
            added.iter().rposition(|&c| c != 0),
        ) {
            mark.first = start + first;
            for &count in &added[first..=last] {
                push_varint(&mut mark.added, count);
            }
        }
        mark.added.shrink_to_fit();
        mark.sum = sum;
        mark.at = now;
        self.noted.clear();
        self.noted
            .extend(totals.counts.iter().map(|&count| count as u32));
        self.noted.shrink_to_fit();
        self.noted_first = start;
        // What the base's slice and older ones added is in no window from now on.
        let base = self.base(now);
        let newer = (self.newest + n - base) % n;
        for back in 0..self.filled - newer {
            self.marks[(base + n - back) % n].added = Vec::new();
        }
    }

    /// The noted total of `cell` (0 outside the noted range).
    fn noted_at(&self, cell: usize) -> u32 {
        cell.checked_sub(self.noted_first)
            .and_then(|i| self.noted.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Turns `totals`, the running totals read now, into what was added since mark `base`:
    /// less the totals noted at the newest mark, plus what every slice after `base` added.
    pub(super) fn since(&self, base: usize, totals: &mut Cells) {
        let start = totals.range.start;
        for (i, count) in totals.counts.iter_mut().enumerate() {
            *count = u64::from((*count as u32).wrapping_sub(self.noted_at(start + i)));
        }
        let n = self.marks.len();
        let mut mark = base;
        while mark != self.newest {
            mark = (mark + 1) % n;
            let slice = &self.marks[mark];
            // A slice's cells lie within the totals' range, the extremes only widening.
            let from = slice.first.saturating_sub(start);
            let mut bytes = &slice.added[..];
            for total in totals.counts.iter_mut().skip(from) {
                let Some(count) = pop_varint(&mut bytes) else {
                    break;
                };
                *total = total.wrapping_add(u64::from(count));
            }
        }
    }

    /// The first slice end on the grid after `now`.
    fn next_end(&self, now: Instant) -> Instant {
        let slice = self.slice_len.as_nanos().max(1);
        let elapsed = now.saturating_duration_since(self.created).as_nanos();
        let slices = elapsed / slice + 1;
        let nanos = u64::try_from(slices * slice).unwrap_or(u64::MAX);
        self.created + Duration::from_nanos(nanos)
    }
}

/// Appends `value` as a LEB128 varint: seven bits a byte, low first.
fn push_varint(bytes: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        bytes.push(value as u8 | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

/// Takes one varint off the front of `bytes`.
fn pop_varint(bytes: &mut &[u8]) -> Option<u32> {
    let mut value = 0u32;
    let mut shift = 0;
    loop {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u32::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let values = [0, 1, 127, 128, 300, 16_383, 16_384, u32::MAX];
        let mut bytes = Vec::new();
        for v in values {
            push_varint(&mut bytes, v);
        }
        assert_eq!(bytes.len(), 1 + 1 + 1 + 2 + 2 + 2 + 3 + 5);
        let mut read = &bytes[..];
        let back: Vec<u32> = std::iter::from_fn(|| pop_varint(&mut read)).collect();
        assert_eq!(back, values);
    }
}
