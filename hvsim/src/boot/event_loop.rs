// SPDX-License-Identifier: GPL-2.0
//! The one thread that serves a running guest: poll() over QEMU's connections, the VMBus
//! devices' wake descriptors and any extra [`EventSource`] (the control socket), a tick every
//! [`TICK`] for timed work, and the checks for QEMU's exit, the deadline and SIGINT/SIGTERM.
//!
//! Work happens as soon as it can: a vCPU's hypercall is served when QEMU forwards it (a
//! channel signal drains that channel's ring into its device at once), and a device whose
//! wake descriptor is readable ([`crate::vmbus::VmbusDevice::wake_fds`], e.g. netvsp's TAP
//! while it has room for frames) is woken in the same loop turn. The tick only retries
//! SynIC messages the guest's slot had no room for and polls every device for timed work
//! (heartbeats, timeouts) and anything a lost signal left behind. The interrupts raised
//! along the way go to QEMU at the end of each turn.

use std::os::unix::io::RawFd;
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::guest_ram::GuestRam;
use crate::hv::GuestToHost;
use crate::platform::Platform;
use crate::qemu::link::{LinkError, LinkState, QemuLink, VcpuHandler};
use crate::qemu::protocol::{Reply, Request};
use crate::vmbus::VmbusServer;

/// Period of [`GuestToHost::poll`] and of the SynIC retry.
pub const TICK: Duration = Duration::from_millis(5);

/// Another descriptor-driven part of hvsim served by the event loop. The control interface
/// (`hvsim run --control SOCKET`) is meant to be one: it gets the platform (the
/// `HostToGuest` that server calls such as `rescind` need) and the VMBus server to act on,
/// and can ask for the run to end.
pub trait EventSource {
    /// Appends the descriptors to wait on.
    fn poll_fds(&self, out: &mut Vec<libc::pollfd>);
    /// Handles its ready descriptors (the entries it appended, with `revents` filled in).
    fn on_ready(
        &mut self,
        ready: &[libc::pollfd],
        platform: &mut Platform,
        server: &mut VmbusServer,
    ) -> SourceAction;
}

/// What an [`EventSource`] wants after handling its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceAction {
    Continue,
    /// Stop the guest (QEMU is killed) and end the run with this exit code.
    Stop(i32),
}

/// How the run ended.
#[derive(Debug)]
pub enum Outcome {
    /// QEMU exited by itself.
    Exited(ExitStatus),
    TimedOut(Duration),
    Interrupted,
    Stopped(i32),
    LinkFailed(LinkError),
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // ORDERING: a flag with no data attached; the loop polls it.
    SIGNALLED.store(true, Ordering::Relaxed);
}

/// Makes SIGINT and SIGTERM end the run cleanly instead of killing hvsim outright.
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` is async-signal-safe (one atomic store); the sigaction struct is
        // fully initialised before use.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

struct Machine<'a> {
    platform: &'a mut Platform,
    server: &'a mut dyn GuestToHost,
}

impl VcpuHandler for Machine<'_> {
    fn handle(&mut self, vcpu: u32, request: Request) -> Reply {
        self.platform.handle(vcpu, request, self.server)
    }
}

pub struct EventLoop<'a> {
    pub link: QemuLink,
    pub platform: Platform,
    pub server: VmbusServer,
    pub sources: Vec<Box<dyn EventSource>>,
    pub qemu: &'a mut Child,
    pub ram: &'a GuestRam,
    pub timeout: Option<Duration>,
}

impl EventLoop<'_> {
    /// Serves the guest until the run ends; the loop's parts (the server's final state, the
    /// link's counters) stay readable afterwards.
    pub fn run(&mut self) -> Outcome {
        self.serve()
    }

    /// Logs what crossed the link (for the end-of-run summary).
    pub fn log_stats(&self) {
        let s = self.link.stats();
        tracing::info!(
            "QEMU link: {} CPUID, {} RDMSR, {} WRMSR, {} hypercalls, {} interrupts",
            s.cpuid,
            s.rdmsr,
            s.wrmsr,
            s.hypercalls,
            s.interrupts
        );
    }

    fn serve(&mut self) -> Outcome {
        let started = Instant::now();
        let deadline = self.timeout.map(|t| started + t);
        let mut next_tick = started + TICK;
        let mut was_up = false;
        loop {
            match self.qemu.try_wait() {
                Ok(Some(status)) => return Outcome::Exited(status),
                Ok(None) => {}
                Err(e) => tracing::warn!("waiting for QEMU: {e}"),
            }
            if SIGNALLED.load(Ordering::Relaxed) {
                return Outcome::Interrupted;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Outcome::TimedOut(now - started);
            }

            let mut fds = Vec::new();
            self.link.poll_fds(&mut fds);
            let link_fds = fds.len();
            let mut wake_fds = Vec::new();
            self.server.wake_fds(&mut wake_fds);
            fds.extend(wake_fds.iter().map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            }));
            let wake_range = link_fds..fds.len();
            let mut source_ranges = Vec::with_capacity(self.sources.len());
            for s in &self.sources {
                let start = fds.len();
                s.poll_fds(&mut fds);
                source_ranges.push(start..fds.len());
            }
            let wait = next_tick.saturating_duration_since(now);
            // CAST: at most one TICK in milliseconds, rounded up so we do not spin.
            let wait_ms = wait.as_micros().div_ceil(1000) as libc::c_int;
            // SAFETY: `fds` is a valid array of `fds.len()` pollfds that poll() may write.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::warn!("poll: {e}");
                }
                continue;
            }

            let mut machine = Machine {
                platform: &mut self.platform,
                server: &mut self.server,
            };
            match self.link.on_ready(&fds[..link_fds], &mut machine) {
                Ok(LinkState::Up) if !was_up => {
                    was_up = true;
                    tracing::info!(
                        "QEMU connected: {} vCPUs, {:.0} ms after start",
                        self.platform.vcpus(),
                        started.elapsed().as_secs_f64() * 1000.0
                    );
                    // QEMU has mapped guest RAM: the file name is no longer needed.
                    self.ram.unlink();
                }
                Ok(_) => {}
                Err(e) => return Outcome::LinkFailed(e),
            }
            // A readable descriptor, or one in error (POLLERR/POLLHUP/POLLNVAL are reported
            // whatever was asked): the device finds out which.
            let ready: Vec<RawFd> = fds[wake_range]
                .iter()
                .filter(|p| p.revents != 0)
                .map(|p| p.fd)
                .collect();
            self.server.wake(&mut self.platform, &ready);
            for (source, range) in self.sources.iter_mut().zip(source_ranges) {
                if let SourceAction::Stop(code) =
                    source.on_ready(&fds[range], &mut self.platform, &mut self.server)
                {
                    return Outcome::Stopped(code);
                }
            }
            if Instant::now() >= next_tick {
                self.platform.tick(&mut self.server);
                next_tick = (next_tick + TICK).max(Instant::now());
            }
            for irq in self.platform.take_interrupts() {
                if let Err(e) = self.link.send_interrupt(irq.vp, irq.vector) {
                    return Outcome::LinkFailed(e);
                }
            }
        }
    }
}
