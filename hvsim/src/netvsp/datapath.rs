// SPDX-License-Identifier: GPL-2.0
//! Frames both ways and the flow control between the host network and the guest's rings.
//!
//! Guest → host: each RNDIS data message's frame goes to the backend, with the checksum or
//! large-send offload its per-packet info asks for (`offload_frames`); a frame whose offload
//! request is malformed or was never enabled is dropped and counted as a bad packet.
//! Host → guest: frames are read from the backend only while receive-buffer sections are
//! free (the rest waits in the TAP's queue), filtered as the guest's packet filter says,
//! completed (a checksum the host kernel left to us), wrapped into RNDIS data messages (with
//! the RSS hash and the receive checksum info), queued on the channel RSS picks and
//! sent in batches of transfer-page packets. A full ring keeps the queue until the guest
//! makes room (or the next poll); completions and control answers go first.
//!
//! When the backend is read: when its wake descriptor is readable, offered only while it can
//! be read ([`Netvsp::can_take_frames`], so a TAP full of frames for a guest with no free
//! section does not wake the event loop over and over); after a guest's receive completion
//! (followed by a flush of every channel once the completing channel is drained); and on the
//! tick while the event loop is not waiting on it (no wake descriptor, a failed read).

use std::time::Instant;

use rhv_proto::rndis::{self, MessageHeader, PerPacketInfo, PPI_HASH_VALUE, PPI_TCPIP_CHECKSUM};
use zerocopy::IntoBytes;

use super::channel::{ChannelSet, Queued, VspChannel};
use super::misbehave::{BadPacket, BAD_RNDIS_MESSAGE, STOP_READING};
use super::offload_frames::{self, TxKind, TxRequest};
use super::protocol::PacketError;
use super::rx::{RxError, MAX_RANGES_PER_PACKET};
use super::tx;
use super::vnet::VnetHeader;
use super::Netvsp;
use crate::vmbus::{warn_allowed, SendError};

/// Most frames taken from the backend per call, so one busy NIC cannot hold the event loop.
const MAX_FRAMES_PER_POLL: usize = 1024;

/// What made the NIC read the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TakeOn {
    /// Its wake descriptor was ready.
    Wake,
    /// A receive completion freed sections.
    Completion,
    /// The event loop's tick.
    Tick,
}

/// An RNDIS data message carrying `frame`, with the RSS hash and the receive checksum info
/// as per-packet info.
fn data_message(frame: &[u8], hash: Option<u32>, csum: Option<u32>) -> Vec<u8> {
    let ppis = [(PPI_HASH_VALUE, hash), (PPI_TCPIP_CHECKSUM, csum)];
    let ppi_len = 16 * ppis.iter().filter(|(_, v)| v.is_some()).count();
    let body_len = size_of::<rndis::Packet>() + ppi_len + frame.len();
    let mut m = Vec::with_capacity(rndis::HEADER_SIZE + body_len);
    m.extend_from_slice(MessageHeader::new(rndis::MessageType::Packet, body_len).as_bytes());
    // CAST: frames come from a 64 KiB buffer.
    m.extend_from_slice(rndis::Packet::new(frame.len() as u32, ppi_len as u32).as_bytes());
    for (kind, value) in ppis {
        if let Some(v) = value {
            m.extend_from_slice(PerPacketInfo::new(kind, 4).as_bytes());
            m.extend_from_slice(&v.to_le_bytes());
        }
    }
    m.extend_from_slice(frame);
    m
}

/// The last byte of the TCP segment or UDP datagram (with a checksum) in an untagged IPv4
/// frame, which its checksum covers: the payload's if it has one (none for a fragment).
pub(super) fn l4_last_byte(frame: &[u8]) -> Option<usize> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..34)?;
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
    let header = match ip[9] {
        6 => 20,
        17 => 8,
        _ => return None,
    };
    if ihl < 20 || fragment || total < ihl + header || 14 + total > frame.len() {
        return None;
    }
    let udp_unchecked = ip[9] == 17 && frame.get(14 + ihl + 6..14 + ihl + 8)? == [0, 0];
    (!udp_unchecked).then_some(14 + total - 1)
}

/// Whether the guest's packet filter lets a frame to `dst` in.
fn filter_accepts(filter: u32, mac: &[u8; 6], dst: &[u8]) -> bool {
    use rhv_proto::ndis::*;
    if filter & PACKET_TYPE_PROMISCUOUS != 0 {
        return true;
    }
    match dst {
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] => filter & PACKET_TYPE_BROADCAST != 0,
        [first, ..] if first & 1 != 0 => {
            filter & (PACKET_TYPE_ALL_MULTICAST | PACKET_TYPE_MULTICAST) != 0
        }
        _ => filter & PACKET_TYPE_DIRECTED != 0 && dst == mac,
    }
}

impl Netvsp {
    /// Sends the frame of one RNDIS data message (from channel `index`) to the host network.
    pub(super) fn transmit(
        &mut self,
        index: u16,
        msg: &rndis::Message<'_>,
    ) -> Result<(), PacketError> {
        let packet = msg.packet()?;
        let mut frame = tx::frame(&packet);
        if !self.rndis.link_up || frame.len() < 14 {
            self.stats.from_guest.drops += 1;
            return Ok(());
        }
        let request = TxRequest::parse(&packet);
        let prepared = request.and_then(|r| {
            if r.is_empty() {
                return Ok((VnetHeader::default(), TxKind::Plain));
            }
            let shift = frame.len() - packet.data.len();
            offload_frames::prepare_tx(
                &r,
                frame.to_mut(),
                shift,
                &self.rndis.offload,
                self.rndis.max_mtu,
            )
        });
        let (offload, kind) = match prepared {
            Ok(p) => p,
            Err(e) => {
                self.note_bad(index, &PacketError::Offload(e));
                return Ok(());
            }
        };
        let stats = &mut self.stats.from_guest;
        match self.backend.send(&offload, &frame) {
            Ok(()) => {
                stats.frames += 1;
                stats.bytes += frame.len() as u64;
                match kind {
                    TxKind::Plain => {}
                    TxKind::Checksum => self.stats.csum_offloaded += 1,
                    TxKind::LargeSend { ipv6 } => {
                        self.stats.lso_frames += 1;
                        self.stats.lso_ipv6_frames += u64::from(ipv6);
                        self.stats.lso_bytes += frame.len() as u64;
                    }
                }
            }
            Err(e) => {
                stats.drops += 1;
                if warn_allowed() {
                    tracing::warn!(device = "netvsp", "backend send failed: {e}");
                }
            }
        }
        Ok(())
    }

    /// Whether [`Netvsp::receive_from_backend`] would read a frame now: while the guest can
    /// take frames, only if a receive-buffer section is free for one more than those queued;
    /// before that (RNDIS not initialised, no primary channel) frames are read and dropped.
    pub(super) fn can_take_frames(&self) -> bool {
        let deliverable = self.rndis.initialized && self.queues.contains_key(&0);
        if !deliverable {
            return true;
        }
        let queued: usize = self.queues.values().map(|q| q.rndis.len()).sum();
        let free = self.recv.as_ref().map_or(0, |r| r.free_sections());
        free > queued
    }

    /// The backend's descriptor, for the event loop to wait on, while frames can be taken
    /// from it and it has not failed.
    pub(super) fn wake_fd(&self) -> Option<std::os::unix::io::RawFd> {
        if self.backend_failing || !self.can_take_frames() {
            return None;
        }
        self.backend.wake_fd()
    }

    /// Takes frames from the backend into the channel queues while receive-buffer sections
    /// are free for them; `on` says what prompted it (counted in `rx_taken_on`).
    pub(super) fn receive_from_backend(&mut self, on: TakeOn) {
        for _ in 0..MAX_FRAMES_PER_POLL {
            if !self.can_take_frames() {
                return;
            }
            let (len, offload) = match self.backend.recv(&mut self.frame_buf) {
                Ok(Some(got)) => got,
                Ok(None) => {
                    self.backend_failing = false;
                    return;
                }
                Err(e) => {
                    self.backend_failing = true;
                    if warn_allowed() {
                        tracing::warn!(device = "netvsp", "backend receive failed: {e}");
                    }
                    return;
                }
            };
            self.backend_failing = false;
            let taken = &mut self.stats.rx_taken_on;
            *match on {
                TakeOn::Wake => &mut taken.wake,
                TakeOn::Completion => &mut taken.completion,
                TakeOn::Tick => &mut taken.tick,
            } += 1;
            self.accept_frame(len.min(self.frame_buf.len()), &offload);
        }
    }

    /// Filters, completes, wraps and queues the frame in `frame_buf[..len]`.
    fn accept_frame(&mut self, len: usize, offload: &VnetHeader) {
        let frame = &self.frame_buf[..len];
        let wanted = self.rndis.initialized
            && self.rndis.link_up
            && len >= 14
            && filter_accepts(
                self.rndis.packet_filter,
                &self.rndis.current_mac,
                &frame[..6],
            );
        if !wanted || self.recv.is_none() {
            self.stats.filtered += 1;
            return;
        }
        let csum = match offload_frames::complete_rx(
            offload,
            &mut self.frame_buf[..len],
            &self.rndis.offload,
        ) {
            Ok(c) => c,
            Err(e) => {
                self.stats.to_guest.drops += 1;
                if warn_allowed() {
                    tracing::warn!(device = "netvsp", "frame from the host dropped: {e}");
                }
                return;
            }
        };
        if csum.is_some() {
            self.stats.rx_csum_verified += 1;
        }
        let frame = &self.frame_buf[..len];
        let Some(recv) = self.recv.as_ref() else {
            return;
        };
        let (hash, queue) = match self.rndis.rss.classify(frame) {
            Some((h, q)) if self.queues.contains_key(&q) => (Some(h), q),
            Some((h, _)) => (Some(h), 0),
            None => (None, 0),
        };
        let message = data_message(frame, hash, csum);
        let verified_csum_at = csum
            .and_then(|_| l4_last_byte(frame))
            .map(|at| message.len() - frame.len() + at);
        if message.len() > recv.section_size() as usize {
            self.stats.to_guest.drops += 1;
            return;
        }
        match self.queues.get_mut(&queue) {
            Some(q) => q.rndis.push_back(Queued {
                bytes: message,
                frame_len: len,
                verified_csum_at,
            }),
            None => self.stats.filtered += 1,
        }
    }

    /// Sends what waits on `ch`, as far as its ring and the receive buffer allow.
    pub(super) fn flush(&mut self, ch: &mut dyn VspChannel) {
        // A frame per packet while a pause in reading is armed or under way.
        let single = self.reading_stopped() || self.misbehaviour.arms(BadPacket::StopReading);
        let index = ch.subchannel_index();
        let Some(q) = self.queues.get_mut(&index) else {
            return;
        };
        while let Some(o) = q.nvsp.front() {
            match o.send(ch) {
                Ok(()) => {}
                Err(SendError::Full) => return,
                Err(e) => {
                    if warn_allowed() {
                        tracing::warn!(device = "netvsp", channel = index, "NVSP packet lost: {e}");
                    }
                }
            }
            q.nvsp.pop_front();
        }
        while !q.rndis.is_empty() {
            if self
                .recv
                .as_ref()
                .is_some_and(|r| ch.gpadl(r.gpadl()).is_none())
            {
                // The guest tore the buffer down without revoking it first.
                self.stats.bad_packets += 1;
                if warn_allowed() {
                    tracing::warn!(
                        device = "netvsp",
                        "receive buffer GPADL is gone; buffer dropped"
                    );
                }
                self.recv = None;
            }
            let Some(recv) = self.recv.as_mut() else {
                let lost = q.rndis.drain(..).filter(|m| m.frame_len > 0).count();
                self.stats.to_guest.drops += lost as u64;
                return;
            };
            // While misbehaving, one section and range are kept for a `bad-rndis` message.
            let spare = usize::from(self.misbehaviour.armed());
            // Around a pause in reading the guest → host ring, a frame per packet: the guest
            // owes a completion for each, and few sections are lent when the pause starts.
            let most = if single {
                1
            } else {
                MAX_RANGES_PER_PACKET - spare
            };
            let n = q
                .rndis
                .len()
                .min(recv.free_sections().saturating_sub(spare))
                .min(most);
            if n == 0 {
                q.stats.no_section += 1;
                return;
            }
            let verified = q
                .rndis
                .iter()
                .take(n)
                .position(|m| m.verified_csum_at.is_some());
            let bad = self
                .misbehaviour
                .due_if(|k| k.with_receive() && (k != BadPacket::BadCsum || verified.is_some()));
            // bad-csum: the first frame whose checksum the host vouches for, its last byte
            // changed.
            let spoilt = match (bad, verified) {
                (Some(BadPacket::BadCsum), Some(i)) => {
                    let m = &q.rndis[i];
                    let mut bytes = m.bytes.clone();
                    if let Some(b) = m.verified_csum_at.and_then(|at| bytes.get_mut(at)) {
                        *b ^= 0x5a;
                    }
                    Some((i, bytes))
                }
                _ => None,
            };
            let mut batch: Vec<&[u8]> =
                q.rndis.iter().take(n).map(|m| m.bytes.as_slice()).collect();
            if let Some((i, bytes)) = &spoilt {
                batch[*i] = bytes;
            }
            if bad == Some(BadPacket::StopReading) {
                self.reading_stopped_until = Some(Instant::now() + STOP_READING);
            }
            if bad == Some(BadPacket::BadRndis) {
                batch.push(&BAD_RNDIS_MESSAGE);
            }
            let result = recv.deliver(ch, &batch, BadPacket::range_defect(bad));
            if matches!(result, Err(RxError::Send(SendError::Full))) {
                q.stats.ring_full += 1;
                return;
            }
            if result.is_ok() {
                q.stats.transfer_packets += 1;
            }
            let stats = &mut self.stats.to_guest;
            for m in q.rndis.drain(..n).filter(|m| m.frame_len > 0) {
                if result.is_ok() {
                    q.stats.frames += 1;
                    stats.frames += 1;
                    stats.bytes += m.frame_len as u64;
                } else {
                    stats.drops += 1;
                }
            }
            if let Err(e) = result {
                if warn_allowed() {
                    tracing::warn!(device = "netvsp", channel = index, "receive lost: {e}");
                }
            }
        }
    }

    /// Sends what waits on every open channel.
    pub(super) fn flush_all(&mut self, set: &mut dyn ChannelSet) {
        self.flush_wanted = false;
        for index in set.open_channels() {
            if self.queues.get(&index).is_some_and(|q| !q.is_empty()) {
                set.with_channel(index, &mut |ch| self.flush(ch));
            }
        }
    }

    /// After the server handed over one channel's packets: if receive completions among
    /// them freed sections, every channel's queue (frames RSS put on other channels than the
    /// completing one would otherwise wait for the next poll).
    pub(super) fn after_drain(&mut self, set: &mut dyn ChannelSet) {
        if self.flush_wanted {
            self.flush_all(set);
        }
    }

    /// The tick's work: frames from a backend the event loop is not waiting on (one it waits
    /// on wakes the NIC itself), then every channel's queue.
    pub(super) fn service(&mut self, set: &mut dyn ChannelSet) {
        if self.wake_fd().is_none() {
            self.receive_from_backend(TakeOn::Tick);
        }
        self.flush_all(set);
    }

    /// The backend's wake descriptor is ready: frames from it, then every channel's queue.
    pub(super) fn wake(&mut self, set: &mut dyn ChannelSet) {
        self.receive_from_backend(TakeOn::Wake);
        self.flush_all(set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_filter() {
        use rhv_proto::ndis::*;
        let mac = [0, 0x15, 0x5d, 0, 0, 1];
        let bcast = [0xff; 6];
        let mcast = [0x33, 0x33, 0, 0, 0, 1];
        let other = [0, 0x15, 0x5d, 0, 0, 2];
        let d = PACKET_TYPE_DIRECTED;
        assert!(filter_accepts(d, &mac, &mac));
        assert!(!filter_accepts(d, &mac, &other));
        assert!(!filter_accepts(d, &mac, &bcast));
        assert!(filter_accepts(d | PACKET_TYPE_BROADCAST, &mac, &bcast));
        assert!(!filter_accepts(d | PACKET_TYPE_BROADCAST, &mac, &mcast));
        assert!(filter_accepts(d | PACKET_TYPE_ALL_MULTICAST, &mac, &mcast));
        assert!(filter_accepts(PACKET_TYPE_PROMISCUOUS, &mac, &other));
        assert!(!filter_accepts(0, &mac, &mac));
    }

    #[test]
    fn data_messages_parse_back() {
        let m = data_message(b"0123456789abcdef", Some(7), Some(8));
        let (msg, rest) = rndis::Message::split(&m).unwrap();
        assert!(rest.is_empty());
        let p = msg.packet().unwrap();
        assert_eq!(p.data, b"0123456789abcdef");
        assert_eq!(p.ppi_u32(PPI_HASH_VALUE), Some(7));
        assert_eq!(p.ppi_u32(PPI_TCPIP_CHECKSUM), Some(8));
        let m = data_message(b"x", None, None);
        assert_eq!(m.len(), 8 + 36 + 1);
    }
}
