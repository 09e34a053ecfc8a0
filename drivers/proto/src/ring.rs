// SPDX-License-Identifier: GPL-2.0
//! VMBus ring buffers: the control page at the start of each ring, the packet descriptor that
//! starts every packet, the packet types and their extra headers, and the index arithmetic
//! both sides need (layouts: `struct hv_ring_buffer`, `struct vmpacket_descriptor` and
//! friends in `include/linux/hyperv.h`).
//!
//! A channel has two rings in one GPADL: guest → host first, host → guest at the page offset
//! given in OPENCHANNEL. Each ring is one 4 KiB control page followed by the data area. The
//! writer owns `write_index`, the reader `read_index`; both are byte offsets into the data area.
//! A packet is a descriptor, its payload padded to 8 bytes, and an 8-byte trailer whose upper
//! half is the offset the packet started at. The ring is never filled completely, so equal
//! indices always mean "empty".
//!
//! The helpers here are pure functions on index values: callers copy the indices out of
//! shared memory first, then validate them here. This file is also compiled into the kernel
//! modules: `core` and `zerocopy` only.

use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Size of the control page that precedes each ring's data.
pub const RING_CONTROL_SIZE: u32 = 4096;

/// Byte offset of `write_index` in the control page.
pub const WRITE_INDEX_OFFSET: u64 = 0;
/// Byte offset of `read_index` in the control page.
pub const READ_INDEX_OFFSET: u64 = 4;
/// Byte offset of `interrupt_mask` in the control page.
pub const INTERRUPT_MASK_OFFSET: u64 = 8;
/// Byte offset of `pending_send_sz` in the control page.
pub const PENDING_SEND_SIZE_OFFSET: u64 = 12;
/// Byte offset of `feature_bits` in the control page.
pub const FEATURE_BITS_OFFSET: u64 = 64;

/// Feature bit: the owner of this ring publishes `pending_send_sz` when it waits for room and
/// signals the other side when it frees enough room in the opposite ring.
pub const FEATURE_PENDING_SEND_SIZE: u32 = 1;

/// Size of the trailer after each packet.
pub const PACKET_TRAILER_SIZE: u32 = 8;

/// Descriptor flag: the sender wants a completion packet back.
pub const PACKET_FLAG_COMPLETION_REQUESTED: u16 = 1;

/// The control page of a ring (`struct hv_ring_buffer` without the data).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RingControl {
    /// Next byte the writer will fill.
    pub write_index: u32,
    /// Next byte the reader will consume.
    pub read_index: u32,
    /// Set by the reader while it drains the ring: the writer need not signal.
    pub interrupt_mask: u32,
    /// Bytes the writer is waiting for, or zero.
    pub pending_send_sz: u32,
    /// Reserved.
    pub reserved1: [u32; 12],
    /// `FEATURE_*` bits.
    pub feature_bits: u32,
    /// Pads the page.
    pub reserved2: [u8; 4028],
}
const _: () = assert!(core::mem::size_of::<RingControl>() == RING_CONTROL_SIZE as usize);

/// The 16-byte header at the start of every packet.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PacketDescriptor {
    /// A [`PacketType`] value.
    pub packet_type: u16,
    /// Offset of the payload from the start of the packet, in 8-byte units.
    pub offset8: u16,
    /// Length of the packet without the trailer, in 8-byte units.
    pub len8: u16,
    /// `PACKET_FLAG_*`.
    pub flags: u16,
    /// Request id, echoed in the completion.
    pub trans_id: u64,
}
/// Size of [`PacketDescriptor`].
pub const DESCRIPTOR_SIZE: u32 = 16;
const _: () = assert!(core::mem::size_of::<PacketDescriptor>() == DESCRIPTOR_SIZE as usize);

/// Packet types (`enum vmbus_packet_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum PacketType {
    /// Invalid.
    Invalid = 0,
    /// Synchronisation.
    Synch = 1,
    /// Add a transfer page set.
    AddTransferPageSet = 2,
    /// Remove a transfer page set.
    RemoveTransferPageSet = 3,
    /// Establish a GPADL in-band.
    EstablishGpadl = 4,
    /// Tear down a GPADL in-band.
    TeardownGpadl = 5,
    /// Data carried in the packet itself.
    DataInband = 6,
    /// Data in transfer pages ([`TransferPageHeader`]).
    DataUsingTransferPages = 7,
    /// Data in a GPADL.
    DataUsingGpadl = 8,
    /// Data in guest pages listed in the packet ([`GpaDirectHeader`]).
    DataUsingGpaDirect = 9,
    /// Cancel a request.
    CancelRequest = 0xa,
    /// Completion of a request.
    Completion = 0xb,
    /// Data continues in another packet.
    DataUsingAdditionalPacket = 0xc,
    /// Continuation data.
    AdditionalData = 0xd,
}

impl TryFrom<u16> for PacketType {
    type Error = RingError;

    fn try_from(value: u16) -> Result<Self, RingError> {
        use PacketType::*;
        Ok(match value {
            0 => Invalid,
            1 => Synch,
            2 => AddTransferPageSet,
            3 => RemoveTransferPageSet,
            4 => EstablishGpadl,
            5 => TeardownGpadl,
            6 => DataInband,
            7 => DataUsingTransferPages,
            8 => DataUsingGpadl,
            9 => DataUsingGpaDirect,
            0xa => CancelRequest,
            0xb => Completion,
            0xc => DataUsingAdditionalPacket,
            0xd => AdditionalData,
            other => return Err(RingError::UnknownPacketType(other)),
        })
    }
}

/// Extra header of a transfer-page packet; `range_cnt` [`TransferPageRange`]s follow.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct TransferPageHeader {
    /// The descriptor.
    pub descriptor: PacketDescriptor,
    /// Transfer page set the ranges refer to.
    pub xfer_pageset_id: u16,
    /// Non-zero if the sender keeps ownership of the set.
    pub sender_owns_set: u8,
    /// Reserved.
    pub reserved: u8,
    /// Number of ranges.
    pub range_cnt: u32,
}
const _: () = assert!(core::mem::size_of::<TransferPageHeader>() == 24);

/// One range of a transfer-page packet.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct TransferPageRange {
    /// Length.
    pub byte_count: u32,
    /// Offset in the transfer page set.
    pub byte_offset: u32,
}
const _: () = assert!(core::mem::size_of::<TransferPageRange>() == 8);

/// Extra header of a GPA-direct packet; `range_cnt` ranges follow, each a
/// `vmbus::GpaRange` and its PFNs.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GpaDirectHeader {
    /// The descriptor.
    pub descriptor: PacketDescriptor,
    /// Reserved.
    pub reserved: u32,
    /// Number of ranges.
    pub range_cnt: u32,
}
const _: () = assert!(core::mem::size_of::<GpaDirectHeader>() == 24);

/// What is wrong with a ring or a packet in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The data area is empty, not 8-byte aligned, or too large.
    BadRingSize(u64),
    /// An index is past the data area or not 8-byte aligned.
    BadIndex {
        /// The index value.
        index: u32,
        /// The data area size.
        size: u32,
    },
    /// `len8` is smaller than a descriptor.
    PacketTooShort(u32),
    /// The packet plus trailer is longer than the bytes the writer published.
    PacketPastWriteIndex {
        /// Packet length including the trailer.
        len: u32,
        /// Bytes available.
        available: u32,
    },
    /// `offset8` points before the end of the descriptor or past the packet.
    BadDataOffset {
        /// The offset in bytes.
        offset: u32,
        /// The packet length in bytes.
        len: u32,
    },
    /// Published data smaller than a descriptor plus trailer.
    Truncated(u32),
    /// The descriptor's type is not a known packet type.
    UnknownPacketType(u16),
    /// A packet of this size can never fit in the ring.
    PacketTooLarge(u64),
}

/// Rounds `len` up to a multiple of 8 (saturating at the largest multiple of 8).
pub const fn align8(len: u32) -> u32 {
    len.saturating_add(7) & !7
}

/// Checks that a ring's data area size is usable: non-zero, a multiple of 8, and small enough
/// that index arithmetic cannot overflow.
pub fn check_ring_size(size: u64) -> Result<u32, RingError> {
    if size == 0 || size & 7 != 0 || size > u64::from(u32::MAX / 2) {
        return Err(RingError::BadRingSize(size));
    }
    Ok(size as u32)
}

/// Checks an index copied from the control page: inside the data area and 8-byte aligned.
pub fn check_index(index: u32, size: u32) -> Result<u32, RingError> {
    if index >= size || index & 7 != 0 {
        return Err(RingError::BadIndex { index, size });
    }
    Ok(index)
}

/// Bytes the reader can consume (indices already checked).
pub fn bytes_to_read(read: u32, write: u32, size: u32) -> u32 {
    if write >= read {
        write - read
    } else {
        size - read + write
    }
}

/// Bytes the writer could fill; a packet fits only if it is strictly smaller than this.
pub fn bytes_to_write(read: u32, write: u32, size: u32) -> u32 {
    size - bytes_to_read(read, write, size)
}

/// What the C driver's ring debugging files show as bytes to read and bytes to write for the
/// raw indices `read` and `write` of a ring of `size` bytes: the arithmetic of
/// [`bytes_to_read`], but in wrapping 32-bit arithmetic, so that indices a host corrupted give
/// the same numbers as C shows rather than a panic.
pub fn debug_avail(read: u32, write: u32, size: u32) -> (u32, u32) {
    let to_read = if write >= read {
        write - read
    } else {
        size.wrapping_sub(read).wrapping_add(write)
    };
    (to_read, size.wrapping_sub(to_read))
}

/// Moves `index` forward by `len` bytes, wrapping at the end of the data area.
pub fn advance(index: u32, len: u32, size: u32) -> u32 {
    let len = len % size;
    if index >= size - len {
        index - (size - len)
    } else {
        index + len
    }
}

/// Total ring bytes a packet of `packet_len` bytes (descriptor included) takes: padded to 8
/// plus the trailer.
pub fn packet_ring_size(packet_len: u32) -> Option<u32> {
    (packet_len.checked_add(7)? & !7).checked_add(PACKET_TRAILER_SIZE)
}

/// The trailer written after a packet that started at `start`.
pub const fn trailer(start: u32) -> u64 {
    (start as u64) << 32
}

/// Whether a packet needing `needed` ring bytes fits, given the free bytes. The ring is
/// never filled completely, otherwise full and empty would look alike.
pub fn fits(needed: u32, free: u32) -> bool {
    needed < free
}

/// The layout of one packet, validated against the bytes the writer published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketLayout {
    /// Packet bytes (descriptor, extra header, payload), without the trailer.
    pub len: u32,
    /// Start of the payload from the start of the packet.
    pub data_offset: u32,
    /// Ring bytes to skip to the next packet (`len` plus the trailer).
    pub ring_len: u32,
}

/// Validates a descriptor copied from the ring when `available` bytes are published.
pub fn packet_layout(desc: &PacketDescriptor, available: u32) -> Result<PacketLayout, RingError> {
    if available < DESCRIPTOR_SIZE + PACKET_TRAILER_SIZE {
        return Err(RingError::Truncated(available));
    }
    let len = u32::from(desc.len8) * 8;
    let data_offset = u32::from(desc.offset8) * 8;
    if len < DESCRIPTOR_SIZE {
        return Err(RingError::PacketTooShort(len));
    }
    let ring_len = len + PACKET_TRAILER_SIZE;
    if ring_len > available {
        return Err(RingError::PacketPastWriteIndex {
            len: ring_len,
            available,
        });
    }
    if data_offset < DESCRIPTOR_SIZE || data_offset > len {
        return Err(RingError::BadDataOffset {
            offset: data_offset,
            len,
        });
    }
    Ok(PacketLayout {
        len,
        data_offset,
        ring_len,
    })
}

/// Writer side: after publishing a packet that started at `old_write`, whether the reader
/// must be interrupted. Only the empty → non-empty transition needs a signal, and none while
/// the reader has masked interrupts because it is draining anyway.
pub fn signal_after_write(old_write: u32, read_now: u32, interrupt_mask: u32) -> bool {
    interrupt_mask == 0 && old_write == read_now
}

/// Reader side: after consuming `bytes_read` bytes, whether the writer, waiting for
/// `pending_send_sz` bytes of room, must be interrupted. Signal only on the transition from
/// "not enough room" to "enough room"; exactly full counts as not enough.
pub fn signal_after_read(pending_send_sz: u32, free_now: u32, bytes_read: u32) -> bool {
    if pending_send_sz == 0 {
        return false;
    }
    let free_before = free_now.saturating_sub(bytes_read);
    free_before <= pending_send_sz && free_now > pending_send_sz
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_avail_matches_the_checked_arithmetic_and_never_panics() {
        assert_eq!(debug_avail(0, 0, 4096), (0, 4096));
        assert_eq!(debug_avail(8, 64, 4096), (56, 4040));
        assert_eq!(debug_avail(4000, 8, 4096), (104, 3992));
        // A host's garbage: wrapping numbers, as C's u32 arithmetic gives.
        assert_eq!(
            debug_avail(9000, 8, 4096),
            (4096u32.wrapping_sub(9000).wrapping_add(8), 9000 - 8)
        );
    }

    fn desc(len8: u16, offset8: u16) -> PacketDescriptor {
        PacketDescriptor {
            packet_type: 6,
            offset8,
            len8,
            flags: 0,
            trans_id: 0,
        }
    }

    #[test]
    fn packet_type_rejects_unknown() {
        assert_eq!(PacketType::try_from(0xb), Ok(PacketType::Completion));
        assert_eq!(PacketType::try_from(9), Ok(PacketType::DataUsingGpaDirect));
        assert_eq!(
            PacketType::try_from(0xe),
            Err(RingError::UnknownPacketType(0xe))
        );
    }

    #[test]
    fn available_bytes_with_and_without_wrap() {
        assert_eq!(bytes_to_read(0, 0, 4096), 0);
        assert_eq!(bytes_to_write(0, 0, 4096), 4096);
        assert_eq!(bytes_to_read(8, 64, 4096), 56);
        assert_eq!(bytes_to_read(4000, 16, 4096), 112);
        assert_eq!(bytes_to_write(4000, 16, 4096), 4096 - 112);
        assert_eq!(bytes_to_write(64, 8, 4096), 56);
    }

    #[test]
    fn advance_wraps_at_the_end() {
        assert_eq!(advance(0, 24, 4096), 24);
        assert_eq!(advance(4072, 24, 4096), 0);
        assert_eq!(advance(4080, 24, 4096), 8);
        assert_eq!(advance(8, 4096, 4096), 8);
    }

    #[test]
    fn packet_sizes_are_padded_and_carry_a_trailer() {
        assert_eq!(align8(0), 0);
        assert_eq!(align8(1), 8);
        assert_eq!(align8(16), 16);
        assert_eq!(packet_ring_size(16), Some(24));
        assert_eq!(packet_ring_size(17), Some(32));
        assert_eq!(packet_ring_size(u32::MAX), None);
        assert_eq!(trailer(0x1234), 0x1234_0000_0000);
    }

    #[test]
    fn a_full_ring_is_never_written() {
        // 32 free bytes: a 32-byte packet would make write == read, i.e. "empty".
        assert!(!fits(32, 32));
        assert!(fits(24, 32));
    }

    #[test]
    fn indices_are_checked() {
        assert_eq!(check_index(4088, 4096), Ok(4088));
        assert_eq!(
            check_index(4096, 4096),
            Err(RingError::BadIndex {
                index: 4096,
                size: 4096
            })
        );
        assert_eq!(
            check_index(12, 4096),
            Err(RingError::BadIndex {
                index: 12,
                size: 4096
            })
        );
        assert!(check_ring_size(0).is_err());
        assert!(check_ring_size(4100).is_err());
        assert!(check_ring_size(1 << 40).is_err());
        assert_eq!(check_ring_size(8192), Ok(8192));
    }

    #[test]
    fn descriptors_are_validated_against_published_bytes() {
        let ok = packet_layout(&desc(4, 2), 40).unwrap();
        assert_eq!(
            ok,
            PacketLayout {
                len: 32,
                data_offset: 16,
                ring_len: 40
            }
        );
        assert_eq!(
            packet_layout(&desc(4, 2), 39),
            Err(RingError::PacketPastWriteIndex {
                len: 40,
                available: 39
            })
        );
        assert_eq!(
            packet_layout(&desc(1, 1), 100),
            Err(RingError::PacketTooShort(8))
        );
        assert_eq!(
            packet_layout(&desc(4, 1), 100),
            Err(RingError::BadDataOffset { offset: 8, len: 32 })
        );
        assert_eq!(
            packet_layout(&desc(4, 5), 100),
            Err(RingError::BadDataOffset {
                offset: 40,
                len: 32
            })
        );
        assert_eq!(
            packet_layout(&desc(2, 2), 16),
            Err(RingError::Truncated(16))
        );
        assert_eq!(
            packet_layout(&desc(u16::MAX, 2), 4096).unwrap_err(),
            RingError::PacketPastWriteIndex {
                len: 524_288,
                available: 4096
            }
        );
    }

    #[test]
    fn signalling_rules() {
        assert!(signal_after_write(64, 64, 0));
        assert!(!signal_after_write(64, 64, 1));
        assert!(!signal_after_write(64, 8, 0));
        // Waiting for 100 bytes: 80 free before, 180 after reading 100 → signal.
        assert!(signal_after_read(100, 180, 100));
        // Already had room before reading.
        assert!(!signal_after_read(100, 300, 100));
        // Still not enough.
        assert!(!signal_after_read(100, 100, 50));
        assert!(!signal_after_read(0, 1000, 1000));
    }
}
