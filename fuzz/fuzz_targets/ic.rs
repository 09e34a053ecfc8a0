// SPDX-License-Identifier: GPL-2.0
//! Integration-component packets (`proto::ic`, `ic_msg`): the framing every IC channel
//! receives, the NEGOTIATE body and the version choice, and the heartbeat, shutdown and
//! timesync bodies.
//!
//! Invariants: the headers re-encode to the input bytes and the body is the rest of it;
//! version lists lie inside the body, hold at most 100 entries, round-trip through
//! `write_negotiate`, and a chosen version is the first preferred one the host offered;
//! `write_packet` round-trips; host time conversions round-trip.
//!
//! Input: an IC packet payload (pipe header, message header, body).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::ic::*;
use rhv_proto_fuzz::assert_at;
use zerocopy::IntoBytes;

/// Linux's framework and service preferences (timesync's: the longest list).
const FRAMEWORK: [IcVersion; 2] = [FRAMEWORK_VERSION_3, FRAMEWORK_VERSION_1];
const SERVICE: [IcVersion; 4] = [
    IcVersion::new(4, 0),
    IcVersion::new(3, 0),
    IcVersion::new(1, 0),
    IcVersion::new(3, 2),
];

fn body_checks<T: zerocopy::FromBytes + IntoBytes + zerocopy::Immutable>(body: &[u8]) {
    let size = core::mem::size_of::<T>();
    match parse_body::<T>(body) {
        Ok(t) => assert_eq!(t.as_bytes(), &body[..size]),
        Err(IcError::TooShort { needed, got }) => {
            assert!(needed == size && got == body.len() && got < size)
        }
        Err(e) => panic!("parse_body returned {e:?}"),
    }
}

fuzz_target!(|bytes: &[u8]| {
    let packet = match parse_packet(bytes) {
        Ok(p) => p,
        Err(IcError::TooShort { needed, got }) => {
            return assert!(needed == ICMSG_HDR_SIZE && got == bytes.len() && got < needed);
        }
        Err(e) => panic!("parse_packet returned {e:?}"),
    };
    assert_eq!(packet.pipe.as_bytes(), &bytes[..8]);
    assert_eq!(packet.header.as_bytes(), &bytes[8..ICMSG_HDR_SIZE]);
    assert_at(packet.body, bytes, ICMSG_HDR_SIZE..bytes.len());

    // Whatever the type word says, each body parser copes with the bytes.
    body_checks::<HeartbeatMessage>(packet.body);
    body_checks::<ShutdownMessage>(packet.body);
    body_checks::<TimesyncMessage>(packet.body);
    body_checks::<TimesyncRefMessage>(packet.body);
    if let Ok(t) = parse_body::<TimesyncRefMessage>(packet.body) {
        let host = { t.parenttime };
        let nanos = unix_nanos_from_host_time(host);
        assert_eq!(host_time_from_unix_nanos(nanos), Some(host));
    }

    match packet.message_type() {
        Ok(t) => assert_eq!(t as u16, { packet.header.icmsgtype }),
        Err(IcError::UnknownMessageType(v)) => assert_eq!(v, { packet.header.icmsgtype }),
        Err(e) => panic!("message_type returned {e:?}"),
    }

    match parse_negotiate(packet.body) {
        Ok(n) => {
            assert!(n.framework.len() <= 100 && n.service.len() <= 100);
            let used = negotiate_body_size(n.framework.len(), n.service.len());
            assert!(used <= packet.body.len());
            assert_at(
                n.framework.as_bytes(),
                packet.body,
                8..8 + 4 * n.framework.len(),
            );
            let service_at = 8 + 4 * n.framework.len();
            assert_at(
                n.service.as_bytes(),
                packet.body,
                service_at..service_at + 4 * n.service.len(),
            );
            let mut again = vec![0u8; used];
            assert_eq!(
                write_negotiate(&mut again, n.framework, n.service),
                Ok(used)
            );
            // Identical but for the reserved word, which the writer zeroes.
            assert_eq!(again[..4], packet.body[..4]);
            assert_eq!(again[8..], packet.body[8..used]);
            let reparsed = parse_negotiate(&again).unwrap();
            assert_eq!(reparsed, n);
            match select_versions(&n, &FRAMEWORK, &SERVICE) {
                Some((f, s)) => {
                    assert!(n.framework.contains(&f) && n.service.contains(&s));
                    let first_f = FRAMEWORK.iter().position(|v| *v == f).unwrap();
                    assert!(FRAMEWORK[..first_f]
                        .iter()
                        .all(|v| !n.framework.contains(v)));
                    let first_s = SERVICE.iter().position(|v| *v == s).unwrap();
                    assert!(SERVICE[..first_s].iter().all(|v| !n.service.contains(v)));
                }
                None => assert!(
                    FRAMEWORK.iter().all(|v| !n.framework.contains(v))
                        || SERVICE.iter().all(|v| !n.service.contains(v))
                ),
            }
        }
        Err(IcError::TooManyVersions { framework, service }) => {
            assert!(framework > 100 || service > 100)
        }
        Err(IcError::TooShort { needed, got }) => assert!(got < needed && got == packet.body.len()),
        Err(e) => panic!("parse_negotiate returned {e:?}"),
    }

    // The guest's answer: the same header and body written back.
    let mut out = vec![0u8; bytes.len()];
    let len = write_packet(&mut out, packet.header, packet.body).unwrap();
    assert_eq!(len, bytes.len());
    let again = parse_packet(&out).unwrap();
    assert_eq!(again.body, packet.body);
    assert_eq!(
        { again.header.icmsgsize },
        u16::try_from(packet.body.len()).unwrap_or(u16::MAX)
    );
    assert_eq!({ again.pipe.msgsize } as usize, bytes.len() - 8);
    assert_eq!({ again.pipe.flags }, PIPE_FLAG_DATA);
    assert!(write_packet(&mut out[..len - 1], packet.header, packet.body).is_err());
});
