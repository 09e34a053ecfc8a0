// SPDX-License-Identifier: GPL-2.0
//! The listening side of the QEMU link: accepts QEMU's connections, checks each hello, routes
//! vCPU requests to a [`VcpuHandler`] and queues interrupt requests on the interrupt
//! connection. Driven by the event loop through [`QemuLink::poll_fds`] and
//! [`QemuLink::on_ready`]; nothing here blocks.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;

use super::connection::{Connection, ConnectionError};
use super::protocol::{
    self, decode_hello, decode_request, Hello, ProtocolError, Reply, Request, Role,
};

/// Answers the synchronous requests of the vCPUs.
pub trait VcpuHandler {
    fn handle(&mut self, vcpu: u32, request: Request) -> Reply;
}

/// A failure of the link; each one ends the run.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("accepting a QEMU connection failed: {0}")]
    Accept(io::Error),
    #[error("{conn}: {source}")]
    Connection {
        conn: String,
        source: ConnectionError,
    },
    #[error("QEMU reports {qemu} vCPUs, hvsim was started for {ours}")]
    VcpuCount { qemu: u32, ours: u32 },
    #[error("QEMU opened a second connection for vCPU {0}")]
    DuplicateVcpu(u32),
    #[error("QEMU names vCPU {0}, which hvsim does not have")]
    NoSuchVcpu(u32),
    #[error("QEMU opened a second interrupt connection")]
    DuplicateInterrupts,
}

impl LinkError {
    fn on(conn: impl Into<String>, source: impl Into<ConnectionError>) -> Self {
        LinkError::Connection {
            conn: conn.into(),
            source: source.into(),
        }
    }
}

/// What the link looks like after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Still waiting for some of QEMU's connections.
    Connecting,
    /// Every vCPU and the interrupt connection are up.
    Up,
    /// QEMU closed its connections (it is exiting).
    Closed,
}

struct Vcpu {
    conn: Connection,
    apic_id: u32,
}

/// Traffic counters, for the end-of-run summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub cpuid: u64,
    pub rdmsr: u64,
    pub wrmsr: u64,
    pub hypercalls: u64,
    pub interrupts: u64,
}

pub struct QemuLink {
    listener: UnixListener,
    nr_vcpus: u32,
    /// Accepted, hello not yet received.
    pending: Vec<Connection>,
    vcpus: Vec<Option<Vcpu>>,
    interrupts: Option<Connection>,
    /// Interrupt requests made before the interrupt connection came up.
    early_interrupts: Vec<Vec<u8>>,
    closed: bool,
    stats: LinkStats,
}

impl QemuLink {
    /// Listens on `path` for a QEMU with `nr_vcpus` vCPUs.
    pub fn bind(path: &Path, nr_vcpus: u32) -> io::Result<Self> {
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            nr_vcpus,
            pending: Vec::new(),
            vcpus: (0..nr_vcpus).map(|_| None).collect(),
            interrupts: None,
            early_interrupts: Vec::new(),
            closed: false,
            stats: LinkStats::default(),
        })
    }

    pub fn state(&self) -> LinkState {
        if self.closed {
            LinkState::Closed
        } else if self.interrupts.is_some() && self.vcpus.iter().all(Option::is_some) {
            LinkState::Up
        } else {
            LinkState::Connecting
        }
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// The APIC ID QEMU reported for `vcpu`, once it is connected.
    pub fn apic_id(&self, vcpu: u32) -> Option<u32> {
        self.vcpus.get(vcpu as usize)?.as_ref().map(|v| v.apic_id)
    }

    /// Appends the descriptors to wait on.
    pub fn poll_fds(&self, out: &mut Vec<libc::pollfd>) {
        let pfd = |fd: RawFd, write: bool| libc::pollfd {
            fd,
            events: libc::POLLIN | if write { libc::POLLOUT } else { 0 },
            revents: 0,
        };
        if self.closed {
            return;
        }
        out.push(pfd(self.listener.as_raw_fd(), false));
        out.extend(self.pending.iter().map(|c| pfd(c.fd(), c.wants_write())));
        out.extend(
            self.vcpus
                .iter()
                .flatten()
                .map(|v| pfd(v.conn.fd(), v.conn.wants_write())),
        );
        if let Some(c) = &self.interrupts {
            out.push(pfd(c.fd(), c.wants_write()));
        }
    }

    /// Handles the descriptors poll() reported ready (any subset of [`Self::poll_fds`]).
    pub fn on_ready(
        &mut self,
        ready: &[libc::pollfd],
        handler: &mut dyn VcpuHandler,
    ) -> Result<LinkState, LinkError> {
        for p in ready.iter().filter(|p| p.revents != 0) {
            if self.closed {
                break;
            }
            if p.fd == self.listener.as_raw_fd() {
                self.accept()?;
            } else if let Some(i) = self.pending.iter().position(|c| c.fd() == p.fd) {
                self.on_pending(i)?;
            } else if let Some(i) = self
                .vcpus
                .iter()
                .position(|v| v.as_ref().is_some_and(|v| v.conn.fd() == p.fd))
            {
                // CAST: there are at most `nr_vcpus` (a u32) entries.
                self.on_vcpu(i as u32, p.revents, handler)?;
            } else if self.interrupts.as_ref().is_some_and(|c| c.fd() == p.fd) {
                self.on_interrupts(p.revents)?;
            }
        }
        Ok(self.state())
    }

    /// Asks QEMU to raise `vector` on `vcpu`. Never blocks: the request is queued when QEMU's
    /// main loop is not reading.
    pub fn send_interrupt(&mut self, vcpu: u32, vector: u8) -> Result<(), LinkError> {
        let msg = protocol::encode_interrupt(vcpu, vector);
        self.stats.interrupts += 1;
        match &mut self.interrupts {
            Some(c) => c
                .send(&msg)
                .or_else(|e| self.closed_or(e, "interrupt connection")),
            None => {
                self.early_interrupts.push(msg);
                Ok(())
            }
        }
    }

    fn closed_or(&mut self, e: ConnectionError, conn: &str) -> Result<(), LinkError> {
        match e {
            ConnectionError::Closed => {
                tracing::debug!("QEMU closed its {conn}");
                self.closed = true;
                Ok(())
            }
            e => Err(LinkError::on(conn, e)),
        }
    }

    fn accept(&mut self) -> Result<(), LinkError> {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    self.pending
                        .push(Connection::new(stream).map_err(LinkError::Accept)?);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::Accept(e)),
            }
        }
    }

    fn on_pending(&mut self, i: usize) -> Result<(), LinkError> {
        let conn = &mut self.pending[i];
        if let Err(e) = conn.receive() {
            self.pending.swap_remove(i);
            return self.closed_or(e, "connection before its hello");
        }
        let Some(msg) = conn
            .next_message()
            .map_err(|e| LinkError::on("new connection", e))?
        else {
            return Ok(());
        };
        let hello = match decode_hello(&msg) {
            Ok(h) => h,
            Err(e @ ProtocolError::VersionMismatch(_)) => {
                // Tell QEMU our version so that it can say what is wrong, then give up.
                let _ = conn.send(&protocol::encode_hello_ack());
                return Err(LinkError::on("hello", e));
            }
            Err(e) => return Err(LinkError::on("hello", e)),
        };
        self.check_hello(hello)?;
        let mut conn = self.pending.swap_remove(i);
        conn.send(&protocol::encode_hello_ack())
            .map_err(|e| LinkError::on("hello ack", e))?;
        match hello.role {
            Role::Vcpu { index, apic_id } => {
                tracing::debug!(vcpu = index, apic_id, "vCPU connected");
                self.vcpus[index as usize] = Some(Vcpu { conn, apic_id });
            }
            Role::Interrupts => {
                tracing::debug!("interrupt connection up");
                for msg in self.early_interrupts.drain(..) {
                    conn.send(&msg)
                        .map_err(|e| LinkError::on("interrupt connection", e))?;
                }
                self.interrupts = Some(conn);
            }
        }
        Ok(())
    }

    /// Checks a hello against what is already connected.
    fn check_hello(&self, hello: Hello) -> Result<(), LinkError> {
        if hello.nr_vcpus != self.nr_vcpus {
            return Err(LinkError::VcpuCount {
                qemu: hello.nr_vcpus,
                ours: self.nr_vcpus,
            });
        }
        match hello.role {
            Role::Vcpu { index, .. } => match self.vcpus.get(index as usize) {
                None => Err(LinkError::NoSuchVcpu(index)),
                Some(Some(_)) => Err(LinkError::DuplicateVcpu(index)),
                Some(None) => Ok(()),
            },
            Role::Interrupts if self.interrupts.is_some() => Err(LinkError::DuplicateInterrupts),
            Role::Interrupts => Ok(()),
        }
    }

    fn on_vcpu(
        &mut self,
        vcpu: u32,
        revents: i16,
        handler: &mut dyn VcpuHandler,
    ) -> Result<(), LinkError> {
        let name = || format!("vCPU {vcpu} connection");
        let Some(v) = self.vcpus[vcpu as usize].as_mut() else {
            return Ok(());
        };
        if revents & libc::POLLOUT != 0 {
            if let Err(e) = v.conn.flush() {
                return self.closed_or(e, &name());
            }
        }
        if revents & !libc::POLLOUT == 0 {
            return Ok(());
        }
        if let Err(e) = v.conn.receive() {
            return self.closed_or(e, &name());
        }
        while let Some(msg) = v
            .conn
            .next_message()
            .map_err(|e| LinkError::on(name(), e))?
        {
            let request = decode_request(&msg).map_err(|e| LinkError::on(name(), e))?;
            let counter = match request {
                Request::Cpuid { .. } => &mut self.stats.cpuid,
                Request::Rdmsr { .. } => &mut self.stats.rdmsr,
                Request::Wrmsr { .. } => &mut self.stats.wrmsr,
                Request::Hypercall(_) => &mut self.stats.hypercalls,
            };
            *counter += 1;
            let reply = handler.handle(vcpu, request);
            tracing::trace!(vcpu, ?request, ?reply);
            if let Err(e) = v.conn.send(&protocol::encode_reply(&reply)) {
                return self.closed_or(e, &name());
            }
        }
        Ok(())
    }

    fn on_interrupts(&mut self, revents: i16) -> Result<(), LinkError> {
        let Some(c) = self.interrupts.as_mut() else {
            return Ok(());
        };
        if revents & libc::POLLOUT != 0 {
            if let Err(e) = c.flush() {
                return self.closed_or(e, "interrupt connection");
            }
        }
        if revents & !libc::POLLOUT == 0 {
            return Ok(());
        }
        if let Err(e) = c.receive() {
            return self.closed_or(e, "interrupt connection");
        }
        // QEMU never sends anything after its hello here.
        match c.next_message() {
            Ok(None) => Ok(()),
            Ok(Some(msg)) => {
                let kind = protocol::frame_size(&msg).ok().flatten().map(|(k, _)| k);
                Err(LinkError::on(
                    "interrupt connection",
                    kind.map_or(
                        ProtocolError::Truncated {
                            have: msg.len(),
                            need: 8,
                        },
                        ProtocolError::Unexpected,
                    ),
                ))
            }
            Err(e) => Err(LinkError::on("interrupt connection", e)),
        }
    }
}

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;
