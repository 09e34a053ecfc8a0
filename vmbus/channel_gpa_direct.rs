// SPDX-License-Identifier: GPL-2.0
//! GPA-direct sends: a packet that describes guest pages for the host to read or write
//! directly (storage data, large network frames), with one or more page ranges. The host
//! completes each such packet when it is done with the pages.

use super::{Channel, GpaDirectRange, MAX_GPA_DIRECT_PAGES};
use crate::platform::page::HV_PAGE_SIZE;
use crate::proto::ring::{
    GpaDirectHeader, PacketDescriptor, PacketType, PACKET_FLAG_COMPLETION_REQUESTED,
};
use crate::proto::vmbus::GpaRange;
use kernel::prelude::*;
use zerocopy::IntoBytes;

/// Checks one range against its page list: `len` bytes from `offset` into the first of
/// `pfns`, every page named, the offset inside the first page.
fn checked_range(offset: u32, len: u32, pfns: &[u64]) -> Result<GpaRange> {
    let range = GpaRange {
        byte_count: len,
        byte_offset: offset,
    };
    let pages = range.page_count().ok_or(EINVAL)? as usize;
    if pages == 0 || pages != pfns.len() || offset as usize >= HV_PAGE_SIZE {
        return Err(EINVAL);
    }
    Ok(range)
}

/// The header of a GPA-direct packet of `range_cnt` ranges taking `range_bytes` bytes,
/// carrying `payload_len` bytes, asking for a completion.
fn gpa_direct_header(
    range_cnt: usize,
    range_bytes: usize,
    payload_len: usize,
    trans_id: u64,
) -> Result<GpaDirectHeader> {
    let header_len = core::mem::size_of::<GpaDirectHeader>() + range_bytes;
    let len = header_len + payload_len;
    Ok(GpaDirectHeader {
        descriptor: PacketDescriptor {
            packet_type: PacketType::DataUsingGpaDirect as u16,
            offset8: u16::try_from(header_len / 8).map_err(|_| EMSGSIZE)?,
            len8: u16::try_from(len.div_ceil(8)).map_err(|_| EMSGSIZE)?,
            flags: PACKET_FLAG_COMPLETION_REQUESTED,
            trans_id,
        },
        reserved: 0,
        range_cnt: u32::try_from(range_cnt).map_err(|_| EINVAL)?,
    })
}

impl Channel {
    /// Sends `payload` with the guest pages `ranges` described for the host to access
    /// directly (a GPA-direct packet); always asks for a completion, as the host must say
    /// when it is done with the pages. Leaves the interrupt to the caller, as
    /// [`Channel::send_batched`] does: returns whether the host must be signalled
    /// ([`Channel::signal`]).
    #[inline(never)]
    pub fn send_gpa_direct_batched(
        &self,
        ranges: &[GpaDirectRange<'_>],
        payload: &[u8],
        trans_id: u64,
    ) -> Result<bool> {
        let mut table = [0u64; MAX_GPA_DIRECT_PAGES + 8];
        let mut words = 0;
        for r in ranges {
            checked_range(r.offset, r.len, r.pfns)?;
            let pages = r.pfns.len();
            let dst = table.get_mut(words..words + 1 + pages).ok_or(EMSGSIZE)?;
            dst[0] = u64::from(r.offset) << 32 | u64::from(r.len);
            for (d, s) in dst[1..].iter_mut().zip(r.pfns) {
                *d = *s;
            }
            words += 1 + pages;
        }
        let header = gpa_direct_header(ranges.len(), 8 * words, payload.len(), trans_id)?;
        self.write_unsignalled(&[header.as_bytes(), table[..words].as_bytes(), payload])
    }

    /// Sends `payload` with one page range, `len` bytes from `offset` into the first of
    /// `pfns`, as a GPA-direct packet, without copying the page list (for ranges longer than
    /// [`MAX_GPA_DIRECT_PAGES`]); like [`Channel::send_gpa_direct_batched`] it asks for a
    /// completion and returns whether the host must be signalled.
    #[inline(never)]
    pub fn send_gpa_direct_pages_batched(
        &self,
        offset: u32,
        len: u32,
        pfns: &[u64],
        payload: &[u8],
        trans_id: u64,
    ) -> Result<bool> {
        let range = checked_range(offset, len, pfns)?;
        let range_bytes = core::mem::size_of::<GpaRange>() + core::mem::size_of_val(pfns);
        let header = gpa_direct_header(1, range_bytes, payload.len(), trans_id)?;
        self.write_unsignalled(&[
            header.as_bytes(),
            range.as_bytes(),
            pfns.as_bytes(),
            payload,
        ])
    }
}
