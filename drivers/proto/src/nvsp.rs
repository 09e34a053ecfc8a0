// SPDX-License-Identifier: GPL-2.0
//! NVSP, the network VSP protocol that the synthetic NIC (netvsc) and its host (netvsp) speak
//! in the packets of their VMBus channel: protocol version negotiation, the NDIS version and
//! configuration, the receive and send buffers (GPADLs split into sections), RNDIS messages in
//! either direction and their completions, sub-channel allocation, the send indirection table
//! and the data path switch.
//!
//! Layouts follow `struct nvsp_message` and friends in drivers/net/hyperv/hyperv_net.h. Every
//! message is a 4-byte type word and a body; senders pad it to [`MESSAGE_SIZE`] bytes (the C
//! `sizeof(struct nvsp_message)`), receivers accept anything long enough for the body.
//!
//! This file is also compiled into the kernel modules: `core` and `zerocopy` only, no sibling
//! modules; it expects `wire.rs` in the same crate.

use zerocopy::{FromBytes, Immutable, IntoBytes};
use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// NVSP 1 (Windows Server 2008).
pub const VERSION_1: u32 = 2;
/// NVSP 2 (Windows Server 2008 R2): NDIS configuration message.
pub const VERSION_2: u32 = 0x0003_0002;
/// NVSP 4 (Windows Server 2012): VF association and data path switch.
pub const VERSION_4: u32 = 0x0004_0000;
/// NVSP 5 (Windows Server 2012 R2): sub-channels and the send indirection table.
pub const VERSION_5: u32 = 0x0005_0000;
/// NVSP 6 (Windows Server 2016).
pub const VERSION_6: u32 = 0x0006_0000;
/// NVSP 6.1 (Windows Server 2019): receive segment coalescing.
pub const VERSION_61: u32 = 0x0006_0001;
/// Every version Linux 7.3 proposes (`netvsc_connect_vsp()`), newest first.
pub const ALL_VERSIONS: [u32; 6] = [
    VERSION_61, VERSION_6, VERSION_5, VERSION_4, VERSION_2, VERSION_1,
];

/// `sizeof(struct nvsp_message)`: the length every message is padded to.
pub const MESSAGE_SIZE: usize = 40;
/// Largest body that fits in [`MESSAGE_SIZE`].
pub const MAX_BODY_SIZE: usize = MESSAGE_SIZE - 4;

/// The transfer-page set id Linux gives its receive buffer (the host echoes the guest's id).
pub const LINUX_RECEIVE_BUFFER_ID: u16 = 0xcafe;
/// The id Linux gives its send buffer.
pub const LINUX_SEND_BUFFER_ID: u16 = 0;
/// [`SendRndisPacket::send_buffer_section_index`] when the send buffer is not used.
pub const INVALID_SECTION_INDEX: u32 = 0xffff_ffff;
/// [`SendRndisPacket::channel_type`]: an RNDIS data message.
pub const CHANNEL_TYPE_DATA: u32 = 0;
/// [`SendRndisPacket::channel_type`]: an RNDIS control message.
pub const CHANNEL_TYPE_CONTROL: u32 = 1;
/// Entries of the send indirection table the host sends (`VRSS_SEND_TAB_SIZE`).
pub const SEND_INDIRECTION_TABLE_SIZE: usize = 16;
/// [`SwitchDataPath::active_datapath`]: traffic goes through the synthetic NIC.
pub const DATAPATH_SYNTHETIC: u32 = 0;
/// [`SwitchDataPath::active_datapath`]: traffic goes through the SR-IOV VF.
pub const DATAPATH_VF: u32 = 1;
/// [`SubchannelRequest::operation`]: allocate sub-channels.
pub const SUBCHANNEL_ALLOCATE: u32 = 1;

/// [`SendNdisConfig::capabilities`] bit: VMQ.
pub const CAPABILITY_VMQ: u64 = 1 << 0;
/// [`SendNdisConfig::capabilities`] bit: TCP chimney.
pub const CAPABILITY_CHIMNEY: u64 = 1 << 1;
/// [`SendNdisConfig::capabilities`] bit: SR-IOV.
pub const CAPABILITY_SRIOV: u64 = 1 << 2;
/// [`SendNdisConfig::capabilities`] bit: 802.1Q tags.
pub const CAPABILITY_IEEE8021Q: u64 = 1 << 3;
/// [`SendNdisConfig::capabilities`] bit: correlation id.
pub const CAPABILITY_CORRELATION_ID: u64 = 1 << 4;
/// [`SendNdisConfig::capabilities`] bit: teaming (the guest wants link speed updates).
pub const CAPABILITY_TEAMING: u64 = 1 << 5;
/// [`SendNdisConfig::capabilities`] bit: virtual subnet id.
pub const CAPABILITY_VSUBNETID: u64 = 1 << 6;
/// [`SendNdisConfig::capabilities`] bit: receive segment coalescing.
pub const CAPABILITY_RSC: u64 = 1 << 7;

/// Status: none.
pub const STATUS_NONE: u32 = 0;
/// Status: success.
pub const STATUS_SUCCESS: u32 = 1;
/// Status: failure.
pub const STATUS_FAIL: u32 = 2;
/// Status: the proposed protocol is too new.
pub const STATUS_PROTOCOL_TOO_NEW: u32 = 3;
/// Status: the proposed protocol is too old.
pub const STATUS_PROTOCOL_TOO_OLD: u32 = 4;
/// Status: the RNDIS packet is invalid.
pub const STATUS_INVALID_RNDIS_PACKET: u32 = 5;
/// Status: busy.
pub const STATUS_BUSY: u32 = 6;
/// Status: the protocol is not supported.
pub const STATUS_PROTOCOL_UNSUPPORTED: u32 = 7;

/// The type word of an NVSP message (the messages of chimney, VMQ and PacketDirect, which
/// Linux never uses, are left out and parse as [`ParseError::UnknownType`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MessageType {
    /// Guest → host: propose a protocol version range.
    Init = 1,
    /// Host → guest (completion): the negotiation result.
    InitComplete = 2,
    /// Guest → host: the guest's NDIS version.
    SendNdisVersion = 100,
    /// Guest → host: the receive buffer GPADL.
    SendReceiveBuffer = 101,
    /// Host → guest (completion): the receive buffer's sections.
    SendReceiveBufferComplete = 102,
    /// Guest → host: stop using the receive buffer.
    RevokeReceiveBuffer = 103,
    /// Guest → host: the send buffer GPADL.
    SendSendBuffer = 104,
    /// Host → guest (completion): the send buffer's section size.
    SendSendBufferComplete = 105,
    /// Guest → host: stop using the send buffer.
    RevokeSendBuffer = 106,
    /// Either way: an RNDIS message.
    SendRndisPacket = 107,
    /// Either way (completion): the RNDIS message was consumed.
    SendRndisPacketComplete = 108,
    /// Guest → host (NVSP 2+): MTU and capabilities.
    SendNdisConfig = 125,
    /// Host → guest (NVSP 4+): an SR-IOV VF to team with.
    SendVfAssociation = 128,
    /// Guest → host (NVSP 4+): route traffic through the VF or the synthetic NIC.
    SwitchDataPath = 129,
    /// Guest → host and completion (NVSP 5+): allocate sub-channels.
    Subchannel = 133,
    /// Host → guest (NVSP 5+): which channel to send on per hash bucket.
    SendIndirectionTable = 134,
}

impl TryFrom<u32> for MessageType {
    type Error = ParseError;

    fn try_from(value: u32) -> Result<Self, ParseError> {
        use MessageType::*;
        Ok(match value {
            1 => Init,
            2 => InitComplete,
            100 => SendNdisVersion,
            101 => SendReceiveBuffer,
            102 => SendReceiveBufferComplete,
            103 => RevokeReceiveBuffer,
            104 => SendSendBuffer,
            105 => SendSendBufferComplete,
            106 => RevokeSendBuffer,
            107 => SendRndisPacket,
            108 => SendRndisPacketComplete,
            125 => SendNdisConfig,
            128 => SendVfAssociation,
            129 => SwitchDataPath,
            133 => Subchannel,
            134 => SendIndirectionTable,
            other => return Err(ParseError::UnknownType(other)),
        })
    }
}

/// Why an NVSP message could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The type word is not a message this protocol implements.
    UnknownType(u32),
    /// The type is known but not one this side receives.
    UnexpectedType(MessageType),
    /// Fewer bytes than the message needs.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes received.
        got: usize,
    },
    /// A table offset or count points outside the message.
    BadTable,
}

/// A message body: the bytes after the type word.
pub trait Body: FromBytes + IntoBytes + Immutable + Sized {
    /// The type word of the messages that carry this body.
    const TYPE: MessageType;
}

crate::wire_struct! {
    /// INIT: the range of versions the guest accepts (Linux sends one version at a time).
    #[derive(Default)]
    Init: Body = Init, at most MAX_BODY_SIZE, size 8 {
        /// Lowest acceptable version.
        pub min_protocol_version: u32,
        /// Highest acceptable version.
        pub max_protocol_version: u32,
    }
}

crate::wire_struct! {
    /// INIT_COMPLETE: the answer to [`Init`].
    #[derive(Default)]
    InitComplete: Body = InitComplete, at most MAX_BODY_SIZE, size 12 {
        /// The version chosen.
        pub negotiated_protocol_version: u32,
        /// Longest MDL chain the host accepts.
        pub max_mdl_chain_length: u32,
        /// `STATUS_*`.
        pub status: u32,
    }
}

crate::wire_struct! {
    /// SEND_NDIS_VERSION: the NDIS version the guest's RNDIS layer speaks (no answer).
    #[derive(Default)]
    SendNdisVersion: Body = SendNdisVersion, at most MAX_BODY_SIZE, size 8 {
        /// NDIS major version (6).
        pub ndis_major_version: u32,
        /// NDIS minor version (1 or 30).
        pub ndis_minor_version: u32,
    }
}

crate::wire_struct! {
    /// SEND_NDIS_CONFIG (NVSP 2+): the guest's MTU and capabilities (no answer).
    #[derive(Default)]
    SendNdisConfig: Body = SendNdisConfig, at most MAX_BODY_SIZE, size 16 {
        /// Largest frame the guest sends, Ethernet header included.
        pub mtu: u32,
        /// Reserved.
        pub reserved: u32,
        /// `CAPABILITY_*` bits.
        pub capabilities: u64,
    }
}

crate::wire_struct! {
    /// SEND_RECV_BUF: the GPADL of the receive buffer and the transfer-page set id the host
    /// must use for it.
    #[derive(Default)]
    SendReceiveBuffer: Body = SendReceiveBuffer, at most MAX_BODY_SIZE, size 6 {
        /// GPADL handle.
        pub gpadl_handle: u32,
        /// Transfer-page set id.
        pub id: u16,
    }
}

/// One section of the receive buffer, cut into equal sub-allocations.
#[repr(C, packed)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct ReceiveBufferSection {
    /// Byte offset of the section in the buffer.
    pub offset: u32,
    /// Size of each sub-allocation.
    pub sub_allocation_size: u32,
    /// Number of sub-allocations.
    pub num_sub_allocations: u32,
    /// First byte after the section.
    pub end_offset: u32,
}
const _: () = assert!(core::mem::size_of::<ReceiveBufferSection>() == 16);

crate::wire_struct! {
    /// SEND_RECV_BUF_COMPLETE: how the host cuts the receive buffer (Linux accepts exactly
    /// one section at offset 0).
    #[derive(Default)]
    SendReceiveBufferComplete: Body = SendReceiveBufferComplete, at most MAX_BODY_SIZE, size 24 {
        /// `STATUS_*`.
        pub status: u32,
        /// Number of sections (1).
        pub num_sections: u32,
        /// The section.
        pub section: ReceiveBufferSection,
    }
}

crate::wire_struct! {
    /// REVOKE_RECV_BUF: the host must stop using the receive buffer (no answer).
    #[derive(Default)]
    RevokeReceiveBuffer: Body = RevokeReceiveBuffer, at most MAX_BODY_SIZE, size 2 {
        /// Transfer-page set id.
        pub id: u16,
    }
}

crate::wire_struct! {
    /// SEND_SEND_BUF: the GPADL of the send buffer.
    #[derive(Default)]
    SendSendBuffer: Body = SendSendBuffer, at most MAX_BODY_SIZE, size 6 {
        /// GPADL handle.
        pub gpadl_handle: u32,
        /// Buffer id.
        pub id: u16,
    }
}

crate::wire_struct! {
    /// SEND_SEND_BUF_COMPLETE: the section size the host chose for the send buffer.
    #[derive(Default)]
    SendSendBufferComplete: Body = SendSendBufferComplete, at most MAX_BODY_SIZE, size 8 {
        /// `STATUS_*`.
        pub status: u32,
        /// Bytes per section; the guest has `buffer size / section_size` sections.
        pub section_size: u32,
    }
}

crate::wire_struct! {
    /// REVOKE_SEND_BUF: the host must stop reading the send buffer (no answer).
    #[derive(Default)]
    RevokeSendBuffer: Body = RevokeSendBuffer, at most MAX_BODY_SIZE, size 2 {
        /// Buffer id.
        pub id: u16,
    }
}

crate::wire_struct! {
    /// SEND_RNDIS_PKT: an RNDIS message in a send-buffer section, in GPA-direct ranges or in
    /// receive-buffer transfer pages.
    #[derive(Default)]
    SendRndisPacket: Body = SendRndisPacket, at most MAX_BODY_SIZE, size 12 {
        /// `CHANNEL_TYPE_*`.
        pub channel_type: u32,
        /// Send-buffer section holding the message, or [`INVALID_SECTION_INDEX`].
        pub send_buffer_section_index: u32,
        /// Bytes used in that section.
        pub send_buffer_section_size: u32,
    }
}

crate::wire_struct! {
    /// SEND_RNDIS_PKT_COMPLETE: the receiver is done with an RNDIS message.
    #[derive(Default)]
    SendRndisPacketComplete: Body = SendRndisPacketComplete, at most MAX_BODY_SIZE, size 4 {
        /// `STATUS_*`.
        pub status: u32,
    }
}

crate::wire_struct! {
    /// SEND_VF_ASSOCIATION (NVSP 4+): an SR-IOV VF the synthetic NIC may team with.
    #[derive(Default)]
    SendVfAssociation: Body = SendVfAssociation, at most MAX_BODY_SIZE, size 8 {
        /// 1: a VF is allocated and `serial` is valid.
        pub allocated: u32,
        /// Serial number of the VF.
        pub serial: u32,
    }
}

crate::wire_struct! {
    /// SWITCH_DATA_PATH (NVSP 4+): answered with an empty completion.
    #[derive(Default)]
    SwitchDataPath: Body = SwitchDataPath, at most MAX_BODY_SIZE, size 4 {
        /// `DATAPATH_*`.
        pub active_datapath: u32,
    }
}

crate::wire_struct! {
    /// SUBCHANNEL request (NVSP 5+).
    #[derive(Default)]
    SubchannelRequest: Body = Subchannel, at most MAX_BODY_SIZE, size 8 {
        /// [`SUBCHANNEL_ALLOCATE`].
        pub operation: u32,
        /// Sub-channels wanted.
        pub num_subchannels: u32,
    }
}

crate::wire_struct! {
    /// SUBCHANNEL completion: how many sub-channels the host offers.
    #[derive(Default)]
    SubchannelComplete: Body = Subchannel, at most MAX_BODY_SIZE, size 8 {
        /// `STATUS_*`.
        pub status: u32,
        /// Sub-channels allocated (and about to be offered).
        pub num_subchannels: u32,
    }
}

crate::wire_struct! {
    /// SEND_INDIRECTION_TABLE (NVSP 5+): the header of [`IndirectionTableMessage`].
    #[derive(Default)]
    SendIndirectionTable: Body = SendIndirectionTable, at most MAX_BODY_SIZE, size 8 {
        /// Entries in the table ([`SEND_INDIRECTION_TABLE_SIZE`]).
        pub count: u32,
        /// Byte offset of the table from the start of the message.
        pub offset: u32,
    }
}

/// The whole SEND_INDIRECTION_TABLE message as a host sends it: the table follows the
/// padded 40-byte message (older Linux versions assume exactly this offset).
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IndirectionTableMessage {
    /// [`MessageType::SendIndirectionTable`].
    pub msg_type: u32,
    /// Count and offset.
    pub header: SendIndirectionTable,
    /// Pads to [`MESSAGE_SIZE`].
    pub reserved: [u8; MESSAGE_SIZE - 12],
    /// Channel (0 = primary) per hash bucket.
    pub table: [u32; SEND_INDIRECTION_TABLE_SIZE],
}
const _: () = assert!(core::mem::size_of::<IndirectionTableMessage>() == 104);

impl IndirectionTableMessage {
    /// The message carrying `table`.
    pub fn new(table: [u32; SEND_INDIRECTION_TABLE_SIZE]) -> Self {
        Self {
            msg_type: MessageType::SendIndirectionTable as u32,
            header: SendIndirectionTable {
                count: SEND_INDIRECTION_TABLE_SIZE as u32,
                offset: MESSAGE_SIZE as u32,
            },
            reserved: [0; MESSAGE_SIZE - 12],
            table,
        }
    }
}

/// A complete message with `body`, padded to [`MESSAGE_SIZE`] bytes.
pub fn encode<T: Body>(body: &T) -> [u8; MESSAGE_SIZE] {
    let mut out = [0u8; MESSAGE_SIZE];
    out[..4].copy_from_slice(&(T::TYPE as u32).to_le_bytes());
    let b = body.as_bytes();
    // PANIC: `body!` asserts every body fits in MAX_BODY_SIZE.
    out[4..4 + b.len()].copy_from_slice(b);
    out
}

/// The type word of a message.
pub fn message_type(bytes: &[u8]) -> Result<MessageType, ParseError> {
    let word = bytes.get(..4).ok_or(ParseError::TooShort {
        needed: 4,
        got: bytes.len(),
    })?;
    let mut w = [0u8; 4];
    w.copy_from_slice(word);
    MessageType::try_from(u32::from_le_bytes(w))
}

/// The body of a message known to be of type `T::TYPE`.
pub fn body<T: Body>(bytes: &[u8]) -> Result<T, ParseError> {
    let needed = 4 + core::mem::size_of::<T>();
    bytes
        .get(4..)
        .and_then(|b| T::read_from_prefix(b).ok())
        .map(|(t, _)| t)
        .ok_or(ParseError::TooShort {
            needed,
            got: bytes.len(),
        })
}

/// A message the guest sends the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestMessage {
    /// Version proposal.
    Init(Init),
    /// NDIS version.
    SendNdisVersion(SendNdisVersion),
    /// MTU and capabilities.
    SendNdisConfig(SendNdisConfig),
    /// Receive buffer GPADL.
    SendReceiveBuffer(SendReceiveBuffer),
    /// Receive buffer revoked.
    RevokeReceiveBuffer(RevokeReceiveBuffer),
    /// Send buffer GPADL.
    SendSendBuffer(SendSendBuffer),
    /// Send buffer revoked.
    RevokeSendBuffer(RevokeSendBuffer),
    /// An RNDIS message for the host.
    SendRndisPacket(SendRndisPacket),
    /// The guest consumed an RNDIS message of the host.
    SendRndisPacketComplete(SendRndisPacketComplete),
    /// Data path switch.
    SwitchDataPath(SwitchDataPath),
    /// Sub-channel allocation.
    SubchannelRequest(SubchannelRequest),
}

impl GuestMessage {
    /// Parses a message from the guest (a data packet's payload or a completion's).
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        use MessageType as T;
        Ok(match message_type(bytes)? {
            T::Init => Self::Init(body(bytes)?),
            T::SendNdisVersion => Self::SendNdisVersion(body(bytes)?),
            T::SendNdisConfig => Self::SendNdisConfig(body(bytes)?),
            T::SendReceiveBuffer => Self::SendReceiveBuffer(body(bytes)?),
            T::RevokeReceiveBuffer => Self::RevokeReceiveBuffer(body(bytes)?),
            T::SendSendBuffer => Self::SendSendBuffer(body(bytes)?),
            T::RevokeSendBuffer => Self::RevokeSendBuffer(body(bytes)?),
            T::SendRndisPacket => Self::SendRndisPacket(body(bytes)?),
            T::SendRndisPacketComplete => Self::SendRndisPacketComplete(body(bytes)?),
            T::SwitchDataPath => Self::SwitchDataPath(body(bytes)?),
            T::Subchannel => Self::SubchannelRequest(body(bytes)?),
            other => return Err(ParseError::UnexpectedType(other)),
        })
    }
}

/// A message the host sends the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostMessage {
    /// Negotiation result.
    InitComplete(InitComplete),
    /// Receive buffer layout.
    SendReceiveBufferComplete(SendReceiveBufferComplete),
    /// Send buffer section size.
    SendSendBufferComplete(SendSendBufferComplete),
    /// An RNDIS message in receive-buffer transfer pages.
    SendRndisPacket(SendRndisPacket),
    /// The host consumed an RNDIS message of the guest.
    SendRndisPacketComplete(SendRndisPacketComplete),
    /// Sub-channels allocated.
    SubchannelComplete(SubchannelComplete),
    /// Send indirection table.
    SendIndirectionTable([u32; SEND_INDIRECTION_TABLE_SIZE]),
    /// VF association.
    SendVfAssociation(SendVfAssociation),
}

impl HostMessage {
    /// Parses a message from the host. The indirection table is read at the offset the
    /// message names, which must lie inside `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        use MessageType as T;
        Ok(match message_type(bytes)? {
            T::InitComplete => Self::InitComplete(body(bytes)?),
            T::SendReceiveBufferComplete => Self::SendReceiveBufferComplete(body(bytes)?),
            T::SendSendBufferComplete => Self::SendSendBufferComplete(body(bytes)?),
            T::SendRndisPacket => Self::SendRndisPacket(body(bytes)?),
            T::SendRndisPacketComplete => Self::SendRndisPacketComplete(body(bytes)?),
            T::Subchannel => Self::SubchannelComplete(body(bytes)?),
            T::SendVfAssociation => Self::SendVfAssociation(body(bytes)?),
            T::SendIndirectionTable => {
                let h: SendIndirectionTable = body(bytes)?;
                if h.count as usize != SEND_INDIRECTION_TABLE_SIZE {
                    return Err(ParseError::BadTable);
                }
                let start = h.offset as usize;
                let raw = start
                    .checked_add(SEND_INDIRECTION_TABLE_SIZE * 4)
                    .and_then(|end| bytes.get(start..end))
                    .ok_or(ParseError::BadTable)?;
                let mut table = [0u32; SEND_INDIRECTION_TABLE_SIZE];
                // Indexing rather than `zip(chunks_exact)`, whose unreachable panic path
                // objtool rejects in the kernel build.
                for (i, t) in table.iter_mut().enumerate() {
                    let at = 4 * i;
                    if let Some(w) = raw.get(at..at + 4) {
                        *t = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                    }
                }
                Self::SendIndirectionTable(table)
            }
            other => return Err(ParseError::UnexpectedType(other)),
        })
    }
}
