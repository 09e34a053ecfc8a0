// SPDX-License-Identifier: GPL-2.0
//! The controller's bad packets for the `misbehave` command (see `crate::misbehave`). Only
//! EXECUTE_SRB completions are eligible; the bad packet goes with the real completion, which
//! is always sent, so a guest that ignores the bad packet (or fails the command and lets the
//! SCSI midlayer retry it) loses no I/O:
//! - `unknown-id`: first a completion whose transaction id matches no request the guest sent;
//! - `short`: first a completion with the request's id, too short to be a VSTOR packet;
//! - `duplicate`: the real completion twice (by then the id may name another command);
//! - `stale`: not with a completion but when a request arrives: the completion the host sent
//!   for the same slot (tag) of the channel at least `held::STALE_MIN_AGE` SRBs earlier, sent
//!   again before the new request is served, which waits `held::STALE_HOLD` (see `held`).
//!   Here the real completion comes too, but only after the stale one had its chance.
//!
//! The other kinds change the real completion itself (no second packet), after the data
//! moved, into one a careful driver fails (and the SCSI midlayer retries) or trims:
//! - `overlong`: `data_transfer_length` says 4 KiB more than the request asked for;
//! - `sense-overflow`: a CHECK CONDITION with valid autosense (a unit attention, which the
//!   midlayer retries) whose `sense_info_length` (255) is past the SRB's sense area;
//! - `error-no-sense`: SRB status ERROR without autosense, SCSI status GOOD, every byte said
//!   to be transferred (a failure that names no reason);
//! - `success-busy`: SRB status SUCCESS with SCSI status BUSY (the two contradict each
//!   other; the midlayer retries a BUSY command).

use rhv_proto::vstor::{self, VstorPacket};
use zerocopy::{FromBytes, IntoBytes};

use crate::misbehave::{Kind, Plan};

/// A kind of bad SRB completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BadCompletion {
    UnknownId,
    Short,
    Duplicate,
    Stale,
    Overlong,
    SenseOverflow,
    ErrorNoSense,
    SuccessBusy,
}

impl Kind for BadCompletion {
    const ALL: &'static [Self] = &[
        BadCompletion::UnknownId,
        BadCompletion::Short,
        BadCompletion::Duplicate,
        BadCompletion::Stale,
        BadCompletion::Overlong,
        BadCompletion::SenseOverflow,
        BadCompletion::ErrorNoSense,
        BadCompletion::SuccessBusy,
    ];
    fn name(self) -> &'static str {
        match self {
            BadCompletion::UnknownId => "unknown-id",
            BadCompletion::Short => "short",
            BadCompletion::Duplicate => "duplicate",
            BadCompletion::Stale => "stale",
            BadCompletion::Overlong => "overlong",
            BadCompletion::SenseOverflow => "sense-overflow",
            BadCompletion::ErrorNoSense => "error-no-sense",
            BadCompletion::SuccessBusy => "success-busy",
        }
    }
}

/// The transaction ids `unknown-id` uses: far above any tag or counter a guest issues.
const UNKNOWN_ID_BASE: u64 = 0x7bad_0000_0000_0000;
/// Bytes of a `short` completion: the operation and flags, no status, no SRB.
const SHORT_LEN: usize = 8;

/// Bytes `overlong` claims beyond the request's length.
pub(super) const OVERLONG_EXTRA: u32 = 4096;
/// The `sense_info_length` of `sense-overflow`: past any SRB's sense area.
pub(super) const SENSE_OVERFLOW_LEN: u8 = 255;
/// SCSI status BUSY (SAM).
const SAM_STAT_BUSY: u8 = 0x08;
/// SCSI status CHECK CONDITION (SAM).
const SAM_STAT_CHECK_CONDITION: u8 = 0x02;
/// Fixed-format sense: UNIT ATTENTION, "power on, reset or bus device reset occurred".
const UNIT_ATTENTION_SENSE: [u8; 14] = [0x70, 0, 0x06, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0x29, 0];

/// One packet to send for a completion: its transaction id and its bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Send {
    pub trans_id: u64,
    pub bytes: Vec<u8>,
}

/// The completion `bytes` with its SRB changed by `change`.
fn with_srb(bytes: &[u8], change: impl FnOnce(&mut vstor::ScsiRequest)) -> Vec<u8> {
    let mut whole = [0u8; core::mem::size_of::<VstorPacket>()];
    let n = bytes.len().min(whole.len());
    whole[..n].copy_from_slice(&bytes[..n]);
    let mut packet = VstorPacket::read_from_bytes(&whole[..]).expect("a whole packet");
    let mut srb = packet.srb();
    change(&mut srb);
    packet.set_srb(&srb);
    packet.as_bytes()[..bytes.len()].to_vec()
}

/// The packets to send, in order, for the completion `bytes` of SRB `trans_id`, which asked
/// for `requested` bytes of data.
pub(super) fn srb_completion(
    plan: &mut Plan<BadCompletion>,
    trans_id: u64,
    bytes: &[u8],
    requested: u32,
) -> Vec<Send> {
    let len = bytes.len();
    let send = |trans_id, bytes: &[u8]| Send {
        trans_id,
        bytes: bytes.to_vec(),
    };
    let real = send(trans_id, bytes);
    // `stale` is due when a request arrives, not here.
    match plan.due_if(|k| k != BadCompletion::Stale) {
        None | Some(BadCompletion::Stale) => vec![real],
        Some(BadCompletion::UnknownId) => {
            let bogus = UNKNOWN_ID_BASE | (trans_id & 0xffff_ffff);
            vec![send(bogus, bytes), real]
        }
        Some(BadCompletion::Short) => vec![send(trans_id, &bytes[..SHORT_LEN.min(len)]), real],
        Some(BadCompletion::Duplicate) => vec![send(trans_id, bytes), real],
        Some(BadCompletion::Overlong) => {
            let bytes = with_srb(bytes, |srb| {
                srb.data_transfer_length = requested.saturating_add(OVERLONG_EXTRA);
            });
            vec![send(trans_id, &bytes)]
        }
        Some(BadCompletion::SenseOverflow) => {
            let bytes = with_srb(bytes, |srb| {
                srb.srb_status = vstor::SRB_STATUS_ERROR | vstor::SRB_STATUS_AUTOSENSE_VALID;
                srb.scsi_status = SAM_STAT_CHECK_CONDITION;
                srb.sense_info_length = SENSE_OVERFLOW_LEN;
                srb.data_transfer_length = 0;
                srb.cdb = [0; vstor::SRB_CDB_AREA_SIZE];
                srb.cdb[..UNIT_ATTENTION_SENSE.len()].copy_from_slice(&UNIT_ATTENTION_SENSE);
            });
            vec![send(trans_id, &bytes)]
        }
        Some(BadCompletion::ErrorNoSense) => {
            let bytes = with_srb(bytes, |srb| {
                srb.srb_status = vstor::SRB_STATUS_ERROR;
                srb.scsi_status = 0;
                srb.sense_info_length = 0;
            });
            vec![send(trans_id, &bytes)]
        }
        Some(BadCompletion::SuccessBusy) => {
            let bytes = with_srb(bytes, |srb| {
                srb.srb_status = vstor::SRB_STATUS_SUCCESS;
                srb.scsi_status = SAM_STAT_BUSY;
                srb.sense_info_length = 0;
            });
            vec![send(trans_id, &bytes)]
        }
    }
}
