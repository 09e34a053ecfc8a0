// SPDX-License-Identifier: GPL-2.0
//! SynIC values (`proto::synic`): the event flag words the host sets, and the MSR values the
//! guest derives from what it read back.
//!
//! Invariants: a flag word yields each set bit once, in order, as a relid of its own 64-bit
//! group; the MSR helpers keep reserved bits and set exactly the fields they own.
//!
//! Input: a word index (u8), a flag word, an MSR value, a GPA (u64 each), a vector byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::synic::*;
use rhv_proto_fuzz::Input;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    // 2048 flags per SINT: 32 words.
    let index = u32::from(input.u8()) % (EVENT_FLAGS_COUNT / 64);
    let word = input.u64();
    let relids: Vec<u32> = SetFlags::new(index, word).collect();
    assert_eq!(relids.len(), word.count_ones() as usize);
    assert!(relids.windows(2).all(|w| w[0] < w[1]));
    for &r in &relids {
        assert!(r >= index * 64 && r < index * 64 + 64 && r < EVENT_FLAGS_COUNT);
        assert_ne!(word & 1 << (r - index * 64), 0);
    }

    let current = input.u64();
    let gpa = input.u64();
    let vector = input.u8();
    let reserved = current & 0xffe;
    let on = page_enabled(current, gpa);
    assert_eq!(on & 1, 1);
    assert_eq!(on & !0xfff, gpa & !0xfff);
    assert_eq!(on & 0xffe, reserved);
    let off = page_disabled(on);
    assert_eq!(off, reserved);
    for auto_eoi in [false, true] {
        let s = sint_enabled(current, vector, auto_eoi);
        assert_eq!(s & 0xff, u64::from(vector));
        assert_eq!(s & 1 << 16, 0, "left masked");
        assert_eq!(s & 1 << 17 != 0, auto_eoi);
        assert_eq!(s & !0x3_00ff, current & !0x3_00ff);
        assert_ne!(sint_masked(s) & 1 << 16, 0);
    }
    assert_eq!(scontrol(current, true), current | 1);
    assert_eq!(scontrol(current, false), current & !1);
    let sint = input.u8() % SINT_COUNT;
    assert!(message_slot_offset(sint) + MESSAGE_SLOT_SIZE <= 4096);
    assert!(event_flags_offset(sint) + EVENT_FLAGS_SLOT_SIZE <= 4096);
});
