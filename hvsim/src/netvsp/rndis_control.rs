// SPDX-License-Identifier: GPL-2.0
//! The RNDIS control plane of the NIC: INITIALIZE, QUERY and SET for the OIDs Linux's
//! netvsc uses (`rndis_filter_device_add()` and friends in drivers/net/hyperv/rndis_filter.c),
//! HALT, RESET, KEEPALIVE, and the status indications the host sends on a link change.
//! Every answer is a complete RNDIS message for the guest's receive buffer.
//!
//! Checksum and large-send offload are offered unless the NIC was configured without them
//! (`offload`); receive segment coalescing never is.

use rhv_proto::ndis::{self, ConfigParameterInfo, ObjectHeader, RssConfig};
use rhv_proto::nvsp;
use rhv_proto::rndis::{self, Message, MessageHeader, MessageType, RndisError};
use zerocopy::{FromBytes, IntoBytes};

use super::config::NetvspConfig;
use super::offload::{self, OffloadState};
use super::rss::Rss;

/// Most data messages the guest may batch in one send-buffer section.
pub const MAX_PACKETS_PER_MESSAGE: u32 = 8;
/// Batched data messages are aligned to 1 << this (8 bytes).
pub const PACKET_ALIGNMENT_FACTOR: u32 = 3;
/// Largest RNDIS message the host accepts.
pub const MAX_TRANSFER_SIZE: u32 = 0x4000;
/// Indirection table entries advertised in the RSS capabilities (Linux's `ITAB_NUM`).
pub const RSS_TABLE_ENTRIES: u16 = 128;

/// Why a control message was not answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("malformed RNDIS message: {0:?}")]
    Rndis(RndisError),
    #[error("RNDIS {0:?} is not a message the guest sends")]
    Unexpected(MessageType),
}

impl From<RndisError> for ControlError {
    fn from(e: RndisError) -> Self {
        ControlError::Rndis(e)
    }
}

/// The device state RNDIS requests read and change.
#[derive(Debug)]
pub struct RndisControl {
    /// INITIALIZE succeeded and no HALT came since.
    pub initialized: bool,
    /// `PACKET_TYPE_*` bits the guest wants to receive.
    pub packet_filter: u32,
    /// The MAC address the NIC was made with.
    pub permanent_mac: [u8; 6],
    /// The MAC address in use (the guest may change it).
    pub current_mac: [u8; 6],
    /// Whether the virtual cable is plugged in.
    pub link_up: bool,
    /// Largest MTU the guest may use.
    pub max_mtu: u32,
    /// Link speed in Mbit/s.
    pub link_speed_mbps: u32,
    /// Receive queues the NIC can have.
    pub queues: u16,
    /// Negotiated NVSP version (decides the offload structure revision).
    pub nvsp_version: u32,
    /// Receive side scaling.
    pub rss: Rss,
    /// Whether the NIC offers checksum and large-send offload.
    pub offload_offered: bool,
    /// The offloads in effect.
    pub offload: OffloadState,
}

impl RndisControl {
    /// The state of a freshly plugged-in NIC.
    pub fn new(config: &NetvspConfig) -> Self {
        Self {
            initialized: false,
            packet_filter: 0,
            permanent_mac: config.mac,
            current_mac: config.mac,
            link_up: true,
            max_mtu: config.max_mtu,
            link_speed_mbps: config.link_speed_mbps,
            queues: config.queues,
            nvsp_version: nvsp::VERSION_61,
            rss: Rss::default(),
            offload_offered: config.offload,
            offload: OffloadState::default(),
        }
    }

    /// Forgets what the guest set up (it closed the channel or halted the device); the link
    /// state and the MAC address in use stay.
    pub fn reset(&mut self) {
        self.initialized = false;
        self.packet_filter = 0;
        self.rss = Rss::default();
        self.offload = OffloadState::default();
    }

    /// Handles one control message; returns the answer, if the message has one.
    pub fn handle(&mut self, msg: &Message<'_>) -> Result<Option<Vec<u8>>, ControlError> {
        let kind = msg.kind()?;
        let reply = match kind {
            MessageType::Initialize => {
                let r: rndis::InitializeRequest = msg.fixed()?;
                self.initialized = true;
                let c = rndis::InitializeComplete {
                    request_id: r.request_id,
                    status: rndis::STATUS_SUCCESS,
                    major_version: rndis::MAJOR_VERSION,
                    minor_version: rndis::MINOR_VERSION,
                    device_flags: rndis::DF_CONNECTIONLESS,
                    medium: ndis::MEDIUM_802_3,
                    max_packets_per_message: MAX_PACKETS_PER_MESSAGE,
                    max_transfer_size: MAX_TRANSFER_SIZE,
                    packet_alignment_factor: PACKET_ALIGNMENT_FACTOR,
                    af_list_offset: 0,
                    af_list_size: 0,
                };
                Some(message(MessageType::InitializeComplete, &[c.as_bytes()]))
            }
            MessageType::Halt => {
                let _: rndis::HaltRequest = msg.fixed()?;
                self.reset();
                None
            }
            MessageType::Query => {
                let (r, info) = msg.oid_request()?;
                let (status, answer) = self.query(r.oid, info);
                let c = rndis::QueryComplete {
                    request_id: r.request_id,
                    status,
                    // CAST: answers are at most a few hundred bytes.
                    info_buffer_length: answer.len() as u32,
                    info_buffer_offset: size_of::<rndis::QueryComplete>() as u32,
                };
                Some(message(
                    MessageType::QueryComplete,
                    &[c.as_bytes(), &answer],
                ))
            }
            MessageType::Set => {
                let (r, info) = msg.oid_request()?;
                let status = self.set(r.oid, info);
                let c = rndis::RequestComplete {
                    request_id: r.request_id,
                    status,
                };
                Some(message(MessageType::SetComplete, &[c.as_bytes()]))
            }
            MessageType::Reset => {
                let _: rndis::ResetRequest = msg.fixed()?;
                let c = rndis::ResetComplete {
                    status: rndis::STATUS_SUCCESS,
                    addressing_reset: 0,
                };
                Some(message(MessageType::ResetComplete, &[c.as_bytes()]))
            }
            MessageType::Keepalive => {
                let r: rndis::KeepaliveRequest = msg.fixed()?;
                let c = rndis::RequestComplete {
                    request_id: r.request_id,
                    status: rndis::STATUS_SUCCESS,
                };
                Some(message(MessageType::KeepaliveComplete, &[c.as_bytes()]))
            }
            // The guest's keepalive answer: nothing to do.
            MessageType::KeepaliveComplete => None,
            other => return Err(ControlError::Unexpected(other)),
        };
        Ok(reply)
    }

    /// The link state as the guest sees it in a status indication.
    pub fn link_indication(&self) -> Vec<u8> {
        let status = if self.link_up {
            rndis::STATUS_MEDIA_CONNECT
        } else {
            rndis::STATUS_MEDIA_DISCONNECT
        };
        indicate_status(status)
    }

    /// Answers a QUERY: the status and the information buffer.
    fn query(&self, oid: u32, info: &[u8]) -> (u32, Vec<u8>) {
        let ok = |bytes: &[u8]| (rndis::STATUS_SUCCESS, bytes.to_vec());
        let word = |v: u32| ok(&v.to_le_bytes());
        match oid {
            ndis::OID_GEN_SUPPORTED_LIST => {
                let list: Vec<u8> = SUPPORTED_OIDS
                    .iter()
                    .flat_map(|o| o.to_le_bytes())
                    .collect();
                ok(&list)
            }
            ndis::OID_GEN_HARDWARE_STATUS => word(0),
            ndis::OID_GEN_MEDIA_SUPPORTED | ndis::OID_GEN_MEDIA_IN_USE => word(ndis::MEDIUM_802_3),
            ndis::OID_GEN_PHYSICAL_MEDIUM => word(ndis::PHYSICAL_MEDIUM_UNSPECIFIED),
            ndis::OID_GEN_MAXIMUM_FRAME_SIZE => word(self.max_mtu),
            ndis::OID_GEN_MAXIMUM_TOTAL_SIZE => word(self.max_mtu + 14),
            ndis::OID_GEN_LINK_SPEED => word(self.link_speed_mbps.saturating_mul(10_000)),
            ndis::OID_GEN_VENDOR_ID => word(u32::from_le_bytes([0x00, 0x15, 0x5d, 0x00])),
            ndis::OID_GEN_VENDOR_DESCRIPTION => ok(b"hvsim synthetic network adapter\0"),
            ndis::OID_GEN_VENDOR_DRIVER_VERSION => word(0x0001_0000),
            ndis::OID_GEN_DRIVER_VERSION => ok(&0x0630u16.to_le_bytes()),
            ndis::OID_GEN_CURRENT_PACKET_FILTER => word(self.packet_filter),
            ndis::OID_GEN_MEDIA_CONNECT_STATUS => word(if self.link_up {
                ndis::MEDIA_STATE_CONNECTED
            } else {
                ndis::MEDIA_STATE_DISCONNECTED
            }),
            ndis::OID_802_3_PERMANENT_ADDRESS => ok(&self.permanent_mac),
            ndis::OID_802_3_CURRENT_ADDRESS => ok(&self.current_mac),
            ndis::OID_802_3_MAXIMUM_LIST_SIZE => word(32),
            ndis::OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES | ndis::OID_TCP_OFFLOAD_CURRENT_CONFIG => {
                ok(&self.offload_capabilities(info))
            }
            ndis::OID_GEN_RECEIVE_SCALE_CAPABILITIES => {
                let caps = ndis::RssCapabilities {
                    header: ObjectHeader {
                        object_type: ndis::OBJECT_TYPE_RSS_CAPABILITIES,
                        revision: 2,
                        size: size_of::<ndis::RssCapabilities>() as u16,
                    },
                    capabilities: ndis::RSS_CAPS_CLASSIFICATION_AT_DPC
                        | ndis::RSS_CAPS_HASH_TYPE_TCP_IPV4
                        | ndis::RSS_CAPS_HASH_TYPE_TCP_IPV6,
                    num_interrupt_messages: 1,
                    num_receive_queues: u32::from(self.queues),
                    num_indirection_table_entries: RSS_TABLE_ENTRIES,
                };
                ok(caps.as_bytes())
            }
            _ => (rndis::STATUS_NOT_SUPPORTED, Vec::new()),
        }
    }

    /// The offload structure, in the revision the guest asked for (in the query's buffer) or
    /// else the one its NVSP version implies.
    fn offload_capabilities(&self, info: &[u8]) -> Vec<u8> {
        let asked = ObjectHeader::read_from_prefix(info)
            .ok()
            .map(|(h, _)| h.revision)
            .filter(|r| (1..=3).contains(r));
        let revision = asked.unwrap_or(match self.nvsp_version {
            v if v >= nvsp::VERSION_5 => 3,
            v if v >= nvsp::VERSION_4 => 2,
            _ => 1,
        });
        offload::capabilities(revision, self.offload_offered)
    }

    /// Carries out a SET; returns its status.
    fn set(&mut self, oid: u32, info: &[u8]) -> u32 {
        match oid {
            ndis::OID_GEN_CURRENT_PACKET_FILTER => match info.get(..4) {
                Some(b) => {
                    let mut w = [0u8; 4];
                    w.copy_from_slice(b);
                    self.packet_filter = u32::from_le_bytes(w);
                    rndis::STATUS_SUCCESS
                }
                None => rndis::STATUS_INVALID_LENGTH,
            },
            ndis::OID_TCP_OFFLOAD_PARAMETERS => match ndis::OffloadParameters::parse(info) {
                Ok(p) => match self.offload.apply(&p, self.offload_offered) {
                    Ok(()) => rndis::STATUS_SUCCESS,
                    Err(why) => {
                        if crate::vmbus::warn_allowed() {
                            tracing::warn!(device = "netvsp", "offload parameters refused: {why}");
                        }
                        rndis::STATUS_INVALID_DATA
                    }
                },
                Err(_) => rndis::STATUS_INVALID_LENGTH,
            },
            ndis::OID_GEN_RECEIVE_SCALE_PARAMETERS => {
                let applied = RssConfig::parse(info)
                    .map_err(|e| format!("{e:?}"))
                    .and_then(|c| {
                        self.rss
                            .configure(&c, self.queues)
                            .map_err(|e| e.to_string())
                    });
                match applied {
                    Ok(()) => rndis::STATUS_SUCCESS,
                    Err(why) => {
                        if crate::vmbus::warn_allowed() {
                            tracing::warn!(device = "netvsp", "RSS parameters refused: {why}");
                        }
                        rndis::STATUS_INVALID_DATA
                    }
                }
            }
            ndis::OID_GEN_RNDIS_CONFIG_PARAMETER => self.set_config_parameter(info),
            ndis::OID_802_3_MULTICAST_LIST if info.len().is_multiple_of(6) => rndis::STATUS_SUCCESS,
            ndis::OID_OFFLOAD_ENCAPSULATION => rndis::STATUS_SUCCESS,
            _ => rndis::STATUS_NOT_SUPPORTED,
        }
    }

    /// `NetworkAddress` (a new MAC address as 12 hex digits in UTF-16) is the one parameter
    /// Linux sets.
    fn set_config_parameter(&mut self, info: &[u8]) -> u32 {
        let Ok((c, name, value)) = ConfigParameterInfo::parse(info) else {
            return rndis::STATUS_INVALID_DATA;
        };
        if utf16(name).as_deref() != Some("NetworkAddress") {
            return rndis::STATUS_NOT_SUPPORTED;
        }
        let mac = utf16(value)
            .filter(|_| c.parameter_type == ndis::CONFIG_PARAM_TYPE_STRING)
            .and_then(|s| mac_from_hex(&s));
        match mac {
            Some(mac) if mac[0] & 1 == 0 => {
                self.current_mac = mac;
                rndis::STATUS_SUCCESS
            }
            _ => rndis::STATUS_INVALID_DATA,
        }
    }
}

/// The OIDs [`RndisControl`] answers.
const SUPPORTED_OIDS: [u32; 19] = [
    ndis::OID_GEN_SUPPORTED_LIST,
    ndis::OID_GEN_HARDWARE_STATUS,
    ndis::OID_GEN_MEDIA_SUPPORTED,
    ndis::OID_GEN_MEDIA_IN_USE,
    ndis::OID_GEN_MAXIMUM_FRAME_SIZE,
    ndis::OID_GEN_LINK_SPEED,
    ndis::OID_GEN_VENDOR_ID,
    ndis::OID_GEN_VENDOR_DESCRIPTION,
    ndis::OID_GEN_CURRENT_PACKET_FILTER,
    ndis::OID_GEN_DRIVER_VERSION,
    ndis::OID_GEN_MAXIMUM_TOTAL_SIZE,
    ndis::OID_GEN_MEDIA_CONNECT_STATUS,
    ndis::OID_GEN_VENDOR_DRIVER_VERSION,
    ndis::OID_GEN_PHYSICAL_MEDIUM,
    ndis::OID_802_3_PERMANENT_ADDRESS,
    ndis::OID_802_3_CURRENT_ADDRESS,
    ndis::OID_802_3_MAXIMUM_LIST_SIZE,
    ndis::OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES,
    ndis::OID_GEN_RECEIVE_SCALE_CAPABILITIES,
];

/// A complete RNDIS message of type `ty` whose body is `parts` in order.
pub fn message(ty: MessageType, parts: &[&[u8]]) -> Vec<u8> {
    let body_len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(rndis::HEADER_SIZE + body_len);
    out.extend_from_slice(MessageHeader::new(ty, body_len).as_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// An INDICATE_STATUS message without a status buffer.
pub fn indicate_status(status: u32) -> Vec<u8> {
    let i = rndis::IndicateStatus {
        status,
        status_buffer_length: 0,
        status_buffer_offset: 0,
    };
    message(MessageType::IndicateStatus, &[i.as_bytes()])
}

/// UTF-16LE bytes as a string, without trailing NULs.
fn utf16(bytes: &[u8]) -> Option<String> {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units)
        .ok()
        .map(|s| s.trim_end_matches('\0').to_owned())
}

/// `001122334455` (separators `:` and `-` allowed) as a MAC address.
fn mac_from_hex(s: &str) -> Option<[u8; 6]> {
    let digits: Vec<u8> = s
        .chars()
        .filter(|c| *c != ':' && *c != '-')
        .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<Vec<u8>>>()?;
    if digits.len() != 12 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (m, pair) in mac.iter_mut().zip(digits.chunks_exact(2)) {
        *m = pair[0] << 4 | pair[1];
    }
    Some(mac)
}
