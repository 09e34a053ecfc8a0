// SPDX-License-Identifier: GPL-2.0
//! storvsp behind the real VMBus server: offers, ring buffers, sub-channels, GPA-direct
//! packets and the unsolicited ENUMERATE_BUS, driven by the server tests' scripted guest.

use rhv_proto::ring::{self as wire, PacketType};
use rhv_proto::vmbus as proto;
use rhv_proto::vstor::{self, Operation, ScsiRequest, VstorPacket};
use serde_json::json;
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use crate::hv::HvStatus;
use crate::memory::{GuestMemory, VecMemory};
use crate::scsi::cdb::{READ_16, WRITE_16};
use crate::storvsp::gpa_direct::{encode_ranges, PageRange};
use crate::storvsp::{Storvsp, StorvspConfig};
use crate::vmbus::tests::{Guest, GuestChannel, GuestRing};
use crate::vmbus::ChannelTarget;

/// Linux's `vmbus_sendpacket_mpb_desc()`: a GPA-direct packet into the guest → host ring.
fn write_gpa_direct(
    ring: &GuestRing,
    mem: &VecMemory,
    trans_id: u64,
    extra: &[u8],
    payload: &[u8],
) {
    let read = mem.read_u32(ring.control(wire::READ_INDEX_OFFSET)).unwrap();
    let write = mem
        .read_u32(ring.control(wire::WRITE_INDEX_OFFSET))
        .unwrap();
    let header = 16 + extra.len() as u32;
    let len = wire::align8(header + payload.len() as u32);
    assert!(wire::fits(
        len + 8,
        wire::bytes_to_write(read, write, ring.size)
    ));
    let d = wire::PacketDescriptor {
        packet_type: PacketType::DataUsingGpaDirect as u16,
        offset8: (header / 8) as u16,
        len8: (len / 8) as u16,
        flags: wire::PACKET_FLAG_COMPLETION_REQUESTED,
        trans_id,
    };
    let mut bytes = d.as_bytes().to_vec();
    bytes.extend_from_slice(extra);
    bytes.extend_from_slice(payload);
    bytes.resize(len as usize, 0);
    bytes.extend_from_slice(&wire::trailer(write).to_le_bytes());
    for (i, b) in bytes.iter().enumerate() {
        let at = wire::advance(write, i as u32, ring.size);
        mem.write_at(ring.base + 4096 + u64::from(at), &[*b])
            .unwrap();
    }
    let new_write = wire::advance(write, bytes.len() as u32, ring.size);
    mem.write_u32(ring.control(wire::WRITE_INDEX_OFFSET), new_write)
        .unwrap();
}

/// Sends an in-band VSTOR request and returns its completion.
fn call(g: &mut Guest, ch: &GuestChannel, trans_id: u64, packet: &VstorPacket) -> VstorPacket {
    assert!(ch
        .outbound
        .guest_write(&g.host.mem, trans_id, packet.as_bytes())
        .is_some());
    assert_eq!(g.signal(ch.connection_id), HvStatus::Success);
    completion(g, ch, trans_id)
}

fn completion(g: &mut Guest, ch: &GuestChannel, trans_id: u64) -> VstorPacket {
    let (d, payload) = ch.inbound.guest_read(&g.host.mem).expect("no completion");
    assert_eq!({ d.packet_type }, PacketType::Completion as u16);
    assert_eq!({ d.trans_id }, trans_id);
    assert_eq!(payload.len(), 64);
    let reply = VstorPacket::read_from_bytes(&payload).unwrap();
    assert_eq!(reply.operation(), Ok(Operation::CompleteIo));
    reply
}

fn request(op: Operation) -> VstorPacket {
    let mut p = VstorPacket::new(op);
    p.header.flags = vstor::FLAG_REQUEST_COMPLETION;
    p
}

fn rw_srb(op: u8, lba: u64, blocks: u32, data_in: u8, len: u32) -> VstorPacket {
    let mut srb = ScsiRequest::new_zeroed();
    srb.length = 52;
    srb.cdb_length = 16;
    srb.cdb[0] = op;
    srb.cdb[2..10].copy_from_slice(&lba.to_be_bytes());
    srb.cdb[10..14].copy_from_slice(&blocks.to_be_bytes());
    srb.data_in = data_in;
    srb.data_transfer_length = len;
    let mut p = request(Operation::ExecuteSrb);
    p.set_srb(&srb);
    p
}

#[test]
fn linux_session_through_the_server() {
    let mut g = Guest::new(proto::VERSION_WIN10_V6_0);
    let config = StorvspConfig::new(0, vec!["ram:size=8M".parse().unwrap()], 2);
    let instance = config.instance;
    let relid = g
        .server
        .add_device(Box::new(Storvsp::new(config).unwrap()))
        .unwrap();
    let offers = g.boot();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].offer.if_type, vstor::SCSI_CLASS_ID);
    let (status, ch) = g.open(relid, 4, 4, 0);
    assert_eq!(status, 0);

    // storvsc_channel_init().
    assert_eq!(
        {
            call(&mut g, &ch, 1, &request(Operation::BeginInitialization))
                .header
                .status
        },
        0
    );
    let mut v = request(Operation::QueryProtocolVersion);
    v.set_version(&vstor::ProtocolVersion {
        major_minor: vstor::VERSION_WIN10,
        revision: 0,
    });
    assert_eq!({ call(&mut g, &ch, 1, &v).header.status }, 0);
    let props = call(&mut g, &ch, 1, &request(Operation::QueryProperties)).properties();
    assert_eq!({ props.max_channel_count }, 1);
    assert_eq!(
        {
            call(&mut g, &ch, 1, &request(Operation::EndInitialization))
                .header
                .status
        },
        0
    );

    // handle_multichannel_storage(): the server offers the sub-channel.
    g.take();
    let mut sc = request(Operation::CreateSubChannels);
    sc.set_sub_channel_count(1);
    assert_eq!({ call(&mut g, &ch, 1, &sc).header.status }, 0);
    let offers: Vec<proto::OfferChannel> = g
        .take()
        .iter()
        .filter(|m| m.kind() == proto::MessageType::OfferChannel)
        .map(|m| m.parse())
        .collect();
    assert_eq!(offers.len(), 1);
    assert_eq!({ offers[0].offer.sub_channel_index }, 1);
    let (status, sub) = g.open(offers[0].child_relid, 4, 4, 1);
    assert_eq!(status, 0);

    // A write on the sub-channel, a read back on the primary, through guest pages.
    let pages = g.alloc_pages(3);
    let data: Vec<u8> = (0..8192u32).map(|i| (i * 31 % 256) as u8).collect();
    g.host.mem.write_at(pages * 4096 + 0x80, &data).unwrap();
    let range = |pfn: u64| {
        encode_ranges(&[PageRange {
            byte_offset: 0x80,
            byte_count: 8192,
            pfns: vec![pfn, pfn + 1, pfn + 2],
        }])
    };
    let write = rw_srb(WRITE_16, 40, 16, vstor::DATA_IN_WRITE, 8192);
    write_gpa_direct(
        &sub.outbound,
        &g.host.mem,
        7,
        &range(pages),
        write.as_bytes(),
    );
    assert_eq!(g.signal(sub.connection_id), HvStatus::Success);
    let srb = completion(&mut g, &sub, 7).srb();
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_SUCCESS);
    assert_eq!({ srb.data_transfer_length }, 8192);

    let back = g.alloc_pages(3);
    let read = rw_srb(READ_16, 40, 16, vstor::DATA_IN_READ, 8192);
    write_gpa_direct(&ch.outbound, &g.host.mem, 8, &range(back), read.as_bytes());
    assert_eq!(g.signal(ch.connection_id), HvStatus::Success);
    assert_eq!(
        completion(&mut g, &ch, 8).srb().srb_status,
        vstor::SRB_STATUS_SUCCESS
    );
    let mut got = vec![0u8; 8192];
    g.host.mem.read_at(back * 4096 + 0x80, &mut got).unwrap();
    assert!(got == data);

    // Hot-add: the next poll sends ENUMERATE_BUS, unsolicited (transaction id 0).
    let r = g.server.control(
        ChannelTarget::Instance(instance),
        &json!({"op": "add_disk", "disk": "ram:size=1M"}),
    );
    assert_eq!(r, Ok(json!({"lun": 1})));
    g.poll();
    let (d, payload) = ch
        .inbound
        .guest_read(&g.host.mem)
        .expect("no ENUMERATE_BUS");
    assert_eq!(
        ({ d.packet_type }, { d.trans_id }),
        (PacketType::DataInband as u16, 0)
    );
    assert_eq!(
        &payload[..4],
        &(Operation::EnumerateBus as u32).to_le_bytes()
    );
    g.poll();
    assert!(
        ch.inbound.guest_read(&g.host.mem).is_none(),
        "notified once"
    );

    let stats = g
        .server
        .control(ChannelTarget::Instance(instance), &json!({"op": "stats"}))
        .unwrap();
    assert_eq!(stats["protocol"], "6.2");
    assert_eq!(stats["open_channels"], json!([0, 1]));
    assert_eq!(stats["disks"][0]["bytes_written"], 8192);
    assert_eq!(stats["counters"]["rescans_sent"], 1);
    assert_eq!(stats["channel_srbs"], json!({"0": 1, "1": 1}));

    // Closing the primary channel resets the protocol.
    g.close(relid);
    let stats = g
        .server
        .control(ChannelTarget::Instance(instance), &json!({"op": "stats"}))
        .unwrap();
    assert_eq!(stats["state"], "await_begin");
}
