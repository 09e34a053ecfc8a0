// SPDX-License-Identifier: GPL-2.0
//! Tests of the SCSI target: the commands Linux sends, with good and malformed input.
//! `commands`: informational commands and the target; `io`: block I/O and provisioning.

mod commands;
mod io;

use super::backend::{BlockBackend, RamBackend, RAM_CHUNK};
use super::cdb::*;
use super::disk::{DiskIdentity, ScsiDisk};
use super::sense::Sense;
use super::target::{ScsiTarget, TargetError};
use super::*;

fn identity() -> DiskIdentity {
    DiskIdentity {
        serial: "SERIAL0".into(),
        naa_local: 0x1234_5678_9abc,
    }
}

fn ram_disk(size: u64, block_size: u32, read_only: bool) -> ScsiDisk {
    ScsiDisk::new(
        Box::new(RamBackend::new(size)),
        block_size,
        read_only,
        identity(),
    )
    .unwrap()
}

fn cdb10(op: u8, lba: u32, blocks: u16) -> [u8; 10] {
    let mut c = [0u8; 10];
    c[0] = op;
    c[2..6].copy_from_slice(&lba.to_be_bytes());
    c[7..9].copy_from_slice(&blocks.to_be_bytes());
    c
}

fn cdb16(op: u8, lba: u64, blocks: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = op;
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&blocks.to_be_bytes());
    c
}

fn inquiry(disk: &mut ScsiDisk, page: Option<u8>) -> (ScsiOutcome, Vec<u8>) {
    let mut buf = VecBuffer::from_device(255);
    let cdb = match page {
        None => [INQUIRY, 0, 0, 0, 255, 0],
        Some(p) => [INQUIRY, 1, p, 0, 255, 0],
    };
    let o = disk.execute(&cdb, &mut buf).unwrap();
    buf.bytes.truncate(o.transferred);
    (o, buf.bytes)
}

fn check(o: ScsiOutcome, sense: Sense) {
    assert_eq!(o.status, STATUS_CHECK_CONDITION, "{o:?}");
    assert_eq!(o.sense, Some(sense));
    assert_eq!(o.transferred, 0);
}
