// SPDX-License-Identifier: GPL-2.0
//! The guest half of the IC framework, common to heartbeat, shutdown and timesync: checking
//! the host's packet, answering NEGOTIATE with the versions Linux speaks, handing a message of
//! the service's type to the service, and marking the answer as a response.
//!
//! The host always asks and the guest answers in place: the answer is the host's packet with
//! the status, the flags and the fields the service fills changed, sent back whole with the
//! host's VMBus transaction id. Layouts and version choice: `ic.rs`; Linux's behaviour:
//! `vmbus_prep_negotiate_resp()` in drivers/hv/channel_mgmt.c and the channel callbacks of
//! drivers/hv/hv_util.c. Pure logic, no kernel calls: KUnit tests it directly.

use zerocopy::{FromBytes, IntoBytes};

use crate::ic::{
    negotiate_body_size, parse_negotiate, select_versions, write_negotiate, IcError,
    IcMessageHeader, IcMessageType, IcVersion, PipeHeader, FRAMEWORK_VERSION_1,
    FRAMEWORK_VERSION_3, HV_E_FAIL, HV_S_OK, ICMSG_FLAG_RESPONSE, ICMSG_FLAG_TRANSACTION,
    ICMSG_HDR_SIZE,
};

/// The framework versions the guest accepts, in order of preference (Linux's `fw_versions`).
pub(crate) const FRAMEWORK_VERSIONS: [IcVersion; 2] = [FRAMEWORK_VERSION_3, FRAMEWORK_VERSION_1];

/// Most bytes of an IC packet the guest handles: one page, Linux's receive buffer.
pub(crate) const MAX_PACKET: usize = 4096;

/// Bytes an answer buffer needs beyond the host's packet: a NEGOTIATE answer names one
/// framework and one service version, even if the host's list was shorter.
pub(crate) const fn answer_capacity(packet_len: usize) -> usize {
    let negotiate = ICMSG_HDR_SIZE + negotiate_body_size(1, 1);
    if packet_len > negotiate {
        packet_len
    } else {
        negotiate
    }
}

const PIPE_SIZE: usize = core::mem::size_of::<PipeHeader>();
const HEADER_END: usize = ICMSG_HDR_SIZE;

/// One integration component as the framework sees it.
pub(crate) struct Service {
    /// Its name, for log lines.
    pub(crate) name: &'static str,
    /// The message type it handles besides NEGOTIATE.
    pub(crate) message_type: IcMessageType,
    /// The service versions it accepts, in order of preference (Linux's lists).
    pub(crate) versions: &'static [IcVersion],
}

/// What a service made of a message of its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Done: answer with `HV_S_OK`.
    Done,
    /// Refused or failed: answer with `HV_E_FAIL`.
    Failed,
    /// The body is shorter than the message needs: leave it unanswered (as Linux does).
    ShortBody {
        /// Bytes needed.
        needed: usize,
    },
}

/// Why a packet is left unanswered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dropped {
    /// Shorter than the pipe and message headers.
    Short(usize),
    /// Longer than [`MAX_PACKET`].
    TooLong(usize),
    /// The answer buffer is smaller than [`answer_capacity`] (a caller bug).
    NoRoom,
    /// A message of the service's type whose body is too short.
    ShortBody {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
}

/// What an answered packet was, for the log and the caller's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exchange {
    /// NEGOTIATE: these versions were chosen; the service speaks `service` from now on.
    Negotiated {
        /// The framework version.
        framework: IcVersion,
        /// The service version.
        service: IcVersion,
    },
    /// NEGOTIATE without a common version: answered with empty lists.
    NoCommonVersion,
    /// A malformed NEGOTIATE: answered with empty lists and `HV_E_FAIL`.
    BadNegotiate(IcError),
    /// A message of the service's type, answered with `status`.
    Answered {
        /// The status of the answer.
        status: u32,
    },
    /// A message of another or an unknown type, answered with `HV_E_FAIL`.
    Unexpected(u16),
}

/// Turns the host's packet, the first `len` bytes of `buf`, into the answer in place and
/// returns the answer's length and what it was; or says why the packet gets no answer.
///
/// `buf` holds at least [`answer_capacity`]`(len)` bytes, the ones past `len` zero.
/// `version` is the service version negotiated so far (the first of the service's list if
/// none was). `on_message` handles a message of the service's type: it gets the version and
/// the body (the bytes after the headers, padding included) to edit in place.
pub(crate) fn answer(
    buf: &mut [u8],
    len: usize,
    service: &Service,
    version: Option<IcVersion>,
    on_message: impl FnOnce(IcVersion, &mut [u8]) -> Verdict,
) -> Result<(usize, Exchange), Dropped> {
    if len < HEADER_END {
        return Err(Dropped::Short(len));
    }
    if len > MAX_PACKET {
        return Err(Dropped::TooLong(len));
    }
    if buf.len() < answer_capacity(len) {
        return Err(Dropped::NoRoom);
    }
    let mut header = IcMessageHeader::read_from_bytes(&buf[PIPE_SIZE..HEADER_END])
        .map_err(|_| Dropped::Short(len))?;
    let mut answer_len = len;
    let exchange = match IcMessageType::try_from(header.icmsgtype) {
        Ok(IcMessageType::Negotiate) => {
            let exchange = negotiate(&mut buf[HEADER_END..], len - HEADER_END, service);
            let body_len = match exchange {
                Exchange::Negotiated { .. } => negotiate_body_size(1, 1),
                _ => negotiate_body_size(0, 0),
            };
            // The answer may be longer than the host's packet (a one-version list).
            answer_len = len.max(HEADER_END + body_len);
            // CAST: 8 or 16.
            header.icmsgsize = body_len as u16;
            header.status = match exchange {
                Exchange::BadNegotiate(_) => HV_E_FAIL,
                _ => HV_S_OK,
            };
            exchange
        }
        Ok(t) if t == service.message_type => {
            let version = version
                .or_else(|| service.versions.first().copied())
                .unwrap_or(IcVersion::new(0, 0));
            let status = match on_message(version, &mut buf[HEADER_END..len]) {
                Verdict::Done => HV_S_OK,
                Verdict::Failed => HV_E_FAIL,
                Verdict::ShortBody { needed } => {
                    return Err(Dropped::ShortBody {
                        needed,
                        got: len - HEADER_END,
                    })
                }
            };
            header.status = status;
            Exchange::Answered { status }
        }
        _ => {
            header.status = HV_E_FAIL;
            Exchange::Unexpected(header.icmsgtype)
        }
    };
    header.icflags = ICMSG_FLAG_TRANSACTION | ICMSG_FLAG_RESPONSE;
    buf[PIPE_SIZE..HEADER_END].copy_from_slice(header.as_bytes());
    if answer_len != len {
        let pipe = PipeHeader {
            flags: crate::ic::PIPE_FLAG_DATA,
            // CAST: at most `answer_capacity(MAX_PACKET)`.
            msgsize: (answer_len - PIPE_SIZE) as u32,
        };
        buf[..PIPE_SIZE].copy_from_slice(pipe.as_bytes());
    }
    Ok((answer_len, exchange))
}

/// Answers a NEGOTIATE body of `len` bytes at the start of `body` in place.
fn negotiate(body: &mut [u8], len: usize, service: &Service) -> Exchange {
    let chosen = match parse_negotiate(&body[..len]) {
        Ok(offer) => select_versions(&offer, &FRAMEWORK_VERSIONS, service.versions),
        Err(e) => {
            // `answer_capacity` leaves room for any answer: writing cannot fail.
            let _ = write_negotiate(body, &[], &[]);
            return Exchange::BadNegotiate(e);
        }
    };
    match chosen {
        Some((framework, svc)) => {
            let _ = write_negotiate(body, &[framework], &[svc]);
            Exchange::Negotiated {
                framework,
                service: svc,
            }
        }
        None => {
            let _ = write_negotiate(body, &[], &[]);
            Exchange::NoCommonVersion
        }
    }
}
