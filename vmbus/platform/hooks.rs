// SPDX-License-Identifier: GPL-2.0
//! The kernel's entry points into the VMBus core: the Hyper-V callback-vector handler, a CPU
//! hotplug state and a reboot notifier. Each registration lends the C shim one reference to
//! the [`Connection`] as the hook's context and takes it back when it is unregistered, so the
//! connection outlives every call the hook can make.

use super::bindings;
use crate::connection::Connection;
use kernel::cpu::CpuId;
use kernel::ffi::{c_int, c_uint, c_void};
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

/// Lends a reference to the C side.
fn lend(conn: &Arc<Connection>) -> *mut c_void {
    conn.clone().into_raw().cast_mut().cast()
}

/// Takes a lent reference back.
///
/// # Safety
///
/// `ctx` comes from [`lend`] and is taken back once, after the C side stopped using it.
unsafe fn take_back(ctx: *mut c_void) {
    // SAFETY: per the function's contract, `ctx` is a reference from `Arc::into_raw`.
    drop(unsafe { Arc::from_raw(ctx.cast::<Connection>().cast_const()) });
}

/// Borrows the connection behind a hook's context.
///
/// # Safety
///
/// `ctx` comes from [`lend`] and is not taken back while the borrow lives.
unsafe fn borrow<'a>(ctx: *mut c_void) -> ArcBorrow<'a, Connection> {
    // SAFETY: per the function's contract, `ctx` comes from `Arc::into_raw` and the lent
    // reference keeps the count above zero.
    unsafe { ArcBorrow::from_raw(ctx.cast::<Connection>().cast_const()) }
}

/// The Hyper-V callback-vector handler, installed while this value lives.
pub(crate) struct InterruptHandler {
    ctx: *mut c_void,
}

// SAFETY: `ctx` is a counted reference to a `Connection`, which is `Send + Sync`.
unsafe impl Send for InterruptHandler {}
// SAFETY: as above; the value has no interior mutability.
unsafe impl Sync for InterruptHandler {}

impl InterruptHandler {
    /// Installs the handler: from now on the callback vector runs
    /// [`Connection::on_interrupt`] on the interrupted CPU.
    pub(crate) fn install(conn: &Arc<Connection>) -> Self {
        let ctx = lend(conn);
        // SAFETY: `ctx` stays valid until `rhv_isr_remove()` in `drop` has returned.
        unsafe { bindings::rhv_isr_install(ctx) };
        Self { ctx }
    }
}

impl Drop for InterruptHandler {
    fn drop(&mut self) {
        // SAFETY: no preconditions; when it returns, no CPU runs the handler any more.
        unsafe { bindings::rhv_isr_remove() };
        // SAFETY: lent in `install`; the handler is gone.
        unsafe { take_back(self.ctx) };
    }
}

#[no_mangle]
extern "C" fn rhv_vmbus_isr(ctx: *mut c_void) {
    if ctx.is_null() {
        return;
    }
    // SAFETY: the context of an installed `InterruptHandler`; it is taken back only after the
    // handler is removed and no CPU runs it.
    let conn = unsafe { borrow(ctx) };
    Connection::on_interrupt(conn, CpuId::current());
}

/// Runs the interrupt handler's work on `cpu` and waits for it: used to pick up a message that
/// was left in `cpu`'s slot while the inbox was full.
pub(crate) fn poll_on(cpu: CpuId, conn: &Arc<Connection>) {
    extern "C" fn poll(ctx: *mut c_void) {
        rhv_vmbus_isr(ctx);
    }
    let ctx = lend(conn);
    // SAFETY: `ctx` is valid until taken back below, after the synchronous call (`wait`
    // true) has returned; `poll` matches `smp_call_func_t`.
    unsafe {
        kernel::bindings::smp_call_function_single(cpu.as_u32() as c_int, Some(poll), ctx, true)
    };
    // SAFETY: lent above; the call is over.
    unsafe { take_back(ctx) };
}

/// A dynamic CPU hotplug state whose callbacks enable and disable each CPU's SynIC.
pub(crate) struct CpuHotplug {
    state: c_int,
    ctx: *mut c_void,
}

// SAFETY: `ctx` is a counted reference to a `Connection`, which is `Send + Sync`.
unsafe impl Send for CpuHotplug {}
// SAFETY: as above; the value has no interior mutability.
unsafe impl Sync for CpuHotplug {}

impl CpuHotplug {
    /// Sets up the state: [`Connection::on_cpu_online`] runs on every online CPU now and on
    /// every CPU that comes online later.
    pub(crate) fn setup(conn: &Arc<Connection>) -> Result<Self> {
        let ctx = lend(conn);
        // SAFETY: `ctx` stays valid until taken back after `rhv_cpuhp_remove()`.
        let state = unsafe { bindings::rhv_cpuhp_setup(ctx) };
        if state < 0 {
            // SAFETY: set-up failed, so no callback runs any more.
            unsafe { take_back(ctx) };
            return Err(Error::from_errno(state));
        }
        Ok(Self { state, ctx })
    }
}

impl Drop for CpuHotplug {
    fn drop(&mut self) {
        // SAFETY: `state` came from a successful set-up; this runs the offline callback on
        // every online CPU and removes the state.
        unsafe { bindings::rhv_cpuhp_remove(self.state) };
        // SAFETY: lent in `setup`; the state is gone.
        unsafe { take_back(self.ctx) };
    }
}

fn to_errno(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

#[no_mangle]
extern "C" fn rhv_vmbus_cpu_online(ctx: *mut c_void, cpu: c_uint) -> c_int {
    let Some(cpu) = CpuId::from_u32(cpu) else {
        return EINVAL.to_errno();
    };
    // SAFETY: the context of a set-up `CpuHotplug`, valid until it is removed.
    let conn = unsafe { borrow(ctx) };
    to_errno(conn.on_cpu_online(cpu))
}

#[no_mangle]
extern "C" fn rhv_vmbus_cpu_offline(ctx: *mut c_void, cpu: c_uint) -> c_int {
    let Some(cpu) = CpuId::from_u32(cpu) else {
        return EINVAL.to_errno();
    };
    // SAFETY: as for `rhv_vmbus_cpu_online`.
    let conn = unsafe { borrow(ctx) };
    to_errno(conn.on_cpu_offline(cpu))
}

/// A reboot notifier: tells the connection whether the machine restarts (reboot or kexec,
/// `SYS_RESTART`) or halts / powers off.
pub(crate) struct RebootNotifier {
    ctx: *mut c_void,
}

// SAFETY: `ctx` is a counted reference to a `Connection`, which is `Send + Sync`.
unsafe impl Send for RebootNotifier {}
// SAFETY: as above; the value has no interior mutability.
unsafe impl Sync for RebootNotifier {}

impl RebootNotifier {
    /// Registers the notifier: [`Connection::on_reboot`] runs on reboot, kexec, halt and
    /// power-off.
    pub(crate) fn register(conn: &Arc<Connection>) -> Result<Self> {
        let ctx = lend(conn);
        // SAFETY: `ctx` stays valid until taken back after unregistration.
        let ret = unsafe { bindings::rhv_reboot_notifier_register(ctx) };
        if ret < 0 {
            // SAFETY: registration failed, so the notifier never runs.
            unsafe { take_back(ctx) };
            return Err(Error::from_errno(ret));
        }
        Ok(Self { ctx })
    }
}

impl Drop for RebootNotifier {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; after this the notifier no longer runs.
        unsafe { bindings::rhv_reboot_notifier_unregister() };
        // SAFETY: lent in `register`.
        unsafe { take_back(self.ctx) };
    }
}

#[no_mangle]
extern "C" fn rhv_vmbus_reboot(ctx: *mut c_void, restart: bool) {
    // SAFETY: the context of a registered `RebootNotifier`, valid until it is unregistered.
    let conn = unsafe { borrow(ctx) };
    conn.on_reboot(restart);
}

/// Whether a complaint about the host may be logged now (one shared rate limit).
pub(crate) fn ratelimit() -> bool {
    // SAFETY: no preconditions.
    unsafe { bindings::rhv_ratelimit() }
}
