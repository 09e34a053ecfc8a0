// SPDX-License-Identifier: GPL-2.0
//! Channel traffic: the guest's HvSignalEvent on a channel's connection id, draining the
//! guest → host ring into the device, the periodic poll and the devices' wake descriptors.
//!
//! The host masks the guest's interrupts while it drains, publishes the read index, unmasks
//! and looks once more, so a packet published in between is never stranded; the poll drains
//! every open channel as well, which also covers a lost signal. After a drain that handed
//! the device packets, the device may send on its other channels
//! ([`VmbusDevice::on_drained`]). A device is also woken outside the tick when one of its
//! [`VmbusDevice::wake_fds`] is readable ([`VmbusServer::wake_fds`], [`VmbusServer::wake`]).

use std::os::unix::io::RawFd;

use rhv_proto::vmbus as proto;

use super::device::{signal_guest, ChannelHandle, DeviceContext, DeviceRequest, IncomingPacket};
use super::offers::relid_of_connection_id;
use super::ring::{HostRingError, RawPacket};
use super::{warn_allowed, VmbusDevice, VmbusServer};
use crate::hv::{HostToGuest, HvStatus};

/// Drain rounds per service call; the rest waits for the next poll so one busy channel
/// cannot starve the event loop.
const MAX_DRAIN_ROUNDS: usize = 16;

impl VmbusServer {
    pub(super) fn on_signal(
        &mut self,
        host: &mut dyn HostToGuest,
        connection_id: u32,
        _flag: u16,
    ) -> HvStatus {
        if connection_id == proto::VMBUS_EVENT_CONNECTION_ID {
            // The pre-Win8 shared event: the guest names no channel, so look at all of them.
            self.service_all(host);
            return HvStatus::Success;
        }
        let Some(relid) = relid_of_connection_id(connection_id) else {
            return HvStatus::InvalidConnectionId;
        };
        match self.find_relid(relid) {
            Some((d, c)) => {
                if let Some(open) = self.devices[d].channels[c].open.as_mut() {
                    open.counters.signals_from_guest += 1;
                }
                self.service_channel(host, d, c);
                HvStatus::Success
            }
            None => HvStatus::InvalidConnectionId,
        }
    }

    pub(super) fn on_poll(&mut self, host: &mut dyn HostToGuest) {
        if self.connection.info().is_some() {
            self.offer_pending_channels(host);
        }
        self.service_all(host);
        for d in 0..self.devices.len() {
            self.with_context(host, d, |device, ctx| device.poll(ctx));
        }
    }

    /// Every device's wake descriptors ([`VmbusDevice::wake_fds`]), for the event loop to
    /// wait on for reading; asked before every wait.
    pub fn wake_fds(&self, out: &mut Vec<RawFd>) {
        for slot in &self.devices {
            slot.device.wake_fds(out);
        }
    }

    /// Wakes ([`VmbusDevice::on_wake`]), right away, each device that offers one of the
    /// `ready` descriptors (those of [`VmbusServer::wake_fds`] that poll() found readable or
    /// in error).
    pub fn wake(&mut self, host: &mut dyn HostToGuest, ready: &[RawFd]) {
        if ready.is_empty() {
            return;
        }
        let mut fds = Vec::new();
        for d in 0..self.devices.len() {
            fds.clear();
            self.devices[d].device.wake_fds(&mut fds);
            if fds.iter().any(|fd| ready.contains(fd)) {
                self.with_context(host, d, |device, ctx| device.on_wake(ctx));
            }
        }
    }

    /// Runs `f` on device `d` with its channels, then what it asked the server to do.
    fn with_context(
        &mut self,
        host: &mut dyn HostToGuest,
        d: usize,
        f: impl FnOnce(&mut dyn VmbusDevice, &mut DeviceContext<'_>),
    ) {
        let mut requests = Vec::new();
        let slot = &mut self.devices[d];
        let mut ctx = DeviceContext {
            name: &slot.offer.name,
            channels: &mut slot.channels,
            host: &mut *host,
            requests: &mut requests,
            gpadls: &self.gpadls,
        };
        f(&mut *slot.device, &mut ctx);
        self.run_requests(host, d, requests);
    }

    fn service_all(&mut self, host: &mut dyn HostToGuest) {
        for d in 0..self.devices.len() {
            for c in 0..self.devices[d].channels.len() {
                self.service_channel(host, d, c);
            }
        }
    }

    /// Drains the guest → host ring of an open channel into its device, and tells the device
    /// when room it waited for in the host → guest ring has appeared.
    /// Then, if it handed over packets, lets the device send on its other channels.
    pub(super) fn service_channel(&mut self, host: &mut dyn HostToGuest, d: usize, c: usize) {
        if self.devices[d].device.pauses_reading() {
            return;
        }
        let mut requests = Vec::new();
        let mut handed = false;
        for _ in 0..MAX_DRAIN_ROUNDS {
            // Nothing to read may still be a signal that the guest made room for the host.
            let packets = match self.drain_ring(host, d, c) {
                Ok(p) => p.unwrap_or_default(),
                Err(e) => {
                    self.fail_channel(d, c, e);
                    break;
                }
            };
            let slot = &mut self.devices[d];
            let ch = &mut slot.channels[c];
            let Some(open) = ch.open.as_mut().filter(|o| o.failed.is_none()) else {
                break;
            };
            let mut handle = ChannelHandle {
                name: &slot.offer.name,
                relid: ch.relid,
                subchannel_index: ch.subchannel_index,
                target_vp: ch.target_vp,
                open,
                host: &mut *host,
                requests: &mut requests,
                gpadls: &self.gpadls,
            };
            for p in &packets {
                let packet = IncomingPacket {
                    packet_type: p.descriptor.packet_type,
                    flags: p.descriptor.flags,
                    trans_id: p.descriptor.trans_id,
                    extra: p.extra(),
                    payload: p.payload(),
                };
                slot.device.on_packet(&mut handle, &packet);
            }
            let writable = handle.open.outgoing.is_waiting()
                && handle
                    .open
                    .outgoing
                    .room_available(handle.host.memory())
                    .unwrap_or(false);
            if writable {
                slot.device.on_writable(&mut handle);
            }
            if packets.is_empty() {
                break;
            }
            handed = true;
        }
        self.run_requests(host, d, requests);
        if handed {
            self.with_context(host, d, |device, ctx| device.on_drained(ctx));
        }
    }

    /// Copies every published packet out of the channel's guest → host ring. `None` if the
    /// channel is not open, has failed, or had nothing to read.
    fn drain_ring(
        &mut self,
        host: &mut dyn HostToGuest,
        d: usize,
        c: usize,
    ) -> Result<Option<Vec<RawPacket>>, HostRingError> {
        let slot = &mut self.devices[d];
        let ch = &mut slot.channels[c];
        let Some(open) = ch.open.as_mut().filter(|o| o.failed.is_none()) else {
            return Ok(None);
        };
        let mem = host.memory();
        if !open.incoming.has_data(mem)? {
            return Ok(None);
        }
        open.incoming.set_interrupt_mask(mem, true)?;
        let mut packets = Vec::new();
        loop {
            let before = packets.len();
            while let Some(p) = open.incoming.read_packet(mem)? {
                packets.push(p);
            }
            open.incoming.set_interrupt_mask(mem, false)?;
            // Look once more after unmasking: a packet published meanwhile came unsignalled.
            if packets.len() == before || !open.incoming.has_data(mem)? {
                break;
            }
            open.incoming.set_interrupt_mask(mem, true)?;
        }
        open.counters.packets_from_guest += packets.len() as u64;
        let signal = open.incoming.commit(mem)?;
        if signal {
            open.counters.signals_to_guest += 1;
            signal_guest(host, &slot.offer.name, ch.target_vp, ch.relid);
        }
        Ok(Some(packets))
    }

    /// Carries out what a device asked for during a callback.
    pub(super) fn run_requests(
        &mut self,
        host: &mut dyn HostToGuest,
        d: usize,
        requests: Vec<DeviceRequest>,
    ) {
        for request in requests {
            match request {
                DeviceRequest::OfferSubchannels(n) => {
                    if let Err(e) = self.offer_subchannels_of(host, d, n) {
                        if warn_allowed() {
                            tracing::warn!(
                                device = self.devices[d].offer.name,
                                "sub-channel request: {e}"
                            );
                        }
                    }
                }
            }
        }
    }
}
