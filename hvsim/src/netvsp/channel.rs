// SPDX-License-Identifier: GPL-2.0
//! What the NIC needs from the VMBus server, as two small traits so the NIC's logic runs the
//! same against the server's [`ChannelHandle`]/[`DeviceContext`] and against the unit tests'
//! fake channels: one open channel ([`VspChannel`]) and the set of all of them
//! ([`ChannelSet`], for work that is not triggered by a packet).
//!
//! Also the per-channel queue of packets waiting for room in the guest's ring.

use std::collections::VecDeque;

use rhv_proto::ring::PacketType;

use crate::memory::GuestMemory;
use crate::vmbus::{ChannelHandle, DeviceContext, Gpadl, SendError};

/// One open channel of the NIC.
pub trait VspChannel {
    /// 0 for the primary channel.
    fn subchannel_index(&self) -> u16;
    /// The channel's relid.
    fn relid(&self) -> u32;
    /// Guest RAM.
    fn memory(&self) -> &dyn GuestMemory;
    /// A GPADL of the connection.
    fn gpadl(&self, id: u32) -> Option<&Gpadl>;
    /// Writes one packet into the guest's ring.
    fn send_packet(
        &mut self,
        packet_type: PacketType,
        flags: u16,
        trans_id: u64,
        extra: &[u8],
        payload: &[u8],
    ) -> Result<(), SendError>;
    /// Asks for `n` more sub-channels to be offered.
    fn request_subchannels(&mut self, n: u16);
}

impl VspChannel for ChannelHandle<'_> {
    fn subchannel_index(&self) -> u16 {
        ChannelHandle::subchannel_index(self)
    }
    fn relid(&self) -> u32 {
        ChannelHandle::relid(self)
    }
    fn memory(&self) -> &dyn GuestMemory {
        ChannelHandle::memory(self)
    }
    fn gpadl(&self, id: u32) -> Option<&Gpadl> {
        ChannelHandle::gpadl(self, id)
    }
    fn send_packet(
        &mut self,
        packet_type: PacketType,
        flags: u16,
        trans_id: u64,
        extra: &[u8],
        payload: &[u8],
    ) -> Result<(), SendError> {
        ChannelHandle::send_packet(self, packet_type, flags, trans_id, extra, payload)
    }
    fn request_subchannels(&mut self, n: u16) {
        ChannelHandle::request_subchannels(self, n)
    }
}

/// All open channels of the NIC.
pub trait ChannelSet {
    /// Sub-channel indices of the open channels.
    fn open_channels(&self) -> Vec<u16>;
    /// Runs `f` on open channel `index`; false if it is not open.
    fn with_channel(&mut self, index: u16, f: &mut dyn FnMut(&mut dyn VspChannel)) -> bool;
}

impl ChannelSet for DeviceContext<'_> {
    fn open_channels(&self) -> Vec<u16> {
        DeviceContext::open_channels(self)
    }
    fn with_channel(&mut self, index: u16, f: &mut dyn FnMut(&mut dyn VspChannel)) -> bool {
        match self.channel(index) {
            Some(mut ch) => {
                f(&mut ch);
                true
            }
            None => false,
        }
    }
}

/// A packet for the guest that is not an RNDIS message: a completion or an in-band message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Completes the guest's request `trans_id`.
    Completion { trans_id: u64, payload: Vec<u8> },
    /// An in-band message the guest need not answer.
    Inband { payload: Vec<u8> },
}

impl Outgoing {
    /// Writes the packet into the channel's ring.
    pub fn send(&self, ch: &mut dyn VspChannel) -> Result<(), SendError> {
        match self {
            Outgoing::Completion { trans_id, payload } => {
                ch.send_packet(PacketType::Completion, 0, *trans_id, &[], payload)
            }
            Outgoing::Inband { payload } => {
                ch.send_packet(PacketType::DataInband, 0, 0, &[], payload)
            }
        }
    }
}

/// An RNDIS message waiting for a receive-buffer section.
#[derive(Debug)]
pub struct Queued {
    /// The complete message.
    pub bytes: Vec<u8>,
    /// Bytes of the frame in it; 0 for a control message.
    pub frame_len: usize,
    /// Where in `bytes` the last byte covered by the frame's TCP or UDP checksum lies, if the
    /// message tells the guest the host verified it (for the `bad-csum` misbehaviour).
    pub verified_csum_at: Option<usize>,
}

impl Queued {
    /// A control answer or status indication.
    pub fn control(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            frame_len: 0,
            verified_csum_at: None,
        }
    }
}

/// What waits for room in one channel's ring: NVSP packets first, then RNDIS messages (each
/// a complete message bound for a receive-buffer section).
#[derive(Debug, Default)]
pub struct ChannelQueue {
    /// Completions and in-band messages, in order.
    pub nvsp: VecDeque<Outgoing>,
    /// RNDIS messages (frames, control answers, status indications), in order.
    pub rndis: VecDeque<Queued>,
    /// What this channel carried to the guest.
    pub stats: QueueStats,
}

/// Receive counters of one channel (`queues` in the NIC's `stats`): how RSS spread the
/// frames, how many frames each transfer-page packet carried and why sending stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    /// Frames delivered on this channel.
    pub frames: u64,
    /// Transfer-page packets sent on this channel.
    pub transfer_packets: u64,
    /// Flushes stopped by a full host → guest ring.
    pub ring_full: u64,
    /// Flushes stopped with messages waiting and no free receive-buffer section.
    pub no_section: u64,
}

impl ChannelQueue {
    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.nvsp.is_empty() && self.rndis.is_empty()
    }
}
