// SPDX-License-Identifier: GPL-2.0
//! The two ring buffers of an open channel, over pages shared with the host: the guest →
//! host ring the guest writes packets into, and the host → guest ring it reads them from
//! (`drivers/hv/ring_buffer.c` is the C counterpart; layouts and index arithmetic are the pure
//! functions of `proto::ring`).
//!
//! The host can change any byte of these pages at any time. So the guest keeps its own copy of
//! the index it owns (the write index of the outgoing ring, the read index of the incoming
//! ring) and never reads it back; the other side's index is copied out atomically, checked
//! with `proto::ring::check_index`, and every packet descriptor is copied and checked with
//! `proto::ring::packet_layout` before any byte of the packet is used. A bad value is a
//! [`RingError`]: the caller fails the channel.

use crate::platform::page::{SharedPages, HV_PAGE_SIZE};
use crate::proto::ring::{
    advance, bytes_to_read, bytes_to_write, check_index, check_ring_size, fits, packet_layout,
    packet_ring_size, signal_after_read, signal_after_write, trailer, PacketDescriptor, RingError,
    DESCRIPTOR_SIZE, FEATURE_BITS_OFFSET, FEATURE_PENDING_SEND_SIZE, INTERRUPT_MASK_OFFSET,
    PENDING_SEND_SIZE_OFFSET, READ_INDEX_OFFSET, WRITE_INDEX_OFFSET,
};
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use zerocopy::FromBytes;

/// One ring inside the channel's ring-buffer pages: a control page at `control` followed by
/// the data pages.
#[derive(Clone, Copy)]
pub(crate) struct RingLayout {
    /// Page index of the control page.
    control: usize,
    /// Size of the data area in bytes.
    size: u32,
}

impl RingLayout {
    /// The ring whose control page is page `control` and whose data area is `data_pages`
    /// pages.
    pub(crate) fn new(control: usize, data_pages: usize) -> Result<Self> {
        let size = check_ring_size((data_pages * HV_PAGE_SIZE) as u64).map_err(|_| EINVAL)?;
        Ok(Self { control, size })
    }

    fn index<'a>(&self, pages: &'a SharedPages, offset: u64) -> Result<&'a Atomic<u32>> {
        let page = pages.page(self.control).ok_or(EINVAL)?;
        Ok(page.atomic_u32(offset as usize))
    }

    fn data_offset(&self, index: u32) -> usize {
        (self.control + 1) * HV_PAGE_SIZE + index as usize
    }

    /// Announces that this side implements `pending_send_sz`.
    pub(crate) fn init(&self, pages: &SharedPages) -> Result {
        self.index(pages, FEATURE_BITS_OFFSET)?
            .store(FEATURE_PENDING_SEND_SIZE, ordering::Relaxed);
        Ok(())
    }
}

#[path = "ring_debug.rs"]
mod debug;
pub(crate) use debug::RingDebug;

/// Streams bytes into a ring in 8-byte words, wrapping at the end of the data area.
struct WordWriter<'a> {
    pages: &'a SharedPages,
    ring: RingLayout,
    at: u32,
    word: [u8; 8],
    fill: usize,
}

impl WordWriter<'_> {
    fn push(&mut self, bytes: &[u8]) -> Result {
        let mut rest = bytes;
        // Whole words straight from the source while no partial word is pending (the parts of
        // a packet are mostly multiples of 8 bytes); bytes one by one otherwise.
        loop {
            if self.fill == 0 {
                if let Some((word, tail)) = rest.split_first_chunk::<8>() {
                    self.write_word(u64::from_le_bytes(*word))?;
                    rest = tail;
                    continue;
                }
            }
            let Some((&b, tail)) = rest.split_first() else {
                break;
            };
            rest = tail;
            self.word[self.fill] = b;
            self.fill += 1;
            if self.fill == 8 {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn write_word(&mut self, word: u64) -> Result {
        self.pages.write_u64(self.ring.data_offset(self.at), word)?;
        self.at = advance(self.at, 8, self.ring.size);
        Ok(())
    }

    /// Writes the pending partial word, zero-padded.
    fn flush(&mut self) -> Result {
        if self.fill == 0 {
            return Ok(());
        }
        self.word[self.fill..].fill(0);
        self.fill = 0;
        self.write_word(u64::from_le_bytes(self.word))
    }
}

/// Copies `out.len()` bytes (a multiple of 8 or the tail of a packet) from the ring at `at`.
fn read_wrapping(pages: &SharedPages, ring: RingLayout, at: u32, out: &mut [u8]) -> Result {
    let mut at = at;
    for chunk in out.chunks_mut(8) {
        let word = pages.read_u64(ring.data_offset(at))?.to_le_bytes();
        match <&mut [u8; 8]>::try_from(&mut *chunk) {
            Ok(whole) => *whole = word,
            Err(_) => {
                for (d, s) in chunk.iter_mut().zip(word) {
                    *d = s;
                }
            }
        }
        at = advance(at, 8, ring.size);
    }
    Ok(())
}

/// Why a ring operation did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RingFault {
    /// The host put a bad value in the ring: the channel must be failed.
    Host(RingError),
    /// Not enough room now; `pending_send_sz` asks the host to signal when there is.
    Full,
    /// A local problem (a packet that can never fit, an internal bound).
    Local(Error),
}

impl From<Error> for RingFault {
    fn from(e: Error) -> Self {
        RingFault::Local(e)
    }
}

/// The guest → host ring: the guest owns `write_index`.
pub(crate) struct OutRing {
    ring: RingLayout,
    /// The guest's write index; the copy in shared memory is only ever written.
    write: u32,
    /// The ring bytes of the last packet that did not fit, while `pending_send_sz` asks the
    /// host for that much room.
    waiting: Option<u32>,
}

impl OutRing {
    /// A fresh ring (both indices zero, as the pages were zeroed).
    pub(crate) fn new(ring: RingLayout) -> Self {
        Self {
            ring,
            write: 0,
            waiting: None,
        }
    }

    /// After a write failed with [`RingFault::Full`]: whether the room it asked for is there
    /// now. Reports it once, and withdraws `pending_send_sz` so the host stops signalling.
    pub(crate) fn room_returned(&mut self, pages: &SharedPages) -> Result<bool, RingFault> {
        let Some(needed) = self.waiting else {
            return Ok(false);
        };
        if !self.has_room(pages, needed)? {
            return Ok(false);
        }
        self.waiting = None;
        self.ring
            .index(pages, PENDING_SEND_SIZE_OFFSET)?
            .store(0, ordering::Relaxed);
        Ok(true)
    }

    /// Whether `needed` bytes fit between our write index and the host's `read_index`
    /// (checked: a bad one is the host's fault).
    fn has_room(&self, pages: &SharedPages, needed: u32) -> Result<bool, RingFault> {
        let size = self.ring.size;
        // ORDERING: pairs with the host's release store of `read_index` after it consumed
        // packets: the room it frees is really free.
        let read = self
            .ring
            .index(pages, READ_INDEX_OFFSET)?
            .load(ordering::Acquire);
        let read = check_index(read, size).map_err(RingFault::Host)?;
        Ok(fits(needed, bytes_to_write(read, self.write, size)))
    }

    /// Writes one packet made of `parts` (descriptor first) and returns whether the host must
    /// be signalled.
    pub(crate) fn write(
        &mut self,
        pages: &SharedPages,
        parts: &[&[u8]],
    ) -> Result<bool, RingFault> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let len = u32::try_from(len).map_err(|_| RingFault::Local(EMSGSIZE))?;
        let needed = packet_ring_size(len).ok_or(RingFault::Local(EMSGSIZE))?;
        if needed >= self.ring.size {
            return Err(RingFault::Local(EMSGSIZE));
        }
        let size = self.ring.size;
        if !self.has_room(pages, needed)? {
            let pending = self.ring.index(pages, PENDING_SEND_SIZE_OFFSET)?;
            // ORDERING: full, so that the host's next read of `pending_send_sz` after it
            // advanced `read_index` sees it, and our re-check below sees that advance.
            pending.xchg(needed, ordering::Full);
            if !self.has_room(pages, needed)? {
                self.waiting = Some(needed);
                return Err(RingFault::Full);
            }
        }
        let mut w = WordWriter {
            pages,
            ring: self.ring,
            at: self.write,
            word: [0; 8],
            fill: 0,
        };
        for p in parts {
            w.push(p)?;
        }
        w.flush()?;
        w.push(&trailer(self.write).to_le_bytes())?;
        let old = self.write;
        self.write = advance(old, needed, size);
        // ORDERING: full: the packet bytes above are visible before the new write index
        // (pairs with the host's acquire load of `write_index`), and the loads below of
        // `interrupt_mask` and `read_index` happen after the store (pairs with the host
        // clearing the mask and then re-reading `write_index`).
        self.ring
            .index(pages, WRITE_INDEX_OFFSET)?
            .xchg(self.write, ordering::Full);
        self.ring
            .index(pages, PENDING_SEND_SIZE_OFFSET)?
            .store(0, ordering::Relaxed);
        self.waiting = None;
        let mask = self
            .ring
            .index(pages, INTERRUPT_MASK_OFFSET)?
            .load(ordering::Acquire);
        let read = self
            .ring
            .index(pages, READ_INDEX_OFFSET)?
            .load(ordering::Acquire);
        Ok(signal_after_write(old, read, mask))
    }
}

/// What a packet read from the ring is made of, the bytes themselves being in the caller's
/// buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadPacket {
    /// The descriptor, as copied and checked.
    pub(crate) descriptor: PacketDescriptor,
    /// Packet length without the trailer.
    pub(crate) len: u32,
    /// Offset of the payload in the packet.
    pub(crate) data_offset: u32,
}

/// The host → guest ring: the guest owns `read_index`.
pub(crate) struct InRing {
    ring: RingLayout,
    /// Where the next packet starts; published to the host by [`InRing::commit`].
    read: u32,
    /// `read_index` as last published.
    published: u32,
    /// The host's write index as last seen.
    write_seen: u32,
}

impl InRing {
    /// A fresh ring.
    pub(crate) fn new(ring: RingLayout) -> Self {
        Self {
            ring,
            read: 0,
            published: 0,
            write_seen: 0,
        }
    }

    /// Largest packet the ring can hold.
    pub(crate) fn max_packet(&self) -> usize {
        self.ring.size as usize
    }

    fn available(&mut self, pages: &SharedPages) -> Result<u32, RingFault> {
        // ORDERING: pairs with the host's release store of `write_index` after it wrote the
        // packets: their bytes are visible to the reads that follow.
        let write = self
            .ring
            .index(pages, WRITE_INDEX_OFFSET)?
            .load(ordering::Acquire);
        let write = check_index(write, self.ring.size).map_err(RingFault::Host)?;
        self.write_seen = write;
        Ok(bytes_to_read(self.read, write, self.ring.size))
    }

    /// Whether the host has published packets not read yet.
    pub(crate) fn has_data(&mut self, pages: &SharedPages) -> Result<bool, RingFault> {
        Ok(self.available(pages)? != 0)
    }

    /// Copies the next packet into `out` (at least [`InRing::max_packet`] bytes).
    pub(crate) fn read(
        &mut self,
        pages: &SharedPages,
        out: &mut [u8],
    ) -> Result<Option<ReadPacket>, RingFault> {
        let available = self.available(pages)?;
        if available == 0 {
            return Ok(None);
        }
        let mut raw = [0u8; DESCRIPTOR_SIZE as usize];
        if available < DESCRIPTOR_SIZE {
            return Err(RingFault::Host(RingError::Truncated(available)));
        }
        read_wrapping(pages, self.ring, self.read, &mut raw)?;
        let descriptor =
            PacketDescriptor::read_from_bytes(&raw).map_err(|_| RingFault::Local(EINVAL))?;
        let layout = packet_layout(&descriptor, available).map_err(RingFault::Host)?;
        let out = out
            .get_mut(..layout.len as usize)
            .ok_or(RingFault::Local(EMSGSIZE))?;
        read_wrapping(pages, self.ring, self.read, out)?;
        self.read = advance(self.read, layout.ring_len, self.ring.size);
        Ok(Some(ReadPacket {
            descriptor,
            len: layout.len,
            data_offset: layout.data_offset,
        }))
    }

    /// Publishes how far the guest has read; returns whether the host, waiting for room,
    /// must be signalled.
    pub(crate) fn commit(&mut self, pages: &SharedPages) -> Result<bool, RingFault> {
        if self.read == self.published {
            return Ok(false);
        }
        let size = self.ring.size;
        let bytes_read = bytes_to_read(self.published, self.read, size);
        // ORDERING: full: our copies of the packets are complete before the host may reuse
        // their room (pairs with its acquire load of `read_index`), and `pending_send_sz` is
        // read after the store (pairs with the host setting it, then re-reading the index).
        self.ring
            .index(pages, READ_INDEX_OFFSET)?
            .xchg(self.read, ordering::Full);
        self.published = self.read;
        let pending = self
            .ring
            .index(pages, PENDING_SEND_SIZE_OFFSET)?
            .load(ordering::Acquire);
        let free_now = bytes_to_write(self.read, self.write_seen, size);
        Ok(signal_after_read(pending, free_now, bytes_read))
    }

    /// Sets or clears `interrupt_mask`: while set the host need not interrupt, the guest is
    /// draining the ring anyway.
    pub(crate) fn set_interrupt_mask(&self, pages: &SharedPages, masked: bool) -> Result {
        // ORDERING: full: clearing the mask is ordered before the caller's re-check of
        // `write_index` (pairs with the host storing `write_index`, then reading the mask).
        self.ring
            .index(pages, INTERRUPT_MASK_OFFSET)?
            .xchg(u32::from(masked), ordering::Full);
        Ok(())
    }
}

#[kunit_tests(rhv_vmbus_ring)]
mod tests {
    use super::*;
    use crate::proto::ring::PacketType;
    use zerocopy::IntoBytes;

    /// One ring of one data page at pages 0-1; the "host" is the test, poking the pages.
    fn setup() -> Result<(SharedPages, RingLayout)> {
        Ok((SharedPages::new(2)?, RingLayout::new(0, 1)?))
    }

    fn descriptor(len: usize) -> PacketDescriptor {
        PacketDescriptor {
            packet_type: PacketType::DataInband as u16,
            offset8: 2,
            len8: ((16 + len).div_ceil(8)) as u16,
            flags: 0,
            trans_id: 77,
        }
    }

    #[test]
    fn write_then_read_back() -> Result {
        let (pages, ring) = setup()?;
        let mut out = OutRing::new(ring);
        let d = descriptor(5);
        assert_eq!(out.write(&pages, &[d.as_bytes(), b"hello"]), Ok(true));
        // The reader was not caught up any more: no second signal.
        assert_eq!(out.write(&pages, &[d.as_bytes(), b"world"]), Ok(false));
        let mut inr = InRing::new(ring);
        let mut buf = [0u8; 4096];
        let p = inr
            .read(&pages, &mut buf)
            .map_err(|_| EINVAL)?
            .ok_or(EINVAL)?;
        assert_eq!(p.len, 24);
        assert_eq!({ p.descriptor.trans_id }, 77);
        assert_eq!(&buf[16..21], b"hello");
        assert!(inr.read(&pages, &mut buf).map_err(|_| EINVAL)?.is_some());
        assert_eq!(inr.read(&pages, &mut buf), Ok(None));
        assert_eq!(inr.commit(&pages), Ok(false));
        Ok(())
    }

    #[test]
    fn parts_of_any_length_arrive_in_order_across_the_wrap() -> Result {
        let (pages, ring) = setup()?;
        let mut out = OutRing::new(ring);
        let mut inr = InRing::new(ring);
        let mut buf = [0u8; 4096];
        let (a, b, c) = ([1u8, 2, 3], [4u8; 13], [5u8, 6, 7, 8, 9, 10, 11, 12]);
        // 40 bytes and the 8-byte trailer: 48 ring bytes each, so the 86th packet wraps.
        for i in 0..150u64 {
            let mut d = descriptor(24);
            d.trans_id = i;
            out.write(&pages, &[d.as_bytes(), &a, &b, &c])
                .map_err(|_| EINVAL)?;
            let p = inr
                .read(&pages, &mut buf)
                .map_err(|_| EINVAL)?
                .ok_or(EINVAL)?;
            assert_eq!({ p.descriptor.trans_id }, i);
            assert_eq!(&buf[16..19], &a);
            assert_eq!(&buf[19..32], &b);
            assert_eq!(&buf[32..40], &c);
            inr.commit(&pages).map_err(|_| EINVAL)?;
        }
        Ok(())
    }

    #[test]
    fn bad_host_index_is_a_host_fault() -> Result {
        let (pages, ring) = setup()?;
        let mut inr = InRing::new(ring);
        let mut buf = [0u8; 4096];
        ring.index(&pages, WRITE_INDEX_OFFSET)?
            .store(5000, ordering::Relaxed);
        assert_eq!(
            inr.read(&pages, &mut buf),
            Err(RingFault::Host(RingError::BadIndex {
                index: 5000,
                size: 4096
            }))
        );
        let mut out = OutRing::new(ring);
        ring.index(&pages, READ_INDEX_OFFSET)?
            .store(12, ordering::Relaxed);
        assert_eq!(
            out.write(&pages, &[descriptor(0).as_bytes()]),
            Err(RingFault::Host(RingError::BadIndex {
                index: 12,
                size: 4096
            }))
        );
        Ok(())
    }

    #[test]
    fn bad_packet_length_is_a_host_fault() -> Result {
        let (pages, ring) = setup()?;
        let mut d = descriptor(8);
        d.len8 = 500;
        pages.write(HV_PAGE_SIZE, d.as_bytes())?;
        ring.index(&pages, WRITE_INDEX_OFFSET)?
            .store(32, ordering::Relaxed);
        let mut inr = InRing::new(ring);
        let mut buf = [0u8; 4096];
        assert!(matches!(
            inr.read(&pages, &mut buf),
            Err(RingFault::Host(RingError::PacketPastWriteIndex { .. }))
        ));
        Ok(())
    }

    #[test]
    fn full_ring_asks_for_room() -> Result {
        let (pages, ring) = setup()?;
        let mut out = OutRing::new(ring);
        let payload = [0u8; 1000];
        let d = descriptor(payload.len());
        let mut n = 0;
        loop {
            match out.write(&pages, &[d.as_bytes(), &payload]) {
                Ok(_) => n += 1,
                Err(RingFault::Full) => break,
                Err(_) => return Err(EINVAL),
            }
        }
        assert_eq!(n, 3);
        let pending = ring
            .index(&pages, PENDING_SEND_SIZE_OFFSET)?
            .load(ordering::Relaxed);
        assert_eq!(pending, 1024);
        // The host has not read anything: no room yet.
        assert_eq!(out.room_returned(&pages), Ok(false));
        // The host reads the first packet (1024 ring bytes): 2048 bytes free, enough for
        // 1024 (a ring never fills up completely, 1024 free were not).
        ring.index(&pages, READ_INDEX_OFFSET)?
            .store(1024, ordering::Release);
        assert_eq!(out.room_returned(&pages), Ok(true));
        let pending = ring
            .index(&pages, PENDING_SEND_SIZE_OFFSET)?
            .load(ordering::Relaxed);
        assert_eq!(pending, 0);
        // Reported once.
        assert_eq!(out.room_returned(&pages), Ok(false));
        assert!(out.write(&pages, &[d.as_bytes(), &payload]).is_ok());
        Ok(())
    }

    #[test]
    fn room_is_only_reported_after_a_full_ring() -> Result {
        let (pages, ring) = setup()?;
        let mut out = OutRing::new(ring);
        assert_eq!(out.room_returned(&pages), Ok(false));
        let d = descriptor(8);
        assert!(out.write(&pages, &[d.as_bytes(), &[0u8; 8]]).is_ok());
        assert_eq!(out.room_returned(&pages), Ok(false));
        // A bad read index while waiting is the host's fault.
        let payload = [0u8; 1000];
        let big = descriptor(payload.len());
        while out.write(&pages, &[big.as_bytes(), &payload]).is_ok() {}
        ring.index(&pages, READ_INDEX_OFFSET)?
            .store(4097, ordering::Relaxed);
        assert!(matches!(
            out.room_returned(&pages),
            Err(RingFault::Host(RingError::BadIndex { .. }))
        ));
        Ok(())
    }
}
