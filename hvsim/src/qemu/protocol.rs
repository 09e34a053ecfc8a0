// SPDX-License-Identifier: GPL-2.0
//! Wire format of the link between the patched QEMU and hvsim (hvsim/qemu/PROTOCOL.md).
//!
//! Every message is a little-endian header {kind u32, size u32} followed by a body whose size
//! is fixed by its kind; `size` counts the header too. Decoding is a pure function from bytes
//! to a typed value or a [`ProtocolError`]: a wrong size, an unknown kind, a non-zero reserved
//! field or an unexpected kind is an error, never a panic.

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};
use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// "HVSM" in the first four bytes of a hello.
pub const MAGIC: u32 = 0x4d53_5648;
/// The protocol version this hvsim speaks.
pub const VERSION: u32 = 1;
pub const HEADER_SIZE: usize = 8;
/// The largest message of any kind (a hypercall request).
pub const MAX_MESSAGE_SIZE: usize = 144;

/// CPUID leaves and MSRs QEMU forwards (informative: QEMU decides).
pub const CPUID_RANGE: core::ops::RangeInclusive<u32> = 0x4000_0000..=0x4000_00ff;
pub const MSR_RANGE: core::ops::RangeInclusive<u32> = 0x4000_0000..=0x4000_01ff;

/// Message kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    Hello = 1,
    HelloAck = 2,
    Cpuid = 3,
    CpuidReply = 4,
    Rdmsr = 5,
    RdmsrReply = 6,
    Wrmsr = 7,
    WrmsrReply = 8,
    Hypercall = 9,
    HypercallReply = 10,
    Interrupt = 11,
}

impl Kind {
    /// The one size (header included) a message of this kind has.
    pub const fn size(self) -> usize {
        match self {
            Kind::Hello => size_of::<HelloWire>(),
            Kind::HelloAck => size_of::<HelloAckWire>(),
            Kind::Cpuid => size_of::<CpuidWire>(),
            Kind::CpuidReply => size_of::<CpuidReplyWire>(),
            Kind::Rdmsr => size_of::<RdmsrWire>(),
            Kind::RdmsrReply => size_of::<RdmsrReplyWire>(),
            Kind::Wrmsr => size_of::<WrmsrWire>(),
            Kind::WrmsrReply => size_of::<WrmsrReplyWire>(),
            Kind::Hypercall => size_of::<HypercallWire>(),
            Kind::HypercallReply => size_of::<HypercallReplyWire>(),
            Kind::Interrupt => size_of::<InterruptWire>(),
        }
    }
}

impl TryFrom<u32> for Kind {
    type Error = ProtocolError;
    fn try_from(v: u32) -> Result<Self, ProtocolError> {
        Ok(match v {
            1 => Kind::Hello,
            2 => Kind::HelloAck,
            3 => Kind::Cpuid,
            4 => Kind::CpuidReply,
            5 => Kind::Rdmsr,
            6 => Kind::RdmsrReply,
            7 => Kind::Wrmsr,
            8 => Kind::WrmsrReply,
            9 => Kind::Hypercall,
            10 => Kind::HypercallReply,
            11 => Kind::Interrupt,
            _ => return Err(ProtocolError::UnknownKind(v)),
        })
    }
}

/// A message that does not follow the protocol.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("unknown message kind {0}")]
    UnknownKind(u32),
    #[error("message kind {kind:?} has size {size}, expected {expected}")]
    BadSize {
        kind: Kind,
        size: u32,
        expected: usize,
    },
    #[error("message kind {0:?} is not allowed here")]
    Unexpected(Kind),
    #[error("bad magic {0:#x} in hello (not a QEMU hvsim link)")]
    BadMagic(u32),
    #[error("QEMU speaks protocol version {0}, hvsim speaks {VERSION}")]
    VersionMismatch(u32),
    #[error("unknown connection role {0}")]
    BadRole(u32),
    #[error("non-zero reserved field in a {0:?} message")]
    Reserved(Kind),
    #[error("message is shorter than its header says ({have} of {need} bytes)")]
    Truncated { have: usize, need: usize },
}

#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct Header {
    pub kind: U32,
    pub size: U32,
}
const _: () = assert!(size_of::<Header>() == HEADER_SIZE);

impl Header {
    fn new(kind: Kind) -> Self {
        // CAST: every message is at most MAX_MESSAGE_SIZE bytes.
        Header {
            kind: U32::new(kind as u32),
            size: U32::new(kind.size() as u32),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct HelloWire {
    pub header: Header,
    pub magic: U32,
    pub version: U32,
    pub role: U32,
    pub vcpu: U32,
    pub apic_id: U32,
    pub nr_vcpus: U32,
}
const _: () = assert!(size_of::<HelloWire>() == 32);

#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct HelloAckWire {
    pub header: Header,
    pub magic: U32,
    pub version: U32,
}
const _: () = assert!(size_of::<HelloAckWire>() == 16);

#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct CpuidWire {
    pub header: Header,
    pub leaf: U32,
    pub subleaf: U32,
}
const _: () = assert!(size_of::<CpuidWire>() == 16);

#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct CpuidReplyWire {
    pub header: Header,
    pub regs: [U32; 4],
}
const _: () = assert!(size_of::<CpuidReplyWire>() == 24);

#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct RdmsrWire {
    pub header: Header,
    pub msr: U32,
    pub reserved: U32,
}
const _: () = assert!(size_of::<RdmsrWire>() == 16);

#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct RdmsrReplyWire {
    pub header: Header,
    pub result: U32,
    pub reserved: U32,
    pub value: U64,
}
const _: () = assert!(size_of::<RdmsrReplyWire>() == 24);

#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct WrmsrWire {
    pub header: Header,
    pub msr: U32,
    pub reserved: U32,
    pub value: U64,
}
const _: () = assert!(size_of::<WrmsrWire>() == 24);

#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct WrmsrReplyWire {
    pub header: Header,
    pub result: U32,
    pub flags: U32,
}
const _: () = assert!(size_of::<WrmsrReplyWire>() == 16);

#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct HypercallWire {
    pub header: Header,
    /// Bit 0: the vCPU runs 64-bit code.
    pub mode: U32,
    pub cpl: U32,
    /// RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15.
    pub regs: [U64; 16],
}
const _: () = assert!(size_of::<HypercallWire>() == MAX_MESSAGE_SIZE);

#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct HypercallReplyWire {
    pub header: Header,
    pub rax: U64,
    pub flags: U32,
    pub reserved: U32,
}
const _: () = assert!(size_of::<HypercallReplyWire>() == 24);

#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct InterruptWire {
    pub header: Header,
    pub vcpu: U32,
    pub vector: U32,
}
const _: () = assert!(size_of::<InterruptWire>() == 16);

/// MSR result codes.
const RESULT_OK: u32 = 0;
const RESULT_GP: u32 = 1;
/// Reply flag: hvsim wrote guest code, QEMU must drop its translations.
const FLAG_FLUSH_CODE: u32 = 1;

/// What a connection is for, from its hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Synchronous requests of one vCPU.
    Vcpu { index: u32, apic_id: u32 },
    /// Asynchronous interrupt requests from hvsim.
    Interrupts,
}

/// The first message on every connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    pub role: Role,
    pub nr_vcpus: u32,
}

/// Register state of a vCPU that executed the hypercall trap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HypercallRegs {
    pub long_mode: bool,
    pub cpl: u8,
    pub regs: [u64; 16],
}

impl HypercallRegs {
    pub const RAX: usize = 0;
    pub const RCX: usize = 1;
    pub const RDX: usize = 2;
    pub const R8: usize = 8;
}

/// A request on a vCPU connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Cpuid { leaf: u32, subleaf: u32 },
    Rdmsr { msr: u32 },
    Wrmsr { msr: u32, value: u64 },
    Hypercall(HypercallRegs),
}

/// The answer to a [`Request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    Cpuid([u32; 4]),
    /// `None` raises #GP(0) in the guest.
    Rdmsr(Option<u64>),
    Wrmsr {
        gp: bool,
        flush_code: bool,
    },
    Hypercall {
        rax: u64,
        flush_code: bool,
    },
}

/// Looks at the start of a receive buffer: `Ok(None)` until a whole header is there, then the
/// size of the first message once its kind and size are known to be valid. The caller waits
/// until that many bytes have arrived.
pub fn frame_size(buf: &[u8]) -> Result<Option<(Kind, usize)>, ProtocolError> {
    let Ok((header, _)) = Header::read_from_prefix(buf) else {
        return Ok(None);
    };
    let kind = Kind::try_from(header.kind.get())?;
    let size = header.size.get();
    if usize::try_from(size).ok() != Some(kind.size()) {
        return Err(ProtocolError::BadSize {
            kind,
            size,
            expected: kind.size(),
        });
    }
    Ok(Some((kind, kind.size())))
}

/// Reads one whole message of type `T` (header already validated by [`frame_size`]).
fn read<T: FromBytes>(kind: Kind, buf: &[u8]) -> Result<T, ProtocolError> {
    let (header, _) = Header::read_from_prefix(buf).map_err(|_| ProtocolError::Truncated {
        have: buf.len(),
        need: HEADER_SIZE,
    })?;
    if header.kind.get() != kind as u32 {
        return Err(match Kind::try_from(header.kind.get()) {
            Ok(other) => ProtocolError::Unexpected(other),
            Err(e) => e,
        });
    }
    if usize::try_from(header.size.get()).ok() != Some(kind.size()) || buf.len() != kind.size() {
        return Err(ProtocolError::BadSize {
            kind,
            size: header.size.get(),
            expected: kind.size(),
        });
    }
    T::read_from_bytes(buf).map_err(|_| ProtocolError::Truncated {
        have: buf.len(),
        need: kind.size(),
    })
}

/// Decodes the hello that opens every connection.
pub fn decode_hello(buf: &[u8]) -> Result<Hello, ProtocolError> {
    match frame_size(buf)? {
        Some((Kind::Hello, _)) => {}
        Some((other, _)) => return Err(ProtocolError::Unexpected(other)),
        None => {
            return Err(ProtocolError::Truncated {
                have: buf.len(),
                need: HEADER_SIZE,
            })
        }
    }
    let w: HelloWire = read(Kind::Hello, buf)?;
    if w.magic.get() != MAGIC {
        return Err(ProtocolError::BadMagic(w.magic.get()));
    }
    if w.version.get() != VERSION {
        return Err(ProtocolError::VersionMismatch(w.version.get()));
    }
    let role = match w.role.get() {
        1 => Role::Vcpu {
            index: w.vcpu.get(),
            apic_id: w.apic_id.get(),
        },
        2 if w.vcpu.get() == 0 && w.apic_id.get() == 0 => Role::Interrupts,
        2 => return Err(ProtocolError::Reserved(Kind::Hello)),
        r => return Err(ProtocolError::BadRole(r)),
    };
    Ok(Hello {
        role,
        nr_vcpus: w.nr_vcpus.get(),
    })
}

/// Decodes a request on a vCPU connection.
pub fn decode_request(buf: &[u8]) -> Result<Request, ProtocolError> {
    let Some((kind, _)) = frame_size(buf)? else {
        return Err(ProtocolError::Truncated {
            have: buf.len(),
            need: HEADER_SIZE,
        });
    };
    match kind {
        Kind::Cpuid => {
            let w: CpuidWire = read(kind, buf)?;
            Ok(Request::Cpuid {
                leaf: w.leaf.get(),
                subleaf: w.subleaf.get(),
            })
        }
        Kind::Rdmsr => {
            let w: RdmsrWire = read(kind, buf)?;
            if w.reserved.get() != 0 {
                return Err(ProtocolError::Reserved(kind));
            }
            Ok(Request::Rdmsr { msr: w.msr.get() })
        }
        Kind::Wrmsr => {
            let w: WrmsrWire = read(kind, buf)?;
            if w.reserved.get() != 0 {
                return Err(ProtocolError::Reserved(kind));
            }
            Ok(Request::Wrmsr {
                msr: w.msr.get(),
                value: w.value.get(),
            })
        }
        Kind::Hypercall => {
            let w: HypercallWire = read(kind, buf)?;
            let mode = w.mode.get();
            let cpl = w.cpl.get();
            if mode & !1 != 0 || cpl > 3 {
                return Err(ProtocolError::Reserved(kind));
            }
            // CAST: checked above to be at most 3.
            let mut regs = HypercallRegs {
                long_mode: mode & 1 != 0,
                cpl: cpl as u8,
                regs: [0; 16],
            };
            for (dst, src) in regs.regs.iter_mut().zip(w.regs.iter()) {
                *dst = src.get();
            }
            Ok(Request::Hypercall(regs))
        }
        other => Err(ProtocolError::Unexpected(other)),
    }
}

/// The hello acknowledgement hvsim sends on every accepted connection.
pub fn encode_hello_ack() -> Vec<u8> {
    HelloAckWire {
        header: Header::new(Kind::HelloAck),
        magic: U32::new(MAGIC),
        version: U32::new(VERSION),
    }
    .as_bytes()
    .to_vec()
}

/// Encodes the reply to a request.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let flag = |f: bool| U32::new(if f { FLAG_FLUSH_CODE } else { 0 });
    match *reply {
        Reply::Cpuid(regs) => CpuidReplyWire {
            header: Header::new(Kind::CpuidReply),
            regs: regs.map(U32::new),
        }
        .as_bytes()
        .to_vec(),
        Reply::Rdmsr(value) => RdmsrReplyWire {
            header: Header::new(Kind::RdmsrReply),
            result: U32::new(if value.is_some() {
                RESULT_OK
            } else {
                RESULT_GP
            }),
            reserved: U32::new(0),
            value: U64::new(value.unwrap_or(0)),
        }
        .as_bytes()
        .to_vec(),
        Reply::Wrmsr { gp, flush_code } => WrmsrReplyWire {
            header: Header::new(Kind::WrmsrReply),
            result: U32::new(if gp { RESULT_GP } else { RESULT_OK }),
            flags: flag(flush_code),
        }
        .as_bytes()
        .to_vec(),
        Reply::Hypercall { rax, flush_code } => HypercallReplyWire {
            header: Header::new(Kind::HypercallReply),
            rax: U64::new(rax),
            flags: flag(flush_code),
            reserved: U32::new(0),
        }
        .as_bytes()
        .to_vec(),
    }
}

/// Encodes an interrupt request for the interrupt connection.
pub fn encode_interrupt(vcpu: u32, vector: u8) -> Vec<u8> {
    InterruptWire {
        header: Header::new(Kind::Interrupt),
        vcpu: U32::new(vcpu),
        vector: U32::new(vector.into()),
    }
    .as_bytes()
    .to_vec()
}

/// QEMU's side of the encoding, for tests and for a fake QEMU.
#[path = "qemu_side.rs"]
pub mod qemu_side;

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
