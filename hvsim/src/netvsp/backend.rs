// SPDX-License-Identifier: GPL-2.0
//! The seam between the synthetic NIC and the host network: whole Ethernet frames in and out,
//! never blocking. [`super::tap::Tap`] is the real backend; tests plug in a queue.

use std::io;

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
}
