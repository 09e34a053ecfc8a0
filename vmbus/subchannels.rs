// SPDX-License-Identifier: GPL-2.0
//! Telling a bound driver about its device's sub-channels: the binding slot of a device (which
//! driver data to hand sub-channel events to, set after `probe` and cleared before `remove`)
//! and the events themselves. The C driver's counterpart is the `sc_creation_callback` that
//! `vmbus_set_sc_create_callback()` installs on a primary channel, called from
//! `vmbus_process_offer()`, and the sub-channel rescind path of `vmbus_onoffer_rescind()`.
//!
//! The slot's mutex is what makes delivery safe against a device going away: an event is
//! delivered with the slot locked and only while it holds a binding, and the bus's remove
//! empties the slot (waiting for a delivery in progress) before the driver's `remove` runs
//! and its data is freed. Delivery happens on the device worker, never under the device lock,
//! so a driver's `probe` may wait for sub-channel offers ([`crate::Device::wait_subchannels`])
//! while holding it.

use crate::platform::RhvVmbusDevice;
use crate::sysfs::DeviceInfo;
use core::ptr::NonNull;
use kernel::ffi::c_void;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// Something that happened to a sub-channel of a bound device.
pub(crate) enum SubchannelEvent {
    /// The host offered this sub-channel.
    Offered(Arc<DeviceInfo>),
    /// The host rescinded the sub-channel with this index.
    Rescinded(u16),
}

/// Hands `event` about device `dev` to the driver whose data is `drvdata`.
pub(crate) type NotifyFn = fn(
    dev: NonNull<RhvVmbusDevice>,
    primary: &Arc<DeviceInfo>,
    drvdata: *const c_void,
    event: SubchannelEvent,
);

/// The driver bound to a device, as sub-channel events need it.
#[derive(Clone, Copy)]
pub(crate) struct Binding {
    /// The bus device, registered while the binding is in its slot.
    pub(crate) dev: NonNull<RhvVmbusDevice>,
    /// The driver's data, alive while the binding is in its slot.
    pub(crate) drvdata: *const c_void,
    /// The driver's event entry point.
    pub(crate) notify: NotifyFn,
}

// SAFETY: the pointers are only used under the slot's mutex, while the device is registered
// and the driver data alive (the bus's remove empties the slot first); any thread may do that.
unsafe impl Send for Binding {}

/// A device's binding slot.
pub(crate) struct BindingSlot {
    slot: Pin<KBox<Mutex<Option<Binding>>>>,
}

impl BindingSlot {
    /// An empty slot.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            slot: KBox::pin_init(new_mutex!(None, "rhv_vmbus_binding"), GFP_KERNEL)?,
        })
    }

    /// Records the driver bound to the device (end of a successful probe).
    pub(crate) fn bind(&self, binding: Binding) {
        *self.slot.lock() = Some(binding);
    }

    /// Forgets the bound driver; returns once no event is being delivered to it.
    pub(crate) fn unbind(&self) {
        *self.slot.lock() = None;
    }

    /// Delivers `event` to the bound driver of `primary` (whose slot this is), if any.
    pub(crate) fn deliver(&self, primary: &Arc<DeviceInfo>, event: SubchannelEvent) {
        let guard = self.slot.lock();
        if let Some(b) = guard.as_ref() {
            (b.notify)(b.dev, primary, b.drvdata, event);
        }
    }
}

#[kunit_tests(rhv_vmbus_subchannels)]
mod tests {
    use super::*;
    use crate::proto::offer::parse_offer;
    use crate::proto::vmbus::{MessageHeader, MessageType, OfferChannel};
    use kernel::sync::atomic::{ordering, Atomic};
    use zerocopy::{FromZeros, IntoBytes};

    static OFFERED: Atomic<u32> = Atomic::new(0);
    static RESCINDED: Atomic<u32> = Atomic::new(0);
    static WRONG: Atomic<u32> = Atomic::new(0);

    fn info(relid: u32, sub: u16) -> Result<Arc<DeviceInfo>> {
        let mut m = OfferChannel::new_zeroed();
        m.header = MessageHeader::new(MessageType::OfferChannel);
        m.offer.if_instance.bytes = [7; 16];
        m.offer.sub_channel_index = sub;
        m.child_relid = relid;
        let offer = parse_offer(m.as_bytes()).map_err(|_| EINVAL)?;
        Ok(Arc::new(DeviceInfo::new(offer)?, GFP_KERNEL)?)
    }

    fn count(
        _dev: NonNull<RhvVmbusDevice>,
        primary: &Arc<DeviceInfo>,
        drvdata: *const c_void,
        event: SubchannelEvent,
    ) {
        let right = primary.offer().relid == 1 && drvdata as usize == 0x1234;
        let counter = match event {
            SubchannelEvent::Offered(sub) if right && sub.offer().sub_channel_index == 1 => {
                &OFFERED
            }
            SubchannelEvent::Rescinded(1) if right => &RESCINDED,
            _ => &WRONG,
        };
        counter.fetch_add(1, ordering::Relaxed);
    }

    #[test]
    fn events_reach_only_a_bound_driver() -> Result {
        let primary = info(1, 0)?;
        let slot = primary.binding();
        OFFERED.store(0, ordering::Relaxed);
        RESCINDED.store(0, ordering::Relaxed);
        // Not bound yet (probe running): nothing delivered.
        slot.deliver(&primary, SubchannelEvent::Offered(info(2, 1)?));
        assert_eq!(OFFERED.load(ordering::Relaxed), 0);
        slot.bind(Binding {
            dev: NonNull::dangling(),
            drvdata: 0x1234 as *const c_void,
            notify: count,
        });
        slot.deliver(&primary, SubchannelEvent::Offered(info(2, 1)?));
        slot.deliver(&primary, SubchannelEvent::Rescinded(1));
        assert_eq!(OFFERED.load(ordering::Relaxed), 1);
        assert_eq!(RESCINDED.load(ordering::Relaxed), 1);
        // Unbound (remove): nothing more.
        slot.unbind();
        slot.deliver(&primary, SubchannelEvent::Offered(info(2, 1)?));
        assert_eq!(OFFERED.load(ordering::Relaxed), 1);
        assert_eq!(WRONG.load(ordering::Relaxed), 0);
        Ok(())
    }
}
