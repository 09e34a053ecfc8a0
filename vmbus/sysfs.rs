// SPDX-License-Identifier: GPL-2.0
//! What sysfs shows for a VMBus device: the attributes of the C driver
//! (`drivers/hv/vmbus_drv.c`: `class_id`, `device_id`, `modalias`, `id`, `state`, `monitor_id`,
//! `vendor`, `device`, `numa_node`) formatted the same way, from a [`DeviceInfo`] that each
//! device owns. Pure formatting; `bus.rs` connects it to the driver core.

use crate::channel_stats::ChannelStats;
use crate::connection::Connection;
use crate::modalias::ModAlias;
use crate::platform;
use crate::proto::offer::{device_type, ValidOffer, VENDOR_MICROSOFT};
use crate::subchannels::BindingSlot;
use core::fmt::Write;
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::Arc;

#[path = "sysfs_state.rs"]
mod state;
pub(crate) use state::{ring_value, write_u32, MonitorField, RingField, Sign};

/// Channel states as sysfs `state` shows them (the numbers of `enum vmbus_channel_state`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChannelState {
    /// The offer has been processed and the channel may be opened: the C driver's
    /// `CHANNEL_OPEN_STATE`, which it sets once the device is registered.
    Offered = 2,
    /// Open: `CHANNEL_OPENED_STATE`.
    Opened = 3,
}

/// An offered channel as the rest of the module sees it: what sysfs shows, whether the host
/// rescinded it, and the connection it came on.
pub(crate) struct DeviceInfo {
    offer: ValidOffer,
    device_type: u16,
    state: Atomic<i32>,
    rescinded: Atomic<bool>,
    conn: Option<Arc<Connection>>,
    /// The driver bound to the device, for sub-channel events (primary channels).
    binding: BindingSlot,
    /// The CPU whose vCPU the host interrupts for the channel (sysfs `channels/<relid>/cpu`).
    target_cpu: Atomic<u32>,
    /// The channel's event counters.
    stats: ChannelStats,
}

impl DeviceInfo {
    /// The sysfs view of the channel `offer`, with no connection (tests).
    #[cfg(CONFIG_KUNIT)]
    pub(crate) fn new(offer: ValidOffer) -> Result<Self> {
        Self::build(offer, None)
    }

    /// The channel `offer` of connection `conn`.
    pub(crate) fn with_connection(offer: ValidOffer, conn: Arc<Connection>) -> Result<Self> {
        Self::build(offer, Some(conn))
    }

    fn build(offer: ValidOffer, conn: Option<Arc<Connection>>) -> Result<Self> {
        Ok(Self {
            device_type: device_type(&offer),
            offer,
            state: Atomic::new(ChannelState::Offered as i32),
            rescinded: Atomic::new(false),
            conn,
            binding: BindingSlot::new()?,
            target_cpu: Atomic::new(0),
            stats: ChannelStats::new(),
        })
    }

    /// The CPU the host interrupts for the channel (the last one it was told).
    pub(crate) fn target_cpu(&self) -> u32 {
        self.target_cpu.load(ordering::Relaxed)
    }

    /// Records the CPU the host was told to interrupt for the channel.
    pub(crate) fn set_target_cpu(&self, cpu: u32) {
        self.target_cpu.store(cpu, ordering::Relaxed);
    }

    /// The channel's event counters.
    pub(crate) fn stats(&self) -> &ChannelStats {
        &self.stats
    }

    /// Whether the channel is open.
    pub(crate) fn is_open(&self) -> bool {
        self.state.load(ordering::Relaxed) == ChannelState::Opened as i32
    }

    /// The slot of the driver bound to the device.
    pub(crate) fn binding(&self) -> &BindingSlot {
        &self.binding
    }

    /// The connection the offer came on.
    pub(crate) fn connection(&self) -> Option<&Arc<Connection>> {
        self.conn.as_ref()
    }

    /// Whether the host has rescinded the channel.
    pub(crate) fn is_rescinded(&self) -> bool {
        self.rescinded.load(ordering::Acquire)
    }

    /// Records where the channel is in its life, for sysfs.
    pub(crate) fn set_state(&self, state: ChannelState) {
        self.state.store(state as i32, ordering::Relaxed);
    }

    /// Records the host's rescind.
    pub(crate) fn set_rescinded(&self) {
        // ORDERING: pairs with the acquire in `is_rescinded`.
        self.rescinded.store(true, ordering::Release);
    }

    /// The offer the device stands for.
    pub(crate) fn offer(&self) -> &ValidOffer {
        &self.offer
    }
}

/// The device attributes, numbered as in the shim (the order of `vmbus_dev_attrs` in C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attribute {
    Id,
    State,
    MonitorId,
    ClassId,
    DeviceId,
    Modalias,
    NumaNode,
    /// A word of the channel's entry in monitor page 0 (`server_*`) or 1 (`client_*`).
    Monitor(usize, MonitorField),
    /// A value of the guest → host (`out_*`) ring.
    Out(RingField),
    /// A value of the host → guest (`in_*`) ring.
    In(RingField),
    ChannelVpMapping,
    Vendor,
    Device,
}

impl Attribute {
    /// Every attribute, in the shim's numbering.
    const ALL: [Attribute; 26] = {
        use Attribute::*;
        use MonitorField::*;
        use RingField::*;
        [
            Id,
            State,
            MonitorId,
            ClassId,
            DeviceId,
            Modalias,
            NumaNode,
            Monitor(0, Pending),
            Monitor(1, Pending),
            Monitor(0, Latency),
            Monitor(1, Latency),
            Monitor(0, ConnectionId),
            Monitor(1, ConnectionId),
            Out(InterruptMask),
            Out(ReadIndex),
            Out(WriteIndex),
            Out(BytesToRead),
            Out(BytesToWrite),
            In(InterruptMask),
            In(ReadIndex),
            In(WriteIndex),
            In(BytesToRead),
            In(BytesToWrite),
            ChannelVpMapping,
            Vendor,
            Device,
        ]
    };

    /// The attribute with the shim's number `n`.
    pub(crate) fn from_raw(n: u32) -> Option<Self> {
        Self::ALL.get(n as usize).copied()
    }
}

/// Writes `{guid}` as the C driver's `%pUl` inside braces.
fn write_braced_guid(out: &mut impl Write, guid: &crate::Guid) -> core::fmt::Result {
    let mut text = [0u8; 36];
    guid.format(&mut text);
    out.write_char('{')?;
    for &b in text.iter() {
        out.write_char(char::from(b))?;
    }
    out.write_char('}')
}

/// How C prints ring value `field` of the guest → host ring (`out`) or the other: `%d`
/// everywhere but for `out_read_index` and `out_write_index`.
fn ring_sign(out: bool, field: RingField) -> Sign {
    match (out, field) {
        (true, RingField::ReadIndex | RingField::WriteIndex) => Sign::Unsigned,
        _ => Sign::Signed,
    }
}

/// Formats attribute `attr` of `info`, newline included, as sysfs shows it; `EINVAL` for a
/// ring value of a channel that is not open, as the C driver.
pub(crate) fn format_attribute(info: &DeviceInfo, attr: Attribute, out: &mut impl Write) -> Result {
    let offer = &info.offer;
    let fmt = |r: core::fmt::Result| r.map_err(|_| EOVERFLOW);
    match attr {
        Attribute::Id => fmt(writeln!(out, "{}", offer.relid)),
        Attribute::State => fmt(writeln!(out, "{}", info.state.load(ordering::Relaxed))),
        Attribute::MonitorId => fmt(writeln!(out, "{}", offer.monitor_id_raw)),
        Attribute::ClassId => {
            fmt(write_braced_guid(out, &offer.class).and_then(|()| out.write_char('\n')))
        }
        Attribute::DeviceId => {
            fmt(write_braced_guid(out, &offer.instance).and_then(|()| out.write_char('\n')))
        }
        Attribute::Modalias => {
            for &b in ModAlias::of(&offer.class).as_bytes() {
                fmt(out.write_char(char::from(b)))?;
            }
            fmt(out.write_char('\n'))
        }
        // As C: the node of the CPU the host interrupts for the primary channel.
        Attribute::NumaNode => fmt(writeln!(out, "{}", platform::cpu_node(info.target_cpu()))),
        Attribute::Monitor(page, field) => {
            let v = info.monitor_value(page, field)?;
            fmt(write_u32(out, v, Sign::Signed))
        }
        Attribute::Out(field) => {
            let (ring, _) = info.ring_debug()?;
            fmt(write_u32(
                out,
                ring_value(&ring, field),
                ring_sign(true, field),
            ))
        }
        Attribute::In(field) => {
            let (_, ring) = info.ring_debug()?;
            fmt(write_u32(
                out,
                ring_value(&ring, field),
                ring_sign(false, field),
            ))
        }
        Attribute::ChannelVpMapping => info.write_vp_mapping(out),
        Attribute::Vendor => fmt(writeln!(out, "{:#x}", VENDOR_MICROSOFT)),
        Attribute::Device => fmt(writeln!(out, "{:#x}", info.device_type)),
    }
}

/// Whether attribute `attr` exists for `info`: as C, the monitor id and the six monitor page
/// files only for a channel the host offered with a monitor.
pub(crate) fn attribute_visible(info: &DeviceInfo, attr: Attribute) -> bool {
    match attr {
        Attribute::MonitorId | Attribute::Monitor(..) => info.offer.monitor_id.is_some(),
        _ => true,
    }
}

/// A `fmt::Write` into a fixed buffer that fails instead of overflowing.
pub(crate) struct BufferWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> BufferWriter<'a> {
    /// A writer that fills `buf` from its start.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// The bytes written so far.
    pub(crate) fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Write for BufferWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[kunit_tests(rhv_vmbus_sysfs)]
mod tests {
    use super::*;
    use crate::proto::offer::{parse_offer, KNOWN_CLASSES};
    use crate::proto::vmbus::{MessageHeader, MessageType, OfferChannel};
    use zerocopy::{FromZeros, IntoBytes};

    fn heartbeat(monitor: Option<u8>) -> DeviceInfo {
        let mut m = OfferChannel::new_zeroed();
        m.header = MessageHeader::new(MessageType::OfferChannel);
        m.offer.if_type = KNOWN_CLASSES[11];
        m.offer.if_instance = crate::Guid::from_fields(
            0x242ff919,
            0x07db,
            0x4180,
            [0x9c, 0x2e, 0xb8, 0x6c, 0xb6, 0x8c, 0x8c, 0x55],
        );
        m.child_relid = 14;
        if let Some(id) = monitor {
            m.monitor_allocated = 1;
            m.monitorid = id;
        }
        // PANIC: a well-formed offer built above; a test allocation does not fail.
        DeviceInfo::new(parse_offer(m.as_bytes()).unwrap()).unwrap()
    }

    fn show(info: &DeviceInfo, attr: Attribute) -> KVec<u8> {
        let mut page = [0u8; 128];
        let mut w = BufferWriter::new(&mut page);
        assert!(format_attribute(info, attr, &mut w).is_ok());
        let mut v = KVec::new();
        for &b in w.written() {
            assert!(v.push(b, GFP_KERNEL).is_ok());
        }
        v
    }

    #[test]
    fn attributes_match_the_c_driver() {
        let info = heartbeat(Some(3));
        assert_eq!(
            &show(&info, Attribute::ClassId)[..],
            b"{57164f39-9115-4e78-ab55-382f3bd5422d}\n"
        );
        assert_eq!(
            &show(&info, Attribute::DeviceId)[..],
            b"{242ff919-07db-4180-9c2e-b86cb68c8c55}\n"
        );
        assert_eq!(
            &show(&info, Attribute::Modalias)[..],
            b"vmbus:394f16571591784eab55382f3bd5422d\n"
        );
        assert_eq!(&show(&info, Attribute::Id)[..], b"14\n");
        assert_eq!(&show(&info, Attribute::State)[..], b"2\n");
        assert_eq!(&show(&info, Attribute::MonitorId)[..], b"3\n");
        assert_eq!(&show(&info, Attribute::Vendor)[..], b"0x1414\n");
        assert_eq!(&show(&info, Attribute::Device)[..], b"0xb\n");
        assert_eq!(&show(&info, Attribute::ChannelVpMapping)[..], b"14:0\n");
    }

    #[test]
    fn monitor_id_only_with_a_monitor() {
        assert!(attribute_visible(&heartbeat(Some(0)), Attribute::MonitorId));
        assert!(!attribute_visible(&heartbeat(None), Attribute::MonitorId));
        assert!(attribute_visible(&heartbeat(None), Attribute::ClassId));
        for page in 0..2 {
            for field in [
                MonitorField::Pending,
                MonitorField::Latency,
                MonitorField::ConnectionId,
            ] {
                let attr = Attribute::Monitor(page, field);
                assert!(attribute_visible(&heartbeat(Some(5)), attr));
                assert!(!attribute_visible(&heartbeat(None), attr));
            }
        }
        assert!(attribute_visible(
            &heartbeat(None),
            Attribute::Out(RingField::ReadIndex)
        ));
        assert!(attribute_visible(
            &heartbeat(None),
            Attribute::ChannelVpMapping
        ));
    }

    #[test]
    fn writer_refuses_to_overflow() {
        let mut small = [0u8; 4];
        let mut w = BufferWriter::new(&mut small);
        assert!(w.write_str("abc").is_ok());
        assert!(w.write_str("de").is_err());
        assert_eq!(w.written(), b"abc");
    }

    #[test]
    fn attribute_numbers_round_trip() {
        assert_eq!(Attribute::from_raw(0), Some(Attribute::Id));
        assert_eq!(
            Attribute::from_raw(7),
            Some(Attribute::Monitor(0, MonitorField::Pending))
        );
        assert_eq!(
            Attribute::from_raw(14),
            Some(Attribute::Out(RingField::ReadIndex))
        );
        assert_eq!(
            Attribute::from_raw(22),
            Some(Attribute::In(RingField::BytesToWrite))
        );
        assert_eq!(Attribute::from_raw(23), Some(Attribute::ChannelVpMapping));
        assert_eq!(Attribute::from_raw(25), Some(Attribute::Device));
        assert_eq!(Attribute::from_raw(26), None);
    }

    #[test]
    fn ring_files_fail_like_c_when_the_channel_is_closed() {
        let info = heartbeat(None);
        let mut page = [0u8; 64];
        let mut w = BufferWriter::new(&mut page);
        assert_eq!(
            format_attribute(&info, Attribute::Out(RingField::ReadIndex), &mut w),
            Err(EINVAL)
        );
        assert_eq!(
            format_attribute(&info, Attribute::In(RingField::InterruptMask), &mut w),
            Err(EINVAL)
        );
    }

    #[test]
    fn ring_signs_follow_c() {
        assert_eq!(ring_sign(true, RingField::ReadIndex), Sign::Unsigned);
        assert_eq!(ring_sign(true, RingField::WriteIndex), Sign::Unsigned);
        assert_eq!(ring_sign(true, RingField::InterruptMask), Sign::Signed);
        assert_eq!(ring_sign(false, RingField::ReadIndex), Sign::Signed);
        assert_eq!(ring_sign(false, RingField::BytesToWrite), Sign::Signed);
    }
}
