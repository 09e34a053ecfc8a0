// SPDX-License-Identifier: GPL-2.0
//! KVP through the server with a fake daemon: requests, results by id, scans, the host's view
//! of the pools, and answers that are wrong, late or missing.

use super::*;

/// A guest whose KVP is negotiated.
fn kvp_guest() -> IcGuest {
    let mut t = IcGuest::new(&fast_config());
    t.open_and_negotiate(IcKind::Kvp);
    t
}

/// Issues `command`, lets the guest answer, returns the result.
fn request(t: &mut IcGuest, command: Value) -> Value {
    let r = t.control(IcKind::Kvp, command).unwrap();
    assert_eq!(r["state"], "pending");
    let id = r["id"].as_u64().unwrap();
    t.poll();
    while t.answer_all(IcKind::Kvp) > 0 {}
    t.control(IcKind::Kvp, json!({"op": "result", "id": id}))
        .unwrap()
}

#[test]
fn set_get_enumerate_delete() {
    let mut t = kvp_guest();
    let r = request(
        &mut t,
        json!({"op": "set", "pool": "external", "key": "rhv-key", "value": "ünïcode ✓"}),
    );
    assert_eq!(
        (r["state"].as_str(), r["status_text"].as_str()),
        (Some("done"), Some("ok")),
        "{r}"
    );
    assert_eq!(
        t.utils
            .daemon
            .pools
            .get(&(0, "rhv-key".to_owned()))
            .map(String::as_str),
        Some("ünïcode ✓")
    );
    let r = request(&mut t, json!({"op": "get", "pool": 0, "key": "rhv-key"}));
    assert_eq!(r["value"], "ünïcode ✓");
    let r = request(&mut t, json!({"op": "get", "pool": 0, "key": "nope"}));
    assert_eq!(
        (r["state"].as_str(), r["status_text"].as_str()),
        (Some("done"), Some("no_such_item"))
    );
    let r = request(
        &mut t,
        json!({"op": "enumerate", "pool": "external", "index": 0}),
    );
    assert_eq!(
        (r["key"].as_str(), r["value"].as_str()),
        (Some("rhv-key"), Some("ünïcode ✓"))
    );
    let r = request(
        &mut t,
        json!({"op": "set", "pool": "external", "key": "n", "value": 7, "type": "u32"}),
    );
    assert_eq!(r["state"], "done");
    let r = request(
        &mut t,
        json!({"op": "delete", "pool": "external", "key": "rhv-key"}),
    );
    assert_eq!(r["status_text"], "ok");
    assert!(!t
        .utils
        .daemon
        .pools
        .contains_key(&(0, "rhv-key".to_owned())));
    assert_eq!(
        t.control(IcKind::Kvp, json!({"op": "pools"})).unwrap(),
        json!({"external": {"n": "7"}})
    );
}

#[test]
fn enumerate_and_scan_the_auto_pool() {
    let mut t = kvp_guest();
    let r = request(
        &mut t,
        json!({"op": "enumerate", "pool": "auto", "index": 0}),
    );
    assert_eq!(
        (r["key"].as_str(), r["value"].as_str()),
        (Some("FullyQualifiedDomainName"), Some("guest.example"))
    );
    let r = request(
        &mut t,
        json!({"op": "enumerate", "pool": "auto", "index": 99}),
    );
    assert_eq!(r["status_text"], "no_such_item");
    let r = request(&mut t, json!({"op": "scan"}));
    assert_eq!(
        (r["op"].as_str(), r["state"].as_str(), r["entries"].as_u64()),
        (Some("scan"), Some("done"), Some(3))
    );
    let pools = t.control(IcKind::Kvp, json!({"op": "pools"})).unwrap();
    assert_eq!(pools["auto"]["IntegrationServicesVersion"], "3.1");
    assert_eq!(pools["auto"]["NetworkAddressIPv4"], "");
    // A second scan is refused while one runs.
    t.control(IcKind::Kvp, json!({"op": "scan", "pool": "auto"}))
        .unwrap();
    assert!(t.control(IcKind::Kvp, json!({"op": "scan"})).is_err());
}

#[test]
fn requests_queue_and_results_are_kept_by_id() {
    let mut t = kvp_guest();
    let mut ids = Vec::new();
    for i in 0..16 {
        let r = t
            .control(
                IcKind::Kvp,
                json!({"op": "set", "pool": "guest", "key": format!("k{i}"), "value": "v"}),
            )
            .unwrap();
        ids.push(r["id"].as_u64().unwrap());
    }
    let full = t.control(
        IcKind::Kvp,
        json!({"op": "set", "pool": "guest", "key": "x", "value": "v"}),
    );
    assert!(full.unwrap_err().contains("busy"));
    assert_eq!(
        t.control(IcKind::Kvp, json!({"op": "result"})).unwrap()["state"],
        "pending"
    );
    // One at a time: each answer releases the next request.
    t.poll();
    for _ in 0..16 {
        assert_eq!(t.answer_all(IcKind::Kvp), 1);
    }
    assert_eq!(t.utils.daemon.pools.len(), 16);
    for id in ids {
        let r = t
            .control(IcKind::Kvp, json!({"op": "result", "id": id}))
            .unwrap();
        assert_eq!(r["state"], "done");
    }
    assert!(t
        .control(IcKind::Kvp, json!({"op": "result", "id": 999}))
        .is_err());
    let s = t.status(IcKind::Kvp);
    assert_eq!(
        (s["completed"].as_u64(), s["queued"].as_u64()),
        (Some(16), Some(0))
    );
}

#[test]
fn control_input_is_validated() {
    let mut t = kvp_guest();
    assert_eq!(
        t.control(IcKind::Kvp, json!({"op": "result"})).unwrap(),
        json!({"state": "idle"})
    );
    for bad in [
        json!({"op": "set", "pool": "external", "key": "", "value": "v"}),
        json!({"op": "set", "pool": "external", "key": "k", "value": 5}),
        json!({"op": "set", "pool": "external", "key": "k", "value": 5_000_000_000u64, "type": "u32"}),
        json!({"op": "set", "pool": "external", "key": "k", "value": "x".repeat(1024)}),
        json!({"op": "set", "pool": "external", "key": "k".repeat(256), "value": "v"}),
        json!({"op": "get", "pool": "Auto", "key": "k"}),
        json!({"op": "get", "pool": 5, "key": "k"}),
        json!({"op": "enumerate", "pool": "auto", "index": -1}),
        json!({"op": "frobnicate"}),
    ] {
        assert!(
            t.control(IcKind::Kvp, bad.clone()).is_err(),
            "{bad} accepted"
        );
    }
    assert!(t.read(IcKind::Kvp).is_empty());
}

/// Issues a GET, corrupts the guest's answer with `corrupt`, returns the result.
fn corrupted_answer(corrupt: impl Fn(&mut Vec<u8>)) -> (Value, Value) {
    let mut t = kvp_guest();
    t.utils.daemon.pools.insert((0, "k".into()), "v".into());
    let id = t
        .control(IcKind::Kvp, json!({"op": "get", "pool": 0, "key": "k"}))
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    t.poll();
    let (trans_id, mut payload) = t.read(IcKind::Kvp).remove(0);
    t.utils.answer(IcKind::Kvp, &mut payload);
    corrupt(&mut payload);
    t.write(IcKind::Kvp, trans_id, &payload);
    let r = t
        .control(IcKind::Kvp, json!({"op": "result", "id": id}))
        .unwrap();
    (r, t.status(IcKind::Kvp))
}

#[test]
fn malformed_answers_are_bad_answers() {
    // Value size field offsets in the GET layout: header 4, type 4, key_size 4, value_size 4.
    let value_size_at = BODY_AT + 4 + 8;
    let value_at = BODY_AT + 4 + 12 + 512;
    type Corruption = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Corruption)> = vec![
        (
            "truncated",
            Box::new(|p| {
                p.truncate(BODY_AT + 100);
                set_pipe_size(p);
            }),
        ),
        ("other operation", Box::new(|p| p[BODY_AT] = 1)),
        ("other pool", Box::new(|p| p[BODY_AT + 1] = 2)),
        (
            "odd size",
            Box::new(move |p| {
                p[value_size_at..value_size_at + 4].copy_from_slice(&3u32.to_le_bytes())
            }),
        ),
        (
            "huge size",
            Box::new(move |p| {
                p[value_size_at..value_size_at + 4].copy_from_slice(&u32::MAX.to_le_bytes())
            }),
        ),
        (
            "lone surrogate",
            Box::new(move |p| p[value_at..value_at + 2].copy_from_slice(&0xd800u16.to_le_bytes())),
        ),
        (
            "value type",
            Box::new(|p| p[BODY_AT + 4..BODY_AT + 8].copy_from_slice(&77u32.to_le_bytes())),
        ),
        (
            "u32 with size 2",
            Box::new(move |p| {
                p[BODY_AT + 4..BODY_AT + 8].copy_from_slice(&4u32.to_le_bytes());
                p[value_size_at..value_size_at + 4].copy_from_slice(&2u32.to_le_bytes());
            }),
        ),
    ];
    for (name, corrupt) in cases {
        let (r, s) = corrupted_answer(corrupt);
        assert_eq!(r["state"], "bad_answer", "{name}: {r}");
        assert!(r["error"].is_string(), "{name}");
        assert_eq!(s["bad"], 1, "{name}");
    }
    // A failure status is a proper answer, even with garbage after it.
    let (r, s) = corrupted_answer(|p| {
        p[STATUS_AT..STATUS_AT + 4].copy_from_slice(&wire::HV_E_FAIL.to_le_bytes());
        p[value_at..value_at + 2].copy_from_slice(&0xd800u16.to_le_bytes());
    });
    assert_eq!(
        (r["state"].as_str(), r["status_text"].as_str()),
        (Some("done"), Some("fail"))
    );
    assert_eq!(s["bad"], 0);
}

#[test]
fn missing_and_late_answers() {
    let mut t = kvp_guest();
    let id = t
        .control(
            IcKind::Kvp,
            json!({"op": "enumerate", "pool": "auto", "index": 1}),
        )
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    t.control(
        IcKind::Kvp,
        json!({"op": "enumerate", "pool": "auto", "index": 2}),
    )
    .unwrap();
    t.poll();
    let (trans_id, mut payload) = t.read(IcKind::Kvp).remove(0);
    sleep_ms(50);
    t.poll();
    let r = t
        .control(IcKind::Kvp, json!({"op": "result", "id": id}))
        .unwrap();
    assert_eq!(r["state"], "timeout");
    // The second request went out after the timeout; the late answer to the first is bad.
    assert_eq!(t.read(IcKind::Kvp).len(), 1);
    t.utils.answer(IcKind::Kvp, &mut payload);
    t.write(IcKind::Kvp, trans_id, &payload);
    let s = t.status(IcKind::Kvp);
    assert_eq!(
        (s["bad"].as_u64(), s["timeouts"].as_u64()),
        (Some(1), Some(1))
    );
    // A scan whose answer goes missing ends as failed, with what it had.
    let mut t = kvp_guest();
    let id = t.control(IcKind::Kvp, json!({"op": "scan"})).unwrap()["id"]
        .as_u64()
        .unwrap();
    t.poll();
    assert_eq!(t.answer_all(IcKind::Kvp), 1);
    sleep_ms(50);
    t.poll();
    let r = t
        .control(IcKind::Kvp, json!({"op": "result", "id": id}))
        .unwrap();
    assert_eq!(
        (r["state"].as_str(), r["entries"].as_u64()),
        (Some("failed"), Some(1)),
        "{r}"
    );
}

#[test]
fn closing_the_channel_fails_queued_requests() {
    let mut t = kvp_guest();
    let a = t
        .control(IcKind::Kvp, json!({"op": "get", "pool": 0, "key": "a"}))
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let b = t
        .control(IcKind::Kvp, json!({"op": "get", "pool": 0, "key": "b"}))
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    t.poll();
    t.g.close(relid(IcKind::Kvp));
    for id in [a, b] {
        let r = t
            .control(IcKind::Kvp, json!({"op": "result", "id": id}))
            .unwrap();
        assert_eq!(r["state"], "failed", "{r}");
    }
    assert_eq!(t.status(IcKind::Kvp)["state"], "closed");
}
