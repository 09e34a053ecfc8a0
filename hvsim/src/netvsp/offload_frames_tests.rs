// SPDX-License-Identifier: GPL-2.0
//! Tests of the per-frame offload mapping: frames are built here, the host kernel's part
//! (filling in a `NEEDS_CSUM` checksum) is played by [`kernel_fills_checksum`], and every
//! result is checked with an independent checksum verifier.

use super::*;
use crate::netvsp::offload::OffloadState;
use rhv_proto::rndis::{self, PerPacketInfo};
use zerocopy::IntoBytes;

const MAC: [u8; 12] = [2, 0, 0, 0, 0, 1, 0, 0x15, 0x5d, 0, 0, 1];

/// Ethernet + IPv4 (+ `ip_opts` bytes of options) + TCP (20 bytes) + `payload` bytes; the
/// lengths and checksums are left as Linux leaves them for a large send (zero).
fn tcp4(payload: usize, ip_opts: usize) -> Vec<u8> {
    let mut f = MAC.to_vec();
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    // CAST: small test values.
    f.push(0x45 + (ip_opts / 4) as u8);
    f.extend_from_slice(&[0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&[10, 231, 0, 2, 10, 231, 0, 1]);
    f.extend(std::iter::repeat_n(1u8, ip_opts));
    f.extend_from_slice(&[
        0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff,
    ]);
    f.extend_from_slice(&[0xde, 0xad, 0, 0]);
    f.extend((0..payload).map(|i| (i * 7 + 3) as u8));
    f
}

/// Ethernet + IPv6 + TCP + payload, payload length zero.
fn tcp6(payload: usize) -> Vec<u8> {
    let mut f = MAC.to_vec();
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, 6, 64]);
    f.extend((0..32).map(|i| 0xfd ^ i as u8));
    f.extend_from_slice(&[
        0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff,
    ]);
    f.extend_from_slice(&[0x12, 0x34, 0, 0]);
    f.extend((0..payload).map(|i| (i * 13 + 1) as u8));
    f
}

/// Ethernet + IPv4 + UDP + payload with consistent lengths.
fn udp4(payload: usize) -> Vec<u8> {
    let mut f = tcp4(0, 0);
    f.truncate(34);
    f[23] = 17;
    let total = (20 + 8 + payload) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0x30, 0x39, 0x00, 0x35]);
    f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    f.extend_from_slice(&[0xaa, 0xbb]);
    f.extend((0..payload).map(|i| i as u8));
    f
}

/// The host kernel's part of `NEEDS_CSUM`.
fn kernel_fills_checksum(hdr: &VnetHeader, f: &mut [u8]) {
    assert_eq!(hdr.flags & vnet::F_NEEDS_CSUM, vnet::F_NEEDS_CSUM);
    let start = usize::from(hdr.csum_start);
    let field = start + usize::from(hdr.csum_offset);
    let c = !fold(add_words(0, &f[start..]));
    f[field..field + 2].copy_from_slice(&c.to_be_bytes());
}

/// Whether the transport checksum of the IP packet at `l3` is right, computed from scratch.
fn transport_checksum_ok(f: &[u8], l3: usize) -> bool {
    let v6 = f[l3] >> 4 == 6;
    let (l4, proto, src) = if v6 {
        (l3 + 40, f[l3 + 6], &f[l3 + 8..l3 + 40])
    } else {
        (
            l3 + usize::from(f[l3] & 0xf) * 4,
            f[l3 + 9],
            &f[l3 + 12..l3 + 20],
        )
    };
    let sum = add_words(0, src) + u64::from(proto) + (f.len() - l4) as u64;
    fold(add_words(sum, &f[l4..])) == 0xffff
}

fn ip4_header_ok(f: &[u8], l3: usize) -> bool {
    let ihl = usize::from(f[l3] & 0xf) * 4;
    fold(add_words(0, &f[l3..l3 + ihl])) == 0xffff
}

fn all_on() -> OffloadState {
    OffloadState::all_on()
}

fn csum(info: u32) -> TxRequest {
    TxRequest {
        checksum: Some(info),
        lso: None,
    }
}

fn lso(info: u32) -> TxRequest {
    TxRequest {
        checksum: None,
        lso: Some(info),
    }
}

const TCP4_AT_34: u32 = ndis::CSUM_TX_IS_IPV4 | ndis::CSUM_TX_TCP | 34 << 16;

#[test]
fn tcp4_checksum_becomes_needs_csum() {
    let mut f = tcp4(1000, 0);
    let total = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    let (hdr, kind) = prepare_tx(&csum(TCP4_AT_34), &mut f, 0, &all_on(), 9000).unwrap();
    assert_eq!(kind, TxKind::Checksum);
    assert_eq!((hdr.csum_start, hdr.csum_offset, hdr.gso_type), (34, 16, 0));
    kernel_fills_checksum(&hdr, &mut f);
    assert!(transport_checksum_ok(&f, 14));
}

#[test]
fn udp4_and_ip_header_checksums() {
    let mut f = udp4(333);
    let info = ndis::CSUM_TX_IS_IPV4 | ndis::CSUM_TX_UDP | ndis::CSUM_TX_IP_HEADER | 34 << 16;
    let (hdr, kind) = prepare_tx(&csum(info), &mut f, 0, &all_on(), 9000).unwrap();
    assert_eq!(kind, TxKind::Checksum);
    assert_eq!(hdr.csum_offset, 6);
    assert!(ip4_header_ok(&f, 14));
    kernel_fills_checksum(&hdr, &mut f);
    assert!(transport_checksum_ok(&f, 14));
}

#[test]
fn tcp4_large_send_becomes_gso() {
    let mut f = tcp4(20_000, 12);
    let info = ndis::LSO_TYPE_V2 | 46 << ndis::LSO_TCP_HEADER_OFFSET_SHIFT | 1448;
    let (hdr, kind) = prepare_tx(&lso(info), &mut f, 0, &all_on(), 9000).unwrap();
    assert_eq!(kind, TxKind::LargeSend { ipv6: false });
    assert_eq!(hdr.gso_type, vnet::GSO_TCPV4);
    assert_eq!((hdr.gso_size, hdr.hdr_len, hdr.csum_start), (1448, 66, 46));
    assert_eq!(u16::from_be_bytes([f[16], f[17]]) as usize, f.len() - 14);
    assert!(ip4_header_ok(&f, 14));
    kernel_fills_checksum(&hdr, &mut f);
    assert!(transport_checksum_ok(&f, 14));
}

#[test]
fn tcp6_large_send_with_cwr_and_a_vlan_tag() {
    let mut f = tcp6(9000);
    f[14 + 40 + 13] |= 0x80;
    // The VLAN tag the host put back in shifts everything by 4.
    let mut tagged = f[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0, 0, 5]);
    tagged.extend_from_slice(&f[12..]);
    let info = ndis::LSO_TYPE_V2 | ndis::LSO_IPV6 | 54 << ndis::LSO_TCP_HEADER_OFFSET_SHIFT | 1220;
    let (hdr, _) = prepare_tx(&lso(info), &mut tagged, 4, &all_on(), 1500).unwrap();
    assert_eq!(hdr.gso_type, vnet::GSO_TCPV6 | vnet::GSO_ECN);
    assert_eq!((hdr.csum_start, hdr.hdr_len), (58, 78));
    let payload_len = u16::from_be_bytes([tagged[22], tagged[23]]) as usize;
    assert_eq!(payload_len, tagged.len() - 18 - 40);
    kernel_fills_checksum(&hdr, &mut tagged);
    assert!(transport_checksum_ok(&tagged, 18));
}

#[test]
fn bad_requests_are_refused() {
    let on = all_on();
    let cases: Vec<(TxRequest, Vec<u8>)> = vec![
        // IPv4 and IPv6 at once; TCP and UDP at once; IP header over IPv6.
        (csum(TCP4_AT_34 | ndis::CSUM_TX_IS_IPV6), tcp4(10, 0)),
        (csum(TCP4_AT_34 | ndis::CSUM_TX_UDP), tcp4(10, 0)),
        (
            csum(ndis::CSUM_TX_IS_IPV6 | ndis::CSUM_TX_IP_HEADER),
            tcp6(10),
        ),
        // Transport offset not where the IP header ends.
        (
            csum(ndis::CSUM_TX_IS_IPV4 | ndis::CSUM_TX_TCP | 30 << 16),
            tcp4(10, 0),
        ),
        (
            csum(ndis::CSUM_TX_IS_IPV4 | ndis::CSUM_TX_TCP | 1023 << 16),
            tcp4(10, 0),
        ),
        // The info says IPv4, the frame is IPv6; a truncated frame; UDP over a TCP packet.
        (csum(TCP4_AT_34), tcp6(10)),
        (csum(TCP4_AT_34), tcp4(0, 0)[..40].to_vec()),
        (
            csum(ndis::CSUM_TX_IS_IPV4 | ndis::CSUM_TX_UDP | 34 << 16),
            tcp4(10, 0),
        ),
        // Large sends: v1, MSS 0 and too large, no payload, too large a frame, wrong version.
        (lso(34 << 20 | 1448), tcp4(5000, 0)),
        (lso(ndis::LSO_TYPE_V2 | 34 << 20), tcp4(5000, 0)),
        (lso(ndis::LSO_TYPE_V2 | 34 << 20 | 9001), tcp4(50_000, 0)),
        (lso(ndis::LSO_TYPE_V2 | 34 << 20 | 1448), tcp4(0, 0)),
        (lso(ndis::LSO_TYPE_V2 | 34 << 20 | 1448), tcp4(64_000, 0)),
        (
            lso(ndis::LSO_TYPE_V2 | ndis::LSO_IPV6 | 34 << 20 | 1448),
            tcp4(5000, 0),
        ),
        (lso(ndis::LSO_TYPE_V2 | 40 << 20 | 1448), tcp4(5000, 0)),
    ];
    for (i, (req, mut frame)) in cases.into_iter().enumerate() {
        let r = prepare_tx(&req, &mut frame, 0, &on, 9000);
        assert!(r.is_err(), "case {i}: {r:?}");
    }
    // Not enabled by the guest.
    let mut off = all_on();
    off.tx_tcp4 = false;
    off.lso6 = false;
    let r = prepare_tx(&csum(TCP4_AT_34), &mut tcp4(10, 0), 0, &off, 9000);
    assert_eq!(r, Err(TxOffloadError::NotEnabled("checksum")));
    let info = ndis::LSO_TYPE_V2 | ndis::LSO_IPV6 | 54 << 20 | 1000;
    let r = prepare_tx(&lso(info), &mut tcp6(5000), 0, &off, 9000);
    assert_eq!(r, Err(TxOffloadError::NotEnabled("large-send")));
    // No request, or a checksum info asking for nothing: the frame goes as it is.
    let mut f = tcp4(10, 0);
    let r = prepare_tx(&TxRequest::default(), &mut f, 0, &off, 9000).unwrap();
    assert_eq!(r, (VnetHeader::default(), TxKind::Plain));
    assert_eq!(f, tcp4(10, 0));
}

/// A data message body with the given per-packet info elements (kind, value).
fn packet_with(ppis: &[(u32, &[u8])], frame: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    for (kind, value) in ppis {
        p.extend_from_slice(PerPacketInfo::new(*kind, value.len() as u32).as_bytes());
        p.extend_from_slice(value);
    }
    let mut body = rndis::Packet::new(frame.len() as u32, p.len() as u32)
        .as_bytes()
        .to_vec();
    body.extend_from_slice(&p);
    body.extend_from_slice(frame);
    let mut m = rndis::MessageHeader::new(rndis::MessageType::Packet, body.len())
        .as_bytes()
        .to_vec();
    m.extend_from_slice(&body);
    m
}

#[test]
fn per_packet_info_is_validated() {
    let frame = tcp4(10, 0);
    let parse = |m: &[u8]| {
        let (msg, _) = rndis::Message::split(m).unwrap();
        TxRequest::parse(&msg.packet().unwrap())
    };
    let m = packet_with(
        &[
            (rndis::PPI_IEEE_8021Q, &5u32.to_le_bytes()),
            (PPI_TCPIP_CHECKSUM, &TCP4_AT_34.to_le_bytes()),
        ],
        &frame,
    );
    assert_eq!(parse(&m).unwrap(), csum(TCP4_AT_34));
    let m = packet_with(&[(PPI_TCP_LARGESEND, &[1, 2])], &frame);
    assert_eq!(parse(&m), Err(TxOffloadError::PpiLength("large-send", 2)));
    let mut m = packet_with(&[(PPI_TCPIP_CHECKSUM, &[0; 4])], &frame);
    // Element size beyond the per-packet info area.
    m[8 + 36] = 200;
    assert_eq!(parse(&m), Err(TxOffloadError::BadPpi));
    assert!(parse(&packet_with(&[], &frame)).unwrap().is_empty());
}

#[test]
fn receive_checksums_are_completed_and_announced() {
    let on = all_on();
    // The host kernel leaves the pseudo-header sum and NEEDS_CSUM.
    let mut f = tcp4(700, 0);
    let total = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    let mut ip = f.clone();
    let (hdr, _) = prepare_tx(&csum(TCP4_AT_34), &mut ip, 0, &on, 9000).unwrap();
    let got = complete_rx(&hdr, &mut ip, &on).unwrap();
    assert_eq!(got, Some(ndis::CSUM_RX_TCP_SUCCEEDED));
    assert!(transport_checksum_ok(&ip, 14));
    let valid = VnetHeader {
        flags: vnet::F_DATA_VALID,
        ..VnetHeader::default()
    };
    let mut u = udp4(20);
    assert_eq!(
        complete_rx(&valid, &mut u, &on).unwrap(),
        Some(ndis::CSUM_RX_UDP_SUCCEEDED)
    );
    // Nothing verified, or the guest did not ask: no announcement.
    assert_eq!(
        complete_rx(&VnetHeader::default(), &mut u, &on).unwrap(),
        None
    );
    let mut off = on;
    off.rx_udp4 = false;
    assert_eq!(complete_rx(&valid, &mut u, &off).unwrap(), None);
    let mut frag = udp4(20);
    frag[20] = 0x20;
    assert_eq!(complete_rx(&valid, &mut frag, &on).unwrap(), None);
    // Bad headers from the TAP.
    let gso = VnetHeader {
        gso_type: vnet::GSO_TCPV4,
        ..VnetHeader::default()
    };
    assert_eq!(complete_rx(&gso, &mut u, &on), Err(RxOffloadError::Gso(1)));
    let outside = VnetHeader {
        flags: vnet::F_NEEDS_CSUM,
        csum_start: 40,
        csum_offset: 30,
        ..VnetHeader::default()
    };
    assert!(complete_rx(&outside, &mut u, &on).is_err());
}
