// SPDX-License-Identifier: GPL-2.0
//! Shutdown: the host asks the guest to power off, restart or hibernate
//! (`shutdown_onchannelcallback()` in drivers/hv/hv_util.c; layout: `ShutdownMessage` in
//! `ic_msg.rs`). The guest agrees or refuses in the answer's status, then acts.

use crate::framework::{Service, Verdict};
use crate::ic::{
    parse_body, IcMessageType, IcVersion, ShutdownMessage, SHUTDOWN_FLAG_FORCE,
    SHUTDOWN_FLAG_HIBERNATE, SHUTDOWN_FLAG_RESTART,
};

/// The shutdown service versions Linux accepts, newest first (`sd_versions`).
pub(crate) const SERVICE: Service = Service {
    name: "shutdown",
    message_type: IcMessageType::Shutdown,
    versions: &[
        IcVersion::new(3, 2),
        IcVersion::new(3, 1),
        IcVersion::new(3, 0),
        IcVersion::new(1, 0),
    ],
};

/// What the host asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// Power off: agreed, then an orderly power-off.
    PowerOff,
    /// Restart: agreed, then an orderly reboot.
    Reboot,
    /// Hibernate: refused (this module has no hibernation support).
    Hibernate,
    /// Any other flag combination: refused.
    Invalid(u32),
}

impl Request {
    /// The answer's verdict on the request.
    pub(crate) fn verdict(self) -> Verdict {
        match self {
            Request::PowerOff | Request::Reboot => Verdict::Done,
            Request::Hibernate | Request::Invalid(_) => Verdict::Failed,
        }
    }
}

/// Reads a shutdown request. The force bit changes nothing: like Linux, the guest always
/// carries a request out by force if user space does not.
pub(crate) fn parse_request(body: &[u8]) -> Result<Request, Verdict> {
    let request: ShutdownMessage = parse_body(body).map_err(|_| Verdict::ShortBody {
        needed: core::mem::size_of::<ShutdownMessage>(),
    })?;
    let flags = request.flags;
    Ok(match flags & !SHUTDOWN_FLAG_FORCE {
        0 => Request::PowerOff,
        SHUTDOWN_FLAG_RESTART => Request::Reboot,
        SHUTDOWN_FLAG_HIBERNATE => Request::Hibernate,
        _ => Request::Invalid(flags),
    })
}
