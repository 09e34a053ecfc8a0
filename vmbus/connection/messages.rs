// SPDX-License-Identifier: GPL-2.0
//! Messages from the host: the message worker, which hands answers to the waiting request
//! and passes offers, rescinds and ALLOFFERS_DELIVERED on to the device worker, the device
//! worker, which adds and removes the devices of offered channels, and the sub-channel worker,
//! which adds and removes sub-channels and tells their drivers. Sub-channels have their own
//! worker (as `handle_sub_chan_wq` in the C driver) because a driver's probe, run by the
//! device worker, may wait for them.

use super::*;
use crate::channel_sysfs::ChannelDir;
use crate::counters::{count, BAD_CHANNEL_MESSAGES, DROPPED_CHANNEL_MESSAGES};
use crate::message_queue::MessageQueue;
use crate::proto::relids::{Refusal, Route};
use crate::proto::vmbus::ModifyChannelResponse;
use crate::subchannels::SubchannelEvent;

/// The key an answer carries, if its type has one.
fn answer_key(ty: MessageType, bytes: &[u8]) -> Option<u32> {
    match ty {
        MessageType::GpadlCreated => parse::<GpadlCreated>(bytes).ok().map(|(m, _)| m.gpadl),
        MessageType::GpadlTorndown => parse::<GpadlTorndown>(bytes).ok().map(|(m, _)| m.gpadl),
        MessageType::OpenChannelResult => {
            parse::<OpenResult>(bytes).ok().map(|(m, _)| m.child_relid)
        }
        MessageType::ModifyChannelResponse => parse::<ModifyChannelResponse>(bytes)
            .ok()
            .map(|(m, _)| m.child_relid),
        _ => None,
    }
}

impl Connection {
    // ---- messages from the host ----

    fn dispatch(this: &Arc<Self>, m: &SynicMessage) {
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
            | MessageType::UnloadResponse
            | MessageType::GpadlCreated
            | MessageType::GpadlTorndown
            | MessageType::OpenChannelResult
            | MessageType::ModifyChannelResponse => this.answer(ty, m),
            MessageType::RescindChannelOffer => Self::dispatch_rescind(this, m),
            MessageType::OfferChannel => Self::dispatch_offer(this, m),
            MessageType::AllOffersDelivered => {
                let _ = Self::queue_for(this, Route::Devices, m);
            }
            other => {
                if ratelimit() {
                    pr_warn!("ignoring unexpected channel message {:?}\n", other);
                }
            }
        }
    }

    /// Checks an offer and, if it is accepted, hands it to the worker its kind goes to (that
    /// decides where its rescind goes too). A malformed offer or one for a relid in use is
    /// refused here, before it is queued or changes any routing.
    fn dispatch_offer(this: &Arc<Self>, m: &SynicMessage) {
        let offer = match parse_offer(m.bytes()) {
            Ok(o) => o,
            Err(e) => {
                count(&BAD_CHANNEL_MESSAGES, 1);
                if ratelimit() {
                    log_bad_offer(e);
                }
                return;
            }
        };
        let relid = offer.relid;
        let route = this
            .routes
            .lock()
            .offer(relid, offer.sub_channel_index != 0);
        match route {
            Ok(route) => {
                if Self::queue_for(this, route, m).is_err() {
                    // Never reached a worker: as if it had not come.
                    this.routes.lock().release(relid);
                }
            }
            Err(refusal) => refuse(refusal),
        }
    }

    /// Checks a rescind and hands it to the worker its channel's offer went to; ends waits on
    /// the channel at once.
    fn dispatch_rescind(this: &Arc<Self>, m: &SynicMessage) {
        let relid = match parse_rescind(m.bytes()) {
            Ok(r) => r,
            Err(e) => {
                count(&BAD_CHANNEL_MESSAGES, 1);
                if ratelimit() {
                    pr_warn!("ignoring a malformed rescind: {:?}\n", e);
                }
                return;
            }
        };
        let route = this.routes.lock().rescind(relid);
        match route {
            Ok(route) => {
                // Before the worker can see it: closing the channel must skip the host.
                this.mark_rescinded(relid);
                let _ = Self::queue_for(this, route, m);
            }
            Err(refusal) => refuse(refusal),
        }
    }

    /// Hands a message to the worker of `route`; a full queue refuses it (counted).
    fn queue_for(this: &Arc<Self>, route: Route, m: &SynicMessage) -> Result {
        if let Err(e) = this.queue(route).lock().push(*m) {
            count(&DROPPED_CHANNEL_MESSAGES, 1);
            if ratelimit() {
                let why = if e == ENOSPC {
                    "too many waiting (a host flood?)"
                } else {
                    "out of memory"
                };
                let ty = message_type(m.bytes()).ok();
                pr_warn!("channel message {:?} dropped: {}\n", ty, why);
            }
            return Err(e);
        }
        // Already queued is fine: the worker drains everything.
        let _ = match route {
            Route::Devices => crate::platform::system_percpu_workqueue()
                .enqueue::<Arc<Connection>, 1>(this.clone()),
            Route::Subchannels => crate::platform::system_percpu_workqueue()
                .enqueue::<Arc<Connection>, 2>(this.clone()),
        };
        Ok(())
    }

    /// The messages waiting for the worker of `route`.
    fn queue(&self, route: Route) -> &Mutex<MessageQueue> {
        match route {
            Route::Devices => &self.device_queue,
            Route::Subchannels => &self.subchannel_queue,
        }
    }

    /// What a worker runs: handles its messages in arrival order until its queue is empty.
    fn drain(this: &Arc<Self>, route: Route) {
        loop {
            let next = this.queue(route).lock().pop();
            let Some(m) = next else { break };
            let bytes = m.bytes();
            match message_type(bytes) {
                Ok(MessageType::OfferChannel) => Connection::on_offer(this, bytes),
                Ok(MessageType::RescindChannelOffer) => this.on_rescind(bytes),
                // Only the device worker is given these (see `dispatch`).
                Ok(ty @ MessageType::AllOffersDelivered) => this.answer(ty, &m),
                _ => {}
            }
        }
    }

    /// A rescind ends waits on the channel right away and makes closing it skip the host,
    /// before the device worker removes its device.
    fn mark_rescinded(&self, relid: u32) {
        {
            let table = self.channels.lock();
            if let Some(info) = table.info(relid) {
                info.set_rescinded();
            }
            self.subchannels_changed.notify_all();
        }
        let mut w = self.waiter.lock();
        if w.expected.is_some_and(|e| e.relid == Some(relid)) {
            w.aborted = true;
            self.answered.notify_all();
        }
    }

    fn answer(&self, ty: MessageType, m: &SynicMessage) {
        let key = answer_key(ty, m.bytes());
        let mut w = self.waiter.lock();
        let matches = w.expected.is_some_and(|e| e.ty == ty && e.key == key);
        if matches && w.answer.is_none() {
            w.answer = Some(*m);
            self.answered.notify_all();
        } else if ratelimit() {
            pr_warn!("ignoring unsolicited {:?}\n", ty);
        }
    }

    fn on_offer(this: &Arc<Self>, bytes: &[u8]) {
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
        let info = DeviceInfo::with_connection(offer, this.clone())
            .and_then(|i| Ok(Arc::new(i, GFP_KERNEL)?));
        let Ok(info) = info else {
            if ratelimit() {
                pr_err!("channel {}: out of memory, offer ignored\n", relid);
            }
            return;
        };
        {
            let mut channels = this.channels.lock();
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
            if channels
                .insert(OfferedChannel {
                    info: info.clone(),
                    dir: None,
                    device: None,
                })
                .is_err()
            {
                if ratelimit() {
                    pr_err!("channel {}: out of memory, offer dropped\n", relid);
                }
                return;
            }
            if offer.sub_channel_index != 0 {
                if let Err(e) = channels.add_subchannel_dir(relid) {
                    if ratelimit() {
                        pr_warn!("sub-channel {}: no sysfs directory: {:?}\n", relid, e);
                    }
                }
                this.subchannels_changed.notify_all();
            }
        }
        // Sub-channels belong to their primary's device. The table is not locked while the
        // device registers: a driver's probe may open the channel, whose answers the message
        // worker delivers after looking at the table for rescinds.
        if offer.sub_channel_index == 0 {
            match BusDevice::register(info.clone()) {
                Ok(d) => {
                    let dir = ChannelDir::add(&d, info)
                        .inspect_err(|e| {
                            if ratelimit() {
                                pr_warn!("channel {}: no sysfs directory: {:?}\n", relid, e)
                            }
                        })
                        .ok();
                    // Only the device worker removes primary entries, so the entry is still
                    // there unless the table was closed; then the device goes away at once
                    // (outside the table lock).
                    let rejected = this.channels.lock().set_device(relid, d, dir);
                    if let Err((d, dir)) = rejected {
                        drop(dir);
                        drop(d);
                    }
                }
                Err(e) => {
                    if ratelimit() {
                        pr_err!("channel {}: device registration failed: {:?}\n", relid, e)
                    }
                }
            }
        } else {
            // The driver hears of it outside the table lock: it may open the sub-channel.
            let primary = this.channels.lock().primary_of(&offer.instance);
            if let Some(primary) = primary {
                primary
                    .binding()
                    .deliver(&primary, SubchannelEvent::Offered(info));
            }
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
        let (removed, sub_dirs) = {
            let mut table = self.channels.lock();
            let removed = table.remove(relid);
            let sub_dirs = match &removed {
                Some(c) if c.info.offer().sub_channel_index == 0 => {
                    table.take_subchannel_dirs(&c.info.offer().instance)
                }
                _ => KVec::new(),
            };
            (removed, sub_dirs)
        };
        // Sub-channel directories go before their primary's device.
        drop(sub_dirs);
        let Some(channel) = removed else {
            // Its offer was routed but then refused by the worker (a duplicate instance).
            self.routes.lock().release(relid);
            if ratelimit() {
                pr_warn!("rescind of unknown channel {}\n", relid);
            }
            return;
        };
        let offer = *channel.info.offer();
        // Unregister the device before the relid is given back to the host.
        drop(channel);
        if offer.sub_channel_index != 0 {
            let primary = self.channels.lock().primary_of(&offer.instance);
            if let Some(primary) = primary {
                primary.binding().deliver(
                    &primary,
                    SubchannelEvent::Rescinded(offer.sub_channel_index),
                );
            }
        }
        // Free before the host hears of it: it may offer the relid again right away.
        self.routes.lock().release(relid);
        if !self.connected() {
            return;
        }
        let m = RelidReleased {
            header: MessageHeader::new(MessageType::RelidReleased),
            child_relid: relid,
        };
        let conn = self.msg_conn_id.load(ordering::Relaxed);
        if let Err(e) = self.post(conn, m.as_bytes()) {
            if ratelimit() {
                pr_warn!("channel {}: RELID_RELEASED not sent: {:?}\n", relid, e);
            }
        }
    }
}

/// Counts and logs (rate-limited) an offer or rescind the relids' state refuses.
fn refuse(refusal: Refusal) {
    count(&BAD_CHANNEL_MESSAGES, 1);
    if ratelimit() {
        match refusal {
            Refusal::BadRelid(r) => pr_warn!("ignoring a message for bad relid {}\n", r),
            Refusal::RelidInUse(r) => {
                pr_warn!("ignoring an offer for relid {}, which is in use\n", r)
            }
            Refusal::NotOffered(r) => pr_warn!("ignoring a rescind of relid {}, not offered\n", r),
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

/// The device worker: offers, rescinds and ALLOFFERS_DELIVERED, in arrival order.
impl WorkItem<1> for Connection {
    type Pointer = Arc<Connection>;

    fn run(this: Arc<Connection>) {
        Connection::drain(&this, Route::Devices);
    }
}

/// The sub-channel worker: sub-channel offers and their rescinds, in arrival order.
impl WorkItem<2> for Connection {
    type Pointer = Arc<Connection>;

    fn run(this: Arc<Connection>) {
        Connection::drain(&this, Route::Subchannels);
    }
}

impl WorkItem for Connection {
    type Pointer = Arc<Connection>;

    fn run(this: Arc<Connection>) {
        loop {
            let next = this.inbox.lock().pop();
            let Some(m) = next else { break };
            Connection::dispatch(&this, &m);
        }
        let stalled = this.stalled_cpu.xchg(NO_CPU, ordering::Relaxed);
        if let Some(cpu) = CpuId::from_u32(stalled) {
            hooks::poll_on(cpu, &this);
        }
    }
}
