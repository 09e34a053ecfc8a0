// SPDX-License-Identifier: GPL-2.0
//! MSR semantics and the HostToGuest side of the platform.

use super::msr::{self, WrmsrOutcome};
use super::*;
use crate::hv::HvStatus;
use crate::memory::VecMemory;

pub(super) const RAM: usize = 0x20000;
pub(super) const PORT: u8 = 0x5a;

pub(super) fn platform(vcpus: u32) -> Platform {
    Platform::new(std::sync::Arc::new(VecMemory::new(RAM)), vcpus, PORT)
}

/// Does nothing; for requests that never reach the VMBus server.
pub(super) struct NoServer;
impl GuestToHost for NoServer {
    fn post_message(&mut self, _: &mut dyn HostToGuest, _: u32, _: u32, _: &[u8]) -> HvStatus {
        HvStatus::InvalidConnectionId
    }
    fn signal_event(&mut self, _: &mut dyn HostToGuest, _: u32, _: u16) -> HvStatus {
        HvStatus::InvalidConnectionId
    }
    fn poll(&mut self, _: &mut dyn HostToGuest) {}
}

const DONE: WrmsrOutcome = WrmsrOutcome::Done { flush_code: false };

#[test]
fn vp_index_is_per_vcpu_and_read_only() {
    let mut p = platform(3);
    for vp in 0..3 {
        assert_eq!(p.rdmsr(vp, msr::VP_INDEX), Some(vp.into()));
    }
    assert_eq!(p.wrmsr(1, msr::VP_INDEX, 7), WrmsrOutcome::Gp);
    assert_eq!(p.rdmsr(3, msr::VP_INDEX), None, "no such vCPU: #GP");
    assert_eq!(p.wrmsr(3, msr::GUEST_OS_ID, 1), WrmsrOutcome::Gp);
}

#[test]
fn hypercall_page_needs_a_guest_os_id_and_is_written_on_enable() {
    let mut p = platform(1);
    assert_eq!(
        p.wrmsr(0, msr::HYPERCALL, 0x5000 | msr::HYPERCALL_ENABLE),
        DONE
    );
    assert_eq!(
        p.rdmsr(0, msr::HYPERCALL),
        Some(0x5000),
        "enable ignored without an OS id"
    );
    assert_eq!(p.wrmsr(0, msr::GUEST_OS_ID, 0x8100_0007_0300_0000), DONE);
    assert_eq!(p.rdmsr(0, msr::GUEST_OS_ID), Some(0x8100_0007_0300_0000));
    assert_eq!(
        p.wrmsr(0, msr::HYPERCALL, 0x5000 | msr::HYPERCALL_ENABLE | 0xff0),
        WrmsrOutcome::Done { flush_code: true },
        "TCG must drop its translations of the page"
    );
    assert_eq!(
        p.rdmsr(0, msr::HYPERCALL),
        Some(0x5001),
        "reserved bits read as zero"
    );
    let mut code = [0u8; 3];
    p.memory().read_at(0x5000, &mut code).unwrap();
    assert_eq!(code, [0xe6, PORT, 0xc3]);
    // Same page again: nothing to rewrite.
    assert_eq!(p.wrmsr(0, msr::HYPERCALL, 0x5001), DONE);
    // Clearing the OS id disables hypercalls.
    p.wrmsr(0, msr::GUEST_OS_ID, 0);
    assert_eq!(p.rdmsr(0, msr::HYPERCALL), Some(0x5000));
}

#[test]
fn a_locked_hypercall_msr_ignores_writes_and_a_bad_page_faults() {
    let mut p = platform(1);
    p.wrmsr(0, msr::GUEST_OS_ID, 1);
    assert_eq!(
        p.wrmsr(0, msr::HYPERCALL, 0x10_0000 | 1),
        WrmsrOutcome::Gp,
        "page outside RAM"
    );
    assert_eq!(p.rdmsr(0, msr::HYPERCALL), Some(0));
    p.wrmsr(
        0,
        msr::HYPERCALL,
        0x6000 | msr::HYPERCALL_ENABLE | msr::HYPERCALL_LOCKED,
    );
    assert_eq!(p.wrmsr(0, msr::HYPERCALL, 0), DONE);
    assert_eq!(p.rdmsr(0, msr::HYPERCALL), Some(0x6003));
}

#[test]
fn reference_counter_counts_100ns_units() {
    let mut p = platform(1);
    let a = p.rdmsr(0, msr::TIME_REF_COUNT).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let b = p.rdmsr(0, msr::TIME_REF_COUNT).unwrap();
    assert!(
        b - a >= 200_000,
        "20 ms is at least 200,000 units, got {}",
        b - a
    );
    assert!(b - a < 200_000 * 100, "and not wildly more, got {}", b - a);
    assert_eq!(p.wrmsr(0, msr::TIME_REF_COUNT, 0), WrmsrOutcome::Gp);
}

#[test]
fn synic_msrs_read_back_per_vp() {
    let mut p = platform(2);
    assert_eq!(p.rdmsr(0, msr::SVERSION), Some(1));
    assert_eq!(p.rdmsr(0, msr::SINT0 + 2), Some(1 << 16), "masked at reset");
    assert_eq!(p.wrmsr(1, msr::SIMP, 0x3001), DONE);
    assert_eq!(p.wrmsr(1, msr::SIEFP, 0x4001), DONE);
    assert_eq!(p.wrmsr(1, msr::SINT0 + 2, 0xf3), DONE);
    assert_eq!(p.wrmsr(1, msr::SCONTROL, 1), DONE);
    assert_eq!(p.rdmsr(1, msr::SIMP), Some(0x3001));
    assert_eq!(p.rdmsr(1, msr::SIEFP), Some(0x4001));
    assert_eq!(p.rdmsr(1, msr::SINT0 + 2), Some(0xf3));
    assert_eq!(p.rdmsr(1, msr::SCONTROL), Some(1));
    assert_eq!(p.rdmsr(0, msr::SIMP), Some(0), "VP 0 is separate");
    assert_eq!(p.wrmsr(1, msr::SINT0 + 3, 0x05), WrmsrOutcome::Gp);
    assert_eq!(p.wrmsr(1, msr::EOM, 0), DONE);
    assert_eq!(p.rdmsr(1, msr::EOM), Some(0));
    assert_eq!(p.wrmsr(0, msr::VP_ASSIST_PAGE, 0x7001), DONE);
    assert_eq!(p.rdmsr(0, msr::VP_ASSIST_PAGE), Some(0x7001));
    assert_eq!(p.wrmsr(0, msr::TSC_INVARIANT_CONTROL, 1), DONE);
    assert_eq!(p.wrmsr(0, msr::TSC_INVARIANT_CONTROL, 2), WrmsrOutcome::Gp);
}

#[test]
fn unknown_msrs_read_zero_and_ignore_writes() {
    let mut p = platform(1);
    for m in [0x4000_0003, 0x4000_00b0, 0x4000_0100, 0x4000_01ff] {
        assert_eq!(p.wrmsr(0, m, 0x1234), DONE);
        assert_eq!(p.rdmsr(0, m), Some(0), "{m:#x}");
    }
}

#[test]
fn messages_and_interrupts_go_to_the_named_vp() {
    let mut p = platform(2);
    p.wrmsr(1, msr::SIMP, 0x3001);
    p.wrmsr(1, msr::SIEFP, 0x4001);
    p.wrmsr(1, msr::SINT0 + 2, 0xf3);
    p.wrmsr(1, msr::SCONTROL, 1);
    assert!(p.take_interrupts().is_empty());
    p.post_message(1, 2, 1, &[15, 0, 0, 0]).unwrap();
    p.signal_event(1, 2, 9).unwrap();
    assert_eq!(
        p.take_interrupts(),
        vec![Interrupt {
            vp: 1,
            vector: 0xf3
        }],
        "repeats folded"
    );
    assert_eq!(p.memory().read_u32(0x3000 + 2 * 256).unwrap(), 1);
    assert_eq!(
        p.post_message(0, 2, 1, &[]),
        Err(DeliveryError::NotEnabled(0))
    );
    assert_eq!(
        p.post_message(2, 2, 1, &[]),
        Err(DeliveryError::NoSuchVp(2))
    );
    assert_eq!(p.signal_event(5, 2, 0), Err(DeliveryError::NoSuchVp(5)));
    assert_eq!(p.post_message(1, 2, 0, &[1]), Ok(()), "type 0 is dropped");
    assert!(p.take_interrupts().is_empty());
}

#[test]
fn eom_redelivers_to_the_right_vp() {
    let mut p = platform(2);
    p.wrmsr(1, msr::SIMP, 0x3001);
    p.wrmsr(1, msr::SINT0 + 2, 0xf3);
    p.wrmsr(1, msr::SCONTROL, 1);
    p.post_message(1, 2, 1, &[1]).unwrap();
    p.post_message(1, 2, 1, &[2]).unwrap();
    p.take_interrupts();
    p.memory().write_u32(0x3000 + 2 * 256, 0).unwrap();
    p.wrmsr(1, msr::EOM, 0);
    assert_eq!(
        p.take_interrupts(),
        vec![Interrupt {
            vp: 1,
            vector: 0xf3
        }]
    );
    // The tick's retry finds nothing more to do.
    p.tick(&mut NoServer);
    assert!(p.take_interrupts().is_empty());
}

#[test]
fn requests_are_dispatched() {
    use crate::qemu::protocol::{Reply, Request};
    let mut p = platform(1);
    let r = p.handle(
        0,
        Request::Cpuid {
            leaf: 0x4000_0001,
            subleaf: 0,
        },
        &mut NoServer,
    );
    assert_eq!(r, Reply::Cpuid([u32::from_le_bytes(*b"Hv#1"), 0, 0, 0]));
    assert_eq!(
        p.handle(0, Request::Rdmsr { msr: msr::VP_INDEX }, &mut NoServer),
        Reply::Rdmsr(Some(0))
    );
    assert_eq!(
        p.handle(
            0,
            Request::Wrmsr {
                msr: msr::VP_INDEX,
                value: 0
            },
            &mut NoServer
        ),
        Reply::Wrmsr {
            gp: true,
            flush_code: false
        }
    );
}
