// SPDX-License-Identifier: GPL-2.0
//! Offers, GPADLs, open/close, rescind, sub-channels and MODIFYCHANNEL.

use super::*;

#[test]
fn offers_then_all_offers_delivered() {
    let (mut g, _) = Guest::with_devices(0);
    let offers = g.boot();
    assert!(g.server.all_offers_delivered_at().is_some());
    assert_eq!(offers.len(), 5);
    let names: Vec<String> = g
        .server
        .channels()
        .iter()
        .map(|c| c.device.clone())
        .collect();
    assert_eq!(names, ["shutdown", "timesync", "heartbeat", "kvp", "test"]);
    for (i, (o, kind)) in offers.iter().zip(IcKind::ALL).enumerate() {
        assert_eq!({ o.child_relid }, i as u32 + 1);
        assert_eq!({ o.offer.if_type }, kind.class_id());
        assert_eq!({ o.offer.if_instance }, kind.instance_id());
        assert_eq!(
            { o.offer.chn_flags },
            proto::OFFER_FLAG_ENUMERATE_DEVICE_INTERFACE | proto::OFFER_FLAG_NAMED_PIPE_MODE
        );
        assert_eq!(
            &o.offer.user_defined[..4],
            &proto::PIPE_TYPE_MESSAGE.to_le_bytes()
        );
        assert_eq!(
            ({ o.offer.sub_channel_index }, { o.offer.mmio_megabytes }),
            (0, 0)
        );
        assert_eq!((o.monitor_allocated, { o.is_dedicated_interrupt }), (0, 1));
        assert_eq!({ o.connection_id }, 0x2000 + i as u32 + 1);
    }
    let infos = g.server.channels();
    assert!(infos.iter().all(|c| c.state == ChannelState::Offered));
    assert_eq!(infos[2].class_id, "57164f39-9115-4e78-ab55-382f3bd5422d");
    assert_eq!(infos[2].instance_id, "fd149e91-82e0-4a7d-afa6-2a4166cbd7c0");
    assert_eq!(infos[4].connection_id, 0x2005);
}

#[test]
fn duplicate_instances_are_refused() {
    let mut g = Guest::new(proto::VERSION_WIN10_V6_0);
    g.server
        .add_device(Box::new(IntegrationComponent::new(IcKind::Kvp)))
        .unwrap();
    assert!(matches!(
        g.server
            .add_device(Box::new(IntegrationComponent::new(IcKind::Kvp))),
        Err(VmbusError::DuplicateInstance(_))
    ));
}

#[test]
fn hot_added_devices_are_offered_at_the_next_poll() {
    let (mut g, _) = Guest::with_devices(0);
    g.boot();
    let (dev, _) = TestDevice::new("late", 0x2000, 0);
    let relid = g.server.add_device(Box::new(dev)).unwrap();
    assert_eq!(g.state_of(relid), Some(ChannelState::NotOffered));
    g.poll();
    let msgs = g.take();
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        { msgs[0].parse::<proto::OfferChannel>().child_relid },
        relid
    );
    assert_eq!(g.state_of(relid), Some(ChannelState::Offered));
}

#[test]
fn gpadl_with_many_pages_spans_many_messages() {
    let (mut g, _) = Guest::with_devices(0);
    g.boot();
    let base = g.alloc_pages(1000);
    let pfns: Vec<u64> = (base..base + 1000).collect();
    assert_eq!(g.create_gpadl(5, &pfns).1, 0);
    // A ring GPADL of 600 pages opens fine.
    let (status, ch) = g.open(5, 300, 300, 0);
    assert_eq!(status, 0);
    assert_eq!(ch.inbound.size, 299 * 4096);
}

#[test]
fn malformed_gpadls_get_a_failure_status() {
    let (mut g, _) = Guest::with_devices(0);
    g.boot();
    let ram_pages = (RAM_SIZE / 4096) as u64;
    assert_ne!(g.create_gpadl(5, &[20, ram_pages]).1, 0, "PFN past RAM");
    assert_ne!(g.create_gpadl(5, &[u64::MAX]).1, 0, "PFN overflow");
    assert_ne!(g.create_gpadl(99, &[20]).1, 0, "unknown relid");
    let (id, status) = g.create_gpadl(5, &[20]);
    assert_eq!(status, 0);

    // A header reusing a live id.
    let mut h = proto::GpadlHeader::new_zeroed();
    h.header = proto::MessageHeader::new(MessageType::GpadlHeader);
    h.child_relid = 5;
    h.gpadl = id;
    h.rangecount = 1;
    h.range_buflen = 16;
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend_from_slice(
        proto::GpaRange {
            byte_count: 4096,
            byte_offset: 0,
        }
        .as_bytes(),
    );
    bytes.extend_from_slice(&21u64.to_le_bytes());
    g.post_raw(1, &bytes);
    let msgs = g.take();
    assert_ne!(
        { msgs[0].parse::<proto::GpadlCreated>().creation_status },
        0
    );
    assert!(g.server.gpadls.get(id).is_some(), "the original survives");

    // A body for a GPADL nobody started: nothing to answer.
    let mut b = proto::GpadlBody::new_zeroed();
    b.header = proto::MessageHeader::new(MessageType::GpadlBody);
    b.gpadl = 0xdead;
    let mut bytes = b.as_bytes().to_vec();
    bytes.extend_from_slice(&22u64.to_le_bytes());
    g.post_raw(1, &bytes);
    assert!(g.take().is_empty());

    // A body that overruns range_buflen.
    h.gpadl = 0x5000;
    h.range_buflen = 8 + 8 * 30;
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend_from_slice(
        proto::GpaRange {
            byte_count: 30 * 4096,
            byte_offset: 0,
        }
        .as_bytes(),
    );
    bytes.extend((30..56u64).flat_map(|p| p.to_le_bytes()));
    g.post_raw(1, &bytes);
    assert!(g.take().is_empty());
    b.gpadl = 0x5000;
    let mut bytes = b.as_bytes().to_vec();
    bytes.extend((56..66u64).flat_map(|p| p.to_le_bytes()));
    g.post_raw(1, &bytes);
    let msgs = g.take();
    assert_ne!(
        { msgs[0].parse::<proto::GpadlCreated>().creation_status },
        0
    );
}

#[test]
fn open_close_and_gpadl_teardown() {
    let (mut g, log) = Guest::with_devices(0);
    g.boot();
    let (status, ch) = g.open(5, 4, 4, 2);
    assert_eq!(status, 0);
    {
        let log = log.lock().unwrap();
        assert_eq!(log.opens.len(), 1);
        let req = &log.opens[0];
        assert_eq!((req.relid, req.subchannel_index, req.target_vp), (5, 0, 2));
        assert_eq!(
            (req.incoming_ring_size, req.outgoing_ring_size),
            (3 * 4096, 3 * 4096)
        );
        assert_eq!(req.user_data[0], 0xee);
        assert_eq!(log.opened, vec![0]);
    }
    let info = g
        .server
        .channels()
        .into_iter()
        .find(|c| c.relid == 5)
        .unwrap();
    assert_eq!((info.state, info.target_vp), (ChannelState::Opened, 2));

    // Teardown of the ring GPADL waits for the close (Linux closes first, but be safe).
    g.teardown(5, ch.gpadl);
    assert!(g.take().is_empty());
    g.close(5);
    let msgs = g.take();
    assert_eq!(msgs.len(), 1);
    assert_eq!({ msgs[0].parse::<proto::GpadlTorndown>().gpadl }, ch.gpadl);
    assert_eq!(log.lock().unwrap().closes, vec![0]);
    assert_eq!(g.state_of(5), Some(ChannelState::Closed));

    // Reopen with a fresh ring, then close and tear down the Linux way.
    let (status, ch) = g.open(5, 2, 2, 0);
    assert_eq!(status, 0);
    g.close(5);
    g.teardown(5, ch.gpadl);
    let msgs = g.take();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].kind(), MessageType::GpadlTorndown);
    // Unknown GPADL or a second close: logged, no answer.
    g.teardown(5, ch.gpadl);
    g.close(5);
    assert!(g.take().is_empty());
    assert_eq!(g.server.gpadl_count(), 0);
}

#[test]
fn bad_opens_are_refused() {
    let (mut g, log) = Guest::with_devices(0);
    g.boot();
    let base = g.alloc_pages(4);
    let pfns: Vec<u64> = (base..base + 4).collect();
    let (gpadl, _) = g.create_gpadl(5, &pfns);
    let fail = proto::STATUS_UNSUCCESSFUL;
    assert_eq!(g.open_raw(77, 1, gpadl, 0, 2), Some(fail), "unknown relid");
    assert_eq!(g.open_raw(5, 1, 0x999, 0, 2), Some(fail), "unknown GPADL");
    assert_eq!(
        g.open_raw(4, 1, gpadl, 0, 2),
        Some(fail),
        "GPADL of another channel"
    );
    assert_eq!(
        g.open_raw(5, 1, gpadl, 0, 1),
        Some(fail),
        "outbound ring without data"
    );
    assert_eq!(
        g.open_raw(5, 1, gpadl, 0, 3),
        Some(fail),
        "inbound ring without data"
    );
    assert_eq!(
        g.open_raw(5, 1, gpadl, 0, 0xffff_ffff),
        Some(fail),
        "split past the end"
    );
    // Ring indices out of range.
    g.host.mem.write_u32(base * 4096, 4096).unwrap();
    assert_eq!(g.open_raw(5, 1, gpadl, 0, 2), Some(fail), "bad write index");
    g.host.mem.write_u32(base * 4096, 0).unwrap();
    g.host.mem.write_u32((base + 2) * 4096 + 4, 12).unwrap();
    assert_eq!(
        g.open_raw(5, 1, gpadl, 0, 2),
        Some(fail),
        "unaligned read index"
    );
    g.host.mem.write_u32((base + 2) * 4096 + 4, 0).unwrap();
    assert!(
        log.lock().unwrap().opens.is_empty(),
        "the device never saw a bad open"
    );
    // Now a good one, then a second open of the same channel.
    assert_eq!(g.open_raw(5, 1, gpadl, 0, 2), Some(0));
    let pfns2: Vec<u64> = (g.alloc_pages(4)..).take(4).collect();
    let (gpadl2, _) = g.create_gpadl(5, &pfns2);
    assert_eq!(g.open_raw(5, 2, gpadl2, 0, 2), Some(fail), "opened twice");
    // The same ring GPADL for a second channel.
    assert_eq!(g.open_raw(4, 1, gpadl, 0, 2), Some(fail));
    assert_eq!(g.state_of(5), Some(ChannelState::Opened));
}

#[test]
fn a_device_can_refuse_an_open() {
    let mut g = Guest::new(proto::VERSION_WIN10_V6_0);
    let (mut dev, log) = TestDevice::new("picky", 1, 0);
    dev.refuse_open = true;
    g.server.add_device(Box::new(dev)).unwrap();
    g.boot();
    let (status, _) = g.open(1, 2, 2, 0);
    assert_eq!(status, proto::STATUS_UNSUCCESSFUL);
    assert_eq!(log.lock().unwrap().opens.len(), 1);
    assert!(log.lock().unwrap().opened.is_empty());
    assert_eq!(g.state_of(1), Some(ChannelState::Offered));
}

#[test]
fn rescind_and_relid_release() {
    let (mut g, log) = Guest::with_devices(0);
    g.boot();
    let (_, ch) = g.open(5, 2, 2, 0);
    let target: ChannelTarget = "00001000-1111-2222-0303-040405050606".parse().unwrap();
    g.server.rescind(&mut g.host, target).unwrap();
    let msgs = g.take();
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        { msgs[0].parse::<proto::RescindChannelOffer>().child_relid },
        5
    );
    assert_eq!(log.lock().unwrap().closes, vec![0]);
    assert_eq!(g.state_of(5), Some(ChannelState::Rescinded));
    assert_eq!(
        g.server.rescind(&mut g.host, ChannelTarget::Relid(5)),
        Err(VmbusError::AlreadyRescinded)
    );
    // The guest's driver closes; rescinded channels skip the GPADL teardown in Linux.
    g.close(5);
    assert_eq!(g.signal(ch.connection_id), HvStatus::Success);
    // Opening a rescinded channel is silently ignored.
    assert_eq!(g.open_raw(5, 5, ch.gpadl, 0, 2), None);
    g.release(5);
    assert!(g.take().is_empty());
    assert_eq!(g.state_of(5), None);
    assert_eq!(g.signal(ch.connection_id), HvStatus::InvalidConnectionId);
    assert!(
        g.server.gpadls.get(ch.gpadl).is_none(),
        "released with the relid"
    );
    // The relid is free again.
    let (dev, _) = TestDevice::new("new", 0x3000, 0);
    assert_eq!(g.server.add_device(Box::new(dev)), Ok(5));
    // Errors.
    assert!(matches!(
        g.server.rescind(&mut g.host, ChannelTarget::Relid(1234)),
        Err(VmbusError::NoSuchChannel(_))
    ));
    assert!("not-a-guid".parse::<ChannelTarget>().is_err());
    g.release(1234);
    assert!(g.take().is_empty());
}

#[test]
fn rescind_before_the_guest_connects_just_removes() {
    let (mut g, _) = Guest::with_devices(0);
    g.server
        .rescind(&mut g.host, ChannelTarget::Relid(2))
        .unwrap();
    assert!(g.take().is_empty());
    assert_eq!(g.state_of(2), None);
    assert_eq!(g.boot().len(), 4);
}

#[test]
fn sub_channels_on_request() {
    let (mut g, log) = Guest::with_devices(3);
    g.boot();
    assert_eq!(
        g.server
            .offer_subchannels(&mut g.host, ChannelTarget::Relid(1), 1),
        Err(VmbusError::NoMoreSubchannels),
        "ICs have none"
    );
    let (_, primary) = g.open(5, 2, 2, 0);
    assert_eq!(
        g.server
            .offer_subchannels(&mut g.host, ChannelTarget::Relid(5), 2),
        Ok(2)
    );
    let offers: Vec<proto::OfferChannel> = g.take().iter().map(|p| p.parse()).collect();
    assert_eq!(offers.len(), 2);
    for (i, o) in offers.iter().enumerate() {
        assert_eq!({ o.offer.sub_channel_index }, i as u16 + 1);
        assert_eq!(
            { o.offer.if_instance },
            Guid::from_fields(0x1000, 0x1111, 0x2222, [3, 3, 4, 4, 5, 5, 6, 6])
        );
        assert_eq!({ o.child_relid }, 6 + i as u32);
    }
    assert_eq!(
        g.server
            .offer_subchannels(&mut g.host, ChannelTarget::Relid(6), 1),
        Err(VmbusError::NotPrimary(6))
    );
    // The device asks for more than it may have: only one more fits.
    primary
        .outbound
        .guest_write(&g.host.mem, 1, b"sub:5")
        .unwrap();
    g.signal(primary.connection_id);
    let offers: Vec<proto::OfferChannel> = g.take().iter().map(|p| p.parse()).collect();
    assert_eq!(offers.len(), 1);
    assert_eq!({ offers[0].offer.sub_channel_index }, 3);
    // Sub-channels open and carry traffic of their own.
    let (status, sub) = g.open(7, 2, 2, 3);
    assert_eq!(status, 0);
    sub.outbound
        .guest_write(&g.host.mem, 42, b"on sub")
        .unwrap();
    g.signal(sub.connection_id);
    assert_eq!(log.lock().unwrap().packets.last().unwrap().0, 2);
    assert_eq!(g.host.events.last(), Some(&(3, 2, 7)));
    // Rescinding one sub-channel leaves the others.
    g.server
        .rescind(&mut g.host, ChannelTarget::Relid(6))
        .unwrap();
    assert_eq!(g.state_of(6), Some(ChannelState::Rescinded));
    assert_eq!(g.state_of(7), Some(ChannelState::Opened));
    g.take();
    // Rescinding the device rescinds the sub-channels first.
    g.server
        .rescind(&mut g.host, ChannelTarget::Relid(5))
        .unwrap();
    let order: Vec<u32> = g
        .take()
        .iter()
        .map(|p| p.parse::<proto::RescindChannelOffer>().child_relid)
        .collect();
    assert_eq!(order, [8, 7, 5]);
}

#[test]
fn closing_the_primary_rescinds_the_sub_channels_and_a_reopen_gets_new_ones() {
    let (mut g, _) = Guest::with_devices(2);
    g.boot();
    let (_, primary) = g.open(5, 2, 2, 0);
    let sub = |g: &mut Guest| {
        g.server
            .offer_subchannels(&mut g.host, ChannelTarget::Relid(5), 2)
    };
    assert_eq!(sub(&mut g), Ok(2));
    g.take();
    let (status, _) = g.open(6, 2, 2, 1);
    assert_eq!(status, 0);
    // Linux's vmbus_close(): sub-channels first, then the primary.
    g.close(6);
    assert!(g.take().is_empty());
    g.close(5);
    let rescinded: Vec<u32> = g
        .take()
        .iter()
        .map(|p| p.parse::<proto::RescindChannelOffer>().child_relid)
        .collect();
    assert_eq!(rescinded, [6, 7]);
    assert_eq!(g.state_of(5), Some(ChannelState::Closed));
    // Until the guest releases them, their indices stay taken.
    assert_eq!(sub(&mut g), Err(VmbusError::NoMoreSubchannels));
    g.release(6);
    g.release(7);
    assert_eq!(g.open_raw(5, 5, primary.gpadl, 0, 2), Some(0));
    assert_eq!(sub(&mut g), Ok(2));
}

#[test]
fn sub_channels_need_a_connection() {
    let (mut g, _) = Guest::with_devices(2);
    assert_eq!(
        g.server
            .offer_subchannels(&mut g.host, ChannelTarget::Relid(5), 1),
        Err(VmbusError::NotConnected)
    );
}

#[test]
fn modify_channel_moves_interrupts() {
    for (version, answered) in [
        (proto::VERSION_WIN10_V5_3, true),
        (proto::VERSION_WIN10_V4_1, false),
    ] {
        let (mut g, _) = Guest::with_devices(0);
        g.server = VmbusServer::new(version);
        let (dev, _) = TestDevice::new("test", 0x1000, 0);
        g.server.add_device(Box::new(dev)).unwrap();
        assert!(g.linux_connect().is_some());
        g.request_offers();
        let (_, ch) = g.open(1, 2, 2, 0);
        let mut m = proto::ModifyChannel::new_zeroed();
        m.header = proto::MessageHeader::new(MessageType::ModifyChannel);
        m.child_relid = 1;
        m.target_vp = 3;
        g.post(&m);
        let msgs = g.take();
        assert_eq!(msgs.len(), usize::from(answered));
        if answered {
            let r: proto::ModifyChannelResponse = msgs[0].parse();
            assert_eq!(({ r.child_relid }, { r.status }), (1, 0));
        }
        ch.outbound.guest_write(&g.host.mem, 1, b"x").unwrap();
        g.signal(ch.connection_id);
        assert_eq!(
            g.host.events.last(),
            Some(&(3, 2, 1)),
            "completion interrupts VP 3"
        );
        m.child_relid = 50;
        g.post(&m);
        if answered {
            assert_ne!(
                { g.take()[0].parse::<proto::ModifyChannelResponse>().status },
                0
            );
        }
        // A VP the partition does not have: refused, the channel stays where it was.
        m.child_relid = 1;
        m.target_vp = VPS;
        g.post(&m);
        if answered {
            assert_ne!(
                { g.take()[0].parse::<proto::ModifyChannelResponse>().status },
                0
            );
        }
        // The guest reads the first completion, so the next one interrupts again.
        assert!(ch.inbound.guest_read(&g.host.mem).is_some());
        let before = g.host.events.len();
        ch.outbound.guest_write(&g.host.mem, 1, b"y").unwrap();
        g.signal(ch.connection_id);
        assert_eq!(
            g.host.events.len(),
            before + 1,
            "the completion was signalled"
        );
        assert_eq!(g.host.events.last(), Some(&(3, 2, 1)), "still VP 3");
    }
}
