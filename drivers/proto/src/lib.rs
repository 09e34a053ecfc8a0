// SPDX-License-Identifier: GPL-2.0
//! Wire formats shared by the guest kernel modules and `hvsim`.
//!
//! Every file under `src/` except this one is also compiled into the kernel modules (included
//! with `#[path]`), so those files use only `core`, `zerocopy` and `zerocopy_derive`. `wire.rs`
//! holds the [`wire_struct!`] macro, which a crate that includes `vmbus_msg.rs`, `nvsp.rs` or
//! `rndis.rs` must include too.
#![no_std]
#![forbid(unsafe_code)]

pub mod answers;
pub mod drain;
pub mod gpadl;
pub mod guid;
pub mod ic;
pub mod ic_msg;
pub mod kvp;
pub mod monitor;
pub mod ndis;
pub mod negotiate;
pub mod nvsp;
pub mod offer;
pub mod relids;
pub mod ring;
pub mod rndis;
pub mod synic;
pub mod vmbus;
pub mod vmbus_msg;
pub mod vstor;
mod wire;
