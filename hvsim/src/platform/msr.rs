// SPDX-License-Identifier: GPL-2.0
//! The synthetic MSRs (Hypervisor TLFS, "Partition Properties", "Hypercall Interface", "Virtual
//! Processor Management", "SynIC"; numbers as in Linux's include/hyperv/hvgdk_mini.h).
//! Unknown MSRs read as 0 and ignore writes, with one log line each.

use super::Platform;

pub const GUEST_OS_ID: u32 = 0x4000_0000;
pub const HYPERCALL: u32 = 0x4000_0001;
pub const VP_INDEX: u32 = 0x4000_0002;
pub const TIME_REF_COUNT: u32 = 0x4000_0020;
pub const VP_ASSIST_PAGE: u32 = 0x4000_0073;
pub const SCONTROL: u32 = 0x4000_0080;
pub const SVERSION: u32 = 0x4000_0081;
pub const SIEFP: u32 = 0x4000_0082;
pub const SIMP: u32 = 0x4000_0083;
pub const EOM: u32 = 0x4000_0084;
pub const SINT0: u32 = 0x4000_0090;
pub const SINT15: u32 = 0x4000_009f;
pub const TSC_INVARIANT_CONTROL: u32 = 0x4000_0118;

const SYNIC_VERSION: u64 = 1;

/// HYPERCALL MSR: bit 0 enable, bit 1 locked, bits 63:12 the page's GPA.
pub const HYPERCALL_ENABLE: u64 = 1;
pub const HYPERCALL_LOCKED: u64 = 2;
const PAGE_MASK: u64 = !0xfff;
const VP_ASSIST_ENABLE: u64 = 1;
const TSC_INVARIANT_EXPOSE: u64 = 1;

/// The hypercall page's code: `out <port>, al; ret`. QEMU traps the port write and forwards
/// the vCPU's registers; hvsim's answer lands in RAX.
pub fn hypercall_code(port: u8) -> [u8; 3] {
    [0xe6, port, 0xc3]
}

/// Result of a WRMSR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrmsrOutcome {
    /// Accepted; `flush_code` when hvsim rewrote guest code (the hypercall page).
    Done { flush_code: bool },
    /// Refused with #GP(0), as the TLFS says for read-only MSRs and reserved bits.
    Gp,
}

const DONE: WrmsrOutcome = WrmsrOutcome::Done { flush_code: false };

impl Platform {
    /// RDMSR on `vp`: `None` raises #GP(0).
    pub fn rdmsr(&mut self, vp: u32, msr: u32) -> Option<u64> {
        let v = self.vps.get(vp as usize)?;
        let value = match msr {
            GUEST_OS_ID => self.partition.guest_os_id,
            HYPERCALL => self.partition.hypercall,
            VP_INDEX => vp.into(),
            TIME_REF_COUNT => self.reference_time(),
            VP_ASSIST_PAGE => v.vp_assist_page,
            SCONTROL => v.synic.scontrol(),
            SVERSION => SYNIC_VERSION,
            SIEFP => v.synic.siefp(),
            SIMP => v.synic.simp(),
            EOM => 0,
            SINT0..=SINT15 => v.synic.sint((msr - SINT0) as usize),
            TSC_INVARIANT_CONTROL => self.partition.tsc_invariant_control,
            _ => {
                self.log_unknown(vp, msr, "read");
                0
            }
        };
        Some(value)
    }

    /// WRMSR on `vp`.
    pub fn wrmsr(&mut self, vp: u32, msr: u32, value: u64) -> WrmsrOutcome {
        if vp as usize >= self.vps.len() {
            return WrmsrOutcome::Gp;
        }
        let gp_on = |r: Result<(), super::synic::InvalidWrite>| match r {
            Ok(()) => DONE,
            Err(_) => WrmsrOutcome::Gp,
        };
        match msr {
            GUEST_OS_ID => {
                self.partition.guest_os_id = value;
                // Hypercalls need a guest OS identity.
                if value == 0 {
                    self.partition.hypercall &= !HYPERCALL_ENABLE;
                }
                DONE
            }
            HYPERCALL => self.write_hypercall(value),
            VP_INDEX | TIME_REF_COUNT | SVERSION => {
                tracing::debug!(vp, "WRMSR {msr:#x} (read-only): #GP");
                WrmsrOutcome::Gp
            }
            VP_ASSIST_PAGE => {
                // Nothing that uses the assist page (lazy EOI, enlightened VMCS) is offered;
                // the value is only remembered.
                self.vps[vp as usize].vp_assist_page = value & (PAGE_MASK | VP_ASSIST_ENABLE);
                DONE
            }
            SCONTROL => gp_on(
                self.with_synic(vp, |s, m, o| s.set_scontrol(m, value, o))
                    .unwrap_or(Ok(())),
            ),
            SIEFP => gp_on(
                self.with_synic(vp, |s, m, o| s.set_siefp(m, value, o))
                    .unwrap_or(Ok(())),
            ),
            SIMP => gp_on(
                self.with_synic(vp, |s, m, o| s.set_simp(m, value, o))
                    .unwrap_or(Ok(())),
            ),
            EOM => {
                self.with_synic(vp, |s, m, o| s.eom(m, o));
                DONE
            }
            SINT0..=SINT15 => {
                let n = (msr - SINT0) as usize;
                gp_on(
                    self.with_synic(vp, |s, m, o| s.set_sint(m, n, value, o))
                        .unwrap_or(Ok(())),
                )
            }
            TSC_INVARIANT_CONTROL => {
                if value & !TSC_INVARIANT_EXPOSE != 0 {
                    return WrmsrOutcome::Gp;
                }
                self.partition.tsc_invariant_control = value;
                DONE
            }
            _ => {
                self.log_unknown(vp, msr, "write");
                DONE
            }
        }
    }

    fn write_hypercall(&mut self, value: u64) -> WrmsrOutcome {
        let old = self.partition.hypercall;
        if old & HYPERCALL_LOCKED != 0 {
            tracing::debug!("HYPERCALL MSR is locked: write of {value:#x} ignored");
            return DONE;
        }
        let mut new = value & (PAGE_MASK | HYPERCALL_ENABLE | HYPERCALL_LOCKED);
        if self.partition.guest_os_id == 0 && new & HYPERCALL_ENABLE != 0 {
            tracing::warn!("guest enabled the hypercall page before setting GUEST_OS_ID: ignored");
            new &= !HYPERCALL_ENABLE;
        }
        let mut flush_code = false;
        if new & HYPERCALL_ENABLE != 0
            && (old & HYPERCALL_ENABLE == 0 || (old ^ new) & PAGE_MASK != 0)
        {
            let gpa = new & PAGE_MASK;
            if let Err(e) = self
                .memory
                .write_at(gpa, &hypercall_code(self.hypercall_port))
            {
                tracing::warn!("hypercall page: {e}: #GP");
                return WrmsrOutcome::Gp;
            }
            tracing::debug!("hypercall page at {gpa:#x}");
            flush_code = true;
        }
        self.partition.hypercall = new;
        WrmsrOutcome::Done { flush_code }
    }

    pub(super) fn hypercalls_enabled(&self) -> bool {
        self.partition.hypercall & HYPERCALL_ENABLE != 0
    }

    fn log_unknown(&mut self, vp: u32, msr: u32, what: &str) {
        if self.unknown_msrs.insert(msr) {
            tracing::info!(
                vp,
                "unimplemented synthetic MSR {msr:#x} ({what}): reads 0, writes ignored"
            );
        }
    }
}
