// SPDX-License-Identifier: GPL-2.0
//! RNDIS, the message protocol inside NVSP's SEND_RNDIS_PKT: the control messages
//! (initialize, query, set, reset, keepalive, halt, indicate status) and the data message that
//! carries one Ethernet frame with its per-packet information (checksum, hash, VLAN, LSO).
//!
//! Layouts: [MS-RNDIS] section 2.2 and `struct rndis_*` in drivers/net/hyperv/hyperv_net.h and
//! include/linux/rndis.h. Every message starts with an 8-byte [`MessageHeader`] whose `msg_len`
//! covers the whole message; offsets inside a message body count from the start of the body
//! (the byte after the header). NDIS objects carried in query/set buffers (OIDs, offload and
//! RSS structures) are in `ndis.rs`.
//!
//! This file is also compiled into the kernel modules: `core` and `zerocopy` only, no sibling
//! modules; it expects `wire.rs` in the same crate.

use zerocopy::FromBytes;
use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// RNDIS major version (1.0).
pub const MAJOR_VERSION: u32 = 1;
/// RNDIS minor version.
pub const MINOR_VERSION: u32 = 0;
/// INITIALIZE_CMPLT device flag: connectionless (802.3) device.
pub const DF_CONNECTIONLESS: u32 = 1;

/// Success.
pub const STATUS_SUCCESS: u32 = 0;
/// The link came up ([`IndicateStatus`]).
pub const STATUS_MEDIA_CONNECT: u32 = 0x4001_000b;
/// The link went down ([`IndicateStatus`]).
pub const STATUS_MEDIA_DISCONNECT: u32 = 0x4001_000c;
/// The link speed changed; the buffer holds the new speed in 100 bps ([`IndicateStatus`]).
pub const STATUS_LINK_SPEED_CHANGE: u32 = 0x4001_0013;
/// The network changed: the guest should renew its addresses ([`IndicateStatus`]).
pub const STATUS_NETWORK_CHANGE: u32 = 0x4001_0018;
/// The answer does not fit the guest's buffer.
pub const STATUS_BUFFER_OVERFLOW: u32 = 0x8000_0005;
/// Generic failure.
pub const STATUS_FAILURE: u32 = 0xc000_0001;
/// The request (usually the OID) is not supported.
pub const STATUS_NOT_SUPPORTED: u32 = 0xc000_00bb;
/// The request's length is wrong.
pub const STATUS_INVALID_LENGTH: u32 = 0xc001_0014;
/// The request's data is invalid.
pub const STATUS_INVALID_DATA: u32 = 0xc001_0015;

/// Per-packet info type: TCP/IP checksum (an `ndis::CSUM_*` word).
pub const PPI_TCPIP_CHECKSUM: u32 = 0;
/// Per-packet info type: IPsec.
pub const PPI_IPSEC: u32 = 1;
/// Per-packet info type: TCP large send offload.
pub const PPI_TCP_LARGESEND: u32 = 2;
/// Per-packet info type: classification handle.
pub const PPI_CLASSIFICATION_HANDLE: u32 = 3;
/// Per-packet info type: scatter/gather list.
pub const PPI_SG_LIST: u32 = 5;
/// Per-packet info type: 802.1Q tag.
pub const PPI_IEEE_8021Q: u32 = 6;
/// Per-packet info type: original packet info.
pub const PPI_ORIGINAL: u32 = 7;
/// Per-packet info type: the RSS hash value (`NBL_HASH_VALUE`).
pub const PPI_HASH_VALUE: u32 = 8;
/// Internal per-packet info type (with [`PerPacketInfo::INTERNAL`]): packet id / RSC flags.
pub const PPI_INTERNAL_PACKET_ID: u32 = 1;

/// The message type word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MessageType {
    /// A data message: one frame.
    Packet = 1,
    /// Guest → host: initialize the device.
    Initialize = 2,
    /// Host → guest: answer to [`MessageType::Initialize`].
    InitializeComplete = 0x8000_0002,
    /// Guest → host: halt the device (no answer).
    Halt = 3,
    /// Guest → host: read an OID.
    Query = 4,
    /// Host → guest: answer to [`MessageType::Query`].
    QueryComplete = 0x8000_0004,
    /// Guest → host: write an OID.
    Set = 5,
    /// Host → guest: answer to [`MessageType::Set`].
    SetComplete = 0x8000_0005,
    /// Guest → host: soft reset.
    Reset = 6,
    /// Host → guest: answer to [`MessageType::Reset`].
    ResetComplete = 0x8000_0006,
    /// Host → guest: a status change (link up/down, speed).
    IndicateStatus = 7,
    /// Either way: are you alive?
    Keepalive = 8,
    /// Answer to [`MessageType::Keepalive`].
    KeepaliveComplete = 0x8000_0008,
}

impl TryFrom<u32> for MessageType {
    type Error = RndisError;

    fn try_from(value: u32) -> Result<Self, RndisError> {
        use MessageType::*;
        Ok(match value {
            1 => Packet,
            2 => Initialize,
            0x8000_0002 => InitializeComplete,
            3 => Halt,
            4 => Query,
            0x8000_0004 => QueryComplete,
            5 => Set,
            0x8000_0005 => SetComplete,
            6 => Reset,
            0x8000_0006 => ResetComplete,
            7 => IndicateStatus,
            8 => Keepalive,
            0x8000_0008 => KeepaliveComplete,
            other => return Err(RndisError::UnknownType(other)),
        })
    }
}

/// What is wrong with an RNDIS message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RndisError {
    /// The type word is not an RNDIS message.
    UnknownType(u32),
    /// Fewer bytes than the header or the fixed body.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// `msg_len` is smaller than the header or larger than the bytes available.
    BadLength {
        /// The message's `msg_len`.
        msg_len: u32,
        /// Bytes available.
        available: usize,
    },
    /// An offset/length pair points outside the message or into its fixed part.
    BadOffset {
        /// The field's name.
        field: &'static str,
        /// The offset.
        offset: u32,
        /// The length.
        len: u32,
    },
    /// A per-packet info element is malformed.
    BadPerPacketInfo,
}

/// The header of every RNDIS message.
#[repr(C, packed)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct MessageHeader {
    /// A [`MessageType`] value.
    pub msg_type: u32,
    /// Bytes of the whole message, header included.
    pub msg_len: u32,
}
const _: () = assert!(core::mem::size_of::<MessageHeader>() == 8);

/// Size of [`MessageHeader`].
pub const HEADER_SIZE: usize = 8;

impl MessageHeader {
    /// The header of a `ty` message whose body is `body_len` bytes.
    pub fn new(ty: MessageType, body_len: usize) -> Self {
        Self {
            msg_type: ty as u32,
            // CAST: RNDIS messages fit in a receive-buffer section; saturate rather than wrap.
            msg_len: u32::try_from(HEADER_SIZE + body_len).unwrap_or(u32::MAX),
        }
    }
}

crate::wire_struct! {
    /// INITIALIZE_MSG body.
    #[derive(Default)]
    InitializeRequest, size 16 {
        /// Request id, echoed in the answer.
        pub request_id: u32,
        /// RNDIS major version.
        pub major_version: u32,
        /// RNDIS minor version.
        pub minor_version: u32,
        /// Largest message the guest accepts.
        pub max_transfer_size: u32,
    }
}

crate::wire_struct! {
    /// INITIALIZE_CMPLT body.
    #[derive(Default)]
    InitializeComplete, size 44 {
        /// The request's id.
        pub request_id: u32,
        /// `STATUS_*`.
        pub status: u32,
        /// RNDIS major version.
        pub major_version: u32,
        /// RNDIS minor version.
        pub minor_version: u32,
        /// [`DF_CONNECTIONLESS`].
        pub device_flags: u32,
        /// `ndis::MEDIUM_802_3`.
        pub medium: u32,
        /// Most data messages the guest may batch in one transfer.
        pub max_packets_per_message: u32,
        /// Largest message the host accepts.
        pub max_transfer_size: u32,
        /// log2 of the alignment of batched data messages.
        pub packet_alignment_factor: u32,
        /// Call managers only: zero.
        pub af_list_offset: u32,
        /// Call managers only: zero.
        pub af_list_size: u32,
    }
}

crate::wire_struct! {
    /// HALT_MSG body.
    #[derive(Default)]
    HaltRequest, size 4 {
        /// Request id.
        pub request_id: u32,
    }
}

crate::wire_struct! {
    /// QUERY_MSG and SET_MSG body; the information buffer follows at `info_buffer_offset`.
    #[derive(Default)]
    OidRequest, size 20 {
        /// Request id, echoed in the answer.
        pub request_id: u32,
        /// The OID (`ndis::OID_*`).
        pub oid: u32,
        /// Bytes in the information buffer.
        pub info_buffer_length: u32,
        /// Offset of the information buffer from the start of this body.
        pub info_buffer_offset: u32,
        /// Connection-oriented devices only: zero.
        pub device_vc_handle: u32,
    }
}

crate::wire_struct! {
    /// QUERY_CMPLT body; the answer follows at `info_buffer_offset`.
    #[derive(Default)]
    QueryComplete, size 16 {
        /// The request's id.
        pub request_id: u32,
        /// `STATUS_*`.
        pub status: u32,
        /// Bytes in the information buffer.
        pub info_buffer_length: u32,
        /// Offset of the information buffer from the start of this body.
        pub info_buffer_offset: u32,
    }
}

crate::wire_struct! {
    /// SET_CMPLT and KEEPALIVE_CMPLT body.
    #[derive(Default)]
    RequestComplete, size 8 {
        /// The request's id.
        pub request_id: u32,
        /// `STATUS_*`.
        pub status: u32,
    }
}

crate::wire_struct! {
    /// RESET_MSG body.
    #[derive(Default)]
    ResetRequest, size 4 {
        /// Reserved.
        pub reserved: u32,
    }
}

crate::wire_struct! {
    /// RESET_CMPLT body.
    #[derive(Default)]
    ResetComplete, size 8 {
        /// `STATUS_*`.
        pub status: u32,
        /// Non-zero if the guest must restore its addressing (multicast list, filter).
        pub addressing_reset: u32,
    }
}

crate::wire_struct! {
    /// INDICATE_STATUS_MSG body; a status buffer may follow at `status_buffer_offset`.
    #[derive(Default)]
    IndicateStatus, size 12 {
        /// `STATUS_MEDIA_*` and friends.
        pub status: u32,
        /// Bytes in the status buffer.
        pub status_buffer_length: u32,
        /// Offset of the status buffer from the start of this body (0 if none).
        pub status_buffer_offset: u32,
    }
}

crate::wire_struct! {
    /// KEEPALIVE_MSG body.
    #[derive(Default)]
    KeepaliveRequest, size 4 {
        /// Request id.
        pub request_id: u32,
    }
}

crate::wire_struct! {
    /// PACKET_MSG body: the frame and the per-packet information, each at an offset from the
    /// start of this body.
    #[derive(Default)]
    Packet, size 36 {
        /// Offset of the frame.
        pub data_offset: u32,
        /// Bytes of the frame.
        pub data_length: u32,
        /// Out-of-band data: unused, zero.
        pub oob_data_offset: u32,
        /// Out-of-band data: unused, zero.
        pub oob_data_length: u32,
        /// Out-of-band data: unused, zero.
        pub num_oob_data_elements: u32,
        /// Offset of the first [`PerPacketInfo`].
        pub per_packet_info_offset: u32,
        /// Bytes of all per-packet info elements.
        pub per_packet_info_length: u32,
        /// Connection-oriented devices only: zero.
        pub vc_handle: u32,
        /// Reserved.
        pub reserved: u32,
    }
}

impl Packet {
    /// The body of a data message with `ppi_len` bytes of per-packet info right after it and
    /// `data_len` bytes of frame after those.
    pub fn new(data_len: u32, ppi_len: u32) -> Self {
        const FIXED: u32 = core::mem::size_of::<Packet>() as u32;
        Self {
            data_offset: FIXED + ppi_len,
            data_length: data_len,
            per_packet_info_offset: if ppi_len == 0 { 0 } else { FIXED },
            per_packet_info_length: ppi_len,
            ..Self::default()
        }
    }
}

crate::wire_struct! {
    /// One per-packet info element; its value starts `ppi_offset` bytes after its start.
    #[derive(Default)]
    PerPacketInfo, size 12 {
        /// Bytes of the element, value included.
        pub size: u32,
        /// `PPI_*` type in bits 0..31, [`PerPacketInfo::INTERNAL`] in bit 31.
        pub kind: u32,
        /// Offset of the value from the start of the element.
        pub ppi_offset: u32,
    }
}

impl PerPacketInfo {
    /// Bit of `kind` marking an internal (Hyper-V private) type.
    pub const INTERNAL: u32 = 1 << 31;

    /// The header of an element of type `kind` holding `value_len` bytes.
    pub fn new(kind: u32, value_len: u32) -> Self {
        Self {
            size: 12 + value_len,
            kind,
            ppi_offset: 12,
        }
    }
}

/// One RNDIS message in a buffer that may hold several (batched data messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The raw type word; see [`Message::kind`].
    pub msg_type: u32,
    /// The bytes after the header, up to `msg_len`.
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    /// The message type, if it is a known one.
    pub fn kind(&self) -> Result<MessageType, RndisError> {
        MessageType::try_from(self.msg_type)
    }

    /// Splits the first message off `bytes`; returns it and the bytes after it. Its length
    /// comes from its own header and must fit in `bytes`.
    pub fn split(bytes: &'a [u8]) -> Result<(Self, &'a [u8]), RndisError> {
        let (h, _) = MessageHeader::read_from_prefix(bytes).map_err(|_| RndisError::TooShort {
            needed: HEADER_SIZE,
            got: bytes.len(),
        })?;
        let len = h.msg_len as usize;
        if len < HEADER_SIZE || len > bytes.len() {
            return Err(RndisError::BadLength {
                msg_len: h.msg_len,
                available: bytes.len(),
            });
        }
        let (msg, rest) = bytes.split_at(len);
        let message = Self {
            msg_type: h.msg_type,
            body: &msg[HEADER_SIZE..],
        };
        Ok((message, rest))
    }

    /// The fixed part of the body as `T`.
    pub fn fixed<T: FromBytes>(&self) -> Result<T, RndisError> {
        T::read_from_prefix(self.body)
            .map(|(t, _)| t)
            .map_err(|_| RndisError::TooShort {
                needed: HEADER_SIZE + core::mem::size_of::<T>(),
                got: HEADER_SIZE + self.body.len(),
            })
    }

    /// A QUERY_MSG or SET_MSG: the request and its information buffer.
    pub fn oid_request(&self) -> Result<(OidRequest, &'a [u8]), RndisError> {
        let r: OidRequest = self.fixed()?;
        let info = sub_buffer(
            self.body,
            "info_buffer",
            r.info_buffer_offset,
            r.info_buffer_length,
            core::mem::size_of::<OidRequest>(),
        )?;
        Ok((r, info))
    }

    /// A PACKET_MSG: its frame and per-packet info.
    pub fn packet(&self) -> Result<PacketView<'a>, RndisError> {
        let p: Packet = self.fixed()?;
        let fixed = core::mem::size_of::<Packet>();
        let data = sub_buffer(self.body, "data", p.data_offset, p.data_length, fixed)?;
        let per_packet_info = sub_buffer(
            self.body,
            "per_packet_info",
            p.per_packet_info_offset,
            p.per_packet_info_length,
            fixed,
        )?;
        Ok(PacketView {
            data,
            per_packet_info,
        })
    }
}

/// `len` bytes at `offset` in `body`, outside the first `fixed` bytes. An empty buffer may
/// have any offset (senders leave it zero).
fn sub_buffer<'a>(
    body: &'a [u8],
    field: &'static str,
    offset: u32,
    len: u32,
    fixed: usize,
) -> Result<&'a [u8], RndisError> {
    if len == 0 {
        return Ok(&[]);
    }
    let bad = RndisError::BadOffset { field, offset, len };
    let start = offset as usize;
    if start < fixed {
        return Err(bad);
    }
    start
        .checked_add(len as usize)
        .and_then(|end| body.get(start..end))
        .ok_or(bad)
}

/// The parts of a data message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketView<'a> {
    /// The Ethernet frame.
    pub data: &'a [u8],
    /// The per-packet info elements; walk them with [`PpiIter`].
    pub per_packet_info: &'a [u8],
}

impl<'a> PacketView<'a> {
    /// The per-packet info elements.
    pub fn ppis(&self) -> PpiIter<'a> {
        PpiIter {
            rest: self.per_packet_info,
        }
    }

    /// The value of the first well-formed element of type `kind` (external types only) that
    /// is at least 4 bytes long, as a little-endian word.
    pub fn ppi_u32(&self, kind: u32) -> Option<u32> {
        self.ppis()
            .map_while(Result::ok)
            .find(|p| !p.internal && p.kind == kind)
            .and_then(|p| p.value.get(..4))
            .map(|v| {
                let mut w = [0u8; 4];
                w.copy_from_slice(v);
                u32::from_le_bytes(w)
            })
    }
}

/// One per-packet info element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ppi<'a> {
    /// `PPI_*` type.
    pub kind: u32,
    /// Whether it is an internal type.
    pub internal: bool,
    /// The value bytes.
    pub value: &'a [u8],
}

/// Iterates over per-packet info elements; a malformed element yields an error and ends the
/// walk.
#[derive(Clone, Debug)]
pub struct PpiIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for PpiIter<'a> {
    type Item = Result<Ppi<'a>, RndisError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = PerPacketInfo::read_from_prefix(self.rest)
            .ok()
            .and_then(|(h, _)| {
                let size = h.size as usize;
                let offset = h.ppi_offset as usize;
                if size < core::mem::size_of::<PerPacketInfo>()
                    || size > self.rest.len()
                    || offset < core::mem::size_of::<PerPacketInfo>()
                    || offset > size
                {
                    return None;
                }
                let element = &self.rest[..size];
                Some((h, &element[offset..], size))
            });
        match parsed {
            Some((h, value, size)) => {
                self.rest = &self.rest[size..];
                Some(Ok(Ppi {
                    kind: h.kind & !PerPacketInfo::INTERNAL,
                    internal: h.kind & PerPacketInfo::INTERNAL != 0,
                    value,
                }))
            }
            None => {
                self.rest = &[];
                Some(Err(RndisError::BadPerPacketInfo))
            }
        }
    }
}
