// SPDX-License-Identifier: GPL-2.0
//! What the channels of a device share while it is connected: the receive and send buffers
//! (GPADLs), the send sections, the request slot and the counters; and the packet handler of
//! each channel (called from the poll of the queue's NAPI instance, on the channel's CPU).
//!
//! From the host: transfer-page packets (RNDIS messages in receive-buffer ranges: frames go to
//! GRO, control answers to the waiting request, status indications set
//! the carrier; each packet is completed once copied out), completions of the guest's sends
//! (the section comes free, a stopped queue is woken) and NVSP messages (the send indirection
//! table). Every range, length, offset and id the host names is checked; what fails a check is
//! dropped and counted (`host_bad_packets`, `host_unknown_completions` in `ethtool -S`).

use crate::buffer::SharedBuffer;
use crate::control::{Awaited, Control};
use crate::netdev::{ratelimit, NetDevice, MAX_QUEUES};
use crate::proto::{ndis, nvsp, rndis};
use crate::sections::Sections;
use crate::transfer::{self, TransId, TransferError};
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::{new_spinlock, new_spinlock_irq, Arc, SpinLock, SpinLockIrq};
use vmbus::proto::ring::TransferPageRange;
use vmbus::{Channel, GpadlBuffer, Packet, PacketHandler, PacketType};
use zerocopy::FromBytes;

/// The transfer-page set id the guest gives its receive buffer.
pub(crate) const RECEIVE_BUFFER_ID: u16 = nvsp::LINUX_RECEIVE_BUFFER_ID;
/// Largest RNDIS message taken from the receive buffer (a 9000-byte MTU frame and headers).
pub(crate) const MAX_RECEIVE_MESSAGE: usize = 12 * 1024;

/// Counters reported by `ethtool -S` (the order of the names in shim.c).
pub(crate) struct Counters {
    /// Malformed packets, ranges, messages from the host.
    pub(crate) host_bad_packets: Atomic<u64>,
    /// Completions and answers that match nothing sent.
    pub(crate) host_unknown_completions: Atomic<u64>,
    /// Transmissions deferred for want of a send section.
    pub(crate) tx_busy: Atomic<u64>,
    /// Transmissions deferred because the ring was full.
    pub(crate) tx_ring_full: Atomic<u64>,
    /// Frames the host completed with a failure status.
    pub(crate) tx_dropped_host: Atomic<u64>,
    /// Received frames too short or without room.
    pub(crate) rx_bad_frames: Atomic<u64>,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            host_bad_packets: Atomic::new(0),
            host_unknown_completions: Atomic::new(0),
            tx_busy: Atomic::new(0),
            tx_ring_full: Atomic::new(0),
            tx_dropped_host: Atomic::new(0),
            rx_bad_frames: Atomic::new(0),
        }
    }

    pub(crate) fn values(&self) -> [u64; crate::netdev::COUNTERS] {
        [
            self.host_bad_packets.load(ordering::Relaxed),
            self.host_unknown_completions.load(ordering::Relaxed),
            self.tx_busy.load(ordering::Relaxed),
            self.tx_ring_full.load(ordering::Relaxed),
            self.tx_dropped_host.load(ordering::Relaxed),
            self.rx_bad_frames.load(ordering::Relaxed),
        ]
    }
}

/// Adds one to a counter.
pub(crate) fn bump(c: &Atomic<u64>) {
    c.fetch_add(1, ordering::Relaxed);
}

/// The shared state of a connected device.
#[pin_data]
pub(crate) struct Datapath {
    pub(crate) ndev: Arc<NetDevice>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) recv: SharedBuffer,
    pub(crate) send: SharedBuffer,
    #[pin]
    pub(crate) sections: SpinLockIrq<Sections>,
    #[pin]
    pub(crate) control: Control,
    /// Receive checksum offload is on: the host's checksum per-packet info is believed.
    pub(crate) rx_csum: Atomic<bool>,
    /// Bytes per receive-buffer section, as the host cut it (0 before it did).
    pub(crate) recv_section: Atomic<u32>,
    /// Bytes per send-buffer section (0 before the host took the send buffer).
    pub(crate) send_section: Atomic<u32>,
    /// The transmit queues the driver stopped (bit per queue), for lack of a section or of
    /// ring room: a completion or room in the ring wakes them, and only then is the stack
    /// asked about its queues.
    stopped: Atomic<u32>,
    /// The host's send indirection table: queue per hash bucket.
    #[pin]
    pub(crate) indirection: SpinLockIrq<[u32; nvsp::SEND_INDIRECTION_TABLE_SIZE]>,
}

impl Datapath {
    pub(crate) fn new(
        ndev: Arc<NetDevice>,
        counters: Arc<Counters>,
        recv: GpadlBuffer,
        send: GpadlBuffer,
    ) -> Result<Arc<Self>> {
        let recv = SharedBuffer::new(recv)?;
        let send = SharedBuffer::new(send)?;
        Arc::pin_init(
            pin_init!(Self {
                ndev,
                counters,
                recv,
                send,
                sections <- new_spinlock_irq!(Sections::empty()),
                control <- Control::new(),
                rx_csum: Atomic::new(false),
                recv_section: Atomic::new(0),
                send_section: Atomic::new(0),
                stopped: Atomic::new(0),
                indirection <- new_spinlock_irq!([0; nvsp::SEND_INDIRECTION_TABLE_SIZE]),
            }),
            GFP_KERNEL,
        )
    }

    /// Stops transmit queue `q` until [`Datapath::wake_stopped_queues`].
    pub(crate) fn stop_queue(&self, q: u16) {
        self.ndev.stop_queue(q);
        // ORDERING: full: the bit is set before the caller's look at the sections (under
        // their lock) for one freed meanwhile; a completion frees its section under that lock
        // and reads the bits after it, so one of the two sees the other.
        self.update_stopped(|bits| bits | 1 << (q % 32));
    }

    /// Changes the stopped bits with `f` (a full barrier).
    fn update_stopped(&self, f: impl Fn(u32) -> u32) {
        let mut old = self.stopped.load(ordering::Relaxed);
        while let Err(now) = self.stopped.cmpxchg(old, f(old), ordering::Full) {
            old = now;
        }
    }

    /// Wakes transmit queue `q`, which [`Datapath::stop_queue`] stopped.
    pub(crate) fn wake_queue(&self, q: u16) {
        self.update_stopped(|bits| bits & !(1 << (q % 32)));
        self.ndev.wake_queue(q);
    }

    /// Wakes every transmit queue the driver stopped, if any (one load when none is). The
    /// send sections are shared by all queues, so the section one queue's completion frees
    /// may be what another, stopped queue waits for; waking only the completing queue left a
    /// queue without sends of its own in flight stopped for good (one TCP stream of several
    /// stalled).
    pub(crate) fn wake_stopped_queues(&self) {
        // ORDERING: see `stop_queue`.
        if self.stopped.load(ordering::Acquire) == 0 {
            return;
        }
        let stopped = self.stopped.xchg(0, ordering::Full);
        // CAST: MAX_QUEUES is 8.
        for q in 0..MAX_QUEUES as u16 {
            if stopped & 1 << q != 0 {
                self.ndev.wake_queue(q);
            }
        }
    }

    fn bad(&self, what: &str, value: u64) {
        bump(&self.counters.host_bad_packets);
        if ratelimit() {
            pr_warn!(
                "rhv_netvsc: dropped from the host: {} ({:#x})\n",
                what,
                value
            );
        }
    }
}

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

/// The packet handler of queue `queue`'s channel.
pub(crate) struct QueueHandler {
    dp: Arc<Datapath>,
    queue: u16,
    scratch: Pin<KBox<SpinLock<KVec<u8>>>>,
    /// Receive completions were written without the interrupt the host is owed for them; it
    /// is sent once the ring is drained (one signal per batch instead of one per packet).
    signal_owed: Atomic<bool>,
}

impl QueueHandler {
    pub(crate) fn boxed(dp: Arc<Datapath>, queue: u16) -> Result<KBox<dyn PacketHandler>> {
        let mut buf = KVec::new();
        buf.resize(MAX_RECEIVE_MESSAGE, 0, GFP_KERNEL)?;
        let scratch = KBox::pin_init(new_spinlock!(buf, "rhv_netvsc_rx_scratch"), GFP_KERNEL)?;
        Ok(KBox::new(
            QueueHandler {
                dp,
                queue,
                scratch,
                signal_owed: Atomic::new(false),
            },
            GFP_KERNEL,
        )?)
    }

    fn on_completion(&self, packet: &Packet<'_>) {
        let dp = &self.dp;
        let id = packet.trans_id;
        let lease = match transfer::trans_id(id) {
            TransId::Request(id) => {
                if !dp.control.deliver(Awaited::Nvsp(id), packet.payload) {
                    bump(&dp.counters.host_unknown_completions);
                }
                return;
            }
            TransId::Data { queue, lease } if queue == self.queue => lease,
            _ => {
                dp.bad("completion with an unknown transaction id", id);
                bump(&dp.counters.host_unknown_completions);
                return;
            }
        };
        let released = dp.sections.lock().release(lease, self.queue);
        match released {
            // The skb the host was reading, if any, is done with (this is the NAPI poll).
            Some(done) => {
                if let Some(skb) = done.skb {
                    skb.consume_in_poll();
                }
            }
            None => {
                dp.bad("completion for a section not in use", id);
                bump(&dp.counters.host_unknown_completions);
                return;
            }
        }
        if let Ok(nvsp::HostMessage::SendRndisPacketComplete(c)) =
            nvsp::HostMessage::parse(packet.payload)
        {
            if c.status != nvsp::STATUS_SUCCESS {
                bump(&dp.counters.tx_dropped_host);
            }
        }
    }

    fn on_inband(&self, packet: &Packet<'_>) {
        match nvsp::HostMessage::parse(packet.payload) {
            Ok(nvsp::HostMessage::SendIndirectionTable(table)) => {
                *self.dp.indirection.lock() = table;
            }
            Ok(nvsp::HostMessage::SendVfAssociation(_)) => {}
            Ok(_) | Err(_) => self.dp.bad("unexpected NVSP message", 0),
        }
    }

    /// A transfer-page packet: the RNDIS messages in its ranges; returns the completion status.
    fn on_transfer(&self, packet: &Packet<'_>) -> u32 {
        let dp = &self.dp;
        let ranges = match transfer::ranges(packet.header, RECEIVE_BUFFER_ID) {
            Ok(r) => r,
            Err(e) => {
                let value = match e {
                    TransferError::Short => 0,
                    TransferError::SetId(id) => u64::from(id),
                    TransferError::Count(n) => n as u64,
                };
                dp.bad("transfer-page header", value);
                return nvsp::STATUS_FAIL;
            }
        };
        match nvsp::HostMessage::parse(packet.payload) {
            Ok(nvsp::HostMessage::SendRndisPacket(_)) => {}
            _ => {
                dp.bad("transfer-page packet without SEND_RNDIS_PKT", 0);
                return nvsp::STATUS_FAIL;
            }
        }
        let section = dp.recv_section.load(ordering::Relaxed) as usize;
        let mut scratch = self.scratch.lock();
        let mut status = nvsp::STATUS_SUCCESS;
        let limit = section.min(scratch.len());
        for raw in ranges.chunks_exact(8) {
            let Ok((r, _)) = TransferPageRange::read_from_prefix(raw) else {
                break;
            };
            let (offset, len) = (r.byte_offset as usize, r.byte_count as usize);
            if !transfer::range_ok(r.byte_offset, r.byte_count, dp.recv.len(), limit) {
                dp.bad(
                    "receive range outside the buffer",
                    (offset as u64) << 32 | len as u64,
                );
                status = nvsp::STATUS_FAIL;
                continue;
            }
            // The headers first: a range that is one data message gets its frame copied
            // straight from the receive buffer into the skb.
            let head = &mut scratch[..len.min(RECEIVE_HEAD)];
            if dp.recv.read(offset, head).is_err() {
                dp.bad("receive range unreadable", offset as u64);
                status = nvsp::STATUS_FAIL;
                continue;
            }
            if let Some(frame) = in_place_frame(head, len) {
                self.on_frame_in_place(offset, &frame);
                continue;
            }
            let buf = &mut scratch[..len];
            if dp.recv.read(offset, buf).is_err() {
                dp.bad("receive range unreadable", offset as u64);
                status = nvsp::STATUS_FAIL;
                continue;
            }
            self.on_messages(buf);
        }
        status
    }

    fn on_messages(&self, mut bytes: &[u8]) {
        let dp = &self.dp;
        while !bytes.is_empty() {
            let (msg, rest) = match rndis::Message::split(bytes) {
                Ok(split) => split,
                Err(_) => {
                    dp.bad("malformed RNDIS message", bytes.len() as u64);
                    return;
                }
            };
            bytes = rest;
            match msg.kind() {
                Ok(rndis::MessageType::Packet) => self.on_frame(&msg),
                Ok(rndis::MessageType::IndicateStatus) => self.on_status(&msg),
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
    }

    fn on_frame(&self, msg: &rndis::Message<'_>) {
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
        let (hash, csum_ok) = frame_hints(&p);
        if dp.ndev.receive(self.queue, p.data, hash, csum_ok).is_err() {
            bump(&dp.counters.rx_bad_frames);
        }
    }

    fn on_frame_in_place(&self, range_offset: usize, frame: &InPlaceFrame<'_>) {
        let dp = &self.dp;
        let view = rndis::PacketView {
            data: &[],
            per_packet_info: frame.ppi,
        };
        let (hash, csum_ok) = frame_hints(&view);
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

/// What the host says of a received frame in its per-packet info: the RSS hash (0: none) and
/// whether it verified the TCP or UDP checksum.
fn frame_hints(p: &rndis::PacketView<'_>) -> (u32, bool) {
    let hash = p.ppi_u32(rndis::PPI_HASH_VALUE).unwrap_or(0);
    let csum_ok = p
        .ppi_u32(rndis::PPI_TCPIP_CHECKSUM)
        .is_some_and(|c| c & (ndis::CSUM_RX_TCP_SUCCEEDED | ndis::CSUM_RX_UDP_SUCCEEDED) != 0);
    (hash, csum_ok)
}

impl QueueHandler {
    /// Writes the completion of a transfer-page packet; the interrupt waits for
    /// [`PacketHandler::on_drained`] unless the ring is full, when the host needs it now to
    /// make room.
    fn complete_receive(&self, channel: &Channel, reply: &[u8], trans_id: u64) {
        let mut tries = 0;
        loop {
            match channel.send_packet_batched(PacketType::Completion, reply, trans_id, false) {
                Ok(signal) => {
                    if signal {
                        self.signal_owed.store(true, ordering::Relaxed);
                    }
                    return;
                }
                Err(EAGAIN) if tries < 1000 => {
                    tries += 1;
                    if self.signal_owed.xchg(false, ordering::Relaxed) {
                        channel.signal();
                    }
                    kernel::time::delay::udelay(kernel::time::Delta::from_micros(10));
                }
                Err(_) => {
                    if ratelimit() {
                        pr_warn!("rhv_netvsc: receive completion not sent\n");
                    }
                    return;
                }
            }
        }
    }
}

impl PacketHandler for QueueHandler {
    /// The queue's NAPI instance reads the ring: every packet is handled in its poll, where
    /// frames go straight to GRO.
    fn on_interrupt(&self, _channel: &Channel) -> bool {
        self.dp.ndev.schedule_poll(self.queue);
        true
    }

    /// Once per poll: the host is told of the receive completions, and the queues stopped
    /// for want of a section or of ring room are woken (the completions read may have freed
    /// sections, the host read the ring).
    fn on_drained(&self, channel: &Channel) {
        if self.signal_owed.xchg(false, ordering::Relaxed) {
            channel.signal();
        }
        self.dp.wake_stopped_queues();
    }

    /// The host made the ring room a send that found it full waited for.
    fn on_send_space(&self, _channel: &Channel) {
        self.dp.wake_stopped_queues();
    }

    fn on_packet(&self, channel: &Channel, packet: &Packet<'_>) {
        match packet.kind() {
            Some(PacketType::Completion) => self.on_completion(packet),
            Some(PacketType::DataUsingTransferPages) => {
                let status = self.on_transfer(packet);
                let reply = nvsp::encode(&nvsp::SendRndisPacketComplete { status });
                self.complete_receive(channel, &reply, packet.trans_id);
            }
            Some(PacketType::DataInband) => self.on_inband(packet),
            _ => self
                .dp
                .bad("VMBus packet type", u64::from(packet.packet_type)),
        }
    }
}
