// SPDX-License-Identifier: GPL-2.0
//! A connection to the host's network VSP, from channel open to close: NVSP version
//! negotiation, NDIS version and configuration (the MTU), the receive and send buffers, RNDIS
//! initialisation, the MAC address and link state, then frames both ways; and the orderly
//! teardown (RNDIS halt, buffers revoked, channels closed, GPADLs torn down). The C driver's
//! `netvsc_device_add()` / `rndis_filter_device_add()` are the counterparts.

use crate::control::{Awaited, REQUEST_TRANS_BIT};
use crate::datapath::{Counters, Datapath, QueueHandler, RECEIVE_BUFFER_ID};
use crate::netdev::{online_cpus, NetDevice, Polled, MAX_QUEUES};
use crate::proto::{ndis, nvsp, rndis};
use crate::sections::{Lease, Sections};
use kernel::cpu::CpuId;
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::Arc;
use vmbus::{DeviceHandle, OpenChannel, OpenParams};
use zerocopy::{FromBytes, IntoBytes};

mod offload;
mod tx;

/// Receive buffer: 16 MiB (about 9700 sections of a 1500-byte MTU), the C driver's default.
/// The host takes frames in only while sections are free: a smaller buffer fills during a TCP
/// burst and the frames the host cannot place are lost (retransmits).
const RECV_BUFFER_PAGES: usize = 4096;
/// Send buffer: 1 MiB.
const SEND_BUFFER_PAGES: usize = 256;
/// Ring bytes each way per channel.
const RING_BYTES: usize = 128 * 4096;
/// The RNDIS data message header: message header and the data message body.
const DATA_HEADER: usize = rndis::HEADER_SIZE + core::mem::size_of::<rndis::Packet>();
/// Largest RNDIS message the guest sends the host (INITIALIZE's max transfer size).
const MAX_TRANSFER: u32 = 0x4000;
/// How long the host may take to offer the sub-channels it granted.
const SUBCHANNEL_WAIT_MS: u32 = 10_000;
/// Entries of the RSS indirection table (Linux's `ITAB_NUM`).
const RSS_TABLE_ENTRIES: usize = 128;
/// The Toeplitz key.
const RSS_KEY: [u8; ndis::RSS_MAX_KEY_SIZE] = ndis::RSS_VERIFICATION_KEY;
/// The packet filter of an interface that is up.
const FILTER_UP: u32 = ndis::PACKET_TYPE_DIRECTED
    | ndis::PACKET_TYPE_MULTICAST
    | ndis::PACKET_TYPE_ALL_MULTICAST
    | ndis::PACKET_TYPE_BROADCAST;

/// One queue: its channel, and whether the host is owed an interrupt for frames written
/// while the stack said more were coming.
struct Queue {
    channel: OpenChannel,
    signal_owed: Atomic<bool>,
}

/// A connected device.
pub(crate) struct Session {
    dp: Arc<Datapath>,
    queues: KVec<Queue>,
    /// The MAC address the host gave.
    pub(crate) mac: [u8; 6],
    /// Largest MTU the host allows.
    pub(crate) max_mtu: u32,
    nvsp_version: u32,
    /// Most queues this device could have (CPUs, the host's RSS queues, ours).
    max_queues: u32,
    /// Transmit offloads the host takes.
    tx: offload::TxCaps,
}

fn trans_data(queue: u16, lease: Lease) -> u64 {
    crate::transfer::data_trans_id(queue, lease)
}

fn complain(what: &str, value: u64) {
    if crate::netdev::ratelimit() {
        pr_err!("rhv_netvsc: {} ({:#x})\n", what, value);
    }
}

/// Opens a queue's channel: the primary's (`sub` is `None`) or a sub-channel's.
fn new_queue(
    dev: &DeviceHandle,
    sub: Option<&vmbus::SubChannel>,
    dp: &Arc<Datapath>,
    queue: u16,
) -> Result<Queue> {
    let (handler, rx) = QueueHandler::boxed(dp.clone(), queue)?;
    let mut params = OpenParams::new(RING_BYTES, RING_BYTES);
    // Spread the queues' interrupts (and so their receive work) over the CPUs.
    params.target_cpu = CpuId::from_u32(u32::from(queue) % online_cpus().max(1));
    let channel = match sub {
        Some(sub) => sub.open(&params, handler)?,
        None => dev.open(&params, handler)?,
    };
    // The queue's NAPI instance reads the channel's ring (QueueHandler::on_interrupt).
    dp.ndev.set_polled(
        queue,
        Some(Polled {
            channel: channel.shared(),
            rx,
        }),
    );
    Ok(Queue {
        channel,
        signal_owed: Atomic::new(false),
    })
}

impl Session {
    /// Connects to the VSP of `dev` with an MTU of `mtu`.
    pub(crate) fn start(
        dev: &DeviceHandle,
        ndev: &Arc<NetDevice>,
        counters: &Arc<Counters>,
        mtu: u32,
    ) -> Result<Self> {
        let recv = dev.create_gpadl(RECV_BUFFER_PAGES)?;
        let send = dev.create_gpadl(SEND_BUFFER_PAGES)?;
        let dp = Datapath::new(ndev.clone(), counters.clone(), recv, send)?;
        let primary = new_queue(dev, None, &dp, 0)?;
        let mut queues = KVec::new();
        queues.push(primary, GFP_KERNEL)?;
        let mut s = Session {
            dp,
            queues,
            mac: [0; 6],
            max_mtu: 1500,
            nvsp_version: 0,
            max_queues: 1,
            tx: offload::TxCaps::default(),
        };
        let started = s.negotiate(mtu).and_then(|()| s.rndis_init());
        if let Err(e) = started {
            s.stop();
            return Err(e);
        }
        match s.negotiate_offload() {
            Ok(on) => {
                s.dp.rx_csum.store(on.rx_csum, ordering::Relaxed);
                s.tx = on.tx;
            }
            // Without offload the stack checks every checksum itself.
            Err(e) => complain("no checksum offload", e.to_errno().unsigned_abs().into()),
        }
        if let Err(e) = s.open_subchannels(dev) {
            // One queue still works.
            complain("no sub-channels", e.to_errno().unsigned_abs().into());
        }
        Ok(s)
    }

    /// Asks for a sub-channel per CPU (as many as the host's RSS allows), opens those it
    /// offers and spreads receive traffic over all queues with the RSS indirection table.
    fn open_subchannels(&mut self, dev: &DeviceHandle) -> Result {
        let wanted = online_cpus().min(MAX_QUEUES as u32);
        if self.nvsp_version < nvsp::VERSION_5 || wanted < 2 {
            return Ok(());
        }
        let caps = self.query(ndis::OID_GEN_RECEIVE_SCALE_CAPABILITIES)?;
        let caps = ndis::RssCapabilities::read_from_prefix(caps.bytes())
            .map(|(c, _)| c)
            .map_err(|_| EPROTO)?;
        let n = wanted.min(caps.num_receive_queues);
        self.max_queues = n.max(1);
        if n < 2 {
            return Ok(());
        }
        let req = nvsp::SubchannelRequest {
            operation: nvsp::SUBCHANNEL_ALLOCATE,
            num_subchannels: n - 1,
        };
        let nvsp::HostMessage::SubchannelComplete(c) = self.nvsp_request(&req)? else {
            return Err(EPROTO);
        };
        if c.status != nvsp::STATUS_SUCCESS || c.num_subchannels > n - 1 {
            complain("sub-channel request refused", u64::from(c.num_subchannels));
            return Err(EIO);
        }
        let granted = c.num_subchannels as usize;
        // The offers follow the completion; wait for them, bounded.
        let mut subs = KVec::new();
        for _ in 0..SUBCHANNEL_WAIT_MS / 10 {
            subs = dev.subchannels()?;
            if subs.len() >= granted {
                break;
            }
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(10));
        }
        for index in 1..=granted {
            let Some(sub) = subs.iter().find(|s| usize::from(s.index()) == index) else {
                break;
            };
            // CAST: index <= MAX_QUEUES.
            match new_queue(dev, Some(sub), &self.dp, index as u16) {
                Ok(q) => {
                    if let Err(e) = self.queues.push(q, GFP_KERNEL) {
                        self.dp.ndev.set_polled(index as u16, None);
                        return Err(e.into());
                    }
                }
                Err(_) => break,
            }
        }
        if self.queues.len() > 1 {
            self.set_rss()?;
        }
        Ok(())
    }

    /// Sets the RSS parameters: Toeplitz over IPv4/IPv6 addresses and TCP ports, the
    /// indirection table spreading the buckets round-robin over the queues.
    fn set_rss(&self) -> Result {
        const FIXED: usize = core::mem::size_of::<ndis::RssParameters>();
        const TABLE: usize = RSS_TABLE_ENTRIES * 4;
        let params = ndis::RssParameters {
            header: ndis::ObjectHeader {
                object_type: ndis::OBJECT_TYPE_RSS_PARAMETERS,
                revision: 2,
                size: FIXED as u16,
            },
            flags: 0,
            base_cpu_number: 0,
            hash_information: ndis::HASH_FUNC_TOEPLITZ
                | ndis::HASH_IPV4
                | ndis::HASH_TCP_IPV4
                | ndis::HASH_IPV6
                | ndis::HASH_TCP_IPV6,
            indirection_table_size: TABLE as u16,
            reserved1: 0,
            indirection_table_offset: FIXED as u32,
            hash_key_size: RSS_KEY.len() as u16,
            reserved2: 0,
            hash_key_offset: (FIXED + TABLE) as u32,
            processor_masks_offset: 0,
            num_processor_masks: 0,
            processor_masks_entry_size: 0,
        };
        let mut table = [0u32; RSS_TABLE_ENTRIES];
        let queues = self.queues.len().max(1);
        for (i, entry) in table.iter_mut().enumerate() {
            // CAST: fewer than MAX_QUEUES.
            *entry = (i % queues) as u32;
        }
        self.set(
            ndis::OID_GEN_RECEIVE_SCALE_PARAMETERS,
            &[params.as_bytes(), table.as_bytes(), &RSS_KEY],
        )
    }

    fn primary(&self) -> &OpenChannel {
        // PANIC-free: `start` puts the primary queue first and nothing removes it.
        &self.queues[0].channel
    }

    /// Sends an NVSP request on the primary channel and waits for its completion.
    fn nvsp_request<T: nvsp::Body>(&self, body: &T) -> Result<nvsp::HostMessage> {
        let id = REQUEST_TRANS_BIT | u64::from(self.dp.control.next_id());
        let msg = nvsp::encode(body);
        let answer = self
            .dp
            .control
            .request(Awaited::Nvsp(id), || self.primary().send(&msg, id, true))?;
        nvsp::HostMessage::parse(answer.bytes()).map_err(|_| {
            complain("malformed NVSP answer", answer.len as u64);
            EPROTO
        })
    }

    fn nvsp_send<T: nvsp::Body>(&self, body: &T) -> Result {
        self.primary().send(&nvsp::encode(body), 0, false)
    }

    fn negotiate(&mut self, mtu: u32) -> Result {
        let mut chosen = None;
        for v in nvsp::ALL_VERSIONS {
            if v < nvsp::VERSION_2 {
                continue;
            }
            let init = nvsp::Init {
                min_protocol_version: v,
                max_protocol_version: v,
            };
            if let nvsp::HostMessage::InitComplete(c) = self.nvsp_request(&init)? {
                if c.status == nvsp::STATUS_SUCCESS && c.negotiated_protocol_version == v {
                    chosen = Some(v);
                    break;
                }
            }
        }
        let version = chosen.ok_or_else(|| {
            complain("the host accepts no NVSP version", 0);
            EPROTO
        })?;
        self.nvsp_version = version;
        self.nvsp_send(&nvsp::SendNdisConfig {
            mtu: mtu + 14,
            reserved: 0,
            capabilities: if version >= nvsp::VERSION_5 {
                nvsp::CAPABILITY_TEAMING
            } else {
                0
            },
        })?;
        self.nvsp_send(&nvsp::SendNdisVersion {
            ndis_major_version: 6,
            ndis_minor_version: if version >= nvsp::VERSION_5 { 30 } else { 1 },
        })?;
        let recv = nvsp::SendReceiveBuffer {
            gpadl_handle: self.dp.recv.handle(),
            id: RECEIVE_BUFFER_ID,
        };
        let nvsp::HostMessage::SendReceiveBufferComplete(c) = self.nvsp_request(&recv)? else {
            complain("wrong answer to SEND_RECV_BUF", 0);
            return Err(EPROTO);
        };
        let sec = c.section;
        let size = u64::from(sec.sub_allocation_size);
        let fits = size
            .checked_mul(u64::from(sec.num_sub_allocations))
            .is_some_and(|total| total <= self.dp.recv.len() as u64);
        if c.status != nvsp::STATUS_SUCCESS
            || c.num_sections != 1
            || sec.offset != 0
            || size == 0
            || !fits
        {
            complain("receive buffer refused or cut wrongly", u64::from(c.status));
            return Err(EPROTO);
        }
        self.dp
            .recv_section
            .store(sec.sub_allocation_size, ordering::Relaxed);
        self.dp
            .recv_sections
            .store(sec.num_sub_allocations, ordering::Relaxed);
        let send = nvsp::SendSendBuffer {
            gpadl_handle: self.dp.send.handle(),
            id: nvsp::LINUX_SEND_BUFFER_ID,
        };
        let nvsp::HostMessage::SendSendBufferComplete(c) = self.nvsp_request(&send)? else {
            complain("wrong answer to SEND_SEND_BUF", 0);
            return Err(EPROTO);
        };
        let size = c.section_size;
        if c.status != nvsp::STATUS_SUCCESS
            || (size as usize) < DATA_HEADER + 64
            || size as usize > self.dp.send.len()
            || size % 8 != 0
        {
            complain("send buffer refused or cut wrongly", u64::from(size));
            return Err(EPROTO);
        }
        // CAST: at most the buffer's length over at least 8.
        let count = (self.dp.send.len() / size as usize) as u32;
        *self.dp.sections.lock() = Sections::new(size, count)?;
        self.dp.send_section.store(size, ordering::Release);
        Ok(())
    }

    /// Sends the RNDIS control message of `ty` made of `parts` through a send section and
    /// waits for the answer with request id `id`; returns the answer's body.
    fn rndis_request(
        &self,
        ty: rndis::MessageType,
        id: u32,
        parts: &[&[u8]],
    ) -> Result<crate::control::Answer> {
        let body_len: usize = parts.iter().map(|p| p.len()).sum();
        let header = rndis::MessageHeader::new(ty, body_len);
        let mut msg = KVec::new();
        msg.extend_from_slice(header.as_bytes(), GFP_KERNEL)?;
        for p in parts {
            msg.extend_from_slice(p, GFP_KERNEL)?;
        }
        self.dp.control.request(Awaited::Rndis(id), || {
            self.send_message(0, &msg, nvsp::CHANNEL_TYPE_CONTROL)
        })
    }

    /// Copies an RNDIS message into a send section and sends it on queue `q`'s channel.
    fn send_message(&self, q: u16, msg: &[u8], channel_type: u32) -> Result {
        let (lease, size) = {
            let mut s = self.dp.sections.lock();
            (s.take(q).ok_or(EBUSY)?, s.size())
        };
        let result = self.post_section(q, lease, size, msg, channel_type);
        if result.is_err() {
            let _ = self.dp.sections.lock().release(lease, q);
        }
        result
    }

    fn post_section(&self, q: u16, lease: Lease, size: u32, msg: &[u8], ty: u32) -> Result {
        if msg.len() > size as usize {
            return Err(EMSGSIZE);
        }
        let section = lease.index;
        let offset = section as usize * size as usize;
        self.dp.send.write(offset, msg)?;
        let m = nvsp::SendRndisPacket {
            channel_type: ty,
            send_buffer_section_index: section,
            // CAST: checked against the section size.
            send_buffer_section_size: msg.len() as u32,
        };
        let ch = &self.queues.get(q as usize).ok_or(EINVAL)?.channel;
        ch.send(&nvsp::encode(&m), trans_data(q, lease), true)
    }

    fn rndis_init(&mut self) -> Result {
        let id = self.dp.control.next_id();
        let req = rndis::InitializeRequest {
            request_id: id,
            major_version: rndis::MAJOR_VERSION,
            minor_version: rndis::MINOR_VERSION,
            max_transfer_size: MAX_TRANSFER,
        };
        let a = self.rndis_request(rndis::MessageType::Initialize, id, &[req.as_bytes()])?;
        let c = rndis::InitializeComplete::read_from_prefix(a.bytes())
            .map(|(c, _)| c)
            .map_err(|_| EPROTO)?;
        if c.status != rndis::STATUS_SUCCESS {
            complain("RNDIS INITIALIZE failed", u64::from(c.status));
            return Err(EIO);
        }
        let mac = self.query(ndis::OID_802_3_PERMANENT_ADDRESS)?;
        if mac.len != 6 {
            complain("MAC address of the wrong length", mac.len as u64);
            return Err(EPROTO);
        }
        for (d, s) in self.mac.iter_mut().zip(mac.bytes.iter()) {
            *d = *s;
        }
        if let Ok(frame) = self.query(ndis::OID_GEN_MAXIMUM_FRAME_SIZE) {
            if let Some(w) = word(&frame) {
                self.max_mtu = w.clamp(1500, 65_521);
            }
        }
        let link = self.query(ndis::OID_GEN_MEDIA_CONNECT_STATUS)?;
        let up = word(&link) == Some(ndis::MEDIA_STATE_CONNECTED);
        self.dp.ndev.set_carrier(up);
        Ok(())
    }

    /// An OID's value (at most `MAX_ANSWER` bytes), checked against the answer's bounds.
    fn query(&self, oid: u32) -> Result<crate::control::Answer> {
        let id = self.dp.control.next_id();
        let req = rndis::OidRequest {
            request_id: id,
            oid,
            info_buffer_length: 0,
            info_buffer_offset: 0,
            device_vc_handle: 0,
        };
        let a = self.rndis_request(rndis::MessageType::Query, id, &[req.as_bytes()])?;
        let c = rndis::QueryComplete::read_from_prefix(a.bytes())
            .map(|(c, _)| c)
            .map_err(|_| EPROTO)?;
        if c.status != rndis::STATUS_SUCCESS {
            return Err(EIO);
        }
        let start = c.info_buffer_offset as usize;
        let len = c.info_buffer_length as usize;
        let fixed = core::mem::size_of::<rndis::QueryComplete>();
        let ok = start >= fixed && start.checked_add(len).is_some_and(|e| e <= a.len);
        if !ok {
            complain("QUERY answer out of bounds", u64::from(oid));
            return Err(EPROTO);
        }
        let mut out = crate::control::Answer {
            len,
            bytes: [0; crate::control::MAX_ANSWER],
        };
        for (d, s) in out.bytes.iter_mut().zip(a.bytes[start..start + len].iter()) {
            *d = *s;
        }
        Ok(out)
    }

    /// Sets an OID to the concatenation of `value`; the host's status must be success.
    fn set(&self, oid: u32, value: &[&[u8]]) -> Result {
        let id = self.dp.control.next_id();
        let len: usize = value.iter().map(|v| v.len()).sum();
        let req = rndis::OidRequest {
            request_id: id,
            oid,
            // CAST: values are a few hundred bytes at most.
            info_buffer_length: len as u32,
            info_buffer_offset: core::mem::size_of::<rndis::OidRequest>() as u32,
            device_vc_handle: 0,
        };
        let mut parts = KVec::with_capacity(1 + value.len(), GFP_KERNEL)?;
        parts.push(req.as_bytes(), GFP_KERNEL)?;
        for v in value {
            parts.push(*v, GFP_KERNEL)?;
        }
        let a = self.rndis_request(rndis::MessageType::Set, id, &parts)?;
        let c = rndis::RequestComplete::read_from_prefix(a.bytes())
            .map(|(c, _)| c)
            .map_err(|_| EPROTO)?;
        if c.status != rndis::STATUS_SUCCESS {
            complain("RNDIS SET refused", u64::from(oid));
            return Err(EIO);
        }
        Ok(())
    }

    /// Lets frames in (interface up) or keeps them out.
    pub(crate) fn set_filter(&self, up: bool) -> Result {
        let filter = if up { FILTER_UP } else { 0 };
        self.set(
            ndis::OID_GEN_CURRENT_PACKET_FILTER,
            &[&filter.to_le_bytes()],
        )
    }

    /// Most queues the device could have.
    pub(crate) fn max_queues(&self) -> u32 {
        self.max_queues
    }

    /// Whether the host checks receive checksums.
    pub(crate) fn rx_csum(&self) -> bool {
        self.dp.rx_csum.load(ordering::Relaxed)
    }

    /// Transmit offloads the host takes, as the stack is to be told.
    pub(crate) fn tx_features(&self) -> crate::netdev::TxFeatures {
        self.tx.features()
    }

    /// Queues in use.
    pub(crate) fn queue_count(&self) -> u32 {
        // CAST: at most MAX_QUEUES.
        self.queues.len() as u32
    }

    /// Disconnects: RNDIS halt, the buffers revoked, the channels closed; the GPADLs go with
    /// the last reference to the datapath (when `self` is dropped). Process context.
    pub(crate) fn stop(&mut self) {
        let id = self.dp.control.next_id();
        let halt = rndis::HaltRequest { request_id: id };
        let header = rndis::MessageHeader::new(rndis::MessageType::Halt, 4);
        let mut msg = [0u8; 12];
        msg[..8].copy_from_slice(header.as_bytes());
        msg[8..].copy_from_slice(halt.as_bytes());
        let _ = self.send_message(0, &msg, nvsp::CHANNEL_TYPE_CONTROL);
        let _ = self.nvsp_send(&nvsp::RevokeReceiveBuffer {
            id: RECEIVE_BUFFER_ID,
        });
        let _ = self.nvsp_send(&nvsp::RevokeSendBuffer {
            id: nvsp::LINUX_SEND_BUFFER_ID,
        });
        // Sub-channels first, the primary last; each NAPI instance lets go of its channel
        // first (it holds the channel, whose handler holds the net_device).
        while let Some(q) = self.queues.pop() {
            // CAST: at most MAX_QUEUES queues.
            self.dp.ndev.set_polled(self.queues.len() as u16, None);
            drop(q);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A session dropped without `stop`: the NAPI instances let go of the channels.
        for q in 0..self.queues.len() {
            // CAST: at most MAX_QUEUES queues.
            self.dp.ndev.set_polled(q as u16, None);
        }
    }
}

/// The first little-endian word of an answer.
fn word(a: &crate::control::Answer) -> Option<u32> {
    a.bytes()
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}
