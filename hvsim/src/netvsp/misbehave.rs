// SPDX-License-Identifier: GPL-2.0
//! The NIC's bad packets for the `misbehave` command (see `crate::misbehave`). Each goes with
//! a real packet, which is still sent, so a guest that drops the bad one loses at most what
//! the bad one claimed to carry:
//! - `bad-range`: a transfer-page packet of received frames names one more range, outside
//!   the receive buffer;
//! - `bad-rndis`: a transfer-page packet carries one more message, whose RNDIS header claims
//!   more bytes than its range holds;
//! - `overlap-ranges`: a transfer-page packet names its first range [`OVERLAP_REPEATS`] more
//!   times, overlapping itself (a guest that takes them all receives that frame again and
//!   again; one that refuses the packet loses its frames, which TCP sends again);
//! - `bad-csum`: a frame whose TCP or UDP checksum the host says it verified goes with its
//!   last byte changed, its checksum now wrong (a guest that believes the host only when
//!   receive checksum offload is on drops it with offload off, and TCP sends it again);
//! - `stop-reading`: with a transfer-page packet, the host stops reading the guest → host
//!   rings for [`STOP_READING`]; while the kind is armed and during the pause it sends each
//!   frame in a packet of its own, so that the guest's receive completions, one per packet,
//!   fill its ring (it must hold them back, not wait, and send them all once the host reads
//!   again);
//! - `unknown-completion`: before the completion of a guest's data send, a completion with an
//!   id the guest never used;
//! - `duplicate-completion`: the completion of a guest's data send, twice (by the time the
//!   copy arrives its id may name another send).

use std::time::{Duration, Instant};

use rhv_proto::rndis;

use super::channel::Outgoing;
use super::rx::RangeDefect;
use super::Netvsp;
use crate::misbehave::Kind;

/// A kind of bad packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BadPacket {
    BadRange,
    BadRndis,
    OverlapRanges,
    BadCsum,
    StopReading,
    UnknownCompletion,
    DuplicateCompletion,
}

impl Kind for BadPacket {
    const ALL: &'static [Self] = &[
        BadPacket::BadRange,
        BadPacket::BadRndis,
        BadPacket::OverlapRanges,
        BadPacket::BadCsum,
        BadPacket::StopReading,
        BadPacket::UnknownCompletion,
        BadPacket::DuplicateCompletion,
    ];
    fn name(self) -> &'static str {
        match self {
            BadPacket::BadRange => "bad-range",
            BadPacket::BadRndis => "bad-rndis",
            BadPacket::OverlapRanges => "overlap-ranges",
            BadPacket::BadCsum => "bad-csum",
            BadPacket::StopReading => "stop-reading",
            BadPacket::UnknownCompletion => "unknown-completion",
            BadPacket::DuplicateCompletion => "duplicate-completion",
        }
    }
}

impl BadPacket {
    /// Whether it goes with a transfer-page packet (else with a send completion).
    pub(super) fn with_receive(self) -> bool {
        matches!(
            self,
            BadPacket::BadRange
                | BadPacket::BadRndis
                | BadPacket::OverlapRanges
                | BadPacket::BadCsum
                | BadPacket::StopReading
        )
    }

    /// What it does to the ranges of the transfer-page packet it goes with.
    pub(super) fn range_defect(bad: Option<Self>) -> RangeDefect {
        match bad {
            Some(BadPacket::BadRange) => RangeDefect::OutsideBuffer,
            Some(BadPacket::OverlapRanges) => RangeDefect::Overlapping,
            _ => RangeDefect::None,
        }
    }
}

/// How many more times `overlap-ranges` names a packet's first range.
pub(super) const OVERLAP_REPEATS: usize = 32;

/// How long `stop-reading` leaves the guest → host rings unread.
pub(super) const STOP_READING: Duration = Duration::from_secs(8);

impl Netvsp {
    /// Whether the guest → host rings are left unread now (`stop-reading`).
    pub(super) fn reading_stopped(&self) -> bool {
        self.reading_stopped_until
            .is_some_and(|until| Instant::now() < until)
    }
}

/// The transaction ids `unknown-completion` uses: far above what a guest numbers its sends.
const UNKNOWN_ID_BASE: u64 = 0x7bad_0000_0000_0000;
/// What `bad-rndis` claims a 44-byte message holds.
const BAD_RNDIS_LEN: u32 = 0x1000_0000;

/// The message `bad-rndis` adds: an RNDIS data message header claiming [`BAD_RNDIS_LEN`]
/// bytes, then zeros up to the fixed part of a data message.
pub(super) const BAD_RNDIS_MESSAGE: [u8; 44] = {
    let mut m = [0u8; 44];
    let kind = (rndis::MessageType::Packet as u32).to_le_bytes();
    let len = BAD_RNDIS_LEN.to_le_bytes();
    let mut i = 0;
    while i < 4 {
        m[i] = kind[i];
        m[4 + i] = len[i];
        i += 1;
    }
    m
};

impl Netvsp {
    /// Queues the completion `payload` of the guest's data send `trans_id` on channel
    /// `index`, with a bad packet when one is due.
    pub(super) fn complete_data_send(&mut self, index: u16, trans_id: u64, payload: &[u8]) {
        let bad = self.misbehaviour.due_if(|k| !k.with_receive());
        let Some(q) = self.queues.get_mut(&index) else {
            return;
        };
        let completion = |trans_id| Outgoing::Completion {
            trans_id,
            payload: payload.to_vec(),
        };
        match bad {
            Some(BadPacket::UnknownCompletion) => {
                q.nvsp
                    .push_back(completion(UNKNOWN_ID_BASE | (trans_id & 0xffff_ffff)));
            }
            Some(BadPacket::DuplicateCompletion) => q.nvsp.push_back(completion(trans_id)),
            _ => {}
        }
        q.nvsp.push_back(completion(trans_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bad_rndis_message_claims_more_than_it_has() {
        let m = BAD_RNDIS_MESSAGE;
        assert!(rndis::Message::split(&m).is_err());
        assert_eq!(u32::from_le_bytes([m[4], m[5], m[6], m[7]]), BAD_RNDIS_LEN);
    }
}
