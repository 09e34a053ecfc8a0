// SPDX-License-Identifier: GPL-2.0
//! The `vmbus` bus in the driver model: one device per offered primary channel, named by its
//! instance GUID, with the sysfs attributes and the `MODALIAS` uevent variable of the C
//! driver (`drivers/hv/vmbus_drv.c`), so udev rules and tools that read them work unchanged.
//!
//! The `struct bus_type` and the device structure live in the C shim (`vmbus/shim.c`); the
//! shim calls back into the `rhv_vmbus_dev_*` functions here, which format with `sysfs.rs`
//! from the [`DeviceInfo`] that each device owns.

use crate::modalias::ModAlias;
use crate::platform::{self, RhvVmbusDevice, UeventEnv};
use crate::sysfs::{attribute_visible, format_attribute, Attribute, BufferWriter};
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::ffi::{c_char, c_int, c_uint, c_void};
use kernel::prelude::*;
use kernel::sync::Arc;

pub(crate) use crate::sysfs::DeviceInfo;

/// The `vmbus` bus, registered while this value lives.
pub(crate) struct Bus(());

impl Bus {
    /// Registers the bus.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: no preconditions; the bus is unregistered in `drop`.
        to_result(unsafe { platform::rhv_bus_register() })?;
        Ok(Self(()))
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; every device was unregistered before.
        unsafe { platform::rhv_bus_unregister() };
    }
}

/// A device on the `vmbus` bus, unregistered when dropped.
///
/// # Invariants
///
/// `dev` was returned by a successful `rhv_device_register()` and not yet unregistered.
pub(crate) struct BusDevice {
    dev: NonNull<RhvVmbusDevice>,
}

// SAFETY: the device is only unregistered through this value, which the driver core allows
// from any thread.
unsafe impl Send for BusDevice {}
// SAFETY: `BusDevice` has no methods that use `dev` through a shared reference.
unsafe impl Sync for BusDevice {}

impl BusDevice {
    /// Registers a device for `info`, named by the instance GUID.
    pub(crate) fn register(info: Arc<DeviceInfo>) -> Result<Self> {
        let mut name = [0u8; 37];
        let mut text = [0u8; 36];
        info.offer().instance.format(&mut text);
        name[..36].copy_from_slice(&text);
        let class = info.offer().class.bytes;
        let ctx = info.into_raw().cast_mut().cast::<c_void>();
        let mut taken = false;
        let mut dev = core::ptr::null_mut();
        // SAFETY: `name` is NUL-terminated and copied by the driver core, `class` is 16 bytes
        // the shim copies; `ctx` is a counted
        // reference that the shim hands to `rhv_vmbus_dev_release` once, if it took it; `dev`
        // and `taken` are valid for writes.
        let ret = unsafe {
            platform::rhv_device_register(
                ctx,
                name.as_ptr().cast::<c_char>(),
                class.as_ptr(),
                &mut dev,
                &mut taken,
            )
        };
        if !taken {
            // SAFETY: the shim did not take `ctx`: it is still our reference.
            drop(unsafe { Arc::from_raw(ctx.cast::<DeviceInfo>().cast_const()) });
        }
        to_result(ret)?;
        let dev = NonNull::new(dev).ok_or(EINVAL)?;
        // INVARIANT: a successful registration.
        Ok(Self { dev })
    }
}

impl BusDevice {
    /// The registered device.
    pub(crate) fn raw(&self) -> NonNull<RhvVmbusDevice> {
        self.dev
    }
}

impl Drop for BusDevice {
    fn drop(&mut self) {
        // SAFETY: registered and not yet unregistered (type invariant).
        unsafe { platform::rhv_device_unregister(self.dev.as_ptr()) };
    }
}

/// Borrows the `DeviceInfo` a device owns.
///
/// # Safety
///
/// `ctx` is the context of a device that is still registered or being released.
unsafe fn info<'a>(ctx: *const c_void) -> &'a DeviceInfo {
    // SAFETY: per the contract, `ctx` is the `Arc<DeviceInfo>` the device holds.
    unsafe { &*ctx.cast::<DeviceInfo>() }
}

#[no_mangle]
extern "C" fn rhv_vmbus_dev_show(ctx: *const c_void, attr: c_uint, buf: *mut c_char) -> isize {
    let Some(attr) = Attribute::from_raw(attr) else {
        return EINVAL.to_errno() as isize;
    };
    // SAFETY: sysfs calls `show` only for registered devices, whose context lives.
    let info = unsafe { info(ctx) };
    // SAFETY: sysfs hands `show` a buffer of one page that nothing else uses meanwhile.
    let page =
        unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), kernel::page::PAGE_SIZE) };
    let mut w = BufferWriter::new(page);
    match format_attribute(info, attr, &mut w) {
        Ok(()) => w.written().len() as isize,
        Err(e) => e.to_errno() as isize,
    }
}

#[no_mangle]
extern "C" fn rhv_vmbus_dev_visible(ctx: *const c_void, attr: c_uint) -> bool {
    // SAFETY: called while the device's attributes are created, so the context lives.
    let info = unsafe { info(ctx) };
    Attribute::from_raw(attr).is_some_and(|a| attribute_visible(info, a))
}

#[no_mangle]
extern "C" fn rhv_vmbus_dev_uevent(ctx: *const c_void, env: *mut UeventEnv) -> c_int {
    // SAFETY: uevents are built for live devices only.
    let info = unsafe { info(ctx) };
    let alias = ModAlias::of(&info.offer().class);
    let mut text = [0u8; 64];
    let len = alias.as_bytes().len();
    text[..len].copy_from_slice(alias.as_bytes());
    // SAFETY: `env` is the uevent environment being built; the format takes one
    // NUL-terminated string, `text`, which has a NUL after the alias.
    unsafe {
        kernel::bindings::add_uevent_var(
            env,
            c"MODALIAS=%s".as_char_ptr(),
            text.as_ptr().cast::<c_char>(),
        )
    }
}

#[no_mangle]
extern "C" fn rhv_vmbus_dev_release(ctx: *mut c_void) {
    // SAFETY: the device's last reference is gone; its context is the counted reference
    // `BusDevice::register` gave it, released exactly once here.
    drop(unsafe { Arc::from_raw(ctx.cast::<DeviceInfo>().cast_const()) });
}
