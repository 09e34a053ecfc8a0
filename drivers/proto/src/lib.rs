// SPDX-License-Identifier: GPL-2.0
//! Wire formats shared by the guest kernel modules and `hvsim`.
//!
//! Every file under `src/` except this one is also compiled into the kernel modules (included
//! with `#[path]`), so those files use only `core`, `zerocopy` and `zerocopy_derive`.
#![no_std]
#![forbid(unsafe_code)]

pub mod guid;
pub mod negotiate;
pub mod offer;
pub mod ring;
pub mod synic;
pub mod vmbus;
pub mod vmbus_msg;
