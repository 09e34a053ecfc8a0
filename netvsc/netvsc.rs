// SPDX-License-Identifier: GPL-2.0
//! `rhv_netvsc`: the synthetic network adapter of Hyper-V (the `hv_netvsc` of Linux, in Rust).
//!
//! A driver on the `vmbus` bus of `rhv_vmbus` (its id table gives the module its `vmbus:<hex>`
//! alias, so it loads when the NIC is offered). Probing connects to the host's network VSP
//! (session.rs: NVSP, the receive and send buffers, RNDIS, the MAC address and link state) and
//! registers an Ethernet net_device (netdev.rs over shim.c: operations, NAPI per queue,
//! ethtool). Frames come in through the channels' packet handlers (datapath.rs) and go out
//! through send-buffer sections (sections.rs) or, when large, their own pages.
//!
//! Wire formats: `drivers/proto/src/{nvsp,rndis,ndis}.rs`, shared with hvsim's netvsp.

// Built with rustc 1.85 by distributions (see vmbus.rs): newer std APIs warn under CLIPPY=1.
#![warn(clippy::incompatible_msrv)]
use kernel::prelude::*;
use kernel::sync::{new_spinlock_irq, Arc, SpinLockIrq};
use vmbus::{Device, DeviceId, Guid};

mod buffer;
mod completions;
mod control;
mod datapath;
mod netdev;
pub mod proto;
mod receive;
mod receive_tests;
mod sections;
mod session;
mod tests;
mod transfer;

use datapath::Counters;
use netdev::{NetDevice, Skb, Xmit};
use session::Session;

/// The network adapter class (`HV_NIC_GUID`).
const NIC_CLASS: Guid = vmbus::proto::offer::class::NETWORK;

vmbus::vmbus_device_table!(NIC_TABLE, (), [(DeviceId::new(NIC_CLASS), ())]);

vmbus::module_vmbus_driver! {
    type: device::Netvsc,
    name: "rhv_netvsc",
    authors: ["The rhv developers"],
    description: "Hyper-V synthetic network adapter, in Rust",
    license: "GPL",
}

pub(crate) mod device {
    //! The bound device: its net_device, its session with the host, the operations.
    use super::*;

    /// A bound NIC.
    #[pin_data]
    pub(crate) struct Netvsc {
        handle: vmbus::DeviceHandle,
        ndev: Arc<NetDevice>,
        counters: Arc<Counters>,
        #[pin]
        session: SpinLockIrq<Option<Arc<Session>>>,
    }

    impl Netvsc {
        fn session(&self) -> Option<Arc<Session>> {
            self.session.lock().clone()
        }

        /// ndo_open: frames may come in.
        pub(crate) fn open(&self) -> Result {
            self.session().ok_or(ENODEV)?.set_filter(true)
        }

        /// ndo_stop: frames stay out.
        pub(crate) fn stop(&self) {
            if let Some(s) = self.session() {
                let _ = s.set_filter(false);
            }
        }

        /// ndo_start_xmit.
        pub(crate) fn xmit(&self, skb: Skb, q: u16) -> Xmit {
            match self.session() {
                Some(s) => s.xmit(skb, q),
                None => Xmit::Dropped,
            }
        }

        /// ndo_change_mtu (RTNL held): the host learns the MTU only while connecting, so
        /// the device reconnects (as the C driver does); if the new MTU fails, the old one is
        /// restored.
        pub(crate) fn change_mtu(&self, mtu: u32) -> Result {
            let old = self.ndev.mtu();
            self.ndev.detach();
            self.end_session();
            let result = match self.connect(mtu) {
                Ok(()) => Ok(()),
                Err(e) => {
                    pr_warn!(
                        "rhv_netvsc: MTU {} not taken ({:?}); back to {}\n",
                        mtu,
                        e,
                        old
                    );
                    let _ = self.connect(old);
                    Err(e)
                }
            };
            self.ndev.attach();
            result
        }

        /// Starts a session with `mtu` and puts it in place (RTNL held, no session).
        fn connect(&self, mtu: u32) -> Result {
            let s = Session::start(&self.handle, &self.ndev, &self.counters, mtu)?;
            let n = s.queue_count();
            if self.ndev.running() {
                s.set_filter(true)?;
            }
            let s = Arc::new(s, GFP_KERNEL)?;
            *self.session.lock() = Some(s);
            self.ndev.set_queues(n)
        }

        /// ethtool -l: (maximum, current) combined channels.
        pub(crate) fn channels(&self) -> (u32, u32) {
            self.session()
                .map_or((1, 1), |s| (s.max_queues(), s.queue_count()))
        }

        /// ethtool -S: the driver's counters.
        pub(crate) fn counters(&self) -> [u64; netdev::COUNTERS] {
            self.counters.values()
        }

        /// Takes the session out and disconnects it; no transmission may run any more
        /// (the device is unregistered or detached). Process context.
        fn end_session(&self) {
            let taken = self.session.lock().take();
            if let Some(s) = taken {
                match Arc::into_unique_or_drop(s) {
                    Some(mut s) => s.stop(),
                    None => pr_warn!("rhv_netvsc: session still in use at teardown\n"),
                }
            }
        }
    }

    impl vmbus::Driver for Netvsc {
        type IdInfo = ();

        const ID_TABLE: vmbus::IdTable<()> = &NIC_TABLE;

        fn probe(dev: &Device<'_>, _info: &'static ()) -> Result<Pin<KBox<Self>>> {
            let handle = dev.handle();
            let ndev = NetDevice::new(dev.as_dev())?;
            let counters = Arc::new(Counters::new(), GFP_KERNEL)?;
            let session = Session::start(&handle, &ndev, &counters, ndev.mtu())?;
            if session.rx_csum() {
                // Not registered yet: cannot fail.
                let _ = ndev.set_rx_checksum();
            }
            // Not registered yet: cannot fail.
            let _ = ndev.set_tx_offload(&session.tx_features());
            let (mac, max_mtu) = (session.mac, session.max_mtu);
            if let Err(e) = ndev.set_queues(session.queue_count()) {
                let mut session = session;
                session.stop();
                return Err(e);
            }
            let session = Arc::new(session, GFP_KERNEL)?;
            let this = KBox::pin_init(
                pin_init!(Netvsc {
                    handle,
                    ndev,
                    counters,
                    session <- new_spinlock_irq!(Some(session), "rhv_netvsc_session"),
                }),
                GFP_KERNEL,
            )?;
            // SAFETY: `this` is pinned in its box, which the bus keeps until `remove` (which
            // unregisters the device) has returned.
            let registered = unsafe { this.ndev.register(&this, &mac, max_mtu) };
            if let Err(e) = registered {
                this.end_session();
                return Err(e);
            }
            dev_info!(
                dev.as_dev(),
                "network adapter {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} registered\n",
                mac[0],
                mac[1],
                mac[2],
                mac[3],
                mac[4],
                mac[5]
            );
            Ok(this)
        }

        fn remove(_dev: &Device<'_>, this: Pin<&Self>) {
            this.ndev.unregister();
            this.end_session();
        }
    }
}
