// SPDX-License-Identifier: GPL-2.0
//! The VMBus connection: negotiating a protocol version with the host (INITIATE_CONTACT /
//! VERSION_RESPONSE), asking for the channel offers (REQUESTOFFERS ... ALLOFFERS_DELIVERED),
//! reacting to offers and rescinds, and disconnecting (UNLOAD / UNLOAD_RESPONSE). The same
//! protocol as `drivers/hv/connection.c` and `channel_mgmt.c`; the message formats are in
//! `proto::vmbus`, the pure decisions in `proto::negotiate` and `proto::offer`.
//!
//! Messages arrive on SINT 2 of the connect CPU. The interrupt handler copies them into the
//! [`Inbox`] and queues the message worker, which handles them one at a time in process
//! context. A request that expects an answer (contact, offers, unload) parks in a single
//! [`Waiter`] until the worker hands it the answer or the timeout expires: the host is never
//! waited for without a limit.

use crate::bus::{BusDevice, DeviceInfo};
use crate::channels::{ChannelTable, Conflict, OfferedChannel};
use crate::inbox::Inbox;
use crate::platform::hooks::{self, ratelimit};
use crate::platform::hypercall::{self, is_transient};
use crate::platform::page::SharedPage;
use crate::platform::synic::{Synic, SynicMessage};
use crate::proto::negotiate::{
    contact_connection_id, initiate_contact, interpret_response, versions_to_propose,
    ContactOutcome, ContactParams,
};
use crate::proto::offer::{parse_offer, parse_rescind, OfferError};
use crate::proto::vmbus::{
    message_type, split_version, MessageHeader, MessageType, RelidReleased, RequestOffers, Unload,
};
use kernel::cpu::CpuId;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::{
    new_condvar, new_spinlock_irq, Arc, ArcBorrow, CondVar, CondVarTimeoutResult, Mutex,
    SpinLockIrq,
};
use kernel::time::{delay::fsleep, msecs_to_jiffies, Delta};
use kernel::workqueue::{self, impl_has_work, new_work, Work, WorkItem};
use zerocopy::IntoBytes;

/// How long the host may take to answer INITIATE_CONTACT.
const CONTACT_TIMEOUT_MS: u32 = 10_000;
/// How long the host may take to deliver all boot-time offers (the C driver's limit).
const OFFERS_TIMEOUT_MS: u32 = 60_000;
/// How long the host may take to answer UNLOAD.
const UNLOAD_TIMEOUT_MS: u32 = 10_000;
/// Messages the inbox holds before the interrupt handler leaves them with the host.
const INBOX_CAPACITY: usize = 64;
/// Attempts to post a message while the host reports a transient failure.
const POST_ATTEMPTS: u32 = 20;
/// The CPU whose vCPU receives channel messages (CPU 0, as the C driver).
const CONNECT_CPU: u32 = 0;
/// No CPU left a message behind.
const NO_CPU: u32 = u32::MAX;

/// The one outstanding request's expected answer.
struct Waiter {
    expected: Option<MessageType>,
    answer: Option<SynicMessage>,
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
    #[pin]
    inbox: SpinLockIrq<Inbox>,
    #[pin]
    work: Work<Connection>,
    #[pin]
    waiter: Mutex<Waiter>,
    #[pin]
    answered: CondVar,
    #[pin]
    channels: Mutex<ChannelTable>,
}

impl_has_work! {
    impl HasWork<Self> for Connection { self.work }
}

impl Connection {
    /// Allocates the SynIC, interrupt and monitor pages; connects nothing yet.
    pub(crate) fn new(max_version: u32) -> Result<Arc<Self>> {
        let connect_cpu = CpuId::from_u32(CONNECT_CPU).ok_or(EINVAL)?;
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
                inbox <- new_spinlock_irq!(Inbox::new(INBOX_CAPACITY)?, "rhv_vmbus_inbox"),
                work <- new_work!("rhv_vmbus_messages"),
                waiter <- new_mutex!(Waiter {
                    expected: None,
                    answer: None,
                }),
                answered <- new_condvar!("rhv_vmbus_answered"),
                channels <- new_mutex!(ChannelTable::new()),
            }),
            GFP_KERNEL,
        )
    }

    /// Whether a version has been negotiated and not unloaded.
    fn connected(&self) -> bool {
        self.version.load(ordering::Acquire) != 0
    }

    // ---- platform events ----

    /// The callback vector fired on `cpu`: consume channel events and the message slot.
    pub(crate) fn on_interrupt(this: ArcBorrow<'_, Self>, cpu: CpuId) {
        // Channel interrupts: nobody opens a channel yet, so the flags are only cleared.
        this.synic.take_events(cpu, |_relid| {});
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
            let _ = workqueue::system().enqueue(Arc::from(this));
        }
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
                    pr_err!("HvPostMessage failed with status {:#x}\n", status);
                    return Err(EIO);
                }
            }
        }
        pr_err!("the host kept refusing a message\n");
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
        {
            let mut w = self.waiter.lock();
            if w.expected.is_some() {
                return Err(EBUSY);
            }
            w.expected = Some(answer);
            w.answer = None;
        }
        let posted = self.post(connection_id, message);
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
        let channels = self.channels.lock().close();
        drop(channels);
    }

    /// Waits until the message worker is idle; after the interrupt handler is removed nothing
    /// queues it again.
    pub(crate) fn flush_messages(&self) {
        // SAFETY: `self.work` is an initialised work item inside a live `Connection`.
        unsafe { kernel::bindings::flush_work(Work::raw_get(&self.work)) };
    }

    // ---- messages from the host ----

    fn dispatch(&self, m: &SynicMessage) {
        let bytes = m.bytes();
        let ty = match message_type(bytes) {
            Ok(ty) => ty,
            Err(e) => {
                if ratelimit() {
                    pr_warn!("ignoring a malformed channel message: {:?}\n", e);
                }
                return;
            }
        };
        match ty {
            MessageType::VersionResponse
            | MessageType::AllOffersDelivered
            | MessageType::UnloadResponse => self.answer(ty, m),
            MessageType::OfferChannel => self.on_offer(bytes),
            MessageType::RescindChannelOffer => self.on_rescind(bytes),
            other => {
                if ratelimit() {
                    pr_warn!("ignoring unexpected channel message {:?}\n", other);
                }
            }
        }
    }

    fn answer(&self, ty: MessageType, m: &SynicMessage) {
        let mut w = self.waiter.lock();
        if w.expected == Some(ty) && w.answer.is_none() {
            w.answer = Some(*m);
            self.answered.notify_all();
        } else if ratelimit() {
            pr_warn!("ignoring unsolicited {:?}\n", ty);
        }
    }

    fn on_offer(&self, bytes: &[u8]) {
        let offer = match parse_offer(bytes) {
            Ok(o) => o,
            Err(e) => {
                if ratelimit() {
                    log_bad_offer(e);
                }
                return;
            }
        };
        let relid = offer.relid;
        let Ok(info) = Arc::new(DeviceInfo::new(offer), GFP_KERNEL) else {
            pr_err!("channel {}: out of memory, offer ignored\n", relid);
            return;
        };
        let mut channels = self.channels.lock();
        match channels.check(&info) {
            Ok(()) => {}
            Err(Conflict::Closed) => return,
            Err(c) => {
                if ratelimit() {
                    pr_warn!("channel {}: offer ignored, duplicate {:?}\n", relid, c);
                }
                return;
            }
        }
        // Sub-channels belong to their primary's device.
        let device = if offer.sub_channel_index == 0 {
            match BusDevice::register(info.clone()) {
                Ok(d) => Some(d),
                Err(e) => {
                    pr_err!("channel {}: device registration failed: {:?}\n", relid, e);
                    None
                }
            }
        } else {
            None
        };
        if channels
            .insert(OfferedChannel {
                info,
                _device: device,
            })
            .is_err()
        {
            pr_err!("channel {}: out of memory, offer dropped\n", relid);
        }
    }

    fn on_rescind(&self, bytes: &[u8]) {
        let relid = match parse_rescind(bytes) {
            Ok(r) => r,
            Err(e) => {
                if ratelimit() {
                    pr_warn!("ignoring a malformed rescind: {:?}\n", e);
                }
                return;
            }
        };
        let Some(channel) = self.channels.lock().remove(relid) else {
            if ratelimit() {
                pr_warn!("rescind of unknown channel {}\n", relid);
            }
            return;
        };
        // Unregister the device before the relid is given back to the host.
        drop(channel);
        if !self.connected() {
            return;
        }
        let m = RelidReleased {
            header: MessageHeader::new(MessageType::RelidReleased),
            child_relid: relid,
        };
        let conn = self.msg_conn_id.load(ordering::Relaxed);
        if let Err(e) = self.post(conn, m.as_bytes()) {
            pr_warn!("channel {}: RELID_RELEASED not sent: {:?}\n", relid, e);
        }
    }
}

fn log_bad_offer(e: OfferError) {
    match e {
        OfferError::Malformed(p) => pr_warn!("ignoring a malformed offer: {:?}\n", p),
        OfferError::Relid(r) => pr_warn!("ignoring an offer with bad child_relid {}\n", r),
        OfferError::MonitorId(m) => pr_warn!("ignoring an offer with bad monitorid {}\n", m),
        OfferError::ConnectionId(c) => {
            pr_warn!("ignoring an offer with bad connection_id {:#x}\n", c)
        }
    }
}

impl WorkItem for Connection {
    type Pointer = Arc<Connection>;

    fn run(this: Arc<Connection>) {
        loop {
            let next = this.inbox.lock().pop();
            let Some(m) = next else { break };
            this.dispatch(&m);
        }
        let stalled = this.stalled_cpu.xchg(NO_CPU, ordering::Relaxed);
        if let Some(cpu) = CpuId::from_u32(stalled) {
            hooks::poll_on(cpu, &this);
        }
    }
}
