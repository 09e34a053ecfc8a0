// SPDX-License-Identifier: GPL-2.0
//! `rhv_utils`: the integration-component drivers (heartbeat, shutdown, timesync, KVP).
//!
//! For now a skeleton that uses the VMBus core's Rust API across the module boundary: it asks
//! `rhv_vmbus` for the module aliases of the classes it will drive.

use kernel::prelude::*;
use vmbus::{Guid, ModAlias};

module! {
    type: IntegrationComponents,
    name: "rhv_utils",
    authors: ["The rhv developers"],
    description: "Hyper-V integration components (heartbeat, shutdown, timesync, KVP), in Rust",
    license: "GPL",
}

/// A device class this module drives.
struct IcClass {
    name: &'static str,
    class: Guid,
}

const CLASSES: [IcClass; 4] = [
    IcClass {
        name: "heartbeat",
        class: Guid::from_fields(
            0x57164f39,
            0x9115,
            0x4e78,
            [0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d],
        ),
    },
    IcClass {
        name: "shutdown",
        class: Guid::from_fields(
            0x0e0b6031,
            0x5213,
            0x4934,
            [0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39, 0xdb],
        ),
    },
    IcClass {
        name: "timesync",
        class: Guid::from_fields(
            0x9527e630,
            0xd0ae,
            0x497b,
            [0xad, 0xce, 0xe8, 0x0a, 0xb0, 0x17, 0x5c, 0xaf],
        ),
    },
    IcClass {
        name: "kvp",
        class: Guid::from_fields(
            0xa9a0f4e7,
            0x5a45,
            0x4d96,
            [0xb8, 0x27, 0x8a, 0x84, 0x1e, 0x8c, 0x03, 0xe6],
        ),
    },
];

struct IntegrationComponents;

impl kernel::Module for IntegrationComponents {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        for ic in CLASSES.iter() {
            pr_info!(
                "{}: class alias {} (from rhv_vmbus)\n",
                ic.name,
                ModAlias::of(&ic.class)
            );
        }
        Ok(IntegrationComponents)
    }
}

impl Drop for IntegrationComponents {
    fn drop(&mut self) {
        pr_info!("integration components unloaded\n");
    }
}

#[kunit_tests(rhv_utils_classes)]
mod tests {
    use super::*;

    #[test]
    fn class_aliases_come_from_the_core() {
        // The alias the C driver's hv_utils.ko is autoloaded by, for heartbeat.
        assert_eq!(
            ModAlias::of(&CLASSES[0].class).as_bytes(),
            b"vmbus:394f16571591784eab55382f3bd5422d"
        );
    }

    #[test]
    fn classes_are_distinct() {
        for (i, a) in CLASSES.iter().enumerate() {
            for b in CLASSES.iter().skip(i + 1) {
                assert!(a.class != b.class);
            }
        }
    }
}
