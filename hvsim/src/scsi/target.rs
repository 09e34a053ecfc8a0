// SPDX-License-Identifier: GPL-2.0
//! The target: the logical units of one controller, addressed as path 0, target 0, LUN n —
//! the way Hyper-V places the disks of a synthetic SCSI controller (Linux sees `H:0:0:n`).
//!
//! It answers what belongs to the target rather than a unit: REPORT LUNS (SPC-4 "REPORT LUNS
//! parameter data", single-level peripheral addressing) and INQUIRY at an empty LUN
//! (peripheral qualifier 3, so a scan moves on). Other paths and targets look like targets
//! without logical units (the same INQUIRY answer, an empty REPORT LUNS), never like missing
//! units: Linux's `storvsc_remove_lun()` looks the unit up on channel 0 whatever the path,
//! so "no such LUN" at path 3 would remove the disk at path 0. Anything else sent to an
//! empty LUN is [`TargetError::NoSuchLun`]: the controller reports it the way the initiator
//! expects for a unit that went away (Linux then removes its device).

use std::collections::BTreeMap;

use super::cdb::{self, Command};
use super::disk::ScsiDisk;
use super::inquiry::{standard_data, NO_LUN};
use super::sense::Sense;
use super::{send_data, DataBuffer, DataError, ScsiOutcome};

/// Highest LUN: storvsc scans LUNs below 255 (`STORVSC_MAX_LUNS_PER_TARGET`), and the
/// single-level address used here holds 0..=255.
pub const MAX_LUN: u8 = 254;

/// Why a command did not reach a logical unit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Nothing at this path/target/LUN.
    #[error("no logical unit at this address")]
    NoSuchLun,
    /// The data buffer was unusable.
    #[error(transparent)]
    Data(#[from] DataError),
}

/// A disk cannot go to this LUN: it is taken or above [`MAX_LUN`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("LUN {0} is taken or above {MAX_LUN}")]
pub struct LunUnavailable(pub u8);

/// The REPORT LUNS parameter data for `luns`.
pub fn lun_list(luns: &[u8]) -> Vec<u8> {
    let mut list = vec![0u8; 8 + 8 * luns.len()];
    list[..4].copy_from_slice(&((8 * luns.len()) as u32).to_be_bytes());
    for (i, &lun) in luns.iter().enumerate() {
        // Peripheral device addressing: bus 0, LUN in byte 1.
        list[8 + 8 * i + 1] = lun;
    }
    list
}

/// The logical units of a controller.
#[derive(Debug, Default)]
pub struct ScsiTarget {
    luns: BTreeMap<u8, ScsiDisk>,
}

impl ScsiTarget {
    /// A target without logical units.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a disk at `lun`, unless the LUN is taken or out of range.
    pub fn insert(&mut self, lun: u8, disk: ScsiDisk) -> Result<(), LunUnavailable> {
        if lun > MAX_LUN || self.luns.contains_key(&lun) {
            return Err(LunUnavailable(lun));
        }
        self.luns.insert(lun, disk);
        Ok(())
    }

    /// Removes the disk at `lun`.
    pub fn remove(&mut self, lun: u8) -> Option<ScsiDisk> {
        self.luns.remove(&lun)
    }

    /// The disk at `lun`.
    pub fn get(&self, lun: u8) -> Option<&ScsiDisk> {
        self.luns.get(&lun)
    }

    /// Every (LUN, disk), by LUN.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &ScsiDisk)> {
        self.luns.iter().map(|(&l, d)| (l, d))
    }

    /// The lowest free LUN.
    pub fn free_lun(&self) -> Option<u8> {
        (0..=MAX_LUN).find(|l| !self.luns.contains_key(l))
    }

    /// Number of logical units.
    pub fn len(&self) -> usize {
        self.luns.len()
    }

    /// Whether there is no logical unit.
    pub fn is_empty(&self) -> bool {
        self.luns.is_empty()
    }

    /// Runs `cdb` for path/target/LUN.
    pub fn execute(
        &mut self,
        path: u8,
        target: u8,
        lun: u8,
        cdb_bytes: &[u8],
        data: &mut dyn DataBuffer,
    ) -> Result<ScsiOutcome, TargetError> {
        // The disks all sit at path 0, target 0; other addresses are empty targets.
        let here = path == 0 && target == 0;
        let command = match cdb::parse(cdb_bytes) {
            Ok(c) => c,
            Err(sense) => {
                return match self.luns.get_mut(&lun).filter(|_| here) {
                    Some(disk) => Ok(disk.execute(cdb_bytes, data)?),
                    // An unknown opcode at an empty LUN: nobody is there to refuse it.
                    None if sense == Sense::INVALID_OPCODE => Err(TargetError::NoSuchLun),
                    None => Ok(ScsiOutcome::check(sense)),
                };
            }
        };
        if let Command::ReportLuns {
            select,
            allocation_length,
        } = command
        {
            // SELECT REPORT 1 asks for well-known LUNs only, of which there are none.
            let luns: Vec<u8> = if select == 1 || !here {
                Vec::new()
            } else {
                self.luns.keys().copied().collect()
            };
            let n = send_data(data, &lun_list(&luns), allocation_length)?;
            return Ok(ScsiOutcome::good(n));
        }
        match self.luns.get_mut(&lun).filter(|_| here) {
            Some(disk) => Ok(disk.execute_command(&command, data)?),
            None => match command {
                Command::Inquiry {
                    vpd_page: None,
                    allocation_length,
                } => {
                    let n = send_data(data, &standard_data(NO_LUN), allocation_length)?;
                    Ok(ScsiOutcome::good(n))
                }
                _ => Err(TargetError::NoSuchLun),
            },
        }
    }
}
