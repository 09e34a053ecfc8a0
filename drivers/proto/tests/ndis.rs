// SPDX-License-Identifier: GPL-2.0
//! Codec tests of `rhv_proto::ndis`, malformed input included.

use rhv_proto::ndis::*;
use zerocopy::IntoBytes;

/// An RSS parameter buffer as `rndis_set_rss_param_msg()` builds it.
fn rss_buffer(flags: u16, entries: u16) -> [u8; 40 + 512 + 40] {
    let mut buf = [0u8; 40 + 512 + 40];
    let p = RssParameters {
        header: ObjectHeader {
            object_type: OBJECT_TYPE_RSS_PARAMETERS,
            revision: 2,
            size: 40,
        },
        flags,
        hash_information: HASH_FUNC_TOEPLITZ | HASH_IPV4 | HASH_TCP_IPV4,
        indirection_table_size: entries * 4,
        indirection_table_offset: 40,
        hash_key_size: 40,
        hash_key_offset: 40 + u32::from(entries) * 4,
        ..RssParameters::default()
    };
    buf[..40].copy_from_slice(p.as_bytes());
    for i in 0..usize::from(entries) {
        buf[40 + 4 * i..44 + 4 * i].copy_from_slice(&(i as u32 % 2).to_le_bytes());
    }
    buf
}

#[test]
fn rss_parameters_parse_and_bad_ones_are_refused() {
    let buf = rss_buffer(0, 128);
    let c = RssConfig::parse(&buf[..40 + 512 + 40]).unwrap();
    assert!(!c.disabled());
    assert_eq!(c.entries().count(), 128);
    let mut e = c.entries();
    assert_eq!((e.next(), e.next(), e.next()), (Some(0), Some(1), Some(0)));
    assert_eq!(c.hash_key.len(), 40);
    // Disabled: the arrays are not looked at.
    let off = rss_buffer(RSS_PARAM_FLAG_DISABLE_RSS, 128);
    assert!(RssConfig::parse(&off[..40]).unwrap().disabled());
    // Truncated key, wrong type, table offset into the header, odd table size.
    assert!(RssConfig::parse(&buf[..40 + 512 + 39]).is_err());
    let mut bad = buf;
    bad[0] = OBJECT_TYPE_OFFLOAD;
    assert!(matches!(
        RssConfig::parse(&bad),
        Err(NdisError::BadHeader(_))
    ));
    let mut bad = buf;
    bad[16..20].copy_from_slice(&8u32.to_le_bytes());
    assert_eq!(
        RssConfig::parse(&bad),
        Err(NdisError::BadOffset("indirection table"))
    );
    let mut bad = buf;
    bad[12..14].copy_from_slice(&6u16.to_le_bytes());
    assert_eq!(
        RssConfig::parse(&bad),
        Err(NdisError::BadLength("indirection table"))
    );
    let mut bad = buf;
    bad[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        RssConfig::parse(&bad),
        Err(NdisError::BadOffset("hash key"))
    );
    assert!(matches!(
        RssConfig::parse(&buf[..30]),
        Err(NdisError::TooShort { .. })
    ));
}

#[test]
fn offload_parameters_accept_the_short_nvsp4_form() {
    let mut p = OffloadParameters {
        header: ObjectHeader {
            object_type: OBJECT_TYPE_DEFAULT,
            revision: 3,
            size: 28,
        },
        ip4_checksum: OFFLOAD_PARAM_TX_RX_DISABLED,
        tcp4_checksum: OFFLOAD_PARAM_TX_RX_ENABLED,
        rsc_ip4: 2,
        ..OffloadParameters::default()
    };
    assert_eq!(OffloadParameters::parse(p.as_bytes()), Ok(p));
    let short = OffloadParameters::parse(&p.as_bytes()[..22]).unwrap();
    p.rsc_ip4 = 0;
    assert_eq!(short, p);
    assert!(OffloadParameters::parse(&p.as_bytes()[..21]).is_err());
}

#[test]
fn config_parameters_find_name_and_value() {
    let mut buf = [0u8; 20 + 28 + 24];
    let c = ConfigParameterInfo {
        name_offset: 20,
        name_length: 28,
        parameter_type: CONFIG_PARAM_TYPE_STRING,
        value_offset: 48,
        value_length: 24,
    };
    buf[..20].copy_from_slice(c.as_bytes());
    for (i, ch) in "NetworkAddress".bytes().enumerate() {
        buf[20 + 2 * i] = ch;
    }
    let (got, name, value) = ConfigParameterInfo::parse(&buf).unwrap();
    assert_eq!(got, c);
    assert_eq!((name.len(), value.len()), (28, 24));
    assert_eq!(name[0], b'N');
    let mut bad = buf;
    bad[12..16].copy_from_slice(&60u32.to_le_bytes());
    assert_eq!(
        ConfigParameterInfo::parse(&bad),
        Err(NdisError::BadOffset("value"))
    );
    let mut bad = buf;
    bad[4..8].copy_from_slice(&27u32.to_le_bytes());
    assert!(ConfigParameterInfo::parse(&bad).is_err());
    assert!(ConfigParameterInfo::parse(&buf[..19]).is_err());
}

#[test]
fn offload_struct_offsets_match_c() {
    let o = NdisOffload {
        flags: 0x1122_3344,
        rsc_ip4: 1,
        encap_gre_flags: 5,
        ..NdisOffload::default()
    };
    let b = o.as_bytes();
    assert_eq!(&b[108..112], &0x1122_3344u32.to_le_bytes());
    assert_eq!(b[144], 1);
    assert_eq!(b[148], 5);
    assert_eq!(usize::from(OFFLOAD_SIZE_6_30), b.len());
}
