// SPDX-License-Identifier: GPL-2.0
//! The hypervisor CPUID leaves 0x40000000–0x400000FF (Hypervisor TLFS, "Feature and Interface
//! Discovery"; bit names as in Linux's include/hyperv/hvgdk_mini.h). Only what hvsim
//! implements is advertised.

/// Leaf numbers.
pub const LEAF_VENDOR: u32 = 0x4000_0000;
pub const LEAF_INTERFACE: u32 = 0x4000_0001;
pub const LEAF_VERSION: u32 = 0x4000_0002;
pub const LEAF_FEATURES: u32 = 0x4000_0003;
pub const LEAF_ENLIGHTENMENTS: u32 = 0x4000_0004;
pub const LEAF_LIMITS: u32 = 0x4000_0005;
/// The highest standard leaf hvsim reports (Linux needs at least 0x40000005).
pub const MAX_LEAF: u32 = LEAF_LIMITS;

/// Partition privileges, low half (leaf 3 EAX): which synthetic MSRs exist.
pub mod privileges {
    pub const TIME_REF_COUNT: u32 = 1 << 1;
    pub const SYNIC: u32 = 1 << 2;
    pub const HYPERCALL: u32 = 1 << 5;
    pub const VP_INDEX: u32 = 1 << 6;
    pub const TSC_INVARIANT: u32 = 1 << 15;
    /// High half (leaf 3 EBX): which hypercalls may be used.
    pub const POST_MESSAGES: u32 = 1 << 4;
    pub const SIGNAL_EVENTS: u32 = 1 << 5;
}

/// Implementation recommendations (leaf 4 EAX).
pub mod hints {
    /// Do not use auto-EOI for SINTs: QEMU's TCG local APIC cannot do it, so the guest must EOI.
    pub const DEPRECATING_AEOI: u32 = 1 << 9;
}

/// Vendor "Microsoft Hv" and interface "Hv#1", as the guest reads them from EBX/ECX/EDX.
const VENDOR: [u8; 12] = *b"Microsoft Hv";
const INTERFACE_HV1: u32 = u32::from_le_bytes(*b"Hv#1");

/// Reported hypervisor version: 10.0, build 20348 (Windows Server 2022).
const VERSION_BUILD: u32 = 20348;
const VERSION_MAJOR_MINOR: u32 = 10 << 16;

/// Answers CPUID for a hypervisor leaf; `vcpus` is the partition's vCPU count.
/// Unknown leaves in the range read as zeros: Linux reads some (0x40000081, 0x40000082)
/// without checking the maximum leaf.
pub fn cpuid(leaf: u32, _subleaf: u32, vcpus: u32) -> [u32; 4] {
    let word =
        |i: usize| u32::from_le_bytes([VENDOR[i], VENDOR[i + 1], VENDOR[i + 2], VENDOR[i + 3]]);
    match leaf {
        LEAF_VENDOR => [MAX_LEAF, word(0), word(4), word(8)],
        LEAF_INTERFACE => [INTERFACE_HV1, 0, 0, 0],
        LEAF_VERSION => [VERSION_BUILD, VERSION_MAJOR_MINOR, 0, 0],
        LEAF_FEATURES => [
            privileges::TIME_REF_COUNT
                | privileges::SYNIC
                | privileges::HYPERCALL
                | privileges::VP_INDEX
                | privileges::TSC_INVARIANT,
            privileges::POST_MESSAGES | privileges::SIGNAL_EVENTS,
            0,
            0,
        ],
        // EBX: never notify long spin waits.
        LEAF_ENLIGHTENMENTS => [hints::DEPRECATING_AEOI, u32::MAX, 0, 0],
        LEAF_LIMITS => [vcpus, vcpus, 0, 0],
        _ => [0; 4],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_as_hyper_v() {
        let [max, b, c, d] = cpuid(LEAF_VENDOR, 0, 2);
        assert!(max >= 0x4000_0005);
        let mut vendor = Vec::new();
        for r in [b, c, d] {
            vendor.extend_from_slice(&r.to_le_bytes());
        }
        assert_eq!(&vendor, b"Microsoft Hv");
        assert_eq!(&cpuid(LEAF_INTERFACE, 0, 2)[0].to_le_bytes(), b"Hv#1");
    }

    #[test]
    fn advertises_what_linux_needs_and_no_more() {
        let [eax, ebx, ecx, edx] = cpuid(LEAF_FEATURES, 0, 2);
        // Mandatory for Linux (ms_hyperv_platform) and for VMBus.
        assert_ne!(eax & privileges::HYPERCALL, 0);
        assert_ne!(eax & privileges::VP_INDEX, 0);
        assert_ne!(eax & privileges::SYNIC, 0);
        // Not implemented: VP runtime, synthetic timers, APIC access MSRs, reference TSC page,
        // frequency MSRs.
        for bit in [0, 3, 4, 9, 11] {
            assert_eq!(eax & (1 << bit), 0, "bit {bit}");
        }
        assert_eq!(ebx, privileges::POST_MESSAGES | privileges::SIGNAL_EVENTS);
        assert_eq!((ecx, edx), (0, 0));
        assert_ne!(
            cpuid(LEAF_ENLIGHTENMENTS, 0, 2)[0] & hints::DEPRECATING_AEOI,
            0
        );
        assert_eq!(cpuid(LEAF_LIMITS, 0, 3)[0], 3);
    }

    #[test]
    fn other_leaves_are_zero() {
        for leaf in [
            0x4000_0006,
            0x4000_000a,
            0x4000_0081,
            0x4000_0082,
            0x4000_00ff,
        ] {
            assert_eq!(cpuid(leaf, 0, 1), [0; 4], "{leaf:#x}");
        }
    }
}
