// SPDX-License-Identifier: GPL-2.0
//! A SCSI target for the synthetic SCSI controller: direct-access block devices (SBC) behind
//! logical unit numbers, answering the commands Linux's `sd` and the SCSI midlayer send.
//!
//! It knows nothing of VMBus: a command arrives as CDB bytes plus a [`DataBuffer`] (the guest
//! pages of the request, or a vector in tests) and leaves as a [`ScsiOutcome`] (SAM status,
//! fixed-format sense data, bytes transferred). `storvsp` wraps outcomes into SRB completions.
//!
//! Files by concern: `cdb` (command parsing), `sense` (sense data), `backend` (RAM and file
//! storage), `disk` (a logical unit and its command dispatch), `block_io` (READ / WRITE /
//! SYNCHRONIZE CACHE / UNMAP / WRITE SAME), `inquiry` (standard INQUIRY data and VPD pages),
//! `mode` (MODE SENSE), `target` (the set of logical units, REPORT LUNS).
//!
//! References: SPC-4 (INQUIRY, VPD, MODE SENSE, REPORT LUNS, sense data), SBC-3 (block
//! commands, READ CAPACITY, logical block provisioning); opcodes and sense codes as Linux
//! names them in `include/scsi/scsi_proto.h`.

pub mod backend;
mod block_io;
pub mod cdb;
pub mod disk;
mod inquiry;
mod mode;
pub mod sense;
pub mod target;
#[cfg(test)]
mod tests;

pub use backend::{BlockBackend, FileBackend, RamBackend};
pub use disk::{DiskCounters, DiskIdentity, ScsiDisk};
pub use sense::Sense;
pub use target::{ScsiTarget, TargetError};

/// SAM status: the command completed.
pub const STATUS_GOOD: u8 = 0x00;
/// SAM status: the command failed; sense data says why.
pub const STATUS_CHECK_CONDITION: u8 = 0x02;

/// Which way a command's data moves, as the initiator declared it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Initiator → device (WRITE, UNMAP parameter lists).
    ToDevice,
    /// Device → initiator (READ, INQUIRY, ...).
    FromDevice,
    /// No data.
    None,
}

/// Why the data buffer of a command could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// The command moves data the other way than the initiator declared.
    #[error("the command moves data {needed:?} but the request declared {declared:?}")]
    WrongDirection {
        /// What the command needs.
        needed: Direction,
        /// What the request said.
        declared: Direction,
    },
    /// Copying from or to the buffer failed (guest memory went away, say).
    #[error("data buffer access failed: {0}")]
    Access(String),
}

/// The data of one command: guest pages in `storvsp`, a vector in tests. Offsets are from the
/// start of the buffer; accesses past [`DataBuffer::len`] are errors.
pub trait DataBuffer {
    /// The direction the initiator declared.
    fn direction(&self) -> Direction;
    /// Bytes in the buffer.
    fn len(&self) -> usize;
    /// Whether the buffer is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies `buf.len()` bytes from offset `offset` of the buffer (initiator → device).
    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), DataError>;
    /// Copies `data` to offset `offset` of the buffer (device → initiator).
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), DataError>;
}

/// A [`DataBuffer`] in a vector, for tests and host-internal commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecBuffer {
    /// The declared direction.
    pub direction: Direction,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl VecBuffer {
    /// A buffer of `len` zero bytes for data from the device.
    pub fn from_device(len: usize) -> Self {
        Self {
            direction: Direction::FromDevice,
            bytes: vec![0; len],
        }
    }
    /// A buffer holding `bytes` for the device.
    pub fn to_device(bytes: Vec<u8>) -> Self {
        Self {
            direction: Direction::ToDevice,
            bytes,
        }
    }
    /// No data.
    pub fn none() -> Self {
        Self {
            direction: Direction::None,
            bytes: Vec::new(),
        }
    }
}

impl DataBuffer for VecBuffer {
    fn direction(&self) -> Direction {
        self.direction
    }
    fn len(&self) -> usize {
        self.bytes.len()
    }
    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), DataError> {
        let src = offset
            .checked_add(buf.len())
            .and_then(|end| self.bytes.get(offset..end))
            .ok_or_else(|| DataError::Access(format!("read past the buffer at {offset}")))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), DataError> {
        let dst = offset
            .checked_add(data.len())
            .and_then(|end| self.bytes.get_mut(offset..end))
            .ok_or_else(|| DataError::Access(format!("write past the buffer at {offset}")))?;
        dst.copy_from_slice(data);
        Ok(())
    }
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScsiOutcome {
    /// SAM status byte.
    pub status: u8,
    /// Sense data, with [`STATUS_CHECK_CONDITION`].
    pub sense: Option<Sense>,
    /// Bytes moved through the data buffer.
    pub transferred: usize,
}

impl ScsiOutcome {
    /// GOOD status after moving `transferred` bytes.
    pub fn good(transferred: usize) -> Self {
        Self {
            status: STATUS_GOOD,
            sense: None,
            transferred,
        }
    }

    /// CHECK CONDITION with `sense`.
    pub fn check(sense: Sense) -> Self {
        Self {
            status: STATUS_CHECK_CONDITION,
            sense: Some(sense),
            transferred: 0,
        }
    }

    /// Whether the command succeeded.
    pub fn is_good(&self) -> bool {
        self.status == STATUS_GOOD
    }
}

/// Sends device data to the initiator: at most `allocation_length` bytes and at most what the
/// buffer holds (the rest is residual). Returns the bytes transferred.
pub(crate) fn send_data(
    data: &mut dyn DataBuffer,
    bytes: &[u8],
    allocation_length: usize,
) -> Result<usize, DataError> {
    let n = bytes.len().min(allocation_length).min(data.len());
    if n == 0 {
        return Ok(0);
    }
    if data.direction() != Direction::FromDevice {
        return Err(DataError::WrongDirection {
            needed: Direction::FromDevice,
            declared: data.direction(),
        });
    }
    data.write(0, &bytes[..n])?;
    Ok(n)
}
