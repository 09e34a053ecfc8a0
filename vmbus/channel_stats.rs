// SPDX-License-Identifier: GPL-2.0
//! A channel's event counters, shown in `channels/<relid>/` as the C driver's (`interrupts`,
//! `events`, `intr_in_full`, `intr_out_empty`, `out_full_first`, `out_full_total`), counted at
//! the same points: relaxed atomics, one add on the path that already does the work. They
//! belong to the offer, not to one opening, so they add up across opens as in C.

use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};

/// The counters of one channel.
pub(crate) struct ChannelStats {
    /// Host → guest interrupts dispatched to the open channel.
    interrupts: Atomic<u64>,
    /// Guest → host signals.
    events: Atomic<u64>,
    /// Signals because a read freed the room the host waited for.
    intr_in_full: Atomic<u64>,
    /// Signals because a write found the guest → host ring empty.
    intr_out_empty: Atomic<u64>,
    /// Writes that found the ring full after one that did not.
    out_full_first: Atomic<u64>,
    /// Writes that found the ring full.
    out_full_total: Atomic<u64>,
    /// Whether the last write found the ring full.
    out_full: Atomic<bool>,
}

/// One counter, as sysfs names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counter {
    Interrupts,
    Events,
    IntrInFull,
    IntrOutEmpty,
    OutFullFirst,
    OutFullTotal,
}

impl ChannelStats {
    /// All zero.
    pub(crate) fn new() -> Self {
        Self {
            interrupts: Atomic::new(0),
            events: Atomic::new(0),
            intr_in_full: Atomic::new(0),
            intr_out_empty: Atomic::new(0),
            out_full_first: Atomic::new(0),
            out_full_total: Atomic::new(0),
            out_full: Atomic::new(false),
        }
    }

    fn counter(&self, which: Counter) -> &Atomic<u64> {
        match which {
            Counter::Interrupts => &self.interrupts,
            Counter::Events => &self.events,
            Counter::IntrInFull => &self.intr_in_full,
            Counter::IntrOutEmpty => &self.intr_out_empty,
            Counter::OutFullFirst => &self.out_full_first,
            Counter::OutFullTotal => &self.out_full_total,
        }
    }

    /// Counts one event of kind `which`.
    #[inline]
    pub(crate) fn count(&self, which: Counter) {
        self.counter(which).add(1, ordering::Relaxed);
    }

    /// The count of `which`.
    pub(crate) fn get(&self, which: Counter) -> u64 {
        self.counter(which).load(ordering::Relaxed)
    }

    /// A write found the guest → host ring full (called with the ring's lock held, which
    /// orders the calls).
    pub(crate) fn ring_full(&self) {
        self.count(Counter::OutFullTotal);
        if !self.out_full.xchg(true, ordering::Relaxed) {
            self.count(Counter::OutFullFirst);
        }
    }

    /// A write fitted (ring lock held).
    #[inline]
    pub(crate) fn ring_not_full(&self) {
        if self.out_full.load(ordering::Relaxed) {
            self.out_full.store(false, ordering::Relaxed);
        }
    }
}

#[kunit_tests(rhv_vmbus_channel_stats)]
mod tests {
    use super::*;

    #[test]
    fn full_ring_counts_first_and_total_as_c() {
        let s = ChannelStats::new();
        s.ring_full();
        s.ring_full();
        s.ring_not_full();
        s.ring_full();
        assert_eq!(s.get(Counter::OutFullTotal), 3);
        assert_eq!(s.get(Counter::OutFullFirst), 2);
        s.count(Counter::Events);
        assert_eq!(s.get(Counter::Events), 1);
        assert_eq!(s.get(Counter::Interrupts), 0);
    }
}
