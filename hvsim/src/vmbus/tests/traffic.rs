// SPDX-License-Identifier: GPL-2.0
//! Packets in both directions through the server, signalling, flow control, and guests
//! that corrupt their rings.

use super::*;

fn open_test_channel(ring_pages: u64) -> (Guest, Arc<Mutex<DeviceLog>>, GuestChannel) {
    let (mut g, log) = Guest::with_devices(0);
    g.boot();
    let (status, ch) = g.open(5, ring_pages, ring_pages, 1);
    assert_eq!(status, 0);
    g.host.events.clear();
    (g, log, ch)
}

#[test]
fn request_and_completion_round_trip() {
    let (mut g, log, ch) = open_test_channel(2);
    assert_eq!(
        ch.outbound.guest_write(&g.host.mem, 0x77, b"hello host"),
        Some(true)
    );
    assert_eq!(g.signal(ch.connection_id), HvStatus::Success);
    {
        let log = log.lock().unwrap();
        assert_eq!(log.packets.len(), 1);
        let (idx, ty, trans, payload) = &log.packets[0];
        assert_eq!((*idx, *ty, *trans), (0, 6, 0x77));
        assert_eq!(&payload[..10], b"hello host");
    }
    // The host published its read index and interrupted VP 1 with the relid's flag.
    let read = g
        .host
        .mem
        .read_u32(ch.outbound.control(wire::READ_INDEX_OFFSET))
        .unwrap();
    let write = g
        .host
        .mem
        .read_u32(ch.outbound.control(wire::WRITE_INDEX_OFFSET))
        .unwrap();
    assert_eq!(read, write);
    assert_eq!(
        g.host
            .mem
            .read_u32(ch.outbound.control(wire::INTERRUPT_MASK_OFFSET))
            .unwrap(),
        0
    );
    assert_eq!(g.host.events, vec![(1, 2, ch.relid)]);
    let (d, payload) = ch.inbound.guest_read(&g.host.mem).unwrap();
    assert_eq!(
        ({ d.packet_type }, { d.trans_id }),
        (wire::PacketType::Completion as u16, 0x77)
    );
    assert_eq!(&payload[..10], b"hello host");
    assert!(ch.inbound.guest_read(&g.host.mem).is_none());
}

#[test]
fn traffic_counters_count_signals_and_packets() {
    let (mut g, _log, ch) = open_test_channel(2);
    let traffic = |g: &Guest| {
        g.server
            .channels()
            .into_iter()
            .find(|c| c.relid == ch.relid)
            .and_then(|c| c.traffic)
            .unwrap()
    };
    assert_eq!(traffic(&g), ChannelCounters::default());
    ch.outbound.guest_write(&g.host.mem, 1, b"one").unwrap();
    ch.outbound.guest_write(&g.host.mem, 2, b"two").unwrap();
    assert_eq!(g.signal(ch.connection_id), HvStatus::Success);
    // Two completions, only the first of which found the guest's ring empty.
    let t = traffic(&g);
    assert_eq!(
        (t.signals_from_guest, t.packets_from_guest),
        (1, 2),
        "{t:?}"
    );
    assert_eq!((t.packets_to_guest, t.signals_to_guest), (2, 1), "{t:?}");
    while ch.inbound.guest_read(&g.host.mem).is_some() {}
    // A guest that masked its ring's interrupt (it polls) is not signalled.
    g.host
        .mem
        .write_u32(ch.inbound.control(wire::INTERRUPT_MASK_OFFSET), 1)
        .unwrap();
    ch.outbound.guest_write(&g.host.mem, 3, b"three").unwrap();
    assert_eq!(g.signal(ch.connection_id), HvStatus::Success);
    let t = traffic(&g);
    assert_eq!((t.signals_from_guest, t.packets_from_guest), (2, 3));
    assert_eq!((t.packets_to_guest, t.signals_to_guest), (3, 1));
    // Not open: no traffic to show.
    g.close(ch.relid);
    let closed = g
        .server
        .channels()
        .into_iter()
        .find(|c| c.relid == ch.relid);
    assert_eq!(closed.map(|c| c.traffic), Some(None));
}

#[test]
fn signals_on_unknown_or_idle_connections() {
    let (mut g, log, ch) = open_test_channel(2);
    assert_eq!(g.signal(0x2000 | 99), HvStatus::InvalidConnectionId);
    assert_eq!(g.signal(1), HvStatus::InvalidConnectionId);
    assert_eq!(g.signal(0x12345), HvStatus::InvalidConnectionId);
    // Offered but not open: nothing to do.
    assert_eq!(g.signal(0x2001), HvStatus::Success);
    // Open with an empty ring: spurious, harmless.
    assert_eq!(g.signal(ch.connection_id), HvStatus::Success);
    // The legacy shared event looks at every channel.
    ch.outbound.guest_write(&g.host.mem, 1, b"legacy").unwrap();
    assert_eq!(
        g.signal(proto::VMBUS_EVENT_CONNECTION_ID),
        HvStatus::Success
    );
    assert_eq!(log.lock().unwrap().packets.len(), 1);
}

#[test]
fn many_packets_wrap_around_the_rings() {
    let (mut g, log, ch) = open_test_channel(2);
    for i in 0..500u64 {
        let payload = vec![i as u8; (i % 200) as usize + 1];
        ch.outbound.guest_write(&g.host.mem, i, &payload).unwrap();
        if i % 3 == 0 {
            g.signal(ch.connection_id);
        }
        if i % 3 == 0 {
            let mut got = 0;
            while let Some((d, p)) = ch.inbound.guest_read(&g.host.mem) {
                assert_eq!(p[0], d.trans_id as u8);
                got += 1;
            }
            assert!(got > 0);
        }
    }
    g.signal(ch.connection_id);
    while ch.inbound.guest_read(&g.host.mem).is_some() {}
    let log = log.lock().unwrap();
    assert_eq!(log.packets.len(), 500);
    assert!(log.send_errors.is_empty());
    for (i, p) in log.packets.iter().enumerate() {
        assert_eq!(p.2, i as u64);
        assert_eq!(&p.3[..(i % 200) + 1], &vec![i as u8; (i % 200) + 1][..]);
    }
}

#[test]
fn poll_picks_up_packets_without_a_signal() {
    let (mut g, log, ch) = open_test_channel(2);
    ch.outbound
        .guest_write(&g.host.mem, 3, b"no signal")
        .unwrap();
    g.poll();
    assert_eq!(log.lock().unwrap().packets.len(), 1);
    assert!(log.lock().unwrap().polls > 0);
}

#[test]
fn a_drain_that_handed_over_packets_tells_the_device() {
    let (mut g, log, ch) = open_test_channel(2);
    // A signal with nothing to read (the guest made room, or a stray one) is no drain.
    assert_eq!(g.signal(ch.connection_id), HvStatus::Success);
    assert_eq!(log.lock().unwrap().drained, 0);
    for id in 1..=3 {
        ch.outbound.guest_write(&g.host.mem, id, b"data").unwrap();
    }
    assert_eq!(g.signal(ch.connection_id), HvStatus::Success);
    {
        let log = log.lock().unwrap();
        assert_eq!((log.packets.len(), log.drained), (3, 1));
    }
    g.poll();
    assert_eq!(log.lock().unwrap().drained, 1);
    // The poll's drain counts as well.
    ch.outbound.guest_write(&g.host.mem, 4, b"data").unwrap();
    g.poll();
    assert_eq!(log.lock().unwrap().drained, 2);
}

#[test]
fn a_ready_wake_descriptor_wakes_only_its_device() {
    let mut g = Guest::new(proto::VERSION_WIN10_V6_0);
    let mut logs = Vec::new();
    for (i, wake) in [vec![40, 41], vec![50], vec![]].into_iter().enumerate() {
        let (mut dev, log) = TestDevice::new("test", 0x1000 + i as u32, 0);
        dev.wake = wake;
        g.server.add_device(Box::new(dev)).unwrap();
        logs.push(log);
    }
    let polls = |logs: &[Arc<Mutex<DeviceLog>>]| -> Vec<u32> {
        logs.iter().map(|l| l.lock().unwrap().polls).collect()
    };
    let mut fds = Vec::new();
    g.server.wake_fds(&mut fds);
    assert_eq!(fds, [40, 41, 50]);
    g.server.wake(&mut g.host, &[41]);
    assert_eq!(polls(&logs), [1, 0, 0]);
    // Once per device, however many of its descriptors are ready.
    g.server.wake(&mut g.host, &[40, 41, 50]);
    assert_eq!(polls(&logs), [2, 1, 0]);
    g.server.wake(&mut g.host, &[]);
    g.server.wake(&mut g.host, &[99]);
    assert_eq!(polls(&logs), [2, 1, 0]);
}

#[test]
fn out_of_range_write_index_fails_the_channel() {
    let (mut g, log, ch) = open_test_channel(2);
    g.host
        .mem
        .write_u32(ch.outbound.control(wire::WRITE_INDEX_OFFSET), 0x10_0000)
        .unwrap();
    assert_eq!(g.signal(ch.connection_id), HvStatus::Success);
    assert_eq!(g.state_of(5), Some(ChannelState::Failed));
    assert_eq!(log.lock().unwrap().closes, vec![0]);
    // Further signals and polls leave it alone.
    g.host
        .mem
        .write_u32(ch.outbound.control(wire::WRITE_INDEX_OFFSET), 0)
        .unwrap();
    g.signal(ch.connection_id);
    g.poll();
    assert!(log.lock().unwrap().packets.is_empty());
    // The guest can still close it and open it again.
    g.close(5);
    assert_eq!(log.lock().unwrap().closes, vec![0], "no second on_close");
    assert_eq!(g.state_of(5), Some(ChannelState::Closed));
    assert_eq!(g.open(5, 2, 2, 0).0, 0);
}

#[test]
fn packet_longer_than_published_data_fails_the_channel() {
    let (mut g, log, ch) = open_test_channel(2);
    ch.outbound.guest_write(&g.host.mem, 1, b"ok").unwrap();
    // Rewrite len8 of the packet to claim 64 KiB.
    g.host
        .mem
        .write_at(ch.outbound.base + 4096 + 4, &0x2000u16.to_le_bytes())
        .unwrap();
    g.signal(ch.connection_id);
    assert_eq!(g.state_of(5), Some(ChannelState::Failed));
    assert!(log.lock().unwrap().packets.is_empty());
}

#[test]
fn bad_data_offset_and_unaligned_index_fail_the_channel() {
    for corrupt in [0usize, 1] {
        let (mut g, _, ch) = open_test_channel(2);
        ch.outbound
            .guest_write(&g.host.mem, 1, b"12345678")
            .unwrap();
        if corrupt == 0 {
            // offset8 beyond len8.
            g.host
                .mem
                .write_at(ch.outbound.base + 4096 + 2, &9u16.to_le_bytes())
                .unwrap();
        } else {
            g.host
                .mem
                .write_u32(ch.outbound.control(wire::WRITE_INDEX_OFFSET), 20)
                .unwrap();
        }
        g.signal(ch.connection_id);
        assert_eq!(g.state_of(5), Some(ChannelState::Failed), "case {corrupt}");
    }
}

#[test]
fn corrupt_inbound_read_index_fails_sends() {
    let (mut g, log, ch) = open_test_channel(2);
    g.host
        .mem
        .write_u32(ch.inbound.control(wire::READ_INDEX_OFFSET), 0xffff_fff8)
        .unwrap();
    ch.outbound
        .guest_write(&g.host.mem, 1, b"reply please")
        .unwrap();
    g.signal(ch.connection_id);
    assert!(matches!(
        log.lock().unwrap().send_errors[..],
        [SendError::Failed(_)]
    ));
    assert_eq!(g.state_of(5), Some(ChannelState::Failed));
}

#[test]
fn full_guest_ring_waits_for_room() {
    let (mut g, log, ch) = open_test_channel(2);
    // Fill the host → guest ring with completions until the device sees Full.
    let mut sent = 0;
    loop {
        ch.outbound
            .guest_write(&g.host.mem, sent, &[1u8; 400])
            .unwrap();
        g.signal(ch.connection_id);
        sent += 1;
        if !log.lock().unwrap().send_errors.is_empty() {
            break;
        }
        assert!(sent < 100);
    }
    assert_eq!(log.lock().unwrap().send_errors[0], SendError::Full);
    let pending = g
        .host
        .mem
        .read_u32(ch.inbound.control(wire::PENDING_SEND_SIZE_OFFSET))
        .unwrap();
    assert_eq!(pending, 16 + 400 + 8);
    assert_eq!(log.lock().unwrap().writable, 0);
    // The guest drains its ring and, as hv_pkt_iter_close() does, signals the host.
    while ch.inbound.guest_read(&g.host.mem).is_some() {}
    g.signal(ch.connection_id);
    assert_eq!(log.lock().unwrap().writable, 1);
}

#[test]
fn a_flooding_device_stops_at_full() {
    let mut g = Guest::new(proto::VERSION_WIN10_V6_0);
    let (mut dev, log) = TestDevice::new("flood", 1, 0);
    dev.flood = true;
    g.server.add_device(Box::new(dev)).unwrap();
    g.boot();
    let (_, ch) = g.open(1, 2, 2, 0);
    g.poll();
    let mut n = 0;
    while ch.inbound.guest_read(&g.host.mem).is_some() {
        n += 1;
    }
    assert_eq!(n, 4096 / (16 + 504 + 8));
    assert!(log.lock().unwrap().send_errors.is_empty());
}

#[test]
fn guest_waiting_for_room_is_signalled() {
    let (mut g, _, ch) = open_test_channel(2);
    // The guest is busy reading its inbound ring: completions do not interrupt it.
    g.host
        .mem
        .write_u32(ch.inbound.control(wire::INTERRUPT_MASK_OFFSET), 1)
        .unwrap();
    for pending in [0, 224] {
        // The guest fills its outbound ring, then publishes how much room it waits for.
        let mut n = 0;
        while ch
            .outbound
            .guest_write(&g.host.mem, n, &[0u8; 200])
            .is_some()
        {
            n += 1;
        }
        assert_eq!(n, 18);
        g.host
            .mem
            .write_u32(ch.outbound.control(wire::PENDING_SEND_SIZE_OFFSET), pending)
            .unwrap();
        g.host.events.clear();
        g.signal(ch.connection_id);
        let read = g
            .host
            .mem
            .read_u32(ch.outbound.control(wire::READ_INDEX_OFFSET))
            .unwrap();
        let write = g
            .host
            .mem
            .read_u32(ch.outbound.control(wire::WRITE_INDEX_OFFSET))
            .unwrap();
        assert_eq!(read, write, "drained");
        let expected = if pending == 0 {
            vec![]
        } else {
            vec![(1, 2, 5)]
        };
        assert_eq!(g.host.events, expected, "pending {pending}");
        while ch.inbound.guest_read(&g.host.mem).is_some() {}
    }
}

#[test]
fn control_commands_reach_the_device() {
    let (mut g, _) = Guest::with_devices(0);
    let echo = g
        .server
        .control(ChannelTarget::Relid(5), &serde_json::json!({"op": "x"}))
        .unwrap();
    assert_eq!(echo, serde_json::json!({"echo": {"op": "x"}}));
    let kvp: ChannelTarget = "242ff919-07db-4180-9c2e-b86cb68c8c55".parse().unwrap();
    let stats = g
        .server
        .control(kvp, &serde_json::json!({"op": "stats"}))
        .unwrap();
    assert_eq!(stats["packets"], 0);
    assert!(matches!(
        g.server.control(kvp, &serde_json::json!({})),
        Err(VmbusError::Control(_))
    ));
    assert!(g
        .server
        .control(ChannelTarget::Relid(77), &serde_json::json!({}))
        .is_err());
}

#[test]
fn ic_channels_accept_open_and_packets() {
    let (mut g, _) = Guest::with_devices(0);
    g.boot();
    for relid in 1..=4 {
        let (status, ch) = g.open(relid, 2, 2, 0);
        assert_eq!(status, 0);
        ch.outbound
            .guest_write(&g.host.mem, 1, b"negotiate")
            .unwrap();
        g.signal(ch.connection_id);
        assert_eq!(g.state_of(relid), Some(ChannelState::Opened));
    }
    let target = ChannelTarget::Relid(3);
    assert_eq!(
        g.server
            .control(target, &serde_json::json!({"op": "stats"}))
            .unwrap()["packets"],
        1
    );
}
