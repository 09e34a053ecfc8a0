// SPDX-License-Identifier: GPL-2.0
//! The VMBus channel messages, one packed struct each, following the `vmbus_channel_*`
//! structures of `include/linux/hyperv.h`. Each struct *includes* the message header, so
//! `size_of::<T>()` equals the C `sizeof`; variable parts (GPADL PFNs) follow the struct.
//!
//! This file is also compiled into the kernel modules: `core` and `zerocopy` only; it expects
//! `guid.rs` and `vmbus.rs` as its sibling modules `guid` and `vmbus`, and `wire.rs` in the
//! same crate.

use super::guid::Guid;
use super::vmbus::{
    ChannelMessage, MessageHeader, MessageType, HV_PAGE_SIZE, MAX_MESSAGE_SIZE,
    MAX_USER_DEFINED_BYTES,
};
use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The device-independent part of an offer (`struct vmbus_channel_offer`).
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ChannelOffer {
    /// Device class (sysfs `class_id`): selects the driver.
    pub if_type: Guid,
    /// Device instance (sysfs `device_id`).
    pub if_instance: Guid,
    /// Unused, zero.
    pub reserved1: u64,
    /// Unused, zero.
    pub reserved2: u64,
    /// `OFFER_FLAG_*` bits.
    pub chn_flags: u16,
    /// MMIO space the device needs, in MiB.
    pub mmio_megabytes: u16,
    /// Device-defined bytes; in pipe mode the first 4 are a `PIPE_TYPE_*` word.
    pub user_defined: [u8; MAX_USER_DEFINED_BYTES],
    /// Zero for a primary channel, 1.. for its sub-channels.
    pub sub_channel_index: u16,
    /// Unused, zero.
    pub reserved3: u16,
}
const _: () = assert!(core::mem::size_of::<ChannelOffer>() == 176);

crate::wire_struct! {
    /// OFFERCHANNEL: a channel the guest may open.
    OfferChannel: ChannelMessage = OfferChannel, at most MAX_MESSAGE_SIZE, size 196 {
        /// Message header; `msgtype` is [`MessageType::OfferChannel`].
        pub header: MessageHeader,
        /// Class, instance, flags and user-defined data.
        pub offer: ChannelOffer,
        /// Relative id of the channel: the event flag bit and the key of every later message.
        pub child_relid: u32,
        /// Monitor page slot, meaningful only with `monitor_allocated`.
        pub monitorid: u8,
        /// Bit 0: the guest signals this channel through the monitor page.
        pub monitor_allocated: u8,
        /// Bit 0: the channel has its own connection id, so the guest does not set its bit in
        /// the legacy shared interrupt page.
        pub is_dedicated_interrupt: u16,
        /// Connection id the guest passes to HvSignalEvent for this channel.
        pub connection_id: u32,
    }
}

crate::wire_struct! {
    /// RESCIND_CHANNELOFFER: the host withdraws a channel.
    RescindChannelOffer: ChannelMessage = RescindChannelOffer, at most MAX_MESSAGE_SIZE, size 12 {
        /// Message header; `msgtype` is [`MessageType::RescindChannelOffer`].
        pub header: MessageHeader,
        /// The channel.
        pub child_relid: u32,
    }
}

crate::wire_struct! {
    /// REQUESTOFFERS: the guest asks for all offers.
    RequestOffers: ChannelMessage = RequestOffers, at most MAX_MESSAGE_SIZE, size 8 {
        /// Message header; `msgtype` is [`MessageType::RequestOffers`].
        pub header: MessageHeader,
    }
}

crate::wire_struct! {
    /// ALLOFFERS_DELIVERED: all boot-time offers have been sent.
    AllOffersDelivered: ChannelMessage = AllOffersDelivered, at most MAX_MESSAGE_SIZE, size 8 {
        /// Message header; `msgtype` is [`MessageType::AllOffersDelivered`].
        pub header: MessageHeader,
    }
}

crate::wire_struct! {
    /// OPENCHANNEL: open a channel on a ring-buffer GPADL. The GPADL's first
    /// `downstream_ringbuffer_pageoffset` pages are the guest → host ring, the rest the
    /// host → guest ring; each ring starts with its control page.
    OpenChannel: ChannelMessage = OpenChannel, at most MAX_MESSAGE_SIZE, size 148 {
        /// Message header; `msgtype` is [`MessageType::OpenChannel`].
        pub header: MessageHeader,
        /// The channel.
        pub child_relid: u32,
        /// Echoed in the result so the guest can match it.
        pub openid: u32,
        /// GPADL holding both rings.
        pub ringbuffer_gpadlhandle: u32,
        /// vCPU (VP index) to interrupt for host → guest traffic.
        pub target_vp: u32,
        /// Page offset of the host → guest ring inside the GPADL.
        pub downstream_ringbuffer_pageoffset: u32,
        /// Passed to the device.
        pub userdata: [u8; MAX_USER_DEFINED_BYTES],
    }
}

crate::wire_struct! {
    /// OPENCHANNEL_RESULT.
    OpenResult: ChannelMessage = OpenChannelResult, at most MAX_MESSAGE_SIZE, size 20 {
        /// Message header; `msgtype` is [`MessageType::OpenChannelResult`].
        pub header: MessageHeader,
        /// The channel.
        pub child_relid: u32,
        /// From the request.
        pub openid: u32,
        /// [`STATUS_SUCCESS`] or a failure status.
        pub status: u32,
    }
}

crate::wire_struct! {
    /// CLOSECHANNEL.
    CloseChannel: ChannelMessage = CloseChannel, at most MAX_MESSAGE_SIZE, size 12 {
        /// Message header; `msgtype` is [`MessageType::CloseChannel`].
        pub header: MessageHeader,
        /// The channel.
        pub child_relid: u32,
    }
}

/// One range of a GPADL: `byte_count` bytes starting `byte_offset` into the first page,
/// followed in the message by one u64 PFN per page the range touches.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GpaRange {
    /// Length of the range.
    pub byte_count: u32,
    /// Offset of the range in its first page.
    pub byte_offset: u32,
}
const _: () = assert!(core::mem::size_of::<GpaRange>() == 8);

impl GpaRange {
    /// Number of 4 KiB pages the range touches, or `None` if it overflows.
    pub fn page_count(&self) -> Option<u32> {
        let end = u64::from(self.byte_offset) + u64::from(self.byte_count);
        u32::try_from(end.div_ceil(HV_PAGE_SIZE)).ok()
    }
}

crate::wire_struct! {
    /// GPADL_HEADER: starts a GPADL. `range_buflen` bytes of ranges (each a [`GpaRange`] and
    /// its PFNs) follow, in this message and in GPADL_BODY messages.
    GpadlHeader: ChannelMessage = GpadlHeader, at most MAX_MESSAGE_SIZE, size 20 {
        /// Message header; `msgtype` is [`MessageType::GpadlHeader`].
        pub header: MessageHeader,
        /// Channel the GPADL belongs to.
        pub child_relid: u32,
        /// Guest-chosen GPADL id, unique in the connection.
        pub gpadl: u32,
        /// Total bytes of range descriptions, across all messages.
        pub range_buflen: u16,
        /// Number of ranges.
        pub rangecount: u16,
    }
}

crate::wire_struct! {
    /// GPADL_BODY: more PFNs of a GPADL, filling the message.
    GpadlBody: ChannelMessage = GpadlBody, at most MAX_MESSAGE_SIZE, size 16 {
        /// Message header; `msgtype` is [`MessageType::GpadlBody`].
        pub header: MessageHeader,
        /// Sequence number; Linux leaves it zero, so hosts do not rely on it.
        pub msgnumber: u32,
        /// The GPADL.
        pub gpadl: u32,
    }
}

/// PFNs that fit after the fixed part and the first range of GPADL_HEADER.
pub const GPADL_HEADER_MAX_PFNS: usize =
    (MAX_MESSAGE_SIZE - core::mem::size_of::<GpadlHeader>() - core::mem::size_of::<GpaRange>()) / 8;
/// PFNs that fit in one GPADL_BODY.
pub const GPADL_BODY_MAX_PFNS: usize = (MAX_MESSAGE_SIZE - core::mem::size_of::<GpadlBody>()) / 8;

crate::wire_struct! {
    /// GPADL_CREATED.
    GpadlCreated: ChannelMessage = GpadlCreated, at most MAX_MESSAGE_SIZE, size 20 {
        /// Message header; `msgtype` is [`MessageType::GpadlCreated`].
        pub header: MessageHeader,
        /// From the header.
        pub child_relid: u32,
        /// The GPADL.
        pub gpadl: u32,
        /// [`STATUS_SUCCESS`] or a failure status.
        pub creation_status: u32,
    }
}

crate::wire_struct! {
    /// GPADL_TEARDOWN.
    GpadlTeardown: ChannelMessage = GpadlTeardown, at most MAX_MESSAGE_SIZE, size 16 {
        /// Message header; `msgtype` is [`MessageType::GpadlTeardown`].
        pub header: MessageHeader,
        /// Channel the GPADL belongs to.
        pub child_relid: u32,
        /// The GPADL.
        pub gpadl: u32,
    }
}

crate::wire_struct! {
    /// GPADL_TORNDOWN.
    GpadlTorndown: ChannelMessage = GpadlTorndown, at most MAX_MESSAGE_SIZE, size 12 {
        /// Message header; `msgtype` is [`MessageType::GpadlTorndown`].
        pub header: MessageHeader,
        /// The GPADL.
        pub gpadl: u32,
    }
}

crate::wire_struct! {
    /// RELID_RELEASED: the guest has dropped a (rescinded) channel; the relid may be reused.
    RelidReleased: ChannelMessage = RelidReleased, at most MAX_MESSAGE_SIZE, size 12 {
        /// Message header; `msgtype` is [`MessageType::RelidReleased`].
        pub header: MessageHeader,
        /// The channel.
        pub child_relid: u32,
    }
}

crate::wire_struct! {
    /// INITIATE_CONTACT: the guest proposes `vmbus_version_requested`.
    InitiateContact: ChannelMessage = InitiateContact, at most MAX_MESSAGE_SIZE, size 40 {
        /// Message header; `msgtype` is [`MessageType::InitiateContact`].
        pub header: MessageHeader,
        /// Proposed version.
        pub vmbus_version_requested: u32,
        /// VP index the host sends channel messages to.
        pub target_vcpu: u32,
        /// Before 5.0: GPA of the legacy interrupt page. From 5.0: byte 0 message SINT,
        /// byte 1 VTL, bytes 4..8 feature flags (6.0+).
        pub interrupt_page_or_target_info: u64,
        /// GPA of the host → guest monitor page.
        pub monitor_page1: u64,
        /// GPA of the guest → host monitor page.
        pub monitor_page2: u64,
    }
}

impl InitiateContact {
    /// SINT the guest wants messages on (5.0+).
    pub fn msg_sint(&self) -> u8 {
        self.interrupt_page_or_target_info.to_le_bytes()[0]
    }
    /// VTL the guest runs in (5.0+).
    pub fn msg_vtl(&self) -> u8 {
        self.interrupt_page_or_target_info.to_le_bytes()[1]
    }
    /// Feature flags (6.0+).
    pub fn feature_flags(&self) -> u32 {
        (self.interrupt_page_or_target_info >> 32) as u32
    }
    /// Packs the 5.0+ target info word.
    pub fn target_info(msg_sint: u8, msg_vtl: u8, feature_flags: u32) -> u64 {
        u64::from(msg_sint) | u64::from(msg_vtl) << 8 | u64::from(feature_flags) << 32
    }
}

crate::wire_struct! {
    /// VERSION_RESPONSE.
    VersionResponse: ChannelMessage = VersionResponse, at most MAX_MESSAGE_SIZE, size 16 {
        /// Message header; `msgtype` is [`MessageType::VersionResponse`].
        pub header: MessageHeader,
        /// Non-zero if the proposed version is accepted.
        pub version_supported: u8,
        /// `CONNECTION_STATE_*`.
        pub connection_state: u8,
        /// Zero.
        pub padding: u16,
        /// 5.0+: message connection id for every later guest message.
        pub msg_conn_id: u32,
    }
}

crate::wire_struct! {
    /// VERSION_RESPONSE as sent for 6.0+, with the accepted feature flags.
    VersionResponse2: ChannelMessage = VersionResponse, at most MAX_MESSAGE_SIZE, size 20 {
        /// Message header; `msgtype` is [`MessageType::VersionResponse`].
        pub header: MessageHeader,
        /// Non-zero if the proposed version is accepted.
        pub version_supported: u8,
        /// `CONNECTION_STATE_*`.
        pub connection_state: u8,
        /// Zero.
        pub padding: u16,
        /// Message connection id for every later guest message.
        pub msg_conn_id: u32,
        /// The subset of the requested feature flags the host supports.
        pub supported_features: u32,
    }
}

crate::wire_struct! {
    /// UNLOAD: the guest disconnects.
    Unload: ChannelMessage = Unload, at most MAX_MESSAGE_SIZE, size 8 {
        /// Message header; `msgtype` is [`MessageType::Unload`].
        pub header: MessageHeader,
    }
}

crate::wire_struct! {
    /// UNLOAD_RESPONSE: every channel has been reset.
    UnloadResponse: ChannelMessage = UnloadResponse, at most MAX_MESSAGE_SIZE, size 8 {
        /// Message header; `msgtype` is [`MessageType::UnloadResponse`].
        pub header: MessageHeader,
    }
}

crate::wire_struct! {
    /// TL_CONNECT_REQUEST: a guest hv_sock connect().
    TlConnectRequest: ChannelMessage = TlConnectRequest, at most MAX_MESSAGE_SIZE, size 40 {
        /// Message header; `msgtype` is [`MessageType::TlConnectRequest`].
        pub header: MessageHeader,
        /// Guest endpoint.
        pub guest_endpoint_id: Guid,
        /// Host service.
        pub host_service_id: Guid,
    }
}

crate::wire_struct! {
    /// MODIFYCHANNEL: interrupt another vCPU for a channel.
    ModifyChannel: ChannelMessage = ModifyChannel, at most MAX_MESSAGE_SIZE, size 16 {
        /// Message header; `msgtype` is [`MessageType::ModifyChannel`].
        pub header: MessageHeader,
        /// The channel.
        pub child_relid: u32,
        /// New target VP index.
        pub target_vp: u32,
    }
}

crate::wire_struct! {
    /// MODIFYCHANNEL_RESPONSE (5.3+).
    ModifyChannelResponse: ChannelMessage = ModifyChannelResponse, at most MAX_MESSAGE_SIZE, size 16 {
        /// Message header; `msgtype` is [`MessageType::ModifyChannelResponse`].
        pub header: MessageHeader,
        /// The channel.
        pub child_relid: u32,
        /// [`STATUS_SUCCESS`] or a failure status.
        pub status: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::{FromZeros, IntoBytes};

    #[test]
    fn offer_channel_field_offsets_match_linux() {
        let mut m = OfferChannel::new_zeroed();
        m.header = MessageHeader::new(MessageType::OfferChannel);
        m.offer.chn_flags = 0x1234;
        m.offer.sub_channel_index = 0xabcd;
        m.child_relid = 0x0102_0304;
        m.monitorid = 0x55;
        m.monitor_allocated = 1;
        m.is_dedicated_interrupt = 1;
        m.connection_id = 0x0a0b_0c0d;
        let b = m.as_bytes();
        assert_eq!(&b[0..4], &[1, 0, 0, 0]);
        assert_eq!(&b[56..58], &[0x34, 0x12]);
        assert_eq!(&b[180..182], &[0xcd, 0xab]);
        assert_eq!(&b[184..188], &[4, 3, 2, 1]);
        assert_eq!(b[188], 0x55);
        assert_eq!(b[189], 1);
        assert_eq!(&b[190..192], &[1, 0]);
        assert_eq!(&b[192..196], &[0x0d, 0x0c, 0x0b, 0x0a]);
    }

    #[test]
    fn initiate_contact_target_info() {
        let mut m = InitiateContact::new_zeroed();
        m.interrupt_page_or_target_info = InitiateContact::target_info(2, 0, 0x10);
        assert_eq!(m.msg_sint(), 2);
        assert_eq!(m.msg_vtl(), 0);
        assert_eq!(m.feature_flags(), 0x10);
        let b = m.as_bytes();
        assert_eq!(b[16], 2);
        assert_eq!(&b[20..24], &[0x10, 0, 0, 0]);
    }

    #[test]
    fn gpadl_pfn_capacity_matches_linux_split() {
        assert_eq!(GPADL_HEADER_MAX_PFNS, 26);
        assert_eq!(GPADL_BODY_MAX_PFNS, 28);
        let r = GpaRange {
            byte_count: 4096 * 3,
            byte_offset: 0,
        };
        assert_eq!(r.page_count(), Some(3));
        let r = GpaRange {
            byte_count: 4096,
            byte_offset: 1,
        };
        assert_eq!(r.page_count(), Some(2));
        let r = GpaRange {
            byte_count: u32::MAX,
            byte_offset: u32::MAX,
        };
        assert_eq!(r.page_count(), Some(2_097_152));
    }

    #[test]
    fn sizes_match_the_c_structs() {
        use core::mem::size_of;
        assert_eq!(size_of::<OpenChannel>(), 148);
        assert_eq!(size_of::<InitiateContact>(), 40);
        assert_eq!(size_of::<VersionResponse>(), 16);
        assert_eq!(size_of::<GpadlHeader>(), 20);
        assert_eq!(size_of::<TlConnectRequest>(), 40);
    }
}
