// SPDX-License-Identifier: GPL-2.0
//! A writer and a reader sharing one ring through `proto::ring`'s arithmetic, the way the
//! guest's `OutRing`/`InRing` and hvsim's rings use it: the writer checks room with
//! `fits(packet_ring_size(..), bytes_to_write(..))`, publishes `pending_send_sz` when full,
//! writes descriptor, payload, padding and trailer with wrap-around; the reader validates
//! each descriptor with `packet_layout`, copies the packet and commits its index.
//!
//! Invariants: every packet comes back byte for byte in order with its trailer; the writer
//! never overwrites unread bytes; a writer waiting for room is signalled exactly when the
//! room appears (no lost wake-up, no spurious one); the reader is signalled only when the
//! ring was empty from its published index and unmasked.
//!
//! Input: ring size selector (u16), then operations: a byte whose low two bits choose write
//! (a length byte and that many payload bytes follow), read, commit or toggle the interrupt
//! mask.
#![no_main]

use std::collections::VecDeque;

use libfuzzer_sys::fuzz_target;
use rhv_proto::ring::*;
use rhv_proto_fuzz::Input;
use zerocopy::{FromBytes, IntoBytes};

struct Ring {
    data: Vec<u8>,
    size: u32,
    /// Writer side.
    write: u32,
    pending_send_sz: u32,
    /// Reader side: its private index and the one it published.
    read: u32,
    published: u32,
    interrupt_mask: u32,
}

impl Ring {
    /// Writes `bytes` (at most the ring's size) at `at`, wrapping; returns where they end.
    fn put(&mut self, at: u32, bytes: &[u8]) -> u32 {
        let start = at as usize;
        let first = bytes.len().min(self.data.len() - start);
        self.data[start..start + first].copy_from_slice(&bytes[..first]);
        self.data[..bytes.len() - first].copy_from_slice(&bytes[first..]);
        advance(at, bytes.len() as u32, self.size)
    }

    /// Reads `out.len()` bytes (at most the ring's size) at `at`, wrapping.
    fn get(&self, at: u32, out: &mut [u8]) {
        let start = at as usize;
        let first = out.len().min(self.data.len() - start);
        let (head, tail) = out.split_at_mut(first);
        head.copy_from_slice(&self.data[start..start + first]);
        tail.copy_from_slice(&self.data[..tail.len()]);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let size = check_ring_size(8 * (4 + u64::from(input.u16() % 256))).unwrap();
    let mut ring = Ring {
        data: vec![0xa5; size as usize],
        size,
        write: 0,
        pending_send_sz: 0,
        read: 0,
        published: 0,
        interrupt_mask: 0,
    };
    // Packets written and not read yet: (start, descriptor, payload).
    let mut queue: VecDeque<(u32, PacketDescriptor, Vec<u8>)> = VecDeque::new();
    // Ring bytes needed by the write that found the ring full, and whether a commit since
    // then signalled the writer.
    let mut waiting: Option<u32> = None;
    let mut woken = false;
    let mut next_id = 0u64;
    let mut out = vec![0u8; size as usize];

    let read_one = |ring: &mut Ring,
                    queue: &mut VecDeque<(u32, PacketDescriptor, Vec<u8>)>,
                    out: &mut [u8]| {
        let available = bytes_to_read(ring.read, ring.write, ring.size);
        let Some((start, desc, payload)) = queue.pop_front() else {
            assert_eq!(available, 0, "bytes published but no packet written");
            return;
        };
        assert_eq!(ring.read, start);
        let mut raw = [0u8; DESCRIPTOR_SIZE as usize];
        ring.get(ring.read, &mut raw);
        let got = PacketDescriptor::read_from_bytes(&raw).unwrap();
        assert_eq!(got, desc);
        let layout = packet_layout(&got, available).expect("a well-formed packet is refused");
        let packet = &mut out[..layout.len as usize];
        ring.get(ring.read, packet);
        let body = &packet[layout.data_offset as usize..];
        assert_eq!(&body[..payload.len()], &payload[..]);
        assert!(body[payload.len()..].iter().all(|&b| b == 0), "padding");
        let mut t = [0u8; 8];
        ring.get(advance(ring.read, layout.len, ring.size), &mut t);
        assert_eq!(u64::from_le_bytes(t), trailer(start));
        ring.read = advance(ring.read, layout.ring_len, ring.size);
    };

    while !input.is_empty() {
        match input.u8() & 3 {
            0 => {
                let n = usize::from(input.u8());
                let payload = input.bytes(n).to_vec();
                let len = DESCRIPTOR_SIZE + payload.len() as u32;
                let needed = packet_ring_size(len).unwrap();
                if needed >= size {
                    continue; // Can never fit: the writer refuses it locally.
                }
                if waiting.is_some() && !woken {
                    continue; // A blocked writer waits for its signal.
                }
                let desc = PacketDescriptor {
                    packet_type: PacketType::DataInband as u16,
                    offset8: 2,
                    len8: (align8(len) / 8) as u16,
                    flags: PACKET_FLAG_COMPLETION_REQUESTED,
                    trans_id: next_id,
                };
                let free = bytes_to_write(ring.published, ring.write, size);
                if !fits(needed, free) {
                    assert!(needed >= free);
                    ring.pending_send_sz = needed;
                    waiting = Some(needed);
                    woken = false;
                    continue;
                }
                let old = ring.write;
                let at = ring.put(old, desc.as_bytes());
                let at = ring.put(at, &payload);
                let pad = (align8(len) - len) as usize;
                let at = ring.put(at, &[0u8; 8][..pad]);
                let at = ring.put(at, &trailer(old).to_le_bytes());
                ring.write = advance(old, needed, size);
                assert_eq!(at, ring.write);
                assert_ne!(ring.write, ring.published, "the ring was filled completely");
                ring.pending_send_sz = 0;
                waiting = None;
                let signal = signal_after_write(old, ring.published, ring.interrupt_mask);
                let reader_idle = old == ring.published && ring.interrupt_mask == 0;
                assert_eq!(signal, reader_idle);
                queue.push_back((old, desc, payload));
                next_id += 1;
            }
            1 => read_one(&mut ring, &mut queue, &mut out),
            2 => {
                let bytes_read = bytes_to_read(ring.published, ring.read, size);
                ring.published = ring.read;
                let free_now = bytes_to_write(ring.read, ring.write, size);
                let signal = signal_after_read(ring.pending_send_sz, free_now, bytes_read);
                if signal {
                    let needed = waiting.expect("signalled a writer that is not waiting");
                    assert!(fits(needed, free_now), "woken without room");
                    woken = true;
                }
                if let Some(needed) = waiting {
                    if fits(needed, free_now) {
                        assert!(woken, "lost wake-up: room for {needed} bytes, no signal");
                    }
                }
            }
            _ => ring.interrupt_mask ^= 1,
        }
    }
    // Drain: everything written comes back.
    while !queue.is_empty() {
        read_one(&mut ring, &mut queue, &mut out);
    }
    assert_eq!(ring.read, ring.write);
});
