// SPDX-License-Identifier: GPL-2.0
//! The integration components (ICs) the host offers every guest — heartbeat, shutdown, time
//! synchronisation and key-value pair exchange — as VMBus devices.
//!
//! Each IC is a message-mode pipe channel on which the host asks and the guest answers. Right
//! after the guest opens the channel the host sends NEGOTIATE with the framework and service
//! versions it speaks and checks the guest's choice; afterwards it keeps one request
//! outstanding at a time and gives up on a missing answer after a timeout. Wrong answers
//! (sizes, types, transaction ids, values) are counted and logged, rate-limited; they never
//! stop the simulation.
//!
//! Files: `framework` (negotiation, framing, the outstanding transaction, counters — what all
//! four share), `component` (the [`VmbusDevice`](crate::vmbus::VmbusDevice) glue), one file per
//! service, `command` (control-command arguments). Wire formats: `rhv_proto::{ic, kvp}`.
//!
//! # Control commands
//!
//! `hvsim ctl --socket S device <instance GUID or relid> '<json>'` passes a JSON object to the
//! IC; the answer is a JSON value. A command never waits for the guest: one that needs the
//! guest answers `{"state":"pending","id":N}` and the caller polls for the outcome.
//!
//! Every IC:
//!
//! | command | answer |
//! | --- | --- |
//! | `{"op":"status"}` | `{"ic", "state": "closed"\|"negotiating"\|"ready"\|"refused", "framework", "version" (negotiated), "packets" (received), "answers" (good answers to requests after the negotiation), "bad" (rejected packets), "timeouts", "last_bad", "refused" (why, when refused)}` plus the service's fields below |
//! | `{"op":"stats"}` | `{"ic", "packets"}` |
//! | `{"op":"misbehave","kinds":["short","oversize","unknown-type","bad-negotiate"],"every":N,"count":M}` | once ready, sends malformed messages before the service's requests (see `misbehave`, `crate::misbehave`); `status` reports them as `"misbehaved"` |
//!
//! Heartbeat (the host sends a sequence number every interval, the guest answers it plus one):
//!
//! | command | answer |
//! | --- | --- |
//! | `{"op":"status"}` | adds `"last_sequence"` (the guest's last answer, null before it), `"missed"`, `"interval_ms"` |
//! | `{"op":"interval","ms":N}` | changes the interval (10..=3600000 ms) |
//!
//! Shutdown:
//!
//! | command | answer |
//! | --- | --- |
//! | `{"op":"shutdown"}`, `{"op":"reboot"}`, `{"op":"hibernate"}`, each with optional `"force":bool`, `"reason":u32`, `"timeout_secs":u32`, `"message":"text"` | `{"state":"pending","id":N}` |
//! | `{"op":"status"}` | adds `"request"`: `{"id", "op", "flags", "state": "queued"\|"sent"\|"done"\|"timeout"\|"failed", "status", "status_text"}` of the last request |
//!
//! Timesync (SYNC right after negotiation, SAMPLE every interval; host time is the wall clock
//! in 100 ns units since 1601 plus the offset):
//!
//! | command | answer |
//! | --- | --- |
//! | `{"op":"sample"}`, `{"op":"sync"}`, optional `"offset_secs":X` for this message only | `{"state":"queued"}` |
//! | `{"op":"offset","offset_secs":X}` | sets the offset of every later message |
//! | `{"op":"status"}` | adds `"syncs"`, `"samples"`, `"failed"`, `"offset_secs"`, `"last_host_time"`, `"last_unix_secs"` |
//!
//! KVP (pools: `"external"`, `"guest"`, `"auto"`, `"auto_external"`, `"auto_internal"` or 0..4):
//!
//! | command | answer |
//! | --- | --- |
//! | `{"op":"set","pool":P,"key":K,"value":V}` (V a string; `"type":"u32"\|"u64"` with a number) | `{"state":"pending","id":N}` |
//! | `{"op":"get","pool":P,"key":K}`, `{"op":"delete","pool":P,"key":K}` | `{"state":"pending","id":N}` |
//! | `{"op":"enumerate","pool":P,"index":I}` | `{"state":"pending","id":N}` |
//! | `{"op":"scan","pool":P}` | enumerates P from index 0 until the guest says "no more" (into `pools`); `{"state":"pending","id":N}` |
//! | `{"op":"result"}` or `{"op":"result","id":N}` | the outcome of the latest request (or of request N; the last 32 are kept): `{"id", "op", "pool", "state": "pending"\|"done"\|"timeout"\|"failed"\|"bad_answer", "status", "status_text": "ok"\|"no_such_item"\|"fail"\|…, "key", "value", "index", "entries", "error"}`; `{"state":"idle"}` before any |
//! | `{"op":"pools"}` | what the host knows of each pool: `{"auto": {"OSName": "…"}, …}` |
//! | `{"op":"status"}` | adds `"queued"`, `"in_flight"`, `"completed"` |
//!
//! Requests are refused while the IC is not negotiated (Linux answers KVP's NEGOTIATE only once
//! its `hv_kvp_daemon` runs) and when 16 are already queued. Linux 7.3 with its stock daemon
//! answers GET with an empty value (the daemon copies `value_size` = 0 bytes, and the kernel
//! reads the value from the ENUMERATE layout), so GET is only good for "does the key exist";
//! read values with ENUMERATE. (`rhv_utils` asks the same daemon for the whole value and
//! returns it.)

mod command;
mod component;
mod framework;
mod heartbeat;
mod kvp;
mod misbehave;
mod shutdown;
#[cfg(test)]
mod tests;
mod timesync;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rhv_proto::guid::Guid;
use rhv_proto::offer::class;

pub use component::IntegrationComponent;

/// Which integration component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcKind {
    /// Heartbeat.
    Heartbeat,
    /// Guest shutdown.
    Shutdown,
    /// Time synchronisation.
    Timesync,
    /// Key-value pair exchange.
    Kvp,
}

impl IcKind {
    /// All four, in the order Hyper-V usually offers them.
    pub const ALL: [IcKind; 4] = [
        IcKind::Shutdown,
        IcKind::Timesync,
        IcKind::Heartbeat,
        IcKind::Kvp,
    ];

    /// Short name for logs and the control interface.
    pub fn name(self) -> &'static str {
        self.ids().name
    }

    /// The class GUID `hv_utils` matches (`HV_*_GUID` in include/linux/hyperv.h).
    pub fn class_id(self) -> Guid {
        self.ids().class_id
    }

    /// The instance GUID (sysfs `device_id`): Hyper-V uses the same one in every VM.
    pub fn instance_id(self) -> Guid {
        self.ids().instance_id
    }

    /// The name and GUIDs of each IC.
    const fn ids(self) -> IcIds {
        match self {
            IcKind::Heartbeat => IcIds {
                name: "heartbeat",
                class_id: class::HEARTBEAT,
                instance_id: guid(0xfd149e91_82e0_4a7d_afa6_2a4166cbd7c0),
            },
            IcKind::Shutdown => IcIds {
                name: "shutdown",
                class_id: class::SHUTDOWN,
                instance_id: guid(0xb6650ff7_33bc_4840_8048_e0676786f393),
            },
            IcKind::Timesync => IcIds {
                name: "timesync",
                class_id: class::TIMESYNC,
                instance_id: guid(0x2dd1ce17_079e_403c_b352_a1921ee207ee),
            },
            IcKind::Kvp => IcIds {
                name: "kvp",
                class_id: class::KVP,
                instance_id: guid(0x242ff919_07db_4180_9c2e_b86cb68c8c55),
            },
        }
    }
}

/// What [`IcKind::name`], [`IcKind::class_id`] and [`IcKind::instance_id`] return.
struct IcIds {
    name: &'static str,
    class_id: Guid,
    instance_id: Guid,
}

/// The GUID whose text form is `v` in hex with dashes after digits 8, 12, 16 and 20.
const fn guid(v: u128) -> Guid {
    // CAST: each field is the part of `v` shifted down to its low bits (truncation intended).
    let tail = (v as u64).to_be_bytes();
    Guid::from_fields((v >> 96) as u32, (v >> 80) as u16, (v >> 64) as u16, tail)
}

/// The partition reference counter (100 ns units since the partition started), as the
/// guest reads it from `HV_X64_MSR_TIME_REF_COUNT`.
pub type ReferenceClock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Timing and clock settings of the ICs.
#[derive(Clone)]
pub struct IcConfig {
    /// Time between heartbeats.
    pub heartbeat_interval: Duration,
    /// Time between timesync samples.
    pub timesync_sample_interval: Duration,
    /// Added to the host's wall clock in every timesync message, in nanoseconds.
    pub timesync_offset_nanos: i64,
    /// With a reference clock the host offers timesync 4.0, whose messages carry the
    /// reference time of the sample; without one it offers only 1.0 and 3.0.
    pub reference_clock: Option<ReferenceClock>,
    /// How long the host waits for the answer to a heartbeat, shutdown or timesync message.
    pub answer_timeout: Duration,
    /// How long the host waits for the answer to a KVP request (Linux gives its daemon 30 s
    /// before it answers with a failure).
    pub kvp_answer_timeout: Duration,
    /// After this long without a NEGOTIATE answer the host logs and counts a timeout (it keeps
    /// waiting; KVP waits silently, as Linux answers it only once its daemon runs).
    pub negotiation_timeout: Duration,
}

impl Default for IcConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(1),
            timesync_sample_interval: Duration::from_secs(5),
            timesync_offset_nanos: 0,
            reference_clock: None,
            answer_timeout: Duration::from_secs(10),
            kvp_answer_timeout: Duration::from_secs(35),
            negotiation_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for IcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IcConfig")
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("timesync_sample_interval", &self.timesync_sample_interval)
            .field("timesync_offset_nanos", &self.timesync_offset_nanos)
            .field("reference_clock", &self.reference_clock.is_some())
            .field("answer_timeout", &self.answer_timeout)
            .field("kvp_answer_timeout", &self.kvp_answer_timeout)
            .field("negotiation_timeout", &self.negotiation_timeout)
            .finish()
    }
}
