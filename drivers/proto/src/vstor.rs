// SPDX-License-Identifier: GPL-2.0
//! The VSTOR protocol: what Hyper-V's synthetic SCSI controller (storvsp on the host, storvsc
//! in the guest) exchanges as in-band and GPA-direct packets on its VMBus channels.
//!
//! Every packet is a [`VstorPacket`]: a 12-byte [`PacketHeader`] (operation, flags, status)
//! and a 52-byte body that holds, depending on the operation, a [`ScsiRequest`] (the SRB of
//! EXECUTE_SRB and of its completion), a [`ProtocolVersion`], [`ChannelProperties`] or a
//! sub-channel count. The SRB grew by 16 bytes in protocol 5.1 (Windows 8); before that a
//! packet is 48 bytes, from then on 64 (see [`srb_size`] and [`packet_size`]). Data moves
//! in the guest pages a GPA-direct packet lists, never in the ring.
//!
//! Layouts follow `struct vstor_packet`, `struct vmscsi_request` and friends in Linux's
//! `drivers/scsi/storvsc_drv.c`; class GUIDs are `HV_SCSI_GUID` and `HV_IDE_GUID` of
//! `include/linux/hyperv.h`.
//!
//! This file is also compiled into the kernel modules: it uses only `core` and `zerocopy`, and
//! expects `guid.rs` and `offer.rs` as its sibling modules `guid` and `offer`.

use super::guid::Guid;
use zerocopy::{FromBytes, FromZeros, IntoBytes};
use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Class GUID of the synthetic SCSI controller (`HV_SCSI_GUID`).
pub const SCSI_CLASS_ID: Guid = super::offer::class::SCSI;

/// Class GUID of the accelerated IDE channel (`HV_IDE_GUID`), the same protocol.
pub const IDE_CLASS_ID: Guid = super::offer::class::IDE;

/// Builds a protocol version number: major in the high byte, minor in the low byte.
pub const fn make_version(major: u8, minor: u8) -> u16 {
    ((major as u16) << 8) | minor as u16
}

/// Windows Server 2008.
pub const VERSION_WIN6: u16 = make_version(2, 0);
/// Windows 7 / Server 2008 R2.
pub const VERSION_WIN7: u16 = make_version(4, 2);
/// Windows 8 / Server 2012: the SRB gains its 16-byte extension, multi-channel appears.
pub const VERSION_WIN8: u16 = make_version(5, 1);
/// Windows 8.1 / Server 2012 R2 (also the Azure HvLite paravisor).
pub const VERSION_WIN8_1: u16 = make_version(6, 0);
/// Windows 10 / Server 2016.
pub const VERSION_WIN10: u16 = make_version(6, 2);

/// The versions Linux 7.3 proposes, in the order it proposes them.
pub const LINUX_VERSIONS: [u16; 2] = [VERSION_WIN10, VERSION_WIN8_1];

/// Every version that has been defined, newest first.
pub const ALL_VERSIONS: [u16; 5] = [
    VERSION_WIN10,
    VERSION_WIN8_1,
    VERSION_WIN8,
    VERSION_WIN7,
    VERSION_WIN6,
];

/// What a packet asks for or reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum Operation {
    /// Host → guest: the completion of any request.
    CompleteIo = 1,
    /// Host → guest: a device went away (the guest rescans).
    RemoveDevice = 2,
    /// Guest → host: run a SCSI command ([`ScsiRequest`]).
    ExecuteSrb = 3,
    /// Guest → host: reset a logical unit.
    ResetLun = 4,
    /// Guest → host: reset the adapter.
    ResetAdapter = 5,
    /// Guest → host: reset the bus.
    ResetBus = 6,
    /// Guest → host: first step of the initialization sequence.
    BeginInitialization = 7,
    /// Guest → host: last step of the initialization sequence.
    EndInitialization = 8,
    /// Guest → host: propose a protocol version ([`ProtocolVersion`]).
    QueryProtocolVersion = 9,
    /// Guest → host: ask for [`ChannelProperties`].
    QueryProperties = 10,
    /// Host → guest: the set of logical units changed; rescan the bus.
    EnumerateBus = 11,
    /// Both ways: Fibre Channel port and node names.
    FchbaData = 12,
    /// Guest → host: offer this many sub-channels.
    CreateSubChannels = 13,
}

impl TryFrom<u32> for Operation {
    type Error = VstorError;

    fn try_from(value: u32) -> Result<Self, VstorError> {
        use Operation::*;
        Ok(match value {
            1 => CompleteIo,
            2 => RemoveDevice,
            3 => ExecuteSrb,
            4 => ResetLun,
            5 => ResetAdapter,
            6 => ResetBus,
            7 => BeginInitialization,
            8 => EndInitialization,
            9 => QueryProtocolVersion,
            10 => QueryProperties,
            11 => EnumerateBus,
            12 => FchbaData,
            13 => CreateSubChannels,
            other => return Err(VstorError::UnknownOperation(other)),
        })
    }
}

/// [`PacketHeader::flags`]: the sender wants a completion.
pub const FLAG_REQUEST_COMPLETION: u32 = 0x1;

/// [`PacketHeader::status`]: success (NTSTATUS values by convention).
pub const STATUS_SUCCESS: u32 = 0;
/// Generic failure.
pub const STATUS_UNSUCCESSFUL: u32 = 0xc000_0001;
/// A parameter (a sub-channel count, say) is out of range.
pub const STATUS_INVALID_PARAMETER: u32 = 0xc000_000d;
/// The operation is not one the device performs.
pub const STATUS_INVALID_DEVICE_REQUEST: u32 = 0xc000_0010;
/// The proposed protocol version is not supported.
pub const STATUS_REVISION_MISMATCH: u32 = 0xc000_0059;
/// The addressed logical unit does not exist.
pub const STATUS_DEVICE_DOES_NOT_EXIST: u32 = 0xc000_00c0;
/// The request came in the wrong phase of the initialization sequence.
pub const STATUS_INVALID_DEVICE_STATE: u32 = 0xc000_0184;
/// The device reported an I/O error.
pub const STATUS_IO_DEVICE_ERROR: u32 = 0xc000_0185;

/// [`ChannelProperties::flags`]: the host offers sub-channels on request.
pub const STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL: u32 = 0x1;
/// [`ChannelProperties::flags`] of old hosts: removable media.
pub const STORAGE_CHANNEL_REMOVABLE_FLAG: u32 = 0x1;
/// [`ChannelProperties::flags`] of old hosts: the channel backs an emulated IDE disk.
pub const STORAGE_CHANNEL_EMULATED_IDE_FLAG: u32 = 0x2;

/// Longest CDB an SRB carries.
pub const CDB_MAX_LEN: usize = 16;
/// Sense bytes an SRB completion carries, from protocol 5.1 on.
pub const SENSE_BUFFER_SIZE: usize = 0x14;
/// Sense bytes an SRB completion carries before protocol 5.1.
pub const SENSE_BUFFER_SIZE_PRE_WIN8: usize = 0x12;
/// Size of the area that holds the CDB in a request and the sense data in its completion.
pub const SRB_CDB_AREA_SIZE: usize = 0x14;

/// [`ScsiRequest::data_in`]: data moves from the guest to the device.
pub const DATA_IN_WRITE: u8 = 0;
/// [`ScsiRequest::data_in`]: data moves from the device to the guest.
pub const DATA_IN_READ: u8 = 1;
/// [`ScsiRequest::data_in`]: no data moves.
pub const DATA_IN_UNKNOWN: u8 = 2;

/// [`ScsiRequest::srb_status`] flag: the sense area holds valid sense data.
pub const SRB_STATUS_AUTOSENSE_VALID: u8 = 0x80;
/// [`ScsiRequest::srb_status`] flag: the device queue is frozen.
pub const SRB_STATUS_QUEUE_FROZEN: u8 = 0x40;
/// SRB status: the request is still being processed.
pub const SRB_STATUS_PENDING: u8 = 0x00;
/// SRB status: completed successfully.
pub const SRB_STATUS_SUCCESS: u8 = 0x01;
/// SRB status: aborted.
pub const SRB_STATUS_ABORTED: u8 = 0x02;
/// SRB status: completed with an error (see the SCSI status and sense data).
pub const SRB_STATUS_ERROR: u8 = 0x04;
/// SRB status: the request itself is malformed.
pub const SRB_STATUS_INVALID_REQUEST: u8 = 0x06;
/// SRB status: timed out.
pub const SRB_STATUS_TIMEOUT: u8 = 0x09;
/// SRB status: the target did not answer selection.
pub const SRB_STATUS_SELECTION_TIMEOUT: u8 = 0x0a;
/// SRB status: a bus reset cut the request short.
pub const SRB_STATUS_BUS_RESET: u8 = 0x0e;
/// SRB status: more or less data than the buffer holds.
pub const SRB_STATUS_DATA_OVERRUN: u8 = 0x12;
/// SRB status: no logical unit at this address.
pub const SRB_STATUS_INVALID_LUN: u8 = 0x20;
/// SRB status: the host failed internally.
pub const SRB_STATUS_INTERNAL_ERROR: u8 = 0x30;

/// The status code of an [`ScsiRequest::srb_status`] byte, without its two flag bits.
pub const fn srb_status_code(srb_status: u8) -> u8 {
    srb_status & !(SRB_STATUS_AUTOSENSE_VALID | SRB_STATUS_QUEUE_FROZEN)
}

/// [`ScsiRequest::srb_flags`]: tagged queueing.
pub const SRB_FLAGS_QUEUE_ACTION_ENABLE: u32 = 0x0000_0002;
/// [`ScsiRequest::srb_flags`]: no synchronous transfer.
pub const SRB_FLAGS_DISABLE_SYNCH_TRANSFER: u32 = 0x0000_0008;
/// [`ScsiRequest::srb_flags`]: no automatic request sense.
pub const SRB_FLAGS_DISABLE_AUTOSENSE: u32 = 0x0000_0020;
/// [`ScsiRequest::srb_flags`]: data moves to the guest.
pub const SRB_FLAGS_DATA_IN: u32 = 0x0000_0040;
/// [`ScsiRequest::srb_flags`]: data moves to the device.
pub const SRB_FLAGS_DATA_OUT: u32 = 0x0000_0080;
/// [`ScsiRequest::srb_flags`]: do not freeze the queue on error.
pub const SRB_FLAGS_NO_QUEUE_FREEZE: u32 = 0x0000_0100;

/// The first 12 bytes of every packet (the C `vstor_packet` without its union).
#[repr(C, packed)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct PacketHeader {
    /// An [`Operation`] number.
    pub operation: u32,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// NTSTATUS of a completion (`STATUS_*`), zero in requests.
    pub status: u32,
}
const _: () = assert!(core::mem::size_of::<PacketHeader>() == 12);

/// A SCSI request block (`struct vmscsi_request`), including the extension of protocol 5.1;
/// older protocol versions send and expect only the first [`SRB_SIZE_PRE_WIN8`] bytes.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ScsiRequest {
    /// Size of the SRB as the guest built it.
    pub length: u16,
    /// Completion: `SRB_STATUS_*` code and flags.
    pub srb_status: u8,
    /// Completion: SCSI status byte (SAM).
    pub scsi_status: u8,
    /// Port (the guest's SCSI host number; the host ignores it).
    pub port_number: u8,
    /// Path (SCSI channel).
    pub path_id: u8,
    /// Target.
    pub target_id: u8,
    /// Logical unit.
    pub lun: u8,
    /// Bytes of `cdb` that are the command.
    pub cdb_length: u8,
    /// Request: sense bytes the guest can take; completion: valid sense bytes.
    pub sense_info_length: u8,
    /// `DATA_IN_*`: direction of the data.
    pub data_in: u8,
    /// Reserved.
    pub reserved: u8,
    /// Request: bytes of the data buffer; completion: bytes transferred.
    pub data_transfer_length: u32,
    /// Request: the CDB; completion: the sense data.
    pub cdb: [u8; SRB_CDB_AREA_SIZE],
    /// Reserved (5.1+).
    pub reserve: u16,
    /// Queue tag (5.1+).
    pub queue_tag: u8,
    /// Queue action, e.g. simple tag (5.1+).
    pub queue_action: u8,
    /// `SRB_FLAGS_*` (5.1+).
    pub srb_flags: u32,
    /// Timeout in seconds (5.1+).
    pub time_out_value: u32,
    /// Queue sort key (5.1+).
    pub queue_sort_key: u32,
}
const _: () = assert!(core::mem::size_of::<ScsiRequest>() == 52);

/// SRB bytes before protocol 5.1.
pub const SRB_SIZE_PRE_WIN8: usize = 36;
/// SRB bytes from protocol 5.1 on.
pub const SRB_SIZE_WIN8: usize = core::mem::size_of::<ScsiRequest>();
/// What protocol 5.1 added to the SRB.
pub const SRB_WIN8_EXTENSION_SIZE: usize = SRB_SIZE_WIN8 - SRB_SIZE_PRE_WIN8;

/// Bytes of the SRB at protocol `version`.
pub const fn srb_size(version: u16) -> usize {
    if version >= VERSION_WIN8 {
        SRB_SIZE_WIN8
    } else {
        SRB_SIZE_PRE_WIN8
    }
}

/// Bytes of a packet at protocol `version`: Linux drops completions shorter than this.
pub const fn packet_size(version: u16) -> usize {
    core::mem::size_of::<PacketHeader>() + srb_size(version)
}

/// Sense bytes an SRB completion carries at protocol `version`.
pub const fn sense_buffer_size(version: u16) -> usize {
    if version >= VERSION_WIN8 {
        SENSE_BUFFER_SIZE
    } else {
        SENSE_BUFFER_SIZE_PRE_WIN8
    }
}

/// The data direction of an SRB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataDirection {
    /// Guest → device.
    Write,
    /// Device → guest.
    Read,
    /// No data.
    None,
}

impl TryFrom<u8> for DataDirection {
    type Error = VstorError;

    fn try_from(value: u8) -> Result<Self, VstorError> {
        match value {
            DATA_IN_WRITE => Ok(DataDirection::Write),
            DATA_IN_READ => Ok(DataDirection::Read),
            DATA_IN_UNKNOWN => Ok(DataDirection::None),
            other => Err(VstorError::BadDataDirection(other)),
        }
    }
}

impl ScsiRequest {
    /// The command bytes, checked against the CDB area.
    pub fn command(&self) -> Result<&[u8], VstorError> {
        let len = usize::from(self.cdb_length);
        if len == 0 || len > CDB_MAX_LEN {
            return Err(VstorError::BadCdbLength(self.cdb_length));
        }
        Ok(&self.cdb[..len])
    }

    /// The data direction, checked.
    pub fn direction(&self) -> Result<DataDirection, VstorError> {
        DataDirection::try_from(self.data_in)
    }

    /// Checks the fields a host relies on: the SRB length, the CDB length and the direction.
    pub fn validate(&self) -> Result<(), VstorError> {
        let length = usize::from(self.length);
        if !(SRB_SIZE_PRE_WIN8..=SRB_SIZE_WIN8).contains(&length) {
            return Err(VstorError::BadSrbLength(self.length));
        }
        self.command()?;
        self.direction()?;
        Ok(())
    }
}

/// Answer to QUERY_PROPERTIES (`struct vmstorage_channel_properties`).
#[repr(C, packed)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct ChannelProperties {
    /// Reserved.
    pub reserved: u32,
    /// Most sub-channels the guest may ask for.
    pub max_channel_count: u16,
    /// Reserved.
    pub reserved1: u16,
    /// `STORAGE_CHANNEL_*` flags.
    pub flags: u32,
    /// Largest transfer of one SRB, in bytes.
    pub max_transfer_bytes: u32,
    /// Reserved.
    pub reserved2: u64,
}
const _: () = assert!(core::mem::size_of::<ChannelProperties>() == 24);

/// QUERY_PROTOCOL_VERSION's body (`struct vmstorage_protocol_version`).
#[repr(C, packed)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct ProtocolVersion {
    /// `major << 8 | minor`.
    pub major_minor: u16,
    /// Build revision, Windows only; zero.
    pub revision: u16,
}
const _: () = assert!(core::mem::size_of::<ProtocolVersion>() == 4);

/// Size of the body union of a packet.
pub const BODY_SIZE: usize = 0x34;

/// A whole packet at its largest (64 bytes): the header and the body union as bytes.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct VstorPacket {
    /// Operation, flags, status.
    pub header: PacketHeader,
    /// An [`ScsiRequest`], [`ProtocolVersion`], [`ChannelProperties`] or a `u16` sub-channel
    /// count, zero-padded.
    pub body: [u8; BODY_SIZE],
}
const _: () = assert!(core::mem::size_of::<VstorPacket>() == 64);
const _: () = assert!(core::mem::size_of::<VstorPacket>() == packet_size(VERSION_WIN10));
const _: () = assert!(packet_size(VERSION_WIN7) == 48);

/// Why a packet could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VstorError {
    /// Fewer bytes than the operation needs.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes received.
        got: usize,
    },
    /// The operation word is not a known operation.
    UnknownOperation(u32),
    /// The SRB's `length` is not a size any protocol version uses.
    BadSrbLength(u16),
    /// The SRB's `cdb_length` is zero or longer than the CDB area.
    BadCdbLength(u8),
    /// The SRB's `data_in` is not a known direction.
    BadDataDirection(u8),
}

/// Copies the leading bytes of `body` into a zeroed `T` (the body union is zero-padded).
fn body_as<T: FromBytes + IntoBytes>(body: &[u8]) -> T {
    let mut value = T::new_zeroed();
    let dst = value.as_mut_bytes();
    let n = dst.len().min(body.len());
    dst[..n].copy_from_slice(&body[..n]);
    value
}

/// Copies `value` to the front of a zeroed body.
fn body_from<T: IntoBytes + zerocopy::Immutable>(value: &T) -> [u8; BODY_SIZE] {
    let mut body = [0u8; BODY_SIZE];
    let src = value.as_bytes();
    let n = src.len().min(BODY_SIZE);
    body[..n].copy_from_slice(&src[..n]);
    body
}

impl VstorPacket {
    /// A zeroed packet for `operation`.
    pub fn new(operation: Operation) -> Self {
        let mut p = Self::new_zeroed();
        p.header.operation = operation as u32;
        p
    }

    /// A completion (COMPLETE_IO) with `status`.
    pub fn completion(status: u32) -> Self {
        let mut p = Self::new(Operation::CompleteIo);
        p.header.status = status;
        p
    }

    /// The operation, if it is a known one.
    pub fn operation(&self) -> Result<Operation, VstorError> {
        Operation::try_from(self.header.operation)
    }

    /// The body read as an SRB.
    pub fn srb(&self) -> ScsiRequest {
        body_as(&self.body)
    }

    /// Puts `srb` into the body.
    pub fn set_srb(&mut self, srb: &ScsiRequest) {
        self.body = body_from(srb);
    }

    /// The body read as a protocol version.
    pub fn version(&self) -> ProtocolVersion {
        body_as(&self.body)
    }

    /// Puts `version` into the body.
    pub fn set_version(&mut self, version: &ProtocolVersion) {
        self.body = body_from(version);
    }

    /// The body read as channel properties.
    pub fn properties(&self) -> ChannelProperties {
        body_as(&self.body)
    }

    /// Puts `properties` into the body.
    pub fn set_properties(&mut self, properties: &ChannelProperties) {
        self.body = body_from(properties);
    }

    /// The body read as the CREATE_SUB_CHANNELS count.
    pub fn sub_channel_count(&self) -> u16 {
        u16::from_le_bytes([self.body[0], self.body[1]])
    }

    /// Puts a sub-channel count into the body.
    pub fn set_sub_channel_count(&mut self, count: u16) {
        self.body = body_from(&count);
    }

    /// The packet as sent at protocol `version` ([`packet_size`] bytes).
    pub fn bytes_for(&self, version: u16) -> &[u8] {
        let bytes = self.as_bytes();
        &bytes[..packet_size(version).min(bytes.len())]
    }
}

/// Bytes a packet with `operation` must have at protocol `version`: the header and the part
/// of the body the operation uses.
pub const fn required_len(operation: Operation, version: u16) -> usize {
    let body = match operation {
        Operation::ExecuteSrb | Operation::CompleteIo => srb_size(version),
        Operation::QueryProtocolVersion => core::mem::size_of::<ProtocolVersion>(),
        Operation::CreateSubChannels => core::mem::size_of::<u16>(),
        _ => 0,
    };
    core::mem::size_of::<PacketHeader>() + body
}

/// Parses a packet the guest sent at protocol `version` (use [`VERSION_WIN6`] before the
/// version is negotiated): checks the operation and that the bytes it needs are there, and
/// returns the packet zero-padded to its full size. An SRB is validated as well.
pub fn parse_packet(bytes: &[u8], version: u16) -> Result<VstorPacket, VstorError> {
    let (header, _) = PacketHeader::read_from_prefix(bytes).map_err(|_| VstorError::TooShort {
        needed: core::mem::size_of::<PacketHeader>(),
        got: bytes.len(),
    })?;
    let operation = Operation::try_from(header.operation)?;
    let needed = required_len(operation, version);
    if bytes.len() < needed {
        return Err(VstorError::TooShort {
            needed,
            got: bytes.len(),
        });
    }
    let packet: VstorPacket = body_as(bytes);
    if operation == Operation::ExecuteSrb {
        let mut srb = packet.srb();
        // An SRB only has the bytes of its protocol version; the rest is padding.
        let used = srb_size(version);
        srb.as_mut_bytes()[used..].fill(0);
        srb.validate()?;
        let mut packet = packet;
        packet.set_srb(&srb);
        return Ok(packet);
    }
    Ok(packet)
}
