// SPDX-License-Identifier: GPL-2.0
//! The NVSP messages of the guest: version negotiation (Linux proposes one version at a
//! time, newest first), NDIS version and configuration, receive and send buffers, RNDIS
//! messages and the guest's completions of the host's, sub-channel allocation (answered with
//! the send indirection table) and the data path switch. The guest side is
//! `netvsc_connect_vsp()`, `netvsc_init_buf()` and `rndis_set_subchannel()` in
//! drivers/net/hyperv/.

use rhv_proto::nvsp::{self, GuestMessage, MessageType};
use rhv_proto::ring::PacketType;
use rhv_proto::rndis::{self, Message, RndisError};

use super::buffers::{BufferError, GuestBuffer};
use super::channel::{Outgoing, Queued, VspChannel};
use super::rndis_control::ControlError;
use super::rx::{ReceiveBuffer, RxError};
use super::tx::{self, SendBuffer, TxError};
use super::Netvsp;
use crate::vmbus::{warn_allowed, IncomingPacket};

/// Longest MDL chain the host claims to accept (only reported).
const MAX_MDL_CHAIN_LENGTH: u32 = 34;

/// Why a guest packet was dropped.
#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    #[error("packet type {0} is not used by NVSP")]
    PacketType(u16),
    #[error("NVSP: {0:?}")]
    Nvsp(nvsp::ParseError),
    #[error("{0:?} before the protocol version was negotiated")]
    NotNegotiated(MessageType),
    #[error("{0:?} needs NVSP {1:#x}")]
    TooOld(MessageType, u32),
    #[error("{0:?} on sub-channel {1}; it belongs on the primary channel")]
    NotPrimary(MessageType, u16),
    #[error("{0:?} where a completion was expected, or the reverse")]
    Misplaced(MessageType),
    #[error("completion without a receive buffer")]
    NoReceiveBuffer,
    #[error("{0}")]
    Buffer(#[from] BufferError),
    #[error("{0}")]
    Rx(#[from] RxError),
    #[error("{0}")]
    Tx(#[from] TxError),
    #[error("RNDIS: {0:?}")]
    Rndis(RndisError),
    #[error("{0}")]
    Control(#[from] ControlError),
    #[error("offload: {0}")]
    Offload(#[from] super::offload_frames::TxOffloadError),
}

impl From<nvsp::ParseError> for PacketError {
    fn from(e: nvsp::ParseError) -> Self {
        PacketError::Nvsp(e)
    }
}

impl From<RndisError> for PacketError {
    fn from(e: RndisError) -> Self {
        PacketError::Rndis(e)
    }
}

/// The version to use for a guest proposing `min..=max`: the newest one this host speaks.
pub fn negotiate(min: u32, max: u32) -> Option<u32> {
    nvsp::ALL_VERSIONS
        .into_iter()
        .find(|v| (min..=max).contains(v))
}

impl Netvsp {
    /// Handles one packet from the guest on `ch`, then sends what it produced.
    pub(super) fn handle_packet(&mut self, ch: &mut dyn VspChannel, packet: &IncomingPacket<'_>) {
        let result = match packet.kind() {
            Some(PacketType::Completion) => self.on_guest_completion(ch, packet),
            Some(PacketType::DataInband) => self.on_message(ch, packet, None),
            Some(PacketType::DataUsingGpaDirect) => self.on_message(ch, packet, Some(packet.extra)),
            _ => Err(PacketError::PacketType(packet.packet_type)),
        };
        if let Err(e) = result {
            self.note_bad(ch.subchannel_index(), &e);
        }
        self.flush(ch);
    }

    /// Counts and logs (rate-limited) a dropped packet.
    pub(super) fn note_bad(&mut self, channel: u16, e: &PacketError) {
        self.stats.bad_packets += 1;
        if warn_allowed() {
            tracing::warn!(device = "netvsp", channel, "guest packet dropped: {e}");
        }
    }

    /// Queues a completion of the guest's request, if it asked for one.
    fn complete(&mut self, ch: &dyn VspChannel, packet: &IncomingPacket<'_>, payload: &[u8]) {
        if !packet.completion_requested() {
            return;
        }
        if let Some(q) = self.queues.get_mut(&ch.subchannel_index()) {
            q.nvsp.push_back(Outgoing::Completion {
                trans_id: packet.trans_id,
                payload: payload.to_vec(),
            });
        }
    }

    fn require(&self, ty: MessageType, version: u32) -> Result<(), PacketError> {
        match self.version {
            None => Err(PacketError::NotNegotiated(ty)),
            Some(v) if v < version => Err(PacketError::TooOld(ty, version)),
            Some(_) => Ok(()),
        }
    }

    fn on_message(
        &mut self,
        ch: &mut dyn VspChannel,
        packet: &IncomingPacket<'_>,
        gpa_direct: Option<&[u8]>,
    ) -> Result<(), PacketError> {
        let message = GuestMessage::parse(packet.payload)?;
        let index = ch.subchannel_index();
        if index == 0 {
            self.primary_relid = Some(ch.relid());
        }
        let primary_only = |ty| {
            if index == 0 {
                Ok(())
            } else {
                Err(PacketError::NotPrimary(ty, index))
            }
        };
        match message {
            GuestMessage::Init(m) => {
                primary_only(MessageType::Init)?;
                let chosen = negotiate(m.min_protocol_version, m.max_protocol_version);
                let status = match chosen {
                    Some(v) => {
                        self.version = Some(v);
                        self.rndis.nvsp_version = v;
                        tracing::debug!(device = "netvsp", version = v, "NVSP negotiated");
                        nvsp::STATUS_SUCCESS
                    }
                    None => nvsp::STATUS_FAIL,
                };
                let reply = nvsp::InitComplete {
                    negotiated_protocol_version: chosen.unwrap_or(0),
                    max_mdl_chain_length: MAX_MDL_CHAIN_LENGTH,
                    status,
                };
                self.complete(ch, packet, &nvsp::encode(&reply));
            }
            GuestMessage::SendNdisVersion(m) => {
                self.require(MessageType::SendNdisVersion, nvsp::VERSION_1)?;
                self.ndis_version = Some((m.ndis_major_version, m.ndis_minor_version));
            }
            GuestMessage::SendNdisConfig(m) => {
                self.require(MessageType::SendNdisConfig, nvsp::VERSION_2)?;
                self.guest_frame = Some(m.mtu);
            }
            GuestMessage::SendReceiveBuffer(m) => {
                primary_only(MessageType::SendReceiveBuffer)?;
                self.require(MessageType::SendReceiveBuffer, nvsp::VERSION_1)?;
                let max_frame = self.max_frame();
                let setup =
                    GuestBuffer::from_gpadl(m.gpadl_handle, ch.gpadl(m.gpadl_handle), ch.relid())
                        .map_err(RxError::Buffer)
                        .and_then(|b| ReceiveBuffer::new(b, m.id, max_frame));
                let reply = match setup {
                    Ok(r) => {
                        let reply = nvsp::SendReceiveBufferComplete {
                            status: nvsp::STATUS_SUCCESS,
                            num_sections: 1,
                            section: r.section(),
                        };
                        tracing::debug!(
                            device = "netvsp",
                            sections = { r.section().num_sub_allocations },
                            size = r.section_size(),
                            "receive buffer"
                        );
                        self.recv = Some(r);
                        reply
                    }
                    Err(e) => {
                        self.note_bad(index, &PacketError::Rx(e));
                        nvsp::SendReceiveBufferComplete {
                            status: nvsp::STATUS_FAIL,
                            ..Default::default()
                        }
                    }
                };
                self.complete(ch, packet, &nvsp::encode(&reply));
            }
            GuestMessage::RevokeReceiveBuffer(_) => {
                self.recv = None;
                for q in self.queues.values_mut() {
                    q.rndis.clear();
                }
            }
            GuestMessage::SendSendBuffer(m) => {
                primary_only(MessageType::SendSendBuffer)?;
                self.require(MessageType::SendSendBuffer, nvsp::VERSION_1)?;
                let setup =
                    GuestBuffer::from_gpadl(m.gpadl_handle, ch.gpadl(m.gpadl_handle), ch.relid())
                        .map_err(TxError::Buffer)
                        .and_then(SendBuffer::new);
                let status = match setup {
                    Ok(s) => {
                        self.send = Some(s);
                        nvsp::STATUS_SUCCESS
                    }
                    Err(e) => {
                        self.note_bad(index, &PacketError::Tx(e));
                        nvsp::STATUS_FAIL
                    }
                };
                let reply = nvsp::SendSendBufferComplete {
                    status,
                    section_size: tx::SEND_SECTION_SIZE,
                };
                self.complete(ch, packet, &nvsp::encode(&reply));
            }
            GuestMessage::RevokeSendBuffer(_) => self.send = None,
            GuestMessage::SendRndisPacket(m) => {
                self.require(MessageType::SendRndisPacket, nvsp::VERSION_1)?;
                let status = match self.on_rndis(ch, &m, gpa_direct) {
                    Ok(()) => nvsp::STATUS_SUCCESS,
                    Err(e) => {
                        self.note_bad(index, &e);
                        nvsp::STATUS_FAIL
                    }
                };
                let reply = nvsp::encode(&nvsp::SendRndisPacketComplete { status });
                if m.channel_type == nvsp::CHANNEL_TYPE_DATA && packet.completion_requested() {
                    self.complete_data_send(index, packet.trans_id, &reply);
                } else {
                    self.complete(ch, packet, &reply);
                }
            }
            GuestMessage::SendRndisPacketComplete(_) => {
                return Err(PacketError::Misplaced(MessageType::SendRndisPacketComplete));
            }
            GuestMessage::SwitchDataPath(m) => {
                self.require(MessageType::SwitchDataPath, nvsp::VERSION_4)?;
                tracing::debug!(
                    device = "netvsp",
                    datapath = { m.active_datapath },
                    "data path switch"
                );
                // Linux matches this completion by its empty payload.
                self.complete(ch, packet, &[]);
            }
            GuestMessage::SubchannelRequest(m) => {
                primary_only(MessageType::Subchannel)?;
                self.require(MessageType::Subchannel, nvsp::VERSION_5)?;
                self.on_subchannel_request(ch, packet, m);
            }
        }
        Ok(())
    }

    /// The largest frame a receive-buffer section must hold.
    fn max_frame(&self) -> u32 {
        let limit = self.config.max_mtu + 14;
        self.guest_frame
            .unwrap_or(1514)
            .clamp(1514, limit.max(1514))
    }

    fn on_subchannel_request(
        &mut self,
        ch: &mut dyn VspChannel,
        packet: &IncomingPacket<'_>,
        m: nvsp::SubchannelRequest,
    ) {
        let max = self.config.queues.saturating_sub(1);
        let granted = if m.operation == nvsp::SUBCHANNEL_ALLOCATE {
            u16::try_from(m.num_subchannels)
                .unwrap_or(u16::MAX)
                .min(max)
        } else {
            0
        };
        let ok = m.operation == nvsp::SUBCHANNEL_ALLOCATE;
        if granted > 0 {
            ch.request_subchannels(granted);
        }
        let reply = nvsp::SubchannelComplete {
            status: if ok {
                nvsp::STATUS_SUCCESS
            } else {
                nvsp::STATUS_FAIL
            },
            num_subchannels: u32::from(granted),
        };
        self.complete(ch, packet, &nvsp::encode(&reply));
        if ok {
            let channels = u32::from(granted) + 1;
            let mut table = [0u32; nvsp::SEND_INDIRECTION_TABLE_SIZE];
            for (i, t) in table.iter_mut().enumerate() {
                // CAST: i < 16.
                *t = i as u32 % channels;
            }
            let msg = nvsp::IndirectionTableMessage::new(table);
            if let Some(q) = self.queues.get_mut(&0) {
                q.nvsp.push_back(Outgoing::Inband {
                    payload: zerocopy::IntoBytes::as_bytes(&msg).to_vec(),
                });
            }
        }
        tracing::info!(
            device = "netvsp",
            asked = { m.num_subchannels },
            granted,
            "sub-channels"
        );
    }

    /// The guest completed one of the host's transfer-page packets.
    fn on_guest_completion(
        &mut self,
        ch: &mut dyn VspChannel,
        packet: &IncomingPacket<'_>,
    ) -> Result<(), PacketError> {
        match GuestMessage::parse(packet.payload)? {
            GuestMessage::SendRndisPacketComplete(c) => {
                let recv = self.recv.as_mut().ok_or(PacketError::NoReceiveBuffer)?;
                recv.complete(ch.subchannel_index(), packet.trans_id)?;
                if c.status != nvsp::STATUS_SUCCESS {
                    tracing::debug!(
                        device = "netvsp",
                        status = { c.status },
                        "guest refused a receive"
                    );
                }
                // Sections came free: take more frames from the host network now. Those RSS
                // put on other channels, and frames already waiting there for sections, go
                // out when the server has drained this channel (`on_drained`).
                self.receive_from_backend(super::datapath::TakeOn::Completion);
                self.flush_wanted = true;
                Ok(())
            }
            _ => Err(PacketError::Misplaced(nvsp::message_type(packet.payload)?)),
        }
    }

    /// The RNDIS messages of a SEND_RNDIS_PKT: data to the backend, control to the RNDIS
    /// state machine (answers queued on this channel).
    fn on_rndis(
        &mut self,
        ch: &mut dyn VspChannel,
        m: &nvsp::SendRndisPacket,
        gpa_direct: Option<&[u8]>,
    ) -> Result<(), PacketError> {
        if self
            .send
            .as_ref()
            .is_some_and(|s| ch.gpadl(s.gpadl()).is_none())
        {
            // The guest tore the buffer down without revoking it first.
            self.send = None;
        }
        let mut bytes = std::mem::take(&mut self.gather_buf);
        let result = tx::gather(ch.memory(), self.send.as_ref(), m, gpa_direct, &mut bytes)
            .map_err(PacketError::from)
            .and_then(|()| self.on_rndis_messages(ch.subchannel_index(), &bytes));
        self.gather_buf = bytes;
        result
    }

    fn on_rndis_messages(&mut self, index: u16, mut bytes: &[u8]) -> Result<(), PacketError> {
        while !bytes.is_empty() {
            let (msg, rest) = Message::split(bytes)?;
            bytes = rest;
            if msg.kind() == Ok(rndis::MessageType::Packet) {
                self.transmit(index, &msg)?;
                continue;
            }
            if let Some(answer) = self.rndis.handle(&msg)? {
                if let Some(q) = self.queues.get_mut(&index) {
                    q.rndis.push_back(Queued::control(answer));
                }
            }
        }
        Ok(())
    }
}
