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
