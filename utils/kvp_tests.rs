// SPDX-License-Identifier: GPL-2.0
//! KUnit runs of the KVP codec (kvp_daemon.rs) as compiled into the module: the daemon's
//! registration, host requests into daemon messages and daemon answers into host answers,
//! and the malformed input of either side.

use kernel::prelude::*;

#[kunit_tests(rhv_utils_kvp_codec)]
mod kvp_codec {
    use crate::ic::{HV_E_FAIL, HV_GUID_NOTFOUND, HV_S_CONT, HV_S_OK};
    use crate::kvp_daemon::*;
    use crate::kvp_proto::*;
    use kernel::prelude::*;
    use zerocopy::{FromBytes, IntoBytes};

    fn buffer(len: usize) -> KVec<u8> {
        let mut v = KVec::new();
        assert!(v.resize(len, 0, GFP_KERNEL).is_ok());
        v
    }

    fn host(buf: &mut [u8]) -> &mut KvpMessage {
        KvpMessage::mut_from_prefix(buf)
            .map(|(m, _)| m)
            .ok()
            .unwrap()
    }

    fn daemon(buf: &mut [u8]) -> &mut DaemonMessage {
        DaemonMessage::mut_from_bytes(buf).ok().unwrap()
    }

    /// The NUL-terminated string at the start of `field`.
    fn c_str(field: &[u8]) -> &[u8] {
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        &field[..end]
    }

    /// A host request of `op` on `pool` with `key` (and `value` for SET) in `buf`.
    fn request(buf: &mut [u8], op: KvpOperation, pool: u8, key: &str, value: &str) {
        let m = host(buf);
        m.header.operation = op as u8;
        m.header.pool = pool;
        match op {
            KvpOperation::Delete => {
                let d = m.delete_mut();
                d.key_size = encode_utf16(key, &mut d.key).unwrap();
            }
            _ => {
                let v = m.value_mut();
                v.key_size = encode_utf16(key, &mut v.key).unwrap();
                v.value_type = REG_SZ;
                v.value_size = encode_utf16(value, &mut v.value).unwrap();
            }
        }
    }

    #[test]
    fn registration_answers_with_the_daemons_opcode() {
        let mut buf = buffer(DAEMON_MSG_SIZE);
        let msg = daemon(&mut buf);
        assert_eq!(parse_registration(msg), None);
        msg.as_mut_bytes()[0] = KVP_OP_REGISTER1;
        assert_eq!(parse_registration(msg), Some(DaemonKind::Current));
        msg.as_mut_bytes()[0] = KVP_OP_REGISTER;
        assert_eq!(parse_registration(msg), Some(DaemonKind::Legacy));
        msg.as_mut_bytes()[0] = 7;
        assert_eq!(parse_registration(msg), None);
        write_registration(DaemonKind::Current, msg);
        let bytes = msg.as_bytes();
        assert_eq!(bytes[0], KVP_OP_REGISTER1);
        assert_eq!(c_str(&bytes[4..]), b"3.1");
        assert_eq!(bytes.len(), 7432);
    }

    #[test]
    fn set_becomes_utf8_with_sizes_counting_the_nul() {
        let mut hbuf = buffer(2580);
        let mut dbuf = buffer(DAEMON_MSG_SIZE);
        request(&mut hbuf, KvpOperation::Set, 0, "clé", "vålue ✓");
        assert_eq!(to_daemon(&hbuf, daemon(&mut dbuf)), Ok(KvpOperation::Set));
        assert_eq!(&dbuf[..2], &[1, 0]);
        let v = host(&mut dbuf).value();
        assert_eq!(c_str(&v.key), "clé".as_bytes());
        assert_eq!({ v.key_size }, 5);
        assert_eq!(c_str(&v.value), "vålue ✓".as_bytes());
        assert_eq!({ v.value_size } as usize, "vålue ✓".len() + 1);
    }

    #[test]
    fn numbers_become_decimal_strings() {
        let mut hbuf = buffer(2580);
        let mut dbuf = buffer(DAEMON_MSG_SIZE);
        request(&mut hbuf, KvpOperation::Set, 1, "n", "");
        let v = host(&mut hbuf).value_mut();
        v.value_type = REG_U32;
        v.value[..4].copy_from_slice(&4_000_000_000u32.to_le_bytes());
        assert!(to_daemon(&hbuf, daemon(&mut dbuf)).is_ok());
        assert_eq!(c_str(&host(&mut dbuf).value().value), b"4000000000");
        assert_eq!({ host(&mut dbuf).value().value_size }, 11);
        let v = host(&mut hbuf).value_mut();
        v.value_type = REG_U64;
        v.value[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(to_daemon(&hbuf, daemon(&mut dbuf)).is_ok());
        assert_eq!(
            c_str(&host(&mut dbuf).value().value),
            b"18446744073709551615"
        );
        host(&mut hbuf).value_mut().value_type = 3;
        assert_eq!(
            to_daemon(&hbuf, daemon(&mut dbuf)),
            Err(Refusal::BadValueType(3))
        );
    }

    #[test]
    fn get_delete_and_enumerate_carry_their_fields() {
        let mut hbuf = buffer(2580);
        let mut dbuf = buffer(DAEMON_MSG_SIZE);
        request(&mut hbuf, KvpOperation::Get, 0, "key", "");
        assert_eq!(to_daemon(&hbuf, daemon(&mut dbuf)), Ok(KvpOperation::Get));
        assert_eq!(c_str(&host(&mut dbuf).value().key), b"key");
        assert_eq!({ host(&mut dbuf).value().value_size }, 2048);
        hbuf.fill(0);
        request(&mut hbuf, KvpOperation::Delete, 0, "gone", "");
        assert_eq!(
            to_daemon(&hbuf, daemon(&mut dbuf)),
            Ok(KvpOperation::Delete)
        );
        assert_eq!(c_str(&host(&mut dbuf).delete().key), b"gone");
        assert_eq!({ host(&mut dbuf).delete().key_size }, 5);
        hbuf.fill(0);
        let m = host(&mut hbuf);
        m.header.operation = KvpOperation::Enumerate as u8;
        m.header.pool = KvpPool::Auto as u8;
        m.enumerate_mut().index = 9;
        assert!(to_daemon(&hbuf, daemon(&mut dbuf)).is_ok());
        assert_eq!(&dbuf[..8], &[3, 2, 0, 0, 9, 0, 0, 0]);
    }

    #[test]
    fn malformed_requests_never_reach_the_daemon() {
        let mut hbuf = buffer(2580);
        let mut dbuf = buffer(DAEMON_MSG_SIZE);
        request(&mut hbuf, KvpOperation::Set, 0, "k", "v");
        // Short.
        assert!(matches!(
            to_daemon(&hbuf[..2579], daemon(&mut dbuf)),
            Err(Refusal::Bad(KvpError::TooShort { .. }))
        ));
        assert!(matches!(
            to_daemon(&hbuf[..3], daemon(&mut dbuf)),
            Err(Refusal::Bad(KvpError::TooShort { .. }))
        ));
        // Pool and operation out of range; IP injection.
        hbuf[1] = 5;
        assert_eq!(
            to_daemon(&hbuf, daemon(&mut dbuf)),
            Err(Refusal::Bad(KvpError::UnknownPool(5)))
        );
        hbuf[1] = 0;
        hbuf[0] = 6;
        assert_eq!(
            to_daemon(&hbuf, daemon(&mut dbuf)),
            Err(Refusal::Bad(KvpError::UnknownOperation(6)))
        );
        hbuf[0] = KvpOperation::SetIpInfo as u8;
        assert_eq!(
            to_daemon(&hbuf, daemon(&mut dbuf)),
            Err(Refusal::IpInjection)
        );
        hbuf[0] = KvpOperation::Set as u8;
        // Sizes: odd, past the field, without the NUL.
        let v = host(&mut hbuf).value_mut();
        v.key_size = 3;
        assert!(to_daemon(&hbuf, daemon(&mut dbuf)).is_err());
        host(&mut hbuf).value_mut().key_size = 514;
        assert!(to_daemon(&hbuf, daemon(&mut dbuf)).is_err());
        host(&mut hbuf).value_mut().key_size = 2;
        assert!(matches!(
            to_daemon(&hbuf, daemon(&mut dbuf)),
            Err(Refusal::Bad(KvpError::BadSize { .. }))
        ));
        // A key filling its field without a NUL.
        let v = host(&mut hbuf).value_mut();
        v.key.fill(b'a');
        v.key_size = 512;
        assert!(to_daemon(&hbuf, daemon(&mut dbuf)).is_err());
        // A lone surrogate.
        let v = host(&mut hbuf).value_mut();
        v.key[..4].copy_from_slice(&[0x00, 0xd8, 0, 0]);
        v.key_size = 4;
        assert_eq!(
            to_daemon(&hbuf, daemon(&mut dbuf)),
            Err(Refusal::Bad(KvpError::BadUtf16))
        );
    }

    #[test]
    fn long_utf16_values_fit_or_fail() {
        // 1023 BMP characters need up to 3 UTF-8 bytes each: more than the daemon's field.
        let mut field = buffer(2048);
        for u in field.chunks_exact_mut(2).take(1023) {
            u.copy_from_slice(&0x20acu16.to_le_bytes());
        }
        let mut out = buffer(2048);
        assert!(matches!(
            utf16_to_utf8(&field, 2048, &mut out),
            Err(KvpError::TooLong { .. })
        ));
        // 682 of them (2046 bytes) and the NUL fit exactly.
        field[682 * 2..].fill(0);
        assert_eq!(utf16_to_utf8(&field, 2048, &mut out), Ok(2047));
    }

    #[test]
    fn answers_become_utf16_for_the_host() {
        let mut hbuf = buffer(2580);
        let mut dbuf = buffer(DAEMON_MSG_SIZE);
        let d = &mut host(&mut dbuf).enumerate_mut().data;
        d.key[..7].copy_from_slice(b"OSName\0");
        d.value[..5].copy_from_slice("Déb\0".as_bytes());
        let status = to_host(
            KvpOperation::Enumerate,
            DaemonKind::Current,
            daemon(&mut dbuf),
            &mut hbuf,
        );
        assert_eq!(status, HV_S_OK);
        let h = &host(&mut hbuf).enumerate().data;
        assert_eq!({ h.key_size }, 14);
        assert_eq!({ h.value_size }, 8);
        assert_eq!({ h.value_type }, REG_SZ);
        let key = Utf16Str::new(&h.key, h.key_size).unwrap();
        assert!(key.chars().map(|c| c.unwrap()).eq("OSName".chars()));
        // GET reads the value from the GET layout.
        hbuf.fill(0);
        let v = host(&mut dbuf).value_mut();
        v.value[..3].copy_from_slice(b"hi\0");
        assert_eq!(
            to_host(
                KvpOperation::Get,
                DaemonKind::Current,
                daemon(&mut dbuf),
                &mut hbuf
            ),
            HV_S_OK
        );
        assert_eq!({ host(&mut hbuf).value().value_size }, 6);
    }

    #[test]
    fn daemon_errors_and_bad_strings_reach_the_host_as_statuses() {
        let mut hbuf = buffer(2580);
        let mut dbuf = buffer(DAEMON_MSG_SIZE);
        dbuf[..4].copy_from_slice(&HV_S_CONT.to_le_bytes());
        let msg = daemon(&mut dbuf);
        assert_eq!(
            to_host(KvpOperation::Enumerate, DaemonKind::Current, msg, &mut hbuf),
            HV_S_CONT
        );
        dbuf[..4].copy_from_slice(&HV_GUID_NOTFOUND.to_le_bytes());
        let msg = daemon(&mut dbuf);
        assert_eq!(
            to_host(KvpOperation::Set, DaemonKind::Current, msg, &mut hbuf),
            HV_GUID_NOTFOUND
        );
        // A legacy daemon says "no more" with an empty key.
        dbuf.fill(0);
        let msg = daemon(&mut dbuf);
        assert_eq!(
            to_host(KvpOperation::Enumerate, DaemonKind::Legacy, msg, &mut hbuf),
            HV_S_CONT
        );
        // A key without a NUL, a value that is not UTF-8.
        host(&mut dbuf).enumerate_mut().data.key.fill(b'k');
        let msg = daemon(&mut dbuf);
        assert_eq!(
            to_host(KvpOperation::Enumerate, DaemonKind::Current, msg, &mut hbuf),
            HV_E_FAIL
        );
        dbuf.fill(0);
        let d = &mut host(&mut dbuf).enumerate_mut().data;
        d.key[0] = b'k';
        d.value[..2].copy_from_slice(&[0xff, 0]);
        let msg = daemon(&mut dbuf);
        assert_eq!(
            to_host(KvpOperation::Enumerate, DaemonKind::Current, msg, &mut hbuf),
            HV_E_FAIL
        );
        // A host body too short for the answer.
        dbuf.fill(0);
        dbuf[4 + 4 + 12] = b'k';
        let msg = daemon(&mut dbuf);
        assert_eq!(
            to_host(
                KvpOperation::Enumerate,
                DaemonKind::Current,
                msg,
                &mut hbuf[..100]
            ),
            HV_E_FAIL
        );
    }
}
