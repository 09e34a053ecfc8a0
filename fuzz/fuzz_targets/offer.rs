// SPDX-License-Identifier: GPL-2.0
//! OFFERCHANNEL and RESCIND_CHANNELOFFER as the guest accepts them (`proto::offer`).
//!
//! Invariants: an accepted offer's relid is in `1..2048`, its monitor id (if any) at most
//! 127, its connection id within 24 bits, and every field equals the bytes it came from; a
//! refusal names the field that is out of range; the device type is a known index or
//! "unknown".
//!
//! Input: the message bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhv_proto::offer::*;
use rhv_proto::vmbus::{parse, OfferChannel, RescindChannelOffer, MAX_CHANNEL_RELIDS};

fuzz_target!(|bytes: &[u8]| {
    let raw = parse::<OfferChannel>(bytes).map(|(m, _)| m);
    match parse_offer(bytes) {
        Ok(v) => {
            let m = raw.expect("accepted an offer that does not parse");
            assert!(v.relid != 0 && v.relid < MAX_CHANNEL_RELIDS);
            assert_eq!(v.relid, { m.child_relid });
            assert_eq!(v.connection_id, { m.connection_id });
            assert_eq!(v.connection_id & 0xff00_0000, 0);
            match v.monitor_id {
                Some(id) => {
                    assert!(id <= MAX_MONITOR_ID && m.monitor_allocated & 1 != 0);
                    assert_eq!(id, m.monitorid);
                }
                None => assert_eq!(m.monitor_allocated & 1, 0),
            }
            assert_eq!(v.monitor_id_raw, m.monitorid);
            assert_eq!(v.dedicated_interrupt, { m.is_dedicated_interrupt } & 1 != 0);
            let offer = m.offer;
            assert_eq!(v.class, offer.if_type);
            assert_eq!(v.instance, offer.if_instance);
            assert_eq!(v.sub_channel_index, { offer.sub_channel_index });
            assert_eq!(v.flags, { offer.chn_flags });
            assert_eq!(v.mmio_megabytes, { offer.mmio_megabytes });
            let t = device_type(&v);
            assert!(t <= DEVICE_TYPE_UNKNOWN);
            if t != DEVICE_TYPE_UNKNOWN {
                assert_eq!(KNOWN_CLASSES[usize::from(t)], v.class);
            }
        }
        Err(OfferError::Malformed(e)) => assert_eq!(raw.err(), Some(e)),
        Err(OfferError::Relid(r)) => {
            let m = raw.unwrap();
            assert_eq!(r, { m.child_relid });
            assert!(r == 0 || r >= MAX_CHANNEL_RELIDS);
        }
        Err(OfferError::MonitorId(id)) => {
            let m = raw.unwrap();
            assert!(m.monitor_allocated & 1 != 0 && id > MAX_MONITOR_ID && id == m.monitorid);
        }
        Err(OfferError::ConnectionId(c)) => {
            let m = raw.unwrap();
            assert!(c == { m.connection_id } && c & 0xff00_0000 != 0);
        }
    }
    let raw = parse::<RescindChannelOffer>(bytes).map(|(m, _)| m);
    match parse_rescind(bytes) {
        Ok(relid) => {
            assert_eq!(relid, { raw.unwrap().child_relid });
            assert!(relid != 0 && relid < MAX_CHANNEL_RELIDS);
        }
        Err(OfferError::Malformed(e)) => assert_eq!(raw.err(), Some(e)),
        Err(OfferError::Relid(r)) => {
            assert_eq!(r, { raw.unwrap().child_relid });
            assert!(r == 0 || r >= MAX_CHANNEL_RELIDS);
        }
        Err(e) => panic!("a rescind refused for {e:?}"),
    }
});
