// SPDX-License-Identifier: GPL-2.0
//! Codec tests of `rhv_proto::nvsp`, malformed input included.

use rhv_proto::nvsp::*;
use zerocopy::IntoBytes;

#[test]
fn message_types_round_trip_and_unknown_ones_are_refused() {
    for v in [
        1, 2, 100, 101, 102, 103, 104, 105, 106, 107, 108, 125, 128, 129, 133, 134,
    ] {
        assert_eq!(MessageType::try_from(v).unwrap() as u32, v);
    }
    for v in [0, 3, 99, 109, 120, 135, 136, u32::MAX] {
        assert_eq!(MessageType::try_from(v), Err(ParseError::UnknownType(v)));
    }
}

#[test]
fn versions_are_newest_first() {
    assert!(ALL_VERSIONS.windows(2).all(|w| w[0] > w[1]));
    assert_eq!(ALL_VERSIONS[0], 0x60001);
}

#[test]
fn encode_pads_to_the_c_size_and_parses_back() {
    let m = encode(&Init {
        min_protocol_version: VERSION_5,
        max_protocol_version: VERSION_61,
    });
    assert_eq!(m.len(), 40);
    assert_eq!(&m[..4], &1u32.to_le_bytes());
    assert_eq!(
        GuestMessage::parse(&m),
        Ok(GuestMessage::Init(Init {
            min_protocol_version: VERSION_5,
            max_protocol_version: VERSION_61,
        }))
    );
    // What Linux sends for a receive buffer: handle, then the 0xcafe id.
    let mut raw = [0u8; 40];
    raw[..4].copy_from_slice(&101u32.to_le_bytes());
    raw[4..8].copy_from_slice(&0xe1e10u32.to_le_bytes());
    raw[8..10].copy_from_slice(&0xcafeu16.to_le_bytes());
    match GuestMessage::parse(&raw) {
        Ok(GuestMessage::SendReceiveBuffer(b)) => {
            assert_eq!(({ b.gpadl_handle }, { b.id }), (0xe1e10, 0xcafe));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn short_and_unknown_messages_are_errors() {
    assert_eq!(
        GuestMessage::parse(&[]),
        Err(ParseError::TooShort { needed: 4, got: 0 })
    );
    assert_eq!(
        GuestMessage::parse(&[1, 0, 0]),
        Err(ParseError::TooShort { needed: 4, got: 3 })
    );
    // INIT with half a body.
    let mut m = [0u8; 8];
    m[0] = 1;
    assert_eq!(
        GuestMessage::parse(&m),
        Err(ParseError::TooShort { needed: 12, got: 8 })
    );
    assert_eq!(
        GuestMessage::parse(&999u32.to_le_bytes()),
        Err(ParseError::UnknownType(999))
    );
    // A host-only message from the guest.
    let m = encode(&InitComplete::default());
    assert_eq!(
        GuestMessage::parse(&m),
        Err(ParseError::UnexpectedType(MessageType::InitComplete))
    );
    let m = encode(&Init::default());
    assert_eq!(
        HostMessage::parse(&m),
        Err(ParseError::UnexpectedType(MessageType::Init))
    );
}

#[test]
fn indirection_table_round_trips_and_bad_offsets_are_refused() {
    let mut t = [0u32; SEND_INDIRECTION_TABLE_SIZE];
    for (i, e) in t.iter_mut().enumerate() {
        *e = i as u32 % 3;
    }
    let m = IndirectionTableMessage::new(t);
    assert_eq!(
        HostMessage::parse(m.as_bytes()),
        Ok(HostMessage::SendIndirectionTable(t))
    );
    let mut bad = m;
    bad.header.offset = 50;
    assert_eq!(
        HostMessage::parse(bad.as_bytes()),
        Err(ParseError::BadTable)
    );
    bad.header.offset = u32::MAX;
    assert_eq!(
        HostMessage::parse(bad.as_bytes()),
        Err(ParseError::BadTable)
    );
    let mut bad = m;
    bad.header.count = 17;
    assert_eq!(
        HostMessage::parse(bad.as_bytes()),
        Err(ParseError::BadTable)
    );
    assert_eq!(
        HostMessage::parse(&m.as_bytes()[..60]),
        Err(ParseError::BadTable)
    );
}

#[test]
fn completions_carry_their_bodies() {
    let c = SendReceiveBufferComplete {
        status: STATUS_SUCCESS,
        num_sections: 1,
        section: ReceiveBufferSection {
            offset: 0,
            sub_allocation_size: 1728,
            num_sub_allocations: 100,
            end_offset: 172800,
        },
    };
    assert_eq!(
        HostMessage::parse(&encode(&c)),
        Ok(HostMessage::SendReceiveBufferComplete(c))
    );
    let s = SubchannelComplete {
        status: STATUS_SUCCESS,
        num_subchannels: 3,
    };
    assert_eq!(
        HostMessage::parse(&encode(&s)),
        Ok(HostMessage::SubchannelComplete(s))
    );
    // The guest's receive completion is 8 bytes, not padded.
    let mut rc = [0u8; 8];
    rc[..4].copy_from_slice(&108u32.to_le_bytes());
    rc[4..].copy_from_slice(&STATUS_SUCCESS.to_le_bytes());
    assert_eq!(
        GuestMessage::parse(&rc),
        Ok(GuestMessage::SendRndisPacketComplete(
            SendRndisPacketComplete {
                status: STATUS_SUCCESS
            }
        ))
    );
}
