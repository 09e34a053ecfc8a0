// SPDX-License-Identifier: GPL-2.0
//! The guest's side of VMBus version negotiation: which versions it proposes and in what
//! order, on which connection each INITIATE_CONTACT goes, how the request is filled in, and
//! what a VERSION_RESPONSE means (`vmbus_connect()` / `vmbus_try_connection_id()` in
//! `drivers/hv/connection.c` describe the same protocol).
//!
//! The guest proposes the newest version first and walks down until the host accepts one.
//! From 5.0 on, INITIATE_CONTACT goes to connection 4 and the host names the connection for
//! every later message; before 5.0 everything uses connection 1.
//!
//! Also compiled into the kernel modules: `core` and `zerocopy` only; expects `vmbus.rs` and
//! `vmbus_msg.rs` as sibling modules.

use super::vmbus::{
    parse, InitiateContact, MessageHeader, MessageType, ParseError, VersionResponse,
    VersionResponse2, CONNECTION_STATE_SUCCESSFUL, VERSION_WIN10, VERSION_WIN10_V4_1,
    VERSION_WIN10_V5, VERSION_WIN10_V5_1, VERSION_WIN10_V5_2, VERSION_WIN10_V5_3,
    VERSION_WIN10_V6_0, VMBUS_MESSAGE_CONNECTION_ID, VMBUS_MESSAGE_CONNECTION_ID_4,
    VMBUS_MESSAGE_SINT,
};

/// The versions this guest speaks, newest first: the order in which it proposes them.
pub const GUEST_VERSIONS: [u32; 7] = [
    VERSION_WIN10_V6_0,
    VERSION_WIN10_V5_3,
    VERSION_WIN10_V5_2,
    VERSION_WIN10_V5_1,
    VERSION_WIN10_V5,
    VERSION_WIN10_V4_1,
    VERSION_WIN10,
];

/// Default cap on the negotiated version: the newest the guest speaks.
pub const DEFAULT_MAX_VERSION: u32 = GUEST_VERSIONS[0];

/// Connection ids carry 24 bits; the top 8 are reserved (`union hv_connection_id`).
pub const CONNECTION_ID_MASK: u32 = 0x00ff_ffff;

/// The versions to propose, in order, when the user caps the protocol at `max_version`
/// (`major << 16 | minor`, as the `max_version` module parameter).
pub fn versions_to_propose(max_version: u32) -> impl Iterator<Item = u32> {
    GUEST_VERSIONS
        .iter()
        .copied()
        .filter(move |&v| v <= max_version)
}

/// The connection INITIATE_CONTACT for `version` is posted to.
pub const fn contact_connection_id(version: u32) -> u32 {
    if version >= VERSION_WIN10_V5 {
        VMBUS_MESSAGE_CONNECTION_ID_4
    } else {
        VMBUS_MESSAGE_CONNECTION_ID
    }
}

/// What the guest tells the host about itself in INITIATE_CONTACT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContactParams {
    /// VP index of the vCPU that receives channel messages.
    pub target_vp: u32,
    /// VTL the guest runs in (5.0+).
    pub vtl: u8,
    /// GPA of the legacy interrupt page (before 5.0).
    pub interrupt_page: u64,
    /// GPAs of the host → guest and guest → host monitor pages.
    pub monitor_pages: [u64; 2],
    /// Feature flags to request (6.0+).
    pub feature_flags: u32,
}

/// INITIATE_CONTACT proposing `version`.
pub fn initiate_contact(version: u32, params: &ContactParams) -> InitiateContact {
    let target_info = if version >= VERSION_WIN10_V5 {
        let features = if version >= VERSION_WIN10_V6_0 {
            params.feature_flags
        } else {
            0
        };
        InitiateContact::target_info(VMBUS_MESSAGE_SINT, params.vtl, features)
    } else {
        params.interrupt_page
    };
    InitiateContact {
        header: MessageHeader::new(MessageType::InitiateContact),
        vmbus_version_requested: version,
        target_vcpu: params.target_vp,
        interrupt_page_or_target_info: target_info,
        monitor_page1: params.monitor_pages[0],
        monitor_page2: params.monitor_pages[1],
    }
}

/// The host's answer to one INITIATE_CONTACT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactOutcome {
    /// The version is accepted.
    Accepted {
        /// Connection of every later guest → host message.
        msg_conn_id: u32,
        /// Feature flags the host granted (6.0+, else zero).
        features: u32,
    },
    /// The host does not speak this version: propose the next one.
    Refused,
}

/// Why a VERSION_RESPONSE is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// Not a well-formed VERSION_RESPONSE.
    Malformed(ParseError),
    /// The host accepted the version but reports a failed connection state.
    ConnectionFailed(u8),
    /// The message connection id uses the reserved top bits, or is zero.
    BadConnectionId(u32),
}

/// Interprets the VERSION_RESPONSE `bytes` to an INITIATE_CONTACT for `version`.
pub fn interpret_response(version: u32, bytes: &[u8]) -> Result<ContactOutcome, ResponseError> {
    let (resp, _) = parse::<VersionResponse>(bytes).map_err(ResponseError::Malformed)?;
    if resp.version_supported == 0 {
        return Ok(ContactOutcome::Refused);
    }
    if resp.connection_state != CONNECTION_STATE_SUCCESSFUL {
        return Err(ResponseError::ConnectionFailed(resp.connection_state));
    }
    if version < VERSION_WIN10_V5 {
        return Ok(ContactOutcome::Accepted {
            msg_conn_id: VMBUS_MESSAGE_CONNECTION_ID,
            features: 0,
        });
    }
    let msg_conn_id = resp.msg_conn_id;
    if msg_conn_id == 0 || msg_conn_id & !CONNECTION_ID_MASK != 0 {
        return Err(ResponseError::BadConnectionId(msg_conn_id));
    }
    // The 6.0 response may carry the granted features; a shorter one grants none.
    let features = match parse::<VersionResponse2>(bytes) {
        Ok((r, _)) if version >= VERSION_WIN10_V6_0 => r.supported_features,
        _ => 0,
    };
    Ok(ContactOutcome::Accepted {
        msg_conn_id,
        features,
    })
}

/// What a negotiated version allows for moving a channel's interrupts to another vCPU
/// (MODIFYCHANNEL; `vmbus_send_modifychannel()` in `drivers/hv/channel.c` has the same rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelMoves {
    /// Before 4.1 there is no MODIFYCHANNEL.
    Unsupported,
    /// 4.1 to 5.2: the host moves the channel but never says when.
    Unconfirmed,
    /// 5.3 and newer: the host answers every MODIFYCHANNEL with MODIFYCHANNEL_RESPONSE.
    Confirmed,
}

/// How channels move at `version` (zero: not connected).
pub fn channel_moves(version: u32) -> ChannelMoves {
    if version >= VERSION_WIN10_V5_3 {
        ChannelMoves::Confirmed
    } else if version >= VERSION_WIN10_V4_1 {
        ChannelMoves::Unconfirmed
    } else {
        ChannelMoves::Unsupported
    }
}

#[cfg(test)]
mod tests {
    use super::super::vmbus::make_version;
    use super::*;
    use zerocopy::{FromZeros, IntoBytes};

    fn response(supported: u8, state: u8, conn: u32) -> VersionResponse {
        let mut r = VersionResponse::new_zeroed();
        r.header = MessageHeader::new(MessageType::VersionResponse);
        r.version_supported = supported;
        r.connection_state = state;
        r.msg_conn_id = conn;
        r
    }

    #[test]
    fn proposes_newest_first_and_honours_the_cap() {
        let all: [u32; 7] = core::array::from_fn(|i| versions_to_propose(u32::MAX).nth(i).unwrap());
        assert_eq!(all, GUEST_VERSIONS);
        let mut capped = versions_to_propose(make_version(5, 0));
        assert_eq!(capped.next(), Some(VERSION_WIN10_V5));
        assert_eq!(capped.next(), Some(VERSION_WIN10_V4_1));
        assert_eq!(capped.next(), Some(VERSION_WIN10));
        assert_eq!(capped.next(), None);
        assert_eq!(versions_to_propose(make_version(3, 0)).count(), 0);
    }

    #[test]
    fn contact_connection_depends_on_version() {
        assert_eq!(contact_connection_id(VERSION_WIN10_V6_0), 4);
        assert_eq!(contact_connection_id(VERSION_WIN10_V5), 4);
        assert_eq!(contact_connection_id(VERSION_WIN10_V4_1), 1);
    }

    #[test]
    fn initiate_contact_fields() {
        let p = ContactParams {
            target_vp: 3,
            vtl: 0,
            interrupt_page: 0x5000,
            monitor_pages: [0x6000, 0x7000],
            feature_flags: 0x10,
        };
        let m = initiate_contact(VERSION_WIN10_V6_0, &p);
        assert_eq!(m.msg_sint(), 2);
        assert_eq!(m.feature_flags(), 0x10);
        assert_eq!({ m.target_vcpu }, 3);
        assert_eq!({ m.monitor_page2 }, 0x7000);
        let m = initiate_contact(VERSION_WIN10_V5_3, &p);
        assert_eq!(m.feature_flags(), 0);
        let m = initiate_contact(VERSION_WIN10, &p);
        assert_eq!({ m.interrupt_page_or_target_info }, 0x5000);
        assert_eq!(m.as_bytes()[..4], [14, 0, 0, 0]);
    }

    #[test]
    fn response_interpretation() {
        let v6 = VERSION_WIN10_V6_0;
        let ok = response(1, 0, 4);
        assert_eq!(
            interpret_response(v6, ok.as_bytes()),
            Ok(ContactOutcome::Accepted {
                msg_conn_id: 4,
                features: 0
            })
        );
        // Before 5.0 the response's connection id is not used.
        assert_eq!(
            interpret_response(VERSION_WIN10, response(1, 0, 0).as_bytes()),
            Ok(ContactOutcome::Accepted {
                msg_conn_id: 1,
                features: 0
            })
        );
        assert_eq!(
            interpret_response(v6, response(0, 0, 0).as_bytes()),
            Ok(ContactOutcome::Refused)
        );
        assert_eq!(
            interpret_response(v6, response(1, 2, 4).as_bytes()),
            Err(ResponseError::ConnectionFailed(2))
        );
        assert_eq!(
            interpret_response(v6, response(1, 0, 0x0100_0004).as_bytes()),
            Err(ResponseError::BadConnectionId(0x0100_0004))
        );
        assert!(matches!(
            interpret_response(v6, &ok.as_bytes()[..12]),
            Err(ResponseError::Malformed(_))
        ));
        let mut r2 = VersionResponse2::new_zeroed();
        r2.header = MessageHeader::new(MessageType::VersionResponse);
        r2.version_supported = 1;
        r2.msg_conn_id = 4;
        r2.supported_features = 0x10;
        assert_eq!(
            interpret_response(v6, r2.as_bytes()),
            Ok(ContactOutcome::Accepted {
                msg_conn_id: 4,
                features: 0x10
            })
        );
    }

    #[test]
    fn channel_moves_by_version() {
        assert_eq!(channel_moves(0), ChannelMoves::Unsupported);
        assert_eq!(channel_moves(VERSION_WIN10), ChannelMoves::Unsupported);
        assert_eq!(channel_moves(VERSION_WIN10_V4_1), ChannelMoves::Unconfirmed);
        assert_eq!(channel_moves(VERSION_WIN10_V5_2), ChannelMoves::Unconfirmed);
        assert_eq!(channel_moves(VERSION_WIN10_V5_3), ChannelMoves::Confirmed);
        assert_eq!(channel_moves(VERSION_WIN10_V6_0), ChannelMoves::Confirmed);
    }
}
