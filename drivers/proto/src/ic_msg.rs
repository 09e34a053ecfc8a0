// SPDX-License-Identifier: GPL-2.0
//! The bodies of the heartbeat, shutdown and timesync IC messages (the framing and the
//! version negotiation are in `ic.rs`, KVP in `kvp.rs`), and the host's time base.
//!
//! Layouts: `struct heartbeat_msg_data`, `struct shutdown_msg_data`, `struct ictimesync_data`
//! and `struct ictimesync_ref_data` in include/linux/hyperv.h; how Linux answers them:
//! drivers/hv/hv_util.c.
//!
//! This file is also compiled into the kernel modules: it uses only `core` and `zerocopy`, and
//! expects `ic.rs` to be included as its sibling module `ic`.

use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::ic::IcVersion;

/// Heartbeat body: the host sends a sequence number, the guest answers with it plus one.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct HeartbeatMessage {
    /// Sequence number.
    pub seq_num: u64,
    /// Zero.
    pub reserved: [u32; 8],
}
const _: () = assert!(core::mem::size_of::<HeartbeatMessage>() == 40);

/// Bytes of a heartbeat body the guest must receive: only the sequence number (hosts need
/// not send the reserved words).
pub const HEARTBEAT_MIN_BODY: usize = 8;

/// [`ShutdownMessage::flags`]: carry out the request even if applications object.
pub const SHUTDOWN_FLAG_FORCE: u32 = 1;
/// [`ShutdownMessage::flags`]: restart instead of powering off.
pub const SHUTDOWN_FLAG_RESTART: u32 = 2;
/// [`ShutdownMessage::flags`]: hibernate instead of powering off.
pub const SHUTDOWN_FLAG_HIBERNATE: u32 = 4;
/// [`ShutdownMessage::reason_code`] of a planned shutdown (Windows `SHTDN_REASON_FLAG_PLANNED`).
pub const SHUTDOWN_REASON_PLANNED: u32 = 0x8000_0000;

/// Shutdown request body. The guest answers with the status word of the header.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ShutdownMessage {
    /// Why (Windows shutdown reason code).
    pub reason_code: u32,
    /// Seconds the guest has.
    pub timeout_seconds: u32,
    /// `SHUTDOWN_FLAG_*`: 0 powers off.
    pub flags: u32,
    /// NUL-terminated text for the guest's users.
    pub display_message: [u8; 2048],
}
const _: () = assert!(core::mem::size_of::<ShutdownMessage>() == 2060);

/// Timesync flag: a probe (no time to apply).
pub const TIMESYNC_FLAG_PROBE: u8 = 0;
/// Timesync flag: set the clock (sent first after the channel opens, and after resume).
pub const TIMESYNC_FLAG_SYNC: u8 = 1;
/// Timesync flag: a periodic sample the guest may use to discipline its clock.
pub const TIMESYNC_FLAG_SAMPLE: u8 = 2;

/// 100 ns units from 1601-01-01 (the host's epoch) to 1970-01-01 (Unix).
pub const WINDOWS_EPOCH_DELTA: u64 = 116_444_736_000_000_000;

/// Unix time in nanoseconds as host time (100 ns units since 1601); `None` before 1601 or
/// past the year 60056.
// Inline so that a kernel module that never calls it is not left with the 128-bit division
// helper (`__divti3`), which the kernel does not provide.
#[inline]
pub const fn host_time_from_unix_nanos(nanos: i128) -> Option<u64> {
    let units = nanos.div_euclid(100) + WINDOWS_EPOCH_DELTA as i128;
    if units < 0 || units > u64::MAX as i128 {
        None
    } else {
        Some(units as u64)
    }
}

/// Host time (100 ns units since 1601) as Unix time in nanoseconds.
pub const fn unix_nanos_from_host_time(host_time: u64) -> i128 {
    (host_time as i128 - WINDOWS_EPOCH_DELTA as i128) * 100
}

/// Timesync body of service versions before 4.0.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct TimesyncMessage {
    /// Host time, 100 ns units since 1601.
    pub parenttime: u64,
    /// Unused by the host.
    pub childtime: u64,
    /// Unused by the host.
    pub roundtriptime: u64,
    /// `TIMESYNC_FLAG_*`.
    pub flags: u8,
}
const _: () = assert!(core::mem::size_of::<TimesyncMessage>() == 25);

/// Timesync body of service version 4.0: the host also tells the partition reference time
/// at which it took the sample, so the guest can add the time the message was under way.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct TimesyncRefMessage {
    /// Host time, 100 ns units since 1601.
    pub parenttime: u64,
    /// The partition reference counter (100 ns units) when `parenttime` was read.
    pub vmreferencetime: u64,
    /// `TIMESYNC_FLAG_*`.
    pub flags: u8,
    /// Leap second indicator.
    pub leapflags: u8,
    /// Stratum of the host clock.
    pub stratum: u8,
    /// Zero.
    pub reserved: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<TimesyncRefMessage>() == 22);

/// The first timesync service version with [`TimesyncRefMessage`].
pub const TIMESYNC_VERSION_4: IcVersion = IcVersion::new(4, 0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_time_conversions() {
        assert_eq!(host_time_from_unix_nanos(0), Some(WINDOWS_EPOCH_DELTA));
        assert_eq!(unix_nanos_from_host_time(WINDOWS_EPOCH_DELTA), 0);
        let t = 1_700_000_000_123_456_700i128;
        assert_eq!(
            unix_nanos_from_host_time(host_time_from_unix_nanos(t).unwrap()),
            t
        );
        assert_eq!(host_time_from_unix_nanos(-12_000_000_000_000_000_000), None);
        assert_eq!(host_time_from_unix_nanos(i128::MAX / 2), None);
        assert_eq!(IcVersion::new(3, 2).to_u32(), 0x0003_0002);
    }
}
