// SPDX-License-Identifier: GPL-2.0
//! The VMBus server: the host half of the VMBus control protocol and of every channel.
//!
//! The platform hands it each HvPostMessage and HvSignalEvent of the guest ([`GuestToHost`])
//! and calls [`GuestToHost::poll`] every few milliseconds; the event loop also waits on the
//! devices' wake descriptors ([`VmbusServer::wake_fds`]) and has a ready one's device woken
//! at once ([`VmbusServer::wake`]). The server answers with SynIC messages and event flags on
//! SINT 2 through [`HostToGuest`]. Devices ([`VmbusDevice`]) are added before the guest
//! connects (or later, as hot-add) and see only open channels.
//!
//! Files by concern: `connection` (version negotiation), `session` (offers, rescind,
//! sub-channels, unload), `channel` (GPADL messages, open/close/modify), `gpadl` (GPADL
//! assembly and validation), `ring` (ring buffers over GPADL pages), `events` (signals,
//! packet dispatch, polling), `offers` (offer fields, relids, GUID text), `device` (the device
//! trait); the integration components are in `crate::ic`. Wire layouts:
//! `rhv_proto::{vmbus, ring}`.

mod channel;
mod connection;
mod device;
mod events;
mod gpadl;
mod hostile;
mod offers;
mod ring;
mod session;
#[cfg(test)]
pub(crate) mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rhv_proto::guid::Guid;
use rhv_proto::vmbus::{self as proto, MessageType};

use crate::hv::{GuestToHost, HostToGuest, HvStatus};

pub use crate::ic::{IcConfig, IcKind, IntegrationComponent};
pub use channel::{ChannelCounters, ChannelState};
pub use connection::{ConnectionInfo, SUPPORTED_VERSIONS};
pub use device::{
    ChannelHandle, ControlError, DeviceContext, IncomingPacket, OpenRefused, OpenRequest,
    VmbusDevice,
};
pub use gpadl::{Gpadl, GpadlRange};
pub use hostile::HostileMode;
pub use offers::{guid_text, parse_guid, OfferParams};
pub use ring::{HostRingError, SendError};

use channel::Channel;
use connection::Connection;
use gpadl::GpadlTable;
use offers::RelidAllocator;

/// Errors of the host-facing API (control interface, device registration).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VmbusError {
    #[error("no channel matches {0}")]
    NoSuchChannel(String),
    #[error("not a primary channel: relid {0}")]
    NotPrimary(u32),
    #[error("a device with instance {0} already exists")]
    DuplicateInstance(String),
    #[error("all relids are in use")]
    OutOfRelids,
    #[error("the channel is already rescinded")]
    AlreadyRescinded,
    #[error("the device cannot have more sub-channels")]
    NoMoreSubchannels,
    #[error("the guest is not connected")]
    NotConnected,
    #[error("device control: {0}")]
    Control(#[from] ControlError),
}

/// Names a channel for the control interface: a relid or a device instance GUID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelTarget {
    /// A relid (primary or sub-channel).
    Relid(u32),
    /// A device's instance GUID (its primary channel).
    Instance(Guid),
}

impl std::str::FromStr for ChannelTarget {
    type Err = VmbusError;

    /// Accepts a decimal relid or a GUID in text form.
    fn from_str(s: &str) -> Result<Self, VmbusError> {
        if let Ok(relid) = s.parse::<u32>() {
            return Ok(ChannelTarget::Relid(relid));
        }
        parse_guid(s)
            .map(ChannelTarget::Instance)
            .ok_or_else(|| VmbusError::NoSuchChannel(s.to_owned()))
    }
}

/// One channel, for the control interface.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChannelInfo {
    /// The device's short name.
    pub device: String,
    /// Relid (also the event flag bit).
    pub relid: u32,
    /// 0 for a primary channel.
    pub subchannel_index: u16,
    /// Class GUID text (sysfs `class_id`).
    pub class_id: String,
    /// Instance GUID text (sysfs `device_id`).
    pub instance_id: String,
    /// Where the channel is in its life.
    pub state: ChannelState,
    /// Connection id the guest signals it with.
    pub connection_id: u32,
    /// VP the host interrupts for it.
    pub target_vp: u32,
    /// Its traffic since it was opened (absent while it is not open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<ChannelCounters>,
}

/// A device and its channels (index 0 is the primary channel).
pub(crate) struct DeviceSlot {
    pub offer: OfferParams,
    pub device: Box<dyn VmbusDevice>,
    pub channels: Vec<Channel>,
}

/// The VMBus server. See the module documentation.
pub struct VmbusServer {
    connection: Connection,
    devices: Vec<DeviceSlot>,
    gpadls: GpadlTable,
    relids: RelidAllocator,
    /// REQUESTOFFERS has been answered in this connection.
    offers_sent: bool,
    all_offers_delivered_at: Option<Instant>,
    /// Deliberate misbehaviour for robustness tests (`hostile.rs`).
    hostile: hostile::Hostile,
}

impl VmbusServer {
    /// A server that accepts protocol versions up to `max_version` (one of
    /// [`SUPPORTED_VERSIONS`], e.g. `rhv_proto::vmbus::VERSION_WIN10_V6_0`).
    pub fn new(max_version: u32) -> Self {
        Self {
            connection: Connection::new(max_version),
            devices: Vec::new(),
            gpadls: GpadlTable::default(),
            relids: RelidAllocator::default(),
            offers_sent: false,
            all_offers_delivered_at: None,
            hostile: hostile::Hostile::default(),
        }
    }

    /// Adds a device and returns the relid of its primary channel. Before the guest asks for
    /// offers this only registers it; afterwards it is offered at the next `poll` (hot-add).
    pub fn add_device(&mut self, device: Box<dyn VmbusDevice>) -> Result<u32, VmbusError> {
        let offer = device.offer();
        if self
            .devices
            .iter()
            .any(|d| d.offer.instance_id == offer.instance_id)
        {
            return Err(VmbusError::DuplicateInstance(guid_text(&offer.instance_id)));
        }
        let relid = self.relids.allocate().ok_or(VmbusError::OutOfRelids)?;
        tracing::info!(device = offer.name, relid, "VMBus device added");
        self.devices.push(DeviceSlot {
            offer,
            device,
            channels: vec![Channel::new(relid, 0)],
        });
        Ok(relid)
    }

    /// Adds the four integration components `hv_utils` drives (shutdown, time sync,
    /// heartbeat, KVP), with Hyper-V's fixed instance GUIDs.
    pub fn add_integration_components(&mut self) -> Result<(), VmbusError> {
        self.add_integration_components_with(&IcConfig::default())
    }

    /// [`VmbusServer::add_integration_components`] with other timing or a reference clock.
    pub fn add_integration_components_with(&mut self, config: &IcConfig) -> Result<(), VmbusError> {
        for kind in IcKind::ALL {
            self.add_device(Box::new(IntegrationComponent::with_config(kind, config)))?;
        }
        Ok(())
    }

    /// The negotiated protocol version as `(major, minor)`, if the guest is connected.
    pub fn negotiated_version(&self) -> Option<(u16, u16)> {
        self.connection
            .info()
            .map(|i| proto::split_version(i.version))
    }

    /// The negotiated connection: version, message VP, message connection id.
    pub fn connection_info(&self) -> Option<ConnectionInfo> {
        self.connection.info().copied()
    }

    /// When ALLOFFERS_DELIVERED was last sent (boot-time benchmark).
    pub fn all_offers_delivered_at(&self) -> Option<Instant> {
        self.all_offers_delivered_at
    }

    /// Complete GPADLs the guest has shared in this connection.
    pub fn gpadl_count(&self) -> usize {
        self.gpadls.len()
    }

    /// Every channel of every device.
    pub fn channels(&self) -> Vec<ChannelInfo> {
        let mut out = Vec::new();
        for slot in &self.devices {
            for ch in &slot.channels {
                out.push(ChannelInfo {
                    device: slot.offer.name.clone(),
                    relid: ch.relid,
                    subchannel_index: ch.subchannel_index,
                    class_id: guid_text(&slot.offer.class_id),
                    instance_id: guid_text(&slot.offer.instance_id),
                    state: ch.state(),
                    connection_id: offers::channel_connection_id(ch.relid),
                    target_vp: ch.target_vp,
                    traffic: ch.open.as_ref().map(|o| o.counters),
                });
            }
        }
        out
    }

    /// Passes a device-specific control command to the device behind `target`.
    pub fn control(
        &mut self,
        target: ChannelTarget,
        command: &serde_json::Value,
    ) -> Result<serde_json::Value, VmbusError> {
        let (d, _) = self.find_target(target)?;
        Ok(self.devices[d].device.control(command)?)
    }

    /// Finds (device index, channel index) for a control-interface target.
    fn find_target(&self, target: ChannelTarget) -> Result<(usize, usize), VmbusError> {
        match target {
            ChannelTarget::Relid(relid) => self
                .find_relid(relid)
                .ok_or_else(|| VmbusError::NoSuchChannel(relid.to_string())),
            ChannelTarget::Instance(guid) => self
                .devices
                .iter()
                .position(|d| d.offer.instance_id == guid)
                .map(|d| (d, 0))
                .ok_or_else(|| VmbusError::NoSuchChannel(guid_text(&guid))),
        }
    }

    /// Finds (device index, channel index) of a relid.
    fn find_relid(&self, relid: u32) -> Option<(usize, usize)> {
        self.devices.iter().enumerate().find_map(|(d, slot)| {
            slot.channels
                .iter()
                .position(|c| c.relid == relid)
                .map(|c| (d, c))
        })
    }

    /// Posts a channel message to the connected guest's message VP.
    fn post<T: proto::ChannelMessage>(&self, host: &mut dyn HostToGuest, msg: &T) {
        let Some(info) = self.connection.info() else {
            return;
        };
        post_to(host, info.target_vp, zerocopy::IntoBytes::as_bytes(msg));
    }

    fn dispatch(&mut self, host: &mut dyn HostToGuest, connection_id: u32, bytes: &[u8]) {
        let ty = match proto::message_type(bytes) {
            Ok(ty) => ty,
            Err(e) => {
                if warn_allowed() {
                    tracing::warn!(connection_id, "unparsable VMBus message: {e:?}");
                }
                return;
            }
        };
        if ty != MessageType::InitiateContact && self.connection.info().is_none() {
            // After UNLOAD Linux still sends CLOSECHANNEL / RELID_RELEASED for its channels.
            tracing::debug!(?ty, "VMBus message while disconnected, ignored");
            return;
        }
        let result = match ty {
            MessageType::InitiateContact => self.on_initiate_contact(host, connection_id, bytes),
            MessageType::RequestOffers => self.on_request_offers(host, bytes),
            MessageType::Unload => self.on_unload(host, bytes),
            MessageType::OpenChannel => self.on_open_channel(host, bytes),
            MessageType::CloseChannel => self.on_close_channel(host, bytes),
            MessageType::GpadlHeader => self.on_gpadl_header(host, bytes),
            MessageType::GpadlBody => self.on_gpadl_body(host, bytes),
            MessageType::GpadlTeardown => self.on_gpadl_teardown(host, bytes),
            MessageType::RelidReleased => self.on_relid_released(bytes),
            MessageType::ModifyChannel => self.on_modify_channel(host, bytes),
            MessageType::TlConnectRequest => {
                proto::parse::<proto::TlConnectRequest>(bytes).map(|_| {
                    if warn_allowed() {
                        tracing::warn!(
                            "hv_sock connect request: Hyper-V sockets are not supported"
                        );
                    }
                })
            }
            other => {
                if warn_allowed() {
                    tracing::warn!(?other, "VMBus message the guest must not send, ignored");
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            if warn_allowed() {
                tracing::warn!(?ty, "malformed VMBus message: {e:?}");
            }
        }
    }
}

/// Posts raw message bytes to SINT 2 of `vp`.
fn post_to(host: &mut dyn HostToGuest, vp: u32, bytes: &[u8]) {
    let r = host.post_message(
        vp,
        proto::VMBUS_MESSAGE_SINT,
        proto::VMBUS_SYNIC_MESSAGE_TYPE,
        bytes,
    );
    if let Err(e) = r {
        if warn_allowed() {
            tracing::warn!(vp, "cannot post a VMBus message to the guest: {e}");
        }
    }
}

impl GuestToHost for VmbusServer {
    fn post_message(
        &mut self,
        host: &mut dyn HostToGuest,
        connection_id: u32,
        message_type: u32,
        payload: &[u8],
    ) -> HvStatus {
        if !self.connection.is_message_connection(connection_id) {
            return HvStatus::InvalidConnectionId;
        }
        if message_type != proto::VMBUS_SYNIC_MESSAGE_TYPE {
            if warn_allowed() {
                tracing::warn!(
                    message_type,
                    "VMBus post with an unexpected SynIC message type"
                );
            }
            return HvStatus::InvalidParameter;
        }
        self.dispatch(host, connection_id, payload);
        HvStatus::Success
    }

    fn signal_event(
        &mut self,
        host: &mut dyn HostToGuest,
        connection_id: u32,
        flag: u16,
    ) -> HvStatus {
        self.on_signal(host, connection_id, flag)
    }

    fn poll(&mut self, host: &mut dyn HostToGuest) {
        self.on_poll(host);
    }
}

/// Log budget for guest-caused warnings: at most this many per second, so a guest flooding
/// bad messages cannot flood the log.
const WARNINGS_PER_SECOND: u64 = 20;

static WARN_WINDOW: AtomicU64 = AtomicU64::new(0);
static WARN_COUNT: AtomicU64 = AtomicU64::new(0);

/// Whether one more guest-caused warning may be logged now.
pub(crate) fn warn_allowed() -> bool {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let second = START.get_or_init(Instant::now).elapsed().as_secs();
    // ORDERING: a racy budget is fine; this only limits log volume.
    if WARN_WINDOW.swap(second, Ordering::Relaxed) != second {
        WARN_COUNT.store(0, Ordering::Relaxed);
    }
    WARN_COUNT.fetch_add(1, Ordering::Relaxed) < WARNINGS_PER_SECOND
}
