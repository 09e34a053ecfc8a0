// SPDX-License-Identifier: GPL-2.0
//! VERSION_RESPONSE as the guest interprets it for each version it proposes
//! (`proto::negotiate`), and the proposal order.
//!
//! Invariants: a refusal is exactly `version_supported == 0`; an acceptance has a
//! successful connection state and a non-zero 24-bit message connection id (connection 1
//! before 5.0), grants features only at 6.0+ from a 20-byte response, and those features are
//! the response's; proposals never exceed the cap and go newest first.
//!
//! Input: a version cap (u32), then the response bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::negotiate::*;
use rhv_proto::vmbus::{
    parse, VersionResponse, VERSION_WIN10_V5, VERSION_WIN10_V6_0, VMBUS_MESSAGE_CONNECTION_ID,
};
use rhv_proto_fuzz::Input;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let cap = input.u32();
    let bytes = input.rest();

    let proposed: Vec<u32> = versions_to_propose(cap).collect();
    assert!(proposed
        .iter()
        .all(|&v| v <= cap && GUEST_VERSIONS.contains(&v)));
    assert!(proposed.windows(2).all(|w| w[0] > w[1]));
    assert_eq!(
        proposed.len(),
        GUEST_VERSIONS.iter().filter(|&&v| v <= cap).count()
    );

    let raw = parse::<VersionResponse>(bytes).map(|(r, _)| r);
    for version in GUEST_VERSIONS.into_iter().chain([cap]) {
        let contact = contact_connection_id(version);
        assert_eq!(contact == 4, version >= VERSION_WIN10_V5);
        match interpret_response(version, bytes) {
            Ok(ContactOutcome::Refused) => assert_eq!(raw.unwrap().version_supported, 0),
            Ok(ContactOutcome::Accepted {
                msg_conn_id,
                features,
            }) => {
                let r = raw.unwrap();
                assert!(r.version_supported != 0 && r.connection_state == 0);
                if version < VERSION_WIN10_V5 {
                    assert_eq!((msg_conn_id, features), (VMBUS_MESSAGE_CONNECTION_ID, 0));
                } else {
                    assert_eq!(msg_conn_id, { r.msg_conn_id });
                    assert!(msg_conn_id != 0 && msg_conn_id & !CONNECTION_ID_MASK == 0);
                }
                if features != 0 {
                    assert!(version >= VERSION_WIN10_V6_0 && bytes.len() >= 20);
                    assert_eq!(features.to_le_bytes(), bytes[16..20]);
                }
            }
            Err(ResponseError::Malformed(e)) => assert_eq!(raw.err(), Some(e)),
            Err(ResponseError::ConnectionFailed(s)) => {
                let r = raw.unwrap();
                assert!(r.version_supported != 0 && s != 0 && s == r.connection_state);
            }
            Err(ResponseError::BadConnectionId(c)) => {
                assert!(version >= VERSION_WIN10_V5);
                assert!(c == 0 || c & !CONNECTION_ID_MASK != 0);
            }
        }
        let moves = channel_moves(version);
        assert_eq!(
            moves == ChannelMoves::Unsupported,
            version < rhv_proto::vmbus::VERSION_WIN10_V4_1
        );
    }
});
