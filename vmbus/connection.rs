// SPDX-License-Identifier: GPL-2.0
//! The VMBus connection: negotiating a protocol version with the host (INITIATE_CONTACT /
//! VERSION_RESPONSE), asking for the channel offers (REQUESTOFFERS ... ALLOFFERS_DELIVERED),
//! reacting to offers and rescinds, and disconnecting (UNLOAD / UNLOAD_RESPONSE). The same
//! protocol as `drivers/hv/connection.c` and `channel_mgmt.c`; the message formats are in
//! `proto::vmbus`, the pure decisions in `proto::negotiate` and `proto::offer`.
//!
//! Messages arrive on SINT 2 of the connect CPU. The interrupt handler copies them into the
//! [`Inbox`] and queues the message worker, which handles them one at a time in process
//! context. Answers (VERSION_RESPONSE, GPADL_CREATED, OPENCHANNEL_RESULT, ...) go straight to
//! the one request waiting for them: requests are serialised and park in a single [`Waiter`]
//! until the worker hands them the matching answer or the timeout expires, so the host is never
//! waited for without a limit. Offers, rescinds and ALLOFFERS_DELIVERED go on to the device
//! worker (sub-channels' to the sub-channel worker), in order: registering or removing a device
//! runs driver code that may itself make requests, which the message worker must stay free to
//! answer. The message worker checks each offer and rescind before it queues it: a malformed
//! one, an offer for a relid in use or a rescind of a relid not offered is refused
//! (`proto::relids`), and the queues are bounded (`message_queue.rs`); refusals are counted in
//! `/sys/bus/vmbus/{bad,dropped}_channel_messages`.
//!
//! Channel interrupts arrive as event flags on any CPU: the handler looks the relid up in the
//! table of open channels and schedules that channel's callback on the same CPU (`channel.rs`).

use crate::bus::{BusDevice, DeviceInfo};
use crate::channel::Channel;
use crate::channels::{ChannelTable, Conflict, OfferedChannel};
use crate::inbox::Inbox;
use crate::message_queue::MessageQueue;
use crate::platform::hooks::{self, ratelimit};
use crate::platform::hypercall::{self, is_transient};
use crate::platform::page::SharedPage;
use crate::platform::raw_lock::{new_raw_spinlock_irq, RawSpinLockIrq};
use crate::platform::synic::{Synic, SynicMessage};
use crate::proto::gpadl::GpadlHandles;
use crate::proto::negotiate::{
    contact_connection_id, initiate_contact, interpret_response, versions_to_propose,
    ContactOutcome, ContactParams,
};
use crate::proto::offer::{parse_offer, parse_rescind, OfferError};
use crate::proto::relids::RelidRoutes;
use crate::proto::vmbus::{
    message_type, parse, split_version, GpadlCreated, GpadlTorndown, MessageHeader, MessageType,
    OpenResult, RelidReleased, RequestOffers, Unload, MAX_CHANNEL_RELIDS,
};
use kernel::cpu::CpuId;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::{
    new_condvar, new_spinlock, Arc, ArcBorrow, CondVar, CondVarTimeoutResult, Mutex, SpinLock,
};
use kernel::time::{delay::fsleep, msecs_to_jiffies, Delta};
use kernel::workqueue::{impl_has_work, new_work, Work, WorkItem};
use zerocopy::IntoBytes;

mod messages;
mod retarget;

/// How long the host may take to answer INITIATE_CONTACT.
const CONTACT_TIMEOUT_MS: u32 = 10_000;
/// How long the host may take to deliver all boot-time offers (the C driver's limit).
const OFFERS_TIMEOUT_MS: u32 = 60_000;
/// How long the host may take to answer UNLOAD.
const UNLOAD_TIMEOUT_MS: u32 = 10_000;
/// Messages the inbox holds before the interrupt handler leaves them with the host.
const INBOX_CAPACITY: usize = 64;
/// Messages waiting for the device worker, at most: an offer and a rescind per relid (a relid
/// is offered again only after its release) and a few ALLOFFERS_DELIVERED. More is a flood.
const DEVICE_QUEUE_LIMIT: usize = 2 * MAX_CHANNEL_RELIDS as usize + 8;
/// Messages waiting for the sub-channel worker, at most.
const SUBCHANNEL_QUEUE_LIMIT: usize = 2 * MAX_CHANNEL_RELIDS as usize;
/// Attempts to post a message while the host reports a transient failure.
const POST_ATTEMPTS: u32 = 20;
/// The CPU whose vCPU receives channel messages (CPU 0, as the C driver).
const CONNECT_CPU: u32 = 0;
/// No CPU left a message behind.
const NO_CPU: u32 = u32::MAX;

/// The answer a request waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expect {
    ty: MessageType,
    /// The GPADL handle or relid the answer must carry, for answers that carry one.
    key: Option<u32>,
    /// The channel the request is about: its rescind ends the wait.
    relid: Option<u32>,
}

impl Expect {
    /// An answer of type `ty` with nothing to match.
    pub(crate) const fn plain(ty: MessageType) -> Self {
        Self {
            ty,
            key: None,
            relid: None,
        }
    }

    /// An answer of type `ty` carrying `key`, about channel `relid`.
    pub(crate) const fn keyed(ty: MessageType, key: u32, relid: u32) -> Self {
        Self {
            ty,
            key: Some(key),
            relid: Some(relid),
        }
    }
}

/// Posts one message of a request.
type PostMessage<'a> = dyn Fn(&[u8]) -> Result + 'a;
/// Posts the messages of a request through the [`PostMessage`] it is given.
type SendMessages<'a> = dyn Fn(&PostMessage<'_>) -> Result + 'a;

/// The one outstanding request's expected answer.
struct Waiter {
    expected: Option<Expect>,
    answer: Option<SynicMessage>,
    /// The channel of the request was rescinded: no answer will come.
    aborted: bool,
}

/// The guest's end of the VMBus connection.
#[pin_data]
pub(crate) struct Connection {
    synic: Synic,
    interrupt_page: SharedPage,
    monitor_pages: [SharedPage; 2],
    connect_cpu: CpuId,
    max_version: u32,
    /// Negotiated version; zero while not connected.
    version: Atomic<u32>,
    /// Connection id of guest → host messages.
    msg_conn_id: Atomic<u32>,
    /// CPU that left a message in its slot because the inbox was full, or [`NO_CPU`].
    stalled_cpu: Atomic<u32>,
    /// Taken by the interrupt handler (hard interrupt context): a raw lock, as every lock the
    /// handler takes (the rule is in `platform/raw_lock.rs`).
    #[pin]
    inbox: RawSpinLockIrq<Inbox>,
    #[pin]
    work: Work<Connection>,
    #[pin]
    waiter: Mutex<Waiter>,
    #[pin]
    answered: CondVar,
    /// Serialises requests: one waits at a time.
    #[pin]
    request_lock: Mutex<()>,
    #[pin]
    channels: Mutex<ChannelTable>,
    /// Signalled (under `channels`) when a sub-channel is offered, a channel is rescinded or
    /// the table closes: what [`Connection::wait_subchannels`] waits for.
    #[pin]
    subchannels_changed: CondVar,
    /// Offers, rescinds and ALLOFFERS_DELIVERED for the device worker, in arrival order.
    #[pin]
    device_queue: Mutex<MessageQueue>,
    #[pin]
    device_work: Work<Connection, 1>,
    /// Sub-channel offers and rescinds, for the sub-channel worker: apart from the device
    /// worker, so that a driver's probe running there can wait for sub-channels.
    #[pin]
    subchannel_queue: Mutex<MessageQueue>,
    #[pin]
    subchannel_work: Work<Connection, 2>,
    /// Which relids are offered and which worker their offer went to (so does their rescind):
    /// decided by the message worker for accepted offers, freed by the workers on release.
    #[pin]
    routes: Mutex<RelidRoutes>,
    /// Open channels by relid, for the interrupt handler (hard interrupt context): a raw
    /// lock, held for one lookup or one slot change, never while a channel is dropped.
    #[pin]
    open: RawSpinLockIrq<KVec<Option<Arc<Channel>>>>,
    #[pin]
    gpadl_handles: SpinLock<GpadlHandles>,
    /// Serialises channel moves (MODIFYCHANNEL) with each other and with CLOSECHANNEL.
    #[pin]
    retarget: Mutex<()>,
}

impl_has_work! {
    impl HasWork<Self> for Connection { self.work }
    impl HasWork<Self, 1> for Connection { self.device_work }
    impl HasWork<Self, 2> for Connection { self.subchannel_work }
}

impl Connection {
    /// Allocates the SynIC, interrupt and monitor pages; connects nothing yet.
    pub(crate) fn new(max_version: u32) -> Result<Arc<Self>> {
        let connect_cpu = CpuId::from_u32(CONNECT_CPU).ok_or(EINVAL)?;
        let mut open = KVec::with_capacity(MAX_CHANNEL_RELIDS as usize, GFP_KERNEL)?;
        for _ in 0..MAX_CHANNEL_RELIDS {
            open.push(None, GFP_KERNEL)?;
        }
        Arc::pin_init(
            try_pin_init!(Self {
                synic: Synic::new()?,
                interrupt_page: SharedPage::new()?,
                monitor_pages: [SharedPage::new()?, SharedPage::new()?],
                connect_cpu,
                max_version,
                version: Atomic::new(0),
                msg_conn_id: Atomic::new(0),
                stalled_cpu: Atomic::new(NO_CPU),
                inbox <- new_raw_spinlock_irq!(Inbox::new(INBOX_CAPACITY)?, "rhv_vmbus_inbox"),
                work <- new_work!("rhv_vmbus_messages"),
                waiter <- new_mutex!(Waiter {
                    expected: None,
                    answer: None,
                    aborted: false,
                }),
                answered <- new_condvar!("rhv_vmbus_answered"),
                request_lock <- new_mutex!(()),
                channels <- new_mutex!(ChannelTable::new()),
                subchannels_changed <- new_condvar!("rhv_vmbus_subchannels"),
                device_queue <- new_mutex!(MessageQueue::new(DEVICE_QUEUE_LIMIT)),
                device_work <- new_work!("rhv_vmbus_devices"),
                subchannel_queue <- new_mutex!(MessageQueue::new(SUBCHANNEL_QUEUE_LIMIT)),
                subchannel_work <- new_work!("rhv_vmbus_subchannels"),
                routes <- new_mutex!(RelidRoutes::new()),
                open <- new_raw_spinlock_irq!(open, "rhv_vmbus_open_channels"),
                gpadl_handles <- new_spinlock!(GpadlHandles::new(), "rhv_vmbus_gpadls"),
                retarget <- new_mutex!(()),
            }),
            GFP_KERNEL,
        )
    }

    /// Whether a version has been negotiated and not unloaded.
    fn connected(&self) -> bool {
        self.version.load(ordering::Acquire) != 0
    }

    /// Whether a version has been negotiated and not unloaded.
    pub(crate) fn is_connected(&self) -> bool {
        self.connected()
    }

    /// Posts a message that expects no answer on the message connection.
    pub(crate) fn post_message(&self, message: &[u8]) -> Result {
        self.post(self.msg_conn_id.load(ordering::Relaxed), message)
    }

    /// The sub-channel offers of the device with instance `instance`.
    pub(crate) fn subchannels_of(&self, instance: &crate::Guid) -> Result<KVec<Arc<DeviceInfo>>> {
        self.channels.lock().subchannels_of(instance)
    }

    /// Waits up to `timeout_ms` until `primary`'s device has at least `count` sub-channel
    /// offers and returns them all; `ENODEV` if the primary is rescinded or the connection goes
    /// away meanwhile, `ETIMEDOUT` if fewer arrived in time, `EINTR` on a signal.
    pub(crate) fn wait_subchannels(
        &self,
        primary: &DeviceInfo,
        count: usize,
        timeout_ms: u32,
    ) -> Result<KVec<Arc<DeviceInfo>>> {
        let instance = primary.offer().instance;
        let mut left = msecs_to_jiffies(timeout_ms);
        let mut table = self.channels.lock();
        loop {
            if primary.is_rescinded() || table.is_closed() {
                return Err(ENODEV);
            }
            let subs = table.subchannels_of(&instance)?;
            if subs.len() >= count {
                return Ok(subs);
            }
            match self
                .subchannels_changed
                .wait_interruptible_timeout(&mut table, left)
            {
                CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
                CondVarTimeoutResult::Timeout => return Err(ETIMEDOUT),
                CondVarTimeoutResult::Signal { .. } => return Err(EINTR),
            }
        }
    }

    /// A GPADL handle not used in this connection.
    pub(crate) fn next_gpadl_handle(&self) -> u32 {
        self.gpadl_handles.lock().allocate()
    }

    /// Makes `channel` the receiver of relid `relid`'s interrupts.
    pub(crate) fn attach_channel(&self, relid: u32, channel: Arc<Channel>) -> Result {
        let mut open = self.open.lock();
        let slot = open.get_mut(relid as usize).ok_or(EINVAL)?;
        if slot.is_some() {
            return Err(EBUSY);
        }
        *slot = Some(channel);
        Ok(())
    }

    /// Stops dispatching relid `relid`'s interrupts; returns the channel that got them.
    pub(crate) fn detach_channel(&self, relid: u32) -> Option<Arc<Channel>> {
        self.open.lock().get_mut(relid as usize)?.take()
    }

    /// Tells the host that channel `relid` has news for it.
    ///
    /// Always with HvSignalEvent on the channel's connection id, also for channels the host
    /// offered with a monitor (`monitor_allocated`): the C driver sets the channel's bit in
    /// the second monitor page instead (`vmbus_setevent()`), an optimisation that lets
    /// Hyper-V batch signals, but it signals such channels with HvSignalEvent as well when
    /// they are in low-latency mode, so the host accepts both. We do not implement the
    /// monitor path because nothing could test it: hvsim offers no monitored channel, and
    /// supporting one means a host thread polling the guest's monitor page on a timer,
    /// which would change the timing of every scenario for the C drivers too. The monitor
    /// pages are still given in INITIATE_CONTACT, as the protocol requires.
    pub(crate) fn signal_channel(&self, relid: u32, connection_id: u32, dedicated: bool) {
        if !dedicated {
            // The legacy shared interrupt page: the guest → host half starts in its middle.
            let word = crate::platform::page::HV_PAGE_SIZE / 2 + (relid as usize / 32) * 4;
            let bits = self.interrupt_page.atomic_u32(word);
            let mut old = bits.load(ordering::Relaxed);
            // ORDERING: the hypercall below is the signal; this bit only has to be set
            // before it, which the full barrier of the exchange ensures.
            while let Err(now) = bits.cmpxchg(old, old | 1 << (relid % 32), ordering::Full) {
                old = now;
            }
        }
        if let Err(status) = hypercall::signal_event(connection_id) {
            if ratelimit() {
                pr_warn!(
                    "channel {}: HvSignalEvent failed with status {:#x}\n",
                    relid,
                    status
                );
            }
        }
    }

    // ---- platform events ----

    /// The callback vector fired on `cpu`: consume channel events and the message slot.
    pub(crate) fn on_interrupt(this: ArcBorrow<'_, Self>, cpu: CpuId) {
        this.run_flagged_channels(cpu);
        let queued = {
            let mut inbox = this.inbox.lock();
            if !this.synic.has_message(cpu) {
                false
            } else if inbox.is_full() {
                this.stalled_cpu.store(cpu.as_u32(), ordering::Relaxed);
                false
            } else {
                match this.synic.take_message(cpu) {
                    Some(m) => inbox.push(m).is_ok(),
                    None => false,
                }
            }
        };
        if queued {
            // Already queued is fine: the worker drains everything.
            let _ = crate::platform::system_percpu_workqueue()
                .enqueue::<Arc<Connection>, 0>(Arc::from(this));
        }
    }

    /// Schedules the open channels whose event flags `cpu`'s SynIC has set, clearing the flags.
    fn run_flagged_channels(&self, cpu: CpuId) {
        self.synic.take_events(cpu, |relid| {
            let channel = self
                .open
                .lock()
                .get(relid as usize)
                .and_then(|c| c.as_ref().cloned());
            if let Some(channel) = channel {
                Channel::schedule(channel);
            }
        });
    }

    /// `cpu` comes online (or is online when the module loads): enable its SynIC.
    pub(crate) fn on_cpu_online(&self, cpu: CpuId) -> Result {
        self.synic.enable(cpu)
    }

    /// `cpu` goes offline: the connect CPU must stay while connected, since the host sends
    /// every channel message there.
    pub(crate) fn on_cpu_offline(&self, cpu: CpuId) -> Result {
        if cpu == self.connect_cpu && self.connected() {
            return Err(EBUSY);
        }
        self.move_channels_off(cpu)?;
        // Interrupts for the moved channels now go elsewhere; run what was flagged here
        // before the move (its work goes to another CPU with this CPU's BH queue).
        self.run_flagged_channels(cpu);
        self.synic.disable();
        Ok(())
    }

    /// The machine goes down. On a restart (reboot or kexec) the partition lives on, so
    /// disconnect: the next kernel must find the host ready for a new INITIATE_CONTACT. On
    /// halt and power-off the partition ends with the host's state, so leave it as it is, like
    /// the C driver does.
    pub(crate) fn on_reboot(&self, restart: bool) {
        if restart {
            self.unload();
        }
    }

    // ---- requests to the host ----

    fn post(&self, connection_id: u32, message: &[u8]) -> Result {
        let mut delay_ms = 1;
        for _ in 0..POST_ATTEMPTS {
            match hypercall::post_message(connection_id, message) {
                Ok(()) => return Ok(()),
                Err(status) if is_transient(status) => {
                    fsleep(Delta::from_millis(delay_ms));
                    delay_ms = (delay_ms * 2).min(100);
                }
                Err(status) => {
                    if ratelimit() {
                        pr_err!("HvPostMessage failed with status {:#x}\n", status);
                    }
                    return Err(EIO);
                }
            }
        }
        if ratelimit() {
            pr_err!("the host kept refusing a message\n");
        }
        Err(EAGAIN)
    }

    /// Posts `message` and waits up to `timeout_ms` for an answer of type `answer`.
    fn request(
        &self,
        connection_id: u32,
        message: &[u8],
        answer: MessageType,
        timeout_ms: u32,
    ) -> Result<SynicMessage> {
        self.request_on(connection_id, Expect::plain(answer), timeout_ms, &|post| {
            post(message)
        })
    }

    /// Posts what `send` posts (on the message connection) and waits up to `timeout_ms` for
    /// the answer `expect`; `ENODEV` if the channel is rescinded meanwhile.
    pub(crate) fn request_with(
        &self,
        expect: Expect,
        timeout_ms: u32,
        send: impl Fn(&PostMessage<'_>) -> Result,
    ) -> Result<SynicMessage> {
        if !self.connected() {
            return Err(ENOTCONN);
        }
        let conn = self.msg_conn_id.load(ordering::Relaxed);
        self.request_on(conn, expect, timeout_ms, &send)
    }

    fn request_on(
        &self,
        connection_id: u32,
        expect: Expect,
        timeout_ms: u32,
        send: &SendMessages<'_>,
    ) -> Result<SynicMessage> {
        let _serialised = self.request_lock.lock();
        {
            let mut w = self.waiter.lock();
            w.expected = Some(expect);
            w.answer = None;
            w.aborted = false;
        }
        let posted = send(&|m| self.post(connection_id, m));
        let mut w = self.waiter.lock();
        if let Err(e) = posted {
            w.expected = None;
            return Err(e);
        }
        let mut left = msecs_to_jiffies(timeout_ms);
        let result = loop {
            if let Some(m) = w.answer.take() {
                break Ok(m);
            }
            if w.aborted {
                break Err(ENODEV);
            }
            match self.answered.wait_interruptible_timeout(&mut w, left) {
                CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
                CondVarTimeoutResult::Timeout => break Err(ETIMEDOUT),
                CondVarTimeoutResult::Signal { .. } => break Err(EINTR),
            }
        };
        w.expected = None;
        result
    }

    /// Negotiates the newest version both sides speak, from `max_version` down.
    pub(crate) fn connect(&self) -> Result<u32> {
        let params = ContactParams {
            target_vp: hypercall::vp_index(self.connect_cpu),
            vtl: hypercall::vtl(),
            interrupt_page: self.interrupt_page.gpa(),
            monitor_pages: [self.monitor_pages[0].gpa(), self.monitor_pages[1].gpa()],
            feature_flags: 0,
        };
        for version in versions_to_propose(self.max_version) {
            let (major, minor) = split_version(version);
            let contact = initiate_contact(version, &params);
            let answer = self
                .request(
                    contact_connection_id(version),
                    contact.as_bytes(),
                    MessageType::VersionResponse,
                    CONTACT_TIMEOUT_MS,
                )
                .inspect_err(|e| {
                    pr_err!("no answer to VMBus {}.{} contact: {:?}\n", major, minor, e)
                })?;
            match interpret_response(version, answer.bytes()) {
                Ok(ContactOutcome::Accepted { msg_conn_id, .. }) => {
                    self.msg_conn_id.store(msg_conn_id, ordering::Relaxed);
                    // ORDERING: pairs with the acquire in `connected()`: whoever sees the
                    // version also sees the message connection id.
                    self.version.store(version, ordering::Release);
                    pr_info!("VMBus version {}.{}\n", major, minor);
                    return Ok(version);
                }
                Ok(ContactOutcome::Refused) => {
                    pr_debug!("the host refused VMBus {}.{}\n", major, minor);
                }
                Err(e) => {
                    pr_err!(
                        "bad VERSION_RESPONSE to VMBus {}.{}: {:?}\n",
                        major,
                        minor,
                        e
                    );
                    return Err(EPROTO);
                }
            }
        }
        pr_err!("the host speaks no VMBus version this driver supports (4.0 or newer)\n");
        Err(EPROTONOSUPPORT)
    }

    /// Asks for the channel offers and waits until all have been delivered.
    pub(crate) fn request_offers(&self) -> Result {
        let m = RequestOffers {
            header: MessageHeader::new(MessageType::RequestOffers),
        };
        let conn = self.msg_conn_id.load(ordering::Relaxed);
        self.request(
            conn,
            m.as_bytes(),
            MessageType::AllOffersDelivered,
            OFFERS_TIMEOUT_MS,
        )
        .inspect_err(|e| pr_err!("offers were not all delivered: {:?}\n", e))?;
        Ok(())
    }

    /// Disconnects from the host, once; waits a bounded time for the host to confirm.
    pub(crate) fn unload(&self) {
        if self.version.xchg(0, ordering::Full) == 0 {
            return;
        }
        let m = Unload {
            header: MessageHeader::new(MessageType::Unload),
        };
        let conn = self.msg_conn_id.load(ordering::Relaxed);
        match self.request(
            conn,
            m.as_bytes(),
            MessageType::UnloadResponse,
            UNLOAD_TIMEOUT_MS,
        ) {
            Ok(_) => pr_info!("disconnected from the host\n"),
            Err(e) => pr_warn!("the host did not confirm UNLOAD: {:?}\n", e),
        }
    }

    /// Unregisters every device and refuses further offers.
    pub(crate) fn remove_all_devices(&self) {
        let mut channels = {
            let mut table = self.channels.lock();
            self.subchannels_changed.notify_all();
            table.close()
        };
        // Every channel directory first, so none outlives its primary's device.
        for c in channels.iter_mut() {
            drop(c.dir.take());
        }
        drop(channels);
    }

    /// Waits until the message worker is idle; after the interrupt handler is removed nothing
    /// queues it again.
    pub(crate) fn flush_messages(&self) {
        // SAFETY: `self.work` is an initialised work item inside a live `Connection`.
        unsafe { kernel::bindings::flush_work(Work::raw_get(&self.work)) };
        // SAFETY: as above, for `self.device_work`.
        unsafe { kernel::bindings::flush_work(Work::raw_get(&self.device_work)) };
        // SAFETY: as above, for `self.subchannel_work`.
        unsafe { kernel::bindings::flush_work(Work::raw_get(&self.subchannel_work)) };
    }
}
