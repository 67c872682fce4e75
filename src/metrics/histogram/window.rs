//! Module implementing a histogram's recent window: a ring of the running totals noted as
//! each slice closed, which the window is measured from. See [`Window`].

use std::time::{Duration, Instant};

use super::readout::Cells;

/// The running totals of a series at the end of a window slice.
pub(super) struct Mark {
    /// Values per cell, over all shards, as the series' `gather` read them: the cells between
    /// the shards' extremes at the time, outside which every cell was zero.
    pub(super) cells: Cells,
    pub(super) sum: f64,
    pub(super) at: Instant,
}

/// The marks of a series' recent window, and when the next slice closes.
pub(super) struct Window {
    /// A ring of the marks of the last `slices + 2` rotations: a window is measured from the
    /// youngest mark at least a window old, which may be `slices + 1` slices back while the
    /// newest slice has not been closed yet.
    pub(super) marks: Box<[Mark]>,
    /// The ring position of the newest mark.
    pub(super) newest: usize,
    /// How many ring positions hold a mark.
    pub(super) filled: usize,
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
                    cells: Cells::default(),
                    sum: 0.0,
                    at: now,
                })
                .collect(),
            newest: 0,
            filled: 1,
            created: now,
            due: now + slice_len,
            slice_len,
            window,
        }
    }

    /// The mark the window is measured from at `now`: the youngest mark at least a window
    /// old, or the oldest one while none is (the series is younger than its window).
    pub(super) fn base(&self, now: Instant) -> &Mark {
        let n = self.marks.len();
        let mut base = (self.newest + n + 1 - self.filled) % n;
        for back in 0..self.filled {
            let mark = (self.newest + n - back) % n;
            if now.saturating_duration_since(self.marks[mark].at) >= self.window {
                base = mark;
                break;
            }
        }
        &self.marks[base]
    }

    /// If the current slice has run its length at `now`, the mark to note the running totals
    /// in, which becomes the newest; the next slice ends on the grid after `now`.
    pub(super) fn rotate(&mut self, now: Instant) -> Option<&mut Mark> {
        if now < self.due {
            return None;
        }
        self.due = self.next_end(now);
        let n = self.marks.len();
        self.newest = (self.newest + 1) % n;
        self.filled = (self.filled + 1).min(n);
        let mark = &mut self.marks[self.newest];
        mark.at = now;
        Some(mark)
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
