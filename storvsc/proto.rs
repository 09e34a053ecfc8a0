// SPDX-License-Identifier: GPL-2.0
//! The VSTOR wire format shared with `hvsim` (the very file of `drivers/proto/src/`), with
//! the GUID type and class ids of `rhv_vmbus`, so that they match the bus's.

pub use vmbus::proto::{guid, offer};

#[path = "../drivers/proto/src/vstor.rs"]
pub mod vstor;
