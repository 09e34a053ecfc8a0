// SPDX-License-Identifier: GPL-2.0
//! A guest that sends garbage: every bad packet is dropped and counted, a requested
//! completion still comes (with a failure status), and nothing panics.

use rhv_proto::ndis;
use rhv_proto::nvsp::{self, HostMessage};
use rhv_proto::ring::PacketType;
use rhv_proto::rndis::{self, MessageHeader, MessageType};
use zerocopy::IntoBytes;

use super::*;
use crate::vmbus::VmbusDevice;

fn rndis_status(g: &mut Guest, channel: u16, t: u64) -> u32 {
    match g.completion(channel, t) {
        HostMessage::SendRndisPacketComplete(c) => c.status,
        other => panic!("{other:?}"),
    }
}

#[test]
fn messages_out_of_order_or_unknown_are_dropped() {
    let mut g = Guest::new(Guest::config(2));
    // Data before the version is negotiated.
    let payload = nvsp::encode(&nvsp::SendRndisPacket::default());
    g.request(0, &payload);
    // An unknown NVSP type, a host-only type, a truncated message, an empty one.
    g.request(0, &999u32.to_le_bytes());
    g.request(0, &nvsp::encode(&nvsp::InitComplete::default()));
    g.request(0, &[107, 0, 0, 0, 1]);
    g.request(0, &[]);
    // Packet types NVSP does not use.
    for ty in [
        PacketType::DataUsingTransferPages,
        PacketType::CancelRequest,
    ] {
        g.packet(0, ty, true, &[0; 8], &payload);
    }
    g.packet(0, PacketType::DataInband, false, &[], &[0xff; 40]);
    assert_eq!(g.bad_packets(), 8);
    assert!(g.take(0).is_none());
    // The guest's completion of something the host never sent.
    g.packet(0, PacketType::Completion, false, &[], &payload);
    assert_eq!(g.bad_packets(), 9);
}

#[test]
fn bad_buffers_are_refused_with_a_failure_status() {
    let mut g = Guest::new(Guest::config(1));
    assert_eq!(g.negotiate(), nvsp::VERSION_61);
    let ask = |g: &mut Guest, gpadl: u32| {
        let t = g.request(
            0,
            &nvsp::encode(&nvsp::SendReceiveBuffer {
                gpadl_handle: gpadl,
                id: nvsp::LINUX_RECEIVE_BUFFER_ID,
            }),
        );
        match g.completion(0, t) {
            HostMessage::SendReceiveBufferComplete(c) => c.status,
            other => panic!("{other:?}"),
        }
    };
    // No such GPADL; a GPADL of another channel; one too small for 16 sections.
    assert_eq!(ask(&mut g, 0x1234), nvsp::STATUS_FAIL);
    let (foreign, _) = g.create_gpadl(64);
    g.bus.gpadls.get_mut(&foreign).unwrap().relid = 99;
    assert_eq!(ask(&mut g, foreign), nvsp::STATUS_FAIL);
    let (small, _) = g.create_gpadl(2);
    assert_eq!(ask(&mut g, small), nvsp::STATUS_FAIL);
    let t = g.request(
        0,
        &nvsp::encode(&nvsp::SendSendBuffer {
            gpadl_handle: small + 100,
            id: 0,
        }),
    );
    match g.completion(0, t) {
        HostMessage::SendSendBufferComplete(c) => assert_eq!({ c.status }, nvsp::STATUS_FAIL),
        other => panic!("{other:?}"),
    }
    assert_eq!(g.bad_packets(), 4);
    assert!(g.nic.recv.is_none() && g.nic.send.is_none());
}

#[test]
fn bad_sections_and_page_ranges_fail_the_send() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let sections = 256 * 4096 / 6144;
    let send = |g: &mut Guest, index: u32, size: u32, extra: &[u8]| {
        let payload = nvsp::encode(&nvsp::SendRndisPacket {
            channel_type: nvsp::CHANNEL_TYPE_DATA,
            send_buffer_section_index: index,
            send_buffer_section_size: size,
        });
        let ty = if extra.is_empty() {
            PacketType::DataInband
        } else {
            PacketType::DataUsingGpaDirect
        };
        let t = g.packet(0, ty, true, extra, &payload);
        rndis_status(g, 0, t)
    };
    let before = g.bad_packets();
    assert_eq!(send(&mut g, sections, 100, &[]), nvsp::STATUS_FAIL);
    assert_eq!(send(&mut g, u32::MAX - 1, 100, &[]), nvsp::STATUS_FAIL);
    assert_eq!(send(&mut g, 0, 6145, &[]), nvsp::STATUS_FAIL);
    assert_eq!(send(&mut g, 0, 0, &[]), nvsp::STATUS_FAIL);
    // No section and no pages: nothing to send.
    assert_eq!(
        send(&mut g, nvsp::INVALID_SECTION_INDEX, 0, &[]),
        nvsp::STATUS_FAIL
    );
    // Pages outside guest RAM, and a range list that lies about its length.
    let outside = Guest::gpa_direct(RAM as u64 + 4096, 100);
    assert_eq!(
        send(&mut g, nvsp::INVALID_SECTION_INDEX, 0, &outside),
        nvsp::STATUS_FAIL
    );
    let mut lying = Guest::gpa_direct(4096, 100);
    lying[4..8].copy_from_slice(&1000u32.to_le_bytes());
    assert_eq!(
        send(&mut g, nvsp::INVALID_SECTION_INDEX, 0, &lying),
        nvsp::STATUS_FAIL
    );
    let huge = Guest::gpa_direct(4096, 1 << 20);
    assert_eq!(
        send(&mut g, nvsp::INVALID_SECTION_INDEX, 0, &huge[..40]),
        nvsp::STATUS_FAIL
    );
    assert_eq!(g.bad_packets() - before, 8);
    assert!(g.wire.0.lock().unwrap().to_host.is_empty());
}

#[test]
fn bogus_rndis_lengths_offsets_and_types_fail_the_send() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let f = frame([0xff; 6], 1, 60);
    let good = data_message(&f);
    let mut cases: Vec<Vec<u8>> = Vec::new();
    // msg_len past the bytes sent, msg_len below a header.
    let mut m = good.clone();
    m[4..8].copy_from_slice(&(good.len() as u32 + 1).to_le_bytes());
    cases.push(m);
    let mut m = good.clone();
    m[4..8].copy_from_slice(&4u32.to_le_bytes());
    cases.push(m);
    // data_offset into the fixed part; data_length past the message.
    let mut m = good.clone();
    m[8..12].copy_from_slice(&4u32.to_le_bytes());
    cases.push(m);
    let mut m = good.clone();
    m[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    cases.push(m);
    // A message type RNDIS does not have, and one only the host sends.
    let mut m = good.clone();
    m[..4].copy_from_slice(&0x77u32.to_le_bytes());
    cases.push(m);
    cases.push(super::super::rndis_control::message(
        MessageType::InitializeComplete,
        &[rndis::InitializeComplete::default().as_bytes()],
    ));
    // A QUERY whose buffer offset points past the message.
    let q = rndis::OidRequest {
        request_id: 1,
        oid: ndis::OID_GEN_LINK_SPEED,
        info_buffer_length: 4,
        info_buffer_offset: 400,
        device_vc_handle: 0,
    };
    cases.push(super::super::rndis_control::message(
        MessageType::Query,
        &[q.as_bytes()],
    ));
    // A data message shorter than its fixed part.
    cases.push(
        MessageHeader::new(MessageType::Packet, 8)
            .as_bytes()
            .to_vec(),
    );
    cases.last_mut().unwrap().extend_from_slice(&[0; 8]);
    let before = g.bad_packets();
    for (i, c) in cases.iter().enumerate() {
        assert_eq!(g.send_in_section(0, 1, c), nvsp::STATUS_FAIL, "case {i}");
    }
    assert_eq!(g.bad_packets() - before, cases.len() as u64);
    assert!(g.wire.0.lock().unwrap().to_host.is_empty());
    assert!(g.receive(0).is_empty(), "no answers to broken requests");
    // A good message after a broken one in the same batch is not reached; the good one
    // before it went out.
    let mut batch = good.clone();
    batch.extend_from_slice(&cases[1]);
    assert_eq!(g.send_in_section(0, 1, &batch), nvsp::STATUS_FAIL);
    assert_eq!(g.wire.0.lock().unwrap().to_host, [f]);
}

#[test]
fn completions_that_match_nothing_are_dropped() {
    let mut g = Guest::new(Guest::config(2));
    g.bring_up();
    g.open_channel(1);
    g.wire
        .0
        .lock()
        .unwrap()
        .from_host
        .push_back(frame(MAC, 1, 60));
    g.poll();
    let s = g.take(0).unwrap();
    let done = nvsp::encode(&nvsp::SendRndisPacketComplete {
        status: nvsp::STATUS_SUCCESS,
    });
    let complete = |g: &mut Guest, channel: u16, trans_id: u64, payload: &[u8]| {
        let p = IncomingPacket {
            packet_type: PacketType::Completion as u16,
            flags: 0,
            trans_id,
            extra: &[],
            payload,
        };
        let mut h = g.bus.handle(channel);
        g.nic.handle_packet(&mut h, &p);
    };
    let before = g.bad_packets();
    complete(&mut g, 0, s.trans_id + 1000, &done);
    complete(&mut g, 1, s.trans_id, &done);
    complete(&mut g, 0, s.trans_id, &[1, 2]);
    complete(&mut g, 0, s.trans_id, &nvsp::encode(&nvsp::Init::default()));
    assert_eq!(g.bad_packets() - before, 4);
    assert_eq!(g.nic.recv.as_ref().unwrap().in_flight(), 1);
    // The right one frees the section; a second one is unknown again.
    complete(&mut g, 0, s.trans_id, &done);
    assert_eq!(g.nic.recv.as_ref().unwrap().in_flight(), 0);
    complete(&mut g, 0, s.trans_id, &done);
    assert_eq!(g.bad_packets() - before, 5);
}

#[test]
fn a_buffer_gpadl_torn_down_without_revoke_is_dropped() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let id = g.recv_gpadl;
    g.bus.gpadls.remove(&id);
    g.wire
        .0
        .lock()
        .unwrap()
        .from_host
        .push_back(frame(MAC, 1, 60));
    g.poll();
    assert!(g.take(0).is_none());
    assert!(g.nic.recv.is_none());
    assert_eq!(g.bad_packets(), 1);
    assert_eq!(g.nic.stats().to_guest.drops, 1);
}

/// Random bytes in every field a guest controls: the NIC must survive all of it.
#[test]
fn random_garbage_never_panics() {
    let mut g = Guest::new(Guest::config(2));
    g.bring_up();
    g.open_channel(1);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let types = [
        PacketType::DataInband,
        PacketType::DataUsingGpaDirect,
        PacketType::Completion,
        PacketType::DataUsingTransferPages,
    ];
    for round in 0..3000 {
        let len = (next() % 120) as usize;
        let mut payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len >= 4 && round % 2 == 0 {
            // Mostly real message types, so the parsers behind them run too.
            let ty = [1u32, 101, 103, 104, 106, 107, 108, 125, 129, 133][(next() % 10) as usize];
            payload[..4].copy_from_slice(&ty.to_le_bytes());
            if ty == 107 && len >= 12 && round % 4 == 0 {
                payload[8..12].copy_from_slice(&((next() % 50) as u32).to_le_bytes());
            }
        }
        let extra_len = (next() % 6) as usize * 8;
        let mut extra: Vec<u8> = (0..extra_len).map(|_| next() as u8).collect();
        if extra_len >= 8 {
            extra[4..8].copy_from_slice(&((next() % 3) as u32).to_le_bytes());
        }
        // Garbage RNDIS in a send section now and then.
        if round % 7 == 0 {
            let junk: Vec<u8> = (0..(next() % 300)).map(|_| next() as u8).collect();
            let base = g.bus.gpadls[&g.send_gpadl].ranges[0].pfns[0] * 4096;
            g.bus
                .mem
                .write_at(base + 6144 * (next() % 40), &junk)
                .unwrap();
        }
        let ty = types[(next() % 4) as usize];
        let channel = (next() % 2) as u16;
        g.packet(channel, ty, next() % 2 == 0, &extra, &payload);
        if round % 50 == 0 {
            g.poll();
            g.receive(0);
            g.receive(1);
        }
    }
    assert!(g.bad_packets() > 1000);
}

/// The ranges (offset, length) of a transfer-page packet.
fn ranges_of(s: &Sent) -> Vec<(u32, u32)> {
    s.extra[8..]
        .chunks_exact(8)
        .map(|r| {
            let len = u32::from_le_bytes(r[..4].try_into().unwrap());
            (u32::from_le_bytes(r[4..].try_into().unwrap()), len)
        })
        .collect()
}

#[test]
fn misbehave_sends_bad_receives_and_completions_next_to_good_ones() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let armed = g.nic.control(&serde_json::json!({
        "op": "misbehave",
        "kinds": ["bad-range", "bad-rndis", "overlap-ranges", "unknown-completion",
            "duplicate-completion"],
    }));
    assert!(armed.is_ok(), "{armed:?}");
    let buffer_len = g.bus.gpadls[&g.recv_gpadl].ranges[0].pfns.len() as u32 * 4096;
    let frame_in = |g: &mut Guest, tag| {
        g.wire
            .0
            .lock()
            .unwrap()
            .from_host
            .push_back(frame(MAC, tag, 60));
        g.poll();
        let s = g.take(0).expect("a transfer-page packet");
        assert_eq!(s.packet_type, PacketType::DataUsingTransferPages);
        s
    };
    // bad-range: the frame's range, then one past the end of the buffer.
    let s = frame_in(&mut g, 1);
    let r = ranges_of(&s);
    assert_eq!(r.len(), 2);
    assert!(r[0].0 + r[0].1 <= buffer_len);
    assert!(r[1].0 >= buffer_len, "{r:?} in a buffer of {buffer_len}");
    // bad-rndis: the frame, then a message claiming far more than its 44 bytes.
    let s = frame_in(&mut g, 2);
    let r = ranges_of(&s);
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].1, 44);
    let base = g.bus.gpadls[&g.recv_gpadl].ranges[0].pfns[0] * 4096;
    let mut header = [0u8; 8];
    g.bus
        .mem
        .read_at(base + u64::from(r[1].0), &mut header)
        .unwrap();
    assert!(u32::from_le_bytes(header[4..].try_into().unwrap()) > 44);
    // overlap-ranges: the frame's range, then the same range again and again.
    let s = frame_in(&mut g, 3);
    let r = ranges_of(&s);
    assert_eq!(r.len(), 1 + crate::netvsp::misbehave::OVERLAP_REPEATS);
    assert!(r.iter().all(|&x| x == r[0]), "{r:?}");
    assert!(r[0].1 >= 60);
    // unknown-completion, then duplicate-completion, with the guest's data sends.
    let send = |g: &mut Guest| {
        let before = g.nic.stats().from_guest.frames;
        let base = g.bus.gpadls[&g.send_gpadl].ranges[0].pfns[0] * 4096;
        let m = data_message(&frame([0xff; 6], 9, 60));
        g.bus.mem.write_at(base, &m).unwrap();
        let payload = nvsp::encode(&nvsp::SendRndisPacket {
            channel_type: nvsp::CHANNEL_TYPE_DATA,
            send_buffer_section_index: 0,
            send_buffer_section_size: m.len() as u32,
        });
        let t = g.packet(0, PacketType::DataInband, true, &[], &payload);
        assert_eq!(g.nic.stats().from_guest.frames, before + 1);
        let mut ids = Vec::new();
        while let Some(s) = g.take(0) {
            assert_eq!(s.packet_type, PacketType::Completion);
            ids.push(s.trans_id);
        }
        (t, ids)
    };
    let (t, ids) = send(&mut g);
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], t);
    assert_eq!(ids[1], t);
    let (t, ids) = send(&mut g);
    assert_eq!(ids, [t, t]);
    let done = g.nic.control(&serde_json::json!({"op": "stats"})).unwrap()["misbehaved"].clone();
    assert_eq!(
        done,
        serde_json::json!({"bad-range": 1, "bad-rndis": 1, "overlap-ranges": 1, "bad-csum": 0,
            "stop-reading": 0,
            "unknown-completion": 1, "duplicate-completion": 1})
    );
}

#[test]
fn stop_reading_pauses_the_guest_rings_and_sends_a_frame_per_packet() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    assert!(!g.nic.pauses_reading());
    let armed = g.nic.control(&serde_json::json!({
        "op": "misbehave", "kinds": ["stop-reading"], "count": 1,
    }));
    assert!(armed.is_ok(), "{armed:?}");
    let frames_in = |g: &mut Guest, n: u8| {
        let mut wire = g.wire.0.lock().unwrap();
        for tag in 0..n {
            wire.from_host.push_back(frame(MAC, tag, 60));
        }
    };
    // The packet it goes with is sent as usual, then reading stops.
    frames_in(&mut g, 1);
    g.poll();
    assert!(g.take(0).is_some());
    assert!(g.nic.pauses_reading());
    // Meanwhile every frame comes in a packet of its own.
    frames_in(&mut g, 5);
    g.poll();
    let mut packets = 0;
    while let Some(s) = g.take(0) {
        assert_eq!(s.packet_type, PacketType::DataUsingTransferPages);
        assert_eq!(ranges_of(&s).len(), 1);
        packets += 1;
    }
    assert_eq!(packets, 5);
    let done = g.nic.control(&serde_json::json!({"op": "stats"})).unwrap()["misbehaved"].clone();
    assert_eq!(done["stop-reading"], 1);
}
