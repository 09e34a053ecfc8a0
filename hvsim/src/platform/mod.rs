// SPDX-License-Identifier: GPL-2.0
//! The Hyper-V platform as a guest sees it: the hypervisor CPUID leaves (`cpuid`), the
//! synthetic MSRs (`msr`), the hypercall page and the HvPostMessage/HvSignalEvent hypercalls
//! (`hypercall`) and a SynIC per virtual processor (`synic`).
//!
//! [`Platform`] answers QEMU's forwarded vCPU requests, implements [`HostToGuest`] for the
//! VMBus server and collects the interrupts that the event loop then asks QEMU to raise.
//! VP index == QEMU's vCPU index.

pub mod cpuid;
pub mod hypercall;
pub mod msr;
pub mod synic;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use crate::guest_ram::SharedMemory;
use crate::hv::{DeliveryError, GuestToHost, HostToGuest};
use crate::memory::GuestMemory;
use crate::qemu::protocol::{Reply, Request};
use synic::Synic;

/// An interrupt for QEMU to raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interrupt {
    pub vp: u32,
    pub vector: u8,
}

/// Partition-wide MSR state.
#[derive(Default)]
struct Partition {
    guest_os_id: u64,
    hypercall: u64,
    tsc_invariant_control: u64,
}

struct Vp {
    synic: Synic,
    vp_assist_page: u64,
}

pub struct Platform {
    memory: Arc<dyn SharedMemory>,
    vps: Vec<Vp>,
    partition: Partition,
    /// The I/O port the hypercall page writes to (QEMU's `-object hvsim,port=`).
    hypercall_port: u8,
    /// Time zero of the partition reference counter.
    start: Instant,
    interrupts: Vec<Interrupt>,
    /// MSRs already reported as unknown, to log each once.
    unknown_msrs: HashSet<u32>,
    counters: PlatformCounters,
}

/// What crossed between guest and host since the start, for the control interface's `stats`
/// (efficiency measures of the drivers: host round trips and guest interrupts per transfer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlatformCounters {
    /// HvCallSignalEvent hypercalls of the guest.
    pub signal_hypercalls: u64,
    /// HvCallPostMessage hypercalls of the guest.
    pub post_hypercalls: u64,
    /// Event flags the host set for the guest (one per host → guest signal).
    pub guest_events: u64,
    /// Interrupts sent to the guest's vCPUs (repeats within one loop turn merged).
    pub guest_interrupts: u64,
}

impl Platform {
    pub fn new(memory: Arc<dyn SharedMemory>, vcpus: u32, hypercall_port: u8) -> Self {
        Self {
            memory,
            vps: (0..vcpus)
                .map(|vp| Vp {
                    synic: Synic::new(vp),
                    vp_assist_page: 0,
                })
                .collect(),
            partition: Partition::default(),
            hypercall_port,
            start: Instant::now(),
            interrupts: Vec::new(),
            unknown_msrs: HashSet::new(),
            counters: PlatformCounters::default(),
        }
    }

    /// The counters since the start.
    pub fn counters(&self) -> PlatformCounters {
        self.counters
    }

    pub fn vcpus(&self) -> u32 {
        // CAST: built from a u32 count.
        self.vps.len() as u32
    }

    /// Time since the partition started, in the reference counter's 100 ns units.
    pub fn reference_time(&self) -> u64 {
        // CAST: 100 ns units of a u64 nanosecond count fit for 58,000 years.
        (self.start.elapsed().as_nanos() / 100) as u64
    }

    /// Answers one forwarded vCPU request.
    pub fn handle(&mut self, vp: u32, request: Request, server: &mut dyn GuestToHost) -> Reply {
        match request {
            Request::Cpuid { leaf, subleaf } => {
                Reply::Cpuid(cpuid::cpuid(leaf, subleaf, self.vcpus()))
            }
            Request::Rdmsr { msr } => Reply::Rdmsr(self.rdmsr(vp, msr)),
            Request::Wrmsr { msr, value } => match self.wrmsr(vp, msr, value) {
                msr::WrmsrOutcome::Done { flush_code } => Reply::Wrmsr {
                    gp: false,
                    flush_code,
                },
                msr::WrmsrOutcome::Gp => Reply::Wrmsr {
                    gp: true,
                    flush_code: false,
                },
            },
            Request::Hypercall(regs) => Reply::Hypercall {
                rax: self.hypercall(vp, &regs, server),
                flush_code: false,
            },
        }
    }

    /// Periodic work: retries queued SynIC messages and lets the VMBus server poll.
    pub fn tick(&mut self, server: &mut dyn GuestToHost) {
        let mut out = Vec::new();
        for (i, vp) in self.vps.iter_mut().enumerate() {
            vp.synic.retry(&*self.memory, &mut out);
            // CAST: `i` < the u32 vCPU count.
            self.interrupts
                .extend(out.drain(..).map(|vector| Interrupt {
                    vp: i as u32,
                    vector,
                }));
        }
        server.poll(self);
    }

    /// The interrupts raised since the last call, without repeats.
    pub fn take_interrupts(&mut self) -> Vec<Interrupt> {
        let mut v = std::mem::take(&mut self.interrupts);
        let mut seen = HashSet::new();
        v.retain(|i| seen.insert(*i));
        self.counters.guest_interrupts += v.len() as u64;
        v
    }

    /// Runs `f` on the SynIC of `vp` and records the interrupts it raises.
    fn with_synic<R>(
        &mut self,
        vp: u32,
        f: impl FnOnce(&mut Synic, &dyn SharedMemory, &mut Vec<u8>) -> R,
    ) -> Option<R> {
        let v = self.vps.get_mut(vp as usize)?;
        let mut out = Vec::new();
        let r = f(&mut v.synic, &*self.memory, &mut out);
        self.interrupts
            .extend(out.into_iter().map(|vector| Interrupt { vp, vector }));
        Some(r)
    }
}

impl HostToGuest for Platform {
    /// A `message_type` of 0 would read as a free slot: it is dropped with an error log.
    fn post_message(
        &mut self,
        vp: u32,
        sint: u8,
        message_type: u32,
        payload: &[u8],
    ) -> Result<(), DeliveryError> {
        if message_type == 0 {
            tracing::error!(vp, sint, "VMBus server posted a message of type 0: dropped");
            return Ok(());
        }
        self.with_synic(vp, |s, mem, out| {
            s.post(mem, sint.into(), message_type, payload, out)
        })
        .unwrap_or(Err(DeliveryError::NoSuchVp(vp)))
    }

    /// A `flag` past the 2048 of a SINT is dropped with an error log.
    fn signal_event(&mut self, vp: u32, sint: u8, flag: u32) -> Result<(), DeliveryError> {
        self.counters.guest_events += 1;
        self.with_synic(vp, |s, mem, out| {
            s.signal_event(mem, sint.into(), flag, out)
        })
        .unwrap_or(Err(DeliveryError::NoSuchVp(vp)))
    }

    fn has_vp(&self, vp: u32) -> bool {
        (vp as usize) < self.vps.len()
    }

    fn memory(&self) -> &dyn GuestMemory {
        &*self.memory
    }
}

#[cfg(test)]
#[path = "platform_tests.rs"]
mod tests;
