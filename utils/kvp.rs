// SPDX-License-Identifier: GPL-2.0
//! Key-value pair exchange (KVP): the host's requests are carried out by the guest's KVP
//! daemon (`hv_kvp_daemon` from tools/hv), which talks to this module through
//! `/dev/vmbus/hv_kvp` (utils/kvp_dev.c, utils/kvp_transport.rs) with the C driver's
//! `struct hv_kvp_msg` records (utils/kvp_daemon.rs), so the stock daemon works unchanged.
//!
//! As in drivers/hv/hv_kvp.c: the daemon registers by writing `KVP_OP_REGISTER1` (or the
//! legacy `KVP_OP_REGISTER`) and reads the kernel's answer; only then is the host's
//! NEGOTIATE answered (the host sends requests only after it), so a host request always
//! finds a daemon unless the daemon went away later. One request is outstanding at a time:
//! it goes to the daemon, whose answer goes back to the host; a daemon that takes longer
//! than 30 s, closes the device meanwhile or is not there at all gets the host `HV_E_FAIL`.
//! Malformed requests (short, unknown operation or pool, bad string sizes, strings without a
//! NUL, not UTF-16) never reach the daemon: the host gets `HV_E_FAIL` and a rate-limited log
//! line names the problem. IP injection (GET_IP_INFO / SET_IP_INFO) is refused likewise; a
//! packet of another type is dropped with a log line.

use kernel::prelude::*;
use kernel::sync::{new_mutex, new_spinlock_irq, Arc, Mutex, SpinLockIrq};
use vmbus::{Channel, Device, OpenChannel, OpenParams, Packet, PacketHandler, PacketType};
use zerocopy::FromBytes;

use crate::framework::{self, Exchange, Service};
use crate::ic::{
    parse_packet, IcMessageHeader, IcMessageType, IcVersion, PipeHeader, HV_E_FAIL,
    ICMSG_FLAG_RESPONSE, ICMSG_FLAG_TRANSACTION, ICMSG_HDR_SIZE,
};
use crate::kvp_daemon::{
    parse_registration, to_daemon, to_host, write_registration, DaemonKind, DaemonMessage, Refusal,
    DAEMON_MSG_SIZE,
};
use crate::kvp_proto::KvpOperation;
use crate::kvp_transport;
use crate::system;

/// The KVP service versions Linux accepts, newest first (`kvp_versions`).
pub(crate) const SERVICE: Service = Service {
    name: "kvp",
    message_type: IcMessageType::KvpExchange,
    versions: &[
        IcVersion::new(4, 0),
        IcVersion::new(3, 0),
        IcVersion::new(1, 0),
    ],
};

/// Largest KVP packet taken from the host: four pages, the C driver's receive buffer.
const MAX_PACKET: usize = 4 * 4096;
/// How long the daemon has to answer (`HV_UTIL_TIMEOUT`).
const DAEMON_TIMEOUT_MS: u32 = 30_000;
/// The same in reference counter units (100 ns).
const DAEMON_TIMEOUT_REF: u64 = DAEMON_TIMEOUT_MS as u64 * 10_000;

/// Whether and how the daemon is attached.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Daemon {
    Absent,
    /// Registered; the kernel's answer is queued but not read yet.
    Registering(DaemonKind),
    Registered(DaemonKind),
}

/// The host's request that is with the daemon.
struct Request {
    len: usize,
    trans_id: u64,
    op: KvpOperation,
    /// The reference counter when it went to the daemon.
    sent_at: u64,
}

/// Everything the packet handler (softirq) and the daemon's callbacks (process context)
/// share. The buffers are allocated once, so the handler never allocates.
struct Core {
    daemon: Daemon,
    /// A NEGOTIATE waiting for the daemon: its length and transaction id.
    negotiate: Option<(usize, u64)>,
    negotiate_buf: KVec<u8>,
    request: Option<Request>,
    /// The request's packet, answered in place.
    packet: KVec<u8>,
    /// The message for the daemon being built.
    message: KVec<u8>,
}

fn zeroed(len: usize) -> Result<KVec<u8>> {
    let mut v = KVec::with_capacity(len, GFP_KERNEL)?;
    v.resize(len, 0, GFP_KERNEL)?;
    Ok(v)
}

/// Copies `src` to the start of `dst` (which is at least as long).
fn copy_into(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// Marks the packet in `buf` as the answer with `status`.
fn mark_answer(buf: &mut [u8], status: u32) {
    const PIPE: usize = core::mem::size_of::<PipeHeader>();
    let Some(h) = buf.get_mut(PIPE..ICMSG_HDR_SIZE) else {
        return;
    };
    if let Ok(header) = IcMessageHeader::mut_from_bytes(h) {
        header.status = status;
        header.icflags = ICMSG_FLAG_TRANSACTION | ICMSG_FLAG_RESPONSE;
    }
}

/// A rate-limited complaint about the host or the daemon.
fn complain(what: &str, value: usize) {
    crate::complain(&SERVICE, what, value);
}

/// The KVP device's shared state.
#[pin_data]
pub(crate) struct KvpState {
    #[pin]
    core: SpinLockIrq<Core>,
    /// The channel, for answers sent from process context; taken out on removal.
    #[pin]
    channel: Mutex<Option<OpenChannel>>,
}

impl KvpState {
    fn new() -> Result<Arc<Self>> {
        let core = Core {
            daemon: Daemon::Absent,
            negotiate: None,
            negotiate_buf: zeroed(framework::answer_capacity(framework::MAX_PACKET))?,
            request: None,
            packet: zeroed(MAX_PACKET)?,
            message: zeroed(DAEMON_MSG_SIZE)?,
        };
        Arc::pin_init(
            pin_init!(KvpState {
                core <- new_spinlock_irq!(core, "rhv_utils_kvp"),
                channel <- new_mutex!(None, "rhv_utils_kvp_channel"),
            }),
            GFP_KERNEL,
        )
    }

    /// A packet from the host (softirq context).
    fn on_host_packet(&self, channel: &Channel, payload: &[u8], trans_id: u64) {
        let len = payload.len();
        if len > MAX_PACKET {
            complain("packet too long", len);
            return;
        }
        let Ok(packet) = parse_packet(payload) else {
            complain("packet shorter than the headers", len);
            return;
        };
        let mut core = self.core.lock();
        match IcMessageType::try_from(packet.header.icmsgtype) {
            Ok(IcMessageType::Negotiate) => {
                if len > framework::MAX_PACKET {
                    complain("NEGOTIATE too long", len);
                    return;
                }
                let buf = &mut core.negotiate_buf;
                buf.fill(0);
                copy_into(buf, payload);
                // A repeated NEGOTIATE replaces one still waiting.
                core.negotiate = Some((len, trans_id));
                if matches!(core.daemon, Daemon::Registered(_)) {
                    answer_negotiate(&mut core, channel);
                }
            }
            Ok(IcMessageType::KvpExchange) => {
                self.on_request(&mut core, channel, payload, trans_id)
            }
            // Dropped, as the C driver does: no other type belongs on this channel (and the
            // packet buffer may hold the outstanding request).
            _ => complain(
                "unexpected message type; dropped",
                usize::from(packet.header.icmsgtype),
            ),
        }
    }

    fn on_request(&self, core: &mut Core, channel: &Channel, payload: &[u8], trans_id: u64) {
        let len = payload.len();
        if core.request.is_some() {
            // The host keeps one request outstanding; this one breaks the protocol.
            complain("request while another is outstanding; dropped", len);
            return;
        }
        let Core {
            daemon,
            packet,
            message,
            request,
            ..
        } = core;
        copy_into(packet, payload);
        let status = match *daemon {
            Daemon::Registered(_) => match DaemonMessage::mut_from_bytes(&mut message[..]) {
                Ok(msg) => match to_daemon(&packet[ICMSG_HDR_SIZE..len], msg) {
                    Ok(op) => match kvp_transport::send(&message[..]) {
                        Ok(()) => {
                            *request = Some(Request {
                                len,
                                trans_id,
                                op,
                                sent_at: system::reference_counter(),
                            });
                            kvp_transport::arm_timeout(DAEMON_TIMEOUT_MS);
                            return;
                        }
                        Err(_) => {
                            complain("the daemon cannot take a request now", len);
                            HV_E_FAIL
                        }
                    },
                    Err(refusal) => {
                        refuse(refusal);
                        HV_E_FAIL
                    }
                },
                Err(_) => HV_E_FAIL,
            },
            Daemon::Absent | Daemon::Registering(_) => {
                complain("request without a KVP daemon; failed", len);
                HV_E_FAIL
            }
        };
        mark_answer(&mut packet[..len], status);
        send(channel, &packet[..len], trans_id);
    }

    /// The daemon wrote a message (process context).
    pub(crate) fn on_daemon_message(&self, bytes: &[u8]) -> Result {
        let (reply, _) = DaemonMessage::ref_from_prefix(bytes).map_err(|_| EINVAL)?;
        let channel = self.channel.lock();
        let mut core = self.core.lock();
        match core.daemon {
            Daemon::Absent => {
                let Some(kind) = parse_registration(reply) else {
                    if system::ratelimit() {
                        pr_warn!(
                            "kvp: incompatible daemon (registration opcode {})\n",
                            reply.operation()
                        );
                    }
                    return Err(EINVAL);
                };
                let msg =
                    DaemonMessage::mut_from_bytes(&mut core.message[..]).map_err(|_| EINVAL)?;
                write_registration(kind, msg);
                kvp_transport::send(&core.message[..])?;
                core.daemon = Daemon::Registering(kind);
                pr_info!("kvp: daemon registered ({:?})\n", kind);
                Ok(())
            }
            // Nothing was asked of it: a spurious answer (the C driver says EINVAL too).
            Daemon::Registering(_) => Err(EINVAL),
            Daemon::Registered(kind) => {
                let Some(request) = core.request.take() else {
                    return Err(EINVAL);
                };
                kvp_transport::cancel_timeout();
                let body = &mut core.packet[ICMSG_HDR_SIZE..request.len];
                let status = to_host(request.op, kind, reply, body);
                if status == HV_E_FAIL {
                    complain(
                        "unusable answer from the daemon",
                        usize::from(request.op as u8),
                    );
                }
                answer_request(&mut core, &channel, &request, status);
                Ok(())
            }
        }
    }

    /// The daemon read the queued message (process context).
    pub(crate) fn on_daemon_read(&self) {
        let channel = self.channel.lock();
        let mut core = self.core.lock();
        if let Daemon::Registering(kind) = core.daemon {
            core.daemon = Daemon::Registered(kind);
            if let Some(ch) = channel.as_ref() {
                answer_negotiate(&mut core, ch);
            }
        }
    }

    /// The daemon closed the device (process context).
    pub(crate) fn on_daemon_gone(&self) {
        let channel = self.channel.lock();
        let mut core = self.core.lock();
        core.daemon = Daemon::Absent;
        if let Some(request) = core.request.take() {
            kvp_transport::cancel_timeout();
            answer_request(&mut core, &channel, &request, HV_E_FAIL);
        }
        pr_info!("kvp: daemon gone\n");
    }

    /// The daemon timeout expired (process context).
    pub(crate) fn on_timeout(&self) {
        let channel = self.channel.lock();
        let mut core = self.core.lock();
        let Some(request) = core.request.as_ref() else {
            return;
        };
        let waited = system::reference_counter().wrapping_sub(request.sent_at);
        if waited < DAEMON_TIMEOUT_REF {
            // Armed for an earlier request: wait for the rest of this one's time.
            // CAST: less than 30 000 ms.
            kvp_transport::arm_timeout(((DAEMON_TIMEOUT_REF - waited) / 10_000) as u32 + 1);
            return;
        }
        let Some(request) = core.request.take() else {
            return;
        };
        kvp_transport::withdraw();
        if system::ratelimit() {
            pr_warn!(
                "kvp: the daemon did not answer within {} s; failed\n",
                DAEMON_TIMEOUT_MS / 1000
            );
        }
        answer_request(&mut core, &channel, &request, HV_E_FAIL);
    }
}

/// Answers the waiting NEGOTIATE, if any.
fn answer_negotiate(core: &mut Core, channel: &Channel) {
    let Some((len, trans_id)) = core.negotiate.take() else {
        return;
    };
    let buf = &mut core.negotiate_buf;
    match framework::answer(buf, len, &SERVICE, None, |_, _| framework::Verdict::Failed) {
        Ok((answer_len, exchange)) => {
            match exchange {
                Exchange::Negotiated {
                    framework,
                    service: v,
                } => {
                    if system::notice_ratelimit() {
                        pr_info!(
                            "kvp: IC framework {}.{}, service version {}.{}\n",
                            { framework.major },
                            { framework.minor },
                            { v.major },
                            { v.minor }
                        );
                    }
                }
                Exchange::NoCommonVersion => complain("no common version offered", len),
                _ => complain("malformed NEGOTIATE", len),
            }
            send(channel, &buf[..answer_len], trans_id);
        }
        Err(_) => complain("NEGOTIATE unanswerable", len),
    }
}

/// Sends the answer to `request` with `status` (process context: `channel` is the locked
/// channel slot).
fn answer_request(core: &mut Core, channel: &Option<OpenChannel>, request: &Request, status: u32) {
    let buf = &mut core.packet[..request.len];
    mark_answer(buf, status);
    if let Some(ch) = channel.as_ref() {
        send(ch, buf, request.trans_id);
    }
}

fn send(channel: &Channel, answer: &[u8], trans_id: u64) {
    if let Err(e) = channel.send(answer, trans_id, false) {
        if system::ratelimit() {
            pr_warn!("kvp: answering failed: {:?}\n", e);
        }
    }
}

fn refuse(refusal: Refusal) {
    if system::ratelimit() {
        match refusal {
            Refusal::Bad(e) => pr_warn!("kvp: malformed request: {:?}; failed\n", e),
            Refusal::BadValueType(t) => pr_warn!("kvp: SET with value type {}; failed\n", t),
            Refusal::IpInjection => {
                pr_warn!("kvp: IP injection is not supported; request failed\n")
            }
        }
    }
}

/// Receives the KVP channel's packets.
struct KvpChannel {
    state: Arc<KvpState>,
}

impl PacketHandler for KvpChannel {
    fn on_packet(&self, channel: &Channel, packet: &Packet<'_>) {
        if packet.packet_type != PacketType::DataInband as u16 {
            complain(
                "packet of unexpected VMBus type",
                usize::from(packet.packet_type),
            );
            return;
        }
        self.state
            .on_host_packet(channel, packet.payload, packet.trans_id);
    }
}

/// A bound KVP device: its channel, the daemon's device node and their shared state.
pub(crate) struct KvpDevice {
    state: Arc<KvpState>,
    transport: Option<kvp_transport::Device>,
}

impl KvpDevice {
    /// Opens the channel and creates `/dev/vmbus/hv_kvp`.
    pub(crate) fn new(dev: &Device<'_>, params: &OpenParams) -> Result<Self> {
        let state = KvpState::new()?;
        let handler = KBox::new(
            KvpChannel {
                state: state.clone(),
            },
            GFP_KERNEL,
        )?;
        let channel = dev.open(params, handler)?;
        *state.channel.lock() = Some(channel);
        match kvp_transport::Device::start(state.clone()) {
            Ok(transport) => Ok(KvpDevice {
                state,
                transport: Some(transport),
            }),
            Err(e) => {
                if system::ratelimit() {
                    pr_warn!("kvp: cannot create /dev/vmbus/hv_kvp: {:?}\n", e);
                }
                let channel = state.channel.lock().take();
                drop(channel);
                kvp_transport::quiesce();
                Err(e)
            }
        }
    }
}

impl Drop for KvpDevice {
    fn drop(&mut self) {
        // No daemon callback or timeout runs against the state after this...
        drop(self.transport.take());
        // ...nor a packet after the channel closed (it holds the handler's reference)...
        let channel = self.state.channel.lock().take();
        drop(channel);
        // ...and the timeout a last packet may have armed has finished.
        kvp_transport::quiesce();
    }
}
