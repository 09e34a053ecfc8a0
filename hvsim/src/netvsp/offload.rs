// SPDX-License-Identifier: GPL-2.0
//! Checksum and segmentation offload, control side: what the NIC advertises in answer to
//! OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES (transmit and receive TCP/UDP checksums over IPv4
//! and IPv6, the IPv4 header checksum, and large send v2 for TCP over both), and what the
//! guest turned on with OID_TCP_OFFLOAD_PARAMETERS. How Linux reads the structure:
//! `rndis_netdev_set_hwcaps()` in drivers/net/hyperv/rndis_filter.c.
//!
//! With offload off (`--nic ...,offload=off`) the NIC advertises nothing and refuses to turn
//! anything on. The per-frame work lives in `offload_frames`.

use rhv_proto::ndis::{self, NdisOffload, ObjectHeader, OffloadParameters};

/// Largest large-send frame (Ethernet header included) the guest may hand over: below the
/// 64 KiB an IPv4 total length can express, with room for a VLAN tag.
pub const LSO_MAX_SIZE: u32 = 64_000;
/// Fewest segments a large-send frame must make.
pub const LSO_MIN_SEGMENTS: u32 = 2;
/// Checksums offered over IPv4 (each way): TCP, UDP and the IP header, options allowed.
pub const CSUM_IP4: u32 = ndis::CSUM_CAP_IP_OPTIONS
    | ndis::CSUM_CAP_TCP_OPTIONS
    | ndis::CSUM_CAP_TCP
    | ndis::CSUM_CAP_UDP
    | ndis::CSUM_CAP_IP4;
/// Checksums offered over IPv6 (each way): TCP and UDP, extension headers and options
/// allowed.
pub const CSUM_IP6: u32 = ndis::CSUM_CAP_IP_OPTIONS
    | ndis::CSUM_CAP_TCP_OPTIONS
    | ndis::CSUM_CAP_TCP
    | ndis::CSUM_CAP_UDP;

/// Which offloads are in effect. Everything starts disabled: only what the guest turned on
/// with its parameters (and the NIC offers) is used, so a guest never gets receive checksum
/// info it did not ask for, and a frame asking for an offload the guest did not turn on is
/// refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OffloadState {
    /// The host fills in the IPv4 header checksum when asked.
    pub tx_ip4_header: bool,
    /// The host fills in TCP/IPv4 checksums when asked.
    pub tx_tcp4: bool,
    /// The host fills in UDP/IPv4 checksums when asked.
    pub tx_udp4: bool,
    /// The host fills in TCP/IPv6 checksums when asked.
    pub tx_tcp6: bool,
    /// The host fills in UDP/IPv6 checksums when asked.
    pub tx_udp6: bool,
    /// The host tells the guest which TCP/IPv4 checksums it verified.
    pub rx_tcp4: bool,
    /// The host tells the guest which UDP/IPv4 checksums it verified.
    pub rx_udp4: bool,
    /// The host tells the guest which TCP/IPv6 checksums it verified.
    pub rx_tcp6: bool,
    /// The host tells the guest which UDP/IPv6 checksums it verified.
    pub rx_udp6: bool,
    /// Large send v2 for TCP over IPv4.
    pub lso4: bool,
    /// Large send v2 for TCP over IPv6.
    pub lso6: bool,
}

/// Why a guest's offload parameters were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("{field}: value {value} is not an offload setting")]
    BadValue { field: &'static str, value: u8 },
    #[error("{0}: the NIC does not offer this offload")]
    NotOffered(&'static str),
}

impl OffloadState {
    /// Every offload enabled.
    #[cfg(test)]
    pub fn all_on() -> Self {
        let on = true;
        Self {
            tx_ip4_header: on,
            tx_tcp4: on,
            tx_udp4: on,
            tx_tcp6: on,
            tx_udp6: on,
            rx_tcp4: on,
            rx_udp4: on,
            rx_tcp6: on,
            rx_udp6: on,
            lso4: on,
            lso6: on,
        }
    }

    /// Applies the guest's parameters; on an error nothing changes.
    pub fn apply(&mut self, p: &OffloadParameters, offered: bool) -> Result<(), ParamError> {
        let mut next = *self;
        let checksums: [(&'static str, u8, &mut bool, Option<&mut bool>); 5] = [
            (
                "ip4_checksum",
                p.ip4_checksum,
                &mut next.tx_ip4_header,
                None,
            ),
            (
                "tcp4_checksum",
                p.tcp4_checksum,
                &mut next.tx_tcp4,
                Some(&mut next.rx_tcp4),
            ),
            (
                "udp4_checksum",
                p.udp4_checksum,
                &mut next.tx_udp4,
                Some(&mut next.rx_udp4),
            ),
            (
                "tcp6_checksum",
                p.tcp6_checksum,
                &mut next.tx_tcp6,
                Some(&mut next.rx_tcp6),
            ),
            (
                "udp6_checksum",
                p.udp6_checksum,
                &mut next.tx_udp6,
                Some(&mut next.rx_udp6),
            ),
        ];
        for (field, value, tx, rx) in checksums {
            let (want_tx, want_rx) = match value {
                ndis::OFFLOAD_PARAM_NO_CHANGE => continue,
                ndis::OFFLOAD_PARAM_TX_RX_DISABLED => (false, false),
                ndis::OFFLOAD_PARAM_TX_ENABLED_RX_DISABLED => (true, false),
                ndis::OFFLOAD_PARAM_RX_ENABLED_TX_DISABLED => (false, true),
                ndis::OFFLOAD_PARAM_TX_RX_ENABLED => (true, true),
                value => return Err(ParamError::BadValue { field, value }),
            };
            if (want_tx || want_rx) && !offered {
                return Err(ParamError::NotOffered(field));
            }
            *tx = want_tx;
            if let Some(rx) = rx {
                *rx = want_rx;
            }
        }
        let lso = [
            ("lso_v2_ip4", p.lso_v2_ip4, &mut next.lso4),
            ("lso_v2_ip6", p.lso_v2_ip6, &mut next.lso6),
        ];
        for (field, value, lso) in lso {
            *lso = match value {
                ndis::OFFLOAD_PARAM_NO_CHANGE => continue,
                ndis::OFFLOAD_PARAM_LSOV2_DISABLED => false,
                ndis::OFFLOAD_PARAM_LSOV2_ENABLED if offered => true,
                ndis::OFFLOAD_PARAM_LSOV2_ENABLED => return Err(ParamError::NotOffered(field)),
                value => return Err(ParamError::BadValue { field, value }),
            };
        }
        // Large send v1, IPsec, TCP chimney, RSC and encapsulation are never offered.
        let never = [
            ("lso_v1", p.lso_v1),
            ("ipsec_v1", p.ipsec_v1),
            ("rsc_ip4", p.rsc_ip4),
            ("rsc_ip6", p.rsc_ip6),
        ];
        for (field, value) in never {
            // 1 is "disabled" for each of these.
            if value > 1 {
                return Err(ParamError::NotOffered(field));
            }
        }
        *self = next;
        Ok(())
    }
}

/// The offload structure in `revision` (1..=3), cut to that revision's size: everything
/// above if `offered`, else all zero.
pub fn capabilities(revision: u8, offered: bool) -> Vec<u8> {
    let size = match revision {
        3 => ndis::OFFLOAD_SIZE_6_30,
        2 => ndis::OFFLOAD_SIZE_6_1,
        _ => ndis::OFFLOAD_SIZE_6_0,
    };
    let mut caps = NdisOffload {
        header: ObjectHeader {
            object_type: ndis::OBJECT_TYPE_OFFLOAD,
            revision,
            size,
        },
        ..NdisOffload::default()
    };
    if offered {
        caps.checksum = ndis::ChecksumOffload {
            ip4_tx_encapsulation: ndis::ENCAP_802_3,
            ip4_tx_checksum: CSUM_IP4,
            ip4_rx_encapsulation: ndis::ENCAP_802_3,
            ip4_rx_checksum: CSUM_IP4,
            ip6_tx_encapsulation: ndis::ENCAP_802_3,
            ip6_tx_checksum: CSUM_IP6,
            ip6_rx_encapsulation: ndis::ENCAP_802_3,
            ip6_rx_checksum: CSUM_IP6,
        };
        caps.lso_v2 = ndis::LsoV2Offload {
            ip4_encapsulation: ndis::ENCAP_802_3,
            ip4_max_size: LSO_MAX_SIZE,
            ip4_min_segments: LSO_MIN_SEGMENTS,
            ip6_encapsulation: ndis::ENCAP_802_3,
            ip6_max_size: LSO_MAX_SIZE,
            ip6_min_segments: LSO_MIN_SEGMENTS,
            ip6_options: ndis::LSOV2_CAP_IP6_EXTENSION_HEADERS | ndis::LSOV2_CAP_TCP6_OPTIONS,
        };
    }
    use zerocopy::IntoBytes;
    caps.as_bytes()[..usize::from(size)].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromBytes;

    fn params(f: impl FnOnce(&mut OffloadParameters)) -> OffloadParameters {
        let mut p = OffloadParameters::default();
        f(&mut p);
        p
    }

    #[test]
    fn capabilities_follow_the_revision_and_the_switch() {
        for (rev, size) in [(1, 112), (2, 144), (3, 156)] {
            let b = capabilities(rev, true);
            assert_eq!(b.len(), size);
            let mut raw = [0u8; 156];
            raw[..size].copy_from_slice(&b);
            let o = NdisOffload::read_from_bytes(&raw).unwrap();
            let h = o.header;
            assert_eq!(
                (h.object_type, h.revision, h.size),
                (0xa7, rev, size as u16)
            );
            let c = o.checksum;
            // What Linux insists on before it turns on NETIF_F_IP_CSUM / IPV6_CSUM / TSO6.
            assert_eq!({ c.ip4_tx_checksum } & 0x14, 0x14);
            assert_eq!({ c.ip6_tx_checksum } & 0x15, 0x15);
            let l = o.lso_v2;
            assert_eq!({ l.ip4_encapsulation } & 2, 2);
            assert_eq!({ l.ip6_options } & 5, 5);
            assert_eq!({ l.ip6_max_size }, LSO_MAX_SIZE);
        }
        let off = capabilities(3, false);
        assert!(off[4..].iter().all(|&b| b == 0));
    }

    #[test]
    fn parameters_switch_offloads() {
        let mut s = OffloadState::all_on();
        // What Linux sends: IP header checksum off, the rest on.
        let linux = params(|p| {
            p.ip4_checksum = ndis::OFFLOAD_PARAM_TX_RX_DISABLED;
            p.tcp4_checksum = ndis::OFFLOAD_PARAM_TX_RX_ENABLED;
            p.udp6_checksum = ndis::OFFLOAD_PARAM_RX_ENABLED_TX_DISABLED;
            p.lso_v2_ip6 = ndis::OFFLOAD_PARAM_LSOV2_DISABLED;
        });
        s.apply(&linux, true).unwrap();
        assert!(!s.tx_ip4_header && s.tx_tcp4 && s.rx_tcp4);
        assert!(!s.tx_udp6 && s.rx_udp6);
        assert!(s.lso4 && !s.lso6);
        let before = s;
        let bad = params(|p| p.tcp6_checksum = 5);
        assert!(matches!(
            s.apply(&bad, true),
            Err(ParamError::BadValue { .. })
        ));
        let bad = params(|p| {
            p.tcp4_checksum = ndis::OFFLOAD_PARAM_TX_RX_DISABLED;
            p.lso_v2_ip4 = 3;
        });
        assert!(s.apply(&bad, true).is_err());
        let rsc = params(|p| p.rsc_ip4 = 2);
        assert_eq!(s.apply(&rsc, true), Err(ParamError::NotOffered("rsc_ip4")));
        assert_eq!(s, before, "a refused set changes nothing");
    }

    #[test]
    fn nothing_turns_on_when_not_offered() {
        let mut s = OffloadState::default();
        let off = params(|p| p.ip4_checksum = ndis::OFFLOAD_PARAM_TX_RX_DISABLED);
        s.apply(&off, false).unwrap();
        let on = params(|p| p.tcp4_checksum = ndis::OFFLOAD_PARAM_TX_ENABLED_RX_DISABLED);
        assert_eq!(
            s.apply(&on, false),
            Err(ParamError::NotOffered("tcp4_checksum"))
        );
        let lso = params(|p| p.lso_v2_ip4 = ndis::OFFLOAD_PARAM_LSOV2_ENABLED);
        assert!(s.apply(&lso, false).is_err());
        assert_eq!(s, OffloadState::default());
    }
}
