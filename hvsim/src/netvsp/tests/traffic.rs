// SPDX-License-Identifier: GPL-2.0
//! Frames both ways: send-buffer sections, batches, the partial copy Linux does for large
//! frames, VLAN tags, the packet filter, RSS over sub-channels, flow control, link down.

use rhv_proto::ndis;
use rhv_proto::nvsp;
use rhv_proto::ring::PacketType;
use rhv_proto::rndis::{self, MessageHeader, MessageType, PerPacketInfo};
use zerocopy::IntoBytes;

use super::*;
use crate::netvsp::rss::tests::{rss_params, tcp4_frame, KEY};

fn pad8(mut v: Vec<u8>) -> Vec<u8> {
    let len = v.len().div_ceil(8) * 8;
    // Linux pads a batched message and counts the padding in msg_len.
    let msg_len = len as u32;
    v.resize(len, 0);
    v[4..8].copy_from_slice(&msg_len.to_le_bytes());
    v
}

#[test]
fn guest_frames_reach_the_wire() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let f = frame([0xff; 6], 1, 60);
    assert_eq!(
        g.send_in_section(0, 3, &data_message(&f)),
        nvsp::STATUS_SUCCESS
    );
    // A batch of three in one section, as netvsc_send() aggregates them.
    let mut batch = Vec::new();
    for tag in 2..5 {
        batch.extend(pad8(data_message(&frame([0xff; 6], tag, 61))));
    }
    assert_eq!(g.send_in_section(0, 4, &batch), nvsp::STATUS_SUCCESS);
    let wire = g.wire.0.lock().unwrap();
    assert_eq!(wire.to_host.len(), 4);
    assert_eq!(wire.to_host[0], f);
    assert_eq!(wire.to_host[3], frame([0xff; 6], 4, 61));
    drop(wire);
    let s = g.nic.stats();
    assert_eq!((s.from_guest.frames, s.from_guest.bytes), (4, 60 + 3 * 61));
    assert_eq!(g.bad_packets(), 0);
}

#[test]
fn a_header_in_the_section_and_the_frame_in_pages() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let small = frame([0xff; 6], 7, 64);
    let big = frame([0xff; 6], 8, 6000);
    // netvsc_send() with cp_partial: earlier messages, then only the RNDIS header of the big
    // one in the section; its frame follows as GPA-direct pages.
    let mut section = pad8(data_message(&small));
    section.extend_from_slice(MessageHeader::new(MessageType::Packet, 36 + big.len()).as_bytes());
    section.extend_from_slice(rndis::Packet::new(big.len() as u32, 0).as_bytes());
    let base = g.bus.gpadls[&g.send_gpadl].ranges[0].pfns[0] * 4096;
    g.bus.mem.write_at(base, &section).unwrap();
    let pages = g.alloc_pages(3);
    let gpa = pages * 4096 + 2000;
    g.bus.mem.write_at(gpa, &big).unwrap();
    let extra = Guest::gpa_direct(gpa, big.len() as u32);
    let payload = nvsp::encode(&nvsp::SendRndisPacket {
        channel_type: nvsp::CHANNEL_TYPE_DATA,
        send_buffer_section_index: 0,
        send_buffer_section_size: section.len() as u32,
    });
    let t = g.packet(0, PacketType::DataUsingGpaDirect, true, &extra, &payload);
    match g.completion(0, t) {
        nvsp::HostMessage::SendRndisPacketComplete(c) => {
            assert_eq!({ c.status }, nvsp::STATUS_SUCCESS)
        }
        other => panic!("{other:?}"),
    }
    let wire = g.wire.0.lock().unwrap();
    assert_eq!(wire.to_host, [small, big]);
}

#[test]
fn vlan_tags_from_per_packet_info_go_back_into_the_frame() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let f = frame([0xff; 6], 3, 60);
    let info: u32 = (5 << ndis::VLAN_ID_SHIFT) | 2;
    let mut m = MessageHeader::new(MessageType::Packet, 36 + 16 + f.len())
        .as_bytes()
        .to_vec();
    m.extend_from_slice(rndis::Packet::new(f.len() as u32, 16).as_bytes());
    m.extend_from_slice(PerPacketInfo::new(rndis::PPI_IEEE_8021Q, 4).as_bytes());
    m.extend_from_slice(&info.to_le_bytes());
    m.extend_from_slice(&f);
    assert_eq!(g.send_in_section(0, 0, &m), nvsp::STATUS_SUCCESS);
    let sent = g.wire.0.lock().unwrap().to_host[0].clone();
    assert_eq!(sent.len(), 64);
    assert_eq!(&sent[12..16], &[0x81, 0x00, 0x40, 0x05]);
    assert_eq!(&sent[16..], &f[12..]);
}

#[test]
fn host_frames_are_filtered_and_delivered() {
    let mut g = Guest::new(Guest::config(1));
    // Nothing is delivered before the guest set a packet filter.
    g.wire
        .0
        .lock()
        .unwrap()
        .from_host
        .push_back(frame(MAC, 1, 60));
    g.poll();
    assert_eq!(g.nic.stats().filtered, 1);
    g.bring_up();
    {
        let mut w = g.wire.0.lock().unwrap();
        w.from_host.push_back(frame(MAC, 2, 60));
        w.from_host
            .push_back(frame([0, 0x15, 0x5d, 9, 9, 9], 3, 60));
        w.from_host.push_back(frame([0xff; 6], 4, 1514));
        w.from_host
            .push_back(frame([0x33, 0x33, 0, 0, 0, 1], 5, 90));
    }
    g.poll();
    let got = g.receive(0);
    let frames: Vec<Vec<u8>> = got.iter().map(frame_of).collect();
    assert_eq!(
        frames,
        [
            frame(MAC, 2, 60),
            frame([0xff; 6], 4, 1514),
            frame([0x33, 0x33, 0, 0, 0, 1], 5, 90)
        ]
    );
    let s = g.nic.stats();
    assert_eq!((s.to_guest.frames, s.to_guest.bytes), (3, 60 + 1514 + 90));
    assert_eq!(s.filtered, 2);
    // All sections came back with the completions.
    let recv = g.nic.recv.as_ref().unwrap();
    assert_eq!(recv.in_flight(), 0);
    assert_eq!(recv.free_sections() as u32, {
        g.recv_section.unwrap().num_sub_allocations
    });
    // A frame larger than a section is dropped, not truncated.
    g.wire
        .0
        .lock()
        .unwrap()
        .from_host
        .push_back(frame(MAC, 6, 1800));
    g.poll();
    assert!(g.receive(0).is_empty());
    assert_eq!(g.nic.stats().to_guest.drops, 1);
}

/// A TCP frame to the guest from 10.0.0.1:`sport` to 10.0.0.2:5201.
fn tcp_frame(sport: u16) -> Vec<u8> {
    let mut f = tcp4_frame([10, 0, 0, 1], [10, 0, 0, 2], sport, 5201);
    f[..6].copy_from_slice(&MAC);
    f
}

#[test]
fn rss_spreads_flows_over_the_sub_channels() {
    let mut g = Guest::new(Guest::config(2));
    g.bring_up();
    g.open_channel(1);
    let table: Vec<u32> = (0..128).map(|i| i % 2).collect();
    assert_eq!(
        g.set(
            ndis::OID_GEN_RECEIVE_SCALE_PARAMETERS,
            &rss_params(&table, 0)
        ),
        rndis::STATUS_SUCCESS
    );
    for port in 40000..40032 {
        g.wire
            .0
            .lock()
            .unwrap()
            .from_host
            .push_back(tcp_frame(port));
    }
    g.poll();
    let on0 = g.receive(0);
    let on1 = g.receive(1);
    assert_eq!(on0.len() + on1.len(), 32);
    assert!(
        !on0.is_empty() && !on1.is_empty(),
        "{} / {}",
        on0.len(),
        on1.len()
    );
    // Each frame carries the hash that picked its channel.
    for r in on0.iter().chain(&on1) {
        let p = r.message().packet().unwrap();
        let hash = p.ppi_u32(rndis::PPI_HASH_VALUE).unwrap();
        let mut input = vec![10, 0, 0, 1, 10, 0, 0, 2];
        input.extend_from_slice(&p.data[34..38]);
        assert_eq!(hash, crate::netvsp::rss::toeplitz(&KEY, &input));
        assert_eq!(u16::from(hash % 128 % 2 == 1), r.channel);
    }
    assert_eq!(g.bad_packets(), 0);
}

#[test]
fn a_full_ring_keeps_frames_until_there_is_room() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    g.bus.channels.get_mut(&0).unwrap().full = true;
    for i in 0..100u8 {
        g.wire
            .0
            .lock()
            .unwrap()
            .from_host
            .push_back(frame(MAC, i, 100));
    }
    g.poll();
    assert!(g.take(0).is_none());
    g.bus.channels.get_mut(&0).unwrap().full = false;
    g.poll();
    let got = g.receive(0);
    assert_eq!(got.len(), 100);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(frame_of(r), frame(MAC, i as u8, 100));
    }
    assert_eq!(g.nic.stats().to_guest.drops, 0);
}

#[test]
fn frames_wait_for_sections_the_guest_has_not_returned() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let sections = g.recv_section.unwrap().num_sub_allocations as usize;
    for i in 0..sections + 10 {
        g.wire
            .0
            .lock()
            .unwrap()
            .from_host
            .push_back(frame(MAC, i as u8, 64));
    }
    // Without completions only as many frames as sections go out (a poll takes at most
    // 1024); the rest stay in the TAP.
    let mut sent = 0;
    for _ in 0..sections / 1024 + 3 {
        g.poll();
        while let Some(s) = g.take(0) {
            sent += u32::from_le_bytes(s.extra[4..8].try_into().unwrap()) as usize;
        }
    }
    assert_eq!(sent, sections);
    assert_eq!(g.wire.0.lock().unwrap().from_host.len(), 10);
    assert_eq!(g.nic.stats().to_guest.drops, 0);
}

#[test]
fn link_down_stops_traffic_both_ways() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    g.nic.set_link(false);
    g.poll();
    assert_eq!(g.receive(0).len(), 1, "the indication");
    g.wire
        .0
        .lock()
        .unwrap()
        .from_host
        .push_back(frame(MAC, 1, 60));
    g.poll();
    assert!(g.receive(0).is_empty());
    assert_eq!(
        g.send_in_section(0, 0, &data_message(&frame([0xff; 6], 2, 60))),
        nvsp::STATUS_SUCCESS
    );
    assert!(g.wire.0.lock().unwrap().to_host.is_empty());
    let s = g.nic.stats();
    assert_eq!((s.filtered, s.from_guest.drops), (1, 1));
    // A wire that refuses frames counts drops too.
    g.nic.set_link(true);
    g.wire.0.lock().unwrap().fail_sends = true;
    g.send_in_section(0, 0, &data_message(&frame([0xff; 6], 3, 60)));
    assert_eq!(g.nic.stats().from_guest.drops, 2);
}
