// SPDX-License-Identifier: GPL-2.0
//! Host → guest: the receive buffer. The host cuts the guest's buffer into equal sections
//! (one RNDIS message each), copies messages into free sections and tells the guest with a
//! transfer-page packet (`VM_PKT_DATA_USING_XFER_PAGES`: a list of offset/length ranges in
//! the buffer, plus an NVSP SEND_RNDIS_PKT). The guest completes the packet when it has
//! copied the messages out; only then are its sections free again (`netvsc_receive()` in
//! drivers/net/hyperv/netvsc.c is the guest side).

use std::collections::HashMap;

use rhv_proto::nvsp::{self, ReceiveBufferSection, SendRndisPacket};
use rhv_proto::ring::{PacketType, TransferPageRange, PACKET_FLAG_COMPLETION_REQUESTED};
use zerocopy::IntoBytes;

use super::buffers::{BufferError, GuestBuffer};
use super::channel::VspChannel;
use super::misbehave::OVERLAP_REPEATS;
use crate::vmbus::SendError;

/// Linux's section size (`NETVSC_RECV_SECTION_SIZE`); larger MTUs get larger sections.
pub const MIN_SECTION_SIZE: u32 = 1728;
/// Room for the RNDIS header, the data message, two per-packet infos and an 802.1Q tag.
pub const MESSAGE_OVERHEAD: u32 = 8 + 36 + 2 * 16 + 4;
/// Most messages in one transfer-page packet (well below Linux's limit of 562 ranges).
pub const MAX_RANGES_PER_PACKET: usize = 64;
/// A buffer with fewer sections is refused.
pub const MIN_SECTIONS: u32 = 16;

/// A defect of the ranges of a transfer-page packet (misbehaviour, `super::misbehave`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeDefect {
    /// None: one range per message.
    None,
    /// One more range, past the buffer's end.
    OutsideBuffer,
    /// The first range named [`OVERLAP_REPEATS`] more times.
    Overlapping,
}

/// Why the receive buffer cannot be used or a completion is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RxError {
    #[error("receive buffer of {len} bytes holds fewer than {MIN_SECTIONS} sections of {section}")]
    TooSmall { len: u64, section: u32 },
    #[error("completion for unknown transfer {0:#x}")]
    UnknownTransfer(u64),
    #[error("completion for transfer {trans_id:#x} on channel {got}, sent on {sent}")]
    WrongChannel { trans_id: u64, sent: u16, got: u16 },
    #[error("RNDIS message of {len} bytes does not fit a {section}-byte section")]
    MessageTooLarge { len: usize, section: u32 },
    #[error("writing the receive buffer: {0}")]
    Buffer(#[from] BufferError),
    #[error("sending the transfer-page packet: {0}")]
    Send(#[from] SendError),
}

/// Sections lent to the guest by one transfer-page packet.
#[derive(Debug)]
struct InFlight {
    channel: u16,
    sections: Vec<u32>,
}

/// The guest's receive buffer, cut into sections.
#[derive(Debug)]
pub struct ReceiveBuffer {
    buffer: GuestBuffer,
    pageset_id: u16,
    section_size: u32,
    section_count: u32,
    free: Vec<u32>,
    in_flight: HashMap<u64, InFlight>,
    next_trans_id: u64,
}

impl ReceiveBuffer {
    /// Cuts `buffer` into sections big enough for frames of `max_frame` bytes (Ethernet header
    /// included); `pageset_id` is the id the guest gave the buffer.
    pub fn new(buffer: GuestBuffer, pageset_id: u16, max_frame: u32) -> Result<Self, RxError> {
        let needed = (u64::from(max_frame) + u64::from(MESSAGE_OVERHEAD)).div_ceil(64) * 64;
        let section_size = u32::try_from(needed)
            .unwrap_or(u32::MAX)
            .max(MIN_SECTION_SIZE);
        let count = buffer.len() / u64::from(section_size);
        let section_count = u32::try_from(count)
            .ok()
            .filter(|&c| c >= MIN_SECTIONS)
            .ok_or(RxError::TooSmall {
                len: buffer.len(),
                section: section_size,
            })?;
        Ok(Self {
            buffer,
            pageset_id,
            section_size,
            section_count,
            free: (0..section_count).rev().collect(),
            in_flight: HashMap::new(),
            next_trans_id: 1,
        })
    }

    /// The GPADL behind the buffer.
    pub fn gpadl(&self) -> u32 {
        self.buffer.gpadl()
    }

    /// The layout the guest learns from SEND_RECV_BUF_COMPLETE.
    pub fn section(&self) -> ReceiveBufferSection {
        ReceiveBufferSection {
            offset: 0,
            sub_allocation_size: self.section_size,
            num_sub_allocations: self.section_count,
            end_offset: self.section_size * self.section_count,
        }
    }

    /// Bytes per section: the largest RNDIS message that can be delivered.
    pub fn section_size(&self) -> u32 {
        self.section_size
    }

    /// Sections not lent to the guest.
    pub fn free_sections(&self) -> usize {
        self.free.len()
    }

    /// Transfer-page packets the guest has not completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Copies `messages` (at most [`MAX_RANGES_PER_PACKET`], each at most a section) into
    /// free sections and sends them to the guest in one transfer-page packet on `ch`, its
    /// ranges spoilt by `defect` (misbehaviour). On an error nothing was delivered and the
    /// sections are free again.
    pub fn deliver(
        &mut self,
        ch: &mut dyn VspChannel,
        messages: &[&[u8]],
        defect: RangeDefect,
    ) -> Result<(), RxError> {
        if messages.len() > MAX_RANGES_PER_PACKET {
            return Err(RxError::Send(SendError::TooLarge(messages.len() as u64)));
        }
        if let Some(m) = messages
            .iter()
            .find(|m| m.len() > self.section_size as usize)
        {
            return Err(RxError::MessageTooLarge {
                len: m.len(),
                section: self.section_size,
            });
        }
        let mut sections = Vec::with_capacity(messages.len());
        let mut extra = Vec::with_capacity(8 + 8 * messages.len());
        extra.extend_from_slice(&self.pageset_id.to_le_bytes());
        extra.extend_from_slice(&[0, 0]); // sender_owns_set, reserved
        let repeats = match defect {
            RangeDefect::Overlapping if !messages.is_empty() => OVERLAP_REPEATS,
            _ => 0,
        };
        let ranges = messages.len() + repeats + usize::from(defect == RangeDefect::OutsideBuffer);
        // CAST: at most MAX_RANGES_PER_PACKET + OVERLAP_REPEATS.
        extra.extend_from_slice(&(ranges as u32).to_le_bytes());
        let mut result = Ok(());
        for m in messages {
            let Some(section) = self.free.pop() else {
                break;
            };
            sections.push(section);
            let offset = section * self.section_size;
            if let Err(e) = self.buffer.write(ch.memory(), u64::from(offset), m) {
                result = Err(RxError::Buffer(e));
                break;
            }
            let range = TransferPageRange {
                // CAST: checked against the section size above.
                byte_count: m.len() as u32,
                byte_offset: offset,
            };
            extra.extend_from_slice(range.as_bytes());
        }
        if result.is_ok() && sections.len() != messages.len() {
            result = Err(RxError::Send(SendError::Full));
        }
        if let Some(first) = extra.get(8..16).map(<[u8]>::to_vec) {
            for _ in 0..repeats {
                extra.extend_from_slice(&first);
            }
        }
        if defect == RangeDefect::OutsideBuffer {
            let outside = TransferPageRange {
                byte_count: 64,
                byte_offset: u32::try_from(self.buffer.len()).unwrap_or(u32::MAX),
            };
            extra.extend_from_slice(outside.as_bytes());
        }
        if result.is_ok() {
            let trans_id = self.next_trans_id;
            self.next_trans_id = self.next_trans_id.wrapping_add(1).max(1);
            let payload = nvsp::encode(&SendRndisPacket {
                channel_type: nvsp::CHANNEL_TYPE_DATA,
                send_buffer_section_index: nvsp::INVALID_SECTION_INDEX,
                send_buffer_section_size: 0,
            });
            result = ch
                .send_packet(
                    PacketType::DataUsingTransferPages,
                    PACKET_FLAG_COMPLETION_REQUESTED,
                    trans_id,
                    &extra,
                    &payload,
                )
                .map_err(RxError::Send);
            if result.is_ok() {
                self.in_flight.insert(
                    trans_id,
                    InFlight {
                        channel: ch.subchannel_index(),
                        sections,
                    },
                );
                return Ok(());
            }
        }
        self.free.extend(sections);
        result
    }

    /// The guest completed transfer `trans_id` on `channel`: its sections are free.
    pub fn complete(&mut self, channel: u16, trans_id: u64) -> Result<(), RxError> {
        let f = self
            .in_flight
            .get(&trans_id)
            .ok_or(RxError::UnknownTransfer(trans_id))?;
        if f.channel != channel {
            return Err(RxError::WrongChannel {
                trans_id,
                sent: f.channel,
                got: channel,
            });
        }
        if let Some(f) = self.in_flight.remove(&trans_id) {
            self.free.extend(f.sections);
        }
        Ok(())
    }

    /// Takes back the sections lent on `channel` (it closed: the guest will never complete
    /// them).
    pub fn forget_channel(&mut self, channel: u16) {
        let ids: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.channel == channel)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(f) = self.in_flight.remove(&id) {
                self.free.extend(f.sections);
            }
        }
    }
}
