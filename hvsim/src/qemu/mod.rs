// SPDX-License-Identifier: GPL-2.0
//! The link to the patched QEMU (hvsim/qemu/hyperv-forward.patch): QEMU forwards the
//! hypervisor CPUID leaves, the synthetic MSRs and the hypercall trap of each vCPU over its
//! own Unix stream and waits for the answer; hvsim asks for interrupts on one more stream that
//! QEMU's main loop serves. The wire format is in `protocol` and hvsim/qemu/PROTOCOL.md.

pub mod connection;
pub mod link;
pub mod protocol;
