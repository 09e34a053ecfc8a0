// SPDX-License-Identifier: GPL-2.0
//! The Hyper-V platform under the VMBus core: hypercalls, the per-CPU SynIC, pages shared with
//! the host and the kernel hooks (interrupt, CPU hotplug, reboot). This is the only place
//! besides `bus.rs` that calls C; everything above it is safe Rust.

mod bindings;
pub(crate) mod hooks;
pub(crate) mod hypercall;
pub(crate) mod page;
pub(crate) mod raw_lock;
pub(crate) mod synic;

pub(crate) use bindings::{
    rhv_bus_register, rhv_bus_unregister, rhv_channel_dir_add, rhv_channel_dir_remove,
    rhv_device_register, rhv_device_unregister, rhv_driver_register, rhv_driver_unregister,
    ProbeFn, RawDeviceIdEntry, RemoveFn, RhvChannelDir, RhvVmbusDevice, RhvVmbusDriver, UeventEnv,
};

/// The per-CPU system workqueue (`system_percpu_wq`): what `schedule_work()` uses, and what
/// `kernel::workqueue::system()` (`system_wq`) is the deprecated name of — Linux 7.3 warns
/// when work is queued on the latter.
pub(crate) fn system_percpu_workqueue() -> &'static kernel::workqueue::Queue {
    // SAFETY: `system_percpu_wq` is a C global, set up at boot before any module loads and
    // never freed.
    unsafe { kernel::workqueue::Queue::from_raw(kernel::bindings::system_percpu_wq) }
}

/// Whether `cpu` is online.
pub(crate) fn cpu_online(cpu: kernel::cpu::CpuId) -> bool {
    // SAFETY: `cpu_online` accepts any CPU id below `nr_cpu_ids`, which `CpuId` guarantees.
    unsafe { bindings::rhv_cpu_is_online(cpu.as_u32()) }
}

/// Whether bottom halves can be disabled and enabled here (not in a hard interrupt, nor with
/// interrupts disabled).
pub(crate) fn bh_usable() -> bool {
    // SAFETY: no preconditions.
    unsafe { bindings::rhv_bh_usable() }
}

/// Runs `f` with bottom halves disabled on this CPU, then runs the softirqs raised meanwhile
/// (work queued on the BH workqueue included) before returning, unless the caller is inside
/// one. `None`, without running `f`, where bottom halves cannot be toggled ([`bh_usable`]).
pub(crate) fn with_bh_disabled<R>(f: impl FnOnce() -> R) -> Option<R> {
    if !bh_usable() {
        return None;
    }
    // SAFETY: not in hard interrupt context and interrupts on (checked just above); paired
    // with the enable below.
    unsafe { bindings::rhv_bh_disable() };
    let r = f();
    // SAFETY: pairs with the disable above, in the same context.
    unsafe { bindings::rhv_bh_enable() };
    Some(r)
}

/// Waits until every run of the interrupt handler that started before the call has ended (it
/// runs with interrupts off, so an RCU grace period covers it). May sleep.
pub(crate) fn wait_for_interrupt_handlers() {
    // SAFETY: no preconditions; callers are in process context.
    unsafe { kernel::bindings::synchronize_rcu() };
}

/// NUMA node of `cpu`.
pub(crate) fn cpu_node(cpu: u32) -> i32 {
    // SAFETY: `cpu_to_node` accepts any possible CPU number; callers pass CPU 0 or an online
    // CPU.
    unsafe { bindings::rhv_cpu_to_node(cpu) }
}

/// Number of possible CPU ids (`nr_cpu_ids`).
pub(crate) fn nr_cpu_ids() -> u32 {
    // SAFETY: reads a variable fixed at boot.
    unsafe { bindings::rhv_nr_cpu_ids() }
}

/// Holds the CPU hotplug lock for reading: no CPU goes on- or offline meanwhile.
pub(crate) struct CpusReadGuard(());

impl CpusReadGuard {
    /// Takes the lock (may sleep).
    pub(crate) fn new() -> Self {
        // SAFETY: process context (callers may sleep); released in `drop`.
        unsafe { kernel::bindings::cpus_read_lock() };
        Self(())
    }
}

impl Drop for CpusReadGuard {
    fn drop(&mut self) {
        // SAFETY: taken in `new`.
        unsafe { kernel::bindings::cpus_read_unlock() };
    }
}
