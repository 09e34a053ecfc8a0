// SPDX-License-Identifier: GPL-2.0
//! Polling for the host's answer right after sending ([`OpenChannel::send_polled`]), instead
//! of waiting for its interrupt: the interrupt mask of the host → guest ring is set before the
//! packet goes out, and the ring is drained by the sender once the host has been signalled.
//! The mask/unmask/look-again protocol is the one of the channel's work (`channel.rs`), so a
//! packet the host publishes after the drain still comes with an interrupt.

use super::{Channel, OpenChannel};
use kernel::sync::atomic::ordering;

impl OpenChannel {
    /// Sends with `send`, then handles what the host answered before returning, on this CPU,
    /// instead of waiting for its interrupt: a host that answers during the signal hypercall
    /// (as a simulated or fast device does) then costs no interrupt. The ring's interrupt is
    /// masked around the sending; when `send` has returned, the ring is drained here with
    /// bottom halves disabled, then unmasked and looked at once more, so whatever arrives
    /// later comes with an interrupt as usual. Falls back to plain sending off the channel's
    /// target CPU or where bottom halves cannot be disabled (hard interrupt, interrupts
    /// disabled). The packet handler may thus run before this returns, in the caller's call
    /// chain: the caller must not hold a lock the handler takes.
    pub fn send_polled<R>(&self, send: impl FnOnce(&Channel) -> R) -> R {
        let armed = self.poll_begin();
        let r = send(&self.channel);
        self.poll_end(armed);
        r
    }

    /// Masks the ring's interrupt if the answer can be polled for here; returns whether.
    #[inline(never)]
    fn poll_begin(&self) -> bool {
        let ch = &self.channel;
        if ch.closed.load(ordering::Relaxed)
            || ch.failed.load(ordering::Relaxed)
            || kernel::cpu::CpuId::current().as_u32() != ch.info.target_cpu()
            || !crate::platform::bh_usable()
        {
            return false;
        }
        ch.inbound_mask(true).is_ok()
    }

    /// Does the channel work's job here if [`OpenChannel::poll_begin`] masked the ring: with
    /// bottom halves disabled, so that the work cannot run on this CPU meanwhile (its lock
    /// keeps other CPUs out); the drain unmasks the ring when it is done, and the work is
    /// queued for what it left.
    #[inline(never)]
    fn poll_end(&self, armed: bool) {
        if !armed {
            return;
        }
        let ch = &self.channel;
        let ran = crate::platform::with_bh_disabled(|| {
            ch.check_send_space();
            // Busy: a drain runs on another CPU, or this sending comes from a packet handler
            // of this very channel (a completion that submits again). The work then drains
            // after it.
            let left = match ch.inbound.try_lock() {
                Some(mut rx) => ch.drain_locked(&mut rx),
                None => true,
            };
            if left {
                Channel::schedule(ch.clone());
            }
        });
        if ran.is_none() {
            // Cannot happen (the context is the one `poll_begin` checked), but the ring is
            // masked: the work must run.
            Channel::schedule(ch.clone());
        }
    }
}
