// SPDX-License-Identifier: GPL-2.0
//! The KVP daemon's message (`struct hv_kvp_msg` in include/uapi/linux/hyperv.h, the records
//! `hv_kvp_daemon` reads from and writes to `/dev/vmbus/hv_kvp`) and its translation to and
//! from the host's KVP body (`kvp_proto`): the host speaks UTF-16 with sizes in bytes, the
//! daemon C strings in UTF-8. What the C driver does: `kvp_send_key()` and
//! `kvp_respond_to_host()` in drivers/hv/hv_kvp.c. Pure logic, no kernel calls: KUnit tests it.
//!
//! Everything from the host is checked before it reaches the daemon (the daemon trusts the
//! pool number and the sizes it gets), and everything from the daemon before it reaches the
//! host (strings must end within their field and be UTF-8).

use zerocopy::{FromBytes, FromZeros, IntoBytes};
use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::ic::{HV_E_FAIL, HV_S_CONT, HV_S_OK};
use crate::kvp_proto::{
    encode_utf16, KvpError, KvpHeader, KvpMessage, KvpOperation, KvpPool, Utf16Str,
    KVP_MAX_KEY_SIZE, KVP_MAX_VALUE_SIZE, REG_SZ, REG_U32, REG_U64,
};

/// `sizeof(struct hv_kvp_msg)`: the header word and the body union, whose largest member is
/// the IP configuration (7426 bytes), padded to the union's four-byte alignment (it holds
/// `struct hv_kvp_msg_delete`, which is not packed).
pub(crate) const DAEMON_MSG_SIZE: usize = 7432;

/// The daemon's registration opcode of daemons without IP injection (`KVP_OP_REGISTER`).
pub(crate) const KVP_OP_REGISTER: u8 = 4;
/// The registration opcode of current daemons (`KVP_OP_REGISTER1`).
pub(crate) const KVP_OP_REGISTER1: u8 = 100;
/// The version the kernel tells the daemon at registration; the daemon reports it to the
/// host as `IntegrationServicesVersion`. Linux sends "3.1".
const DRIVER_VERSION: &str = "3.1";

/// One daemon message. The first four bytes are the operation and pool towards the daemon
/// and the status word (`error`) coming back from a registered current daemon; the body
/// starts with the host's GET/SET/DELETE/ENUMERATE layout, strings in UTF-8.
#[repr(C, packed)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct DaemonMessage {
    exchange: KvpMessage,
    /// The rest of the union (the IP configuration is its largest member).
    rest: [u8; DAEMON_MSG_SIZE - core::mem::size_of::<KvpMessage>()],
}
const _: () = assert!(core::mem::size_of::<DaemonMessage>() == DAEMON_MSG_SIZE);

impl DaemonMessage {
    /// The operation byte (the registration opcode during the handshake).
    pub(crate) fn operation(&self) -> u8 {
        self.exchange.header.operation
    }

    /// The status word a current daemon writes over the header.
    fn error(&self) -> u32 {
        let h = self.exchange.header;
        let mut word = [0u8; 4];
        word.copy_from_slice(h.as_bytes());
        u32::from_le_bytes(word)
    }
}

/// How the registered daemon reports failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DaemonKind {
    /// `KVP_OP_REGISTER`: an empty key means "no such item".
    Legacy,
    /// `KVP_OP_REGISTER1`: a status word in place of the header.
    Current,
}

/// Reads the daemon's registration message; `None` for an unknown opcode.
pub(crate) fn parse_registration(msg: &DaemonMessage) -> Option<DaemonKind> {
    match msg.operation() {
        KVP_OP_REGISTER => Some(DaemonKind::Legacy),
        KVP_OP_REGISTER1 => Some(DaemonKind::Current),
        _ => None,
    }
}

/// Writes the kernel's answer to a registration into `out`: the daemon's opcode and the
/// driver version.
pub(crate) fn write_registration(kind: DaemonKind, out: &mut DaemonMessage) {
    out.zero();
    out.exchange.header.operation = match kind {
        DaemonKind::Legacy => KVP_OP_REGISTER,
        DaemonKind::Current => KVP_OP_REGISTER1,
    };
    for (d, s) in out.exchange.data.iter_mut().zip(DRIVER_VERSION.bytes()) {
        *d = s;
    }
}

/// Why a host request is not passed to the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Malformed: a bad operation, pool, size or string.
    Bad(KvpError),
    /// A value type other than `REG_SZ`, `REG_U32` and `REG_U64`.
    BadValueType(u32),
    /// GET_IP_INFO / SET_IP_INFO: IP injection is not supported by this driver.
    IpInjection,
}

impl From<KvpError> for Refusal {
    fn from(e: KvpError) -> Self {
        Refusal::Bad(e)
    }
}

/// The checked operation of a host request.
pub(crate) fn request_operation(body: &[u8]) -> Result<(KvpOperation, KvpPool), Refusal> {
    let (header, _) = KvpHeader::read_from_prefix(body).map_err(|_| KvpError::TooShort {
        needed: core::mem::size_of::<KvpHeader>(),
        got: body.len(),
    })?;
    let op = KvpOperation::try_from(header.operation)?;
    if matches!(op, KvpOperation::GetIpInfo | KvpOperation::SetIpInfo) {
        return Err(Refusal::IpInjection);
    }
    Ok((op, KvpPool::try_from(header.pool)?))
}

/// Translates the host's request `body` (the bytes after the IC headers) into the daemon's
/// message `out`.
pub(crate) fn to_daemon(body: &[u8], out: &mut DaemonMessage) -> Result<KvpOperation, Refusal> {
    let (op, pool) = request_operation(body)?;
    let host = crate::kvp_proto::parse_message(body)?;
    out.zero();
    out.exchange.header.operation = op as u8;
    out.exchange.header.pool = pool as u8;
    let daemon = &mut out.exchange;
    match op {
        KvpOperation::Set => {
            let (h, d) = (host.value(), daemon.value_mut());
            d.key_size = utf16_to_utf8(&h.key, h.key_size, &mut d.key)?;
            d.value_size = match h.value_type {
                REG_SZ => utf16_to_utf8(&h.value, h.value_size, &mut d.value)?,
                REG_U32 => {
                    let mut n = [0u8; 4];
                    n.copy_from_slice(&h.value[..4]);
                    write_decimal(u64::from(u32::from_le_bytes(n)), &mut d.value)
                }
                REG_U64 => {
                    let mut n = [0u8; 8];
                    n.copy_from_slice(&h.value[..8]);
                    write_decimal(u64::from_le_bytes(n), &mut d.value)
                }
                other => return Err(Refusal::BadValueType(other)),
            };
        }
        KvpOperation::Get => {
            let (h, d) = (host.value(), daemon.value_mut());
            d.key_size = utf16_to_utf8(&h.key, h.key_size, &mut d.key)?;
            // The daemon copies `value_size` bytes of the stored value: ask for all of it
            // (Linux leaves it 0 and so answers GET with an empty value).
            d.value_size = KVP_MAX_VALUE_SIZE as u32;
        }
        KvpOperation::Delete => {
            let (h, d) = (host.delete(), daemon.delete_mut());
            d.key_size = utf16_to_utf8(&h.key, h.key_size, &mut d.key)?;
        }
        KvpOperation::Enumerate => daemon.enumerate_mut().index = host.enumerate().index,
        KvpOperation::GetIpInfo | KvpOperation::SetIpInfo => return Err(Refusal::IpInjection),
    }
    Ok(op)
}

/// Fills the host's request `body` in place with the daemon's answer `reply` to operation
/// `op`; returns the status for the IC header. A daemon string that does not end within its
/// field, is not UTF-8 or does not fit the host's field gives `HV_E_FAIL`.
pub(crate) fn to_host(
    op: KvpOperation,
    kind: DaemonKind,
    reply: &DaemonMessage,
    body: &mut [u8],
) -> u32 {
    let status = match kind {
        DaemonKind::Current => reply.error(),
        DaemonKind::Legacy => {
            if reply.exchange.enumerate().data.key[0] == 0 {
                HV_S_CONT
            } else {
                HV_S_OK
            }
        }
    };
    if status != HV_S_OK {
        return status;
    }
    let Ok((host, _)) = KvpMessage::mut_from_prefix(body) else {
        return HV_E_FAIL;
    };
    let daemon = &reply.exchange;
    let filled = match op {
        KvpOperation::Get => {
            let (d, h) = (daemon.value(), host.value_mut());
            utf8_to_utf16(&d.value, &mut h.value).map(|size| {
                h.value_size = size;
                h.value_type = REG_SZ;
            })
        }
        KvpOperation::Enumerate => {
            let (d, h) = (&daemon.enumerate().data, &mut host.enumerate_mut().data);
            utf8_to_utf16(&d.key, &mut h.key).and_then(|key_size| {
                h.key_size = key_size;
                h.value_size = utf8_to_utf16(&d.value, &mut h.value)?;
                h.value_type = REG_SZ;
                Ok(())
            })
        }
        KvpOperation::Set
        | KvpOperation::Delete
        | KvpOperation::GetIpInfo
        | KvpOperation::SetIpInfo => Ok(()),
    };
    match filled {
        Ok(()) => HV_S_OK,
        Err(_) => HV_E_FAIL,
    }
}

/// Converts the host's UTF-16 string of `size` bytes (NUL included) in `field` to a
/// NUL-terminated UTF-8 string in `out`; returns the UTF-8 size, NUL included (the daemon's
/// convention). The string must end with a NUL within `size`.
pub(crate) fn utf16_to_utf8(field: &[u8], size: u32, out: &mut [u8]) -> Result<u32, KvpError> {
    let s = Utf16Str::new(field, size)?;
    // CAST: `Utf16Str::new` checked that `size` fits the field.
    if s.len_units() * 2 >= size as usize {
        return Err(KvpError::BadSize {
            size,
            capacity: field.len(),
        });
    }
    let mut n = 0;
    for c in s.chars() {
        let c = c.map_err(|_| KvpError::BadUtf16)?;
        let mut utf8 = [0u8; 4];
        let bytes = c.encode_utf8(&mut utf8).as_bytes();
        // Room for the bytes and the NUL.
        let end = n + bytes.len();
        let too_long = KvpError::TooLong {
            needed: end + 1,
            capacity: out.len(),
        };
        if end >= out.len() {
            return Err(too_long);
        }
        for (d, b) in out[n..end].iter_mut().zip(bytes) {
            *d = *b;
        }
        n = end;
    }
    out[n] = 0;
    u32::try_from(n + 1).map_err(|_| KvpError::TooLong {
        needed: n + 1,
        capacity: out.len(),
    })
}

/// Converts the daemon's NUL-terminated UTF-8 string in `field` to the host's UTF-16 in
/// `out`; returns the host's size in bytes, NUL included.
pub(crate) fn utf8_to_utf16(field: &[u8], out: &mut [u8]) -> Result<u32, KvpError> {
    let end = field
        .iter()
        .position(|&b| b == 0)
        .ok_or(KvpError::BadSize {
            size: field.len() as u32,
            capacity: field.len(),
        })?;
    let s = core::str::from_utf8(&field[..end]).map_err(|_| KvpError::BadUtf16)?;
    encode_utf16(s, out)
}

/// Writes `n` in decimal and a NUL into `out` (at least 21 bytes); returns the size with the
/// NUL.
fn write_decimal(n: u64, out: &mut [u8]) -> u32 {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut rest = n;
    loop {
        // CAST: a digit.
        digits[len] = b'0' + (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for (d, s) in out.iter_mut().zip(digits[..len].iter().rev()) {
        *d = *s;
    }
    out[len] = 0;
    // CAST: at most 21.
    (len + 1) as u32
}

/// Room for the key and value of the largest messages, for the assertions above.
const _: () = assert!(KVP_MAX_KEY_SIZE == 512 && KVP_MAX_VALUE_SIZE >= 21);
