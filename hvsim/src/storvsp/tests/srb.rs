// SPDX-License-Identifier: GPL-2.0
//! EXECUTE_SRB through guest pages: data, SCSI errors, bad buffers, malformed packets.

use super::*;

#[test]
fn inquiry_and_capacity_through_guest_pages() {
    let mut g = Guest::new(&["ram:size=64M,sector=4096"], 2);
    g.linux_init();
    let srb = g.srb(
        0,
        0,
        &[INQUIRY, 0, 0, 0, 96, 0],
        vstor::DATA_IN_READ,
        Some((0x100, 96)),
    );
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_SUCCESS);
    assert_eq!({ srb.data_transfer_length }, 36);
    assert_eq!(&g.data(0x100 + 8, 4), b"Msft");
    let mut rc16 = [0u8; 16];
    rc16[0] = SERVICE_ACTION_IN_16;
    rc16[1] = SAI_READ_CAPACITY_16;
    rc16[13] = 32;
    let srb = g.srb(1, 0, &rc16, vstor::DATA_IN_READ, Some((0, 32)));
    assert_eq!({ srb.data_transfer_length }, 32);
    let cap = g.data(0, 12);
    assert_eq!(
        u64::from_be_bytes(cap[..8].try_into().unwrap()),
        (64 << 20) / 4096 - 1
    );
    assert_eq!(u32::from_be_bytes(cap[8..12].try_into().unwrap()), 4096);
}

#[test]
fn writes_and_reads_across_unaligned_pages() {
    let mut g = Guest::new(&["ram:size=16M", "ram:size=16M,sector=4096"], 2);
    g.linux_init();
    let data: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 241) as u8).collect();
    g.put_data(0x300, &data);
    let srb = g.srb(
        0,
        1,
        &rw16(WRITE_16, 3, 16),
        vstor::DATA_IN_WRITE,
        Some((0x300, 65536)),
    );
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_SUCCESS);
    assert_eq!({ srb.data_transfer_length }, 65536);
    g.put_data(0x300, &vec![0; 65536]);
    let srb = g.srb(
        1,
        1,
        &rw16(READ_16, 3, 16),
        vstor::DATA_IN_READ,
        Some((0x300, 65536)),
    );
    assert_eq!({ srb.data_transfer_length }, 65536);
    assert!(g.data(0x300, 65536) == data);
    // LUN 0 is another disk: nothing there.
    g.srb(
        0,
        0,
        &rw16(READ_16, 3, 128),
        vstor::DATA_IN_READ,
        Some((0x300, 65536)),
    );
    assert!(g.data(0x300, 65536).iter().all(|&b| b == 0));
    let stats = g.dev.stats();
    assert_eq!(stats["disks"][1]["writes"], 1);
    assert_eq!(stats["disks"][1]["bytes_read"], 65536);
    assert_eq!(stats["bytes_read"], 2 * 65536);
}

#[test]
fn scsi_errors_come_back_with_sense() {
    let mut g = Guest::new(&["ram:size=1M"], 2);
    g.linux_init();
    let srb = g.srb(
        0,
        0,
        &rw16(READ_16, 2047, 2),
        vstor::DATA_IN_READ,
        Some((0, 1024)),
    );
    assert_eq!(sense_of(&srb), Sense::LBA_OUT_OF_RANGE);
    assert_eq!({ srb.data_transfer_length }, 0);
    let srb = g.srb(
        0,
        0,
        &[0x5e, 0, 0, 0, 0, 0, 0, 0, 8, 0],
        vstor::DATA_IN_READ,
        Some((0, 8)),
    );
    assert_eq!(sense_of(&srb), Sense::INVALID_OPCODE);
    // An empty LUN and another target: SRB_STATUS_INVALID_LUN, which makes Linux drop the
    // device (hot-remove) or move on (scan).
    let tur = [TEST_UNIT_READY, 0, 0, 0, 0, 0];
    let srb = g.srb(0, 5, &tur, vstor::DATA_IN_UNKNOWN, None);
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_INVALID_LUN);
    let srb = g.srb(
        0,
        0,
        &[INQUIRY, 0, 0, 0, 36, 0],
        vstor::DATA_IN_READ,
        Some((0, 36)),
    );
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_SUCCESS);
    let stats = g.dev.stats();
    assert_eq!(stats["counters"]["invalid_lun"], 1);
    assert_eq!(stats["disks"][0]["errors"], 2);
}

#[test]
fn bad_buffers_are_invalid_requests() {
    let mut g = Guest::new(&["ram:size=1M"], 2);
    g.linux_init();
    let read = rw16(READ_16, 0, 1);
    // Pages past guest RAM.
    let mut p = request(Operation::ExecuteSrb);
    let mut srb = ScsiRequest::new_zeroed();
    srb.length = 52;
    srb.cdb_length = 16;
    srb.cdb[..16].copy_from_slice(&read);
    srb.data_in = vstor::DATA_IN_READ;
    srb.data_transfer_length = 512;
    p.set_srb(&srb);
    for pfn in [(RAM / 4096) as u64, u64::MAX >> 12, u64::MAX] {
        let extra = encode_ranges(&[PageRange {
            byte_offset: 0,
            byte_count: 512,
            pfns: vec![pfn],
        }]);
        let r = g
            .send_raw(0, PacketType::DataUsingGpaDirect, &extra, p.as_bytes())
            .unwrap();
        let r = VstorPacket::read_from_bytes(&r).unwrap();
        assert_eq!(
            r.srb().srb_status,
            vstor::SRB_STATUS_INVALID_REQUEST,
            "pfn {pfn:#x}"
        );
        assert_eq!({ r.header.status }, vstor::STATUS_INVALID_PARAMETER);
    }
    // Truncated and garbage range headers.
    for extra in [
        vec![],
        vec![0u8; 4],
        vec![0, 0, 0, 0, 1, 0, 0, 0],
        vec![0xff; 40],
    ] {
        let r = g
            .send_raw(0, PacketType::DataUsingGpaDirect, &extra, p.as_bytes())
            .unwrap();
        let r = VstorPacket::read_from_bytes(&r).unwrap();
        assert_eq!(r.srb().srb_status, vstor::SRB_STATUS_INVALID_REQUEST);
    }
    // The SRB claims more than the pages hold, or data without pages.
    let srb = g.srb(0, 0, &read, vstor::DATA_IN_READ, Some((0, 256)));
    assert_eq!(
        srb.srb_status,
        vstor::SRB_STATUS_ERROR | vstor::SRB_STATUS_AUTOSENSE_VALID
    );
    let r = g
        .send_raw(0, PacketType::DataInband, &[], p.as_bytes())
        .unwrap();
    assert_eq!(
        VstorPacket::read_from_bytes(&r).unwrap().srb().srb_status,
        vstor::SRB_STATUS_INVALID_REQUEST
    );
    // A write declared as a read: wrong direction.
    let srb = g.srb(
        0,
        0,
        &rw16(WRITE_16, 0, 1),
        vstor::DATA_IN_READ,
        Some((0, 512)),
    );
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_INVALID_REQUEST);
    // A data length with no direction.
    let srb = g.srb(0, 0, &read, vstor::DATA_IN_UNKNOWN, Some((0, 512)));
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_INVALID_REQUEST);
    assert!(g.dev.stats()["counters"]["bad_srbs"].as_u64().unwrap() >= 9);
}

#[test]
fn malformed_packets_never_panic_and_are_answered() {
    let mut g = Guest::new(&["ram:size=1M"], 2);
    g.linux_init();
    // A bad SRB (zero CDB length) is completed as an invalid request.
    let mut p = request(Operation::ExecuteSrb);
    let mut srb = ScsiRequest::new_zeroed();
    srb.length = 52;
    p.set_srb(&srb);
    let r = g
        .send_raw(0, PacketType::DataInband, &[], p.as_bytes())
        .unwrap();
    let r = VstorPacket::read_from_bytes(&r).unwrap();
    assert_eq!(r.srb().srb_status, vstor::SRB_STATUS_INVALID_REQUEST);
    // Short packets and unknown operations.
    for payload in [
        &[][..],
        &[3, 0, 0][..],
        &[3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0][..],
        &[99; 64][..],
    ] {
        let r = g.send_raw(0, PacketType::DataInband, &[], payload).unwrap();
        assert_eq!(r.len(), 64);
        assert_ne!(
            { VstorPacket::read_from_bytes(&r).unwrap().header.status },
            0
        );
    }
    // Packet types storvsp does not take are ignored.
    assert!(g
        .send_raw(
            0,
            PacketType::Completion,
            &[],
            request(Operation::ResetBus).as_bytes()
        )
        .is_none());
    // Random bytes in every field.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..3000 {
        let len = (next() % 80) as usize;
        let mut payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 && len >= 4 {
            payload[..4].copy_from_slice(&3u32.to_le_bytes());
        }
        if i % 3 == 0 && len >= 28 {
            payload[12..14].copy_from_slice(&52u16.to_le_bytes());
            payload[20] = (next() % 17) as u8;
            payload[22] = (next() % 3) as u8;
        }
        let extra_len = (next() % 6) as usize * 8;
        let mut extra: Vec<u8> = (0..extra_len).map(|_| next() as u8).collect();
        if extra_len >= 16 {
            extra[4..8].copy_from_slice(&1u32.to_le_bytes());
            extra[12..16].copy_from_slice(&((next() % 8192) as u32).to_le_bytes());
        }
        g.send_raw(0, PacketType::DataUsingGpaDirect, &extra, &payload);
    }
    // The controller still works.
    let srb = g.srb(
        0,
        0,
        &[TEST_UNIT_READY, 0, 0, 0, 0, 0],
        vstor::DATA_IN_UNKNOWN,
        None,
    );
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_SUCCESS);
}

#[test]
fn file_backed_controller_trims() {
    let dir = std::env::temp_dir().join(format!("hvsim-storvsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trim.img");
    let spec = format!("file:path={},size=4M", path.display());
    let mut g = Guest::new(&[&spec], 1);
    g.linux_init();
    g.put_data(0, &[0x5a; 65536]);
    for lba in (0..8192u64).step_by(128) {
        let srb = g.srb(
            0,
            0,
            &rw16(WRITE_16, lba, 128),
            vstor::DATA_IN_WRITE,
            Some((0, 65536)),
        );
        assert_eq!(srb.srb_status, vstor::SRB_STATUS_SUCCESS);
    }
    let before = g.dev.stats()["disks"][0]["allocated_bytes"]
        .as_u64()
        .unwrap();
    let mut list = vec![0u8; 24];
    list[0..2].copy_from_slice(&22u16.to_be_bytes());
    list[2..4].copy_from_slice(&16u16.to_be_bytes());
    list[8..16].copy_from_slice(&0u64.to_be_bytes());
    list[16..20].copy_from_slice(&8192u32.to_be_bytes());
    g.put_data(0, &list);
    let srb = g.srb(
        0,
        0,
        &[UNMAP, 0, 0, 0, 0, 0, 0, 0, 24, 0],
        vstor::DATA_IN_WRITE,
        Some((0, 24)),
    );
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_SUCCESS);
    let after = g.dev.stats()["disks"][0]["allocated_bytes"]
        .as_u64()
        .unwrap();
    assert!(after < before, "allocated {before} → {after}");
    drop(g);
    std::fs::remove_dir_all(&dir).unwrap();
}
