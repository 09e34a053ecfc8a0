// SPDX-License-Identifier: GPL-2.0
//! KUnit runs of the IC logic as compiled into the module: the framework's answers to
//! NEGOTIATE and to malformed packets, and the heartbeat, shutdown and timesync services.

use kernel::prelude::*;

#[kunit_tests(rhv_utils_classes)]
mod classes {
    use crate::{HEARTBEAT, KVP, SHUTDOWN, TIMESYNC};
    use vmbus::ModAlias;

    #[test]
    fn class_aliases_come_from_the_core() {
        // The alias the C driver's hv_utils.ko is autoloaded by, for heartbeat.
        assert_eq!(
            ModAlias::of(&HEARTBEAT).as_bytes(),
            b"vmbus:394f16571591784eab55382f3bd5422d"
        );
    }

    #[test]
    fn classes_are_distinct() {
        let classes = [HEARTBEAT, SHUTDOWN, TIMESYNC, KVP];
        for (i, a) in classes.iter().enumerate() {
            for b in classes.iter().skip(i + 1) {
                assert!(a != b);
            }
        }
    }
}

/// Builds a host packet of type `ty` with `body` into `buf`; returns its length.
#[cfg(CONFIG_KUNIT)]
fn host_packet(buf: &mut [u8], ty: crate::ic::IcMessageType, body: &[u8]) -> usize {
    use crate::ic::*;
    let header = IcMessageHeader {
        icverframe: FRAMEWORK_VERSION_3,
        icmsgtype: ty as u16,
        icvermsg: IcVersion::new(3, 0),
        icmsgsize: 0,
        status: 0,
        ictransaction_id: 7,
        icflags: ICMSG_FLAG_TRANSACTION | ICMSG_FLAG_REQUEST,
        reserved: [0; 2],
    };
    write_packet(buf, header, body).unwrap_or(0)
}

#[kunit_tests(rhv_utils_framework)]
mod framework_tests {
    use super::host_packet;
    use crate::framework::*;
    use crate::heartbeat;
    use crate::ic::*;
    use crate::shutdown;
    use crate::timesync;

    fn negotiate_packet(buf: &mut [u8], fw: &[IcVersion], srv: &[IcVersion]) -> usize {
        let mut body = [0u8; 64];
        let n = write_negotiate(&mut body, fw, srv).unwrap_or(0);
        host_packet(buf, IcMessageType::Negotiate, &body[..n])
    }

    #[test]
    fn negotiate_picks_linux_versions() {
        let mut buf = [0u8; 128];
        let len = negotiate_packet(
            &mut buf,
            &[FRAMEWORK_VERSION_1, FRAMEWORK_VERSION_3],
            &[
                IcVersion::new(1, 0),
                IcVersion::new(3, 0),
                IcVersion::new(3, 2),
            ],
        );
        let (n, exchange) = answer(&mut buf, len, &shutdown::SERVICE, None, |_, _| {
            Verdict::Failed
        })
        .unwrap();
        assert_eq!(n, len);
        assert_eq!(
            exchange,
            Exchange::Negotiated {
                framework: FRAMEWORK_VERSION_3,
                service: IcVersion::new(3, 2)
            }
        );
        let p = parse_packet(&buf[..n]).unwrap();
        assert_eq!(
            p.header.icflags,
            ICMSG_FLAG_TRANSACTION | ICMSG_FLAG_RESPONSE
        );
        assert_eq!({ p.header.status }, HV_S_OK);
        assert_eq!({ p.header.icmsgsize }, 16);
        assert_eq!({ p.header.ictransaction_id }, 7);
        let chosen = parse_negotiate(p.body).unwrap();
        assert_eq!(chosen.framework, &[FRAMEWORK_VERSION_3]);
        assert_eq!(chosen.service, &[IcVersion::new(3, 2)]);
    }

    #[test]
    fn negotiate_without_common_version_lists_none() {
        let mut buf = [0u8; 128];
        let len = negotiate_packet(&mut buf, &[FRAMEWORK_VERSION_3], &[IcVersion::new(9, 9)]);
        let (n, exchange) = answer(&mut buf, len, &heartbeat::SERVICE, None, |_, _| {
            Verdict::Done
        })
        .unwrap();
        assert_eq!(exchange, Exchange::NoCommonVersion);
        let p = parse_packet(&buf[..n]).unwrap();
        let chosen = parse_negotiate(p.body).unwrap();
        assert!(chosen.framework.is_empty() && chosen.service.is_empty());
    }

    #[test]
    fn malformed_negotiate_fails_and_grows_the_answer() {
        // Counts that promise more versions than the packet holds.
        let mut buf = [0u8; 128];
        let mut body = [0u8; 8];
        body[0..2].copy_from_slice(&5u16.to_le_bytes());
        let len = host_packet(&mut buf, IcMessageType::Negotiate, &body);
        let (_, exchange) = answer(&mut buf, len, &heartbeat::SERVICE, None, |_, _| {
            Verdict::Done
        })
        .unwrap();
        assert!(matches!(exchange, Exchange::BadNegotiate(_)));
        let p = parse_packet(&buf).unwrap();
        assert_eq!({ p.header.status }, HV_E_FAIL);
        // A NEGOTIATE without a body: the answer is longer than the packet.
        let len = host_packet(&mut buf, IcMessageType::Negotiate, &[]);
        let (n, _) = answer(&mut buf, len, &heartbeat::SERVICE, None, |_, _| {
            Verdict::Done
        })
        .unwrap();
        assert_eq!(n, ICMSG_HDR_SIZE + negotiate_body_size(0, 0));
        assert!(n <= answer_capacity(len));
        assert_eq!(
            { parse_packet(&buf[..n]).unwrap().pipe.msgsize } as usize,
            n - 8
        );
    }

    #[test]
    fn bad_packets_are_dropped_or_failed() {
        let mut buf = [0u8; 128];
        assert_eq!(
            answer(&mut buf, 27, &heartbeat::SERVICE, None, |_, _| {
                Verdict::Done
            }),
            Err(Dropped::Short(27))
        );
        assert_eq!(
            answer(
                &mut buf,
                MAX_PACKET + 1,
                &heartbeat::SERVICE,
                None,
                |_, _| Verdict::Done
            ),
            Err(Dropped::TooLong(MAX_PACKET + 1))
        );
        // Another service's message: failed, not handed to the service.
        let len = host_packet(&mut buf, IcMessageType::Shutdown, &[0; 8]);
        let (_, exchange) = answer(&mut buf, len, &heartbeat::SERVICE, None, |_, _| {
            Verdict::Done
        })
        .unwrap();
        assert_eq!(
            exchange,
            Exchange::Unexpected(IcMessageType::Shutdown as u16)
        );
        assert_eq!({ parse_packet(&buf).unwrap().header.status }, HV_E_FAIL);
        // An unknown type.
        buf[12..14].copy_from_slice(&6u16.to_le_bytes());
        let (_, exchange) = answer(&mut buf, len, &heartbeat::SERVICE, None, |_, _| {
            Verdict::Done
        })
        .unwrap();
        assert_eq!(exchange, Exchange::Unexpected(6));
    }

    #[test]
    fn heartbeat_answers_seq_plus_one() {
        let mut buf = [0u8; 128];
        let msg = HeartbeatMessage {
            seq_num: 41,
            reserved: [0; 8],
        };
        let len = host_packet(
            &mut buf,
            IcMessageType::Heartbeat,
            zerocopy::IntoBytes::as_bytes(&msg),
        );
        let (n, exchange) = answer(&mut buf, len, &heartbeat::SERVICE, None, |_, b| {
            heartbeat::on_message(b)
        })
        .unwrap();
        assert_eq!((n, exchange), (len, Exchange::Answered { status: HV_S_OK }));
        let p = parse_packet(&buf[..n]).unwrap();
        assert_eq!(
            p.header.icflags,
            ICMSG_FLAG_TRANSACTION | ICMSG_FLAG_RESPONSE
        );
        assert_eq!(
            { parse_body::<HeartbeatMessage>(p.body).unwrap().seq_num },
            42
        );
        // Only the sequence number is required; fewer bytes are dropped.
        let len = host_packet(&mut buf, IcMessageType::Heartbeat, &u64::MAX.to_le_bytes());
        answer(&mut buf, len, &heartbeat::SERVICE, None, |_, b| {
            heartbeat::on_message(b)
        })
        .unwrap();
        assert_eq!(&buf[28..36], &0u64.to_le_bytes());
        let len = host_packet(&mut buf, IcMessageType::Heartbeat, &[1, 2, 3]);
        assert_eq!(
            answer(&mut buf, len, &heartbeat::SERVICE, None, |_, b| {
                heartbeat::on_message(b)
            }),
            Err(Dropped::ShortBody { needed: 8, got: 3 })
        );
    }

    fn shutdown_body(flags: u32) -> [u8; 2060] {
        let mut b = [0u8; 2060];
        b[8..12].copy_from_slice(&flags.to_le_bytes());
        b
    }

    #[test]
    fn shutdown_requests() {
        use shutdown::Request;
        let cases = [
            (0, Request::PowerOff, Verdict::Done),
            (SHUTDOWN_FLAG_FORCE, Request::PowerOff, Verdict::Done),
            (SHUTDOWN_FLAG_RESTART, Request::Reboot, Verdict::Done),
            (
                SHUTDOWN_FLAG_RESTART | SHUTDOWN_FLAG_FORCE,
                Request::Reboot,
                Verdict::Done,
            ),
            (SHUTDOWN_FLAG_HIBERNATE, Request::Hibernate, Verdict::Failed),
            (8, Request::Invalid(8), Verdict::Failed),
        ];
        for (flags, request, verdict) in cases {
            let r = shutdown::parse_request(&shutdown_body(flags)).unwrap();
            assert_eq!((r, r.verdict()), (request, verdict));
        }
        assert_eq!(
            shutdown::parse_request(&[0; 12]),
            Err(Verdict::ShortBody { needed: 2060 })
        );
    }

    #[test]
    fn timesync_samples_by_version() {
        let mut v3 = [0u8; 25];
        v3[0..8].copy_from_slice(&1234u64.to_le_bytes());
        v3[24] = TIMESYNC_FLAG_SYNC;
        let s = timesync::parse_sample(IcVersion::new(3, 0), &v3).unwrap();
        assert_eq!(
            (s.host_time, s.reference, s.flags),
            (1234, None, TIMESYNC_FLAG_SYNC)
        );
        let mut v4 = [0u8; 22];
        v4[0..8].copy_from_slice(&1234u64.to_le_bytes());
        v4[8..16].copy_from_slice(&34u64.to_le_bytes());
        v4[16] = TIMESYNC_FLAG_SAMPLE;
        let s = timesync::parse_sample(TIMESYNC_VERSION_4, &v4).unwrap();
        assert_eq!(s.reference, Some(34));
        // The offset ignores when it was received if the host said when it sampled.
        assert_eq!(timesync::host_offset(&s, 99), 1200);
        assert_eq!(
            timesync::host_unix_nanos(WINDOWS_EPOCH_DELTA - 1200, 1200),
            Some(0)
        );
        assert!(timesync::parse_sample(TIMESYNC_VERSION_4, &v4[..21]).is_err());
        assert!(timesync::parse_sample(IcVersion::new(1, 0), &v4).is_err());
    }

    #[test]
    fn steps_as_linux_does() {
        let t = timesync::IMPLICIT_SYNC_BEHIND_NS;
        let hour = 3_600_000_000_000;
        // SYNC always steps, either way.
        assert!(timesync::should_step(true, false, 5, 5));
        assert!(timesync::should_step(true, false, 0, hour));
        // Without timesync_implicit a SAMPLE never steps, however far off the clock is.
        assert!(!timesync::should_step(false, false, hour, 0));
        assert!(!timesync::should_step(false, false, 0, hour));
        // With it, only a guest at least 5 s behind is stepped, never one ahead.
        assert!(timesync::should_step(false, true, t, 0));
        assert!(!timesync::should_step(false, true, t - 1, 0));
        assert!(!timesync::should_step(false, true, 0, hour));
        assert!(timesync::should_step(false, true, i64::MAX, i64::MIN));
        assert!(!timesync::should_step(false, true, i64::MIN, i64::MAX));
    }
}
