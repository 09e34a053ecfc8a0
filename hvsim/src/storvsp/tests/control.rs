// SPDX-License-Identifier: GPL-2.0
//! Hot-plug, control commands and completions held back by a full ring.

use super::*;

#[test]
fn hot_plug_changes_the_luns_and_asks_for_a_rescan() {
    let mut g = Guest::new(&["ram:size=1M"], 2);
    assert!(
        g.dev.rescan_packet().is_none(),
        "boot disks need no notification"
    );
    g.dev.on_open(&open_request(0)).unwrap();
    g.linux_init();
    let r = g
        .dev
        .control(&json!({"op": "add_disk", "disk": "ram:size=2M,sector=4096"}));
    assert_eq!(r, Ok(json!({"lun": 1})));
    let bus = g.dev.rescan_packet().expect("ENUMERATE_BUS");
    assert_eq!(bus.len(), 64);
    assert_eq!(&bus[..4], &(Operation::EnumerateBus as u32).to_le_bytes());
    g.dev.rescan_sent(Err(SendError::Full));
    assert!(g.dev.rescan_packet().is_some(), "retried after a full ring");
    g.dev.rescan_sent(Ok(()));
    assert!(g.dev.rescan_packet().is_none());
    let rl = [REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    let srb = g.srb(0, 0, &rl, vstor::DATA_IN_READ, Some((0, 256)));
    assert_eq!({ srb.data_transfer_length }, 24);
    assert_eq!(g.data(16, 2), vec![0, 1]);
    let r = g
        .dev
        .control(&json!({"op": "add_disk", "disk": "ram:size=1M", "lun": 7}));
    assert_eq!(r, Ok(json!({"lun": 7})));
    let r = g.dev.control(&json!({"op": "remove_disk", "lun": 1}));
    assert_eq!(r, Ok(json!({"lun": 1, "backend": "ram"})));
    let srb = g.srb(
        0,
        1,
        &[TEST_UNIT_READY, 0, 0, 0, 0, 0],
        vstor::DATA_IN_UNKNOWN,
        None,
    );
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_INVALID_LUN);
    let srb = g.srb(
        0,
        7,
        &[TEST_UNIT_READY, 0, 0, 0, 0, 0],
        vstor::DATA_IN_UNKNOWN,
        None,
    );
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_SUCCESS);
    // Without an initialized guest there is nobody to tell.
    g.dev.on_close(0);
    g.dev
        .control(&json!({"op": "remove_disk", "lun": 7}))
        .unwrap();
    assert!(g.dev.rescan_packet().is_none());
}

#[test]
fn control_errors() {
    let mut g = Guest::new(&["ram:size=1M"], 2);
    for bad in [
        json!({}),
        json!({"op": "frobnicate"}),
        json!({"op": "add_disk"}),
        json!({"op": "add_disk", "disk": "ram"}),
        json!({"op": "add_disk", "disk": "ram:size=1M", "lun": 0}),
        json!({"op": "add_disk", "disk": "ram:size=1M", "lun": 300}),
        json!({"op": "add_disk", "disk": "file:path=/nonexistent/x.img"}),
        json!({"op": "remove_disk"}),
        json!({"op": "remove_disk", "lun": 3}),
        json!({"op": "remove_disk", "lun": -1}),
    ] {
        assert!(g.dev.control(&bad).is_err(), "{bad}");
    }
    let stats = g.dev.control(&json!({"op": "stats"})).unwrap();
    assert_eq!(stats["controller"], "storvsp0");
    assert_eq!(stats["instance_id"], "f3a5c8d0-6e2b-4c71-9a1d-2b7e5c0d0000");
    assert_eq!(stats["disks"].as_array().unwrap().len(), 1);
    assert_eq!(stats["state"], "await_begin");
}

#[test]
fn completions_wait_for_ring_space() {
    let mut g = Guest::new(&["ram:size=1M"], 2);
    g.linux_init();
    g.ch.full = true;
    for _ in 0..3 {
        assert!(g
            .send_raw(
                0,
                PacketType::DataInband,
                &[],
                request(Operation::ResetBus).as_bytes()
            )
            .is_none());
    }
    g.ch.full = false;
    g.dev.flush_deferred(&mut g.ch, 0);
    let ids: Vec<u64> = g.ch.completions.iter().rev().take(3).map(|c| c.0).collect();
    assert_eq!(ids, vec![g.next_id, g.next_id - 1, g.next_id - 2]);
    assert_eq!(g.dev.stats()["counters"]["completions_deferred"], 3);
}

#[test]
fn misbehave_sends_bad_packets_next_to_srb_completions_only() {
    let mut g = Guest::new(&["ram:size=1M"], 1);
    g.dev.on_open(&open_request(0)).unwrap();
    g.linux_init();
    let r = g
        .dev
        .control(&json!({"op": "misbehave", "kinds": ["short", "duplicate"], "count": 2}));
    assert_eq!(
        r,
        Ok(json!({"kinds": ["short", "duplicate"], "every": 1, "count": 2}))
    );
    let mut tur = request(Operation::ExecuteSrb);
    let mut srb = ScsiRequest::new_zeroed();
    srb.length = vstor::SRB_SIZE_WIN8 as u16;
    srb.cdb_length = 6;
    tur.set_srb(&srb);
    let sent = g.send_raw_all(0, PacketType::DataInband, &[], tur.as_bytes());
    let id = g.next_id;
    assert_eq!(sent.len(), 2);
    assert_eq!((sent[0].0, sent[0].1.len()), (id, 8), "truncated first");
    assert_eq!((sent[1].0, sent[1].1.len()), (id, 64), "then the real one");
    let sent = g.send_raw_all(0, PacketType::DataInband, &[], tur.as_bytes());
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], sent[1], "the completion twice");
    // Spent: one completion per SRB again, and other requests were never touched.
    assert_eq!(
        g.send_raw_all(0, PacketType::DataInband, &[], tur.as_bytes())
            .len(),
        1
    );
    g.op(&request(Operation::QueryProperties));
    let stats = g.dev.control(&json!({"op": "stats"})).unwrap();
    assert_eq!(
        stats["misbehaved"],
        json!({"unknown-id": 0, "short": 1, "duplicate": 1, "stale": 0, "overlong": 0,
            "sense-overflow": 0, "error-no-sense": 0, "success-busy": 0})
    );
    assert!(g
        .dev
        .control(&json!({"op": "misbehave", "kinds": ["loud"]}))
        .is_err());
}

/// A TEST UNIT READY request, in-band.
fn test_unit_ready() -> VstorPacket {
    let mut tur = request(Operation::ExecuteSrb);
    let mut srb = ScsiRequest::new_zeroed();
    srb.length = vstor::SRB_SIZE_WIN8 as u16;
    srb.cdb_length = 6;
    tur.set_srb(&srb);
    tur
}

impl Guest {
    /// Sends `packet` in-band on the primary channel under transaction id `id`; returns
    /// every packet the controller sent at once.
    fn send_with_id(&mut self, id: u64, packet: &VstorPacket) -> Vec<(u64, Vec<u8>)> {
        self.next_id = id - 1;
        self.send_raw_all(0, PacketType::DataInband, &[], packet.as_bytes())
    }

    /// Serves every held request as if its time had come; returns what was sent.
    fn release_held(&mut self) -> Vec<(u64, Vec<u8>)> {
        let before = self.ch.completions.len();
        let later = std::time::Instant::now() + std::time::Duration::from_secs(3600);
        for r in self.dev.held.take_due(later) {
            self.dev
                .serve_packet(&mut self.ch, r.subchannel, &r.packet());
        }
        self.ch.completions.split_off(before)
    }
}

#[test]
fn stale_resends_an_old_completion_of_the_slot_before_serving_the_new_request() {
    let mut g = Guest::new(&["ram:size=1M"], 1);
    g.dev.on_open(&open_request(0)).unwrap();
    g.linux_init();
    g.dev
        .control(&json!({"op": "misbehave", "kinds": ["stale"]}))
        .unwrap();
    let tur = test_unit_ready();
    let slot7 = |generation: u64| generation << 32 | 7;
    assert_eq!(g.send_with_id(slot7(1), &tur).len(), 1);
    // Too recent to be sent again: served and answered at once.
    let sent = g.send_with_id(slot7(2), &tur);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, slot7(2));
    for slot in 0..held::STALE_MIN_AGE {
        assert_eq!(g.send_with_id(1 << 32 | slot, &tur).len(), 1);
    }
    // The slot comes back: its last completion again, and the new request waits.
    let sent = g.send_with_id(slot7(3), &tur);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, slot7(2), "the old completion, under its own id");
    assert_eq!(sent[0].1.len(), 64);
    assert_eq!(g.dev.held.held(), 1);
    let served = g.release_held();
    assert_eq!(served.len(), 1);
    assert_eq!(served[0].0, slot7(3), "then the real one");
    let stats = g.dev.control(&json!({"op": "stats"})).unwrap();
    assert_eq!(stats["misbehaved"]["stale"], 1);
    assert_eq!(stats["counters"]["srbs_held"], 1);
    // Sent once: the slot's next SRB is answered at once.
    assert_eq!(g.send_with_id(slot7(4), &tur).len(), 1);
}

#[test]
fn delay_holds_every_srb_until_it_is_due_and_a_closed_channel_drops_them() {
    let mut g = Guest::new(&["ram:size=1M"], 1);
    g.dev.on_open(&open_request(0)).unwrap();
    g.linux_init();
    assert_eq!(
        g.dev.control(&json!({"op": "delay", "ms": 50})),
        Ok(json!({"ms": 50}))
    );
    assert!(g
        .dev
        .control(&json!({"op": "delay", "ms": 10_000_000}))
        .is_err());
    assert!(g.dev.control(&json!({"op": "delay"})).is_err());
    let tur = test_unit_ready();
    assert!(g.send_with_id(5, &tur).is_empty(), "held, not answered");
    assert!(g.dev.held.take_due(std::time::Instant::now()).is_empty());
    // Other requests are not held.
    g.op(&request(Operation::QueryProperties));
    let served = g.release_held();
    assert_eq!(served.len(), 1);
    assert_eq!(served[0].0, 5);
    assert!(g.send_with_id(6, &tur).is_empty());
    g.dev.on_close(0);
    assert!(g.release_held().is_empty());
    let stats = g.dev.control(&json!({"op": "stats"})).unwrap();
    assert_eq!(stats["counters"]["held_srbs_dropped"], 1);
    g.dev.control(&json!({"op": "delay", "ms": 0})).unwrap();
}

#[test]
fn misbehave_makes_the_real_completion_a_bad_one_after_the_data_moved() {
    let mut g = Guest::new(&["ram:size=1M"], 1);
    g.dev.on_open(&open_request(0)).unwrap();
    g.linux_init();
    let data: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    g.put_data(0, &data);
    g.srb(
        0,
        0,
        &rw16(WRITE_16, 8, 8),
        vstor::DATA_IN_WRITE,
        Some((0, 4096)),
    );
    g.dev
        .control(&json!({"op": "misbehave",
            "kinds": ["overlong", "sense-overflow", "error-no-sense", "success-busy"]}))
        .unwrap();
    let read = |g: &mut Guest| {
        g.put_data(0, &[0; 4096]);
        let srb = g.srb(
            0,
            0,
            &rw16(READ_16, 8, 8),
            vstor::DATA_IN_READ,
            Some((0, 4096)),
        );
        assert!(g.data(0, 4096) == data, "the data moved all the same");
        srb
    };
    let srb = read(&mut g);
    assert_eq!(srb.srb_status, vstor::SRB_STATUS_SUCCESS);
    assert_eq!(
        { srb.data_transfer_length },
        4096 + misbehave::OVERLONG_EXTRA,
        "overlong"
    );
    let srb = read(&mut g);
    assert_eq!(
        srb.srb_status,
        vstor::SRB_STATUS_ERROR | vstor::SRB_STATUS_AUTOSENSE_VALID
    );
    assert_eq!(srb.scsi_status, 0x02, "CHECK CONDITION");
    assert_eq!(srb.sense_info_length, misbehave::SENSE_OVERFLOW_LEN);
    assert!(usize::from(srb.sense_info_length) > vstor::SRB_CDB_AREA_SIZE);
    assert_eq!((srb.cdb[0], srb.cdb[2], srb.cdb[12]), (0x70, 0x06, 0x29));
    let srb = read(&mut g);
    assert_eq!(
        (srb.srb_status, srb.scsi_status),
        (vstor::SRB_STATUS_ERROR, 0)
    );
    assert_eq!({ srb.data_transfer_length }, 4096);
    let srb = read(&mut g);
    assert_eq!(
        (srb.srb_status, srb.scsi_status),
        (vstor::SRB_STATUS_SUCCESS, 0x08)
    );
    // One packet per completion, and the plan took turns.
    let srb = read(&mut g);
    assert_eq!(
        { srb.data_transfer_length },
        4096 + misbehave::OVERLONG_EXTRA
    );
    let done = g.dev.control(&json!({"op": "stats"})).unwrap()["misbehaved"].clone();
    assert_eq!(
        done,
        json!({"unknown-id": 0, "short": 0, "duplicate": 0, "stale": 0, "overlong": 2,
            "sense-overflow": 1, "error-no-sense": 1, "success-busy": 1})
    );
}
