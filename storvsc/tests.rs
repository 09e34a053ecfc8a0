// SPDX-License-Identifier: GPL-2.0
//! KUnit runs of the SRB logic as compiled into the module: packing commands into
//! EXECUTE_SRB packets, reading the host's completions (malformed ones included), mapping SRB
//! and SCSI statuses to the midlayer's result, and the transaction ids.

use kernel::prelude::*;

#[cfg(CONFIG_KUNIT)]
use crate::proto::vstor::{self, DataDirection, Operation, ScsiRequest, VstorPacket};
#[cfg(CONFIG_KUNIT)]
use crate::srb::{self, Command, Outcome, Sent};
#[cfg(CONFIG_KUNIT)]
use zerocopy::FromZeros;

/// A READ(10) of `length` bytes at LUN 3 of target 0.
#[cfg(CONFIG_KUNIT)]
fn read10(length: u32) -> Command {
    let mut cdb = [0u8; 16];
    cdb[0] = 0x28;
    cdb[8] = 8;
    Command {
        cdb,
        cdb_len: 10,
        path: 0,
        target: 0,
        lun: 3,
        direction: DataDirection::Read,
        length,
        tagged: true,
    }
}

/// The completion the host would send for `cmd` with `srb_status`, `scsi_status` and
/// `transferred` bytes.
#[cfg(CONFIG_KUNIT)]
fn completion(cmd: &Command, srb_status: u8, scsi_status: u8, transferred: u32) -> ScsiRequest {
    let mut srb = srb::pack(cmd)
        .map(|p| p.srb())
        .unwrap_or_else(|_| ScsiRequest::new_zeroed());
    srb.srb_status = srb_status;
    srb.scsi_status = scsi_status;
    srb.data_transfer_length = transferred;
    srb.cdb = [0; vstor::SRB_CDB_AREA_SIZE];
    srb.sense_info_length = 0;
    srb
}

/// What the driver makes of `srb` completing `cmd` (protocol WIN10).
#[cfg(CONFIG_KUNIT)]
fn outcome(cmd: &Command, srb: &ScsiRequest) -> Outcome {
    let sent = Sent {
        opcode: cmd.cdb[0],
        length: cmd.length,
        address: (cmd.path, cmd.target, cmd.lun),
    };
    srb::outcome(&sent, srb, vstor::VERSION_WIN10)
}

/// What the driver makes of [`completion`]`(cmd, srb_status, scsi_status, transferred)`.
#[cfg(CONFIG_KUNIT)]
fn complete(cmd: &Command, srb_status: u8, scsi_status: u8, transferred: u32) -> Outcome {
    outcome(cmd, &completion(cmd, srb_status, scsi_status, transferred))
}

/// Puts fixed-format sense data with `key`, `asc`, `ascq` into `srb`.
#[cfg(CONFIG_KUNIT)]
fn with_sense(mut srb: ScsiRequest, key: u8, asc: u8, ascq: u8) -> ScsiRequest {
    srb.cdb[0] = 0x70;
    srb.cdb[2] = key;
    srb.cdb[7] = 10;
    srb.cdb[12] = asc;
    srb.cdb[13] = ascq;
    srb.sense_info_length = 18;
    srb.srb_status |= vstor::SRB_STATUS_AUTOSENSE_VALID;
    srb
}

/// A failed completion of `cmd` with CHECK CONDITION and sense `key`, `asc`, `ascq`.
#[cfg(CONFIG_KUNIT)]
fn check_condition(cmd: &Command, key: u8, asc: u8, ascq: u8) -> ScsiRequest {
    let srb = completion(
        cmd,
        vstor::SRB_STATUS_ERROR,
        srb::SAM_STAT_CHECK_CONDITION,
        0,
    );
    with_sense(srb, key, asc, ascq)
}

#[kunit_tests(rhv_storvsc_srb_pack)]
mod pack {
    use super::*;

    #[test]
    fn read_packs_into_a_whole_srb() -> Result {
        let p = srb::pack(&read10(4096)).map_err(|_| EINVAL)?;
        assert_eq!({ p.header.operation }, Operation::ExecuteSrb as u32);
        assert_eq!({ p.header.flags }, vstor::FLAG_REQUEST_COMPLETION);
        let s = p.srb();
        assert_eq!({ s.length } as usize, vstor::SRB_SIZE_WIN8);
        assert_eq!(s.cdb_length, 10);
        assert_eq!(s.cdb[0], 0x28);
        assert_eq!(s.cdb[8], 8);
        assert_eq!(s.cdb[10], 0);
        assert_eq!(s.lun, 3);
        assert_eq!(s.data_in, vstor::DATA_IN_READ);
        assert_eq!({ s.data_transfer_length }, 4096);
        assert_eq!(s.sense_info_length as usize, vstor::SENSE_BUFFER_SIZE);
        let flags = s.srb_flags;
        assert!(flags & vstor::SRB_FLAGS_DATA_IN != 0);
        assert!(flags & vstor::SRB_FLAGS_DATA_OUT == 0);
        assert!(flags & vstor::SRB_FLAGS_QUEUE_ACTION_ENABLE != 0);
        // What storvsp checks of every SRB.
        assert!(s.validate().is_ok());
        // The packet parses as the host parses it.
        let parsed = vstor::parse_packet(p.bytes_for(vstor::VERSION_WIN10), vstor::VERSION_WIN10)
            .map_err(|_| EINVAL)?;
        assert_eq!(parsed, p);
        Ok(())
    }

    #[test]
    fn write_and_no_data_directions() -> Result {
        let mut c = read10(512);
        c.direction = DataDirection::Write;
        c.tagged = false;
        let s = srb::pack(&c).map_err(|_| EINVAL)?.srb();
        assert_eq!(s.data_in, vstor::DATA_IN_WRITE);
        assert!({ s.srb_flags } & vstor::SRB_FLAGS_DATA_OUT != 0);
        assert!({ s.srb_flags } & vstor::SRB_FLAGS_QUEUE_ACTION_ENABLE == 0);
        c.direction = DataDirection::None;
        c.length = 0;
        let s = srb::pack(&c).map_err(|_| EINVAL)?.srb();
        assert_eq!(s.data_in, vstor::DATA_IN_UNKNOWN);
        Ok(())
    }

    #[test]
    fn bad_commands_are_refused() {
        let mut c = read10(512);
        c.cdb_len = 0;
        assert_eq!(srb::pack(&c), Err(srb::PackError::BadCdbLength(0)));
        c.cdb_len = 17;
        assert_eq!(srb::pack(&c), Err(srb::PackError::BadCdbLength(17)));
        let mut c = read10(512);
        c.direction = DataDirection::None;
        assert_eq!(srb::pack(&c), Err(srb::PackError::DataWithoutDirection));
    }

    #[test]
    fn transaction_ids_round_trip() {
        use srb::TransId;
        assert_eq!(srb::classify(0), TransId::Unsolicited);
        let id = srb::srb_id(7, 0x0001_0020);
        assert_eq!(
            srb::classify(id),
            TransId::Srb {
                generation: 7,
                tag: 0x0001_0020
            }
        );
        assert_eq!(
            srb::classify(srb::CONTROL_ID | 5),
            TransId::Control(srb::CONTROL_ID | 5)
        );
        // A tag without a generation is nothing this driver sends.
        assert_eq!(srb::classify(0x20), TransId::Invalid);
        // The largest generation stays clear of the control bit.
        assert!(srb::srb_id(0x7fff_ffff, u32::MAX) & srb::CONTROL_ID == 0);
    }
}

#[kunit_tests(rhv_storvsc_completion)]
mod completion_tests {
    use super::*;

    fn packet_of(srb: &ScsiRequest) -> VstorPacket {
        let mut p = VstorPacket::completion(vstor::STATUS_SUCCESS);
        p.set_srb(srb);
        p
    }

    #[test]
    fn completions_are_checked() -> Result {
        let c = read10(4096);
        let good = packet_of(&completion(&c, vstor::SRB_STATUS_SUCCESS, 0, 4096));
        let bytes = good.bytes_for(vstor::VERSION_WIN10);
        assert!(srb::read_completion(bytes, vstor::VERSION_WIN10).is_ok());
        // One byte short of the negotiated packet size.
        assert_eq!(
            srb::read_completion(&bytes[..63], vstor::VERSION_WIN10),
            Err(srb::PacketError::TooShort(63))
        );
        assert_eq!(
            srb::read_completion(&bytes[..4], vstor::VERSION_WIN10),
            Err(srb::PacketError::TooShort(4))
        );
        let mut other = good;
        other.header.operation = Operation::EnumerateBus as u32;
        assert_eq!(
            srb::read_completion(other.bytes_for(vstor::VERSION_WIN10), vstor::VERSION_WIN10),
            Err(srb::PacketError::NotCompletion(
                Operation::EnumerateBus as u32
            ))
        );
        // Short packets are zero-padded where the caller allows them.
        let p = srb::read_packet(&bytes[..12], 12).map_err(|_| EINVAL)?;
        assert_eq!(p.srb().lun, 0);
        Ok(())
    }

    #[test]
    fn success_reports_the_residual() {
        let c = read10(4096);
        let o = complete(&c, vstor::SRB_STATUS_SUCCESS, 0, 1024);
        assert_eq!(o.host_byte, srb::DID_OK);
        assert_eq!(o.status, srb::SAM_STAT_GOOD);
        assert_eq!(o.resid, 3072);
        assert_eq!(o.sense_len, 0);
        assert_eq!(o.lun_action, srb::LunAction::None);
        assert_eq!(o.host_fault, None);
    }

    #[test]
    fn hostile_completions_fail_the_command() {
        let c = read10(4096);
        // More bytes than asked for.
        let o = complete(&c, vstor::SRB_STATUS_SUCCESS, 0, 4097);
        assert_eq!(o.host_byte, srb::DID_ERROR);
        assert_eq!(o.resid, 4096);
        assert_eq!(o.host_fault, Some(srb::HostFault::Overlong(4097)));
        // Another LUN's completion.
        let mut s = completion(&c, vstor::SRB_STATUS_SUCCESS, 0, 4096);
        s.lun = 4;
        let o = outcome(&c, &s);
        assert_eq!(o.host_byte, srb::DID_ERROR);
        assert_eq!(o.host_fault, Some(srb::HostFault::WrongAddress));
        // An SRB status nobody defined.
        let o = complete(&c, 0x3f, 0, 4096);
        assert_eq!(o.host_byte, srb::DID_BAD_TARGET);
        assert_eq!(o.host_fault, Some(srb::HostFault::UnknownSrbStatus(0x3f)));
        // PENDING is no completion.
        let o = complete(&c, 0, 0, 0);
        assert_eq!(o.host_fault, Some(srb::HostFault::UnknownSrbStatus(0)));
    }

    #[test]
    fn sense_data_passes_with_check_condition_only() {
        let c = read10(4096);
        let s = check_condition(&c, 0x03, 0x11, 0x00);
        let o = outcome(&c, &s);
        assert_eq!(o.host_byte, srb::DID_OK);
        assert_eq!(o.status, srb::SAM_STAT_CHECK_CONDITION);
        assert_eq!(o.sense_len, 18);
        assert_eq!(o.resid, 4096);
        // A sense length past the SRB's sense area is cut to it.
        let mut long = s;
        long.sense_info_length = 0xff;
        let o = outcome(&c, &long);
        assert_eq!(o.sense_len, vstor::SENSE_BUFFER_SIZE);
        // Sense bytes without CHECK CONDITION are not passed on.
        let mut no_cc = s;
        no_cc.scsi_status = srb::SAM_STAT_GOOD;
        let o = outcome(&c, &no_cc);
        assert_eq!(o.sense_len, 0);
    }

    #[test]
    fn status_mapping() {
        let c = read10(4096);
        let map = |srb_status: u8| complete(&c, srb_status, 0, 4096);
        // Errors without sense data fail at the host adapter, and transfer nothing.
        for st in [
            vstor::SRB_STATUS_ERROR,
            vstor::SRB_STATUS_ABORTED,
            vstor::SRB_STATUS_INVALID_REQUEST,
            vstor::SRB_STATUS_TIMEOUT,
            vstor::SRB_STATUS_BUS_RESET,
            vstor::SRB_STATUS_INTERNAL_ERROR,
        ] {
            let o = map(st);
            assert_eq!(o.host_byte, srb::DID_ERROR);
            assert_eq!(o.resid, 4096);
        }
        // A data overrun keeps its length.
        let o = map(vstor::SRB_STATUS_DATA_OVERRUN);
        assert_eq!(o.resid, 0);
        // No such LUN: gone, and removed.
        let o = map(vstor::SRB_STATUS_INVALID_LUN);
        assert_eq!(o.host_byte, srb::DID_NO_CONNECT);
        assert_eq!(o.lun_action, srb::LunAction::Remove);
        // The queue-frozen flag does not change the status.
        let o = map(vstor::SRB_STATUS_SUCCESS | vstor::SRB_STATUS_QUEUE_FROZEN);
        assert_eq!(o.host_byte, srb::DID_OK);
    }

    #[test]
    fn changed_capacity_requeues_and_rescans() {
        let c = read10(4096);
        let s = check_condition(&c, 0x06, 0x2a, 0x09);
        let o = outcome(&c, &s);
        assert_eq!(o.host_byte, srb::DID_REQUEUE);
        assert_eq!(o.lun_action, srb::LunAction::Rescan);
        // "Operating parameters changed" too, but not "inquiry data changed" (3f/03).
        let s2 = with_sense(s, 0x06, 0x3f, 0x00);
        assert_eq!(outcome(&c, &s2).lun_action, srb::LunAction::Rescan);
        let s3 = with_sense(s, 0x06, 0x3f, 0x03);
        assert_eq!(outcome(&c, &s3).lun_action, srb::LunAction::None);
    }

    #[test]
    fn per_command_exceptions() {
        // TEST UNIT READY errors are left to the status byte.
        let mut tur = read10(0);
        tur.cdb = [0; 16];
        tur.cdb_len = 6;
        tur.direction = DataDirection::None;
        let o = complete(&tur, vstor::SRB_STATUS_ERROR, 0, 0);
        assert_eq!(o.host_byte, srb::DID_OK);
        // Hyper-V's failures of INQUIRY are taken as success with the data that came.
        let mut inq = read10(96);
        inq.cdb[0] = 0x12;
        let o = complete(
            &inq,
            vstor::SRB_STATUS_ERROR,
            srb::SAM_STAT_CHECK_CONDITION,
            36,
        );
        assert_eq!(o.host_byte, srb::DID_OK);
        assert_eq!(o.status, srb::SAM_STAT_GOOD);
        assert_eq!(o.resid, 60);
        // ATA pass-through errors are passed through.
        let mut ata = read10(512);
        ata.cdb[0] = 0x85;
        let o = complete(&ata, vstor::SRB_STATUS_ERROR, 0, 0);
        assert_eq!(o.host_byte, srb::DID_PASSTHROUGH);
    }
}
