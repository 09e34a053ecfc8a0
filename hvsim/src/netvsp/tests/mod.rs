// SPDX-License-Identifier: GPL-2.0
//! netvsp state-machine tests: fake channels over a vector of guest RAM ([`Bus`]), a queue
//! backend ([`Wire`]), and a scripted guest ([`Guest`]) that speaks NVSP and RNDIS the way
//! Linux's hv_netvsc does (one version per INIT, newest first; control messages as GPA-direct
//! page ranges; data in send-buffer sections; receive completions per transfer).

mod malformed;
mod offload;
mod protocol;
mod traffic;
mod wake;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::os::unix::io::RawFd;
use std::sync::{Arc, Mutex};

use rhv_proto::nvsp::{self, HostMessage};
use rhv_proto::ring::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED};
use rhv_proto::rndis::{self, Message, MessageHeader, MessageType};
use rhv_proto::vmbus::GpaRange;
use zerocopy::IntoBytes;

use super::channel::{ChannelQueue, ChannelSet, VspChannel};
use super::vnet::VnetHeader;
use super::{NetBackend, Netvsp, NetvspConfig};
use crate::memory::{GuestMemory, VecMemory};
use crate::vmbus::{Gpadl, GpadlRange, IncomingPacket, SendError};

pub const RAM: usize = 64 << 20;
pub const PRIMARY_RELID: u32 = 9;
pub const MAC: [u8; 6] = [0x00, 0x15, 0x5d, 0x00, 0x00, 0x42];

/// One packet the host wrote into a fake ring.
#[derive(Clone, Debug)]
pub struct Sent {
    pub packet_type: PacketType,
    /// Descriptor flags (a transfer-page packet asks for a completion).
    pub flags: u16,
    pub trans_id: u64,
    pub extra: Vec<u8>,
    pub payload: Vec<u8>,
}

/// A fake open channel.
#[derive(Debug, Default)]
pub struct FakeChannel {
    pub sent: VecDeque<Sent>,
    /// Refuse packets as if the ring were full.
    pub full: bool,
    pub subchannels_requested: u16,
}

/// Guest RAM, GPADLs and the open channels.
pub struct Bus {
    pub mem: VecMemory,
    pub gpadls: HashMap<u32, Gpadl>,
    pub channels: BTreeMap<u16, FakeChannel>,
}

/// One channel lent to the NIC.
pub struct Handle<'a> {
    index: u16,
    mem: &'a VecMemory,
    gpadls: &'a HashMap<u32, Gpadl>,
    ch: &'a mut FakeChannel,
}

impl VspChannel for Handle<'_> {
    fn subchannel_index(&self) -> u16 {
        self.index
    }
    fn relid(&self) -> u32 {
        PRIMARY_RELID + u32::from(self.index)
    }
    fn memory(&self) -> &dyn GuestMemory {
        self.mem
    }
    fn gpadl(&self, id: u32) -> Option<&Gpadl> {
        self.gpadls.get(&id)
    }
    fn send_packet(
        &mut self,
        packet_type: PacketType,
        flags: u16,
        trans_id: u64,
        extra: &[u8],
        payload: &[u8],
    ) -> Result<(), SendError> {
        if self.ch.full {
            return Err(SendError::Full);
        }
        self.ch.sent.push_back(Sent {
            packet_type,
            flags,
            trans_id,
            extra: extra.to_vec(),
            payload: payload.to_vec(),
        });
        Ok(())
    }
    fn request_subchannels(&mut self, n: u16) {
        self.ch.subchannels_requested += n;
    }
}

impl Bus {
    pub fn handle(&mut self, index: u16) -> Handle<'_> {
        Handle {
            index,
            mem: &self.mem,
            gpadls: &self.gpadls,
            ch: self.channels.get_mut(&index).expect("channel not open"),
        }
    }
}

impl ChannelSet for Bus {
    fn open_channels(&self) -> Vec<u16> {
        self.channels.keys().copied().collect()
    }
    fn with_channel(&mut self, index: u16, f: &mut dyn FnMut(&mut dyn VspChannel)) -> bool {
        if !self.channels.contains_key(&index) {
            return false;
        }
        f(&mut self.handle(index));
        true
    }
}

/// The host network: frames the NIC sent, frames waiting for it.
#[derive(Debug, Default)]
pub struct WireState {
    pub to_host: Vec<Vec<u8>>,
    /// The offload header of each frame in `to_host`.
    pub to_host_offload: Vec<VnetHeader>,
    pub from_host: VecDeque<Vec<u8>>,
    /// Offload headers of the frames in `from_host` (none: all zero).
    pub from_host_offload: VecDeque<VnetHeader>,
    pub fail_sends: bool,
    /// Fail receives as a TAP that went away does.
    pub fail_recvs: bool,
    /// The descriptor the backend claims (a number only: the tests never poll it).
    pub wake_fd: Option<RawFd>,
}

#[derive(Clone, Default)]
pub struct Wire(pub Arc<Mutex<WireState>>);

impl NetBackend for Wire {
    fn send(&mut self, offload: &VnetHeader, frame: &[u8]) -> io::Result<()> {
        let mut w = self.0.lock().unwrap();
        if w.fail_sends {
            return Err(io::Error::other("wire cut"));
        }
        w.to_host.push(frame.to_vec());
        w.to_host_offload.push(*offload);
        Ok(())
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, VnetHeader)>> {
        let mut w = self.0.lock().unwrap();
        if w.fail_recvs {
            return Err(io::Error::other("wire cut"));
        }
        let Some(f) = w.from_host.pop_front() else {
            return Ok(None);
        };
        let offload = w.from_host_offload.pop_front().unwrap_or_default();
        let n = f.len().min(buf.len());
        buf[..n].copy_from_slice(&f[..n]);
        Ok(Some((n, offload)))
    }
    fn wake_fd(&self) -> Option<RawFd> {
        self.0.lock().unwrap().wake_fd
    }
}

/// An RNDIS message the host delivered through the receive buffer.
#[derive(Clone, Debug)]
pub struct Received {
    pub channel: u16,
    pub bytes: Vec<u8>,
}

impl Received {
    pub fn message(&self) -> Message<'_> {
        Message::split(&self.bytes).unwrap().0
    }
    pub fn kind(&self) -> MessageType {
        self.message().kind().unwrap()
    }
}

/// The NIC under test and a guest driving it.
pub struct Guest {
    pub nic: Netvsp,
    pub bus: Bus,
    pub wire: Wire,
    next_trans: u64,
    next_gpadl: u32,
    next_pfn: u64,
    next_request: u32,
    pub recv_gpadl: u32,
    pub send_gpadl: u32,
    /// Receive buffer layout from SEND_RECV_BUF_COMPLETE.
    pub recv_section: Option<nvsp::ReceiveBufferSection>,
    /// Send section size from SEND_SEND_BUF_COMPLETE.
    pub send_section_size: u32,
    /// Scratch page for control messages.
    scratch_pfn: u64,
}

impl Guest {
    pub fn new(config: NetvspConfig) -> Self {
        let wire = Wire::default();
        let nic = Netvsp::with_backend(config, Box::new(wire.clone()));
        let mut g = Self {
            nic,
            bus: Bus {
                mem: VecMemory::new(RAM),
                gpadls: HashMap::new(),
                channels: BTreeMap::new(),
            },
            wire,
            next_trans: 0x1000,
            next_gpadl: 0xe1e10,
            next_pfn: 16,
            next_request: 1,
            recv_gpadl: 0,
            send_gpadl: 0,
            recv_section: None,
            send_section_size: 0,
            scratch_pfn: 0,
        };
        g.scratch_pfn = g.alloc_pages(2);
        g.open_channel(0);
        g
    }

    pub fn config(queues: u16) -> NetvspConfig {
        let mut c = NetvspConfig::new("tap-test", MAC);
        c.queues = queues;
        c
    }

    pub fn alloc_pages(&mut self, n: u64) -> u64 {
        let first = self.next_pfn;
        self.next_pfn += n;
        first
    }

    /// What VMBus does when the guest opens a channel.
    pub fn open_channel(&mut self, index: u16) {
        self.bus.channels.insert(index, FakeChannel::default());
        self.nic.queues.insert(index, ChannelQueue::default());
    }

    /// A GPADL of `pages` fresh pages on the primary channel; returns (id, first PFN).
    pub fn create_gpadl(&mut self, pages: u64) -> (u32, u64) {
        let id = self.next_gpadl;
        self.next_gpadl += 1;
        let first = self.alloc_pages(pages);
        self.bus.gpadls.insert(
            id,
            Gpadl {
                relid: PRIMARY_RELID,
                ranges: vec![GpadlRange {
                    byte_offset: 0,
                    byte_count: (pages * 4096) as u32,
                    pfns: (first..first + pages).collect(),
                }],
            },
        );
        (id, first)
    }

    /// Delivers one guest packet to the NIC.
    pub fn packet(
        &mut self,
        channel: u16,
        packet_type: PacketType,
        completion: bool,
        extra: &[u8],
        payload: &[u8],
    ) -> u64 {
        let trans_id = self.next_trans;
        self.next_trans += 1;
        let p = IncomingPacket {
            packet_type: packet_type as u16,
            flags: if completion {
                PACKET_FLAG_COMPLETION_REQUESTED
            } else {
                0
            },
            trans_id,
            extra,
            payload,
        };
        let mut h = self.bus.handle(channel);
        self.nic.handle_packet(&mut h, &p);
        trans_id
    }

    /// An in-band NVSP message with a completion requested.
    pub fn request(&mut self, channel: u16, payload: &[u8]) -> u64 {
        self.packet(channel, PacketType::DataInband, true, &[], payload)
    }

    /// The next packet the host sent on `channel`.
    pub fn take(&mut self, channel: u16) -> Option<Sent> {
        self.bus.channels.get_mut(&channel)?.sent.pop_front()
    }

    /// The completion of `trans_id`, parsed.
    pub fn completion(&mut self, channel: u16, trans_id: u64) -> HostMessage {
        let s = self.take(channel).expect("no completion");
        assert_eq!(s.packet_type, PacketType::Completion, "{s:?}");
        assert_eq!(s.trans_id, trans_id);
        HostMessage::parse(&s.payload).unwrap()
    }

    /// The event loop's tick.
    pub fn poll(&mut self) {
        self.nic.service(&mut self.bus);
    }

    /// The event loop found the backend's wake descriptor ready.
    pub fn wake(&mut self) {
        self.nic.wake(&mut self.bus);
    }

    /// Linux's `negotiate_nvsp_ver()` loop: returns the version accepted.
    pub fn negotiate(&mut self) -> u32 {
        for v in nvsp::ALL_VERSIONS {
            let t = self.request(
                0,
                &nvsp::encode(&nvsp::Init {
                    min_protocol_version: v,
                    max_protocol_version: v,
                }),
            );
            match self.completion(0, t) {
                HostMessage::InitComplete(c) if { c.status } == nvsp::STATUS_SUCCESS => return v,
                HostMessage::InitComplete(_) => continue,
                other => panic!("{other:?}"),
            }
        }
        panic!("no version accepted")
    }

    /// `netvsc_connect_vsp()` + `netvsc_init_buf()` with a 16 MiB receive and 1 MiB send
    /// buffer and the given MTU.
    pub fn connect(&mut self, mtu: u32) {
        assert_eq!(self.negotiate(), nvsp::VERSION_61);
        let cfg = nvsp::SendNdisConfig {
            mtu: mtu + 14,
            reserved: 0,
            capabilities: nvsp::CAPABILITY_IEEE8021Q | nvsp::CAPABILITY_TEAMING,
        };
        self.packet(0, PacketType::DataInband, false, &[], &nvsp::encode(&cfg));
        let ver = nvsp::SendNdisVersion {
            ndis_major_version: 6,
            ndis_minor_version: 30,
        };
        self.packet(0, PacketType::DataInband, false, &[], &nvsp::encode(&ver));
        let (recv, _) = self.create_gpadl(4096);
        self.recv_gpadl = recv;
        let t = self.request(
            0,
            &nvsp::encode(&nvsp::SendReceiveBuffer {
                gpadl_handle: recv,
                id: nvsp::LINUX_RECEIVE_BUFFER_ID,
            }),
        );
        match self.completion(0, t) {
            HostMessage::SendReceiveBufferComplete(c) => {
                assert_eq!({ c.status }, nvsp::STATUS_SUCCESS);
                assert_eq!({ c.num_sections }, 1);
                self.recv_section = Some(c.section);
            }
            other => panic!("{other:?}"),
        }
        let (send, _) = self.create_gpadl(256);
        self.send_gpadl = send;
        let t = self.request(
            0,
            &nvsp::encode(&nvsp::SendSendBuffer {
                gpadl_handle: send,
                id: nvsp::LINUX_SEND_BUFFER_ID,
            }),
        );
        match self.completion(0, t) {
            HostMessage::SendSendBufferComplete(c) => {
                assert_eq!({ c.status }, nvsp::STATUS_SUCCESS);
                self.send_section_size = c.section_size;
            }
            other => panic!("{other:?}"),
        }
    }

    /// GPA-direct ranges for `len` bytes at `gpa` (one range).
    pub fn gpa_direct(gpa: u64, len: u32) -> Vec<u8> {
        let mut extra = vec![0u8; 4];
        extra.extend_from_slice(&1u32.to_le_bytes());
        let offset = (gpa % 4096) as u32;
        extra.extend_from_slice(
            GpaRange {
                byte_count: len,
                byte_offset: offset,
            }
            .as_bytes(),
        );
        let pages = (u64::from(offset) + u64::from(len)).div_ceil(4096);
        for p in 0..pages {
            extra.extend_from_slice(&(gpa / 4096 + p).to_le_bytes());
        }
        extra
    }

    /// Sends an RNDIS control message the way `rndis_filter_send_request()` does: GPA-direct,
    /// no send-buffer section. Returns the NVSP completion status.
    pub fn send_rndis_gpa(&mut self, message: &[u8]) -> u32 {
        let gpa = self.scratch_pfn * 4096 + 100;
        self.bus.mem.write_at(gpa, message).unwrap();
        let extra = Self::gpa_direct(gpa, message.len() as u32);
        let payload = nvsp::encode(&nvsp::SendRndisPacket {
            channel_type: nvsp::CHANNEL_TYPE_CONTROL,
            send_buffer_section_index: nvsp::INVALID_SECTION_INDEX,
            send_buffer_section_size: 0,
        });
        let t = self.packet(0, PacketType::DataUsingGpaDirect, true, &extra, &payload);
        match self.completion(0, t) {
            HostMessage::SendRndisPacketComplete(c) => c.status,
            other => panic!("{other:?}"),
        }
    }

    /// Sends `messages` (data) in send-buffer section `section` on `channel`; returns the
    /// NVSP completion status.
    pub fn send_in_section(&mut self, channel: u16, section: u32, messages: &[u8]) -> u32 {
        let g = &self.bus.gpadls[&self.send_gpadl];
        let base = g.ranges[0].pfns[0] * 4096;
        let gpa = base + u64::from(section) * u64::from(self.send_section_size);
        self.bus.mem.write_at(gpa, messages).unwrap();
        let payload = nvsp::encode(&nvsp::SendRndisPacket {
            channel_type: nvsp::CHANNEL_TYPE_DATA,
            send_buffer_section_index: section,
            send_buffer_section_size: messages.len() as u32,
        });
        let t = self.packet(channel, PacketType::DataInband, true, &[], &payload);
        match self.completion(channel, t) {
            HostMessage::SendRndisPacketComplete(c) => c.status,
            other => panic!("{other:?}"),
        }
    }

    /// Reads every transfer-page packet the host sent on `channel` and completes each, as
    /// `netvsc_receive()` does; returns the RNDIS messages in order. Other packets stay. The
    /// NIC then sees the end of the drain, as the server tells it after a signal.
    pub fn receive(&mut self, channel: u16) -> Vec<Received> {
        let mut out = Vec::new();
        let mut others = VecDeque::new();
        while let Some(s) = self.take(channel) {
            if s.packet_type != PacketType::DataUsingTransferPages {
                others.push_back(s);
                continue;
            }
            assert_eq!(s.flags, PACKET_FLAG_COMPLETION_REQUESTED);
            let id = u16::from_le_bytes([s.extra[0], s.extra[1]]);
            assert_eq!(id, nvsp::LINUX_RECEIVE_BUFFER_ID);
            let count = u32::from_le_bytes(s.extra[4..8].try_into().unwrap()) as usize;
            assert_eq!(s.extra.len(), 8 + 8 * count);
            assert!(matches!(
                HostMessage::parse(&s.payload),
                Ok(HostMessage::SendRndisPacket(_))
            ));
            let base = self.bus.gpadls[&self.recv_gpadl].ranges[0].pfns[0] * 4096;
            for r in s.extra[8..].chunks_exact(8) {
                let len = u32::from_le_bytes(r[..4].try_into().unwrap());
                let offset = u32::from_le_bytes(r[4..].try_into().unwrap());
                let section = self.recv_section.unwrap();
                assert!(len <= section.sub_allocation_size);
                assert_eq!(offset % section.sub_allocation_size, 0);
                let mut bytes = vec![0u8; len as usize];
                self.bus
                    .mem
                    .read_at(base + u64::from(offset), &mut bytes)
                    .unwrap();
                out.push(Received { channel, bytes });
            }
            self.complete_transfer(channel, s.trans_id);
        }
        if let Some(ch) = self.bus.channels.get_mut(&channel) {
            ch.sent = others;
        }
        self.nic.after_drain(&mut self.bus);
        out
    }

    /// Completes one transfer-page packet the way [`Guest::receive`] does, without the end of
    /// the drain.
    pub fn complete_transfer(&mut self, channel: u16, trans_id: u64) {
        let done = nvsp::encode(&nvsp::SendRndisPacketComplete {
            status: nvsp::STATUS_SUCCESS,
        });
        let p = IncomingPacket {
            packet_type: PacketType::Completion as u16,
            flags: 0,
            trans_id,
            extra: &[],
            payload: &done[..8],
        };
        let mut h = self.bus.handle(channel);
        self.nic.handle_packet(&mut h, &p);
    }

    pub fn next_request_id(&mut self) -> u32 {
        self.next_request += 1;
        self.next_request
    }

    /// An RNDIS QUERY for `oid` with `info` as input; returns (status, answer).
    pub fn query(&mut self, oid: u32, info: &[u8]) -> (u32, Vec<u8>) {
        let id = self.next_request_id();
        let r = rndis::OidRequest {
            request_id: id,
            oid,
            info_buffer_length: info.len() as u32,
            info_buffer_offset: 20,
            device_vc_handle: 0,
        };
        let msg = super::rndis_control::message(MessageType::Query, &[r.as_bytes(), info]);
        assert_eq!(self.send_rndis_gpa(&msg), nvsp::STATUS_SUCCESS);
        let got = self.receive(0);
        assert_eq!(got.len(), 1, "{got:?}");
        let m = got[0].message();
        assert_eq!(m.kind(), Ok(MessageType::QueryComplete));
        let c: rndis::QueryComplete = m.fixed().unwrap();
        assert_eq!({ c.request_id }, id);
        let off = c.info_buffer_offset as usize;
        assert!(off >= 16);
        let answer = m.body[off..off + c.info_buffer_length as usize].to_vec();
        (c.status, answer)
    }

    /// An RNDIS SET; returns its status.
    pub fn set(&mut self, oid: u32, info: &[u8]) -> u32 {
        let id = self.next_request_id();
        let r = rndis::OidRequest {
            request_id: id,
            oid,
            info_buffer_length: info.len() as u32,
            info_buffer_offset: 20,
            device_vc_handle: 0,
        };
        let msg = super::rndis_control::message(MessageType::Set, &[r.as_bytes(), info]);
        assert_eq!(self.send_rndis_gpa(&msg), nvsp::STATUS_SUCCESS);
        let got = self.receive(0);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].kind(), MessageType::SetComplete);
        let c: rndis::RequestComplete = got[0].message().fixed().unwrap();
        assert_eq!({ c.request_id }, id);
        c.status
    }

    /// `rndis_filter_init_device()`: returns the INITIALIZE_CMPLT.
    pub fn rndis_init(&mut self) -> rndis::InitializeComplete {
        let id = self.next_request_id();
        let r = rndis::InitializeRequest {
            request_id: id,
            major_version: 1,
            minor_version: 0,
            max_transfer_size: 0x4000,
        };
        let msg = super::rndis_control::message(MessageType::Initialize, &[r.as_bytes()]);
        assert_eq!(self.send_rndis_gpa(&msg), nvsp::STATUS_SUCCESS);
        let got = self.receive(0);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].kind(), MessageType::InitializeComplete);
        got[0].message().fixed().unwrap()
    }

    /// Everything up to an open interface: connect, RNDIS init, packet filter.
    pub fn bring_up(&mut self) {
        self.connect(1500);
        assert_eq!({ self.rndis_init().status }, rndis::STATUS_SUCCESS);
        let filter = rhv_proto::ndis::PACKET_TYPE_DIRECTED
            | rhv_proto::ndis::PACKET_TYPE_BROADCAST
            | rhv_proto::ndis::PACKET_TYPE_ALL_MULTICAST;
        assert_eq!(
            self.set(
                rhv_proto::ndis::OID_GEN_CURRENT_PACKET_FILTER,
                &filter.to_le_bytes()
            ),
            rndis::STATUS_SUCCESS
        );
    }

    pub fn bad_packets(&self) -> u64 {
        self.nic.stats.bad_packets
    }
}

/// An RNDIS data message carrying `frame`, as `netvsc_xmit()` builds it (no PPI).
pub fn data_message(frame: &[u8]) -> Vec<u8> {
    let mut v = MessageHeader::new(MessageType::Packet, 36 + frame.len())
        .as_bytes()
        .to_vec();
    v.extend_from_slice(rndis::Packet::new(frame.len() as u32, 0).as_bytes());
    v.extend_from_slice(frame);
    v
}

/// An Ethernet frame to `dst` with a recognisable payload.
pub fn frame(dst: [u8; 6], tag: u8, len: usize) -> Vec<u8> {
    let mut f = vec![tag; len];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    f
}

/// The frame of a delivered data message.
pub fn frame_of(r: &Received) -> Vec<u8> {
    assert_eq!(r.kind(), MessageType::Packet);
    r.message().packet().unwrap().data.to_vec()
}
