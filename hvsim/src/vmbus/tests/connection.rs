// SPDX-License-Identifier: GPL-2.0
//! Version negotiation, UNLOAD and reconnection, and control messages that are malformed or
//! arrive at the wrong time.

use super::*;

#[test]
fn linux_negotiates_6_0_by_default() {
    let mut g = Guest::new(proto::VERSION_WIN10_V6_0);
    assert_eq!(g.server.negotiated_version(), None);
    assert_eq!(g.linux_connect(), Some((proto::VERSION_WIN10_V6_0, 0)));
    assert_eq!(g.server.negotiated_version(), Some((6, 0)));
}

#[test]
fn every_supported_version_can_be_the_maximum() {
    for (i, &max) in SUPPORTED_VERSIONS.iter().enumerate() {
        let mut g = Guest::new(max);
        assert_eq!(g.linux_connect(), Some((max, i)), "max {max:#x}");
        assert_eq!(
            g.server.negotiated_version(),
            Some(proto::split_version(max))
        );
    }
}

#[test]
fn cap_at_4_0_makes_linux_fall_back_through_every_newer_version() {
    let mut g = Guest::new(proto::VERSION_WIN10);
    assert_eq!(g.linux_connect(), Some((proto::VERSION_WIN10, 6)));
    assert_eq!(g.server.negotiated_version(), Some((4, 0)));
    // The connection works at 4.0: offers arrive on the VP that asked.
    assert_eq!(g.request_offers().len(), 0);
}

#[test]
fn unsupported_versions_are_refused() {
    let mut g = Guest::new(proto::VERSION_WIN10_V6_0);
    for v in [
        proto::VERSION_WIN8_1,
        proto::VERSION_WIN8,
        proto::VERSION_WIN7,
        proto::VERSION_WS2008,
        0x0006_0001,
        u32::MAX,
    ] {
        assert_eq!(g.initiate(v, 0).version_supported, 0, "{v:#x}");
        assert_eq!(g.server.negotiated_version(), None);
    }
}

#[test]
fn version_response_goes_to_the_requesting_vp() {
    let mut g = Guest::new(proto::VERSION_WIN10_V6_0);
    let r = g.initiate(proto::VERSION_WIN10_V5_2, 3);
    assert_eq!(r.version_supported, 1);
    assert_eq!({ r.msg_conn_id }, proto::VMBUS_MESSAGE_CONNECTION_ID);
    let mut m = proto::RequestOffers::new_zeroed();
    m.header = proto::MessageHeader::new(MessageType::RequestOffers);
    g.post(&m);
    assert!(g.take().iter().all(|p| p.vp == 3 && p.sint == 2));
}

#[test]
fn unknown_connection_ids_are_rejected_like_hyper_v() {
    let mut g = Guest::new(proto::VERSION_WIN10_V6_0);
    let mut m = proto::InitiateContact::new_zeroed();
    m.header = proto::MessageHeader::new(MessageType::InitiateContact);
    m.vmbus_version_requested = proto::VERSION_WIN10_V6_0;
    m.interrupt_page_or_target_info = proto::InitiateContact::target_info(2, 0, 0);
    // A VTL2 guest tries the redirect id first and falls back on this status.
    assert_eq!(
        g.post_raw(proto::VMBUS_MESSAGE_CONNECTION_ID_REDIRECT, m.as_bytes()),
        HvStatus::InvalidConnectionId
    );
    assert_eq!(g.post_raw(7, m.as_bytes()), HvStatus::InvalidConnectionId);
    assert!(g.take().is_empty());
    // Wrong SynIC message type.
    assert_eq!(
        g.server.post_message(&mut g.host, 4, 2, m.as_bytes()),
        HvStatus::InvalidParameter
    );
    assert_eq!(g.server.negotiated_version(), None);
}

#[test]
fn messages_before_contact_are_ignored() {
    let (mut g, _) = Guest::with_devices(0);
    let mut m = proto::RequestOffers::new_zeroed();
    m.header = proto::MessageHeader::new(MessageType::RequestOffers);
    assert_eq!(g.post(&m), HvStatus::Success);
    let mut o = proto::OpenChannel::new_zeroed();
    o.header = proto::MessageHeader::new(MessageType::OpenChannel);
    o.child_relid = 1;
    assert_eq!(g.post(&o), HvStatus::Success);
    assert!(g.take().is_empty());
    assert_eq!(g.server.all_offers_delivered_at(), None);
    assert!(g
        .server
        .channels()
        .iter()
        .all(|c| c.state == ChannelState::NotOffered));
}

#[test]
fn malformed_and_misdirected_messages_never_panic() {
    let (mut g, _) = Guest::with_devices(0);
    g.boot();
    let conn = proto::VMBUS_MESSAGE_CONNECTION_ID;
    for bytes in [
        &[][..],
        &[1, 0, 0][..],
        &[99, 0, 0, 0, 0, 0, 0, 0][..],
        &[0, 0, 0, 0, 0, 0, 0, 0][..],
        &[5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0][..],
        &[8, 0, 0, 0, 0, 0, 0, 0, 1, 0][..],
        &[14, 0, 0, 0, 0, 0, 0, 0][..],
        &[21, 0, 0, 0, 0, 0, 0, 0][..],
        &[22, 0, 0, 0, 0, 0, 0, 0, 1][..],
    ] {
        assert_eq!(g.post_raw(conn, bytes), HvStatus::Success);
    }
    assert_eq!(g.post_raw(conn, &[0u8; 240]), HvStatus::Success);
    // Host-to-guest messages sent by the guest.
    let offer = offers::offer_message(
        &OfferParams::new("x", Guid::default(), Guid::default()),
        9,
        0,
    );
    assert_eq!(g.post(&offer), HvStatus::Success);
    let mut r = proto::VersionResponse::new_zeroed();
    r.header = proto::MessageHeader::new(MessageType::VersionResponse);
    assert_eq!(g.post(&r), HvStatus::Success);
    assert!(g.take().is_empty());
    // Still connected and working.
    assert_eq!(g.server.negotiated_version(), Some((6, 0)));
    let (status, _) = g.open(1, 2, 2, 0);
    assert_eq!(status, 0);
}

#[test]
fn repeated_request_offers_is_ignored() {
    let (mut g, _) = Guest::with_devices(0);
    assert_eq!(g.boot().len(), 5);
    let first = g.server.all_offers_delivered_at().unwrap();
    let mut m = proto::RequestOffers::new_zeroed();
    m.header = proto::MessageHeader::new(MessageType::RequestOffers);
    g.post(&m);
    assert!(g.take().is_empty());
    assert_eq!(g.server.all_offers_delivered_at(), Some(first));
}

#[test]
fn unload_resets_every_channel_and_the_guest_can_reconnect() {
    let (mut g, log) = Guest::with_devices(2);
    let offers = g.boot();
    let relids: Vec<u32> = offers.iter().map(|o| o.child_relid).collect();
    let (status, ch) = g.open(5, 3, 3, 1);
    assert_eq!(status, 0);
    assert_eq!(
        g.server
            .offer_subchannels(&mut g.host, ChannelTarget::Relid(5), 2),
        Ok(2)
    );
    g.take();
    assert_eq!(g.server.channels().len(), 7);

    let msgs = g.unload();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].kind(), MessageType::UnloadResponse);
    assert_eq!(msgs[0].vp, 0);
    assert_eq!(log.lock().unwrap().closes, vec![0]);
    assert_eq!(g.server.negotiated_version(), None);
    assert_eq!(g.server.channels().len(), 5, "sub-channels are gone");
    assert!(g
        .server
        .channels()
        .iter()
        .all(|c| c.state == ChannelState::NotOffered));
    // What Linux sends after UNLOAD while it frees its channels is ignored.
    g.release(5);
    g.close(5);
    assert!(g.take().is_empty());
    // Signals on the old channel do nothing.
    assert_eq!(g.signal(ch.connection_id), HvStatus::Success);

    // A reloaded hv_vmbus, capped differently, finds the same devices at the same relids.
    assert_eq!(
        g.initiate(proto::VERSION_WIN10_V5_3, 0).version_supported,
        1
    );
    let again: Vec<u32> = g.request_offers().iter().map(|o| o.child_relid).collect();
    assert_eq!(again, relids);
    // GPADL ids of the old connection may be reused.
    let (status, _) = g.open(5, 2, 2, 0);
    assert_eq!(status, 0);
    assert_eq!(g.state_of(5), Some(ChannelState::Opened));
}

#[test]
fn initiate_contact_while_connected_resets_first() {
    let (mut g, log) = Guest::with_devices(0);
    g.boot();
    assert_eq!(g.open(5, 2, 2, 0).0, 0);
    // A kexec'd kernel starts over without UNLOAD.
    assert_eq!(
        g.initiate(proto::VERSION_WIN10_V6_0, 0).version_supported,
        1
    );
    assert_eq!(log.lock().unwrap().closes, vec![0]);
    assert_eq!(g.state_of(5), Some(ChannelState::NotOffered));
    assert_eq!(g.request_offers().len(), 5);
}

#[test]
fn unload_of_a_rescinded_device_drops_it() {
    let (mut g, _) = Guest::with_devices(0);
    g.boot();
    g.server
        .rescind(&mut g.host, ChannelTarget::Relid(5))
        .unwrap();
    g.take();
    g.unload();
    assert_eq!(g.server.channels().len(), 4);
    assert!(g.linux_connect().is_some());
    assert_eq!(g.request_offers().len(), 4);
}
