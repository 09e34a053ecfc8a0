// SPDX-License-Identifier: GPL-2.0
//! `rhv_vmbus`: the VMBus core module.
//!
//! On load it sets up the SynIC of every CPU, negotiates a VMBus version with the host (6.0
//! down to 4.0, capped by the `max_version` parameter), asks for the channel offers and puts
//! one device per offered primary channel on the `vmbus` bus; a rescinded channel's device
//! goes away. On unload, and on reboot or kexec (not on power-off, like the C driver), it
//! disconnects with UNLOAD so that the next load or kernel connects again. Drivers in other
//! modules bind to devices by class GUID ([`Driver`], [`module_vmbus_driver!`]) and open
//! channels, send and receive packets and share buffers ([`Device`], [`OpenChannel`],
//! [`GpadlBuffer`]).
//!
//! Not on Hyper-V (or on an isolated partition, which is not supported) the module loads
//! without connecting and says so in one line; the bus is registered but stays empty, so that
//! driver modules load too and their KUnit suites run.
//!
//! Layers: `platform/` (SynIC, hypercalls, kernel hooks; the only C calls besides `bus.rs`,
//! `channel_sysfs.rs` and `driver.rs`), `connection.rs` (the protocol; `connection/retarget.rs`
//! moves channels between CPUs), `channels.rs`, `bus.rs`, `sysfs.rs` and `channel_sysfs.rs`
//! (devices and their `channels/<relid>/`), `gpadl.rs`, `channel.rs` and `ring.rs` (open
//! channels), `driver.rs` and `subchannels.rs` (the driver API), `proto/` (the wire formats
//! and pure logic shared with `hvsim`), `counters.rs` (what the host got wrong, in
//! `/sys/bus/vmbus/`). Other modules use
//! this crate's Rust API across the module boundary (the nova-core -> nova-drm pattern, see
//! the top-level Kbuild).

// Debian builds its kernels with rustc 1.85 (the kernel's .clippy.toml msrv), which our modules
// must build with too: with CLIPPY=1, any std API stabilised after that version warns.
#![warn(clippy::incompatible_msrv)]

use kernel::prelude::*;
use kernel::sync::Arc;

mod bus;
mod channel;
mod channel_sysfs;
mod channels;
mod connection;
mod counters;
mod driver;
mod gpadl;
mod hostile_tests;
mod inbox;
mod message_queue;
pub mod modalias;
mod platform;
pub mod proto;
mod proto_tests;
mod ring;
mod subchannels;
mod sysfs;

pub use channel::{
    Channel, GpaDirectRange, OpenChannel, OpenParams, Packet, PacketHandler, MAX_GPA_DIRECT_PAGES,
};
pub use driver::{Device, DeviceHandle, DeviceId, Driver, IdTable, Registration, SubChannel};
pub use gpadl::GpadlBuffer;
pub use modalias::ModAlias;
pub use proto::guid::Guid;
pub use proto::ring::PacketType;

use bus::Bus;
use connection::Connection;
use platform::hooks::{CpuHotplug, InterruptHandler, RebootNotifier};

module! {
    type: VmbusCore,
    name: "rhv_vmbus",
    authors: ["The rhv developers"],
    description: "Hyper-V VMBus core, in Rust",
    license: "GPL",
    // The ACPI ids of the VMBus device, as hv_vmbus declares them: udev loads us for it.
    alias: ["acpi*:VMBUS:*", "acpi*:VMBus:*"],
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
    /// Not on Hyper-V: the bus alone, with no devices, so that driver modules still load (and
    /// run their KUnit suites).
    _idle_bus: Option<Bus>,
}

impl kernel::Module for VmbusCore {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if let Err(why) = platform::hypercall::hyperv_usable() {
            pr_info!(
                "{}: VMBus not connected\n",
                why.to_str().unwrap_or("unusable")
            );
            return Ok(VmbusCore {
                running: None,
                _idle_bus: Some(Bus::register()?),
            });
        }
        let max_version = module_parameters::max_version.value();
        let running = Running::start(max_version)?;
        Ok(VmbusCore {
            running: Some(running),
            _idle_bus: None,
        })
    }
}

impl Drop for VmbusCore {
    fn drop(&mut self) {
        self.running.take();
        pr_info!("VMBus core unloaded\n");
    }
}
