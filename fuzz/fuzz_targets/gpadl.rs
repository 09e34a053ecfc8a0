// SPDX-License-Identifier: GPL-2.0
//! The guest's GPADL messages (`proto::gpadl`), reassembled the way a host does: parse
//! GPADL_HEADER and its range, then the PFNs of every GPADL_BODY.
//!
//! Invariants: the plan accepts exactly 1..=MAX_GPADL_PAGES pages; every message fits a
//! SynIC payload and parses as its type; the single range covers all pages; the PFNs come
//! back in order, none lost or repeated; the message count is the planned one.
//!
//! Input: page count (u16: even, up to 127; odd, up to 8191), relid, GPADL handle (u32 each), first PFN and PFN stride (u64).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::gpadl::*;
use rhv_proto::vmbus::{
    parse, GpaRange, GpadlBody, GpadlHeader, MessageType, GPADL_BODY_MAX_PFNS,
    GPADL_HEADER_MAX_PFNS, MAX_MESSAGE_SIZE,
};
use rhv_proto_fuzz::Input;
use zerocopy::FromBytes;

fn pfns_of(rest: &[u8]) -> impl Iterator<Item = u64> + '_ {
    assert_eq!(rest.len() % 8, 0);
    rest.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    // Mostly small GPADLs (the split's boundaries are at 26 and every 28 after), sometimes
    // up to one past the largest.
    let raw = input.u16();
    let pages = if raw & 1 == 0 {
        usize::from(raw >> 1) % 128
    } else {
        usize::from(raw >> 1) % (MAX_GPADL_PAGES + 2)
    };
    let (relid, handle) = (input.u32(), input.u32());
    let (first, stride) = (input.u64(), input.u64());
    let pfns: Vec<u64> = (0..pages as u64)
        .map(|i| first.wrapping_add(i.wrapping_mul(stride)))
        .collect();

    let mut plan = match GpadlMessages::new(relid, handle, &pfns) {
        Ok(plan) => plan,
        Err(GpadlPlanError::Empty) => return assert_eq!(pages, 0),
        Err(GpadlPlanError::TooLarge(n)) => {
            return assert!(n == pages && n > MAX_GPADL_PAGES);
        }
    };
    assert!(pages >= 1 && pages <= MAX_GPADL_PAGES);
    let expected = plan.message_count();
    assert_eq!(expected, 1 + body_count(pages));
    let mut m = [0u8; MAX_MESSAGE_SIZE];
    let mut got = Vec::with_capacity(pages);
    let mut count = 0;
    while let Some(len) = plan.next_message(&mut m) {
        assert!(len <= MAX_MESSAGE_SIZE);
        let msg = &m[..len];
        if count == 0 {
            let (h, rest) = parse::<GpadlHeader>(msg).unwrap();
            assert_eq!({ h.header.msgtype }, MessageType::GpadlHeader as u32);
            assert_eq!(
                ({ h.child_relid }, { h.gpadl }, { h.rangecount }),
                (relid, handle, 1)
            );
            assert_eq!(usize::from(h.range_buflen), 8 + 8 * pages);
            let (range, rest) = GpaRange::read_from_prefix(rest).unwrap();
            assert_eq!(range.byte_offset, 0);
            assert_eq!(range.byte_count as usize, pages * 4096);
            assert_eq!(range.page_count(), Some(pages as u32));
            assert!(rest.len() / 8 <= GPADL_HEADER_MAX_PFNS);
            got.extend(pfns_of(rest));
        } else {
            let (b, rest) = parse::<GpadlBody>(msg).unwrap();
            assert_eq!({ b.gpadl }, handle);
            assert!(!rest.is_empty() && rest.len() / 8 <= GPADL_BODY_MAX_PFNS);
            got.extend(pfns_of(rest));
        }
        count += 1;
        assert!(count <= expected, "more messages than planned");
    }
    assert_eq!(count, expected);
    assert_eq!(got, pfns);
    assert_eq!(plan.next_message(&mut m), None);

    // The header alone with fewer PFNs at hand than pages: it carries what it has.
    let short = &pfns[..pages / 2];
    let (len, n) = encode_header(&mut m, relid, handle, pages, short).unwrap();
    assert_eq!(n, short.len().min(GPADL_HEADER_MAX_PFNS));
    assert_eq!(len, 28 + 8 * n);
});
