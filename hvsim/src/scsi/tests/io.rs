// SPDX-License-Identifier: GPL-2.0
//! READ / WRITE / SYNCHRONIZE CACHE / UNMAP / WRITE SAME, with bad ranges, buffers and backends.

use super::*;

#[test]
fn data_written_reads_back_with_both_block_sizes() {
    for bs in [512u32, 4096] {
        let mut d = ram_disk(16 << 20, bs, false);
        let len = 3 * bs as usize;
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let o = d
            .execute(
                &cdb10(WRITE_10, 5, 3),
                &mut VecBuffer::to_device(data.clone()),
            )
            .unwrap();
        assert_eq!(o, ScsiOutcome::good(len));
        // A larger buffer is fine: the residual is the rest.
        let mut back = VecBuffer::from_device(len + 100);
        let o = d.execute(&cdb16(READ_16, 5, 3), &mut back).unwrap();
        assert_eq!(o, ScsiOutcome::good(len));
        assert_eq!(&back.bytes[..len], &data[..]);
        let c = d.counters();
        assert_eq!((c.reads, c.writes), (1, 1));
        assert_eq!((c.bytes_read, c.bytes_written), (len as u64, len as u64));
        assert_eq!(c.errors, 0);
    }
}

#[test]
fn transfers_larger_than_the_copy_chunk() {
    let mut d = ram_disk(16 << 20, 512, false);
    let len = 1 << 20;
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let blocks = (len / 512) as u32;
    let o = d
        .execute(
            &cdb16(WRITE_16, 100, blocks),
            &mut VecBuffer::to_device(data.clone()),
        )
        .unwrap();
    assert!(o.is_good());
    let mut back = VecBuffer::from_device(len);
    assert!(d
        .execute(&cdb16(READ_16, 100, blocks), &mut back)
        .unwrap()
        .is_good());
    assert!(back.bytes == data);
}

#[test]
fn lbas_past_the_end_are_out_of_range() {
    let mut d = ram_disk(1 << 20, 512, false);
    let blocks = 2048u32;
    let mut buf = VecBuffer::from_device(4096);
    check(
        d.execute(&cdb10(READ_10, blocks - 1, 2), &mut buf).unwrap(),
        Sense::LBA_OUT_OF_RANGE,
    );
    check(
        d.execute(&cdb10(READ_10, blocks, 0), &mut buf).unwrap(),
        Sense::LBA_OUT_OF_RANGE,
    );
    check(
        d.execute(&cdb16(READ_16, u64::MAX, 2), &mut buf).unwrap(),
        Sense::LBA_OUT_OF_RANGE,
    );
    let mut w = VecBuffer::to_device(vec![0; 1024]);
    check(
        d.execute(&cdb16(WRITE_16, u64::MAX - 1, 2), &mut w)
            .unwrap(),
        Sense::LBA_OUT_OF_RANGE,
    );
    check(
        d.execute(
            &cdb10(SYNCHRONIZE_CACHE_10, blocks + 1, 0),
            &mut VecBuffer::none(),
        )
        .unwrap(),
        Sense::LBA_OUT_OF_RANGE,
    );
    // The last block itself is fine; a zero-length read moves nothing.
    assert!(d
        .execute(&cdb10(READ_10, blocks - 1, 1), &mut buf)
        .unwrap()
        .is_good());
    assert_eq!(
        d.execute(&cdb10(READ_10, 0, 0), &mut buf).unwrap(),
        ScsiOutcome::good(0)
    );
    assert_eq!(d.counters().errors, 5);
}

#[test]
fn bad_buffers_and_directions() {
    let mut d = ram_disk(1 << 20, 512, false);
    // The buffer holds one block, the command wants two.
    let mut small = VecBuffer::from_device(512);
    check(
        d.execute(&cdb10(READ_10, 0, 2), &mut small).unwrap(),
        Sense::INVALID_FIELD_IN_CDB,
    );
    // A read into a buffer declared as data-out is a transport error.
    let mut wrong = VecBuffer::to_device(vec![0; 512]);
    assert!(matches!(
        d.execute(&cdb10(READ_10, 0, 1), &mut wrong),
        Err(DataError::WrongDirection { .. })
    ));
    let mut wrong = VecBuffer::from_device(512);
    assert!(d.execute(&cdb10(WRITE_10, 0, 1), &mut wrong).is_err());
    assert!(d
        .execute(
            &[INQUIRY, 0, 0, 0, 36, 0],
            &mut VecBuffer::to_device(vec![0; 36])
        )
        .is_err());
    // No buffer at all: INQUIRY transfers nothing and still succeeds.
    assert_eq!(
        d.execute(&[INQUIRY, 0, 0, 0, 36, 0], &mut VecBuffer::none())
            .unwrap(),
        ScsiOutcome::good(0)
    );
}

#[test]
fn read_only_disks_refuse_writes() {
    let mut d = ram_disk(1 << 20, 512, true);
    let mut w = VecBuffer::to_device(vec![1; 512]);
    check(
        d.execute(&cdb10(WRITE_10, 0, 1), &mut w).unwrap(),
        Sense::WRITE_PROTECTED,
    );
    let mut params = VecBuffer::to_device(vec![0; 24]);
    check(
        d.execute(&[UNMAP, 0, 0, 0, 0, 0, 0, 0, 24, 0], &mut params)
            .unwrap(),
        Sense::WRITE_PROTECTED,
    );
    check(
        d.execute(&cdb16(WRITE_SAME_16, 0, 1), &mut w).unwrap(),
        Sense::WRITE_PROTECTED,
    );
    assert!(d
        .execute(&cdb10(SYNCHRONIZE_CACHE_10, 0, 0), &mut VecBuffer::none())
        .unwrap()
        .is_good());
    // MODE SENSE says so.
    let mut ms = VecBuffer::from_device(255);
    assert!(d
        .execute(&[MODE_SENSE_6, 0, 0x3f, 0, 255, 0], &mut ms)
        .unwrap()
        .is_good());
    assert_eq!(ms.bytes[2] & 0x80, 0x80);
}

fn unmap_list(descriptors: &[(u64, u32)]) -> Vec<u8> {
    let mut l = vec![0u8; 8];
    let bd = (descriptors.len() * 16) as u16;
    l[0..2].copy_from_slice(&(bd + 6).to_be_bytes());
    l[2..4].copy_from_slice(&bd.to_be_bytes());
    for &(lba, n) in descriptors {
        l.extend_from_slice(&lba.to_be_bytes());
        l.extend_from_slice(&n.to_be_bytes());
        l.extend_from_slice(&[0; 4]);
    }
    l
}

fn unmap_cdb(len: usize) -> [u8; 10] {
    let mut c = [0u8; 10];
    c[0] = UNMAP;
    c[7..9].copy_from_slice(&(len as u16).to_be_bytes());
    c
}

#[test]
fn unmap_frees_and_zeroes() {
    let mut d = ram_disk(4 << 20, 512, false);
    let ones = vec![0xffu8; 1 << 20];
    assert!(d
        .execute(&cdb16(WRITE_16, 0, 2048), &mut VecBuffer::to_device(ones))
        .unwrap()
        .is_good());
    assert_eq!(d.allocated_bytes(), Some(1 << 20));
    let list = unmap_list(&[(0, 1024), (1024 + 128, 128)]);
    let o = d
        .execute(&unmap_cdb(list.len()), &mut VecBuffer::to_device(list))
        .unwrap();
    assert!(o.is_good());
    assert!(d.allocated_bytes().unwrap() <= (1 << 20) - (512 << 10));
    let mut back = VecBuffer::from_device(512 << 10);
    assert!(d
        .execute(&cdb16(READ_16, 0, 1024), &mut back)
        .unwrap()
        .is_good());
    assert!(back.bytes.iter().all(|&b| b == 0));
    let c = d.counters();
    assert_eq!(c.unmaps, 1);
    assert_eq!(c.bytes_unmapped, (1024 + 128) * 512);
    let _ = RAM_CHUNK;
}

#[test]
fn malformed_unmap_parameter_lists() {
    let mut d = ram_disk(4 << 20, 512, false);
    let blocks = (4 << 20) / 512;
    // Zero length is a no-op; 1..7 bytes is a length error.
    assert!(d
        .execute(&unmap_cdb(0), &mut VecBuffer::none())
        .unwrap()
        .is_good());
    check(
        d.execute(&unmap_cdb(4), &mut VecBuffer::to_device(vec![0; 4]))
            .unwrap(),
        Sense::PARAMETER_LIST_LENGTH_ERROR,
    );
    // The CDB claims 24 bytes but the buffer holds 4.
    check(
        d.execute(&unmap_cdb(24), &mut VecBuffer::to_device(vec![0; 4]))
            .unwrap(),
        Sense::PARAMETER_LIST_LENGTH_ERROR,
    );
    let past_end = unmap_list(&[(blocks - 1, 2)]);
    check(
        d.execute(
            &unmap_cdb(past_end.len()),
            &mut VecBuffer::to_device(past_end),
        )
        .unwrap(),
        Sense::LBA_OUT_OF_RANGE,
    );
    let too_big = unmap_list(&[(0, u32::MAX)]);
    check(
        d.execute(
            &unmap_cdb(too_big.len()),
            &mut VecBuffer::to_device(too_big),
        )
        .unwrap(),
        Sense::INVALID_FIELD_IN_PARAMETER_LIST,
    );
    let many: Vec<(u64, u32)> = (0..65).map(|i| (i * 8, 8)).collect();
    let many = unmap_list(&many);
    check(
        d.execute(&unmap_cdb(many.len()), &mut VecBuffer::to_device(many))
            .unwrap(),
        Sense::INVALID_FIELD_IN_PARAMETER_LIST,
    );
    // A descriptor length beyond the list is clipped to what was sent.
    let mut lying = unmap_list(&[(0, 8)]);
    lying[2..4].copy_from_slice(&0xfff0u16.to_be_bytes());
    assert!(d
        .execute(&unmap_cdb(lying.len()), &mut VecBuffer::to_device(lying))
        .unwrap()
        .is_good());
}

#[test]
fn write_same_unmaps_zeros_and_repeats_patterns() {
    let mut d = ram_disk(4 << 20, 512, false);
    let mut pattern = vec![0u8; 512];
    pattern[0] = 0xab;
    pattern[511] = 0xcd;
    assert!(d
        .execute(
            &cdb16(WRITE_SAME_16, 10, 600),
            &mut VecBuffer::to_device(pattern.clone())
        )
        .unwrap()
        .is_good());
    let mut back = VecBuffer::from_device(600 * 512);
    assert!(d
        .execute(&cdb16(READ_16, 10, 600), &mut back)
        .unwrap()
        .is_good());
    assert!(back.bytes.chunks(512).all(|b| b == &pattern[..]));
    // WRITE SAME(16) with UNMAP and a zero block deallocates.
    let allocated = d.allocated_bytes().unwrap();
    let mut ws = cdb16(WRITE_SAME_16, 0, 2048);
    ws[1] = 0x08;
    assert!(d
        .execute(&ws, &mut VecBuffer::to_device(vec![0; 512]))
        .unwrap()
        .is_good());
    assert!(d.allocated_bytes().unwrap() < allocated);
    assert!(d
        .execute(&cdb16(READ_16, 10, 600), &mut back)
        .unwrap()
        .is_good());
    assert!(back.bytes.iter().all(|&b| b == 0));
    // WRITE SAME(10) with UNMAP works the same; NDOB needs no buffer.
    let mut ws10 = cdb10(WRITE_SAME_10, 0, 16);
    ws10[1] = 0x08;
    assert!(d
        .execute(&ws10, &mut VecBuffer::to_device(vec![0; 512]))
        .unwrap()
        .is_good());
    let mut ndob = cdb16(WRITE_SAME_16, 0, 16);
    ndob[1] = 0x09;
    assert!(d.execute(&ndob, &mut VecBuffer::none()).unwrap().is_good());
    // Zero blocks, too many blocks, no data block.
    let mut b = VecBuffer::to_device(vec![0; 512]);
    check(
        d.execute(&cdb16(WRITE_SAME_16, 0, 0), &mut b).unwrap(),
        Sense::INVALID_FIELD_IN_CDB,
    );
    check(
        d.execute(&cdb16(WRITE_SAME_16, 0, u32::MAX), &mut b)
            .unwrap(),
        Sense::INVALID_FIELD_IN_CDB,
    );
    check(
        d.execute(&cdb16(WRITE_SAME_16, 8191, 2), &mut b).unwrap(),
        Sense::LBA_OUT_OF_RANGE,
    );
    check(
        d.execute(
            &cdb16(WRITE_SAME_16, 0, 1),
            &mut VecBuffer::to_device(vec![0; 100]),
        )
        .unwrap(),
        Sense::PARAMETER_LIST_LENGTH_ERROR,
    );
}

/// A backend whose every access fails.
struct BrokenBackend;

impl BlockBackend for BrokenBackend {
    fn describe(&self) -> String {
        "broken".into()
    }
    fn size(&self) -> u64 {
        1 << 20
    }
    fn read_at(&mut self, _: u64, _: &mut [u8]) -> std::io::Result<()> {
        Err(std::io::Error::other("EIO"))
    }
    fn write_at(&mut self, _: u64, _: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::other("EIO"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::other("EIO"))
    }
    fn discard(&mut self, _: u64, _: u64) -> std::io::Result<()> {
        Err(std::io::Error::other("EIO"))
    }
    fn allocated_bytes(&self) -> Option<u64> {
        None
    }
}

#[test]
fn backend_errors_are_medium_errors() {
    let mut d = ScsiDisk::new(Box::new(BrokenBackend), 512, false, identity()).unwrap();
    check(
        d.execute(&cdb10(READ_10, 0, 1), &mut VecBuffer::from_device(512))
            .unwrap(),
        Sense::UNRECOVERED_READ_ERROR,
    );
    check(
        d.execute(
            &cdb10(WRITE_10, 0, 1),
            &mut VecBuffer::to_device(vec![0; 512]),
        )
        .unwrap(),
        Sense::WRITE_ERROR,
    );
    check(
        d.execute(&cdb10(SYNCHRONIZE_CACHE_10, 0, 0), &mut VecBuffer::none())
            .unwrap(),
        Sense::WRITE_ERROR,
    );
    assert_eq!(d.counters().errors, 3);
}
