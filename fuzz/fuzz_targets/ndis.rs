// SPDX-License-Identifier: GPL-2.0
//! NDIS objects in RNDIS information buffers (`proto::ndis`): offload parameters, RSS
//! parameters and configuration parameters, the buffers hvsim's netvsp parses from the
//! guest's SET requests.
//!
//! Invariants: offload parameters are accepted from 22 bytes on and are the input's bytes
//! zero-extended; an RSS configuration's table and key lie inside the buffer past the fixed
//! structure, the table holds 1..=256 whole entries and the key 1..=40 bytes unless flagged
//! unchanged or disabled; a configuration parameter's name and value lie inside the buffer
//! past its fixed part with even lengths.
//!
//! Input: the information buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::ndis::*;
use rhv_proto_fuzz::assert_inside;
use zerocopy::IntoBytes;

fuzz_target!(|info: &[u8]| {
    match OffloadParameters::parse(info) {
        Ok(p) => {
            assert!(info.len() >= OffloadParameters::V4_SIZE);
            let n = info.len().min(28);
            assert_eq!(p.as_bytes()[..n], info[..n]);
            assert!(p.as_bytes()[n..].iter().all(|&b| b == 0));
        }
        Err(e) => assert_eq!(
            e,
            NdisError::TooShort {
                needed: OffloadParameters::V4_SIZE,
                got: info.len()
            }
        ),
    }

    match RssConfig::parse(info) {
        Ok(c) => {
            let p = c.params;
            assert_eq!(p.as_bytes(), &info[..40]);
            assert_eq!(p.header.object_type, OBJECT_TYPE_RSS_PARAMETERS);
            assert!(usize::from(p.header.size) >= 40 && usize::from(p.header.size) <= info.len());
            let table = c.indirection_table;
            let key = c.hash_key;
            if c.disabled() {
                assert!(table.is_empty() && key.is_empty());
            }
            if table.is_empty() {
                assert!(c.disabled() || p.flags & RSS_PARAM_FLAG_ITABLE_UNCHANGED != 0);
            } else {
                let r = assert_inside(table, info);
                assert_eq!(r.start, p.indirection_table_offset as usize);
                assert!(r.start >= 40 && table.len() == usize::from(p.indirection_table_size));
                assert!(table.len() % 4 == 0 && table.len() / 4 <= RSS_MAX_INDIRECTION_ENTRIES);
                assert_eq!(c.entries().count(), table.len() / 4);
            }
            if key.is_empty() {
                assert!(c.disabled() || p.flags & RSS_PARAM_FLAG_HASH_KEY_UNCHANGED != 0);
            } else {
                let r = assert_inside(key, info);
                assert_eq!(r.start, p.hash_key_offset as usize);
                assert!(r.start >= 40 && key.len() == usize::from(p.hash_key_size));
                assert!(key.len() <= RSS_MAX_KEY_SIZE);
            }
        }
        Err(NdisError::TooShort { needed, got }) => assert!(needed == 40 && got < 40),
        Err(NdisError::BadHeader(h)) => assert_eq!(h.as_bytes(), &info[..4]),
        Err(NdisError::BadOffset(_) | NdisError::BadLength(_)) => {}
    }

    match ConfigParameterInfo::parse(info) {
        Ok((c, name, value)) => {
            assert_eq!(c.as_bytes(), &info[..20]);
            for (part, offset, len) in [
                (name, c.name_offset, c.name_length),
                (value, c.value_offset, c.value_length),
            ] {
                assert!(len % 2 == 0 && part.len() == len as usize);
                let r = assert_inside(part, info);
                if !part.is_empty() {
                    assert!(r.start == offset as usize && r.start >= 20);
                }
            }
        }
        Err(NdisError::TooShort { needed, got }) => assert!(needed == 20 && got < 20),
        Err(NdisError::BadOffset(_)) => {}
        Err(e) => panic!("ConfigParameterInfo::parse returned {e:?}"),
    }
});
