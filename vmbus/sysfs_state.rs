// SPDX-License-Identifier: GPL-2.0
//! The live state behind the C driver's debugging files, for the device attributes
//! (`sysfs.rs`) and the channel attributes (`channel_sysfs.rs`): the control words of an open
//! channel's rings, the monitor pages' words of a monitored channel, and the `relid:cpu`
//! lines of `channel_vp_mapping`. Formatting follows `vmbus_drv.c`: `%d` for most ring and
//! monitor values (so a mask of `0xffffffff` shows as `-1`), `%u` where C has it.

use super::DeviceInfo;
use crate::proto::monitor;
use crate::ring::RingDebug;
use core::fmt::Write;
use kernel::prelude::*;

/// A word of a monitored channel's entry in a monitor page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MonitorField {
    /// The `pending` word of the channel's trigger group.
    Pending,
    /// The channel's latency (16 bits).
    Latency,
    /// The channel's connection id.
    ConnectionId,
}

/// One ring debugging value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RingField {
    InterruptMask,
    ReadIndex,
    WriteIndex,
    BytesToRead,
    BytesToWrite,
}

/// How C prints a value: `%d` of a 32-bit value, or `%u`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sign {
    Signed,
    Unsigned,
}

/// Writes `value` as C's `%d` (`Signed`) or `%u`, and a newline.
pub(crate) fn write_u32(out: &mut impl Write, value: u32, sign: Sign) -> core::fmt::Result {
    match sign {
        Sign::Signed => writeln!(out, "{}", value as i32),
        Sign::Unsigned => writeln!(out, "{}", value),
    }
}

/// The value `field` of ring snapshot `ring`.
pub(crate) fn ring_value(ring: &RingDebug, field: RingField) -> u32 {
    match field {
        RingField::InterruptMask => ring.interrupt_mask,
        RingField::ReadIndex => ring.read_index,
        RingField::WriteIndex => ring.write_index,
        RingField::BytesToRead => ring.bytes_to_read,
        RingField::BytesToWrite => ring.bytes_to_write,
    }
}

/// The 16-bit value at `offset` of the 32-bit `word` that contains it (little-endian).
fn half_of(word: u32, offset: usize) -> u32 {
    if offset & 2 == 0 {
        word & 0xffff
    } else {
        word >> 16
    }
}

impl DeviceInfo {
    /// The control words of the channel's guest → host and host → guest rings; `EINVAL`
    /// when the channel is not open (the C driver's answer when it has no ring).
    pub(crate) fn ring_debug(&self) -> Result<(RingDebug, RingDebug)> {
        let conn = self.conn.as_ref().ok_or(EINVAL)?;
        let channel = conn.open_channel(self.offer.relid).ok_or(EINVAL)?;
        channel.ring_debug()
    }

    /// Word `field` of the channel in monitor page `page` (0: the host's, 1: the guest's);
    /// `ENODEV` for a channel without a monitor.
    pub(crate) fn monitor_value(&self, page: usize, field: MonitorField) -> Result<u32> {
        let id = self.offer.monitor_id.ok_or(ENODEV)?;
        let conn = self.conn.as_ref().ok_or(ENODEV)?;
        Ok(match field {
            MonitorField::Pending => conn.monitor_word(page, monitor::pending_offset(id)),
            MonitorField::Latency => {
                let offset = monitor::latency_offset(id);
                half_of(conn.monitor_word(page, offset), offset)
            }
            MonitorField::ConnectionId => {
                conn.monitor_word(page, monitor::connection_id_offset(id))
            }
        })
    }

    /// Writes `channel_vp_mapping`: `relid:cpu` of this primary channel, then of each of
    /// its sub-channels in the order the host offered them.
    pub(crate) fn write_vp_mapping(&self, out: &mut impl Write) -> Result {
        write_vp_line(out, self)?;
        if let Some(conn) = self.conn.as_ref() {
            for sub in conn.subchannels_of(&self.offer.instance)?.iter() {
                write_vp_line(out, sub)?;
            }
        }
        Ok(())
    }
}

fn write_vp_line(out: &mut impl Write, info: &DeviceInfo) -> Result {
    writeln!(out, "{}:{}", info.offer.relid, info.target_cpu()).map_err(|_| EOVERFLOW)
}

#[kunit_tests(rhv_vmbus_sysfs_state)]
mod tests {
    use super::*;
    use crate::sysfs::BufferWriter;

    fn text(value: u32, sign: Sign) -> KVec<u8> {
        let mut page = [0u8; 32];
        let mut w = BufferWriter::new(&mut page);
        assert!(write_u32(&mut w, value, sign).is_ok());
        let mut v = KVec::new();
        assert!(v.extend_from_slice(w.written(), GFP_KERNEL).is_ok());
        v
    }

    #[test]
    fn values_print_as_c_percent_d_and_percent_u() {
        assert_eq!(&text(0xffff_ffff, Sign::Signed)[..], b"-1\n");
        assert_eq!(&text(0xffff_ffff, Sign::Unsigned)[..], b"4294967295\n");
        assert_eq!(&text(4040, Sign::Signed)[..], b"4040\n");
    }

    #[test]
    fn ring_values_pick_the_field() {
        let r = RingDebug {
            read_index: 1,
            write_index: 2,
            interrupt_mask: 3,
            bytes_to_read: 4,
            bytes_to_write: 5,
        };
        assert_eq!(ring_value(&r, RingField::ReadIndex), 1);
        assert_eq!(ring_value(&r, RingField::WriteIndex), 2);
        assert_eq!(ring_value(&r, RingField::InterruptMask), 3);
        assert_eq!(ring_value(&r, RingField::BytesToRead), 4);
        assert_eq!(ring_value(&r, RingField::BytesToWrite), 5);
    }

    #[test]
    fn latency_halves_are_little_endian() {
        assert_eq!(half_of(0x1234_5678, 0x240), 0x5678);
        assert_eq!(half_of(0x1234_5678, 0x242), 0x1234);
    }
}
