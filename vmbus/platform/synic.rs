// SPDX-License-Identifier: GPL-2.0
//! The per-CPU synthetic interrupt controller: programming SIMP, SIEFP, SINT 2 and SCONTROL
//! when a CPU comes online (and undoing it when it goes), taking a message out of SINT 2's
//! message slot with the end-of-message handshake, and collecting the set channel event flags.
//! Register formats and page layouts: `proto::synic` (TLFS "Synthetic Interrupt Controller").

use super::bindings;
use super::page::SharedPage;
use crate::proto::synic::{
    event_flags_offset, message_slot_offset, page_disabled, page_enabled, scontrol, sint_enabled,
    sint_masked, SetFlags, SynicMessageHeader, EVENT_FLAGS_SLOT_SIZE, MESSAGE_FLAG_PENDING,
    MESSAGE_PAYLOAD_SIZE, MESSAGE_TYPE_NONE, MSR_EOM, MSR_SCONTROL, MSR_SIEFP, MSR_SIMP, MSR_SINT0,
};
use crate::proto::vmbus::VMBUS_MESSAGE_SINT;
use kernel::cpu::{nr_cpu_ids, CpuId};
use kernel::prelude::*;
use kernel::sync::atomic::ordering;

fn read_msr(reg: u32) -> u64 {
    // SAFETY: `hv_get_msr` reads a Hyper-V synthetic MSR of the current CPU; the SynIC MSRs
    // used here exist on every Hyper-V with SynIC, which the module checks before use.
    unsafe { bindings::hv_get_msr(reg) }
}

fn write_msr(reg: u32, value: u64) {
    // SAFETY: as for `read_msr`; the values come from `proto::synic`, which keeps reserved
    // bits as read.
    unsafe { bindings::hv_set_msr(reg, value) }
}

/// A message copied out of a SynIC message slot.
#[derive(Clone, Copy)]
pub(crate) struct SynicMessage {
    len: u8,
    payload: [u8; MESSAGE_PAYLOAD_SIZE],
}

impl SynicMessage {
    /// An empty message.
    pub(crate) const EMPTY: Self = Self {
        len: 0,
        payload: [0; MESSAGE_PAYLOAD_SIZE],
    };

    /// The payload: a VMBus channel message.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.payload[..usize::from(self.len)]
    }

    /// A message with `bytes` as its payload (for tests and for replies kept aside).
    #[cfg(CONFIG_KUNIT)]
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        let mut m = Self::EMPTY;
        let len = bytes.len().min(MESSAGE_PAYLOAD_SIZE);
        m.payload[..len].copy_from_slice(&bytes[..len]);
        m.len = len as u8;
        m
    }
}

/// The SynIC pages of one CPU.
struct CpuPages {
    message: SharedPage,
    events: SharedPage,
}

/// The SynIC of every possible CPU: pages allocated up front, so that bringing a CPU online
/// allocates nothing.
pub(crate) struct Synic {
    cpus: KVec<CpuPages>,
    vector: u8,
    auto_eoi: bool,
}

const SLOT: usize = message_slot_offset(VMBUS_MESSAGE_SINT);
const FLAGS: usize = event_flags_offset(VMBUS_MESSAGE_SINT);
/// `message_type` and `message_flags` offsets in a slot (`struct hv_message_header`).
const TYPE_OFFSET: usize = SLOT;
const FLAGS_OFFSET: usize = SLOT + 5;
const SIZE_OFFSET: usize = SLOT + 4;
const PAYLOAD_OFFSET: usize = SLOT + core::mem::size_of::<SynicMessageHeader>();

impl Synic {
    /// Allocates the pages of every possible CPU.
    pub(crate) fn new() -> Result<Self> {
        let n = nr_cpu_ids() as usize;
        let mut cpus = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            cpus.push(
                CpuPages {
                    message: SharedPage::new()?,
                    events: SharedPage::new()?,
                },
                GFP_KERNEL,
            )?;
        }
        // SAFETY: reads constants of the Hyper-V core; no preconditions.
        let (vector, auto_eoi) = unsafe {
            (
                bindings::rhv_hv_callback_vector(),
                bindings::rhv_hv_use_auto_eoi(),
            )
        };
        Ok(Self {
            cpus,
            vector,
            auto_eoi,
        })
    }

    fn pages(&self, cpu: CpuId) -> Option<&CpuPages> {
        self.cpus.get(cpu.as_u32() as usize)
    }

    /// Enables the SynIC of `cpu`; must run on `cpu` (a CPU hotplug callback).
    pub(crate) fn enable(&self, cpu: CpuId) -> Result {
        let pages = self.pages(cpu).ok_or(EINVAL)?;
        write_msr(
            MSR_SIMP,
            page_enabled(read_msr(MSR_SIMP), pages.message.gpa()),
        );
        write_msr(
            MSR_SIEFP,
            page_enabled(read_msr(MSR_SIEFP), pages.events.gpa()),
        );
        let sint = MSR_SINT0 + u32::from(VMBUS_MESSAGE_SINT);
        write_msr(
            sint,
            sint_enabled(read_msr(sint), self.vector, self.auto_eoi),
        );
        write_msr(MSR_SCONTROL, scontrol(read_msr(MSR_SCONTROL), true));
        Ok(())
    }

    /// Disables the SynIC of the current CPU; must run on that CPU.
    pub(crate) fn disable(&self) {
        let sint = MSR_SINT0 + u32::from(VMBUS_MESSAGE_SINT);
        write_msr(sint, sint_masked(read_msr(sint)));
        write_msr(MSR_SIMP, page_disabled(read_msr(MSR_SIMP)));
        write_msr(MSR_SIEFP, page_disabled(read_msr(MSR_SIEFP)));
        write_msr(MSR_SCONTROL, scontrol(read_msr(MSR_SCONTROL), false));
    }

    /// Whether SINT 2's message slot of `cpu` holds a message.
    pub(crate) fn has_message(&self, cpu: CpuId) -> bool {
        self.pages(cpu).is_some_and(|p| {
            // ORDERING: pairs with the hypervisor filling the slot before setting the type.
            p.message.atomic_u32(TYPE_OFFSET).load(ordering::Acquire) != MESSAGE_TYPE_NONE
        })
    }

    /// Copies the message out of SINT 2's slot of `cpu`, frees the slot and, if the host has
    /// more queued, tells it so (EOM). Must run on `cpu` (the EOM MSR is per CPU).
    pub(crate) fn take_message(&self, cpu: CpuId) -> Option<SynicMessage> {
        let page = &self.pages(cpu)?.message;
        // ORDERING: pairs with the hypervisor writing the payload before the message type.
        if page.atomic_u32(TYPE_OFFSET).load(ordering::Acquire) == MESSAGE_TYPE_NONE {
            return None;
        }
        let mut m = SynicMessage::EMPTY;
        m.len = page.read_u8(SIZE_OFFSET).min(MESSAGE_PAYLOAD_SIZE as u8);
        for (i, chunk) in m.payload.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&page.read_u64(PAYLOAD_OFFSET + 8 * i).to_le_bytes());
        }
        // ORDERING: the full barrier of the exchange orders the payload reads above before
        // freeing the slot, and freeing the slot before reading the pending flag below; it
        // pairs with the hypervisor setting the flag while the slot is still occupied.
        page.atomic_u32(TYPE_OFFSET)
            .xchg(MESSAGE_TYPE_NONE, ordering::Full);
        if page.read_u8(FLAGS_OFFSET) & MESSAGE_FLAG_PENDING != 0 {
            write_msr(MSR_EOM, 0);
        }
        Some(m)
    }

    /// Clears and reports the set channel event flags of SINT 2 on `cpu`: `f` gets each relid
    /// (relid 0, the message flag, excluded).
    pub(crate) fn take_events(&self, cpu: CpuId, mut f: impl FnMut(u32)) {
        let Some(pages) = self.pages(cpu) else {
            return;
        };
        for word in 0..EVENT_FLAGS_SLOT_SIZE / 8 {
            let flags = pages.events.atomic_u64(FLAGS + 8 * word);
            if flags.load(ordering::Relaxed) == 0 {
                continue;
            }
            // ORDERING: the exchange is fully ordered so that the channel's ring is read
            // after its flag is consumed; pairs with the host writing the ring before setting
            // the flag.
            let set = flags.xchg(0, ordering::Full);
            for relid in SetFlags::new(word as u32, set).filter(|&r| r != 0) {
                f(relid);
            }
        }
    }
}
