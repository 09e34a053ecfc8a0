// SPDX-License-Identifier: GPL-2.0
//! Polled channels: a driver that has a poll loop of its own (a NAPI instance) takes the
//! channel's interrupt into it instead of having its packets delivered from the channel's
//! work item. `netvsc_channel_cb()` and `netvsc_poll()` with `hv_end_read()` in Linux are the
//! C counterparts.
//!
//! The interrupt masks the ring and asks the handler
//! ([`PacketHandler::on_interrupt`](super::PacketHandler::on_interrupt)); a handler that
//! answers `true` has promised to call [`Channel::poll`] soon (from its poll loop: softirq
//! context, never concurrently with itself), as often as that returns its whole budget, and
//! then, once it has marked its loop idle, [`Channel::poll_done`], which unmasks the ring and
//! says whether packets came in meanwhile (then it polls again). The packets go to
//! [`PacketHandler::on_packet`](super::PacketHandler::on_packet) as in the work-item mode,
//! checked the same way. A driver may also take the ring into its poll before the host
//! signals ([`Channel::mask_for_poll`]), e.g. when it knows answers are coming.

use super::Channel;
use crate::proto::drain::Next;

impl Channel {
    /// Handles up to `budget` packets of the host → guest ring (and a send-space report the
    /// host signalled), fewer if the handler stops wanting them
    /// ([`PacketHandler::wants_packets`](super::PacketHandler::wants_packets)); returns how
    /// many. Then tells the host what was read, with an interrupt if it waits for room. Only from the poll loop of a handler whose
    /// [`PacketHandler::on_interrupt`](super::PacketHandler::on_interrupt) answered `true`.
    pub fn poll(&self, budget: usize) -> usize {
        // The host signals the relid both for new packets and for room it made.
        self.check_send_space();
        let mut rx = self.inbound.lock();
        let mut done = 0;
        while done < budget && self.handler.wants_packets() {
            match self.handle_next(&mut rx) {
                Next::Handled => done += 1,
                Next::Empty => break,
                Next::Failed => return done,
            }
        }
        self.finish_reading(&mut rx);
        done
    }

    /// Whether the host interrupts the CPU this runs on for the channel (its target CPU; a
    /// hint, the host may be told another at any time): work done here on the channel's
    /// packets would be done on this CPU anyway.
    pub fn targets_current_cpu(&self) -> bool {
        kernel::cpu::CpuId::current().as_u32() == self.info.target_cpu()
    }

    /// Masks the ring's interrupt as the interrupt itself does, for a driver about to
    /// schedule its poll loop on its own: typically right before it signals the host, whose
    /// answers (completions) the poll reads then without an interrupt each. The caller must
    /// then have its poll scheduled (scheduling it, or seeing it scheduled already: a poll
    /// that is scheduled ends with [`Channel::poll_done`], which unmasks).
    pub fn mask_for_poll(&self) {
        if self.usable().is_ok() {
            let _ = self.inbound_mask(true);
        }
    }

    /// Ends a run of [`Channel::poll`] calls that emptied the ring (the caller's poll loop is
    /// marked idle already): unmasks the ring's interrupt; returns whether packets came in
    /// meanwhile, unannounced, so the caller must poll again (the ring is masked again then).
    pub fn poll_done(&self) -> bool {
        if self.usable().is_err() {
            return false;
        }
        let mut rx = self.inbound.lock();
        if rx.ring.set_interrupt_mask(&self.pages, false).is_err() {
            return false;
        }
        match rx.ring.has_data(&self.pages) {
            Ok(false) => false,
            Ok(true) => {
                let _ = rx.ring.set_interrupt_mask(&self.pages, true);
                true
            }
            Err(fault) => {
                drop(rx);
                self.fail("bad write index in the host → guest ring", fault);
                false
            }
        }
    }
}
