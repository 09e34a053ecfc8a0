// SPDX-License-Identifier: GPL-2.0
//! The wire formats and pure protocol logic shared with `hvsim`: the very files of
//! `drivers/proto/src/`, compiled into this module so that guest and host cannot drift apart.

#[path = "../drivers/proto/src/answers.rs"]
pub mod answers;
#[path = "../drivers/proto/src/drain.rs"]
pub mod drain;
#[path = "../drivers/proto/src/gpadl.rs"]
pub mod gpadl;
#[path = "../drivers/proto/src/guid.rs"]
pub mod guid;
#[path = "../drivers/proto/src/monitor.rs"]
pub mod monitor;
#[path = "../drivers/proto/src/negotiate.rs"]
pub mod negotiate;
#[path = "../drivers/proto/src/offer.rs"]
pub mod offer;
#[path = "../drivers/proto/src/relids.rs"]
pub mod relids;
#[path = "../drivers/proto/src/ring.rs"]
pub mod ring;
#[path = "../drivers/proto/src/synic.rs"]
pub mod synic;
#[path = "../drivers/proto/src/vmbus.rs"]
pub mod vmbus;
#[path = "../drivers/proto/src/vmbus_msg.rs"]
pub mod vmbus_msg;
#[path = "../drivers/proto/src/wire.rs"]
mod wire;
