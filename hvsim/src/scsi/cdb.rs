// SPDX-License-Identifier: GPL-2.0
//! Command descriptor blocks: the commands this target implements, parsed from CDB bytes into
//! a [`Command`] or refused with the sense data the initiator must see. Field positions:
//! SPC-4 and SBC-3 (each command's CDB table); opcode values as in Linux's
//! `include/scsi/scsi_proto.h`.

use super::sense::Sense;

/// TEST UNIT READY.
pub const TEST_UNIT_READY: u8 = 0x00;
/// REQUEST SENSE.
pub const REQUEST_SENSE: u8 = 0x03;
/// READ(6).
pub const READ_6: u8 = 0x08;
/// WRITE(6).
pub const WRITE_6: u8 = 0x0a;
/// INQUIRY.
pub const INQUIRY: u8 = 0x12;
/// MODE SENSE(6).
pub const MODE_SENSE_6: u8 = 0x1a;
/// READ CAPACITY(10).
pub const READ_CAPACITY_10: u8 = 0x25;
/// READ(10).
pub const READ_10: u8 = 0x28;
/// WRITE(10).
pub const WRITE_10: u8 = 0x2a;
/// SYNCHRONIZE CACHE(10).
pub const SYNCHRONIZE_CACHE_10: u8 = 0x35;
/// WRITE SAME(10).
pub const WRITE_SAME_10: u8 = 0x41;
/// UNMAP.
pub const UNMAP: u8 = 0x42;
/// MODE SENSE(10).
pub const MODE_SENSE_10: u8 = 0x5a;
/// READ(16).
pub const READ_16: u8 = 0x88;
/// WRITE(16).
pub const WRITE_16: u8 = 0x8a;
/// SYNCHRONIZE CACHE(16).
pub const SYNCHRONIZE_CACHE_16: u8 = 0x91;
/// WRITE SAME(16).
pub const WRITE_SAME_16: u8 = 0x93;
/// SERVICE ACTION IN(16), whose service action 10h is READ CAPACITY(16).
pub const SERVICE_ACTION_IN_16: u8 = 0x9e;
/// REPORT LUNS.
pub const REPORT_LUNS: u8 = 0xa0;

/// SERVICE ACTION IN(16) service action: READ CAPACITY(16).
pub const SAI_READ_CAPACITY_16: u8 = 0x10;

/// MODE SENSE page control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageControl {
    /// Current values.
    Current,
    /// Which bits the initiator may change (none here).
    Changeable,
    /// Default values.
    Default,
}

/// A parsed command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// TEST UNIT READY.
    TestUnitReady,
    /// REQUEST SENSE.
    RequestSense {
        /// Bytes the initiator takes.
        allocation_length: usize,
    },
    /// INQUIRY: standard data, or the VPD page named.
    Inquiry {
        /// The VPD page, if EVPD is set.
        vpd_page: Option<u8>,
        /// Bytes the initiator takes.
        allocation_length: usize,
    },
    /// MODE SENSE(6) or (10).
    ModeSense {
        /// Page code (3Fh: all pages).
        page: u8,
        /// Subpage code.
        subpage: u8,
        /// Which values.
        control: PageControl,
        /// Disable block descriptors.
        dbd: bool,
        /// The 10-byte variant (8-byte header).
        ten: bool,
        /// Long LBA block descriptors accepted (10-byte variant only).
        long_lba: bool,
        /// Bytes the initiator takes.
        allocation_length: usize,
    },
    /// READ CAPACITY(10).
    ReadCapacity10,
    /// READ CAPACITY(16).
    ReadCapacity16 {
        /// Bytes the initiator takes.
        allocation_length: usize,
    },
    /// READ(6/10/16).
    Read {
        /// First block.
        lba: u64,
        /// Blocks to read.
        blocks: u32,
    },
    /// WRITE(6/10/16).
    Write {
        /// First block.
        lba: u64,
        /// Blocks to write.
        blocks: u32,
    },
    /// SYNCHRONIZE CACHE(10/16).
    SynchronizeCache {
        /// First block.
        lba: u64,
        /// Blocks (0: to the end).
        blocks: u32,
    },
    /// UNMAP.
    Unmap {
        /// Bytes of the parameter list.
        parameter_length: usize,
    },
    /// WRITE SAME(10/16).
    WriteSame {
        /// First block.
        lba: u64,
        /// Blocks (0: to the end, which this target refuses).
        blocks: u32,
        /// Unmap the blocks instead of writing, if the data is zeros.
        unmap: bool,
        /// No data-out buffer: the block is zeros (16-byte variant only).
        ndob: bool,
    },
    /// REPORT LUNS.
    ReportLuns {
        /// SELECT REPORT field.
        select: u8,
        /// Bytes the initiator takes.
        allocation_length: usize,
    },
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Bytes of the CDB of `opcode` (the group code in the top three bits decides).
pub fn cdb_len(opcode: u8) -> usize {
    match opcode >> 5 {
        0 => 6,
        1 | 2 => 10,
        4 => 16,
        5 => 12,
        _ => 0,
    }
}

/// Parses a CDB. Unknown opcodes get INVALID COMMAND OPERATION CODE; known ones with a short
/// CDB or a field this target does not support get INVALID FIELD IN CDB.
pub fn parse(cdb: &[u8]) -> Result<Command, Sense> {
    let opcode = *cdb.first().ok_or(Sense::INVALID_OPCODE)?;
    let known = matches!(
        opcode,
        TEST_UNIT_READY
            | REQUEST_SENSE
            | READ_6
            | WRITE_6
            | INQUIRY
            | MODE_SENSE_6
            | READ_CAPACITY_10
            | READ_10
            | WRITE_10
            | SYNCHRONIZE_CACHE_10
            | WRITE_SAME_10
            | UNMAP
            | MODE_SENSE_10
            | READ_16
            | WRITE_16
            | SYNCHRONIZE_CACHE_16
            | WRITE_SAME_16
            | SERVICE_ACTION_IN_16
            | REPORT_LUNS
    );
    if !known {
        return Err(Sense::INVALID_OPCODE);
    }
    if cdb.len() < cdb_len(opcode) {
        return Err(Sense::INVALID_FIELD_IN_CDB);
    }
    let invalid = Sense::INVALID_FIELD_IN_CDB;
    // RDPROTECT / WRPROTECT: this target has no protection information.
    let no_protection = |b: u8| if b >> 5 != 0 { Err(invalid) } else { Ok(()) };
    Ok(match opcode {
        TEST_UNIT_READY => Command::TestUnitReady,
        REQUEST_SENSE => Command::RequestSense {
            allocation_length: usize::from(cdb[4]),
        },
        INQUIRY => {
            let evpd = cdb[1] & 0x01 != 0;
            // CMDDT (obsolete) and a page code without EVPD are invalid.
            if cdb[1] & 0x02 != 0 || (!evpd && cdb[2] != 0) {
                return Err(invalid);
            }
            Command::Inquiry {
                vpd_page: evpd.then_some(cdb[2]),
                allocation_length: usize::from(be16(&cdb[3..5])),
            }
        }
        MODE_SENSE_6 | MODE_SENSE_10 => {
            let control = match cdb[2] >> 6 {
                0 => PageControl::Current,
                1 => PageControl::Changeable,
                2 => PageControl::Default,
                _ => return Err(Sense::SAVING_PARAMETERS_NOT_SUPPORTED),
            };
            let ten = opcode == MODE_SENSE_10;
            Command::ModeSense {
                page: cdb[2] & 0x3f,
                subpage: cdb[3],
                control,
                dbd: cdb[1] & 0x08 != 0,
                ten,
                long_lba: ten && cdb[1] & 0x10 != 0,
                allocation_length: if ten {
                    usize::from(be16(&cdb[7..9]))
                } else {
                    usize::from(cdb[4])
                },
            }
        }
        READ_CAPACITY_10 => {
            // Without PMI the LBA field must be zero.
            if cdb[8] & 0x01 == 0 && be32(&cdb[2..6]) != 0 {
                return Err(invalid);
            }
            Command::ReadCapacity10
        }
        SERVICE_ACTION_IN_16 => {
            if cdb[1] & 0x1f != SAI_READ_CAPACITY_16 {
                return Err(invalid);
            }
            Command::ReadCapacity16 {
                allocation_length: be32(&cdb[10..14]) as usize,
            }
        }
        READ_6 | WRITE_6 => {
            let lba = u64::from(be32(&cdb[0..4]) & 0x001f_ffff);
            // A transfer length of 0 means 256 blocks in the 6-byte commands.
            let blocks = match cdb[4] {
                0 => 256,
                n => u32::from(n),
            };
            if opcode == READ_6 {
                Command::Read { lba, blocks }
            } else {
                Command::Write { lba, blocks }
            }
        }
        READ_10 | WRITE_10 => {
            no_protection(cdb[1])?;
            let lba = u64::from(be32(&cdb[2..6]));
            let blocks = u32::from(be16(&cdb[7..9]));
            if opcode == READ_10 {
                Command::Read { lba, blocks }
            } else {
                Command::Write { lba, blocks }
            }
        }
        READ_16 | WRITE_16 => {
            no_protection(cdb[1])?;
            let lba = be64(&cdb[2..10]);
            let blocks = be32(&cdb[10..14]);
            if opcode == READ_16 {
                Command::Read { lba, blocks }
            } else {
                Command::Write { lba, blocks }
            }
        }
        SYNCHRONIZE_CACHE_10 => Command::SynchronizeCache {
            lba: u64::from(be32(&cdb[2..6])),
            blocks: u32::from(be16(&cdb[7..9])),
        },
        SYNCHRONIZE_CACHE_16 => Command::SynchronizeCache {
            lba: be64(&cdb[2..10]),
            blocks: be32(&cdb[10..14]),
        },
        UNMAP => {
            // ANCHOR needs anchored-LBA support, which this target does not claim.
            if cdb[1] & 0x01 != 0 {
                return Err(invalid);
            }
            Command::Unmap {
                parameter_length: usize::from(be16(&cdb[7..9])),
            }
        }
        WRITE_SAME_10 | WRITE_SAME_16 => {
            no_protection(cdb[1])?;
            // ANCHOR (bit 4) is not supported; NDOB exists only in the 16-byte CDB.
            if cdb[1] & 0x10 != 0 || (opcode == WRITE_SAME_10 && cdb[1] & 0x01 != 0) {
                return Err(invalid);
            }
            let (lba, blocks) = if opcode == WRITE_SAME_10 {
                (u64::from(be32(&cdb[2..6])), u32::from(be16(&cdb[7..9])))
            } else {
                (be64(&cdb[2..10]), be32(&cdb[10..14]))
            };
            Command::WriteSame {
                lba,
                blocks,
                unmap: cdb[1] & 0x08 != 0,
                ndob: cdb[1] & 0x01 != 0,
            }
        }
        REPORT_LUNS => {
            let allocation_length = be32(&cdb[6..10]) as usize;
            // SPC-4: fewer than 16 bytes is an invalid allocation length.
            if cdb[2] > 2 || allocation_length < 16 {
                return Err(invalid);
            }
            Command::ReportLuns {
                select: cdb[2],
                allocation_length,
            }
        }
        _ => return Err(Sense::INVALID_OPCODE),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_in_every_size() {
        assert_eq!(
            parse(&[READ_10, 0, 0, 0, 0x10, 0, 0, 0, 8, 0]),
            Ok(Command::Read {
                lba: 0x1000,
                blocks: 8
            })
        );
        let mut w16 = [0u8; 16];
        w16[0] = WRITE_16;
        w16[2..10].copy_from_slice(&0x1_0000_0000u64.to_be_bytes());
        w16[10..14].copy_from_slice(&0x10000u32.to_be_bytes());
        assert_eq!(
            parse(&w16),
            Ok(Command::Write {
                lba: 0x1_0000_0000,
                blocks: 0x10000
            })
        );
        assert_eq!(
            parse(&[READ_6, 0xff, 0x12, 0x34, 0, 0]),
            Ok(Command::Read {
                lba: 0x1f_1234,
                blocks: 256
            })
        );
    }

    #[test]
    fn unknown_opcodes_and_short_cdbs() {
        assert_eq!(parse(&[]), Err(Sense::INVALID_OPCODE));
        assert_eq!(parse(&[0xff, 0, 0, 0, 0, 0]), Err(Sense::INVALID_OPCODE));
        // PERSISTENT RESERVE IN, MAINTENANCE IN, ATA PASS-THROUGH(16): not implemented.
        for op in [0x5e, 0xa3, 0x85, 0x1b, 0x2f] {
            assert_eq!(parse(&[op; 16]), Err(Sense::INVALID_OPCODE), "{op:#x}");
        }
        assert_eq!(parse(&[READ_16, 0, 0, 0]), Err(Sense::INVALID_FIELD_IN_CDB));
        assert_eq!(parse(&[INQUIRY, 0, 0]), Err(Sense::INVALID_FIELD_IN_CDB));
    }

    #[test]
    fn invalid_fields_are_refused() {
        // INQUIRY page code without EVPD, and CMDDT.
        assert_eq!(
            parse(&[INQUIRY, 0, 0x80, 0, 96, 0]),
            Err(Sense::INVALID_FIELD_IN_CDB)
        );
        assert_eq!(
            parse(&[INQUIRY, 2, 0, 0, 96, 0]),
            Err(Sense::INVALID_FIELD_IN_CDB)
        );
        // RDPROTECT.
        assert_eq!(
            parse(&[READ_10, 0x20, 0, 0, 0, 0, 0, 0, 1, 0]),
            Err(Sense::INVALID_FIELD_IN_CDB)
        );
        // READ CAPACITY(10) with an LBA but no PMI.
        assert_eq!(
            parse(&[READ_CAPACITY_10, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
            Err(Sense::INVALID_FIELD_IN_CDB)
        );
        // SERVICE ACTION IN with GET LBA STATUS (12h).
        let mut sai = [0u8; 16];
        sai[0] = SERVICE_ACTION_IN_16;
        sai[1] = 0x12;
        assert_eq!(parse(&sai), Err(Sense::INVALID_FIELD_IN_CDB));
        // REPORT LUNS with a tiny allocation length or an unknown selection.
        assert_eq!(
            parse(&[REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0]),
            Err(Sense::INVALID_FIELD_IN_CDB)
        );
        assert_eq!(
            parse(&[REPORT_LUNS, 0, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
            Err(Sense::INVALID_FIELD_IN_CDB)
        );
        // MODE SENSE of saved values.
        assert_eq!(
            parse(&[MODE_SENSE_6, 0, 0xff, 0, 255, 0]),
            Err(Sense::SAVING_PARAMETERS_NOT_SUPPORTED)
        );
        // UNMAP with ANCHOR, WRITE SAME(10) with NDOB.
        assert_eq!(
            parse(&[UNMAP, 1, 0, 0, 0, 0, 0, 0, 24, 0]),
            Err(Sense::INVALID_FIELD_IN_CDB)
        );
        assert_eq!(
            parse(&[WRITE_SAME_10, 1, 0, 0, 0, 0, 0, 0, 1, 0]),
            Err(Sense::INVALID_FIELD_IN_CDB)
        );
    }

    #[test]
    fn informational_commands() {
        assert_eq!(
            parse(&[INQUIRY, 1, 0xb0, 0x01, 0x00, 0]),
            Ok(Command::Inquiry {
                vpd_page: Some(0xb0),
                allocation_length: 256
            })
        );
        let mut rc16 = [0u8; 16];
        rc16[0] = SERVICE_ACTION_IN_16;
        rc16[1] = SAI_READ_CAPACITY_16;
        rc16[13] = 32;
        assert_eq!(
            parse(&rc16),
            Ok(Command::ReadCapacity16 {
                allocation_length: 32
            })
        );
        assert_eq!(
            parse(&[MODE_SENSE_10, 0x18, 0x08, 0, 0, 0, 0, 0x01, 0x00, 0]),
            Ok(Command::ModeSense {
                page: 8,
                subpage: 0,
                control: PageControl::Current,
                dbd: true,
                ten: true,
                long_lba: true,
                allocation_length: 256
            })
        );
        let mut ws = [0u8; 16];
        ws[0] = WRITE_SAME_16;
        ws[1] = 0x08;
        ws[13] = 16;
        assert_eq!(
            parse(&ws),
            Ok(Command::WriteSame {
                lba: 0,
                blocks: 16,
                unmap: true,
                ndob: false
            })
        );
        assert_eq!(cdb_len(0xa0), 12);
        assert_eq!(cdb_len(0xe0), 0);
    }
}
