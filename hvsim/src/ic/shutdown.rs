// SPDX-License-Identifier: GPL-2.0
//! Shutdown: on a control command the host asks the guest to power off, restart or
//! hibernate, and records the guest's answer (`HV_S_OK` if it will, `HV_E_FAIL` if it will
//! not). Linux answers first and then starts an orderly power-off or reboot
//! (`shutdown_onchannelcallback()` in drivers/hv/hv_util.c).

use std::time::{Duration, Instant};

use rhv_proto::ic::{
    self as wire, IcMessageType, IcVersion, ShutdownMessage, SHUTDOWN_FLAG_FORCE,
    SHUTDOWN_FLAG_HIBERNATE, SHUTDOWN_FLAG_RESTART, SHUTDOWN_REASON_PLANNED,
};
use serde_json::{json, Map, Value};
use zerocopy::{FromZeros, IntoBytes};

use super::command::{self, ShutdownCommand, ShutdownOp};
use super::framework::{Answer, NoAnswer, Request, Service};
use super::IcKind;
use crate::vmbus::ControlError;

/// Service versions the host offers (Linux 7.3 speaks 3.2, 3.1, 3.0 and 1.0).
pub(crate) const VERSIONS: [IcVersion; 4] = [
    IcVersion::new(1, 0),
    IcVersion::new(3, 0),
    IcVersion::new(3, 1),
    IcVersion::new(3, 2),
];

/// Seconds the guest is given unless the command says otherwise.
const DEFAULT_TIMEOUT_SECS: u32 = 30;

/// Where a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestState {
    Queued,
    Sent,
    Done { status: u32 },
    Timeout,
    Failed,
}

/// One shutdown request and its outcome.
#[derive(Clone, Debug)]
struct ShutdownRequest {
    id: u64,
    op: ShutdownOp,
    flags: u32,
    reason: u32,
    timeout_secs: u32,
    message: String,
    state: RequestState,
    failure: Option<String>,
}

impl ShutdownRequest {
    fn to_json(&self) -> Value {
        let (state, status) = match self.state {
            RequestState::Queued => ("queued", None),
            RequestState::Sent => ("sent", None),
            RequestState::Done { status } => ("done", Some(status)),
            RequestState::Timeout => ("timeout", None),
            RequestState::Failed => ("failed", None),
        };
        json!({
            "id": self.id,
            "op": self.op.name(),
            "flags": self.flags,
            "state": state,
            "status": status,
            "status_text": status.map(status_text),
            "error": self.failure,
        })
    }
}

/// A status word in words.
pub(crate) fn status_text(status: u32) -> String {
    match status {
        wire::HV_S_OK => "ok".to_owned(),
        wire::HV_E_FAIL => "fail".to_owned(),
        wire::HV_S_CONT => "no_such_item".to_owned(),
        wire::HV_ERROR_NOT_SUPPORTED => "not_supported".to_owned(),
        wire::HV_INVALIDARG => "invalid_argument".to_owned(),
        wire::HV_GUID_NOTFOUND => "guid_not_found".to_owned(),
        wire::HV_ERROR_ALREADY_EXISTS => "already_exists".to_owned(),
        wire::HV_ERROR_DISK_FULL => "disk_full".to_owned(),
        other => format!("{other:#010x}"),
    }
}

pub(crate) struct Shutdown {
    answer_timeout: Duration,
    next_id: u64,
    /// The latest request (one at a time).
    request: Option<ShutdownRequest>,
}

impl Shutdown {
    pub fn new(answer_timeout: Duration) -> Self {
        Self {
            answer_timeout,
            next_id: 1,
            request: None,
        }
    }

    fn in_progress(&self) -> bool {
        matches!(
            self.request.as_ref().map(|r| r.state),
            Some(RequestState::Queued | RequestState::Sent)
        )
    }
}

impl Service for Shutdown {
    fn kind(&self) -> IcKind {
        IcKind::Shutdown
    }

    fn message_type(&self) -> IcMessageType {
        IcMessageType::Shutdown
    }

    fn versions(&self) -> Vec<IcVersion> {
        VERSIONS.to_vec()
    }

    fn answer_timeout(&self) -> Duration {
        self.answer_timeout
    }

    fn on_ready(&mut self, _version: IcVersion, _now: Instant) {}

    fn on_closed(&mut self) {
        if let Some(r) = &mut self.request {
            if r.state == RequestState::Queued {
                r.state = RequestState::Failed;
                r.failure = Some("the channel closed".to_owned());
            }
        }
    }

    fn next_request(&mut self, _now: Instant) -> Option<Request> {
        let r = self
            .request
            .as_mut()
            .filter(|r| r.state == RequestState::Queued)?;
        let mut body = ShutdownMessage::new_zeroed();
        body.reason_code = r.reason;
        body.timeout_seconds = r.timeout_secs;
        body.flags = r.flags;
        // Leave room for the NUL the guest expects.
        let text = r.message.as_bytes();
        let n = text.len().min(body.display_message.len() - 1);
        body.display_message[..n].copy_from_slice(&text[..n]);
        r.state = RequestState::Sent;
        tracing::info!(
            op = r.op.name(),
            flags = r.flags,
            "asking the guest to shut down"
        );
        Some(Request {
            tag: r.id,
            body: body.as_bytes().to_vec(),
        })
    }

    fn on_answer(&mut self, tag: u64, answer: &Answer<'_>, _now: Instant) -> Result<(), String> {
        let Some(r) = self.request.as_mut().filter(|r| r.id == tag) else {
            return Err(format!("answer to unknown shutdown request {tag}"));
        };
        // The guest echoes the request; it must still say what was asked.
        let flags = answer
            .body
            .get(8..12)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes);
        if flags != Some(r.flags) {
            r.state = RequestState::Failed;
            r.failure = Some("malformed answer".to_owned());
            return Err(format!(
                "shutdown answer of {} bytes with flags {flags:?}, asked {:#x}",
                answer.body.len(),
                r.flags
            ));
        }
        tracing::info!(
            op = r.op.name(),
            status = status_text(answer.status),
            "the guest answered the shutdown request"
        );
        r.state = RequestState::Done {
            status: answer.status,
        };
        Ok(())
    }

    fn on_no_answer(&mut self, tag: u64, why: &NoAnswer) {
        if let Some(r) = self.request.as_mut().filter(|r| r.id == tag) {
            r.state = match why {
                NoAnswer::Timeout => RequestState::Timeout,
                _ => RequestState::Failed,
            };
            r.failure = Some(format!("{why:?}"));
        }
    }

    fn control(
        &mut self,
        command: &Value,
        ready: bool,
        _now: Instant,
    ) -> Result<Value, ControlError> {
        let c: ShutdownCommand = command::parse(command)?;
        if !ready {
            return Err(ControlError(
                "the guest has not negotiated the shutdown IC (is hv_utils loaded?)".to_owned(),
            ));
        }
        if self.in_progress() {
            return Err(ControlError(
                "busy: the previous shutdown request has not been answered".to_owned(),
            ));
        }
        let mut flags = match c.op {
            ShutdownOp::Shutdown => 0,
            ShutdownOp::Reboot => SHUTDOWN_FLAG_RESTART,
            ShutdownOp::Hibernate => SHUTDOWN_FLAG_HIBERNATE,
        };
        if c.force {
            flags |= SHUTDOWN_FLAG_FORCE;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.request = Some(ShutdownRequest {
            id,
            op: c.op,
            flags,
            reason: c.reason.unwrap_or(SHUTDOWN_REASON_PLANNED),
            timeout_secs: c.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS),
            message: c.message.unwrap_or_default(),
            state: RequestState::Queued,
            failure: None,
        });
        Ok(json!({ "state": "pending", "id": id }))
    }

    fn status(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "request".into(),
            self.request
                .as_ref()
                .map_or(Value::Null, ShutdownRequest::to_json),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhv_proto::ic::parse_body;

    fn ready() -> (Shutdown, Instant) {
        let t0 = Instant::now();
        let mut s = Shutdown::new(Duration::from_secs(5));
        s.on_ready(IcVersion::new(3, 2), t0);
        (s, t0)
    }

    #[test]
    fn reboot_request_and_answer() {
        let (mut s, t0) = ready();
        assert!(s.next_request(t0).is_none());
        let r = s
            .control(
                &json!({"op": "reboot", "force": true, "message": "bye"}),
                true,
                t0,
            )
            .unwrap();
        assert_eq!(r, json!({"state": "pending", "id": 1}));
        assert!(s.control(&json!({"op": "shutdown"}), true, t0).is_err());
        let req = s.next_request(t0).unwrap();
        let m: ShutdownMessage = parse_body(&req.body).unwrap();
        assert_eq!({ m.flags }, SHUTDOWN_FLAG_RESTART | SHUTDOWN_FLAG_FORCE);
        assert_eq!({ m.reason_code }, SHUTDOWN_REASON_PLANNED);
        assert_eq!(&m.display_message[..4], b"bye\0");
        assert_eq!(s.status()["request"]["state"], "sent");
        s.on_answer(
            req.tag,
            &Answer {
                status: wire::HV_S_OK,
                body: &req.body,
            },
            t0,
        )
        .unwrap();
        let st = &s.status()["request"];
        assert_eq!(
            (st["state"].as_str(), st["status_text"].as_str()),
            (Some("done"), Some("ok"))
        );
        // Done: a new request is accepted.
        assert!(s.control(&json!({"op": "hibernate"}), true, t0).is_ok());
    }

    #[test]
    fn refusals_malformed_answers_and_timeouts() {
        let (mut s, t0) = ready();
        assert!(s.control(&json!({"op": "shutdown"}), false, t0).is_err());
        s.control(&json!({"op": "shutdown"}), true, t0).unwrap();
        let req = s.next_request(t0).unwrap();
        assert!(s
            .on_answer(
                req.tag,
                &Answer {
                    status: 0,
                    body: &req.body[..10]
                },
                t0
            )
            .is_err());
        assert_eq!(s.status()["request"]["state"], "failed");
        s.control(&json!({"op": "shutdown"}), true, t0).unwrap();
        let req = s.next_request(t0).unwrap();
        assert!(s
            .on_answer(
                req.tag + 7,
                &Answer {
                    status: 0,
                    body: &req.body
                },
                t0
            )
            .is_err());
        s.on_no_answer(req.tag, &NoAnswer::Timeout);
        assert_eq!(s.status()["request"]["state"], "timeout");
        s.control(&json!({"op": "shutdown"}), true, t0).unwrap();
        let req = s.next_request(t0).unwrap();
        s.on_answer(
            req.tag,
            &Answer {
                status: wire::HV_E_FAIL,
                body: &req.body,
            },
            t0,
        )
        .unwrap();
        assert_eq!(s.status()["request"]["status_text"], "fail");
    }
}
