// SPDX-License-Identifier: GPL-2.0
//! Tests of the host-side rings over scattered guest pages: wrap-around, validation of
//! guest-controlled indices and lengths, signalling and flow control.

use super::*;
use crate::memory::VecMemory;

/// A 2-data-page ring at PFNs 3 (control), 5, 4 — data pages deliberately out of order.
fn pages() -> RingPages {
    RingPages::new(&[3, 5, 4]).unwrap()
}

fn guest_write(
    mem: &VecMemory,
    p: &RingPages,
    write: &mut u32,
    len8: u16,
    offset8: u16,
    payload: &[u8],
) {
    let d = PacketDescriptor {
        packet_type: 6,
        offset8,
        len8,
        flags: 0,
        trans_id: 9,
    };
    let mut bytes = d.as_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes.resize(usize::from(len8) * 8, 0);
    bytes.extend_from_slice(&wire::trailer(*write).to_le_bytes());
    p.write_data(mem, *write, &bytes).unwrap();
    *write = wire::advance(*write, bytes.len() as u32, p.data_size());
    mem.write_u32(p.control + wire::WRITE_INDEX_OFFSET, *write)
        .unwrap();
}

#[test]
fn needs_a_control_and_a_data_page() {
    assert_eq!(
        RingPages::new(&[]).unwrap_err(),
        HostRingError::TooFewPages(0)
    );
    assert_eq!(
        RingPages::new(&[1]).unwrap_err(),
        HostRingError::TooFewPages(1)
    );
    assert_eq!(pages().data_size(), 8192);
}

#[test]
fn reads_packets_across_the_wrap() {
    let mem = VecMemory::new(16 * 4096);
    let p = pages();
    // Start both indices near the end so the second packet wraps.
    let start = 8192 - 48;
    mem.write_u32(p.control + wire::READ_INDEX_OFFSET, start)
        .unwrap();
    mem.write_u32(p.control + wire::WRITE_INDEX_OFFSET, start)
        .unwrap();
    let mut ring = IncomingRing::new(p.clone(), &mem).unwrap();
    let mut w = start;
    guest_write(&mem, &p, &mut w, 3, 2, b"first!!!");
    guest_write(&mem, &p, &mut w, 5, 2, &[0xab; 24]);
    let a = ring.read_packet(&mem).unwrap().unwrap();
    assert_eq!(a.payload(), b"first!!!");
    assert_eq!(a.packet_type(), Ok(PacketType::DataInband));
    let b = ring.read_packet(&mem).unwrap().unwrap();
    assert_eq!(b.payload(), &[0xab; 24]);
    assert!(b.extra().is_empty());
    assert_eq!(ring.read_packet(&mem).unwrap(), None);
    assert!(!ring.commit(&mem).unwrap());
    assert_eq!(
        mem.read_u32(p.control + wire::READ_INDEX_OFFSET).unwrap(),
        w
    );
    // The second packet's descriptor ends data page 1 (PFN 4) and its payload continues
    // at the start of data page 0 (PFN 5).
    let mut head = [0u8; 8];
    mem.read_at(5 * 4096, &mut head).unwrap();
    assert_eq!(head, [0xab; 8]);
}

#[test]
fn bad_indices_and_lengths_are_errors() {
    let mem = VecMemory::new(16 * 4096);
    let p = pages();
    mem.write_u32(p.control + wire::WRITE_INDEX_OFFSET, 8192)
        .unwrap();
    assert!(matches!(
        IncomingRing::new(p.clone(), &mem),
        Err(HostRingError::Ring(RingError::BadIndex { .. }))
    ));
    mem.write_u32(p.control + wire::WRITE_INDEX_OFFSET, 0)
        .unwrap();
    let mut ring = IncomingRing::new(p.clone(), &mem).unwrap();
    // Unaligned write index published later.
    mem.write_u32(p.control + wire::WRITE_INDEX_OFFSET, 13)
        .unwrap();
    assert!(ring.read_packet(&mem).is_err());
    // Packet claims more bytes than published.
    let mut w = 0;
    guest_write(&mem, &p, &mut w, 3, 2, b"12345678");
    let d = PacketDescriptor {
        packet_type: 6,
        offset8: 2,
        len8: 200,
        flags: 0,
        trans_id: 0,
    };
    p.write_data(&mem, 0, d.as_bytes()).unwrap();
    assert!(matches!(
        ring.read_packet(&mem),
        Err(HostRingError::Ring(RingError::PacketPastWriteIndex { .. }))
    ));
    // Data offset past the packet end.
    let d = PacketDescriptor {
        packet_type: 6,
        offset8: 9,
        len8: 3,
        flags: 0,
        trans_id: 0,
    };
    p.write_data(&mem, 0, d.as_bytes()).unwrap();
    assert!(matches!(
        ring.read_packet(&mem),
        Err(HostRingError::Ring(RingError::BadDataOffset { .. }))
    ));
    // Zero length.
    let d = PacketDescriptor {
        packet_type: 6,
        offset8: 2,
        len8: 0,
        flags: 0,
        trans_id: 0,
    };
    p.write_data(&mem, 0, d.as_bytes()).unwrap();
    assert!(matches!(
        ring.read_packet(&mem),
        Err(HostRingError::Ring(RingError::PacketTooShort(0)))
    ));
}

#[test]
fn writes_and_signals_only_on_empty_to_non_empty() {
    let mem = VecMemory::new(16 * 4096);
    let p = pages();
    let mut ring = OutgoingRing::new(p.clone(), &mem).unwrap();
    assert!(ring
        .write_packet(&mem, PacketType::DataInband, 1, 77, &[], b"hello")
        .unwrap());
    // Not empty any more: no second signal.
    assert!(!ring
        .write_packet(&mem, PacketType::Completion, 0, 78, &[], b"x")
        .unwrap());
    let write = mem.read_u32(p.control + wire::WRITE_INDEX_OFFSET).unwrap();
    assert_eq!(write, 32 + 32);
    let mut d = [0u8; 16];
    p.read_data(&mem, 0, &mut d).unwrap();
    let d = PacketDescriptor::read_from_bytes(&d).unwrap();
    assert_eq!(
        ({ d.packet_type }, { d.offset8 }, { d.len8 }, { d.flags }, {
            d.trans_id
        }),
        (6, 2, 3, 1, 77)
    );
    let mut trailer = [0u8; 8];
    p.read_data(&mem, 56, &mut trailer).unwrap();
    assert_eq!(u64::from_le_bytes(trailer), wire::trailer(32));
    // Guest drained everything, but has its interrupt mask set: no signal.
    mem.write_u32(p.control + wire::READ_INDEX_OFFSET, write)
        .unwrap();
    mem.write_u32(p.control + wire::INTERRUPT_MASK_OFFSET, 1)
        .unwrap();
    assert!(!ring
        .write_packet(&mem, PacketType::DataInband, 0, 1, &[], b"")
        .unwrap());
}

#[test]
fn full_ring_sets_pending_send_size_and_recovers() {
    let mem = VecMemory::new(16 * 4096);
    let p = RingPages::new(&[3, 4]).unwrap();
    let mut ring = OutgoingRing::new(p.clone(), &mem).unwrap();
    let payload = [1u8; 1000];
    let mut sent = 0;
    loop {
        match ring.write_packet(&mem, PacketType::DataInband, 0, 0, &[], &payload) {
            Ok(_) => sent += 1,
            Err(SendError::Full) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // 1024 ring bytes each: three fit, a fourth would fill the ring exactly.
    assert_eq!(sent, 3);
    assert!(ring.is_waiting());
    assert_eq!(
        mem.read_u32(p.control + wire::PENDING_SEND_SIZE_OFFSET)
            .unwrap(),
        1024
    );
    assert!(!ring.room_available(&mem).unwrap());
    // The guest consumes one packet.
    mem.write_u32(p.control + wire::READ_INDEX_OFFSET, 1024)
        .unwrap();
    assert!(ring.room_available(&mem).unwrap());
    ring.write_packet(&mem, PacketType::DataInband, 0, 0, &[], &payload)
        .unwrap();
    assert!(!ring.is_waiting());
    assert_eq!(
        mem.read_u32(p.control + wire::PENDING_SEND_SIZE_OFFSET)
            .unwrap(),
        0
    );
    assert_eq!(
        ring.write_packet(&mem, PacketType::DataInband, 0, 0, &[], &[0; 5000]),
        Err(SendError::TooLarge(5024))
    );
    assert_eq!(
        ring.write_packet(&mem, PacketType::DataInband, 0, 0, &[0; 4], b""),
        Err(SendError::Misaligned)
    );
    // A guest read index out of range fails the write.
    mem.write_u32(p.control + wire::READ_INDEX_OFFSET, 4097)
        .unwrap();
    assert!(matches!(
        ring.write_packet(&mem, PacketType::DataInband, 0, 0, &[], b""),
        Err(SendError::Failed(_))
    ));
}

#[test]
fn reader_signals_a_waiting_writer() {
    let mem = VecMemory::new(16 * 4096);
    let p = RingPages::new(&[3, 4]).unwrap();
    let mut ring = IncomingRing::new(p.clone(), &mem).unwrap();
    let mut w = 0;
    for _ in 0..3 {
        guest_write(&mem, &p, &mut w, 126, 2, &[7; 100]);
    }
    // The guest waits for 2000 bytes of room: 4096 - 3 * 1016 = 1048 free now.
    mem.write_u32(p.control + wire::PENDING_SEND_SIZE_OFFSET, 2000)
        .unwrap();
    ring.read_packet(&mem).unwrap().unwrap();
    assert!(ring.commit(&mem).unwrap(), "1048 -> 2064 free crosses 2000");
    ring.read_packet(&mem).unwrap().unwrap();
    assert!(!ring.commit(&mem).unwrap(), "the guest had room already");
}

#[test]
fn a_guest_moving_write_index_cannot_keep_the_host_reading() {
    let mem = VecMemory::new(16 * 4096);
    let p = RingPages::new(&[3, 4]).unwrap();
    let mut ring = IncomingRing::new(p.clone(), &mem).unwrap();
    // Fill the ring with valid 8-byte-payload packets everywhere, then keep publishing a
    // write index just behind the host's read index.
    let mut w = 0;
    for _ in 0..4096 / 32 {
        guest_write(&mem, &p, &mut w, 3, 2, b"endless!");
    }
    let mut n = 0;
    loop {
        let behind = wire::advance(ring.read, 4096 - 32, 4096);
        mem.write_u32(p.control + wire::WRITE_INDEX_OFFSET, behind)
            .unwrap();
        match ring.read_packet(&mem).unwrap() {
            Some(_) => n += 1,
            None => break,
        }
        assert!(n <= 128, "the host kept reading");
    }
    assert_eq!(n, 128);
}
