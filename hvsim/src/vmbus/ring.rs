// SPDX-License-Identifier: GPL-2.0
//! The host side of a channel's two ring buffers, over the pages of its ring GPADL: reading
//! packets the guest put in its outgoing (guest → host) ring and writing packets into its
//! incoming (host → guest) ring. Layout and index rules: `rhv_proto::ring`.
//!
//! Everything in these pages belongs to the guest too and may change at any time. Indices and
//! descriptors are copied out, validated, and only the copies are used; the host keeps its own
//! copy of the index it owns (read index of the incoming ring, write index of the outgoing
//! ring) and only ever writes that one out, so a guest scribbling on it cannot move the host.
//! A bad index or packet length is a [`HostRingError`]; the caller fails the channel.

use std::sync::atomic::{fence, Ordering};

use rhv_proto::ring::{self as wire, PacketDescriptor, PacketType, RingError};
use rhv_proto::vmbus::HV_PAGE_SIZE;
use zerocopy::{FromBytes, IntoBytes};

use crate::memory::{GuestMemory, MemoryError};

/// Why a ring could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostRingError {
    #[error("ring: {0:?}")]
    Ring(RingError),
    #[error("ring memory: {0}")]
    Memory(#[from] MemoryError),
    #[error("a ring needs a control page and at least one data page, got {0} pages")]
    TooFewPages(usize),
}

impl From<RingError> for HostRingError {
    fn from(e: RingError) -> Self {
        HostRingError::Ring(e)
    }
}

/// One ring's pages: the control page and the data pages, in ring order.
#[derive(Clone, Debug)]
pub struct RingPages {
    control: u64,
    data: Vec<u64>,
    size: u32,
}

impl RingPages {
    /// Builds the view from guest PFNs (the first is the control page).
    pub fn new(pfns: &[u64]) -> Result<Self, HostRingError> {
        let [control, data @ ..] = pfns else {
            return Err(HostRingError::TooFewPages(0));
        };
        if data.is_empty() {
            return Err(HostRingError::TooFewPages(pfns.len()));
        }
        let size = wire::check_ring_size(data.len() as u64 * HV_PAGE_SIZE)?;
        Ok(Self {
            control: control * HV_PAGE_SIZE,
            data: data.iter().map(|p| p * HV_PAGE_SIZE).collect(),
            size,
        })
    }

    /// Bytes in the data area.
    pub fn data_size(&self) -> u32 {
        self.size
    }

    fn control_u32(&self, mem: &dyn GuestMemory, offset: u64) -> Result<u32, MemoryError> {
        mem.read_u32(self.control + offset)
    }

    fn set_control_u32(
        &self,
        mem: &dyn GuestMemory,
        offset: u64,
        v: u32,
    ) -> Result<(), MemoryError> {
        mem.write_u32(self.control + offset, v)
    }

    /// Copies `buf.len()` bytes out of the data area from `offset`, wrapping at the end.
    fn read_data(
        &self,
        mem: &dyn GuestMemory,
        mut offset: u32,
        buf: &mut [u8],
    ) -> Result<(), MemoryError> {
        let mut done = 0;
        while done < buf.len() {
            let (gpa, chunk) = self.locate(offset, buf.len() - done);
            mem.read_at(gpa, &mut buf[done..done + chunk])?;
            done += chunk;
            offset = wire::advance(offset, chunk as u32, self.size);
        }
        Ok(())
    }

    /// Copies `data` into the data area from `offset`, wrapping at the end.
    fn write_data(
        &self,
        mem: &dyn GuestMemory,
        mut offset: u32,
        data: &[u8],
    ) -> Result<(), MemoryError> {
        let mut done = 0;
        while done < data.len() {
            let (gpa, chunk) = self.locate(offset, data.len() - done);
            mem.write_at(gpa, &data[done..done + chunk])?;
            done += chunk;
            offset = wire::advance(offset, chunk as u32, self.size);
        }
        Ok(())
    }

    /// The GPA of data offset `offset` (< size) and how many of `want` bytes are contiguous
    /// there (to the end of the page).
    fn locate(&self, offset: u32, want: usize) -> (u64, usize) {
        let page = (u64::from(offset) / HV_PAGE_SIZE) as usize;
        let in_page = u64::from(offset) % HV_PAGE_SIZE;
        let room = (HV_PAGE_SIZE - in_page) as usize;
        (self.data[page] + in_page, want.min(room))
    }
}

/// A packet copied out of the guest → host ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawPacket {
    /// The descriptor as it was when validated.
    pub descriptor: PacketDescriptor,
    /// Where the payload starts in `bytes`.
    pub data_offset: usize,
    /// The whole packet (descriptor, extra header, payload).
    pub bytes: Vec<u8>,
}

impl RawPacket {
    /// The packet type, if known.
    #[cfg(test)]
    pub fn packet_type(&self) -> Result<PacketType, RingError> {
        PacketType::try_from(self.descriptor.packet_type)
    }
    /// Bytes between the descriptor and the payload (transfer page / GPA direct ranges).
    pub fn extra(&self) -> &[u8] {
        &self.bytes[wire::DESCRIPTOR_SIZE as usize..self.data_offset]
    }
    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.data_offset..]
    }
}

/// The ring the guest writes and the host reads.
#[derive(Debug)]
pub struct IncomingRing {
    pages: RingPages,
    read: u32,
    /// Bytes consumed since the last [`IncomingRing::commit`].
    consumed: u32,
}

impl IncomingRing {
    /// Attaches to a ring the guest has initialised; its indices must be valid.
    pub fn new(pages: RingPages, mem: &dyn GuestMemory) -> Result<Self, HostRingError> {
        let size = pages.data_size();
        let read = wire::check_index(pages.control_u32(mem, wire::READ_INDEX_OFFSET)?, size)?;
        wire::check_index(pages.control_u32(mem, wire::WRITE_INDEX_OFFSET)?, size)?;
        Ok(Self {
            pages,
            read,
            consumed: 0,
        })
    }

    fn published(&self, mem: &dyn GuestMemory) -> Result<u32, HostRingError> {
        let size = self.pages.data_size();
        // ORDERING: pairs with the guest's full barrier before it stores write_index
        // (hv_ringbuffer_write): packet bytes read after this load are at least as new.
        let write =
            wire::check_index(self.pages.control_u32(mem, wire::WRITE_INDEX_OFFSET)?, size)?;
        fence(Ordering::Acquire);
        Ok(wire::bytes_to_read(self.read, write, size))
    }

    /// Bytes in the data area.
    pub fn data_size(&self) -> u32 {
        self.pages.data_size()
    }

    /// Whether the guest has published packets the host has not read.
    pub fn has_data(&self, mem: &dyn GuestMemory) -> Result<bool, HostRingError> {
        Ok(self.published(mem)? > 0)
    }

    /// Copies out the next packet, or `None` if the ring is empty. The space is not returned
    /// to the guest until [`IncomingRing::commit`].
    pub fn read_packet(
        &mut self,
        mem: &dyn GuestMemory,
    ) -> Result<Option<RawPacket>, HostRingError> {
        // More than a ring's worth between commits can only be a guest moving write_index
        // under the host's feet; stop here so it cannot keep the host reading forever.
        if self.consumed >= self.pages.data_size() {
            return Ok(None);
        }
        let available = self.published(mem)?;
        if available == 0 {
            return Ok(None);
        }
        let mut d = [0u8; wire::DESCRIPTOR_SIZE as usize];
        self.pages.read_data(mem, self.read, &mut d)?;
        let descriptor = PacketDescriptor::read_from_bytes(&d)
            .map_err(|_| HostRingError::Ring(RingError::Truncated(available)))?;
        let layout = wire::packet_layout(&descriptor, available)?;
        let mut bytes = vec![0u8; layout.len as usize];
        self.pages.read_data(mem, self.read, &mut bytes)?;
        // The copy may differ from `d` if the guest changed it meanwhile; keep the validated
        // descriptor so `bytes` and the layout agree.
        bytes[..d.len()].copy_from_slice(&d);
        self.read = wire::advance(self.read, layout.ring_len, self.pages.data_size());
        self.consumed += layout.ring_len;
        Ok(Some(RawPacket {
            descriptor,
            data_offset: layout.data_offset as usize,
            bytes,
        }))
    }

    /// Publishes the new read index. Returns whether the guest waits for room that is now
    /// there and must be interrupted.
    pub fn commit(&mut self, mem: &dyn GuestMemory) -> Result<bool, HostRingError> {
        let consumed = std::mem::take(&mut self.consumed);
        if consumed == 0 {
            return Ok(false);
        }
        // ORDERING: the packet bytes were copied before the guest may reuse their space.
        fence(Ordering::Release);
        self.pages
            .set_control_u32(mem, wire::READ_INDEX_OFFSET, self.read)?;
        // ORDERING: read_index store before the pending_send_sz load, pairing with the guest
        // storing pending_send_sz before it rechecks read_index.
        fence(Ordering::SeqCst);
        let pending = self
            .pages
            .control_u32(mem, wire::PENDING_SEND_SIZE_OFFSET)?;
        if pending == 0 {
            return Ok(false);
        }
        let size = self.pages.data_size();
        let write =
            wire::check_index(self.pages.control_u32(mem, wire::WRITE_INDEX_OFFSET)?, size)?;
        let free = wire::bytes_to_write(self.read, write, size);
        Ok(wire::signal_after_read(pending, free, consumed))
    }

    /// Sets or clears the interrupt mask: while set the guest does not signal new packets.
    pub fn set_interrupt_mask(
        &self,
        mem: &dyn GuestMemory,
        masked: bool,
    ) -> Result<(), HostRingError> {
        self.pages
            .set_control_u32(mem, wire::INTERRUPT_MASK_OFFSET, u32::from(masked))?;
        // ORDERING: the mask store is visible before the host rechecks write_index, pairing
        // with the guest's barrier between its write_index store and its mask load.
        fence(Ordering::SeqCst);
        Ok(())
    }
}

/// Why a packet could not be sent to the guest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the guest's ring is full; retry when it signals")]
    Full,
    #[error("packet of {0} bytes can never fit in the ring")]
    TooLarge(u64),
    #[error("the extra header must be a multiple of 8 bytes")]
    Misaligned,
    #[error("the channel is not open")]
    NotOpen,
    #[error("the channel has failed: {0}")]
    Failed(HostRingError),
}

/// The ring the host writes and the guest reads.
#[derive(Debug)]
pub struct OutgoingRing {
    pages: RingPages,
    write: u32,
    /// The host published `pending_send_sz` and waits for the guest to make room.
    waiting: Option<u32>,
}

impl OutgoingRing {
    /// Attaches to a ring the guest has initialised; its indices must be valid.
    pub fn new(pages: RingPages, mem: &dyn GuestMemory) -> Result<Self, HostRingError> {
        let size = pages.data_size();
        wire::check_index(pages.control_u32(mem, wire::READ_INDEX_OFFSET)?, size)?;
        let write = wire::check_index(pages.control_u32(mem, wire::WRITE_INDEX_OFFSET)?, size)?;
        Ok(Self {
            pages,
            write,
            waiting: None,
        })
    }

    /// Ring bytes a packet with `extra` and `payload` bytes takes, if it can be built.
    fn ring_len(extra: usize, payload: usize) -> Result<(u32, u32, u32), SendError> {
        if !extra.is_multiple_of(8) {
            return Err(SendError::Misaligned);
        }
        let header = wire::DESCRIPTOR_SIZE as u64 + extra as u64;
        let len = header + payload as u64;
        let padded = len.div_ceil(8) * 8;
        if padded / 8 > u64::from(u16::MAX) {
            return Err(SendError::TooLarge(len));
        }
        // Both fit in u16 units of 8 bytes, so in u32.
        Ok((
            header as u32,
            padded as u32,
            padded as u32 + wire::PACKET_TRAILER_SIZE,
        ))
    }

    /// Bytes in the data area.
    pub fn data_size(&self) -> u32 {
        self.pages.data_size()
    }

    /// Whether the host is waiting for the guest to free room.
    pub fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// Whether the room the host waited for is there now.
    pub fn room_available(&self, mem: &dyn GuestMemory) -> Result<bool, HostRingError> {
        let Some(needed) = self.waiting else {
            return Ok(true);
        };
        let size = self.pages.data_size();
        let read = wire::check_index(self.pages.control_u32(mem, wire::READ_INDEX_OFFSET)?, size)?;
        Ok(wire::fits(
            needed,
            wire::bytes_to_write(read, self.write, size),
        ))
    }

    /// Writes one packet. Returns whether the guest must be interrupted.
    pub fn write_packet(
        &mut self,
        mem: &dyn GuestMemory,
        packet_type: PacketType,
        flags: u16,
        trans_id: u64,
        extra: &[u8],
        payload: &[u8],
    ) -> Result<bool, SendError> {
        let (header_len, padded, needed) = Self::ring_len(extra.len(), payload.len())?;
        let size = self.pages.data_size();
        if needed >= size {
            return Err(SendError::TooLarge(u64::from(needed)));
        }
        let fail = |e: HostRingError| SendError::Failed(e);
        let read_index = self
            .pages
            .control_u32(mem, wire::READ_INDEX_OFFSET)
            .map_err(|e| fail(e.into()))?;
        let read = wire::check_index(read_index, size).map_err(|e| fail(e.into()))?;
        if !wire::fits(needed, wire::bytes_to_write(read, self.write, size)) {
            self.pages
                .set_control_u32(mem, wire::PENDING_SEND_SIZE_OFFSET, needed)
                .map_err(|e| fail(e.into()))?;
            self.waiting = Some(needed);
            return Err(SendError::Full);
        }
        let descriptor = PacketDescriptor {
            packet_type: packet_type as u16,
            offset8: (header_len / 8) as u16,
            len8: (padded / 8) as u16,
            flags,
            trans_id,
        };
        let mut bytes = Vec::with_capacity(needed as usize);
        bytes.extend_from_slice(descriptor.as_bytes());
        bytes.extend_from_slice(extra);
        bytes.extend_from_slice(payload);
        bytes.resize(padded as usize, 0);
        let old_write = self.write;
        bytes.extend_from_slice(&wire::trailer(old_write).to_le_bytes());
        self.pages
            .write_data(mem, old_write, &bytes)
            .map_err(|e| fail(e.into()))?;
        self.write = wire::advance(old_write, needed, size);
        // ORDERING: the packet bytes are visible before the new write_index, pairing with the
        // guest's load-acquire of write_index (hv_pkt_iter_avail).
        fence(Ordering::Release);
        self.pages
            .set_control_u32(mem, wire::WRITE_INDEX_OFFSET, self.write)
            .map_err(|e| fail(e.into()))?;
        if self.waiting.take().is_some() {
            self.pages
                .set_control_u32(mem, wire::PENDING_SEND_SIZE_OFFSET, 0)
                .map_err(|e| fail(e.into()))?;
        }
        // ORDERING: write_index store before the interrupt_mask and read_index loads, pairing
        // with the barrier in the guest's hv_end_read between clearing the mask and rechecking
        // write_index.
        fence(Ordering::SeqCst);
        let mask = self
            .pages
            .control_u32(mem, wire::INTERRUPT_MASK_OFFSET)
            .map_err(|e| fail(e.into()))?;
        let read_now = self
            .pages
            .control_u32(mem, wire::READ_INDEX_OFFSET)
            .map_err(|e| fail(e.into()))?;
        Ok(wire::signal_after_write(old_write, read_now, mask))
    }
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
