// SPDX-License-Identifier: GPL-2.0
//! Codec tests of `rhv_proto::vstor`, malformed input included.

use rhv_proto::vstor::*;
use zerocopy::{FromZeros, IntoBytes};

fn srb_packet(cdb: &[u8]) -> VstorPacket {
    let mut p = VstorPacket::new(Operation::ExecuteSrb);
    p.header.flags = FLAG_REQUEST_COMPLETION;
    let mut srb = ScsiRequest::new_zeroed();
    srb.length = SRB_SIZE_WIN8 as u16;
    srb.cdb_length = cdb.len() as u8;
    srb.cdb[..cdb.len()].copy_from_slice(cdb);
    srb.data_in = DATA_IN_READ;
    srb.data_transfer_length = 4096;
    srb.sense_info_length = SENSE_BUFFER_SIZE as u8;
    srb.srb_flags = 0x1234_5678;
    p.set_srb(&srb);
    p
}

#[test]
fn sizes_match_linux() {
    assert_eq!(packet_size(VERSION_WIN10), 64);
    assert_eq!(packet_size(VERSION_WIN8_1), 64);
    assert_eq!(packet_size(VERSION_WIN8), 64);
    assert_eq!(packet_size(VERSION_WIN7), 48);
    assert_eq!(packet_size(VERSION_WIN6), 48);
    assert_eq!(SRB_WIN8_EXTENSION_SIZE, 16);
    assert_eq!(sense_buffer_size(VERSION_WIN7), 0x12);
    assert_eq!(sense_buffer_size(VERSION_WIN10), 0x14);
    assert_eq!(VERSION_WIN10, 0x0602);
    assert_eq!(VERSION_WIN8_1, 0x0600);
    assert!(ALL_VERSIONS.windows(2).all(|w| w[0] > w[1]));
    assert!(LINUX_VERSIONS.iter().all(|v| ALL_VERSIONS.contains(v)));
}

#[test]
fn srb_field_offsets_match_the_c_struct() {
    let p = srb_packet(&[0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0]);
    let b = p.as_bytes();
    assert_eq!(&b[0..4], &3u32.to_le_bytes());
    assert_eq!(&b[4..8], &1u32.to_le_bytes());
    // length at 12, cdb_length at 20, data_in at 22, data_transfer_length at 24.
    assert_eq!(&b[12..14], &52u16.to_le_bytes());
    assert_eq!(b[20], 10);
    assert_eq!(b[22], DATA_IN_READ);
    assert_eq!(&b[24..28], &4096u32.to_le_bytes());
    assert_eq!(b[28], 0x28);
    // srb_flags after the 20-byte CDB area and reserve/queue_tag/queue_action.
    assert_eq!(&b[52..56], &0x1234_5678u32.to_le_bytes());
}

#[test]
fn parses_a_linux_srb() {
    let p = srb_packet(&[0x12, 0, 0, 0, 36, 0]);
    let parsed = parse_packet(p.as_bytes(), VERSION_WIN10).unwrap();
    assert_eq!(parsed.operation(), Ok(Operation::ExecuteSrb));
    let srb = parsed.srb();
    assert_eq!(srb.command().unwrap(), &[0x12, 0, 0, 0, 36, 0]);
    assert_eq!(srb.direction(), Ok(DataDirection::Read));
    assert_eq!({ srb.srb_flags }, 0x1234_5678);
}

#[test]
fn pre_win8_srbs_lose_the_extension() {
    let p = srb_packet(&[0; 6]);
    let parsed = parse_packet(&p.as_bytes()[..48], VERSION_WIN7).unwrap();
    assert_eq!({ parsed.srb().srb_flags }, 0);
    assert_eq!(parsed.bytes_for(VERSION_WIN7).len(), 48);
    // The same 48 bytes are too short at 5.1 and later.
    assert_eq!(
        parse_packet(&p.as_bytes()[..48], VERSION_WIN8_1),
        Err(VstorError::TooShort {
            needed: 64,
            got: 48
        })
    );
}

#[test]
fn malformed_packets_are_rejected() {
    assert_eq!(
        parse_packet(&[1, 0, 0], VERSION_WIN10),
        Err(VstorError::TooShort { needed: 12, got: 3 })
    );
    let mut unknown = [0u8; 64];
    unknown[0] = 14;
    assert_eq!(
        parse_packet(&unknown, VERSION_WIN10),
        Err(VstorError::UnknownOperation(14))
    );
    unknown[..4].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
    assert_eq!(
        parse_packet(&unknown, VERSION_WIN10),
        Err(VstorError::UnknownOperation(0xffff_ffff))
    );
    let v = VstorPacket::new(Operation::QueryProtocolVersion);
    assert_eq!(
        parse_packet(&v.as_bytes()[..14], VERSION_WIN6),
        Err(VstorError::TooShort {
            needed: 16,
            got: 14
        })
    );
    // A body-less operation needs only the header; the rest reads as zeros.
    let b = VstorPacket::new(Operation::BeginInitialization);
    let parsed = parse_packet(&b.as_bytes()[..12], VERSION_WIN6).unwrap();
    assert_eq!(parsed.operation(), Ok(Operation::BeginInitialization));
    assert_eq!(parsed.body, [0; BODY_SIZE]);
}

#[test]
fn malformed_srbs_are_rejected() {
    let mut p = srb_packet(&[0x00; 6]);
    let mut srb = p.srb();
    srb.cdb_length = 0;
    p.set_srb(&srb);
    assert_eq!(
        parse_packet(p.as_bytes(), VERSION_WIN10),
        Err(VstorError::BadCdbLength(0))
    );
    srb.cdb_length = 17;
    p.set_srb(&srb);
    assert_eq!(
        parse_packet(p.as_bytes(), VERSION_WIN10),
        Err(VstorError::BadCdbLength(17))
    );
    srb.cdb_length = 6;
    srb.data_in = 3;
    p.set_srb(&srb);
    assert_eq!(
        parse_packet(p.as_bytes(), VERSION_WIN10),
        Err(VstorError::BadDataDirection(3))
    );
    srb.data_in = DATA_IN_UNKNOWN;
    for bad in [0u16, 35, 53, 0xffff] {
        srb.length = bad;
        p.set_srb(&srb);
        assert_eq!(
            parse_packet(p.as_bytes(), VERSION_WIN10),
            Err(VstorError::BadSrbLength(bad))
        );
    }
    srb.length = 36;
    p.set_srb(&srb);
    assert!(parse_packet(p.as_bytes(), VERSION_WIN10).is_ok());
    assert_eq!(
        parse_packet(&p.as_bytes()[..63], VERSION_WIN10),
        Err(VstorError::TooShort {
            needed: 64,
            got: 63
        })
    );
}

#[test]
fn bodies_round_trip() {
    let mut p = VstorPacket::completion(STATUS_SUCCESS);
    p.set_properties(&ChannelProperties {
        max_channel_count: 3,
        flags: STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL,
        max_transfer_bytes: 0x8_0000,
        ..Default::default()
    });
    let b = p.as_bytes();
    assert_eq!(&b[16..18], &3u16.to_le_bytes());
    assert_eq!(&b[20..24], &1u32.to_le_bytes());
    assert_eq!(&b[24..28], &0x8_0000u32.to_le_bytes());
    assert_eq!({ p.properties().max_channel_count }, 3);

    p.set_version(&ProtocolVersion {
        major_minor: VERSION_WIN10,
        revision: 0,
    });
    assert_eq!({ p.version().major_minor }, 0x0602);
    assert_eq!(p.body[4..], [0; BODY_SIZE - 4]);

    p.set_sub_channel_count(7);
    assert_eq!(p.sub_channel_count(), 7);
    assert_eq!(p.operation(), Ok(Operation::CompleteIo));
}

#[test]
fn srb_status_flags_strip() {
    assert_eq!(
        srb_status_code(SRB_STATUS_ERROR | SRB_STATUS_AUTOSENSE_VALID),
        SRB_STATUS_ERROR
    );
    assert_eq!(srb_status_code(0xff), 0x3f);
}

#[test]
fn class_guids_match_linux() {
    let mut out = [0u8; 36];
    SCSI_CLASS_ID.format(&mut out);
    assert_eq!(&out, b"ba6163d9-04a1-4d29-b605-72e2ffb1dc7f");
    IDE_CLASS_ID.format(&mut out);
    assert_eq!(&out, b"32412632-86cb-44a2-9b5c-50d1417354f5");
}
