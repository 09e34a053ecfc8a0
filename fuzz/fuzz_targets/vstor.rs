// SPDX-License-Identifier: GPL-2.0
//! VSTOR packets (`proto::vstor`) at every protocol version: the parser hvsim's storvsp runs
//! on guest packets, and the body views both sides use on a parsed packet (the SRB of a
//! completion, the version, the channel properties, the sub-channel count).
//!
//! Invariants: a packet is accepted only with a known operation and the bytes that
//! operation needs at that version; the accepted packet is the input zero-padded to 64
//! bytes, except that an SRB keeps only its version's bytes and is valid (SRB length, CDB
//! length 1..16, direction); the body setters and getters round-trip.
//!
//! Input: a version selector byte (or a raw version, u16, after it), then the packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::vstor::*;
use rhv_proto_fuzz::Input;
use zerocopy::IntoBytes;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let selector = input.u8();
    let raw_version = input.u16();
    let version = ALL_VERSIONS
        .get(usize::from(selector))
        .copied()
        .unwrap_or(raw_version);
    let bytes = input.rest();

    let packet = match parse_packet(bytes, version) {
        Ok(p) => p,
        Err(VstorError::TooShort { needed, got }) => {
            return assert!(got < needed && got == bytes.len());
        }
        Err(VstorError::UnknownOperation(op)) => {
            return assert!(op == 0 || op > 13);
        }
        Err(VstorError::BadSrbLength(l)) => {
            return assert!(!(36..=52).contains(&l));
        }
        Err(VstorError::BadCdbLength(l)) => return assert!(l == 0 || l > 16),
        Err(VstorError::BadDataDirection(d)) => return assert!(d > 2),
    };
    let op = packet.operation().expect("accepted an unknown operation");
    assert!(bytes.len() >= required_len(op, version));
    let n = bytes.len().min(64);
    let srb_end = 12 + srb_size(version);
    if op == Operation::ExecuteSrb {
        let srb = packet.srb();
        srb.validate().unwrap();
        let cmd = srb.command().unwrap();
        assert!(!cmd.is_empty() && cmd.len() <= CDB_MAX_LEN);
        assert_eq!(packet.as_bytes()[..srb_end.min(n)], bytes[..srb_end.min(n)]);
        assert!(packet.as_bytes()[srb_end..].iter().all(|&b| b == 0));
    } else {
        assert_eq!(packet.as_bytes()[..n], bytes[..n]);
        assert!(packet.as_bytes()[n..].iter().all(|&b| b == 0));
    }
    assert_eq!(packet.bytes_for(version).len(), packet_size(version));
    assert_eq!(srb_status_code(packet.srb().srb_status) & 0xc0, 0);
    assert!(sense_buffer_size(version) <= SRB_CDB_AREA_SIZE);

    // Body views round-trip through their setters.
    let mut p = packet;
    let srb = p.srb();
    p.set_srb(&srb);
    assert_eq!(p.srb(), srb);
    let v = p.version();
    p.set_version(&v);
    assert_eq!(p.version(), v);
    let props = packet.properties();
    p.set_properties(&props);
    assert_eq!(p.properties(), props);
    let count = packet.sub_channel_count();
    p.set_sub_channel_count(count);
    assert_eq!(p.sub_channel_count(), count);
    assert_eq!(p.body[2..], [0u8; BODY_SIZE - 2]);
});
