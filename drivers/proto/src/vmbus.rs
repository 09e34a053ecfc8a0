// SPDX-License-Identifier: GPL-2.0
//! VMBus channel-management messages: the control protocol that guest and host exchange as
//! SynIC messages (HvPostMessage from the guest, SINT 2 messages from the host) to negotiate a
//! protocol version, offer and open channels, describe guest memory (GPADLs) and unload.
//!
//! This file holds the protocol constants (connection ids, versions, flags), the message type
//! numbers, the common header and the parser; the messages themselves are in `vmbus_msg.rs`
//! and re-exported here. Every message starts with [`MessageHeader`] and fits in the 240-byte
//! SynIC payload.
//!
//! This file is also compiled into the kernel modules: it uses only `core` and `zerocopy`, and
//! expects `guid.rs` and `vmbus_msg.rs` to be included as its sibling modules `guid` and
//! `vmbus_msg`.

use zerocopy::FromBytes;
use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub use super::vmbus_msg::*;

/// Largest SynIC message payload (TLFS "SynIC message" format).
pub const MAX_MESSAGE_SIZE: usize = 240;

/// SynIC message type the guest uses for every HvPostMessage of the VMBus protocol, and the
/// host for every message it queues for the guest.
pub const VMBUS_SYNIC_MESSAGE_TYPE: u32 = 1;

/// Message connection of the VMBus control protocol (all versions before 5.0, and the id the
/// host usually hands back in [`VersionResponse::msg_conn_id`]).
pub const VMBUS_MESSAGE_CONNECTION_ID: u32 = 1;
/// Legacy event connection: pre-Win8 guests signalled every channel through it.
pub const VMBUS_EVENT_CONNECTION_ID: u32 = 2;
/// Legacy monitor connection.
pub const VMBUS_MONITOR_CONNECTION_ID: u32 = 3;
/// Connection that carries INITIATE_CONTACT for protocol 5.0 and newer.
pub const VMBUS_MESSAGE_CONNECTION_ID_4: u32 = 4;
/// Connection a VTL2 guest tries first for INITIATE_CONTACT.
pub const VMBUS_MESSAGE_CONNECTION_ID_REDIRECT: u32 = 0x0080_0074;
/// The SINT on which the host delivers VMBus messages and channel event flags.
pub const VMBUS_MESSAGE_SINT: u8 = 2;

/// Relids are bit numbers in the 2048-bit SynIC event flags of SINT 2 (relid 0 is reserved).
pub const MAX_CHANNEL_RELIDS: u32 = 2048;

/// Builds a protocol version number from `major.minor`.
pub const fn make_version(major: u16, minor: u16) -> u32 {
    ((major as u32) << 16) | minor as u32
}

/// Splits a protocol version into `(major, minor)`.
pub const fn split_version(version: u32) -> (u16, u16) {
    ((version >> 16) as u16, version as u16)
}

/// Windows Server 2008.
pub const VERSION_WS2008: u32 = make_version(0, 13);
/// Windows 7 / Server 2008 R2.
pub const VERSION_WIN7: u32 = make_version(1, 1);
/// Windows 8 / Server 2012.
pub const VERSION_WIN8: u32 = make_version(2, 4);
/// Windows 8.1 / Server 2012 R2.
pub const VERSION_WIN8_1: u32 = make_version(3, 0);
/// Windows 10: the oldest version Linux 7.3 still proposes.
pub const VERSION_WIN10: u32 = make_version(4, 0);
/// Windows 10 RS3: adds MODIFYCHANNEL.
pub const VERSION_WIN10_V4_1: u32 = make_version(4, 1);
/// Introduces the INITIATE_CONTACT connection id 4 and the returned message connection id.
pub const VERSION_WIN10_V5: u32 = make_version(5, 0);
/// Windows 10 RS4.
pub const VERSION_WIN10_V5_1: u32 = make_version(5, 1);
/// Windows Server 2019.
pub const VERSION_WIN10_V5_2: u32 = make_version(5, 2);
/// Windows Server 2022: MODIFYCHANNEL is acknowledged with MODIFYCHANNEL_RESPONSE.
pub const VERSION_WIN10_V5_3: u32 = make_version(5, 3);
/// Adds feature flags to INITIATE_CONTACT / VERSION_RESPONSE.
pub const VERSION_WIN10_V6_0: u32 = make_version(6, 0);

/// Every version that has been defined, newest first.
pub const ALL_VERSIONS: [u32; 11] = [
    VERSION_WIN10_V6_0,
    VERSION_WIN10_V5_3,
    VERSION_WIN10_V5_2,
    VERSION_WIN10_V5_1,
    VERSION_WIN10_V5,
    VERSION_WIN10_V4_1,
    VERSION_WIN10,
    VERSION_WIN8_1,
    VERSION_WIN8,
    VERSION_WIN7,
    VERSION_WS2008,
];

/// INITIATE_CONTACT feature flag (6.0+): the guest can use confidential channels.
pub const FEATURE_FLAG_CONFIDENTIAL_CHANNELS: u32 = 0x10;

/// [`VersionResponse::connection_state`]: the connection is established.
pub const CONNECTION_STATE_SUCCESSFUL: u8 = 0;
/// [`VersionResponse::connection_state`]: the host ran out of resources.
pub const CONNECTION_STATE_FAILED_LOW_RESOURCES: u8 = 1;
/// [`VersionResponse::connection_state`]: any other failure.
pub const CONNECTION_STATE_FAILED_UNKNOWN: u8 = 2;

/// Status word of OPENCHANNEL_RESULT, GPADL_CREATED and MODIFYCHANNEL_RESPONSE: zero is
/// success, the guest treats anything else as failure. NTSTATUS values by convention.
pub const STATUS_SUCCESS: u32 = 0;
/// Generic failure status (NTSTATUS `STATUS_UNSUCCESSFUL`).
pub const STATUS_UNSUCCESSFUL: u32 = 0xc000_0001;

/// Offer flag: the guest should enumerate a device for the channel.
pub const OFFER_FLAG_ENUMERATE_DEVICE_INTERFACE: u16 = 0x0001;
/// Offer flag: the ring buffer must live in encrypted (paravisor) memory.
pub const OFFER_FLAG_CONFIDENTIAL_RING_BUFFER: u16 = 0x0002;
/// Offer flag: GPA-direct packets and extra GPADLs must use encrypted memory.
pub const OFFER_FLAG_CONFIDENTIAL_EXTERNAL_MEMORY: u16 = 0x0004;
/// Offer flag: the user-defined area starts with a pipe mode word.
pub const OFFER_FLAG_NAMED_PIPE_MODE: u16 = 0x0010;
/// Offer flag: loopback offer.
pub const OFFER_FLAG_LOOPBACK: u16 = 0x0100;
/// Offer flag: parent offer.
pub const OFFER_FLAG_PARENT: u16 = 0x0200;
/// Offer flag: the host asks for monitored notification.
pub const OFFER_FLAG_REQUEST_MONITORED_NOTIFICATION: u16 = 0x0400;
/// Offer flag: the offer is a Hyper-V socket (hv_sock) endpoint.
pub const OFFER_FLAG_TLNPI_PROVIDER: u16 = 0x2000;

/// Pipe mode word: byte stream.
pub const PIPE_TYPE_BYTE: u32 = 0x0000_0000;
/// Pipe mode word: message pipe (used by the integration components).
pub const PIPE_TYPE_MESSAGE: u32 = 0x0000_0004;

/// Size of the user-defined area of an offer or an open request.
pub const MAX_USER_DEFINED_BYTES: usize = 120;
/// User-defined bytes left after the pipe mode word.
pub const MAX_PIPE_USER_DEFINED_BYTES: usize = 116;

/// GPADL page size: Hyper-V pages are always 4 KiB, whatever the guest's page size.
pub const HV_PAGE_SIZE: u64 = 4096;
/// log2 of [`HV_PAGE_SIZE`].
pub const HV_PAGE_SHIFT: u32 = 12;

/// Why a channel message could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The message type word is not a known channel message.
    UnknownType(u32),
    /// Fewer bytes than the fixed part of the message.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes received.
        got: usize,
    },
    /// More bytes than a SynIC message can carry.
    TooLong(usize),
    /// The header names a different message than the one being parsed.
    WrongType {
        /// Type the caller asked for.
        expected: MessageType,
        /// Type in the header.
        found: u32,
    },
}

/// The `msgtype` word of every channel message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum MessageType {
    /// Host → guest: a channel is available.
    OfferChannel = 1,
    /// Host → guest: a channel is withdrawn.
    RescindChannelOffer = 2,
    /// Guest → host: send all offers.
    RequestOffers = 3,
    /// Host → guest: every boot-time offer has been sent.
    AllOffersDelivered = 4,
    /// Guest → host: open a channel on a ring-buffer GPADL.
    OpenChannel = 5,
    /// Host → guest: answer to OPENCHANNEL.
    OpenChannelResult = 6,
    /// Guest → host: close a channel.
    CloseChannel = 7,
    /// Guest → host: first part of a GPADL.
    GpadlHeader = 8,
    /// Guest → host: continuation of a GPADL's page list.
    GpadlBody = 9,
    /// Host → guest: answer to a complete GPADL.
    GpadlCreated = 10,
    /// Guest → host: release a GPADL.
    GpadlTeardown = 11,
    /// Host → guest: answer to GPADL_TEARDOWN.
    GpadlTorndown = 12,
    /// Guest → host: the guest no longer uses a relid.
    RelidReleased = 13,
    /// Guest → host: propose a protocol version.
    InitiateContact = 14,
    /// Host → guest: answer to INITIATE_CONTACT.
    VersionResponse = 15,
    /// Guest → host: disconnect.
    Unload = 16,
    /// Host → guest: answer to UNLOAD.
    UnloadResponse = 17,
    /// Reserved message number 18.
    Reserved18 = 18,
    /// Reserved message number 19.
    Reserved19 = 19,
    /// Reserved message number 20.
    Reserved20 = 20,
    /// Guest → host: Hyper-V socket connect request.
    TlConnectRequest = 21,
    /// Guest → host: move a channel's interrupts to another vCPU (4.1+).
    ModifyChannel = 22,
    /// Host → guest: Hyper-V socket connect result.
    TlConnectResult = 23,
    /// Host → guest: answer to MODIFYCHANNEL (5.3+).
    ModifyChannelResponse = 24,
}

impl TryFrom<u32> for MessageType {
    type Error = ParseError;

    fn try_from(value: u32) -> Result<Self, ParseError> {
        use MessageType::*;
        Ok(match value {
            1 => OfferChannel,
            2 => RescindChannelOffer,
            3 => RequestOffers,
            4 => AllOffersDelivered,
            5 => OpenChannel,
            6 => OpenChannelResult,
            7 => CloseChannel,
            8 => GpadlHeader,
            9 => GpadlBody,
            10 => GpadlCreated,
            11 => GpadlTeardown,
            12 => GpadlTorndown,
            13 => RelidReleased,
            14 => InitiateContact,
            15 => VersionResponse,
            16 => Unload,
            17 => UnloadResponse,
            18 => Reserved18,
            19 => Reserved19,
            20 => Reserved20,
            21 => TlConnectRequest,
            22 => ModifyChannel,
            23 => TlConnectResult,
            24 => ModifyChannelResponse,
            other => return Err(ParseError::UnknownType(other)),
        })
    }
}

/// A channel message with a fixed part of `size_of::<Self>()` bytes (header included).
pub trait ChannelMessage: FromBytes + zerocopy::IntoBytes + zerocopy::Immutable + Sized {
    /// The `msgtype` of this message.
    const TYPE: MessageType;
}

/// Reads the header of a channel message and returns its type.
pub fn message_type(bytes: &[u8]) -> Result<MessageType, ParseError> {
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(ParseError::TooLong(bytes.len()));
    }
    let (header, _) = MessageHeader::read_from_prefix(bytes).map_err(|_| ParseError::TooShort {
        needed: core::mem::size_of::<MessageHeader>(),
        got: bytes.len(),
    })?;
    MessageType::try_from(header.msgtype)
}

/// Parses the fixed part of message `T`, returning it and the bytes after it (the variable
/// part: PFNs of GPADL messages, extra fields of newer versions).
pub fn parse<T: ChannelMessage>(bytes: &[u8]) -> Result<(T, &[u8]), ParseError> {
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(ParseError::TooLong(bytes.len()));
    }
    let needed = core::mem::size_of::<T>();
    let (header, _) = MessageHeader::read_from_prefix(bytes).map_err(|_| ParseError::TooShort {
        needed,
        got: bytes.len(),
    })?;
    if header.msgtype != T::TYPE as u32 {
        return Err(ParseError::WrongType {
            expected: T::TYPE,
            found: header.msgtype,
        });
    }
    T::read_from_prefix(bytes).map_err(|_| ParseError::TooShort {
        needed,
        got: bytes.len(),
    })
}

/// The 8-byte header of every channel message.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct MessageHeader {
    /// A [`MessageType`] value.
    pub msgtype: u32,
    /// Always zero.
    pub padding: u32,
}
const _: () = assert!(core::mem::size_of::<MessageHeader>() == 8);

impl MessageHeader {
    /// The header of a message of type `ty`.
    pub const fn new(ty: MessageType) -> Self {
        Self {
            msgtype: ty as u32,
            padding: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::{FromZeros, IntoBytes};

    #[test]
    fn message_type_round_trips_and_rejects_unknown_values() {
        for v in 1..=24u32 {
            let t = MessageType::try_from(v).unwrap();
            assert_eq!(t as u32, v);
        }
        assert_eq!(MessageType::try_from(0), Err(ParseError::UnknownType(0)));
        assert_eq!(MessageType::try_from(25), Err(ParseError::UnknownType(25)));
        assert_eq!(
            MessageType::try_from(u32::MAX),
            Err(ParseError::UnknownType(u32::MAX))
        );
    }

    #[test]
    fn versions_split_and_order() {
        assert_eq!(VERSION_WIN10_V5_3, 0x0005_0003);
        assert_eq!(split_version(VERSION_WIN10_V4_1), (4, 1));
        assert_eq!(split_version(VERSION_WS2008), (0, 13));
        assert!(ALL_VERSIONS.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn parse_checks_type_and_length() {
        let mut m = OpenResult::new_zeroed();
        m.header = MessageHeader::new(MessageType::OpenChannelResult);
        m.status = 7;
        let bytes = m.as_bytes();
        let (parsed, rest) = parse::<OpenResult>(bytes).unwrap();
        assert_eq!({ parsed.status }, 7);
        assert!(rest.is_empty());
        assert_eq!(
            parse::<OpenResult>(&bytes[..19]),
            Err(ParseError::TooShort {
                needed: 20,
                got: 19
            })
        );
        assert_eq!(
            parse::<CloseChannel>(bytes),
            Err(ParseError::WrongType {
                expected: MessageType::CloseChannel,
                found: 6
            })
        );
        assert_eq!(
            message_type(&bytes[..4]),
            Err(ParseError::TooShort { needed: 8, got: 4 })
        );
        assert_eq!(message_type(&[0u8; 241]), Err(ParseError::TooLong(241)));
        assert_eq!(message_type(bytes), Ok(MessageType::OpenChannelResult));
        let unknown = [99u8, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(message_type(&unknown), Err(ParseError::UnknownType(99)));
    }
}
