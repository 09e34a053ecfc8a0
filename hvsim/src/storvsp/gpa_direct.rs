// SPDX-License-Identifier: GPL-2.0
//! The data buffer of an EXECUTE_SRB: the guest pages a GPA-direct packet lists (Linux's
//! `vmbus_sendpacket_mpb_desc()`, `struct vmbus_packet_mpb_array` in
//! `include/linux/hyperv.h`), checked page by page against guest RAM and read or written
//! through [`GuestMemory`] — never mapped, so the guest cannot change what the host checked.
//!
//! Layout of the packet's extra header (after the 16-byte descriptor): a reserved `u32`, the
//! range count, then per range a `GpaRange` (byte count, byte offset in the first page) and
//! one 4 KiB PFN per page the range touches.

use rhv_proto::vmbus::{GpaRange, HV_PAGE_SIZE};
use zerocopy::FromBytes;

use crate::memory::GuestMemory;
use crate::scsi::{DataBuffer, DataError, Direction};

/// Most ranges one packet may list (Linux sends one; a page-buffer packet at most 32).
pub const MAX_RANGES: u32 = 64;

/// One range of a GPA-direct packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRange {
    /// Offset of the data in the first page.
    pub byte_offset: u32,
    /// Bytes of data.
    pub byte_count: u32,
    /// The pages, in order.
    pub pfns: Vec<u64>,
}

/// What is wrong with a GPA-direct packet or its buffer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GpaDirectError {
    /// The extra header ends early.
    #[error("GPA-direct header truncated: {needed} bytes needed, {got} present")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// More ranges than the host accepts.
    #[error("{0} ranges in one packet (at most {MAX_RANGES})")]
    TooManyRanges(u32),
    /// A range starts past its first page.
    #[error("range offset {0:#x} is not inside the first page")]
    BadOffset(u32),
    /// Bytes after the last range.
    #[error("{0} stray bytes after the last range")]
    TrailingBytes(usize),
    /// A page is not guest RAM.
    #[error("page {pfn:#x} is outside guest RAM")]
    PageOutsideRam {
        /// The page.
        pfn: u64,
    },
    /// The SRB wants more bytes than the ranges describe.
    #[error("the request moves {wanted} bytes but its pages hold {available}")]
    BufferTooSmall {
        /// Bytes the SRB names.
        wanted: u64,
        /// Bytes the ranges hold.
        available: u64,
    },
}

/// Parses the extra header of a GPA-direct packet into its ranges.
pub fn parse_ranges(extra: &[u8]) -> Result<Vec<PageRange>, GpaDirectError> {
    let truncated = |needed: usize| GpaDirectError::Truncated {
        needed,
        got: extra.len(),
    };
    if extra.len() < 8 {
        return Err(truncated(8));
    }
    let count = u32::from_le_bytes([extra[4], extra[5], extra[6], extra[7]]);
    if count > MAX_RANGES {
        return Err(GpaDirectError::TooManyRanges(count));
    }
    let mut rest = &extra[8..];
    let mut ranges = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let consumed = extra.len() - rest.len();
        let (range, after) =
            GpaRange::read_from_prefix(rest).map_err(|_| truncated(consumed + 8))?;
        if u64::from(range.byte_offset) >= HV_PAGE_SIZE {
            return Err(GpaDirectError::BadOffset(range.byte_offset));
        }
        // Offset below 4 KiB plus a u32 count cannot overflow the page count.
        let pages = range.page_count().unwrap_or(u32::MAX) as usize;
        let pfn_bytes = pages.checked_mul(8).ok_or(truncated(usize::MAX))?;
        if after.len() < pfn_bytes {
            return Err(truncated(consumed + 8 + pfn_bytes));
        }
        let pfns = after[..pfn_bytes]
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                u64::from_le_bytes(b)
            })
            .collect();
        ranges.push(PageRange {
            byte_offset: range.byte_offset,
            byte_count: range.byte_count,
            pfns,
        });
        rest = &after[pfn_bytes..];
    }
    if !rest.is_empty() {
        return Err(GpaDirectError::TrailingBytes(rest.len()));
    }
    Ok(ranges)
}

/// A contiguous piece of guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    gpa: u64,
    len: usize,
}

/// The first `len` bytes of a request's ranges, as a [`DataBuffer`].
pub struct GuestBuffer<'a> {
    mem: &'a dyn GuestMemory,
    segments: Vec<Segment>,
    len: usize,
    direction: Direction,
}

impl std::fmt::Debug for GuestBuffer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestBuffer")
            .field("segments", &self.segments)
            .field("len", &self.len)
            .field("direction", &self.direction)
            .finish()
    }
}

impl<'a> GuestBuffer<'a> {
    /// The buffer of `len` bytes over `ranges`: every page must be guest RAM and the ranges
    /// must hold `len` bytes. Physically contiguous pages merge into one segment.
    pub fn new(
        mem: &'a dyn GuestMemory,
        ranges: &[PageRange],
        len: u64,
        direction: Direction,
    ) -> Result<Self, GpaDirectError> {
        let available: u64 = ranges.iter().map(|r| u64::from(r.byte_count)).sum();
        let too_small = GpaDirectError::BufferTooSmall {
            wanted: len,
            available,
        };
        if len > available {
            return Err(too_small);
        }
        let len = usize::try_from(len).map_err(|_| too_small)?;
        let ram = mem.size();
        let mut segments: Vec<Segment> = Vec::new();
        let mut left = len;
        for r in ranges {
            if u64::from(r.byte_offset) >= HV_PAGE_SIZE {
                return Err(GpaDirectError::BadOffset(r.byte_offset));
            }
            let mut offset = u64::from(r.byte_offset);
            let mut in_range = r.byte_count as usize;
            for &pfn in &r.pfns {
                let page = pfn
                    .checked_mul(HV_PAGE_SIZE)
                    .filter(|p| p.checked_add(HV_PAGE_SIZE).is_some_and(|end| end <= ram))
                    .ok_or(GpaDirectError::PageOutsideRam { pfn })?;
                // Check every page the guest named, even past `len`.
                let n = ((HV_PAGE_SIZE - offset) as usize).min(in_range).min(left);
                in_range -= ((HV_PAGE_SIZE - offset) as usize).min(in_range);
                if n > 0 {
                    let gpa = page + offset;
                    match segments.last_mut() {
                        Some(s) if s.gpa + s.len as u64 == gpa => s.len += n,
                        _ => segments.push(Segment { gpa, len: n }),
                    }
                    left -= n;
                }
                offset = 0;
            }
        }
        if left > 0 {
            // Fewer pages than the byte counts claim (possible only for hand-built ranges).
            return Err(GpaDirectError::BufferTooSmall {
                wanted: len as u64,
                available: (len - left) as u64,
            });
        }
        Ok(Self {
            mem,
            segments,
            len,
            direction,
        })
    }

    /// A buffer without pages (an in-band request).
    pub fn empty(mem: &'a dyn GuestMemory, direction: Direction) -> Self {
        Self {
            mem,
            segments: Vec::new(),
            len: 0,
            direction,
        }
    }

    /// Calls `f(gpa, start, n)` for each piece of `offset..offset+total`, where `start` is
    /// the position in the caller's slice.
    fn walk(
        &self,
        offset: usize,
        total: usize,
        mut f: impl FnMut(u64, usize, usize) -> Result<(), DataError>,
    ) -> Result<(), DataError> {
        let end = offset
            .checked_add(total)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| {
                DataError::Access(format!(
                    "{total} bytes at {offset} are past the {}-byte buffer",
                    self.len
                ))
            })?;
        let mut seg_start = 0usize;
        let mut pos = offset;
        for s in &self.segments {
            let seg_end = seg_start + s.len;
            if pos < seg_end && pos < end {
                let within = pos - seg_start;
                let n = (seg_end - pos).min(end - pos);
                f(s.gpa + within as u64, pos - offset, n)?;
                pos += n;
            }
            if pos >= end {
                break;
            }
            seg_start = seg_end;
        }
        Ok(())
    }
}

impl DataBuffer for GuestBuffer<'_> {
    fn direction(&self) -> Direction {
        self.direction
    }
    fn len(&self) -> usize {
        self.len
    }
    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), DataError> {
        let mem = self.mem;
        self.walk(offset, buf.len(), |gpa, start, n| {
            mem.read_at(gpa, &mut buf[start..start + n])
                .map_err(|e| DataError::Access(e.to_string()))
        })
    }
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), DataError> {
        let mem = self.mem;
        self.walk(offset, data.len(), |gpa, start, n| {
            mem.write_at(gpa, &data[start..start + n])
                .map_err(|e| DataError::Access(e.to_string()))
        })
    }
}

/// Builds the extra header of a GPA-direct packet (for tests and tools).
pub fn encode_ranges(ranges: &[PageRange]) -> Vec<u8> {
    let mut out = vec![0u8; 8];
    out[4..8].copy_from_slice(&(ranges.len() as u32).to_le_bytes());
    for r in ranges {
        out.extend_from_slice(&r.byte_count.to_le_bytes());
        out.extend_from_slice(&r.byte_offset.to_le_bytes());
        for pfn in &r.pfns {
            out.extend_from_slice(&pfn.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::VecMemory;

    fn range(offset: u32, count: u32, pfns: &[u64]) -> PageRange {
        PageRange {
            byte_offset: offset,
            byte_count: count,
            pfns: pfns.to_vec(),
        }
    }

    #[test]
    fn parses_what_linux_sends() {
        let r = range(0x200, 0x2000, &[10, 11, 12]);
        let extra = encode_ranges(std::slice::from_ref(&r));
        assert_eq!(extra.len(), 16 + 24);
        assert_eq!(parse_ranges(&extra), Ok(vec![r]));
        assert_eq!(parse_ranges(&encode_ranges(&[])), Ok(vec![]));
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let r = range(0, 0x2000, &[1, 2]);
        let extra = encode_ranges(&[r]);
        assert!(matches!(
            parse_ranges(&extra[..4]),
            Err(GpaDirectError::Truncated { .. })
        ));
        assert!(matches!(
            parse_ranges(&extra[..extra.len() - 8]),
            Err(GpaDirectError::Truncated { .. })
        ));
        assert!(matches!(
            parse_ranges(&extra[..12]),
            Err(GpaDirectError::Truncated { .. })
        ));
        let mut long = extra.clone();
        long.extend_from_slice(&[0; 8]);
        assert_eq!(parse_ranges(&long), Err(GpaDirectError::TrailingBytes(8)));
        let mut many = extra.clone();
        many[4..8].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(
            parse_ranges(&many),
            Err(GpaDirectError::TooManyRanges(1000))
        );
        let bad_offset = encode_ranges(&[range(4096, 1, &[1])]);
        assert_eq!(
            parse_ranges(&bad_offset),
            Err(GpaDirectError::BadOffset(4096))
        );
        // A huge byte count needs PFNs that are not there.
        let huge = encode_ranges(&[range(0, u32::MAX, &[1])]);
        assert!(matches!(
            parse_ranges(&huge),
            Err(GpaDirectError::Truncated { .. })
        ));
    }

    #[test]
    fn buffer_walks_pages_and_merges_contiguous_ones() {
        let mem = VecMemory::new(64 << 10);
        let ranges = [range(0x800, 0x2000, &[2, 3, 7])];
        let mut b = GuestBuffer::new(&mem, &ranges, 0x2000, Direction::FromDevice).unwrap();
        assert_eq!(b.segments.len(), 2);
        let data: Vec<u8> = (0..0x2000u32).map(|i| (i % 253) as u8).collect();
        b.write(0, &data).unwrap();
        let mut page = vec![0u8; 0x800];
        mem.read_at(2 * 4096 + 0x800, &mut page).unwrap();
        assert_eq!(&page[..], &data[..0x800]);
        mem.read_at(7 * 4096, &mut page).unwrap();
        assert_eq!(&page[..], &data[0x1800..]);
        let mut back = vec![0u8; 0x1000];
        b.read(0x700, &mut back).unwrap();
        assert_eq!(&back[..], &data[0x700..0x1700]);
        assert!(b.read(0x1800, &mut back).is_err());
        assert!(b.write(usize::MAX, &[1]).is_err());
    }

    #[test]
    fn buffers_outside_ram_or_too_small_are_refused() {
        let mem = VecMemory::new(64 << 10);
        let outside = [range(0, 4096, &[16])];
        assert_eq!(
            GuestBuffer::new(&mem, &outside, 4096, Direction::ToDevice).unwrap_err(),
            GpaDirectError::PageOutsideRam { pfn: 16 }
        );
        let overflow = [range(0, 4096, &[u64::MAX / 2])];
        assert!(GuestBuffer::new(&mem, &overflow, 1, Direction::ToDevice).is_err());
        // Pages past the transfer length are still checked.
        let tail = [range(0, 8192, &[1, 99])];
        assert!(GuestBuffer::new(&mem, &tail, 10, Direction::ToDevice).is_err());
        let ok = [range(0, 4096, &[15])];
        assert_eq!(
            GuestBuffer::new(&mem, &ok, 4097, Direction::ToDevice).unwrap_err(),
            GpaDirectError::BufferTooSmall {
                wanted: 4097,
                available: 4096
            }
        );
        let b = GuestBuffer::new(&mem, &ok, 100, Direction::ToDevice).unwrap();
        assert_eq!(b.len(), 100);
        // Hand-built ranges that contradict themselves.
        let bad_offset = [range(5000, 10, &[1])];
        assert_eq!(
            GuestBuffer::new(&mem, &bad_offset, 10, Direction::ToDevice).unwrap_err(),
            GpaDirectError::BadOffset(5000)
        );
        let missing_pages = [range(0, 8192, &[1])];
        assert!(GuestBuffer::new(&mem, &missing_pages, 8192, Direction::ToDevice).is_err());
    }
}
