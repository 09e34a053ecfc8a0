// SPDX-License-Identifier: GPL-2.0
//! Module-wide counters of what the host got wrong and what it cost, shown in
//! `/sys/bus/vmbus/` (one file each, read by `shim.c` through [`rhv_vmbus_counter`]): a
//! rate-limited log line says something happened, the counter says how often.
//!
//! - `leaked_gpadl_pages`: pages deliberately never freed because the host may still write to
//!   them (a GPADL whose creation or teardown the host never answered; see `gpadl.rs`).
//! - `bad_channel_messages`: offers and rescinds refused before they reached a worker: malformed,
//!   naming a relid in use (offer) or not offered (rescind).
//! - `dropped_channel_messages`: well-formed offers and rescinds refused because the workers'
//!   queue was full (a host flooding the guest).

use kernel::sync::atomic::{ordering, Atomic};

/// Pages given up without being freed.
pub(crate) static LEAKED_GPADL_PAGES: Atomic<u64> = Atomic::new(0);
/// Channel messages refused as malformed or contradicting the relids' state.
pub(crate) static BAD_CHANNEL_MESSAGES: Atomic<u64> = Atomic::new(0);
/// Channel messages refused because the queue was full.
pub(crate) static DROPPED_CHANNEL_MESSAGES: Atomic<u64> = Atomic::new(0);

/// Adds `n` to `counter`.
pub(crate) fn count(counter: &Atomic<u64>, n: u64) {
    counter.add(n, ordering::Relaxed);
}

/// The value of counter `which` (`RHV_COUNTER_*` in `shim.h`), 0 for an unknown one.
#[no_mangle]
extern "C" fn rhv_vmbus_counter(which: u32) -> u64 {
    let counter = match which {
        0 => &LEAKED_GPADL_PAGES,
        1 => &BAD_CHANNEL_MESSAGES,
        2 => &DROPPED_CHANNEL_MESSAGES,
        _ => return 0,
    };
    counter.load(ordering::Relaxed)
}
