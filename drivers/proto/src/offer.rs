// SPDX-License-Identifier: GPL-2.0
//! Channel offers as the guest accepts them: OFFERCHANNEL and RESCIND_CHANNELOFFER parsed and
//! checked field by field, and the device type the guest reports for an offer's class (the
//! numbering of `enum vmbus_device_type` in `include/linux/hyperv.h`, shown in sysfs `device`).
//!
//! A host may send anything: an offer is turned into a [`ValidOffer`] only if every field the
//! guest later uses as an index or an id is in range; otherwise the guest logs the field and
//! ignores the offer. Also compiled into the kernel modules: `core` and `zerocopy` only;
//! expects `guid.rs`, `vmbus.rs` and `vmbus_msg.rs` as sibling modules.

use super::guid::Guid;
use super::negotiate::CONNECTION_ID_MASK;
use super::vmbus::{
    parse, OfferChannel, ParseError, RescindChannelOffer, MAX_CHANNEL_RELIDS,
    OFFER_FLAG_TLNPI_PROVIDER,
};

/// Monitor ids index the 4 trigger groups of 32 bits of the monitor pages.
pub const MAX_MONITOR_ID: u8 = 127;

/// An offer whose fields are all in range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidOffer {
    /// Device class.
    pub class: Guid,
    /// Device instance.
    pub instance: Guid,
    /// Relative channel id, `1..MAX_CHANNEL_RELIDS`.
    pub relid: u32,
    /// Monitor id, if the host allocated one.
    pub monitor_id: Option<u8>,
    /// Connection id to signal the host on.
    pub connection_id: u32,
    /// Whether the channel has its own connection id.
    pub dedicated_interrupt: bool,
    /// Zero for a primary channel.
    pub sub_channel_index: u16,
    /// `OFFER_FLAG_*`.
    pub flags: u16,
    /// MMIO space the device needs, in MiB.
    pub mmio_megabytes: u16,
    /// The raw monitor id byte, as the C driver shows it in sysfs.
    pub monitor_id_raw: u8,
}

/// The field of an offer or rescind that is out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferError {
    /// Not a well-formed message of the expected type.
    Malformed(ParseError),
    /// `child_relid` is zero (reserved for channel messages) or not below 2048.
    Relid(u32),
    /// `monitorid` beyond the monitor pages, with `monitor_allocated` set.
    MonitorId(u8),
    /// `connection_id` uses the reserved top byte.
    ConnectionId(u32),
}

fn check_relid(relid: u32) -> Result<u32, OfferError> {
    if relid == 0 || relid >= MAX_CHANNEL_RELIDS {
        Err(OfferError::Relid(relid))
    } else {
        Ok(relid)
    }
}

/// Parses and checks an OFFERCHANNEL message.
pub fn parse_offer(bytes: &[u8]) -> Result<ValidOffer, OfferError> {
    let (m, _) = parse::<OfferChannel>(bytes).map_err(OfferError::Malformed)?;
    let relid = check_relid(m.child_relid)?;
    let monitor_id = if m.monitor_allocated & 1 != 0 {
        if m.monitorid > MAX_MONITOR_ID {
            return Err(OfferError::MonitorId(m.monitorid));
        }
        Some(m.monitorid)
    } else {
        None
    };
    let connection_id = m.connection_id;
    if connection_id & !CONNECTION_ID_MASK != 0 {
        return Err(OfferError::ConnectionId(connection_id));
    }
    let offer = m.offer;
    Ok(ValidOffer {
        class: offer.if_type,
        instance: offer.if_instance,
        relid,
        monitor_id,
        connection_id,
        dedicated_interrupt: m.is_dedicated_interrupt & 1 != 0,
        sub_channel_index: offer.sub_channel_index,
        flags: offer.chn_flags,
        mmio_megabytes: offer.mmio_megabytes,
        monitor_id_raw: m.monitorid,
    })
}

/// Parses and checks a RESCIND_CHANNELOFFER message, returning the relid.
pub fn parse_rescind(bytes: &[u8]) -> Result<u32, OfferError> {
    let (m, _) = parse::<RescindChannelOffer>(bytes).map_err(OfferError::Malformed)?;
    check_relid(m.child_relid)
}

/// PCI vendor id the guest reports for every VMBus device (Microsoft).
pub const VENDOR_MICROSOFT: u16 = 0x1414;

/// The class GUIDs of the devices Linux knows (include/linux/hyperv.h), one name each.
pub mod class {
    use super::Guid;

    /// Class of the accelerated IDE controller (`HV_IDE_GUID`).
    pub const IDE: Guid = Guid::from_fields(
        0x32412632,
        0x86cb,
        0x44a2,
        [0x9b, 0x5c, 0x50, 0xd1, 0x41, 0x73, 0x54, 0xf5],
    );
    /// Class of the synthetic SCSI controller (`HV_SCSI_GUID`).
    pub const SCSI: Guid = Guid::from_fields(
        0xba6163d9,
        0x04a1,
        0x4d29,
        [0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f],
    );
    /// Class of the synthetic Fibre Channel adapter (`HV_SYNTHFC_GUID`).
    pub const FIBRE_CHANNEL: Guid = Guid::from_fields(
        0x2f9bcc4a,
        0x0069,
        0x4af3,
        [0xb7, 0x6b, 0x6f, 0xd0, 0xbe, 0x52, 0x8c, 0xda],
    );
    /// Class of the synthetic network adapter (`HV_NIC_GUID`).
    pub const NETWORK: Guid = Guid::from_fields(
        0xf8615163,
        0xdf3e,
        0x46c5,
        [0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e],
    );
    /// Class of Network Direct (`HV_ND_GUID`).
    pub const NETWORK_DIRECT: Guid = Guid::from_fields(
        0x8c2eaf3d,
        0x32a7,
        0x4b09,
        [0xab, 0x99, 0xbd, 0x1f, 0x1c, 0x86, 0xb5, 0x01],
    );
    /// Class of PCI Express pass-through (`HV_PCIE_GUID`).
    pub const PCIE: Guid = Guid::from_fields(
        0x44c4f61d,
        0x4444,
        0x4400,
        [0x9d, 0x52, 0x80, 0x2e, 0x27, 0xed, 0xe1, 0x9f],
    );
    /// Class of the synthetic video adapter (`HV_SYNTHVID_GUID`).
    pub const VIDEO: Guid = Guid::from_fields(
        0xda0a7802,
        0xe377,
        0x4aac,
        [0x8e, 0x77, 0x05, 0x58, 0xeb, 0x10, 0x73, 0xf8],
    );
    /// Class of the synthetic keyboard (`HV_KBD_GUID`).
    pub const KEYBOARD: Guid = Guid::from_fields(
        0xf912ad6d,
        0x2b17,
        0x48ea,
        [0xbd, 0x65, 0xf9, 0x27, 0xa6, 0x1c, 0x76, 0x84],
    );
    /// Class of the synthetic mouse (`HV_MOUSE_GUID`).
    pub const MOUSE: Guid = Guid::from_fields(
        0xcfa8b69e,
        0x5b4a,
        0x4cc0,
        [0xb9, 0x8b, 0x8b, 0xa1, 0xa1, 0xf3, 0xf9, 0x5a],
    );
    /// Class of key-value pair exchange (`HV_KVP_GUID`).
    pub const KVP: Guid = Guid::from_fields(
        0xa9a0f4e7,
        0x5a45,
        0x4d96,
        [0xb8, 0x27, 0x8a, 0x84, 0x1e, 0x8c, 0x03, 0xe6],
    );
    /// Class of time synchronisation (`HV_TS_GUID`).
    pub const TIMESYNC: Guid = Guid::from_fields(
        0x9527e630,
        0xd0ae,
        0x497b,
        [0xad, 0xce, 0xe8, 0x0a, 0xb0, 0x17, 0x5c, 0xaf],
    );
    /// Class of heartbeat (`HV_HEART_BEAT_GUID`).
    pub const HEARTBEAT: Guid = Guid::from_fields(
        0x57164f39,
        0x9115,
        0x4e78,
        [0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d],
    );
    /// Class of shutdown (`HV_SHUTDOWN_GUID`).
    pub const SHUTDOWN: Guid = Guid::from_fields(
        0x0e0b6031,
        0x5213,
        0x4934,
        [0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39, 0xdb],
    );
    /// Class of guest file copy (`HV_FCOPY_GUID`).
    pub const FILE_COPY: Guid = Guid::from_fields(
        0x34d14be3,
        0xdee4,
        0x41c8,
        [0x9a, 0xe7, 0x6b, 0x17, 0x49, 0x77, 0xc1, 0x92],
    );
    /// Class of backup, VSS (`HV_VSS_GUID`).
    pub const BACKUP: Guid = Guid::from_fields(
        0x35fa2e29,
        0xea23,
        0x4236,
        [0x96, 0xae, 0x3a, 0x6e, 0xba, 0xcb, 0xa4, 0x40],
    );
    /// Class of dynamic memory (`HV_DM_GUID`).
    pub const DYNAMIC_MEMORY: Guid = Guid::from_fields(
        0x525074dc,
        0x8985,
        0x46e2,
        [0x80, 0x57, 0xa3, 0x07, 0xdc, 0x18, 0xa5, 0x02],
    );
}

/// Device classes the guest knows, in the order of Linux's `enum vmbus_device_type`: an
/// offer's device type is its index here, or [`DEVICE_TYPE_UNKNOWN`].
pub const KNOWN_CLASSES: [Guid; 16] = [
    class::IDE,
    class::SCSI,
    class::FIBRE_CHANNEL,
    class::NETWORK,
    class::NETWORK_DIRECT,
    class::PCIE,
    class::VIDEO,
    class::KEYBOARD,
    class::MOUSE,
    class::KVP,
    class::TIMESYNC,
    class::HEARTBEAT,
    class::SHUTDOWN,
    class::FILE_COPY,
    class::BACKUP,
    class::DYNAMIC_MEMORY,
];

/// Device type of classes not in [`KNOWN_CLASSES`] and of Hyper-V socket offers.
pub const DEVICE_TYPE_UNKNOWN: u16 = KNOWN_CLASSES.len() as u16;

/// Classes Linux deliberately treats as unknown even though it has heard of them.
const IGNORED_CLASSES: [Guid; 4] = [
    Guid::from_fields(
        0xf8e65716,
        0x3cb3,
        0x4a06,
        [0x9a, 0x60, 0x18, 0x89, 0xc5, 0xcc, 0xca, 0xb5],
    ),
    Guid::from_fields(
        0x3375baf4,
        0x9e15,
        0x4b30,
        [0xb7, 0x65, 0x67, 0xac, 0xb1, 0x0d, 0x60, 0x7b],
    ),
    Guid::from_fields(
        0x276aacf4,
        0xac15,
        0x426c,
        [0x98, 0xdd, 0x75, 0x21, 0xad, 0x3f, 0x01, 0xfe],
    ),
    Guid::from_fields(
        0xc376c1c3,
        0xd276,
        0x48d2,
        [0x90, 0xa9, 0xc0, 0x47, 0x48, 0x07, 0x2c, 0x60],
    ),
];

/// The device type of an offer (sysfs `device`).
pub fn device_type(offer: &ValidOffer) -> u16 {
    if offer.flags & OFFER_FLAG_TLNPI_PROVIDER != 0 || IGNORED_CLASSES.contains(&offer.class) {
        return DEVICE_TYPE_UNKNOWN;
    }
    KNOWN_CLASSES
        .iter()
        .position(|c| *c == offer.class)
        .and_then(|i| u16::try_from(i).ok())
        .unwrap_or(DEVICE_TYPE_UNKNOWN)
}

#[cfg(test)]
mod tests {
    use super::super::vmbus::{MessageHeader, MessageType};
    use super::*;
    use zerocopy::{FromZeros, IntoBytes};

    fn offer(relid: u32) -> OfferChannel {
        let mut m = OfferChannel::new_zeroed();
        m.header = MessageHeader::new(MessageType::OfferChannel);
        m.offer.if_type = KNOWN_CLASSES[11];
        m.offer.if_instance.bytes = [7; 16];
        m.child_relid = relid;
        m.connection_id = 0x2001;
        m
    }

    #[test]
    fn accepts_a_good_offer() {
        let v = parse_offer(offer(5).as_bytes()).unwrap();
        assert_eq!(v.relid, 5);
        assert_eq!(v.monitor_id, None);
        assert_eq!(v.connection_id, 0x2001);
        assert_eq!(v.instance.bytes, [7; 16]);
        assert_eq!(device_type(&v), 11);
    }

    #[test]
    fn rejects_bad_fields() {
        assert_eq!(parse_offer(offer(0).as_bytes()), Err(OfferError::Relid(0)));
        assert_eq!(
            parse_offer(offer(2048).as_bytes()),
            Err(OfferError::Relid(2048))
        );
        let mut m = offer(1);
        m.monitor_allocated = 1;
        m.monitorid = 128;
        assert_eq!(parse_offer(m.as_bytes()), Err(OfferError::MonitorId(128)));
        m.monitorid = 127;
        assert_eq!(parse_offer(m.as_bytes()).unwrap().monitor_id, Some(127));
        // Without monitor_allocated the monitor id is ignored.
        m.monitor_allocated = 0;
        m.monitorid = 200;
        assert_eq!(parse_offer(m.as_bytes()).unwrap().monitor_id, None);
        let mut m = offer(1);
        m.connection_id = 0x0100_0000;
        assert_eq!(
            parse_offer(m.as_bytes()),
            Err(OfferError::ConnectionId(0x0100_0000))
        );
        assert!(matches!(
            parse_offer(&offer(1).as_bytes()[..100]),
            Err(OfferError::Malformed(ParseError::TooShort { .. }))
        ));
        let mut m = offer(1);
        m.header = MessageHeader::new(MessageType::RescindChannelOffer);
        assert!(matches!(
            parse_offer(m.as_bytes()),
            Err(OfferError::Malformed(ParseError::WrongType { .. }))
        ));
    }

    #[test]
    fn rescind() {
        let mut r = RescindChannelOffer::new_zeroed();
        r.header = MessageHeader::new(MessageType::RescindChannelOffer);
        r.child_relid = 9;
        assert_eq!(parse_rescind(r.as_bytes()), Ok(9));
        r.child_relid = 0;
        assert_eq!(parse_rescind(r.as_bytes()), Err(OfferError::Relid(0)));
    }

    #[test]
    fn device_types() {
        let mut v = parse_offer(offer(1).as_bytes()).unwrap();
        v.class = KNOWN_CLASSES[0];
        assert_eq!(device_type(&v), 0);
        v.class = KNOWN_CLASSES[15];
        assert_eq!(device_type(&v), 15);
        v.class = IGNORED_CLASSES[2];
        assert_eq!(device_type(&v), DEVICE_TYPE_UNKNOWN);
        v.class = Guid::default();
        assert_eq!(device_type(&v), DEVICE_TYPE_UNKNOWN);
        v.class = KNOWN_CLASSES[3];
        v.flags = OFFER_FLAG_TLNPI_PROVIDER;
        assert_eq!(device_type(&v), DEVICE_TYPE_UNKNOWN);
    }
}
