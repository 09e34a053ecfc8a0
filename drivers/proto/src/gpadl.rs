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
    GPADL_HEADER_MAX_PFNS, HV_PAGE_SIZE, MAX_MESSAGE_SIZE, STATUS_SUCCESS,
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

/// The messages that describe one GPADL, produced one at a time into a caller's buffer:
/// GPADL_HEADER first, then the GPADL_BODY messages, until every PFN is sent. This is the plan
/// the guest follows; the host reassembles the same split.
#[derive(Clone, Debug)]
pub struct GpadlMessages<'a> {
    relid: u32,
    gpadl: u32,
    pfns: &'a [u64],
    /// PFNs carried by the messages produced so far; `None` before the header.
    sent: Option<usize>,
}

impl<'a> GpadlMessages<'a> {
    /// The plan for GPADL `gpadl` of channel `relid` over the pages `pfns`, in buffer order.
    pub fn new(relid: u32, gpadl: u32, pfns: &'a [u64]) -> Result<Self, GpadlPlanError> {
        check_pages(pfns.len())?;
        Ok(Self {
            relid,
            gpadl,
            pfns,
            sent: None,
        })
    }

    /// How many messages the plan has in all.
    pub fn message_count(&self) -> usize {
        1 + body_count(self.pfns.len())
    }

    /// Writes the next message into `out` and returns its length, or `None` when all are out.
    pub fn next_message(&mut self, out: &mut [u8; MAX_MESSAGE_SIZE]) -> Option<usize> {
        let (len, sent) = match self.sent {
            // `new` checked the page count, so the header cannot fail.
            None => encode_header(out, self.relid, self.gpadl, self.pfns.len(), self.pfns).ok()?,
            Some(sent) if sent < self.pfns.len() => {
                let (len, n) = encode_body(out, self.gpadl, &self.pfns[sent..]);
                (len, sent + n)
            }
            Some(_) => return None,
        };
        self.sent = Some(sent);
        Some(len)
    }
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

/// How the guest's attempt to create a GPADL ended, as far as the host's hold on its pages
/// goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpadlCreation {
    /// Not one message of it reached the host: the host knows nothing of the pages.
    NotSent,
    /// The host answered GPADL_CREATED with a failure status: it did not take the pages.
    Refused,
    /// The host answered GPADL_CREATED with success: the GPADL exists.
    Created,
    /// Messages went out but no usable answer came back: the wait timed out, was interrupted
    /// by a signal or ended by the channel's rescind, or the answer was malformed. The host
    /// may have mapped the pages and may write to them at any time.
    Unanswered,
}

/// What the guest may do with a GPADL's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagesFate {
    /// Free them: the host never held them.
    Free,
    /// Tear the GPADL down first, then free them if the host confirms.
    TearDown,
    /// Never free them (leak and count): the host may still write to them and nothing tells
    /// the guest when it stops.
    Leak,
}

/// How a creation ended: `posted` says whether any of its messages reached the host,
/// `status` is the `creation_status` of the matching GPADL_CREATED (`None`: no usable answer
/// came).
pub fn creation_outcome(posted: bool, status: Option<u32>) -> GpadlCreation {
    match (posted, status) {
        (false, _) => GpadlCreation::NotSent,
        (true, None) => GpadlCreation::Unanswered,
        (true, Some(STATUS_SUCCESS)) => GpadlCreation::Created,
        (true, Some(_)) => GpadlCreation::Refused,
    }
}

/// The fate of the pages of a GPADL whose creation ended in `outcome`: pages the host may
/// write to are never freed.
pub fn pages_after_creation(outcome: GpadlCreation) -> PagesFate {
    match outcome {
        GpadlCreation::NotSent | GpadlCreation::Refused => PagesFate::Free,
        GpadlCreation::Created => PagesFate::TearDown,
        GpadlCreation::Unanswered => PagesFate::Leak,
    }
}

/// How the guest's request to tear a GPADL down ended, as far as the host's hold on its pages
/// goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TeardownOutcome {
    /// Nothing was asked: the channel was rescinded or the connection unloaded before, and
    /// the host let go of every GPADL of it then.
    NotNeeded,
    /// The host answered GPADL_TORNDOWN: it let go of the pages.
    Confirmed,
    /// GPADL_TEARDOWN went out (or may have) but no answer came: the wait timed out, was
    /// interrupted, or was ended by the channel's rescind while the host still held the
    /// GPADL. Nothing tells the guest when the host stops using the pages.
    Unconfirmed,
}

/// The fate of the pages of a GPADL whose teardown ended in `outcome`: pages the host may
/// still write to are never freed.
pub fn pages_after_teardown(outcome: TeardownOutcome) -> PagesFate {
    match outcome {
        TeardownOutcome::NotNeeded | TeardownOutcome::Confirmed => PagesFate::Free,
        TeardownOutcome::Unconfirmed => PagesFate::Leak,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmbus::{parse, GpadlBody, GpadlHeader};
    extern crate std;
    use std::vec;
    use std::vec::Vec;

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

    /// Runs the plan over `pages` PFNs and checks every message; returns the message count.
    fn replay(pages: usize) -> usize {
        let pfns: Vec<u64> = (0..pages as u64).map(|i| 0x10_0000 + i).collect();
        let mut plan = GpadlMessages::new(9, 0xe1e10, &pfns).unwrap();
        let expected = plan.message_count();
        let mut m = [0u8; MAX_MESSAGE_SIZE];
        let mut got = Vec::new();
        let mut count = 0;
        while let Some(len) = plan.next_message(&mut m) {
            assert!(len <= MAX_MESSAGE_SIZE);
            let rest = if count == 0 {
                let (h, rest) = parse::<GpadlHeader>(&m[..len]).unwrap();
                assert_eq!({ h.header.msgtype }, MessageType::GpadlHeader as u32);
                assert_eq!(({ h.child_relid }, { h.gpadl }), (9, 0xe1e10));
                assert_eq!({ h.rangecount }, 1);
                assert_eq!(usize::from(h.range_buflen), 8 + 8 * pages);
                let byte_count = u32::from_le_bytes(rest[..4].try_into().unwrap());
                assert_eq!(byte_count as usize, pages * 4096);
                assert_eq!(&rest[4..8], &[0; 4]);
                &rest[8..]
            } else {
                let (b, rest) = parse::<GpadlBody>(&m[..len]).unwrap();
                assert_eq!({ b.header.msgtype }, MessageType::GpadlBody as u32);
                assert_eq!({ b.gpadl }, 0xe1e10);
                // Only the last message may be short.
                assert!(!rest.is_empty());
                rest
            };
            assert_eq!(rest.len() % 8, 0);
            got.extend(
                rest.chunks(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap())),
            );
            count += 1;
            assert!(count <= expected, "more messages than planned");
        }
        assert_eq!(count, expected);
        assert_eq!(got, pfns);
        assert_eq!(plan.next_message(&mut m), None);
        count
    }

    #[test]
    fn plan_boundaries() {
        assert_eq!(replay(1), 1);
        assert_eq!(replay(GPADL_HEADER_MAX_PFNS), 1);
        assert_eq!(replay(GPADL_HEADER_MAX_PFNS + 1), 2);
        assert_eq!(replay(GPADL_HEADER_MAX_PFNS + GPADL_BODY_MAX_PFNS), 2);
        assert_eq!(replay(GPADL_HEADER_MAX_PFNS + GPADL_BODY_MAX_PFNS + 1), 3);
        // A 2 MiB ring buffer plus its two control pages.
        assert_eq!(replay(514), 1 + (514 - 26usize).div_ceil(28));
    }

    #[test]
    fn plan_largest_and_too_large() {
        let count = replay(MAX_GPADL_PAGES);
        assert_eq!(
            count,
            1 + (MAX_GPADL_PAGES - GPADL_HEADER_MAX_PFNS).div_ceil(28)
        );
        // range_buflen is a u16: the largest GPADL's still fits, one page more does not.
        assert!(8 + 8 * MAX_GPADL_PAGES <= usize::from(u16::MAX));
        assert!(8 + 8 * (MAX_GPADL_PAGES + 1) > usize::from(u16::MAX));
        let too_many = vec![0u64; MAX_GPADL_PAGES + 1];
        assert_eq!(
            GpadlMessages::new(1, 2, &too_many).err(),
            Some(GpadlPlanError::TooLarge(MAX_GPADL_PAGES + 1))
        );
        assert_eq!(
            GpadlMessages::new(1, 2, &[]).err(),
            Some(GpadlPlanError::Empty)
        );
    }

    #[test]
    fn handles_skip_zero() {
        let mut h = GpadlHandles { next: u32::MAX };
        assert_eq!(h.allocate(), u32::MAX);
        assert_eq!(h.allocate(), FIRST_GPADL_HANDLE);
        assert_eq!(GpadlHandles::new().allocate(), FIRST_GPADL_HANDLE);
    }

    #[test]
    fn pages_the_host_may_hold_are_never_freed() {
        // A wait that timed out, was interrupted or rescinded after the messages went out.
        assert_eq!(
            pages_after_creation(creation_outcome(true, None)),
            PagesFate::Leak
        );
        assert_eq!(
            creation_outcome(true, Some(STATUS_SUCCESS)),
            GpadlCreation::Created
        );
        assert_eq!(creation_outcome(true, Some(1)), GpadlCreation::Refused);
        assert_eq!(creation_outcome(false, None), GpadlCreation::NotSent);
        assert_eq!(
            pages_after_creation(GpadlCreation::NotSent),
            PagesFate::Free
        );
        assert_eq!(
            pages_after_creation(GpadlCreation::Refused),
            PagesFate::Free
        );
        assert_eq!(
            pages_after_creation(GpadlCreation::Created),
            PagesFate::TearDown
        );
        assert_eq!(
            pages_after_creation(GpadlCreation::Unanswered),
            PagesFate::Leak
        );
    }
}
