// SPDX-License-Identifier: GPL-2.0
//! MODE SENSE(6) and (10) (SPC-4 "Mode parameters", SBC-3 block descriptors): the header
//! with the write-protect bit, one block descriptor, and the Caching (08h) and Control (0Ah)
//! pages — what Linux's `sd` asks for to learn write protection and the write cache. No
//! parameter is changeable, so MODE SELECT is not implemented.

use super::cdb::{Command, PageControl};
use super::disk::ScsiDisk;
use super::sense::Sense;
use super::{send_data, DataBuffer, DataError, ScsiOutcome};

/// Caching mode page.
const PAGE_CACHING: u8 = 0x08;
/// Control mode page.
const PAGE_CONTROL: u8 = 0x0a;
/// "Return all pages".
const PAGE_ALL: u8 = 0x3f;
/// Subpage code "all subpages".
const SUBPAGE_ALL: u8 = 0xff;
/// Device-specific parameter of direct-access devices: write protected.
const DEVICE_SPECIFIC_WP: u8 = 0x80;

impl ScsiDisk {
    /// The caching page: a write-back cache (WCE) that SYNCHRONIZE CACHE flushes.
    fn caching_page(control: PageControl) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = PAGE_CACHING;
        p[1] = 18;
        if control != PageControl::Changeable {
            p[2] = 0x04;
        }
        p
    }

    /// The control page: unrestricted reordering allowed, descriptor sense not used.
    fn control_page(control: PageControl) -> Vec<u8> {
        let mut p = vec![0u8; 12];
        p[0] = PAGE_CONTROL;
        p[1] = 10;
        if control != PageControl::Changeable {
            p[3] = 0x10;
        }
        p
    }

    pub(super) fn mode_sense(
        &mut self,
        command: &Command,
        data: &mut dyn DataBuffer,
    ) -> Result<ScsiOutcome, DataError> {
        let Command::ModeSense {
            page,
            subpage,
            control,
            dbd,
            ten,
            long_lba,
            allocation_length,
        } = *command
        else {
            return Ok(ScsiOutcome::check(Sense::INVALID_OPCODE));
        };
        let pages = match (page, subpage) {
            (PAGE_CACHING, 0) => Self::caching_page(control),
            (PAGE_CONTROL, 0) => Self::control_page(control),
            (PAGE_ALL, 0 | SUBPAGE_ALL) => {
                let mut all = Self::caching_page(control);
                all.extend(Self::control_page(control));
                all
            }
            _ => return Ok(ScsiOutcome::check(Sense::INVALID_FIELD_IN_CDB)),
        };
        let block_descriptor = if dbd {
            Vec::new()
        } else if long_lba {
            let mut d = vec![0u8; 16];
            d[..8].copy_from_slice(&self.blocks.to_be_bytes());
            d[12..].copy_from_slice(&self.block_size.to_be_bytes());
            d
        } else {
            let mut d = vec![0u8; 8];
            let blocks = u32::try_from(self.blocks).unwrap_or(u32::MAX);
            d[..4].copy_from_slice(&blocks.to_be_bytes());
            d[4..].copy_from_slice(&self.block_size.to_be_bytes());
            // Byte 4 is reserved; the block length is the low three bytes.
            d[4] = 0;
            d
        };
        let device_specific = if self.read_only {
            DEVICE_SPECIFIC_WP
        } else {
            0
        };
        let body_len = block_descriptor.len() + pages.len();
        let mut out = if ten {
            let mut h = vec![0u8; 8];
            // Mode data length excludes its own two bytes.
            h[0..2].copy_from_slice(&((body_len + 6) as u16).to_be_bytes());
            h[3] = device_specific;
            h[4] = u8::from(long_lba && !dbd);
            h[6..8].copy_from_slice(&(block_descriptor.len() as u16).to_be_bytes());
            h
        } else {
            vec![
                (body_len + 3) as u8,
                0,
                device_specific,
                block_descriptor.len() as u8,
            ]
        };
        out.extend(block_descriptor);
        out.extend(pages);
        let n = send_data(data, &out, allocation_length)?;
        Ok(ScsiOutcome::good(n))
    }
}
