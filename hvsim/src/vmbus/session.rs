// SPDX-License-Identifier: GPL-2.0
//! The life of a VMBus session and of the channels in it: INITIATE_CONTACT, REQUESTOFFERS
//! (every offer, then ALLOFFERS_DELIVERED), sub-channel and hot-added offers, rescind and
//! RELID_RELEASED, and UNLOAD.
//!
//! UNLOAD (and an INITIATE_CONTACT while connected, as after a kexec) resets every channel:
//! open channels are closed on the host side, sub-channels and rescinded channels disappear,
//! every GPADL is dropped, and the primary channels wait, with their relids, to be offered
//! again — so a reloaded `hv_vmbus` can negotiate and find the same devices.

use std::time::Instant;

use rhv_proto::vmbus::{self as proto, parse, ParseError};
use zerocopy::FromZeros;

use super::channel::Channel;
use super::offers::offer_message;
use super::{post_to, warn_allowed, ChannelTarget, VmbusError, VmbusServer};
use crate::hv::HostToGuest;

impl VmbusServer {
    pub(super) fn on_initiate_contact(
        &mut self,
        host: &mut dyn HostToGuest,
        connection_id: u32,
        bytes: &[u8],
    ) -> Result<(), ParseError> {
        let (m, _) = parse::<proto::InitiateContact>(bytes)?;
        if self.connection.info().is_some() {
            tracing::info!("INITIATE_CONTACT while connected: resetting every channel");
            self.reset_channels(host);
        }
        let outcome = self.connection.on_initiate_contact(connection_id, &m);
        let (major, minor) = proto::split_version(m.vmbus_version_requested);
        match outcome.refused {
            Some(why) => tracing::info!(major, minor, "VMBus version refused: {why}"),
            None => tracing::info!(
                major,
                minor,
                target_vp = outcome.target_vp,
                "VMBus connected"
            ),
        }
        self.hostile_before_version_response(host, outcome.target_vp);
        post_to(host, outcome.target_vp, &outcome.response);
        Ok(())
    }

    pub(super) fn on_request_offers(
        &mut self,
        host: &mut dyn HostToGuest,
        bytes: &[u8],
    ) -> Result<(), ParseError> {
        parse::<proto::RequestOffers>(bytes)?;
        if self.offers_sent {
            if warn_allowed() {
                tracing::warn!("REQUESTOFFERS repeated in one connection, ignored");
            }
            return Ok(());
        }
        self.offers_sent = true;
        self.hostile_offers(host);
        self.offer_pending_channels(host);
        let mut m = proto::AllOffersDelivered::new_zeroed();
        m.header = proto::MessageHeader::new(proto::MessageType::AllOffersDelivered);
        self.post(host, &m);
        self.all_offers_delivered_at = Some(Instant::now());
        tracing::info!(devices = self.devices.len(), "all offers delivered");
        Ok(())
    }

    /// Offers every channel that has not been offered in this connection (the boot-time
    /// offers, and devices added later).
    pub(super) fn offer_pending_channels(&mut self, host: &mut dyn HostToGuest) {
        if !self.offers_sent {
            return;
        }
        for d in 0..self.devices.len() {
            for c in 0..self.devices[d].channels.len() {
                let ch = &self.devices[d].channels[c];
                if ch.offered || ch.rescinded {
                    continue;
                }
                let msg = offer_message(&self.devices[d].offer, ch.relid, ch.subchannel_index);
                self.devices[d].channels[c].offered = true;
                self.post(host, &msg);
            }
        }
    }

    pub(super) fn on_unload(
        &mut self,
        host: &mut dyn HostToGuest,
        bytes: &[u8],
    ) -> Result<(), ParseError> {
        parse::<proto::Unload>(bytes)?;
        let Some(vp) = self.connection.info().map(|i| i.target_vp) else {
            return Ok(());
        };
        self.reset_channels(host);
        self.connection.disconnect();
        let mut m = proto::UnloadResponse::new_zeroed();
        m.header = proto::MessageHeader::new(proto::MessageType::UnloadResponse);
        post_to(host, vp, zerocopy::IntoBytes::as_bytes(&m));
        tracing::info!("VMBus unloaded");
        Ok(())
    }

    /// Puts every device back to "registered, not offered".
    fn reset_channels(&mut self, host: &mut dyn HostToGuest) {
        for d in 0..self.devices.len() {
            for c in 0..self.devices[d].channels.len() {
                self.close_channel(host, d, c);
            }
        }
        let mut freed = Vec::new();
        self.devices.retain_mut(|slot| {
            if slot.channels.first().is_some_and(|c| c.rescinded) {
                freed.extend(slot.channels.iter().map(|c| c.relid));
                return false;
            }
            freed.extend(slot.channels.iter().skip(1).map(|c| c.relid));
            slot.channels.truncate(1);
            match slot.channels.first_mut() {
                Some(primary) => {
                    *primary = Channel::new(primary.relid, 0);
                    true
                }
                None => false,
            }
        });
        for relid in freed {
            self.relids.release(relid);
        }
        self.gpadls.clear();
        self.offers_sent = false;
    }

    /// Withdraws a device (all its channels, sub-channels first) or one sub-channel. The guest
    /// answers with RELID_RELEASED; channels it never saw are dropped at once.
    pub fn rescind(
        &mut self,
        host: &mut dyn HostToGuest,
        target: ChannelTarget,
    ) -> Result<(), VmbusError> {
        let (d, c) = self.find_target(target)?;
        let indices: Vec<usize> = if c == 0 {
            (0..self.devices[d].channels.len()).rev().collect()
        } else {
            vec![c]
        };
        if self.devices[d].channels[c].rescinded {
            return Err(VmbusError::AlreadyRescinded);
        }
        let mut dropped = Vec::new();
        for c in indices {
            if self.devices[d].channels[c].rescinded {
                continue;
            }
            self.close_channel(host, d, c);
            let ch = &mut self.devices[d].channels[c];
            let relid = ch.relid;
            if ch.offered && self.connection.info().is_some() {
                ch.rescinded = true;
                tracing::info!(
                    device = self.devices[d].offer.name,
                    relid,
                    "rescinding channel"
                );
                let mut m = proto::RescindChannelOffer::new_zeroed();
                m.header = proto::MessageHeader::new(proto::MessageType::RescindChannelOffer);
                m.child_relid = relid;
                self.post(host, &m);
            } else {
                dropped.push(relid);
            }
        }
        for relid in dropped {
            self.forget_channel(relid);
        }
        Ok(())
    }

    /// Withdraws the sub-channels of device `d` after the guest closed its primary channel,
    /// as Hyper-V does: the guest closes them before the primary, and a driver that opens the
    /// device again (Linux's netvsc on an MTU or channel-count change) asks for new ones and
    /// waits for their offers.
    pub(super) fn rescind_subchannels(&mut self, host: &mut dyn HostToGuest, d: usize) {
        let subs: Vec<u32> = self.devices[d]
            .channels
            .iter()
            .filter(|c| c.subchannel_index != 0 && !c.rescinded)
            .map(|c| c.relid)
            .collect();
        for relid in subs {
            if let Err(e) = self.rescind(host, ChannelTarget::Relid(relid)) {
                tracing::debug!(relid, "sub-channel not rescinded: {e}");
            }
        }
    }

    pub(super) fn on_relid_released(&mut self, bytes: &[u8]) -> Result<(), ParseError> {
        let (m, _) = parse::<proto::RelidReleased>(bytes)?;
        let relid = m.child_relid;
        match self.find_relid(relid) {
            None => {
                if warn_allowed() {
                    tracing::warn!(relid, "RELID_RELEASED for an unknown relid");
                }
            }
            Some((d, c)) if self.devices[d].channels[c].rescinded => {
                tracing::info!(relid, "rescinded channel released by the guest");
                self.forget_channel(relid);
            }
            Some(_) => {
                // Linux releases live channels while its bus driver unloads; the host keeps
                // them for the next connection, but their GPADLs are gone.
                tracing::debug!(relid, "guest released a live channel");
                self.gpadls.remove_channel(relid);
            }
        }
        Ok(())
    }

    /// Drops a channel and its GPADLs and frees its relid; dropping a primary channel drops
    /// the device.
    fn forget_channel(&mut self, relid: u32) {
        let Some((d, c)) = self.find_relid(relid) else {
            return;
        };
        let channel = self.devices[d].channels.remove(c);
        debug_assert!(channel.open.is_none());
        self.gpadls.remove_channel(relid);
        self.relids.release(relid);
        if c == 0 {
            let slot = self.devices.remove(d);
            tracing::info!(device = slot.offer.name, "device removed");
            for ch in slot.channels {
                self.gpadls.remove_channel(ch.relid);
                self.relids.release(ch.relid);
            }
        }
    }

    /// Offers up to `n` more sub-channels of the device whose primary channel is `primary`,
    /// as a device does when the guest asks for them through the device protocol. Returns
    /// how many were offered.
    pub fn offer_subchannels(
        &mut self,
        host: &mut dyn HostToGuest,
        primary: ChannelTarget,
        n: u16,
    ) -> Result<u16, VmbusError> {
        let (d, c) = self.find_target(primary)?;
        if c != 0 {
            return Err(VmbusError::NotPrimary(self.devices[d].channels[c].relid));
        }
        self.offer_subchannels_of(host, d, n)
    }

    pub(super) fn offer_subchannels_of(
        &mut self,
        host: &mut dyn HostToGuest,
        d: usize,
        n: u16,
    ) -> Result<u16, VmbusError> {
        let primary = &self.devices[d].channels[0];
        if !self.offers_sent || !primary.offered || primary.rescinded {
            return Err(VmbusError::NotConnected);
        }
        let max = self.devices[d].offer.max_subchannels;
        let mut offered = 0;
        for index in 1..=max {
            if offered == n {
                break;
            }
            if self.devices[d]
                .channels
                .iter()
                .any(|c| c.subchannel_index == index)
            {
                continue;
            }
            let relid = self.relids.allocate().ok_or(VmbusError::OutOfRelids)?;
            let mut ch = Channel::new(relid, index);
            ch.offered = true;
            self.devices[d].channels.push(ch);
            let msg = offer_message(&self.devices[d].offer, relid, index);
            self.post(host, &msg);
            offered += 1;
        }
        if offered == 0 && n > 0 {
            return Err(VmbusError::NoMoreSubchannels);
        }
        tracing::info!(
            device = self.devices[d].offer.name,
            offered,
            "sub-channels offered"
        );
        Ok(offered)
    }
}
