// SPDX-License-Identifier: GPL-2.0
//! The driver API of the `vmbus` bus for other modules, shaped like `kernel::pci` and
//! `kernel::auxiliary`: a [`Driver`] trait with a class-GUID id table and `probe`/`remove`, a
//! [`Registration`] that registers it with the bus, [`module_vmbus_driver!`] for a module made
//! of one driver, and [`vmbus_device_table!`] whose table modpost turns into `vmbus:<hex>`
//! module aliases (the `MODULE_DEVICE_TABLE(vmbus, ...)` of the C drivers). A driver sees its
//! device as a [`Device`] and opens channels and GPADLs through it; it never handles raw
//! pointers.
//!
//! The generic parts here are compiled into the driver's module; everything they call in this
//! crate is a non-generic, non-inlined function, so it stays in `rhv_vmbus` and is exported to
//! the driver by the generated list (see the top-level Kbuild).

use crate::channel::{self, OpenChannel, OpenParams, PacketHandler};
use crate::gpadl::GpadlBuffer;
use crate::platform::{self, RawDeviceIdEntry, RhvVmbusDevice, RhvVmbusDriver};
use crate::proto::guid::Guid;
use crate::subchannels::{Binding, SubchannelEvent};
use crate::sysfs::DeviceInfo;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::device_id::{RawDeviceId, RawDeviceIdIndex};
use kernel::error::{from_result, to_result};
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};
use kernel::types::Opaque;

/// A device id: the class GUID a driver binds to (`struct hv_vmbus_device_id`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DeviceId {
    class: Guid,
    driver_data: usize,
}
const _: () = assert!(core::mem::size_of::<DeviceId>() == 24);

impl DeviceId {
    /// The id of devices of class `class`.
    pub const fn new(class: Guid) -> Self {
        Self {
            class,
            driver_data: 0,
        }
    }
}

// SAFETY: `DeviceId` is `repr(C)` and is its own raw type.
unsafe impl RawDeviceId for DeviceId {
    type RawType = DeviceId;
}

// SAFETY: `driver_data` is at offset 16 and holds a `usize`, as in the C structure (the shim
// asserts the C layout).
unsafe impl RawDeviceIdIndex for DeviceId {
    const DRIVER_DATA_OFFSET: usize = core::mem::offset_of!(DeviceId, driver_data);
}

/// A driver's id table.
pub type IdTable<T> = &'static dyn kernel::device_id::IdTable<DeviceId, T>;

/// Declares a driver's id table and exports it to modpost, which adds a `vmbus:<hex>` module
/// alias per entry so that udev loads the module when a device of the class appears.
#[macro_export]
macro_rules! vmbus_device_table {
    ($($tt:tt)*) => {
        ::kernel::module_device_table!("vmbus", $crate::DeviceId, $($tt)*);
    };
}

/// A device on the `vmbus` bus while a driver is bound to it.
pub struct Device<'a> {
    raw: NonNull<RhvVmbusDevice>,
    info: ArcBorrow<'a, DeviceInfo>,
}

impl Device<'_> {
    /// The generic device, for `dev_info!` and friends.
    #[inline(never)]
    pub fn as_dev(&self) -> &kernel::device::Device {
        // SAFETY: the shim's `struct rhv_vmbus_device` starts with its `struct device`
        // (asserted there), and the device is registered while `self` lives.
        unsafe { kernel::device::Device::from_raw(self.raw.as_ptr().cast()) }
    }

    /// The device class.
    pub fn class_id(&self) -> Guid {
        self.info.offer().class
    }

    /// The device instance.
    pub fn instance_id(&self) -> Guid {
        self.info.offer().instance
    }

    /// The relid of the primary channel.
    pub fn relid(&self) -> u32 {
        self.info.offer().relid
    }

    /// Opens the primary channel; `handler` gets its packets until the returned value is
    /// dropped, which closes the channel.
    #[inline(never)]
    pub fn open(
        &self,
        params: &OpenParams,
        handler: KBox<dyn PacketHandler>,
    ) -> Result<OpenChannel> {
        channel::open(&Arc::from(self.info), params, handler)
    }

    /// Shares a buffer of `pages` 4 KiB pages with the host as a GPADL of the primary
    /// channel; it is torn down when dropped.
    #[inline(never)]
    pub fn create_gpadl(&self, pages: usize) -> Result<GpadlBuffer> {
        let conn = self.info.connection().ok_or(ENODEV)?.clone();
        GpadlBuffer::new(conn, Arc::from(self.info), pages)
    }

    /// The sub-channels the host has offered for this device so far (a device protocol asks
    /// for them on the primary channel), by sub-channel index.
    #[inline(never)]
    pub fn subchannels(&self) -> Result<KVec<SubChannel>> {
        let conn = self.info.connection().ok_or(ENODEV)?;
        wrap_subchannels(conn.subchannels_of(&self.info.offer().instance)?)
    }

    /// Sleeps until the host has offered at least `count` sub-channels for this device, at
    /// most `timeout_ms` milliseconds, and returns them all (like [`Device::subchannels`]).
    /// `ETIMEDOUT` if fewer came in time ([`Device::subchannels`] has those), `ENODEV` if the
    /// device is rescinded or the bus goes away meanwhile, `EINTR` on a signal. For `probe`
    /// after it asked for sub-channels; not from [`Driver::subchannel_offered`], which runs on
    /// the worker that delivers the offers.
    #[inline(never)]
    pub fn wait_subchannels(&self, count: usize, timeout_ms: u32) -> Result<KVec<SubChannel>> {
        let conn = self.info.connection().ok_or(ENODEV)?;
        wrap_subchannels(conn.wait_subchannels(&self.info, count, timeout_ms)?)
    }
}

fn wrap_subchannels(mut infos: KVec<Arc<DeviceInfo>>) -> Result<KVec<SubChannel>> {
    // The host may offer them in any order.
    infos.sort_unstable_by_key(|i| i.offer().sub_channel_index);
    let mut out = KVec::with_capacity(infos.len(), GFP_KERNEL)?;
    for info in infos {
        out.push(SubChannel { info }, GFP_KERNEL)?;
    }
    Ok(out)
}

impl Device<'_> {
    /// A counted handle on the device, for a driver that opens channels or GPADLs after
    /// `probe` (to reconfigure); it must not outlive the binding (drop it in `remove`).
    #[inline(never)]
    pub fn handle(&self) -> DeviceHandle {
        DeviceHandle {
            info: Arc::from(self.info),
        }
    }
}

/// A counted handle on a bound device: [`Device`]'s channel and GPADL operations, usable
/// outside the bus callbacks.
pub struct DeviceHandle {
    info: Arc<DeviceInfo>,
}

impl DeviceHandle {
    /// Like [`Device::open`].
    #[inline(never)]
    pub fn open(
        &self,
        params: &OpenParams,
        handler: KBox<dyn PacketHandler>,
    ) -> Result<OpenChannel> {
        channel::open(&self.info, params, handler)
    }

    /// Like [`Device::create_gpadl`].
    #[inline(never)]
    pub fn create_gpadl(&self, pages: usize) -> Result<GpadlBuffer> {
        let conn = self.info.connection().ok_or(ENODEV)?.clone();
        GpadlBuffer::new(conn, self.info.clone(), pages)
    }

    /// Like [`Device::subchannels`].
    #[inline(never)]
    pub fn subchannels(&self) -> Result<KVec<SubChannel>> {
        let conn = self.info.connection().ok_or(ENODEV)?;
        let mut out = KVec::new();
        for info in conn.subchannels_of(&self.info.offer().instance)? {
            out.push(SubChannel { info }, GFP_KERNEL)?;
        }
        Ok(out)
    }
}

/// A sub-channel offer of a device.
pub struct SubChannel {
    info: Arc<DeviceInfo>,
}

impl SubChannel {
    /// The sub-channel index (1..).
    pub fn index(&self) -> u16 {
        self.info.offer().sub_channel_index
    }

    /// Opens the sub-channel, like [`Device::open`].
    #[inline(never)]
    pub fn open(
        &self,
        params: &OpenParams,
        handler: KBox<dyn PacketHandler>,
    ) -> Result<OpenChannel> {
        channel::open(&self.info, params, handler)
    }
}

/// A driver of devices on the `vmbus` bus.
pub trait Driver: Send + Sync + Sized + 'static {
    /// What each id table entry carries for `probe`.
    type IdInfo: Send + Sync + 'static;

    /// The classes the driver binds to.
    const ID_TABLE: IdTable<Self::IdInfo>;

    /// Binds to `dev`, which matched the entry whose info is `info`.
    fn probe(dev: &Device<'_>, info: &'static Self::IdInfo) -> Result<Pin<KBox<Self>>>;

    /// Unbinds from `dev` (the device goes away, is rescinded, or the driver is unloaded);
    /// `this` is dropped right after.
    fn remove(dev: &Device<'_>, this: Pin<&Self>) {
        let _ = (dev, this);
    }

    /// The host offered sub-channel `sub` of `dev` after `probe` returned (offers that came
    /// earlier are in [`Device::subchannels`]). Runs in process context on the bus's
    /// sub-channel worker, never concurrently with itself, [`Driver::subchannel_rescinded`]
    /// or `remove`; it may sleep (open the sub-channel, for instance) but must not wait for
    /// further offers or take the device lock. The default ignores it.
    fn subchannel_offered(dev: &Device<'_>, this: Pin<&Self>, sub: SubChannel) {
        let _ = (dev, this, sub);
    }

    /// The host rescinded sub-channel `index` of `dev` (after `probe` returned): an open
    /// channel of it only fails from now on and should be dropped. Same context as
    /// [`Driver::subchannel_offered`]. The default ignores it.
    fn subchannel_rescinded(dev: &Device<'_>, this: Pin<&Self>, index: u16) {
        let _ = (dev, this, index);
    }
}

/// Records that the driver with data `drvdata` and event entry `notify` is bound to `dev`.
#[inline(never)]
fn bind(dev: &Device<'_>, drvdata: *const c_void, notify: crate::subchannels::NotifyFn) {
    dev.info.binding().bind(Binding {
        dev: dev.raw,
        drvdata,
        notify,
    });
}

/// Forgets the driver bound to `dev`; no sub-channel event reaches it after this returns.
#[inline(never)]
fn unbind(dev: &Device<'_>) {
    dev.info.binding().unbind();
}

/// Builds the [`Device`] of a bus callback.
///
/// # Safety
///
/// `raw` is a registered device of the bus and `ctx` its context, both alive during `'a`.
#[inline(never)]
unsafe fn device<'a>(raw: *mut RhvVmbusDevice, ctx: *const c_void) -> Option<Device<'a>> {
    let raw = NonNull::new(raw)?;
    // SAFETY: per the function's contract, `ctx` is the counted reference to the device's
    // `DeviceInfo` that `Arc::into_raw` gave (`bus.rs`), which the device holds while `'a`.
    let info = unsafe { ArcBorrow::from_raw(ctx.cast::<DeviceInfo>()) };
    Some(Device { raw, info })
}

/// The bus callbacks for driver `T`.
struct Adapter<T: Driver>(PhantomData<T>);

impl<T: Driver> Adapter<T> {
    /// The bus's probe.
    ///
    /// # Safety
    ///
    /// Called by the shim's bus probe only: `raw` and `ctx` are a registered device and its
    /// context, `id` the matching entry of `T::ID_TABLE`, `drvdata` valid for writes.
    unsafe extern "C" fn probe_callback(
        raw: *mut RhvVmbusDevice,
        ctx: *const c_void,
        id: *const RawDeviceIdEntry,
        drvdata: *mut *mut c_void,
    ) -> c_int {
        from_result(|| {
            // SAFETY: the bus calls probe with a registered device and its context.
            let dev = unsafe { device(raw, ctx) }.ok_or(EINVAL)?;
            if id.is_null() {
                return Err(ENODEV);
            }
            // SAFETY: `id` is the matching entry of `T::ID_TABLE`, an `IdArray` of
            // `DeviceId` with `T::IdInfo`.
            let info = unsafe { (*id.cast::<DeviceId>()).info_unchecked::<T::IdInfo>() };
            let data = T::probe(&dev, info)?;
            // SAFETY: the box is turned back into a pinned box in `remove_callback` only.
            let data = KBox::into_raw(unsafe { Pin::into_inner_unchecked(data) });
            // SAFETY: `drvdata` is valid for writes; the shim hands the pointer back to
            // `remove_callback`, which turns it back into the box.
            unsafe { *drvdata = data.cast() };
            bind(&dev, data.cast_const().cast(), Self::notify_callback);
            Ok(0)
        })
    }

    /// Delivers a sub-channel event to the driver data `drvdata` of `dev`.
    fn notify_callback(
        raw: NonNull<RhvVmbusDevice>,
        primary: &Arc<DeviceInfo>,
        drvdata: *const c_void,
        event: SubchannelEvent,
    ) {
        let dev = Device {
            raw,
            info: primary.as_arc_borrow(),
        };
        // SAFETY: the binding slot hands over the `T` that `probe_callback` boxed, while the
        // binding is in the slot; `remove_callback` empties the slot (waiting for this call)
        // before it frees the box. The box is pinned and never moved.
        let this = unsafe { Pin::new_unchecked(&*drvdata.cast::<T>()) };
        match event {
            SubchannelEvent::Offered(info) => {
                T::subchannel_offered(&dev, this, SubChannel { info })
            }
            SubchannelEvent::Rescinded(index) => T::subchannel_rescinded(&dev, this, index),
        }
    }

    /// The bus's remove.
    ///
    /// # Safety
    ///
    /// Called by the shim's bus remove only, with what `probe_callback` stored in `drvdata`.
    unsafe extern "C" fn remove_callback(
        raw: *mut RhvVmbusDevice,
        ctx: *const c_void,
        drvdata: *mut c_void,
    ) {
        if drvdata.is_null() {
            return;
        }
        // SAFETY: the bus calls remove with a registered device and its context.
        let dev = unsafe { device(raw, ctx) };
        if let Some(dev) = &dev {
            unbind(dev);
        }
        // SAFETY: `drvdata` is what `probe_callback` stored for this device, given back once;
        // no sub-channel event uses it any more (unbound above).
        let data = unsafe { Pin::new_unchecked(KBox::from_raw(drvdata.cast::<T>())) };
        if let Some(dev) = &dev {
            T::remove(dev, data.as_ref());
        }
        drop(data);
    }
}

/// A registered driver; unregistered when dropped (which unbinds it from its devices).
#[pin_data(PinnedDrop)]
pub struct Registration<T: Driver> {
    #[pin]
    raw: Opaque<RhvVmbusDriver>,
    _driver: PhantomData<T>,
}

// SAFETY: the registration is only used by the driver core, which allows any thread.
unsafe impl<T: Driver> Send for Registration<T> {}
// SAFETY: `&Registration` gives access to nothing.
unsafe impl<T: Driver> Sync for Registration<T> {}

impl<T: Driver> Registration<T> {
    /// Registers driver `T` as `name` of `module`.
    pub fn new(name: &'static CStr, module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            raw <- Opaque::try_ffi_init(|ptr: *mut RhvVmbusDriver| {
                // SAFETY: `ptr` is valid for writes and pinned until `drop`, which
                // unregisters it.
                unsafe {
                    register(
                        ptr,
                        T::ID_TABLE.as_ptr().cast(),
                        Adapter::<T>::probe_callback,
                        Adapter::<T>::remove_callback,
                        name,
                        module,
                    )
                }
            }),
            _driver: PhantomData,
        })
    }
}

#[pinned_drop]
impl<T: Driver> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered in `new` (the value exists only if that succeeded).
        unsafe { unregister(self.raw.get()) };
    }
}

/// Fills in and registers the driver structure at `ptr`.
///
/// # Safety
///
/// `ptr` is valid for writes and stays pinned until [`unregister`]; `ids` is a zero-terminated
/// table of [`DeviceId`]s that lives as long.
#[inline(never)]
unsafe fn register(
    ptr: *mut RhvVmbusDriver,
    ids: *const RawDeviceIdEntry,
    probe: platform::ProbeFn,
    remove: platform::RemoveFn,
    name: &'static CStr,
    module: &'static ThisModule,
) -> Result {
    // SAFETY: an all-zero `struct rhv_vmbus_driver` is its C initial state; `ptr` is valid
    // for writes.
    unsafe {
        ptr.write(RhvVmbusDriver {
            driver: pin_init::zeroed(),
            id_table: ids,
            probe: Some(probe),
            remove: Some(remove),
        })
    };
    // SAFETY: `ptr` is initialised above and pinned per the contract; `name` is static.
    to_result(unsafe {
        platform::rhv_driver_register(ptr.cast(), name.as_char_ptr(), module.as_ptr().cast())
    })
}

/// Unregisters a driver.
///
/// # Safety
///
/// `ptr` was registered by [`register`].
#[inline(never)]
unsafe fn unregister(ptr: *mut RhvVmbusDriver) {
    // SAFETY: per the contract.
    unsafe { platform::rhv_driver_unregister(ptr.cast()) };
}

/// Declares a module whose only job is to register one [`Driver`] (like
/// `module_pci_driver!`): `module_vmbus_driver! { type: MyDriver, name: "...", ... }`.
#[macro_export]
macro_rules! module_vmbus_driver {
    (type: $type:ty, $($f:tt)*) => {
        #[::kernel::prelude::pin_data]
        struct VmbusDriverModule {
            #[pin]
            _driver: $crate::Registration<$type>,
        }

        impl ::kernel::InPlaceModule for VmbusDriverModule {
            fn init(
                module: &'static ::kernel::ThisModule,
            ) -> impl ::pin_init::PinInit<Self, ::kernel::error::Error> {
                ::kernel::try_pin_init!(Self {
                    _driver <- $crate::Registration::new(
                        <Self as ::kernel::ModuleMetadata>::NAME,
                        module,
                    ),
                })
            }
        }

        ::kernel::prelude::module! {
            type: VmbusDriverModule,
            $($f)*
        }
    };
}

#[kunit_tests(rhv_vmbus_driver)]
mod tests {
    use super::*;
    use crate::proto::offer::parse_offer;
    use crate::proto::vmbus::{MessageHeader, MessageType, OfferChannel};
    use zerocopy::{FromZeros, IntoBytes};

    fn sub(relid: u32, index: u16) -> Result<Arc<DeviceInfo>> {
        let mut m = OfferChannel::new_zeroed();
        m.header = MessageHeader::new(MessageType::OfferChannel);
        m.offer.if_instance.bytes = [3; 16];
        m.offer.sub_channel_index = index;
        m.child_relid = relid;
        let offer = parse_offer(m.as_bytes()).map_err(|_| EINVAL)?;
        Ok(Arc::new(DeviceInfo::new(offer)?, GFP_KERNEL)?)
    }

    #[test]
    fn subchannels_come_by_index() -> Result {
        let mut infos = KVec::new();
        for (relid, index) in [(9, 3), (7, 1), (8, 2)] {
            infos.push(sub(relid, index)?, GFP_KERNEL)?;
        }
        let subs = wrap_subchannels(infos)?;
        let indices: KVec<u16> = {
            let mut v = KVec::new();
            for s in subs.iter() {
                v.push(s.index(), GFP_KERNEL)?;
            }
            v
        };
        assert_eq!(&indices[..], &[1, 2, 3]);
        Ok(())
    }
}
