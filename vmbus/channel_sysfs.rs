// SPDX-License-Identifier: GPL-2.0
//! The per-channel sysfs directories of a device, `channels/<relid>/`, as the C driver has
//! them (`vmbus_chan_attrs` in `drivers/hv/vmbus_drv.c`): `cpu` (the CPU the host interrupts
//! for the channel; writing it moves the channel, see `connection/retarget.rs`),
//! `subchannel_id` and `monitor_id`. The kobjects live in the C shim; it calls back into the
//! `rhv_vmbus_chan_*` functions here with the [`DeviceInfo`] each directory owns.

use crate::bus::BusDevice;
use crate::channel_stats::Counter;
use crate::platform::{self, RhvChannelDir};
use crate::sysfs::{
    ring_value, write_u32, BufferWriter, DeviceInfo, MonitorField, RingField, Sign,
};
use core::fmt::Write;
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::ffi::{c_char, c_uint, c_void};
use kernel::prelude::*;
use kernel::sync::Arc;

/// The channel attributes, numbered as in the shim (the order of `vmbus_chan_attrs` in C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChannelAttribute {
    OutMask,
    InMask,
    ReadAvail,
    WriteAvail,
    Cpu,
    Pending,
    Latency,
    Counter(Counter),
    MonitorId,
    SubchannelId,
}

impl ChannelAttribute {
    /// Every attribute, in the shim's numbering.
    const ALL: [ChannelAttribute; 15] = [
        Self::OutMask,
        Self::InMask,
        Self::ReadAvail,
        Self::WriteAvail,
        Self::Cpu,
        Self::Pending,
        Self::Latency,
        Self::Counter(Counter::Interrupts),
        Self::Counter(Counter::Events),
        Self::Counter(Counter::IntrInFull),
        Self::Counter(Counter::IntrOutEmpty),
        Self::Counter(Counter::OutFullFirst),
        Self::Counter(Counter::OutFullTotal),
        Self::MonitorId,
        Self::SubchannelId,
    ];

    /// The attribute with the shim's number `n`.
    pub(crate) fn from_raw(n: u32) -> Option<Self> {
        Self::ALL.get(n as usize).copied()
    }
}

/// Formats channel attribute `attr` of `info`, newline included; `EINVAL` for a ring value
/// of a channel that is not open, as the C driver.
pub(crate) fn format_channel_attribute(
    info: &DeviceInfo,
    attr: ChannelAttribute,
    out: &mut impl Write,
) -> Result {
    let offer = info.offer();
    let fmt = |r: core::fmt::Result| r.map_err(|_| EOVERFLOW);
    // C's `%u` of the ring's control words.
    let ring = |out: &mut _, outbound: bool, field| -> Result {
        let (o, i) = info.ring_debug()?;
        let r = if outbound { o } else { i };
        fmt(write_u32(out, ring_value(&r, field), Sign::Unsigned))
    };
    match attr {
        ChannelAttribute::OutMask => ring(out, true, RingField::InterruptMask),
        ChannelAttribute::InMask => ring(out, false, RingField::InterruptMask),
        ChannelAttribute::ReadAvail => ring(out, false, RingField::BytesToRead),
        ChannelAttribute::WriteAvail => ring(out, true, RingField::BytesToWrite),
        ChannelAttribute::Cpu => fmt(writeln!(out, "{}", info.target_cpu())),
        // As C: the guest's monitor page (1) for the channel files.
        ChannelAttribute::Pending => {
            let v = info.monitor_value(1, MonitorField::Pending)?;
            fmt(write_u32(out, v, Sign::Signed))
        }
        ChannelAttribute::Latency => {
            let v = info.monitor_value(1, MonitorField::Latency)?;
            fmt(write_u32(out, v, Sign::Signed))
        }
        ChannelAttribute::Counter(c) => fmt(writeln!(out, "{}", info.stats().get(c))),
        ChannelAttribute::MonitorId => fmt(writeln!(out, "{}", offer.monitor_id_raw)),
        ChannelAttribute::SubchannelId => fmt(writeln!(out, "{}", offer.sub_channel_index)),
    }
}

/// Whether channel attribute `attr` exists for `info`: as C, `pending`, `latency` and
/// `monitor_id` only for a channel the host offered with a monitor.
pub(crate) fn channel_attribute_visible(info: &DeviceInfo, attr: ChannelAttribute) -> bool {
    match attr {
        ChannelAttribute::Pending | ChannelAttribute::Latency | ChannelAttribute::MonitorId => {
            info.offer().monitor_id.is_some()
        }
        _ => true,
    }
}

/// Whether `b` is a blank for the kernel's `isspace()` (its Latin-1 table counts 0xa0 too).
fn c_isspace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0)
}

/// Parses what was written to `cpu` exactly as the C driver's `sscanf(buf, "%u", ...)`:
/// blanks, then at least one decimal digit; the digits are accumulated in 64 bits (wrapping)
/// and stored into 32 (truncating); whatever follows the digits is ignored. `None` where
/// `sscanf` converts nothing (the C driver's `EIO`).
pub(crate) fn parse_cpu(bytes: &[u8]) -> Option<u32> {
    let mut rest = bytes
        .iter()
        .copied()
        .skip_while(|&b| c_isspace(b))
        .peekable();
    if !rest.peek()?.is_ascii_digit() {
        return None;
    }
    let mut value = 0u64;
    for b in rest.take_while(u8::is_ascii_digit) {
        value = value.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
    }
    Some(value as u32)
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
        Err(e) => e.to_errno() as isize,
    }
}

#[no_mangle]
extern "C" fn rhv_vmbus_chan_visible(ctx: *const c_void, attr: c_uint) -> bool {
    // SAFETY: called while the directory's attributes are created, so its context lives.
    let info = unsafe { info(ctx) };
    ChannelAttribute::from_raw(attr).is_some_and(|a| channel_attribute_visible(info, a))
}

#[no_mangle]
extern "C" fn rhv_vmbus_chan_store(
    ctx: *const c_void,
    attr: c_uint,
    buf: *const c_char,
    count: usize,
) -> isize {
    // As C: writing a file that has no store is EIO (root may open a 0444 file for writing).
    if ChannelAttribute::from_raw(attr) != Some(ChannelAttribute::Cpu) {
        return EIO.to_errno() as isize;
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
    fn cpu_numbers_parse_like_c_sscanf_percent_u() {
        assert_eq!(parse_cpu(b"1\n"), Some(1));
        assert_eq!(parse_cpu(b" 12 "), Some(12));
        assert_eq!(parse_cpu(b"\t\x0b3"), Some(3));
        // What follows the digits is ignored, as by sscanf.
        assert_eq!(parse_cpu(b"1x"), Some(1));
        assert_eq!(parse_cpu(b"007"), Some(7));
        // Nothing converted: C's EIO.
        assert_eq!(parse_cpu(b""), None);
        assert_eq!(parse_cpu(b"\n"), None);
        assert_eq!(parse_cpu(b"-1"), None);
        assert_eq!(parse_cpu(b"+1"), None);
        assert_eq!(parse_cpu(b"x1"), None);
        assert_eq!(parse_cpu(&[0xff, b'1']), None);
        // Stored into 32 bits: truncated (then refused as no such CPU, or not).
        assert_eq!(parse_cpu(b"4294967296"), Some(0));
        assert_eq!(parse_cpu(b"99999999999"), Some(99_999_999_999u64 as u32));
    }

    fn offer(monitor: Option<u8>) -> DeviceInfo {
        use crate::proto::offer::{parse_offer, KNOWN_CLASSES};
        use crate::proto::vmbus::{MessageHeader, MessageType, OfferChannel};
        use zerocopy::{FromZeros, IntoBytes};
        let mut m = OfferChannel::new_zeroed();
        m.header = MessageHeader::new(MessageType::OfferChannel);
        m.offer.if_type = KNOWN_CLASSES[11];
        m.child_relid = 14;
        m.offer.sub_channel_index = 2;
        if let Some(id) = monitor {
            m.monitor_allocated = 1;
            m.monitorid = id;
        }
        // PANIC: a well-formed offer built above; a test allocation does not fail.
        DeviceInfo::new(parse_offer(m.as_bytes()).unwrap()).unwrap()
    }

    fn show(info: &DeviceInfo, attr: ChannelAttribute) -> Result<KVec<u8>> {
        let mut page = [0u8; 64];
        let mut w = BufferWriter::new(&mut page);
        format_channel_attribute(info, attr, &mut w)?;
        let mut v = KVec::new();
        v.extend_from_slice(w.written(), GFP_KERNEL)?;
        Ok(v)
    }

    #[test]
    fn channel_files_as_c() -> Result {
        let info = offer(Some(9));
        assert_eq!(&show(&info, ChannelAttribute::SubchannelId)?[..], b"2\n");
        assert_eq!(&show(&info, ChannelAttribute::MonitorId)?[..], b"9\n");
        assert_eq!(&show(&info, ChannelAttribute::Cpu)?[..], b"0\n");
        info.stats().count(Counter::Interrupts);
        info.stats().count(Counter::Interrupts);
        info.stats().ring_full();
        let interrupts = ChannelAttribute::Counter(Counter::Interrupts);
        assert_eq!(&show(&info, interrupts)?[..], b"2\n");
        let first = ChannelAttribute::Counter(Counter::OutFullFirst);
        assert_eq!(&show(&info, first)?[..], b"1\n");
        // Not open: the ring files fail as C's do.
        for a in [
            ChannelAttribute::OutMask,
            ChannelAttribute::InMask,
            ChannelAttribute::ReadAvail,
            ChannelAttribute::WriteAvail,
        ] {
            assert_eq!(show(&info, a).err(), Some(EINVAL));
        }
        Ok(())
    }

    #[test]
    fn monitor_files_only_for_monitored_channels() {
        for a in [
            ChannelAttribute::Pending,
            ChannelAttribute::Latency,
            ChannelAttribute::MonitorId,
        ] {
            assert!(channel_attribute_visible(&offer(Some(0)), a));
            assert!(!channel_attribute_visible(&offer(None), a));
        }
        for n in 0..15 {
            let a = ChannelAttribute::from_raw(n).unwrap_or(ChannelAttribute::Cpu);
            if !matches!(
                a,
                ChannelAttribute::Pending | ChannelAttribute::Latency | ChannelAttribute::MonitorId
            ) {
                assert!(channel_attribute_visible(&offer(None), a));
            }
        }
    }

    #[test]
    fn attribute_numbers_round_trip() {
        assert_eq!(
            ChannelAttribute::from_raw(0),
            Some(ChannelAttribute::OutMask)
        );
        assert_eq!(ChannelAttribute::from_raw(4), Some(ChannelAttribute::Cpu));
        assert_eq!(
            ChannelAttribute::from_raw(7),
            Some(ChannelAttribute::Counter(Counter::Interrupts))
        );
        assert_eq!(
            ChannelAttribute::from_raw(12),
            Some(ChannelAttribute::Counter(Counter::OutFullTotal))
        );
        assert_eq!(
            ChannelAttribute::from_raw(14),
            Some(ChannelAttribute::SubchannelId)
        );
        assert_eq!(ChannelAttribute::from_raw(15), None);
    }
}
