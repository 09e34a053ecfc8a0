// SPDX-License-Identifier: GPL-2.0
//! Requests the controller holds back before serving them, and the completions it remembers
//! to send again late. Both model a host whose answers are not immediate:
//! - the `stale` misbehaviour (see `misbehave`): when the guest sends an SRB whose
//!   transaction id names the same slot as one the host completed at least
//!   [`STALE_MIN_AGE`] SRBs earlier on that channel, the host first sends that old
//!   completion again, then holds the new request for [`STALE_HOLD`] before doing its I/O.
//!   A guest that takes the old completion for the new command finishes it before its data
//!   moved: a READ returns whatever its buffer held, and the host later writes into pages
//!   the guest may have reused.
//! - `{"op":"delay","ms":N}`: every SRB is held N ms before it is served (a slow host; the
//!   guest's SCSI timeout can pass while it waits).
//!
//! The slot of a transaction id is its low 32 bits: both Linux drivers put the block-layer
//! tag there (`hv_storvsc`: the unique tag + 1; `rhv_storvsc`: a generation above the tag),
//! so the slot comes back when the guest reuses a tag. A hostile host may know that much.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::vmbus::IncomingPacket;

/// SRBs a channel must have completed since a completion before it is sent again.
pub(super) const STALE_MIN_AGE: u64 = 4;
/// How long a request whose slot got a stale completion waits before it is served: long
/// enough for the guest to handle the stale completion first.
pub(super) const STALE_HOLD: Duration = Duration::from_millis(20);
/// The longest `delay` the control command accepts.
pub(super) const MAX_DELAY: Duration = Duration::from_secs(600);

/// A request that arrived and is served later.
#[derive(Debug)]
pub(super) struct HeldRequest {
    pub subchannel: u16,
    pub due: Instant,
    pub packet_type: u16,
    pub flags: u16,
    pub trans_id: u64,
    pub extra: Vec<u8>,
    pub payload: Vec<u8>,
}

impl HeldRequest {
    /// The request as the packet it arrived in.
    pub fn packet(&self) -> IncomingPacket<'_> {
        IncomingPacket {
            packet_type: self.packet_type,
            flags: self.flags,
            trans_id: self.trans_id,
            extra: &self.extra,
            payload: &self.payload,
        }
    }
}

/// The last completion sent for one slot of one channel.
#[derive(Debug)]
struct SentCompletion {
    trans_id: u64,
    bytes: Vec<u8>,
    /// The channel's SRB count when it was sent.
    seq: u64,
}

/// Held requests and remembered completions of one controller.
#[derive(Debug, Default)]
pub(super) struct HeldWork {
    /// In arrival order.
    requests: Vec<HeldRequest>,
    /// Per sub-channel: the SRBs completed so far and the last completion of each slot.
    sent: BTreeMap<u16, (u64, BTreeMap<u32, SentCompletion>)>,
    /// Every SRB is held this long (`delay`); zero serves at once.
    pub delay: Duration,
}

/// The slot a transaction id names.
fn slot(trans_id: u64) -> u32 {
    // CAST: the low 32 bits are the slot, by definition.
    trans_id as u32
}

impl HeldWork {
    /// Remembers the completion of SRB `trans_id` on `subchannel`, to be sent again later.
    pub fn remember(&mut self, subchannel: u16, trans_id: u64, bytes: &[u8]) {
        let (count, slots) = self.sent.entry(subchannel).or_default();
        *count += 1;
        slots.insert(
            slot(trans_id),
            SentCompletion {
                trans_id,
                bytes: bytes.to_vec(),
                seq: *count,
            },
        );
    }

    /// Whether an old enough completion of the slot of `trans_id` is remembered.
    pub fn has_stale(&self, subchannel: u16, trans_id: u64) -> bool {
        self.sent.get(&subchannel).is_some_and(|(count, slots)| {
            slots
                .get(&slot(trans_id))
                .is_some_and(|old| count - old.seq >= STALE_MIN_AGE)
        })
    }

    /// Takes the remembered completion of the slot of `trans_id`: its id and bytes.
    pub fn take_stale(&mut self, subchannel: u16, trans_id: u64) -> Option<(u64, Vec<u8>)> {
        let (_, slots) = self.sent.get_mut(&subchannel)?;
        let old = slots.remove(&slot(trans_id))?;
        Some((old.trans_id, old.bytes))
    }

    /// Holds a request until `due`.
    pub fn hold(&mut self, request: HeldRequest) {
        self.requests.push(request);
    }

    /// Requests held, for statistics.
    pub fn held(&self) -> usize {
        self.requests.len()
    }

    /// Takes the requests due by `now`, in arrival order.
    pub fn take_due(&mut self, now: Instant) -> Vec<HeldRequest> {
        if !self.requests.iter().any(|r| r.due <= now) {
            return Vec::new();
        }
        let (due, later) = std::mem::take(&mut self.requests)
            .into_iter()
            .partition(|r| r.due <= now);
        self.requests = later;
        due
    }

    /// The channel closed: its held requests and remembered completions are gone (the guest
    /// will never see their completions, as on a host whose channel was torn down).
    pub fn forget_channel(&mut self, subchannel: u16) -> usize {
        self.sent.remove(&subchannel);
        let before = self.requests.len();
        self.requests.retain(|r| r.subchannel != subchannel);
        before - self.requests.len()
    }
}
