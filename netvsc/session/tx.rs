// SPDX-License-Identifier: GPL-2.0
//! Transmit: a frame goes into a send-buffer section behind its RNDIS data header when it
//! fits (one copy), or else the header goes into the section and the frame is sent from its
//! own pages (GPA-direct). Either way the skb is kept until the host completes the send, so the
//! stack sees the frame in flight (TCP small queues and autocorking coalesce what the
//! application writes meanwhile into large sends instead of one small frame per write). The
//! section's completion id names the queue and the section; no section or a full ring stops
//! the queue until a completion wakes it. A frame that asks for a checksum or a large send
//! carries the per-packet info for it (`offload`) between the data header and the frame.

use super::{trans_data, Queue, Session, DATA_HEADER};
use crate::datapath::bump;
use crate::netdev::{Skb, Xmit};
use crate::proto::{nvsp, rndis};
use crate::sections::Lease;
use core::mem::size_of;
use kernel::prelude::*;
use kernel::sync::atomic::ordering;
use vmbus::{GpaDirectRange, MAX_GPA_DIRECT_PAGES};
use zerocopy::IntoBytes;

/// Most page ranges of one frame: with [`MAX_GPA_DIRECT_PAGES`] PFNs this fills the 40-word
/// range table of a GPA-direct packet.
const MAX_RANGES: usize = 8;

/// One per-packet info element holding a 4-byte value.
const PPI_BYTES: usize = size_of::<rndis::PerPacketInfo>() + 4;

impl Session {
    /// Sends one frame on queue `q` (ndo_start_xmit: softirqs off, the queue's lock held).
    pub(crate) fn xmit(&self, skb: Skb, q: u16) -> Xmit {
        let q = if (q as usize) < self.queues.len() {
            q
        } else {
            0
        };
        let Some(queue) = self.queues.get(q as usize) else {
            return Xmit::Dropped;
        };
        let more = skb.xmit_more();
        let result = self.xmit_one(skb, q, queue);
        // The host hears of the frames in the ring at the end of a batch, or when the
        // stack takes a frame back (it may not call again until a completion). On the
        // channel's own CPU its completions are read by the queue's poll, scheduled here
        // with the ring masked: each would interrupt this CPU otherwise (hvsim, like a quick
        // host, completes before the signal returns). Elsewhere they interrupt the channel's
        // CPU, which frees the frames and takes the ACKs while this one goes on sending.
        if (!more || !matches!(result, Xmit::Sent))
            && queue.signal_owed.xchg(false, ordering::Relaxed)
        {
            if queue.channel.targets_current_cpu() {
                self.dp.ndev.claim_poll(q, &queue.channel);
            }
            queue.channel.signal();
        }
        result
    }

    fn xmit_one(&self, mut skb: Skb, q: u16, queue: &Queue) -> Xmit {
        let dp = &self.dp;
        let len = skb.len() as usize;
        if !(14..=64 * 1024).contains(&len) {
            return Xmit::Dropped;
        }
        let Ok(info) = self.tx_offload_info(&mut skb) else {
            return Xmit::Dropped;
        };
        let mut header = [0u8; DATA_HEADER + PPI_BYTES];
        let ppi_len = if info.is_some() { PPI_BYTES } else { 0 };
        let hlen = DATA_HEADER + ppi_len;
        let h = rndis::MessageHeader::new(rndis::MessageType::Packet, hlen - 8 + len);
        // CAST: len is at most 64 KiB, ppi_len 16.
        let p = rndis::Packet::new(len as u32, ppi_len as u32);
        header[..8].copy_from_slice(h.as_bytes());
        header[8..DATA_HEADER].copy_from_slice(p.as_bytes());
        if let Some((kind, value)) = info {
            let e = rndis::PerPacketInfo::new(kind, 4);
            header[DATA_HEADER..DATA_HEADER + 12].copy_from_slice(e.as_bytes());
            header[DATA_HEADER + 12..].copy_from_slice(&value.to_le_bytes());
        }
        let header = &header[..hlen];
        let size = dp.send_section.load(ordering::Relaxed) as usize;
        if hlen + len <= size {
            self.send_copied(queue, q, skb, header, size)
        } else {
            self.send_pages(queue, q, skb, header, size)
        }
    }

    /// Takes a section for queue `q` (with the skb the host reads from its own pages, if
    /// any: one lock round for both); with none free, stops the queue and gives the skb back.
    fn take_section(
        &self,
        q: u16,
        attach: Option<Skb>,
    ) -> core::result::Result<Lease, Option<Skb>> {
        let taken = {
            let mut s = self.dp.sections.lock();
            match s.take(q) {
                Some(lease) => {
                    if let Some(skb) = attach {
                        s.attach(lease, skb);
                    }
                    Ok(lease)
                }
                None => Err(attach),
            }
        };
        taken.inspect_err(|_| {
            bump(&self.dp.counters.tx_busy);
            self.dp.stop_queue(q);
            // A completion may have come in between: look once more.
            if self.dp.sections.lock().free_count() > 0 {
                self.dp.wake_queue(q);
            }
        })
    }

    /// A send of queue `q` failed with `e`: the section goes back (with the skb it held);
    /// a full ring stops the queue and has the stack keep the skb.
    fn unsent(&self, q: u16, lease: Lease, e: Error, skb: Option<Skb>) -> Xmit {
        let held = self
            .dp
            .sections
            .lock()
            .release(lease, q)
            .and_then(|u| u.skb);
        let skb = skb.or(held);
        if e == EAGAIN {
            bump(&self.dp.counters.tx_ring_full);
            self.dp.stop_queue(q);
            if let Some(skb) = skb {
                return Xmit::Busy(skb);
            }
        }
        Xmit::Dropped
    }

    /// Notes that the host must be signalled for what was written to `queue`'s ring.
    fn owe_signal(queue: &Queue, owed: bool) {
        if owed {
            queue.signal_owed.store(true, ordering::Relaxed);
        }
    }

    /// Sends a frame that fits a section behind its RNDIS header: copied. The section keeps
    /// the skb until the host completes the send, as for a page send and as hv_netvsc does,
    /// so the stack sees the frame in flight: TCP small queues and autocorking coalesce what
    /// the application writes meanwhile into large sends instead of one small frame per write.
    fn send_copied(&self, queue: &Queue, q: u16, skb: Skb, header: &[u8], size: usize) -> Xmit {
        let lease = match self.take_section(q, None) {
            Ok(lease) => lease,
            Err(_) => return Xmit::Busy(skb),
        };
        let section = lease.index;
        let offset = section as usize * size;
        let hlen = header.len();
        let m = nvsp::SendRndisPacket {
            channel_type: nvsp::CHANNEL_TYPE_DATA,
            send_buffer_section_index: section,
            // CAST: at most the section size.
            send_buffer_section_size: (hlen + skb.len() as usize) as u32,
        };
        let copied = self
            .dp
            .send
            .write(offset, header)
            .and_then(|()| self.dp.send.write_skb(offset + hlen, &skb));
        if let Err(e) = copied {
            return self.unsent(q, lease, e, Some(skb));
        }
        // Attached before the packet is in the ring, so the completion always finds it.
        self.dp.sections.lock().attach(lease, skb);
        match queue
            .channel
            .send_batched(&nvsp::encode(&m), trans_data(q, lease), true)
        {
            Ok(owed) => {
                Self::owe_signal(queue, owed);
                Xmit::Sent
            }
            Err(e) => self.unsent(q, lease, e, None),
        }
    }

    /// Sends a frame too large for a section from its own pages (its fragments as they are,
    /// or linearised when they need more ranges than a packet holds); the RNDIS header goes in
    /// the section, which keeps the skb until the host completes the send.
    fn send_pages(&self, queue: &Queue, q: u16, mut skb: Skb, header: &[u8], size: usize) -> Xmit {
        let mut pfns = [0u64; MAX_GPA_DIRECT_PAGES];
        let mut spans = [[0u32; 3]; MAX_RANGES];
        let count = match skb.page_ranges(&mut pfns, &mut spans) {
            Ok(n) => n,
            Err(e) if e == EMSGSIZE => match skb.pages(&mut pfns) {
                Ok((n, first)) => {
                    // CAST: at most MAX_GPA_DIRECT_PAGES.
                    spans[0] = [first, skb.len(), n as u32];
                    1
                }
                Err(_) => return Xmit::Dropped,
            },
            Err(_) => return Xmit::Dropped,
        };
        let mut ranges: [GpaDirectRange<'_>; MAX_RANGES] =
            core::array::from_fn(|_| GpaDirectRange {
                offset: 0,
                len: 0,
                pfns: &[],
            });
        let mut rest: &[u64] = &pfns;
        for (r, [off, len, n]) in ranges.iter_mut().zip(spans.iter().take(count)) {
            let Some((these, after)) = rest.split_at_checked(*n as usize) else {
                return Xmit::Dropped;
            };
            *r = GpaDirectRange {
                offset: *off,
                len: *len,
                pfns: these,
            };
            rest = after;
        }
        // From here the section holds the skb (its pages stay valid until the completion).
        let lease = match self.take_section(q, Some(skb)) {
            Ok(lease) => lease,
            Err(skb) => return skb.map_or(Xmit::Dropped, Xmit::Busy),
        };
        let section = lease.index;
        let m = nvsp::SendRndisPacket {
            channel_type: nvsp::CHANNEL_TYPE_DATA,
            send_buffer_section_index: section,
            // CAST: 44 or 60 bytes.
            send_buffer_section_size: header.len() as u32,
        };
        let sent = self
            .dp
            .send
            .write(section as usize * size, header)
            .and_then(|()| {
                queue.channel.send_gpa_direct_batched(
                    &ranges[..count],
                    &nvsp::encode(&m),
                    trans_data(q, lease),
                )
            });
        match sent {
            Ok(owed) => {
                Self::owe_signal(queue, owed);
                Xmit::Sent
            }
            Err(e) => self.unsent(q, lease, e, None),
        }
    }
}
