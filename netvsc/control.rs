// SPDX-License-Identifier: GPL-2.0
//! Requests to the host that wait for an answer: NVSP messages answered by a completion packet
//! with the same transaction id, and RNDIS control messages (INITIALIZE, QUERY, SET) answered
//! by an RNDIS message with the same request id in the receive buffer. One request at a time
//! (they come from probe and from RTNL-held operations, serialised by a mutex); every wait is
//! bounded.

use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::{new_mutex, new_spinlock_irq, Mutex, SpinLockIrq};
use kernel::time::Delta;

/// How long the host may take to answer a request.
pub(crate) const REQUEST_TIMEOUT_MS: u32 = 10_000;
/// Longest answer kept.
pub(crate) const MAX_ANSWER: usize = 512;
/// Transaction ids of NVSP requests have this bit set (data sends have [`DATA_TRANS_BIT`]).
pub(crate) const REQUEST_TRANS_BIT: u64 = 1 << 63;
/// Transaction ids of RNDIS messages in send sections: bit, queue << 32, section index.
pub(crate) const DATA_TRANS_BIT: u64 = 1 << 62;

/// What a request waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Awaited {
    /// An NVSP completion with this transaction id.
    Nvsp(u64),
    /// An RNDIS answer with this request id.
    Rndis(u32),
}

struct Slot {
    awaited: Option<Awaited>,
    done: bool,
    len: usize,
    answer: [u8; MAX_ANSWER],
}

/// The request in flight and its answer.
#[pin_data]
pub(crate) struct Control {
    #[pin]
    serial: Mutex<()>,
    #[pin]
    pending: SpinLockIrq<Slot>,
    next_id: Atomic<u32>,
}

/// An answer copied out of the slot.
pub(crate) struct Answer {
    pub(crate) len: usize,
    pub(crate) bytes: [u8; MAX_ANSWER],
}

impl Answer {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Control {
    pub(crate) fn new() -> impl PinInit<Self> {
        let empty = Slot {
            awaited: None,
            done: false,
            len: 0,
            answer: [0; MAX_ANSWER],
        };
        pin_init!(Control {
            serial <- new_mutex!(()),
            pending <- new_spinlock_irq!(empty),
            next_id: Atomic::new(1),
        })
    }

    /// A fresh request id (never 0).
    pub(crate) fn next_id(&self) -> u32 {
        let id = self.next_id.fetch_add(1, ordering::Relaxed);
        if id == 0 {
            self.next_id.fetch_add(1, ordering::Relaxed)
        } else {
            id
        }
    }

    /// Runs `send` (which sends the request) and waits for the answer `awaited`.
    pub(crate) fn request(
        &self,
        awaited: Awaited,
        send: impl FnOnce() -> Result,
    ) -> Result<Answer> {
        let _serial = self.serial.lock();
        {
            let mut s = self.pending.lock();
            s.awaited = Some(awaited);
            s.done = false;
            s.len = 0;
        }
        let sent = send();
        let result = sent.and_then(|()| self.wait());
        self.pending.lock().awaited = None;
        result
    }

    fn wait(&self) -> Result<Answer> {
        // The answer comes from softirq context on the channel's CPU; poll for it, bounded.
        for _ in 0..REQUEST_TIMEOUT_MS * 5 {
            {
                let s = self.pending.lock();
                if s.done {
                    let mut a = Answer {
                        len: s.len,
                        bytes: [0; MAX_ANSWER],
                    };
                    for (d, v) in a.bytes.iter_mut().zip(s.answer.iter()) {
                        *d = *v;
                    }
                    return Ok(a);
                }
            }
            kernel::time::delay::fsleep(Delta::from_micros(200));
        }
        Err(ETIMEDOUT)
    }

    /// Delivers an answer; false if no request waits for it (the caller counts it).
    pub(crate) fn deliver(&self, what: Awaited, bytes: &[u8]) -> bool {
        let mut s = self.pending.lock();
        if s.awaited != Some(what) || s.done {
            return false;
        }
        let n = bytes.len().min(MAX_ANSWER);
        for (d, v) in s.answer.iter_mut().zip(bytes.iter()) {
            *d = *v;
        }
        s.len = n;
        s.done = true;
        true
    }
}
