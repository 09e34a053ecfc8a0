// SPDX-License-Identifier: GPL-2.0
//! Safe wrappers over the net_device, NAPI, skb and ethtool parts of netvsc/shim.c, and the
//! callbacks the shim's `net_device_ops` and `ethtool_ops` make into the driver. The only
//! `unsafe` of `rhv_netvsc`.

use crate::buffer::SharedBuffer;
use crate::device::Netvsc;
use crate::receive::RxQueue;
use core::ptr::NonNull;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::sync::{new_spinlock_irq, Arc, SpinLockIrq};
use vmbus::Channel;

mod skb;
pub(crate) use skb::{Skb, Transport, TxOffload};

/// Most queues (channels) a device gets (`RHV_NETVSC_MAX_QUEUES` in shim.h).
pub(crate) const MAX_QUEUES: usize = 8;
/// Counters the driver reports to ethtool (`RHV_NETVSC_RS_COUNTERS` in shim.c).
pub(crate) const COUNTERS: usize = 7;

/// `struct net_device`, opaque.
#[repr(C)]
pub(crate) struct RawNetDevice {
    _opaque: [u8; 0],
}

/// `struct sk_buff`, opaque.
#[repr(C)]
pub(crate) struct RawSkb {
    _opaque: [u8; 0],
}

mod ffi {
    use super::{RawNetDevice, RawSkb};
    use kernel::ffi::{c_int, c_void};

    extern "C" {
        pub(super) fn rhv_netvsc_ratelimit() -> bool;
        pub(super) fn rhv_netvsc_alloc(
            parent: *mut c_void,
            ctx: *const c_void,
        ) -> *mut RawNetDevice;
        pub(super) fn rhv_netvsc_set_rxcsum(ndev: *mut RawNetDevice);
        pub(super) fn rhv_netvsc_rxcsum_enabled(ndev: *mut RawNetDevice) -> bool;
        pub(super) fn rhv_netvsc_set_tx_offload(
            ndev: *mut RawNetDevice,
            what: u32,
            tso_max_size: u32,
            tso_min_segs: u32,
        );
        pub(super) fn rhv_netvsc_skb_offload(
            skb: *mut RawSkb,
            transport: *mut u32,
            mss: *mut u32,
        ) -> c_int;
        pub(super) fn rhv_netvsc_skb_checksum_help(skb: *mut RawSkb) -> c_int;
        pub(super) fn rhv_netvsc_skb_ranges(
            skb: *mut RawSkb,
            pfns: *mut u64,
            max_pfns: u32,
            ranges: *mut u32,
            max_ranges: u32,
        ) -> c_int;
        pub(super) fn rhv_netvsc_set_ctx(ndev: *mut RawNetDevice, ctx: *const c_void);
        pub(super) fn rhv_netvsc_register(
            ndev: *mut RawNetDevice,
            mac: *const u8,
            max_mtu: u32,
        ) -> c_int;
        pub(super) fn rhv_netvsc_unregister(ndev: *mut RawNetDevice);
        pub(super) fn rhv_netvsc_free(ndev: *mut RawNetDevice);
        pub(super) fn rhv_netvsc_set_queues(ndev: *mut RawNetDevice, n: u32) -> c_int;
        pub(super) fn rhv_netvsc_carrier(ndev: *mut RawNetDevice, on: bool);
        pub(super) fn rhv_netvsc_rx(
            ndev: *mut RawNetDevice,
            q: u16,
            data: *const u8,
            len: u32,
            hash: u32,
            csum_ok: bool,
        ) -> c_int;
        pub(super) fn rhv_netvsc_rx_buf(
            ndev: *mut RawNetDevice,
            q: u16,
            pfns: *const u64,
            npfns: u32,
            offset: u32,
            len: u32,
            hash: u32,
            csum_ok: bool,
        ) -> c_int;
        pub(super) fn rhv_netvsc_rx_dropped(ndev: *mut RawNetDevice);
        pub(super) fn rhv_netvsc_poll_schedule(ndev: *mut RawNetDevice, q: u16);
        pub(super) fn rhv_netvsc_poll_kick(ndev: *mut RawNetDevice, q: u16);
        pub(super) fn rhv_netvsc_poll_claim(ndev: *mut RawNetDevice, q: u16);
        pub(super) fn rhv_netvsc_poll_sync(ndev: *mut RawNetDevice, q: u16);
        pub(super) fn rhv_netvsc_set_rx_ctx(ndev: *mut RawNetDevice, rx_ctx: *const c_void);
        pub(super) fn rhv_netvsc_tx_stop(ndev: *mut RawNetDevice, q: u16);
        pub(super) fn rhv_netvsc_tx_wake(ndev: *mut RawNetDevice, q: u16);
        pub(super) fn rhv_netvsc_detach(ndev: *mut RawNetDevice);
        pub(super) fn rhv_netvsc_attach(ndev: *mut RawNetDevice);
        pub(super) fn rhv_netvsc_running(ndev: *mut RawNetDevice) -> bool;
        pub(super) fn rhv_netvsc_online_cpus() -> u32;
        pub(super) fn rhv_netvsc_mtu(ndev: *mut RawNetDevice) -> u32;
        pub(super) fn rhv_netvsc_xmit_more() -> bool;
        pub(super) fn rhv_netvsc_skb_len(skb: *mut RawSkb) -> u32;
        pub(super) fn rhv_netvsc_skb_pages(
            skb: *mut RawSkb,
            pfns: *mut u64,
            max: u32,
            offset: *mut u32,
        ) -> c_int;
        pub(super) fn rhv_netvsc_skb_free(skb: *mut RawSkb);
        pub(super) fn rhv_netvsc_skb_consume_napi(skb: *mut RawSkb);
    }
}

/// Transmit offloads the host offers, as the stack is told of them (`RHV_NETVSC_TX_*` in
/// shim.h).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TxFeatures {
    /// TCP and UDP checksums over IPv4 (NETIF_F_IP_CSUM).
    pub(crate) csum4: bool,
    /// TCP and UDP checksums over IPv6 (NETIF_F_IPV6_CSUM).
    pub(crate) csum6: bool,
    /// TCP large sends over IPv4 (NETIF_F_TSO).
    pub(crate) tso4: bool,
    /// TCP large sends over IPv6 (NETIF_F_TSO6).
    pub(crate) tso6: bool,
    /// Largest large send, Ethernet header included.
    pub(crate) tso_max_size: u32,
    /// Fewest segments a large send may make.
    pub(crate) tso_min_segs: u32,
}

/// Whether a complaint about the host may be logged now (one limit for the module).
pub(crate) fn ratelimit() -> bool {
    // SAFETY: no preconditions; the rate limit state is static and has its own lock.
    unsafe { ffi::rhv_netvsc_ratelimit() }
}

/// CPUs online now.
pub(crate) fn online_cpus() -> u32 {
    // SAFETY: no preconditions.
    unsafe { ffi::rhv_netvsc_online_cpus() }
}

/// The driver's net_device: allocated by [`NetDevice::new`], registered by
/// [`NetDevice::register`], unregistered and freed when dropped.
///
/// # Invariants
///
/// `raw` is a net_device the shim allocated, not freed while `self` lives. Its context
/// pointer is null or points to the [`Netvsc`] that owns (through an `Arc`) this value and
/// that outlives its registration. Its receive context points to `self`, in the `Arc` that
/// [`NetDevice::new`] made (the NAPI polls use it until the net_device is freed).
#[pin_data(PinnedDrop)]
pub(crate) struct NetDevice {
    raw: NonNull<RawNetDevice>,
    registered: kernel::sync::atomic::Atomic<bool>,
    /// The channel each queue's NAPI instance polls, and the queue's receive side.
    #[pin]
    polled: SpinLockIrq<[Option<Polled>; MAX_QUEUES]>,
}

// SAFETY: the net_device may be used from any thread; every shim function it calls is safe in
// any context its caller documents.
unsafe impl Send for NetDevice {}
// SAFETY: as above; the shim's functions synchronise internally (the stack's own locks).
unsafe impl Sync for NetDevice {}

impl NetDevice {
    /// A net_device for `parent`, one queue in use, carrier off; its operations reach
    /// `ctx` once registered.
    pub(crate) fn new(parent: &kernel::device::Device) -> Result<Arc<Self>> {
        // CAST: `kernel::device::Device` is a transparent wrapper of `struct device`.
        let parent = core::ptr::from_ref(parent).cast_mut().cast();
        // SAFETY: `parent` is a live device; the shim only stores the pointer (the parent
        // outlives the net_device, which is unregistered in the driver's remove). The context
        // is set by `register`.
        let raw = unsafe { ffi::rhv_netvsc_alloc(parent, core::ptr::null()) };
        let raw = NonNull::new(raw).ok_or(ENOMEM)?;
        let this = Arc::pin_init(
            pin_init!(Self {
                raw,
                registered: kernel::sync::atomic::Atomic::new(false),
                polled <- new_spinlock_irq!([const { None }; MAX_QUEUES], "rhv_netvsc_polled"),
            }),
            GFP_KERNEL,
        );
        let this = match this {
            Ok(this) => this,
            Err(e) => {
                // SAFETY: allocated above, never registered, not used after.
                unsafe { ffi::rhv_netvsc_free(raw.as_ptr()) };
                return Err(e);
            }
        };
        // SAFETY: `raw` is live; `this` stays at this address in its `Arc` until it is
        // dropped, which frees the net_device after its NAPI polls stopped.
        unsafe { ffi::rhv_netvsc_set_rx_ctx(raw.as_ptr(), Arc::as_ptr(&this).cast()) };
        Ok(this)
    }

    /// Makes `channel` the one queue `q`'s NAPI instance polls (`None`: none) and polls it
    /// once for packets that came before; or, for `None`, waits until no poll uses the old
    /// one any more, so that its last reference goes here (process context).
    pub(crate) fn set_polled(&self, q: u16, channel: Option<Polled>) {
        let kick = channel.is_some();
        let old = match self.polled.lock().get_mut(usize::from(q)) {
            Some(slot) => core::mem::replace(slot, channel),
            None => return,
        };
        if kick {
            // SAFETY: `raw` is live; the shim checks `q`.
            unsafe { ffi::rhv_netvsc_poll_kick(self.raw.as_ptr(), q) };
        } else {
            // SAFETY: `raw` is live and its NAPI instances are enabled (until it is freed,
            // which cannot happen while `self` is borrowed); the shim checks `q`.
            unsafe { ffi::rhv_netvsc_poll_sync(self.raw.as_ptr(), q) };
        }
        drop(old);
    }

    /// The channel of queue `q` was signalled: schedules its NAPI instance (interrupt
    /// context).
    pub(crate) fn schedule_poll(&self, q: u16) {
        // SAFETY: `raw` is live; the shim checks `q`.
        unsafe { ffi::rhv_netvsc_poll_schedule(self.raw.as_ptr(), q) };
    }

    /// Takes `channel`, queue `q`'s, into the queue's poll before the host is signalled
    /// on it from ndo_start_xmit: its ring's interrupt masked, the poll scheduled (on this
    /// CPU) unless it is already, so the host's completions need no interrupt of their own.
    pub(crate) fn claim_poll(&self, q: u16, channel: &Channel) {
        channel.mask_for_poll();
        // SAFETY: `raw` is live; the shim checks `q`; softirqs are off (ndo_start_xmit).
        unsafe { ffi::rhv_netvsc_poll_claim(self.raw.as_ptr(), q) };
    }

    /// The channel queue `q` polls, with the queue's receive side.
    fn polled(&self, q: u16) -> Option<Polled> {
        self.polled.lock().get(usize::from(q)).cloned().flatten()
    }

    /// Whether receive checksum offload is enabled on the interface now (`NETIF_F_RXCSUM`,
    /// which `ethtool -K eth0 rx off` clears).
    pub(crate) fn rx_checksum_enabled(&self) -> bool {
        // SAFETY: `raw` is live; reading the features is safe in any context.
        unsafe { ffi::rhv_netvsc_rxcsum_enabled(self.raw.as_ptr()) }
    }

    /// Advertises receive checksum offload; only before registration (`EBUSY` after), when
    /// nothing else reads the features.
    pub(crate) fn set_rx_checksum(&self) -> Result {
        if self
            .registered
            .load(kernel::sync::atomic::ordering::Acquire)
        {
            return Err(EBUSY);
        }
        // SAFETY: `raw` is live and not registered: the stack does not read its features.
        unsafe { ffi::rhv_netvsc_set_rxcsum(self.raw.as_ptr()) };
        Ok(())
    }

    /// Advertises the transmit offloads the host offers; only before registration (`EBUSY`
    /// after).
    pub(crate) fn set_tx_offload(&self, f: &TxFeatures) -> Result {
        if self
            .registered
            .load(kernel::sync::atomic::ordering::Acquire)
        {
            return Err(EBUSY);
        }
        let what = u32::from(f.csum4)
            | u32::from(f.csum6) << 1
            | u32::from(f.tso4) << 2
            | u32::from(f.tso6) << 3;
        // SAFETY: `raw` is live and not registered: the stack does not read its features.
        unsafe {
            ffi::rhv_netvsc_set_tx_offload(self.raw.as_ptr(), what, f.tso_max_size, f.tso_min_segs)
        };
        Ok(())
    }

    /// Registers the device with MAC address `mac` (process context, RTNL not held); its
    /// operations call into `ctx` from then on.
    ///
    /// # Safety
    ///
    /// `ctx` stays alive, at the same address, until [`NetDevice::unregister`] returned.
    pub(crate) unsafe fn register(&self, ctx: &Netvsc, mac: &[u8; 6], max_mtu: u32) -> Result {
        // SAFETY: `raw` is live and not registered yet, so no operation reads the context
        // while it is written.
        unsafe { ffi::rhv_netvsc_set_ctx(self.raw.as_ptr(), core::ptr::from_ref(ctx).cast()) };
        // SAFETY: `raw` is live (invariant); `mac` is 6 readable bytes; the context outlives
        // the registration per the contract.
        kernel::error::to_result(unsafe {
            ffi::rhv_netvsc_register(self.raw.as_ptr(), mac.as_ptr(), max_mtu)
        })?;
        self.registered
            .store(true, kernel::sync::atomic::ordering::Release);
        Ok(())
    }

    /// Unregisters the device if it is registered (process context, RTNL not held); after
    /// this no operation reaches the context any more.
    pub(crate) fn unregister(&self) {
        if self
            .registered
            .xchg(false, kernel::sync::atomic::ordering::Full)
        {
            // SAFETY: registered by `register`, unregistered once thanks to the exchange.
            unsafe { ffi::rhv_netvsc_unregister(self.raw.as_ptr()) };
        }
    }

    /// Sets the number of queues in use (before registration, or with the RTNL held).
    pub(crate) fn set_queues(&self, n: u32) -> Result {
        // SAFETY: `raw` is live; the RTNL rule is the caller's.
        kernel::error::to_result(unsafe { ffi::rhv_netvsc_set_queues(self.raw.as_ptr(), n) })
    }

    /// Carrier on or off (any context).
    pub(crate) fn set_carrier(&self, on: bool) {
        // SAFETY: `raw` is live; carrier changes are safe in any context.
        unsafe { ffi::rhv_netvsc_carrier(self.raw.as_ptr(), on) }
    }

    /// Hands a received Ethernet frame to GRO, copied; only from the poll of queue `q`'s
    /// NAPI instance. `hash` (0: none) is the host's RSS hash.
    pub(crate) fn receive(&self, q: u16, frame: &[u8], hash: u32, csum_ok: bool) -> Result {
        let len = u32::try_from(frame.len()).map_err(|_| EINVAL)?;
        // SAFETY: `raw` is live; `frame` is `len` readable bytes, copied before the return.
        kernel::error::to_result(unsafe {
            ffi::rhv_netvsc_rx(self.raw.as_ptr(), q, frame.as_ptr(), len, hash, csum_ok)
        })
    }

    /// Hands the frame of `len` bytes at `offset` in the receive buffer `buf` to GRO, copied
    /// once, straight into the skb; only from the poll of queue `q`'s NAPI instance.
    pub(crate) fn receive_in_place(
        &self,
        q: u16,
        buf: &SharedBuffer,
        offset: usize,
        len: usize,
        hash: u32,
        csum_ok: bool,
    ) -> Result {
        let offset = u32::try_from(offset).map_err(|_| EINVAL)?;
        let len = u32::try_from(len).map_err(|_| EINVAL)?;
        let pfns = buf.pfns();
        let npfns = u32::try_from(pfns.len()).map_err(|_| EINVAL)?;
        // SAFETY: `raw` is live; `pfns` name directly mapped pages that stay allocated while
        // `buf` lives (its invariant), i.e. during the call; the shim checks the span against
        // them and copies before the return.
        kernel::error::to_result(unsafe {
            ffi::rhv_netvsc_rx_buf(
                self.raw.as_ptr(),
                q,
                pfns.as_ptr(),
                npfns,
                offset,
                len,
                hash,
                csum_ok,
            )
        })
    }

    /// Counts a received frame that was dropped.
    pub(crate) fn rx_dropped(&self) {
        // SAFETY: `raw` is live.
        unsafe { ffi::rhv_netvsc_rx_dropped(self.raw.as_ptr()) }
    }

    /// Stops transmit queue `q`.
    pub(crate) fn stop_queue(&self, q: u16) {
        // SAFETY: `raw` is live; the shim checks `q`.
        unsafe { ffi::rhv_netvsc_tx_stop(self.raw.as_ptr(), q) }
    }

    /// Wakes transmit queue `q` if the device is up.
    pub(crate) fn wake_queue(&self, q: u16) {
        // SAFETY: `raw` is live; the shim checks `q`.
        unsafe { ffi::rhv_netvsc_tx_wake(self.raw.as_ptr(), q) }
    }

    /// Detaches the device and waits for running transmissions (RTNL held).
    pub(crate) fn detach(&self) {
        // SAFETY: `raw` is live; the caller holds the RTNL (ndo_change_mtu).
        unsafe { ffi::rhv_netvsc_detach(self.raw.as_ptr()) }
    }

    /// Attaches the device again after [`NetDevice::detach`].
    pub(crate) fn attach(&self) {
        // SAFETY: `raw` is live; the caller holds the RTNL (ndo_change_mtu).
        unsafe { ffi::rhv_netvsc_attach(self.raw.as_ptr()) }
    }

    /// Whether the interface is up.
    pub(crate) fn running(&self) -> bool {
        // SAFETY: `raw` is live.
        unsafe { ffi::rhv_netvsc_running(self.raw.as_ptr()) }
    }

    /// The MTU.
    pub(crate) fn mtu(&self) -> u32 {
        // SAFETY: `raw` is live.
        unsafe { ffi::rhv_netvsc_mtu(self.raw.as_ptr()) }
    }
}

#[pinned_drop]
impl PinnedDrop for NetDevice {
    fn drop(self: Pin<&mut Self>) {
        self.unregister();
        // SAFETY: allocated by the shim, unregistered above, freed once.
        unsafe { ffi::rhv_netvsc_free(self.raw.as_ptr()) }
    }
}

/// What `ndo_start_xmit` did with an skb.
pub(crate) enum Xmit {
    /// Sent (the driver keeps or freed it).
    Sent,
    /// No room: the stack keeps the skb and retries once the queue is woken.
    Busy(Skb),
    /// Dropped (and freed).
    Dropped,
}

/// The driver context of a shim callback.
///
/// # Safety
///
/// `ctx` is the context pointer of a registered device (see [`NetDevice`]'s invariants).
unsafe fn context<'a>(ctx: *const c_void) -> &'a Netvsc {
    // SAFETY: per the contract, `ctx` points to a live `Netvsc` while the device is registered,
    // which it is during every callback.
    unsafe { &*ctx.cast::<Netvsc>() }
}

#[no_mangle]
extern "C" fn rhv_netvsc_rs_open(ctx: *const c_void) -> c_int {
    // SAFETY: called by the shim's ndo_open with the device's context.
    let dev = unsafe { context(ctx) };
    match dev.open() {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

#[no_mangle]
extern "C" fn rhv_netvsc_rs_stop(ctx: *const c_void) -> c_int {
    // SAFETY: called by the shim's ndo_stop with the device's context.
    let dev = unsafe { context(ctx) };
    dev.stop();
    0
}

#[no_mangle]
extern "C" fn rhv_netvsc_rs_xmit(ctx: *const c_void, skb: *mut RawSkb, q: u16) -> c_int {
    // SAFETY: called by the shim's ndo_start_xmit with the device's context.
    let dev = unsafe { context(ctx) };
    let Some(raw) = NonNull::new(skb) else {
        return 2;
    };
    // SAFETY: ndo_start_xmit hands the skb over to the driver.
    let skb = unsafe { Skb::from_raw(raw) };
    match dev.xmit(skb, q) {
        Xmit::Sent => 0,
        Xmit::Busy(skb) => {
            let _ = skb.into_raw();
            1
        }
        Xmit::Dropped => 2,
    }
}

#[no_mangle]
extern "C" fn rhv_netvsc_rs_change_mtu(ctx: *const c_void, mtu: u32) -> c_int {
    // SAFETY: called by the shim's ndo_change_mtu (RTNL held) with the device's context.
    let dev = unsafe { context(ctx) };
    match dev.change_mtu(mtu) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

#[no_mangle]
extern "C" fn rhv_netvsc_rs_channels(ctx: *const c_void, max: *mut u32, cur: *mut u32) {
    // SAFETY: called by the shim's get_channels with the device's context.
    let dev = unsafe { context(ctx) };
    let (m, c) = dev.channels();
    // SAFETY: the shim passes pointers to two locals.
    unsafe {
        max.write(m);
        cur.write(c);
    }
}

/// What a queue's NAPI instance polls: its channel and its receive side.
#[derive(Clone)]
pub(crate) struct Polled {
    pub(crate) channel: Arc<Channel>,
    pub(crate) rx: Arc<RxQueue>,
}

/// The receive context of a NAPI poll.
///
/// # Safety
///
/// `rx` is the receive context of a net_device not freed yet (see [`NetDevice`]'s
/// invariants).
unsafe fn rx_context<'a>(rx: *const c_void) -> &'a NetDevice {
    // SAFETY: per the contract, `rx` points to the live `NetDevice` that owns the net_device.
    unsafe { &*rx.cast::<NetDevice>() }
}

/// NAPI poll of queue `q`: up to `budget` frames (or other packets) of its channel, which
/// the packet handler hands to GRO; returns how many.
#[no_mangle]
extern "C" fn rhv_netvsc_rs_poll(rx: *const c_void, q: u16, budget: c_int) -> c_int {
    // SAFETY: called by the shim's NAPI poll, which runs only while the net_device lives.
    let ndev = unsafe { rx_context(rx) };
    let Some(p) = ndev.polled(q) else {
        return 0;
    };
    let budget = usize::try_from(budget).unwrap_or(0);
    // What the last poll left (completions held back, a packet half-done) comes first.
    p.rx.begin_poll(&p.channel, budget);
    p.channel.poll(budget);
    c_int::try_from(p.rx.end_poll().min(budget)).unwrap_or(c_int::MAX)
}

/// After a poll of queue `q` that took less than its budget: unmasks the channel's
/// interrupt; whether it must be polled again.
#[no_mangle]
extern "C" fn rhv_netvsc_rs_poll_done(rx: *const c_void, q: u16) -> bool {
    // SAFETY: as in `rhv_netvsc_rs_poll`.
    let ndev = unsafe { rx_context(rx) };
    let Some(p) = ndev.polled(q) else {
        return false;
    };
    // Held back for want of ring room, packets may wait in the ring: polling again now would
    // spin. The host signals once it has made room (the full write asked it to, through
    // `pending_send_sz`), which schedules the next poll; until then the ring stays masked.
    if p.rx.waits_for_room() {
        return false;
    }
    p.channel.poll_done()
}

#[no_mangle]
extern "C" fn rhv_netvsc_rs_counters(ctx: *const c_void, out: *mut u64, n: u32) {
    // SAFETY: called by the shim's get_ethtool_stats with the device's context.
    let dev = unsafe { context(ctx) };
    let values = dev.counters();
    for (i, v) in values.iter().enumerate().take(n as usize) {
        // SAFETY: the shim passes room for `n` (= COUNTERS) values.
        unsafe { out.add(i).write(*v) };
    }
}
