//! Module implementing a bounded queue that never makes its sender wait: when it is full
//! the oldest item is dropped for the new one, and counted (see [`DropOldest`]); and the wait
//! of a channel's thread for its next item or the word to stop ([`next_or_stop`]).

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// The next item of `items`, or `None` once `stop` says so or every sender is gone: what a
/// channel's thread waits on between jobs.
pub(crate) fn next_or_stop<T>(items: &Receiver<T>, stop: &Receiver<()>) -> Option<T> {
    crossbeam_channel::select! {
        recv(items) -> item => item.ok(),
        recv(stop) -> _ => None,
    }
}

/// The sending side of a bounded queue that drops its oldest item when full.
#[derive(Debug, Clone)]
pub(crate) struct DropOldest<T> {
    tx: Sender<T>,
    /// The queue's own end, to take the oldest item out when it is full.
    rx: Receiver<T>,
}

impl<T> DropOldest<T> {
    /// A queue of `capacity` items and its receiving end.
    pub(crate) fn new(capacity: usize) -> (Self, Receiver<T>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        (Self { tx, rx: rx.clone() }, rx)
    }

    /// Queues `item` without waiting; returns the older items dropped for it.
    pub(crate) fn push(&self, item: T) -> Vec<T> {
        let mut item = item;
        let mut dropped = Vec::new();
        loop {
            match self.tx.try_send(item) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    if let Ok(old) = self.rx.try_recv() {
                        dropped.push(old);
                    }
                    item = back;
                }
                Err(TrySendError::Disconnected(_)) => break,
            }
        }
        dropped
    }

    /// Items waiting.
    pub(crate) fn len(&self) -> usize {
        self.tx.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_its_oldest() {
        let (queue, rx) = DropOldest::new(2);
        assert!(queue.push(1).is_empty());
        assert!(queue.push(2).is_empty());
        assert_eq!(queue.push(3), [1]);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [2, 3]);
        assert_eq!(queue.len(), 0);
    }
}
