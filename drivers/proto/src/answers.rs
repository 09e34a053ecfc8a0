// SPDX-License-Identifier: GPL-2.0
//! Which host message answers the request the guest waits for. An answer is taken only if it
//! is well-formed and names what the request named: the GPADL and the channel for
//! GPADL_CREATED, the open id and the channel for OPENCHANNEL_RESULT (as the C driver matches
//! them), the GPADL for GPADL_TORNDOWN, the channel for MODIFYCHANNEL_RESPONSE. A
//! VERSION_RESPONSE names nothing, so one cut short would otherwise end the contact: it is
//! not an answer. A host that sends a malformed or misaddressed answer first must not decide
//! the request's outcome.
//!
//! Also compiled into the kernel modules: `core` and `zerocopy` only; expects `vmbus.rs` as a
//! sibling module.

use super::vmbus::{
    parse, GpadlCreated, GpadlTorndown, MessageType, ModifyChannelResponse, OpenResult,
    VersionResponse,
};

/// The answer a request waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Its message type.
    pub ty: MessageType,
    /// The GPADL handle, open id or relid it must carry, for types that carry one.
    pub key: Option<u32>,
    /// The channel the request is about.
    pub relid: Option<u32>,
}

/// What an answer of type `ty` names: its key and, if its type carries one, its channel;
/// `None` if it is malformed.
fn identify(ty: MessageType, bytes: &[u8]) -> Option<(Option<u32>, Option<u32>)> {
    match ty {
        MessageType::GpadlCreated => parse::<GpadlCreated>(bytes)
            .ok()
            .map(|(m, _)| (Some(m.gpadl), Some(m.child_relid))),
        MessageType::GpadlTorndown => parse::<GpadlTorndown>(bytes)
            .ok()
            .map(|(m, _)| (Some(m.gpadl), None)),
        MessageType::OpenChannelResult => parse::<OpenResult>(bytes)
            .ok()
            .map(|(m, _)| (Some(m.openid), Some(m.child_relid))),
        MessageType::ModifyChannelResponse => parse::<ModifyChannelResponse>(bytes)
            .ok()
            .map(|(m, _)| (Some(m.child_relid), Some(m.child_relid))),
        MessageType::VersionResponse => parse::<VersionResponse>(bytes).ok().map(|_| (None, None)),
        _ => Some((None, None)),
    }
}

/// Whether the message `bytes` of type `ty` answers `expected`.
pub fn answers(expected: &Expected, ty: MessageType, bytes: &[u8]) -> bool {
    if expected.ty != ty {
        return false;
    }
    match identify(ty, bytes) {
        None => false,
        Some((key, relid)) => key == expected.key && (relid.is_none() || relid == expected.relid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmbus::{MessageHeader, STATUS_SUCCESS};
    use zerocopy::{FromZeros, IntoBytes};

    fn open_result(relid: u32, openid: u32) -> OpenResult {
        let mut r = OpenResult::new_zeroed();
        r.header = MessageHeader::new(MessageType::OpenChannelResult);
        r.child_relid = relid;
        r.openid = openid;
        r.status = STATUS_SUCCESS;
        r
    }

    #[test]
    fn an_open_result_must_name_the_channel_and_the_open_id() {
        let e = Expected {
            ty: MessageType::OpenChannelResult,
            key: Some(7),
            relid: Some(7),
        };
        let ty = MessageType::OpenChannelResult;
        assert!(answers(&e, ty, open_result(7, 7).as_bytes()));
        assert!(!answers(&e, ty, open_result(7, 0x1007).as_bytes()));
        assert!(!answers(&e, ty, open_result(8, 7).as_bytes()));
        assert!(!answers(&e, ty, &open_result(7, 7).as_bytes()[..12]));
        assert!(!answers(
            &e,
            MessageType::GpadlCreated,
            open_result(7, 7).as_bytes()
        ));
    }

    #[test]
    fn a_gpadl_created_must_name_the_gpadl_and_the_channel() {
        let e = Expected {
            ty: MessageType::GpadlCreated,
            key: Some(0xe1e10),
            relid: Some(3),
        };
        let mut m = GpadlCreated::new_zeroed();
        m.header = MessageHeader::new(MessageType::GpadlCreated);
        m.child_relid = 3;
        m.gpadl = 0xe1e10;
        assert!(answers(&e, MessageType::GpadlCreated, m.as_bytes()));
        m.child_relid = 0x103;
        assert!(!answers(&e, MessageType::GpadlCreated, m.as_bytes()));
    }

    #[test]
    fn a_version_response_cut_short_is_no_answer() {
        let e = Expected {
            ty: MessageType::VersionResponse,
            key: None,
            relid: None,
        };
        let mut m = VersionResponse::new_zeroed();
        m.header = MessageHeader::new(MessageType::VersionResponse);
        m.version_supported = 1;
        assert!(answers(&e, MessageType::VersionResponse, m.as_bytes()));
        assert!(!answers(
            &e,
            MessageType::VersionResponse,
            &m.as_bytes()[..8]
        ));
    }
}
