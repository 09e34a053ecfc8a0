// SPDX-License-Identifier: GPL-2.0
//! Checksum and large-send offload through the whole NIC: negotiation as Linux does it, guest
//! frames with checksum / large-send info reaching the wire with the right virtio-net header,
//! bad requests dropped and counted, host frames completed and announced as verified.

use rhv_proto::ndis;
use rhv_proto::nvsp;
use rhv_proto::ring::PacketType;
use rhv_proto::rndis::{self, MessageHeader, MessageType, PerPacketInfo};
use zerocopy::IntoBytes;

use super::super::vnet::{self, VnetHeader};
use super::*;
use crate::vmbus::VmbusDevice;

/// An IPv4 TCP frame with `payload` bytes, lengths and checksums as a large send leaves them.
fn tcp4(payload: usize) -> Vec<u8> {
    let mut f = vec![0, 0x15, 0x5d, 0, 0, 9, 0, 0x15, 0x5d, 0, 0, 1, 8, 0];
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&[10, 231, 0, 2, 10, 231, 0, 1]);
    f.extend_from_slice(&[
        0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff,
    ]);
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend((0..payload).map(|i| (i % 251) as u8));
    f
}

/// A data message for `frame` with one 4-byte per-packet info element.
fn with_ppi(frame: &[u8], kind: u32, value: u32) -> Vec<u8> {
    let mut m = MessageHeader::new(MessageType::Packet, 36 + 16 + frame.len())
        .as_bytes()
        .to_vec();
    m.extend_from_slice(rndis::Packet::new(frame.len() as u32, 16).as_bytes());
    m.extend_from_slice(PerPacketInfo::new(kind, 4).as_bytes());
    m.extend_from_slice(&value.to_le_bytes());
    m.extend_from_slice(frame);
    m
}

/// Sends a whole data message from guest pages (GPA-direct, no section).
fn send_in_pages(g: &mut Guest, message: &[u8]) -> u32 {
    let pages = g.alloc_pages(message.len().div_ceil(4096) as u64 + 1);
    let gpa = pages * 4096 + 64;
    g.bus.mem.write_at(gpa, message).unwrap();
    let extra = Guest::gpa_direct(gpa, message.len() as u32);
    let payload = nvsp::encode(&nvsp::SendRndisPacket {
        channel_type: nvsp::CHANNEL_TYPE_DATA,
        send_buffer_section_index: nvsp::INVALID_SECTION_INDEX,
        send_buffer_section_size: 0,
    });
    let t = g.packet(0, PacketType::DataUsingGpaDirect, true, &extra, &payload);
    match g.completion(0, t) {
        nvsp::HostMessage::SendRndisPacketComplete(c) => c.status,
        other => panic!("{other:?}"),
    }
}

/// The offload parameters `rndis_netdev_set_hwcaps()` sets against this NIC.
fn linux_params() -> ndis::OffloadParameters {
    ndis::OffloadParameters {
        header: ndis::ObjectHeader {
            object_type: ndis::OBJECT_TYPE_DEFAULT,
            revision: 2,
            size: 28,
        },
        ip4_checksum: ndis::OFFLOAD_PARAM_TX_RX_DISABLED,
        tcp4_checksum: ndis::OFFLOAD_PARAM_TX_RX_ENABLED,
        udp4_checksum: ndis::OFFLOAD_PARAM_TX_RX_ENABLED,
        tcp6_checksum: ndis::OFFLOAD_PARAM_TX_RX_ENABLED,
        udp6_checksum: ndis::OFFLOAD_PARAM_TX_RX_ENABLED,
        lso_v2_ip4: ndis::OFFLOAD_PARAM_LSOV2_ENABLED,
        lso_v2_ip6: ndis::OFFLOAD_PARAM_LSOV2_ENABLED,
        ..Default::default()
    }
}

const CSUM_TCP4: u32 = ndis::CSUM_TX_IS_IPV4 | ndis::CSUM_TX_TCP | 34 << 16;
const LSO_TCP4: u32 = ndis::LSO_TYPE_V2 | 34 << ndis::LSO_TCP_HEADER_OFFSET_SHIFT | 1448;

#[test]
fn offloaded_frames_reach_the_wire_once_enabled() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let mut small = tcp4(100);
    let total = (small.len() - 14) as u16;
    small[16..18].copy_from_slice(&total.to_be_bytes());
    // Not enabled yet: dropped and counted, the send itself completes.
    let m = with_ppi(&small, rndis::PPI_TCPIP_CHECKSUM, CSUM_TCP4);
    assert_eq!(g.send_in_section(0, 1, &m), nvsp::STATUS_SUCCESS);
    assert_eq!(g.bad_packets(), 1);
    assert!(g.wire.0.lock().unwrap().to_host.is_empty());
    let p = linux_params();
    assert_eq!(
        g.set(ndis::OID_TCP_OFFLOAD_PARAMETERS, p.as_bytes()),
        rndis::STATUS_SUCCESS
    );
    assert_eq!(g.send_in_section(0, 1, &m), nvsp::STATUS_SUCCESS);
    let big = tcp4(30_000);
    let lso = with_ppi(&big, rndis::PPI_TCP_LARGESEND, LSO_TCP4);
    assert_eq!(send_in_pages(&mut g, &lso), nvsp::STATUS_SUCCESS);
    // An MSS of 0 and a frame past the advertised size are refused.
    let bad_mss = with_ppi(&big, rndis::PPI_TCP_LARGESEND, LSO_TCP4 & !0xfffff);
    assert_eq!(send_in_pages(&mut g, &bad_mss), nvsp::STATUS_SUCCESS);
    let huge = with_ppi(&tcp4(64_000), rndis::PPI_TCP_LARGESEND, LSO_TCP4);
    assert_eq!(send_in_pages(&mut g, &huge), nvsp::STATUS_SUCCESS);
    assert_eq!(g.bad_packets(), 3);
    let wire = g.wire.0.lock().unwrap();
    assert_eq!(wire.to_host.len(), 2);
    let h = wire.to_host_offload[0];
    assert_eq!((h.flags, h.gso_type), (vnet::F_NEEDS_CSUM, vnet::GSO_NONE));
    assert_eq!((h.csum_start, h.csum_offset), (34, 16));
    let h = wire.to_host_offload[1];
    assert_eq!(h.gso_type, vnet::GSO_TCPV4);
    assert_eq!((h.gso_size, h.hdr_len), (1448, 54));
    // The host put the IPv4 total length in.
    let sent = &wire.to_host[1];
    assert_eq!(
        u16::from_be_bytes([sent[16], sent[17]]) as usize,
        big.len() - 14
    );
    drop(wire);
    let s = g.nic.stats();
    assert_eq!((s.csum_offloaded, s.lso_frames), (1, 1));
    assert_eq!(s.lso_bytes, big.len() as u64);
}

#[test]
fn host_frames_are_completed_and_announced_as_verified() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let mut f = tcp4(500);
    f[0..6].copy_from_slice(&MAC);
    let total = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    // The pseudo-header sum the host kernel leaves in the field.
    let pseudo: u32 = [0x0ae7, 0x0002, 0x0ae7, 0x0001, 6, (f.len() - 34) as u32]
        .iter()
        .sum();
    let pseudo = ((pseudo & 0xffff) + (pseudo >> 16)) as u16;
    f[50..52].copy_from_slice(&pseudo.to_be_bytes());
    let needs = VnetHeader {
        flags: vnet::F_NEEDS_CSUM,
        csum_start: 34,
        csum_offset: 16,
        ..VnetHeader::default()
    };
    let push = |g: &mut Guest| {
        let mut w = g.wire.0.lock().unwrap();
        w.from_host.push_back(f.clone());
        w.from_host_offload.push_back(needs);
    };
    // Receive checksum offload not enabled: completed, not announced.
    push(&mut g);
    g.poll();
    let r = g.receive(0);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].message()
            .packet()
            .unwrap()
            .ppi_u32(rndis::PPI_TCPIP_CHECKSUM),
        None
    );
    let p = linux_params();
    assert_eq!(
        g.set(ndis::OID_TCP_OFFLOAD_PARAMETERS, p.as_bytes()),
        rndis::STATUS_SUCCESS
    );
    push(&mut g);
    g.poll();
    let r = g.receive(0);
    let packet = r[0].message().packet().unwrap();
    assert_eq!(
        packet.ppi_u32(rndis::PPI_TCPIP_CHECKSUM),
        Some(ndis::CSUM_RX_TCP_SUCCEEDED)
    );
    // The checksum is right: the sum over pseudo-header and segment folds to 0xffff.
    let data = packet.data;
    let mut sum: u32 = [0x0ae7, 0x0002, 0x0ae7, 0x0001, 6, (data.len() - 34) as u32]
        .iter()
        .sum();
    for w in data[34..].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    assert_eq!(sum, 0xffff);
    assert_eq!(g.nic.stats().rx_csum_verified, 1);
}

#[test]
fn a_nic_without_offload_offers_and_allows_none() {
    let mut config = Guest::config(1);
    config.offload = false;
    let mut g = Guest::new(config);
    g.bring_up();
    let mut ask = vec![0u8; 156];
    ask[..4].copy_from_slice(&[ndis::OBJECT_TYPE_OFFLOAD, 3, 156, 0]);
    let (status, caps) = g.query(ndis::OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, &ask);
    assert_eq!(status, rndis::STATUS_SUCCESS);
    assert!(caps[4..].iter().all(|&b| b == 0));
    let p = linux_params();
    assert_eq!(
        g.set(ndis::OID_TCP_OFFLOAD_PARAMETERS, p.as_bytes()),
        rndis::STATUS_INVALID_DATA
    );
    let off = ndis::OffloadParameters {
        ip4_checksum: ndis::OFFLOAD_PARAM_TX_RX_DISABLED,
        ..p
    };
    let off = ndis::OffloadParameters {
        tcp4_checksum: 0,
        udp4_checksum: 0,
        tcp6_checksum: 0,
        udp6_checksum: 0,
        lso_v2_ip4: 0,
        lso_v2_ip6: 0,
        ..off
    };
    assert_eq!(
        g.set(ndis::OID_TCP_OFFLOAD_PARAMETERS, off.as_bytes()),
        rndis::STATUS_SUCCESS
    );
}

#[test]
fn bad_csum_spoils_a_checksum_the_host_vouches_for() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let p = linux_params();
    assert_eq!(
        g.set(ndis::OID_TCP_OFFLOAD_PARAMETERS, p.as_bytes()),
        rndis::STATUS_SUCCESS
    );
    let mut f = tcp4(100);
    f[0..6].copy_from_slice(&MAC);
    let total = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    let valid = VnetHeader {
        flags: vnet::F_DATA_VALID,
        ..VnetHeader::default()
    };
    let push = |g: &mut Guest| {
        let mut w = g.wire.0.lock().unwrap();
        w.from_host.push_back(f.clone());
        w.from_host_offload.push_back(valid);
    };
    let armed = g.nic.control(&serde_json::json!({
        "op": "misbehave", "kinds": ["bad-csum"], "every": 2,
    }));
    assert!(armed.is_ok(), "{armed:?}");
    let mut checksums = Vec::new();
    for _ in 0..2 {
        push(&mut g);
        g.poll();
        let r = g.receive(0);
        let packet = r[0].message().packet().unwrap();
        assert_eq!(
            packet.ppi_u32(rndis::PPI_TCPIP_CHECKSUM),
            Some(ndis::CSUM_RX_TCP_SUCCEEDED)
        );
        checksums.push(packet.data.to_vec());
    }
    // The first went as the host got it, the second with its last byte changed.
    let last = f.len() - 1;
    assert_eq!(checksums[0], f);
    assert_eq!(checksums[1][..last], f[..last]);
    assert_ne!(checksums[1][last], f[last]);
    let done = g.nic.control(&serde_json::json!({"op": "stats"})).unwrap()["misbehaved"].clone();
    assert_eq!(done["bad-csum"], 1);
}
