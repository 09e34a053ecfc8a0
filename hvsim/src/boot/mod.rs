// SPDX-License-Identifier: GPL-2.0
//! `hvsim run`: prepares a run directory (link socket, SSDT) and the shared RAM file, starts
//! the patched QEMU, serves it until it exits and turns the outcome into an exit code.

pub mod control_source;
pub mod event_loop;
pub mod qemu_cmd;

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::guest_ram::GuestRam;
use crate::platform::Platform;
use crate::qemu::link::QemuLink;
use crate::vmbus::{VmbusError, VmbusServer, SUPPORTED_VERSIONS};
use event_loop::{EventLoop, Outcome};
use qemu_cmd::{QemuCommand, HYPERCALL_PORT};

/// Guest RAM limit: on the `pc` machine all RAM up to this size sits below the PCI hole in one
/// piece, so GPA == offset in hvsim's RAM file.
pub const MAX_MEMORY_MIB: u64 = 2048;
/// An MSI can name APIC IDs up to 255.
pub const MAX_CPUS: u32 = 255;
/// Exit code for `--timeout-secs` expiring (as timeout(1)).
pub const EXIT_TIMEOUT: i32 = 124;

/// Options of `hvsim run`.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub qemu: PathBuf,
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub append: String,
    pub cpus: u32,
    pub memory_mib: u64,
    pub serial: Option<PathBuf>,
    pub timeout: Option<Duration>,
    /// Path for the control socket; the control interface is not implemented yet.
    pub control: Option<PathBuf>,
    /// Where to write the final state (JSON: version, channels, stats, exit code) at exit.
    pub state_out: Option<PathBuf>,
    /// Highest VMBus version to offer, as (major, minor).
    pub max_vmbus_version: Option<(u16, u16)>,
    /// Where QEMU looks for SeaBIOS and its option ROMs (`-L`), in order.
    pub firmware_dirs: Vec<PathBuf>,
    pub extra_qemu_args: Vec<String>,
    /// Synthetic NICs (`--nic`), each on a host TAP interface.
    pub nics: Vec<crate::netvsp::NetvspConfig>,
    /// Disks of the synthetic SCSI controller (`--disk`); no controller without disks.
    pub disks: Vec<crate::storvsp::DiskConfig>,
    /// Deliberate host misbehaviour for robustness tests (`--hostile`).
    pub hostile: Vec<crate::vmbus::HostileMode>,
    /// How long the KVP device waits for an answer (`--kvp-answer-timeout-secs`); `None`:
    /// the default of [`crate::vmbus::IcConfig`].
    pub kvp_answer_timeout: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("--memory-mib {0}: must be between 16 and {MAX_MEMORY_MIB} (hvsim maps guest RAM as one file with guest physical address == file offset, which holds on the pc machine only up to 2 GiB)")]
    Memory(u64),
    #[error("--cpus {0}: must be between 1 and {MAX_CPUS}")]
    Cpus(u32),
    #[error("{what} {path}: {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("--max-vmbus-version {0}.{1}: hvsim supports {2}")]
    VmbusVersion(u16, u16, String),
    #[error("VMBus devices: {0}")]
    Devices(#[from] VmbusError),
    #[error("--nic tap={tap}: {source}")]
    Nic { tap: String, source: io::Error },
    #[error("--disk: {0}")]
    Disk(#[from] crate::storvsp::StorvspError),
    #[error("starting QEMU ({path}): {source}")]
    Spawn { path: PathBuf, source: io::Error },
}

fn file_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BootError + 'a {
    move |source| BootError::File {
        what,
        path: path.to_owned(),
        source,
    }
}

/// A private directory for the run, removed with everything in it at drop.
struct RunDir(PathBuf);

impl RunDir {
    fn create() -> io::Result<Self> {
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_dir());
        let base = base.unwrap_or_else(std::env::temp_dir);
        for attempt in 0..100u32 {
            let nanos = Instant::now().elapsed().as_nanos() ^ u128::from(attempt);
            let p = base.join(format!(
                "hvsim-{}-{:x}",
                std::process::id(),
                nanos as u32 ^ attempt
            ));
            match std::fs::create_dir(&p) {
                Ok(()) => return Ok(RunDir(p)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("cannot create a run directory"))
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!("removing {}: {e}", self.0.display());
        }
    }
}

/// Where the RAM file goes: tmpfs if there is one, else the run directory.
fn ram_path(run_dir: &Path) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let name = format!("hvsim-{}.ram", std::process::id());
    if shm.is_dir() {
        shm.join(name)
    } else {
        run_dir.join(name)
    }
}

/// The VMBus server with the devices of every run (for now the integration components).
fn vmbus_server(config: &RunConfig) -> Result<VmbusServer, BootError> {
    let max = match config.max_vmbus_version {
        None => SUPPORTED_VERSIONS[0],
        Some((major, minor)) => {
            let v = u32::from(major) << 16 | u32::from(minor);
            if !SUPPORTED_VERSIONS.contains(&v) {
                let list: Vec<String> = SUPPORTED_VERSIONS
                    .iter()
                    .map(|v| format!("{}.{}", v >> 16, v & 0xffff))
                    .collect();
                return Err(BootError::VmbusVersion(major, minor, list.join(", ")));
            }
            v
        }
    };
    let mut server = VmbusServer::new(max);
    if !config.hostile.is_empty() {
        server.set_hostile(&config.hostile);
    }
    let mut ics = crate::vmbus::IcConfig::default();
    if let Some(t) = config.kvp_answer_timeout {
        ics.kvp_answer_timeout = t;
    }
    server.add_integration_components_with(&ics)?;
    for nic in &config.nics {
        let device = crate::netvsp::Netvsp::new(nic.clone()).map_err(|source| BootError::Nic {
            tap: nic.tap.clone(),
            source,
        })?;
        server.add_device(Box::new(device))?;
    }
    if !config.disks.is_empty() {
        let scsi = crate::storvsp::StorvspConfig::new(0, config.disks.clone(), config.cpus);
        server.add_device(Box::new(crate::storvsp::Storvsp::new(scsi)?))?;
    }
    Ok(server)
}

fn check(config: &RunConfig) -> Result<(), BootError> {
    if !(16..=MAX_MEMORY_MIB).contains(&config.memory_mib) {
        return Err(BootError::Memory(config.memory_mib));
    }
    if !(1..=MAX_CPUS).contains(&config.cpus) {
        return Err(BootError::Cpus(config.cpus));
    }
    for (what, path) in [
        ("QEMU binary", Some(&config.qemu)),
        ("kernel", Some(&config.kernel)),
        ("initrd", config.initrd.as_ref()),
    ] {
        if let Some(p) = path {
            std::fs::metadata(p).map_err(file_err(what, p))?;
        }
    }
    Ok(())
}

/// Runs the guest; returns the process exit code for hvsim.
pub fn run(config: &RunConfig) -> Result<i32, BootError> {
    check(config)?;
    let server = vmbus_server(config)?;
    let control = match &config.control {
        Some(path) => Some(
            crate::control::ControlSocket::bind(path).map_err(file_err("control socket", path))?,
        ),
        None => None,
    };
    let dir = RunDir::create().map_err(file_err("run directory", &std::env::temp_dir()))?;
    let socket = dir.0.join("qemu.sock");
    let ssdt = dir.0.join("vmbus.aml");
    let ram_file = ram_path(&dir.0);
    let ram = Arc::new(
        GuestRam::create(&ram_file, config.memory_mib << 20)
            .map_err(file_err("guest RAM file", &ram_file))?,
    );
    std::fs::write(&ssdt, crate::acpi::vmbus_ssdt(None)).map_err(file_err("SSDT", &ssdt))?;
    let link = QemuLink::bind(&socket, config.cpus).map_err(file_err("link socket", &socket))?;

    let cmd = QemuCommand {
        kernel: config.kernel.clone(),
        initrd: config.initrd.clone(),
        append: config.append.clone(),
        cpus: config.cpus,
        memory_mib: config.memory_mib,
        ram: ram.path().to_owned(),
        socket,
        ssdt,
        serial: config.serial.clone(),
        firmware_dirs: config.firmware_dirs.clone(),
        extra: config.extra_qemu_args.clone(),
    };
    let args = cmd.args();
    tracing::debug!(
        "QEMU command line: {} {}",
        config.qemu.display(),
        args.join(" ")
    );

    event_loop::install_signal_handlers();
    let started = Instant::now();
    // The platform's reference time starts with QEMU.
    let platform = Platform::new(ram.clone(), config.cpus, HYPERCALL_PORT);
    let mut command = Command::new(&config.qemu);
    command.args(&args).stdin(Stdio::null());
    // SAFETY: prctl() is async-signal-safe and touches no state of this process: QEMU gets
    // SIGKILL if hvsim dies, so a crashed hvsim never leaves a guest running.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut qemu = command.spawn().map_err(|source| BootError::Spawn {
        path: config.qemu.clone(),
        source,
    })?;
    tracing::info!(
        "QEMU started (pid {}), {} vCPUs, {} MiB",
        qemu.id(),
        config.cpus,
        config.memory_mib
    );

    let mut event_loop = EventLoop {
        link,
        platform,
        server,
        sources: Vec::new(),
        qemu: &mut qemu,
        ram: &ram,
        timeout: config.timeout,
    };
    if let Some(socket) = control {
        event_loop
            .sources
            .push(Box::new(control_source::ControlSource::new(
                socket, started,
            )));
    }
    let outcome = event_loop.run();
    // Stop QEMU before its connections close, so that it does not report a vanished
    // simulator.
    let code = match outcome {
        Outcome::Exited(status) => exit_code(status),
        other => {
            match &other {
                Outcome::TimedOut(t) => tracing::error!(
                    "timeout: the guest was still running after {:.1} s; killing QEMU",
                    t.as_secs_f64()
                ),
                Outcome::Interrupted => tracing::error!("interrupted; killing QEMU"),
                Outcome::Stopped(code) => {
                    tracing::info!("stop requested (exit code {code}); killing QEMU")
                }
                Outcome::LinkFailed(e) => tracing::error!("QEMU link failed: {e}; killing QEMU"),
                Outcome::Exited(_) => {}
            }
            let _ = event_loop.qemu.kill();
            let _ = event_loop.qemu.wait();
            match other {
                Outcome::TimedOut(_) => EXIT_TIMEOUT,
                Outcome::Interrupted => 130,
                Outcome::Stopped(code) => code,
                _ => 1,
            }
        }
    };
    event_loop.log_stats();
    match event_loop.server.all_offers_delivered_at() {
        Some(t) => tracing::info!(
            "ALLOFFERS_DELIVERED was sent {:.0} ms after QEMU started",
            t.saturating_duration_since(started).as_secs_f64() * 1000.0
        ),
        None => tracing::info!("the guest never asked for VMBus offers"),
    }
    if let Some(path) = &config.state_out {
        let state = control_source::final_state(&event_loop.server, started, code);
        if let Err(e) = std::fs::write(path, format!("{state:#}\n")) {
            tracing::error!("writing the final state to {}: {e}", path.display());
        }
    }
    drop(event_loop);
    tracing::info!(
        "guest ran {:.2} s; hvsim exits with {code}",
        started.elapsed().as_secs_f64()
    );
    drop(ram);
    drop(dir);
    Ok(code)
}

/// QEMU's exit status as a shell would report it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => {
            if c != 0 {
                tracing::warn!("QEMU exited with status {c}");
            }
            c
        }
        (None, Some(sig)) => {
            tracing::warn!("QEMU was killed by signal {sig}");
            128 + sig
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RunConfig {
        RunConfig {
            qemu: "/bin/sh".into(),
            kernel: "/bin/sh".into(),
            initrd: None,
            append: String::new(),
            cpus: 2,
            memory_mib: 1024,
            serial: None,
            timeout: None,
            control: None,
            state_out: None,
            max_vmbus_version: None,
            firmware_dirs: Vec::new(),
            extra_qemu_args: Vec::new(),
            nics: Vec::new(),
            disks: Vec::new(),
            hostile: Vec::new(),
            kvp_answer_timeout: None,
        }
    }

    #[test]
    fn memory_and_cpu_limits_are_enforced() {
        assert!(check(&config()).is_ok());
        let c = RunConfig {
            memory_mib: MAX_MEMORY_MIB + 1,
            ..config()
        };
        let e = check(&c).unwrap_err();
        assert!(matches!(e, BootError::Memory(2049)));
        assert!(e.to_string().contains("2 GiB"), "the message says why: {e}");
        assert!(check(&RunConfig {
            memory_mib: MAX_MEMORY_MIB,
            ..config()
        })
        .is_ok());
        assert!(matches!(
            check(&RunConfig {
                cpus: 0,
                ..config()
            }),
            Err(BootError::Cpus(0))
        ));
        assert!(matches!(
            check(&RunConfig {
                cpus: 256,
                ..config()
            }),
            Err(BootError::Cpus(256))
        ));
        let c = RunConfig {
            initrd: Some("/nonexistent/initrd".into()),
            ..config()
        };
        assert!(matches!(
            check(&c),
            Err(BootError::File { what: "initrd", .. })
        ));
    }

    #[test]
    fn vmbus_version_cap_must_be_a_supported_version() {
        assert!(vmbus_server(&config()).is_ok());
        assert!(vmbus_server(&RunConfig {
            max_vmbus_version: Some((5, 3)),
            ..config()
        })
        .is_ok());
        let e = vmbus_server(&RunConfig {
            max_vmbus_version: Some((5, 9)),
            ..config()
        })
        .err()
        .unwrap();
        assert!(
            e.to_string().contains("6.0, 5.3"),
            "lists the supported versions: {e}"
        );
    }
}
