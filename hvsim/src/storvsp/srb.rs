// SPDX-License-Identifier: GPL-2.0
//! EXECUTE_SRB: a SCSI command from the guest, run against the target, and its completion.
//!
//! The SRB (already checked by `rhv_proto::vstor::parse_packet`) names path, target, LUN,
//! CDB, direction and the transfer length; a GPA-direct packet lists the guest pages of the
//! data. The completion carries back, in the guest's SRB, the SRB status (success, error with
//! autosense, invalid LUN, invalid request), the SCSI status, fixed-format sense data in the
//! CDB area and the bytes actually transferred in `data_transfer_length` (Linux computes the
//! residual from it), as `storvsc_on_io_completion()` reads them.

use rhv_proto::ring::PacketType;
use rhv_proto::vstor::{self, DataDirection, ScsiRequest, VstorPacket};

use super::gpa_direct::{parse_ranges, GpaDirectError, GuestBuffer};
use super::Storvsp;
use crate::memory::GuestMemory;
use crate::scsi::{Direction, ScsiOutcome, Sense, TargetError, STATUS_CHECK_CONDITION};
use crate::vmbus::{warn_allowed, IncomingPacket};

/// How an SRB ended, before it is written into the completion.
enum SrbResult {
    /// The target ran the command.
    Done(ScsiOutcome),
    /// No logical unit at the address.
    NoLun,
    /// The request itself was unusable (pages, lengths, direction).
    Invalid,
}

/// The NTSTATUS of an SRB completion (Linux only logs it; Hyper-V sets it).
fn nt_status(result: &SrbResult) -> u32 {
    match result {
        SrbResult::Done(o) if o.is_good() => vstor::STATUS_SUCCESS,
        SrbResult::Done(_) => vstor::STATUS_IO_DEVICE_ERROR,
        SrbResult::NoLun => vstor::STATUS_DEVICE_DOES_NOT_EXIST,
        SrbResult::Invalid => vstor::STATUS_INVALID_PARAMETER,
    }
}

/// Fills the completion's SRB from the request's and the result.
fn completion_srb(request: &ScsiRequest, result: &SrbResult, version: u16) -> ScsiRequest {
    let mut srb = *request;
    srb.cdb = [0; vstor::SRB_CDB_AREA_SIZE];
    srb.sense_info_length = 0;
    srb.scsi_status = 0;
    srb.data_transfer_length = 0;
    match result {
        SrbResult::Done(o) => {
            srb.scsi_status = o.status;
            srb.data_transfer_length = u32::try_from(o.transferred).unwrap_or(u32::MAX);
            srb.srb_status = if o.is_good() {
                vstor::SRB_STATUS_SUCCESS
            } else {
                vstor::SRB_STATUS_ERROR
            };
            if let (STATUS_CHECK_CONDITION, Some(sense)) = (o.status, o.sense) {
                let fixed = sense.to_fixed();
                let n = fixed.len().min(vstor::sense_buffer_size(version));
                srb.cdb[..n].copy_from_slice(&fixed[..n]);
                srb.sense_info_length = n as u8;
                srb.srb_status |= vstor::SRB_STATUS_AUTOSENSE_VALID;
            }
        }
        SrbResult::NoLun => srb.srb_status = vstor::SRB_STATUS_INVALID_LUN,
        SrbResult::Invalid => srb.srb_status = vstor::SRB_STATUS_INVALID_REQUEST,
    }
    srb
}

impl Storvsp {
    /// Runs the SRB of `request` and returns its completion.
    pub(super) fn execute_srb(
        &mut self,
        mem: &dyn GuestMemory,
        subchannel: u16,
        packet: &IncomingPacket<'_>,
        request: &VstorPacket,
        version: u16,
    ) -> VstorPacket {
        self.counters.srbs += 1;
        *self.channel_srbs.entry(subchannel).or_default() += 1;
        let srb = request.srb();
        let result = self.run_srb(mem, packet, &srb);
        match &result {
            SrbResult::NoLun => self.counters.invalid_lun += 1,
            SrbResult::Invalid => self.counters.bad_srbs += 1,
            // Most failing commands are ordinary SCSI (an unsupported mode page while Linux
            // probes, a removed LUN) and are only traced; an LBA past the end or a broken
            // parameter list is a guest bug worth a (rate-limited) warning.
            SrbResult::Done(o) if !o.is_good() => {
                let cdb = &srb.cdb[..usize::from(srb.cdb_length).min(vstor::CDB_MAX_LEN)];
                let guest_bug = matches!(
                    o.sense,
                    Some(Sense::LBA_OUT_OF_RANGE)
                        | Some(Sense::INVALID_FIELD_IN_PARAMETER_LIST)
                        | Some(Sense::PARAMETER_LIST_LENGTH_ERROR)
                );
                if guest_bug && warn_allowed() {
                    tracing::warn!(
                        controller = self.name,
                        subchannel,
                        lun = srb.lun,
                        ?cdb,
                        sense = ?o.sense,
                        "storvsp: SCSI command refused"
                    );
                } else {
                    tracing::debug!(
                        controller = self.name,
                        subchannel,
                        lun = srb.lun,
                        ?cdb,
                        sense = ?o.sense,
                        "SCSI command failed"
                    );
                }
            }
            SrbResult::Done(_) => {}
        }
        let mut reply = VstorPacket::completion(nt_status(&result));
        reply.set_srb(&completion_srb(&srb, &result, version));
        reply
    }

    fn run_srb(
        &mut self,
        mem: &dyn GuestMemory,
        packet: &IncomingPacket<'_>,
        srb: &ScsiRequest,
    ) -> SrbResult {
        let invalid = |s: &Self, why: &dyn std::fmt::Display| {
            if warn_allowed() {
                tracing::warn!(
                    controller = s.name,
                    trans_id = packet.trans_id,
                    lun = srb.lun,
                    opcode = srb.cdb[0],
                    "storvsp: invalid SRB: {why}"
                );
            }
            SrbResult::Invalid
        };
        // parse_packet() validated these; a failure here is a bug, not a guest error.
        let (Ok(cdb), Ok(direction)) = (srb.command(), srb.direction()) else {
            return invalid(self, &"unchecked SRB");
        };
        let direction = match direction {
            DataDirection::Write => Direction::ToDevice,
            DataDirection::Read => Direction::FromDevice,
            DataDirection::None => Direction::None,
        };
        let length = u64::from(srb.data_transfer_length);
        let buffer = if packet.kind() == Some(PacketType::DataUsingGpaDirect) {
            parse_ranges(packet.extra)
                .and_then(|ranges| GuestBuffer::new(mem, &ranges, length, direction))
        } else if length > 0 {
            Err(GpaDirectError::BufferTooSmall {
                wanted: length,
                available: 0,
            })
        } else {
            Ok(GuestBuffer::empty(mem, direction))
        };
        let mut buffer = match buffer {
            Ok(b) => b,
            Err(e) => return invalid(self, &e),
        };
        if length > 0 && direction == Direction::None {
            return invalid(self, &"a data buffer without a direction");
        }
        match self
            .target
            .execute(srb.path_id, srb.target_id, srb.lun, cdb, &mut buffer)
        {
            Ok(outcome) => SrbResult::Done(outcome),
            Err(TargetError::NoSuchLun) => SrbResult::NoLun,
            Err(TargetError::Data(e)) => invalid(self, &e),
        }
    }
}
