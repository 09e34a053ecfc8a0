// SPDX-License-Identifier: GPL-2.0
//! VMBus channel messages (`proto::vmbus` / `vmbus_msg`) as the SynIC delivers them: any
//! payload of up to 240 bytes, parsed as every message type.
//!
//! Invariants: `message_type` agrees with the header word; `parse::<T>` succeeds exactly
//! when the type matches and the fixed part is there; a parsed message re-encodes to the
//! same bytes and the variable part it returns is the rest of the input; GPA ranges never
//! overflow their page count; INITIATE_CONTACT's target info round-trips.
//!
//! Input: the message bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::vmbus::*;
use rhv_proto_fuzz::assert_at;
use zerocopy::FromBytes;

fn check<T: ChannelMessage + core::fmt::Debug>(bytes: &[u8]) {
    let size = core::mem::size_of::<T>();
    let word = bytes
        .get(..4)
        .map(|w| u32::from_le_bytes(w.try_into().unwrap()));
    match parse::<T>(bytes) {
        Ok((m, rest)) => {
            assert!(bytes.len() <= MAX_MESSAGE_SIZE && bytes.len() >= size);
            assert_eq!(word, Some(T::TYPE as u32));
            assert_eq!(m.as_bytes(), &bytes[..size], "re-encoding differs");
            assert_at(rest, bytes, size..bytes.len());
        }
        Err(ParseError::TooLong(n)) => assert!(n == bytes.len() && n > MAX_MESSAGE_SIZE),
        Err(ParseError::WrongType { expected, found }) => {
            assert_eq!(expected, T::TYPE);
            assert_eq!(Some(found), word);
            assert_ne!(found, T::TYPE as u32);
        }
        Err(ParseError::TooShort { needed, got }) => {
            assert_eq!((needed, got), (size, bytes.len()));
            assert!(got < needed);
        }
        Err(ParseError::UnknownType(_)) => panic!("parse::<T> never names an unknown type"),
    }
}

fuzz_target!(|bytes: &[u8]| {
    match message_type(bytes) {
        Ok(t) => {
            assert!(bytes.len() <= MAX_MESSAGE_SIZE && bytes.len() >= 8);
            let word = u32::from_le_bytes(bytes[..4].try_into().unwrap());
            assert_eq!(t as u32, word);
            assert_eq!(MessageType::try_from(word), Ok(t));
        }
        Err(ParseError::UnknownType(w)) => {
            assert_eq!(w, u32::from_le_bytes(bytes[..4].try_into().unwrap()));
            assert!(!(1..=24).contains(&w));
        }
        Err(ParseError::TooLong(n)) => assert!(n > MAX_MESSAGE_SIZE),
        Err(ParseError::TooShort { needed, got }) => assert!(got < needed && needed == 8),
        Err(e) => panic!("message_type returned {e:?}"),
    }
    check::<OfferChannel>(bytes);
    check::<RescindChannelOffer>(bytes);
    check::<RequestOffers>(bytes);
    check::<AllOffersDelivered>(bytes);
    check::<OpenChannel>(bytes);
    check::<OpenResult>(bytes);
    check::<CloseChannel>(bytes);
    check::<GpadlHeader>(bytes);
    check::<GpadlBody>(bytes);
    check::<GpadlCreated>(bytes);
    check::<GpadlTeardown>(bytes);
    check::<GpadlTorndown>(bytes);
    check::<RelidReleased>(bytes);
    check::<InitiateContact>(bytes);
    check::<VersionResponse>(bytes);
    check::<VersionResponse2>(bytes);
    check::<Unload>(bytes);
    check::<UnloadResponse>(bytes);
    check::<TlConnectRequest>(bytes);
    check::<ModifyChannel>(bytes);
    check::<ModifyChannelResponse>(bytes);

    // The first range of a GPADL_HEADER: its page count never overflows.
    if let Ok((range, _)) = GpaRange::read_from_prefix(bytes) {
        let end = u64::from(range.byte_offset) + u64::from(range.byte_count);
        let pages = range
            .page_count()
            .expect("any u32 range has a u32 page count");
        assert_eq!(u64::from(pages), end.div_ceil(HV_PAGE_SIZE));
    }
    if let Ok((m, _)) = InitiateContact::read_from_prefix(bytes) {
        let (sint, vtl, features) = (m.msg_sint(), m.msg_vtl(), m.feature_flags());
        let info = InitiateContact::target_info(sint, vtl, features);
        assert_eq!(info & !0xffff_ffff_0000_ffff, 0);
        assert_eq!(
            info,
            { m.interrupt_page_or_target_info } & 0xffff_ffff_0000_ffff
        );
        let (major, minor) = split_version(m.vmbus_version_requested);
        assert_eq!(make_version(major, minor), { m.vmbus_version_requested });
    }
});
