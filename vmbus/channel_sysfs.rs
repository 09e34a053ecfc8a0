// SPDX-License-Identifier: GPL-2.0
//! The per-channel sysfs directories of a device, `channels/<relid>/`, as the C driver has
//! them (`vmbus_chan_attrs` in `drivers/hv/vmbus_drv.c`): `cpu` (the CPU the host interrupts
//! for the channel; writing it moves the channel, see `connection/retarget.rs`),
//! `subchannel_id` and `monitor_id`. The kobjects live in the C shim; it calls back into the
//! `rhv_vmbus_chan_*` functions here with the [`DeviceInfo`] each directory owns.

use crate::bus::BusDevice;
use crate::platform::{self, RhvChannelDir};
use crate::sysfs::{BufferWriter, DeviceInfo};
use core::fmt::Write;
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::ffi::{c_char, c_uint, c_void};
use kernel::prelude::*;
use kernel::sync::Arc;

/// The channel attributes, numbered as in the shim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChannelAttribute {
    Cpu,
    SubchannelId,
    MonitorId,
}

impl ChannelAttribute {
    /// The attribute with the shim's number `n`.
    pub(crate) fn from_raw(n: u32) -> Option<Self> {
        Some(match n {
            0 => Self::Cpu,
            1 => Self::SubchannelId,
            2 => Self::MonitorId,
            _ => return None,
        })
    }
}

/// Formats channel attribute `attr` of `info`, newline included.
pub(crate) fn format_channel_attribute(
    info: &DeviceInfo,
    attr: ChannelAttribute,
    out: &mut impl Write,
) -> core::fmt::Result {
    let offer = info.offer();
    match attr {
        ChannelAttribute::Cpu => writeln!(out, "{}", info.target_cpu()),
        ChannelAttribute::SubchannelId => writeln!(out, "{}", offer.sub_channel_index),
        ChannelAttribute::MonitorId => writeln!(out, "{}", offer.monitor_id_raw),
    }
}

/// Parses what was written to `cpu`: a decimal CPU number, surrounding blanks allowed.
pub(crate) fn parse_cpu(bytes: &[u8]) -> Option<u32> {
    let text = core::str::from_utf8(bytes).ok()?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A channel's `channels/<relid>/` directory, removed when dropped.
///
/// # Invariants
///
/// `dir` was returned by a successful `rhv_channel_dir_add()` and not yet removed.
pub(crate) struct ChannelDir {
    dir: NonNull<RhvChannelDir>,
}

// SAFETY: the directory is only removed through this value, which sysfs allows from any
// thread.
unsafe impl Send for ChannelDir {}
// SAFETY: `&ChannelDir` gives access to nothing.
unsafe impl Sync for ChannelDir {}

impl ChannelDir {
    /// Adds the directory of channel `info` under `device`, the device of its primary.
    pub(crate) fn add(device: &BusDevice, info: Arc<DeviceInfo>) -> Result<Self> {
        let relid = info.offer().relid;
        let ctx = info.into_raw().cast_mut().cast::<c_void>();
        let mut taken = false;
        let mut dir = core::ptr::null_mut();
        // SAFETY: `device` is registered while it lives; `ctx` is a counted reference that
        // the shim hands to `rhv_vmbus_chan_release` once, if it took it; `dir` and `taken`
        // are valid for writes.
        let ret = unsafe {
            platform::rhv_channel_dir_add(device.raw().as_ptr(), ctx, relid, &mut dir, &mut taken)
        };
        if !taken {
            // SAFETY: the shim did not take `ctx`: it is still our reference.
            drop(unsafe { Arc::from_raw(ctx.cast::<DeviceInfo>().cast_const()) });
        }
        to_result(ret)?;
        let dir = NonNull::new(dir).ok_or(EINVAL)?;
        // INVARIANT: a successful addition.
        Ok(Self { dir })
    }
}

impl Drop for ChannelDir {
    fn drop(&mut self) {
        // SAFETY: added and not yet removed (type invariant).
        unsafe { platform::rhv_channel_dir_remove(self.dir.as_ptr()) };
    }
}

/// Borrows the `DeviceInfo` a channel directory owns.
///
/// # Safety
///
/// `ctx` is the context of a directory that is still there or being released.
unsafe fn info<'a>(ctx: *const c_void) -> &'a DeviceInfo {
    // SAFETY: per the contract, `ctx` is the `Arc<DeviceInfo>` the directory holds.
    unsafe { &*ctx.cast::<DeviceInfo>() }
}

#[no_mangle]
extern "C" fn rhv_vmbus_chan_show(ctx: *const c_void, attr: c_uint, buf: *mut c_char) -> isize {
    let Some(attr) = ChannelAttribute::from_raw(attr) else {
        return EINVAL.to_errno() as isize;
    };
    // SAFETY: sysfs calls `show` only while the directory exists, so its context lives.
    let info = unsafe { info(ctx) };
    // SAFETY: sysfs hands `show` a buffer of one page that nothing else uses meanwhile.
    let page =
        unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), kernel::page::PAGE_SIZE) };
    let mut w = BufferWriter::new(page);
    match format_channel_attribute(info, attr, &mut w) {
        Ok(()) => w.written().len() as isize,
        Err(_) => EOVERFLOW.to_errno() as isize,
    }
}

#[no_mangle]
extern "C" fn rhv_vmbus_chan_store(
    ctx: *const c_void,
    attr: c_uint,
    buf: *const c_char,
    count: usize,
) -> isize {
    if ChannelAttribute::from_raw(attr) != Some(ChannelAttribute::Cpu) {
        return EINVAL.to_errno() as isize;
    }
    // SAFETY: sysfs calls `store` only while the directory exists, so its context lives.
    let info = unsafe { info(ctx) };
    // SAFETY: sysfs hands `store` `count` bytes (less than a page) at `buf`.
    let bytes = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), count) };
    // As the C driver: what does not parse is EIO.
    let Some(cpu) = parse_cpu(bytes) else {
        return EIO.to_errno() as isize;
    };
    let Some(conn) = info.connection() else {
        return EIO.to_errno() as isize;
    };
    // The shim holds the CPU hotplug lock for reading around this call.
    match conn.set_channel_cpu(info, cpu) {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

#[no_mangle]
extern "C" fn rhv_vmbus_chan_release(ctx: *mut c_void) {
    // SAFETY: the directory's last reference is gone; its context is the counted reference
    // `ChannelDir::add` gave it, released exactly once here.
    drop(unsafe { Arc::from_raw(ctx.cast::<DeviceInfo>().cast_const()) });
}

#[kunit_tests(rhv_vmbus_channel_sysfs)]
mod tests {
    use super::*;

    #[test]
    fn cpu_numbers_parse_like_the_c_driver() {
        assert_eq!(parse_cpu(b"1\n"), Some(1));
        assert_eq!(parse_cpu(b" 12 "), Some(12));
        assert_eq!(parse_cpu(b""), None);
        assert_eq!(parse_cpu(b"-1"), None);
        assert_eq!(parse_cpu(b"1x"), None);
        assert_eq!(parse_cpu(b"99999999999"), None);
        assert_eq!(parse_cpu(&[0xff, b'1']), None);
    }

    #[test]
    fn attribute_numbers_round_trip() {
        assert_eq!(ChannelAttribute::from_raw(0), Some(ChannelAttribute::Cpu));
        assert_eq!(
            ChannelAttribute::from_raw(2),
            Some(ChannelAttribute::MonitorId)
        );
        assert_eq!(ChannelAttribute::from_raw(3), None);
    }
}
