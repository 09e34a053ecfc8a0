// SPDX-License-Identifier: GPL-2.0
//! Heartbeat: every interval the host sends a sequence number and a live guest answers with
//! the number plus one (`heartbeat_onchannelcallback()` in drivers/hv/hv_util.c). A beat that
//! is still unanswered when the next one is due delays it; one that times out counts as
//! missed.

use std::time::{Duration, Instant};

use rhv_proto::ic::{self as wire, HeartbeatMessage, IcMessageType, IcVersion};
use serde_json::{json, Map, Value};
use zerocopy::IntoBytes;

use super::command::{self, HeartbeatCommand};
use super::framework::{Answer, NoAnswer, Request, Service};
use super::IcKind;
use crate::vmbus::ControlError;

/// Service versions the host offers (Linux 7.3 speaks 3.0 and 1.0).
pub(crate) const VERSIONS: [IcVersion; 2] = [IcVersion::new(1, 0), IcVersion::new(3, 0)];

/// Shortest and longest interval the control command accepts.
const INTERVAL_RANGE: std::ops::RangeInclusive<u64> = 10..=3_600_000;

pub(crate) struct Heartbeat {
    interval: Duration,
    answer_timeout: Duration,
    /// When the next beat is due; `None` until negotiated.
    next_due: Option<Instant>,
    next_sequence: u64,
    last_sequence: Option<u64>,
    missed: u64,
}

impl Heartbeat {
    pub fn new(interval: Duration, answer_timeout: Duration) -> Self {
        Self {
            interval,
            answer_timeout,
            next_due: None,
            next_sequence: 1,
            last_sequence: None,
            missed: 0,
        }
    }
}

impl Service for Heartbeat {
    fn kind(&self) -> IcKind {
        IcKind::Heartbeat
    }

    fn message_type(&self) -> IcMessageType {
        IcMessageType::Heartbeat
    }

    fn versions(&self) -> Vec<IcVersion> {
        VERSIONS.to_vec()
    }

    fn answer_timeout(&self) -> Duration {
        self.answer_timeout
    }

    fn on_ready(&mut self, _version: IcVersion, now: Instant) {
        self.next_due = Some(now);
    }

    fn on_closed(&mut self) {
        self.next_due = None;
    }

    fn next_request(&mut self, now: Instant) -> Option<Request> {
        if self.next_due? > now {
            return None;
        }
        self.next_due = Some(now + self.interval);
        let seq = self.next_sequence;
        self.next_sequence = seq.wrapping_add(1);
        let body = HeartbeatMessage {
            seq_num: seq,
            reserved: [0; 8],
        };
        Some(Request {
            tag: seq,
            body: body.as_bytes().to_vec(),
        })
    }

    fn on_answer(&mut self, tag: u64, answer: &Answer<'_>, _now: Instant) -> Result<(), String> {
        if answer.status != wire::HV_S_OK {
            return Err(format!("heartbeat status {:#x}", answer.status));
        }
        let seq = answer
            .body
            .get(..wire::HEARTBEAT_MIN_BODY)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| format!("heartbeat answer of {} bytes", answer.body.len()))?;
        if seq != tag.wrapping_add(1) {
            return Err(format!("heartbeat answer {seq} to sequence {tag}"));
        }
        self.last_sequence = Some(seq);
        Ok(())
    }

    fn on_no_answer(&mut self, _tag: u64, why: &NoAnswer) {
        if *why != NoAnswer::Closed {
            self.missed += 1;
        }
    }

    fn control(
        &mut self,
        command: &Value,
        _ready: bool,
        now: Instant,
    ) -> Result<Value, ControlError> {
        match command::parse::<HeartbeatCommand>(command)? {
            HeartbeatCommand::Interval { ms } => {
                if !INTERVAL_RANGE.contains(&ms) {
                    return Err(ControlError(format!(
                        "interval {ms} ms is outside {INTERVAL_RANGE:?}"
                    )));
                }
                self.interval = Duration::from_millis(ms);
                if let Some(due) = &mut self.next_due {
                    *due = (*due).min(now + self.interval);
                }
                Ok(json!({ "interval_ms": ms }))
            }
        }
    }

    fn status(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("last_sequence".into(), json!(self.last_sequence));
        m.insert("missed".into(), json!(self.missed));
        m.insert(
            "interval_ms".into(),
            json!(u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX)),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(seq: u64, len: usize) -> Vec<u8> {
        let mut b = HeartbeatMessage {
            seq_num: seq,
            reserved: [0; 8],
        }
        .as_bytes()
        .to_vec();
        b.truncate(len);
        b
    }

    #[test]
    fn beats_are_due_every_interval_and_answers_checked() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(Duration::from_secs(1), Duration::from_secs(5));
        assert!(hb.next_request(t0).is_none(), "nothing before negotiation");
        hb.on_ready(IcVersion::new(3, 0), t0);
        let r = hb.next_request(t0).unwrap();
        assert_eq!(r.tag, 1);
        assert!(hb.next_request(t0 + Duration::from_millis(999)).is_none());
        let body = answer(2, 40);
        assert!(hb
            .on_answer(
                1,
                &Answer {
                    status: 0,
                    body: &body
                },
                t0
            )
            .is_ok());
        assert_eq!(hb.last_sequence, Some(2));
        let r = hb.next_request(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(r.tag, 2);
        // Only the sequence number is required.
        let body = answer(3, 8);
        assert!(hb
            .on_answer(
                2,
                &Answer {
                    status: 0,
                    body: &body
                },
                t0
            )
            .is_ok());
    }

    #[test]
    fn wrong_answers_are_rejected() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(Duration::from_secs(1), Duration::from_secs(5));
        hb.on_ready(IcVersion::new(3, 0), t0);
        let body = answer(5, 40);
        assert!(hb
            .on_answer(
                1,
                &Answer {
                    status: 0,
                    body: &body
                },
                t0
            )
            .unwrap_err()
            .contains("answer 5 to sequence 1"));
        let body = answer(2, 7);
        assert!(hb
            .on_answer(
                1,
                &Answer {
                    status: 0,
                    body: &body
                },
                t0
            )
            .is_err());
        let body = answer(2, 40);
        assert!(hb
            .on_answer(
                1,
                &Answer {
                    status: wire::HV_E_FAIL,
                    body: &body
                },
                t0
            )
            .is_err());
        assert_eq!(hb.last_sequence, None);
        hb.on_no_answer(1, &NoAnswer::Timeout);
        hb.on_no_answer(1, &NoAnswer::Closed);
        assert_eq!(hb.missed, 1);
    }

    #[test]
    fn interval_command_is_validated() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(Duration::from_secs(60), Duration::from_secs(5));
        hb.on_ready(IcVersion::new(3, 0), t0);
        hb.next_request(t0).unwrap();
        assert!(hb
            .control(&json!({"op": "interval", "ms": 5}), true, t0)
            .is_err());
        assert!(hb.control(&json!({"op": "nope"}), true, t0).is_err());
        hb.control(&json!({"op": "interval", "ms": 100}), true, t0)
            .unwrap();
        // The pending minute-long wait shrinks to the new interval.
        assert!(hb.next_request(t0 + Duration::from_millis(100)).is_some());
        assert_eq!(hb.status()["interval_ms"], 100);
    }
}
