// SPDX-License-Identifier: GPL-2.0
//! Link tests against a fake QEMU on a real Unix socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use super::super::protocol::{qemu_side, Hello, Kind, Reply, Request, Role};
use super::*;

struct Echo;
impl VcpuHandler for Echo {
    fn handle(&mut self, vcpu: u32, request: Request) -> Reply {
        match request {
            Request::Cpuid { leaf, subleaf } => Reply::Cpuid([vcpu, leaf, subleaf, 0]),
            Request::Rdmsr { msr } => Reply::Rdmsr(Some(msr.into())),
            Request::Wrmsr { .. } => Reply::Wrmsr {
                gp: true,
                flush_code: false,
            },
            Request::Hypercall(r) => Reply::Hypercall {
                rax: r.regs[1],
                flush_code: false,
            },
        }
    }
}

struct Dir(PathBuf);
impl Dir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "hvsim-link-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the link's side until `done` says so (or a bounded number of rounds).
fn pump(link: &mut QemuLink, rounds: usize) -> Result<LinkState, LinkError> {
    let mut state = link.state();
    for _ in 0..rounds {
        let mut fds = Vec::new();
        link.poll_fds(&mut fds);
        // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()` pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 20) };
        assert!(n >= 0);
        state = link.on_ready(&fds, &mut Echo)?;
    }
    Ok(state)
}

fn connect(path: &std::path::Path, hello: Hello) -> UnixStream {
    let mut s = UnixStream::connect(path).unwrap();
    s.write_all(&qemu_side::hello(&hello)).unwrap();
    s
}

fn read_msg(s: &mut UnixStream, kind: Kind) -> Vec<u8> {
    let mut buf = vec![0u8; kind.size()];
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf[..4], &(kind as u32).to_le_bytes());
    buf
}

fn up(nr: u32) -> (Dir, QemuLink, UnixStream, Vec<UnixStream>) {
    let dir = Dir::new();
    let path = dir.0.join("sock");
    let mut link = QemuLink::bind(&path, nr).unwrap();
    let mut irq = connect(
        &path,
        Hello {
            role: Role::Interrupts,
            nr_vcpus: nr,
        },
    );
    let mut vcpus: Vec<_> = (0..nr)
        .map(|i| {
            connect(
                &path,
                Hello {
                    role: Role::Vcpu {
                        index: i,
                        apic_id: i * 2,
                    },
                    nr_vcpus: nr,
                },
            )
        })
        .collect();
    assert_eq!(pump(&mut link, 4).unwrap(), LinkState::Up);
    read_msg(&mut irq, Kind::HelloAck);
    for v in &mut vcpus {
        read_msg(v, Kind::HelloAck);
    }
    (dir, link, irq, vcpus)
}

#[test]
fn requests_are_answered_on_their_own_connection() {
    let (_d, mut link, _irq, mut vcpus) = up(2);
    assert_eq!(link.apic_id(1), Some(2));
    vcpus[1]
        .write_all(&qemu_side::request(&Request::Cpuid {
            leaf: 0x4000_0000,
            subleaf: 3,
        }))
        .unwrap();
    pump(&mut link, 2).unwrap();
    let r = qemu_side::reply(&read_msg(&mut vcpus[1], Kind::CpuidReply)).unwrap();
    assert_eq!(r, Reply::Cpuid([1, 0x4000_0000, 3, 0]));
    vcpus[0]
        .write_all(&qemu_side::request(&Request::Wrmsr { msr: 5, value: 6 }))
        .unwrap();
    pump(&mut link, 2).unwrap();
    let r = qemu_side::reply(&read_msg(&mut vcpus[0], Kind::WrmsrReply)).unwrap();
    assert_eq!(
        r,
        Reply::Wrmsr {
            gp: true,
            flush_code: false
        }
    );
}

#[test]
fn interrupts_go_out_on_the_interrupt_connection() {
    let (_d, mut link, mut irq, _vcpus) = up(1);
    link.send_interrupt(0, 0xf3).unwrap();
    let msg = read_msg(&mut irq, Kind::Interrupt);
    assert_eq!(qemu_side::interrupt(&msg).unwrap(), (0, 0xf3));
}

#[test]
fn a_malformed_request_ends_the_link() {
    let (_d, mut link, _irq, mut vcpus) = up(1);
    vcpus[0].write_all(&[9, 0, 0, 0, 145, 0, 0, 0]).unwrap();
    assert!(matches!(
        pump(&mut link, 2),
        Err(LinkError::Connection { .. })
    ));
}

#[test]
fn a_reply_kind_sent_as_a_request_ends_the_link() {
    let (_d, mut link, _irq, mut vcpus) = up(1);
    vcpus[0]
        .write_all(&protocol::encode_reply(&Reply::Cpuid([0; 4])))
        .unwrap();
    assert!(matches!(
        pump(&mut link, 2),
        Err(LinkError::Connection { .. })
    ));
}

#[test]
fn anything_sent_on_the_interrupt_connection_ends_the_link() {
    let (_d, mut link, mut irq, _vcpus) = up(1);
    irq.write_all(&qemu_side::request(&Request::Rdmsr { msr: 0 }))
        .unwrap();
    assert!(matches!(
        pump(&mut link, 2),
        Err(LinkError::Connection { .. })
    ));
}

#[test]
fn bad_hellos_are_refused() {
    let dir = Dir::new();
    let path = dir.0.join("sock");
    let mut link = QemuLink::bind(&path, 2).unwrap();
    let _a = connect(
        &path,
        Hello {
            role: Role::Interrupts,
            nr_vcpus: 3,
        },
    );
    assert!(matches!(
        pump(&mut link, 2),
        Err(LinkError::VcpuCount { qemu: 3, ours: 2 })
    ));

    let mut link = {
        let _ = std::fs::remove_file(&path);
        QemuLink::bind(&path, 2).unwrap()
    };
    let _a = connect(
        &path,
        Hello {
            role: Role::Vcpu {
                index: 2,
                apic_id: 0,
            },
            nr_vcpus: 2,
        },
    );
    assert!(matches!(pump(&mut link, 2), Err(LinkError::NoSuchVcpu(2))));

    let mut link = {
        let _ = std::fs::remove_file(&path);
        QemuLink::bind(&path, 2).unwrap()
    };
    let _a = connect(
        &path,
        Hello {
            role: Role::Vcpu {
                index: 0,
                apic_id: 0,
            },
            nr_vcpus: 2,
        },
    );
    assert!(pump(&mut link, 2).is_ok());
    let _b = connect(
        &path,
        Hello {
            role: Role::Vcpu {
                index: 0,
                apic_id: 0,
            },
            nr_vcpus: 2,
        },
    );
    assert!(matches!(
        pump(&mut link, 2),
        Err(LinkError::DuplicateVcpu(0))
    ));
}

#[test]
fn a_version_mismatch_is_answered_with_our_version() {
    let dir = Dir::new();
    let path = dir.0.join("sock");
    let mut link = QemuLink::bind(&path, 1).unwrap();
    let mut s = UnixStream::connect(&path).unwrap();
    let mut hello = qemu_side::hello(&Hello {
        role: Role::Interrupts,
        nr_vcpus: 1,
    });
    hello[12] = 9;
    s.write_all(&hello).unwrap();
    assert!(pump(&mut link, 2).is_err());
    let ack = read_msg(&mut s, Kind::HelloAck);
    assert_eq!(&ack[12..16], &protocol::VERSION.to_le_bytes());
}

#[test]
fn qemu_going_away_closes_the_link() {
    let (_d, mut link, irq, vcpus) = up(2);
    drop(vcpus);
    drop(irq);
    assert_eq!(pump(&mut link, 2).unwrap(), LinkState::Closed);
}

#[test]
fn interrupts_before_the_interrupt_connection_are_kept() {
    let dir = Dir::new();
    let path = dir.0.join("sock");
    let mut link = QemuLink::bind(&path, 1).unwrap();
    link.send_interrupt(0, 0x30).unwrap();
    let mut irq = connect(
        &path,
        Hello {
            role: Role::Interrupts,
            nr_vcpus: 1,
        },
    );
    pump(&mut link, 2).unwrap();
    read_msg(&mut irq, Kind::HelloAck);
    assert_eq!(
        qemu_side::interrupt(&read_msg(&mut irq, Kind::Interrupt)).unwrap(),
        (0, 0x30)
    );
}
