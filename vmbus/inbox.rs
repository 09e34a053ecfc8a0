// SPDX-License-Identifier: GPL-2.0
//! The inbox between the interrupt handler and the message worker: channel messages copied
//! out of the SynIC slot in hard-irq context wait here, in arrival order, until the worker
//! handles them in process context. Its slots are allocated up front so the interrupt
//! handler never allocates; when it is full the handler leaves the message in the SynIC slot
//! (the host then holds back the rest) and the worker fetches it after draining.

use crate::platform::synic::SynicMessage;
use kernel::prelude::*;

/// A bounded first-in first-out queue of messages.
pub(crate) struct Inbox {
    slots: KVec<SynicMessage>,
    head: usize,
    len: usize,
}

impl Inbox {
    /// An inbox for `capacity` messages (at least one).
    pub(crate) fn new(capacity: usize) -> Result<Self> {
        let capacity = capacity.max(1);
        let mut slots = KVec::with_capacity(capacity, GFP_KERNEL)?;
        for _ in 0..capacity {
            slots.push(SynicMessage::EMPTY, GFP_KERNEL)?;
        }
        Ok(Self {
            slots,
            head: 0,
            len: 0,
        })
    }

    /// Whether no more messages fit.
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.slots.len()
    }

    /// Appends a message; fails with `ENOSPC` if the inbox is full.
    pub(crate) fn push(&mut self, m: SynicMessage) -> Result {
        if self.is_full() {
            return Err(ENOSPC);
        }
        let at = (self.head + self.len) % self.slots.len();
        self.slots[at] = m;
        self.len += 1;
        Ok(())
    }

    /// Removes the oldest message.
    pub(crate) fn pop(&mut self) -> Option<SynicMessage> {
        if self.len == 0 {
            return None;
        }
        let m = self.slots[self.head];
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        Some(m)
    }
}

#[kunit_tests(rhv_vmbus_inbox)]
mod tests {
    use super::*;

    fn msg(tag: u8) -> SynicMessage {
        SynicMessage::from_bytes(&[tag; 3])
    }

    #[test]
    fn keeps_order_across_wrap_around() -> Result {
        let mut inbox = Inbox::new(3)?;
        assert!(inbox.pop().is_none());
        for round in 0..5u8 {
            assert!(inbox.push(msg(round)).is_ok());
            assert!(inbox.push(msg(round + 100)).is_ok());
            assert_eq!(inbox.pop().map(|m| m.bytes()[0]), Some(round));
            assert_eq!(inbox.pop().map(|m| m.bytes()[0]), Some(round + 100));
        }
        assert!(inbox.pop().is_none());
        Ok(())
    }

    #[test]
    fn full_inbox_refuses_more() -> Result {
        let mut inbox = Inbox::new(2)?;
        assert!(inbox.push(msg(1)).is_ok());
        assert!(inbox.push(msg(2)).is_ok());
        assert!(inbox.is_full());
        assert_eq!(inbox.push(msg(3)), Err(ENOSPC));
        assert_eq!(inbox.pop().map(|m| m.bytes().len()), Some(3));
        assert!(!inbox.is_full());
        Ok(())
    }
}
