// SPDX-License-Identifier: GPL-2.0
//! The Rust side of `/dev/vmbus/hv_kvp` (utils/kvp_dev.c): starting and stopping the device,
//! queueing a message for the daemon, the daemon timeout, and the callbacks the device runs
//! (a message written by the daemon, a message read, the daemon gone, the timeout). The only
//! `unsafe` of the KVP service.

use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

use crate::kvp::KvpState;

mod ffi {
    use kernel::ffi::{c_int, c_uint, c_void};

    extern "C" {
        pub(super) fn rhv_utils_kvp_dev_start(ctx: *mut c_void) -> c_int;
        pub(super) fn rhv_utils_kvp_dev_stop();
        pub(super) fn rhv_utils_kvp_dev_quiesce();
        pub(super) fn rhv_utils_kvp_dev_send(msg: *const u8, len: usize) -> c_int;
        pub(super) fn rhv_utils_kvp_dev_withdraw();
        pub(super) fn rhv_utils_kvp_arm_timeout(ms: c_uint);
        pub(super) fn rhv_utils_kvp_cancel_timeout();
    }
}

/// The started device: the callbacks reach the [`KvpState`] it holds a reference to.
///
/// # Invariants
///
/// `state` came from [`Arc::into_raw`] and was handed to the device as its context; at most
/// one `Device` exists (the C side refuses a second start).
pub(crate) struct Device {
    state: *const KvpState,
}

// SAFETY: `Device` only owns a reference count of a `KvpState`, which is `Send + Sync`.
unsafe impl Send for Device {}
// SAFETY: as above; `Device` has no methods taking `&self`.
unsafe impl Sync for Device {}

impl Device {
    /// Registers `/dev/vmbus/hv_kvp` for `state`. `EBUSY` if another KVP device has it.
    pub(crate) fn start(state: Arc<KvpState>) -> Result<Self> {
        let state = Arc::into_raw(state);
        // SAFETY: `state` stays valid until `Drop` has stopped the device (no callback runs
        // after `rhv_utils_kvp_dev_stop()` returns) and reclaimed it.
        let ret = unsafe { ffi::rhv_utils_kvp_dev_start(state as *mut _) };
        if let Err(e) = kernel::error::to_result(ret) {
            // SAFETY: from `Arc::into_raw` above; the device did not keep it.
            drop(unsafe { Arc::from_raw(state) });
            return Err(e);
        }
        Ok(Device { state })
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: no preconditions; process context (device removal).
        unsafe { ffi::rhv_utils_kvp_dev_stop() };
        // SAFETY: by the invariant `state` came from `Arc::into_raw`; the device no longer
        // runs callbacks with it (stopped above), and the timeout work, which may still be
        // queued, finds no context.
        drop(unsafe { Arc::from_raw(self.state) });
    }
}

/// Waits for a queued timeout to finish; call once nothing can arm it (the channel closed).
pub(crate) fn quiesce() {
    // SAFETY: no preconditions; process context.
    unsafe { ffi::rhv_utils_kvp_dev_quiesce() }
}

/// Queues `msg` for the daemon (any context). `ENODEV` without a daemon, `EBUSY` if the
/// daemon has not read the previous message.
pub(crate) fn send(msg: &[u8]) -> Result {
    // SAFETY: `msg` is valid for `msg.len()` bytes; the device copies them.
    kernel::error::to_result(unsafe { ffi::rhv_utils_kvp_dev_send(msg.as_ptr(), msg.len()) })
}

/// Drops a queued message the daemon has not read (any context).
pub(crate) fn withdraw() {
    // SAFETY: no preconditions.
    unsafe { ffi::rhv_utils_kvp_dev_withdraw() }
}

/// Runs [`KvpState::on_timeout`] in `ms` milliseconds (any context; re-arms a queued one).
pub(crate) fn arm_timeout(ms: u32) {
    // SAFETY: no preconditions; the work item is static.
    unsafe { ffi::rhv_utils_kvp_arm_timeout(ms) }
}

/// Cancels a queued timeout without waiting (any context).
pub(crate) fn cancel_timeout() {
    // SAFETY: no preconditions; the work item is static.
    unsafe { ffi::rhv_utils_kvp_cancel_timeout() }
}

/// # Safety
///
/// `ctx` is the context of a started device that has not stopped (the C side holds its
/// entry lock, which `rhv_utils_kvp_dev_stop()` takes to clear the context).
unsafe fn state<'a>(ctx: *mut kernel::ffi::c_void) -> ArcBorrow<'a, KvpState> {
    // SAFETY: the caller's contract: `ctx` came from `Arc::into_raw` in `Device::start` and
    // the reference count it stands for is only dropped after the device stopped.
    unsafe { ArcBorrow::from_raw(ctx as *const KvpState) }
}

/// The daemon wrote a whole message (`len` bytes at `msg`).
#[no_mangle]
extern "C" fn rhv_utils_kvp_daemon_write(
    ctx: *mut kernel::ffi::c_void,
    msg: *const u8,
    len: usize,
) -> kernel::ffi::c_int {
    // SAFETY: the device passes its live context (see `state`).
    let state = unsafe { state(ctx) };
    // SAFETY: the device passes a kernel copy of the message, valid for `len` bytes for the
    // duration of the call.
    let msg = unsafe { core::slice::from_raw_parts(msg, len) };
    match state.on_daemon_message(msg) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The daemon read the queued message.
#[no_mangle]
extern "C" fn rhv_utils_kvp_daemon_read(ctx: *mut kernel::ffi::c_void) {
    // SAFETY: the device passes its live context (see `state`).
    unsafe { state(ctx) }.on_daemon_read();
}

/// The daemon closed the device.
#[no_mangle]
extern "C" fn rhv_utils_kvp_daemon_gone(ctx: *mut kernel::ffi::c_void) {
    // SAFETY: the device passes its live context (see `state`).
    unsafe { state(ctx) }.on_daemon_gone();
}

/// The timeout armed by [`arm_timeout`] expired.
#[no_mangle]
extern "C" fn rhv_utils_kvp_timeout(ctx: *mut kernel::ffi::c_void) {
    // SAFETY: the device passes its live context (see `state`).
    unsafe { state(ctx) }.on_timeout();
}
