// SPDX-License-Identifier: GPL-2.0
//! Hypercalls the VMBus core makes: HvPostMessage (TLFS "HvPostMessage"), through the shim's
//! wrapper around the kernel's `hv_do_hypercall()` static call.

use super::bindings;
use crate::proto::vmbus::{MAX_MESSAGE_SIZE, VMBUS_SYNIC_MESSAGE_TYPE};
use kernel::prelude::*;

/// Hypercall status: success.
pub(crate) const HV_STATUS_SUCCESS: u16 = 0;
/// The host has no buffer for the message right now.
pub(crate) const HV_STATUS_INSUFFICIENT_MEMORY: u16 = 0x0b;
/// The connection id is not (yet) known to the host.
pub(crate) const HV_STATUS_INVALID_CONNECTION_ID: u16 = 0x12;
/// The host's message queue is full.
pub(crate) const HV_STATUS_INSUFFICIENT_BUFFERS: u16 = 0x13;
/// A malformed request (also what the shim answers for an oversized payload).
pub(crate) const HV_STATUS_INVALID_PARAMETER: u16 = 0x05;

/// Whether a failed post may succeed if retried a little later.
pub(crate) fn is_transient(status: u16) -> bool {
    matches!(
        status,
        HV_STATUS_INSUFFICIENT_MEMORY
            | HV_STATUS_INVALID_CONNECTION_ID
            | HV_STATUS_INSUFFICIENT_BUFFERS
    )
}

/// Posts the VMBus channel message `payload` to `connection_id`; returns the hypercall status
/// on failure.
pub(crate) fn post_message(connection_id: u32, payload: &[u8]) -> Result<(), u16> {
    if payload.len() > MAX_MESSAGE_SIZE {
        return Err(HV_STATUS_INVALID_PARAMETER);
    }
    // SAFETY: `payload` is valid for `len` bytes, which the shim copies into the per-CPU
    // hypercall input page before returning.
    let status = unsafe {
        bindings::rhv_hv_post_message(
            connection_id,
            VMBUS_SYNIC_MESSAGE_TYPE,
            payload.as_ptr().cast(),
            payload.len() as u32,
        )
    };
    if status == HV_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(status)
    }
}

/// Signals the host on `connection_id` (HvSignalEvent): a channel has news for it.
pub(crate) fn signal_event(connection_id: u32) -> Result<(), u16> {
    // SAFETY: a fast hypercall with one register input; no memory is involved.
    let status = unsafe { bindings::rhv_hv_signal_event(connection_id) };
    if status == HV_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(status)
    }
}

/// VP index of `cpu` (the number the host uses for a vCPU).
pub(crate) fn vp_index(cpu: kernel::cpu::CpuId) -> u32 {
    // SAFETY: `cpu` is a valid CPU id; the table is set up by the Hyper-V core at boot.
    unsafe { bindings::rhv_hv_vp_index(cpu.as_u32()) }
}

/// The virtual trust level this guest runs in.
pub(crate) fn vtl() -> u8 {
    // SAFETY: reads a field the Hyper-V core set at boot.
    unsafe { bindings::rhv_hv_vtl() }
}

/// Whether the kernel runs on Hyper-V in a way this module supports: the Hyper-V core set up
/// hypercalls and their input pages, and the partition is not isolated (SNP/TDX guests need
/// decrypted pages and paravisor paths that are not implemented).
pub(crate) fn hyperv_usable() -> Result<(), &'static CStr> {
    // SAFETY: a plain query of the Hyper-V core's state; no preconditions.
    if !unsafe { bindings::hv_is_hyperv_initialized() } {
        return Err(c"not running on Hyper-V");
    }
    // SAFETY: as above.
    if unsafe { bindings::hv_is_isolation_supported() } {
        return Err(c"isolated (SNP/TDX) partitions are not supported");
    }
    // SAFETY: as above.
    if !unsafe { bindings::rhv_hv_input_pages_ready() } {
        return Err(c"the hypercall input pages are missing");
    }
    Ok(())
}
