// SPDX-License-Identifier: GPL-2.0
//! The VMBus connection: version negotiation (INITIATE_CONTACT → VERSION_RESPONSE) as a
//! plain state machine.
//!
//! Linux 7.3 proposes 6.0, 5.3, 5.2, 5.1, 5.0, 4.1 and 4.0 in turn (`vmbus_versions[]` in
//! drivers/hv/connection.c) until one is accepted. From 5.0 on, INITIATE_CONTACT arrives on
//! message connection 4, names the message SINT and VTL instead of a legacy interrupt page,
//! and the response tells the guest which connection id to post later messages to; before
//! 5.0 everything uses connection 1. The server accepts 4.0 … 6.0 up to a configurable maximum
//! (so tests can force a fallback) and refuses the pre-Win10 versions, whose legacy
//! interrupt-page signalling it does not implement.

use rhv_proto::vmbus::{self as proto, InitiateContact};
use zerocopy::{FromZeros, IntoBytes};

/// Versions the server can speak, newest first.
pub const SUPPORTED_VERSIONS: [u32; 7] = [
    proto::VERSION_WIN10_V6_0,
    proto::VERSION_WIN10_V5_3,
    proto::VERSION_WIN10_V5_2,
    proto::VERSION_WIN10_V5_1,
    proto::VERSION_WIN10_V5,
    proto::VERSION_WIN10_V4_1,
    proto::VERSION_WIN10,
];

/// 6.0 feature flags the server supports (none: no confidential VMBus, no client id).
const SUPPORTED_FEATURES: u32 = 0;

/// The message connection id handed back to 5.0+ guests.
const CHILD_MESSAGE_CONNECTION_ID: u32 = proto::VMBUS_MESSAGE_CONNECTION_ID;

/// A negotiated connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The protocol version.
    pub version: u32,
    /// VP index that receives channel messages.
    pub target_vp: u32,
    /// Connection id the guest posts messages to from now on.
    pub msg_conn_id: u32,
    /// Accepted feature flags (6.0+).
    pub features: u32,
    /// GPAs of the two monitor pages (unused: no channel is monitored).
    pub monitor_pages: [u64; 2],
}

/// The answer to one INITIATE_CONTACT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactOutcome {
    /// VP to send the VERSION_RESPONSE to.
    pub target_vp: u32,
    /// The VERSION_RESPONSE message bytes.
    pub response: Vec<u8>,
    /// Why the version was refused, if it was.
    pub refused: Option<&'static str>,
}

/// Connection state of the VMBus control protocol.
#[derive(Debug)]
pub struct Connection {
    max_version: u32,
    info: Option<ConnectionInfo>,
}

impl Connection {
    /// A disconnected connection that accepts versions up to `max_version`.
    pub fn new(max_version: u32) -> Self {
        Self {
            max_version,
            info: None,
        }
    }

    /// The negotiated connection, if connected.
    pub fn info(&self) -> Option<&ConnectionInfo> {
        self.info.as_ref()
    }

    /// Whether the guest may post control messages to `connection_id`: the legacy id 1 and
    /// the multi-client id 4 (and, once connected, whatever id was handed out).
    pub fn is_message_connection(&self, connection_id: u32) -> bool {
        connection_id == proto::VMBUS_MESSAGE_CONNECTION_ID
            || connection_id == proto::VMBUS_MESSAGE_CONNECTION_ID_4
            || self.info.is_some_and(|i| i.msg_conn_id == connection_id)
    }

    /// Back to disconnected (UNLOAD, or before a new INITIATE_CONTACT).
    pub fn disconnect(&mut self) {
        self.info = None;
    }

    /// Handles INITIATE_CONTACT received on `connection_id`. The caller must have reset
    /// every channel first if the guest was connected.
    pub fn on_initiate_contact(
        &mut self,
        connection_id: u32,
        msg: &InitiateContact,
    ) -> ContactOutcome {
        self.info = None;
        let version = msg.vmbus_version_requested;
        let target_vp = msg.target_vcpu;
        let refuse = |reason| ContactOutcome {
            target_vp,
            response: version_response(false, 0, None),
            refused: Some(reason),
        };
        if !SUPPORTED_VERSIONS.contains(&version) {
            return refuse("version not supported");
        }
        if version > self.max_version {
            return refuse("version above the configured maximum");
        }
        let modern = version >= proto::VERSION_WIN10_V5;
        if !modern && connection_id != proto::VMBUS_MESSAGE_CONNECTION_ID {
            return refuse("versions before 5.0 must use message connection 1");
        }
        if modern && msg.msg_sint() != proto::VMBUS_MESSAGE_SINT {
            return refuse("message SINT other than 2");
        }
        if modern && msg.msg_vtl() != 0 {
            return refuse("VTL other than 0");
        }
        let features = if version >= proto::VERSION_WIN10_V6_0 {
            msg.feature_flags() & SUPPORTED_FEATURES
        } else {
            0
        };
        let msg_conn_id = if modern {
            CHILD_MESSAGE_CONNECTION_ID
        } else {
            proto::VMBUS_MESSAGE_CONNECTION_ID
        };
        self.info = Some(ConnectionInfo {
            version,
            target_vp,
            msg_conn_id,
            features,
            monitor_pages: [msg.monitor_page1, msg.monitor_page2],
        });
        // Before 5.0 the last word carries no connection id; echo the version there.
        let last_word = if modern { msg_conn_id } else { version };
        let features = (version >= proto::VERSION_WIN10_V6_0).then_some(features);
        ContactOutcome {
            target_vp,
            response: version_response(true, last_word, features),
            refused: None,
        }
    }
}

fn version_response(supported: bool, msg_conn_id: u32, features: Option<u32>) -> Vec<u8> {
    let mut r = proto::VersionResponse2::new_zeroed();
    r.header = proto::MessageHeader::new(proto::MessageType::VersionResponse);
    r.version_supported = u8::from(supported);
    r.connection_state = proto::CONNECTION_STATE_SUCCESSFUL;
    r.msg_conn_id = msg_conn_id;
    r.supported_features = features.unwrap_or(0);
    let len = if features.is_some() {
        core::mem::size_of::<proto::VersionResponse2>()
    } else {
        core::mem::size_of::<proto::VersionResponse>()
    };
    r.as_bytes()[..len].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhv_proto::vmbus::{parse, VersionResponse};

    pub(crate) fn contact(version: u32, vp: u32) -> InitiateContact {
        let mut m = InitiateContact::new_zeroed();
        m.header = proto::MessageHeader::new(proto::MessageType::InitiateContact);
        m.vmbus_version_requested = version;
        m.target_vcpu = vp;
        if version >= proto::VERSION_WIN10_V5 {
            m.interrupt_page_or_target_info = InitiateContact::target_info(2, 0, 0);
        } else {
            m.interrupt_page_or_target_info = 0x1234_5000;
        }
        m.monitor_page1 = 0x10_0000;
        m.monitor_page2 = 0x10_1000;
        m
    }

    fn conn_id(version: u32) -> u32 {
        if version >= proto::VERSION_WIN10_V5 {
            proto::VMBUS_MESSAGE_CONNECTION_ID_4
        } else {
            proto::VMBUS_MESSAGE_CONNECTION_ID
        }
    }

    fn supported(o: &ContactOutcome) -> bool {
        parse::<VersionResponse>(&o.response)
            .unwrap()
            .0
            .version_supported
            != 0
    }

    #[test]
    fn accepts_every_version_linux_proposes() {
        for &v in &SUPPORTED_VERSIONS {
            let mut c = Connection::new(proto::VERSION_WIN10_V6_0);
            let o = c.on_initiate_contact(conn_id(v), &contact(v, 1));
            assert!(supported(&o), "version {v:#x}");
            assert_eq!(o.target_vp, 1);
            let info = c.info().unwrap();
            assert_eq!(info.version, v);
            assert_eq!(info.target_vp, 1);
            let (r, _) = parse::<VersionResponse>(&o.response).unwrap();
            if v >= proto::VERSION_WIN10_V5 {
                assert_eq!({ r.msg_conn_id }, 1);
                assert!(c.is_message_connection(1));
            } else {
                assert_eq!({ r.msg_conn_id }, v);
            }
            let expected_len = if v >= proto::VERSION_WIN10_V6_0 {
                20
            } else {
                16
            };
            assert_eq!(o.response.len(), expected_len);
        }
    }

    #[test]
    fn cap_at_4_0_makes_the_guest_fall_back() {
        let mut c = Connection::new(proto::VERSION_WIN10);
        for &v in &SUPPORTED_VERSIONS[..SUPPORTED_VERSIONS.len() - 1] {
            let o = c.on_initiate_contact(conn_id(v), &contact(v, 0));
            assert!(!supported(&o));
            assert_eq!(o.refused, Some("version above the configured maximum"));
            assert!(c.info().is_none());
        }
        let o = c.on_initiate_contact(1, &contact(proto::VERSION_WIN10, 0));
        assert!(supported(&o));
        assert_eq!(c.info().unwrap().version, proto::VERSION_WIN10);
    }

    #[test]
    fn refuses_old_unknown_and_odd_requests() {
        let mut c = Connection::new(proto::VERSION_WIN10_V6_0);
        for v in [
            proto::VERSION_WIN8_1,
            proto::VERSION_WIN8,
            proto::VERSION_WIN7,
            proto::VERSION_WS2008,
            0x0007_0000,
            0,
        ] {
            assert!(
                !supported(&c.on_initiate_contact(1, &contact(v, 0))),
                "{v:#x}"
            );
        }
        // 4.x on the 5.0+ connection.
        assert!(!supported(
            &c.on_initiate_contact(4, &contact(proto::VERSION_WIN10_V4_1, 0))
        ));
        // Another SINT or VTL.
        let mut m = contact(proto::VERSION_WIN10_V5_3, 0);
        m.interrupt_page_or_target_info = InitiateContact::target_info(3, 0, 0);
        assert!(!supported(&c.on_initiate_contact(4, &m)));
        m.interrupt_page_or_target_info = InitiateContact::target_info(2, 2, 0);
        assert!(!supported(&c.on_initiate_contact(4, &m)));
        assert!(c.info().is_none());
    }

    #[test]
    fn feature_flags_are_masked() {
        let mut c = Connection::new(proto::VERSION_WIN10_V6_0);
        let mut m = contact(proto::VERSION_WIN10_V6_0, 0);
        m.interrupt_page_or_target_info =
            InitiateContact::target_info(2, 0, proto::FEATURE_FLAG_CONFIDENTIAL_CHANNELS);
        let o = c.on_initiate_contact(4, &m);
        let (r, _) = parse::<proto::VersionResponse2>(&o.response).unwrap();
        assert_eq!({ r.supported_features }, 0);
        assert_eq!(c.info().unwrap().features, 0);
    }

    #[test]
    fn disconnect_and_renegotiate() {
        let mut c = Connection::new(proto::VERSION_WIN10_V6_0);
        c.on_initiate_contact(4, &contact(proto::VERSION_WIN10_V5_2, 0));
        c.disconnect();
        assert!(c.info().is_none());
        c.on_initiate_contact(1, &contact(proto::VERSION_WIN10, 1));
        assert_eq!(c.info().unwrap().version, proto::VERSION_WIN10);
        assert!(!c.is_message_connection(2));
    }
}
