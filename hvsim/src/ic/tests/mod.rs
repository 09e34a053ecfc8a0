// SPDX-License-Identifier: GPL-2.0
//! IC tests. The flows run through the real VMBus server with the server tests' scripted
//! guest ([`Guest`]) and a fake `hv_utils` ([`LinuxUtils`]) that answers the way Linux 7.3
//! does: in place, echoing ids, with Linux's version lists and a KVP daemon with pools.
//! Malformed answers are made by editing a correct one.

mod flows;
mod framework;
mod kvp;

use std::collections::BTreeMap;

use rhv_proto::ic::{
    self as wire, IcMessageType, IcVersion, FRAMEWORK_VERSION_1, FRAMEWORK_VERSION_3,
    ICMSG_FLAG_RESPONSE, ICMSG_FLAG_TRANSACTION,
};
use rhv_proto::kvp::{self as kvpwire, KvpMessage, KvpOperation, KvpPool, Utf16Str};
use rhv_proto::vmbus as proto;
use serde_json::{json, Value};
use zerocopy::{FromBytes, IntoBytes};

use super::{IcConfig, IcKind};
use crate::vmbus::tests::{Guest, GuestChannel};
use crate::vmbus::ChannelTarget;

/// Linux 7.3's version lists (drivers/hv/hv_util.c, hv_kvp.c), newest first.
pub const LINUX_FW: [IcVersion; 2] = [FRAMEWORK_VERSION_3, FRAMEWORK_VERSION_1];

pub fn linux_versions(kind: IcKind) -> Vec<IcVersion> {
    let v = IcVersion::new;
    match kind {
        IcKind::Heartbeat => vec![v(3, 0), v(1, 0)],
        IcKind::Shutdown => vec![v(3, 2), v(3, 1), v(3, 0), v(1, 0)],
        IcKind::Timesync => vec![v(4, 0), v(3, 0), v(1, 0)],
        IcKind::Kvp => vec![v(4, 0), v(3, 0), v(1, 0)],
    }
}

/// Offsets into an IC payload.
pub const STATUS_AT: usize = 8 + 12;
pub const FLAGS_AT: usize = 8 + 17;
pub const BODY_AT: usize = wire::ICMSG_HDR_SIZE;

/// The fake `hv_kvp_daemon`: pools of UTF-8 strings, the auto pool generated.
#[derive(Default)]
pub struct FakeDaemon {
    pub pools: BTreeMap<(u8, String), String>,
}

const AUTO: [(&str, &str); 3] = [
    ("FullyQualifiedDomainName", "guest.example"),
    ("IntegrationServicesVersion", "3.1"),
    ("NetworkAddressIPv4", ""),
];

impl FakeDaemon {
    /// Answers a KVP body in place; returns the status word.
    fn answer(&mut self, body: &mut [u8]) -> u32 {
        let Ok((m, _)) = KvpMessage::mut_from_prefix(body) else {
            return wire::HV_E_FAIL;
        };
        let pool = m.header.pool;
        let text = |field: &[u8], size: u32| -> Option<String> {
            Utf16Str::new(field, size)
                .ok()?
                .chars()
                .collect::<Result<String, _>>()
                .ok()
        };
        match m.operation() {
            Ok(KvpOperation::Set) => {
                let v = m.value();
                let (Some(k), Some(val)) = (text(&v.key, v.key_size), text(&v.value, v.value_size))
                else {
                    return wire::HV_E_FAIL;
                };
                self.pools.insert((pool, k), val);
                wire::HV_S_OK
            }
            Ok(KvpOperation::Get) => {
                let v = m.value_mut();
                let Some(k) = text(&v.key, v.key_size) else {
                    return wire::HV_E_FAIL;
                };
                let Some(val) = self.pools.get(&(pool, k)).cloned() else {
                    return wire::HV_S_CONT;
                };
                v.value_type = kvpwire::REG_SZ;
                v.value_size = kvpwire::encode_utf16(&val, &mut v.value).unwrap_or(0);
                wire::HV_S_OK
            }
            Ok(KvpOperation::Delete) => {
                let d = m.delete();
                let Some(k) = text(&d.key, d.key_size) else {
                    return wire::HV_E_FAIL;
                };
                match self.pools.remove(&(pool, k)) {
                    Some(_) => wire::HV_S_OK,
                    None => wire::HV_S_CONT,
                }
            }
            Ok(KvpOperation::Enumerate) => {
                let index = m.enumerate().index as usize;
                let entry = if pool == KvpPool::Auto as u8 {
                    AUTO.get(index)
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                } else {
                    self.pools
                        .iter()
                        .filter(|((p, _), _)| *p == pool)
                        .nth(index)
                        .map(|((_, k), v)| (k.clone(), v.clone()))
                };
                let Some((k, v)) = entry else {
                    return wire::HV_S_CONT;
                };
                let d = &mut m.enumerate_mut().data;
                d.value_type = kvpwire::REG_SZ;
                d.key_size = kvpwire::encode_utf16(&k, &mut d.key).unwrap_or(0);
                d.value_size = kvpwire::encode_utf16(&v, &mut d.value).unwrap_or(0);
                wire::HV_S_OK
            }
            _ => wire::HV_E_FAIL,
        }
    }
}

/// A fake `hv_utils`.
#[derive(Default)]
pub struct LinuxUtils {
    pub daemon: FakeDaemon,
    /// Timesync messages received: (flags, parent time).
    pub times: Vec<(u8, u64)>,
    /// Shutdown requests received: flags.
    pub shutdowns: Vec<u32>,
    /// Heartbeat sequence numbers received.
    pub beats: Vec<u64>,
    /// Negotiated service versions.
    pub versions: BTreeMap<u32, IcVersion>,
}

impl LinuxUtils {
    /// The answer Linux sends to `payload`, edited in place.
    pub fn answer(&mut self, kind: IcKind, payload: &mut [u8]) {
        let ty = u16::from_le_bytes([payload[12], payload[13]]);
        let mut status = None;
        if ty == IcMessageType::Negotiate as u16 {
            let body = &payload[BODY_AT..];
            let offer = wire::parse_negotiate(body).unwrap();
            let chosen = wire::select_versions(&offer, &LINUX_FW, &linux_versions(kind));
            let body = &mut payload[BODY_AT..];
            let (counts, fw, srv) = match chosen {
                Some((f, s)) => {
                    self.versions.insert(relid(kind), s);
                    (1u16, f, s)
                }
                None => (0, IcVersion::default(), IcVersion::default()),
            };
            body[0..2].copy_from_slice(&counts.to_le_bytes());
            body[2..4].copy_from_slice(&counts.to_le_bytes());
            body[8..12].copy_from_slice(fw.as_bytes());
            body[12..16].copy_from_slice(srv.as_bytes());
            payload[8 + 10..8 + 12].copy_from_slice(&0x10u16.to_le_bytes());
        } else {
            let body = &mut payload[BODY_AT..];
            match kind {
                IcKind::Heartbeat => {
                    let seq = u64::from_le_bytes(body[..8].try_into().unwrap());
                    self.beats.push(seq);
                    body[..8].copy_from_slice(&(seq + 1).to_le_bytes());
                }
                IcKind::Shutdown => {
                    let flags = u32::from_le_bytes(body[8..12].try_into().unwrap());
                    self.shutdowns.push(flags);
                    status = Some(if flags <= 3 {
                        wire::HV_S_OK
                    } else {
                        wire::HV_E_FAIL
                    });
                }
                IcKind::Timesync => {
                    let t = u64::from_le_bytes(body[..8].try_into().unwrap());
                    // Version 4.0 messages have their flags at 16, older ones at 24.
                    let v4 = self.versions.get(&relid(kind)) == Some(&IcVersion::new(4, 0));
                    let flags = if v4 { body[16] } else { body[24] };
                    self.times.push((flags, t));
                }
                IcKind::Kvp => status = Some(self.daemon.answer(body)),
            }
        }
        if let Some(s) = status {
            payload[STATUS_AT..STATUS_AT + 4].copy_from_slice(&s.to_le_bytes());
        }
        payload[FLAGS_AT] = ICMSG_FLAG_TRANSACTION | ICMSG_FLAG_RESPONSE;
    }
}

/// Relids of the ICs in a server that has only them (added in `IcKind::ALL` order).
pub fn relid(kind: IcKind) -> u32 {
    IcKind::ALL.iter().position(|k| *k == kind).unwrap() as u32 + 1
}

/// A guest with the four ICs, connected, and a fake `hv_utils`.
pub struct IcGuest {
    pub g: Guest,
    pub utils: LinuxUtils,
    pub channels: BTreeMap<u32, GuestChannel>,
}

impl IcGuest {
    pub fn new(config: &IcConfig) -> Self {
        let mut g = Guest::new(proto::VERSION_WIN10_V6_0);
        g.server.add_integration_components_with(config).unwrap();
        assert_eq!(g.boot().len(), 4);
        Self {
            g,
            utils: LinuxUtils::default(),
            channels: BTreeMap::new(),
        }
    }

    /// `util_probe()`: opens the channel with Linux's ring sizes (3 data pages each way).
    pub fn open(&mut self, kind: IcKind) -> GuestChannel {
        let (status, ch) = self.g.open(relid(kind), 4, 4, 0);
        assert_eq!(status, 0);
        self.channels.insert(relid(kind), ch);
        ch
    }

    /// Packets the host has put into the channel: (trans_id, payload).
    pub fn read(&mut self, kind: IcKind) -> Vec<(u64, Vec<u8>)> {
        let ch = self.channels[&relid(kind)];
        let mut out = Vec::new();
        while let Some((d, payload)) = ch.inbound.guest_read(&self.g.host.mem) {
            assert_eq!({ d.packet_type }, 6, "IC packets are in-band data");
            out.push((d.trans_id, payload));
        }
        out
    }

    /// Sends `payload` as the guest's packet `trans_id` and signals the host.
    pub fn write(&mut self, kind: IcKind, trans_id: u64, payload: &[u8]) {
        let ch = self.channels[&relid(kind)];
        ch.outbound
            .guest_write(&self.g.host.mem, trans_id, payload)
            .expect("the guest → host ring is full");
        self.g.signal(ch.connection_id);
    }

    /// Answers every packet waiting for the guest like Linux; returns how many.
    pub fn answer_all(&mut self, kind: IcKind) -> usize {
        let packets = self.read(kind);
        for (trans_id, mut payload) in packets.iter().cloned() {
            self.utils.answer(kind, &mut payload);
            self.write(kind, trans_id, &payload);
        }
        packets.len()
    }

    /// Opens and negotiates like Linux.
    pub fn open_and_negotiate(&mut self, kind: IcKind) {
        self.open(kind);
        assert_eq!(self.answer_all(kind), 1, "one NEGOTIATE");
        assert_eq!(self.status(kind)["state"], "ready", "{}", self.status(kind));
    }

    pub fn control(&mut self, kind: IcKind, command: Value) -> Result<Value, String> {
        self.g
            .server
            .control(ChannelTarget::Relid(relid(kind)), &command)
            .map_err(|e| e.to_string())
    }

    pub fn status(&mut self, kind: IcKind) -> Value {
        self.control(kind, json!({"op": "status"})).unwrap()
    }

    pub fn poll(&mut self) {
        self.g.poll();
    }
}

/// A config with short timers for tests.
pub fn fast_config() -> IcConfig {
    IcConfig {
        heartbeat_interval: std::time::Duration::from_millis(20),
        timesync_sample_interval: std::time::Duration::from_secs(3600),
        answer_timeout: std::time::Duration::from_millis(40),
        kvp_answer_timeout: std::time::Duration::from_millis(40),
        negotiation_timeout: std::time::Duration::from_millis(40),
        ..IcConfig::default()
    }
}

pub fn sleep_ms(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

/// The header of a payload, for assertions.
pub fn header_of(payload: &[u8]) -> wire::IcMessageHeader {
    wire::parse_packet(payload).unwrap().header
}

/// Makes the pipe header of a shortened payload consistent again.
pub fn set_pipe_size(payload: &mut [u8]) {
    let n = (payload.len() - 8) as u32;
    payload[4..8].copy_from_slice(&n.to_le_bytes());
}
