// SPDX-License-Identifier: GPL-2.0
//! Module aliases of VMBus devices: `vmbus:` followed by the 16 bytes of the device class GUID
//! in wire order as 32 lower-case hex digits, the same text the C driver puts in the
//! `MODALIAS` uevent variable and the `modalias` sysfs attribute, so `modprobe` and udev
//! find drivers by class.

use crate::proto::guid::Guid;
use kernel::fmt;
use kernel::prelude::*;

const PREFIX: &[u8] = b"vmbus:";
const LEN: usize = PREFIX.len() + 32;

/// The module alias of a device class.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ModAlias {
    text: [u8; LEN],
}

impl ModAlias {
    /// The alias of devices of class `class`.
    // Deliberately not inlined: this is part of the API other modules call across the module
    // boundary, and it must stay one exported function.
    #[inline(never)]
    pub fn of(class: &Guid) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; LEN];
        text[..PREFIX.len()].copy_from_slice(PREFIX);
        for (i, byte) in class.bytes.iter().enumerate() {
            let at = PREFIX.len() + 2 * i;
            text[at] = HEX[usize::from(byte >> 4)];
            text[at + 1] = HEX[usize::from(byte & 0xf)];
        }
        Self { text }
    }

    /// The alias as bytes (ASCII, no terminator).
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }
}

impl fmt::Display for ModAlias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The text is built from ASCII only.
        for &b in self.text.iter() {
            fmt::Write::write_char(f, char::from(b))?;
        }
        Ok(())
    }
}

#[kunit_tests(rhv_vmbus_modalias)]
mod tests {
    use super::*;

    const HEARTBEAT: Guid = Guid::from_fields(
        0x57164f39,
        0x9115,
        0x4e78,
        [0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d],
    );

    #[test]
    fn alias_is_wire_order_hex() {
        assert_eq!(
            ModAlias::of(&HEARTBEAT).as_bytes(),
            b"vmbus:394f16571591784eab55382f3bd5422d"
        );
    }

    #[test]
    fn guid_text_is_display_order() {
        let mut text = [0u8; 36];
        HEARTBEAT.format(&mut text);
        assert_eq!(&text, b"57164f39-9115-4e78-ab55-382f3bd5422d");
    }

    #[test]
    fn zero_guid_alias() {
        assert_eq!(
            ModAlias::of(&Guid::default()).as_bytes(),
            b"vmbus:00000000000000000000000000000000"
        );
    }
}
