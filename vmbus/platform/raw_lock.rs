// SPDX-License-Identifier: GPL-2.0
//! A `raw_spinlock_t` lock with interrupts saved and disabled, for the data the VMBus
//! interrupt handler shares with the rest of the module.
//!
//! The rule: the handler (`hooks::rhv_vmbus_isr`, run by the Hyper-V callback vector in hard
//! interrupt context) takes no lock but a [`RawSpinLockIrq`]. A `spinlock_t`
//! ([`kernel::sync::SpinLock`], [`kernel::sync::SpinLockIrq`]) becomes a sleeping lock on
//! PREEMPT_RT, and the callback vector is never threaded, so taking one there is a bug on RT
//! and lockdep reports it on every kernel ("BUG: Invalid wait context"), then turns itself
//! off for the rest of the boot. The C driver avoids the same by running its handler in a
//! per-CPU thread on RT; ours keeps the handler's critical sections short (a queue slot, a
//! table entry) and makes their locks raw. Nothing that sleeps, allocates or takes a
//! `spinlock_t` may run under a raw lock either.

use super::bindings;
use kernel::bindings::{lock_class_key, raw_spinlock};
use kernel::ffi::{c_char, c_ulong};
use kernel::sync::lock::{Backend, Lock};

/// A `raw_spinlock_t` taken with `raw_spin_lock_irqsave`: usable from any context, hard
/// interrupts included. Create one with [`new_raw_spinlock_irq!`]; its guard unlocks and
/// restores the interrupt state when dropped.
pub(crate) type RawSpinLockIrq<T> = Lock<T, RawSpinLockIrqBackend>;

/// The [`Backend`] of [`RawSpinLockIrq`].
pub(crate) struct RawSpinLockIrqBackend;

/// A [`RawSpinLockIrq`] initialiser with a name (a string literal) and a lock class of its own.
macro_rules! new_raw_spinlock_irq {
    ($inner:expr, $name:literal $(,)?) => {
        $crate::platform::raw_lock::RawSpinLockIrq::new(
            $inner,
            ::kernel::c_str!($name),
            ::kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_raw_spinlock_irq;

// SAFETY: a `raw_spinlock_t` ensures mutual exclusion; the guard state carries the saved
// interrupt flags from `lock` to `unlock` on the same CPU (interrupts stay off in between, so
// the holder cannot migrate), and `relock` (the default) takes the lock the same way.
unsafe impl Backend for RawSpinLockIrqBackend {
    type State = raw_spinlock;
    type GuardState = c_ulong;

    unsafe fn init(ptr: *mut Self::State, name: *const c_char, key: *mut lock_class_key) {
        // SAFETY: per the trait's contract, `ptr` is valid for writes and `name` and `key`
        // live forever.
        unsafe { bindings::rhv_raw_spin_lock_init(ptr, name, key.cast()) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: per the trait's contract, `ptr` was initialised by `init`.
        unsafe { bindings::rhv_raw_spin_lock_irqsave(ptr) }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        let mut flags: c_ulong = 0;
        // SAFETY: per the trait's contract, `ptr` was initialised by `init`; `flags` is a
        // valid place for the saved interrupt state.
        unsafe { bindings::rhv_raw_spin_trylock_irqsave(ptr, &mut flags) }.then_some(flags)
    }

    unsafe fn unlock(ptr: *mut Self::State, guard_state: &Self::GuardState) {
        // SAFETY: per the trait's contract the caller owns the lock, and `guard_state` holds
        // the flags its `lock` saved.
        unsafe { bindings::rhv_raw_spin_unlock_irqrestore(ptr, *guard_state) }
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: per the trait's contract, `ptr` was initialised by `init`.
        unsafe { bindings::rhv_raw_spin_assert_held(ptr) }
    }
}
