// SPDX-License-Identifier: GPL-2.0
//! Sense data: why a command ended in CHECK CONDITION, in the fixed format (response code
//! 70h) every initiator understands (SPC-4 "Fixed format sense data"). Key and code values:
//! SPC-4 annex D, as Linux names them in `include/scsi/scsi_proto.h` and `scsi_common.h`.

/// Sense key: no error.
pub const KEY_NO_SENSE: u8 = 0x0;
/// Sense key: the logical unit is not ready.
pub const KEY_NOT_READY: u8 = 0x2;
/// Sense key: the medium failed (unrecoverable read or write error).
pub const KEY_MEDIUM_ERROR: u8 = 0x3;
/// Sense key: the device failed.
pub const KEY_HARDWARE_ERROR: u8 = 0x4;
/// Sense key: the command or its parameters are invalid.
pub const KEY_ILLEGAL_REQUEST: u8 = 0x5;
/// Sense key: something changed (reset, LUN inventory, capacity).
pub const KEY_UNIT_ATTENTION: u8 = 0x6;
/// Sense key: the medium is write-protected.
pub const KEY_DATA_PROTECT: u8 = 0x7;
/// Sense key: the command was aborted.
pub const KEY_ABORTED_COMMAND: u8 = 0xb;

/// Bytes of fixed-format sense data with no additional bytes beyond the standard ones.
pub const FIXED_SENSE_LEN: usize = 18;
/// Response code of current errors in fixed format.
pub const RESPONSE_CODE_FIXED_CURRENT: u8 = 0x70;

/// One sense condition: key, additional sense code and qualifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sense {
    /// Sense key (`KEY_*`).
    pub key: u8,
    /// Additional sense code.
    pub asc: u8,
    /// Additional sense code qualifier.
    pub ascq: u8,
}

impl Sense {
    /// ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE (20h/00h).
    pub const INVALID_OPCODE: Sense = Sense::new(KEY_ILLEGAL_REQUEST, 0x20, 0x00);
    /// ILLEGAL REQUEST / LOGICAL BLOCK ADDRESS OUT OF RANGE (21h/00h).
    pub const LBA_OUT_OF_RANGE: Sense = Sense::new(KEY_ILLEGAL_REQUEST, 0x21, 0x00);
    /// ILLEGAL REQUEST / INVALID FIELD IN CDB (24h/00h).
    pub const INVALID_FIELD_IN_CDB: Sense = Sense::new(KEY_ILLEGAL_REQUEST, 0x24, 0x00);
    /// ILLEGAL REQUEST / LOGICAL UNIT NOT SUPPORTED (25h/00h).
    pub const LUN_NOT_SUPPORTED: Sense = Sense::new(KEY_ILLEGAL_REQUEST, 0x25, 0x00);
    /// ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST (26h/00h).
    pub const INVALID_FIELD_IN_PARAMETER_LIST: Sense = Sense::new(KEY_ILLEGAL_REQUEST, 0x26, 0x00);
    /// ILLEGAL REQUEST / PARAMETER LIST LENGTH ERROR (1Ah/00h).
    pub const PARAMETER_LIST_LENGTH_ERROR: Sense = Sense::new(KEY_ILLEGAL_REQUEST, 0x1a, 0x00);
    /// ILLEGAL REQUEST / SAVING PARAMETERS NOT SUPPORTED (39h/00h).
    pub const SAVING_PARAMETERS_NOT_SUPPORTED: Sense = Sense::new(KEY_ILLEGAL_REQUEST, 0x39, 0x00);
    /// DATA PROTECT / WRITE PROTECTED (27h/00h).
    pub const WRITE_PROTECTED: Sense = Sense::new(KEY_DATA_PROTECT, 0x27, 0x00);
    /// MEDIUM ERROR / UNRECOVERED READ ERROR (11h/00h).
    pub const UNRECOVERED_READ_ERROR: Sense = Sense::new(KEY_MEDIUM_ERROR, 0x11, 0x00);
    /// MEDIUM ERROR / WRITE ERROR (0Ch/00h).
    pub const WRITE_ERROR: Sense = Sense::new(KEY_MEDIUM_ERROR, 0x0c, 0x00);
    /// HARDWARE ERROR / INTERNAL TARGET FAILURE (44h/00h).
    pub const INTERNAL_TARGET_FAILURE: Sense = Sense::new(KEY_HARDWARE_ERROR, 0x44, 0x00);
    /// NO SENSE / NO ADDITIONAL SENSE INFORMATION.
    pub const NONE: Sense = Sense::new(KEY_NO_SENSE, 0x00, 0x00);

    /// A sense condition.
    pub const fn new(key: u8, asc: u8, ascq: u8) -> Self {
        Self { key, asc, ascq }
    }

    /// The condition as fixed-format sense data (current error, no information field).
    pub fn to_fixed(self) -> [u8; FIXED_SENSE_LEN] {
        let mut b = [0u8; FIXED_SENSE_LEN];
        b[0] = RESPONSE_CODE_FIXED_CURRENT;
        b[2] = self.key & 0x0f;
        // Additional sense length: the bytes after byte 7.
        b[7] = (FIXED_SENSE_LEN - 8) as u8;
        b[12] = self.asc;
        b[13] = self.ascq;
        b
    }

    /// Reads fixed-format sense data (current or deferred).
    pub fn from_fixed(bytes: &[u8]) -> Result<Self, SenseError> {
        if bytes.len() < 14 {
            return Err(SenseError::TooShort(bytes.len()));
        }
        let code = bytes[0] & 0x7f;
        if code != 0x70 && code != 0x71 {
            return Err(SenseError::NotFixedFormat(bytes[0]));
        }
        Ok(Self::new(bytes[2] & 0x0f, bytes[12], bytes[13]))
    }
}

/// Why bytes are not fixed-format sense data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SenseError {
    /// Fewer than the 14 bytes that hold key, ASC and ASCQ.
    #[error("sense data of {0} bytes is too short")]
    TooShort(usize),
    /// Another response code (descriptor format, say).
    #[error("response code {0:#x} is not fixed-format sense data")]
    NotFixedFormat(u8),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_format_layout() {
        let b = Sense::LBA_OUT_OF_RANGE.to_fixed();
        assert_eq!(b[0], 0x70);
        assert_eq!(b[2], 0x05);
        assert_eq!(b[7], 10);
        assert_eq!((b[12], b[13]), (0x21, 0x00));
        assert_eq!(Sense::from_fixed(&b), Ok(Sense::LBA_OUT_OF_RANGE));
    }

    #[test]
    fn malformed_sense_is_rejected() {
        assert_eq!(
            Sense::from_fixed(&[0x70; 13]),
            Err(SenseError::TooShort(13))
        );
        let mut b = Sense::INVALID_OPCODE.to_fixed();
        b[0] = 0x72;
        assert_eq!(Sense::from_fixed(&b), Err(SenseError::NotFixedFormat(0x72)));
        b[0] = 0xf0; // valid bit + current
        assert_eq!(Sense::from_fixed(&b), Ok(Sense::INVALID_OPCODE));
    }
}
