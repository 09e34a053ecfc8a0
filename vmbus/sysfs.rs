// SPDX-License-Identifier: GPL-2.0
//! What sysfs shows for a VMBus device: the attributes of the C driver
//! (`drivers/hv/vmbus_drv.c`: `class_id`, `device_id`, `modalias`, `id`, `state`, `monitor_id`,
//! `vendor`, `device`, `numa_node`) formatted the same way, from a [`DeviceInfo`] that each
//! device owns. Pure formatting; `bus.rs` connects it to the driver core.

use crate::connection::Connection;
use crate::modalias::ModAlias;
use crate::platform;
use crate::proto::offer::{device_type, ValidOffer, VENDOR_MICROSOFT};
use crate::subchannels::BindingSlot;
use core::fmt::Write;
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::Arc;

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

/// The device attributes, numbered as in the shim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attribute {
    Id,
    State,
    MonitorId,
    ClassId,
    DeviceId,
    Modalias,
    NumaNode,
    Vendor,
    Device,
}

impl Attribute {
    /// The attribute with the shim's number `n`.
    pub(crate) fn from_raw(n: u32) -> Option<Self> {
        use Attribute::*;
        Some(match n {
            0 => Id,
            1 => State,
            2 => MonitorId,
            3 => ClassId,
            4 => DeviceId,
            5 => Modalias,
            6 => NumaNode,
            7 => Vendor,
            8 => Device,
            _ => return None,
        })
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

/// Formats attribute `attr` of `info`, newline included, as sysfs shows it.
pub(crate) fn format_attribute(
    info: &DeviceInfo,
    attr: Attribute,
    out: &mut impl Write,
) -> core::fmt::Result {
    let offer = &info.offer;
    match attr {
        Attribute::Id => writeln!(out, "{}", offer.relid),
        Attribute::State => writeln!(out, "{}", info.state.load(ordering::Relaxed)),
        Attribute::MonitorId => writeln!(out, "{}", offer.monitor_id_raw),
        Attribute::ClassId => {
            write_braced_guid(out, &offer.class)?;
            out.write_char('\n')
        }
        Attribute::DeviceId => {
            write_braced_guid(out, &offer.instance)?;
            out.write_char('\n')
        }
        Attribute::Modalias => {
            for &b in ModAlias::of(&offer.class).as_bytes() {
                out.write_char(char::from(b))?;
            }
            out.write_char('\n')
        }
        // Channels are served by the connect CPU for now, CPU 0 as in the C driver.
        Attribute::NumaNode => writeln!(out, "{}", platform::cpu_node(0)),
        Attribute::Vendor => writeln!(out, "{:#x}", VENDOR_MICROSOFT),
        Attribute::Device => writeln!(out, "{:#x}", info.device_type),
    }
}

/// Whether attribute `attr` exists for `info`: the monitor id only with a monitor.
pub(crate) fn attribute_visible(info: &DeviceInfo, attr: Attribute) -> bool {
    attr != Attribute::MonitorId || info.offer.monitor_id.is_some()
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
    }

    #[test]
    fn monitor_id_only_with_a_monitor() {
        assert!(attribute_visible(&heartbeat(Some(0)), Attribute::MonitorId));
        assert!(!attribute_visible(&heartbeat(None), Attribute::MonitorId));
        assert!(attribute_visible(&heartbeat(None), Attribute::ClassId));
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
        assert_eq!(Attribute::from_raw(8), Some(Attribute::Device));
        assert_eq!(Attribute::from_raw(9), None);
    }
}
