// SPDX-License-Identifier: GPL-2.0
//! The guest's side of GPADL creation: how a buffer of N pages is described to the host as
//! one GPADL_HEADER message carrying the single range and its first PFNs, followed by as many
//! GPADL_BODY messages as the remaining PFNs need (the split of `create_gpadl_header()` in
//! `drivers/hv/channel.c`; message layouts in `vmbus_msg.rs`).
//!
//! Pure functions that fill caller-provided message buffers, so that the kernel module and
//! `hvsim`'s tests build the very same bytes. Also compiled into the kernel modules: `core` and
//! `zerocopy` only; expects `vmbus.rs` and `vmbus_msg.rs` as sibling modules.

use super::vmbus::{
    GpaRange, GpadlBody, GpadlHeader, MessageHeader, MessageType, GPADL_BODY_MAX_PFNS,
    GPADL_HEADER_MAX_PFNS, HV_PAGE_SIZE, MAX_MESSAGE_SIZE,
};
use zerocopy::IntoBytes;

/// First GPADL handle the guest hands out (the C driver's starting value, which makes the
/// handles easy to spot in traces).
pub const FIRST_GPADL_HANDLE: u32 = 0x000e_1e10;

/// Why a buffer cannot be described as a GPADL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpadlPlanError {
    /// No pages.
    Empty,
    /// More pages than `range_buflen` (a u16) can describe, or a byte count over 4 GiB.
    TooLarge(usize),
}

/// Largest number of pages one single-range GPADL can describe.
pub const MAX_GPADL_PAGES: usize =
    (u16::MAX as usize - core::mem::size_of::<GpaRange>()) / core::mem::size_of::<u64>();

/// The messages a GPADL of `pages` pages takes: one header plus this many bodies.
pub fn body_count(pages: usize) -> usize {
    pages
        .saturating_sub(GPADL_HEADER_MAX_PFNS)
        .div_ceil(GPADL_BODY_MAX_PFNS)
}

/// Checks that `pages` pages can be one GPADL.
pub fn check_pages(pages: usize) -> Result<(), GpadlPlanError> {
    if pages == 0 {
        return Err(GpadlPlanError::Empty);
    }
    if pages > MAX_GPADL_PAGES || (pages as u64) * HV_PAGE_SIZE > u64::from(u32::MAX) {
        return Err(GpadlPlanError::TooLarge(pages));
    }
    Ok(())
}

/// Writes GPADL_HEADER for GPADL `gpadl` of channel `relid` into `out`: one range over all
/// `total_pages` pages, followed by as many of `pfns` as fit (`pfns` starts with the buffer's
/// first page). Returns the message length and the number of PFNs it carries.
pub fn encode_header(
    out: &mut [u8; MAX_MESSAGE_SIZE],
    relid: u32,
    gpadl: u32,
    total_pages: usize,
    pfns: &[u64],
) -> Result<(usize, usize), GpadlPlanError> {
    check_pages(total_pages)?;
    let range = GpaRange {
        // CAST: `check_pages` bounds the byte count by u32::MAX.
        byte_count: (total_pages as u64 * HV_PAGE_SIZE) as u32,
        byte_offset: 0,
    };
    let header = GpadlHeader {
        header: MessageHeader::new(MessageType::GpadlHeader),
        child_relid: relid,
        gpadl,
        // CAST: `check_pages` bounds this by u16::MAX.
        range_buflen: (core::mem::size_of::<GpaRange>() + 8 * total_pages) as u16,
        rangecount: 1,
    };
    let mut at = 0;
    for part in [header.as_bytes(), range.as_bytes()] {
        at = put_bytes(out, at, part);
    }
    let n = pfns.len().min(GPADL_HEADER_MAX_PFNS).min(total_pages);
    Ok((put_pfns(out, at, &pfns[..n]), n))
}

/// Writes GPADL_BODY for GPADL `gpadl` into `out` with as many of `pfns` as fit. Returns the
/// message length and the number of PFNs it carries.
pub fn encode_body(out: &mut [u8; MAX_MESSAGE_SIZE], gpadl: u32, pfns: &[u64]) -> (usize, usize) {
    let body = GpadlBody {
        header: MessageHeader::new(MessageType::GpadlBody),
        msgnumber: 0,
        gpadl,
    };
    let at = put_bytes(out, 0, body.as_bytes());
    let n = pfns.len().min(GPADL_BODY_MAX_PFNS);
    (put_pfns(out, at, &pfns[..n]), n)
}

/// Copies `bytes` to `out` at `at` (callers stay within the message); returns the end.
fn put_bytes(out: &mut [u8], at: usize, bytes: &[u8]) -> usize {
    for (d, s) in out.iter_mut().skip(at).zip(bytes) {
        *d = *s;
    }
    at + bytes.len()
}

fn put_pfns(out: &mut [u8], mut at: usize, pfns: &[u64]) -> usize {
    for pfn in pfns {
        at = put_bytes(out, at, &pfn.to_le_bytes());
    }
    at
}

/// Hands out GPADL handles: unique in a connection, never zero (zero means "no GPADL" in
/// OPENCHANNEL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpadlHandles {
    next: u32,
}

impl Default for GpadlHandles {
    fn default() -> Self {
        Self::new()
    }
}

impl GpadlHandles {
    /// Handles from [`FIRST_GPADL_HANDLE`] on.
    pub const fn new() -> Self {
        Self {
            next: FIRST_GPADL_HANDLE,
        }
    }

    /// The next handle.
    pub fn allocate(&mut self) -> u32 {
        let h = self.next;
        self.next = match self.next.wrapping_add(1) {
            0 => FIRST_GPADL_HANDLE,
            n => n,
        };
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmbus::{parse, GpadlBody, GpadlHeader};

    #[test]
    fn small_buffer_fits_in_the_header() {
        let pfns = [10u64, 11, 12];
        let mut m = [0u8; MAX_MESSAGE_SIZE];
        let (len, n) = encode_header(&mut m, 7, 0x1234, 3, &pfns).unwrap();
        assert_eq!(n, 3);
        assert_eq!(len, 20 + 8 + 24);
        let (h, rest) = parse::<GpadlHeader>(&m[..len]).unwrap();
        assert_eq!({ h.child_relid }, 7);
        assert_eq!({ h.gpadl }, 0x1234);
        assert_eq!({ h.rangecount }, 1);
        assert_eq!({ h.range_buflen }, 8 + 24);
        assert_eq!(&rest[..8], &[0, 0x30, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&rest[8..16], &10u64.to_le_bytes());
        assert_eq!(body_count(3), 0);
    }

    #[test]
    fn large_buffer_needs_bodies() {
        let pfns: [u64; 100] = core::array::from_fn(|i| 1000 + i as u64);
        let mut m = [0u8; MAX_MESSAGE_SIZE];
        let (len, n) = encode_header(&mut m, 1, 2, 100, &pfns).unwrap();
        assert_eq!(n, GPADL_HEADER_MAX_PFNS);
        assert_eq!(len, MAX_MESSAGE_SIZE - 4);
        let mut sent = n;
        let mut bodies = 0;
        while sent < pfns.len() {
            let (len, n) = encode_body(&mut m, 2, &pfns[sent..]);
            let (b, rest) = parse::<GpadlBody>(&m[..len]).unwrap();
            assert_eq!({ b.gpadl }, 2);
            assert_eq!(rest.len(), 8 * n);
            assert_eq!(&rest[..8], &(1000 + sent as u64).to_le_bytes());
            sent += n;
            bodies += 1;
        }
        assert_eq!(bodies, body_count(100));
        assert_eq!(bodies, 3);
    }

    #[test]
    fn limits() {
        let mut m = [0u8; MAX_MESSAGE_SIZE];
        assert_eq!(
            encode_header(&mut m, 1, 2, 0, &[]),
            Err(GpadlPlanError::Empty)
        );
        assert_eq!(
            encode_header(&mut m, 1, 2, MAX_GPADL_PAGES + 1, &[]),
            Err(GpadlPlanError::TooLarge(MAX_GPADL_PAGES + 1))
        );
        assert!(check_pages(MAX_GPADL_PAGES).is_ok());
    }

    #[test]
    fn handles_skip_zero() {
        let mut h = GpadlHandles { next: u32::MAX };
        assert_eq!(h.allocate(), u32::MAX);
        assert_eq!(h.allocate(), FIRST_GPADL_HANDLE);
        assert_eq!(GpadlHandles::new().allocate(), FIRST_GPADL_HANDLE);
    }
}
