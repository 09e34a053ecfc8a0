// SPDX-License-Identifier: GPL-2.0
//! The kernel services the integration components act through (utils/shim.c): orderly
//! power-off and reboot, the wall clock, the partition reference counter and a rate limit for
//! complaints about the host, the "hyperv" PTP clock. The only `unsafe` of `rhv_utils`.

use kernel::prelude::*;

mod ffi {
    extern "C" {
        pub(super) fn rhv_utils_ratelimit() -> bool;
        pub(super) fn rhv_utils_notice_ratelimit() -> bool;
        pub(super) fn rhv_utils_poweroff();
        pub(super) fn rhv_utils_reboot();
        pub(super) fn rhv_utils_reference_counter() -> u64;
        pub(super) fn rhv_utils_real_time_ns() -> i64;
        pub(super) fn rhv_utils_set_real_time_ns(ns: i64) -> kernel::ffi::c_int;
        pub(super) fn rhv_utils_timesync_implicit() -> bool;
        pub(super) fn rhv_utils_schedule_clock_work();
        pub(super) fn rhv_utils_cancel_clock_work();
        pub(super) fn rhv_utils_ptp_register() -> kernel::ffi::c_int;
        pub(super) fn rhv_utils_ptp_unregister();
    }
}

/// Whether a complaint about the host may be logged now (one limit for the module).
pub(crate) fn ratelimit() -> bool {
    // SAFETY: no preconditions; the rate limit state is static and has its own lock.
    unsafe { ffi::rhv_utils_ratelimit() }
}

/// Whether a notice the host caused (a negotiation, a clock step, a request it sent, a device
/// it offered) may be logged now: the host can repeat any of these at will, so every such line
/// goes through a limit (its own, apart from the complaints').
pub(crate) fn notice_ratelimit() -> bool {
    // SAFETY: no preconditions; the rate limit state is static and has its own lock.
    unsafe { ffi::rhv_utils_notice_ratelimit() }
}

/// Starts an orderly power-off (runs `poweroff` in user space, forced if that fails). Only
/// queues work: callable from softirq context.
pub(crate) fn orderly_poweroff() {
    // SAFETY: no preconditions; `orderly_poweroff()` only queues a work item.
    unsafe { ffi::rhv_utils_poweroff() }
}

/// Starts an orderly reboot. Only queues work: callable from softirq context.
pub(crate) fn orderly_reboot() {
    // SAFETY: no preconditions; `orderly_reboot()` only queues a work item.
    unsafe { ffi::rhv_utils_reboot() }
}

/// The partition reference counter (100 ns units), the clock the host's timesync samples
/// are stamped with.
pub(crate) fn reference_counter() -> u64 {
    // SAFETY: `hv_read_reference_counter` is set up by the Hyper-V clock source before any
    // module loads and never cleared; reading it has no preconditions.
    unsafe { ffi::rhv_utils_reference_counter() }
}

/// The wall clock, in nanoseconds since the Unix epoch.
pub(crate) fn real_time_ns() -> i64 {
    // SAFETY: no preconditions; `ktime_get_real_ns()` may be called in any context.
    unsafe { ffi::rhv_utils_real_time_ns() }
}

/// Steps the wall clock to `ns` nanoseconds since the Unix epoch. Process context only.
pub(crate) fn set_real_time_ns(ns: i64) -> Result {
    // SAFETY: no memory-safety preconditions (the shim passes a local `timespec64`); the
    // process-context rule above is about not blocking softirqs, kept by the callers.
    kernel::error::to_result(unsafe { ffi::rhv_utils_set_real_time_ns(ns) })
}

/// The `timesync_implicit` module parameter (utils/shim.c): whether a time message steps a
/// clock that is behind the host's by [`crate::timesync::IMPLICIT_SYNC_BEHIND_NS`] or more.
pub(crate) fn timesync_implicit() -> bool {
    // SAFETY: no preconditions; reads a static `bool` once.
    unsafe { ffi::rhv_utils_timesync_implicit() }
}

/// Queues the timesync clock work (`rhv_utils_clock_work` in timesync.rs). Any context.
pub(crate) fn schedule_clock_work() {
    // SAFETY: no preconditions; the work item is static and its function is this module's.
    unsafe { ffi::rhv_utils_schedule_clock_work() }
}

/// Cancels the timesync clock work and waits for a run in progress. Process context.
pub(crate) fn cancel_clock_work() {
    // SAFETY: no preconditions; the work item is static.
    unsafe { ffi::rhv_utils_cancel_clock_work() }
}

/// The "hyperv" PTP clock (one per system, like Linux's); unregistered when dropped.
///
/// # Invariants
///
/// At most one exists, and it owns the shim's registration.
pub(crate) struct PtpClock(());

impl PtpClock {
    /// Registers the clock; returns it and its index (`/dev/ptpN`).
    pub(crate) fn register() -> Result<(Self, u32)> {
        // SAFETY: no preconditions; the clock description is static and the shim refuses a
        // second registration, so at most one `PtpClock` exists.
        let ret = unsafe { ffi::rhv_utils_ptp_register() };
        // A negative value is an errno.
        let index = u32::try_from(ret).map_err(|_| Error::from_errno(ret))?;
        Ok((PtpClock(()), index))
    }
}

impl Drop for PtpClock {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this value owns the registration; process context.
        unsafe { ffi::rhv_utils_ptp_unregister() }
    }
}

/// The PTP clock's read (utils/shim.c): the host's time now, in Unix nanoseconds.
#[no_mangle]
extern "C" fn rhv_utils_host_time_ns(ns: *mut i64) -> kernel::ffi::c_int {
    match crate::timesync::host_time_ns() {
        Ok(t) => {
            // SAFETY: the shim passes a pointer to a local `s64`.
            unsafe { ns.write(t) };
            0
        }
        Err(e) => e.to_errno(),
    }
}
