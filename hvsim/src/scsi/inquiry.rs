// SPDX-License-Identifier: GPL-2.0
//! INQUIRY: standard data (SPC-4 "Standard INQUIRY data") and the vital product data pages
//! Linux reads from a disk: Supported VPD Pages (00h), Unit Serial Number (80h), Device
//! Identification (83h), and SBC-3's Block Limits (B0h), Block Device Characteristics (B1h)
//! and Logical Block Provisioning (B2h). The pages Linux's `sd` parses are read back by
//! `drivers/scsi/sd.c` (`sd_read_block_limits()`, `sd_read_block_provisioning()`, ...).

use super::disk::{ScsiDisk, MAX_TRANSFER_BYTES, MAX_UNMAP_DESCRIPTORS, PRODUCT_ID};
use super::disk::{PRODUCT_REVISION, VENDOR_ID};
use super::sense::Sense;
use super::{send_data, DataBuffer, DataError, ScsiOutcome};

/// Peripheral device type of a direct-access block device.
const TYPE_DISK: u8 = 0x00;
/// Peripheral qualifier 3 / type 1Fh: no logical unit can exist at this address.
pub(super) const NO_LUN: u8 = 0x7f;
/// VERSION field: SPC-4.
const VERSION_SPC4: u8 = 0x06;
/// Bytes of standard INQUIRY data.
const STANDARD_LEN: usize = 36;

/// The VPD pages this target implements, in the order page 00h lists them.
pub(super) const VPD_PAGES: [u8; 6] = [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2];

/// Standard INQUIRY data with peripheral byte `peripheral`.
pub(super) fn standard_data(peripheral: u8) -> [u8; STANDARD_LEN] {
    let mut b = [0u8; STANDARD_LEN];
    b[0] = peripheral;
    b[2] = VERSION_SPC4;
    // HISUP, response data format 2.
    b[3] = 0x12;
    b[4] = (STANDARD_LEN - 5) as u8;
    // CMDQUE: the controller queues commands.
    b[7] = 0x02;
    b[8..16].copy_from_slice(VENDOR_ID);
    b[16..32].copy_from_slice(PRODUCT_ID);
    b[32..36].copy_from_slice(PRODUCT_REVISION);
    b
}

/// A VPD page: the 4-byte header and `payload`.
fn vpd_page(code: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let mut page = vec![TYPE_DISK, code];
    page.extend_from_slice(&len.to_be_bytes());
    page.extend_from_slice(&payload[..usize::from(len)]);
    page
}

/// One designation descriptor of page 83h (association: the logical unit).
fn designator(code_set: u8, designator_type: u8, id: &[u8]) -> Vec<u8> {
    let mut d = vec![code_set, designator_type, 0, id.len() as u8];
    d.extend_from_slice(id);
    d
}

impl ScsiDisk {
    pub(super) fn inquiry(
        &mut self,
        vpd_page: Option<u8>,
        allocation_length: usize,
        data: &mut dyn DataBuffer,
    ) -> Result<ScsiOutcome, DataError> {
        let page = match vpd_page {
            None => standard_data(TYPE_DISK).to_vec(),
            Some(code) => match self.vpd(code) {
                Some(page) => page,
                None => return Ok(ScsiOutcome::check(Sense::INVALID_FIELD_IN_CDB)),
            },
        };
        let n = send_data(data, &page, allocation_length)?;
        Ok(ScsiOutcome::good(n))
    }

    /// The VPD page `code`, if implemented.
    fn vpd(&self, code: u8) -> Option<Vec<u8>> {
        let blocks_per_4k = (4096 / self.block_size).max(1);
        Some(match code {
            0x00 => vpd_page(0x00, &VPD_PAGES),
            0x80 => vpd_page(0x80, self.identity.serial.as_bytes()),
            0x83 => {
                // A T10 vendor ID designator (ASCII) and a locally assigned NAA one (binary).
                let mut t10 = VENDOR_ID.to_vec();
                t10.extend_from_slice(self.identity.serial.as_bytes());
                t10.truncate(255);
                let naa = (3u64 << 60) | (self.identity.naa_local & ((1 << 60) - 1));
                let mut payload = designator(0x02, 0x01, &t10);
                payload.extend(designator(0x01, 0x03, &naa.to_be_bytes()));
                vpd_page(0x83, &payload)
            }
            0xb0 => {
                let mut p = [0u8; 0x3c];
                // WSNZ: WRITE SAME with zero blocks is not supported.
                p[0] = 0x01;
                // Optimal transfer length granularity: one 4 KiB page.
                p[2..4].copy_from_slice(&(blocks_per_4k as u16).to_be_bytes());
                p[4..8].copy_from_slice(&(MAX_TRANSFER_BYTES / self.block_size).to_be_bytes());
                if self.thin() {
                    p[16..20].copy_from_slice(&self.max_unmap_blocks().to_be_bytes());
                    p[20..24].copy_from_slice(&MAX_UNMAP_DESCRIPTORS.to_be_bytes());
                    p[24..28].copy_from_slice(&blocks_per_4k.to_be_bytes());
                    p[32..40].copy_from_slice(&u64::from(self.max_unmap_blocks()).to_be_bytes());
                }
                vpd_page(0xb0, &p)
            }
            0xb1 => {
                let mut p = [0u8; 0x3c];
                // Medium rotation rate 1: not rotating.
                p[0..2].copy_from_slice(&1u16.to_be_bytes());
                vpd_page(0xb1, &p)
            }
            0xb2 => {
                let mut p = [0u8; 4];
                if self.thin() {
                    // LBPU, LBPWS, LBPWS10; LBPRZ = 001b; provisioning type: thin.
                    p[1] = 0x80 | 0x40 | 0x20 | 0x04;
                    p[2] = 0x02;
                }
                vpd_page(0xb2, &p)
            }
            _ => return None,
        })
    }
}
