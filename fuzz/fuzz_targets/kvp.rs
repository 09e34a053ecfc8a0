// SPDX-License-Identifier: GPL-2.0
//! KVP exchange bodies (`proto::kvp`) as the host sends them: the message, its operation and
//! pool, and the UTF-16 key and value strings of every layout.
//!
//! Invariants: operation and pool agree with their numbers; a string is accepted only with
//! an even size inside its field, ends before its first NUL, is valid UTF-16, and survives
//! a round trip through `encode_utf16`; the views of one message alias the same bytes.
//!
//! Input: the KVP body (2580 bytes make a whole message; fewer are refused).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::kvp::*;
use zerocopy::IntoBytes;

/// Checks a string field; with `round_trip`, also writes it back with `encode_utf16`.
fn string(field: &[u8], size: u32, round_trip: bool) {
    let s = match Utf16Str::new(field, size) {
        Ok(s) => s,
        Err(KvpError::BadSize { size: s, capacity }) => {
            assert!(s == size && capacity == field.len());
            return assert!(size % 2 != 0 || size as usize > field.len());
        }
        Err(KvpError::BadUtf16) => {
            return assert!(size % 2 == 0 && size as usize <= field.len());
        }
        Err(e) => panic!("Utf16Str::new returned {e:?}"),
    };
    assert!(size % 2 == 0 && size as usize <= field.len());
    let units: Vec<u16> = s.units().collect();
    assert_eq!(units.len(), s.len_units());
    assert!(units.len() * 2 <= size as usize);
    assert!(!units.contains(&0), "a NUL inside the string");
    // The string ends at the first NUL, or at the size.
    let end = units.len() * 2;
    assert!(end == size as usize || field[end..end + 2] == [0, 0]);
    assert_eq!(
        field[..end]
            .chunks_exact(2)
            .map(|u| u16::from_le_bytes([u[0], u[1]]))
            .collect::<Vec<_>>(),
        units
    );
    if !round_trip {
        return;
    }
    let text: String = s.chars().map(|c| c.unwrap()).collect();
    assert_eq!(text.encode_utf16().collect::<Vec<_>>(), units);
    // Written back (as the guest does when answering) it reads the same.
    let mut again = vec![0xffu8; field.len()];
    match encode_utf16(&text, &mut again) {
        Ok(n) => {
            assert_eq!(n as usize, end + 2);
            let back = Utf16Str::new(&again, n).unwrap();
            assert!(back.units().eq(units.iter().copied()));
        }
        Err(KvpError::TooLong { needed, capacity }) => {
            assert!(needed == end + 2 && needed > capacity && capacity == field.len())
        }
        Err(e) => panic!("encode_utf16 returned {e:?}"),
    }
}

fuzz_target!(|body: &[u8]| {
    let m = match parse_message(body) {
        Ok(m) => m,
        Err(KvpError::TooShort { needed, got }) => {
            return assert!(needed == 2580 && got == body.len() && got < needed);
        }
        Err(e) => panic!("parse_message returned {e:?}"),
    };
    assert_eq!(m.as_bytes(), &body[..2580]);
    match m.operation() {
        Ok(op) => assert_eq!(op as u8, m.header.operation),
        Err(e) => assert_eq!(e, KvpError::UnknownOperation(m.header.operation)),
    }
    match m.pool() {
        Ok(pool) => assert!(pool as u8 == m.header.pool && m.header.pool <= 4),
        Err(e) => assert!(e == KvpError::UnknownPool(m.header.pool) && m.header.pool > 4),
    }
    let v = m.value();
    assert_eq!(v.as_bytes(), &m.data[..2572]);
    // GET and SET strings make the round trip; the other layouts' strings (other offsets of
    // the same bytes) get the parser's checks.
    string(&v.key, v.key_size, true);
    string(&v.value, v.value_size, true);
    let d = m.delete();
    assert_eq!(d.as_bytes(), &m.data[..516]);
    string(&d.key, d.key_size, false);
    let e = m.enumerate();
    assert_eq!(e.as_bytes(), &m.data[..]);
    string(&e.data.key, e.data.key_size, false);
    string(&e.data.value, e.data.value_size, false);

    // The guest answers in place through the writable views.
    let mut answer = *m;
    answer.enumerate_mut().index = 7;
    answer.value_mut().value_type = REG_U32;
    assert_eq!({ answer.enumerate().index }, REG_U32);
    assert_eq!(answer.data[4..], m.data[4..]);
});
