// SPDX-License-Identifier: GPL-2.0
//! Checksum and segmentation offload, per frame, between the guest's RNDIS per-packet info
//! and the TAP's virtio-net header.
//!
//! Guest → host: a frame with the TCP/IP checksum info (`transmit` bits: IPv4/IPv6, TCP/UDP,
//! IP header, transport header offset) becomes a `NEEDS_CSUM` frame; one with the large-send
//! v2 info (MSS, TCP header offset, IP version) becomes a TCP GSO frame the host kernel cuts
//! into segments. Linux builds these in `netvsc_xmit()` (drivers/net/hyperv/netvsc_drv.c):
//! for large sends it zeroes the IPv4 total length / IPv6 payload length and leaves a
//! length-less pseudo-header sum in the TCP checksum field, as NDIS asks. The host does not
//! trust any of it: it checks the headers against the info, fills in the lengths and the IPv4
//! header checksum, and writes the pseudo-header sum itself, so the host kernel gets a frame
//! that is right whatever the guest left in those fields.
//!
//! Host → guest: a frame the host kernel hands over as `NEEDS_CSUM` gets its checksum filled
//! in here; it and a `DATA_VALID` frame are announced to the guest as verified (receive
//! checksum info) when the guest enabled receive checksum offload for its kind.

use rhv_proto::ndis;
use rhv_proto::rndis::{PacketView, PPI_TCPIP_CHECKSUM, PPI_TCP_LARGESEND};

use super::offload::{OffloadState, LSO_MAX_SIZE};
use super::vnet::{self, VnetHeader};

const ETH_HEADER: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
/// Smallest MSS a large send may ask for.
pub const MIN_MSS: u32 = 16;

/// A frame the guest asked for offload on that cannot be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxOffloadError {
    #[error("malformed per-packet info")]
    BadPpi,
    #[error("{0} per-packet info of {1} bytes (4 expected)")]
    PpiLength(&'static str, usize),
    #[error("{0} offload is not enabled")]
    NotEnabled(&'static str),
    #[error("checksum info {0:#x} asks for nothing sensible")]
    BadChecksumInfo(u32),
    #[error("large-send info {0:#x}: not a v2 request")]
    BadLsoType(u32),
    #[error("large-send MSS {mss} outside {MIN_MSS}..={max}")]
    BadMss { mss: u32, max: u32 },
    #[error("large-send frame of {len} bytes (largest {LSO_MAX_SIZE}) or without payload")]
    BadLsoSize { len: usize },
    #[error("the frame's headers do not match the offload info: {0}")]
    Headers(&'static str),
}

/// The offload the guest asked for on one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxRequest {
    /// The checksum info word.
    pub checksum: Option<u32>,
    /// The large-send info word.
    pub lso: Option<u32>,
}

impl TxRequest {
    /// Collects the checksum and large-send infos; every element must be well-formed.
    pub fn parse(packet: &PacketView<'_>) -> Result<Self, TxOffloadError> {
        let mut req = Self::default();
        for ppi in packet.ppis() {
            let ppi = ppi.map_err(|_| TxOffloadError::BadPpi)?;
            let (slot, what) = match ppi.kind {
                _ if ppi.internal => continue,
                PPI_TCPIP_CHECKSUM => (&mut req.checksum, "checksum"),
                PPI_TCP_LARGESEND => (&mut req.lso, "large-send"),
                _ => continue,
            };
            let word: [u8; 4] = ppi
                .value
                .try_into()
                .map_err(|_| TxOffloadError::PpiLength(what, ppi.value.len()))?;
            slot.get_or_insert(u32::from_le_bytes(word));
        }
        Ok(req)
    }

    /// Whether the frame needs no offload work.
    pub fn is_empty(&self) -> bool {
        self.lso.is_none() && self.checksum.is_none_or(|c| c & 0x1f == 0)
    }
}

/// What a transmitted frame turned into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxKind {
    /// Nothing to do.
    Plain,
    /// The host kernel fills in a checksum.
    Checksum,
    /// The host kernel segments the frame (TCP over IPv6 or IPv4).
    LargeSend { ipv6: bool },
}

/// The IP layer of a frame, as far as offload needs it.
#[derive(Clone, Copy, Debug)]
struct Ip {
    /// Where the IP header starts.
    l3: usize,
    v6: bool,
    /// Where the IPv4 header ends (the transport header must start there); for IPv6 the end
    /// of the fixed header (extension headers may follow).
    l3_end: usize,
    /// IPv4 protocol or IPv6 next header.
    protocol: u8,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Finds the IP header after the Ethernet header (and one in-frame VLAN tag) at `l2`.
fn parse_ip(frame: &[u8], l2: usize) -> Result<Ip, TxOffloadError> {
    let bad = TxOffloadError::Headers;
    let mut l3 = l2 + ETH_HEADER;
    let mut ethertype = be16(frame, l3 - 2).ok_or(bad("no Ethernet header"))?;
    if ethertype == ETHERTYPE_VLAN {
        l3 += 4;
        ethertype = be16(frame, l3 - 2).ok_or(bad("no Ethernet header"))?;
    }
    let first = *frame.get(l3).ok_or(bad("no IP header"))?;
    match ethertype {
        ETHERTYPE_IPV4 if first >> 4 == 4 => {
            let ihl = usize::from(first & 0xf) * 4;
            if ihl < 20 || frame.len() < l3 + ihl {
                return Err(bad("IPv4 header length"));
            }
            Ok(Ip {
                l3,
                v6: false,
                l3_end: l3 + ihl,
                protocol: frame[l3 + 9],
            })
        }
        ETHERTYPE_IPV6 if first >> 4 == 6 && frame.len() >= l3 + 40 => Ok(Ip {
            l3,
            v6: true,
            l3_end: l3 + 40,
            protocol: frame[l3 + 6],
        }),
        _ => Err(bad("not the IP version the info names")),
    }
}

/// The ones'-complement sum of `data` added to `sum`, not folded.
fn add_words(mut sum: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// Folds a sum to 16 bits (not complemented).
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // CAST: folded to 16 bits above.
    sum as u16
}

/// The pseudo-header sum (not complemented) for `l4_len` bytes of `protocol`.
fn pseudo_header(frame: &[u8], ip: &Ip, protocol: u8, l4_len: usize) -> u16 {
    let (addrs, width) = if ip.v6 {
        (ip.l3 + 8, 32)
    } else {
        (ip.l3 + 12, 8)
    };
    let sum = add_words(0, &frame[addrs..addrs + width]);
    fold(sum + u64::from(protocol) + l4_len as u64)
}

/// Recomputes the IPv4 header checksum.
fn fix_ip4_checksum(frame: &mut [u8], ip: &Ip) {
    frame[ip.l3 + 10..ip.l3 + 12].fill(0);
    let c = !fold(add_words(0, &frame[ip.l3..ip.l3_end]));
    frame[ip.l3 + 10..ip.l3 + 12].copy_from_slice(&c.to_be_bytes());
}

/// Carries out `req` on `frame` (the frame as it goes to the host: `shift` bytes of VLAN tag
/// were put in before the guest's offsets): checks the headers against the info, fixes the
/// fields the host owns and returns the virtio-net header for the TAP.
pub fn prepare_tx(
    req: &TxRequest,
    frame: &mut [u8],
    shift: usize,
    state: &OffloadState,
    max_mtu: u32,
) -> Result<(VnetHeader, TxKind), TxOffloadError> {
    if let Some(lso) = req.lso {
        return prepare_lso(lso, frame, shift, state, max_mtu);
    }
    let Some(info) = req.checksum.filter(|c| c & 0x1f != 0) else {
        return Ok((VnetHeader::default(), TxKind::Plain));
    };
    let v4 = info & ndis::CSUM_TX_IS_IPV4 != 0;
    let v6 = info & ndis::CSUM_TX_IS_IPV6 != 0;
    let tcp = info & ndis::CSUM_TX_TCP != 0;
    let udp = info & ndis::CSUM_TX_UDP != 0;
    let ip_header = info & ndis::CSUM_TX_IP_HEADER != 0;
    if v4 == v6 || (tcp && udp) || (ip_header && !v4) {
        return Err(TxOffloadError::BadChecksumInfo(info));
    }
    let enabled = match (v4, tcp, udp) {
        (true, true, _) => state.tx_tcp4,
        (true, _, true) => state.tx_udp4,
        (false, true, _) => state.tx_tcp6,
        (false, _, true) => state.tx_udp6,
        _ => true,
    };
    if !enabled || (ip_header && !state.tx_ip4_header) {
        return Err(TxOffloadError::NotEnabled("checksum"));
    }
    let ip = parse_ip(frame, shift)?;
    if ip.v6 != v6 {
        return Err(TxOffloadError::Headers("IP version"));
    }
    if ip_header {
        fix_ip4_checksum(frame, &ip);
    }
    if !tcp && !udp {
        return Ok((VnetHeader::default(), TxKind::Plain));
    }
    let (protocol, csum_offset, min_len): (u8, u16, usize) = if tcp {
        (IPPROTO_TCP, 16, 20)
    } else {
        (IPPROTO_UDP, 6, 8)
    };
    let l4 = transport_offset(info >> ndis::CSUM_TX_TCP_HEADER_OFFSET_SHIFT, shift, &ip)?;
    if frame.len() < l4 + min_len || (l4 == ip.l3_end && ip.protocol != protocol) {
        return Err(TxOffloadError::Headers("transport header"));
    }
    let sum = pseudo_header(frame, &ip, protocol, frame.len() - l4);
    let field = l4 + usize::from(csum_offset);
    frame[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    let hdr = VnetHeader {
        flags: vnet::F_NEEDS_CSUM,
        // CAST: below the 64 KiB frame limit (checked by transport_offset).
        csum_start: l4 as u16,
        csum_offset,
        ..VnetHeader::default()
    };
    Ok((hdr, TxKind::Checksum))
}

/// The transport header's offset in the frame sent to the host: the guest's 10-bit offset
/// plus `shift`, which must be where the IPv4 header ends (IPv6: at or after the fixed header).
fn transport_offset(raw: u32, shift: usize, ip: &Ip) -> Result<usize, TxOffloadError> {
    let l4 = (raw & ndis::TX_HEADER_OFFSET_MASK) as usize + shift;
    let ok = if ip.v6 {
        l4 >= ip.l3_end
    } else {
        l4 == ip.l3_end
    };
    if !ok {
        return Err(TxOffloadError::Headers("transport header offset"));
    }
    Ok(l4)
}

fn prepare_lso(
    info: u32,
    frame: &mut [u8],
    shift: usize,
    state: &OffloadState,
    max_mtu: u32,
) -> Result<(VnetHeader, TxKind), TxOffloadError> {
    if info & ndis::LSO_TYPE_V2 == 0 {
        return Err(TxOffloadError::BadLsoType(info));
    }
    let v6 = info & ndis::LSO_IPV6 != 0;
    if !(if v6 { state.lso6 } else { state.lso4 }) {
        return Err(TxOffloadError::NotEnabled("large-send"));
    }
    let mss = info & ndis::LSO_MSS_MASK;
    if !(MIN_MSS..=max_mtu).contains(&mss) {
        return Err(TxOffloadError::BadMss { mss, max: max_mtu });
    }
    if frame.len() - shift > LSO_MAX_SIZE as usize {
        return Err(TxOffloadError::BadLsoSize { len: frame.len() });
    }
    let ip = parse_ip(frame, shift)?;
    if ip.v6 != v6 {
        return Err(TxOffloadError::Headers("IP version"));
    }
    let l4 = transport_offset(info >> ndis::LSO_TCP_HEADER_OFFSET_SHIFT, shift, &ip)?;
    if l4 == ip.l3_end && ip.protocol != IPPROTO_TCP {
        return Err(TxOffloadError::Headers("not TCP"));
    }
    let doff = frame
        .get(l4 + 12)
        .map(|b| usize::from(b >> 4) * 4)
        .filter(|&d| d >= 20)
        .ok_or(TxOffloadError::Headers("TCP header"))?;
    let hdr_len = l4 + doff;
    if frame.len() <= hdr_len {
        return Err(TxOffloadError::BadLsoSize { len: frame.len() });
    }
    // CAST: the frame is below 64 KiB (checked above), so are these lengths.
    let l3_len = (frame.len() - ip.l3) as u16;
    if ip.v6 {
        frame[ip.l3 + 4..ip.l3 + 6].copy_from_slice(&(l3_len - 40).to_be_bytes());
    } else {
        frame[ip.l3 + 2..ip.l3 + 4].copy_from_slice(&l3_len.to_be_bytes());
        fix_ip4_checksum(frame, &ip);
    }
    let sum = pseudo_header(frame, &ip, IPPROTO_TCP, frame.len() - l4);
    frame[l4 + 16..l4 + 18].copy_from_slice(&sum.to_be_bytes());
    let cwr = frame[l4 + 13] & 0x80 != 0;
    let gso = if v6 { vnet::GSO_TCPV6 } else { vnet::GSO_TCPV4 };
    let hdr = VnetHeader {
        flags: vnet::F_NEEDS_CSUM,
        gso_type: gso | if cwr { vnet::GSO_ECN } else { 0 },
        // CAST: all below 64 KiB.
        hdr_len: hdr_len as u16,
        gso_size: mss as u16,
        csum_start: l4 as u16,
        csum_offset: 16,
    };
    Ok((hdr, TxKind::LargeSend { ipv6: v6 }))
}

/// A frame from the host that cannot go to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RxOffloadError {
    #[error("segment-offload frame (type {0}) from the TAP, which was not asked for any")]
    Gso(u8),
    #[error("checksum at {start}+{offset} outside a {len}-byte frame")]
    BadChecksumPlace { start: u16, offset: u16, len: usize },
}

/// Completes a frame from the TAP: fills in a checksum the host kernel left to us and
/// returns the receive checksum info to announce, if any.
pub fn complete_rx(
    hdr: &VnetHeader,
    frame: &mut [u8],
    state: &OffloadState,
) -> Result<Option<u32>, RxOffloadError> {
    if hdr.gso_type != vnet::GSO_NONE {
        return Err(RxOffloadError::Gso(hdr.gso_type));
    }
    let verified = if hdr.flags & vnet::F_NEEDS_CSUM != 0 {
        let start = usize::from(hdr.csum_start);
        let field = start + usize::from(hdr.csum_offset);
        if start < ETH_HEADER || field + 2 > frame.len() {
            return Err(RxOffloadError::BadChecksumPlace {
                start: hdr.csum_start,
                offset: hdr.csum_offset,
                len: frame.len(),
            });
        }
        let c = !fold(add_words(0, &frame[start..]));
        let c = if c == 0 { 0xffff } else { c };
        frame[field..field + 2].copy_from_slice(&c.to_be_bytes());
        true
    } else {
        hdr.flags & vnet::F_DATA_VALID != 0
    };
    if !verified {
        return Ok(None);
    }
    let Ok(ip) = parse_ip(frame, 0) else {
        return Ok(None);
    };
    // IPv4 fragments carry no whole transport checksum.
    let fragment = !ip.v6 && be16(frame, ip.l3 + 6).is_some_and(|f| f & 0x3fff != 0);
    let announce = match (ip.v6, ip.protocol) {
        _ if fragment => None,
        (false, IPPROTO_TCP) if state.rx_tcp4 => Some(ndis::CSUM_RX_TCP_SUCCEEDED),
        (false, IPPROTO_UDP) if state.rx_udp4 => Some(ndis::CSUM_RX_UDP_SUCCEEDED),
        (true, IPPROTO_TCP) if state.rx_tcp6 => Some(ndis::CSUM_RX_TCP_SUCCEEDED),
        (true, IPPROTO_UDP) if state.rx_udp6 => Some(ndis::CSUM_RX_UDP_SUCCEEDED),
        _ => None,
    };
    Ok(announce)
}

#[cfg(test)]
#[path = "offload_frames_tests.rs"]
mod tests;
