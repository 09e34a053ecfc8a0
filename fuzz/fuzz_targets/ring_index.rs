// SPDX-License-Identifier: GPL-2.0
//! `proto::ring`'s index arithmetic on raw values: whatever the host writes into a control
//! page, the checks accept only usable indices, and on checked values the arithmetic agrees
//! with plain modular arithmetic and never overflows.
//!
//! Input: ring size (u64), read index, write index, a length, `pending_send_sz` (u32 each).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::ring::*;
use rhv_proto_fuzz::Input;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let raw_size = input.u64();
    let (raw_read, raw_write, len, pending) = (input.u32(), input.u32(), input.u32(), input.u32());

    assert_eq!(align8(len) % 8, 0);
    if len <= u32::MAX - 7 {
        assert!(align8(len) >= len && align8(len) - len < 8);
    }
    match packet_ring_size(len) {
        Some(n) => assert_eq!(u64::from(n), u64::from(len).next_multiple_of(8) + 8),
        None => assert!(u64::from(len).next_multiple_of(8) + 8 > u64::from(u32::MAX)),
    }
    assert_eq!(trailer(raw_read) >> 32, u64::from(raw_read));
    assert_eq!(trailer(raw_read) as u32, 0);

    let Ok(size) = check_ring_size(raw_size) else {
        assert!(raw_size == 0 || raw_size % 8 != 0 || raw_size > u64::from(u32::MAX / 2));
        return;
    };
    assert_eq!(u64::from(size), raw_size);
    let (Ok(read), Ok(write)) = (check_index(raw_read, size), check_index(raw_write, size)) else {
        assert!(raw_read >= size || raw_read % 8 != 0 || raw_write >= size || raw_write % 8 != 0);
        return;
    };
    assert!(read < size && write < size && read % 8 == 0 && write % 8 == 0);

    let to_read = bytes_to_read(read, write, size);
    let to_write = bytes_to_write(read, write, size);
    assert_eq!(
        u64::from(to_read),
        (u64::from(write) + u64::from(size) - u64::from(read)) % u64::from(size)
    );
    assert_eq!(u64::from(to_read) + u64::from(to_write), u64::from(size));
    assert!(to_read < size, "a ring is never full");
    assert_eq!(to_read % 8, 0);

    let moved = advance(read, len, size);
    assert!(moved < size);
    assert_eq!(
        u64::from(moved),
        (u64::from(read) + u64::from(len)) % u64::from(size)
    );
    // Reading everything published lands on the write index.
    assert_eq!(advance(read, to_read, size), write);

    // A packet fits only with room to spare, so write == read keeps meaning "empty".
    if fits(len, to_write) {
        assert!(len < to_write);
        if len % 8 == 0 && len > 0 {
            let new_write = advance(write, len, size);
            assert_ne!(new_write, read);
            assert_eq!(bytes_to_read(read, new_write, size), to_read + len);
        }
    }

    // The reader consumed `len` bytes (at most what was published): signal the writer only
    // on the transition to enough room for it.
    let consumed = len % (to_read + 1);
    let free_now = bytes_to_write(advance(read, consumed, size), write, size);
    assert_eq!(free_now, to_write + consumed);
    let signal = signal_after_read(pending, free_now, consumed);
    assert_eq!(
        signal,
        pending != 0 && to_write <= pending && free_now > pending
    );
    assert_eq!(
        signal_after_write(write, read, pending),
        pending == 0 && write == read
    );
});
