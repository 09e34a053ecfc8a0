// SPDX-License-Identifier: GPL-2.0
//! hvsim: a Hyper-V host simulator. See ../shared/docs/architecture.md and README.md.

pub mod acpi;
pub mod boot;
pub mod control;
pub mod ctl;
pub mod guest_ram;
pub mod hv;
pub mod ic;
pub mod memory;
pub mod misbehave;
pub mod netvsp;
pub mod platform;
pub mod qemu;
pub mod scsi;
pub mod storvsp;
pub mod vmbus;
