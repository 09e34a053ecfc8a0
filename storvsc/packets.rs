// SPDX-License-Identifier: GPL-2.0
//! What arrives on a controller's channels, in the channel handlers (softirq context, on the
//! channel's target CPU): the answers to the control requests of the primary channel (which
//! [`Shared::control`] sends and waits for, with a timeout), SRB completions (checked against
//! the command their transaction id names, then handed to the midlayer) and the host's
//! unsolicited packets (ENUMERATE_BUS / REMOVE_DEVICE → rescan). See `srb.rs` for the
//! transaction ids and the meaning of a completion.

use crate::proto::vstor::{self, Operation, VstorPacket};
use crate::scsi::{self, HostHandle};
use crate::srb::{self, LunAction, TransId, CONTROL_ID};
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::{Arc, CondVar, CondVarTimeoutResult, Mutex, SpinLockIrq};
use kernel::time::msecs_to_jiffies;
use vmbus::{Channel, Packet, PacketHandler};
use zerocopy::IntoBytes;

/// The control request waiting for its answer.
pub(crate) struct ControlSlot {
    /// Its transaction id, 0 if none waits.
    pub(crate) waiting: u64,
    /// The answer, once here.
    pub(crate) answer: Option<VstorPacket>,
}

/// What the channel handlers share with the controller.
#[pin_data]
pub(crate) struct Shared {
    pub(crate) host: HostHandle,
    pub(crate) host_no: u32,
    /// The agreed protocol version (0 before).
    pub(crate) version: Atomic<u32>,
    /// Serialises control requests, and numbers them.
    #[pin]
    pub(crate) control_seq: Mutex<u64>,
    #[pin]
    pub(crate) control: SpinLockIrq<ControlSlot>,
    #[pin]
    pub(crate) answered: CondVar,
}

impl Shared {
    pub(crate) fn version(&self) -> u16 {
        // CAST: only 16-bit versions are stored.
        self.version.load(ordering::Relaxed) as u16
    }

    fn complain(&self, what: &str, value: u64) {
        if scsi::ratelimit() {
            pr_warn!("host{}: {} ({:#x}); dropped\n", self.host_no, what, value);
        }
    }

    /// Sends `packet` on the primary channel and waits up to `timeout_ms` for its answer,
    /// which must be a successful completion.
    pub(crate) fn control(
        &self,
        primary: &Channel,
        mut packet: VstorPacket,
        timeout_ms: u32,
    ) -> Result<VstorPacket> {
        let mut seq = self.control_seq.lock();
        *seq = seq.wrapping_add(1);
        let id = CONTROL_ID | (*seq & !CONTROL_ID);
        {
            let mut slot = self.control.lock();
            slot.waiting = id;
            slot.answer = None;
        }
        packet.header.flags = vstor::FLAG_REQUEST_COMPLETION;
        let op = packet.header.operation;
        if let Err(e) = primary.send(packet.as_bytes(), id, true) {
            self.control.lock().waiting = 0;
            return Err(e);
        }
        let mut left = msecs_to_jiffies(timeout_ms);
        let mut slot = self.control.lock();
        let answer = loop {
            if let Some(answer) = slot.answer.take() {
                break answer;
            }
            match self.answered.wait_interruptible_timeout(&mut slot, left) {
                CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
                CondVarTimeoutResult::Timeout => {
                    slot.waiting = 0;
                    pr_err!(
                        "host{}: no answer to VSTOR operation {} in {} ms\n",
                        self.host_no,
                        op,
                        timeout_ms
                    );
                    return Err(ETIMEDOUT);
                }
                CondVarTimeoutResult::Signal { .. } => {
                    slot.waiting = 0;
                    return Err(EINTR);
                }
            }
        };
        drop(slot);
        if answer.header.operation != Operation::CompleteIo as u32 {
            pr_err!(
                "host{}: VSTOR operation {} answered with operation {}\n",
                self.host_no,
                op,
                { answer.header.operation }
            );
            return Err(EPROTO);
        }
        Ok(answer)
    }

    /// A control request whose answer must say success.
    pub(crate) fn control_ok(&self, primary: &Channel, op: Operation, timeout_ms: u32) -> Result {
        let answer = self.control(primary, VstorPacket::new(op), timeout_ms)?;
        if answer.header.status != vstor::STATUS_SUCCESS {
            pr_err!(
                "host{}: VSTOR operation {} failed: status {:#x}\n",
                self.host_no,
                op as u32,
                { answer.header.status }
            );
            return Err(EIO);
        }
        Ok(())
    }

    fn on_packet(&self, packet: &Packet<'_>) {
        match srb::classify(packet.trans_id) {
            TransId::Unsolicited => self.on_unsolicited(packet.payload),
            TransId::Control(id) => self.on_control_answer(id, packet.payload),
            TransId::Srb { generation, tag } => {
                self.on_srb_completion(generation, tag, packet.payload)
            }
            TransId::Invalid => {
                self.host.count_dropped();
                self.complain("completion with an invalid id", packet.trans_id)
            }
        }
    }

    fn on_unsolicited(&self, payload: &[u8]) {
        let packet = match srb::read_packet(payload, 0) {
            Ok(p) => p,
            Err(_) => return self.complain("short unsolicited packet", payload.len() as u64),
        };
        match Operation::try_from(packet.header.operation) {
            Ok(Operation::EnumerateBus | Operation::RemoveDevice) => self.host.schedule_scan(),
            Ok(Operation::FchbaData) => {}
            _ => self.complain(
                "unexpected unsolicited operation",
                u64::from(packet.header.operation),
            ),
        }
    }

    fn on_control_answer(&self, id: u64, payload: &[u8]) {
        let packet = match srb::read_packet(payload, 0) {
            Ok(p) => p,
            Err(_) => return self.complain("short control answer", payload.len() as u64),
        };
        let mut slot = self.control.lock();
        if slot.waiting != id {
            drop(slot);
            self.host.count_dropped();
            return self.complain("answer to no pending control request", id);
        }
        slot.waiting = 0;
        slot.answer = Some(packet);
        drop(slot);
        self.answered.notify_all();
    }

    fn on_srb_completion(&self, generation: u32, tag: u32, payload: &[u8]) {
        let Some(cmd) = self.host.take_command(tag, generation) else {
            self.host.count_dropped();
            return self.complain(
                "completion for no outstanding command",
                srb::srb_id(generation, tag),
            );
        };
        let info = cmd.info();
        let sent = srb::Sent {
            opcode: info.cdb[0],
            length: info.length,
            address: info.address,
        };
        let srb = match srb::read_completion(payload, self.version()) {
            Ok(srb) => srb,
            Err(e) => {
                if scsi::ratelimit() {
                    pr_warn!(
                        "host{}: bad completion of tag {:#x}: {:?}; command failed\n",
                        self.host_no,
                        tag,
                        e
                    );
                }
                return cmd.complete(srb::DID_ERROR, srb::SAM_STAT_GOOD, &[], info.length);
            }
        };
        let out = srb::outcome(&sent, &srb, self.version());
        if let Some(fault) = out.host_fault {
            if scsi::ratelimit() {
                pr_warn!(
                    "host{}: completion of tag {:#x} (opcode {:#x}) does not fit: {:?}; command failed\n",
                    self.host_no,
                    tag,
                    sent.opcode,
                    fault
                );
            }
        }
        let (_, target, lun) = info.address;
        match out.lun_action {
            LunAction::None => {}
            LunAction::Rescan => self.host.schedule_lun_work(target, lun, false),
            LunAction::Remove => self.host.schedule_lun_work(target, lun, true),
        }
        let sense = srb.cdb;
        cmd.complete(
            out.host_byte,
            out.status,
            &sense[..out.sense_len],
            out.resid,
        );
    }
}

/// Receives one channel's packets (softirq context, on the channel's target CPU).
pub(crate) struct Handler {
    pub(crate) shared: Arc<Shared>,
}

impl PacketHandler for Handler {
    fn on_packet(&self, _channel: &Channel, packet: &Packet<'_>) {
        self.shared.on_packet(packet);
    }
}
