// SPDX-License-Identifier: GPL-2.0
//! NVSP messages (`proto::nvsp`): `HostMessage::parse`, which the guest's netvsc runs on
//! every host packet, and `GuestMessage::parse`, which hvsim's netvsp runs on the guest's.
//!
//! Invariants: the type word decides the variant; a parsed body re-encodes (with `encode`)
//! to the input's bytes; the send indirection table is the 16 words at the offset the
//! message names, and it is refused exactly when count or offset are wrong.
//!
//! Input: the message bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::nvsp::*;

/// `encode(body)` agrees with the input on the type word and the body's bytes.
fn round_trip<T: Body>(body: &T, bytes: &[u8]) {
    let n = 4 + core::mem::size_of::<T>();
    assert!(bytes.len() >= n);
    let again = encode(body);
    assert_eq!(again[..n], bytes[..n]);
    assert!(again[n..].iter().all(|&b| b == 0));
    assert_eq!(message_type(&again), Ok(T::TYPE));
}

fuzz_target!(|bytes: &[u8]| {
    let ty = message_type(bytes);
    if let Ok(t) = ty {
        assert_eq!(t as u32, u32::from_le_bytes(bytes[..4].try_into().unwrap()));
    }
    match HostMessage::parse(bytes) {
        Ok(m) => {
            let t = ty.unwrap();
            match m {
                HostMessage::InitComplete(b) => round_trip(&b, bytes),
                HostMessage::SendReceiveBufferComplete(b) => round_trip(&b, bytes),
                HostMessage::SendSendBufferComplete(b) => round_trip(&b, bytes),
                HostMessage::SendRndisPacket(b) => round_trip(&b, bytes),
                HostMessage::SendRndisPacketComplete(b) => round_trip(&b, bytes),
                HostMessage::SubchannelComplete(b) => round_trip(&b, bytes),
                HostMessage::SendVfAssociation(b) => round_trip(&b, bytes),
                HostMessage::SendIndirectionTable(table) => {
                    assert_eq!(t, MessageType::SendIndirectionTable);
                    let h: SendIndirectionTable = body(bytes).unwrap();
                    assert_eq!(h.count as usize, SEND_INDIRECTION_TABLE_SIZE);
                    let at = h.offset as usize;
                    let raw = &bytes[at..at + 4 * SEND_INDIRECTION_TABLE_SIZE];
                    for (i, w) in table.iter().enumerate() {
                        assert_eq!(w.to_le_bytes(), raw[4 * i..4 * i + 4]);
                    }
                    // The message hosts send is one of these.
                    if at == MESSAGE_SIZE && bytes.len() == 104 {
                        let whole = IndirectionTableMessage::new(table);
                        assert_eq!(zerocopy::IntoBytes::as_bytes(&whole)[..12], bytes[..12]);
                    }
                }
            }
        }
        Err(ParseError::BadTable) => {
            assert_eq!(ty, Ok(MessageType::SendIndirectionTable));
            let h: SendIndirectionTable = body(bytes).unwrap();
            let fits = (h.offset as usize)
                .checked_add(4 * SEND_INDIRECTION_TABLE_SIZE)
                .is_some_and(|end| end <= bytes.len());
            assert!(h.count as usize != SEND_INDIRECTION_TABLE_SIZE || !fits);
        }
        Err(ParseError::TooShort { needed, got }) => assert!(got < needed && got == bytes.len()),
        Err(ParseError::UnknownType(w)) => assert_eq!(ty, Err(ParseError::UnknownType(w))),
        Err(ParseError::UnexpectedType(t)) => assert_eq!(ty, Ok(t)),
    }
    match GuestMessage::parse(bytes) {
        Ok(m) => match m {
            GuestMessage::Init(b) => round_trip(&b, bytes),
            GuestMessage::SendNdisVersion(b) => round_trip(&b, bytes),
            GuestMessage::SendNdisConfig(b) => round_trip(&b, bytes),
            GuestMessage::SendReceiveBuffer(b) => round_trip(&b, bytes),
            GuestMessage::RevokeReceiveBuffer(b) => round_trip(&b, bytes),
            GuestMessage::SendSendBuffer(b) => round_trip(&b, bytes),
            GuestMessage::RevokeSendBuffer(b) => round_trip(&b, bytes),
            GuestMessage::SendRndisPacket(b) => round_trip(&b, bytes),
            GuestMessage::SendRndisPacketComplete(b) => round_trip(&b, bytes),
            GuestMessage::SwitchDataPath(b) => round_trip(&b, bytes),
            GuestMessage::SubchannelRequest(b) => round_trip(&b, bytes),
        },
        Err(ParseError::TooShort { needed, got }) => assert!(got < needed && got == bytes.len()),
        Err(ParseError::UnknownType(w)) => assert_eq!(ty, Err(ParseError::UnknownType(w))),
        Err(ParseError::UnexpectedType(t)) => assert_eq!(ty, Ok(t)),
        Err(ParseError::BadTable) => panic!("a guest message has no table"),
    }
});
