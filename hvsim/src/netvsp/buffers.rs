// SPDX-License-Identifier: GPL-2.0
//! Guest memory the NIC moves frames through: the receive and send buffers (each one GPADL of
//! whole pages that the guest hands over with NVSP) and the GPA-direct page ranges of a
//! guest's data packet (`struct vmbus_packet_mpb_array` in include/linux/hyperv.h).
//!
//! Offsets and lengths come from the guest, so every access is checked against the buffer
//! and every page against guest RAM (the latter by [`GuestMemory`] itself).

use rhv_proto::vmbus::{GpaRange, HV_PAGE_SIZE};
use zerocopy::FromBytes;

use crate::memory::{GuestMemory, MemoryError};
use crate::vmbus::Gpadl;

/// A bad buffer or page range from the guest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BufferError {
    #[error("GPADL {0:#x} does not exist")]
    NoGpadl(u32),
    #[error("GPADL {gpadl:#x} belongs to relid {owner}, not to this NIC")]
    NotOurs { gpadl: u32, owner: u32 },
    #[error("GPADL {0:#x} is not one range")]
    NotOneRange(u32),
    #[error("{offset:#x}+{len:#x} is outside the {size:#x}-byte buffer")]
    OutOfBounds { offset: u64, len: u64, size: u64 },
    #[error("malformed GPA-direct ranges: {0}")]
    BadRanges(&'static str),
    #[error("packet data of more than {0} bytes")]
    TooLong(usize),
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

/// A guest buffer behind a GPADL: the PFNs are copied when the guest hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestBuffer {
    gpadl: u32,
    pfns: Vec<u64>,
    byte_offset: u64,
    len: u64,
}

impl GuestBuffer {
    /// The buffer of GPADL `id`, which must belong to the channel `relid` and be one range.
    pub fn from_gpadl(id: u32, gpadl: Option<&Gpadl>, relid: u32) -> Result<Self, BufferError> {
        let g = gpadl.ok_or(BufferError::NoGpadl(id))?;
        if g.relid != relid {
            return Err(BufferError::NotOurs {
                gpadl: id,
                owner: g.relid,
            });
        }
        let [range] = g.ranges.as_slice() else {
            return Err(BufferError::NotOneRange(id));
        };
        Ok(Self {
            gpadl: id,
            pfns: range.pfns.clone(),
            byte_offset: u64::from(range.byte_offset),
            len: u64::from(range.byte_count),
        })
    }

    /// The GPADL id.
    pub fn gpadl(&self) -> u32 {
        self.gpadl
    }

    /// Bytes in the buffer.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Splits `offset..offset+len` into (GPA, length) pieces that stay within one page.
    fn pieces(
        &self,
        offset: u64,
        len: usize,
        mut each: impl FnMut(u64, std::ops::Range<usize>) -> Result<(), MemoryError>,
    ) -> Result<(), BufferError> {
        let end = offset.checked_add(len as u64);
        if end.is_none_or(|e| e > self.len) {
            return Err(BufferError::OutOfBounds {
                offset,
                len: len as u64,
                size: self.len,
            });
        }
        let mut done = 0usize;
        while done < len {
            let at = self.byte_offset + offset + done as u64;
            let in_page = at % HV_PAGE_SIZE;
            let chunk = ((HV_PAGE_SIZE - in_page) as usize).min(len - done);
            // The GPADL checks made its PFNs cover byte_offset + len; stay defensive anyway.
            let pfn = usize::try_from(at / HV_PAGE_SIZE)
                .ok()
                .and_then(|i| self.pfns.get(i))
                .ok_or(BufferError::OutOfBounds {
                    offset,
                    len: len as u64,
                    size: self.len,
                })?;
            let gpa = pfn
                .checked_mul(HV_PAGE_SIZE)
                .map(|base| base + in_page)
                .ok_or(MemoryError {
                    gpa: *pfn,
                    len: chunk as u64,
                })?;
            each(gpa, done..done + chunk)?;
            done += chunk;
        }
        Ok(())
    }

    /// Copies `out.len()` bytes from `offset` of the buffer.
    pub fn read(
        &self,
        mem: &dyn GuestMemory,
        offset: u64,
        out: &mut [u8],
    ) -> Result<(), BufferError> {
        let len = out.len();
        self.pieces(offset, len, |gpa, r| mem.read_at(gpa, &mut out[r]))
    }

    /// Copies `data` to `offset` of the buffer.
    pub fn write(
        &self,
        mem: &dyn GuestMemory,
        offset: u64,
        data: &[u8],
    ) -> Result<(), BufferError> {
        self.pieces(offset, data.len(), |gpa, r| mem.write_at(gpa, &data[r]))
    }
}

/// One range of a GPA-direct packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRange {
    /// Offset in the first page.
    pub byte_offset: u32,
    /// Length.
    pub byte_count: u32,
    /// The pages.
    pub pfns: Vec<u64>,
}

/// Parses the bytes between a GPA-direct packet's descriptor and its payload: a reserved
/// word, the range count, then each range with its PFNs.
pub fn parse_page_ranges(extra: &[u8]) -> Result<Vec<PageRange>, BufferError> {
    let word = |b: &[u8], at: usize| -> Option<u32> {
        let mut w = [0u8; 4];
        w.copy_from_slice(b.get(at..at + 4)?);
        Some(u32::from_le_bytes(w))
    };
    let count = word(extra, 4).ok_or(BufferError::BadRanges("no range count"))?;
    let mut rest = &extra[8..];
    // Each range takes at least 16 bytes: a cheap bound before allocating.
    if count as usize > rest.len() / 16 {
        return Err(BufferError::BadRanges("more ranges than the packet holds"));
    }
    let mut ranges = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (r, after) = GpaRange::read_from_prefix(rest)
            .map_err(|_| BufferError::BadRanges("range header past the packet"))?;
        if u64::from(r.byte_offset) >= HV_PAGE_SIZE || r.byte_count == 0 {
            return Err(BufferError::BadRanges(
                "empty range or offset beyond its page",
            ));
        }
        let pages = r
            .page_count()
            .ok_or(BufferError::BadRanges("range too long"))?;
        let n = usize::try_from(pages)
            .ok()
            .and_then(|p| p.checked_mul(8))
            .filter(|&n| n <= after.len())
            .ok_or(BufferError::BadRanges("fewer PFNs than the range needs"))?;
        let (pfn_bytes, after) = after.split_at(n);
        let pfns = pfn_bytes
            .chunks_exact(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect();
        ranges.push(PageRange {
            byte_offset: r.byte_offset,
            byte_count: r.byte_count,
            pfns,
        });
        rest = after;
    }
    Ok(ranges)
}

/// Appends the bytes of `ranges` to `out`, refusing to grow it past `limit` bytes.
pub fn read_page_ranges(
    mem: &dyn GuestMemory,
    ranges: &[PageRange],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), BufferError> {
    for r in ranges {
        let len = r.byte_count as usize;
        if out.len() + len > limit {
            return Err(BufferError::TooLong(limit));
        }
        let buffer = GuestBuffer {
            gpadl: 0,
            pfns: r.pfns.clone(),
            byte_offset: u64::from(r.byte_offset),
            len: len as u64,
        };
        let start = out.len();
        out.resize(start + len, 0);
        buffer.read(mem, 0, &mut out[start..])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::VecMemory;
    use crate::vmbus::GpadlRange;
    use zerocopy::IntoBytes;

    fn gpadl(relid: u32, byte_offset: u32, byte_count: u32, pfns: &[u64]) -> Gpadl {
        Gpadl {
            relid,
            ranges: vec![GpadlRange {
                byte_offset,
                byte_count,
                pfns: pfns.to_vec(),
            }],
        }
    }

    #[test]
    fn buffers_map_offsets_to_scattered_pages() {
        let mem = VecMemory::new(64 << 12);
        let g = gpadl(3, 0, 3 * 4096, &[10, 5, 20]);
        let b = GuestBuffer::from_gpadl(7, Some(&g), 3).unwrap();
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        b.write(&mem, 4000, &data).unwrap();
        let mut head = [0u8; 96];
        mem.read_at(10 * 4096 + 4000, &mut head).unwrap();
        assert_eq!(&head[..], &data[..96]);
        let mut mid = [0u8; 4096];
        mem.read_at(5 * 4096, &mut mid).unwrap();
        assert_eq!(&mid[..], &data[96..96 + 4096]);
        let mut back = vec![0u8; 5000];
        b.read(&mem, 4000, &mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn buffers_refuse_foreign_split_and_out_of_bounds() {
        let mem = VecMemory::new(16 << 12);
        assert_eq!(
            GuestBuffer::from_gpadl(1, None, 3),
            Err(BufferError::NoGpadl(1))
        );
        let g = gpadl(4, 0, 4096, &[1]);
        assert!(matches!(
            GuestBuffer::from_gpadl(1, Some(&g), 3),
            Err(BufferError::NotOurs { owner: 4, .. })
        ));
        let mut two = gpadl(3, 0, 4096, &[1]);
        two.ranges.push(two.ranges[0].clone());
        assert_eq!(
            GuestBuffer::from_gpadl(1, Some(&two), 3),
            Err(BufferError::NotOneRange(1))
        );
        let b = GuestBuffer::from_gpadl(1, Some(&gpadl(3, 0, 8192, &[1, 2])), 3).unwrap();
        for (offset, len) in [(8192, 1), (8000, 193), (u64::MAX, 2)] {
            assert!(matches!(
                b.write(&mem, offset, &vec![0; len]),
                Err(BufferError::OutOfBounds { .. })
            ));
        }
        // A PFN outside guest RAM fails at the access.
        let b = GuestBuffer::from_gpadl(1, Some(&gpadl(3, 0, 4096, &[99])), 3).unwrap();
        assert!(matches!(
            b.read(&mem, 0, &mut [0; 4]),
            Err(BufferError::Memory(_))
        ));
    }

    fn ranges_bytes(ranges: &[(u32, u32, &[u64])]) -> Vec<u8> {
        let mut v = vec![0u8; 4];
        v.extend_from_slice(&(ranges.len() as u32).to_le_bytes());
        for (offset, count, pfns) in ranges {
            v.extend_from_slice(
                GpaRange {
                    byte_count: *count,
                    byte_offset: *offset,
                }
                .as_bytes(),
            );
            for p in *pfns {
                v.extend_from_slice(&p.to_le_bytes());
            }
        }
        v
    }

    #[test]
    fn page_ranges_parse_and_read() {
        let mem = VecMemory::new(16 << 12);
        mem.write_at(2 * 4096 + 4090, b"abcdef").unwrap();
        mem.write_at(7 * 4096, b"ghij").unwrap();
        mem.write_at(3 * 4096 + 100, b"XYZ").unwrap();
        let extra = ranges_bytes(&[(4090, 10, &[2, 7]), (100, 3, &[3])]);
        let ranges = parse_page_ranges(&extra).unwrap();
        assert_eq!(ranges.len(), 2);
        let mut out = Vec::new();
        read_page_ranges(&mem, &ranges, &mut out, 1 << 16).unwrap();
        assert_eq!(out, b"abcdefghijXYZ");
        let mut out = vec![0; 10];
        assert_eq!(
            read_page_ranges(&mem, &ranges, &mut out, 20),
            Err(BufferError::TooLong(20))
        );
    }

    #[test]
    fn malformed_page_ranges_are_refused() {
        let bad = [
            vec![0u8; 7],
            ranges_bytes(&[(0, 4097, &[1])]),
            ranges_bytes(&[(4096, 1, &[1, 2])]),
            ranges_bytes(&[(0, 0, &[1])]),
            {
                let mut v = ranges_bytes(&[(0, 10, &[1])]);
                v[4] = 2;
                v
            },
            {
                let mut v = ranges_bytes(&[(0, 10, &[1])]);
                v[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
                v
            },
            ranges_bytes(&[(0, u32::MAX, &[1])]),
        ];
        for (i, b) in bad.iter().enumerate() {
            assert!(parse_page_ranges(b).is_err(), "case {i}");
        }
        // PFNs beyond guest RAM parse, then fail to read.
        let mem = VecMemory::new(4 << 12);
        let r = parse_page_ranges(&ranges_bytes(&[(0, 8, &[1 << 40])])).unwrap();
        assert!(matches!(
            read_page_ranges(&mem, &r, &mut Vec::new(), 100),
            Err(BufferError::Memory(_))
        ));
    }
}
