// SPDX-License-Identifier: GPL-2.0
//! Heartbeat: the host sends a sequence number about once a second and counts the guest alive
//! while it answers with the number plus one (`heartbeat_onchannelcallback()` in
//! drivers/hv/hv_util.c; layout: `HeartbeatMessage` in `ic_msg.rs`).

use crate::framework::{Service, Verdict};
use crate::ic::{IcMessageType, IcVersion, HEARTBEAT_MIN_BODY};

/// The heartbeat service versions Linux accepts, newest first (`hb_versions`).
pub(crate) const SERVICE: Service = Service {
    name: "heartbeat",
    message_type: IcMessageType::Heartbeat,
    versions: &[IcVersion::new(3, 0), IcVersion::new(1, 0)],
};

/// Answers a heartbeat body in place: the sequence number goes up by one. Only the sequence
/// number must be present; hosts need not send the reserved words.
pub(crate) fn on_message(body: &mut [u8]) -> Verdict {
    let Some(seq) = body.get_mut(..HEARTBEAT_MIN_BODY) else {
        return Verdict::ShortBody {
            needed: HEARTBEAT_MIN_BODY,
        };
    };
    let mut bytes = [0u8; HEARTBEAT_MIN_BODY];
    bytes.copy_from_slice(seq);
    let next = u64::from_le_bytes(bytes).wrapping_add(1);
    seq.copy_from_slice(&next.to_le_bytes());
    Verdict::Done
}
