// SPDX-License-Identifier: GPL-2.0
//! Hypercall decoding: control words, input blocks, and every bad input a guest can pass.

use super::super::msr;
use super::super::tests::{platform, RAM};
use super::*;
use crate::hv::HostToGuest;

/// Records what reaches the VMBus server; answers with `status`.
#[derive(Default)]
struct Recorder {
    posts: Vec<(u32, u32, Vec<u8>)>,
    signals: Vec<(u32, u16)>,
    status: Option<HvStatus>,
    /// Reply to every post with a message to VP 0, SINT 2 (what a VMBus server does).
    reply: bool,
}

impl GuestToHost for Recorder {
    fn post_message(
        &mut self,
        host: &mut dyn HostToGuest,
        conn: u32,
        ty: u32,
        payload: &[u8],
    ) -> HvStatus {
        self.posts.push((conn, ty, payload.to_vec()));
        if self.reply {
            host.post_message(0, 2, 1, &[15, 0, 0, 0]).unwrap();
        }
        self.status.unwrap_or(HvStatus::Success)
    }
    fn signal_event(&mut self, _: &mut dyn HostToGuest, conn: u32, flag: u16) -> HvStatus {
        self.signals.push((conn, flag));
        self.status.unwrap_or(HvStatus::Success)
    }
    fn poll(&mut self, _: &mut dyn HostToGuest) {}
}

const INPUT: u64 = 0x3000;

fn ready() -> Platform {
    let mut p = platform(1);
    p.wrmsr(0, msr::GUEST_OS_ID, 1);
    p.wrmsr(0, msr::HYPERCALL, 0x5001);
    p
}

fn regs(control: u64, rdx: u64) -> HypercallRegs {
    let mut r = HypercallRegs {
        long_mode: true,
        cpl: 0,
        regs: [0; 16],
    };
    r.regs[HypercallRegs::RCX] = control;
    r.regs[HypercallRegs::RDX] = rdx;
    r
}

fn write_post_input(
    p: &Platform,
    gpa: u64,
    conn: u32,
    reserved: u32,
    ty: u32,
    size: u32,
    payload: &[u8],
) {
    let mut b = Vec::new();
    for v in [conn, reserved, ty, size] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(payload);
    p.memory().write_at(gpa, &b).unwrap();
}

fn call(p: &mut Platform, s: &mut Recorder, control: u64, rdx: u64) -> u64 {
    p.hypercall(0, &regs(control, rdx), s)
}

const OK: u64 = HvStatus::Success as u64;

#[test]
fn post_message_reaches_the_server() {
    let mut p = ready();
    let mut s = Recorder::default();
    write_post_input(&p, INPUT, 4, 0, 1, 8, &[14, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(call(&mut p, &mut s, 0x5c, INPUT), OK);
    assert_eq!(s.posts, vec![(4, 1, vec![14, 0, 0, 0, 0, 0, 0, 0])]);
    // An empty and a full payload are both fine.
    write_post_input(&p, INPUT, 1, 0, 1, 0, &[]);
    assert_eq!(call(&mut p, &mut s, 0x5c, INPUT), OK);
    write_post_input(&p, INPUT, 1, 0, 1, 240, &[0xaa; 240]);
    assert_eq!(call(&mut p, &mut s, 0x5c, INPUT), OK);
    assert_eq!(s.posts[2].2.len(), 240);
}

#[test]
fn the_servers_status_is_returned() {
    let mut p = ready();
    let mut s = Recorder {
        status: Some(HvStatus::InvalidConnectionId),
        ..Default::default()
    };
    write_post_input(&p, INPUT, 77, 0, 1, 4, &[1, 2, 3, 4]);
    assert_eq!(
        call(&mut p, &mut s, 0x5c, INPUT),
        HvStatus::InvalidConnectionId as u64
    );
    s.status = Some(HvStatus::InsufficientBuffers);
    assert_eq!(
        call(&mut p, &mut s, 0x5d | 1 << 16, 77),
        HvStatus::InsufficientBuffers as u64
    );
}

#[test]
fn bad_input_addresses() {
    let mut p = ready();
    let mut s = Recorder::default();
    let status = |p: &mut Platform, s: &mut Recorder, gpa| call(p, s, 0x5c, gpa);
    assert_eq!(
        status(&mut p, &mut s, RAM as u64),
        HvStatus::InvalidParameter as u64,
        "outside RAM"
    );
    assert_eq!(
        status(&mut p, &mut s, u64::MAX - 7),
        HvStatus::InvalidAlignment as u64,
        "crosses a page"
    );
    assert_eq!(
        status(&mut p, &mut s, INPUT + 4),
        HvStatus::InvalidAlignment as u64,
        "misaligned"
    );
    assert_eq!(
        status(&mut p, &mut s, INPUT + 0xf08),
        HvStatus::InvalidAlignment as u64,
        "crosses a page"
    );
    assert_eq!(
        call(&mut p, &mut s, 0x5d, INPUT + 2),
        HvStatus::InvalidAlignment as u64
    );
    assert_eq!(
        call(&mut p, &mut s, 0x5d, 1 << 40),
        HvStatus::InvalidParameter as u64
    );
    assert!(s.posts.is_empty() && s.signals.is_empty());
}

#[test]
fn bad_post_message_inputs() {
    let mut p = ready();
    let mut s = Recorder::default();
    let cases = [
        (
            (4, 0, 1, 241),
            HvStatus::InvalidParameter,
            "oversized payload",
        ),
        (
            (4, 0, 1, u32::MAX),
            HvStatus::InvalidParameter,
            "huge payload size",
        ),
        (
            (4, 1, 1, 4),
            HvStatus::InvalidHypercallInput,
            "reserved field",
        ),
        ((4, 0, 0, 4), HvStatus::InvalidParameter, "message type 0"),
        (
            (4, 0, 0x8000_0001, 4),
            HvStatus::InvalidParameter,
            "hypervisor message type",
        ),
        (
            (0x0100_0004, 0, 1, 4),
            HvStatus::InvalidConnectionId,
            "reserved connection id bits",
        ),
    ];
    for ((conn, rsvd, ty, size), want, what) in cases {
        write_post_input(&p, INPUT, conn, rsvd, ty, size, &[0; 4]);
        assert_eq!(call(&mut p, &mut s, 0x5c, INPUT), want as u64, "{what}");
    }
    // The fast form cannot carry a message.
    assert_eq!(
        call(&mut p, &mut s, 0x5c | 1 << 16, INPUT),
        HvStatus::InvalidHypercallInput as u64
    );
    assert!(s.posts.is_empty());
}

#[test]
fn signal_event_fast_and_slow() {
    let mut p = ready();
    let mut s = Recorder::default();
    assert_eq!(call(&mut p, &mut s, 0x5d | 1 << 16, 0x0003_0000_0011), OK);
    p.memory()
        .write_at(INPUT, &[0x12, 0, 0, 0, 5, 0, 0, 0])
        .unwrap();
    assert_eq!(call(&mut p, &mut s, 0x5d, INPUT), OK);
    assert_eq!(s.signals, vec![(0x11, 3), (0x12, 5)]);
    assert_eq!(
        call(&mut p, &mut s, 0x5d | 1 << 16, 1 << 48 | 0x11),
        HvStatus::InvalidHypercallInput as u64
    );
    assert_eq!(
        call(&mut p, &mut s, 0x5d | 1 << 16, 0xff00_0011),
        HvStatus::InvalidConnectionId as u64
    );
    assert_eq!(s.signals.len(), 2);
}

#[test]
fn control_word_checks() {
    let mut p = ready();
    let mut s = Recorder::default();
    let fast_signal = 0x5d | 1 << 16;
    for (control, what) in [
        (fast_signal | 1 << 32, "rep count"),
        (fast_signal | 1 << 48, "rep start"),
        (fast_signal | 1 << 17, "variable header"),
        (fast_signal | 1 << 31, "nested"),
        (fast_signal | 1 << 27, "reserved 31:27"),
        (fast_signal | 1 << 44, "reserved 47:44"),
        (fast_signal | 1 << 63, "reserved 63:60"),
    ] {
        assert_eq!(
            call(&mut p, &mut s, control, 0x11),
            HvStatus::InvalidHypercallInput as u64,
            "{what}"
        );
    }
    for code in [0x0000, 0x0001, 0x0002, 0x005e, 0x0099, 0xffff] {
        assert_eq!(
            call(&mut p, &mut s, code, INPUT),
            HvStatus::InvalidHypercallCode as u64,
            "{code:#x}"
        );
    }
    assert!(s.signals.is_empty());
    assert_eq!(
        parse_control(0x1005c),
        Ok(Control {
            code: 0x5c,
            fast: true
        })
    );
}

#[test]
fn calling_mode_checks() {
    let mut p = ready();
    let mut s = Recorder::default();
    let mut r = regs(0x5d | 1 << 16, 0x11);
    r.long_mode = false;
    assert_eq!(
        p.hypercall(0, &r, &mut s),
        HvStatus::InvalidHypercallInput as u64
    );
    r.long_mode = true;
    r.cpl = 3;
    assert_eq!(p.hypercall(0, &r, &mut s), HvStatus::AccessDenied as u64);
    let mut off = platform(1);
    assert_eq!(
        off.hypercall(0, &regs(0x5d | 1 << 16, 0x11), &mut s),
        HvStatus::InvalidHypercallCode as u64
    );
    assert!(s.signals.is_empty());
}

#[test]
fn the_server_can_answer_from_inside_the_hypercall() {
    let mut p = ready();
    p.wrmsr(0, msr::SIMP, 0x6001);
    p.wrmsr(0, msr::SINT0 + 2, 0xf3);
    p.wrmsr(0, msr::SCONTROL, 1);
    let mut s = Recorder {
        reply: true,
        ..Default::default()
    };
    write_post_input(&p, INPUT, 4, 0, 1, 4, &[14, 0, 0, 0]);
    assert_eq!(call(&mut p, &mut s, 0x5c, INPUT), OK);
    assert_eq!(p.memory().read_u32(0x6000 + 512).unwrap(), 1);
    assert_eq!(p.take_interrupts().len(), 1);
}
