// SPDX-License-Identifier: GPL-2.0
//! Codec tests: round trips, and every kind of malformed input a peer could send.

use super::qemu_side;
use super::*;

fn vcpu_hello() -> Hello {
    Hello {
        role: Role::Vcpu {
            index: 1,
            apic_id: 1,
        },
        nr_vcpus: 2,
    }
}

#[test]
fn hello_round_trips_for_both_roles() {
    let h = vcpu_hello();
    assert_eq!(decode_hello(&qemu_side::hello(&h)), Ok(h));
    let irq = Hello {
        role: Role::Interrupts,
        nr_vcpus: 4,
    };
    assert_eq!(decode_hello(&qemu_side::hello(&irq)), Ok(irq));
}

#[test]
fn hello_with_bad_magic_version_or_role_is_rejected() {
    let good = qemu_side::hello(&vcpu_hello());
    let mut b = good.clone();
    b[8] ^= 1;
    assert!(matches!(decode_hello(&b), Err(ProtocolError::BadMagic(_))));
    let mut b = good.clone();
    b[12..16].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(decode_hello(&b), Err(ProtocolError::VersionMismatch(2)));
    let mut b = good.clone();
    b[16..20].copy_from_slice(&7u32.to_le_bytes());
    assert_eq!(decode_hello(&b), Err(ProtocolError::BadRole(7)));
    // An interrupt connection carries no vCPU number.
    let mut b = qemu_side::hello(&Hello {
        role: Role::Interrupts,
        nr_vcpus: 1,
    });
    b[20] = 1;
    assert_eq!(decode_hello(&b), Err(ProtocolError::Reserved(Kind::Hello)));
}

#[test]
fn hello_must_come_first() {
    let cpuid = qemu_side::request(&Request::Cpuid {
        leaf: 0x4000_0000,
        subleaf: 0,
    });
    assert_eq!(
        decode_hello(&cpuid),
        Err(ProtocolError::Unexpected(Kind::Cpuid))
    );
}

#[test]
fn requests_round_trip() {
    let mut regs = HypercallRegs {
        long_mode: true,
        cpl: 0,
        regs: [0; 16],
    };
    regs.regs[HypercallRegs::RCX] = 0x5c;
    regs.regs[HypercallRegs::RDX] = 0x1000;
    regs.regs[15] = u64::MAX;
    for r in [
        Request::Cpuid {
            leaf: 0x4000_0003,
            subleaf: 7,
        },
        Request::Rdmsr { msr: 0x4000_0002 },
        Request::Wrmsr {
            msr: 0x4000_0001,
            value: 0x1234_5001,
        },
        Request::Hypercall(regs),
    ] {
        assert_eq!(decode_request(&qemu_side::request(&r)), Ok(r));
    }
}

#[test]
fn replies_round_trip_through_qemus_checks() {
    for r in [
        Reply::Cpuid([1, 2, 3, 4]),
        Reply::Rdmsr(Some(u64::MAX)),
        Reply::Rdmsr(None),
        Reply::Wrmsr {
            gp: false,
            flush_code: true,
        },
        Reply::Wrmsr {
            gp: true,
            flush_code: false,
        },
        Reply::Hypercall {
            rax: 0x12,
            flush_code: false,
        },
    ] {
        assert_eq!(qemu_side::reply(&encode_reply(&r)), Ok(r));
    }
    assert_eq!(
        qemu_side::interrupt(&encode_interrupt(1, 0xf3)),
        Ok((1, 0xf3))
    );
    let ack = encode_hello_ack();
    assert_eq!(ack.len(), Kind::HelloAck.size());
    assert_eq!(&ack[8..12], &MAGIC.to_le_bytes());
}

#[test]
fn short_input_waits_for_more_bytes() {
    let msg = qemu_side::request(&Request::Rdmsr { msr: 1 });
    for n in 0..HEADER_SIZE {
        assert_eq!(frame_size(&msg[..n]), Ok(None));
    }
    assert_eq!(frame_size(&msg[..HEADER_SIZE]), Ok(Some((Kind::Rdmsr, 16))));
    // A truncated body handed to the decoder is an error, not a panic.
    assert!(matches!(
        decode_request(&msg[..12]),
        Err(ProtocolError::BadSize { .. })
    ));
    assert!(decode_request(&[]).is_err());
}

#[test]
fn wrong_sizes_are_rejected_from_the_header_alone() {
    for (kind, size) in [
        (3u32, 15u32),
        (3, 17),
        (9, 0),
        (9, u32::MAX),
        (1, 8),
        (5, 1 << 20),
    ] {
        let mut h = kind.to_le_bytes().to_vec();
        h.extend_from_slice(&size.to_le_bytes());
        assert!(
            matches!(frame_size(&h), Err(ProtocolError::BadSize { .. })),
            "kind {kind} size {size}"
        );
    }
}

#[test]
fn oversized_buffers_are_rejected_even_with_a_valid_header() {
    let mut msg = qemu_side::request(&Request::Cpuid {
        leaf: 1,
        subleaf: 2,
    });
    msg.extend_from_slice(&[0; 8]);
    assert!(matches!(
        decode_request(&msg),
        Err(ProtocolError::BadSize { .. })
    ));
    let mut hello = qemu_side::hello(&vcpu_hello());
    hello.push(0);
    assert!(decode_hello(&hello).is_err());
}

#[test]
fn unknown_and_misdirected_kinds_are_rejected() {
    let mut h = 0u32.to_le_bytes().to_vec();
    h.extend_from_slice(&8u32.to_le_bytes());
    assert_eq!(frame_size(&h), Err(ProtocolError::UnknownKind(0)));
    h[0] = 12;
    assert_eq!(frame_size(&h), Err(ProtocolError::UnknownKind(12)));
    // A reply or an interrupt is never a request.
    let reply = encode_reply(&Reply::Cpuid([0; 4]));
    assert_eq!(
        decode_request(&reply),
        Err(ProtocolError::Unexpected(Kind::CpuidReply))
    );
    let irq = encode_interrupt(0, 32);
    assert_eq!(
        decode_request(&irq),
        Err(ProtocolError::Unexpected(Kind::Interrupt))
    );
    let hello = qemu_side::hello(&vcpu_hello());
    assert_eq!(
        decode_request(&hello),
        Err(ProtocolError::Unexpected(Kind::Hello))
    );
}

#[test]
fn reserved_fields_must_be_zero() {
    let mut rd = qemu_side::request(&Request::Rdmsr { msr: 0x4000_0000 });
    rd[12] = 1;
    assert_eq!(
        decode_request(&rd),
        Err(ProtocolError::Reserved(Kind::Rdmsr))
    );
    let mut wr = qemu_side::request(&Request::Wrmsr {
        msr: 0x4000_0000,
        value: 0,
    });
    wr[15] = 0x80;
    assert_eq!(
        decode_request(&wr),
        Err(ProtocolError::Reserved(Kind::Wrmsr))
    );
    let mut hc = qemu_side::request(&Request::Hypercall(HypercallRegs::default()));
    hc[8] = 2; // unknown mode bit
    assert_eq!(
        decode_request(&hc),
        Err(ProtocolError::Reserved(Kind::Hypercall))
    );
    let mut hc = qemu_side::request(&Request::Hypercall(HypercallRegs::default()));
    hc[12] = 4; // CPL 4
    assert_eq!(
        decode_request(&hc),
        Err(ProtocolError::Reserved(Kind::Hypercall))
    );
}

#[test]
fn every_kind_has_its_documented_size() {
    let sizes = [32, 16, 16, 24, 16, 24, 24, 16, 144, 24, 16];
    for (i, size) in sizes.into_iter().enumerate() {
        let kind = Kind::try_from(i as u32 + 1).unwrap();
        assert_eq!(kind.size(), size, "{kind:?}");
        assert!(size <= MAX_MESSAGE_SIZE);
    }
}

#[test]
fn random_garbage_never_panics() {
    // A small deterministic generator: every prefix of every buffer must decode to a value or
    // an error.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        let mut buf = [0u8; MAX_MESSAGE_SIZE + 8];
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        // Make some headers plausible so bodies get parsed too.
        let kind = (x % 12) as u32;
        buf[..4].copy_from_slice(&kind.to_le_bytes());
        if let Ok(k) = Kind::try_from(kind) {
            buf[4..8].copy_from_slice(&(k.size() as u32).to_le_bytes());
        }
        let len = (x >> 8) as usize % buf.len();
        let _ = frame_size(&buf[..len]);
        let _ = decode_hello(&buf[..len]);
        let _ = decode_request(&buf[..len]);
        let _ = qemu_side::reply(&buf[..len]);
        let _ = qemu_side::interrupt(&buf[..len]);
    }
}
