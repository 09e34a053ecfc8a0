// SPDX-License-Identifier: GPL-2.0
//! GPADLs (guest physical address descriptor lists): how the guest describes memory it
//! shares with the host, ring buffers included. A GPADL arrives as one GPADL_HEADER and as many
//! GPADL_BODY messages as its page list needs (26 PFNs fit in the header, 28 in each body, see
//! `create_gpadl_header()` in drivers/hv/channel.c); once `range_buflen` bytes of range
//! descriptions have arrived it is validated — page counts, offsets, every PFN inside guest
//! RAM — and answered with GPADL_CREATED.
//!
//! This file is the bookkeeping only (a plain state machine); the server sends the answers.

use std::collections::BTreeMap;

use rhv_proto::vmbus::{self as proto, GpaRange};
use zerocopy::FromBytes;

/// GPADLs being assembled at once; more is a misbehaving guest.
const MAX_PENDING_GPADLS: usize = 64;
/// Complete GPADLs per connection.
const MAX_GPADLS: usize = 8192;

/// Why a GPADL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GpadlError {
    #[error("GPADL id {0:#x} is already in use")]
    Duplicate(u32),
    #[error("GPADL id {0:#x} is unknown")]
    Unknown(u32),
    #[error("malformed GPADL: {0}")]
    Malformed(&'static str),
    #[error("more PFN bytes than range_buflen announced")]
    Overrun,
    #[error("PFN {pfn:#x} is outside guest RAM ({ram_size:#x} bytes)")]
    OutsideRam { pfn: u64, ram_size: u64 },
    #[error("too many GPADLs")]
    TooMany,
}

/// One range of a complete GPADL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpadlRange {
    /// Offset of the range in its first page.
    pub byte_offset: u32,
    /// Length of the range.
    pub byte_count: u32,
    /// Guest page frame numbers (4 KiB) the range covers.
    pub pfns: Vec<u64>,
}

/// A complete, validated GPADL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gpadl {
    /// Channel it was created for.
    pub relid: u32,
    /// Its ranges, in order.
    pub ranges: Vec<GpadlRange>,
}

impl Gpadl {
    /// The PFNs of a GPADL made of whole pages in a single range (what a ring buffer GPADL
    /// must be), or `None`.
    pub fn whole_pages(&self) -> Option<&[u64]> {
        match self.ranges.as_slice() {
            [r] if r.byte_offset == 0 && u64::from(r.byte_count) % proto::HV_PAGE_SIZE == 0 => {
                Some(&r.pfns)
            }
            _ => None,
        }
    }

    /// Total pages in all ranges.
    #[cfg(test)]
    pub fn page_count(&self) -> usize {
        self.ranges.iter().map(|r| r.pfns.len()).sum()
    }
}

/// What a GPADL message led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpadlProgress {
    /// More GPADL_BODY messages are needed.
    Incomplete,
    /// The GPADL is complete and valid: answer GPADL_CREATED with success.
    Created { relid: u32, gpadl: u32 },
    /// The GPADL is refused and forgotten: answer GPADL_CREATED with a failure status.
    Failed {
        relid: u32,
        gpadl: u32,
        error: GpadlError,
    },
}

#[derive(Debug)]
struct PendingGpadl {
    relid: u32,
    rangecount: u16,
    range_buflen: usize,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct Entry {
    gpadl: Gpadl,
    /// The guest asked to tear it down while a channel still used it: answer on close.
    teardown_requested: bool,
}

/// Every GPADL of the connection, complete or being assembled, by GPADL id.
#[derive(Debug, Default)]
pub struct GpadlTable {
    complete: BTreeMap<u32, Entry>,
    pending: BTreeMap<u32, PendingGpadl>,
}

impl GpadlTable {
    /// Starts a GPADL from its header message; `rest` is the bytes after the fixed part.
    pub fn on_header(
        &mut self,
        header: &proto::GpadlHeader,
        rest: &[u8],
        ram_size: u64,
    ) -> GpadlProgress {
        let relid = header.child_relid;
        let gpadl = header.gpadl;
        let fail = |error| GpadlProgress::Failed {
            relid,
            gpadl,
            error,
        };
        if self.complete.contains_key(&gpadl) || self.pending.contains_key(&gpadl) {
            return fail(GpadlError::Duplicate(gpadl));
        }
        if self.pending.len() >= MAX_PENDING_GPADLS || self.complete.len() >= MAX_GPADLS {
            return fail(GpadlError::TooMany);
        }
        let range_buflen = usize::from(header.range_buflen);
        let min_len = usize::from(header.rangecount) * 16;
        if header.rangecount == 0 || !range_buflen.is_multiple_of(8) || range_buflen < min_len {
            return fail(GpadlError::Malformed(
                "range count and buffer length disagree",
            ));
        }
        if !rest.len().is_multiple_of(8) {
            return fail(GpadlError::Malformed("header carries a partial PFN"));
        }
        if rest.len() > range_buflen {
            return fail(GpadlError::Overrun);
        }
        let pending = PendingGpadl {
            relid,
            rangecount: header.rangecount,
            range_buflen,
            bytes: rest.to_vec(),
        };
        self.pending.insert(gpadl, pending);
        self.try_complete(gpadl, ram_size)
    }

    /// Adds the PFNs of a body message. `Err` means the body names no GPADL being assembled:
    /// there is no relid to answer to, so the caller only logs it.
    pub fn on_body(
        &mut self,
        body: &proto::GpadlBody,
        rest: &[u8],
        ram_size: u64,
    ) -> Result<GpadlProgress, GpadlError> {
        let gpadl = body.gpadl;
        let pending = self
            .pending
            .get_mut(&gpadl)
            .ok_or(GpadlError::Unknown(gpadl))?;
        let relid = pending.relid;
        let error = if !rest.len().is_multiple_of(8) {
            Some(GpadlError::Malformed("body carries a partial PFN"))
        } else if rest.is_empty() {
            Some(GpadlError::Malformed("empty body"))
        } else if pending.bytes.len() + rest.len() > pending.range_buflen {
            Some(GpadlError::Overrun)
        } else {
            pending.bytes.extend_from_slice(rest);
            None
        };
        if let Some(error) = error {
            self.pending.remove(&gpadl);
            return Ok(GpadlProgress::Failed {
                relid,
                gpadl,
                error,
            });
        }
        Ok(self.try_complete(gpadl, ram_size))
    }

    fn try_complete(&mut self, id: u32, ram_size: u64) -> GpadlProgress {
        let Some(pending) = self.pending.get(&id) else {
            return GpadlProgress::Incomplete;
        };
        if pending.bytes.len() < pending.range_buflen {
            return GpadlProgress::Incomplete;
        }
        let Some(pending) = self.pending.remove(&id) else {
            return GpadlProgress::Incomplete;
        };
        let relid = pending.relid;
        match parse_ranges(&pending.bytes, pending.rangecount, ram_size) {
            Ok(ranges) => {
                let gpadl = Gpadl { relid, ranges };
                self.complete.insert(
                    id,
                    Entry {
                        gpadl,
                        teardown_requested: false,
                    },
                );
                GpadlProgress::Created { relid, gpadl: id }
            }
            Err(error) => GpadlProgress::Failed {
                relid,
                gpadl: id,
                error,
            },
        }
    }

    /// A complete GPADL.
    pub fn get(&self, id: u32) -> Option<&Gpadl> {
        self.complete.get(&id).map(|e| &e.gpadl)
    }

    /// Whether `id` is still being assembled.
    #[cfg(test)]
    pub fn is_pending(&self, id: u32) -> bool {
        self.pending.contains_key(&id)
    }

    /// Forgets a GPADL, complete or not. Returns the relid it belonged to.
    pub fn remove(&mut self, id: u32) -> Option<u32> {
        if let Some(e) = self.complete.remove(&id) {
            return Some(e.gpadl.relid);
        }
        self.pending.remove(&id).map(|p| p.relid)
    }

    /// Remembers that the guest wants `id` torn down once its channel closes.
    pub fn defer_teardown(&mut self, id: u32) {
        if let Some(e) = self.complete.get_mut(&id) {
            e.teardown_requested = true;
        }
    }

    /// Whether a teardown of `id` is waiting for its channel to close.
    pub fn teardown_deferred(&self, id: u32) -> bool {
        self.complete.get(&id).is_some_and(|e| e.teardown_requested)
    }

    /// Drops every GPADL of a channel (the guest released its relid).
    pub fn remove_channel(&mut self, relid: u32) {
        self.complete.retain(|_, e| e.gpadl.relid != relid);
        self.pending.retain(|_, p| p.relid != relid);
    }

    /// Drops everything (UNLOAD or a new INITIATE_CONTACT).
    pub fn clear(&mut self) {
        self.complete.clear();
        self.pending.clear();
    }

    /// Number of complete GPADLs.
    pub fn len(&self) -> usize {
        self.complete.len()
    }
}

/// Splits the range buffer into ranges and checks every PFN against guest RAM.
fn parse_ranges(
    mut bytes: &[u8],
    count: u16,
    ram_size: u64,
) -> Result<Vec<GpadlRange>, GpadlError> {
    let ram_pages = ram_size / proto::HV_PAGE_SIZE;
    let mut ranges = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let (range, rest) = GpaRange::read_from_prefix(bytes)
            .map_err(|_| GpadlError::Malformed("range header past the buffer"))?;
        if range.byte_count == 0 {
            return Err(GpadlError::Malformed("empty range"));
        }
        if u64::from(range.byte_offset) >= proto::HV_PAGE_SIZE {
            return Err(GpadlError::Malformed("range offset beyond its first page"));
        }
        let pages = range
            .page_count()
            .ok_or(GpadlError::Malformed("range too long"))?;
        let pfn_bytes = usize::try_from(pages)
            .ok()
            .and_then(|p| p.checked_mul(8))
            .filter(|&n| n <= rest.len())
            .ok_or(GpadlError::Malformed(
                "range has fewer PFNs than its length needs",
            ))?;
        let (pfn_part, rest) = rest.split_at(pfn_bytes);
        let mut pfns = Vec::with_capacity(pfn_bytes / 8);
        for chunk in pfn_part.chunks_exact(8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let pfn = u64::from_le_bytes(word);
            if pfn >= ram_pages {
                return Err(GpadlError::OutsideRam { pfn, ram_size });
            }
            pfns.push(pfn);
        }
        ranges.push(GpadlRange {
            byte_offset: range.byte_offset,
            byte_count: range.byte_count,
            pfns,
        });
        bytes = rest;
    }
    if !bytes.is_empty() {
        return Err(GpadlError::Malformed("range_buflen longer than the ranges"));
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::{FromZeros, IntoBytes};

    const RAM: u64 = 64 << 20;

    fn header(relid: u32, gpadl: u32, rangecount: u16, range_buflen: u16) -> proto::GpadlHeader {
        let mut h = proto::GpadlHeader::new_zeroed();
        h.header = proto::MessageHeader::new(proto::MessageType::GpadlHeader);
        h.child_relid = relid;
        h.gpadl = gpadl;
        h.rangecount = rangecount;
        h.range_buflen = range_buflen;
        h
    }

    fn body(gpadl: u32) -> proto::GpadlBody {
        let mut b = proto::GpadlBody::new_zeroed();
        b.header = proto::MessageHeader::new(proto::MessageType::GpadlBody);
        b.gpadl = gpadl;
        b
    }

    fn range_bytes(byte_count: u32, byte_offset: u32, pfns: &[u64]) -> Vec<u8> {
        let mut v = GpaRange {
            byte_count,
            byte_offset,
        }
        .as_bytes()
        .to_vec();
        for p in pfns {
            v.extend_from_slice(&p.to_le_bytes());
        }
        v
    }

    /// Feeds a whole range buffer the way Linux splits it.
    fn feed(t: &mut GpadlTable, relid: u32, id: u32, rangecount: u16, buf: &[u8]) -> GpadlProgress {
        let first = buf.len().min(8 + proto::GPADL_HEADER_MAX_PFNS * 8);
        let h = header(relid, id, rangecount, buf.len() as u16);
        let mut progress = t.on_header(&h, &buf[..first], RAM);
        for chunk in buf[first..].chunks(proto::GPADL_BODY_MAX_PFNS * 8) {
            assert_eq!(progress, GpadlProgress::Incomplete);
            progress = t.on_body(&body(id), chunk, RAM).unwrap();
        }
        progress
    }

    #[test]
    fn single_message_gpadl() {
        let mut t = GpadlTable::default();
        let buf = range_bytes(3 * 4096, 0, &[10, 11, 12]);
        assert_eq!(
            feed(&mut t, 1, 0xe1e10, 1, &buf),
            GpadlProgress::Created {
                relid: 1,
                gpadl: 0xe1e10
            }
        );
        let g = t.get(0xe1e10).unwrap();
        assert_eq!(g.whole_pages(), Some(&[10u64, 11, 12][..]));
        assert_eq!(g.page_count(), 3);
    }

    #[test]
    fn many_pages_over_many_body_messages() {
        let mut t = GpadlTable::default();
        let pfns: Vec<u64> = (100..100 + 1000).collect();
        let buf = range_bytes(1000 * 4096, 0, &pfns);
        assert_eq!(
            feed(&mut t, 3, 7, 1, &buf),
            GpadlProgress::Created { relid: 3, gpadl: 7 }
        );
        assert_eq!(t.get(7).unwrap().whole_pages().unwrap(), &pfns[..]);
    }

    #[test]
    fn multiple_ranges_with_offsets() {
        let mut t = GpadlTable::default();
        let mut buf = range_bytes(100, 4000, &[5, 6]);
        buf.extend(range_bytes(4096, 0, &[9]));
        assert_eq!(
            feed(&mut t, 2, 9, 2, &buf),
            GpadlProgress::Created { relid: 2, gpadl: 9 }
        );
        let g = t.get(9).unwrap();
        assert_eq!(g.ranges.len(), 2);
        assert_eq!(g.whole_pages(), None);
        assert_eq!(g.page_count(), 3);
    }

    #[test]
    fn pfn_outside_ram_is_refused() {
        let mut t = GpadlTable::default();
        let buf = range_bytes(2 * 4096, 0, &[1, RAM / 4096]);
        assert!(matches!(
            feed(&mut t, 1, 1, 1, &buf),
            GpadlProgress::Failed {
                error: GpadlError::OutsideRam { .. },
                ..
            }
        ));
        assert!(t.get(1).is_none());
        let buf = range_bytes(4096, 0, &[u64::MAX]);
        assert!(matches!(
            feed(&mut t, 1, 2, 1, &buf),
            GpadlProgress::Failed { .. }
        ));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let mut t = GpadlTable::default();
        let buf = range_bytes(4096, 0, &[1]);
        // No ranges.
        assert!(matches!(
            t.on_header(&header(1, 1, 0, 16), &buf, RAM),
            GpadlProgress::Failed { .. }
        ));
        // Buffer length not a multiple of 8.
        assert!(matches!(
            t.on_header(&header(1, 2, 1, 17), &buf, RAM),
            GpadlProgress::Failed { .. }
        ));
        // More bytes than announced.
        assert!(matches!(
            t.on_header(&header(1, 3, 1, 8), &buf, RAM),
            GpadlProgress::Failed {
                error: GpadlError::Malformed(_) | GpadlError::Overrun,
                ..
            }
        ));
        // Partial PFN.
        assert!(matches!(
            t.on_header(&header(1, 4, 1, 16), &buf[..12], RAM),
            GpadlProgress::Failed { .. }
        ));
        // Byte count needs 2 pages but only 1 PFN is given.
        let short = range_bytes(4097, 0, &[1]);
        assert!(matches!(
            feed(&mut t, 1, 5, 1, &short),
            GpadlProgress::Failed { .. }
        ));
        // Offset past the first page.
        let bad = range_bytes(16, 4096, &[1, 2]);
        assert!(matches!(
            feed(&mut t, 1, 6, 1, &bad),
            GpadlProgress::Failed { .. }
        ));
        // Empty range.
        let bad = range_bytes(0, 0, &[1]);
        assert!(matches!(
            feed(&mut t, 1, 7, 1, &bad),
            GpadlProgress::Failed { .. }
        ));
        // Trailing garbage after the last range.
        let mut bad = range_bytes(4096, 0, &[1]);
        bad.extend_from_slice(&[0; 8]);
        assert!(matches!(
            feed(&mut t, 1, 8, 1, &bad),
            GpadlProgress::Failed { .. }
        ));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn body_errors() {
        let mut t = GpadlTable::default();
        assert_eq!(
            t.on_body(&body(42), &[0; 8], RAM),
            Err(GpadlError::Unknown(42))
        );
        let pfns: Vec<u64> = (0..40).collect();
        let buf = range_bytes(40 * 4096, 0, &pfns);
        let first = 8 + 26 * 8;
        assert_eq!(
            t.on_header(&header(1, 5, 1, buf.len() as u16), &buf[..first], RAM),
            GpadlProgress::Incomplete
        );
        assert!(t.is_pending(5));
        // Too many PFNs in the body.
        let mut long = buf[first..].to_vec();
        long.extend_from_slice(&[0; 8]);
        assert!(matches!(
            t.on_body(&body(5), &long, RAM),
            Ok(GpadlProgress::Failed {
                error: GpadlError::Overrun,
                ..
            })
        ));
        assert!(!t.is_pending(5));
        // Partial PFN in a body.
        assert_eq!(
            t.on_header(&header(1, 6, 1, buf.len() as u16), &buf[..first], RAM),
            GpadlProgress::Incomplete
        );
        assert!(matches!(
            t.on_body(&body(6), &buf[first..first + 5], RAM),
            Ok(GpadlProgress::Failed { .. })
        ));
    }

    #[test]
    fn duplicates_teardown_and_channel_cleanup() {
        let mut t = GpadlTable::default();
        let buf = range_bytes(4096, 0, &[1]);
        assert!(matches!(
            feed(&mut t, 1, 1, 1, &buf),
            GpadlProgress::Created { .. }
        ));
        assert!(matches!(
            feed(&mut t, 2, 1, 1, &buf),
            GpadlProgress::Failed {
                error: GpadlError::Duplicate(1),
                ..
            }
        ));
        assert_eq!(t.get(1).unwrap().relid, 1);
        t.defer_teardown(1);
        assert!(t.teardown_deferred(1));
        assert!(matches!(
            feed(&mut t, 2, 2, 1, &buf),
            GpadlProgress::Created { .. }
        ));
        t.remove_channel(1);
        assert!(t.get(1).is_none());
        assert_eq!(t.remove(2), Some(2));
        assert_eq!(t.remove(2), None);
    }
}
