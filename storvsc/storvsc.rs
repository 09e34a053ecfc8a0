// SPDX-License-Identifier: GPL-2.0
//! `rhv_storvsc`: the SCSI host driver of Hyper-V's synthetic SCSI controller.
//!
//! A driver on the `vmbus` bus of `rhv_vmbus` (its id table gives the module its
//! `vmbus:<hex>` alias): per controller it runs the VSTOR initialization, opens a sub-channel
//! per further CPU and adds a SCSI host with one blk-mq hardware queue per channel
//! (`controller.rs`). Commands go to the host as EXECUTE_SRB packets whose data the host
//! reads and writes in place, in the pages of the scatterlist (no bounce buffer); completions
//! are checked against the command they name before they reach the midlayer (`srb.rs`).
//! `scsi.rs` and `shim.c` are the layer over the SCSI midlayer.

// Built with rustc 1.85 by distributions (see vmbus.rs): newer std APIs warn under CLIPPY=1.
#![warn(clippy::incompatible_msrv)]
use kernel::prelude::*;
use vmbus::{Device, DeviceId};

pub mod proto;

mod controller;
mod packets;
mod scsi;
mod srb;
mod tests;

use controller::Controller;
use proto::vstor;

vmbus::vmbus_device_table!(SCSI_TABLE, (), [(DeviceId::new(vstor::SCSI_CLASS_ID), ())]);

impl vmbus::Driver for Controller {
    type IdInfo = ();
    const ID_TABLE: vmbus::IdTable<()> = &SCSI_TABLE;

    fn probe(dev: &Device<'_>, _info: &'static ()) -> Result<Pin<KBox<Self>>> {
        Controller::probe(dev)
    }
}

vmbus::module_vmbus_driver! {
    type: Controller,
    name: "rhv_storvsc",
    authors: ["The rhv developers"],
    description: "Hyper-V synthetic SCSI controller driver, in Rust",
    license: "GPL",
}
