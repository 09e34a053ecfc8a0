// SPDX-License-Identifier: GPL-2.0
//! The framework state machine on its own, fed packets and times directly.

use std::time::{Duration, Instant};

use super::*;
use crate::ic::framework::{IcChannel, Outgoing};
use crate::ic::heartbeat::Heartbeat;

fn heartbeat_channel() -> (IcChannel, Instant) {
    let hb = Heartbeat::new(Duration::from_secs(1), Duration::from_secs(2));
    (
        IcChannel::new(Box::new(hb), Duration::from_secs(3)),
        Instant::now(),
    )
}

/// Opens and negotiates like Linux; returns the first heartbeat.
fn ready(ch: &mut IcChannel, t0: Instant) -> Outgoing {
    let mut out = ch.open(t0);
    assert_eq!(out.len(), 1);
    let mut n = out.remove(0);
    LinuxUtils::default().answer(IcKind::Heartbeat, &mut n.payload);
    let mut beats = ch.on_packet(6, n.trans_id, &n.payload, t0);
    assert_eq!(beats.len(), 1);
    beats.remove(0)
}

#[test]
fn only_in_band_data_is_an_answer() {
    let (mut ch, t0) = heartbeat_channel();
    let mut beat = ready(&mut ch, t0);
    LinuxUtils::default().answer(IcKind::Heartbeat, &mut beat.payload);
    for packet_type in [0u16, 7, 9, 11, 0xffff] {
        assert!(ch
            .on_packet(packet_type, beat.trans_id, &beat.payload, t0)
            .is_empty());
    }
    let s = ch.status();
    assert_eq!(
        (s["bad"].as_u64(), s["answers"].as_u64()),
        (Some(5), Some(0))
    );
    assert!(s["last_bad"].as_str().unwrap().contains("packet type"));
    // The beat is still outstanding and the right answer is accepted.
    assert!(ch.on_packet(6, beat.trans_id, &beat.payload, t0).is_empty());
    assert_eq!(ch.status()["last_sequence"], 2);
}

#[test]
fn garbage_of_every_length_is_counted_never_fatal() {
    let (mut ch, t0) = heartbeat_channel();
    let beat = ready(&mut ch, t0);
    let mut bad = 0;
    for len in [0usize, 1, 7, 8, 27, 28, 29, 36, 68, 4096] {
        for fill in [0u8, 0xff] {
            let payload = vec![fill; len];
            assert!(ch.on_packet(6, beat.trans_id, &payload, t0).is_empty());
            bad += 1;
        }
    }
    let s = ch.status();
    assert_eq!(s["bad"].as_u64(), Some(bad));
    assert_eq!(s["state"], "ready");
    // Anything before the channel is open is bad too.
    let (mut closed, t0) = heartbeat_channel();
    assert!(closed.on_packet(6, 1, &beat.payload, t0).is_empty());
    assert_eq!(closed.status()["bad"], 1);
}

#[test]
fn timeouts_free_the_slot_and_send_failures_are_reported() {
    let (mut ch, t0) = heartbeat_channel();
    let beat = ready(&mut ch, t0);
    // Not due, still outstanding.
    assert!(ch.poll(t0 + Duration::from_millis(1500)).is_empty());
    // Timed out: the next beat goes at once.
    let next = ch.poll(t0 + Duration::from_millis(2100));
    assert_eq!(next.len(), 1);
    assert_ne!(next[0].trans_id, beat.trans_id);
    let s = ch.status();
    assert_eq!(
        (s["timeouts"].as_u64(), s["missed"].as_u64()),
        (Some(1), Some(1))
    );
    // A late answer to the timed-out beat is bad.
    let mut late = beat.clone();
    LinuxUtils::default().answer(IcKind::Heartbeat, &mut late.payload);
    ch.on_packet(6, late.trans_id, &late.payload, t0);
    assert_eq!(ch.status()["bad"], 1);
    // A full ring: the beat counts as missed, the next one is tried at its time.
    ch.send_failed(next[0].trans_id, "the guest's ring is full");
    assert_eq!(ch.status()["missed"], 2);
    assert!(ch.poll(t0 + Duration::from_millis(2200)).is_empty());
    assert_eq!(ch.poll(t0 + Duration::from_millis(3200)).len(), 1);
}

#[test]
fn negotiation_send_failure_and_unknown_commands() {
    let (mut ch, t0) = heartbeat_channel();
    let out = ch.open(t0);
    ch.send_failed(out[0].trans_id, "the channel has failed");
    assert_eq!(ch.status()["state"], "refused");
    assert!(ch.poll(t0 + Duration::from_secs(10)).is_empty());
    assert!(ch.control(&json!({"op": "launch"}), t0).is_err());
    assert!(ch.control(&json!(42), t0).is_err());
    assert_eq!(
        ch.control(&json!({"op": "stats"}), t0).unwrap(),
        json!({"ic": "heartbeat", "packets": 0})
    );
}

#[test]
fn the_negotiation_offer_lists_the_service_versions() {
    for kind in IcKind::ALL {
        let mut t = IcGuest::new(&IcConfig::default());
        t.open(kind);
        let (_, payload) = t.read(kind).remove(0);
        let offer = wire::parse_negotiate(&payload[BODY_AT..]).unwrap();
        let expected: &[IcVersion] = match kind {
            IcKind::Heartbeat => &crate::ic::heartbeat::VERSIONS,
            IcKind::Shutdown => &crate::ic::shutdown::VERSIONS,
            IcKind::Timesync => &[IcVersion::new(1, 0), IcVersion::new(3, 0)],
            IcKind::Kvp => &crate::ic::kvp::VERSIONS,
        };
        assert_eq!(offer.service, expected, "{kind:?}");
        assert_eq!(
            { header_of(&payload).icmsgsize } as usize,
            wire::negotiate_body_size(2, expected.len())
        );
    }
}

#[test]
fn the_ics_carry_the_guids_of_hyperv_h() {
    // HV_*_GUID in include/linux/hyperv.h, and the instance ids Hyper-V gives the ICs.
    let expected = [
        (
            IcKind::Shutdown,
            "shutdown",
            "0e0b6031-5213-4934-818b-38d90ced39db",
            "b6650ff7-33bc-4840-8048-e0676786f393",
        ),
        (
            IcKind::Timesync,
            "timesync",
            "9527e630-d0ae-497b-adce-e80ab0175caf",
            "2dd1ce17-079e-403c-b352-a1921ee207ee",
        ),
        (
            IcKind::Heartbeat,
            "heartbeat",
            "57164f39-9115-4e78-ab55-382f3bd5422d",
            "fd149e91-82e0-4a7d-afa6-2a4166cbd7c0",
        ),
        (
            IcKind::Kvp,
            "kvp",
            "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6",
            "242ff919-07db-4180-9c2e-b86cb68c8c55",
        ),
    ];
    let text = |g: rhv_proto::guid::Guid| {
        let mut out = [0u8; 36];
        g.format(&mut out);
        String::from_utf8(out.to_vec()).unwrap()
    };
    for (kind, (k, name, class, instance)) in IcKind::ALL.into_iter().zip(expected) {
        assert_eq!(kind, k);
        assert_eq!(kind.name(), name);
        assert_eq!(text(kind.class_id()), class, "{name}");
        assert_eq!(text(kind.instance_id()), instance, "{name}");
    }
    // The bytes on the wire: the first three fields are little-endian.
    assert_eq!(
        IcKind::Heartbeat.class_id(),
        rhv_proto::guid::Guid::from_fields(
            0x57164f39,
            0x9115,
            0x4e78,
            [0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d]
        )
    );
}

#[test]
fn misbehave_sends_each_bad_message_once_before_the_requests() {
    let (mut ch, t0) = heartbeat_channel();
    let beat = ready(&mut ch, t0);
    let armed = ch
        .control(
            &json!({"op": "misbehave",
                "kinds": ["short", "oversize", "unknown-type", "bad-negotiate"], "count": 4}),
            t0,
        )
        .unwrap();
    assert_eq!(armed["count"], 4);
    // The heartbeat is outstanding: bad messages go out all the same, one per chance.
    let mut bad = Vec::new();
    for _ in 0..6 {
        bad.extend(ch.poll(t0));
    }
    assert_eq!(bad.len(), 4);
    assert_eq!(bad[0].payload.len(), 12, "short: no IC header");
    assert!(wire::parse_packet(&bad[0].payload).is_err());
    let oversize = &bad[1].payload;
    assert_eq!(
        u32::from_le_bytes(oversize[4..8].try_into().unwrap()),
        0xfff0
    );
    assert_eq!(
        u16::from_le_bytes(oversize[18..20].try_into().unwrap()),
        0xfff0
    );
    assert!(oversize.len() < 0xfff0);
    assert_eq!(
        u16::from_le_bytes([bad[2].payload[12], bad[2].payload[13]]),
        0x7fff
    );
    let negotiate = &bad[3].payload;
    assert_eq!(
        u16::from_le_bytes([negotiate[12], negotiate[13]]),
        IcMessageType::Negotiate as u16
    );
    assert!(wire::parse_negotiate(&negotiate[BODY_AT..]).is_err());
    let ids: std::collections::BTreeSet<u64> = bad.iter().map(|o| o.trans_id).collect();
    assert_eq!(ids.len(), 4);
    assert!(!ids.contains(&beat.trans_id));
    // The outstanding heartbeat is still answered and taken.
    let mut answer = beat.clone();
    LinuxUtils::default().answer(IcKind::Heartbeat, &mut answer.payload);
    ch.on_packet(6, answer.trans_id, &answer.payload, t0);
    let s = ch.status();
    assert_eq!(
        (s["answers"].as_u64(), s["bad"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        s["misbehaved"],
        json!({"short": 1, "oversize": 1, "unknown-type": 1, "bad-negotiate": 1})
    );
    assert!(ch
        .control(&json!({"op": "misbehave", "kinds": ["loud"]}), t0)
        .is_err());
}
