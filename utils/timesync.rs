// SPDX-License-Identifier: GPL-2.0
//! Time synchronisation: the host sends its time in SYNC messages (after the channel opens and
//! after resume: the guest must set its clock) and SAMPLE messages (periodic: the guest may
//! discipline its clock with them). See `timesync_onchannelcallback()` and `adj_guesttime()`
//! in drivers/hv/hv_util.c; layouts: `TimesyncMessage`/`TimesyncRefMessage` in `ic_msg.rs`.
//!
//! The latest sample is kept as one number, host time minus partition reference counter, so
//! that the packet handler (softirq) and the clock work (process context) share it through a
//! single atomic word: host time now is the reference counter now plus that offset.

use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};

use crate::framework::{Service, Verdict};
use crate::ic::{
    parse_body, unix_nanos_from_host_time, IcMessageType, IcVersion, TimesyncMessage,
    TimesyncRefMessage, TIMESYNC_FLAG_SYNC, TIMESYNC_VERSION_4,
};
use crate::system;

/// The timesync service versions Linux accepts, newest first (`ts_versions`).
pub(crate) const SERVICE: Service = Service {
    name: "timesync",
    message_type: IcMessageType::Timesync,
    versions: &[
        TIMESYNC_VERSION_4,
        IcVersion::new(3, 0),
        IcVersion::new(1, 0),
    ],
};

/// Without SYNC, a time message steps the clock only when the `timesync_implicit` module
/// parameter is set and the guest is at least this far behind the host, as Linux does
/// (`hv_implicit_sync()`): a SAMPLE is a hint the guest need not follow (chrony disciplines
/// the clock through the PTP clock), and the parameter covers hosts that do not send SYNC
/// after a resume. A guest ahead of the host is never stepped back on a SAMPLE.
pub(crate) const IMPLICIT_SYNC_BEHIND_NS: i64 = 5_000_000_000;

/// A sample older than this (in reference counter units, 100 ns) is not applied, as in
/// Linux (600 s).
const STALE_SAMPLE: u64 = 600 * 10_000_000;

/// One time message from the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    /// Host time, 100 ns units since 1601.
    pub(crate) host_time: u64,
    /// The reference counter when the host read its time (version 4.0 and later).
    pub(crate) reference: Option<u64>,
    /// `TIMESYNC_FLAG_*`.
    pub(crate) flags: u8,
}

/// Reads a timesync body of service version `version`.
pub(crate) fn parse_sample(version: IcVersion, body: &[u8]) -> Result<Sample, Verdict> {
    if version.to_u32() >= TIMESYNC_VERSION_4.to_u32() {
        let m: TimesyncRefMessage = parse_body(body).map_err(|_| Verdict::ShortBody {
            needed: core::mem::size_of::<TimesyncRefMessage>(),
        })?;
        Ok(Sample {
            host_time: m.parenttime,
            reference: Some(m.vmreferencetime),
            flags: m.flags,
        })
    } else {
        let m: TimesyncMessage = parse_body(body).map_err(|_| Verdict::ShortBody {
            needed: core::mem::size_of::<TimesyncMessage>(),
        })?;
        Ok(Sample {
            host_time: m.parenttime,
            reference: None,
            flags: m.flags,
        })
    }
}

/// Host time minus reference counter for `sample`, received when the counter read
/// `received` (older versions carry no reference: the sample counts as taken then).
pub(crate) fn host_offset(sample: &Sample, received: u64) -> u64 {
    sample
        .host_time
        .wrapping_sub(sample.reference.unwrap_or(received))
}

/// Host time now as Unix nanoseconds, from an offset and the reference counter now.
pub(crate) fn host_unix_nanos(offset: u64, reference_now: u64) -> Option<i64> {
    i64::try_from(unix_nanos_from_host_time(
        reference_now.wrapping_add(offset),
    ))
    .ok()
}

/// Whether a time message steps the guest clock from `guest_ns` to `host_ns`: always on SYNC,
/// otherwise only with `implicit` (the module parameter) and a guest at least
/// [`IMPLICIT_SYNC_BEHIND_NS`] behind.
pub(crate) fn should_step(sync: bool, implicit: bool, host_ns: i64, guest_ns: i64) -> bool {
    sync || (implicit && host_ns.saturating_sub(guest_ns) >= IMPLICIT_SYNC_BEHIND_NS)
}

/// The latest sample as [`host_offset`]; meaningful once [`SAMPLE_RECEIVED_AT`] is non-zero.
static HOST_OFFSET: Atomic<u64> = Atomic::new(0);
/// The reference counter when the latest sample arrived (zero: none yet).
static SAMPLE_RECEIVED_AT: Atomic<u64> = Atomic::new(0);
/// A SYNC arrived that the clock work has not applied yet.
static SYNC_PENDING: Atomic<bool> = Atomic::new(false);
/// A message found the clock behind with `timesync_implicit` set; not applied yet.
static IMPLICIT_PENDING: Atomic<bool> = Atomic::new(false);

/// Takes a time message from the host (softirq context). Every message's time is kept, for
/// the PTP clock and the clock work, whatever its flags (as Linux does); the clock work is
/// queued only when the message asks for a step (see [`should_step`]), decided here with the
/// clock as it is when the message arrives.
pub(crate) fn on_sample(sample: &Sample) {
    let now = system::reference_counter();
    let offset = host_offset(sample, now);
    // ORDERING: the clock work reads these after `schedule_work()`, which orders the stores
    // before the work runs; a concurrent older run may see a mix of two samples, which are
    // seconds apart at most and corrected by the run this call queues.
    HOST_OFFSET.store(offset, ordering::Relaxed);
    SAMPLE_RECEIVED_AT.store(now.max(1), ordering::Relaxed);
    if sample.flags & TIMESYNC_FLAG_SYNC != 0 {
        SYNC_PENDING.store(true, ordering::Relaxed);
    } else if system::timesync_implicit()
        && host_unix_nanos(offset, now)
            .is_some_and(|host_ns| should_step(false, true, host_ns, system::real_time_ns()))
    {
        IMPLICIT_PENDING.store(true, ordering::Relaxed);
    } else {
        return;
    }
    system::schedule_clock_work();
}

/// The clock work (process context, from utils/shim.c): steps the wall clock to the host's
/// time as of the latest message when a message asked for it ([`on_sample`]), unless that
/// message is older than 600 s.
#[no_mangle]
extern "C" fn rhv_utils_clock_work() {
    // ORDERING: see `on_sample`.
    let sync = SYNC_PENDING.xchg(false, ordering::Relaxed);
    let implicit = IMPLICIT_PENDING.xchg(false, ordering::Relaxed);
    if !sync && !implicit {
        return;
    }
    let received = SAMPLE_RECEIVED_AT.load(ordering::Relaxed);
    let offset = HOST_OFFSET.load(ordering::Relaxed);
    let now = system::reference_counter();
    if received == 0 || now.wrapping_sub(received) > STALE_SAMPLE {
        return;
    }
    let Some(host_ns) = host_unix_nanos(offset, now) else {
        if system::ratelimit() {
            pr_warn!("timesync: host time out of range\n");
        }
        return;
    };
    let guest_ns = system::real_time_ns();
    match system::set_real_time_ns(host_ns) {
        Ok(()) => {
            if system::notice_ratelimit() {
                pr_info!(
                    "timesync: clock stepped by {} ms ({})\n",
                    host_ns.saturating_sub(guest_ns) / 1_000_000,
                    if sync { "sync" } else { "implicit" }
                );
            }
        }
        Err(e) => {
            if system::ratelimit() {
                pr_warn!("timesync: setting the clock failed: {:?}\n", e);
            }
        }
    }
}

/// The host's time now (Unix nanoseconds) for the PTP clock: the latest sample advanced by
/// the reference counter. `ESTALE` without a sample in the last 600 s, as in Linux.
pub(crate) fn host_time_ns() -> Result<i64> {
    // ORDERING: independent reads; a read racing a new sample may pair the old offset with
    // the new time of receipt, which only affects the staleness check.
    let received = SAMPLE_RECEIVED_AT.load(ordering::Relaxed);
    let offset = HOST_OFFSET.load(ordering::Relaxed);
    let now = system::reference_counter();
    if received == 0 || now.wrapping_sub(received) > STALE_SAMPLE {
        return Err(ESTALE);
    }
    host_unix_nanos(offset, now).ok_or(ERANGE)
}

/// What a bound timesync device owns besides its channel: the "hyperv" PTP clock and the
/// clock work, stopped when the device goes away (after its channel closed).
pub(crate) struct ClockWork {
    _ptp: Option<system::PtpClock>,
}

impl ClockWork {
    /// Registers the PTP clock; without it the device still steps the clock on SYNC.
    pub(crate) fn new() -> Self {
        let ptp = match system::PtpClock::register() {
            Ok((ptp, index)) => {
                if system::notice_ratelimit() {
                    pr_info!("timesync: PTP clock \"hyperv\" is ptp{}\n", index);
                }
                Some(ptp)
            }
            Err(e) => {
                if system::ratelimit() {
                    pr_warn!("timesync: cannot register the PTP clock: {:?}\n", e);
                }
                None
            }
        };
        ClockWork { _ptp: ptp }
    }
}

impl Drop for ClockWork {
    fn drop(&mut self) {
        system::cancel_clock_work();
    }
}
