// SPDX-License-Identifier: GPL-2.0
//! Receive completions the guest → host ring had no room for. A queue's poll never waits for
//! the host to read that ring (it runs in softirq context): a completion that does not fit is
//! kept here, in order, and sent when the host has made room (the ring's `pending_send_sz`
//! wake-up, `PacketHandler::on_send_space`) or at the next poll. The queue takes no new
//! packet from the host while this is full, so at most one completion per packet taken
//! waits and none is ever lost. (The C driver keeps a ring of them per channel,
//! `recv_completion` in `struct netvsc_channel`, and retries from its poll.)

use kernel::prelude::*;

/// Completions held back per queue; each stands for one transfer-page packet, so a full
/// queue stops the reading of further packets until the host has read some.
pub(crate) const HELD_COMPLETIONS: usize = 64;

/// A receive completion owed to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owed {
    /// The transaction id of the transfer-page packet.
    pub(crate) trans_id: u64,
    /// The NVSP status it is completed with.
    pub(crate) status: u32,
}

/// Completions waiting for room, oldest first (a ring of [`HELD_COMPLETIONS`]).
pub(crate) struct Held {
    slots: KVec<Owed>,
    head: usize,
    len: usize,
}

impl Held {
    /// An empty queue (allocates its slots now: it is used in softirq context).
    pub(crate) fn new() -> Result<Self> {
        let mut slots = KVec::with_capacity(HELD_COMPLETIONS, GFP_KERNEL)?;
        for _ in 0..HELD_COMPLETIONS {
            slots.push(
                Owed {
                    trans_id: 0,
                    status: 0,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(Self {
            slots,
            head: 0,
            len: 0,
        })
    }

    /// Completions held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no more can be held: the queue must not take another packet from the host.
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.slots.len()
    }

    fn push(&mut self, owed: Owed) -> bool {
        if self.is_full() {
            return false;
        }
        let at = (self.head + self.len) % self.slots.len();
        self.slots[at] = owed;
        self.len += 1;
        true
    }

    /// Writes the completions held, oldest first, with `write` (which answers as
    /// `vmbus::Channel::send_packet_batched` does), until the ring is full again; returns
    /// whether the host must be signalled. A completion the channel refuses for good is
    /// dropped (the channel failed: the host will not read it anyway).
    pub(crate) fn flush(&mut self, mut write: impl FnMut(Owed) -> Result<bool>) -> bool {
        let mut signal = false;
        while self.len > 0 {
            match write(self.slots[self.head]) {
                Ok(s) => signal |= s,
                Err(EAGAIN) => break,
                Err(_) => {}
            }
            self.head = (self.head + 1) % self.slots.len();
            self.len -= 1;
        }
        signal
    }

    /// Sends `owed` with `write` after those held (tried first), or holds it if the ring is
    /// full; returns whether the host must be signalled for what was written, and `Err` if
    /// `owed` was lost (the channel failed; or nothing had room, which the caller prevents by
    /// taking no packet while [`Held::is_full`]).
    pub(crate) fn send(
        &mut self,
        owed: Owed,
        mut write: impl FnMut(Owed) -> Result<bool>,
    ) -> Result<bool> {
        let signal = self.flush(&mut write);
        if self.len > 0 {
            return if self.push(owed) {
                Ok(signal)
            } else {
                Err(ENOSPC)
            };
        }
        match write(owed) {
            Ok(s) => Ok(s || signal),
            Err(EAGAIN) if self.push(owed) => Ok(signal),
            Err(e) => Err(e),
        }
    }
}
