// SPDX-License-Identifier: GPL-2.0
//! Packet dispatch and the initialization sequence of the VSTOR protocol, as Linux's
//! `storvsc_channel_init()` runs it on the primary channel:
//!
//! ```text
//! AwaitBegin --BEGIN_INITIALIZATION--> AwaitVersion --QUERY_PROTOCOL_VERSION (accepted)-->
//! Negotiated --QUERY_PROPERTIES, CREATE_SUB_CHANNELS--> Negotiated --END_INITIALIZATION--> Ready
//! ```
//!
//! A refused version leaves the state in `AwaitVersion` so the guest can propose the next
//! one. BEGIN_INITIALIZATION restarts the sequence from any state. In `Ready`, EXECUTE_SRB
//! (on any channel), CREATE_SUB_CHANNELS and the resets are served. A request in the wrong
//! state is completed with `STATUS_INVALID_DEVICE_STATE`; every completion is as long as the
//! guest's request (at least the negotiated packet size, at most 64 bytes), which is what
//! Linux checks.

use rhv_proto::ring::PacketType;
use rhv_proto::vstor::{self, Operation, VstorPacket};
use zerocopy::{FromZeros, IntoBytes};

use std::time::Instant;

use super::held::{HeldRequest, STALE_HOLD};
use super::misbehave::BadCompletion;
use super::{ChannelIo, Storvsp};

/// Whether a packet is new from the guest or was held back and is served now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arrival {
    New,
    Released,
}
use crate::vmbus::{warn_allowed, IncomingPacket};

/// Where the initialization sequence of the primary channel is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitState {
    /// The channel is new (or closed): waiting for BEGIN_INITIALIZATION.
    AwaitBegin,
    /// Waiting for an acceptable QUERY_PROTOCOL_VERSION.
    AwaitVersion,
    /// A version is agreed; properties and sub-channels may be asked for.
    Negotiated {
        /// The agreed version.
        version: u16,
    },
    /// END_INITIALIZATION done: I/O is served.
    Ready {
        /// The agreed version.
        version: u16,
    },
}

impl InitState {
    /// The agreed version, once there is one.
    pub fn version(self) -> Option<u16> {
        match self {
            InitState::Negotiated { version } | InitState::Ready { version } => Some(version),
            _ => None,
        }
    }

    /// A short name for statistics.
    pub fn name(self) -> &'static str {
        match self {
            InitState::AwaitBegin => "await_begin",
            InitState::AwaitVersion => "await_version",
            InitState::Negotiated { .. } => "negotiated",
            InitState::Ready { .. } => "ready",
        }
    }
}

/// Whether the host speaks `version`: every defined version up to `max`.
pub(super) fn version_supported(version: u16, max: u16) -> bool {
    vstor::ALL_VERSIONS.contains(&version) && version <= max
}

/// Bytes of a completion to a request of `request_len` bytes at `version`.
pub(super) fn reply_len(request_len: usize, version: u16) -> usize {
    request_len.clamp(
        vstor::packet_size(version),
        vstor::packet_size(vstor::VERSION_WIN10),
    )
}

impl Storvsp {
    /// Handles one packet of channel `subchannel` as it arrives: an SRB may be held back
    /// (see `held`) and served later by [`Storvsp::serve_packet`].
    pub(crate) fn handle_packet(
        &mut self,
        io: &mut dyn ChannelIo,
        subchannel: u16,
        packet: &IncomingPacket<'_>,
    ) {
        self.counters.packets += 1;
        self.serve(io, subchannel, packet, Arrival::New);
    }

    /// Serves a packet that was held back.
    pub(super) fn serve_packet(
        &mut self,
        io: &mut dyn ChannelIo,
        subchannel: u16,
        packet: &IncomingPacket<'_>,
    ) {
        self.serve(io, subchannel, packet, Arrival::Released);
    }

    fn serve(
        &mut self,
        io: &mut dyn ChannelIo,
        subchannel: u16,
        packet: &IncomingPacket<'_>,
        arrival: Arrival,
    ) {
        let version = self.state.version().unwrap_or(vstor::VERSION_WIN6);
        let len = reply_len(packet.payload.len(), version);
        if !matches!(
            packet.kind(),
            Some(PacketType::DataInband | PacketType::DataUsingGpaDirect)
        ) {
            self.counters.bad_packets += 1;
            if warn_allowed() {
                tracing::warn!(
                    controller = self.name,
                    subchannel,
                    packet_type = packet.packet_type,
                    "storvsp: unexpected VMBus packet type, ignored"
                );
            }
            return;
        }
        let request = match vstor::parse_packet(packet.payload, version) {
            Ok(p) => p,
            Err(e) => {
                self.counters.bad_packets += 1;
                if warn_allowed() {
                    tracing::warn!(
                        controller = self.name,
                        subchannel,
                        trans_id = packet.trans_id,
                        len = packet.payload.len(),
                        "storvsp: malformed VSTOR packet: {e:?}"
                    );
                }
                if packet.completion_requested() {
                    let reply = malformed_reply(packet.payload);
                    self.complete(io, subchannel, packet.trans_id, &reply.as_bytes()[..len]);
                }
                return;
            }
        };
        let wants_completion = packet.completion_requested()
            || request.header.flags & vstor::FLAG_REQUEST_COMPLETION != 0;
        if arrival == Arrival::New
            && request.operation() == Ok(Operation::ExecuteSrb)
            && self.hold_srb(io, subchannel, packet)
        {
            return;
        }
        let reply = self.dispatch(io, subchannel, packet, &request);
        if !wants_completion {
            return;
        }
        // The version may just have been agreed; the reply keeps the request's size.
        let bytes = &reply.as_bytes()[..len];
        if request.operation() == Ok(Operation::ExecuteSrb) {
            let requested = request.srb().data_transfer_length;
            for send in super::misbehave::srb_completion(
                &mut self.misbehaviour,
                packet.trans_id,
                bytes,
                requested,
            ) {
                self.complete(io, subchannel, send.trans_id, &send.bytes);
            }
            if self.misbehaviour.arms(BadCompletion::Stale) {
                self.held.remember(subchannel, packet.trans_id, bytes);
            }
        } else {
            self.complete(io, subchannel, packet.trans_id, bytes);
        }
    }

    /// Whether SRB `packet` is held back (a `delay`, or the `stale` misbehaviour, which sends
    /// the slot's old completion first). A held request is served by `poll` when it is due.
    fn hold_srb(
        &mut self,
        io: &mut dyn ChannelIo,
        subchannel: u16,
        packet: &IncomingPacket<'_>,
    ) -> bool {
        let stale = self.held.has_stale(subchannel, packet.trans_id)
            && self
                .misbehaviour
                .due_if(|k| k == BadCompletion::Stale)
                .is_some();
        if stale {
            if let Some((trans_id, bytes)) = self.held.take_stale(subchannel, packet.trans_id) {
                self.complete(io, subchannel, trans_id, &bytes);
            }
        }
        let delay = if stale {
            self.held.delay.max(STALE_HOLD)
        } else {
            self.held.delay
        };
        if delay.is_zero() {
            return false;
        }
        self.counters.srbs_held += 1;
        self.held.hold(HeldRequest {
            subchannel,
            due: Instant::now() + delay,
            packet_type: packet.packet_type,
            flags: packet.flags,
            trans_id: packet.trans_id,
            extra: packet.extra.to_vec(),
            payload: packet.payload.to_vec(),
        });
        true
    }

    fn dispatch(
        &mut self,
        io: &mut dyn ChannelIo,
        subchannel: u16,
        packet: &IncomingPacket<'_>,
        request: &VstorPacket,
    ) -> VstorPacket {
        // parse_packet() only returns packets with a known operation.
        let Ok(op) = request.operation() else {
            return VstorPacket::completion(vstor::STATUS_INVALID_DEVICE_REQUEST);
        };
        let primary = subchannel == 0;
        let wrong_state = |s: &Self, what: &str| {
            if warn_allowed() {
                tracing::warn!(
                    controller = s.name,
                    subchannel,
                    state = s.state.name(),
                    "storvsp: {what} in the wrong state"
                );
            }
            VstorPacket::completion(vstor::STATUS_INVALID_DEVICE_STATE)
        };
        match op {
            Operation::BeginInitialization if primary => {
                self.state = InitState::AwaitVersion;
                VstorPacket::completion(vstor::STATUS_SUCCESS)
            }
            Operation::QueryProtocolVersion if primary => {
                if self.state != InitState::AwaitVersion {
                    return wrong_state(self, "QUERY_PROTOCOL_VERSION");
                }
                let proposed = request.version();
                let status = if version_supported(proposed.major_minor, self.max_version) {
                    self.state = InitState::Negotiated {
                        version: proposed.major_minor,
                    };
                    tracing::info!(
                        controller = self.name,
                        version = format_args!("{:#06x}", { proposed.major_minor }),
                        "VSTOR version agreed"
                    );
                    vstor::STATUS_SUCCESS
                } else {
                    tracing::info!(
                        controller = self.name,
                        version = format_args!("{:#06x}", { proposed.major_minor }),
                        "VSTOR version refused"
                    );
                    vstor::STATUS_REVISION_MISMATCH
                };
                let mut reply = VstorPacket::completion(status);
                reply.set_version(&proposed);
                reply
            }
            Operation::QueryProperties => match self.state {
                InitState::Negotiated { version } | InitState::Ready { version } => {
                    let multi = version >= vstor::VERSION_WIN8 && self.max_subchannels > 0;
                    let mut reply = VstorPacket::completion(vstor::STATUS_SUCCESS);
                    reply.set_properties(&vstor::ChannelProperties {
                        max_channel_count: if multi { self.max_subchannels } else { 0 },
                        flags: if multi {
                            vstor::STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL
                        } else {
                            0
                        },
                        max_transfer_bytes: crate::scsi::disk::MAX_TRANSFER_BYTES,
                        ..Default::default()
                    });
                    reply
                }
                _ => wrong_state(self, "QUERY_PROPERTIES"),
            },
            Operation::CreateSubChannels if primary => {
                let version = match self.state {
                    InitState::Negotiated { version } | InitState::Ready { version } => version,
                    _ => return wrong_state(self, "CREATE_SUB_CHANNELS"),
                };
                let count = request.sub_channel_count();
                if version < vstor::VERSION_WIN8 || count > self.max_subchannels {
                    if warn_allowed() {
                        tracing::warn!(
                            controller = self.name,
                            count,
                            max = self.max_subchannels,
                            "storvsp: sub-channel request refused"
                        );
                    }
                    return VstorPacket::completion(vstor::STATUS_INVALID_PARAMETER);
                }
                if count > 0 {
                    tracing::info!(controller = self.name, count, "sub-channels requested");
                    io.request_subchannels(count);
                }
                VstorPacket::completion(vstor::STATUS_SUCCESS)
            }
            Operation::EndInitialization if primary => match self.state {
                InitState::Negotiated { version } => {
                    self.state = InitState::Ready { version };
                    tracing::info!(controller = self.name, "VSTOR initialized");
                    VstorPacket::completion(vstor::STATUS_SUCCESS)
                }
                _ => wrong_state(self, "END_INITIALIZATION"),
            },
            Operation::ExecuteSrb => match self.state {
                InitState::Ready { version } => {
                    self.execute_srb(io.memory(), subchannel, packet, request, version)
                }
                _ => {
                    let mut reply = wrong_state(self, "EXECUTE_SRB");
                    let mut srb = request.srb();
                    srb.srb_status = vstor::SRB_STATUS_INVALID_REQUEST;
                    srb.data_transfer_length = 0;
                    reply.set_srb(&srb);
                    reply
                }
            },
            // Every command completes before its packet is handled, so there is never
            // anything outstanding to abort.
            Operation::ResetLun | Operation::ResetAdapter | Operation::ResetBus => {
                match self.state {
                    InitState::Ready { .. } => VstorPacket::completion(vstor::STATUS_SUCCESS),
                    _ => wrong_state(self, "reset"),
                }
            }
            Operation::BeginInitialization
            | Operation::QueryProtocolVersion
            | Operation::CreateSubChannels
            | Operation::EndInitialization => wrong_state(self, "initialization on a sub-channel"),
            Operation::CompleteIo
            | Operation::RemoveDevice
            | Operation::EnumerateBus
            | Operation::FchbaData => {
                self.counters.bad_packets += 1;
                if warn_allowed() {
                    tracing::warn!(
                        controller = self.name,
                        ?op,
                        "storvsp: operation the guest does not send"
                    );
                }
                VstorPacket::completion(vstor::STATUS_INVALID_DEVICE_REQUEST)
            }
        }
    }
}

/// The completion of a packet that did not parse: a failure status, and if it looked like an
/// SRB, an SRB that says the request was invalid (Linux then fails the command).
fn malformed_reply(payload: &[u8]) -> VstorPacket {
    let mut raw = VstorPacket::new_zeroed();
    let n = payload.len().min(core::mem::size_of::<VstorPacket>());
    raw.as_mut_bytes()[..n].copy_from_slice(&payload[..n]);
    let mut reply = VstorPacket::completion(vstor::STATUS_INVALID_PARAMETER);
    if raw.header.operation == Operation::ExecuteSrb as u32 {
        let mut srb = raw.srb();
        srb.srb_status = vstor::SRB_STATUS_INVALID_REQUEST;
        srb.scsi_status = 0;
        srb.sense_info_length = 0;
        srb.data_transfer_length = 0;
        reply.set_srb(&srb);
    }
    reply
}
