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

use crate::misbehave::{Kind, Plan};

/// A kind of bad SRB completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BadCompletion {
    UnknownId,
    Short,
    Duplicate,
    Stale,
}

impl Kind for BadCompletion {
    const ALL: &'static [Self] = &[
        BadCompletion::UnknownId,
        BadCompletion::Short,
        BadCompletion::Duplicate,
        BadCompletion::Stale,
    ];
    fn name(self) -> &'static str {
        match self {
            BadCompletion::UnknownId => "unknown-id",
            BadCompletion::Short => "short",
            BadCompletion::Duplicate => "duplicate",
            BadCompletion::Stale => "stale",
        }
    }
}

/// The transaction ids `unknown-id` uses: far above any tag or counter a guest issues.
const UNKNOWN_ID_BASE: u64 = 0x7bad_0000_0000_0000;
/// Bytes of a `short` completion: the operation and flags, no status, no SRB.
const SHORT_LEN: usize = 8;

/// One packet to send for a completion: its transaction id and how many of the
/// completion's bytes it carries.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Send {
    pub trans_id: u64,
    pub len: usize,
}

/// The packets to send, in order, for the completion (`len` bytes) of SRB `trans_id`.
pub(super) fn srb_completion(
    plan: &mut Plan<BadCompletion>,
    trans_id: u64,
    len: usize,
) -> Vec<Send> {
    let real = Send { trans_id, len };
    // `stale` is due when a request arrives, not here.
    match plan.due_if(|k| k != BadCompletion::Stale) {
        None | Some(BadCompletion::Stale) => vec![real],
        Some(BadCompletion::UnknownId) => {
            let bogus = UNKNOWN_ID_BASE | (trans_id & 0xffff_ffff);
            vec![
                Send {
                    trans_id: bogus,
                    len,
                },
                real,
            ]
        }
        Some(BadCompletion::Short) => vec![
            Send {
                trans_id,
                len: SHORT_LEN.min(len),
            },
            real,
        ],
        Some(BadCompletion::Duplicate) => vec![Send { trans_id, len }, real],
    }
}
