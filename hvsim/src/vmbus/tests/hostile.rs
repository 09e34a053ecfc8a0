// SPDX-License-Identifier: GPL-2.0
//! The `--hostile` modes that answer the guest's requests wrongly.

use super::*;

/// Posts a GPADL_HEADER for `pfns` (one message) and returns every message the host sent.
fn gpadl_header(g: &mut Guest, relid: u32, gpadl: u32, pfns: &[u64]) -> Vec<Posted> {
    g.post_gpadl_header(relid, gpadl, pfns.len(), pfns);
    g.take()
}

#[test]
fn bad_answers_come_first_and_name_something_else() {
    let (mut g, _log) = Guest::with_devices(0);
    g.server.set_hostile(&[HostileMode::BadAnswer]);
    let mut m = proto::InitiateContact::new_zeroed();
    m.header = proto::MessageHeader::new(MessageType::InitiateContact);
    m.vmbus_version_requested = proto::VERSION_WIN10_V6_0;
    m.interrupt_page_or_target_info = proto::InitiateContact::target_info(2, 0, 0);
    assert_eq!(
        g.post_raw(proto::VMBUS_MESSAGE_CONNECTION_ID_4, m.as_bytes()),
        HvStatus::Success
    );
    let msgs = g.take();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].kind(), MessageType::VersionResponse);
    assert_eq!(msgs[0].bytes.len(), 8, "cut short to its header");
    assert!(proto::parse::<proto::VersionResponse>(&msgs[0].bytes).is_err());
    let r: proto::VersionResponse = msgs[1].parse();
    assert_ne!(r.version_supported, 0);
    g.msg_conn_id = r.msg_conn_id;
    g.request_offers();

    let base = g.alloc_pages(4);
    let pfns: Vec<u64> = (base..base + 4).collect();
    let msgs = gpadl_header(&mut g, 5, 77, &pfns);
    assert_eq!(msgs.len(), 2);
    let bad: proto::GpadlCreated = msgs[0].parse();
    let good: proto::GpadlCreated = msgs[1].parse();
    assert_eq!({ bad.gpadl }, 77);
    assert_ne!({ bad.child_relid }, 5, "another channel");
    assert_ne!({ bad.creation_status }, 0);
    assert_eq!(({ good.child_relid }, { good.gpadl }), (5, 77));
    assert_eq!({ good.creation_status }, 0);

    for r in [base * 4096, (base + 2) * 4096] {
        g.host
            .mem
            .write_u32(r + wire::FEATURE_BITS_OFFSET, 1)
            .unwrap();
    }
    let mut o = proto::OpenChannel::new_zeroed();
    o.header = proto::MessageHeader::new(MessageType::OpenChannel);
    o.child_relid = 5;
    o.openid = 5;
    o.ringbuffer_gpadlhandle = 77;
    o.downstream_ringbuffer_pageoffset = 2;
    assert_eq!(g.post(&o), HvStatus::Success);
    let msgs = g.take();
    let results: Vec<proto::OpenResult> = msgs
        .iter()
        .filter(|p| p.kind() == MessageType::OpenChannelResult)
        .map(|p| p.parse())
        .collect();
    assert_eq!(results.len(), 2);
    assert_eq!({ results[0].child_relid }, 5);
    assert_ne!({ results[0].openid }, 5, "another open id");
    assert_ne!({ results[0].status }, 0);
    assert_eq!(({ results[1].openid }, { results[1].status }), (5, 0));
}

#[test]
fn rescind_teardown_answers_the_first_teardown_with_a_rescind_and_keeps_the_gpadl() {
    let (mut g, _log) = Guest::with_devices(0);
    g.boot();
    g.server.set_hostile(&[HostileMode::RescindTeardown]);
    let (status, ch) = g.open(5, 2, 2, 0);
    assert_eq!(status, 0);
    let (_, other) = g.open(1, 2, 2, 0);
    g.close(5);
    g.teardown(5, ch.gpadl);
    let msgs = g.take();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let r: proto::RescindChannelOffer = msgs[0].parse();
    assert_eq!({ r.child_relid }, 5);
    assert_eq!(g.server.gpadl_count(), 2, "the host keeps the GPADL");
    // Once only: the next teardown is answered.
    g.close(1);
    g.teardown(1, other.gpadl);
    let msgs = g.take();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].kind(), MessageType::GpadlTorndown);
}
