// SPDX-License-Identifier: GPL-2.0
//! Checksum and segmentation offload: the host's capabilities (OID_TCP_OFFLOAD_HARDWARE_
//! CAPABILITIES, an `NDIS_OFFLOAD` structure whose revision follows the NVSP version), the
//! guest's choice (OID_TCP_OFFLOAD_PARAMETERS) and, per frame, the per-packet info that asks
//! the host to fill in a checksum or to cut a large send into segments. The C driver's
//! `rndis_netdev_set_hwcaps()` and `netvsc_xmit()` are the counterparts.
//!
//! Only what the host offers is turned on and advertised to the stack: transmit checksums
//! per IP version when the host does TCP (with options; IPv6 also with extension headers),
//! UDP checksums when it also does UDP, large sends (LSOv2) when it also does those with
//! 802.3 framing, and receive checksums when it reports TCP and UDP. A frame asking for
//! something the host was not told it may get is finished in software (a checksum) or
//! dropped (a large send: the stack segments what the host cannot take, see the shim's
//! `ndo_features_check`), never sent.

use super::Session;
use crate::netdev::{Skb, Transport, TxFeatures, TxOffload};
use crate::proto::{ndis, nvsp, rndis};
use kernel::prelude::*;
use zerocopy::{FromBytes, IntoBytes};

/// TCP and UDP checksums over one IP version.
const TCP_UDP: u32 = ndis::CSUM_CAP_TCP | ndis::CSUM_CAP_UDP;
/// What the host must do over IPv4 before the guest offloads TCP checksums.
const TCP4: u32 = ndis::CSUM_CAP_TCP | ndis::CSUM_CAP_TCP_OPTIONS;
/// What the host must do over IPv6 before the guest offloads TCP checksums.
const TCP6: u32 = ndis::CSUM_CAP_TCP | ndis::CSUM_CAP_TCP_OPTIONS | ndis::CSUM_CAP_IP_OPTIONS;
/// What the host must do for IPv6 large sends.
const LSO6: u32 = ndis::LSOV2_CAP_IP6_EXTENSION_HEADERS | ndis::LSOV2_CAP_TCP6_OPTIONS;
/// The stack's own limit on a large send (`GSO_LEGACY_MAX_SIZE`).
const GSO_MAX_SIZE: u32 = 65_536;
/// A host limit below this is no large send worth having (a jumbo frame is larger).
const LSO_MIN_USEFUL_SIZE: u32 = 16_384;
/// A host that wants more segments than this per large send is not taken at its word.
const LSO_MAX_MIN_SEGMENTS: u32 = 64;
/// The transport header offset fits in 10 bits of the info words.
const MAX_HEADER_OFFSET: u32 = ndis::TX_HEADER_OFFSET_MASK;

/// The transmit offloads in effect for a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TxCaps {
    /// TCP/IPv4 checksums.
    pub(crate) tcp4: bool,
    /// UDP/IPv4 checksums.
    pub(crate) udp4: bool,
    /// TCP/IPv6 checksums.
    pub(crate) tcp6: bool,
    /// UDP/IPv6 checksums.
    pub(crate) udp6: bool,
    /// Large sends over IPv4.
    pub(crate) lso4: bool,
    /// Large sends over IPv6.
    pub(crate) lso6: bool,
    /// Largest large send, Ethernet header included.
    pub(crate) lso_max_size: u32,
    /// Fewest segments per large send.
    pub(crate) lso_min_segments: u32,
}

impl TxCaps {
    /// Whether anything is offloaded.
    fn any(&self) -> bool {
        self.tcp4 || self.udp4 || self.tcp6 || self.udp6 || self.lso4 || self.lso6
    }

    /// What the stack is told.
    pub(crate) fn features(&self) -> TxFeatures {
        TxFeatures {
            csum4: self.tcp4,
            csum6: self.tcp6,
            tso4: self.lso4,
            tso6: self.lso6,
            tso_max_size: self.lso_max_size,
            tso_min_segs: self.lso_min_segments,
        }
    }
}

/// The offloads negotiated with the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Offloads {
    /// The host's receive checksum info is believed.
    pub(crate) rx_csum: bool,
    /// Transmit offloads.
    pub(crate) tx: TxCaps,
}

/// What the guest turns on, from the host's capabilities.
fn choose(offload: &ndis::NdisOffload) -> Offloads {
    let csum = offload.checksum;
    let lso = offload.lso_v2;
    let tcp4 = csum.ip4_tx_checksum & TCP4 == TCP4;
    let tcp6 = csum.ip6_tx_checksum & TCP6 == TCP6;
    let min_segments = lso.ip4_min_segments.max(lso.ip6_min_segments);
    let size_ok = |max: u32| max >= LSO_MIN_USEFUL_SIZE;
    let lso_ok = min_segments <= LSO_MAX_MIN_SEGMENTS;
    let lso4 = tcp4
        && lso_ok
        && lso.ip4_encapsulation & ndis::ENCAP_802_3 != 0
        && size_ok(lso.ip4_max_size);
    let lso6 = tcp6
        && lso_ok
        && lso.ip6_encapsulation & ndis::ENCAP_802_3 != 0
        && lso.ip6_options & LSO6 == LSO6
        && size_ok(lso.ip6_max_size);
    let mut lso_max_size = GSO_MAX_SIZE;
    if lso4 {
        lso_max_size = lso_max_size.min(lso.ip4_max_size);
    }
    if lso6 {
        lso_max_size = lso_max_size.min(lso.ip6_max_size);
    }
    Offloads {
        rx_csum: csum.ip4_rx_checksum & TCP_UDP == TCP_UDP
            || csum.ip6_rx_checksum & TCP_UDP == TCP_UDP,
        tx: TxCaps {
            tcp4,
            udp4: tcp4 && csum.ip4_tx_checksum & ndis::CSUM_CAP_UDP != 0,
            tcp6,
            udp6: tcp6 && csum.ip6_tx_checksum & ndis::CSUM_CAP_UDP != 0,
            lso4,
            lso6,
            lso_max_size,
            lso_min_segments: min_segments.max(1),
        },
    }
}

/// The checksum parameter for transmit `tx` and receive `rx`.
fn checksum_param(tx: bool, rx: bool) -> u8 {
    match (tx, rx) {
        (true, true) => ndis::OFFLOAD_PARAM_TX_RX_ENABLED,
        (true, false) => ndis::OFFLOAD_PARAM_TX_ENABLED_RX_DISABLED,
        (false, true) => ndis::OFFLOAD_PARAM_RX_ENABLED_TX_DISABLED,
        (false, false) => ndis::OFFLOAD_PARAM_TX_RX_DISABLED,
    }
}

fn lso_param(on: bool) -> u8 {
    if on {
        ndis::OFFLOAD_PARAM_LSOV2_ENABLED
    } else {
        ndis::OFFLOAD_PARAM_LSOV2_DISABLED
    }
}

impl Session {
    /// Turns on what the host offers of checksum and large-send offload; returns what is on.
    pub(super) fn negotiate_offload(&self) -> Result<Offloads> {
        let caps = self.query(ndis::OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES)?;
        // Older revisions are shorter: the missing tail reads as zero (not offered).
        let mut raw = [0u8; core::mem::size_of::<ndis::NdisOffload>()];
        for (d, s) in raw.iter_mut().zip(caps.bytes()) {
            *d = *s;
        }
        let offload = ndis::NdisOffload::read_from_bytes(&raw).map_err(|_| EPROTO)?;
        let header = offload.header;
        if header.object_type != ndis::OBJECT_TYPE_OFFLOAD
            || usize::from(header.size) > caps.bytes().len()
        {
            return Err(EPROTO);
        }
        let chosen = choose(&offload);
        let tx = chosen.tx;
        let rx = chosen.rx_csum;
        if !rx && !tx.any() {
            return Ok(chosen);
        }
        let (revision, size) = if self.nvsp_version >= nvsp::VERSION_5 {
            (2, core::mem::size_of::<ndis::OffloadParameters>())
        } else {
            (1, ndis::OffloadParameters::V4_SIZE)
        };
        let v4_rx = rx && offload.checksum.ip4_rx_checksum & TCP_UDP == TCP_UDP;
        let v6_rx = rx && offload.checksum.ip6_rx_checksum & TCP_UDP == TCP_UDP;
        let params = ndis::OffloadParameters {
            header: ndis::ObjectHeader {
                object_type: ndis::OBJECT_TYPE_DEFAULT,
                revision,
                // CAST: 22 or 28.
                size: size as u16,
            },
            // The stack always computes the IPv4 header checksum itself.
            ip4_checksum: ndis::OFFLOAD_PARAM_TX_RX_DISABLED,
            tcp4_checksum: checksum_param(tx.tcp4, v4_rx),
            udp4_checksum: checksum_param(tx.udp4, v4_rx),
            tcp6_checksum: checksum_param(tx.tcp6, v6_rx),
            udp6_checksum: checksum_param(tx.udp6, v6_rx),
            lso_v2_ip4: lso_param(tx.lso4),
            lso_v2_ip6: lso_param(tx.lso6),
            ..Default::default()
        };
        let bytes = params.as_bytes().get(..size).ok_or(EINVAL)?;
        self.set(ndis::OID_TCP_OFFLOAD_PARAMETERS, &[bytes])?;
        Ok(chosen)
    }

    /// The per-packet info (type and value) that asks the host for what `skb` needs, after
    /// finishing in software what the host does not do. `Err`: drop the frame.
    pub(super) fn tx_offload_info(&self, skb: &mut Skb) -> Result<Option<(u32, u32)>> {
        let caps = &self.tx;
        match skb.offload()? {
            TxOffload::None => Ok(None),
            TxOffload::Checksum {
                ipv6,
                transport,
                offset,
            } => {
                let (allowed, kind) = match (ipv6, transport) {
                    (false, Transport::Tcp) => (caps.tcp4, ndis::CSUM_TX_TCP),
                    (false, Transport::Udp) => (caps.udp4, ndis::CSUM_TX_UDP),
                    (true, Transport::Tcp) => (caps.tcp6, ndis::CSUM_TX_TCP),
                    (true, Transport::Udp) => (caps.udp6, ndis::CSUM_TX_UDP),
                    (_, Transport::Other) => (false, 0),
                };
                if !allowed || offset > MAX_HEADER_OFFSET {
                    skb.checksum_in_software()?;
                    return Ok(None);
                }
                let version = if ipv6 {
                    ndis::CSUM_TX_IS_IPV6
                } else {
                    ndis::CSUM_TX_IS_IPV4
                };
                let info = version | kind | offset << ndis::CSUM_TX_TCP_HEADER_OFFSET_SHIFT;
                Ok(Some((rndis::PPI_TCPIP_CHECKSUM, info)))
            }
            TxOffload::LargeSend { ipv6, mss, offset } => {
                let allowed = if ipv6 { caps.lso6 } else { caps.lso4 };
                if !allowed
                    || offset > MAX_HEADER_OFFSET
                    || mss == 0
                    || mss > ndis::LSO_MSS_MASK
                    || skb.len() > caps.lso_max_size
                {
                    return Err(EINVAL);
                }
                let version = if ipv6 { ndis::LSO_IPV6 } else { 0 };
                let info =
                    ndis::LSO_TYPE_V2 | version | offset << ndis::LSO_TCP_HEADER_OFFSET_SHIFT | mss;
                Ok(Some((rndis::PPI_TCP_LARGESEND, info)))
            }
        }
    }
}

#[kunit_tests(rhv_netvsc_offload)]
mod tests {
    use super::{choose, ndis};

    /// What hvsim offers: checksums both ways and LSOv2 over IPv4 and IPv6.
    fn full() -> ndis::NdisOffload {
        let all4 = 0x155;
        let all6 = 0x055;
        let checksum = ndis::ChecksumOffload {
            ip4_tx_encapsulation: ndis::ENCAP_802_3,
            ip4_tx_checksum: all4,
            ip4_rx_encapsulation: ndis::ENCAP_802_3,
            ip4_rx_checksum: all4,
            ip6_tx_encapsulation: ndis::ENCAP_802_3,
            ip6_tx_checksum: all6,
            ip6_rx_encapsulation: ndis::ENCAP_802_3,
            ip6_rx_checksum: all6,
        };
        let lso_v2 = ndis::LsoV2Offload {
            ip4_encapsulation: ndis::ENCAP_802_3,
            ip4_max_size: 64_000,
            ip4_min_segments: 2,
            ip6_encapsulation: ndis::ENCAP_802_3,
            ip6_max_size: 62_000,
            ip6_min_segments: 2,
            ip6_options: 0x5,
        };
        ndis::NdisOffload {
            checksum,
            lso_v2,
            ..Default::default()
        }
    }

    #[test]
    fn everything_offered_is_used() {
        let on = choose(&full());
        assert!(on.rx_csum);
        let t = on.tx;
        assert!(t.tcp4 && t.udp4 && t.tcp6 && t.udp6 && t.lso4 && t.lso6);
        assert_eq!(t.lso_max_size, 62_000);
        assert_eq!(t.lso_min_segments, 2);
        let f = t.features();
        assert!(f.csum4 && f.csum6 && f.tso4 && f.tso6);
    }

    #[test]
    fn nothing_offered_nothing_used() {
        let on = choose(&ndis::NdisOffload::default());
        assert!(!on.rx_csum);
        let t = on.tx;
        assert!(!t.any());
        let f = t.features();
        assert!(!(f.csum4 || f.csum6 || f.tso4 || f.tso6));
    }

    #[test]
    fn partial_or_odd_offers_are_not_taken() {
        // TCP checksums without TCP options: no TCP checksum and so no large send either.
        let mut o = full();
        o.checksum.ip4_tx_checksum = ndis::CSUM_CAP_TCP | ndis::CSUM_CAP_UDP;
        let t = choose(&o).tx;
        assert!(!t.tcp4 && !t.udp4 && !t.lso4);
        assert!(t.tcp6 && t.lso6);
        // IPv6 large sends without extension headers.
        let mut o = full();
        o.lso_v2.ip6_options = ndis::LSOV2_CAP_TCP6_OPTIONS;
        let t = choose(&o).tx;
        assert!(t.lso4 && !t.lso6);
        assert_eq!(t.lso_max_size, 64_000);
        // A hostile host: tiny or absurd limits switch large sends off, not the checksums.
        let mut o = full();
        o.lso_v2.ip4_max_size = 100;
        o.lso_v2.ip6_min_segments = 100_000;
        let t = choose(&o).tx;
        assert!(!t.lso4 && !t.lso6);
        assert!(t.tcp4 && t.tcp6);
        let mut o = full();
        o.lso_v2.ip4_max_size = u32::MAX;
        o.lso_v2.ip6_max_size = u32::MAX;
        assert_eq!(choose(&o).tx.lso_max_size, 65_536);
    }
}
