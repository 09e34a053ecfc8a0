// SPDX-License-Identifier: GPL-2.0
//! hvsim: a Hyper-V host simulator. See ../shared/docs/architecture.md and README.md.

pub mod hv;
pub mod memory;
