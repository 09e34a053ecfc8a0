// SPDX-License-Identifier: GPL-2.0
//! The control path as Linux walks it: NVSP negotiation and buffers, RNDIS initialisation and
//! the OIDs of `rndis_filter_device_add()`, sub-channels, RSS, link changes, teardown.

use rhv_proto::ndis::{self, ObjectHeader};
use rhv_proto::nvsp::{self, HostMessage};
use rhv_proto::ring::PacketType;
use rhv_proto::rndis::{self, MessageType};
use zerocopy::{FromBytes, IntoBytes};

use super::*;
use crate::netvsp::rss::tests::rss_params;
use crate::vmbus::VmbusDevice;

#[test]
fn linux_negotiates_the_newest_version_and_gets_buffers() {
    let mut g = Guest::new(Guest::config(4));
    g.connect(1500);
    assert_eq!(g.nic.version, Some(nvsp::VERSION_61));
    assert_eq!(g.nic.ndis_version, Some((6, 30)));
    let s = g.recv_section.unwrap();
    // Linux insists on one section at offset 0 that fits its buffer.
    assert_eq!({ s.offset }, 0);
    assert_eq!({ s.sub_allocation_size }, 1728);
    assert!(u64::from(s.sub_allocation_size) * u64::from(s.num_sub_allocations) <= 4096 * 4096);
    assert_eq!({ s.num_sub_allocations }, 4096 * 4096 / 1728);
    assert_eq!(g.send_section_size, 6144);
    assert_eq!(g.bad_packets(), 0);
}

#[test]
fn old_guests_fall_back_and_unknown_versions_fail() {
    let mut g = Guest::new(Guest::config(1));
    // A version the host does not know: refused, the guest tries the next one.
    let t = g.request(
        0,
        &nvsp::encode(&nvsp::Init {
            min_protocol_version: 0x70000,
            max_protocol_version: 0x70000,
        }),
    );
    match g.completion(0, t) {
        HostMessage::InitComplete(c) => assert_eq!({ c.status }, nvsp::STATUS_FAIL),
        other => panic!("{other:?}"),
    }
    assert_eq!(g.nic.version, None);
    let t = g.request(
        0,
        &nvsp::encode(&nvsp::Init {
            min_protocol_version: nvsp::VERSION_1,
            max_protocol_version: nvsp::VERSION_4,
        }),
    );
    match g.completion(0, t) {
        HostMessage::InitComplete(c) => {
            assert_eq!({ c.status }, nvsp::STATUS_SUCCESS);
            assert_eq!({ c.negotiated_protocol_version }, nvsp::VERSION_4);
        }
        other => panic!("{other:?}"),
    }
    // Sub-channels need NVSP 5.
    let t = g.request(
        0,
        &nvsp::encode(&nvsp::SubchannelRequest {
            operation: nvsp::SUBCHANNEL_ALLOCATE,
            num_subchannels: 1,
        }),
    );
    assert!(
        g.take(0).is_none(),
        "no completion for a refused request ({t})"
    );
    assert_eq!(g.bad_packets(), 1);
}

#[test]
fn rndis_initialisation_answers_what_linux_asks() {
    let mut g = Guest::new(Guest::config(4));
    g.connect(1500);
    let c = g.rndis_init();
    assert_eq!({ c.status }, rndis::STATUS_SUCCESS);
    assert_eq!(({ c.major_version }, { c.minor_version }), (1, 0));
    assert_eq!({ c.medium }, ndis::MEDIUM_802_3);
    assert_eq!({ c.max_packets_per_message }, 8);
    assert_eq!({ c.packet_alignment_factor }, 3);

    let (status, mtu) = g.query(ndis::OID_GEN_MAXIMUM_FRAME_SIZE, &[]);
    assert_eq!((status, mtu), (0, 9000u32.to_le_bytes().to_vec()));
    let (_, mac) = g.query(ndis::OID_802_3_PERMANENT_ADDRESS, &[]);
    assert_eq!(mac, MAC);
    // The hardware capabilities, in the revision Linux asks for at NVSP 5+.
    let ask = ObjectHeader {
        object_type: ndis::OBJECT_TYPE_OFFLOAD,
        revision: 3,
        size: ndis::OFFLOAD_SIZE_6_30,
    };
    let mut info = ask.as_bytes().to_vec();
    info.resize(usize::from(ndis::OFFLOAD_SIZE_6_30), 0);
    let (status, caps) = g.query(ndis::OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, &info);
    assert_eq!(status, 0);
    let caps = ndis::NdisOffload::read_from_bytes(&caps).unwrap();
    assert_eq!(
        caps.header,
        ObjectHeader {
            object_type: ndis::OBJECT_TYPE_OFFLOAD,
            revision: 3,
            size: 156
        }
    );
    assert_eq!(
        { caps.checksum.ip4_tx_checksum } & 0x14,
        0x14,
        "TCP/IPv4 checksum offered"
    );
    assert_eq!({ caps.lso_v2.ip4_max_size }, 64_000);
    let params = ndis::OffloadParameters {
        header: ObjectHeader {
            object_type: ndis::OBJECT_TYPE_DEFAULT,
            revision: 3,
            size: 28,
        },
        ip4_checksum: ndis::OFFLOAD_PARAM_TX_RX_DISABLED,
        ..Default::default()
    };
    assert_eq!(
        g.set(ndis::OID_TCP_OFFLOAD_PARAMETERS, params.as_bytes()),
        rndis::STATUS_SUCCESS
    );
    let (_, link) = g.query(ndis::OID_GEN_MEDIA_CONNECT_STATUS, &[]);
    assert_eq!(link, 0u32.to_le_bytes());
    let (_, speed) = g.query(ndis::OID_GEN_LINK_SPEED, &[]);
    assert_eq!(
        speed,
        100_000_000u32.to_le_bytes(),
        "10 Gbit/s in 100 bit/s"
    );
    let (_, rss) = g.query(ndis::OID_GEN_RECEIVE_SCALE_CAPABILITIES, &[]);
    let rss = ndis::RssCapabilities::read_from_bytes(&rss).unwrap();
    assert_eq!({ rss.num_receive_queues }, 4);
    assert_eq!({ rss.num_indirection_table_entries }, 128);
    let (status, name) = g.query(ndis::OID_GEN_FRIENDLY_NAME, &[]);
    assert_eq!((status, name.len()), (rndis::STATUS_NOT_SUPPORTED, 0));
    let (_, vendor) = g.query(ndis::OID_GEN_VENDOR_DESCRIPTION, &[]);
    assert!(vendor.starts_with(b"hvsim"));
    assert_eq!(g.bad_packets(), 0);
}

#[test]
fn the_guest_may_change_its_mac_address() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let mut info = ndis::ConfigParameterInfo {
        name_offset: 20,
        name_length: 28,
        parameter_type: ndis::CONFIG_PARAM_TYPE_STRING,
        value_offset: 48,
        value_length: 24,
    }
    .as_bytes()
    .to_vec();
    for text in ["NetworkAddress", "02155d0000aa"] {
        info.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    }
    assert_eq!(
        g.set(ndis::OID_GEN_RNDIS_CONFIG_PARAMETER, &info),
        rndis::STATUS_SUCCESS
    );
    let (_, mac) = g.query(ndis::OID_802_3_CURRENT_ADDRESS, &[]);
    assert_eq!(mac, [0x02, 0x15, 0x5d, 0, 0, 0xaa]);
    let (_, mac) = g.query(ndis::OID_802_3_PERMANENT_ADDRESS, &[]);
    assert_eq!(mac, MAC);
    // A multicast address is refused.
    let n = info.len();
    info[n - 24..n - 22].copy_from_slice(&u16::from(b'0').to_le_bytes());
    info[n - 22..n - 20].copy_from_slice(&u16::from(b'1').to_le_bytes());
    assert_eq!(
        g.set(ndis::OID_GEN_RNDIS_CONFIG_PARAMETER, &info),
        rndis::STATUS_INVALID_DATA
    );
}

#[test]
fn sub_channels_come_with_an_indirection_table() {
    let mut g = Guest::new(Guest::config(4));
    g.bring_up();
    // Linux asks for num_chn - 1 = 15 (VRSS_CHANNEL_DEFAULT); the host grants queues - 1.
    let t = g.request(
        0,
        &nvsp::encode(&nvsp::SubchannelRequest {
            operation: nvsp::SUBCHANNEL_ALLOCATE,
            num_subchannels: 15,
        }),
    );
    match g.completion(0, t) {
        HostMessage::SubchannelComplete(c) => {
            assert_eq!({ c.status }, nvsp::STATUS_SUCCESS);
            assert_eq!({ c.num_subchannels }, 3);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(g.bus.channels[&0].subchannels_requested, 3);
    let table = g.take(0).unwrap();
    assert_eq!(table.packet_type, PacketType::DataInband);
    match HostMessage::parse(&table.payload) {
        Ok(HostMessage::SendIndirectionTable(t)) => {
            assert_eq!(t[..5], [0, 1, 2, 3, 0]);
        }
        other => panic!("{other:?}"),
    }
    // Linux's fix-up for NVSP <= 6 assumes the table right after the 40-byte message.
    assert_eq!(table.payload.len(), 40 + 64);
    assert_eq!(
        u32::from_le_bytes(table.payload[8..12].try_into().unwrap()),
        40
    );
    for i in 1..4 {
        g.open_channel(i);
    }
    assert_eq!(g.nic.queues.len(), 4);
    // A sub-channel may not ask for buffers or sub-channels.
    let t = g.request(
        2,
        &nvsp::encode(&nvsp::SubchannelRequest {
            operation: nvsp::SUBCHANNEL_ALLOCATE,
            num_subchannels: 1,
        }),
    );
    assert!(g.take(2).is_none(), "{t}");
    assert_eq!(g.bad_packets(), 1);
}

#[test]
fn rss_parameters_are_checked_against_the_queues() {
    let mut g = Guest::new(Guest::config(2));
    g.bring_up();
    let table: Vec<u32> = (0..128).map(|i| i % 2).collect();
    let off = rss_params(&table, ndis::RSS_PARAM_FLAG_DISABLE_RSS);
    assert_eq!(
        g.set(ndis::OID_GEN_RECEIVE_SCALE_PARAMETERS, &off),
        rndis::STATUS_SUCCESS
    );
    assert_eq!(
        g.set(
            ndis::OID_GEN_RECEIVE_SCALE_PARAMETERS,
            &rss_params(&table, 0)
        ),
        rndis::STATUS_SUCCESS
    );
    assert_eq!(g.nic.rndis.rss.table_len(), 128);
    let bad: Vec<u32> = (0..128).map(|i| i % 3).collect();
    assert_eq!(
        g.set(ndis::OID_GEN_RECEIVE_SCALE_PARAMETERS, &rss_params(&bad, 0)),
        rndis::STATUS_INVALID_DATA
    );
    let mut truncated = rss_params(&table, 0);
    truncated.truncate(100);
    assert_eq!(
        g.set(ndis::OID_GEN_RECEIVE_SCALE_PARAMETERS, &truncated),
        rndis::STATUS_INVALID_DATA
    );
}

#[test]
fn keepalive_reset_and_halt() {
    let mut g = Guest::new(Guest::config(1));
    g.bring_up();
    let ka = rndis::KeepaliveRequest { request_id: 77 };
    let msg = super::super::rndis_control::message(MessageType::Keepalive, &[ka.as_bytes()]);
    assert_eq!(g.send_rndis_gpa(&msg), nvsp::STATUS_SUCCESS);
    let got = g.receive(0);
    assert_eq!(got[0].kind(), MessageType::KeepaliveComplete);
    let c: rndis::RequestComplete = got[0].message().fixed().unwrap();
    assert_eq!(({ c.request_id }, { c.status }), (77, 0));
    let msg = super::super::rndis_control::message(
        MessageType::Reset,
        &[rndis::ResetRequest::default().as_bytes()],
    );
    g.send_rndis_gpa(&msg);
    assert_eq!(g.receive(0)[0].kind(), MessageType::ResetComplete);
    let msg = super::super::rndis_control::message(
        MessageType::Halt,
        &[rndis::HaltRequest { request_id: 9 }.as_bytes()],
    );
    g.send_rndis_gpa(&msg);
    assert!(g.receive(0).is_empty(), "HALT has no answer");
    assert!(!g.nic.rndis.initialized);
    assert_eq!(g.nic.rndis.packet_filter, 0);
}

#[test]
fn link_changes_reach_an_initialised_guest() {
    let mut g = Guest::new(Guest::config(1));
    // Before RNDIS is up the state is only remembered.
    let ok = g
        .nic
        .control(&serde_json::json!({"op": "link", "up": false}));
    assert_eq!(ok, Ok(serde_json::json!({"link_up": false})));
    g.poll();
    assert!(g.take(0).is_none());
    g.bring_up();
    let (_, link) = g.query(ndis::OID_GEN_MEDIA_CONNECT_STATUS, &[]);
    assert_eq!(link, ndis::MEDIA_STATE_DISCONNECTED.to_le_bytes());
    g.nic
        .control(&serde_json::json!({"op": "link", "up": true}))
        .unwrap();
    g.poll();
    let got = g.receive(0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind(), MessageType::IndicateStatus);
    let i: rndis::IndicateStatus = got[0].message().fixed().unwrap();
    assert_eq!({ i.status }, rndis::STATUS_MEDIA_CONNECT);
    g.nic
        .control(&serde_json::json!({"op": "link", "up": false}))
        .unwrap();
    g.poll();
    let i: rndis::IndicateStatus = g.receive(0)[0].message().fixed().unwrap();
    assert_eq!({ i.status }, rndis::STATUS_MEDIA_DISCONNECT);
    // Bad control commands are errors, not panics.
    for bad in [
        serde_json::json!({"op": "link"}),
        serde_json::json!({"op": "link", "up": 1}),
        serde_json::json!({"op": "reboot"}),
        serde_json::json!(42),
    ] {
        assert!(g.nic.control(&bad).is_err(), "{bad}");
    }
    let stats = g.nic.control(&serde_json::json!({"op": "stats"})).unwrap();
    assert_eq!(stats["link_up"], false);
    assert_eq!(stats["nvsp_version"], "6.1");
    assert_eq!(stats["mtu"], 1500);
    assert_eq!(stats["mac"], "00:15:5d:00:00:42");
}

#[test]
fn a_larger_mtu_gets_larger_sections_and_closing_resets_the_session() {
    let mut g = Guest::new(Guest::config(2));
    g.bring_up();
    assert!(g.nic.recv.is_some() && g.nic.rndis.initialized);
    // netvsc_change_mtu(): the guest closes the channel and starts over with a new MTU.
    g.nic.on_close(1);
    g.nic.on_close(0);
    assert!(g.nic.recv.is_none() && g.nic.send.is_none() && g.nic.version.is_none());
    assert!(!g.nic.rndis.initialized);
    g.open_channel(0);
    g.connect(9000);
    let s = g.recv_section.unwrap();
    assert!({ s.sub_allocation_size } >= 9014 + 80);
    assert_eq!({ s.sub_allocation_size } % 64, 0);
    // The guest asks for more than the host allows: capped at max_mtu.
    let mut g = Guest::new(Guest::config(1));
    g.connect(60_000);
    assert!({ g.recv_section.unwrap().sub_allocation_size } < 9200);
}
