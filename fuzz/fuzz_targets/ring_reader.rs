// SPDX-License-Identifier: GPL-2.0
//! A guest draining a host → guest ring the host controls completely, with `proto::ring` as
//! the guest's reader uses it (`vmbus/ring.rs`: copy the index, check it, copy the descriptor,
//! check its layout against the published bytes, copy the packet, advance). The host may
//! move `write_index` and rewrite the ring between any two reads, descriptor included.
//!
//! Invariants: every packet the reader accepts lies inside the published bytes, its payload
//! slice inside the packet, the reader never consumes more than was published, and the
//! drain ends.
//!
//! Input: ring size selector (u16), the guest's read index (u32, made valid: it is the
//! guest's own), the host's write index (u32, checked), a flags byte, the data area (`size`
//! bytes), then the script of the host: per read, a byte to XOR into the descriptor after
//! the reader copied it (flag 1) and a new write index (u32, flag 2).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::ring::*;
use rhv_proto_fuzz::{assert_inside, Input};
use zerocopy::FromBytes;

/// Copies `out.len()` bytes (at most the ring's size) from the ring starting at `at`,
/// wrapping at the end.
fn read_wrapping(ring: &[u8], at: u32, out: &mut [u8]) {
    let at = at as usize;
    let first = out.len().min(ring.len() - at);
    let (head, tail) = out.split_at_mut(first);
    head.copy_from_slice(&ring[at..at + first]);
    tail.copy_from_slice(&ring[..tail.len()]);
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let size = check_ring_size(8 * (1 + u64::from(input.u16() % 512))).unwrap();
    let mut read = (input.u32() % size) & !7;
    let raw_write = input.u32();
    let flags = input.u8();
    let mut ring = vec![0u8; size as usize];
    let area = input.bytes(size as usize);
    ring[..area.len()].copy_from_slice(area);

    let Ok(mut write) = check_index(raw_write, size) else {
        return;
    };
    let mut out = vec![0u8; size as usize];
    let mut packets = 0u32;
    loop {
        let available = bytes_to_read(read, write, size);
        assert!(available < size);
        if available == 0 {
            break;
        }
        if available < DESCRIPTOR_SIZE {
            break; // Truncated: the guest fails the channel.
        }
        let mut raw = [0u8; DESCRIPTOR_SIZE as usize];
        read_wrapping(&ring, read, &mut raw);
        let descriptor = PacketDescriptor::read_from_bytes(&raw).unwrap();
        // A host rewriting the descriptor under the reader's feet: the copy is what counts.
        if flags & 1 != 0 {
            let x = input.u8();
            let mut at = read;
            for _ in 0..DESCRIPTOR_SIZE {
                ring[at as usize] ^= x;
                at = advance(at, 1, size);
            }
        }
        let Ok(layout) = packet_layout(&descriptor, available) else {
            break;
        };
        let _ = PacketType::try_from(descriptor.packet_type);
        assert_eq!(layout.len, u32::from(descriptor.len8) * 8);
        assert_eq!(layout.data_offset, u32::from(descriptor.offset8) * 8);
        assert_eq!(layout.ring_len, layout.len + PACKET_TRAILER_SIZE);
        assert!(layout.ring_len <= available, "packet past the write index");
        assert!(layout.len >= DESCRIPTOR_SIZE);
        assert!(layout.data_offset >= DESCRIPTOR_SIZE && layout.data_offset <= layout.len);
        // The caller's buffer of the ring's size always holds the packet.
        let packet = &mut out[..layout.len as usize];
        read_wrapping(&ring, read, packet);
        let payload = &packet[layout.data_offset as usize..];
        assert_inside(payload, packet);
        let new_read = advance(read, layout.ring_len, size);
        assert_eq!(
            bytes_to_read(new_read, write, size),
            available - layout.ring_len,
            "consumed more than was published"
        );
        read = new_read;
        packets += 1;
        if flags & 2 == 0 {
            // Every packet takes at least 24 bytes of what was published once.
            assert!(packets <= size / (DESCRIPTOR_SIZE + PACKET_TRAILER_SIZE));
        }
        // The host publishes a new write index between reads (checked like the first).
        if flags & 2 != 0 {
            match check_index(input.u32(), size) {
                Ok(w) => write = w,
                Err(_) => break,
            }
            if input.is_empty() {
                break;
            }
        }
    }
});
