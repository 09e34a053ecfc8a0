// SPDX-License-Identifier: GPL-2.0
//! The VSTOR initialization sequence: versions, properties, sub-channels, wrong order.

use super::*;

#[test]
fn linux_initializes_and_asks_for_subchannels() {
    let mut g = Guest::new(&["ram:size=16M"], 4);
    let props = g.linux_init();
    assert_eq!({ props.max_channel_count }, 3);
    assert_eq!(
        { props.flags },
        vstor::STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL
    );
    assert_eq!({ props.max_transfer_bytes }, 512 << 10);
    assert_eq!(
        g.dev.state(),
        InitState::Ready {
            version: vstor::VERSION_WIN10
        }
    );
    let mut sc = request(Operation::CreateSubChannels);
    sc.set_sub_channel_count(3);
    assert_eq!({ g.op(&sc).header.status }, 0);
    assert_eq!(g.ch.subchannel_requests, vec![3]);
    // More than offered is refused.
    sc.set_sub_channel_count(4);
    assert_eq!({ g.op(&sc).header.status }, vstor::STATUS_INVALID_PARAMETER);
    // The offer carries the same limit.
    assert_eq!(g.dev.offer().max_subchannels, 3);
    assert_eq!(g.dev.offer().class_id, vstor::SCSI_CLASS_ID);
}

#[test]
fn one_vcpu_means_no_multichannel() {
    let mut g = Guest::new(&["ram:size=16M"], 1);
    let props = g.linux_init();
    assert_eq!({ props.max_channel_count }, 0);
    assert_eq!({ props.flags }, 0);
}

#[test]
fn linux_falls_back_to_6_0_and_unknown_versions_are_refused() {
    let mut g = Guest::new(&["ram:size=16M"], 2);
    g.dev.max_version = vstor::VERSION_WIN8_1;
    g.linux_init();
    assert_eq!(
        g.dev.state(),
        InitState::Ready {
            version: vstor::VERSION_WIN8_1
        }
    );
    let mut g = Guest::new(&["ram:size=16M"], 2);
    g.op(&request(Operation::BeginInitialization));
    for bad in [0x0700u16, 0x0601, 0x0000, 0xffff] {
        let mut p = request(Operation::QueryProtocolVersion);
        p.set_version(&vstor::ProtocolVersion {
            major_minor: bad,
            revision: 0,
        });
        assert_eq!({ g.op(&p).header.status }, vstor::STATUS_REVISION_MISMATCH);
    }
    assert_eq!(g.dev.state(), InitState::AwaitVersion);
}

#[test]
fn pre_win8_guests_get_48_byte_packets() {
    let mut g = Guest::new(&["ram:size=16M"], 2);
    let send48 = |g: &mut Guest, p: &VstorPacket| {
        let bytes = g
            .send_raw(0, PacketType::DataInband, &[], &p.as_bytes()[..48])
            .unwrap();
        assert_eq!(bytes.len(), 48);
        bytes
    };
    send48(&mut g, &request(Operation::BeginInitialization));
    let mut v = request(Operation::QueryProtocolVersion);
    v.set_version(&vstor::ProtocolVersion {
        major_minor: vstor::VERSION_WIN7,
        revision: 0,
    });
    assert_eq!(send48(&mut g, &v)[8..12], [0, 0, 0, 0]);
    let props = send48(&mut g, &request(Operation::QueryProperties));
    let props = vstor::ChannelProperties::read_from_prefix(&props[12..])
        .unwrap()
        .0;
    assert_eq!({ props.flags }, 0, "no multi-channel before 5.1");
    send48(&mut g, &request(Operation::EndInitialization));
    // A failing SRB carries 18 bytes of sense at most.
    let mut p = request(Operation::ExecuteSrb);
    let mut srb = ScsiRequest::new_zeroed();
    srb.length = 36;
    srb.cdb_length = 6;
    srb.cdb[0] = 0xff;
    srb.data_in = vstor::DATA_IN_UNKNOWN;
    p.set_srb(&srb);
    let reply = send48(&mut g, &p);
    let mut full = [0u8; 64];
    full[..48].copy_from_slice(&reply);
    let srb = VstorPacket::read_from_bytes(&full).unwrap().srb();
    assert_eq!(sense_of(&srb), Sense::INVALID_OPCODE);
}

#[test]
fn requests_out_of_order_get_invalid_device_state() {
    let mut g = Guest::new(&["ram:size=16M"], 2);
    let state = vstor::STATUS_INVALID_DEVICE_STATE;
    assert_eq!(
        { g.op(&request(Operation::EndInitialization)).header.status },
        state
    );
    assert_eq!(
        { g.op(&request(Operation::QueryProperties)).header.status },
        state
    );
    assert_eq!(
        {
            g.op(&request(Operation::QueryProtocolVersion))
                .header
                .status
        },
        state
    );
    assert_eq!({ g.op(&request(Operation::ResetBus)).header.status }, state);
    let srb = g.srb(
        0,
        0,
        &[TEST_UNIT_READY, 0, 0, 0, 0, 0],
        vstor::DATA_IN_UNKNOWN,
        None,
    );
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_INVALID_REQUEST);
    // Operations only the host sends.
    for op in [
        Operation::CompleteIo,
        Operation::EnumerateBus,
        Operation::FchbaData,
    ] {
        assert_eq!(
            { g.op(&request(op)).header.status },
            vstor::STATUS_INVALID_DEVICE_REQUEST
        );
    }
    g.linux_init();
    // Initialization belongs to the primary channel.
    let reply = g
        .send_raw(
            1,
            PacketType::DataInband,
            &[],
            request(Operation::BeginInitialization).as_bytes(),
        )
        .unwrap();
    assert_eq!(
        { VstorPacket::read_from_bytes(&reply).unwrap().header.status },
        state
    );
    assert_eq!({ g.op(&request(Operation::ResetLun)).header.status }, 0);
    // BEGIN_INITIALIZATION starts over.
    g.linux_init();
}
