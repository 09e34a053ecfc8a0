// SPDX-License-Identifier: GPL-2.0
//! QEMU's side of the link encoding (what hyperv-forward.patch does in C): for unit tests and
//! for a fake QEMU driving hvsim without a guest.

use super::*;

pub fn hello(hello: &Hello) -> Vec<u8> {
    let (role, vcpu, apic_id) = match hello.role {
        Role::Vcpu { index, apic_id } => (1, index, apic_id),
        Role::Interrupts => (2, 0, 0),
    };
    HelloWire {
        header: Header::new(Kind::Hello),
        magic: U32::new(MAGIC),
        version: U32::new(VERSION),
        role: U32::new(role),
        vcpu: U32::new(vcpu),
        apic_id: U32::new(apic_id),
        nr_vcpus: U32::new(hello.nr_vcpus),
    }
    .as_bytes()
    .to_vec()
}

pub fn request(request: &Request) -> Vec<u8> {
    match *request {
        Request::Cpuid { leaf, subleaf } => CpuidWire {
            header: Header::new(Kind::Cpuid),
            leaf: U32::new(leaf),
            subleaf: U32::new(subleaf),
        }
        .as_bytes()
        .to_vec(),
        Request::Rdmsr { msr } => RdmsrWire {
            header: Header::new(Kind::Rdmsr),
            msr: U32::new(msr),
            reserved: U32::new(0),
        }
        .as_bytes()
        .to_vec(),
        Request::Wrmsr { msr, value } => WrmsrWire {
            header: Header::new(Kind::Wrmsr),
            msr: U32::new(msr),
            reserved: U32::new(0),
            value: U64::new(value),
        }
        .as_bytes()
        .to_vec(),
        Request::Hypercall(r) => HypercallWire {
            header: Header::new(Kind::Hypercall),
            mode: U32::new(r.long_mode.into()),
            cpl: U32::new(r.cpl.into()),
            regs: r.regs.map(U64::new),
        }
        .as_bytes()
        .to_vec(),
    }
}

/// Decodes a reply the way QEMU checks it.
pub fn reply(buf: &[u8]) -> Result<Reply, ProtocolError> {
    let Some((kind, _)) = frame_size(buf)? else {
        return Err(ProtocolError::Truncated {
            have: buf.len(),
            need: HEADER_SIZE,
        });
    };
    let flush = |f: u32| {
        if f & !FLAG_FLUSH_CODE != 0 {
            Err(ProtocolError::Reserved(kind))
        } else {
            Ok(f != 0)
        }
    };
    match kind {
        Kind::CpuidReply => Ok(Reply::Cpuid(
            read::<CpuidReplyWire>(kind, buf)?.regs.map(|r| r.get()),
        )),
        Kind::RdmsrReply => {
            let w: RdmsrReplyWire = read(kind, buf)?;
            match w.result.get() {
                RESULT_OK => Ok(Reply::Rdmsr(Some(w.value.get()))),
                RESULT_GP => Ok(Reply::Rdmsr(None)),
                _ => Err(ProtocolError::Reserved(kind)),
            }
        }
        Kind::WrmsrReply => {
            let w: WrmsrReplyWire = read(kind, buf)?;
            Ok(Reply::Wrmsr {
                gp: w.result.get() == RESULT_GP,
                flush_code: flush(w.flags.get())?,
            })
        }
        Kind::HypercallReply => {
            let w: HypercallReplyWire = read(kind, buf)?;
            Ok(Reply::Hypercall {
                rax: w.rax.get(),
                flush_code: flush(w.flags.get())?,
            })
        }
        other => Err(ProtocolError::Unexpected(other)),
    }
}

/// Decodes an interrupt request as QEMU reads it: `(vcpu, vector)`.
pub fn interrupt(buf: &[u8]) -> Result<(u32, u32), ProtocolError> {
    let w: InterruptWire = read(Kind::Interrupt, buf)?;
    Ok((w.vcpu.get(), w.vector.get()))
}
