// SPDX-License-Identifier: GPL-2.0
//! A hostile host for robustness tests (`hvsim run --hostile MODE[,MODE...]`): the server
//! deliberately sends what a correct host never would, to check that the guest survives, logs
//! the problem and carries on with the rest. Modes:
//!
//! - `bad-offer`: before the real offers, three broken OFFERCHANNEL messages: relid 0 (the
//!   reserved message relid), a relid beyond the 2048 event flags, and one cut short.
//! - `ring-index`: when the guest opens the first channel (the first integration component),
//!   the host puts an out-of-range write index into the host → guest ring, an unaligned read
//!   index into the guest → host ring, and signals the guest. The host stops servicing that
//!   channel; the others stay healthy.
//! - `bad-answer`: before each answer the guest waits for, one that must not be taken for
//!   it: a VERSION_RESPONSE cut short to its header, an OPENCHANNEL_RESULT for the right
//!   channel but another open id, and a GPADL_CREATED for the right GPADL but another
//!   channel; both with a failure status, so a guest that takes them fails the request.
//! - `rescind-teardown`: the first GPADL_TEARDOWN of a channel the guest closed is answered
//!   with the channel's rescind instead of GPADL_TORNDOWN, and the host keeps the GPADL (and
//!   could still use its pages): the guest must not free them.

use rhv_proto::vmbus::{self as proto, HV_PAGE_SIZE, MAX_CHANNEL_RELIDS};
use zerocopy::{FromZeros, IntoBytes};

use super::device::signal_guest;
use super::offers::offer_message;
use super::ring::HostRingError;
use super::{post_to, VmbusServer};
use crate::hv::HostToGuest;

/// One way of misbehaving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostileMode {
    /// Malformed offers.
    BadOffer,
    /// Out-of-range ring indices on the first opened channel.
    RingIndex,
    /// Malformed or misaddressed answers before the real ones.
    BadAnswer,
    /// A rescind instead of the first GPADL_TORNDOWN.
    RescindTeardown,
}

impl std::str::FromStr for HostileMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bad-offer" => Ok(HostileMode::BadOffer),
            "ring-index" => Ok(HostileMode::RingIndex),
            "bad-answer" => Ok(HostileMode::BadAnswer),
            "rescind-teardown" => Ok(HostileMode::RescindTeardown),
            other => Err(format!(
                "unknown hostile mode {other:?} (known: bad-offer, ring-index, bad-answer, \
                 rescind-teardown)"
            )),
        }
    }
}

/// Which hostile modes are on, and what has been done already.
#[derive(Debug, Default)]
pub(crate) struct Hostile {
    modes: Vec<HostileMode>,
    rings_corrupted: bool,
    teardown_rescinded: bool,
    /// Bad answers sent (`bad-answer`).
    pub(super) bad_answers: u64,
}

impl Hostile {
    fn on(&self, mode: HostileMode) -> bool {
        self.modes.contains(&mode)
    }
}

impl VmbusServer {
    /// Turns hostile modes on.
    pub fn set_hostile(&mut self, modes: &[HostileMode]) {
        tracing::warn!(?modes, "hostile host: sending malformed data on purpose");
        self.hostile.modes = modes.to_vec();
    }

    /// `bad-offer`: called before the real offers go out.
    pub(super) fn hostile_offers(&mut self, host: &mut dyn HostToGuest) {
        if !self.hostile.on(HostileMode::BadOffer) {
            return;
        }
        let Some(info) = self.connection.info() else {
            return;
        };
        let vp = info.target_vp;
        let Some(slot) = self.devices.first() else {
            return;
        };
        let zero = offer_message(&slot.offer, 0, 0);
        let beyond = offer_message(&slot.offer, MAX_CHANNEL_RELIDS + 5, 0);
        let whole = offer_message(&slot.offer, MAX_CHANNEL_RELIDS - 1, 0);
        let short = &whole.as_bytes()[..100];
        for bytes in [zero.as_bytes(), beyond.as_bytes(), short] {
            post_to(host, vp, bytes);
        }
        tracing::warn!("hostile: sent 3 malformed offers (relid 0, relid 2053, 100 bytes)");
    }

    /// `bad-answer`: called before the VERSION_RESPONSE to the guest's contact goes out.
    pub(super) fn hostile_before_version_response(&mut self, host: &mut dyn HostToGuest, vp: u32) {
        if !self.hostile.on(HostileMode::BadAnswer) {
            return;
        }
        let header = proto::MessageHeader::new(proto::MessageType::VersionResponse);
        post_to(host, vp, header.as_bytes());
        self.hostile.bad_answers += 1;
        tracing::warn!("hostile: a VERSION_RESPONSE cut short to its header");
    }

    /// `bad-answer`: called before the OPENCHANNEL_RESULT of (`relid`, `openid`) goes out.
    pub(super) fn hostile_before_open_result(
        &mut self,
        host: &mut dyn HostToGuest,
        relid: u32,
        openid: u32,
    ) {
        if !self.hostile.on(HostileMode::BadAnswer) {
            return;
        }
        let mut r = proto::OpenResult::new_zeroed();
        r.header = proto::MessageHeader::new(proto::MessageType::OpenChannelResult);
        r.child_relid = relid;
        r.openid = openid.wrapping_add(0x1000);
        r.status = proto::STATUS_UNSUCCESSFUL;
        self.post(host, &r);
        self.hostile.bad_answers += 1;
        tracing::warn!(relid, "hostile: an OPENCHANNEL_RESULT with another open id");
    }

    /// `bad-answer`: called before the GPADL_CREATED of (`relid`, `gpadl`) goes out.
    pub(super) fn hostile_before_gpadl_created(
        &mut self,
        host: &mut dyn HostToGuest,
        relid: u32,
        gpadl: u32,
    ) {
        if !self.hostile.on(HostileMode::BadAnswer) {
            return;
        }
        let mut r = proto::GpadlCreated::new_zeroed();
        r.header = proto::MessageHeader::new(proto::MessageType::GpadlCreated);
        r.child_relid = relid.wrapping_add(0x100);
        r.gpadl = gpadl;
        r.creation_status = proto::STATUS_UNSUCCESSFUL;
        self.post(host, &r);
        self.hostile.bad_answers += 1;
        tracing::warn!(relid, gpadl, "hostile: a GPADL_CREATED for another channel");
    }

    /// `rescind-teardown`: called for a GPADL_TEARDOWN of GPADL `gpadl` (not in use by an open
    /// channel) of channel `relid`; whether it was answered by a rescind (the GPADL stays).
    pub(super) fn hostile_teardown(
        &mut self,
        host: &mut dyn HostToGuest,
        relid: u32,
        gpadl: u32,
    ) -> bool {
        if !self.hostile.on(HostileMode::RescindTeardown) || self.hostile.teardown_rescinded {
            return false;
        }
        if self.gpadls.get(gpadl).is_none() {
            return false;
        }
        if let Err(e) = self.rescind(host, super::ChannelTarget::Relid(relid)) {
            tracing::warn!(
                relid,
                "hostile: cannot rescind instead of GPADL_TORNDOWN: {e}"
            );
            return false;
        }
        self.hostile.teardown_rescinded = true;
        tracing::warn!(
            relid,
            gpadl,
            "hostile: GPADL_TEARDOWN answered with a rescind; the GPADL is kept"
        );
        true
    }

    /// `ring-index`: called when channel (`d`, `c`) has just been opened.
    pub(super) fn hostile_after_open(&mut self, host: &mut dyn HostToGuest, d: usize, c: usize) {
        if !self.hostile.on(HostileMode::RingIndex) || self.hostile.rings_corrupted {
            return;
        }
        let slot = &mut self.devices[d];
        let ch = &mut slot.channels[c];
        let Some(open) = ch.open.as_mut() else {
            return;
        };
        let Some(pfns) = self.gpadls.get(open.gpadl).and_then(|g| g.whole_pages()) else {
            return;
        };
        // Guest → host control page first, then its data pages, then host → guest.
        let to_host_control = pfns[0] * HV_PAGE_SIZE;
        let data_pages = u64::from(open.incoming.data_size()) / HV_PAGE_SIZE;
        let Some(&to_guest_pfn) = pfns.get(1 + data_pages as usize) else {
            return;
        };
        let to_guest_control = to_guest_pfn * HV_PAGE_SIZE;
        let bad_write = open.outgoing.data_size() + 8;
        let mem = host.memory();
        // write_index at offset 0, read_index at offset 4 of a control page.
        let wrote = mem
            .write_u32(to_guest_control, bad_write)
            .and_then(|()| mem.write_u32(to_host_control + 4, 12));
        if let Err(e) = wrote {
            tracing::warn!("hostile: cannot corrupt the rings: {e}");
            return;
        }
        open.failed = Some(HostRingError::TooFewPages(0));
        self.hostile.rings_corrupted = true;
        tracing::warn!(
            device = slot.offer.name,
            relid = ch.relid,
            bad_write,
            "hostile: host → guest write_index out of range, guest → host read_index unaligned"
        );
        signal_guest(host, &slot.offer.name, ch.target_vp, ch.relid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!("bad-offer".parse(), Ok(HostileMode::BadOffer));
        assert_eq!("ring-index".parse(), Ok(HostileMode::RingIndex));
        assert_eq!("bad-answer".parse(), Ok(HostileMode::BadAnswer));
        assert_eq!("rescind-teardown".parse(), Ok(HostileMode::RescindTeardown));
        assert!("everything".parse::<HostileMode>().is_err());
    }
}
