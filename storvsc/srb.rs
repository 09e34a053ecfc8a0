// SPDX-License-Identifier: GPL-2.0
//! The SRBs of EXECUTE_SRB and what their completions mean, as pure functions (no kernel
//! calls, tested by the KUnit suites of `tests.rs`): packing a SCSI command into a
//! [`VstorPacket`], checking a completion the host sent, and mapping its SRB status, SCSI
//! status, sense data and transfer length to the midlayer's result (host byte, status byte,
//! residual) plus any follow-up work on the logical unit. The meanings follow
//! `storvsc_on_io_completion()`, `storvsc_command_completion()` and `storvsc_handle_error()`
//! of Linux's `drivers/scsi/storvsc_drv.c`, stricter where the host is not to be trusted.

use crate::vstor::{self, srb_status_code, DataDirection, Operation, ScsiRequest, VstorPacket};
use zerocopy::{FromBytes, FromZeros};

/// SCSI status GOOD.
pub(crate) const SAM_STAT_GOOD: u8 = 0x00;
/// SCSI status CHECK CONDITION.
pub(crate) const SAM_STAT_CHECK_CONDITION: u8 = 0x02;

/// Host byte: no error at the transport.
pub(crate) const DID_OK: u8 = 0x00;
/// Host byte: the device is gone.
pub(crate) const DID_NO_CONNECT: u8 = 0x01;
/// Host byte: the target did not respond.
pub(crate) const DID_BAD_TARGET: u8 = 0x04;
/// Host byte: an internal error of the host adapter.
pub(crate) const DID_ERROR: u8 = 0x07;
/// Host byte: pass the result of a pass-through command on unchanged.
pub(crate) const DID_PASSTHROUGH: u8 = 0x0a;
/// Host byte: requeue the command.
pub(crate) const DID_REQUEUE: u8 = 0x0d;

/// TEST UNIT READY.
const TEST_UNIT_READY: u8 = 0x00;
/// INQUIRY.
const INQUIRY: u8 = 0x12;
/// MODE SENSE(6).
const MODE_SENSE: u8 = 0x1a;
/// MODE SENSE(10).
const MODE_SENSE_10: u8 = 0x5a;
/// ATA PASS-THROUGH(12).
const ATA_12: u8 = 0xa1;
/// ATA PASS-THROUGH(16).
const ATA_16: u8 = 0x85;

/// Seconds the host may take for a command (what the C driver puts in the SRB).
const SRB_TIMEOUT_SECS: u32 = 60;
/// `queue_action` of a simple tagged command.
const SIMPLE_TAG_REQUEST: u8 = 0x20;
/// `queue_tag` of a command without a tag of its own.
const SP_UNTAGGED: u8 = 0xff;

/// A SCSI command, as much of it as the SRB needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Command {
    /// The CDB (the first `cdb_len` bytes are the command).
    pub(crate) cdb: [u8; vstor::CDB_MAX_LEN],
    /// Bytes of `cdb` in use.
    pub(crate) cdb_len: u8,
    /// Path (SCSI channel).
    pub(crate) path: u8,
    /// Target.
    pub(crate) target: u8,
    /// Logical unit.
    pub(crate) lun: u8,
    /// Direction of the data.
    pub(crate) direction: DataDirection,
    /// Bytes of data.
    pub(crate) length: u32,
    /// Whether the device does tagged queueing.
    pub(crate) tagged: bool,
}

/// Why a command cannot be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PackError {
    /// The CDB is empty or longer than an SRB holds.
    BadCdbLength(u8),
    /// Data without a direction.
    DataWithoutDirection,
}

/// Packs `cmd` into an EXECUTE_SRB packet (protocol 5.1 or newer: the whole 64 bytes).
pub(crate) fn pack(cmd: &Command) -> Result<VstorPacket, PackError> {
    let len = usize::from(cmd.cdb_len);
    if len == 0 || len > vstor::CDB_MAX_LEN {
        return Err(PackError::BadCdbLength(cmd.cdb_len));
    }
    if cmd.direction == DataDirection::None && cmd.length != 0 {
        return Err(PackError::DataWithoutDirection);
    }
    let mut srb = ScsiRequest::new_zeroed();
    // CAST: 52, the size of the SRB, fits.
    srb.length = vstor::SRB_SIZE_WIN8 as u16;
    srb.path_id = cmd.path;
    srb.target_id = cmd.target;
    srb.lun = cmd.lun;
    srb.cdb_length = cmd.cdb_len;
    // CAST: 20 fits.
    srb.sense_info_length = vstor::SENSE_BUFFER_SIZE as u8;
    srb.data_transfer_length = cmd.length;
    let mut cdb = [0u8; vstor::SRB_CDB_AREA_SIZE];
    for (d, s) in cdb.iter_mut().zip(cmd.cdb.iter().take(len)) {
        *d = *s;
    }
    srb.cdb = cdb;
    srb.time_out_value = SRB_TIMEOUT_SECS;
    srb.srb_flags = vstor::SRB_FLAGS_DISABLE_SYNCH_TRANSFER;
    if cmd.tagged {
        srb.srb_flags |= vstor::SRB_FLAGS_QUEUE_ACTION_ENABLE | vstor::SRB_FLAGS_NO_QUEUE_FREEZE;
        srb.queue_tag = SP_UNTAGGED;
        srb.queue_action = SIMPLE_TAG_REQUEST;
    }
    match cmd.direction {
        DataDirection::Write => {
            srb.data_in = vstor::DATA_IN_WRITE;
            srb.srb_flags |= vstor::SRB_FLAGS_DATA_OUT;
        }
        DataDirection::Read => {
            srb.data_in = vstor::DATA_IN_READ;
            srb.srb_flags |= vstor::SRB_FLAGS_DATA_IN;
        }
        DataDirection::None => srb.data_in = vstor::DATA_IN_UNKNOWN,
    }
    let mut packet = VstorPacket::new(Operation::ExecuteSrb);
    packet.header.flags = vstor::FLAG_REQUEST_COMPLETION;
    packet.set_srb(&srb);
    Ok(packet)
}

/// What is wrong with a packet the host sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PacketError {
    /// Shorter than it must be.
    TooShort(usize),
    /// Not a completion.
    NotCompletion(u32),
}

/// Reads a packet of the host, zero-padded to 64 bytes if it is shorter; `min_len` is what
/// the caller needs of it.
pub(crate) fn read_packet(payload: &[u8], min_len: usize) -> Result<VstorPacket, PacketError> {
    if payload.len() < min_len || payload.len() < core::mem::size_of::<vstor::PacketHeader>() {
        return Err(PacketError::TooShort(payload.len()));
    }
    if let Ok((p, _)) = VstorPacket::read_from_prefix(payload) {
        return Ok(p);
    }
    let mut bytes = [0u8; core::mem::size_of::<VstorPacket>()];
    for (d, s) in bytes.iter_mut().zip(payload) {
        *d = *s;
    }
    VstorPacket::read_from_bytes(&bytes[..]).map_err(|_| PacketError::TooShort(payload.len()))
}

/// Reads the completion of an EXECUTE_SRB: a COMPLETE_IO packet with a whole SRB.
pub(crate) fn read_completion(payload: &[u8], version: u16) -> Result<ScsiRequest, PacketError> {
    let packet = read_packet(payload, vstor::packet_size(version))?;
    if packet.header.operation != Operation::CompleteIo as u32 {
        return Err(PacketError::NotCompletion(packet.header.operation));
    }
    Ok(packet.srb())
}

/// What to do with the logical unit after a completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LunAction {
    /// Nothing.
    None,
    /// Re-read its capacity and parameters (they changed).
    Rescan,
    /// Remove it (the host says it does not exist).
    Remove,
}

/// The result of a command, ready for the midlayer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The host byte (`DID_*`).
    pub(crate) host_byte: u8,
    /// The SCSI status byte.
    pub(crate) status: u8,
    /// Valid sense bytes at the front of the SRB's sense area.
    pub(crate) sense_len: usize,
    /// Bytes not transferred.
    pub(crate) resid: u32,
    /// Follow-up work.
    pub(crate) lun_action: LunAction,
    /// Whether the completion broke the rules (logged by the caller).
    pub(crate) host_fault: Option<HostFault>,
}

/// A completion that does not fit its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostFault {
    /// More bytes transferred than the command had.
    Overlong(u32),
    /// A different path, target or logical unit than the request's.
    WrongAddress,
    /// An SRB status no version of the protocol defines.
    UnknownSrbStatus(u8),
}

/// What the request of a completion was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sent {
    /// The operation code.
    pub(crate) opcode: u8,
    /// Bytes of data.
    pub(crate) length: u32,
    /// Path, target and logical unit.
    pub(crate) address: (u8, u8, u8),
}

fn failed(sent: &Sent, fault: HostFault) -> Outcome {
    Outcome {
        host_byte: DID_ERROR,
        status: SAM_STAT_GOOD,
        sense_len: 0,
        resid: sent.length,
        lun_action: LunAction::None,
        host_fault: Some(fault),
    }
}

/// Maps the completion `srb` of the command `sent` at protocol `version` to its result.
pub(crate) fn outcome(sent: &Sent, srb: &ScsiRequest, version: u16) -> Outcome {
    if (srb.path_id, srb.target_id, srb.lun) != sent.address {
        return failed(sent, HostFault::WrongAddress);
    }
    let mut srb_status = srb.srb_status;
    let mut scsi_status = srb.scsi_status;
    // Hyper-V fails these in ways that are not the device's fault; like the C driver,
    // take what data came back.
    if matches!(sent.opcode, INQUIRY | MODE_SENSE | MODE_SENSE_10) {
        srb_status = vstor::SRB_STATUS_SUCCESS;
        scsi_status = SAM_STAT_GOOD;
    }
    let code = srb_status_code(srb_status);
    let autosense = srb_status & vstor::SRB_STATUS_AUTOSENSE_VALID != 0;
    let sense_len = if scsi_status == SAM_STAT_CHECK_CONDITION && autosense {
        usize::from(srb.sense_info_length).min(vstor::sense_buffer_size(version))
    } else {
        0
    };
    // Fixed-format sense (0x70, 0x71) has ASC and ASCQ at 12 and 13, descriptor format
    // (0x72, 0x73) at 2 and 3.
    let (asc, ascq) = match srb.cdb[0] & 0x7f {
        0x70 | 0x71 if sense_len >= 14 => (srb.cdb[12], srb.cdb[13]),
        0x72 | 0x73 if sense_len >= 4 => (srb.cdb[2], srb.cdb[3]),
        _ => (0, 0),
    };
    let mut out = Outcome {
        host_byte: DID_OK,
        status: scsi_status,
        sense_len,
        resid: 0,
        lun_action: LunAction::None,
        host_fault: None,
    };
    let mut transferred = srb.data_transfer_length;
    match code {
        vstor::SRB_STATUS_SUCCESS => {}
        vstor::SRB_STATUS_ERROR
        | vstor::SRB_STATUS_ABORTED
        | vstor::SRB_STATUS_INVALID_REQUEST
        | vstor::SRB_STATUS_INTERNAL_ERROR
        | vstor::SRB_STATUS_TIMEOUT
        | vstor::SRB_STATUS_SELECTION_TIMEOUT
        | vstor::SRB_STATUS_BUS_RESET
        | vstor::SRB_STATUS_DATA_OVERRUN => {
            if autosense {
                // Capacity data changed, or the operating parameters did (Hyper-V changed
                // the block size of the disk): re-read them and retry.
                if (asc == 0x2a && ascq == 0x09) || (asc == 0x3f && ascq != 0x03 && ascq != 0x0e) {
                    out.host_byte = DID_REQUEUE;
                    out.lun_action = LunAction::Rescan;
                }
            } else {
                match sent.opcode {
                    ATA_12 | ATA_16 => out.host_byte = DID_PASSTHROUGH,
                    // Hyper-V fails TEST UNIT READY while it probes; the status says enough.
                    TEST_UNIT_READY => {}
                    _ => out.host_byte = DID_ERROR,
                }
            }
        }
        vstor::SRB_STATUS_INVALID_LUN => {
            out.host_byte = DID_NO_CONNECT;
            out.lun_action = LunAction::Remove;
        }
        other => {
            let mut o = failed(sent, HostFault::UnknownSrbStatus(other));
            o.host_byte = DID_BAD_TARGET;
            return o;
        }
    }
    // Only a data overrun reports a meaningful length when the command failed.
    if code != vstor::SRB_STATUS_SUCCESS && code != vstor::SRB_STATUS_DATA_OVERRUN {
        transferred = 0;
    }
    if transferred > sent.length {
        return failed(sent, HostFault::Overlong(transferred));
    }
    out.resid = sent.length - transferred;
    out
}

/// Bit 63 of a transaction id: a control request of the primary channel.
pub(crate) const CONTROL_ID: u64 = 1 << 63;

/// What a transaction id the host echoes names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransId {
    /// 0: a packet the host sent on its own (ENUMERATE_BUS, REMOVE_DEVICE).
    Unsolicited,
    /// A control request.
    Control(u64),
    /// An SRB: the command's unique tag and the generation it was sent under.
    Srb {
        /// The generation (never 0).
        generation: u32,
        /// The blk-mq unique tag (hardware queue << 16 | tag).
        tag: u32,
    },
    /// Nothing this driver sends.
    Invalid,
}

/// The transaction id of an SRB sent under `generation` (1..2^31) for `tag`.
pub(crate) fn srb_id(generation: u32, tag: u32) -> u64 {
    u64::from(generation) << 32 | u64::from(tag)
}

/// Classifies the transaction id of a packet from the host.
pub(crate) fn classify(id: u64) -> TransId {
    if id == 0 {
        return TransId::Unsolicited;
    }
    if id & CONTROL_ID != 0 {
        return TransId::Control(id);
    }
    // CAST: the halves of the id.
    let (generation, tag) = ((id >> 32) as u32, id as u32);
    if generation == 0 {
        return TransId::Invalid;
    }
    TransId::Srb { generation, tag }
}
