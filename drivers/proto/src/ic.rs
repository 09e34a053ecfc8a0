// SPDX-License-Identifier: GPL-2.0
//! Integration components (ICs): the message framing shared by heartbeat, shutdown, time
//! synchronisation and key-value pair exchange, and their version negotiation (the message
//! bodies: `ic_msg.rs`; KVP: `kvp.rs`).
//!
//! Every IC packet is an in-band VMBus packet on a message-mode pipe channel. Its payload is a
//! [`PipeHeader`], an [`IcMessageHeader`] and the message body. The host always asks and the
//! guest always answers: the guest edits the host's packet in place (status, flags, the body
//! fields it fills) and sends all of it back with the same VMBus transaction id. The host opens
//! each conversation with a NEGOTIATE message that lists the framework and service versions it
//! speaks; the guest answers with one of each, or with none.
//!
//! Layouts: `struct vmbuspipe_hdr`, `struct icmsg_hdr` and `struct icmsg_negotiate` in
//! include/linux/hyperv.h; the version choice follows
//! `vmbus_prep_negotiate_resp()` in drivers/hv/channel_mgmt.c; status codes are in
//! include/uapi/linux/hyperv.h.
//!
//! The message bodies are in `ic_msg.rs` and re-exported here. This file is also compiled
//! into the kernel modules: it uses only `core` and `zerocopy`, and expects `ic_msg.rs` to be
//! included as its sibling module `ic_msg`.

use zerocopy::FromBytes;
use zerocopy::IntoBytes;
use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub use super::ic_msg::*;

/// [`PipeHeader::flags`] of a data packet.
pub const PIPE_FLAG_DATA: u32 = 1;

/// The header of every packet on a message-mode pipe.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PipeHeader {
    /// [`PIPE_FLAG_DATA`].
    pub flags: u32,
    /// Bytes after this header.
    pub msgsize: u32,
}
const _: () = assert!(core::mem::size_of::<PipeHeader>() == 8);

/// A framework or service version, `major.minor`.
#[repr(C, packed)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct IcVersion {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}
const _: () = assert!(core::mem::size_of::<IcVersion>() == 4);

impl IcVersion {
    /// The version `major.minor`.
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }

    /// The version as one number, `major << 16 | minor` (Linux's notation).
    pub const fn to_u32(self) -> u32 {
        ((self.major as u32) << 16) | self.minor as u32
    }
}

/// IC framework 1.0 (Windows Server 2008).
pub const FRAMEWORK_VERSION_1: IcVersion = IcVersion::new(1, 0);
/// IC framework 3.0 (every later host).
pub const FRAMEWORK_VERSION_3: IcVersion = IcVersion::new(3, 0);

/// [`IcMessageHeader::icflags`]: the message belongs to a request/response exchange.
pub const ICMSG_FLAG_TRANSACTION: u8 = 1;
/// [`IcMessageHeader::icflags`]: the message is a request.
pub const ICMSG_FLAG_REQUEST: u8 = 2;
/// [`IcMessageHeader::icflags`]: the message is a response.
pub const ICMSG_FLAG_RESPONSE: u8 = 4;

/// The header after the pipe header.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IcMessageHeader {
    /// Framework version of the message.
    pub icverframe: IcVersion,
    /// An [`IcMessageType`] value.
    pub icmsgtype: u16,
    /// Service version of the message.
    pub icvermsg: IcVersion,
    /// Bytes of the body after this header.
    pub icmsgsize: u16,
    /// Status of a response: one of the `HV_*` status codes.
    pub status: u32,
    /// Transaction number, echoed by the response.
    pub ictransaction_id: u8,
    /// `ICMSG_FLAG_*`.
    pub icflags: u8,
    /// Zero.
    pub reserved: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<IcMessageHeader>() == 20);

/// Bytes in front of every message body: pipe header and message header.
pub const ICMSG_HDR_SIZE: usize =
    core::mem::size_of::<PipeHeader>() + core::mem::size_of::<IcMessageHeader>();

/// The message type word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum IcMessageType {
    /// Version negotiation, the first exchange on every IC channel.
    Negotiate = 0,
    /// Heartbeat.
    Heartbeat = 1,
    /// Key-value pair exchange.
    KvpExchange = 2,
    /// Shutdown, reboot or hibernate request.
    Shutdown = 3,
    /// Time synchronisation.
    Timesync = 4,
    /// Volume shadow copy (backup).
    Vss = 5,
    /// File copy.
    Fcopy = 7,
}

impl TryFrom<u16> for IcMessageType {
    type Error = IcError;

    fn try_from(value: u16) -> Result<Self, IcError> {
        Ok(match value {
            0 => IcMessageType::Negotiate,
            1 => IcMessageType::Heartbeat,
            2 => IcMessageType::KvpExchange,
            3 => IcMessageType::Shutdown,
            4 => IcMessageType::Timesync,
            5 => IcMessageType::Vss,
            7 => IcMessageType::Fcopy,
            other => return Err(IcError::UnknownMessageType(other)),
        })
    }
}

/// Status: success.
pub const HV_S_OK: u32 = 0x0000_0000;
/// Status: generic failure.
pub const HV_E_FAIL: u32 = 0x8000_4005;
/// Status: no such item / no more items (KVP lookups and enumeration).
pub const HV_S_CONT: u32 = 0x8007_0103;
/// Status: the operation is not supported.
pub const HV_ERROR_NOT_SUPPORTED: u32 = 0x8007_0032;
/// Status: the machine is locked.
pub const HV_ERROR_MACHINE_LOCKED: u32 = 0x8007_04f7;
/// Status: the device is not connected.
pub const HV_ERROR_DEVICE_NOT_CONNECTED: u32 = 0x8007_048f;
/// Status: an argument is invalid.
pub const HV_INVALIDARG: u32 = 0x8007_0057;
/// Status: the GUID (network adapter) was not found.
pub const HV_GUID_NOTFOUND: u32 = 0x8004_1002;
/// Status: the item already exists.
pub const HV_ERROR_ALREADY_EXISTS: u32 = 0x8007_0050;
/// Status: the disk is full.
pub const HV_ERROR_DISK_FULL: u32 = 0x8007_0070;

/// Why an IC packet could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcError {
    /// Fewer bytes than the part being read.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The message type word is not a known IC message.
    UnknownMessageType(u16),
    /// A negotiation message lists more versions than the protocol allows.
    TooManyVersions {
        /// Framework versions listed.
        framework: u16,
        /// Service versions listed.
        service: u16,
    },
    /// The output buffer is too small for the message.
    NoRoom {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
}

/// An IC packet split into its headers and body.
#[derive(Clone, Copy, Debug)]
pub struct IcPacket<'a> {
    /// The pipe header.
    pub pipe: PipeHeader,
    /// The message header.
    pub header: IcMessageHeader,
    /// Everything after the message header (VMBus packet padding included: the size of a
    /// message is known only from its type).
    pub body: &'a [u8],
}

impl IcPacket<'_> {
    /// The message type, if known.
    pub fn message_type(&self) -> Result<IcMessageType, IcError> {
        IcMessageType::try_from(self.header.icmsgtype)
    }
}

/// Splits an IC packet payload into pipe header, message header and body.
pub fn parse_packet(bytes: &[u8]) -> Result<IcPacket<'_>, IcError> {
    let short = IcError::TooShort {
        needed: ICMSG_HDR_SIZE,
        got: bytes.len(),
    };
    let (pipe, rest) = PipeHeader::read_from_prefix(bytes).map_err(|_| short)?;
    let (header, body) = IcMessageHeader::read_from_prefix(rest).map_err(|_| short)?;
    Ok(IcPacket { pipe, header, body })
}

/// Reads a fixed-size message body `T` from the start of `body`.
pub fn parse_body<T: FromBytes>(body: &[u8]) -> Result<T, IcError> {
    T::read_from_prefix(body)
        .map(|(t, _)| t)
        .map_err(|_| IcError::TooShort {
            needed: core::mem::size_of::<T>(),
            got: body.len(),
        })
}

/// Writes pipe header, message header and `body` into `out`; returns the packet length.
/// `header.icmsgsize` is set to the body length (saturated at `u16::MAX`).
pub fn write_packet(
    out: &mut [u8],
    mut header: IcMessageHeader,
    body: &[u8],
) -> Result<usize, IcError> {
    let len = ICMSG_HDR_SIZE + body.len();
    let no_room = IcError::NoRoom {
        needed: len,
        got: out.len(),
    };
    let out = out.get_mut(..len).ok_or(no_room)?;
    let pipe = PipeHeader {
        flags: PIPE_FLAG_DATA,
        msgsize: u32::try_from(len - core::mem::size_of::<PipeHeader>()).map_err(|_| no_room)?,
    };
    header.icmsgsize = u16::try_from(body.len()).unwrap_or(u16::MAX);
    let (p, rest) = out.split_at_mut(core::mem::size_of::<PipeHeader>());
    let (h, b) = rest.split_at_mut(core::mem::size_of::<IcMessageHeader>());
    p.copy_from_slice(pipe.as_bytes());
    h.copy_from_slice(header.as_bytes());
    b.copy_from_slice(body);
    Ok(len)
}

/// The fixed part of a NEGOTIATE body; `icframe_vercnt` framework versions and then
/// `icmsg_vercnt` service versions follow it.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct NegotiateHeader {
    /// Framework versions listed.
    pub icframe_vercnt: u16,
    /// Service versions listed.
    pub icmsg_vercnt: u16,
    /// Zero.
    pub reserved: u32,
}
const _: () = assert!(core::mem::size_of::<NegotiateHeader>() == 8);

/// Most versions either list of a NEGOTIATE message may hold.
pub const MAX_NEGOTIATE_VERSIONS: u16 = 100;

/// Body bytes of a NEGOTIATE message with these list lengths.
pub const fn negotiate_body_size(framework: usize, service: usize) -> usize {
    core::mem::size_of::<NegotiateHeader>()
        + (framework + service) * core::mem::size_of::<IcVersion>()
}

/// A parsed NEGOTIATE body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiate<'a> {
    /// Framework versions, in the sender's order.
    pub framework: &'a [IcVersion],
    /// Service versions, in the sender's order.
    pub service: &'a [IcVersion],
}

/// Parses a NEGOTIATE body: both lists must be complete and at most
/// [`MAX_NEGOTIATE_VERSIONS`] long.
pub fn parse_negotiate(body: &[u8]) -> Result<Negotiate<'_>, IcError> {
    let (h, rest) = NegotiateHeader::read_from_prefix(body).map_err(|_| IcError::TooShort {
        needed: core::mem::size_of::<NegotiateHeader>(),
        got: body.len(),
    })?;
    let (framework, service) = (h.icframe_vercnt, h.icmsg_vercnt);
    if framework > MAX_NEGOTIATE_VERSIONS || service > MAX_NEGOTIATE_VERSIONS {
        return Err(IcError::TooManyVersions { framework, service });
    }
    let short = IcError::TooShort {
        needed: negotiate_body_size(usize::from(framework), usize::from(service)),
        got: body.len(),
    };
    let (framework, rest) = <[IcVersion]>::ref_from_prefix_with_elems(rest, usize::from(framework))
        .map_err(|_| short)?;
    let (service, _) =
        <[IcVersion]>::ref_from_prefix_with_elems(rest, usize::from(service)).map_err(|_| short)?;
    Ok(Negotiate { framework, service })
}

/// Writes a NEGOTIATE body listing `framework` and `service` into `out`; returns its length.
pub fn write_negotiate(
    out: &mut [u8],
    framework: &[IcVersion],
    service: &[IcVersion],
) -> Result<usize, IcError> {
    let too_many = IcError::TooManyVersions {
        framework: u16::try_from(framework.len()).unwrap_or(u16::MAX),
        service: u16::try_from(service.len()).unwrap_or(u16::MAX),
    };
    let (fw_count, srv_count) = match (u16::try_from(framework.len()), u16::try_from(service.len()))
    {
        (Ok(f), Ok(s)) if f <= MAX_NEGOTIATE_VERSIONS && s <= MAX_NEGOTIATE_VERSIONS => (f, s),
        _ => return Err(too_many),
    };
    let len = negotiate_body_size(framework.len(), service.len());
    let no_room = IcError::NoRoom {
        needed: len,
        got: out.len(),
    };
    let out = out.get_mut(..len).ok_or(no_room)?;
    let h = NegotiateHeader {
        icframe_vercnt: fw_count,
        icmsg_vercnt: srv_count,
        reserved: 0,
    };
    let (head, versions) = out.split_at_mut(core::mem::size_of::<NegotiateHeader>());
    head.copy_from_slice(h.as_bytes());
    for (slot, v) in versions
        .chunks_exact_mut(core::mem::size_of::<IcVersion>())
        .zip(framework.iter().chain(service.iter()))
    {
        slot.copy_from_slice(v.as_bytes());
    }
    Ok(len)
}

/// The first version of `preferred` (the chooser's order) that `offered` lists.
pub fn select_version(offered: &[IcVersion], preferred: &[IcVersion]) -> Option<IcVersion> {
    preferred.iter().copied().find(|v| offered.contains(v))
}

/// The guest's choice for a NEGOTIATE message: a framework version, then a service version,
/// each the first of the guest's preference list that the host offered. `None` if either
/// has no match (the guest then answers with empty lists).
pub fn select_versions(
    offer: &Negotiate<'_>,
    framework_preferred: &[IcVersion],
    service_preferred: &[IcVersion],
) -> Option<(IcVersion, IcVersion)> {
    let framework = select_version(offer.framework, framework_preferred)?;
    let service = select_version(offer.service, service_preferred)?;
    Some((framework, service))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX_FW: [IcVersion; 2] = [FRAMEWORK_VERSION_3, FRAMEWORK_VERSION_1];

    fn header(ty: IcMessageType) -> IcMessageHeader {
        IcMessageHeader {
            icverframe: FRAMEWORK_VERSION_3,
            icmsgtype: ty as u16,
            icvermsg: IcVersion::new(3, 0),
            icmsgsize: 0,
            status: 0,
            ictransaction_id: 9,
            icflags: ICMSG_FLAG_TRANSACTION | ICMSG_FLAG_REQUEST,
            reserved: [0; 2],
        }
    }

    #[test]
    fn packets_round_trip() {
        let mut buf = [0u8; 128];
        let body = HeartbeatMessage {
            seq_num: 41,
            reserved: [0; 8],
        };
        let n = write_packet(&mut buf, header(IcMessageType::Heartbeat), body.as_bytes()).unwrap();
        assert_eq!(n, 28 + 40);
        let p = parse_packet(&buf[..n]).unwrap();
        assert_eq!(
            p.pipe,
            PipeHeader {
                flags: 1,
                msgsize: 60
            }
        );
        assert_eq!({ p.header.icmsgsize }, 40);
        assert_eq!(p.message_type(), Ok(IcMessageType::Heartbeat));
        let hb: HeartbeatMessage = parse_body(p.body).unwrap();
        assert_eq!({ hb.seq_num }, 41);
    }

    #[test]
    fn malformed_packets_are_rejected() {
        for len in [0, 1, 8, 27] {
            assert_eq!(
                parse_packet(&[0u8; 40][..len]).map(|_| ()),
                Err(IcError::TooShort {
                    needed: 28,
                    got: len
                })
            );
        }
        let mut raw = [0u8; 28];
        raw[12..14].copy_from_slice(&6u16.to_le_bytes());
        let p = parse_packet(&raw).unwrap();
        assert_eq!(p.message_type(), Err(IcError::UnknownMessageType(6)));
        assert_eq!(
            parse_body::<HeartbeatMessage>(&[0; 39]),
            Err(IcError::TooShort {
                needed: 40,
                got: 39
            })
        );
        assert_eq!(
            write_packet(&mut [0u8; 30], header(IcMessageType::Heartbeat), &[0; 8]),
            Err(IcError::NoRoom {
                needed: 36,
                got: 30
            })
        );
    }

    #[test]
    fn message_types_reject_unknown_values() {
        for v in [0u16, 1, 2, 3, 4, 5, 7] {
            assert_eq!(IcMessageType::try_from(v).unwrap() as u16, v);
        }
        for v in [6u16, 8, 0xffff] {
            assert_eq!(
                IcMessageType::try_from(v),
                Err(IcError::UnknownMessageType(v))
            );
        }
    }

    #[test]
    fn negotiation_round_trips_and_selects_like_linux() {
        let host_fw = [FRAMEWORK_VERSION_1, FRAMEWORK_VERSION_3];
        let host_srv = [
            IcVersion::new(1, 0),
            IcVersion::new(3, 0),
            IcVersion::new(3, 2),
        ];
        let mut buf = [0u8; 64];
        let n = write_negotiate(&mut buf, &host_fw, &host_srv).unwrap();
        assert_eq!(n, negotiate_body_size(2, 3));
        let offer = parse_negotiate(&buf[..n]).unwrap();
        assert_eq!(offer.framework, &host_fw);
        assert_eq!(offer.service, &host_srv);
        // Linux's shutdown list, newest first.
        let linux_sd = [
            IcVersion::new(3, 2),
            IcVersion::new(3, 1),
            IcVersion::new(3, 0),
            IcVersion::new(1, 0),
        ];
        assert_eq!(
            select_versions(&offer, &LINUX_FW, &linux_sd),
            Some((FRAMEWORK_VERSION_3, IcVersion::new(3, 2)))
        );
        assert_eq!(
            select_versions(&offer, &LINUX_FW, &[IcVersion::new(4, 0)]),
            None
        );
        assert_eq!(
            select_versions(&offer, &[IcVersion::new(2, 0)], &linux_sd),
            None
        );
    }

    #[test]
    fn malformed_negotiation_is_rejected() {
        assert!(matches!(
            parse_negotiate(&[0u8; 7]),
            Err(IcError::TooShort { needed: 8, got: 7 })
        ));
        // Counts beyond the protocol limit.
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&101u16.to_le_bytes());
        assert_eq!(
            parse_negotiate(&b),
            Err(IcError::TooManyVersions {
                framework: 101,
                service: 0
            })
        );
        b[0..2].copy_from_slice(&0u16.to_le_bytes());
        b[2..4].copy_from_slice(&0xffffu16.to_le_bytes());
        assert!(matches!(
            parse_negotiate(&b),
            Err(IcError::TooManyVersions { .. })
        ));
        // Counts larger than the bytes present.
        let mut b = [0u8; 16];
        b[0..2].copy_from_slice(&1u16.to_le_bytes());
        b[2..4].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(
            parse_negotiate(&b),
            Err(IcError::TooShort {
                needed: 20,
                got: 16
            })
        );
        // Empty lists are valid: it is how a guest refuses.
        let empty = parse_negotiate(&[0u8; 8]).unwrap();
        assert!(empty.framework.is_empty() && empty.service.is_empty());
        assert_eq!(select_versions(&empty, &LINUX_FW, &LINUX_FW), None);
        // Writing too many versions or into a short buffer fails.
        let many = [FRAMEWORK_VERSION_1; 101];
        assert!(matches!(
            write_negotiate(&mut [0u8; 1024], &many, &[]),
            Err(IcError::TooManyVersions { .. })
        ));
        assert_eq!(
            write_negotiate(&mut [0u8; 15], &LINUX_FW, &LINUX_FW),
            Err(IcError::NoRoom {
                needed: 24,
                got: 15
            })
        );
    }
}
