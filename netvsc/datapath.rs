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
use crate::proto::nvsp;
use crate::receive::RxQueue;
use crate::sections::Sections;
use crate::transfer::{self, TransId};
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::{new_spinlock_irq, Arc, SpinLockIrq};
use vmbus::{Channel, GpadlBuffer, Packet, PacketHandler, PacketType};

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
    /// Receive completions held back because the guest → host ring was full.
    pub(crate) rx_completions_held: Atomic<u64>,
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
            rx_completions_held: Atomic::new(0),
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
            self.rx_completions_held.load(ordering::Relaxed),
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
    /// Sections of the receive buffer, as the host cut it (0 before it did).
    pub(crate) recv_sections: Atomic<u32>,
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
                recv_sections: Atomic::new(0),
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

    /// Counts and logs (rate-limited) something wrong the host sent.
    pub(crate) fn bad(&self, what: &str, value: u64) {
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

/// The packet handler of queue `queue`'s channel; receive is [`RxQueue`]'s, shared with the
/// queue's NAPI poll.
pub(crate) struct QueueHandler {
    dp: Arc<Datapath>,
    queue: u16,
    rx: Arc<RxQueue>,
}

impl QueueHandler {
    /// The handler of queue `queue`, and its receive side for the queue's NAPI poll.
    pub(crate) fn boxed(
        dp: Arc<Datapath>,
        queue: u16,
    ) -> Result<(KBox<dyn PacketHandler>, Arc<RxQueue>)> {
        let rx = RxQueue::new(dp.clone(), queue)?;
        let handler = KBox::new(
            QueueHandler {
                dp,
                queue,
                rx: rx.clone(),
            },
            GFP_KERNEL,
        )?;
        Ok((handler, rx))
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
        if self.rx.take_signal_owed() {
            channel.signal();
        }
        self.dp.wake_stopped_queues();
    }

    /// The host made the ring room a write that found it full waited for: the receive
    /// completions held back go out, the stopped transmit queues are woken.
    fn on_send_space(&self, channel: &Channel) {
        self.rx.on_send_space(channel);
        self.dp.wake_stopped_queues();
    }

    /// The poll's budget counts frames; a packet half-done or completions held back stop it.
    fn wants_packets(&self) -> bool {
        self.rx.wants_packets()
    }

    fn on_packet(&self, channel: &Channel, packet: &Packet<'_>) {
        match packet.kind() {
            Some(PacketType::DataUsingTransferPages) => self.rx.on_transfer(channel, packet),
            Some(PacketType::Completion) => {
                self.rx.charge_packet();
                self.on_completion(packet);
            }
            Some(PacketType::DataInband) => {
                self.rx.charge_packet();
                self.on_inband(packet);
            }
            _ => {
                self.rx.charge_packet();
                self.dp
                    .bad("VMBus packet type", u64::from(packet.packet_type));
            }
        }
    }
}
