// SPDX-License-Identifier: GPL-2.0
//! The seam between the synthetic NIC and the host network: whole Ethernet frames in and out,
//! never blocking. [`super::tap::Tap`] is the real backend; tests plug in a queue.

use std::io;
use std::os::unix::io::RawFd;

use super::vnet::VnetHeader;

/// Where the NIC's frames go and come from.
pub trait NetBackend: Send {
    /// Sends one frame to the host network, with its checksum / segmentation offload
    /// request (all zero for none; a backend without offload refuses any other). A frame the
    /// backend cannot take right now is an error (the caller counts it as dropped).
    fn send(&mut self, offload: &VnetHeader, frame: &[u8]) -> io::Result<()>;

    /// Receives one frame into `buf` if one is waiting, with what the host network says of
    /// its checksum; `Ok(None)` when there is none.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, VnetHeader)>>;

    /// A descriptor that polls readable while [`NetBackend::recv`] has a frame (or an error)
    /// to give, so the NIC can take frames as they arrive instead of on the next tick;
    /// `None` for a backend that cannot say (it is read on the tick and after the guest's
    /// receive completions only). The backend keeps it open.
    fn wake_fd(&self) -> Option<RawFd> {
        None
    }
}
