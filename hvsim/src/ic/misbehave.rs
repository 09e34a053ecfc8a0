// SPDX-License-Identifier: GPL-2.0
//! An IC's bad messages for its `misbehave` control command (see `crate::misbehave`): once
//! the channel is ready, one bad message goes out each time the framework could send, before
//! the service's own requests, until `count` are sent. Each is a request no answer is waited
//! for; a guest must drop it (or answer it) and go on serving the channel:
//! - `short`: the pipe header and 4 bytes, no IC header;
//! - `oversize`: a well-formed header whose pipe and IC sizes claim 65 520 bytes;
//! - `unknown-type`: an IC message of type 0x7fff;
//! - `bad-negotiate`: a NEGOTIATE (after negotiation) whose version counts (255 each) run
//!   past the message, which carries none.

use rhv_proto::ic::{self as wire, IcMessageHeader, IcMessageType, IcVersion, ICMSG_HDR_SIZE};

use crate::misbehave::Kind;

/// A kind of bad IC message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadMessage {
    Short,
    Oversize,
    UnknownType,
    BadNegotiate,
}

impl Kind for BadMessage {
    const ALL: &'static [Self] = &[
        BadMessage::Short,
        BadMessage::Oversize,
        BadMessage::UnknownType,
        BadMessage::BadNegotiate,
    ];
    fn name(self) -> &'static str {
        match self {
            BadMessage::Short => "short",
            BadMessage::Oversize => "oversize",
            BadMessage::UnknownType => "unknown-type",
            BadMessage::BadNegotiate => "bad-negotiate",
        }
    }
}

/// The size `oversize` claims.
pub(crate) const OVERSIZE: u16 = 0xfff0;
/// The message type of `unknown-type`.
pub(crate) const UNKNOWN_TYPE: u16 = 0x7fff;

/// The payload of bad message `kind`, framed like a request of `header` (with the channel's
/// versions and transaction id).
pub(crate) fn payload(kind: BadMessage, mut header: IcMessageHeader) -> Vec<u8> {
    let mut body = vec![0u8; 8];
    match kind {
        BadMessage::Short => return vec![1, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0],
        BadMessage::Oversize => {}
        BadMessage::UnknownType => header.icmsgtype = UNKNOWN_TYPE,
        BadMessage::BadNegotiate => {
            header.icmsgtype = IcMessageType::Negotiate as u16;
            header.icvermsg = IcVersion::new(3, 0);
            // icframe_vercnt, icmsg_vercnt, reserved: the versions would follow.
            body[0..2].copy_from_slice(&255u16.to_le_bytes());
            body[2..4].copy_from_slice(&255u16.to_le_bytes());
        }
    }
    let mut out = vec![0u8; ICMSG_HDR_SIZE + body.len()];
    if wire::write_packet(&mut out, header, &body).is_err() {
        return out;
    }
    if kind == BadMessage::Oversize {
        // The pipe header's msgsize at 4, the IC header's icmsgsize at 8 + 10.
        out[4..8].copy_from_slice(&u32::from(OVERSIZE).to_le_bytes());
        out[18..20].copy_from_slice(&OVERSIZE.to_le_bytes());
    }
    out
}
