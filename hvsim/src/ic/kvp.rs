// SPDX-License-Identifier: GPL-2.0
//! Key-value pair exchange: the host's requests (GET, SET, DELETE, ENUMERATE on the five
//! pools), one at a time from a bounded queue, and what the host learns from the answers.
//!
//! Control commands only queue requests and return an id; the outcome is fetched later with
//! `result` (see `ic/mod.rs`), so the event loop never waits for the guest. In Linux the
//! kernel hands each request to `hv_kvp_daemon` and answers when the daemon does, or with
//! `HV_E_FAIL` after 30 s (drivers/hv/hv_kvp.c); the host's own timeout is a little longer.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rhv_proto::ic::{self as wire, IcMessageType, IcVersion};
use rhv_proto::kvp::{
    encode_utf16, parse_message, KvpMessage, KvpOperation, KvpPool, Utf16Str, REG_SZ, REG_U32,
    REG_U64,
};
use serde_json::{json, Map, Value};
use zerocopy::{FromZeros, IntoBytes};

use super::command::{self, pool_name, KvpCommand, PoolArg};
use super::framework::{Answer, NoAnswer, Request, Service};
use super::shutdown::status_text;
use super::IcKind;
use crate::vmbus::ControlError;

/// Service versions the host offers (Linux 7.3 speaks 4.0, 3.0 and 1.0; the messages used
/// here are the same in 3.0, 4.0 and 5.0).
pub(crate) const VERSIONS: [IcVersion; 3] = [
    IcVersion::new(3, 0),
    IcVersion::new(4, 0),
    IcVersion::new(5, 0),
];

/// Most requests waiting to be sent.
const MAX_QUEUED: usize = 16;
/// Outcomes kept for `result`.
const MAX_RESULTS: usize = 32;
/// A scan stops after this many entries.
const MAX_SCAN_ENTRIES: u32 = 256;

/// A value to SET.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SetValue {
    String(String),
    U32(u32),
    U64(u64),
}

impl SetValue {
    fn text(&self) -> String {
        match self {
            SetValue::String(s) => s.clone(),
            SetValue::U32(n) => n.to_string(),
            SetValue::U64(n) => n.to_string(),
        }
    }
}

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq)]
enum KvpOp {
    Get { key: String },
    Set { key: String, value: SetValue },
    Delete { key: String },
    Enumerate { index: u32 },
}

impl KvpOp {
    fn operation(&self) -> KvpOperation {
        match self {
            KvpOp::Get { .. } => KvpOperation::Get,
            KvpOp::Set { .. } => KvpOperation::Set,
            KvpOp::Delete { .. } => KvpOperation::Delete,
            KvpOp::Enumerate { .. } => KvpOperation::Enumerate,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            KvpOp::Get { .. } => "get",
            KvpOp::Set { .. } => "set",
            KvpOp::Delete { .. } => "delete",
            KvpOp::Enumerate { .. } => "enumerate",
        }
    }
}

/// A request; a scan's ENUMERATEs all carry the scan's id.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KvpRequest {
    id: u64,
    pool: KvpPool,
    op: KvpOp,
}

impl KvpRequest {
    /// The message body, or why it cannot be built.
    fn body(&self) -> Result<Vec<u8>, String> {
        let mut m = KvpMessage::new_zeroed();
        m.header.operation = self.op.operation() as u8;
        m.header.pool = self.pool as u8;
        let too_long = |what: &str| format!("{what} too long: {:?}", self.op);
        match &self.op {
            KvpOp::Get { key } => {
                let v = m.value_mut();
                v.value_type = REG_SZ;
                v.key_size = encode_utf16(key, &mut v.key).map_err(|_| too_long("key"))?;
            }
            KvpOp::Set { key, value } => {
                let v = m.value_mut();
                v.key_size = encode_utf16(key, &mut v.key).map_err(|_| too_long("key"))?;
                (v.value_type, v.value_size) = match value {
                    SetValue::String(s) => (
                        REG_SZ,
                        encode_utf16(s, &mut v.value).map_err(|_| too_long("value"))?,
                    ),
                    SetValue::U32(n) => {
                        v.value[..4].copy_from_slice(&n.to_le_bytes());
                        (REG_U32, 4)
                    }
                    SetValue::U64(n) => {
                        v.value[..8].copy_from_slice(&n.to_le_bytes());
                        (REG_U64, 8)
                    }
                };
            }
            KvpOp::Delete { key } => {
                let d = m.delete_mut();
                d.key_size = encode_utf16(key, &mut d.key).map_err(|_| too_long("key"))?;
            }
            KvpOp::Enumerate { index } => m.enumerate_mut().index = *index,
        }
        Ok(m.as_bytes().to_vec())
    }
}

/// The outcome of a request, as `result` reports it.
#[derive(Clone, Debug, PartialEq)]
struct KvpResult {
    id: u64,
    op: &'static str,
    pool: KvpPool,
    /// "done", "timeout", "failed" or "bad_answer".
    state: &'static str,
    status: Option<u32>,
    key: Option<String>,
    value: Option<String>,
    index: Option<u32>,
    /// Entries found by a scan.
    entries: Option<u32>,
    error: Option<String>,
}

impl KvpResult {
    fn new(request: &KvpRequest, state: &'static str) -> Self {
        let (key, index) = match &request.op {
            KvpOp::Get { key } | KvpOp::Set { key, .. } | KvpOp::Delete { key } => {
                (Some(key.clone()), None)
            }
            KvpOp::Enumerate { index } => (None, Some(*index)),
        };
        Self {
            id: request.id,
            op: request.op.name(),
            pool: request.pool,
            state,
            status: None,
            key,
            value: None,
            index,
            entries: None,
            error: None,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "op": self.op,
            "pool": pool_name(self.pool),
            "state": self.state,
            "status": self.status,
            "status_text": self.status.map(status_text),
            "key": self.key,
            "value": self.value,
            "index": self.index,
            "entries": self.entries,
            "error": self.error,
        })
    }
}

/// A running scan: ENUMERATE from index 0 until the guest has no more.
#[derive(Clone, Debug)]
struct Scan {
    id: u64,
    pool: KvpPool,
    entries: u32,
}

/// Decodes the value of a GET or ENUMERATE answer.
fn decode_value(value_type: u32, field: &[u8], size: u32) -> Result<String, String> {
    let number = |n: usize| {
        (usize::try_from(size).ok() == Some(n))
            .then(|| field.get(..n))
            .flatten()
            .ok_or_else(|| format!("value type {value_type} with size {size}"))
    };
    match value_type {
        REG_SZ => utf16_string(field, size),
        REG_U32 => number(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]).to_string()),
        REG_U64 => number(8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a).to_string()
        }),
        other => Err(format!("unknown value type {other}")),
    }
}

fn utf16_string(field: &[u8], size: u32) -> Result<String, String> {
    let s = Utf16Str::new(field, size).map_err(|e| format!("{e:?}"))?;
    s.chars()
        .collect::<Result<String, _>>()
        .map_err(|e| format!("{e}"))
}

pub(crate) struct Kvp {
    answer_timeout: Duration,
    next_id: u64,
    last_issued: Option<u64>,
    queue: VecDeque<KvpRequest>,
    in_flight: Option<KvpRequest>,
    scan: Option<Scan>,
    results: VecDeque<KvpResult>,
    completed: u64,
    /// What the host knows of each pool: values it set, entries the guest enumerated.
    pools: BTreeMap<KvpPool, BTreeMap<String, String>>,
}

impl Kvp {
    pub fn new(answer_timeout: Duration) -> Self {
        Self {
            answer_timeout,
            next_id: 1,
            last_issued: None,
            queue: VecDeque::new(),
            in_flight: None,
            scan: None,
            results: VecDeque::new(),
            completed: 0,
            pools: BTreeMap::new(),
        }
    }

    fn finish(&mut self, result: KvpResult) {
        self.completed += 1;
        if self.results.len() == MAX_RESULTS {
            self.results.pop_front();
        }
        self.results.push_back(result);
    }

    fn is_pending(&self, id: u64) -> bool {
        self.queue.iter().any(|r| r.id == id)
            || self.in_flight.as_ref().is_some_and(|r| r.id == id)
            || self.scan.as_ref().is_some_and(|s| s.id == id)
    }

    fn enqueue(&mut self, pool: KvpPool, op: KvpOp) -> Result<Value, ControlError> {
        if self.queue.len() >= MAX_QUEUED {
            return Err(ControlError(format!(
                "busy: {MAX_QUEUED} requests are queued"
            )));
        }
        let id = self.next_id;
        self.next_id += 1;
        let request = KvpRequest { id, pool, op };
        // Refuse what cannot be encoded now rather than when it is due.
        request.body().map_err(ControlError)?;
        self.queue.push_back(request);
        self.last_issued = Some(id);
        Ok(json!({ "state": "pending", "id": id }))
    }

    fn result(&self, id: Option<u64>) -> Result<Value, ControlError> {
        let Some(id) = id.or(self.last_issued) else {
            return Ok(json!({ "state": "idle" }));
        };
        if self.is_pending(id) {
            return Ok(json!({ "state": "pending", "id": id }));
        }
        self.results
            .iter()
            .rev()
            .find(|r| r.id == id)
            .map(KvpResult::to_json)
            .ok_or_else(|| {
                ControlError(format!(
                    "no request {id} (the last {MAX_RESULTS} outcomes are kept)"
                ))
            })
    }

    /// A scan's ENUMERATE was answered with `status` (and `found` if it named an entry).
    fn advance_scan(&mut self, request: &KvpRequest, status: Option<u32>, failure: Option<&str>) {
        let Some(scan) = self.scan.as_mut().filter(|s| s.id == request.id) else {
            return;
        };
        let KvpOp::Enumerate { index } = request.op else {
            return;
        };
        if status == Some(wire::HV_S_OK) && failure.is_none() {
            scan.entries += 1;
            if scan.entries < MAX_SCAN_ENTRIES {
                self.queue.push_front(KvpRequest {
                    id: scan.id,
                    pool: scan.pool,
                    op: KvpOp::Enumerate { index: index + 1 },
                });
                return;
            }
        }
        let (id, pool, entries) = (scan.id, scan.pool, scan.entries);
        self.scan = None;
        let state = match (status, failure) {
            (_, Some(_)) => "failed",
            (Some(wire::HV_S_OK | wire::HV_S_CONT), None) => "done",
            _ => "failed",
        };
        let mut r = KvpResult::new(
            &KvpRequest {
                id,
                pool,
                op: KvpOp::Enumerate { index: 0 },
            },
            state,
        );
        r.op = "scan";
        r.index = None;
        r.status = status;
        r.entries = Some(entries);
        r.error = failure.map(str::to_owned);
        self.finish(r);
    }

    /// Reads a successful answer into `result` and the host's pools.
    fn read_answer(
        &mut self,
        request: &KvpRequest,
        m: &KvpMessage,
        result: &mut KvpResult,
    ) -> Result<(), String> {
        let pool = self.pools.entry(request.pool).or_default();
        match &request.op {
            KvpOp::Set { key, value } => {
                pool.insert(key.clone(), value.text());
            }
            KvpOp::Delete { key } => {
                pool.remove(key);
            }
            KvpOp::Get { .. } => {
                let v = m.value();
                result.value = Some(decode_value(v.value_type, &v.value, v.value_size)?);
            }
            KvpOp::Enumerate { .. } => {
                let d = &m.enumerate().data;
                let key = utf16_string(&d.key, d.key_size)?;
                let value = decode_value(d.value_type, &d.value, d.value_size)?;
                pool.insert(key.clone(), value.clone());
                result.key = Some(key);
                result.value = Some(value);
            }
        }
        Ok(())
    }
}

impl Service for Kvp {
    fn kind(&self) -> IcKind {
        IcKind::Kvp
    }

    fn message_type(&self) -> IcMessageType {
        IcMessageType::KvpExchange
    }

    fn versions(&self) -> Vec<IcVersion> {
        VERSIONS.to_vec()
    }

    fn answer_timeout(&self) -> Duration {
        self.answer_timeout
    }

    fn negotiation_overdue_is_bad(&self) -> bool {
        false
    }

    fn on_ready(&mut self, _version: IcVersion, _now: Instant) {}

    fn on_closed(&mut self) {
        let pending: Vec<KvpRequest> = self.queue.drain(..).collect();
        for r in pending {
            if self.scan.as_ref().is_some_and(|s| s.id == r.id) {
                self.advance_scan(&r, None, Some("the channel closed"));
            } else {
                let mut result = KvpResult::new(&r, "failed");
                result.error = Some("the channel closed".to_owned());
                self.finish(result);
            }
        }
    }

    fn next_request(&mut self, _now: Instant) -> Option<Request> {
        while let Some(r) = self.queue.pop_front() {
            match r.body() {
                Ok(body) => {
                    let tag = r.id;
                    self.in_flight = Some(r);
                    return Some(Request { tag, body });
                }
                Err(e) => {
                    let mut result = KvpResult::new(&r, "failed");
                    result.error = Some(e);
                    self.finish(result);
                }
            }
        }
        None
    }

    fn on_answer(&mut self, tag: u64, answer: &Answer<'_>, _now: Instant) -> Result<(), String> {
        let Some(request) = self.in_flight.take().filter(|r| r.id == tag) else {
            return Err(format!("answer to unknown KVP request {tag}"));
        };
        let mut result = KvpResult::new(&request, "done");
        result.status = Some(answer.status);
        let outcome = parse_message(answer.body)
            .map_err(|e| format!("KVP answer: {e:?}"))
            .and_then(|m| {
                let (op, pool) = (m.header.operation, m.header.pool);
                if op != request.op.operation() as u8 || pool != request.pool as u8 {
                    return Err(format!(
                        "answer for operation {op} pool {pool} to a {} on pool {}",
                        request.op.name(),
                        pool_name(request.pool)
                    ));
                }
                if answer.status == wire::HV_S_OK {
                    self.read_answer(&request, m, &mut result)?;
                }
                Ok(())
            });
        match outcome {
            Ok(()) => {
                if self.scan.as_ref().is_some_and(|s| s.id == request.id) {
                    self.advance_scan(&request, Some(answer.status), None);
                } else {
                    self.finish(result);
                }
                Ok(())
            }
            Err(e) => {
                if self.scan.as_ref().is_some_and(|s| s.id == request.id) {
                    self.advance_scan(&request, Some(answer.status), Some(&e));
                } else {
                    result.state = "bad_answer";
                    result.error = Some(e.clone());
                    self.finish(result);
                }
                Err(e)
            }
        }
    }

    fn on_no_answer(&mut self, tag: u64, why: &NoAnswer) {
        let Some(request) = self.in_flight.take().filter(|r| r.id == tag) else {
            return;
        };
        let text = format!("{why:?}");
        if self.scan.as_ref().is_some_and(|s| s.id == request.id) {
            self.advance_scan(&request, None, Some(&text));
            return;
        }
        let state = if *why == NoAnswer::Timeout {
            "timeout"
        } else {
            "failed"
        };
        let mut result = KvpResult::new(&request, state);
        result.error = Some(text);
        self.finish(result);
    }

    fn control(
        &mut self,
        command: &Value,
        ready: bool,
        _now: Instant,
    ) -> Result<Value, ControlError> {
        let c: KvpCommand = command::parse(command)?;
        let (pool, op) = match c {
            KvpCommand::Result { id } => return self.result(id),
            KvpCommand::Pools {} => {
                let m: Map<String, Value> = self
                    .pools
                    .iter()
                    .map(|(p, kv)| (pool_name(*p).to_owned(), json!(kv)))
                    .collect();
                return Ok(Value::Object(m));
            }
            KvpCommand::Set {
                pool,
                key,
                value,
                value_type,
            } => (
                pool,
                KvpOp::Set {
                    key: nonempty(key)?,
                    value: set_value(&value, value_type.as_deref())?,
                },
            ),
            KvpCommand::Get { pool, key } => (
                pool,
                KvpOp::Get {
                    key: nonempty(key)?,
                },
            ),
            KvpCommand::Delete { pool, key } => (
                pool,
                KvpOp::Delete {
                    key: nonempty(key)?,
                },
            ),
            KvpCommand::Enumerate { pool, index } => (pool, KvpOp::Enumerate { index }),
            KvpCommand::Scan { pool } => {
                let pool = pool.unwrap_or(PoolArg::Name("auto".to_owned())).pool()?;
                if !ready {
                    return Err(not_ready());
                }
                if self.scan.is_some() {
                    return Err(ControlError("busy: a scan is running".to_owned()));
                }
                let answer = self.enqueue(pool, KvpOp::Enumerate { index: 0 })?;
                let id = self.next_id - 1;
                self.scan = Some(Scan {
                    id,
                    pool,
                    entries: 0,
                });
                return Ok(answer);
            }
        };
        let pool = pool.pool()?;
        if !ready {
            return Err(not_ready());
        }
        self.enqueue(pool, op)
    }

    fn status(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("queued".into(), json!(self.queue.len()));
        m.insert(
            "in_flight".into(),
            json!(self.in_flight.as_ref().map(|r| r.id)),
        );
        m.insert("completed".into(), json!(self.completed));
        m
    }
}

fn not_ready() -> ControlError {
    ControlError(
        "the guest has not negotiated KVP (Linux answers once hv_kvp_daemon runs)".to_owned(),
    )
}

fn nonempty(key: String) -> Result<String, ControlError> {
    if key.is_empty() {
        return Err(ControlError("the key is empty".to_owned()));
    }
    Ok(key)
}

/// The value of a `set` command.
fn set_value(value: &Value, value_type: Option<&str>) -> Result<SetValue, ControlError> {
    let bad = || {
        ControlError(format!(
            "value {value} with type {value_type:?}: give a string, or a number with \"type\": \"u32\" or \"u64\""
        ))
    };
    match (value_type, value) {
        (None | Some("string"), Value::String(s)) => Ok(SetValue::String(s.clone())),
        (Some("u32"), Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(SetValue::U32)
            .ok_or_else(bad),
        (Some("u64"), Value::Number(n)) => n.as_u64().map(SetValue::U64).ok_or_else(bad),
        _ => Err(bad()),
    }
}
