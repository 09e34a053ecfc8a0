// SPDX-License-Identifier: GPL-2.0
//! The wire formats of the network VSP, shared with `hvsim`'s netvsp: the very files of
//! `drivers/proto/src/`, compiled into this module so that guest and host cannot drift apart.

#[path = "../drivers/proto/src/ndis.rs"]
pub mod ndis;
#[path = "../drivers/proto/src/nvsp.rs"]
pub mod nvsp;
#[path = "../drivers/proto/src/rndis.rs"]
pub mod rndis;
#[path = "../drivers/proto/src/wire.rs"]
mod wire;
