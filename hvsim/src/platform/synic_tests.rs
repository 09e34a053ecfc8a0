// SPDX-License-Identifier: GPL-2.0
//! SynIC tests: message slots and the pending/EOM handshake, event flags, SINT registers.

use super::*;
use crate::memory::{GuestMemory, MemoryError, VecMemory};

const SIMP_PAGE: u64 = 0x1000;
const SIEFP_PAGE: u64 = 0x2000;
const VECTOR: u8 = 0xf3;
const SINT: usize = 2;

fn slot(n: usize) -> u64 {
    SIMP_PAGE + n as u64 * MESSAGE_SLOT_SIZE
}

/// A SynIC as Linux sets it up: pages enabled, SINT2 unmasked on vector 0xF3, SCONTROL on.
fn enabled() -> (Synic, VecMemory) {
    let mem = VecMemory::new(0x10000);
    let mut s = Synic::new(0);
    let mut out = Vec::new();
    s.set_simp(&mem, SIMP_PAGE | 1, &mut out).unwrap();
    s.set_siefp(&mem, SIEFP_PAGE | 1, &mut out).unwrap();
    s.set_sint(&mem, SINT, u64::from(VECTOR), &mut out).unwrap();
    s.set_scontrol(&mem, 1, &mut out).unwrap();
    assert!(out.is_empty(), "nothing to raise on a clean set-up");
    (s, mem)
}

fn slot_type(mem: &VecMemory, n: usize) -> u32 {
    mem.read_u32(slot(n)).unwrap()
}
fn slot_flags(mem: &VecMemory, n: usize) -> u32 {
    mem.read_u32(slot(n) + 4).unwrap()
}
fn slot_payload(mem: &VecMemory, n: usize, len: usize) -> Vec<u8> {
    let mut b = vec![0; len];
    mem.read_at(slot(n) + 16, &mut b).unwrap();
    b
}
/// What the guest does after handling a message: free the slot, EOM if asked to.
fn guest_consumes(s: &mut Synic, mem: &VecMemory, out: &mut Vec<u8>) {
    mem.write_u32(slot(SINT), 0).unwrap();
    if slot_flags(mem, SINT) & FLAG_MESSAGE_PENDING != 0 {
        s.eom(mem, out);
    }
}

#[test]
fn a_message_lands_in_its_slot_and_raises_the_sint() {
    let (mut s, mem) = enabled();
    let mut out = Vec::new();
    s.post(&mem, SINT, 1, &[14, 0, 0, 0, 9], &mut out).unwrap();
    assert_eq!(out, vec![VECTOR]);
    assert_eq!(slot_type(&mem, SINT), 1);
    assert_eq!(slot_flags(&mem, SINT), 5, "size 5, no pending flag");
    assert_eq!(slot_payload(&mem, SINT, 6), vec![14, 0, 0, 0, 9, 0]);
    assert_eq!(slot_type(&mem, 0), 0, "other slots untouched");
}

#[test]
fn a_busy_slot_queues_and_eom_delivers_in_order() {
    let (mut s, mem) = enabled();
    let mut out = Vec::new();
    for i in 1..=3u8 {
        s.post(&mem, SINT, 1, &[i], &mut out).unwrap();
    }
    assert_eq!(out, vec![VECTOR], "only the first one was delivered");
    assert_ne!(
        slot_flags(&mem, SINT) & FLAG_MESSAGE_PENDING,
        0,
        "the guest is asked for an EOM"
    );

    out.clear();
    guest_consumes(&mut s, &mem, &mut out);
    assert_eq!(out, vec![VECTOR]);
    assert_eq!(slot_payload(&mem, SINT, 1), vec![2]);
    assert_ne!(
        slot_flags(&mem, SINT) & FLAG_MESSAGE_PENDING,
        0,
        "a third one still waits"
    );

    out.clear();
    guest_consumes(&mut s, &mem, &mut out);
    assert_eq!(slot_payload(&mem, SINT, 1), vec![3]);
    assert_eq!(
        slot_flags(&mem, SINT) & FLAG_MESSAGE_PENDING,
        0,
        "queue empty: no EOM needed"
    );

    out.clear();
    guest_consumes(&mut s, &mem, &mut out);
    assert!(out.is_empty());
    assert_eq!(slot_type(&mem, SINT), 0);
}

#[test]
fn retry_delivers_without_an_eom() {
    let (mut s, mem) = enabled();
    let mut out = Vec::new();
    s.post(&mem, SINT, 1, &[1], &mut out).unwrap();
    s.post(&mem, SINT, 1, &[2], &mut out).unwrap();
    mem.write_u32(slot(SINT), 0).unwrap(); // freed, but no EOM
    out.clear();
    s.retry(&mem, &mut out);
    assert_eq!(out, vec![VECTOR]);
    assert_eq!(slot_payload(&mem, SINT, 1), vec![2]);
}

/// Memory where the guest frees the slot exactly while hvsim sets the pending flag.
struct FreesOnFlag(VecMemory);
impl GuestMemory for FreesOnFlag {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_at(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.0.read_at(gpa, buf)
    }
    fn write_at(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.0.write_at(gpa, data)
    }
}
impl SharedMemory for FreesOnFlag {
    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
        let old = self.0.fetch_or_u32(gpa, bits)?;
        if gpa == slot(SINT) + 4 {
            self.0.write_u32(slot(SINT), 0)?;
        }
        Ok(old)
    }
}

#[test]
fn a_slot_freed_during_the_pending_handshake_is_used_at_once() {
    let (mut s, inner) = enabled();
    let mem = FreesOnFlag(inner);
    let mut out = Vec::new();
    s.post(&mem, SINT, 1, &[1], &mut out).unwrap();
    out.clear();
    // The guest freed the slot after hvsim saw it busy and did not see the flag in time:
    // without the re-check this message would wait for an EOM that never comes.
    s.post(&mem, SINT, 1, &[2], &mut out).unwrap();
    assert_eq!(out, vec![VECTOR]);
    assert_eq!(mem.0.read_u32(slot(SINT)).unwrap(), 1);
    let mut b = [0u8];
    mem.0.read_at(slot(SINT) + 16, &mut b).unwrap();
    assert_eq!(b, [2]);
}

#[test]
fn a_masked_sint_holds_messages_until_unmasked() {
    let (mut s, mem) = enabled();
    let mut out = Vec::new();
    s.set_sint(&mem, SINT, u64::from(VECTOR) | SINT_MASKED, &mut out)
        .unwrap();
    s.post(&mem, SINT, 1, &[7], &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(slot_type(&mem, SINT), 0);
    s.set_sint(&mem, SINT, u64::from(VECTOR), &mut out).unwrap();
    assert_eq!(out, vec![VECTOR]);
    assert_eq!(slot_payload(&mem, SINT, 1), vec![7]);
}

#[test]
fn scontrol_off_fills_the_slot_but_raises_only_when_enabled() {
    let (mut s, mem) = enabled();
    let mut out = Vec::new();
    s.set_scontrol(&mem, 0, &mut out).unwrap();
    s.post(&mem, SINT, 1, &[7], &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(slot_type(&mem, SINT), 1);
    s.set_scontrol(&mem, 1, &mut out).unwrap();
    assert_eq!(out, vec![VECTOR]);
    assert_eq!(s.set_scontrol(&mem, 2, &mut out), Err(InvalidWrite));
}

#[test]
fn bad_posts_are_errors() {
    let (mut s, mem) = enabled();
    let mut out = Vec::new();
    assert_eq!(
        s.post(&mem, SINT, 1, &[0; 241], &mut out),
        Err(DeliveryError::TooLarge(241))
    );
    assert_eq!(
        s.post(&mem, 16, 1, &[], &mut out),
        Err(DeliveryError::BadSint(16))
    );
    assert!(s.post(&mem, SINT, 1, &[0; 240], &mut out).is_ok());
    let mut off = Synic::new(3);
    assert_eq!(
        off.post(&mem, SINT, 1, &[], &mut out),
        Err(DeliveryError::NotEnabled(3))
    );
    assert_eq!(
        off.signal_event(&mem, SINT, 0, &mut out),
        Err(DeliveryError::NotEnabled(3))
    );
    // A message page outside RAM cannot take messages.
    off.set_simp(&mem, 0x10_0000 | 1, &mut out).unwrap();
    assert_eq!(
        off.post(&mem, SINT, 1, &[], &mut out),
        Err(DeliveryError::NotEnabled(3))
    );
}

#[test]
fn event_flags_raise_only_when_newly_set() {
    let (mut s, mem) = enabled();
    let mut out = Vec::new();
    s.signal_event(&mem, SINT, 37, &mut out).unwrap();
    assert_eq!(out, vec![VECTOR]);
    let word = SIEFP_PAGE + SINT as u64 * 256 + 4;
    assert_eq!(mem.read_u32(word).unwrap(), 1 << 5);
    out.clear();
    s.signal_event(&mem, SINT, 37, &mut out).unwrap();
    assert!(out.is_empty(), "already set: the guest has not looked yet");
    mem.write_u32(word, 0).unwrap();
    s.signal_event(&mem, SINT, 37, &mut out).unwrap();
    assert_eq!(out, vec![VECTOR]);
    out.clear();
    s.signal_event(&mem, SINT, 2047, &mut out).unwrap();
    assert_eq!(
        mem.read_u32(SIEFP_PAGE + SINT as u64 * 256 + 252).unwrap(),
        1 << 31
    );
    out.clear();
    s.signal_event(&mem, SINT, 2048, &mut out).unwrap();
    assert!(out.is_empty(), "out-of-range flag is dropped");
    assert_eq!(
        mem.read_u32(SIEFP_PAGE + (SINT as u64 + 1) * 256).unwrap(),
        0,
        "and writes nothing"
    );
}

#[test]
fn unmasking_with_flags_already_set_raises() {
    let (mut s, mem) = enabled();
    let mut out = Vec::new();
    s.set_sint(&mem, SINT, u64::from(VECTOR) | SINT_MASKED, &mut out)
        .unwrap();
    s.signal_event(&mem, SINT, 1, &mut out).unwrap();
    assert!(out.is_empty());
    s.set_sint(&mem, SINT, u64::from(VECTOR), &mut out).unwrap();
    assert_eq!(out, vec![VECTOR]);
}

#[test]
fn sint_register_rules() {
    let (mut s, mem) = enabled();
    let mut out = Vec::new();
    assert_eq!(Synic::new(0).sint(5), SINT_MASKED, "SINTs start masked");
    assert_eq!(
        s.set_sint(&mem, 3, 15, &mut out),
        Err(InvalidWrite),
        "vector below 16"
    );
    assert_eq!(
        s.set_sint(&mem, 3, SINT_MASKED, &mut out),
        Ok(()),
        "masked vector 0 is fine"
    );
    assert_eq!(
        s.set_sint(&mem, 3, 0x30 | 1 << 19, &mut out),
        Err(InvalidWrite),
        "reserved bit"
    );
    assert_eq!(s.set_sint(&mem, 16, 0x30, &mut out), Err(InvalidWrite));
    assert_eq!(s.set_simp(&mem, 0x1000 | 2, &mut out), Err(InvalidWrite));
    // Polling mode: flags are set but no interrupt.
    s.set_sint(&mem, SINT, u64::from(VECTOR) | SINT_POLLING, &mut out)
        .unwrap();
    s.signal_event(&mem, SINT, 3, &mut out).unwrap();
    assert!(out.is_empty());
}
