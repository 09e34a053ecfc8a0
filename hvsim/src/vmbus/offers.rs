// SPDX-License-Identifier: GPL-2.0
//! Channel offers: what a device tells the guest about itself (OFFERCHANNEL), the relids
//! and connection ids the server hands out, and GUID text for the control interface.
//!
//! Offer fields follow what Hyper-V sends Linux (`vmbus_onoffer()` and
//! `vmbus_setup_channel_state()` in drivers/hv/channel_mgmt.c read them): no monitor page
//! (`monitor_allocated` = 0, so the guest always signals with HvSignalEvent), a dedicated
//! interrupt (`is_dedicated_interrupt` = 1, so it never touches the legacy interrupt page),
//! and one connection id per channel.

use std::collections::BTreeSet;

use rhv_proto::guid::Guid;
use rhv_proto::vmbus as proto;
use zerocopy::FromZeros;

/// What a device offers: the fields of OFFERCHANNEL that do not depend on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferParams {
    /// Short name for logs and the control interface (`"heartbeat"`, `"storvsp0"`).
    pub name: String,
    /// Device class (sysfs `class_id`).
    pub class_id: Guid,
    /// Device instance (sysfs `device_id`).
    pub instance_id: Guid,
    /// `OFFER_FLAG_*` bits.
    pub flags: u16,
    /// MMIO space the guest should reserve for the device, in MiB.
    pub mmio_megabytes: u16,
    /// The offer's user-defined area (with the pipe mode word in front in pipe mode).
    pub user_defined: [u8; proto::MAX_USER_DEFINED_BYTES],
    /// How many sub-channels the device can serve besides the primary channel.
    pub max_subchannels: u16,
}

impl OfferParams {
    /// An ordinary device channel: enumerated as a device, no MMIO, no sub-channels.
    pub fn new(name: &str, class_id: Guid, instance_id: Guid) -> Self {
        Self {
            name: name.to_owned(),
            class_id,
            instance_id,
            flags: proto::OFFER_FLAG_ENUMERATE_DEVICE_INTERFACE,
            mmio_megabytes: 0,
            user_defined: [0; proto::MAX_USER_DEFINED_BYTES],
            max_subchannels: 0,
        }
    }

    /// Marks the channel a message-mode pipe, as Hyper-V offers its integration components.
    pub fn message_pipe(mut self) -> Self {
        self.flags |= proto::OFFER_FLAG_NAMED_PIPE_MODE;
        self.user_defined[..4].copy_from_slice(&proto::PIPE_TYPE_MESSAGE.to_le_bytes());
        self
    }

    /// Lets the guest ask for up to `n` sub-channels.
    pub fn with_subchannels(mut self, n: u16) -> Self {
        self.max_subchannels = n;
        self
    }
}

/// The connection id the guest signals a channel with. Hyper-V style: the relid in the low
/// bits and the message SINT above it, which keeps ids 1..4 free for the control connections.
pub fn channel_connection_id(relid: u32) -> u32 {
    relid | u32::from(proto::VMBUS_MESSAGE_SINT) << 12
}

/// The relid behind a channel connection id, if it is one.
pub fn relid_of_connection_id(connection_id: u32) -> Option<u32> {
    let relid = connection_id & 0xfff;
    (connection_id == channel_connection_id(relid) && relid != 0).then_some(relid)
}

/// Builds OFFERCHANNEL for one channel of a device.
pub fn offer_message(
    params: &OfferParams,
    relid: u32,
    subchannel_index: u16,
) -> proto::OfferChannel {
    let mut msg = proto::OfferChannel::new_zeroed();
    msg.header = proto::MessageHeader::new(proto::MessageType::OfferChannel);
    msg.offer.if_type = params.class_id;
    msg.offer.if_instance = params.instance_id;
    msg.offer.chn_flags = params.flags;
    msg.offer.mmio_megabytes = params.mmio_megabytes;
    msg.offer.user_defined = params.user_defined;
    msg.offer.sub_channel_index = subchannel_index;
    msg.child_relid = relid;
    msg.monitorid = 0;
    msg.monitor_allocated = 0;
    msg.is_dedicated_interrupt = 1;
    msg.connection_id = channel_connection_id(relid);
    msg
}

/// Hands out relids: the lowest free number from 1, below the event flag count.
#[derive(Debug, Default)]
pub struct RelidAllocator {
    used: BTreeSet<u32>,
}

impl RelidAllocator {
    /// Takes the lowest free relid, or `None` when all 2047 are in use.
    pub fn allocate(&mut self) -> Option<u32> {
        let relid = (1..proto::MAX_CHANNEL_RELIDS).find(|r| !self.used.contains(r))?;
        self.used.insert(relid);
        Some(relid)
    }

    /// Returns a relid for reuse.
    pub fn release(&mut self, relid: u32) {
        self.used.remove(&relid);
    }
}

/// The canonical text form of a GUID.
pub fn guid_text(guid: &Guid) -> String {
    let mut out = [0u8; 36];
    guid.format(&mut out);
    out.iter().map(|&b| char::from(b)).collect()
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case).
pub fn parse_guid(text: &str) -> Option<Guid> {
    let t = text.as_bytes();
    if t.len() != 36 || [8, 13, 18, 23].iter().any(|&i| t[i] != b'-') {
        return None;
    }
    let hex: String = text.chars().filter(|&c| c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let field = |range: std::ops::Range<usize>| u64::from_str_radix(&hex[range], 16).ok();
    let data1 = u32::try_from(field(0..8)?).ok()?;
    let data2 = u16::try_from(field(8..12)?).ok()?;
    let data3 = u16::try_from(field(12..16)?).ok()?;
    let mut data4 = [0u8; 8];
    for (i, b) in data4.iter_mut().enumerate() {
        *b = u8::try_from(field(16 + 2 * i..18 + 2 * i)?).ok()?;
    }
    Some(Guid::from_fields(data1, data2, data3, data4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_text_round_trips() {
        let text = "57164f39-9115-4e78-ab55-382f3bd5422d";
        let g = parse_guid(text).unwrap();
        assert_eq!(guid_text(&g), text);
        assert_eq!(parse_guid("57164F39-9115-4E78-AB55-382F3BD5422D"), Some(g));
        assert_eq!(parse_guid("57164f39-9115-4e78-ab55-382f3bd5422"), None);
        assert_eq!(parse_guid("57164f39+9115-4e78-ab55-382f3bd5422d"), None);
        assert_eq!(parse_guid("57164f39-9115-4e78-ab55-382f3bd5422g"), None);
    }

    #[test]
    fn relids_are_reused_lowest_first() {
        let mut a = RelidAllocator::default();
        assert_eq!(a.allocate(), Some(1));
        assert_eq!(a.allocate(), Some(2));
        assert_eq!(a.allocate(), Some(3));
        a.release(2);
        assert_eq!(a.allocate(), Some(2));
        for _ in 4..proto::MAX_CHANNEL_RELIDS {
            assert!(a.allocate().is_some());
        }
        assert_eq!(a.allocate(), None);
    }

    #[test]
    fn connection_ids_map_back_to_relids() {
        assert_eq!(channel_connection_id(5), 0x2005);
        assert_eq!(relid_of_connection_id(0x2005), Some(5));
        assert_eq!(
            relid_of_connection_id(proto::VMBUS_MESSAGE_CONNECTION_ID),
            None
        );
        assert_eq!(relid_of_connection_id(0x2000), None);
        assert_eq!(relid_of_connection_id(0x3005), None);
    }

    #[test]
    fn pipe_offers_carry_the_mode_word() {
        let g = Guid::default();
        let p = OfferParams::new("x", g, g).message_pipe();
        let m = offer_message(&p, 7, 0);
        assert_eq!({ m.offer.chn_flags }, 0x11);
        assert_eq!(&m.offer.user_defined[..4], &[4, 0, 0, 0]);
        assert_eq!({ m.connection_id }, 0x2007);
        assert_eq!({ m.is_dedicated_interrupt }, 1);
        assert_eq!(m.monitor_allocated, 0);
    }
}
