// SPDX-License-Identifier: GPL-2.0
//! Hand-written declarations of the C functions the platform layer calls: the Hyper-V core
//! built into the kernel (`arch/x86/hyperv/`, `drivers/hv/hv_common.c`, exported with
//! `EXPORT_SYMBOL_GPL`) and this module's C shim (`vmbus/shim.c` and `vmbus/shim_lock.c`,
//! prototypes in `vmbus/shim.h`). Nothing outside `vmbus/platform/` and `vmbus/bus.rs` uses
//! them.

use kernel::bindings::{kobj_uevent_env, raw_spinlock};
use kernel::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

/// The shim's `struct rhv_vmbus_device` (a `struct device` on the vmbus bus plus our
/// context), opaque to Rust.
#[repr(C)]
pub(crate) struct RhvVmbusDevice {
    _opaque: [u8; 0],
    _marker: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

/// The shim's `struct rhv_channel_dir` (a channel's `channels/<relid>/` kobject plus our
/// context), opaque to Rust.
#[repr(C)]
pub(crate) struct RhvChannelDir {
    _opaque: [u8; 0],
    _marker: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

/// The shim's `struct hv_vmbus_device_id` entry, opaque here (laid out by `driver::DeviceId`).
#[repr(C)]
pub(crate) struct RawDeviceIdEntry {
    _opaque: [u8; 0],
}

/// Probe callback of [`RhvVmbusDriver`].
pub(crate) type ProbeFn = unsafe extern "C" fn(
    dev: *mut RhvVmbusDevice,
    ctx: *const c_void,
    id: *const RawDeviceIdEntry,
    drvdata: *mut *mut c_void,
) -> c_int;
/// Remove callback of [`RhvVmbusDriver`].
pub(crate) type RemoveFn =
    unsafe extern "C" fn(dev: *mut RhvVmbusDevice, ctx: *const c_void, drvdata: *mut c_void);

/// `struct rhv_vmbus_driver` of `shim.h`.
#[repr(C)]
pub(crate) struct RhvVmbusDriver {
    pub(crate) driver: kernel::bindings::device_driver,
    pub(crate) id_table: *const RawDeviceIdEntry,
    pub(crate) probe: Option<ProbeFn>,
    pub(crate) remove: Option<RemoveFn>,
}

unsafe extern "C" {
    // The kernel's Hyper-V core.
    pub(crate) fn hv_is_hyperv_initialized() -> bool;
    pub(crate) fn hv_is_isolation_supported() -> bool;
    pub(crate) fn hv_get_msr(reg: c_uint) -> u64;
    pub(crate) fn hv_set_msr(reg: c_uint, value: u64);

    // vmbus/shim.c: Hyper-V platform.
    pub(crate) fn rhv_hv_post_message(
        connection_id: u32,
        message_type: u32,
        payload: *const c_void,
        size: u32,
    ) -> u16;
    pub(crate) fn rhv_hv_signal_event(connection_id: u32) -> u16;
    pub(crate) fn rhv_hv_input_pages_ready() -> bool;
    pub(crate) fn rhv_hv_vp_index(cpu: c_uint) -> u32;
    pub(crate) fn rhv_hv_vtl() -> u8;
    pub(crate) fn rhv_hv_use_auto_eoi() -> bool;
    pub(crate) fn rhv_hv_callback_vector() -> u8;
    pub(crate) fn rhv_cpu_to_node(cpu: c_uint) -> c_int;
    pub(crate) fn rhv_cpu_is_online(cpu: c_uint) -> bool;

    // vmbus/shim.c: pages shared with the host.
    pub(crate) fn rhv_page_alloc() -> *mut c_void;
    pub(crate) fn rhv_page_free(page: *mut c_void);
    pub(crate) fn rhv_virt_to_phys(addr: *const c_void) -> u64;

    // vmbus/shim.c: hooks, each with one context pointer.
    pub(crate) fn rhv_isr_install(ctx: *mut c_void);
    pub(crate) fn rhv_isr_remove();
    pub(crate) fn rhv_cpuhp_setup(ctx: *mut c_void) -> c_int;
    pub(crate) fn rhv_cpuhp_remove(state: c_int);
    pub(crate) fn rhv_reboot_notifier_register(ctx: *mut c_void) -> c_int;
    pub(crate) fn rhv_reboot_notifier_unregister();
    pub(crate) fn rhv_ratelimit() -> bool;
    pub(crate) fn rhv_bh_usable() -> bool;
    pub(crate) fn rhv_bh_disable();
    pub(crate) fn rhv_bh_enable();

    // vmbus/shim.c: the vmbus bus.
    pub(crate) fn rhv_bus_register() -> c_int;
    pub(crate) fn rhv_bus_unregister();
    // `struct rhv_vmbus_driver *` and `struct module *`, passed as `void *`: both embed
    // zero-sized arrays that Rust's FFI lint rejects.
    pub(crate) fn rhv_driver_register(
        drv: *mut c_void,
        name: *const c_char,
        owner: *mut c_void,
    ) -> c_int;
    pub(crate) fn rhv_driver_unregister(drv: *mut c_void);
    pub(crate) fn rhv_device_register(
        ctx: *mut c_void,
        name: *const c_char,
        class: *const u8,
        out: *mut *mut RhvVmbusDevice,
        ctx_taken: *mut bool,
    ) -> c_int;
    pub(crate) fn rhv_device_unregister(dev: *mut RhvVmbusDevice);
    pub(crate) fn rhv_channel_dir_add(
        dev: *mut RhvVmbusDevice,
        ctx: *mut c_void,
        relid: u32,
        out: *mut *mut RhvChannelDir,
        ctx_taken: *mut bool,
    ) -> c_int;
    pub(crate) fn rhv_channel_dir_remove(dir: *mut RhvChannelDir);
    pub(crate) fn rhv_nr_cpu_ids() -> c_uint;

    // vmbus/shim_lock.c: raw_spinlock_t. `key` is a `struct lock_class_key *`, passed as
    // `void *`: without lockdep the structure is empty, which Rust's FFI lint rejects.
    pub(crate) fn rhv_raw_spin_lock_init(
        lock: *mut raw_spinlock,
        name: *const c_char,
        key: *mut c_void,
    );
    pub(crate) fn rhv_raw_spin_lock_irqsave(lock: *mut raw_spinlock) -> c_ulong;
    pub(crate) fn rhv_raw_spin_unlock_irqrestore(lock: *mut raw_spinlock, flags: c_ulong);
    pub(crate) fn rhv_raw_spin_trylock_irqsave(
        lock: *mut raw_spinlock,
        flags: *mut c_ulong,
    ) -> bool;
    pub(crate) fn rhv_raw_spin_assert_held(lock: *mut raw_spinlock);
}

/// Used by `bus.rs` for the uevent callback's argument type.
pub(crate) type UeventEnv = kobj_uevent_env;
