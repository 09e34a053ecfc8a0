// SPDX-License-Identifier: GPL-2.0
//! The send buffer's sections: which are free, and what each one in use belongs to (its queue
//! and, for a frame sent from its own pages, the skb the host still reads). A section is taken
//! for every RNDIS message the guest sends and given back by the host's completion, whose
//! transaction id names it (with the section's generation, so that a late or repeated
//! completion cannot free the section's next use); a completion naming a section that is not
//! in use, or an older use of it, is the host's error and is counted, never trusted.

use crate::netdev::Skb;
use kernel::prelude::*;

/// Most sections used (the rest of a larger buffer stays idle).
pub(crate) const MAX_SECTIONS: u32 = 1024;

/// One use of a section: its index and the generation that tells this use from the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lease {
    /// The section.
    pub(crate) index: u32,
    /// How many times the section had been taken before, modulo 2^16.
    pub(crate) generation: u16,
}

/// A section in use.
pub(crate) struct InUse {
    /// The queue whose channel carried the message.
    pub(crate) queue: u16,
    /// Which use of the section this is.
    pub(crate) generation: u16,
    /// The frame the host reads from its own pages, freed on completion.
    pub(crate) skb: Option<Skb>,
}

/// The sections of the send buffer.
pub(crate) struct Sections {
    size: u32,
    used: KVec<Option<InUse>>,
    free: KVec<u32>,
    /// The generation of each section's next use.
    next_generation: KVec<u16>,
}

impl Sections {
    /// No sections yet (the host has not accepted the send buffer).
    pub(crate) const fn empty() -> Self {
        Self {
            size: 0,
            used: KVec::new(),
            free: KVec::new(),
            next_generation: KVec::new(),
        }
    }

    /// `count` sections of `size` bytes.
    pub(crate) fn new(size: u32, count: u32) -> Result<Self> {
        let count = count.min(MAX_SECTIONS);
        let mut used = KVec::with_capacity(count as usize, GFP_KERNEL)?;
        let mut free = KVec::with_capacity(count as usize, GFP_KERNEL)?;
        let mut next_generation = KVec::with_capacity(count as usize, GFP_KERNEL)?;
        for i in (0..count).rev() {
            used.push(None, GFP_KERNEL)?;
            free.push(i, GFP_KERNEL)?;
            next_generation.push(0, GFP_KERNEL)?;
        }
        Ok(Self {
            size,
            used,
            free,
            next_generation,
        })
    }

    /// Bytes per section (0 without a send buffer).
    pub(crate) fn size(&self) -> u32 {
        self.size
    }

    /// Sections in all (tests).
    #[cfg(CONFIG_KUNIT)]
    pub(crate) fn count(&self) -> usize {
        self.used.len()
    }

    /// Free sections.
    pub(crate) fn free_count(&self) -> usize {
        self.free.len()
    }

    /// Takes a free section for `queue`.
    pub(crate) fn take(&mut self, queue: u16) -> Option<Lease> {
        let index = self.free.pop()?;
        let (Some(slot), Some(next)) = (
            self.used.get_mut(index as usize),
            self.next_generation.get_mut(index as usize),
        ) else {
            return None;
        };
        let generation = *next;
        *next = generation.wrapping_add(1);
        *slot = Some(InUse {
            queue,
            generation,
            skb: None,
        });
        Some(Lease { index, generation })
    }

    /// Attaches the skb the host reads to the section of `lease`.
    pub(crate) fn attach(&mut self, lease: Lease, skb: Skb) {
        if let Some(Some(u)) = self.used.get_mut(lease.index as usize) {
            if u.generation == lease.generation {
                u.skb = Some(skb);
            }
        }
    }

    /// Gives the section of `lease` back: completed by the host on `queue`'s channel, or not sent.
    /// `None` if it was not in use by that queue in that generation (the caller counts a bad
    /// completion).
    pub(crate) fn release(&mut self, lease: Lease, queue: u16) -> Option<InUse> {
        let slot = self.used.get_mut(lease.index as usize)?;
        if slot.as_ref().map(|u| (u.queue, u.generation)) != Some((queue, lease.generation)) {
            return None;
        }
        let u = slot.take();
        // Cannot fail: `free` has room for every section.
        let _ = self.free.push(lease.index, GFP_ATOMIC);
        u
    }
}
