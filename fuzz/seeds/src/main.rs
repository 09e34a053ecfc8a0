// SPDX-License-Identifier: GPL-2.0
//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`: valid
//! encodings built with `rhv-proto` itself, in each target's input format (see the comment
//! at the top of each `fuzz/fuzz_targets/*.rs`), so that fuzzing starts from messages that
//! get past the first checks. Run `cargo run --manifest-path fuzz/Cargo.toml -p
//! rhv-fuzz-seeds`; it replaces the `seed-*` files and leaves other corpus files alone.

use std::fs;
use std::path::PathBuf;

use rhv_proto::ic::{self, IcMessageHeader, IcMessageType, IcVersion};
use rhv_proto::kvp::{self, KvpMessage, KvpOperation, KvpPool};
use rhv_proto::ndis::{self, ConfigParameterInfo, ObjectHeader, OffloadParameters, RssParameters};
use rhv_proto::negotiate;
use rhv_proto::nvsp;
use rhv_proto::offer;
use rhv_proto::ring::{self, PacketDescriptor, PacketType};
use rhv_proto::rndis::{self, MessageHeader, MessageType as Rndis, PerPacketInfo};
use rhv_proto::vmbus::{self, MessageHeader as VmbusHeader};
use rhv_proto::vstor::{self, Operation, ScsiRequest, VstorPacket};
use zerocopy::{FromZeros, IntoBytes};

struct Corpus {
    root: PathBuf,
    written: usize,
}

impl Corpus {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        self.written += bytes.len();
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

fn ring_index(c: &mut Corpus) {
    for (name, size, read, write, len, pending) in [
        ("empty", 4096u64, 0u32, 0u32, 24u32, 0u32),
        ("wrapped", 4096, 4000, 16, 112, 0),
        ("waiting", 8192, 64, 8, 56, 40),
        ("small", 32, 8, 0, 24, 24),
    ] {
        let bytes = cat(&[
            &size.to_le_bytes(),
            &le32(read),
            &le32(write),
            &le32(len),
            &le32(pending),
        ]);
        c.put("ring_index", name, &bytes);
    }
}

/// The bytes of one packet in the ring: descriptor, payload padded to 8, trailer.
fn ring_packet(start: u32, ty: PacketType, payload: &[u8], id: u64) -> Vec<u8> {
    let len = 16 + payload.len() as u32;
    let d = PacketDescriptor {
        packet_type: ty as u16,
        offset8: 2,
        len8: (ring::align8(len) / 8) as u16,
        flags: ring::PACKET_FLAG_COMPLETION_REQUESTED,
        trans_id: id,
    };
    let mut p = cat(&[d.as_bytes(), payload]);
    p.resize(ring::align8(len) as usize, 0);
    p.extend_from_slice(&ring::trailer(start).to_le_bytes());
    p
}

fn ring_reader(c: &mut Corpus) {
    // A 512-byte ring (selector 63) with three packets from 0, and one that wraps.
    let size = 512u32;
    let mut area = Vec::new();
    for (i, payload) in [&b"hello"[..], &[7u8; 40][..], &[]].iter().enumerate() {
        let start = area.len() as u32;
        area.extend(ring_packet(
            start,
            PacketType::DataInband,
            payload,
            i as u64,
        ));
    }
    let write = area.len() as u32;
    area.resize(size as usize, 0);
    for flags in [0u8, 1, 2] {
        let mut bytes = cat(&[
            &63u16.to_le_bytes(),
            &le32(0),
            &le32(write),
            &[flags],
            &area,
        ]);
        if flags == 2 {
            bytes.extend_from_slice(&le32(write));
        }
        c.put("ring_reader", &format!("three-{flags}"), &bytes);
    }
    let start = 480u32;
    let p = ring_packet(start, PacketType::Completion, &[1u8; 20], 9);
    let mut area = vec![0u8; size as usize];
    for (i, b) in p.iter().enumerate() {
        area[(start as usize + i) % size as usize] = *b;
    }
    let write = (start + p.len() as u32) % size;
    let bytes = cat(&[
        &63u16.to_le_bytes(),
        &le32(start),
        &le32(write),
        &[0],
        &area,
    ]);
    c.put("ring_reader", "wrapped", &bytes);
}

fn ring_roundtrip(c: &mut Corpus) {
    // Ops: 0 write (length, payload), 1 read, 2 commit, 3 toggle the mask.
    let mut fill = vec![];
    for _ in 0..6 {
        fill.extend_from_slice(&[0, 40]);
        fill.extend_from_slice(&[0x5a; 40]);
    }
    fill.extend_from_slice(&[1, 1, 2, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1, 2]);
    c.put(
        "ring_roundtrip",
        "fill-and-drain",
        &cat(&[&4u16.to_le_bytes(), &fill]),
    );
    let small = [0u8, 0, 1, 2, 0, 3, 1, 2, 3, 0, 0, 1, 2];
    c.put(
        "ring_roundtrip",
        "small",
        &cat(&[&0u16.to_le_bytes(), &small]),
    );
}

fn vmbus_header<T: vmbus::ChannelMessage>(m: &mut T) {
    let h = VmbusHeader::new(T::TYPE);
    m.as_mut_bytes()[..8].copy_from_slice(h.as_bytes());
}

fn vmbus_msg(c: &mut Corpus) {
    macro_rules! seed {
        ($t:ty, $name:literal $(, $f:ident = $v:expr)*) => {{
            let mut m = <$t>::new_zeroed();
            vmbus_header(&mut m);
            $(m.$f = $v;)*
            c.put("vmbus_msg", $name, m.as_bytes());
        }};
    }
    seed!(
        vmbus::OpenResult,
        "open-result",
        child_relid = 5,
        openid = 5
    );
    seed!(
        vmbus::GpadlCreated,
        "gpadl-created",
        child_relid = 5,
        gpadl = 0xe1e10
    );
    seed!(vmbus::GpadlTorndown, "gpadl-torndown", gpadl = 0xe1e10);
    seed!(
        vmbus::VersionResponse,
        "version-response",
        version_supported = 1,
        msg_conn_id = 4
    );
    seed!(
        vmbus::VersionResponse2,
        "version-response2",
        version_supported = 1,
        supported_features = 0x10
    );
    seed!(vmbus::RescindChannelOffer, "rescind", child_relid = 9);
    seed!(vmbus::AllOffersDelivered, "all-offers");
    seed!(vmbus::UnloadResponse, "unload-response");
    seed!(
        vmbus::ModifyChannelResponse,
        "modify-response",
        child_relid = 3
    );
    seed!(
        vmbus::InitiateContact,
        "initiate-contact",
        vmbus_version_requested = vmbus::VERSION_WIN10_V6_0
    );
    seed!(
        vmbus::OpenChannel,
        "open",
        child_relid = 5,
        downstream_ringbuffer_pageoffset = 17
    );
    let mut m = [0u8; vmbus::MAX_MESSAGE_SIZE];
    let pfns: Vec<u64> = (0x1000..0x1000 + 30).collect();
    let mut plan = rhv_proto::gpadl::GpadlMessages::new(5, 0xe1e10, &pfns).unwrap();
    let len = plan.next_message(&mut m).unwrap();
    c.put("vmbus_msg", "gpadl-header", &m[..len]);
    let len = plan.next_message(&mut m).unwrap();
    c.put("vmbus_msg", "gpadl-body", &m[..len]);
}

fn offer_message(class: usize, relid: u32) -> vmbus::OfferChannel {
    let mut m = vmbus::OfferChannel::new_zeroed();
    vmbus_header(&mut m);
    m.offer.if_type = offer::KNOWN_CLASSES[class];
    m.offer.if_instance.bytes = [class as u8; 16];
    m.offer.chn_flags = vmbus::OFFER_FLAG_ENUMERATE_DEVICE_INTERFACE;
    m.child_relid = relid;
    m.monitorid = 3;
    m.monitor_allocated = 1;
    m.is_dedicated_interrupt = 1;
    m.connection_id = 0x2000 + relid;
    m
}

fn offer(c: &mut Corpus) {
    for (name, class, relid) in [("scsi", 1, 14), ("network", 3, 15), ("heartbeat", 11, 2)] {
        c.put("offer", name, offer_message(class, relid).as_bytes());
    }
    let mut r = vmbus::RescindChannelOffer::new_zeroed();
    vmbus_header(&mut r);
    r.child_relid = 14;
    c.put("offer", "rescind", r.as_bytes());
}

fn negotiate(c: &mut Corpus) {
    let mut r = vmbus::VersionResponse2::new_zeroed();
    vmbus_header(&mut r);
    r.version_supported = 1;
    r.msg_conn_id = 4;
    r.supported_features = vmbus::FEATURE_FLAG_CONFIDENTIAL_CHANNELS;
    c.put("negotiate", "v6", &cat(&[&le32(u32::MAX), r.as_bytes()]));
    c.put(
        "negotiate",
        "v5",
        &cat(&[&le32(vmbus::VERSION_WIN10_V5), &r.as_bytes()[..16]]),
    );
    r.version_supported = 0;
    c.put(
        "negotiate",
        "refused",
        &cat(&[&le32(negotiate::DEFAULT_MAX_VERSION), r.as_bytes()]),
    );
}

fn gpadl(c: &mut Corpus) {
    for pages in [1u16, 26, 27, 54, 514, 8190] {
        // Even: small counts; odd: the whole range (see the target).
        let raw = if pages < 128 {
            pages << 1
        } else {
            pages << 1 | 1
        };
        let bytes = cat(&[
            &raw.to_le_bytes(),
            &le32(7),
            &le32(0xe1e10),
            &0x10_0000u64.to_le_bytes(),
            &1u64.to_le_bytes(),
        ]);
        c.put("gpadl", &format!("pages-{pages}"), &bytes);
    }
}

fn synic(c: &mut Corpus) {
    let bytes = cat(&[
        &[0],
        &0b1011u64.to_le_bytes(),
        &0x1u64.to_le_bytes(),
        &0x1234_5000u64.to_le_bytes(),
        &[0xf3, 2],
    ]);
    c.put("synic", "relids", &bytes);
}

fn ic_packet(ty: IcMessageType, service: IcVersion, body: &[u8]) -> Vec<u8> {
    let h = IcMessageHeader {
        icverframe: ic::FRAMEWORK_VERSION_3,
        icmsgtype: ty as u16,
        icvermsg: service,
        icmsgsize: 0,
        status: 0,
        ictransaction_id: 1,
        icflags: ic::ICMSG_FLAG_TRANSACTION | ic::ICMSG_FLAG_REQUEST,
        reserved: [0; 2],
    };
    let mut out = vec![0u8; ic::ICMSG_HDR_SIZE + body.len()];
    let n = ic::write_packet(&mut out, h, body).unwrap();
    out.truncate(n);
    out
}

fn ic(c: &mut Corpus) {
    let fw = [ic::FRAMEWORK_VERSION_1, ic::FRAMEWORK_VERSION_3];
    let srv = [
        IcVersion::new(1, 0),
        IcVersion::new(3, 0),
        IcVersion::new(4, 0),
    ];
    let mut body = [0u8; 64];
    let n = ic::write_negotiate(&mut body, &fw, &srv).unwrap();
    let v1 = IcVersion::new(1, 0);
    c.put(
        "ic",
        "negotiate",
        &ic_packet(IcMessageType::Negotiate, v1, &body[..n]),
    );
    let hb = ic::HeartbeatMessage {
        seq_num: 41,
        reserved: [0; 8],
    };
    c.put(
        "ic",
        "heartbeat",
        &ic_packet(
            IcMessageType::Heartbeat,
            IcVersion::new(3, 0),
            hb.as_bytes(),
        ),
    );
    let mut sd = ic::ShutdownMessage::new_zeroed();
    sd.flags = ic::SHUTDOWN_FLAG_FORCE;
    sd.display_message[..8].copy_from_slice(b"shutdown");
    c.put(
        "ic",
        "shutdown",
        &ic_packet(IcMessageType::Shutdown, IcVersion::new(3, 2), sd.as_bytes()),
    );
    let ts = ic::TimesyncRefMessage {
        parenttime: ic::host_time_from_unix_nanos(1_700_000_000_000_000_000).unwrap(),
        vmreferencetime: 12345,
        flags: ic::TIMESYNC_FLAG_SYNC,
        leapflags: 0,
        stratum: 2,
        reserved: [0; 3],
    };
    c.put(
        "ic",
        "timesync4",
        &ic_packet(
            IcMessageType::Timesync,
            ic::TIMESYNC_VERSION_4,
            ts.as_bytes(),
        ),
    );
}

fn kvp(c: &mut Corpus) {
    let mut m = KvpMessage::new_zeroed();
    m.header.operation = KvpOperation::Set as u8;
    m.header.pool = KvpPool::External as u8;
    let v = m.value_mut();
    v.value_type = kvp::REG_SZ;
    v.key_size = kvp::encode_utf16("OSName", &mut v.key).unwrap();
    v.value_size = kvp::encode_utf16("Debian GNU/Linux ✓", &mut v.value).unwrap();
    c.put("kvp", "set", m.as_bytes());
    m.header.operation = KvpOperation::Get as u8;
    c.put("kvp", "get", m.as_bytes());
    let mut m = KvpMessage::new_zeroed();
    m.header.operation = KvpOperation::Enumerate as u8;
    m.header.pool = KvpPool::Auto as u8;
    m.enumerate_mut().index = 2;
    c.put("kvp", "enumerate", m.as_bytes());
    let mut m = KvpMessage::new_zeroed();
    m.header.operation = KvpOperation::Delete as u8;
    let d = m.delete_mut();
    d.key_size = kvp::encode_utf16("Key1", &mut d.key).unwrap();
    c.put("kvp", "delete", m.as_bytes());
}

fn vstor(c: &mut Corpus) {
    let mut p = VstorPacket::new(Operation::ExecuteSrb);
    p.header.flags = vstor::FLAG_REQUEST_COMPLETION;
    let mut srb = ScsiRequest::new_zeroed();
    srb.length = vstor::SRB_SIZE_WIN8 as u16;
    srb.cdb_length = 10;
    srb.cdb[..10].copy_from_slice(&[0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0]);
    srb.data_in = vstor::DATA_IN_READ;
    srb.data_transfer_length = 4096;
    srb.sense_info_length = vstor::SENSE_BUFFER_SIZE as u8;
    p.set_srb(&srb);
    c.put("vstor", "read10-win10", &cat(&[&[0, 0, 0], p.as_bytes()]));
    srb.length = vstor::SRB_SIZE_PRE_WIN8 as u16;
    p.set_srb(&srb);
    c.put(
        "vstor",
        "read10-win7",
        &cat(&[&[3, 0, 0], p.bytes_for(vstor::VERSION_WIN7)]),
    );
    let mut done = VstorPacket::completion(vstor::STATUS_SUCCESS);
    srb.srb_status = vstor::SRB_STATUS_SUCCESS;
    done.set_srb(&srb);
    c.put("vstor", "completion", &cat(&[&[1, 0, 0], done.as_bytes()]));
    let mut q = VstorPacket::new(Operation::QueryProtocolVersion);
    q.set_version(&vstor::ProtocolVersion {
        major_minor: vstor::VERSION_WIN10,
        revision: 0,
    });
    c.put("vstor", "query-version", &cat(&[&[0, 0, 0], q.as_bytes()]));
    let mut s = VstorPacket::new(Operation::CreateSubChannels);
    s.set_sub_channel_count(3);
    c.put("vstor", "subchannels", &cat(&[&[0, 0, 0], s.as_bytes()]));
}

fn nvsp(c: &mut Corpus) {
    let msgs: [(&str, [u8; nvsp::MESSAGE_SIZE]); 8] = [
        (
            "init-complete",
            nvsp::encode(&nvsp::InitComplete {
                negotiated_protocol_version: nvsp::VERSION_61,
                max_mdl_chain_length: 34,
                status: nvsp::STATUS_SUCCESS,
            }),
        ),
        (
            "recv-buf-complete",
            nvsp::encode(&nvsp::SendReceiveBufferComplete {
                status: nvsp::STATUS_SUCCESS,
                num_sections: 1,
                section: nvsp::ReceiveBufferSection {
                    offset: 0,
                    sub_allocation_size: 1728,
                    num_sub_allocations: 9000,
                    end_offset: 1728 * 9000,
                },
            }),
        ),
        (
            "send-buf-complete",
            nvsp::encode(&nvsp::SendSendBufferComplete {
                status: nvsp::STATUS_SUCCESS,
                section_size: 6144,
            }),
        ),
        (
            "rndis-packet",
            nvsp::encode(&nvsp::SendRndisPacket {
                channel_type: nvsp::CHANNEL_TYPE_DATA,
                send_buffer_section_index: nvsp::INVALID_SECTION_INDEX,
                send_buffer_section_size: 0,
            }),
        ),
        (
            "rndis-complete",
            nvsp::encode(&nvsp::SendRndisPacketComplete {
                status: nvsp::STATUS_SUCCESS,
            }),
        ),
        (
            "subchannel",
            nvsp::encode(&nvsp::SubchannelComplete {
                status: nvsp::STATUS_SUCCESS,
                num_subchannels: 3,
            }),
        ),
        (
            "init",
            nvsp::encode(&nvsp::Init {
                min_protocol_version: nvsp::VERSION_61,
                max_protocol_version: nvsp::VERSION_61,
            }),
        ),
        (
            "ndis-config",
            nvsp::encode(&nvsp::SendNdisConfig {
                mtu: 1514,
                reserved: 0,
                capabilities: nvsp::CAPABILITY_TEAMING | nvsp::CAPABILITY_SRIOV,
            }),
        ),
    ];
    for (name, m) in msgs {
        c.put("nvsp", name, &m);
    }
    let table = nvsp::IndirectionTableMessage::new(core::array::from_fn(|i| i as u32 % 4));
    c.put("nvsp", "indirection-table", table.as_bytes());
}

fn rndis_message(ty: Rndis, body: &[u8]) -> Vec<u8> {
    cat(&[MessageHeader::new(ty, body.len()).as_bytes(), body])
}

fn rndis(c: &mut Corpus) {
    let frame = [0xffu8; 60];
    let csum = ndis::CSUM_RX_TCP_SUCCEEDED | ndis::CSUM_RX_IP_SUCCEEDED;
    let ppis = cat(&[
        PerPacketInfo::new(rndis::PPI_TCPIP_CHECKSUM, 4).as_bytes(),
        &le32(csum),
        PerPacketInfo::new(rndis::PPI_HASH_VALUE, 4).as_bytes(),
        &le32(0x1234_5678),
        PerPacketInfo::new(rndis::PPI_INTERNAL_PACKET_ID | PerPacketInfo::INTERNAL, 4).as_bytes(),
        &le32(1),
    ]);
    let body = rndis::Packet::new(frame.len() as u32, ppis.len() as u32);
    let data = rndis_message(Rndis::Packet, &cat(&[body.as_bytes(), &ppis, &frame]));
    c.put("rndis", "data", &data);
    let status = rndis::IndicateStatus {
        status: rndis::STATUS_LINK_SPEED_CHANGE,
        status_buffer_length: 4,
        status_buffer_offset: 12,
    };
    let status = rndis_message(
        Rndis::IndicateStatus,
        &cat(&[status.as_bytes(), &le32(100_000)]),
    );
    let query = rndis::QueryComplete {
        request_id: 2,
        status: rndis::STATUS_SUCCESS,
        info_buffer_length: 6,
        info_buffer_offset: 16,
    };
    let query = rndis_message(
        Rndis::QueryComplete,
        &cat(&[query.as_bytes(), &[0, 0x15, 0x5d, 1, 2, 3]]),
    );
    let init = rndis::InitializeComplete {
        request_id: 1,
        status: rndis::STATUS_SUCCESS,
        major_version: rndis::MAJOR_VERSION,
        device_flags: rndis::DF_CONNECTIONLESS,
        max_packets_per_message: 8,
        max_transfer_size: 0x4000,
        packet_alignment_factor: 3,
        ..Default::default()
    };
    let init = rndis_message(Rndis::InitializeComplete, init.as_bytes());
    let set = rndis::OidRequest {
        request_id: 3,
        oid: ndis::OID_GEN_CURRENT_PACKET_FILTER,
        info_buffer_length: 4,
        info_buffer_offset: 20,
        device_vc_handle: 0,
    };
    let set = rndis_message(
        Rndis::Set,
        &cat(&[set.as_bytes(), &le32(ndis::PACKET_TYPE_DIRECTED)]),
    );
    c.put(
        "rndis",
        "batch",
        &cat(&[&init, &query, &status, &data, &data, &set]),
    );
}

fn ndis(c: &mut Corpus) {
    let entries = 128u16;
    let p = RssParameters {
        header: ObjectHeader {
            object_type: ndis::OBJECT_TYPE_RSS_PARAMETERS,
            revision: 2,
            size: 40,
        },
        hash_information: ndis::HASH_FUNC_TOEPLITZ | ndis::HASH_IPV4 | ndis::HASH_TCP_IPV4,
        indirection_table_size: entries * 4,
        indirection_table_offset: 40,
        hash_key_size: 40,
        hash_key_offset: 40 + u32::from(entries) * 4,
        ..RssParameters::default()
    };
    let table: Vec<u8> = (0..u32::from(entries))
        .flat_map(|i| (i % 4).to_le_bytes())
        .collect();
    c.put(
        "ndis",
        "rss",
        &cat(&[p.as_bytes(), &table, &ndis::RSS_VERIFICATION_KEY]),
    );
    let o = OffloadParameters {
        header: ObjectHeader {
            object_type: ndis::OBJECT_TYPE_DEFAULT,
            revision: 3,
            size: 28,
        },
        ip4_checksum: ndis::OFFLOAD_PARAM_TX_RX_ENABLED,
        tcp4_checksum: ndis::OFFLOAD_PARAM_TX_RX_ENABLED,
        lso_v2_ip4: ndis::OFFLOAD_PARAM_LSOV2_ENABLED,
        ..OffloadParameters::default()
    };
    c.put("ndis", "offload", o.as_bytes());
    c.put(
        "ndis",
        "offload-v4",
        &o.as_bytes()[..OffloadParameters::V4_SIZE],
    );
    let name: Vec<u8> = "NetworkAddress"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let value: Vec<u8> = "00155d010203"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let cp = ConfigParameterInfo {
        name_offset: 20,
        name_length: name.len() as u32,
        parameter_type: ndis::CONFIG_PARAM_TYPE_STRING,
        value_offset: 20 + name.len() as u32,
        value_length: value.len() as u32,
    };
    c.put(
        "ndis",
        "config-parameter",
        &cat(&[cp.as_bytes(), &name, &value]),
    );
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let mut c = Corpus { root, written: 0 };
    ring_index(&mut c);
    ring_reader(&mut c);
    ring_roundtrip(&mut c);
    vmbus_msg(&mut c);
    offer(&mut c);
    negotiate(&mut c);
    gpadl(&mut c);
    synic(&mut c);
    ic(&mut c);
    kvp(&mut c);
    vstor(&mut c);
    nvsp(&mut c);
    rndis(&mut c);
    ndis(&mut c);
    println!(
        "wrote {} bytes of seeds under {}",
        c.written,
        c.root.display()
    );
}
