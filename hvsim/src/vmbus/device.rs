// SPDX-License-Identifier: GPL-2.0
//! The seam between the VMBus server and the devices behind its channels (integration
//! components, storvsp, netvsp): [`VmbusDevice`] is what a device implements, and
//! [`ChannelHandle`] / [`DeviceContext`] are what the server lends it to talk to the guest.
//!
//! The server owns the protocol (offers, GPADLs, open/close, rescind, ring buffers); a device
//! sees only opened channels and packets. Every callback runs on the platform's event-loop
//! thread, so devices need no locking.
//!
//! A device runs when the guest gives it something (a packet, ring room), in
//! [`VmbusDevice::poll`], which the event loop calls on its tick (timed work), and in
//! [`VmbusDevice::on_wake`] as soon as one of the descriptors the device offers in
//! [`VmbusDevice::wake_fds`] is readable (a host backend with data waiting, such as netvsp's
//! TAP).

use std::os::unix::io::RawFd;

use rhv_proto::ring::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED};
use rhv_proto::vmbus as proto;

use super::channel::{Channel, OpenChannelState};
use super::gpadl::{Gpadl, GpadlTable};
use super::offers::OfferParams;
use super::ring::SendError;
use crate::hv::HostToGuest;
use crate::memory::GuestMemory;

/// The guest's OPENCHANNEL, as the device sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    /// Relid of the channel.
    pub relid: u32,
    /// 0 for the primary channel, 1.. for sub-channels.
    pub subchannel_index: u16,
    /// VP index the host interrupts for this channel.
    pub target_vp: u32,
    /// The open request's user-defined bytes.
    pub user_data: [u8; proto::MAX_USER_DEFINED_BYTES],
    /// Data bytes of the guest → host ring.
    pub incoming_ring_size: u32,
    /// Data bytes of the host → guest ring.
    pub outgoing_ring_size: u32,
}

/// A device refuses an open; the guest gets OPENCHANNEL_RESULT with a failure status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("open refused: {0}")]
pub struct OpenRefused(pub String);

/// A device-specific control command failed or is not supported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ControlError(pub String);

/// One packet from the guest. `extra` holds what sits between the descriptor and the
/// payload: transfer-page or GPA-direct ranges.
#[derive(Clone, Copy, Debug)]
pub struct IncomingPacket<'a> {
    /// Raw packet type; see [`IncomingPacket::kind`].
    pub packet_type: u16,
    /// Descriptor flags.
    pub flags: u16,
    /// The guest's request id, echoed in a completion.
    pub trans_id: u64,
    /// Extra header bytes.
    pub extra: &'a [u8],
    /// Payload bytes (padding included: the wire has no exact length).
    pub payload: &'a [u8],
}

impl IncomingPacket<'_> {
    /// The packet type, if it is a known one.
    pub fn kind(&self) -> Option<PacketType> {
        PacketType::try_from(self.packet_type).ok()
    }
    /// Whether the guest asked for a completion.
    pub fn completion_requested(&self) -> bool {
        self.flags & PACKET_FLAG_COMPLETION_REQUESTED != 0
    }
}

/// Work a device asks the server to do once its callback has returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeviceRequest {
    /// Offer up to this many more sub-channels.
    OfferSubchannels(u16),
}

/// A host device behind one or more channels.
pub trait VmbusDevice: Send {
    /// What to offer the guest. Called once, when the device is added to the server.
    fn offer(&self) -> OfferParams;

    /// The guest opens channel `request.subchannel_index`. Refusing answers the guest with a
    /// failure status. Do not send here: the guest gets the open result only afterwards.
    fn on_open(&mut self, request: &OpenRequest) -> Result<(), OpenRefused> {
        let _ = request;
        Ok(())
    }

    /// The open result has been sent; the channel is usable (a host-initiated protocol such
    /// as an integration component's negotiation starts here).
    fn on_opened(&mut self, ch: &mut ChannelHandle<'_>) {
        let _ = ch;
    }

    /// A packet arrived on an open channel.
    fn on_packet(&mut self, ch: &mut ChannelHandle<'_>, packet: &IncomingPacket<'_>);

    /// Whether the server is to leave the guest's packets in this device's guest → host rings
    /// for now: a host that stops reading them for a while (misbehaviour). Asked before every
    /// drain; once it answers `false` again, the next tick drains what piled up.
    fn pauses_reading(&self) -> bool {
        false
    }

    /// The host → guest ring had been full and now has room again.
    fn on_writable(&mut self, ch: &mut ChannelHandle<'_>) {
        let _ = ch;
    }

    /// The server has handed over every packet it found on one channel (and called
    /// [`VmbusDevice::on_writable`] if that was due). A device whose packets on one channel
    /// make work for its other channels sends it here (netvsp: a receive completion frees
    /// buffer sections that frames queued for other channels wait for), instead of leaving it
    /// to the next [`VmbusDevice::poll`].
    fn on_drained(&mut self, ctx: &mut DeviceContext<'_>) {
        let _ = ctx;
    }

    /// The channel closed (guest close, rescind, unload, or a failed ring).
    fn on_close(&mut self, subchannel_index: u16) {
        let _ = subchannel_index;
    }

    /// Called every few milliseconds (the event loop's tick) for timed work.
    fn poll(&mut self, ctx: &mut DeviceContext<'_>) {
        let _ = ctx;
    }

    /// Appends the descriptors whose readiness means work for the device (e.g. a host
    /// backend with data waiting); the event loop waits on them for reading next to QEMU's
    /// connections and calls [`VmbusDevice::on_wake`] as soon as one is readable or reports
    /// an error. Asked again before every wait, so offer a descriptor only while the device
    /// will act on it: one that stays readable while the device leaves it alone (no room for
    /// its data yet, a failing backend) would wake the loop again and again. The device owns
    /// the descriptors and keeps them open while it offers them.
    fn wake_fds(&self, out: &mut Vec<RawFd>) {
        let _ = out;
    }

    /// One of the descriptors of [`VmbusDevice::wake_fds`] is ready (once per loop turn,
    /// however many are). The default does what the tick does: [`VmbusDevice::poll`].
    fn on_wake(&mut self, ctx: &mut DeviceContext<'_>) {
        self.poll(ctx);
    }

    /// A device-specific command from the control interface.
    fn control(&mut self, command: &serde_json::Value) -> Result<serde_json::Value, ControlError> {
        let _ = command;
        Err(ControlError(
            "this device has no control commands".to_owned(),
        ))
    }
}

/// An open channel, lent to a device for the length of a callback.
pub struct ChannelHandle<'a> {
    pub(crate) name: &'a str,
    pub(crate) relid: u32,
    pub(crate) subchannel_index: u16,
    pub(crate) target_vp: u32,
    pub(crate) open: &'a mut OpenChannelState,
    pub(crate) host: &'a mut dyn HostToGuest,
    pub(crate) requests: &'a mut Vec<DeviceRequest>,
    pub(crate) gpadls: &'a GpadlTable,
}

impl ChannelHandle<'_> {
    /// Relid of the channel.
    pub fn relid(&self) -> u32 {
        self.relid
    }

    /// 0 for the primary channel.
    pub fn subchannel_index(&self) -> u16 {
        self.subchannel_index
    }

    /// Guest RAM, for GPA-direct and GPADL data.
    pub fn memory(&self) -> &dyn GuestMemory {
        self.host.memory()
    }

    /// A complete GPADL of this connection by id (e.g. a buffer the guest names in a device
    /// protocol message, such as netvsc's receive and send buffers). The device checks that
    /// `relid` is one of its channels.
    pub fn gpadl(&self, id: u32) -> Option<&Gpadl> {
        self.gpadls.get(id)
    }

    /// Sends an in-band data packet.
    pub fn send_inband(
        &mut self,
        trans_id: u64,
        payload: &[u8],
        completion_requested: bool,
    ) -> Result<(), SendError> {
        let flags = if completion_requested {
            PACKET_FLAG_COMPLETION_REQUESTED
        } else {
            0
        };
        self.send_packet(PacketType::DataInband, flags, trans_id, &[], payload)
    }

    /// Completes the guest's request `trans_id`.
    pub fn send_completion(&mut self, trans_id: u64, payload: &[u8]) -> Result<(), SendError> {
        self.send_packet(PacketType::Completion, 0, trans_id, &[], payload)
    }

    /// Sends any packet; `extra` (a multiple of 8 bytes) goes between descriptor and payload.
    /// A ring error fails the channel: later sends return [`SendError::Failed`].
    pub fn send_packet(
        &mut self,
        packet_type: PacketType,
        flags: u16,
        trans_id: u64,
        extra: &[u8],
        payload: &[u8],
    ) -> Result<(), SendError> {
        if let Some(reason) = &self.open.failed {
            return Err(SendError::Failed(reason.clone()));
        }
        let result = self.open.outgoing.write_packet(
            self.host.memory(),
            packet_type,
            flags,
            trans_id,
            extra,
            payload,
        );
        if result.is_ok() {
            self.open.counters.packets_to_guest += 1;
        }
        match result {
            Ok(true) => {
                self.open.counters.signals_to_guest += 1;
                signal_guest(self.host, self.name, self.target_vp, self.relid);
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(SendError::Failed(reason)) => {
                if super::warn_allowed() {
                    tracing::warn!(
                        device = self.name,
                        relid = self.relid,
                        "host→guest ring is corrupt, failing the channel: {reason}"
                    );
                }
                self.open.failed = Some(reason.clone());
                Err(SendError::Failed(reason))
            }
            Err(e) => Err(e),
        }
    }

    /// Asks the server to offer up to `n` more sub-channels of this device (after the
    /// current callback returns; never more than the offer's `max_subchannels`).
    pub fn request_subchannels(&mut self, n: u16) {
        self.requests.push(DeviceRequest::OfferSubchannels(n));
    }
}

/// Sets the channel's event flag (bit = relid) on SINT 2 of its target VP.
pub(crate) fn signal_guest(host: &mut dyn HostToGuest, name: &str, vp: u32, relid: u32) {
    if let Err(e) = host.signal_event(vp, proto::VMBUS_MESSAGE_SINT, relid) {
        if super::warn_allowed() {
            tracing::warn!(device = name, relid, vp, "cannot signal the guest: {e}");
        }
    }
}

/// What a device gets in [`VmbusDevice::poll`]: its open channels.
pub struct DeviceContext<'a> {
    pub(crate) name: &'a str,
    pub(crate) channels: &'a mut [Channel],
    pub(crate) host: &'a mut dyn HostToGuest,
    pub(crate) requests: &'a mut Vec<DeviceRequest>,
    pub(crate) gpadls: &'a GpadlTable,
}

impl DeviceContext<'_> {
    /// Sub-channel indices of the channels that are open (and not failed).
    pub fn open_channels(&self) -> Vec<u16> {
        self.channels
            .iter()
            .filter(|c| c.open.as_ref().is_some_and(|o| o.failed.is_none()))
            .map(|c| c.subchannel_index)
            .collect()
    }

    /// The open channel with this sub-channel index.
    pub fn channel(&mut self, subchannel_index: u16) -> Option<ChannelHandle<'_>> {
        let ch = self
            .channels
            .iter_mut()
            .find(|c| c.subchannel_index == subchannel_index)?;
        let target_vp = ch.target_vp;
        let relid = ch.relid;
        let open = ch.open.as_mut().filter(|o| o.failed.is_none())?;
        Some(ChannelHandle {
            name: self.name,
            relid,
            subchannel_index,
            target_vp,
            open,
            host: &mut *self.host,
            requests: &mut *self.requests,
            gpadls: self.gpadls,
        })
    }

    /// Guest RAM.
    pub fn memory(&self) -> &dyn GuestMemory {
        self.host.memory()
    }

    /// Asks the server to offer up to `n` more sub-channels.
    pub fn request_subchannels(&mut self, n: u16) {
        self.requests.push(DeviceRequest::OfferSubchannels(n));
    }
}
