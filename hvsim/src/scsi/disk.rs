// SPDX-License-Identifier: GPL-2.0
//! One logical unit: a direct-access block device over a [`BlockBackend`], with its geometry
//! (512- or 4096-byte logical blocks), write protection, identity (serial number and NAA
//! designator for VPD page 83h), I/O counters, and the dispatch of every command to the file
//! that implements it.

use serde::Serialize;

use super::backend::BlockBackend;
use super::cdb::{self, Command};
use super::sense::Sense;
use super::{send_data, DataBuffer, DataError, ScsiOutcome};

/// Logical block sizes a disk can have.
pub const BLOCK_SIZES: [u32; 2] = [512, 4096];
/// Largest transfer of one command the disk advertises (Block Limits VPD) and the controller
/// announces to the guest.
pub const MAX_TRANSFER_BYTES: u32 = 512 << 10;
/// Most bytes one UNMAP descriptor or WRITE SAME may cover.
pub const MAX_UNMAP_BYTES: u64 = 1 << 30;
/// Most descriptors in one UNMAP parameter list.
pub const MAX_UNMAP_DESCRIPTORS: u32 = 64;
/// Bytes of the host-side copy buffer: data moves between backend and guest in pieces.
pub(super) const COPY_CHUNK: usize = 256 << 10;

/// The T10 vendor identification every disk reports (Hyper-V's, so that Linux's `storvsc`
/// applies the quirks it keys on the vendor, as on Hyper-V).
pub const VENDOR_ID: &[u8; 8] = b"Msft    ";
/// The product identification every disk reports.
pub const PRODUCT_ID: &[u8; 16] = b"Virtual Disk    ";
/// The product revision every disk reports.
pub const PRODUCT_REVISION: &[u8; 4] = b"1.0 ";

/// What makes a disk distinguishable from its neighbours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskIdentity {
    /// Unit serial number (VPD page 80h), printable ASCII.
    pub serial: String,
    /// Locally assigned NAA identifier (VPD page 83h); the low 60 bits are used.
    pub naa_local: u64,
}

/// I/O counters of one disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DiskCounters {
    /// READ commands.
    pub reads: u64,
    /// WRITE and WRITE SAME commands that wrote data.
    pub writes: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// SYNCHRONIZE CACHE commands.
    pub flushes: u64,
    /// UNMAP commands and unmapping WRITE SAMEs.
    pub unmaps: u64,
    /// Bytes unmapped.
    pub bytes_unmapped: u64,
    /// Commands that did not end GOOD.
    pub errors: u64,
}

/// Why a disk cannot be created.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    /// Not 512 or 4096.
    #[error("logical block size {0} is not 512 or 4096")]
    BlockSize(u32),
    /// Smaller than one block.
    #[error("a disk of {size} bytes holds no {block_size}-byte block")]
    TooSmall {
        /// Backend bytes.
        size: u64,
        /// Block size.
        block_size: u32,
    },
}

/// A logical unit. See the module documentation.
pub struct ScsiDisk {
    pub(super) backend: Box<dyn BlockBackend>,
    pub(super) block_size: u32,
    pub(super) blocks: u64,
    pub(super) read_only: bool,
    pub(super) identity: DiskIdentity,
    pub(super) counters: DiskCounters,
}

impl std::fmt::Debug for ScsiDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScsiDisk")
            .field("backend", &self.backend.describe())
            .field("block_size", &self.block_size)
            .field("blocks", &self.blocks)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl ScsiDisk {
    /// A disk of `backend.size() / block_size` blocks (a partial last block is not used).
    pub fn new(
        backend: Box<dyn BlockBackend>,
        block_size: u32,
        read_only: bool,
        identity: DiskIdentity,
    ) -> Result<Self, DiskError> {
        if !BLOCK_SIZES.contains(&block_size) {
            return Err(DiskError::BlockSize(block_size));
        }
        let blocks = backend.size() / u64::from(block_size);
        if blocks == 0 {
            return Err(DiskError::TooSmall {
                size: backend.size(),
                block_size,
            });
        }
        Ok(Self {
            backend,
            block_size,
            blocks,
            read_only,
            identity,
            counters: DiskCounters::default(),
        })
    }

    /// Logical block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }
    /// Capacity in logical blocks.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }
    /// Capacity in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.blocks * u64::from(self.block_size)
    }
    /// Whether writes are refused.
    pub fn read_only(&self) -> bool {
        self.read_only
    }
    /// Serial number and designator.
    pub fn identity(&self) -> &DiskIdentity {
        &self.identity
    }
    /// I/O counters so far.
    pub fn counters(&self) -> DiskCounters {
        self.counters
    }
    /// The backend's description (`ram`, `file:/path`).
    pub fn backend_description(&self) -> String {
        self.backend.describe()
    }
    /// Bytes the backend has allocated, if it knows.
    pub fn allocated_bytes(&self) -> Option<u64> {
        self.backend.allocated_bytes()
    }
    /// Whether the disk supports unmapping (thin provisioning): writable disks do.
    pub fn thin(&self) -> bool {
        !self.read_only
    }
    /// Blocks one UNMAP descriptor or WRITE SAME may cover.
    pub fn max_unmap_blocks(&self) -> u32 {
        u32::try_from(MAX_UNMAP_BYTES / u64::from(self.block_size)).unwrap_or(u32::MAX)
    }

    /// Runs a command. `Err` means the data buffer itself was unusable (a transport error);
    /// everything else, including malformed commands, is an outcome with sense data.
    pub fn execute(
        &mut self,
        cdb_bytes: &[u8],
        data: &mut dyn DataBuffer,
    ) -> Result<ScsiOutcome, DataError> {
        match cdb::parse(cdb_bytes) {
            Ok(command) => self.execute_command(&command, data),
            Err(sense) => {
                self.counters.errors += 1;
                Ok(ScsiOutcome::check(sense))
            }
        }
    }

    /// Runs a parsed command (see [`ScsiDisk::execute`]).
    pub fn execute_command(
        &mut self,
        command: &Command,
        data: &mut dyn DataBuffer,
    ) -> Result<ScsiOutcome, DataError> {
        let result = self.dispatch(command, data);
        if !matches!(result, Ok(o) if o.is_good()) {
            self.counters.errors += 1;
        }
        result
    }

    fn dispatch(
        &mut self,
        command: &Command,
        data: &mut dyn DataBuffer,
    ) -> Result<ScsiOutcome, DataError> {
        match *command {
            Command::TestUnitReady => Ok(ScsiOutcome::good(0)),
            Command::RequestSense { allocation_length } => {
                let n = send_data(data, &Sense::NONE.to_fixed(), allocation_length)?;
                Ok(ScsiOutcome::good(n))
            }
            Command::Inquiry {
                vpd_page,
                allocation_length,
            } => self.inquiry(vpd_page, allocation_length, data),
            Command::ModeSense { .. } => self.mode_sense(command, data),
            Command::ReadCapacity10 => {
                let n = send_data(data, &self.capacity_10(), 8)?;
                Ok(ScsiOutcome::good(n))
            }
            Command::ReadCapacity16 { allocation_length } => {
                let n = send_data(data, &self.capacity_16(), allocation_length)?;
                Ok(ScsiOutcome::good(n))
            }
            Command::Read { lba, blocks } => self.read(lba, blocks, data),
            Command::Write { lba, blocks } => self.write(lba, blocks, data),
            Command::SynchronizeCache { lba, blocks } => self.synchronize_cache(lba, blocks),
            Command::Unmap { parameter_length } => self.unmap(parameter_length, data),
            Command::WriteSame {
                lba,
                blocks,
                unmap,
                ndob,
            } => self.write_same(lba, blocks, unmap, ndob, data),
            // The target answers REPORT LUNS; a lone disk reports only itself as LUN 0.
            Command::ReportLuns {
                allocation_length, ..
            } => {
                let list = super::target::lun_list(&[0]);
                Ok(ScsiOutcome::good(send_data(
                    data,
                    &list,
                    allocation_length,
                )?))
            }
        }
    }

    /// READ CAPACITY(10) data: the last LBA (saturated) and the block size.
    fn capacity_10(&self) -> [u8; 8] {
        let last = u32::try_from(self.blocks - 1).unwrap_or(u32::MAX);
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&last.to_be_bytes());
        b[4..].copy_from_slice(&self.block_size.to_be_bytes());
        b
    }

    /// READ CAPACITY(16) data: last LBA, block size, and thin provisioning with zeroed
    /// unmapped blocks (LBPME, LBPRZ) on writable disks.
    fn capacity_16(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&(self.blocks - 1).to_be_bytes());
        b[8..12].copy_from_slice(&self.block_size.to_be_bytes());
        if self.thin() {
            b[14] = 0x80 | 0x40;
        }
        b
    }

    /// Checks `lba..lba+blocks` against the capacity.
    pub(super) fn check_range(&self, lba: u64, blocks: u64) -> Result<(), Sense> {
        match lba.checked_add(blocks) {
            Some(end) if end <= self.blocks && lba < self.blocks => Ok(()),
            _ => Err(Sense::LBA_OUT_OF_RANGE),
        }
    }
}
