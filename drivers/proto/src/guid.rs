// SPDX-License-Identifier: GPL-2.0
//! GUIDs as they appear on the VMBus wire (the mixed-endian Microsoft layout) and their
//! text form (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, as in sysfs `class_id`/`device_id`).

use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A GUID in wire byte order: `data1` (u32), `data2`, `data3` (u16) little-endian, then 8
/// bytes in order.
#[repr(C)]
#[derive(
    Clone, Copy, PartialEq, Eq, Default, Debug, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Guid {
    /// The 16 bytes in wire order.
    pub bytes: [u8; 16],
}
const _: () = assert!(core::mem::size_of::<Guid>() == 16);

impl Guid {
    /// Builds a GUID from its textual fields, as written in specifications.
    pub const fn from_fields(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> Self {
        let a = data1.to_le_bytes();
        let b = data2.to_le_bytes();
        let c = data3.to_le_bytes();
        Self {
            bytes: [
                a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], data4[0], data4[1], data4[2],
                data4[3], data4[4], data4[5], data4[6], data4[7],
            ],
        }
    }

    /// Writes the canonical lower-case text form (36 bytes) into `out`.
    pub fn format(&self, out: &mut [u8; 36]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        // Display order of the wire bytes: data1, data2, data3 are little-endian.
        const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
        let mut pos = 0;
        for (i, &idx) in ORDER.iter().enumerate() {
            if i == 4 || i == 6 || i == 8 || i == 10 {
                out[pos] = b'-';
                pos += 1;
            }
            let byte = self.bytes[idx];
            out[pos] = HEX[usize::from(byte >> 4)];
            out[pos + 1] = HEX[usize::from(byte & 0xf)];
            pos += 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_sysfs() {
        // Heartbeat IC class GUID, as the C driver shows it in class_id.
        let g = Guid::from_fields(
            0x57164f39,
            0x9115,
            0x4e78,
            [0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d],
        );
        let mut out = [0u8; 36];
        g.format(&mut out);
        assert_eq!(&out, b"57164f39-9115-4e78-ab55-382f3bd5422d");
        assert_eq!(&g.bytes[..4], &[0x39, 0x4f, 0x16, 0x57]);
    }
}
