// SPDX-License-Identifier: GPL-2.0
//! Server tests: a fake platform ([`FakeHost`]: guest RAM in a vector, posted messages and
//! events recorded) and a scripted guest ([`Guest`]) that speaks the protocol the way Linux's
//! `hv_vmbus` does, plus a recording test device.

mod channels;
mod connection;
mod hostile;
mod traffic;

use std::sync::{Arc, Mutex};

use rhv_proto::guid::Guid;
use rhv_proto::ring as wire;
use rhv_proto::vmbus::{self as proto, ChannelMessage, MessageType};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use super::*;
use crate::hv::{DeliveryError, GuestToHost, HostToGuest, HvStatus};
use crate::memory::{GuestMemory, VecMemory};

/// Guest RAM of the tests.
pub const RAM_SIZE: usize = 16 << 20;
/// vCPUs of the fake platform.
pub const VPS: u32 = 4;

/// One message the server posted.
#[derive(Clone, Debug)]
pub struct Posted {
    pub vp: u32,
    pub sint: u8,
    pub message_type: u32,
    pub bytes: Vec<u8>,
}

impl Posted {
    pub fn kind(&self) -> MessageType {
        proto::message_type(&self.bytes).unwrap()
    }
    pub fn parse<T: ChannelMessage>(&self) -> T {
        proto::parse::<T>(&self.bytes).unwrap().0
    }
}

/// The platform side: records what the server sends.
pub struct FakeHost {
    pub mem: VecMemory,
    pub messages: Vec<Posted>,
    pub events: Vec<(u32, u8, u32)>,
}

impl HostToGuest for FakeHost {
    fn post_message(
        &mut self,
        vp: u32,
        sint: u8,
        message_type: u32,
        payload: &[u8],
    ) -> Result<(), DeliveryError> {
        if vp >= VPS {
            return Err(DeliveryError::NoSuchVp(vp));
        }
        if payload.len() > 240 {
            return Err(DeliveryError::TooLarge(payload.len()));
        }
        self.messages.push(Posted {
            vp,
            sint,
            message_type,
            bytes: payload.to_vec(),
        });
        Ok(())
    }
    fn signal_event(&mut self, vp: u32, sint: u8, flag: u32) -> Result<(), DeliveryError> {
        if vp >= VPS {
            return Err(DeliveryError::NoSuchVp(vp));
        }
        self.events.push((vp, sint, flag));
        Ok(())
    }
    fn has_vp(&self, vp: u32) -> bool {
        vp < VPS
    }
    fn memory(&self) -> &dyn GuestMemory {
        &self.mem
    }
}

/// What a [`TestDevice`] saw.
#[derive(Debug, Default)]
pub struct DeviceLog {
    pub opens: Vec<OpenRequest>,
    pub opened: Vec<u16>,
    pub packets: Vec<(u16, u16, u64, Vec<u8>)>,
    pub closes: Vec<u16>,
    pub writable: u32,
    pub send_errors: Vec<SendError>,
    pub polls: u32,
    /// `on_drained` calls.
    pub drained: u32,
}

/// A device that echoes every packet back as a completion, asks for sub-channels when a
/// packet says `sub:N`, and can be told to refuse opens, flood the guest or offer wake
/// descriptors.
pub struct TestDevice {
    pub params: OfferParams,
    pub log: Arc<Mutex<DeviceLog>>,
    pub refuse_open: bool,
    pub flood: bool,
    /// What `wake_fds` offers (numbers only: the server tests never poll them).
    pub wake: Vec<std::os::unix::io::RawFd>,
}

impl TestDevice {
    pub fn new(name: &str, instance: u32, subchannels: u16) -> (Self, Arc<Mutex<DeviceLog>>) {
        let class = Guid::from_fields(
            0xba6163d9,
            0x04a1,
            0x4d29,
            [0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f],
        );
        let inst = Guid::from_fields(instance, 0x1111, 0x2222, [3, 3, 4, 4, 5, 5, 6, 6]);
        let log = Arc::new(Mutex::new(DeviceLog::default()));
        let params = OfferParams::new(name, class, inst).with_subchannels(subchannels);
        (
            Self {
                params,
                log: log.clone(),
                refuse_open: false,
                flood: false,
                wake: Vec::new(),
            },
            log,
        )
    }
}

impl VmbusDevice for TestDevice {
    fn offer(&self) -> OfferParams {
        self.params.clone()
    }
    fn on_open(&mut self, request: &OpenRequest) -> Result<(), OpenRefused> {
        self.log.lock().unwrap().opens.push(request.clone());
        if self.refuse_open {
            return Err(OpenRefused("test says no".into()));
        }
        Ok(())
    }
    fn on_opened(&mut self, ch: &mut ChannelHandle<'_>) {
        self.log.lock().unwrap().opened.push(ch.subchannel_index());
    }
    fn on_packet(&mut self, ch: &mut ChannelHandle<'_>, packet: &IncomingPacket<'_>) {
        let payload = packet.payload.to_vec();
        self.log.lock().unwrap().packets.push((
            ch.subchannel_index(),
            packet.packet_type,
            packet.trans_id,
            payload.clone(),
        ));
        if let Some(n) = payload.strip_prefix(b"sub:") {
            ch.request_subchannels(u16::from(n[0] - b'0'));
        }
        if let Err(e) = ch.send_completion(packet.trans_id, &payload) {
            self.log.lock().unwrap().send_errors.push(e);
        }
    }
    fn on_writable(&mut self, _ch: &mut ChannelHandle<'_>) {
        self.log.lock().unwrap().writable += 1;
    }
    fn on_close(&mut self, subchannel_index: u16) {
        self.log.lock().unwrap().closes.push(subchannel_index);
    }
    fn poll(&mut self, ctx: &mut DeviceContext<'_>) {
        self.log.lock().unwrap().polls += 1;
        if self.flood {
            for idx in ctx.open_channels() {
                if let Some(mut ch) = ctx.channel(idx) {
                    while ch.send_inband(1, &[0x5a; 500], false).is_ok() {}
                }
            }
        }
    }
    fn on_drained(&mut self, _ctx: &mut DeviceContext<'_>) {
        self.log.lock().unwrap().drained += 1;
    }
    fn wake_fds(&self, out: &mut Vec<std::os::unix::io::RawFd>) {
        out.extend_from_slice(&self.wake);
    }
    fn control(&mut self, command: &serde_json::Value) -> Result<serde_json::Value, ControlError> {
        Ok(serde_json::json!({ "echo": command }))
    }
}

/// A guest-side ring in contiguous test RAM: control page at `base`, data after it.
#[derive(Clone, Copy, Debug)]
pub struct GuestRing {
    pub base: u64,
    pub size: u32,
}

impl GuestRing {
    pub fn control(&self, field: u64) -> u64 {
        self.base + field
    }
    fn data(&self, offset: u32) -> u64 {
        self.base + 4096 + u64::from(offset)
    }
    fn write_wrapped(&self, mem: &VecMemory, offset: u32, bytes: &[u8]) {
        let first = bytes.len().min((self.size - offset) as usize);
        mem.write_at(self.data(offset), &bytes[..first]).unwrap();
        mem.write_at(self.data(0), &bytes[first..]).unwrap();
    }
    fn read_wrapped(&self, mem: &VecMemory, offset: u32, buf: &mut [u8]) {
        let first = buf.len().min((self.size - offset) as usize);
        let (a, b) = buf.split_at_mut(first);
        mem.read_at(self.data(offset), a).unwrap();
        mem.read_at(self.data(0), b).unwrap();
    }

    /// Linux's `hv_ringbuffer_write()`: returns whether the host must be signalled, or
    /// `None` if the ring is full.
    pub fn guest_write(&self, mem: &VecMemory, trans_id: u64, payload: &[u8]) -> Option<bool> {
        let read = mem.read_u32(self.control(wire::READ_INDEX_OFFSET)).unwrap();
        let write = mem
            .read_u32(self.control(wire::WRITE_INDEX_OFFSET))
            .unwrap();
        let len = wire::align8(16 + payload.len() as u32);
        if !wire::fits(len + 8, wire::bytes_to_write(read, write, self.size)) {
            return None;
        }
        let d = wire::PacketDescriptor {
            packet_type: 6,
            offset8: 2,
            len8: (len / 8) as u16,
            flags: 1,
            trans_id,
        };
        let mut bytes = d.as_bytes().to_vec();
        bytes.extend_from_slice(payload);
        bytes.resize(len as usize, 0);
        bytes.extend_from_slice(&wire::trailer(write).to_le_bytes());
        self.write_wrapped(mem, write, &bytes);
        let new_write = wire::advance(write, bytes.len() as u32, self.size);
        mem.write_u32(self.control(wire::WRITE_INDEX_OFFSET), new_write)
            .unwrap();
        let mask = mem
            .read_u32(self.control(wire::INTERRUPT_MASK_OFFSET))
            .unwrap();
        let read_now = mem.read_u32(self.control(wire::READ_INDEX_OFFSET)).unwrap();
        Some(wire::signal_after_write(write, read_now, mask))
    }

    /// Linux's `hv_ringbuffer_read()`: the next packet's descriptor and payload.
    pub fn guest_read(&self, mem: &VecMemory) -> Option<(wire::PacketDescriptor, Vec<u8>)> {
        let read = mem.read_u32(self.control(wire::READ_INDEX_OFFSET)).unwrap();
        let write = mem
            .read_u32(self.control(wire::WRITE_INDEX_OFFSET))
            .unwrap();
        let avail = wire::bytes_to_read(read, write, self.size);
        if avail == 0 {
            return None;
        }
        let mut d = [0u8; 16];
        self.read_wrapped(mem, read, &mut d);
        let d = wire::PacketDescriptor::read_from_bytes(&d).unwrap();
        let layout = wire::packet_layout(&d, avail).unwrap();
        let mut bytes = vec![0u8; layout.len as usize];
        self.read_wrapped(mem, read, &mut bytes);
        let mut trailer = [0u8; 8];
        self.read_wrapped(
            mem,
            wire::advance(read, layout.len, self.size),
            &mut trailer,
        );
        assert_eq!(u64::from_le_bytes(trailer), wire::trailer(read));
        mem.write_u32(
            self.control(wire::READ_INDEX_OFFSET),
            wire::advance(read, layout.ring_len, self.size),
        )
        .unwrap();
        Some((d, bytes[layout.data_offset as usize..].to_vec()))
    }
}

/// An open channel as the guest sees it.
#[derive(Clone, Copy, Debug)]
pub struct GuestChannel {
    pub relid: u32,
    pub connection_id: u32,
    pub gpadl: u32,
    /// Guest → host.
    pub outbound: GuestRing,
    /// Host → guest.
    pub inbound: GuestRing,
}

/// The server under test, its platform, and a guest that drives it.
pub struct Guest {
    pub server: VmbusServer,
    pub host: FakeHost,
    next_gpadl: u32,
    next_pfn: u64,
    msg_conn_id: u32,
}

impl Guest {
    pub fn new(max_version: u32) -> Self {
        Self {
            server: VmbusServer::new(max_version),
            host: FakeHost {
                mem: VecMemory::new(RAM_SIZE),
                messages: Vec::new(),
                events: Vec::new(),
            },
            next_gpadl: 0xe1e10,
            next_pfn: 16,
            msg_conn_id: proto::VMBUS_MESSAGE_CONNECTION_ID,
        }
    }

    /// A guest with the four ICs and a test device with `subchannels` sub-channels.
    pub fn with_devices(subchannels: u16) -> (Self, Arc<Mutex<DeviceLog>>) {
        let mut g = Self::new(proto::VERSION_WIN10_V6_0);
        for kind in IcKind::ALL {
            g.server
                .add_device(Box::new(IntegrationComponent::new(kind)))
                .unwrap();
        }
        let (dev, log) = TestDevice::new("test", 0x1000, subchannels);
        assert_eq!(g.server.add_device(Box::new(dev)).unwrap(), 5);
        (g, log)
    }

    pub fn take(&mut self) -> Vec<Posted> {
        std::mem::take(&mut self.host.messages)
    }

    pub fn post_raw(&mut self, connection_id: u32, bytes: &[u8]) -> HvStatus {
        self.server
            .post_message(&mut self.host, connection_id, 1, bytes)
    }

    pub fn post<T: ChannelMessage>(&mut self, msg: &T) -> HvStatus {
        let id = self.msg_conn_id;
        self.post_raw(id, msg.as_bytes())
    }

    pub fn signal(&mut self, connection_id: u32) -> HvStatus {
        self.server.signal_event(&mut self.host, connection_id, 0)
    }

    pub fn poll(&mut self) {
        self.server.poll(&mut self.host);
    }

    /// One INITIATE_CONTACT as `vmbus_try_connection_id()` sends it; returns the response.
    pub fn initiate(&mut self, version: u32, vp: u32) -> proto::VersionResponse {
        let mut m = proto::InitiateContact::new_zeroed();
        m.header = proto::MessageHeader::new(MessageType::InitiateContact);
        m.vmbus_version_requested = version;
        m.target_vcpu = vp;
        let conn = if version >= proto::VERSION_WIN10_V5 {
            m.interrupt_page_or_target_info = proto::InitiateContact::target_info(2, 0, 0);
            proto::VMBUS_MESSAGE_CONNECTION_ID_4
        } else {
            m.interrupt_page_or_target_info = 0x20_0000;
            proto::VMBUS_MESSAGE_CONNECTION_ID
        };
        m.monitor_page1 = 0x21_0000;
        m.monitor_page2 = 0x22_0000;
        assert_eq!(self.post_raw(conn, m.as_bytes()), HvStatus::Success);
        let msgs = self.take();
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert_eq!((msgs[0].vp, msgs[0].sint, msgs[0].message_type), (vp, 2, 1));
        let r: proto::VersionResponse = msgs[0].parse();
        if r.version_supported != 0 && version >= proto::VERSION_WIN10_V5 {
            self.msg_conn_id = r.msg_conn_id;
        }
        r
    }

    /// `vmbus_connect()`: proposes Linux's versions newest first; returns the one accepted
    /// and how many were refused before it.
    pub fn linux_connect(&mut self) -> Option<(u32, usize)> {
        for (refused, &v) in SUPPORTED_VERSIONS.iter().enumerate() {
            if self.initiate(v, 0).version_supported != 0 {
                return Some((v, refused));
            }
        }
        None
    }

    /// `vmbus_request_offers()`: returns the offers, checking ALLOFFERS_DELIVERED comes last.
    pub fn request_offers(&mut self) -> Vec<proto::OfferChannel> {
        let mut m = proto::RequestOffers::new_zeroed();
        m.header = proto::MessageHeader::new(MessageType::RequestOffers);
        assert_eq!(self.post(&m), HvStatus::Success);
        let msgs = self.take();
        let (last, offers) = msgs.split_last().expect("no ALLOFFERS_DELIVERED");
        assert_eq!(last.kind(), MessageType::AllOffersDelivered);
        offers
            .iter()
            .map(|p| p.parse::<proto::OfferChannel>())
            .collect()
    }

    pub fn alloc_pages(&mut self, n: u64) -> u64 {
        let first = self.next_pfn;
        self.next_pfn += n;
        first
    }

    /// Posts the GPADL_HEADER of GPADL `gpadl`: one range of `total` whole pages, of which
    /// the message carries the first PFNs, `first` (the rest follow in GPADL_BODY messages).
    pub fn post_gpadl_header(&mut self, relid: u32, gpadl: u32, total: usize, first: &[u64]) {
        let mut h = proto::GpadlHeader::new_zeroed();
        h.header = proto::MessageHeader::new(MessageType::GpadlHeader);
        h.child_relid = relid;
        h.gpadl = gpadl;
        h.rangecount = 1;
        h.range_buflen = (8 + 8 * total) as u16;
        let mut bytes = h.as_bytes().to_vec();
        bytes.extend_from_slice(
            proto::GpaRange {
                byte_count: total as u32 * 4096,
                byte_offset: 0,
            }
            .as_bytes(),
        );
        bytes.extend(first.iter().flat_map(|p| p.to_le_bytes()));
        assert_eq!(self.post_raw(self.msg_conn_id, &bytes), HvStatus::Success);
    }

    /// `create_gpadl_header()` + `__vmbus_establish_gpadl()`: one range of whole pages,
    /// split over header and body messages. Returns (id, creation status).
    pub fn create_gpadl(&mut self, relid: u32, pfns: &[u64]) -> (u32, u32) {
        let id = self.next_gpadl;
        self.next_gpadl += 1;
        let (first, rest) = pfns.split_at(pfns.len().min(proto::GPADL_HEADER_MAX_PFNS));
        self.post_gpadl_header(relid, id, pfns.len(), first);
        for chunk in rest.chunks(proto::GPADL_BODY_MAX_PFNS) {
            let mut b = proto::GpadlBody::new_zeroed();
            b.header = proto::MessageHeader::new(MessageType::GpadlBody);
            b.gpadl = id;
            let mut bytes = b.as_bytes().to_vec();
            bytes.extend(chunk.iter().flat_map(|p| p.to_le_bytes()));
            assert_eq!(self.post_raw(self.msg_conn_id, &bytes), HvStatus::Success);
        }
        let msgs = self.take();
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        let c: proto::GpadlCreated = msgs[0].parse();
        assert_eq!(({ c.child_relid }, { c.gpadl }), (relid, id));
        (id, c.creation_status)
    }

    /// `vmbus_open()`: ring GPADL, ring init, OPENCHANNEL. Returns the open status.
    pub fn open(
        &mut self,
        relid: u32,
        send_pages: u64,
        recv_pages: u64,
        vp: u32,
    ) -> (u32, GuestChannel) {
        let base = self.alloc_pages(send_pages + recv_pages);
        let pfns: Vec<u64> = (base..base + send_pages + recv_pages).collect();
        let (gpadl, status) = self.create_gpadl(relid, &pfns);
        assert_eq!(status, 0);
        let outbound = GuestRing {
            base: base * 4096,
            size: ((send_pages - 1) * 4096) as u32,
        };
        let inbound = GuestRing {
            base: (base + send_pages) * 4096,
            size: ((recv_pages - 1) * 4096) as u32,
        };
        for r in [outbound, inbound] {
            self.host
                .mem
                .write_u32(r.control(wire::FEATURE_BITS_OFFSET), 1)
                .unwrap();
        }
        let status = self.open_raw(relid, relid, gpadl, vp, send_pages as u32);
        let ch = GuestChannel {
            relid,
            connection_id: 0x2000 | relid,
            gpadl,
            outbound,
            inbound,
        };
        (status.expect("no OPENCHANNEL_RESULT"), ch)
    }

    /// Sends OPENCHANNEL; returns the result status, or `None` if the host did not answer.
    pub fn open_raw(
        &mut self,
        relid: u32,
        openid: u32,
        gpadl: u32,
        vp: u32,
        downstream: u32,
    ) -> Option<u32> {
        let mut m = proto::OpenChannel::new_zeroed();
        m.header = proto::MessageHeader::new(MessageType::OpenChannel);
        m.child_relid = relid;
        m.openid = openid;
        m.ringbuffer_gpadlhandle = gpadl;
        m.target_vp = vp;
        m.downstream_ringbuffer_pageoffset = downstream;
        m.userdata[0] = 0xee;
        assert_eq!(self.post(&m), HvStatus::Success);
        let msgs = self.take();
        let result = msgs
            .iter()
            .find(|p| p.kind() == MessageType::OpenChannelResult)?;
        let r: proto::OpenResult = result.parse();
        assert_eq!(({ r.child_relid }, { r.openid }), (relid, openid));
        Some(r.status)
    }

    pub fn close(&mut self, relid: u32) {
        let mut m = proto::CloseChannel::new_zeroed();
        m.header = proto::MessageHeader::new(MessageType::CloseChannel);
        m.child_relid = relid;
        assert_eq!(self.post(&m), HvStatus::Success);
    }

    pub fn teardown(&mut self, relid: u32, gpadl: u32) {
        let mut m = proto::GpadlTeardown::new_zeroed();
        m.header = proto::MessageHeader::new(MessageType::GpadlTeardown);
        m.child_relid = relid;
        m.gpadl = gpadl;
        assert_eq!(self.post(&m), HvStatus::Success);
    }

    pub fn release(&mut self, relid: u32) {
        let mut m = proto::RelidReleased::new_zeroed();
        m.header = proto::MessageHeader::new(MessageType::RelidReleased);
        m.child_relid = relid;
        assert_eq!(self.post(&m), HvStatus::Success);
    }

    pub fn unload(&mut self) -> Vec<Posted> {
        let mut m = proto::Unload::new_zeroed();
        m.header = proto::MessageHeader::new(MessageType::Unload);
        assert_eq!(self.post(&m), HvStatus::Success);
        self.take()
    }

    /// Connects at 6.0 and takes the offers.
    pub fn boot(&mut self) -> Vec<proto::OfferChannel> {
        assert_eq!(self.linux_connect(), Some((proto::VERSION_WIN10_V6_0, 0)));
        self.request_offers()
    }

    pub fn state_of(&self, relid: u32) -> Option<ChannelState> {
        self.server
            .channels()
            .into_iter()
            .find(|c| c.relid == relid)
            .map(|c| c.state)
    }
}

#[test]
fn the_server_can_move_to_the_event_loop_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<VmbusServer>();
}
