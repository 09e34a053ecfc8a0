// SPDX-License-Identifier: GPL-2.0
//! `hvsim ctl`: the command-line client of the control interface (see `control`).

use crate::control;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `hvsim ctl`.
#[derive(clap::Args, Debug)]
pub struct CtlArgs {
    /// The control socket of a running hvsim (what it was given as `run --control`).
    #[arg(long)]
    pub socket: PathBuf,
    /// How long to wait for the answer.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The control commands.
#[derive(clap::Subcommand, Debug)]
pub enum CtlCommand {
    /// Lists every VMBus channel (JSON).
    Channels,
    /// Prints the negotiated VMBus version.
    Version,
    /// Prints timings (ms from QEMU start to ALLOFFERS_DELIVERED).
    Stats,
    /// Rescinds a device, named by instance GUID or relid.
    Rescind { target: String },
    /// Sends a device-specific command (a JSON object) to a device.
    Device { target: String, command: String },
    /// Powers the guest off at once.
    Poweroff,
}

impl CtlCommand {
    /// The request object for this command.
    fn request(&self) -> Result<Value, String> {
        Ok(match self {
            CtlCommand::Channels => json!({"cmd": "channels"}),
            CtlCommand::Version => json!({"cmd": "version"}),
            CtlCommand::Stats => json!({"cmd": "stats"}),
            CtlCommand::Rescind { target } => json!({"cmd": "rescind", "target": target}),
            CtlCommand::Device { target, command } => {
                let command: Value = serde_json::from_str(command)
                    .map_err(|e| format!("the device command is not JSON: {e}"))?;
                json!({"cmd": "device", "target": target, "command": command})
            }
            CtlCommand::Poweroff => json!({"cmd": "poweroff"}),
        })
    }
}

/// Runs `hvsim ctl`: prints the result (strings bare, everything else as JSON).
pub fn run(args: &CtlArgs) -> ExitCode {
    let result = args.command.request().and_then(|req| {
        control::request(&args.socket, &req, Duration::from_secs(args.timeout_secs))
    });
    match result {
        Ok(Value::String(s)) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hvsim ctl: {e}");
            ExitCode::FAILURE
        }
    }
}
