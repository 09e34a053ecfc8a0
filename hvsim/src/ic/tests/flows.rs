// SPDX-License-Identifier: GPL-2.0
//! Negotiation, heartbeat, shutdown and timesync through the server with a Linux-like
//! guest, and guests that answer wrongly or not at all.

use std::sync::Arc;

use super::*;
use crate::ic::ReferenceClock;
use rhv_proto::ic::{TimesyncMessage, TimesyncRefMessage};

#[test]
fn every_ic_negotiates_what_linux_7_3_chooses() {
    let mut t = IcGuest::new(&IcConfig::default());
    for kind in IcKind::ALL {
        t.open(kind);
        let packets = t.read(kind);
        assert_eq!(packets.len(), 1, "{kind:?}: one NEGOTIATE right after open");
        let h = header_of(&packets[0].1);
        assert_eq!({ h.icmsgtype }, IcMessageType::Negotiate as u16);
        assert_eq!(h.icflags, ICMSG_FLAG_TRANSACTION | wire::ICMSG_FLAG_REQUEST);
        let offer = wire::parse_negotiate(&packets[0].1[BODY_AT..]).unwrap();
        assert_eq!(offer.framework, &[FRAMEWORK_VERSION_1, FRAMEWORK_VERSION_3]);
        let (trans_id, mut payload) = packets[0].clone();
        t.utils.answer(kind, &mut payload);
        t.write(kind, trans_id, &payload);
        let s = t.status(kind);
        assert_eq!(
            (s["state"].as_str(), s["framework"].as_str()),
            (Some("ready"), Some("3.0"))
        );
        let expected = match kind {
            IcKind::Heartbeat => "3.0",
            IcKind::Shutdown => "3.2",
            IcKind::Timesync => "3.0",
            IcKind::Kvp => "4.0",
        };
        assert_eq!(s["version"], expected, "{kind:?}");
        assert_eq!(
            (s["bad"].as_u64(), s["answers"].as_u64()),
            (Some(0), Some(0))
        );
    }
}

#[test]
fn a_guest_that_speaks_no_offered_version_is_left_alone() {
    let mut t = IcGuest::new(&fast_config());
    t.open(IcKind::Heartbeat);
    let (trans_id, mut payload) = t.read(IcKind::Heartbeat).remove(0);
    // vmbus_prep_negotiate_resp() without a match: both counts zero.
    payload[BODY_AT..BODY_AT + 4].fill(0);
    payload[FLAGS_AT] = ICMSG_FLAG_TRANSACTION | ICMSG_FLAG_RESPONSE;
    t.write(IcKind::Heartbeat, trans_id, &payload);
    assert_eq!(t.status(IcKind::Heartbeat)["state"], "refused");
    sleep_ms(50);
    t.poll();
    assert!(t.read(IcKind::Heartbeat).is_empty(), "no heartbeats");
}

/// Edits a correct NEGOTIATE answer with `corrupt` and checks it is counted as bad.
fn bad_negotiate_answer(corrupt: impl Fn(&mut Vec<u8>, &mut u64), state: &str) {
    let mut t = IcGuest::new(&fast_config());
    t.open(IcKind::Shutdown);
    let (mut trans_id, mut payload) = t.read(IcKind::Shutdown).remove(0);
    t.utils.answer(IcKind::Shutdown, &mut payload);
    corrupt(&mut payload, &mut trans_id);
    t.write(IcKind::Shutdown, trans_id, &payload);
    let s = t.status(IcKind::Shutdown);
    assert_eq!(s["bad"], 1, "{s}");
    assert_eq!(s["state"], state, "{s}");
    assert!(s["last_bad"].is_string());
}

#[test]
fn malformed_negotiate_answers_are_counted() {
    // Too short for the headers.
    bad_negotiate_answer(|p, _| p.truncate(20), "negotiating");
    // Not a response.
    bad_negotiate_answer(|p, _| p[FLAGS_AT] = ICMSG_FLAG_TRANSACTION, "negotiating");
    // Wrong VMBus transaction id, wrong IC transaction id.
    bad_negotiate_answer(|_, id| *id += 100, "negotiating");
    bad_negotiate_answer(|p, _| p[8 + 16] ^= 0xff, "negotiating");
    // Another message type; an unknown one.
    bad_negotiate_answer(|p, _| p[12] = IcMessageType::Shutdown as u8, "negotiating");
    bad_negotiate_answer(|p, _| p[12] = 6, "negotiating");
    // Pipe header claiming more than the packet.
    bad_negotiate_answer(
        |p, _| p[4..8].copy_from_slice(&9999u32.to_le_bytes()),
        "negotiating",
    );
    // Version counts beyond the limit or the packet.
    bad_negotiate_answer(
        |p, _| p[BODY_AT..BODY_AT + 2].copy_from_slice(&101u16.to_le_bytes()),
        "refused",
    );
    bad_negotiate_answer(
        |p, _| p[BODY_AT..BODY_AT + 2].copy_from_slice(&9u16.to_le_bytes()),
        "refused",
    );
    // Two versions chosen, or one the host never offered.
    bad_negotiate_answer(
        |p, _| p[BODY_AT + 2..BODY_AT + 4].copy_from_slice(&2u16.to_le_bytes()),
        "refused",
    );
    bad_negotiate_answer(
        |p, _| p[BODY_AT + 12..BODY_AT + 16].copy_from_slice(IcVersion::new(9, 9).as_bytes()),
        "refused",
    );
}

#[test]
fn an_unanswered_negotiation_times_out_but_a_late_answer_counts() {
    let mut t = IcGuest::new(&fast_config());
    t.open(IcKind::Heartbeat);
    let (trans_id, mut payload) = t.read(IcKind::Heartbeat).remove(0);
    sleep_ms(50);
    t.poll();
    let s = t.status(IcKind::Heartbeat);
    assert_eq!(
        (s["state"].as_str(), s["timeouts"].as_u64()),
        (Some("negotiating"), Some(1))
    );
    t.utils.answer(IcKind::Heartbeat, &mut payload);
    t.write(IcKind::Heartbeat, trans_id, &payload);
    assert_eq!(t.status(IcKind::Heartbeat)["state"], "ready");
}

#[test]
fn kvp_waits_for_its_daemon_without_complaint() {
    let mut t = IcGuest::new(&fast_config());
    t.open(IcKind::Kvp);
    let (trans_id, mut payload) = t.read(IcKind::Kvp).remove(0);
    sleep_ms(50);
    t.poll();
    let s = t.status(IcKind::Kvp);
    assert_eq!(
        (s["state"].as_str(), s["timeouts"].as_u64()),
        (Some("negotiating"), Some(0))
    );
    assert!(t
        .control(
            IcKind::Kvp,
            json!({"op": "enumerate", "pool": "auto", "index": 0})
        )
        .is_err());
    t.utils.answer(IcKind::Kvp, &mut payload);
    t.write(IcKind::Kvp, trans_id, &payload);
    assert_eq!(t.status(IcKind::Kvp)["state"], "ready");
}

#[test]
fn heartbeats_rise_and_missing_or_wrong_answers_count() {
    let mut t = IcGuest::new(&fast_config());
    t.open_and_negotiate(IcKind::Heartbeat);
    for _ in 0..3 {
        assert_eq!(t.answer_all(IcKind::Heartbeat), 1);
        sleep_ms(25);
        t.poll();
    }
    let s = t.status(IcKind::Heartbeat);
    assert_eq!(t.utils.beats, [1, 2, 3]);
    assert_eq!(
        (s["answers"].as_u64(), s["last_sequence"].as_u64()),
        (Some(3), Some(4))
    );
    // The fourth beat goes unanswered: no fifth beat until it times out.
    assert_eq!(t.read(IcKind::Heartbeat).len(), 1);
    sleep_ms(25);
    t.poll();
    assert!(t.read(IcKind::Heartbeat).is_empty());
    sleep_ms(25);
    t.poll();
    let s = t.status(IcKind::Heartbeat);
    assert_eq!(
        (s["missed"].as_u64(), s["timeouts"].as_u64()),
        (Some(1), Some(1))
    );
    // The next one is answered with the wrong number.
    let (trans_id, mut payload) = t.read(IcKind::Heartbeat).remove(0);
    t.utils.answer(IcKind::Heartbeat, &mut payload);
    payload[BODY_AT] = payload[BODY_AT].wrapping_add(7);
    t.write(IcKind::Heartbeat, trans_id, &payload);
    // And a stray answer to nothing.
    t.write(IcKind::Heartbeat, 999, &payload);
    let s = t.status(IcKind::Heartbeat);
    assert_eq!(
        (s["bad"].as_u64(), s["last_sequence"].as_u64()),
        (Some(2), Some(4))
    );
    assert!(s["last_bad"].as_str().unwrap().contains("no outstanding"));
}

#[test]
fn shutdown_on_command_and_the_guest_answer() {
    let mut t = IcGuest::new(&fast_config());
    t.open(IcKind::Shutdown);
    assert!(
        t.control(IcKind::Shutdown, json!({"op": "shutdown"}))
            .is_err(),
        "not negotiated"
    );
    t.answer_all(IcKind::Shutdown);
    assert!(t.read(IcKind::Shutdown).is_empty(), "nothing until asked");
    let r = t
        .control(IcKind::Shutdown, json!({"op": "reboot"}))
        .unwrap();
    assert_eq!(r["state"], "pending");
    assert_eq!(t.status(IcKind::Shutdown)["request"]["state"], "queued");
    t.poll();
    assert_eq!(t.answer_all(IcKind::Shutdown), 1);
    assert_eq!(t.utils.shutdowns, [wire::SHUTDOWN_FLAG_RESTART]);
    let req = t.status(IcKind::Shutdown)["request"].clone();
    assert_eq!(
        (req["state"].as_str(), req["status_text"].as_str()),
        (Some("done"), Some("ok"))
    );
    // Hibernation is refused by this guest; a forced power-off is not.
    t.control(IcKind::Shutdown, json!({"op": "hibernate"}))
        .unwrap();
    t.poll();
    t.answer_all(IcKind::Shutdown);
    assert_eq!(t.status(IcKind::Shutdown)["request"]["status_text"], "fail");
    t.control(IcKind::Shutdown, json!({"op": "shutdown", "force": true}))
        .unwrap();
    t.poll();
    t.answer_all(IcKind::Shutdown);
    assert_eq!(t.utils.shutdowns.last(), Some(&wire::SHUTDOWN_FLAG_FORCE));
    // An answer without the request body is malformed; a missing one times out.
    t.control(IcKind::Shutdown, json!({"op": "shutdown"}))
        .unwrap();
    t.poll();
    let (trans_id, mut payload) = t.read(IcKind::Shutdown).remove(0);
    t.utils.answer(IcKind::Shutdown, &mut payload);
    payload.truncate(BODY_AT + 4);
    set_pipe_size(&mut payload);
    t.write(IcKind::Shutdown, trans_id, &payload);
    assert_eq!(t.status(IcKind::Shutdown)["request"]["state"], "failed");
    t.control(IcKind::Shutdown, json!({"op": "shutdown"}))
        .unwrap();
    t.poll();
    sleep_ms(50);
    t.poll();
    let s = t.status(IcKind::Shutdown);
    assert_eq!(s["request"]["state"], "timeout");
    assert_eq!(
        (s["bad"].as_u64(), s["timeouts"].as_u64()),
        (Some(1), Some(1))
    );
}

#[test]
fn timesync_syncs_at_open_and_samples_on_command() {
    let mut t = IcGuest::new(&fast_config());
    t.open_and_negotiate(IcKind::Timesync);
    assert_eq!(
        t.answer_all(IcKind::Timesync),
        1,
        "SYNC right after negotiation"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let secs = |t: u64| wire::unix_nanos_from_host_time(t) as f64 / 1e9;
    let (flags, time) = t.utils.times[0];
    assert_eq!(flags, wire::TIMESYNC_FLAG_SYNC);
    assert!((secs(time) - now).abs() < 2.0);
    t.control(
        IcKind::Timesync,
        json!({"op": "sample", "offset_secs": -3600}),
    )
    .unwrap();
    t.poll();
    assert_eq!(t.answer_all(IcKind::Timesync), 1);
    let (flags, time) = t.utils.times[1];
    assert_eq!(flags, wire::TIMESYNC_FLAG_SAMPLE);
    assert!((secs(time) - now + 3600.0).abs() < 2.0);
    let s = t.status(IcKind::Timesync);
    assert_eq!(
        (
            s["syncs"].as_u64(),
            s["samples"].as_u64(),
            s["answers"].as_u64()
        ),
        (Some(1), Some(1), Some(2))
    );
    // A truncated echo is bad.
    t.control(IcKind::Timesync, json!({"op": "sync"})).unwrap();
    t.poll();
    let (trans_id, mut payload) = t.read(IcKind::Timesync).remove(0);
    t.utils.answer(IcKind::Timesync, &mut payload);
    payload.truncate(BODY_AT + 8);
    set_pipe_size(&mut payload);
    t.write(IcKind::Timesync, trans_id, &payload);
    assert_eq!(t.status(IcKind::Timesync)["bad"], 1);
}

#[test]
fn timesync_4_with_a_reference_clock() {
    let clock: ReferenceClock = Arc::new(|| 777);
    let config = IcConfig {
        reference_clock: Some(clock),
        ..fast_config()
    };
    let mut t = IcGuest::new(&config);
    t.open_and_negotiate(IcKind::Timesync);
    assert_eq!(t.status(IcKind::Timesync)["version"], "4.0");
    let (_, payload) = t.read(IcKind::Timesync).remove(0);
    let m: TimesyncRefMessage = wire::parse_body(&payload[BODY_AT..]).unwrap();
    assert_eq!(
        ({ m.vmreferencetime }, m.flags),
        (777, wire::TIMESYNC_FLAG_SYNC)
    );
    assert!(
        wire::parse_body::<TimesyncMessage>(&payload[BODY_AT..]).is_ok(),
        "padded"
    );
}

#[test]
fn closing_and_reopening_renegotiates() {
    let mut t = IcGuest::new(&fast_config());
    t.open_and_negotiate(IcKind::Heartbeat);
    assert_eq!(t.read(IcKind::Heartbeat).len(), 1);
    t.g.close(relid(IcKind::Heartbeat));
    assert_eq!(t.status(IcKind::Heartbeat)["state"], "closed");
    let ch = t.channels[&relid(IcKind::Heartbeat)];
    t.g.teardown(relid(IcKind::Heartbeat), ch.gpadl);
    t.g.take();
    t.open_and_negotiate(IcKind::Heartbeat);
    let s = t.status(IcKind::Heartbeat);
    assert_eq!(
        (s["answers"].as_u64(), s["missed"].as_u64()),
        (Some(0), Some(0))
    );
}
