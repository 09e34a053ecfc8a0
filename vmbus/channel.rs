// SPDX-License-Identifier: GPL-2.0
//! Open channels: OPENCHANNEL / OPENCHANNEL_RESULT and CLOSECHANNEL around a ring-buffer GPADL,
//! sending packets into the guest → host ring (in-band here, GPA-direct in
//! `channel_gpa_direct.rs`), and running a driver's packet handler on what arrives in the
//! host → guest ring (`drivers/hv/channel.c` and the batched mode of `vmbus_on_event()` in
//! `connection.c` are the C counterparts).
//!
//! Receiving: the interrupt handler finds the channel by the relid of its event flag, masks
//! the ring's interrupts and queues the channel's work on the BH workqueue of the same CPU, the
//! CPU the host interrupts for this channel (its target VP). The work copies each packet out of
//! the ring, checks it, and hands the copy to the handler; then it publishes the read index,
//! unmasks and looks once more, so a packet published meanwhile is not stranded; one run takes
//! at most a budget of packets and requeues itself for the rest (`proto::drain`), so a host
//! that keeps moving `write_index` cannot keep the CPU for ever. A packet the
//! host got wrong fails the channel: logged once (rate-limited), no further packets are read
//! and sends fail with `EIO`.

use crate::channel_stats::Counter;
use crate::connection::{Connection, Expect};
use crate::gpadl;
use crate::platform::hooks::ratelimit;
use crate::platform::hypercall;
use crate::platform::page::{SharedPages, HV_PAGE_SIZE};
use crate::proto::drain::{drain, DrainTarget, Next};
use crate::proto::ring::{
    PacketDescriptor, PacketType, DESCRIPTOR_SIZE, PACKET_FLAG_COMPLETION_REQUESTED,
};
use crate::proto::vmbus::{
    parse, CloseChannel, MessageHeader, MessageType, OpenChannel as OpenChannelMsg, OpenResult,
    MAX_USER_DEFINED_BYTES, STATUS_SUCCESS,
};
use crate::ring::{InRing, OutRing, RingFault, RingLayout};
use crate::sysfs::{ChannelState, DeviceInfo};
use kernel::cpu::CpuId;
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::{new_spinlock, new_spinlock_irq, Arc, SpinLock, SpinLockIrq};
use kernel::workqueue::{self, impl_has_work, new_work, Work, WorkItem};
use zerocopy::{FromZeros, IntoBytes};

/// How long the host may take to answer OPENCHANNEL.
const OPEN_TIMEOUT_MS: u32 = 10_000;
/// Drain rounds per run of the channel work before it yields the CPU and requeues itself.
pub(crate) const DRAIN_ROUNDS: u32 = 8;
/// Packets per run of the channel work, all rounds together: a host that keeps publishing
/// packets gets the CPU back from the guest after this many, the rest waits for the next run.
pub(crate) const DRAIN_BUDGET: u32 = 256;
/// Most pages a GPA-direct packet may name (keeps the packet on the stack).
pub const MAX_GPA_DIRECT_PAGES: usize = 32;

/// A packet from the host, copied out of the ring and checked.
pub struct Packet<'a> {
    /// The raw packet type (`proto::ring::PacketType`).
    pub packet_type: u16,
    /// `PACKET_FLAG_*` of the descriptor.
    pub flags: u16,
    /// The transaction id (echoed in completions).
    pub trans_id: u64,
    /// The bytes between the descriptor and the payload (transfer-page or GPA-direct headers).
    pub header: &'a [u8],
    /// The payload.
    pub payload: &'a [u8],
}

impl Packet<'_> {
    /// The packet type, if it is a known one.
    pub fn kind(&self) -> Option<PacketType> {
        PacketType::try_from(self.packet_type).ok()
    }

    /// Whether the host wants a completion.
    pub fn completion_requested(&self) -> bool {
        self.flags & PACKET_FLAG_COMPLETION_REQUESTED != 0
    }
}

/// A driver's receiver of a channel's packets. Runs with bottom halves disabled, normally on
/// the channel's target CPU (in softirq context, or in a sender's context for
/// [`OpenChannel::send_polled`]), never concurrently with itself: it must not sleep.
pub trait PacketHandler: Send + Sync {
    /// Called for each packet, in ring order.
    fn on_packet(&self, channel: &Channel, packet: &Packet<'_>);

    /// Called once after a send failed with `EAGAIN` (the guest → host ring was full) and
    /// the host has since made room for that packet (the `pending_send_sz` protocol): retry
    /// the sends held back. Same context as [`PacketHandler::on_packet`]. The default does
    /// nothing.
    fn on_send_space(&self, channel: &Channel) {
        let _ = channel;
    }

    /// Called after each run of [`PacketHandler::on_packet`] calls that emptied the ring (or
    /// spent a round), before the host is told what was read: the place to send the interrupt
    /// owed for packets written with [`Channel::send_packet_batched`]. Same context as
    /// [`PacketHandler::on_packet`]. The default does nothing.
    fn on_drained(&self, channel: &Channel) {
        let _ = channel;
    }

    /// Called by [`Channel::poll`] before it reads each packet: `false` ends the poll there,
    /// the packet left in the ring for a later poll. For a handler whose poll budget counts
    /// other things than packets (e.g. frames, of which one packet may carry many), or that
    /// cannot take more packets now (e.g. it holds back completions until the guest → host
    /// ring has room, [`PacketHandler::on_send_space`]). Same context as
    /// [`PacketHandler::on_packet`]; only asked in polled mode. The default: `true`.
    fn wants_packets(&self) -> bool {
        true
    }

    /// Called in interrupt context when the host signalled the channel, its ring's interrupt
    /// masked: `true` takes the packets into the driver's own poll loop (see
    /// [`Channel::poll`]; e.g. schedule a NAPI instance), `false` (the default) has them
    /// delivered from the channel's work item.
    fn on_interrupt(&self, channel: &Channel) -> bool {
        let _ = channel;
        false
    }
}

/// How to open a channel.
#[derive(Clone, Copy)]
pub struct OpenParams {
    /// Data bytes of the guest → host ring, a multiple of 4096.
    pub send_ring_size: usize,
    /// Data bytes of the host → guest ring, a multiple of 4096.
    pub recv_ring_size: usize,
    /// The CPU whose vCPU the host interrupts for this channel (default: CPU 0).
    pub target_cpu: Option<CpuId>,
    /// OPENCHANNEL's device-defined bytes.
    pub user_data: [u8; MAX_USER_DEFINED_BYTES],
}

impl OpenParams {
    /// Rings of `send` and `recv` data bytes, CPU 0, no user data.
    pub const fn new(send: usize, recv: usize) -> Self {
        Self {
            send_ring_size: send,
            recv_ring_size: recv,
            target_cpu: None,
            user_data: [0; MAX_USER_DEFINED_BYTES],
        }
    }
}

/// One page range of a GPA-direct packet: `len` bytes from `offset` into the first of `pfns`.
pub struct GpaDirectRange<'a> {
    /// Offset into the first page.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
    /// The pages, in order (4 KiB PFNs).
    pub pfns: &'a [u64],
}

/// The descriptor of a packet of type `ty` whose payload follows it directly (in-band data,
/// completions): no transfer-page or GPA-direct header in between.
fn simple_descriptor(
    ty: PacketType,
    payload: &[u8],
    trans_id: u64,
    completion: bool,
) -> Result<PacketDescriptor> {
    let len = DESCRIPTOR_SIZE as usize + payload.len();
    Ok(PacketDescriptor {
        packet_type: ty as u16,
        offset8: (DESCRIPTOR_SIZE / 8) as u16,
        len8: u16::try_from(len.div_ceil(8)).map_err(|_| EMSGSIZE)?,
        flags: if completion {
            PACKET_FLAG_COMPLETION_REQUESTED
        } else {
            0
        },
        trans_id,
    })
}

#[path = "channel_gpa_direct.rs"]
mod gpa_direct;
#[path = "channel_poll.rs"]
mod poll;
#[path = "channel_ring_debug.rs"]
mod ring_debug;

struct Receiver {
    ring: InRing,
    buf: KVec<u8>,
}

/// The receiving half of a channel as a drain works on it (`proto::drain`), the receiver's
/// lock held.
struct Draining<'a> {
    channel: &'a Channel,
    rx: &'a mut Receiver,
}

impl DrainTarget for Draining<'_> {
    fn next(&mut self) -> Next {
        self.channel.handle_next(self.rx)
    }

    fn finish(&mut self) -> bool {
        self.channel.finish_reading(self.rx)
    }

    fn unmask_and_look(&mut self) -> Option<bool> {
        let ring = &mut self.rx.ring;
        ring.set_interrupt_mask(&self.channel.pages, false).ok()?;
        match ring.has_data(&self.channel.pages) {
            Ok(more) => Some(more),
            Err(fault) => {
                self.channel
                    .fail("bad write index in the host → guest ring", fault);
                None
            }
        }
    }

    fn mask(&mut self) {
        let _ = self.rx.ring.set_interrupt_mask(&self.channel.pages, true);
    }
}

/// An open channel, as the packet handler sees it: it can send.
#[pin_data]
pub struct Channel {
    conn: Arc<Connection>,
    info: Arc<DeviceInfo>,
    pages: SharedPages,
    gpadl: u32,
    #[pin]
    out: SpinLockIrq<OutRing>,
    #[pin]
    inbound: SpinLock<Receiver>,
    in_layout: RingLayout,
    out_layout: RingLayout,
    handler: KBox<dyn PacketHandler>,
    failed: Atomic<bool>,
    closed: Atomic<bool>,
    #[pin]
    work: Work<Channel>,
}

impl_has_work! {
    impl HasWork<Self> for Channel { self.work }
}

impl Channel {
    /// The relid (for log messages).
    pub fn relid(&self) -> u32 {
        self.info.offer().relid
    }

    /// The channel's offer.
    pub(crate) fn info(&self) -> &Arc<DeviceInfo> {
        &self.info
    }

    fn usable(&self) -> Result {
        if self.closed.load(ordering::Acquire) || self.info.is_rescinded() {
            return Err(ENODEV);
        }
        if self.failed.load(ordering::Acquire) {
            return Err(EIO);
        }
        Ok(())
    }

    fn fail(&self, what: &str, fault: RingFault) {
        if self.failed.xchg(true, ordering::Relaxed) {
            return;
        }
        if ratelimit() {
            let instance = self.info.offer().instance;
            let mut text = [0u8; 36];
            instance.format(&mut text);
            pr_err!(
                "channel {} ({}): {}: {:?}; channel failed\n",
                self.relid(),
                core::str::from_utf8(&text).unwrap_or("?"),
                what,
                fault
            );
        }
    }

    fn write(&self, parts: &[&[u8]]) -> Result {
        if self.write_unsignalled(parts)? {
            self.signal();
        }
        Ok(())
    }

    /// Writes a packet; returns whether the host must be signalled for it.
    fn write_unsignalled(&self, parts: &[&[u8]]) -> Result<bool> {
        self.usable()?;
        let stats = self.info.stats();
        let mut out = self.out.lock();
        let signal = match out.write(&self.pages, parts) {
            Ok(signal) => {
                stats.ring_not_full();
                if signal {
                    stats.count(Counter::IntrOutEmpty);
                }
                signal
            }
            Err(RingFault::Full) => {
                stats.ring_full();
                return Err(EAGAIN);
            }
            Err(RingFault::Local(e)) => return Err(e),
            Err(fault) => {
                self.fail("bad read index in the guest → host ring", fault);
                return Err(EIO);
            }
        };
        Ok(signal)
    }

    /// Interrupts the host for this channel: after [`Channel::send_batched`] said it must be.
    #[inline(never)]
    pub fn signal(&self) {
        self.info.stats().count(Counter::Events);
        let offer = self.info.offer();
        self.conn
            .signal_channel(offer.relid, offer.connection_id, offer.dedicated_interrupt);
    }

    /// Like [`Channel::send`] but leaves the interrupt to the caller, who batches packets:
    /// returns whether the host must be signalled, which the caller does once with
    /// [`Channel::signal`] after the last packet of the batch.
    #[inline(never)]
    pub fn send_batched(&self, payload: &[u8], trans_id: u64, completion: bool) -> Result<bool> {
        let desc = simple_descriptor(PacketType::DataInband, payload, trans_id, completion)?;
        self.write_unsignalled(&[desc.as_bytes(), payload])
    }

    /// Like [`Channel::send_packet`] but leaves the interrupt to the caller (as
    /// [`Channel::send_batched`] does), for packets of any type, e.g. completions sent from
    /// [`PacketHandler::on_packet`] and signalled once from [`PacketHandler::on_drained`].
    #[inline(never)]
    pub fn send_packet_batched(
        &self,
        ty: PacketType,
        payload: &[u8],
        trans_id: u64,
        completion: bool,
    ) -> Result<bool> {
        let desc = simple_descriptor(ty, payload, trans_id, completion)?;
        self.write_unsignalled(&[desc.as_bytes(), payload])
    }

    /// Sends `payload` in-band; `completion` asks the host for a completion packet.
    /// `EAGAIN` if the ring is full now (the handler's [`PacketHandler::on_send_space`] is
    /// called when the host has made room), `EIO` if the channel failed, `ENODEV` if it is
    /// closed or rescinded.
    #[inline(never)]
    pub fn send(&self, payload: &[u8], trans_id: u64, completion: bool) -> Result {
        self.send_packet(PacketType::DataInband, payload, trans_id, completion)
    }

    /// Sends a packet of type `ty` with `payload` (e.g. a completion).
    #[inline(never)]
    pub fn send_packet(
        &self,
        ty: PacketType,
        payload: &[u8],
        trans_id: u64,
        completion: bool,
    ) -> Result {
        let desc = simple_descriptor(ty, payload, trans_id, completion)?;
        self.write(&[desc.as_bytes(), payload])
    }

    /// Masks the ring and queues the channel's work on this CPU (interrupt context).
    pub(crate) fn schedule(this: Arc<Self>) {
        if this.closed.load(ordering::Relaxed) || this.failed.load(ordering::Relaxed) {
            return;
        }
        let _ = this.inbound_mask(true);
        if this.handler.on_interrupt(&this) {
            return;
        }
        // Already queued is fine: the queued run sees the new packets.
        let _ = workqueue::system_bh().enqueue(this);
    }

    fn inbound_mask(&self, masked: bool) -> Result {
        self.in_layout.index_mask(&self.pages, masked)
    }

    /// Reads and handles packets until the ring is empty or the run's budget
    /// ([`DRAIN_BUDGET`] packets in [`DRAIN_ROUNDS`] rounds) is spent; returns whether packets
    /// remain.
    fn drain(&self) -> bool {
        self.drain_locked(&mut self.inbound.lock())
    }

    /// Reads the next packet of the host → guest ring and hands it to the handler; a packet
    /// the host got wrong fails the channel.
    fn handle_next(&self, rx: &mut Receiver) -> Next {
        if self.usable().is_err() {
            return Next::Failed;
        }
        let Receiver { ring, buf } = rx;
        let p = match ring.read(&self.pages, buf) {
            Ok(Some(p)) => p,
            Ok(None) => return Next::Empty,
            Err(fault) => {
                self.fail("bad packet in the host → guest ring", fault);
                return Next::Failed;
            }
        };
        let packet = Packet {
            packet_type: p.descriptor.packet_type,
            flags: p.descriptor.flags,
            trans_id: p.descriptor.trans_id,
            header: &buf[DESCRIPTOR_SIZE as usize..p.data_offset as usize],
            payload: &buf[p.data_offset as usize..p.len as usize],
        };
        self.handler.on_packet(self, &packet);
        Next::Handled
    }

    /// Tells the handler the run of packets is over, then the host what was read (with an
    /// interrupt if it waits for room); `false` if the ring failed the channel.
    fn finish_reading(&self, rx: &mut Receiver) -> bool {
        self.handler.on_drained(self);
        match rx.ring.commit(&self.pages) {
            Ok(true) => {
                self.info.stats().count(Counter::IntrInFull);
                self.signal();
                true
            }
            Ok(false) => true,
            Err(fault) => {
                self.fail("bad host → guest ring", fault);
                false
            }
        }
    }

    /// [`Channel::drain`] with the receiver's lock held.
    fn drain_locked(&self, rx: &mut Receiver) -> bool {
        drain(
            &mut Draining { channel: self, rx },
            DRAIN_ROUNDS,
            DRAIN_BUDGET,
        )
    }
}

impl Channel {
    /// Tells the handler if the host made the room a failed send asked for.
    fn check_send_space(&self) {
        if self.usable().is_err() {
            return;
        }
        let back = self.out.lock().room_returned(&self.pages);
        match back {
            Ok(true) => self.handler.on_send_space(self),
            Ok(false) => {}
            Err(RingFault::Host(e)) => self.fail(
                "bad read index in the guest → host ring",
                RingFault::Host(e),
            ),
            Err(_) => {}
        }
    }
}

impl WorkItem for Channel {
    type Pointer = Arc<Channel>;

    fn run(this: Arc<Channel>) {
        // The host signals the relid both for new packets and for room it made.
        this.check_send_space();
        if this.drain() {
            let _ = workqueue::system_bh().enqueue(this);
        }
    }
}

impl RingLayout {
    fn index_mask(&self, pages: &SharedPages, masked: bool) -> Result {
        InRing::new(*self).set_interrupt_mask(pages, masked)
    }
}

#[path = "channel_send_polled.rs"]
mod send_polled;

/// A channel a driver has opened; closed when dropped.
pub struct OpenChannel {
    channel: Arc<Channel>,
}

impl OpenChannel {
    /// A reference to the channel for a driver's poll loop ([`Channel::poll`]); it keeps the
    /// channel's memory, not the channel open: once `self` is dropped, polling finds nothing.
    pub fn shared(&self) -> Arc<Channel> {
        self.channel.clone()
    }
}

impl core::ops::Deref for OpenChannel {
    type Target = Channel;

    fn deref(&self) -> &Channel {
        &self.channel
    }
}

fn ring_pages(bytes: usize) -> Result<usize> {
    if bytes == 0 || bytes % HV_PAGE_SIZE != 0 {
        return Err(EINVAL);
    }
    Ok(bytes / HV_PAGE_SIZE)
}

/// Opens the channel of `info` with `params`; `handler` gets its packets.
pub(crate) fn open(
    info: &Arc<DeviceInfo>,
    params: &OpenParams,
    handler: KBox<dyn PacketHandler>,
) -> Result<OpenChannel> {
    let conn = info.connection().ok_or(ENODEV)?.clone();
    if info.is_rescinded() {
        return Err(ENODEV);
    }
    let relid = info.offer().relid;
    let send_pages = ring_pages(params.send_ring_size)?;
    let recv_pages = ring_pages(params.recv_ring_size)?;
    let target = params
        .target_cpu
        .unwrap_or(CpuId::from_u32(0).ok_or(EINVAL)?);
    // The target stays online until the host knows the channel targets it (then a CPU
    // going offline moves the channel first).
    let _cpus = crate::platform::CpusReadGuard::new();
    if !crate::platform::cpu_online(target) {
        return Err(EINVAL);
    }
    let pages = SharedPages::new(2 + send_pages + recv_pages)?;
    let out_layout = RingLayout::new(0, send_pages)?;
    let in_layout = RingLayout::new(1 + send_pages, recv_pages)?;
    out_layout.init(&pages)?;
    in_layout.init(&pages)?;
    let handle = conn.establish_gpadl(relid, &pages)?;
    let mut buf = KVec::new();
    let in_ring = InRing::new(in_layout);
    if let Err(e) = buf.resize(in_ring.max_packet(), 0, GFP_KERNEL) {
        gpadl::release(&conn, info, handle, &pages);
        return Err(e.into());
    }
    let conn_for_channel = conn.clone();
    let channel = Arc::pin_init(
        try_pin_init!(Channel {
            conn: conn_for_channel,
            info: info.clone(),
            pages,
            gpadl: handle,
            out <- new_spinlock_irq!(OutRing::new(out_layout), "rhv_vmbus_out_ring"),
            inbound <- new_spinlock!(Receiver { ring: in_ring, buf }, "rhv_vmbus_in_ring"),
            in_layout,
            out_layout,
            handler,
            failed: Atomic::new(false),
            closed: Atomic::new(false),
            work <- new_work!("rhv_vmbus_channel"),
        }),
        GFP_KERNEL,
    )?;
    let opened = OpenChannel { channel };
    // From here on, dropping `opened` closes the channel and tears the GPADL down.
    if let Err(e) = conn.attach_channel(relid, opened.channel.clone()) {
        // Open already (by another opener): leave the host's channel alone.
        opened.channel.closed.store(true, ordering::Release);
        return Err(e);
    }
    let mut m = OpenChannelMsg::new_zeroed();
    m.header = MessageHeader::new(MessageType::OpenChannel);
    m.child_relid = relid;
    m.openid = relid;
    m.ringbuffer_gpadlhandle = handle;
    m.target_vp = hypercall::vp_index(target);
    m.downstream_ringbuffer_pageoffset = (1 + send_pages) as u32;
    m.userdata = params.user_data;
    let expect = Expect::keyed(MessageType::OpenChannelResult, relid, relid);
    let answer = conn.request_with(expect, OPEN_TIMEOUT_MS, |post| post(m.as_bytes()))?;
    let (result, _) = parse::<OpenResult>(answer.bytes()).map_err(|_| EPROTO)?;
    if result.status != STATUS_SUCCESS {
        if ratelimit() {
            pr_warn!(
                "channel {}: the host refused to open it: status {:#x}\n",
                relid,
                { result.status }
            );
        }
        // Never opened: nothing to close on the host, but the GPADL goes.
        opened.channel.closed.store(true, ordering::Release);
        return Err(EIO);
    }
    info.set_target_cpu(target.as_u32());
    info.set_state(ChannelState::Opened);
    Ok(opened)
}

impl Drop for OpenChannel {
    fn drop(&mut self) {
        let ch = &self.channel;
        let relid = ch.relid();
        // No MODIFYCHANNEL for the channel after its CLOSECHANNEL.
        let moves = ch.conn.lock_retarget();
        let was_closed = ch.closed.xchg(true, ordering::Full);
        drop(ch.conn.detach_channel(relid));
        // A handler that found the channel before the detach may still queue the work: let it
        // end, so it neither queues after the cancel nor drops the last reference in hard irq.
        crate::platform::wait_for_interrupt_handlers();
        // SAFETY: `work` is an initialised work item of a live channel; after this returns
        // it neither runs nor is queued, and the interrupt handler no longer finds the
        // channel to queue it again.
        unsafe { kernel::bindings::cancel_work_sync(Work::raw_get(&ch.work)) };
        if !was_closed && !ch.info.is_rescinded() && ch.conn.is_connected() {
            let m = CloseChannel {
                header: MessageHeader::new(MessageType::CloseChannel),
                child_relid: relid,
            };
            if let Err(e) = ch.conn.post_message(m.as_bytes()) {
                if ratelimit() {
                    pr_warn!("channel {}: CLOSECHANNEL not sent: {:?}\n", relid, e);
                }
            }
        }
        ch.info.set_state(ChannelState::Offered);
        drop(moves);
        // The pages are freed with the last reference to the channel, unless the host did not
        // confirm the teardown: then they are leaked.
        gpadl::release(&ch.conn, &ch.info, ch.gpadl, &ch.pages);
    }
}
