// SPDX-License-Identifier: GPL-2.0
//! Hypercalls (Hypervisor TLFS, "Hypercall Interface"; control word layout as in Linux's
//! include/hyperv/hvgdk_mini.h): the control word in RCX, the input in RDX (a GPA, or the value
//! itself for fast calls), the output GPA in R8, the result in RAX. hvsim implements
//! HvPostMessage (0x5C, memory input) and HvSignalEvent (0x5D, fast or memory input), the two
//! calls VMBus needs.

use zerocopy::byteorder::little_endian::{U16, U32};
use zerocopy::FromBytes;
use zerocopy_derive::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::synic::MESSAGE_PAYLOAD_MAX;
use super::Platform;
use crate::hv::{GuestToHost, HvStatus};
use crate::qemu::protocol::HypercallRegs;

pub const HVCALL_POST_MESSAGE: u16 = 0x005c;
pub const HVCALL_SIGNAL_EVENT: u16 = 0x005d;

const CONTROL_FAST: u64 = 1 << 16;
const CONTROL_VARHEAD: u64 = 0x3ff << 17;
/// Bits 31:27 (bit 31 asks for the nested hypervisor, which hvsim is not).
const CONTROL_RSVD0: u64 = 0x1f << 27;
const CONTROL_REP_COUNT: u64 = 0xfff << 32;
const CONTROL_RSVD1: u64 = 0xf << 44;
const CONTROL_REP_START: u64 = 0xfff << 48;
const CONTROL_RSVD2: u64 = 0xf << 60;

const PAGE_SIZE: u64 = 4096;
/// HV_CONNECTION_ID: 24 bits of id, 8 reserved.
const CONNECTION_ID_RESERVED: u32 = 0xff00_0000;
/// Message types with the top bit set are the hypervisor's own.
const MESSAGE_TYPE_HYPERVISOR: u32 = 0x8000_0000;

/// The decoded control word of a simple (non-rep) hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    pub code: u16,
    pub fast: bool,
}

/// Decodes RCX; rep counts, variable headers and reserved bits are invalid for every call hvsim
/// knows.
pub fn parse_control(control: u64) -> Result<Control, HvStatus> {
    let invalid = CONTROL_VARHEAD
        | CONTROL_RSVD0
        | CONTROL_REP_COUNT
        | CONTROL_RSVD1
        | CONTROL_REP_START
        | CONTROL_RSVD2;
    if control & invalid != 0 {
        return Err(HvStatus::InvalidHypercallInput);
    }
    // CAST: the low 16 bits are the call code.
    Ok(Control {
        code: control as u16,
        fast: control & CONTROL_FAST != 0,
    })
}

/// HV_INPUT_POST_MESSAGE.
#[derive(FromBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct PostMessageInput {
    connection_id: U32,
    reserved: U32,
    message_type: U32,
    payload_size: U32,
    payload: [u8; MESSAGE_PAYLOAD_MAX],
}
const _: () = assert!(size_of::<PostMessageInput>() == 256);

/// HV_INPUT_SIGNAL_EVENT (also the fast form's RDX).
#[derive(FromBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct SignalEventInput {
    connection_id: U32,
    flag_number: U16,
    reserved: U16,
}
const _: () = assert!(size_of::<SignalEventInput>() == 8);

impl Platform {
    /// Runs the hypercall of `vp` and returns the guest's RAX (status in bits 15:0; no rep
    /// calls, so no completed-rep count).
    pub fn hypercall(
        &mut self,
        vp: u32,
        regs: &HypercallRegs,
        server: &mut dyn GuestToHost,
    ) -> u64 {
        let status = self.hypercall_status(vp, regs, server);
        if status != HvStatus::Success {
            tracing::debug!(
                vp,
                control = regs.regs[HypercallRegs::RCX],
                ?status,
                "hypercall failed"
            );
        }
        status as u64
    }

    fn hypercall_status(
        &mut self,
        vp: u32,
        regs: &HypercallRegs,
        server: &mut dyn GuestToHost,
    ) -> HvStatus {
        if !regs.long_mode {
            // The 32-bit calling convention (EDX:EAX control, ...) is not implemented.
            tracing::warn!(vp, "hypercall from 32-bit code: not supported");
            return HvStatus::InvalidHypercallInput;
        }
        if regs.cpl != 0 {
            return HvStatus::AccessDenied;
        }
        if !self.hypercalls_enabled() {
            tracing::warn!(
                vp,
                "hypercall trap used while the hypercall page is disabled"
            );
            return HvStatus::InvalidHypercallCode;
        }
        let control = match parse_control(regs.regs[HypercallRegs::RCX]) {
            Ok(c) => c,
            Err(s) => return s,
        };
        let input = regs.regs[HypercallRegs::RDX];
        match control.code {
            HVCALL_POST_MESSAGE => self.post_message(control, input, server),
            HVCALL_SIGNAL_EVENT => self.signal_event(control, input, server),
            code => {
                tracing::debug!(vp, "unimplemented hypercall {code:#x}");
                HvStatus::InvalidHypercallCode
            }
        }
    }

    /// Reads a memory input block: 8-byte aligned, inside one page, inside RAM.
    fn read_input<T: FromBytes>(&self, gpa: u64) -> Result<T, HvStatus> {
        let len = size_of::<T>() as u64;
        if !gpa.is_multiple_of(8) || gpa % PAGE_SIZE + len > PAGE_SIZE {
            return Err(HvStatus::InvalidAlignment);
        }
        let mut buf = vec![0u8; size_of::<T>()];
        self.memory
            .read_at(gpa, &mut buf)
            .map_err(|_| HvStatus::InvalidParameter)?;
        T::read_from_bytes(&buf).map_err(|_| HvStatus::InvalidParameter)
    }

    fn post_message(
        &mut self,
        control: Control,
        input_gpa: u64,
        server: &mut dyn GuestToHost,
    ) -> HvStatus {
        self.counters.post_hypercalls += 1;
        // The message does not fit the two fast-call registers (XMM input is not offered).
        if control.fast {
            return HvStatus::InvalidHypercallInput;
        }
        let input: PostMessageInput = match self.read_input(input_gpa) {
            Ok(i) => i,
            Err(s) => return s,
        };
        if input.reserved.get() != 0 {
            return HvStatus::InvalidHypercallInput;
        }
        let connection_id = input.connection_id.get();
        if connection_id & CONNECTION_ID_RESERVED != 0 {
            return HvStatus::InvalidConnectionId;
        }
        let message_type = input.message_type.get();
        if message_type == 0 || message_type & MESSAGE_TYPE_HYPERVISOR != 0 {
            return HvStatus::InvalidParameter;
        }
        let Some(payload) = usize::try_from(input.payload_size.get())
            .ok()
            .and_then(|n| input.payload.get(..n))
        else {
            return HvStatus::InvalidParameter;
        };
        server.post_message(self, connection_id, message_type, payload)
    }

    fn signal_event(
        &mut self,
        control: Control,
        input: u64,
        server: &mut dyn GuestToHost,
    ) -> HvStatus {
        self.counters.signal_hypercalls += 1;
        let input: SignalEventInput = if control.fast {
            match SignalEventInput::read_from_bytes(&input.to_le_bytes()) {
                Ok(i) => i,
                Err(_) => return HvStatus::InvalidHypercallInput,
            }
        } else {
            match self.read_input(input) {
                Ok(i) => i,
                Err(s) => return s,
            }
        };
        if input.reserved.get() != 0 {
            return HvStatus::InvalidHypercallInput;
        }
        let connection_id = input.connection_id.get();
        if connection_id & CONNECTION_ID_RESERVED != 0 {
            return HvStatus::InvalidConnectionId;
        }
        server.signal_event(self, connection_id, input.flag_number.get())
    }
}

#[cfg(test)]
#[path = "hypercall_tests.rs"]
mod tests;
