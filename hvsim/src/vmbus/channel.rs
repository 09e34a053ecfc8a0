// SPDX-License-Identifier: GPL-2.0
//! Channels and the guest messages that act on one: GPADL_HEADER / GPADL_BODY /
//! GPADL_TEARDOWN, OPENCHANNEL, CLOSECHANNEL and MODIFYCHANNEL.
//!
//! Opening checks everything the guest names before the device hears of it: the relid, the
//! ring GPADL (complete, created for this channel, whole pages, not used by another channel),
//! the split point between the two rings, and the initial ring indices. Any failure is
//! answered with OPENCHANNEL_RESULT carrying a failure status, as Linux's `__vmbus_open()`
//! expects. An open of a rescinded channel is ignored, as Hyper-V does: the guest's rescind
//! handling wakes the opener.

use rhv_proto::vmbus::{self as proto, parse, ParseError};
use zerocopy::FromZeros;

use super::device::{ChannelHandle, OpenRequest};
use super::gpadl::GpadlProgress;
use super::ring::{HostRingError, IncomingRing, OutgoingRing, RingPages};
use super::{warn_allowed, VmbusServer};
use crate::hv::HostToGuest;
use crate::memory::GuestMemory;

/// Where a channel is in its life, for the control interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelState {
    /// Registered; the guest has not asked for offers yet.
    NotOffered,
    /// Offered and never opened.
    Offered,
    /// Open.
    Opened,
    /// Open, but its ring buffer turned out corrupt: the host no longer services it.
    Failed,
    /// Opened before and closed by the guest.
    Closed,
    /// Rescinded; the guest has not released the relid yet.
    Rescinded,
}

/// The rings of an open channel.
#[derive(Debug)]
pub(crate) struct OpenChannelState {
    /// The ring buffer GPADL.
    pub gpadl: u32,
    /// Guest → host ring.
    pub incoming: IncomingRing,
    /// Host → guest ring.
    pub outgoing: OutgoingRing,
    /// Set when a ring turned out corrupt.
    pub failed: Option<HostRingError>,
    /// Traffic since the open.
    pub counters: ChannelCounters,
}

/// Traffic of an open channel, for the control interface: what each side cost the other
/// (every guest signal is a hypercall, every host signal may be an interrupt).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChannelCounters {
    /// HvSignalEvent hypercalls of the guest naming this channel.
    pub signals_from_guest: u64,
    /// Packets read from the guest → host ring.
    pub packets_from_guest: u64,
    /// Event-flag signals the host sent the guest for this channel.
    pub signals_to_guest: u64,
    /// Packets written into the host → guest ring.
    pub packets_to_guest: u64,
}

/// One channel of a device.
#[derive(Debug)]
pub(crate) struct Channel {
    pub relid: u32,
    pub subchannel_index: u16,
    pub offered: bool,
    pub rescinded: bool,
    pub closed_once: bool,
    pub target_vp: u32,
    pub open: Option<OpenChannelState>,
}

impl Channel {
    pub fn new(relid: u32, subchannel_index: u16) -> Self {
        Self {
            relid,
            subchannel_index,
            offered: false,
            rescinded: false,
            closed_once: false,
            target_vp: 0,
            open: None,
        }
    }

    pub fn state(&self) -> ChannelState {
        match (&self.open, self.rescinded) {
            (_, true) => ChannelState::Rescinded,
            (Some(o), _) if o.failed.is_some() => ChannelState::Failed,
            (Some(_), _) => ChannelState::Opened,
            (None, _) if !self.offered => ChannelState::NotOffered,
            (None, _) if self.closed_once => ChannelState::Closed,
            (None, _) => ChannelState::Offered,
        }
    }
}

/// Splits a ring GPADL's pages at `downstream` and attaches to both rings.
fn attach_rings(
    pfns: &[u64],
    downstream: u32,
    mem: &dyn GuestMemory,
) -> Result<(IncomingRing, OutgoingRing), String> {
    let split = downstream as usize;
    if split < 2 || split + 2 > pfns.len() {
        return Err(format!(
            "ring split at page {split} of {} leaves a ring without data pages",
            pfns.len()
        ));
    }
    let incoming = RingPages::new(&pfns[..split]).map_err(|e| e.to_string())?;
    let outgoing = RingPages::new(&pfns[split..]).map_err(|e| e.to_string())?;
    let incoming = IncomingRing::new(incoming, mem).map_err(|e| format!("guest→host ring: {e}"))?;
    let outgoing = OutgoingRing::new(outgoing, mem).map_err(|e| format!("host→guest ring: {e}"))?;
    Ok((incoming, outgoing))
}

fn open_result(relid: u32, openid: u32, status: u32) -> proto::OpenResult {
    let mut r = proto::OpenResult::new_zeroed();
    r.header = proto::MessageHeader::new(proto::MessageType::OpenChannelResult);
    r.child_relid = relid;
    r.openid = openid;
    r.status = status;
    r
}

fn gpadl_created(relid: u32, gpadl: u32, status: u32) -> proto::GpadlCreated {
    let mut r = proto::GpadlCreated::new_zeroed();
    r.header = proto::MessageHeader::new(proto::MessageType::GpadlCreated);
    r.child_relid = relid;
    r.gpadl = gpadl;
    r.creation_status = status;
    r
}

pub(crate) fn gpadl_torndown(gpadl: u32) -> proto::GpadlTorndown {
    let mut r = proto::GpadlTorndown::new_zeroed();
    r.header = proto::MessageHeader::new(proto::MessageType::GpadlTorndown);
    r.gpadl = gpadl;
    r
}

impl VmbusServer {
    pub(super) fn on_open_channel(
        &mut self,
        host: &mut dyn HostToGuest,
        bytes: &[u8],
    ) -> Result<(), ParseError> {
        let (m, _) = parse::<proto::OpenChannel>(bytes)?;
        let (relid, openid) = (m.child_relid, m.openid);
        let refuse = |server: &Self, host: &mut dyn HostToGuest, why: &str| {
            if warn_allowed() {
                tracing::warn!(relid, "OPENCHANNEL refused: {why}");
            }
            server.post(
                host,
                &open_result(relid, openid, proto::STATUS_UNSUCCESSFUL),
            );
        };
        let Some((d, c)) = self.find_relid(relid) else {
            refuse(self, host, "unknown relid");
            return Ok(());
        };
        let ch = &self.devices[d].channels[c];
        if ch.rescinded {
            tracing::debug!(relid, "OPENCHANNEL for a rescinded channel ignored");
            return Ok(());
        }
        if !ch.offered {
            refuse(self, host, "channel not offered");
            return Ok(());
        }
        if ch.open.is_some() {
            refuse(self, host, "channel already open");
            return Ok(());
        }
        let gpadl_id = m.ringbuffer_gpadlhandle;
        let in_use = self
            .devices
            .iter()
            .flat_map(|s| &s.channels)
            .any(|c| c.open.as_ref().is_some_and(|o| o.gpadl == gpadl_id));
        let pfns = match self.gpadls.get(gpadl_id) {
            _ if in_use => Err("ring GPADL already used by another channel".to_owned()),
            None => Err(format!("ring GPADL {gpadl_id:#x} does not exist")),
            Some(g) if g.relid != relid => Err(format!("ring GPADL belongs to relid {}", g.relid)),
            Some(g) => g
                .whole_pages()
                .ok_or_else(|| "ring GPADL is not whole pages".to_owned()),
        };
        let rings =
            pfns.and_then(|p| attach_rings(p, m.downstream_ringbuffer_pageoffset, host.memory()));
        let (incoming, outgoing) = match rings {
            Ok(r) => r,
            Err(why) => {
                refuse(self, host, &why);
                return Ok(());
            }
        };
        let subchannel_index = self.devices[d].channels[c].subchannel_index;
        let request = OpenRequest {
            relid,
            subchannel_index,
            target_vp: m.target_vp,
            user_data: m.userdata,
            incoming_ring_size: incoming.data_size(),
            outgoing_ring_size: outgoing.data_size(),
        };
        if let Err(e) = self.devices[d].device.on_open(&request) {
            refuse(self, host, &e.to_string());
            return Ok(());
        }
        let slot = &mut self.devices[d];
        let ch = &mut slot.channels[c];
        ch.target_vp = m.target_vp;
        ch.open = Some(OpenChannelState {
            gpadl: gpadl_id,
            incoming,
            outgoing,
            failed: None,
            counters: ChannelCounters::default(),
        });
        tracing::info!(
            device = slot.offer.name,
            relid,
            subchannel_index,
            target_vp = ch.target_vp,
            "channel opened"
        );
        self.hostile_before_open_result(host, relid, openid);
        self.post(host, &open_result(relid, openid, proto::STATUS_SUCCESS));

        let mut requests = Vec::new();
        let slot = &mut self.devices[d];
        let ch = &mut slot.channels[c];
        if let Some(open) = ch.open.as_mut() {
            let mut handle = ChannelHandle {
                name: &slot.offer.name,
                relid,
                subchannel_index,
                target_vp: ch.target_vp,
                open,
                host: &mut *host,
                requests: &mut requests,
                gpadls: &self.gpadls,
            };
            slot.device.on_opened(&mut handle);
        }
        self.run_requests(host, d, requests);
        self.hostile_after_open(host, d, c);
        Ok(())
    }

    pub(super) fn on_close_channel(
        &mut self,
        host: &mut dyn HostToGuest,
        bytes: &[u8],
    ) -> Result<(), ParseError> {
        let (m, _) = parse::<proto::CloseChannel>(bytes)?;
        let relid = m.child_relid;
        let Some((d, c)) = self.find_relid(relid) else {
            if warn_allowed() {
                tracing::warn!(relid, "CLOSECHANNEL for an unknown relid");
            }
            return Ok(());
        };
        if self.devices[d].channels[c].open.is_none() {
            if self.devices[d].channels[c].rescinded {
                tracing::debug!(relid, "CLOSECHANNEL of a rescinded channel");
            } else if warn_allowed() {
                tracing::warn!(relid, "CLOSECHANNEL for a channel that is not open");
            }
            return Ok(());
        }
        self.close_channel(host, d, c);
        if c == 0 {
            self.rescind_subchannels(host, d);
        }
        Ok(())
    }

    /// Closes an open channel on the host side: tells the device, drops the rings, and answers
    /// a GPADL teardown that waited for the close.
    pub(super) fn close_channel(&mut self, host: &mut dyn HostToGuest, d: usize, c: usize) {
        let slot = &mut self.devices[d];
        let ch = &mut slot.channels[c];
        let Some(open) = ch.open.take() else {
            return;
        };
        ch.closed_once = true;
        tracing::info!(device = slot.offer.name, relid = ch.relid, "channel closed");
        // A failed channel already told its device.
        if open.failed.is_none() {
            slot.device.on_close(ch.subchannel_index);
        }
        if self.gpadls.teardown_deferred(open.gpadl) {
            self.gpadls.remove(open.gpadl);
            self.post(host, &gpadl_torndown(open.gpadl));
        }
    }

    pub(super) fn on_modify_channel(
        &mut self,
        host: &mut dyn HostToGuest,
        bytes: &[u8],
    ) -> Result<(), ParseError> {
        let (m, _) = parse::<proto::ModifyChannel>(bytes)?;
        let relid = m.child_relid;
        let status = match self.find_relid(relid) {
            Some(_) if !host.has_vp(m.target_vp) => {
                if warn_allowed() {
                    tracing::warn!(
                        relid,
                        target_vp = { m.target_vp },
                        "MODIFYCHANNEL to a VP the partition does not have"
                    );
                }
                proto::STATUS_UNSUCCESSFUL
            }
            Some((d, c)) if !self.devices[d].channels[c].rescinded => {
                self.devices[d].channels[c].target_vp = m.target_vp;
                tracing::debug!(
                    relid,
                    target_vp = { m.target_vp },
                    "channel moved to another VP"
                );
                proto::STATUS_SUCCESS
            }
            _ => {
                if warn_allowed() {
                    tracing::warn!(relid, "MODIFYCHANNEL for an unknown or rescinded relid");
                }
                proto::STATUS_UNSUCCESSFUL
            }
        };
        // Only 5.3+ guests wait for an answer; older ones would take it for garbage.
        if self.connection.info().is_some_and(|i| {
            rhv_proto::negotiate::channel_moves(i.version)
                == rhv_proto::negotiate::ChannelMoves::Confirmed
        }) {
            let mut r = proto::ModifyChannelResponse::new_zeroed();
            r.header = proto::MessageHeader::new(proto::MessageType::ModifyChannelResponse);
            r.child_relid = relid;
            r.status = status;
            self.post(host, &r);
        }
        Ok(())
    }

    pub(super) fn on_gpadl_header(
        &mut self,
        host: &mut dyn HostToGuest,
        bytes: &[u8],
    ) -> Result<(), ParseError> {
        let (h, rest) = parse::<proto::GpadlHeader>(bytes)?;
        let relid = h.child_relid;
        let usable = self.find_relid(relid).is_some_and(|(d, c)| {
            self.devices[d].channels[c].offered && !self.devices[d].channels[c].rescinded
        });
        if !usable {
            if warn_allowed() {
                tracing::warn!(
                    relid,
                    gpadl = { h.gpadl },
                    "GPADL for an unknown, unoffered or rescinded channel"
                );
            }
            self.post(
                host,
                &gpadl_created(relid, h.gpadl, proto::STATUS_UNSUCCESSFUL),
            );
            return Ok(());
        }
        let progress = self.gpadls.on_header(&h, rest, host.memory().size());
        self.answer_gpadl(host, progress);
        Ok(())
    }

    pub(super) fn on_gpadl_body(
        &mut self,
        host: &mut dyn HostToGuest,
        bytes: &[u8],
    ) -> Result<(), ParseError> {
        let (b, rest) = parse::<proto::GpadlBody>(bytes)?;
        match self.gpadls.on_body(&b, rest, host.memory().size()) {
            Ok(progress) => self.answer_gpadl(host, progress),
            Err(e) => {
                if warn_allowed() {
                    tracing::warn!("GPADL_BODY ignored: {e}");
                }
            }
        }
        Ok(())
    }

    fn answer_gpadl(&mut self, host: &mut dyn HostToGuest, progress: GpadlProgress) {
        match progress {
            GpadlProgress::Incomplete => {}
            GpadlProgress::Created { relid, gpadl } => {
                tracing::debug!(relid, gpadl, "GPADL created");
                self.hostile_before_gpadl_created(host, relid, gpadl);
                self.post(host, &gpadl_created(relid, gpadl, proto::STATUS_SUCCESS));
            }
            GpadlProgress::Failed {
                relid,
                gpadl,
                error,
            } => {
                if warn_allowed() {
                    tracing::warn!(relid, gpadl, "GPADL refused: {error}");
                }
                self.post(
                    host,
                    &gpadl_created(relid, gpadl, proto::STATUS_UNSUCCESSFUL),
                );
            }
        }
    }

    pub(super) fn on_gpadl_teardown(
        &mut self,
        host: &mut dyn HostToGuest,
        bytes: &[u8],
    ) -> Result<(), ParseError> {
        let (m, _) = parse::<proto::GpadlTeardown>(bytes)?;
        let id = m.gpadl;
        let in_use = self
            .devices
            .iter()
            .flat_map(|s| &s.channels)
            .any(|c| c.open.as_ref().is_some_and(|o| o.gpadl == id));
        if in_use {
            tracing::debug!(
                gpadl = id,
                "GPADL teardown deferred until its channel closes"
            );
            self.gpadls.defer_teardown(id);
            return Ok(());
        }
        if self.hostile_teardown(host, m.child_relid, id) {
            return Ok(());
        }
        match self.gpadls.remove(id) {
            Some(owner) => {
                if owner != m.child_relid && warn_allowed() {
                    tracing::warn!(
                        gpadl = id,
                        owner,
                        relid = { m.child_relid },
                        "GPADL torn down via another relid"
                    );
                }
                self.post(host, &gpadl_torndown(id));
            }
            None => {
                if warn_allowed() {
                    tracing::warn!(gpadl = id, "GPADL_TEARDOWN for an unknown GPADL");
                }
            }
        }
        Ok(())
    }

    /// Fails an open channel whose ring turned out corrupt: the host stops servicing it and
    /// tells the device; the guest can still close it.
    pub(super) fn fail_channel(&mut self, d: usize, c: usize, error: HostRingError) {
        let slot = &mut self.devices[d];
        let ch = &mut slot.channels[c];
        let Some(open) = ch.open.as_mut() else {
            return;
        };
        if open.failed.is_none() {
            if warn_allowed() {
                tracing::warn!(
                    device = slot.offer.name,
                    relid = ch.relid,
                    "failing the channel: {error}"
                );
            }
            open.failed = Some(error);
            slot.device.on_close(ch.subchannel_index);
        }
    }
}
