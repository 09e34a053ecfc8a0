// SPDX-License-Identifier: GPL-2.0
//! The commands that move or drop blocks (SBC-3): READ and WRITE (6/10/16), SYNCHRONIZE
//! CACHE, UNMAP and WRITE SAME (10/16, with UNMAP). Every LBA range is checked against the
//! capacity before the backend is touched; data moves between guest buffer and backend in
//! [`COPY_CHUNK`] pieces, so no request makes the host allocate more than that.

use super::disk::{ScsiDisk, COPY_CHUNK, MAX_UNMAP_DESCRIPTORS};
use super::sense::Sense;
use super::{DataBuffer, DataError, Direction, ScsiOutcome};

/// Header bytes of an UNMAP parameter list.
const UNMAP_HEADER: usize = 8;
/// Bytes of one UNMAP block descriptor.
const UNMAP_DESCRIPTOR: usize = 16;

fn need_direction(data: &dyn DataBuffer, needed: Direction) -> Result<(), DataError> {
    if data.direction() != needed {
        return Err(DataError::WrongDirection {
            needed,
            declared: data.direction(),
        });
    }
    Ok(())
}

fn log_backend_error(disk: &ScsiDisk, what: &str, offset: u64, e: &std::io::Error) {
    if crate::vmbus::warn_allowed() {
        tracing::warn!(
            backend = disk.backend.describe(),
            offset,
            "disk {what} failed: {e}"
        );
    }
}

impl ScsiDisk {
    /// Bytes of `blocks` blocks, if they fit the data buffer.
    /// The bytes a READ or WRITE of `blocks` at `lba` moves, once the range is on the medium
    /// and the buffer holds them; otherwise the sense data to answer with.
    fn checked_transfer(
        &self,
        lba: u64,
        blocks: u32,
        data: &dyn DataBuffer,
    ) -> Result<usize, Sense> {
        self.check_range(lba, u64::from(blocks))?;
        self.transfer_bytes(blocks, data)
    }

    fn transfer_bytes(&self, blocks: u32, data: &dyn DataBuffer) -> Result<usize, Sense> {
        let bytes = u64::from(blocks) * u64::from(self.block_size);
        match usize::try_from(bytes) {
            Ok(n) if n <= data.len() => Ok(n),
            // The initiator's buffer is smaller than the transfer it asked for.
            _ => Err(Sense::INVALID_FIELD_IN_CDB),
        }
    }

    pub(super) fn read(
        &mut self,
        lba: u64,
        blocks: u32,
        data: &mut dyn DataBuffer,
    ) -> Result<ScsiOutcome, DataError> {
        let total = match self.checked_transfer(lba, blocks, data) {
            Ok(n) => n,
            Err(sense) => return Ok(ScsiOutcome::check(sense)),
        };
        if total == 0 {
            return Ok(ScsiOutcome::good(0));
        }
        need_direction(data, Direction::FromDevice)?;
        let base = lba * u64::from(self.block_size);
        let mut buf = vec![0u8; total.min(COPY_CHUNK)];
        let mut done = 0;
        while done < total {
            let n = (total - done).min(COPY_CHUNK);
            let offset = base + done as u64;
            if let Err(e) = self.backend.read_at(offset, &mut buf[..n]) {
                log_backend_error(self, "read", offset, &e);
                return Ok(ScsiOutcome::check(Sense::UNRECOVERED_READ_ERROR));
            }
            data.write(done, &buf[..n])?;
            done += n;
        }
        self.counters.reads += 1;
        self.counters.bytes_read += total as u64;
        Ok(ScsiOutcome::good(total))
    }

    pub(super) fn write(
        &mut self,
        lba: u64,
        blocks: u32,
        data: &mut dyn DataBuffer,
    ) -> Result<ScsiOutcome, DataError> {
        if self.read_only {
            return Ok(ScsiOutcome::check(Sense::WRITE_PROTECTED));
        }
        let total = match self.checked_transfer(lba, blocks, data) {
            Ok(n) => n,
            Err(sense) => return Ok(ScsiOutcome::check(sense)),
        };
        if total == 0 {
            return Ok(ScsiOutcome::good(0));
        }
        need_direction(data, Direction::ToDevice)?;
        let base = lba * u64::from(self.block_size);
        let mut buf = vec![0u8; total.min(COPY_CHUNK)];
        let mut done = 0;
        while done < total {
            let n = (total - done).min(COPY_CHUNK);
            data.read(done, &mut buf[..n])?;
            let offset = base + done as u64;
            if let Err(e) = self.backend.write_at(offset, &buf[..n]) {
                log_backend_error(self, "write", offset, &e);
                return Ok(ScsiOutcome::check(Sense::WRITE_ERROR));
            }
            done += n;
        }
        self.counters.writes += 1;
        self.counters.bytes_written += total as u64;
        Ok(ScsiOutcome::good(total))
    }

    pub(super) fn synchronize_cache(
        &mut self,
        lba: u64,
        blocks: u32,
    ) -> Result<ScsiOutcome, DataError> {
        // Zero blocks means "to the end of the medium".
        let count = if blocks == 0 {
            self.blocks.saturating_sub(lba)
        } else {
            u64::from(blocks)
        };
        if let Err(sense) = self.check_range(lba, count) {
            return Ok(ScsiOutcome::check(sense));
        }
        self.counters.flushes += 1;
        if self.read_only {
            return Ok(ScsiOutcome::good(0));
        }
        if let Err(e) = self.backend.flush() {
            log_backend_error(self, "flush", 0, &e);
            return Ok(ScsiOutcome::check(Sense::WRITE_ERROR));
        }
        Ok(ScsiOutcome::good(0))
    }

    /// Deallocates checked block ranges.
    fn discard_blocks(&mut self, ranges: &[(u64, u64)]) -> ScsiOutcome {
        let bs = u64::from(self.block_size);
        for &(lba, blocks) in ranges {
            if let Err(e) = self.backend.discard(lba * bs, blocks * bs) {
                log_backend_error(self, "unmap", lba * bs, &e);
                return ScsiOutcome::check(Sense::WRITE_ERROR);
            }
            self.counters.bytes_unmapped += blocks * bs;
        }
        self.counters.unmaps += 1;
        ScsiOutcome::good(0)
    }

    pub(super) fn unmap(
        &mut self,
        parameter_length: usize,
        data: &mut dyn DataBuffer,
    ) -> Result<ScsiOutcome, DataError> {
        if self.read_only {
            return Ok(ScsiOutcome::check(Sense::WRITE_PROTECTED));
        }
        if parameter_length == 0 {
            return Ok(ScsiOutcome::good(0));
        }
        if parameter_length < UNMAP_HEADER {
            return Ok(ScsiOutcome::check(Sense::PARAMETER_LIST_LENGTH_ERROR));
        }
        let len = parameter_length.min(data.len());
        if len < UNMAP_HEADER {
            return Ok(ScsiOutcome::check(Sense::PARAMETER_LIST_LENGTH_ERROR));
        }
        need_direction(data, Direction::ToDevice)?;
        let max_len = UNMAP_HEADER + UNMAP_DESCRIPTOR * MAX_UNMAP_DESCRIPTORS as usize;
        let mut list = vec![0u8; len.min(max_len + UNMAP_DESCRIPTOR)];
        data.read(0, &mut list)?;
        let descriptor_bytes = usize::from(u16::from_be_bytes([list[2], list[3]]));
        // A partial trailing descriptor is ignored; the list may not claim more than it holds.
        let count = descriptor_bytes.min(list.len() - UNMAP_HEADER) / UNMAP_DESCRIPTOR;
        if count > MAX_UNMAP_DESCRIPTORS as usize {
            return Ok(ScsiOutcome::check(Sense::INVALID_FIELD_IN_PARAMETER_LIST));
        }
        let mut ranges = Vec::with_capacity(count);
        for d in list[UNMAP_HEADER..]
            .chunks_exact(UNMAP_DESCRIPTOR)
            .take(count)
        {
            let mut lba = [0u8; 8];
            lba.copy_from_slice(&d[..8]);
            let lba = u64::from_be_bytes(lba);
            let blocks = u32::from_be_bytes([d[8], d[9], d[10], d[11]]);
            if blocks > self.max_unmap_blocks() {
                return Ok(ScsiOutcome::check(Sense::INVALID_FIELD_IN_PARAMETER_LIST));
            }
            if blocks == 0 {
                continue;
            }
            if let Err(sense) = self.check_range(lba, u64::from(blocks)) {
                return Ok(ScsiOutcome::check(sense));
            }
            ranges.push((lba, u64::from(blocks)));
        }
        Ok(self.discard_blocks(&ranges))
    }

    pub(super) fn write_same(
        &mut self,
        lba: u64,
        blocks: u32,
        unmap: bool,
        ndob: bool,
        data: &mut dyn DataBuffer,
    ) -> Result<ScsiOutcome, DataError> {
        if self.read_only {
            return Ok(ScsiOutcome::check(Sense::WRITE_PROTECTED));
        }
        // The Block Limits page sets WSNZ: zero blocks ("to the end") is not accepted.
        if blocks == 0 || blocks > self.max_unmap_blocks() {
            return Ok(ScsiOutcome::check(Sense::INVALID_FIELD_IN_CDB));
        }
        if let Err(sense) = self.check_range(lba, u64::from(blocks)) {
            return Ok(ScsiOutcome::check(sense));
        }
        let bs = self.block_size as usize;
        let mut block = vec![0u8; bs];
        if !ndob {
            if data.len() < bs {
                return Ok(ScsiOutcome::check(Sense::PARAMETER_LIST_LENGTH_ERROR));
            }
            need_direction(data, Direction::ToDevice)?;
            data.read(0, &mut block)?;
        }
        let zeros = block.iter().all(|&b| b == 0);
        if zeros && (unmap || ndob) {
            // Unmapped blocks read back as zeros (LBPRZ), so this is the same data.
            let outcome = self.discard_blocks(&[(lba, u64::from(blocks))]);
            return Ok(ScsiOutcome {
                transferred: if ndob { 0 } else { bs },
                ..outcome
            });
        }
        let per_chunk = (COPY_CHUNK / bs).max(1);
        let pattern: Vec<u8> = block
            .iter()
            .copied()
            .cycle()
            .take(per_chunk.min(blocks as usize) * bs)
            .collect();
        let mut left = u64::from(blocks);
        let mut offset = lba * bs as u64;
        while left > 0 {
            let n = left.min(per_chunk as u64);
            let bytes = &pattern[..n as usize * bs];
            if let Err(e) = self.backend.write_at(offset, bytes) {
                log_backend_error(self, "write same", offset, &e);
                return Ok(ScsiOutcome::check(Sense::WRITE_ERROR));
            }
            offset += bytes.len() as u64;
            left -= n;
        }
        self.counters.writes += 1;
        self.counters.bytes_written += u64::from(blocks) * bs as u64;
        Ok(ScsiOutcome::good(if ndob { 0 } else { bs }))
    }
}
