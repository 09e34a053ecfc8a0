// SPDX-License-Identifier: GPL-2.0
//! The host-controlled numbers of the data path, checked before use (pure functions, tested
//! by KUnit): the transfer-page header of a receive packet and each of its ranges, and the
//! transaction id of a completion.

use crate::control::{DATA_TRANS_BIT, REQUEST_TRANS_BIT};
use crate::sections::{Lease, MAX_SECTIONS};

/// Most ranges one transfer-page packet may name.
pub(crate) const MAX_RANGES: usize = 1024;

/// What is wrong with a transfer-page header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransferError {
    /// Shorter than its fixed part.
    Short,
    /// Another transfer-page set than the receive buffer.
    SetId(u16),
    /// No ranges, too many, or more than the header holds.
    Count(usize),
}

/// The range bytes (8 per range) of a transfer-page packet's extra header (the bytes between
/// the VMBus descriptor and the payload), for the set `set_id`.
pub(crate) fn ranges(header: &[u8], set_id: u16) -> Result<&[u8], TransferError> {
    let fixed = header.get(..8).ok_or(TransferError::Short)?;
    let id = u16::from_le_bytes([fixed[0], fixed[1]]);
    if id != set_id {
        return Err(TransferError::SetId(id));
    }
    let count = u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]) as usize;
    if count == 0 || count > MAX_RANGES {
        return Err(TransferError::Count(count));
    }
    header
        .get(8..8 + count * 8)
        .ok_or(TransferError::Count(count))
}

/// Whether the range `offset`/`len` of the receive buffer can be taken: inside the buffer of
/// `buffer_len` bytes, not empty, no longer than a section and the copy buffer, 8-aligned.
pub(crate) fn range_ok(offset: u32, len: u32, buffer_len: usize, limit: usize) -> bool {
    let (offset, len) = (offset as usize, len as usize);
    len != 0
        && len <= limit
        && offset % 8 == 0
        && offset.checked_add(len).is_some_and(|end| end <= buffer_len)
}

/// What is wrong with the ranges of a transfer-page packet taken together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RangeSetError {
    /// More ranges than the receive buffer has sections: no host has that many messages in
    /// one buffer.
    TooMany(usize),
    /// Two ranges share bytes (the one starting at this offset overlaps the one before it):
    /// the host would have the same bytes received twice, or many times over (a few
    /// thousand overlapping ranges make a poll of hundreds of thousands of frames).
    Overlap(u32),
}

/// Checks the ranges `ranges` (8 bytes each, as [`ranges`] returns them) of one packet as a
/// set: no more than `sections`, the receive buffer's section count, and no two sharing a
/// byte. `scratch` takes a sorted copy (it must hold a slot per range; `TooMany` if not).
pub(crate) fn range_set_ok(
    ranges: &[u8],
    sections: usize,
    scratch: &mut [u64],
) -> Result<(), RangeSetError> {
    let count = ranges.len() / 8;
    if count > sections || count > scratch.len() {
        return Err(RangeSetError::TooMany(count));
    }
    let sorted = &mut scratch[..count];
    for (i, slot) in sorted.iter_mut().enumerate() {
        *slot = range_at(ranges, i);
    }
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        // CAST: the halves of the packed value.
        let (offset, len) = ((pair[0] >> 32) as u32, pair[0] as u32);
        let next = (pair[1] >> 32) as u32;
        if u64::from(offset) + u64::from(len) > u64::from(next) {
            return Err(RangeSetError::Overlap(next));
        }
    }
    Ok(())
}

/// Range `i` of the range bytes `ranges` as one number, its offset in the high half and its
/// length in the low half (0 past the end).
pub(crate) fn range_at(ranges: &[u8], i: usize) -> u64 {
    let at = i * 8;
    match ranges.get(at..at + 8) {
        Some(r) => {
            let len = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
            let offset = u32::from_le_bytes([r[4], r[5], r[6], r[7]]);
            u64::from(offset) << 32 | u64::from(len)
        }
        None => 0,
    }
}

/// Whom a completion's transaction id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransId {
    /// A request waiting in `control`.
    Request(u64),
    /// A section sent on queue `queue`.
    Data {
        /// The queue.
        queue: u16,
        /// The section and its use.
        lease: Lease,
    },
    /// Nothing the guest sent.
    Unknown,
}

/// Decodes a completion's transaction id.
pub(crate) fn trans_id(id: u64) -> TransId {
    if id & REQUEST_TRANS_BIT != 0 {
        TransId::Request(id)
    } else if id & DATA_TRANS_BIT != 0 && id >> 48 & 0x3fff == 0 {
        TransId::Data {
            // CAST: bits 32..48.
            queue: (id >> 32) as u16,
            lease: Lease {
                // CAST: bits 0..16.
                index: u32::from(id as u16),
                // CAST: bits 16..32.
                generation: (id >> 16) as u16,
            },
        }
    } else {
        TransId::Unknown
    }
}

// Section indexes fit the 16 bits the transaction id has for them.
const _: () = assert!(MAX_SECTIONS <= 1 << 16);

/// The transaction id of `lease`'s section sent on queue `queue`: the queue in bits 32..48,
/// the generation in 16..32, the section in 0..16.
pub(crate) fn data_trans_id(queue: u16, lease: Lease) -> u64 {
    DATA_TRANS_BIT
        | u64::from(queue) << 32
        | u64::from(lease.generation) << 16
        | u64::from(lease.index & 0xffff)
}
