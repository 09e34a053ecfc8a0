// SPDX-License-Identifier: GPL-2.0
//! KUnit suites: the NVSP and RNDIS codecs as compiled into this module, with what a hostile
//! host may send (short messages, unknown types, lengths and offsets out of bounds), and the
//! send-section bookkeeping that must never trust a completion id.

use kernel::prelude::*;

#[kunit_tests(rhv_netvsc_nvsp)]
mod nvsp_codec {
    use crate::proto::nvsp::{self, HostMessage, ParseError};
    use zerocopy::IntoBytes;

    #[test]
    fn init_is_padded_and_typed() {
        let m = nvsp::encode(&nvsp::Init {
            min_protocol_version: nvsp::VERSION_61,
            max_protocol_version: nvsp::VERSION_61,
        });
        assert_eq!(m.len(), nvsp::MESSAGE_SIZE);
        assert_eq!(nvsp::message_type(&m), Ok(nvsp::MessageType::Init));
        assert_eq!(&m[4..8], &nvsp::VERSION_61.to_le_bytes());
    }

    #[test]
    fn init_complete_parses() {
        let m = nvsp::encode(&nvsp::InitComplete {
            negotiated_protocol_version: nvsp::VERSION_6,
            max_mdl_chain_length: 34,
            status: nvsp::STATUS_SUCCESS,
        });
        match HostMessage::parse(&m) {
            Ok(HostMessage::InitComplete(c)) => {
                assert_eq!({ c.negotiated_protocol_version }, nvsp::VERSION_6);
                assert_eq!({ c.status }, nvsp::STATUS_SUCCESS);
            }
            _ => panic!("INIT_COMPLETE not parsed"),
        }
    }

    #[test]
    fn hostile_messages_are_rejected() {
        assert!(matches!(
            HostMessage::parse(&[2, 0]),
            Err(ParseError::TooShort { .. })
        ));
        assert_eq!(
            HostMessage::parse(&[0xff, 0, 0, 0, 0, 0, 0, 0]),
            Err(ParseError::UnknownType(0xff))
        );
        // A guest-only message from the host.
        let m = nvsp::encode(&nvsp::Init::default());
        assert!(matches!(
            HostMessage::parse(&m),
            Err(ParseError::UnexpectedType(_))
        ));
        // SEND_RECV_BUF_COMPLETE cut short.
        let m = nvsp::encode(&nvsp::SendReceiveBufferComplete::default());
        assert!(HostMessage::parse(&m[..12]).is_err());
    }

    #[test]
    fn indirection_table_bounds() {
        let mut table = [0u32; nvsp::SEND_INDIRECTION_TABLE_SIZE];
        table[3] = 1;
        let msg = nvsp::IndirectionTableMessage::new(table);
        let bytes = msg.as_bytes();
        assert_eq!(
            HostMessage::parse(bytes),
            Ok(HostMessage::SendIndirectionTable(table))
        );
        // The table's offset points past the message.
        let mut bad = nvsp::IndirectionTableMessage::new(table);
        bad.header.offset = 100;
        assert_eq!(
            HostMessage::parse(bad.as_bytes()),
            Err(ParseError::BadTable)
        );
        // A count other than 16.
        let mut bad = nvsp::IndirectionTableMessage::new(table);
        bad.header.count = 1000;
        assert_eq!(
            HostMessage::parse(bad.as_bytes()),
            Err(ParseError::BadTable)
        );
    }
}

#[kunit_tests(rhv_netvsc_rndis)]
mod rndis_codec {
    use crate::proto::rndis::{self, Message, MessageHeader, MessageType, RndisError};
    use kernel::prelude::*;
    use zerocopy::IntoBytes;

    /// A data message carrying `frame`, with a hash per-packet info.
    fn data_message(frame: &[u8]) -> KVec<u8> {
        let ppi = rndis::PerPacketInfo::new(rndis::PPI_HASH_VALUE, 4);
        let body = core::mem::size_of::<rndis::Packet>() + 16 + frame.len();
        let mut m = KVec::new();
        let h = MessageHeader::new(MessageType::Packet, body);
        m.extend_from_slice(h.as_bytes(), GFP_KERNEL).unwrap();
        let p = rndis::Packet::new(frame.len() as u32, 16);
        m.extend_from_slice(p.as_bytes(), GFP_KERNEL).unwrap();
        m.extend_from_slice(ppi.as_bytes(), GFP_KERNEL).unwrap();
        m.extend_from_slice(&0x1234u32.to_le_bytes(), GFP_KERNEL)
            .unwrap();
        m.extend_from_slice(frame, GFP_KERNEL).unwrap();
        m
    }

    #[test]
    fn data_message_parses() {
        let m = data_message(b"0123456789abcdef");
        let (msg, rest) = Message::split(&m).unwrap();
        assert!(rest.is_empty());
        assert_eq!(msg.kind(), Ok(MessageType::Packet));
        let p = msg.packet().unwrap();
        assert_eq!(p.data, b"0123456789abcdef");
        assert_eq!(p.ppi_u32(rndis::PPI_HASH_VALUE), Some(0x1234));
    }

    #[test]
    fn lengths_beyond_the_range_are_rejected() {
        let mut m = data_message(b"0123456789abcdef");
        // msg_len larger than the bytes the range holds.
        m[4..8].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(
            Message::split(&m),
            Err(RndisError::BadLength { .. })
        ));
        // msg_len smaller than a header.
        m[4..8].copy_from_slice(&4u32.to_le_bytes());
        assert!(matches!(
            Message::split(&m),
            Err(RndisError::BadLength { .. })
        ));
        assert!(Message::split(&m[..5]).is_err());
    }

    #[test]
    fn data_offsets_outside_the_message_are_rejected() {
        let mut m = data_message(b"0123456789abcdef");
        // data_offset far past the message.
        m[8..12].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
        let (msg, _) = Message::split(&m).unwrap();
        assert!(matches!(msg.packet(), Err(RndisError::BadOffset { .. })));
        // data_offset into the fixed part.
        m[8..12].copy_from_slice(&4u32.to_le_bytes());
        let (msg, _) = Message::split(&m).unwrap();
        assert!(matches!(msg.packet(), Err(RndisError::BadOffset { .. })));
        // data_length overflowing.
        let mut m = data_message(b"0123456789abcdef");
        m[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        let (msg, _) = Message::split(&m).unwrap();
        assert!(msg.packet().is_err());
    }

    #[test]
    fn malformed_per_packet_info_ends_the_walk() {
        let mut m = data_message(b"0123456789abcdef");
        // The element's size is smaller than its header.
        let ppi_at = 8 + core::mem::size_of::<rndis::Packet>();
        m[ppi_at..ppi_at + 4].copy_from_slice(&2u32.to_le_bytes());
        let (msg, _) = Message::split(&m).unwrap();
        let p = msg.packet().unwrap();
        assert_eq!(p.ppi_u32(rndis::PPI_HASH_VALUE), None);
        assert!(matches!(
            p.ppis().next(),
            Some(Err(RndisError::BadPerPacketInfo))
        ));
    }

    #[test]
    fn query_complete_bounds() {
        let c = rndis::QueryComplete {
            request_id: 7,
            status: rndis::STATUS_SUCCESS,
            info_buffer_length: 6,
            info_buffer_offset: 16,
        };
        let mut m = KVec::new();
        m.extend_from_slice(
            MessageHeader::new(MessageType::QueryComplete, 22).as_bytes(),
            GFP_KERNEL,
        )
        .unwrap();
        m.extend_from_slice(c.as_bytes(), GFP_KERNEL).unwrap();
        m.extend_from_slice(&[0, 0x15, 0x5d, 0, 0, 1], GFP_KERNEL)
            .unwrap();
        let (msg, _) = Message::split(&m).unwrap();
        let q: rndis::QueryComplete = msg.fixed().unwrap();
        assert_eq!({ q.request_id }, 7);
        assert_eq!(msg.kind(), Ok(MessageType::QueryComplete));
        // Status indications are too short to read from an 8-byte body.
        let short = [7u8, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0];
        let (msg, _) = Message::split(&short).unwrap();
        assert!(msg.fixed::<rndis::IndicateStatus>().is_err());
    }
}

#[kunit_tests(rhv_netvsc_sections)]
mod sections {
    use crate::sections::{Lease, Sections};

    #[test]
    fn completions_must_match_a_section_in_use() {
        let mut s = Sections::new(6144, 4).unwrap();
        assert_eq!(s.count(), 4);
        let a = s.take(0).unwrap();
        let b = s.take(1).unwrap();
        assert_ne!(a.index, b.index);
        assert_eq!(s.free_count(), 2);
        // Wrong queue, index out of range, not in use: refused.
        assert!(s.release(a, 1).is_none());
        let far = |index| Lease {
            index,
            generation: 0,
        };
        assert!(s.release(far(99), 0).is_none());
        assert!(s.release(far(u32::MAX), 0).is_none());
        assert!(s.release(a, 0).is_some());
        // Completed twice: refused the second time.
        assert!(s.release(a, 0).is_none());
        assert_eq!(s.free_count(), 3);
        let _ = s.take(2);
        let _ = s.take(2);
        let _ = s.take(2);
        assert!(s.take(2).is_none());
    }

    #[test]
    fn a_late_completion_cannot_free_the_next_use_of_its_section() {
        let mut s = Sections::new(6144, 1).unwrap();
        let first = s.take(0).unwrap();
        assert!(s.release(first, 0).is_some());
        let second = s.take(0).unwrap();
        assert_eq!(second.index, first.index);
        assert_ne!(second.generation, first.generation);
        // The host repeats the first completion: the second use stays in use.
        assert!(s.release(first, 0).is_none());
        assert_eq!(s.free_count(), 0);
        assert!(s.release(second, 0).is_some());
    }
}

#[kunit_tests(rhv_netvsc_transfer)]
mod transfer_checks {
    use crate::sections::Lease;
    use crate::transfer::{self, TransId, TransferError, MAX_RANGES};

    /// A transfer-page header for set `id` claiming `count` ranges, with `present` of them.
    fn header(id: u16, count: u32, present: usize) -> [u8; 8 + 8 * 4] {
        let mut h = [0u8; 8 + 8 * 4];
        h[..2].copy_from_slice(&id.to_le_bytes());
        h[4..8].copy_from_slice(&count.to_le_bytes());
        for i in 0..present.min(4) {
            let at = 8 + 8 * i;
            h[at..at + 4].copy_from_slice(&1514u32.to_le_bytes());
            h[at + 4..at + 8].copy_from_slice(&(1728 * i as u32).to_le_bytes());
        }
        h
    }

    #[test]
    fn transfer_header_is_checked() {
        let h = header(0xcafe, 2, 2);
        assert_eq!(transfer::ranges(&h, 0xcafe).map(|r| r.len()), Ok(16));
        assert_eq!(transfer::ranges(&h[..5], 0xcafe), Err(TransferError::Short));
        assert_eq!(
            transfer::ranges(&header(1, 2, 2), 0xcafe),
            Err(TransferError::SetId(1))
        );
        assert_eq!(
            transfer::ranges(&header(0xcafe, 0, 0), 0xcafe),
            Err(TransferError::Count(0))
        );
        // More ranges claimed than the header holds, or than allowed at all.
        assert_eq!(
            transfer::ranges(&header(0xcafe, 5, 4), 0xcafe),
            Err(TransferError::Count(5))
        );
        let huge = (MAX_RANGES + 1) as u32;
        assert_eq!(
            transfer::ranges(&header(0xcafe, huge, 4), 0xcafe),
            Err(TransferError::Count(huge as usize))
        );
        assert!(transfer::ranges(&header(0xcafe, u32::MAX, 4), 0xcafe).is_err());
    }

    #[test]
    fn receive_ranges_stay_in_the_buffer() {
        let buf = 4 << 20;
        assert!(transfer::range_ok(0, 1514, buf, 1728));
        assert!(transfer::range_ok((buf - 1728) as u32, 1728, buf, 1728));
        // Past the end, wrapping, empty, longer than a section, misaligned.
        assert!(!transfer::range_ok(buf as u32, 8, buf, 1728));
        assert!(!transfer::range_ok((buf - 8) as u32, 16, buf, 1728));
        assert!(!transfer::range_ok(u32::MAX - 7, 16, buf, 1728));
        assert!(!transfer::range_ok(0, 0, buf, 1728));
        assert!(!transfer::range_ok(0, 1729, buf, 1728));
        assert!(!transfer::range_ok(4, 64, buf, 1728));
        // Before the host cut the buffer, the limit is zero: nothing is taken.
        assert!(!transfer::range_ok(0, 64, buf, 0));
    }

    #[test]
    fn completion_ids_are_decoded_strictly() {
        let lease = Lease {
            index: 41,
            generation: 0xbeef,
        };
        let id = transfer::data_trans_id(3, lease);
        assert_eq!(transfer::trans_id(id), TransId::Data { queue: 3, lease });
        assert_eq!(transfer::trans_id(0), TransId::Unknown);
        assert_eq!(transfer::trans_id(0x1234), TransId::Unknown);
        // Data bit with garbage in the reserved bits.
        assert_eq!(transfer::trans_id(id | 1 << 50), TransId::Unknown);
        assert_eq!(
            transfer::trans_id(1 << 63 | 7),
            TransId::Request(1 << 63 | 7)
        );
    }
}
