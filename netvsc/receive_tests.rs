// SPDX-License-Identifier: GPL-2.0
//! KUnit suites for what the receive path decides on the host's word: whether a frame's
//! checksum counts as verified, whether a packet's ranges may be used together, how a poll's
//! budget is spent, and the receive completions held back while the ring is full.

use kernel::prelude::*;

#[kunit_tests(rhv_netvsc_rx_checksum)]
mod rx_checksum {
    use crate::proto::{ndis, rndis};
    use crate::receive::{checksum_verified, frame_hints};
    use kernel::prelude::*;
    use zerocopy::IntoBytes;

    /// Per-packet info: a hash and a checksum verdict `csum`.
    fn ppi(csum: u32) -> KVec<u8> {
        let mut v = KVec::new();
        for (kind, value) in [
            (rndis::PPI_HASH_VALUE, 0x1234),
            (rndis::PPI_TCPIP_CHECKSUM, csum),
        ] {
            let p = rndis::PerPacketInfo::new(kind, 4);
            v.extend_from_slice(p.as_bytes(), GFP_KERNEL).unwrap();
            v.extend_from_slice(&u32::to_le_bytes(value), GFP_KERNEL)
                .unwrap();
        }
        v
    }

    #[test]
    fn the_hosts_verdict_counts_only_with_offload_on() {
        let tcp = Some(ndis::CSUM_RX_TCP_SUCCEEDED);
        let udp = Some(ndis::CSUM_RX_UDP_SUCCEEDED);
        assert!(checksum_verified(tcp, true));
        assert!(checksum_verified(udp, true));
        // `ethtool -K eth0 rx off`, or offload not negotiated: the stack checks.
        assert!(!checksum_verified(tcp, false));
        assert!(!checksum_verified(udp, false));
        // No verdict, or only the IP header's.
        assert!(!checksum_verified(None, true));
        assert!(!checksum_verified(Some(ndis::CSUM_RX_IP_SUCCEEDED), true));
        assert!(!checksum_verified(Some(0), true));
    }

    #[test]
    fn frame_hints_keep_the_hash_whatever_the_checksum_setting() {
        let info = ppi(ndis::CSUM_RX_TCP_SUCCEEDED);
        let view = rndis::PacketView {
            data: &[],
            per_packet_info: &info,
        };
        assert_eq!(frame_hints(&view, true), (0x1234, true));
        assert_eq!(frame_hints(&view, false), (0x1234, false));
    }
}

#[kunit_tests(rhv_netvsc_range_set)]
mod range_set {
    use crate::receive::Budget;
    use crate::transfer::{range_set_ok, RangeSetError, MAX_RANGES};
    use kernel::prelude::*;

    /// The wire bytes of `ranges` (offset, length).
    fn wire(ranges: &[(u32, u32)]) -> KVec<u8> {
        let mut v = KVec::new();
        for &(offset, len) in ranges {
            v.extend_from_slice(&len.to_le_bytes(), GFP_KERNEL).unwrap();
            v.extend_from_slice(&offset.to_le_bytes(), GFP_KERNEL)
                .unwrap();
        }
        v
    }

    fn scratch() -> KVec<u64> {
        let mut v = KVec::new();
        v.resize(MAX_RANGES, 0, GFP_KERNEL).unwrap();
        v
    }

    #[test]
    fn disjoint_ranges_in_any_order_pass() {
        let mut s = scratch();
        let r = wire(&[(3456, 1514), (0, 1728), (1728, 60)]);
        assert_eq!(range_set_ok(&r, 9000, &mut s), Ok(()));
        assert_eq!(range_set_ok(&wire(&[(0, 64)]), 1, &mut s), Ok(()));
    }

    #[test]
    fn overlapping_ranges_are_refused() {
        let mut s = scratch();
        // One byte shared.
        let r = wire(&[(0, 1729), (1728, 60)]);
        assert_eq!(
            range_set_ok(&r, 9000, &mut s),
            Err(RangeSetError::Overlap(1728))
        );
        // One range inside another, named last.
        let r = wire(&[(4096, 64), (0, 1728), (64, 8)]);
        assert_eq!(
            range_set_ok(&r, 9000, &mut s),
            Err(RangeSetError::Overlap(64))
        );
        // The same section named over and over: one packet, a thousand copies of a frame.
        let same: KVec<(u32, u32)> = {
            let mut v = KVec::new();
            for _ in 0..MAX_RANGES {
                v.push((1728, 1514), GFP_KERNEL).unwrap();
            }
            v
        };
        assert_eq!(
            range_set_ok(&wire(&same), 9000, &mut s),
            Err(RangeSetError::Overlap(1728))
        );
        // Offsets compare without wrapping: a range near 4 GiB does not reach the start,
        // and ranges there overlap as anywhere else.
        let r = wire(&[(u32::MAX - 8, 64), (8, 8)]);
        assert_eq!(range_set_ok(&r, 9000, &mut s), Ok(()));
        let r = wire(&[(u32::MAX - 64, 64), (u32::MAX - 8, 8)]);
        assert_eq!(
            range_set_ok(&r, 9000, &mut s),
            Err(RangeSetError::Overlap(u32::MAX - 8))
        );
    }

    #[test]
    fn more_ranges_than_sections_are_refused() {
        let mut s = scratch();
        let r = wire(&[(0, 64), (64, 64), (128, 64)]);
        assert_eq!(range_set_ok(&r, 2, &mut s), Err(RangeSetError::TooMany(3)));
        // Before the host cut the buffer there are no sections.
        assert_eq!(range_set_ok(&r, 0, &mut s), Err(RangeSetError::TooMany(3)));
        // More than the scratch holds.
        assert_eq!(
            range_set_ok(&r, 9000, &mut s[..2]),
            Err(RangeSetError::TooMany(3))
        );
    }

    #[test]
    fn a_poll_budget_is_spent_once() {
        let mut b = Budget::new(2);
        assert!(b.any_left());
        assert!(b.take(false));
        assert!(b.take(false));
        assert!(!b.any_left());
        assert!(!b.take(false));
        assert_eq!(b.used(), 2);
        // Beyond the budget only when told to (a packet that must be finished).
        assert!(b.take(true));
        assert_eq!(b.used(), 3);
        assert!(!Budget::new(0).any_left());
    }
}

#[kunit_tests(rhv_netvsc_held_completions)]
mod held_completions {
    use crate::completions::{Held, Owed, HELD_COMPLETIONS};
    use kernel::prelude::*;

    fn owed(trans_id: u64) -> Owed {
        Owed {
            trans_id,
            status: 1,
        }
    }

    /// A guest → host ring with room for `room` more completions; what was written.
    struct Ring {
        room: usize,
        written: KVec<u64>,
        failed: bool,
    }

    impl Ring {
        fn new(room: usize) -> Self {
            Self {
                room,
                written: KVec::new(),
                failed: false,
            }
        }

        fn write(&mut self, o: Owed) -> Result<bool> {
            if self.failed {
                return Err(EIO);
            }
            if self.room == 0 {
                return Err(EAGAIN);
            }
            self.room -= 1;
            self.written.push(o.trans_id, GFP_KERNEL)?;
            Ok(self.written.len() == 1)
        }
    }

    #[test]
    fn a_full_ring_holds_completions_back_instead_of_waiting() {
        let mut held = Held::new().unwrap();
        let mut ring = Ring::new(1);
        assert_eq!(held.send(owed(1), |o| ring.write(o)), Ok(true));
        // Full: the completion is kept, the call returns at once.
        assert_eq!(held.send(owed(2), |o| ring.write(o)), Ok(false));
        assert_eq!(held.len(), 1);
        // Still full: the next one queues behind it, nothing is lost.
        assert_eq!(held.send(owed(3), |o| ring.write(o)), Ok(false));
        assert_eq!(held.len(), 2);
        assert_eq!(&ring.written[..], &[1]);
        // The host made room for one: the oldest goes first.
        ring.room = 1;
        assert!(!held.flush(|o| ring.write(o)));
        assert_eq!(&ring.written[..], &[1, 2]);
        assert_eq!(held.len(), 1);
        // With room, a new completion goes after those held.
        ring.room = 8;
        assert_eq!(held.send(owed(4), |o| ring.write(o)), Ok(false));
        assert_eq!(&ring.written[..], &[1, 2, 3, 4]);
        assert_eq!(held.len(), 0);
    }

    #[test]
    fn a_full_queue_says_so_and_refuses_more() {
        let mut held = Held::new().unwrap();
        let mut ring = Ring::new(0);
        for id in 0..HELD_COMPLETIONS as u64 {
            assert!(!held.is_full());
            assert_eq!(held.send(owed(id), |o| ring.write(o)), Ok(false));
        }
        assert!(held.is_full());
        assert_eq!(held.send(owed(999), |o| ring.write(o)), Err(ENOSPC));
        ring.room = usize::MAX;
        assert!(held.flush(|o| ring.write(o)));
        assert_eq!(ring.written.len(), HELD_COMPLETIONS);
        assert!(ring
            .written
            .iter()
            .enumerate()
            .all(|(i, &id)| id == i as u64));
    }

    #[test]
    fn a_failed_channel_drops_what_is_held() {
        let mut held = Held::new().unwrap();
        let mut ring = Ring::new(0);
        assert_eq!(held.send(owed(1), |o| ring.write(o)), Ok(false));
        ring.failed = true;
        assert!(!held.flush(|o| ring.write(o)));
        assert_eq!(held.len(), 0);
        assert_eq!(held.send(owed(2), |o| ring.write(o)), Err(EIO));
    }
}
