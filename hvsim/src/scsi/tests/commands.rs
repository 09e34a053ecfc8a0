// SPDX-License-Identifier: GPL-2.0
//! INQUIRY, VPD pages, READ CAPACITY, MODE SENSE, unknown opcodes, geometry, the target.

use super::*;

#[test]
fn standard_inquiry_looks_like_a_hyper_v_disk() {
    let mut d = ram_disk(1 << 20, 512, false);
    let (o, b) = inquiry(&mut d, None);
    assert!(o.is_good());
    assert_eq!(b.len(), 36);
    assert_eq!(b[0], 0x00);
    assert_eq!(b[2], 0x06);
    assert_eq!(b[4] as usize, b.len() - 5);
    assert_eq!(&b[8..16], b"Msft    ");
    assert_eq!(&b[16..32], b"Virtual Disk    ");
    // A short allocation length truncates.
    let mut small = VecBuffer::from_device(255);
    let o = d.execute(&[INQUIRY, 0, 0, 0, 5, 0], &mut small).unwrap();
    assert_eq!(o.transferred, 5);
}

#[test]
fn every_listed_vpd_page_answers() {
    let mut d = ram_disk(1 << 20, 512, false);
    let (o, list) = inquiry(&mut d, Some(0));
    assert!(o.is_good());
    let n = u16::from_be_bytes([list[2], list[3]]) as usize;
    let pages = list[4..4 + n].to_vec();
    assert_eq!(pages, vec![0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
    for p in pages {
        let (o, b) = inquiry(&mut d, Some(p));
        assert!(o.is_good(), "page {p:#x}");
        assert_eq!(b[1], p);
        assert_eq!(u16::from_be_bytes([b[2], b[3]]) as usize, b.len() - 4);
    }
    let (o, _) = inquiry(&mut d, Some(0x89));
    check(o, Sense::INVALID_FIELD_IN_CDB);
    let (_, serial) = inquiry(&mut d, Some(0x80));
    assert_eq!(&serial[4..], b"SERIAL0");
    // Page 83h: a T10 vendor ID designator, then an NAA designator starting with 3h.
    let (_, ids) = inquiry(&mut d, Some(0x83));
    assert_eq!(ids[5] & 0x0f, 1);
    let t10_len = ids[7] as usize;
    assert_eq!(&ids[8..16], b"Msft    ");
    let naa = &ids[8 + t10_len..];
    assert_eq!(naa[1] & 0x0f, 3);
    assert_eq!(naa[3], 8);
    assert_eq!(naa[4] >> 4, 3);
}

#[test]
fn block_limits_and_provisioning_pages() {
    let mut d = ram_disk(1 << 30, 512, false);
    let (_, b0) = inquiry(&mut d, Some(0xb0));
    assert_eq!(b0.len(), 64);
    assert_eq!(u32::from_be_bytes(b0[8..12].try_into().unwrap()), 1024);
    assert_eq!(u32::from_be_bytes(b0[20..24].try_into().unwrap()), 1 << 21);
    assert_eq!(u32::from_be_bytes(b0[24..28].try_into().unwrap()), 64);
    assert_eq!(u32::from_be_bytes(b0[28..32].try_into().unwrap()), 8);
    let (_, b1) = inquiry(&mut d, Some(0xb1));
    assert_eq!(u16::from_be_bytes([b1[4], b1[5]]), 1);
    let (_, b2) = inquiry(&mut d, Some(0xb2));
    assert_eq!(b2[5] & 0xe0, 0xe0);
    // A read-only disk does not offer unmapping.
    let mut ro = ram_disk(1 << 20, 4096, true);
    let (_, b2) = inquiry(&mut ro, Some(0xb2));
    assert_eq!(b2[5], 0);
    let (_, b0) = inquiry(&mut ro, Some(0xb0));
    assert_eq!(&b0[20..28], &[0; 8]);
}

#[test]
fn read_capacity_10_and_16() {
    for bs in [512u32, 4096] {
        let mut d = ram_disk(64 << 20, bs, false);
        let mut buf = VecBuffer::from_device(8);
        let o = d
            .execute(&[READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0], &mut buf)
            .unwrap();
        assert_eq!(o, ScsiOutcome::good(8));
        let last = u32::from_be_bytes(buf.bytes[..4].try_into().unwrap());
        assert_eq!(u64::from(last) + 1, (64 << 20) / u64::from(bs));
        assert_eq!(u32::from_be_bytes(buf.bytes[4..].try_into().unwrap()), bs);
        let mut rc16 = [0u8; 16];
        rc16[0] = SERVICE_ACTION_IN_16;
        rc16[1] = SAI_READ_CAPACITY_16;
        rc16[13] = 32;
        let mut buf = VecBuffer::from_device(32);
        assert!(d.execute(&rc16, &mut buf).unwrap().is_good());
        assert_eq!(
            u64::from_be_bytes(buf.bytes[..8].try_into().unwrap()),
            u64::from(last)
        );
        assert_eq!(buf.bytes[14] & 0xc0, 0xc0, "LBPME and LBPRZ");
    }
    // More than 2^32 blocks saturate READ CAPACITY(10), so Linux moves on to (16).
    let mut huge = ram_disk(3 << 40, 512, true);
    let mut buf = VecBuffer::from_device(8);
    huge.execute(&[READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0], &mut buf)
        .unwrap();
    assert_eq!(&buf.bytes[..4], &[0xff; 4]);
}

#[test]
fn unknown_commands_get_invalid_opcode_sense() {
    let mut d = ram_disk(1 << 20, 512, false);
    let o = d.execute(
        &[0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0],
        &mut VecBuffer::from_device(512),
    );
    let o = o.unwrap();
    check(o, Sense::INVALID_OPCODE);
    let fixed = o.sense.unwrap().to_fixed();
    assert_eq!(
        (fixed[0], fixed[2], fixed[12], fixed[13]),
        (0x70, 0x05, 0x20, 0x00)
    );
    check(
        d.execute(&[], &mut VecBuffer::none()).unwrap(),
        Sense::INVALID_OPCODE,
    );
}

#[test]
fn mode_sense_pages_and_headers() {
    let mut d = ram_disk(1 << 20, 4096, false);
    // MODE SENSE(6), caching page, with a block descriptor.
    let mut b = VecBuffer::from_device(255);
    let o = d
        .execute(&[MODE_SENSE_6, 0, 0x08, 0, 255, 0], &mut b)
        .unwrap();
    assert_eq!(o.transferred, 4 + 8 + 20);
    assert_eq!(b.bytes[0] as usize, o.transferred - 1);
    assert_eq!(b.bytes[2], 0, "not write protected");
    assert_eq!(b.bytes[3], 8);
    assert_eq!(u32::from_be_bytes(b.bytes[4..8].try_into().unwrap()), 256);
    assert_eq!(&b.bytes[9..12], &[0, 0x10, 0]);
    assert_eq!(b.bytes[12], 0x08);
    assert_eq!(b.bytes[14] & 0x04, 0x04, "WCE");
    // MODE SENSE(10), all pages, DBD.
    let mut b = VecBuffer::from_device(255);
    let o = d
        .execute(&[MODE_SENSE_10, 0x08, 0x3f, 0, 0, 0, 0, 0, 255, 0], &mut b)
        .unwrap();
    assert_eq!(o.transferred, 8 + 20 + 12);
    assert_eq!(
        u16::from_be_bytes([b.bytes[0], b.bytes[1]]) as usize,
        o.transferred - 2
    );
    assert_eq!(&b.bytes[6..8], &[0, 0]);
    assert_eq!(b.bytes[8], 0x08);
    assert_eq!(b.bytes[28], 0x0a);
    // Long LBA descriptor.
    let o = d
        .execute(&[MODE_SENSE_10, 0x10, 0x0a, 0, 0, 0, 0, 0, 255, 0], &mut b)
        .unwrap();
    assert_eq!(o.transferred, 8 + 16 + 12);
    assert_eq!(b.bytes[4] & 1, 1);
    // Truncated to the allocation length, header still says the full length.
    let mut b = VecBuffer::from_device(255);
    let o = d
        .execute(&[MODE_SENSE_6, 0, 0x3f, 0, 4, 0], &mut b)
        .unwrap();
    assert_eq!(o.transferred, 4);
    assert_eq!(b.bytes[0], 4 + 8 + 20 + 12 - 1);
    // Unknown pages and subpages.
    check(
        d.execute(&[MODE_SENSE_6, 0, 0x1c, 0, 255, 0], &mut b)
            .unwrap(),
        Sense::INVALID_FIELD_IN_CDB,
    );
    check(
        d.execute(&[MODE_SENSE_6, 0, 0x08, 1, 255, 0], &mut b)
            .unwrap(),
        Sense::INVALID_FIELD_IN_CDB,
    );
}

#[test]
fn disks_need_a_valid_geometry() {
    assert!(ScsiDisk::new(Box::new(RamBackend::new(1 << 20)), 1024, false, identity()).is_err());
    assert!(ScsiDisk::new(Box::new(RamBackend::new(4095)), 4096, false, identity()).is_err());
    let d = ScsiDisk::new(
        Box::new(RamBackend::new(4096 * 3 + 100)),
        4096,
        false,
        identity(),
    )
    .unwrap();
    assert_eq!(d.blocks(), 3);
}

#[test]
fn target_reports_luns_and_empty_addresses() {
    let mut t = ScsiTarget::new();
    t.insert(0, ram_disk(1 << 20, 512, false)).unwrap();
    t.insert(3, ram_disk(1 << 20, 4096, true)).unwrap();
    assert!(t.insert(3, ram_disk(1 << 20, 512, false)).is_err());
    assert!(t.insert(255, ram_disk(1 << 20, 512, false)).is_err());
    assert_eq!(t.free_lun(), Some(1));
    // REPORT LUNS from any LUN, even an empty one.
    let rl = [REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0];
    let mut b = VecBuffer::from_device(4096);
    let o = t.execute(0, 0, 7, &rl, &mut b).unwrap();
    assert_eq!(o.transferred, 24);
    assert_eq!(&b.bytes[..4], &16u32.to_be_bytes());
    assert_eq!(&b.bytes[8..10], &[0, 0]);
    assert_eq!(&b.bytes[16..18], &[0, 3]);
    // INQUIRY at an empty LUN: peripheral qualifier 3, still SPC-4.
    let mut b = VecBuffer::from_device(96);
    let o = t
        .execute(0, 0, 1, &[INQUIRY, 0, 0, 0, 96, 0], &mut b)
        .unwrap();
    assert!(o.is_good());
    assert_eq!((b.bytes[0], b.bytes[2]), (0x7f, 6));
    // Anything else at an empty LUN has no logical unit.
    let tur = [TEST_UNIT_READY, 0, 0, 0, 0, 0];
    assert_eq!(
        t.execute(0, 0, 1, &tur, &mut VecBuffer::none()),
        Err(TargetError::NoSuchLun)
    );
    assert_eq!(
        t.execute(0, 0, 1, &[0xff; 6], &mut b),
        Err(TargetError::NoSuchLun)
    );
    // Other paths and targets are targets without units, never "no such LUN" (Linux would
    // remove the unit with the same target and LUN on path 0).
    for (path, target) in [(1, 0), (7, 0), (0, 1)] {
        let mut b = VecBuffer::from_device(96);
        let o = t
            .execute(path, target, 0, &[INQUIRY, 0, 0, 0, 96, 0], &mut b)
            .unwrap();
        assert_eq!((o.transferred, b.bytes[0]), (36, 0x7f));
        let mut b = VecBuffer::from_device(4096);
        let o = t.execute(path, target, 0, &rl, &mut b).unwrap();
        assert_eq!(o.transferred, 8);
        assert_eq!(&b.bytes[..4], &[0; 4]);
    }
    assert_eq!(
        t.execute(1, 0, 0, &tur, &mut VecBuffer::none()),
        Err(TargetError::NoSuchLun)
    );
    assert!(t
        .execute(0, 0, 3, &tur, &mut VecBuffer::none())
        .unwrap()
        .is_good());
    // Removing a disk makes its LUN empty.
    assert!(t.remove(3).is_some());
    assert_eq!(
        t.execute(0, 0, 3, &tur, &mut VecBuffer::none()),
        Err(TargetError::NoSuchLun)
    );
    assert_eq!(t.len(), 1);
}
