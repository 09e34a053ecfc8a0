// SPDX-License-Identifier: GPL-2.0
//! The `hvsim` command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hvsim::boot::{self, RunConfig};
use hvsim::ctl::{self, CtlArgs};

#[derive(Parser)]
#[command(
    name = "hvsim",
    about = "Hyper-V host simulator: runs a Linux guest on patched QEMU (TCG) and plays the host"
)]
struct Cli {
    /// Log filter (tracing EnvFilter syntax, e.g. `info`, `hvsim=debug`); overrides RUST_LOG.
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot a guest and serve it until QEMU exits; exits with QEMU's status.
    Run(Box<RunArgs>),
    /// Talk to a running hvsim through its control socket.
    Ctl(CtlArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The patched qemu-system-x86_64 (scripts/build-qemu prints its path).
    #[arg(long, env = "RHV_QEMU")]
    qemu: PathBuf,
    /// Guest kernel (bzImage).
    #[arg(long)]
    kernel: PathBuf,
    /// Guest initramfs.
    #[arg(long)]
    initrd: Option<PathBuf>,
    /// Kernel command line.
    #[arg(long, default_value = "console=ttyS0")]
    append: String,
    /// Number of vCPUs.
    #[arg(long, default_value_t = 2)]
    cpus: u32,
    /// Guest RAM in MiB (at most 2048).
    #[arg(long, default_value_t = 1024)]
    memory_mib: u64,
    /// Write the guest's serial console to this file (default: stdout).
    #[arg(long)]
    serial: Option<PathBuf>,
    /// Kill QEMU and fail (exit code 124) if the guest still runs after this many seconds.
    #[arg(long)]
    timeout_secs: Option<u64>,
    /// Serve the control interface (line-delimited JSON; see `hvsim ctl`) on this socket.
    #[arg(long)]
    control: Option<PathBuf>,
    /// At exit, write the final state (VMBus version, channels, timings, exit code) here as JSON.
    #[arg(long)]
    state_out: Option<PathBuf>,
    /// Highest VMBus protocol version to accept, as MAJOR.MINOR (e.g. 5.3).
    #[arg(long, value_parser = parse_version)]
    max_vmbus_version: Option<(u16, u16)>,
    /// Directories with SeaBIOS and QEMU's option ROMs (QEMU's -L; repeatable).
    #[arg(long, default_values = ["/usr/share/seabios", "/usr/share/qemu"])]
    firmware_dir: Vec<PathBuf>,
    /// A synthetic NIC on a host TAP interface (repeatable):
    /// tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,queues=N][,mtu=N][,instance=GUID][,offload=on|off]
    /// (checksum and large-send offload, on by default).
    #[arg(long = "nic", value_name = "SPEC")]
    nics: Vec<hvsim::netvsp::NetvspConfig>,
    /// A disk on the synthetic SCSI controller (repeatable, LUNs in order):
    /// ram:size=SIZE | file:path=PATH[,size=SIZE], then [,sector=512|4096][,ro][,lun=N].
    #[arg(long = "disk", value_name = "SPEC")]
    disks: Vec<hvsim::storvsp::DiskConfig>,
    /// Misbehave on purpose to test the guest's robustness (comma-separated):
    /// bad-offer (malformed offers), ring-index (out-of-range ring indices on one channel),
    /// bad-answer (malformed or misaddressed answers first), rescind-teardown (a rescind
    /// instead of the first GPADL_TORNDOWN).
    #[arg(long, value_name = "MODE", value_delimiter = ',')]
    hostile: Vec<hvsim::vmbus::HostileMode>,
    /// How long the KVP device waits for the guest's answer to a request (default 35 s,
    /// a little more than the 30 s Linux gives its daemon).
    #[arg(long, value_name = "SECS")]
    kvp_answer_timeout_secs: Option<u64>,
    /// Extra QEMU arguments, after `--`.
    #[arg(last = true)]
    qemu_args: Vec<String>,
}

fn parse_version(s: &str) -> Result<(u16, u16), String> {
    let (major, minor) = s
        .split_once('.')
        .ok_or_else(|| format!("{s:?} is not MAJOR.MINOR"))?;
    let n = |x: &str| x.parse::<u16>().map_err(|e| format!("{s:?}: {e}"));
    Ok((n(major)?, n(minor)?))
}

fn init_logging(filter: Option<&str>) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = match filter {
        Some(f) => EnvFilter::new(f),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref());
    let code = match cli.command {
        Cmd::Ctl(a) => return ctl::run(&a),
        Cmd::Run(a) => {
            let config = RunConfig {
                qemu: a.qemu,
                kernel: a.kernel,
                initrd: a.initrd,
                append: a.append,
                cpus: a.cpus,
                memory_mib: a.memory_mib,
                serial: a.serial,
                timeout: a.timeout_secs.map(Duration::from_secs),
                control: a.control,
                state_out: a.state_out,
                max_vmbus_version: a.max_vmbus_version,
                firmware_dirs: a.firmware_dir.into_iter().filter(|d| d.is_dir()).collect(),
                extra_qemu_args: a.qemu_args,
                nics: a.nics,
                disks: a.disks,
                hostile: a.hostile,
                kvp_answer_timeout: a.kvp_answer_timeout_secs.map(Duration::from_secs),
            };
            match boot::run(&config) {
                Ok(code) => code,
                Err(e) => {
                    tracing::error!("{e}");
                    1
                }
            }
        }
    };
    // Exit codes are 0-255; anything else is reported as a generic failure.
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
