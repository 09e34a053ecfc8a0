// SPDX-License-Identifier: GPL-2.0
//! The host half of the IC framework, common to every IC: version negotiation right after
//! the channel opens, framing of requests, the one outstanding transaction and its timeout,
//! checking that an answer belongs to it, and the counters of good and bad answers.
//!
//! [`IcChannel`] is a plain state machine: it is fed packets and the time, and returns the
//! packets to send ([`Outgoing`]); what is IC-specific lives behind [`Service`].
//!
//! Linux's side of the same exchange: `vmbus_prep_negotiate_resp()` in
//! drivers/hv/channel_mgmt.c and the `*_onchannelcallback()` functions of drivers/hv/hv_util.c
//! and hv_kvp.c: the guest answers every message in place and echoes the VMBus transaction
//! id, the pipe header and the IC transaction id.

use std::time::{Duration, Instant};

use rhv_proto::ic::{
    self as wire, IcMessageHeader, IcMessageType, IcVersion, FRAMEWORK_VERSION_1,
    FRAMEWORK_VERSION_3, ICMSG_FLAG_REQUEST, ICMSG_FLAG_RESPONSE, ICMSG_FLAG_TRANSACTION,
};
use rhv_proto::ring::PacketType;
use serde_json::{json, Map, Value};

use super::misbehave::{self, BadMessage};
use super::IcKind;
use crate::misbehave::{Kind, Plan};
use crate::vmbus::{warn_allowed, ControlError};

/// The framework versions the host offers.
pub(crate) const HOST_FRAMEWORK_VERSIONS: [IcVersion; 2] =
    [FRAMEWORK_VERSION_1, FRAMEWORK_VERSION_3];

/// Largest IC message the host builds (a KVP exchange is the largest).
const MAX_PACKET: usize = 8192;

/// A message a service wants sent to the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    /// The service's name for the request, handed back with its answer.
    pub tag: u64,
    /// The body after the IC message header.
    pub body: Vec<u8>,
}

/// The guest's answer to a request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer<'a> {
    /// The status word of the IC header.
    pub status: u32,
    /// The body after the IC message header.
    pub body: &'a [u8],
}

/// Why a request got no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NoAnswer {
    /// The guest did not answer in time.
    Timeout,
    /// The request could not be put into the ring.
    SendFailed(String),
    /// The channel closed first.
    Closed,
    /// The answer could not be used (wrong message type).
    Malformed(String),
}

/// What makes an IC what it is.
pub(crate) trait Service: Send {
    /// Which IC.
    fn kind(&self) -> IcKind;
    /// The message type of its requests.
    fn message_type(&self) -> IcMessageType;
    /// The service versions the host offers.
    fn versions(&self) -> Vec<IcVersion>;
    /// How long to wait for an answer.
    fn answer_timeout(&self) -> Duration;
    /// Whether a NEGOTIATE left unanswered past the negotiation timeout is worth a warning.
    fn negotiation_overdue_is_bad(&self) -> bool {
        true
    }
    /// Negotiation succeeded with service version `version`.
    fn on_ready(&mut self, version: IcVersion, now: Instant);
    /// The channel closed; forget what was pending.
    fn on_closed(&mut self);
    /// The next request, if one is due. Called only while nothing is outstanding.
    fn next_request(&mut self, now: Instant) -> Option<Request>;
    /// The answer to request `tag`; `Err` names what is wrong with it.
    fn on_answer(&mut self, tag: u64, answer: &Answer<'_>, now: Instant) -> Result<(), String>;
    /// Request `tag` will get no answer.
    fn on_no_answer(&mut self, tag: u64, why: &NoAnswer);
    /// A control command other than `status` and `stats`.
    fn control(
        &mut self,
        command: &Value,
        ready: bool,
        now: Instant,
    ) -> Result<Value, ControlError>;
    /// Service fields for `status`.
    fn status(&self) -> Map<String, Value>;
}

/// A packet to put into the host → guest ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outgoing {
    /// VMBus transaction id; the guest echoes it.
    pub trans_id: u64,
    /// The payload: pipe header, IC header, body.
    pub payload: Vec<u8>,
}

/// Where the channel is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Closed,
    Negotiating {
        trans_id: u64,
        since: Instant,
        overdue: bool,
    },
    Ready {
        framework: IcVersion,
        service: IcVersion,
    },
    /// Negotiation failed; the channel stays silent until it is opened again.
    Refused(String),
}

/// The request in flight.
#[derive(Clone, Copy, Debug)]
struct Outstanding {
    trans_id: u64,
    tag: u64,
    deadline: Instant,
}

/// Packet counters.
#[derive(Clone, Debug, Default)]
struct Counters {
    packets: u64,
    answers: u64,
    bad: u64,
    timeouts: u64,
    last_bad: Option<String>,
}

/// The host side of one IC channel. See the module documentation.
pub(crate) struct IcChannel {
    service: Box<dyn Service>,
    negotiation_timeout: Duration,
    state: State,
    outstanding: Option<Outstanding>,
    next_trans_id: u64,
    counters: Counters,
    /// Bad messages armed by the `misbehave` command.
    misbehaviour: Plan<BadMessage>,
}

fn version_text(v: IcVersion) -> String {
    format!("{}.{}", { v.major }, { v.minor })
}

impl IcChannel {
    pub fn new(service: Box<dyn Service>, negotiation_timeout: Duration) -> Self {
        Self {
            service,
            negotiation_timeout,
            state: State::Closed,
            outstanding: None,
            next_trans_id: 1,
            counters: Counters::default(),
            misbehaviour: Plan::default(),
        }
    }

    fn name(&self) -> &'static str {
        self.service.kind().name()
    }

    /// The guest opened the channel: start negotiating.
    pub fn open(&mut self, now: Instant) -> Vec<Outgoing> {
        self.close();
        let trans_id = self.take_trans_id();
        let service_versions = self.service.versions();
        let mut body =
            vec![
                0u8;
                wire::negotiate_body_size(HOST_FRAMEWORK_VERSIONS.len(), service_versions.len())
            ];
        let len =
            match wire::write_negotiate(&mut body, &HOST_FRAMEWORK_VERSIONS, &service_versions) {
                Ok(len) => len,
                Err(e) => {
                    self.state = State::Refused(format!("cannot build NEGOTIATE: {e:?}"));
                    return Vec::new();
                }
            };
        let header = IcMessageHeader {
            icverframe: IcVersion::default(),
            icmsgtype: IcMessageType::Negotiate as u16,
            icvermsg: IcVersion::default(),
            icmsgsize: 0,
            status: wire::HV_S_OK,
            ictransaction_id: trans_id as u8,
            icflags: ICMSG_FLAG_TRANSACTION | ICMSG_FLAG_REQUEST,
            reserved: [0; 2],
        };
        self.state = State::Negotiating {
            trans_id,
            since: now,
            overdue: false,
        };
        tracing::debug!(ic = self.name(), "IC channel open, negotiating");
        match frame(header, &body[..len]) {
            Some(payload) => vec![Outgoing { trans_id, payload }],
            None => Vec::new(),
        }
    }

    /// The channel closed.
    pub fn close(&mut self) {
        if let Some(o) = self.outstanding.take() {
            self.service.on_no_answer(o.tag, &NoAnswer::Closed);
        }
        if self.state != State::Closed {
            self.service.on_closed();
        }
        self.state = State::Closed;
    }

    /// A packet from the guest.
    pub fn on_packet(
        &mut self,
        packet_type: u16,
        trans_id: u64,
        payload: &[u8],
        now: Instant,
    ) -> Vec<Outgoing> {
        self.counters.packets += 1;
        if let Err(e) = self.accept(packet_type, trans_id, payload, now) {
            self.bad(e);
        }
        self.pump(now)
    }

    /// Validates an answer and hands it on.
    fn accept(
        &mut self,
        packet_type: u16,
        trans_id: u64,
        payload: &[u8],
        now: Instant,
    ) -> Result<(), String> {
        if packet_type != PacketType::DataInband as u16 {
            return Err(format!("packet type {packet_type}, not in-band data"));
        }
        let packet = wire::parse_packet(payload).map_err(|e| format!("IC packet: {e:?}"))?;
        let pipe_len = payload.len() - std::mem::size_of::<wire::PipeHeader>();
        if packet.pipe.msgsize as usize > pipe_len {
            return Err(format!(
                "pipe header claims {} bytes, the packet has {pipe_len}",
                { packet.pipe.msgsize }
            ));
        }
        let h = packet.header;
        if h.icflags & ICMSG_FLAG_RESPONSE == 0 {
            return Err(format!("flags {:#x}: not a response", h.icflags));
        }
        // What does it answer?
        let negotiating =
            matches!(self.state, State::Negotiating { trans_id: t, .. } if t == trans_id);
        let outstanding = self
            .outstanding
            .filter(|o| o.trans_id == trans_id && matches!(self.state, State::Ready { .. }));
        if !negotiating && outstanding.is_none() {
            return Err(format!("answer {trans_id} to no outstanding request"));
        }
        if h.ictransaction_id != trans_id as u8 {
            return Err(format!(
                "IC transaction id {} does not echo {}",
                h.ictransaction_id, trans_id as u8
            ));
        }
        let ty = packet.message_type().map_err(|e| format!("{e:?}"))?;
        if negotiating {
            if ty != IcMessageType::Negotiate {
                return Err(format!("{ty:?} answer to NEGOTIATE"));
            }
            return self.on_negotiate_answer(packet.body, now);
        }
        let Some(o) = outstanding else {
            return Err(format!("answer {trans_id} to no outstanding request"));
        };
        self.outstanding = None;
        let expected = self.service.message_type();
        if ty != expected {
            let why = format!("{ty:?} answer to a {expected:?} request");
            self.service
                .on_no_answer(o.tag, &NoAnswer::Malformed(why.clone()));
            return Err(why);
        }
        let answer = Answer {
            status: h.status,
            body: packet.body,
        };
        self.service.on_answer(o.tag, &answer, now)?;
        self.counters.answers += 1;
        Ok(())
    }

    /// Checks the guest's NEGOTIATE answer: one framework and one service version, each one
    /// the host offered. Empty lists mean the guest speaks none of them.
    fn on_negotiate_answer(&mut self, body: &[u8], now: Instant) -> Result<(), String> {
        let offered = self.service.versions();
        let refuse = |this: &mut Self, why: String| {
            this.state = State::Refused(why.clone());
            Err(why)
        };
        let answer = match wire::parse_negotiate(body) {
            Ok(a) => a,
            Err(e) => return refuse(self, format!("NEGOTIATE answer: {e:?}")),
        };
        match (answer.framework, answer.service) {
            ([], []) => {
                let why = "the guest supports none of the offered versions".to_owned();
                tracing::warn!(ic = self.name(), "{why}");
                self.state = State::Refused(why);
                Ok(())
            }
            ([framework], [service])
                if HOST_FRAMEWORK_VERSIONS.contains(framework) && offered.contains(service) =>
            {
                let (framework, service) = (*framework, *service);
                tracing::info!(
                    ic = self.name(),
                    framework = version_text(framework),
                    version = version_text(service),
                    "IC negotiated"
                );
                self.state = State::Ready { framework, service };
                self.service.on_ready(service, now);
                Ok(())
            }
            (f, s) => refuse(
                self,
                format!(
                    "NEGOTIATE answer chose framework {:?} and service {:?}, not one each of the offered",
                    f.iter().map(|v| version_text(*v)).collect::<Vec<_>>(),
                    s.iter().map(|v| version_text(*v)).collect::<Vec<_>>()
                ),
            ),
        }
    }

    /// Timed work: overdue negotiation, an expired request, requests that are due.
    pub fn poll(&mut self, now: Instant) -> Vec<Outgoing> {
        if let State::Negotiating { since, overdue, .. } = &mut self.state {
            if !*overdue && now.duration_since(*since) >= self.negotiation_timeout {
                *overdue = true;
                if self.service.negotiation_overdue_is_bad() {
                    self.counters.timeouts += 1;
                    if warn_allowed() {
                        tracing::warn!(
                            ic = self.service.kind().name(),
                            "no answer to NEGOTIATE after {:?}; still waiting",
                            self.negotiation_timeout
                        );
                    }
                } else {
                    tracing::info!(
                        ic = self.service.kind().name(),
                        "the guest has not answered NEGOTIATE yet (its user-space daemon may not run)"
                    );
                }
            }
        }
        if let Some(o) = self.outstanding {
            if now >= o.deadline {
                self.outstanding = None;
                self.counters.timeouts += 1;
                if warn_allowed() {
                    tracing::warn!(ic = self.name(), trans_id = o.trans_id, "no answer in time");
                }
                self.service.on_no_answer(o.tag, &NoAnswer::Timeout);
            }
        }
        self.pump(now)
    }

    /// Sends the next due request if nothing is outstanding.
    fn pump(&mut self, now: Instant) -> Vec<Outgoing> {
        let State::Ready { framework, service } = self.state else {
            return Vec::new();
        };
        let header = IcMessageHeader {
            icverframe: framework,
            icmsgtype: self.service.message_type() as u16,
            icvermsg: service,
            icmsgsize: 0,
            status: wire::HV_S_OK,
            ictransaction_id: 0,
            icflags: ICMSG_FLAG_TRANSACTION | ICMSG_FLAG_REQUEST,
            reserved: [0; 2],
        };
        if let Some(kind) = self.misbehaviour.due() {
            let trans_id = self.take_trans_id();
            let header = IcMessageHeader {
                ictransaction_id: trans_id as u8,
                ..header
            };
            tracing::warn!(
                ic = self.name(),
                kind = kind.name(),
                "misbehave: a bad message"
            );
            return vec![Outgoing {
                trans_id,
                payload: misbehave::payload(kind, header),
            }];
        }
        if self.outstanding.is_some() {
            return Vec::new();
        }
        let Some(request) = self.service.next_request(now) else {
            return Vec::new();
        };
        let trans_id = self.take_trans_id();
        let header = IcMessageHeader {
            ictransaction_id: trans_id as u8,
            ..header
        };
        let Some(payload) = frame(header, &request.body) else {
            self.service.on_no_answer(
                request.tag,
                &NoAnswer::SendFailed("message too large".to_owned()),
            );
            return Vec::new();
        };
        self.outstanding = Some(Outstanding {
            trans_id,
            tag: request.tag,
            deadline: now + self.service.answer_timeout(),
        });
        vec![Outgoing { trans_id, payload }]
    }

    /// A packet from [`Outgoing`] could not be sent.
    pub fn send_failed(&mut self, trans_id: u64, reason: &str) {
        if warn_allowed() {
            tracing::warn!(ic = self.name(), trans_id, "cannot send: {reason}");
        }
        if matches!(self.state, State::Negotiating { trans_id: t, .. } if t == trans_id) {
            self.state = State::Refused(format!("NEGOTIATE not sent: {reason}"));
            return;
        }
        if let Some(o) = self.outstanding.filter(|o| o.trans_id == trans_id) {
            self.outstanding = None;
            self.service
                .on_no_answer(o.tag, &NoAnswer::SendFailed(reason.to_owned()));
        }
    }

    /// A control command.
    pub fn control(&mut self, command: &Value, now: Instant) -> Result<Value, ControlError> {
        match command.get("op").and_then(Value::as_str) {
            Some("stats") => Ok(json!({ "ic": self.name(), "packets": self.counters.packets })),
            Some("status") => Ok(Value::Object(self.status())),
            Some("misbehave") => {
                let armed = self
                    .misbehaviour
                    .arm(command)
                    .map_err(|e| ControlError(format!("{}: {e}", self.name())))?;
                Ok(armed)
            }
            _ => {
                let ready = matches!(self.state, State::Ready { .. });
                self.service
                    .control(command, ready, now)
                    .map_err(|e| ControlError(format!("{}: {}", self.name(), e.0)))
            }
        }
    }

    /// Common and service fields of `status`.
    pub fn status(&self) -> Map<String, Value> {
        let (state, framework, version) = match &self.state {
            State::Closed => ("closed", None, None),
            State::Negotiating { .. } => ("negotiating", None, None),
            State::Ready { framework, service } => (
                "ready",
                Some(version_text(*framework)),
                Some(version_text(*service)),
            ),
            State::Refused(_) => ("refused", None, None),
        };
        let mut m = Map::new();
        m.insert("ic".into(), json!(self.name()));
        m.insert("state".into(), json!(state));
        m.insert("framework".into(), json!(framework));
        m.insert("version".into(), json!(version));
        if let State::Refused(why) = &self.state {
            m.insert("refused".into(), json!(why));
        }
        m.insert("packets".into(), json!(self.counters.packets));
        m.insert("answers".into(), json!(self.counters.answers));
        m.insert("bad".into(), json!(self.counters.bad));
        m.insert("timeouts".into(), json!(self.counters.timeouts));
        m.insert("last_bad".into(), json!(self.counters.last_bad));
        m.insert("misbehaved".into(), self.misbehaviour.done());
        m.extend(self.service.status());
        m
    }

    fn take_trans_id(&mut self) -> u64 {
        let id = self.next_trans_id;
        self.next_trans_id = self.next_trans_id.wrapping_add(1).max(1);
        id
    }

    fn bad(&mut self, what: String) {
        self.counters.bad += 1;
        if warn_allowed() {
            tracing::warn!(ic = self.name(), "bad answer from the guest: {what}");
        }
        self.counters.last_bad = Some(what);
    }
}

/// Pipe header + IC header + body, or `None` if it is larger than any IC message.
fn frame(header: IcMessageHeader, body: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; wire::ICMSG_HDR_SIZE + body.len()];
    if out.len() > MAX_PACKET {
        return None;
    }
    wire::write_packet(&mut out, header, body).ok()?;
    Some(out)
}
