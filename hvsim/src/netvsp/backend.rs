// SPDX-License-Identifier: GPL-2.0
//! The seam between the synthetic NIC and the host network: whole Ethernet frames in and out,
//! never blocking. [`super::tap::Tap`] is the real backend; tests plug in a queue.

use std::io;

/// Where the NIC's frames go and come from.
pub trait NetBackend: Send {
    /// Sends one frame to the host network. A frame the backend cannot take right now is an
    /// error (the caller counts it as dropped).
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;

    /// Receives one frame into `buf` if one is waiting; `Ok(None)` when there is none.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;
}
