// SPDX-License-Identifier: GPL-2.0
//! Codec tests of `rhv_proto::rndis`, malformed input included.

use rhv_proto::rndis::*;
use zerocopy::IntoBytes;

fn message(ty: MessageType, body: &[u8]) -> [u8; 128] {
    let mut out = [0u8; 128];
    let h = MessageHeader::new(ty, body.len());
    out[..8].copy_from_slice(h.as_bytes());
    out[8..8 + body.len()].copy_from_slice(body);
    out
}

#[test]
fn message_types_round_trip_and_unknown_ones_are_refused() {
    for v in [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        0x8000_0002,
        0x8000_0004,
        0x8000_0005,
    ] {
        assert_eq!(MessageType::try_from(v).unwrap() as u32, v);
    }
    for v in [0, 9, 0x8000_0001, 0xff00_0001, u32::MAX] {
        assert_eq!(MessageType::try_from(v), Err(RndisError::UnknownType(v)));
    }
}

#[test]
fn split_walks_a_batch_and_checks_lengths() {
    let mut buf = [0u8; 64];
    buf[..8].copy_from_slice(MessageHeader::new(MessageType::Keepalive, 4).as_bytes());
    buf[8..12].copy_from_slice(&7u32.to_le_bytes());
    buf[12..20].copy_from_slice(MessageHeader::new(MessageType::Halt, 4).as_bytes());
    let (m, rest) = Message::split(&buf[..24]).unwrap();
    assert_eq!(m.kind(), Ok(MessageType::Keepalive));
    assert_eq!({ m.fixed::<KeepaliveRequest>().unwrap().request_id }, 7);
    let (m, rest) = Message::split(rest).unwrap();
    assert_eq!(m.kind(), Ok(MessageType::Halt));
    assert!(rest.is_empty());
    // Too short for a header, a length below the header, a length past the buffer.
    assert!(matches!(
        Message::split(&buf[..7]),
        Err(RndisError::TooShort { .. })
    ));
    buf[4..8].copy_from_slice(&4u32.to_le_bytes());
    assert!(matches!(
        Message::split(&buf),
        Err(RndisError::BadLength { msg_len: 4, .. })
    ));
    buf[4..8].copy_from_slice(&65u32.to_le_bytes());
    assert!(matches!(
        Message::split(&buf),
        Err(RndisError::BadLength { msg_len: 65, .. })
    ));
    buf[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Message::split(&buf).is_err());
    // A message too short for its fixed body.
    buf[4..8].copy_from_slice(&10u32.to_le_bytes());
    let (m, _) = Message::split(&buf).unwrap();
    assert!(matches!(
        m.fixed::<KeepaliveRequest>(),
        Err(RndisError::TooShort { .. })
    ));
}

#[test]
fn oid_requests_find_their_buffer() {
    let mut body = [0u8; 24];
    let r = OidRequest {
        request_id: 3,
        oid: 0x0001_010e,
        info_buffer_length: 4,
        info_buffer_offset: 20,
        device_vc_handle: 0,
    };
    body[..20].copy_from_slice(r.as_bytes());
    body[20..].copy_from_slice(&0xbu32.to_le_bytes());
    let raw = message(MessageType::Set, &body);
    let (m, _) = Message::split(&raw).unwrap();
    let (got, info) = m.oid_request().unwrap();
    assert_eq!(got, r);
    assert_eq!(info, &0xbu32.to_le_bytes());
    // Offsets into the fixed part, past the end, and overflowing.
    for (offset, len) in [(16, 4), (21, 4), (20, 5), (u32::MAX, 2), (20, u32::MAX)] {
        let mut bad = r;
        bad.info_buffer_offset = offset;
        bad.info_buffer_length = len;
        body[..20].copy_from_slice(bad.as_bytes());
        let raw = message(MessageType::Set, &body);
        let (m, _) = Message::split(&raw[..32]).unwrap();
        assert!(
            matches!(m.oid_request(), Err(RndisError::BadOffset { .. })),
            "{offset} {len}"
        );
    }
    // An empty buffer may have any offset.
    let mut empty = r;
    empty.info_buffer_length = 0;
    empty.info_buffer_offset = 0;
    let raw = message(MessageType::Query, empty.as_bytes());
    let (m, _) = Message::split(&raw[..28]).unwrap();
    assert_eq!(m.oid_request().unwrap().1, &[] as &[u8]);
}

/// A data message as Linux's netvsc_xmit() builds it: hash PPI then the frame.
fn data_message(frame: &[u8], hash: u32) -> [u8; 128] {
    let ppi = PerPacketInfo::new(PPI_HASH_VALUE, 4);
    let mut body = [0u8; 100];
    let p = Packet::new(frame.len() as u32, 16);
    body[..36].copy_from_slice(p.as_bytes());
    body[36..48].copy_from_slice(ppi.as_bytes());
    body[48..52].copy_from_slice(&hash.to_le_bytes());
    body[52..52 + frame.len()].copy_from_slice(frame);
    message(MessageType::Packet, &body[..52 + frame.len()])
}

#[test]
fn packets_expose_frame_and_ppis() {
    let raw = data_message(b"0123456789abcdef", 0x1234_5678);
    let (m, _) = Message::split(&raw).unwrap();
    let p = m.packet().unwrap();
    assert_eq!(p.data, b"0123456789abcdef");
    assert_eq!(p.ppi_u32(PPI_HASH_VALUE), Some(0x1234_5678));
    assert_eq!(p.ppi_u32(PPI_TCPIP_CHECKSUM), None);
    assert_eq!(p.ppis().count(), 1);
}

#[test]
fn malformed_packets_and_ppis_are_errors() {
    let mut raw = data_message(b"frame", 1);
    // data_length past msg_len.
    raw[12..16].copy_from_slice(&1000u32.to_le_bytes());
    let (m, _) = Message::split(&raw).unwrap();
    assert!(matches!(m.packet(), Err(RndisError::BadOffset { .. })));
    // data_offset into the fixed body.
    let mut raw = data_message(b"frame", 1);
    raw[8..12].copy_from_slice(&8u32.to_le_bytes());
    let (m, _) = Message::split(&raw).unwrap();
    assert!(matches!(m.packet(), Err(RndisError::BadOffset { .. })));
    // PPI size larger than the PPI area, size below the PPI header, offset past size.
    for (field, value) in [(44, 17u32), (44, 11), (52, 17), (52, 4)] {
        let mut raw = data_message(b"frame", 1);
        raw[field..field + 4].copy_from_slice(&value.to_le_bytes());
        let (m, _) = Message::split(&raw).unwrap();
        let p = m.packet().unwrap();
        let mut it = p.ppis();
        assert_eq!(it.next(), Some(Err(RndisError::BadPerPacketInfo)));
        assert_eq!(it.next(), None);
        assert_eq!(p.ppi_u32(PPI_HASH_VALUE), None);
    }
    // A PPI shorter than the 4 bytes asked for is not a value.
    let mut raw = data_message(b"frame", 1);
    raw[44..48].copy_from_slice(&14u32.to_le_bytes());
    let (m, _) = Message::split(&raw).unwrap();
    assert_eq!(m.packet().unwrap().ppi_u32(PPI_HASH_VALUE), None);
}

#[test]
fn builders_fill_lengths_and_offsets() {
    let p = Packet::new(1514, 32);
    assert_eq!(({ p.data_offset }, { p.per_packet_info_offset }), (68, 36));
    let p = Packet::new(60, 0);
    assert_eq!(({ p.data_offset }, { p.per_packet_info_offset }), (36, 0));
    let h = MessageHeader::new(MessageType::QueryComplete, 16 + 6);
    assert_eq!(({ h.msg_type }, { h.msg_len }), (0x8000_0004, 30));
    let ppi = PerPacketInfo::new(PPI_TCPIP_CHECKSUM, 4);
    assert_eq!(({ ppi.size }, { ppi.ppi_offset }), (16, 12));
}
