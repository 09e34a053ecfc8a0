// SPDX-License-Identifier: GPL-2.0
//! How the guest drains a host → guest ring, apart from the ring's memory: read packets until
//! the ring is empty, tell the host what was read, clear the interrupt mask and look once more
//! (a packet published meanwhile came without an interrupt), a few rounds, and never more than
//! a budget of packets in one run. The host owns `write_index`: a host that keeps moving it
//! would otherwise keep the draining CPU busy for ever; a run that spends its budget leaves the
//! interrupt masked and says so, and the caller queues another run (the C driver's
//! `vmbus_on_event()` bounds its rounds by time but not the packets of one round).
//!
//! Also compiled into the kernel modules: `core` only.

/// What reading the next packet of the ring found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// A packet, handed to the handler.
    Handled,
    /// Nothing.
    Empty,
    /// The channel is closed or failed (now or before).
    Failed,
}

/// The ring and handler a drain works on.
pub trait DrainTarget {
    /// Reads the next packet and hands it to the handler.
    fn next(&mut self) -> Next;
    /// Ends a run of packets: tells the handler, then publishes the read index to the host;
    /// `false` if that failed the channel.
    fn finish(&mut self) -> bool;
    /// Clears the interrupt mask, then looks at `write_index` again: `Some(true)` if packets
    /// came meanwhile, `None` if the ring failed the channel.
    fn unmask_and_look(&mut self) -> Option<bool>;
    /// Sets the interrupt mask again: this drain reads on.
    fn mask(&mut self);
}

/// Drains `target` for at most `rounds` rounds and `budget` packets; returns whether packets
/// remain, in which case the interrupt is still masked and the caller must run the drain
/// again (from a fresh run of its work, so other work gets the CPU in between).
pub fn drain(target: &mut impl DrainTarget, rounds: u32, budget: u32) -> bool {
    let mut left = budget;
    for _ in 0..rounds {
        loop {
            if left == 0 {
                // The budget is spent: publish what was read (the host may be waiting for
                // room) and come back in the next run, the interrupt still masked.
                return target.finish();
            }
            match target.next() {
                Next::Handled => left -= 1,
                Next::Empty => break,
                Next::Failed => return false,
            }
        }
        if !target.finish() {
            return false;
        }
        match target.unmask_and_look() {
            Some(true) => target.mask(),
            Some(false) | None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring whose host publishes `pending` packets, then `later` more once the guest has
    /// unmasked; `endless` keeps publishing.
    #[derive(Default)]
    struct FakeRing {
        pending: u32,
        later: u32,
        endless: bool,
        handled: u32,
        finished: u32,
        masked: bool,
    }

    impl DrainTarget for FakeRing {
        fn next(&mut self) -> Next {
            if self.endless || self.pending > 0 {
                self.pending = self.pending.saturating_sub(1);
                self.handled += 1;
                Next::Handled
            } else {
                Next::Empty
            }
        }
        fn finish(&mut self) -> bool {
            self.finished += 1;
            true
        }
        fn unmask_and_look(&mut self) -> Option<bool> {
            self.masked = false;
            self.pending += core::mem::take(&mut self.later);
            Some(self.endless || self.pending > 0)
        }
        fn mask(&mut self) {
            self.masked = true;
        }
    }

    #[test]
    fn a_host_that_never_stops_publishing_gets_one_budget_per_run() {
        let mut ring = FakeRing {
            endless: true,
            masked: true,
            ..FakeRing::default()
        };
        assert!(drain(&mut ring, 8, 64));
        assert_eq!(ring.handled, 64);
        assert_eq!(ring.finished, 1);
        assert!(ring.masked);
    }

    #[test]
    fn an_empty_ring_ends_the_drain_unmasked() {
        let mut ring = FakeRing {
            pending: 3,
            later: 2,
            masked: true,
            ..FakeRing::default()
        };
        assert!(!drain(&mut ring, 8, 64));
        assert_eq!(ring.handled, 5);
        assert_eq!(ring.finished, 2);
        assert!(!ring.masked);
    }

    #[test]
    fn the_budget_spans_the_rounds() {
        let mut ring = FakeRing {
            pending: 40,
            later: 40,
            masked: true,
            ..FakeRing::default()
        };
        assert!(drain(&mut ring, 8, 64));
        assert_eq!(ring.handled, 64);
        assert!(!drain(&mut ring, 8, 64));
        assert_eq!(ring.handled, 80);
    }
}
