// SPDX-License-Identifier: GPL-2.0
//! The bounded first-in first-out queue between the message worker and the device and
//! sub-channel workers: offers, rescinds and ALLOFFERS_DELIVERED wait here in arrival order.
//! Taking the oldest message is O(1) (amortised: the storage is compacted once half of it is
//! consumed), so a worker drains n messages in O(n); the queue grows with what is waiting, up to
//! a limit, beyond which it refuses: a host flooding the guest with offers gets its extra
//! messages dropped (and counted by the caller), not the guest's memory.

use crate::platform::synic::SynicMessage;
use kernel::prelude::*;

/// A bounded queue of messages.
pub(crate) struct MessageQueue {
    /// Consumed messages are `items[..head]`; waiting ones `items[head..]`.
    items: KVVec<SynicMessage>,
    head: usize,
    limit: usize,
}

impl MessageQueue {
    /// An empty queue for at most `limit` waiting messages; allocates nothing yet.
    pub(crate) const fn new(limit: usize) -> Self {
        Self {
            items: KVVec::new(),
            head: 0,
            limit,
        }
    }

    /// Messages waiting.
    pub(crate) fn len(&self) -> usize {
        self.items.len() - self.head
    }

    /// Appends a message; `ENOSPC` if `limit` messages wait already, `ENOMEM` if there is no
    /// memory for it.
    pub(crate) fn push(&mut self, m: SynicMessage) -> Result {
        if self.len() >= self.limit {
            return Err(ENOSPC);
        }
        if self.head > 0 && self.head >= self.items.len() / 2 {
            // Move the waiting messages to the front: O(waiting), at most once per as many
            // pops, so pops stay O(1) amortised.
            self.items.copy_within(self.head.., 0);
            self.items.truncate(self.items.len() - self.head);
            self.head = 0;
        }
        self.items.push(m, GFP_KERNEL)?;
        Ok(())
    }

    /// Removes the oldest message.
    pub(crate) fn pop(&mut self) -> Option<SynicMessage> {
        let m = *self.items.get(self.head)?;
        self.head += 1;
        if self.head == self.items.len() {
            self.items.clear();
            self.head = 0;
        }
        Some(m)
    }
}

#[kunit_tests(rhv_vmbus_message_queue)]
mod tests {
    use super::*;

    fn msg(tag: u16) -> SynicMessage {
        let [a, b] = tag.to_le_bytes();
        SynicMessage::from_bytes(&[a, b])
    }

    fn tag(m: Option<SynicMessage>) -> Option<u16> {
        m.map(|m| u16::from_le_bytes([m.bytes()[0], m.bytes()[1]]))
    }

    #[test]
    fn keeps_arrival_order_while_producer_and_consumer_interleave() -> Result {
        let mut q = MessageQueue::new(100);
        let mut next_in = 0u16;
        let mut next_out = 0u16;
        for round in 0..50u16 {
            for _ in 0..(round % 7 + 1) {
                q.push(msg(next_in))?;
                next_in += 1;
                // Storage is bounded by what waits, not by what went through.
                assert!(q.items.len() <= 2 * q.len() + 1);
            }
            for _ in 0..(round % 5 + 1) {
                if q.len() == 0 {
                    break;
                }
                assert_eq!(tag(q.pop()), Some(next_out));
                next_out += 1;
            }
        }
        while let Some(m) = q.pop() {
            assert_eq!(tag(Some(m)), Some(next_out));
            next_out += 1;
        }
        assert_eq!(next_in, next_out);
        assert_eq!(q.items.len(), 0);
        Ok(())
    }

    #[test]
    fn a_flood_is_refused_at_the_limit() -> Result {
        let mut q = MessageQueue::new(4);
        for i in 0..4 {
            q.push(msg(i))?;
        }
        assert_eq!(q.push(msg(9)), Err(ENOSPC));
        assert_eq!(q.len(), 4);
        assert_eq!(tag(q.pop()), Some(0));
        assert!(q.push(msg(4)).is_ok());
        assert_eq!(q.push(msg(5)), Err(ENOSPC));
        Ok(())
    }
}
