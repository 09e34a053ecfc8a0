// SPDX-License-Identifier: GPL-2.0
//! Time synchronisation: right after negotiation the host sends SYNC (the guest sets its
//! clock), then a SAMPLE every interval (the guest may discipline its clock with it). The
//! time is the host's wall clock, plus an optional offset, in 100 ns units since 1601.
//!
//! Service 4.0 messages also carry the partition reference time of the sample, which the
//! guest uses to add the time the message spent under way; the host offers 4.0 only when it
//! has the reference clock, otherwise 3.0 and 1.0, whose message Linux dates on arrival
//! (`timesync_onchannelcallback()` and `adj_guesttime()` in drivers/hv/hv_util.c).

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use rhv_proto::ic::{
    self as wire, IcMessageType, IcVersion, TimesyncMessage, TimesyncRefMessage,
    TIMESYNC_FLAG_SAMPLE, TIMESYNC_FLAG_SYNC, TIMESYNC_VERSION_4,
};
use serde_json::{json, Map, Value};
use zerocopy::IntoBytes;

use super::command::{self, TimesyncCommand, TimesyncOp};
use super::framework::{Answer, NoAnswer, Request, Service};
use super::{IcKind, ReferenceClock};
use crate::vmbus::ControlError;

/// Most messages the control interface may queue.
const MAX_QUEUED: usize = 8;

/// One message to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TimeMessage {
    flags: u8,
    /// Added to the configured offset.
    extra_offset_nanos: i64,
}

/// The host's wall clock in Unix nanoseconds.
fn unix_nanos_now() -> i128 {
    match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

pub(crate) struct Timesync {
    sample_interval: Duration,
    answer_timeout: Duration,
    offset_nanos: i64,
    reference_clock: Option<ReferenceClock>,
    /// The negotiated service version, once ready.
    version: Option<IcVersion>,
    next_sample: Option<Instant>,
    queue: VecDeque<TimeMessage>,
    syncs: u64,
    samples: u64,
    failed: u64,
    last_host_time: Option<u64>,
}

impl Timesync {
    pub fn new(
        sample_interval: Duration,
        answer_timeout: Duration,
        offset_nanos: i64,
        reference_clock: Option<ReferenceClock>,
    ) -> Self {
        Self {
            sample_interval,
            answer_timeout,
            offset_nanos,
            reference_clock,
            version: None,
            next_sample: None,
            queue: VecDeque::new(),
            syncs: 0,
            samples: 0,
            failed: 0,
            last_host_time: None,
        }
    }

    /// The message body for `m`, dated now.
    fn body(&self, m: TimeMessage, version: IcVersion) -> Option<(Vec<u8>, u64)> {
        let offset = i128::from(self.offset_nanos) + i128::from(m.extra_offset_nanos);
        let host_time = wire::host_time_from_unix_nanos(unix_nanos_now() + offset)?;
        let body = match (&self.reference_clock, has_reference_time(version)) {
            (Some(clock), true) => TimesyncRefMessage {
                parenttime: host_time,
                vmreferencetime: clock(),
                flags: m.flags,
                leapflags: 0,
                stratum: 0,
                reserved: [0; 3],
            }
            .as_bytes()
            .to_vec(),
            _ => TimesyncMessage {
                parenttime: host_time,
                childtime: 0,
                roundtriptime: 0,
                flags: m.flags,
            }
            .as_bytes()
            .to_vec(),
        };
        Some((body, host_time))
    }
}

/// Whether `v` has the 4.0 message layout.
fn has_reference_time(v: IcVersion) -> bool {
    v.to_u32() >= TIMESYNC_VERSION_4.to_u32()
}

impl Service for Timesync {
    fn kind(&self) -> IcKind {
        IcKind::Timesync
    }

    fn message_type(&self) -> IcMessageType {
        IcMessageType::Timesync
    }

    fn versions(&self) -> Vec<IcVersion> {
        let mut v = vec![IcVersion::new(1, 0), IcVersion::new(3, 0)];
        if self.reference_clock.is_some() {
            v.push(TIMESYNC_VERSION_4);
        }
        v
    }

    fn answer_timeout(&self) -> Duration {
        self.answer_timeout
    }

    fn on_ready(&mut self, version: IcVersion, now: Instant) {
        self.version = Some(version);
        self.queue.clear();
        self.queue.push_back(TimeMessage {
            flags: TIMESYNC_FLAG_SYNC,
            extra_offset_nanos: 0,
        });
        self.next_sample = Some(now + self.sample_interval);
    }

    fn on_closed(&mut self) {
        self.version = None;
        self.next_sample = None;
        self.queue.clear();
    }

    fn next_request(&mut self, now: Instant) -> Option<Request> {
        let version = self.version?;
        let m = match self.queue.pop_front() {
            Some(m) => m,
            None => {
                if self.next_sample? > now {
                    return None;
                }
                self.next_sample = Some(now + self.sample_interval);
                TimeMessage {
                    flags: TIMESYNC_FLAG_SAMPLE,
                    extra_offset_nanos: 0,
                }
            }
        };
        let Some((body, host_time)) = self.body(m, version) else {
            self.failed += 1;
            return None;
        };
        if m.flags == TIMESYNC_FLAG_SYNC {
            self.syncs += 1;
        } else {
            self.samples += 1;
        }
        self.last_host_time = Some(host_time);
        Some(Request {
            tag: u64::from(m.flags),
            body,
        })
    }

    fn on_answer(&mut self, tag: u64, answer: &Answer<'_>, _now: Instant) -> Result<(), String> {
        let needed =
            if self.version.is_some_and(has_reference_time) && self.reference_clock.is_some() {
                std::mem::size_of::<TimesyncRefMessage>()
            } else {
                std::mem::size_of::<TimesyncMessage>()
            };
        if answer.body.len() < needed {
            return Err(format!(
                "timesync answer of {} bytes, expected {needed}",
                answer.body.len()
            ));
        }
        if answer.status != wire::HV_S_OK {
            self.failed += 1;
            return Err(format!(
                "timesync answer (flags {tag}) with status {:#x}",
                answer.status
            ));
        }
        Ok(())
    }

    fn on_no_answer(&mut self, _tag: u64, why: &NoAnswer) {
        if *why != NoAnswer::Closed {
            self.failed += 1;
        }
    }

    fn control(
        &mut self,
        command: &Value,
        ready: bool,
        _now: Instant,
    ) -> Result<Value, ControlError> {
        let c: TimesyncCommand = command::parse(command)?;
        let offset = c.offset_secs.map(command::offset_nanos).transpose()?;
        let flags = match c.op {
            TimesyncOp::Offset => {
                let Some(offset) = offset else {
                    return Err(ControlError("offset needs offset_secs".to_owned()));
                };
                self.offset_nanos = offset;
                return Ok(json!({ "offset_secs": offset as f64 / 1e9 }));
            }
            TimesyncOp::Sample => TIMESYNC_FLAG_SAMPLE,
            TimesyncOp::Sync => TIMESYNC_FLAG_SYNC,
        };
        if !ready {
            return Err(ControlError(
                "the guest has not negotiated the timesync IC (is hv_utils loaded?)".to_owned(),
            ));
        }
        if self.queue.len() >= MAX_QUEUED {
            return Err(ControlError(format!(
                "busy: {MAX_QUEUED} messages are queued"
            )));
        }
        self.queue.push_back(TimeMessage {
            flags,
            extra_offset_nanos: offset.unwrap_or(0),
        });
        Ok(json!({ "state": "queued" }))
    }

    fn status(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("syncs".into(), json!(self.syncs));
        m.insert("samples".into(), json!(self.samples));
        m.insert("failed".into(), json!(self.failed));
        m.insert("offset_secs".into(), json!(self.offset_nanos as f64 / 1e9));
        m.insert("last_host_time".into(), json!(self.last_host_time));
        m.insert(
            "last_unix_secs".into(),
            json!(self
                .last_host_time
                .map(|t| wire::unix_nanos_from_host_time(t) as f64 / 1e9)),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhv_proto::ic::parse_body;
    use std::sync::Arc;

    fn unix_secs_of(host_time: u64) -> f64 {
        wire::unix_nanos_from_host_time(host_time) as f64 / 1e9
    }

    #[test]
    fn sync_first_then_samples_with_offsets() {
        let t0 = Instant::now();
        let mut ts = Timesync::new(Duration::from_secs(5), Duration::from_secs(5), 0, None);
        assert_eq!(ts.versions().len(), 2, "no 4.0 without a reference clock");
        assert!(ts.next_request(t0).is_none());
        ts.on_ready(IcVersion::new(3, 0), t0);
        let sync = ts.next_request(t0).unwrap();
        let m: TimesyncMessage = parse_body(&sync.body).unwrap();
        assert_eq!(m.flags, TIMESYNC_FLAG_SYNC);
        let now = unix_nanos_now() as f64 / 1e9;
        assert!((unix_secs_of(m.parenttime) - now).abs() < 1.0);
        assert!(ts.next_request(t0 + Duration::from_secs(4)).is_none());
        let sample = ts.next_request(t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(
            parse_body::<TimesyncMessage>(&sample.body).unwrap().flags,
            2
        );
        // A sample an hour ahead, on request.
        ts.control(&json!({"op": "sample", "offset_secs": 3600}), true, t0)
            .unwrap();
        let r = ts.next_request(t0).unwrap();
        let m: TimesyncMessage = parse_body(&r.body).unwrap();
        assert!((unix_secs_of(m.parenttime) - now - 3600.0).abs() < 1.0);
        // A persistent offset.
        ts.control(&json!({"op": "offset", "offset_secs": -60}), true, t0)
            .unwrap();
        ts.control(&json!({"op": "sync"}), true, t0).unwrap();
        let r = ts.next_request(t0).unwrap();
        let m: TimesyncMessage = parse_body(&r.body).unwrap();
        assert!((unix_secs_of(m.parenttime) - now + 60.0).abs() < 1.0);
        assert_eq!((ts.syncs, ts.samples), (2, 2));
    }

    #[test]
    fn version_4_carries_the_reference_time() {
        let t0 = Instant::now();
        let clock: ReferenceClock = Arc::new(|| 123_456);
        let mut ts = Timesync::new(
            Duration::from_secs(5),
            Duration::from_secs(5),
            0,
            Some(clock),
        );
        assert!(ts.versions().contains(&TIMESYNC_VERSION_4));
        ts.on_ready(TIMESYNC_VERSION_4, t0);
        let r = ts.next_request(t0).unwrap();
        assert_eq!(r.body.len(), 22);
        let m: TimesyncRefMessage = parse_body(&r.body).unwrap();
        assert_eq!(
            ({ m.vmreferencetime }, m.flags),
            (123_456, TIMESYNC_FLAG_SYNC)
        );
        assert!(ts
            .on_answer(
                1,
                &Answer {
                    status: 0,
                    body: &r.body[..21]
                },
                t0
            )
            .is_err());
        assert!(ts
            .on_answer(
                1,
                &Answer {
                    status: 0,
                    body: &r.body
                },
                t0
            )
            .is_ok());
    }

    #[test]
    fn bad_answers_commands_and_limits() {
        let t0 = Instant::now();
        let mut ts = Timesync::new(Duration::from_secs(5), Duration::from_secs(5), 0, None);
        assert!(ts.control(&json!({"op": "sample"}), false, t0).is_err());
        assert!(ts.control(&json!({"op": "offset"}), true, t0).is_err());
        assert!(ts
            .control(&json!({"op": "sample", "offset_secs": "soon"}), true, t0)
            .is_err());
        ts.on_ready(IcVersion::new(3, 0), t0);
        for _ in 1..MAX_QUEUED {
            ts.control(&json!({"op": "sample"}), true, t0).unwrap();
        }
        assert!(ts.control(&json!({"op": "sample"}), true, t0).is_err());
        let r = ts.next_request(t0).unwrap();
        assert!(ts
            .on_answer(
                1,
                &Answer {
                    status: 0,
                    body: &r.body[..24]
                },
                t0
            )
            .is_err());
        assert!(ts
            .on_answer(
                1,
                &Answer {
                    status: wire::HV_E_FAIL,
                    body: &r.body
                },
                t0
            )
            .is_err());
        assert_eq!(ts.failed, 1);
    }
}
