// SPDX-License-Identifier: GPL-2.0
//! The synthetic interrupt controller of one virtual processor (Hypervisor TLFS, "Synthetic
//! Interrupt Controller (SynIC)"): SCONTROL, SIMP, SIEFP, EOM and the 16 SINT registers, the
//! message page (16 slots of 256 bytes: a 16-byte header, then up to 240 payload bytes) with
//! its pending/EOM handshake, and the event flags page (16 × 2048 flags).
//!
//! Delivery handshake: a message goes into its SINT's slot only when the slot is free
//! (message type 0). When it is busy, hvsim queues the message and sets the slot's
//! message-pending flag; the guest, having freed the slot, sees the flag and writes EOM, and
//! hvsim then delivers the next queued message. Slots are also retried on every tick, so a
//! lost EOM only costs latency.

use std::collections::VecDeque;

use crate::guest_ram::SharedMemory;
use crate::hv::DeliveryError;

pub const SINT_COUNT: usize = 16;
pub const MESSAGE_SLOT_SIZE: u64 = 256;
pub const MESSAGE_PAYLOAD_MAX: usize = 240;
/// Event flags per SINT: 256 bytes of bits.
pub const EVENT_FLAGS_PER_SINT: u32 = 2048;
const PAGE_SIZE: u64 = 4096;

/// Slot header: {message type u32, payload size u8, flags u8, reserved u16, sender u64}.
const HEADER_FLAGS_WORD: u64 = 4;
const HEADER_SENDER: u64 = 8;
const HEADER_SIZE: u64 = 16;
/// Bit of the flags byte, seen in the u32 at offset 4.
const FLAG_MESSAGE_PENDING: u32 = 1 << 8;

const SCONTROL_ENABLE: u64 = 1;
const PAGE_ENABLE: u64 = 1;
const PAGE_RESERVED: u64 = 0xffe;
const SINT_VECTOR: u64 = 0xff;
const SINT_MASKED: u64 = 1 << 16;
const SINT_AUTO_EOI: u64 = 1 << 17;
const SINT_POLLING: u64 = 1 << 18;
const SINT_RESERVED: u64 = !(SINT_VECTOR | SINT_MASKED | SINT_AUTO_EOI | SINT_POLLING);
/// Vectors 0–15 are reserved by the architecture.
const FIRST_VALID_VECTOR: u64 = 16;
/// A queue this deep means the guest stopped taking messages; worth one warning.
const QUEUE_WARN_DEPTH: usize = 1024;

/// The two overlay pages a SynIC register points at.
#[derive(Clone, Copy)]
enum OverlayPage {
    /// SIMP: the message page.
    Message,
    /// SIEFP: the event flags page.
    EventFlags,
}

/// A write the TLFS answers with #GP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidWrite;

#[derive(Clone)]
struct Message {
    message_type: u32,
    len: u8,
    payload: [u8; MESSAGE_PAYLOAD_MAX],
}

/// SynIC state of one VP. Interrupts to raise are appended to an `out` vector as APIC vectors.
pub struct Synic {
    vp: u32,
    scontrol: u64,
    simp: u64,
    siefp: u64,
    sint: [u64; SINT_COUNT],
    queues: [VecDeque<Message>; SINT_COUNT],
    warned_auto_eoi: bool,
    warned_depth: bool,
}

impl Synic {
    pub fn new(vp: u32) -> Self {
        Self {
            vp,
            scontrol: 0,
            simp: 0,
            siefp: 0,
            sint: [SINT_MASKED; SINT_COUNT],
            queues: Default::default(),
            warned_auto_eoi: false,
            warned_depth: false,
        }
    }

    pub fn scontrol(&self) -> u64 {
        self.scontrol
    }
    pub fn simp(&self) -> u64 {
        self.simp
    }
    pub fn siefp(&self) -> u64 {
        self.siefp
    }
    pub fn sint(&self, n: usize) -> u64 {
        self.sint.get(n).copied().unwrap_or(0)
    }

    pub fn set_scontrol(
        &mut self,
        mem: &dyn SharedMemory,
        value: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), InvalidWrite> {
        if value & !SCONTROL_ENABLE != 0 {
            return Err(InvalidWrite);
        }
        let was = self.scontrol & SCONTROL_ENABLE != 0;
        self.scontrol = value;
        if !was && value & SCONTROL_ENABLE != 0 {
            self.refresh_all(mem, out);
        }
        Ok(())
    }

    pub fn set_simp(
        &mut self,
        mem: &dyn SharedMemory,
        value: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), InvalidWrite> {
        self.set_page(OverlayPage::Message, mem, value, out)
    }

    pub fn set_siefp(
        &mut self,
        mem: &dyn SharedMemory,
        value: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), InvalidWrite> {
        self.set_page(OverlayPage::EventFlags, mem, value, out)
    }

    /// SIMP and SIEFP: the same format (enable bit, reserved bits, page number) and the same
    /// effect (a page that appears may take what was queued for it).
    fn set_page(
        &mut self,
        page: OverlayPage,
        mem: &dyn SharedMemory,
        value: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), InvalidWrite> {
        if value & PAGE_RESERVED != 0 {
            return Err(InvalidWrite);
        }
        let register = match page {
            OverlayPage::Message => &mut self.simp,
            OverlayPage::EventFlags => &mut self.siefp,
        };
        *register = value;
        if page_of(mem, value).is_none() && value & PAGE_ENABLE != 0 {
            let (name, contents) = match page {
                OverlayPage::Message => ("SIMP", "messages"),
                OverlayPage::EventFlags => ("SIEFP", "events"),
            };
            tracing::warn!(
                vp = self.vp,
                "{name} {value:#x} is outside guest RAM: no {contents} can be delivered"
            );
        }
        self.refresh_all(mem, out);
        Ok(())
    }

    pub fn set_sint(
        &mut self,
        mem: &dyn SharedMemory,
        n: usize,
        value: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), InvalidWrite> {
        if n >= SINT_COUNT || value & SINT_RESERVED != 0 {
            return Err(InvalidWrite);
        }
        // Linux (and nested Hyper-V) write vector 0 while masked; only a live SINT needs a
        // valid vector.
        if value & SINT_MASKED == 0 && value & SINT_VECTOR < FIRST_VALID_VECTOR {
            return Err(InvalidWrite);
        }
        self.sint[n] = value;
        self.refresh(mem, n, out);
        Ok(())
    }

    /// End of message: the guest freed a slot that had the message-pending flag.
    pub fn eom(&mut self, mem: &dyn SharedMemory, out: &mut Vec<u8>) {
        for n in 0..SINT_COUNT {
            self.deliver_queued(mem, n, out);
        }
    }

    /// Retries queued messages (called on every tick).
    pub fn retry(&mut self, mem: &dyn SharedMemory, out: &mut Vec<u8>) {
        for n in 0..SINT_COUNT {
            if !self.queues[n].is_empty() {
                self.deliver_queued(mem, n, out);
            }
        }
    }

    /// Queues a message for SINT `n` and delivers it if its slot is free.
    pub fn post(
        &mut self,
        mem: &dyn SharedMemory,
        n: usize,
        message_type: u32,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DeliveryError> {
        let sint = u8::try_from(n).map_err(|_| DeliveryError::BadSint(u8::MAX))?;
        if n >= SINT_COUNT {
            return Err(DeliveryError::BadSint(sint));
        }
        if payload.len() > MESSAGE_PAYLOAD_MAX {
            return Err(DeliveryError::TooLarge(payload.len()));
        }
        if page_of(mem, self.simp).is_none() {
            return Err(DeliveryError::NotEnabled(self.vp));
        }
        let mut msg = Message {
            message_type,
            len: 0,
            payload: [0; MESSAGE_PAYLOAD_MAX],
        };
        msg.payload[..payload.len()].copy_from_slice(payload);
        // CAST: at most 240, checked above.
        msg.len = payload.len() as u8;
        self.queues[n].push_back(msg);
        if self.queues[n].len() >= QUEUE_WARN_DEPTH && !self.warned_depth {
            self.warned_depth = true;
            tracing::warn!(
                vp = self.vp,
                sint = n,
                "{} SynIC messages queued: the guest is not taking them",
                self.queues[n].len()
            );
        }
        self.deliver_queued(mem, n, out);
        Ok(())
    }

    /// Sets event flag `flag` of SINT `n`; raises the SINT if the flag was clear.
    pub fn signal_event(
        &mut self,
        mem: &dyn SharedMemory,
        n: usize,
        flag: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), DeliveryError> {
        if n >= SINT_COUNT {
            return Err(DeliveryError::BadSint(u8::try_from(n).unwrap_or(u8::MAX)));
        }
        let Some(page) = page_of(mem, self.siefp) else {
            return Err(DeliveryError::NotEnabled(self.vp));
        };
        if flag >= EVENT_FLAGS_PER_SINT {
            tracing::error!(
                vp = self.vp,
                sint = n,
                flag,
                "event flag out of range: not signalled"
            );
            return Ok(());
        }
        let word = page + n as u64 * MESSAGE_SLOT_SIZE + u64::from(flag / 32) * 4;
        let bit = 1u32 << (flag % 32);
        match mem.fetch_or_u32(word, bit) {
            Ok(old) if old & bit == 0 => self.raise(n, out),
            Ok(_) => {}
            Err(e) => tracing::error!(vp = self.vp, "event flags page: {e}"),
        }
        Ok(())
    }

    /// Delivers what is queued for SINT `n`, then raises the SINT if anything waits for the
    /// guest (after an unmask or an enable, the guest may have missed earlier interrupts).
    fn refresh(&mut self, mem: &dyn SharedMemory, n: usize, out: &mut Vec<u8>) {
        if !self.deliverable(n) {
            return;
        }
        let before = out.len();
        self.deliver_queued(mem, n, out);
        if out.len() == before && self.anything_pending(mem, n) {
            self.raise(n, out);
        }
    }

    fn refresh_all(&mut self, mem: &dyn SharedMemory, out: &mut Vec<u8>) {
        for n in 0..SINT_COUNT {
            self.refresh(mem, n, out);
        }
    }

    fn deliverable(&self, n: usize) -> bool {
        let s = self.sint[n];
        self.scontrol & SCONTROL_ENABLE != 0 && s & (SINT_MASKED | SINT_POLLING) == 0
    }

    fn anything_pending(&self, mem: &dyn SharedMemory, n: usize) -> bool {
        if let Some(page) = page_of(mem, self.simp) {
            if mem
                .read_u32(page + n as u64 * MESSAGE_SLOT_SIZE)
                .is_ok_and(|t| t != 0)
            {
                return true;
            }
        }
        if let Some(page) = page_of(mem, self.siefp) {
            let mut flags = [0u8; MESSAGE_SLOT_SIZE as usize];
            if mem
                .read_at(page + n as u64 * MESSAGE_SLOT_SIZE, &mut flags)
                .is_ok()
            {
                return flags.iter().any(|&b| b != 0);
            }
        }
        false
    }

    /// Moves queued messages of SINT `n` into its slot while the slot is free.
    fn deliver_queued(&mut self, mem: &dyn SharedMemory, n: usize, out: &mut Vec<u8>) {
        if self.queues[n].is_empty() || self.sint[n] & SINT_MASKED != 0 {
            return;
        }
        let Some(page) = page_of(mem, self.simp) else {
            return;
        };
        let slot = page + n as u64 * MESSAGE_SLOT_SIZE;
        if let Err(e) = self.try_fill_slot(mem, n, slot, out) {
            tracing::error!(vp = self.vp, sint = n, "message page: {e}");
        }
    }

    fn try_fill_slot(
        &mut self,
        mem: &dyn SharedMemory,
        n: usize,
        slot: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), crate::memory::MemoryError> {
        if mem.read_u32(slot)? != 0 {
            // Busy: ask for an EOM, then look again in case the guest freed the slot before
            // it could see the flag.
            mem.fetch_or_u32(slot + HEADER_FLAGS_WORD, FLAG_MESSAGE_PENDING)?;
            if mem.read_u32(slot)? != 0 {
                return Ok(());
            }
        }
        let Some(msg) = self.queues[n].pop_front() else {
            return Ok(());
        };
        let more = if self.queues[n].is_empty() {
            0
        } else {
            FLAG_MESSAGE_PENDING
        };
        mem.write_at(slot + HEADER_SIZE, &msg.payload)?;
        mem.write_at(slot + HEADER_SENDER, &0u64.to_le_bytes())?;
        mem.write_u32(slot + HEADER_FLAGS_WORD, u32::from(msg.len) | more)?;
        // ORDERING: the type goes last: a non-zero type is what tells the guest the slot
        // holds a complete message (pairs with its read of the type before the body).
        mem.write_u32(slot, msg.message_type)?;
        self.raise(n, out);
        Ok(())
    }

    fn raise(&mut self, n: usize, out: &mut Vec<u8>) {
        if !self.deliverable(n) {
            return;
        }
        let s = self.sint[n];
        if s & SINT_AUTO_EOI != 0 && !self.warned_auto_eoi {
            self.warned_auto_eoi = true;
            tracing::warn!(
                vp = self.vp,
                sint = n,
                "guest asked for auto-EOI, which QEMU's TCG APIC cannot do (hvsim recommends against it)"
            );
        }
        // CAST: masked to 8 bits.
        out.push((s & SINT_VECTOR) as u8);
    }
}

/// The page a SIMP/SIEFP value enables, if it is enabled and inside guest RAM.
fn page_of(mem: &dyn SharedMemory, value: u64) -> Option<u64> {
    if value & PAGE_ENABLE == 0 {
        return None;
    }
    let gpa = value & !(PAGE_SIZE - 1);
    (gpa.checked_add(PAGE_SIZE)? <= mem.size()).then_some(gpa)
}

#[cfg(test)]
#[path = "synic_tests.rs"]
mod tests;
