// SPDX-License-Identifier: GPL-2.0
//! The synthetic interrupt controller (SynIC) as the VMBus guest programs it: the MSR formats of
//! SCONTROL, SIMP, SIEFP and the SINTs, the layout of the per-vCPU message page (one 256-byte
//! message slot per SINT) and event flags page (one 2048-bit flag array per SINT), and the
//! iteration over set event flags. References: the Hyper-V TLFS, "Synthetic Interrupt
//! Controller"; `include/hyperv/hvgdk_mini.h` (`union hv_synic_*`, `struct hv_message`).
//!
//! Pure values only: the guest reads the shared pages into local copies first and hands the
//! copies to these functions. Also compiled into the kernel modules: `core` and `zerocopy` only.

use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// SynIC control: bit 0 enables the SynIC of the vCPU.
pub const MSR_SCONTROL: u32 = 0x4000_0080;
/// Event flags page: bit 0 enable, bits 12..63 page frame number.
pub const MSR_SIEFP: u32 = 0x4000_0082;
/// Message page: bit 0 enable, bits 12..63 page frame number.
pub const MSR_SIMP: u32 = 0x4000_0083;
/// End of message: any write asks the hypervisor to redeliver a pending message.
pub const MSR_EOM: u32 = 0x4000_0084;
/// SINT 0; SINT n is `MSR_SINT0 + n`.
pub const MSR_SINT0: u32 = 0x4000_0090;

/// SINTs per vCPU.
pub const SINT_COUNT: u8 = 16;
/// Size of one message slot of the message page.
pub const MESSAGE_SLOT_SIZE: usize = 256;
/// Size of one SINT's event flags in the event flags page.
pub const EVENT_FLAGS_SLOT_SIZE: usize = 256;
/// Event flags per SINT: relid `n` is bit `n`.
pub const EVENT_FLAGS_COUNT: u32 = (EVENT_FLAGS_SLOT_SIZE * 8) as u32;
/// Page size of the SynIC pages (always 4 KiB).
pub const PAGE_SHIFT: u32 = 12;

/// `message_type` of an empty slot.
pub const MESSAGE_TYPE_NONE: u32 = 0;
/// `message_flags` bit: another message is queued behind this one, so the guest must write
/// [`MSR_EOM`] after freeing the slot.
pub const MESSAGE_FLAG_PENDING: u8 = 1;

const ENABLE: u64 = 1;
const PFN_MASK: u64 = !((1u64 << PAGE_SHIFT) - 1);
const SINT_VECTOR_MASK: u64 = 0xff;
const SINT_MASKED: u64 = 1 << 16;
const SINT_AUTO_EOI: u64 = 1 << 17;

/// The SIMP or SIEFP value that enables the page at `gpa` (4 KiB aligned), keeping the
/// reserved bits of `current`.
pub const fn page_enabled(current: u64, gpa: u64) -> u64 {
    (current & !PFN_MASK & !ENABLE) | (gpa & PFN_MASK) | ENABLE
}

/// The SIMP or SIEFP value that disables the page and forgets its address.
pub const fn page_disabled(current: u64) -> u64 {
    current & !PFN_MASK & !ENABLE
}

/// The SINT value that delivers `vector`, unmasked, with or without auto-EOI.
pub const fn sint_enabled(current: u64, vector: u8, auto_eoi: bool) -> u64 {
    let v = (current & !SINT_VECTOR_MASK & !SINT_MASKED & !SINT_AUTO_EOI) | vector as u64;
    if auto_eoi {
        v | SINT_AUTO_EOI
    } else {
        v
    }
}

/// The SINT value that masks the SINT.
pub const fn sint_masked(current: u64) -> u64 {
    current | SINT_MASKED
}

/// The SCONTROL value with the enable bit set or cleared.
pub const fn scontrol(current: u64, enable: bool) -> u64 {
    if enable {
        current | ENABLE
    } else {
        current & !ENABLE
    }
}

/// Byte offset of the message slot of `sint` in the message page.
pub const fn message_slot_offset(sint: u8) -> usize {
    sint as usize * MESSAGE_SLOT_SIZE
}

/// Byte offset of the event flags of `sint` in the event flags page.
pub const fn event_flags_offset(sint: u8) -> usize {
    sint as usize * EVENT_FLAGS_SLOT_SIZE
}

/// The 16-byte header of a message slot (`struct hv_message_header`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SynicMessageHeader {
    /// Message type; [`MESSAGE_TYPE_NONE`] marks a free slot. VMBus uses type 1.
    pub message_type: u32,
    /// Payload bytes that follow the header.
    pub payload_size: u8,
    /// [`MESSAGE_FLAG_PENDING`].
    pub message_flags: u8,
    /// Reserved.
    pub reserved: u16,
    /// Sender (port id or partition id).
    pub sender: u64,
}
const _: () = assert!(core::mem::size_of::<SynicMessageHeader>() == 16);

/// Payload bytes a message slot can carry.
pub const MESSAGE_PAYLOAD_SIZE: usize =
    MESSAGE_SLOT_SIZE - core::mem::size_of::<SynicMessageHeader>();

/// Relids whose flag is set in one 64-bit word of an event flags array: word `index` holds
/// the flags of relids `64 * index .. 64 * index + 63`.
#[derive(Clone, Copy, Debug)]
pub struct SetFlags {
    word: u64,
    base: u32,
}

impl SetFlags {
    /// The set flags of word `index` whose value is `word`.
    pub const fn new(index: u32, word: u64) -> Self {
        Self {
            word,
            base: index * 64,
        }
    }
}

impl Iterator for SetFlags {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.word == 0 {
            return None;
        }
        let bit = self.word.trailing_zeros();
        self.word &= self.word - 1;
        Some(self.base + bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_registers_keep_reserved_bits() {
        assert_eq!(page_enabled(0, 0x1234_5000), 0x1234_5001);
        // Reserved bits 1..11 survive, the old frame number does not.
        assert_eq!(page_enabled(0xdead_b00e, 0x1000), 0x1000 | 0x00e | 1);
        assert_eq!(page_disabled(0x1234_5001), 0);
        assert_eq!(page_disabled(0x1234_5ff3), 0xff2);
    }

    #[test]
    fn sint_register() {
        assert_eq!(sint_enabled(1 << 16, 0xf3, false), 0xf3);
        assert_eq!(sint_enabled(0, 0xf3, true), 0xf3 | 1 << 17);
        assert_eq!(sint_enabled(0xff | 1 << 17, 0x20, false), 0x20);
        assert_eq!(sint_masked(0xf3), 0xf3 | 1 << 16);
        assert_eq!(scontrol(0, true), 1);
        assert_eq!(scontrol(3, false), 2);
    }

    #[test]
    fn slot_offsets() {
        assert_eq!(message_slot_offset(2), 512);
        assert_eq!(event_flags_offset(2), 512);
        assert_eq!(MESSAGE_PAYLOAD_SIZE, 240);
        assert_eq!(EVENT_FLAGS_COUNT, 2048);
    }

    #[test]
    fn set_flags_yield_relids_in_order() {
        let mut it = SetFlags::new(0, 0b1011);
        assert_eq!(it.next(), Some(0));
        assert_eq!(it.next(), Some(1));
        assert_eq!(it.next(), Some(3));
        assert_eq!(it.next(), None);
        let mut it = SetFlags::new(31, 1 << 63);
        assert_eq!(it.next(), Some(2047));
        assert_eq!(it.next(), None);
        assert_eq!(SetFlags::new(5, 0).next(), None);
    }
}
