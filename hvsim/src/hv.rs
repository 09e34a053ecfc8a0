// SPDX-License-Identifier: GPL-2.0
//! The seam between the Hyper-V platform (SynIC, hypercalls: `platform`) and the VMBus server
//! (`vmbus`): the platform hands guest messages and events to the server through
//! [`GuestToHost`], and the server reaches the guest through [`HostToGuest`].
//!
//! Hypercall status codes: Hypervisor TLFS, "Hypercall status codes" appendix.

use crate::memory::GuestMemory;

/// A hypercall result as the guest sees it in RAX bits 15:0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum HvStatus {
    Success = 0x0000,
    InvalidHypercallCode = 0x0002,
    InvalidHypercallInput = 0x0003,
    InvalidAlignment = 0x0004,
    InvalidParameter = 0x0005,
    AccessDenied = 0x0006,
    InvalidPortId = 0x0011,
    InvalidConnectionId = 0x0012,
    InsufficientBuffers = 0x0013,
    InvalidVpIndex = 0x000e,
}

/// Why the host could not deliver something to the guest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeliveryError {
    #[error("virtual processor {0} does not exist")]
    NoSuchVp(u32),
    #[error("SINT {0} is out of range")]
    BadSint(u8),
    #[error("message payload of {0} bytes is larger than 240")]
    TooLarge(usize),
    #[error("the guest has not enabled its SynIC message/event page on VP {0}")]
    NotEnabled(u32),
}

/// The host's way into the guest: SynIC messages and event flags, plus guest RAM.
pub trait HostToGuest {
    /// Queues a SynIC message for `sint` of `vp`. It is written to the message slot as soon
    /// as the slot is free (the guest frees it with an EOM) and the SINT interrupt is raised.
    fn post_message(
        &mut self,
        vp: u32,
        sint: u8,
        message_type: u32,
        payload: &[u8],
    ) -> Result<(), DeliveryError>;

    /// Sets event flag `flag` in the SynIC event flags page of `vp` for `sint` and raises the
    /// SINT interrupt if the flag was clear.
    fn signal_event(&mut self, vp: u32, sint: u8, flag: u32) -> Result<(), DeliveryError>;

    /// Whether the partition has a virtual processor with index `vp` (a guest may name any
    /// number as a channel's target). The default accepts every index.
    fn has_vp(&self, vp: u32) -> bool {
        let _ = vp;
        true
    }

    /// Guest RAM, bounds-checked.
    fn memory(&self) -> &dyn GuestMemory;
}

/// What the guest sends the host through hypercalls, handed to the VMBus server.
pub trait GuestToHost {
    /// HvPostMessage: `payload` is at most 240 bytes (the platform checks that).
    fn post_message(
        &mut self,
        host: &mut dyn HostToGuest,
        connection_id: u32,
        message_type: u32,
        payload: &[u8],
    ) -> HvStatus;

    /// HvSignalEvent on `connection_id` (flag number from the hypercall input).
    fn signal_event(
        &mut self,
        host: &mut dyn HostToGuest,
        connection_id: u32,
        flag: u16,
    ) -> HvStatus;

    /// Called regularly (every few milliseconds) from the event loop, so devices can do
    /// timed work (heartbeats, timeouts) and look at their backends (which can also wake
    /// them sooner: `VmbusServer::wake`).
    fn poll(&mut self, host: &mut dyn HostToGuest);
}
