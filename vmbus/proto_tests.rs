// SPDX-License-Identifier: GPL-2.0
//! KUnit runs of the pure protocol logic in `proto/` as compiled into the module: version
//! negotiation order, offer validation with malformed input, SynIC register formats. The
//! same behaviour is covered by `cargo test` on the host; these prove the kernel build agrees.

use kernel::prelude::*;

#[kunit_tests(rhv_vmbus_proto)]
mod tests {
    use crate::proto::negotiate::*;
    use crate::proto::offer::*;
    use crate::proto::synic::*;
    use crate::proto::vmbus::*;
    use zerocopy::{FromZeros, IntoBytes};

    #[test]
    fn channel_moves_follow_the_version() {
        assert_eq!(channel_moves(0), ChannelMoves::Unsupported);
        assert_eq!(channel_moves(VERSION_WIN10), ChannelMoves::Unsupported);
        assert_eq!(channel_moves(VERSION_WIN10_V4_1), ChannelMoves::Unconfirmed);
        assert_eq!(channel_moves(VERSION_WIN10_V5_2), ChannelMoves::Unconfirmed);
        assert_eq!(channel_moves(VERSION_WIN10_V5_3), ChannelMoves::Confirmed);
        assert_eq!(channel_moves(VERSION_WIN10_V6_0), ChannelMoves::Confirmed);
    }

    #[test]
    fn negotiation_walks_down_from_the_cap() {
        let mut all = versions_to_propose(u32::MAX);
        assert_eq!(all.next(), Some(VERSION_WIN10_V6_0));
        assert_eq!(all.last(), Some(VERSION_WIN10));
        let mut capped = versions_to_propose(make_version(4, 1));
        assert_eq!(capped.next(), Some(VERSION_WIN10_V4_1));
        assert_eq!(capped.next(), Some(VERSION_WIN10));
        assert_eq!(capped.next(), None);
        assert_eq!(versions_to_propose(make_version(3, 0)).count(), 0);
        assert_eq!(
            contact_connection_id(VERSION_WIN10_V5),
            VMBUS_MESSAGE_CONNECTION_ID_4
        );
        assert_eq!(
            contact_connection_id(VERSION_WIN10_V4_1),
            VMBUS_MESSAGE_CONNECTION_ID
        );
    }

    #[test]
    fn version_response_is_checked() {
        let mut r = VersionResponse::new_zeroed();
        r.header = MessageHeader::new(MessageType::VersionResponse);
        r.version_supported = 1;
        r.msg_conn_id = 4;
        assert_eq!(
            interpret_response(VERSION_WIN10_V6_0, r.as_bytes()),
            Ok(ContactOutcome::Accepted {
                msg_conn_id: 4,
                features: 0
            })
        );
        r.msg_conn_id = 0xff00_0001;
        assert_eq!(
            interpret_response(VERSION_WIN10_V6_0, r.as_bytes()),
            Err(ResponseError::BadConnectionId(0xff00_0001))
        );
        r.version_supported = 0;
        assert_eq!(
            interpret_response(VERSION_WIN10_V6_0, r.as_bytes()),
            Ok(ContactOutcome::Refused)
        );
        assert!(matches!(
            interpret_response(VERSION_WIN10, &r.as_bytes()[..7]),
            Err(ResponseError::Malformed(_))
        ));
    }

    #[test]
    fn malformed_offers_are_rejected() {
        let mut m = OfferChannel::new_zeroed();
        m.header = MessageHeader::new(MessageType::OfferChannel);
        m.child_relid = 3;
        assert!(parse_offer(m.as_bytes()).is_ok());
        assert!(matches!(
            parse_offer(&m.as_bytes()[..195]),
            Err(OfferError::Malformed(ParseError::TooShort { .. }))
        ));
        assert!(matches!(
            parse_offer(&[0u8; 241]),
            Err(OfferError::Malformed(ParseError::TooLong(241)))
        ));
        m.child_relid = 0;
        assert_eq!(parse_offer(m.as_bytes()), Err(OfferError::Relid(0)));
        m.child_relid = u32::MAX;
        assert_eq!(parse_offer(m.as_bytes()), Err(OfferError::Relid(u32::MAX)));
        m.child_relid = 3;
        m.monitor_allocated = 1;
        m.monitorid = 255;
        assert_eq!(parse_offer(m.as_bytes()), Err(OfferError::MonitorId(255)));
        m.monitor_allocated = 0;
        m.connection_id = 0x8000_0000;
        assert_eq!(
            parse_offer(m.as_bytes()),
            Err(OfferError::ConnectionId(0x8000_0000))
        );
        m.header = MessageHeader::new(MessageType::GpadlCreated);
        assert!(matches!(
            parse_offer(m.as_bytes()),
            Err(OfferError::Malformed(ParseError::WrongType { .. }))
        ));
    }

    #[test]
    fn synic_registers_and_flags() {
        assert_eq!(page_enabled(0, 0x7000), 0x7001);
        assert_eq!(page_disabled(0x7001), 0);
        assert_eq!(sint_enabled(1 << 16, 0xf3, false), 0xf3);
        let relids: [Option<u32>; 3] = {
            let mut it = SetFlags::new(1, 0b101);
            [it.next(), it.next(), it.next()]
        };
        assert_eq!(relids, [Some(64), Some(66), None]);
    }
}

/// The GPADL planner (`proto::gpadl::GpadlMessages`) as the module runs it: how a buffer is
/// split into GPADL_HEADER and GPADL_BODY messages at the boundary sizes, the largest GPADL
/// and one page more. `cargo test` runs the same cases on the host.
#[kunit_tests(rhv_vmbus_gpadl_plan)]
mod gpadl_plan {
    use crate::proto::gpadl::*;
    use crate::proto::vmbus::*;
    use kernel::prelude::*;

    /// Runs the plan over `pages` PFNs and checks each message; returns the message count,
    /// or `EINVAL` naming nothing if a message was wrong (the caller asserts on it).
    fn replay(pages: usize) -> Result<usize> {
        let mut pfns = KVec::with_capacity(pages, GFP_KERNEL)?;
        for i in 0..pages as u64 {
            pfns.push(0x10_0000 + i, GFP_KERNEL)?;
        }
        let mut plan = GpadlMessages::new(9, 0xe1e10, &pfns).map_err(|_| EINVAL)?;
        let expected = plan.message_count();
        let mut m = KBox::new([0u8; MAX_MESSAGE_SIZE], GFP_KERNEL)?;
        let mut next_pfn = 0usize;
        let mut count = 0;
        while let Some(len) = plan.next_message(&mut m) {
            let msg = m.get(..len).ok_or(EINVAL)?;
            let rest = if count == 0 {
                let (h, rest) = parse::<GpadlHeader>(msg).map_err(|_| EINVAL)?;
                let ok = { h.header.msgtype } == MessageType::GpadlHeader as u32
                    && { h.child_relid } == 9
                    && { h.gpadl } == 0xe1e10
                    && { h.rangecount } == 1
                    && usize::from(h.range_buflen) == 8 + 8 * pages
                    && rest.len() >= 8
                    && rest[..4] == ((pages * 4096) as u32).to_le_bytes()
                    && rest[4..8] == [0; 4];
                if !ok {
                    return Err(EINVAL);
                }
                &rest[8..]
            } else {
                let (b, rest) = parse::<GpadlBody>(msg).map_err(|_| EINVAL)?;
                if { b.header.msgtype } != MessageType::GpadlBody as u32
                    || { b.gpadl } != 0xe1e10
                    || rest.is_empty()
                {
                    return Err(EINVAL);
                }
                rest
            };
            if rest.len() % 8 != 0 {
                return Err(EINVAL);
            }
            for c in rest.chunks(8) {
                let mut word = [0u8; 8];
                for (d, s) in word.iter_mut().zip(c) {
                    *d = *s;
                }
                if pfns.get(next_pfn) != Some(&u64::from_le_bytes(word)) {
                    return Err(EINVAL);
                }
                next_pfn += 1;
            }
            count += 1;
            if count > expected {
                return Err(EINVAL);
            }
        }
        if count != expected || next_pfn != pages || plan.next_message(&mut m).is_some() {
            return Err(EINVAL);
        }
        Ok(count)
    }

    #[test]
    fn boundaries() {
        assert_eq!(GPADL_HEADER_MAX_PFNS, 26);
        assert_eq!(GPADL_BODY_MAX_PFNS, 28);
        assert_eq!(replay(1), Ok(1));
        assert_eq!(replay(26), Ok(1));
        assert_eq!(replay(27), Ok(2));
        assert_eq!(replay(26 + 28), Ok(2));
        assert_eq!(replay(26 + 28 + 1), Ok(3));
        assert_eq!(replay(514), Ok(1 + (514 - 26usize).div_ceil(28)));
    }

    #[test]
    fn largest_and_too_large() {
        assert_eq!(
            replay(MAX_GPADL_PAGES),
            Ok(1 + (MAX_GPADL_PAGES - 26).div_ceil(28))
        );
        assert!(8 + 8 * MAX_GPADL_PAGES <= usize::from(u16::MAX));
        assert!(8 + 8 * (MAX_GPADL_PAGES + 1) > usize::from(u16::MAX));
        assert!(matches!(
            GpadlMessages::new(1, 2, &[]),
            Err(GpadlPlanError::Empty)
        ));
        let too_many = KVec::from_elem(0u64, MAX_GPADL_PAGES + 1, GFP_KERNEL);
        assert!(too_many.is_ok());
        if let Ok(v) = too_many {
            assert!(matches!(
                GpadlMessages::new(1, 2, &v),
                Err(GpadlPlanError::TooLarge(n)) if n == MAX_GPADL_PAGES + 1
            ));
        }
    }
}
