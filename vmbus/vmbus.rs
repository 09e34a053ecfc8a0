// SPDX-License-Identifier: GPL-2.0
//! `rhv_vmbus`: the VMBus core module.
//!
//! For now a skeleton that proves the build mechanics every later piece relies on: the wire
//! formats shared with `hvsim` (`drivers/proto/`) compile into a module, and the crate offers
//! a Rust API that other modules (`rhv_utils`, later `rhv_storvsc`, `rhv_netvsc`) call across
//! module boundaries, built with the nova-core -> nova-drm pattern (see the top-level Kbuild).

use kernel::prelude::*;

pub mod modalias;
pub mod proto;

pub use modalias::ModAlias;
pub use proto::guid::Guid;

module! {
    type: VmbusCore,
    name: "rhv_vmbus",
    authors: ["The rhv developers"],
    description: "Hyper-V VMBus core, in Rust",
    license: "GPL",
}

struct VmbusCore;

impl kernel::Module for VmbusCore {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("VMBus core loaded (skeleton: no connection to the host yet)\n");
        Ok(VmbusCore)
    }
}

impl Drop for VmbusCore {
    fn drop(&mut self) {
        pr_info!("VMBus core unloaded\n");
    }
}
