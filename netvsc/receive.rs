// SPDX-License-Identifier: GPL-2.0
//! Receive on one queue, in the poll of its NAPI instance: the transfer-page packets of the
//! queue's channel (RNDIS messages in receive-buffer ranges: frames go to GRO, control answers
//! to the waiting request, status indications set the carrier), each completed once its
//! messages are copied out.
//!
//! The poll's budget counts frames, not VMBus packets (`netvsc_poll()` in the C driver counts
//! ranges): every RNDIS message of a range uses one unit, and so does every other packet. One
//! packet may name up to [`transfer::MAX_RANGES`] ranges of several messages each, so a
//! packet whose messages outlast the budget is left half-done, where it stopped kept here (its
//! ranges stay the guest's until it is completed), and the next poll finishes it before it
//! reads another packet. A packet's ranges are checked as a set before any is used: no more
//! than the receive buffer has sections, no two sharing a byte; a packet that fails is dropped
//! whole and counted. A completion the guest → host ring has no room for is held back
//! ([`crate::completions`]) and sent when the host has made room, never waited for.

use crate::completions::{Held, Owed};
use crate::control::Awaited;
use crate::datapath::{bump, Datapath, MAX_RECEIVE_MESSAGE, RECEIVE_BUFFER_ID};
use crate::netdev::ratelimit;
use crate::proto::{ndis, nvsp, rndis};
use crate::transfer::{self, RangeSetError, TransferError, MAX_RANGES};
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::{new_spinlock, Arc, SpinLock};
use vmbus::{Channel, Packet, PacketType};
use zerocopy::FromBytes;

/// Bytes of a receive range read before the rest: the RNDIS headers and per-packet info of a
/// data message.
const RECEIVE_HEAD: usize = 256;

/// A data message that fills its receive range alone, checked in the guest's copy of its
/// first bytes: where its frame lies in the range, and its per-packet info.
struct InPlaceFrame<'a> {
    data_offset: usize,
    data_len: usize,
    ppi: &'a [u8],
}

/// The frame of `head`, the first bytes of a `len`-byte range, if the range is exactly one
/// data message whose headers and per-packet info lie in `head` and whose frame lies in the
/// range; anything else (batched, control or malformed messages) takes the full-copy path,
/// which checks and counts it.
fn in_place_frame(head: &[u8], len: usize) -> Option<InPlaceFrame<'_>> {
    let (h, body) = rndis::MessageHeader::read_from_prefix(head).ok()?;
    if h.msg_type != rndis::MessageType::Packet as u32 || h.msg_len as usize != len {
        return None;
    }
    let (p, _) = rndis::Packet::read_from_prefix(body).ok()?;
    let fixed = core::mem::size_of::<rndis::Packet>();
    let body_len = len.checked_sub(rndis::HEADER_SIZE)?;
    let (data_offset, data_len) = (p.data_offset as usize, p.data_length as usize);
    if data_offset < fixed || data_len < 14 || data_offset.checked_add(data_len)? > body_len {
        return None;
    }
    let ppi = match (
        p.per_packet_info_offset as usize,
        p.per_packet_info_length as usize,
    ) {
        (_, 0) => &[][..],
        (off, n) if off >= fixed => body.get(off..off.checked_add(n)?)?,
        _ => return None,
    };
    Some(InPlaceFrame {
        data_offset: rndis::HEADER_SIZE + data_offset,
        data_len,
        ppi,
    })
}

/// Whether a received frame is handed to the stack as checksum-verified: only if the host
/// said it verified the TCP or UDP checksum (`csum_info`, its checksum per-packet info) and
/// receive checksum offload is on, i.e. negotiated with the host *and* enabled on the
/// interface (`NETIF_F_RXCSUM`; `ethtool -K eth0 rx off` clears it). The C driver decides the
/// same in `netvsc_alloc_recv_skb()`.
pub(crate) fn checksum_verified(csum_info: Option<u32>, rx_offload_on: bool) -> bool {
    rx_offload_on
        && csum_info
            .is_some_and(|c| c & (ndis::CSUM_RX_TCP_SUCCEEDED | ndis::CSUM_RX_UDP_SUCCEEDED) != 0)
}

/// What the host says of a received frame in its per-packet info, as far as the guest takes
/// it: the RSS hash (0: none) and whether the checksum counts as verified
/// ([`checksum_verified`]).
pub(crate) fn frame_hints(p: &rndis::PacketView<'_>, rx_offload_on: bool) -> (u32, bool) {
    let hash = p.ppi_u32(rndis::PPI_HASH_VALUE).unwrap_or(0);
    let csum = checksum_verified(p.ppi_u32(rndis::PPI_TCPIP_CHECKSUM), rx_offload_on);
    (hash, csum)
}

/// Units of a poll's budget.
#[derive(Default)]
pub(crate) struct Budget {
    left: u32,
    used: u32,
}

impl Budget {
    /// A poll's budget of `n` units.
    pub(crate) fn new(n: usize) -> Self {
        Self {
            left: u32::try_from(n).unwrap_or(u32::MAX),
            used: 0,
        }
    }

    /// Takes a unit; `false` if none is left, unless `unbounded` (then it is counted anyway,
    /// beyond the budget).
    pub(crate) fn take(&mut self, unbounded: bool) -> bool {
        if self.left > 0 {
            self.left -= 1;
        } else if !unbounded {
            return false;
        }
        self.used = self.used.saturating_add(1);
        true
    }

    /// Whether units are left.
    pub(crate) fn any_left(&self) -> bool {
        self.left > 0
    }

    /// Units taken.
    pub(crate) fn used(&self) -> usize {
        self.used as usize
    }
}

/// A transfer-page packet under way; its ranges are in [`RxState::ranges`].
struct Cursor {
    trans_id: u64,
    status: u32,
    /// Ranges of the packet.
    count: usize,
    /// The range to handle next.
    next: usize,
    /// Bytes at the start of range `next` handled already (its messages before the budget
    /// ran out).
    skip: usize,
}

/// How far a range was handled.
enum RangeEnd {
    /// Completely; `false` if it was refused (the packet is completed with a failure).
    Done(bool),
    /// The budget ran out after this many of its bytes.
    Paused(usize),
}

/// The state of a queue's receive, touched only by its poll.
struct RxState {
    /// The copy of a range whose messages are parsed (`MAX_RECEIVE_MESSAGE` bytes).
    scratch: KVec<u8>,
    /// The ranges of the packet under way (`MAX_RANGES` slots): offset << 32 | length.
    ranges: KVec<u64>,
    /// Room for the sorted copy the range-set check makes (`MAX_RANGES` slots).
    sorted: KVec<u64>,
    cursor: Option<Cursor>,
    held: Held,
    budget: Budget,
    /// The host's checksum verdicts count in this poll (see [`checksum_verified`]).
    rx_csum: bool,
}

/// The receive side of queue `queue`: shared by its packet handler and its NAPI poll.
#[pin_data]
pub(crate) struct RxQueue {
    dp: Arc<Datapath>,
    queue: u16,
    #[pin]
    state: SpinLock<RxState>,
    /// Receive completions were written without the interrupt the host is owed for them; it
    /// is sent once the ring is drained (one signal per batch instead of one per packet).
    signal_owed: Atomic<bool>,
}

/// Writes a receive completion without signalling; whether the host must be signalled.
fn write_completion(channel: &Channel, owed: Owed) -> Result<bool> {
    let reply = nvsp::encode(&nvsp::SendRndisPacketComplete {
        status: owed.status,
    });
    channel.send_packet_batched(PacketType::Completion, &reply, owed.trans_id, false)
}

fn zeroed(n: usize) -> Result<KVec<u64>> {
    let mut v = KVec::new();
    v.resize(n, 0, GFP_KERNEL)?;
    Ok(v)
}

impl RxQueue {
    pub(crate) fn new(dp: Arc<Datapath>, queue: u16) -> Result<Arc<Self>> {
        let mut scratch = KVec::new();
        scratch.resize(MAX_RECEIVE_MESSAGE, 0, GFP_KERNEL)?;
        let rx_state = RxState {
            scratch,
            ranges: zeroed(MAX_RANGES)?,
            sorted: zeroed(MAX_RANGES)?,
            cursor: None,
            held: Held::new()?,
            budget: Budget::default(),
            rx_csum: false,
        };
        Arc::pin_init(
            pin_init!(Self {
                dp,
                queue,
                state <- new_spinlock!(rx_state, "rhv_netvsc_rx"),
                signal_owed: Atomic::new(false),
            }),
            GFP_KERNEL,
        )
    }

    /// Starts a poll of `budget` units: sends the completions held back if the ring has room
    /// now, then goes on with the packet the last poll left half-done.
    pub(crate) fn begin_poll(&self, channel: &Channel, budget: usize) {
        let mut st = self.state.lock();
        st.budget = Budget::new(budget);
        st.rx_csum = self.dp.rx_csum.load(ordering::Relaxed) && self.dp.ndev.rx_checksum_enabled();
        self.flush(&mut st, channel);
        self.run_transfer(&mut st, channel, false);
    }

    /// The units the poll used (at most its budget).
    pub(crate) fn end_poll(&self) -> usize {
        self.state.lock().budget.used()
    }

    /// Whether the poll may read another packet: budget left, no packet half-done, room to
    /// hold its completion.
    pub(crate) fn wants_packets(&self) -> bool {
        let st = self.state.lock();
        st.budget.any_left() && st.cursor.is_none() && !st.held.is_full()
    }

    /// Whether reading waits for room in the guest → host ring: the write that found it full
    /// asked the host (`pending_send_sz`) to signal when it made room, which schedules the
    /// next poll.
    pub(crate) fn waits_for_room(&self) -> bool {
        self.state.lock().held.is_full()
    }

    /// A packet other than a transfer-page one uses a unit.
    pub(crate) fn charge_packet(&self) {
        self.state.lock().budget.take(true);
    }

    /// The host made room in the guest → host ring: the completions held back go out.
    pub(crate) fn on_send_space(&self, channel: &Channel) {
        self.flush(&mut self.state.lock(), channel);
    }

    /// Whether an interrupt is owed to the host for completions written (and clears it).
    pub(crate) fn take_signal_owed(&self) -> bool {
        self.signal_owed.xchg(false, ordering::Relaxed)
    }

    fn flush(&self, st: &mut RxState, channel: &Channel) {
        if st.held.len() > 0 && st.held.flush(|o| write_completion(channel, o)) {
            self.signal_owed.store(true, ordering::Relaxed);
        }
    }

    fn complete(&self, st: &mut RxState, channel: &Channel, trans_id: u64, status: u32) {
        match st
            .held
            .send(Owed { trans_id, status }, |o| write_completion(channel, o))
        {
            Ok(signal) => {
                if signal {
                    self.signal_owed.store(true, ordering::Relaxed);
                }
                // The newest goes last: if any is held, this one is.
                if st.held.len() > 0 {
                    bump(&self.dp.counters.rx_completions_held);
                }
            }
            Err(e) => {
                if ratelimit() {
                    pr_warn!(
                        "rhv_netvsc: receive completion not sent ({})\n",
                        e.to_errno()
                    );
                }
            }
        }
    }

    /// A transfer-page packet.
    pub(crate) fn on_transfer(&self, channel: &Channel, packet: &Packet<'_>) {
        let mut st = self.state.lock();
        // `Channel::poll` asks `wants_packets` first, so no packet is under way here; were
        // one, it is finished first, whatever the budget.
        if st.cursor.is_some() {
            self.run_transfer(&mut st, channel, true);
        }
        match self.check_transfer(&mut st, packet) {
            Some(count) => {
                st.cursor = Some(Cursor {
                    trans_id: packet.trans_id,
                    status: nvsp::STATUS_SUCCESS,
                    count,
                    next: 0,
                    skip: 0,
                });
                self.run_transfer(&mut st, channel, false);
            }
            None => {
                st.budget.take(true);
                self.complete(&mut st, channel, packet.trans_id, nvsp::STATUS_FAIL);
            }
        }
    }

    /// The packet's ranges, copied to `st.ranges` once checked, and how many; `None` (counted
    /// and logged) if the packet is refused.
    fn check_transfer(&self, st: &mut RxState, packet: &Packet<'_>) -> Option<usize> {
        let dp = &self.dp;
        let raw = match transfer::ranges(packet.header, RECEIVE_BUFFER_ID) {
            Ok(r) => r,
            Err(e) => {
                let value = match e {
                    TransferError::Short => 0,
                    TransferError::SetId(id) => u64::from(id),
                    TransferError::Count(n) => n as u64,
                };
                dp.bad("transfer-page header", value);
                return None;
            }
        };
        match nvsp::HostMessage::parse(packet.payload) {
            Ok(nvsp::HostMessage::SendRndisPacket(_)) => {}
            _ => {
                dp.bad("transfer-page packet without SEND_RNDIS_PKT", 0);
                return None;
            }
        }
        let sections = dp.recv_sections.load(ordering::Relaxed) as usize;
        if let Err(e) = transfer::range_set_ok(raw, sections, &mut st.sorted) {
            match e {
                RangeSetError::TooMany(n) => dp.bad("more receive ranges than sections", n as u64),
                RangeSetError::Overlap(at) => dp.bad("overlapping receive ranges", u64::from(at)),
            }
            return None;
        }
        let count = (raw.len() / 8).min(st.ranges.len());
        for (i, slot) in st.ranges[..count].iter_mut().enumerate() {
            *slot = transfer::range_at(raw, i);
        }
        Some(count)
    }

    /// Handles the ranges of the packet under way from where it stopped, as far as the
    /// budget goes (all of them if `unbounded`), and completes it when they are done.
    fn run_transfer(&self, st: &mut RxState, channel: &Channel, unbounded: bool) {
        let Some(mut c) = st.cursor.take() else {
            return;
        };
        while c.next < c.count {
            // An empty range (past the slots, which cannot be) is refused as any other.
            let r = st.ranges.get(c.next).copied().unwrap_or(0);
            // CAST: the two halves.
            let (offset, len) = ((r >> 32) as u32, r as u32);
            match self.on_range(st, offset, len, c.skip, unbounded) {
                RangeEnd::Done(ok) => {
                    if !ok {
                        c.status = nvsp::STATUS_FAIL;
                    }
                    c.next += 1;
                    c.skip = 0;
                }
                RangeEnd::Paused(skip) => {
                    c.skip = skip;
                    st.cursor = Some(c);
                    return;
                }
            }
        }
        self.complete(st, channel, c.trans_id, c.status);
    }

    /// The messages of the range `offset`/`len` after its first `skip` bytes, one budget
    /// unit each.
    fn on_range(
        &self,
        st: &mut RxState,
        offset: u32,
        len: u32,
        skip: usize,
        unbounded: bool,
    ) -> RangeEnd {
        let dp = &self.dp;
        let RxState {
            scratch,
            budget,
            rx_csum,
            ..
        } = st;
        if !budget.take(unbounded) {
            return RangeEnd::Paused(skip);
        }
        let section = dp.recv_section.load(ordering::Relaxed) as usize;
        if !transfer::range_ok(offset, len, dp.recv.len(), section.min(scratch.len())) {
            dp.bad(
                "receive range outside the buffer",
                u64::from(offset) << 32 | u64::from(len),
            );
            return RangeEnd::Done(false);
        }
        let (offset, len) = (offset as usize, len as usize);
        if skip == 0 {
            // The headers first: a range that is one data message gets its frame copied
            // straight from the receive buffer into the skb.
            let head = &mut scratch[..len.min(RECEIVE_HEAD)];
            if dp.recv.read(offset, head).is_err() {
                dp.bad("receive range unreadable", offset as u64);
                return RangeEnd::Done(false);
            }
            if let Some(frame) = in_place_frame(head, len) {
                self.on_frame_in_place(offset, &frame, *rx_csum);
                return RangeEnd::Done(true);
            }
        }
        let Some(buf) = scratch.get_mut(skip..len) else {
            return RangeEnd::Done(true);
        };
        if dp.recv.read(offset + skip, buf).is_err() {
            dp.bad("receive range unreadable", offset as u64);
            return RangeEnd::Done(false);
        }
        let mut at = 0;
        while at < buf.len() {
            // The first message's unit was taken above.
            if at > 0 && !budget.take(unbounded) {
                return RangeEnd::Paused(skip + at);
            }
            match rndis::Message::split(&buf[at..]) {
                Ok((msg, rest)) => {
                    at = buf.len() - rest.len();
                    self.on_message(&msg, *rx_csum);
                }
                Err(_) => {
                    dp.bad("malformed RNDIS message", (buf.len() - at) as u64);
                    break;
                }
            }
        }
        RangeEnd::Done(true)
    }

    fn on_message(&self, msg: &rndis::Message<'_>, rx_csum: bool) {
        let dp = &self.dp;
        match msg.kind() {
            Ok(rndis::MessageType::Packet) => self.on_frame(msg, rx_csum),
            Ok(rndis::MessageType::IndicateStatus) => self.on_status(msg),
            Ok(
                rndis::MessageType::InitializeComplete
                | rndis::MessageType::QueryComplete
                | rndis::MessageType::SetComplete
                | rndis::MessageType::KeepaliveComplete
                | rndis::MessageType::ResetComplete,
            ) => {
                let id = msg
                    .body
                    .get(..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                match id {
                    Some(id) if dp.control.deliver(Awaited::Rndis(id), msg.body) => {}
                    _ => bump(&dp.counters.host_unknown_completions),
                }
            }
            _ => dp.bad("unexpected RNDIS message", u64::from(msg.msg_type)),
        }
    }

    fn on_frame(&self, msg: &rndis::Message<'_>, rx_csum: bool) {
        let dp = &self.dp;
        let p = match msg.packet() {
            Ok(p) => p,
            Err(_) => {
                dp.bad("malformed RNDIS data message", msg.body.len() as u64);
                dp.ndev.rx_dropped();
                return;
            }
        };
        if p.data.len() < 14 {
            bump(&dp.counters.rx_bad_frames);
            dp.ndev.rx_dropped();
            return;
        }
        let (hash, csum_ok) = frame_hints(&p, rx_csum);
        if dp.ndev.receive(self.queue, p.data, hash, csum_ok).is_err() {
            bump(&dp.counters.rx_bad_frames);
        }
    }

    fn on_frame_in_place(&self, range_offset: usize, frame: &InPlaceFrame<'_>, rx_csum: bool) {
        let dp = &self.dp;
        let view = rndis::PacketView {
            data: &[],
            per_packet_info: frame.ppi,
        };
        let (hash, csum_ok) = frame_hints(&view, rx_csum);
        let at = range_offset + frame.data_offset;
        if dp
            .ndev
            .receive_in_place(self.queue, &dp.recv, at, frame.data_len, hash, csum_ok)
            .is_err()
        {
            bump(&dp.counters.rx_bad_frames);
        }
    }

    fn on_status(&self, msg: &rndis::Message<'_>) {
        let Ok(s) = msg.fixed::<rndis::IndicateStatus>() else {
            self.dp
                .bad("short status indication", msg.body.len() as u64);
            return;
        };
        match s.status {
            rndis::STATUS_MEDIA_CONNECT => self.dp.ndev.set_carrier(true),
            rndis::STATUS_MEDIA_DISCONNECT => self.dp.ndev.set_carrier(false),
            _ => {}
        }
    }
}
