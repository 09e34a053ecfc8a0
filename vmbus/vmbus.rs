// SPDX-License-Identifier: GPL-2.0
//! `rhv_vmbus`: the VMBus core module.
//!
//! On load it sets up the SynIC of every CPU, negotiates a VMBus version with the host (6.0
//! down to 4.0, capped by the `max_version` parameter), asks for the channel offers and puts
//! one device per offered primary channel on the `vmbus` bus; a rescinded channel's device
//! goes away. On unload, and on reboot or kexec (not on power-off, like the C driver), it
//! disconnects with UNLOAD so that the next load or kernel connects again. Channels (GPADLs,
//! opening, ring buffers) and the driver API come next.
//!
//! Not on Hyper-V (or on an isolated partition, which is not supported) the module loads
//! without connecting and says so in one line: its KUnit suites still run, and the C driver's
//! absence of a host is not an error either.
//!
//! Layers: `platform/` (SynIC, hypercalls, kernel hooks; the only C calls besides `bus.rs`),
//! `connection.rs` (the protocol), `channels.rs`, `bus.rs` and `sysfs.rs` (devices), `proto/` (the wire
//! formats and pure logic shared with `hvsim`). Other modules use this crate's Rust API
//! across the module boundary (the nova-core -> nova-drm pattern, see the top-level Kbuild).

use kernel::prelude::*;
use kernel::sync::Arc;

mod bus;
mod channels;
mod connection;
mod inbox;
pub mod modalias;
mod platform;
pub mod proto;
mod proto_tests;
mod sysfs;

pub use modalias::ModAlias;
pub use proto::guid::Guid;

use bus::Bus;
use connection::Connection;
use platform::hooks::{CpuHotplug, InterruptHandler, RebootNotifier};

module! {
    type: VmbusCore,
    name: "rhv_vmbus",
    authors: ["The rhv developers"],
    description: "Hyper-V VMBus core, in Rust",
    license: "GPL",
    params: {
        max_version: u32 {
            default: 0x0006_0000,
            description: "Newest VMBus protocol version to negotiate, major << 16 | minor",
        },
    },
}

/// Everything that runs while the module is connected, torn down in the reverse order.
struct Running {
    bus: Option<Bus>,
    conn: Option<Arc<Connection>>,
    interrupts: Option<InterruptHandler>,
    cpuhp: Option<CpuHotplug>,
    reboot: Option<RebootNotifier>,
}

impl Running {
    fn start(max_version: u32) -> Result<Self> {
        let mut r = Running {
            bus: Some(Bus::register()?),
            conn: None,
            interrupts: None,
            cpuhp: None,
            reboot: None,
        };
        let conn = Connection::new(max_version)?;
        r.interrupts = Some(InterruptHandler::install(&conn));
        r.conn = Some(conn.clone());
        r.cpuhp = Some(CpuHotplug::setup(&conn)?);
        conn.connect()?;
        conn.request_offers()?;
        r.reboot = Some(RebootNotifier::register(&conn)?);
        Ok(r)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.reboot.take();
        if let Some(conn) = &self.conn {
            conn.remove_all_devices();
            conn.unload();
        }
        // SynIC off on every CPU, then no more interrupts, then no more queued messages.
        self.cpuhp.take();
        self.interrupts.take();
        if let Some(conn) = self.conn.take() {
            conn.flush_messages();
        }
        self.bus.take();
    }
}

struct VmbusCore {
    running: Option<Running>,
}

impl kernel::Module for VmbusCore {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if let Err(why) = platform::hypercall::hyperv_usable() {
            pr_info!(
                "{}: VMBus not connected\n",
                why.to_str().unwrap_or("unusable")
            );
            return Ok(VmbusCore { running: None });
        }
        let max_version = module_parameters::max_version.value();
        let running = Running::start(max_version)?;
        Ok(VmbusCore {
            running: Some(running),
        })
    }
}

impl Drop for VmbusCore {
    fn drop(&mut self) {
        self.running.take();
        pr_info!("VMBus core unloaded\n");
    }
}
