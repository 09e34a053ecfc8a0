// SPDX-License-Identifier: GPL-2.0
//! RNDIS messages (`proto::rndis`) as the guest's netvsc receives them from the host's
//! receive buffer (several batched in one transfer-page range), and the data messages it
//! builds for the host.
//!
//! Invariants: splitting a batch consumes it exactly, message by message, each within its
//! own `msg_len`; every buffer a message names (OID information buffer, frame, per-packet
//! info, each PPI value) lies inside that message's body and past its fixed part; the PPI
//! walk ends; `ppi_u32` is the first matching element's value; a data message built from a
//! frame and PPIs parses back to the same frame and PPIs.
//!
//! Input: a batch of RNDIS messages; the same bytes also seed the data message built.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::rndis::*;
use rhv_proto_fuzz::{assert_at, assert_inside};
use zerocopy::IntoBytes;

fn check_packet(view: &PacketView<'_>, body: &[u8]) {
    for part in [view.data, view.per_packet_info] {
        if !part.is_empty() {
            assert!(assert_inside(part, body).start >= core::mem::size_of::<Packet>());
        }
    }
    // Elements follow each other: each value starts past the end of the one before and
    // its 12-byte header.
    let mut prev_end = 0;
    let mut ppis = Vec::new();
    for ppi in view.ppis() {
        match ppi {
            Ok(p) => {
                if !p.value.is_empty() {
                    let r = assert_inside(p.value, view.per_packet_info);
                    assert!(r.start >= prev_end + 12, "PPI values overlap");
                    prev_end = r.end;
                }
                assert_eq!(p.kind & PerPacketInfo::INTERNAL, 0);
                ppis.push(p);
            }
            Err(e) => {
                assert_eq!(e, RndisError::BadPerPacketInfo);
                break;
            }
        }
        assert!(ppis.len() <= view.per_packet_info.len() / 12);
    }
    for kind in [PPI_TCPIP_CHECKSUM, PPI_HASH_VALUE, PPI_IEEE_8021Q] {
        let expected = ppis
            .iter()
            .find(|p| !p.internal && p.kind == kind)
            .and_then(|p| p.value.get(..4))
            .map(|v| u32::from_le_bytes(v.try_into().unwrap()));
        assert_eq!(view.ppi_u32(kind), expected);
    }
}

/// A data message with `frame` and the PPIs `(kind, value)`, as the guest sends one.
fn build(frame: &[u8], ppis: &[(u32, &[u8])]) -> Vec<u8> {
    let ppi_len: usize = ppis.iter().map(|(_, v)| 12 + v.len()).sum();
    let body = Packet::new(frame.len() as u32, ppi_len as u32);
    let mut out = MessageHeader::new(MessageType::Packet, 36 + ppi_len + frame.len())
        .as_bytes()
        .to_vec();
    out.extend_from_slice(body.as_bytes());
    for (kind, value) in ppis {
        out.extend_from_slice(PerPacketInfo::new(*kind, value.len() as u32).as_bytes());
        out.extend_from_slice(value);
    }
    out.extend_from_slice(frame);
    out
}

fuzz_target!(|bytes: &[u8]| {
    let mut rest = bytes;
    let mut count = 0;
    while !rest.is_empty() {
        let (m, after) = match Message::split(rest) {
            Ok(x) => x,
            Err(RndisError::TooShort { needed, got }) => {
                assert!(needed == HEADER_SIZE && got < needed && got == rest.len());
                break;
            }
            Err(RndisError::BadLength { msg_len, available }) => {
                assert_eq!(available, rest.len());
                assert!((msg_len as usize) < HEADER_SIZE || msg_len as usize > available);
                break;
            }
            Err(e) => panic!("split returned {e:?}"),
        };
        let len = rest.len() - after.len();
        assert_eq!(
            u32::from_le_bytes(rest[4..8].try_into().unwrap()) as usize,
            len
        );
        assert_at(m.body, rest, HEADER_SIZE..len);
        assert_at(after, rest, len..rest.len());
        if let Ok(k) = m.kind() {
            assert_eq!(k as u32, m.msg_type);
        }
        if let Ok((req, info)) = m.oid_request() {
            if !info.is_empty() {
                let r = assert_inside(info, m.body);
                assert!(r.start >= 20 && r.start == req.info_buffer_offset as usize);
                assert_eq!(info.len(), req.info_buffer_length as usize);
            }
        }
        if let Ok(view) = m.packet() {
            check_packet(&view, m.body);
        }
        let _ = m.fixed::<IndicateStatus>();
        let _ = m.fixed::<InitializeComplete>();
        let _ = m.fixed::<QueryComplete>();
        rest = after;
        count += 1;
        assert!(count <= bytes.len() / HEADER_SIZE);
    }

    // Round trip of a data message built from the input.
    let Some((&cut, tail)) = bytes.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(tail.len());
    let (ppi_src, frame) = tail.split_at(cut);
    let mut ppis = Vec::new();
    let mut src = ppi_src;
    while let Some((&k, t)) = src.split_first() {
        let n = usize::from(k >> 4).min(t.len());
        // Low nibble: the type; bit 7: internal.
        ppis.push((u32::from(k & 0x0f) | u32::from(k & 0x80) << 24, &t[..n]));
        src = &t[n..];
    }
    let msg = build(frame, &ppis);
    let (m, after) = Message::split(&msg).unwrap();
    assert!(after.is_empty());
    assert_eq!(m.kind(), Ok(MessageType::Packet));
    let view = m.packet().unwrap();
    assert_eq!(view.data, frame);
    let back: Vec<(u32, &[u8])> = view
        .ppis()
        .map(|p| {
            let p = p.unwrap();
            (
                p.kind
                    | if p.internal {
                        PerPacketInfo::INTERNAL
                    } else {
                        0
                    },
                p.value,
            )
        })
        .collect();
    assert_eq!(back, ppis);
    check_packet(&view, m.body);
});
