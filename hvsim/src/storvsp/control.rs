// SPDX-License-Identifier: GPL-2.0
//! The controller's control commands (`add_disk`, `remove_disk`, `stats`; documented in the
//! module above) and its counters.

use serde::Serialize;
use serde_json::{json, Value};

use super::config::DiskConfig;
use super::Storvsp;
use crate::vmbus::{guid_text, ControlError};

/// Packet counters of a controller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ControllerCounters {
    /// VMBus packets received on all channels.
    pub packets: u64,
    /// EXECUTE_SRB requests.
    pub srbs: u64,
    /// Packets that were malformed or not expected from a guest.
    pub bad_packets: u64,
    /// SRBs refused as invalid (pages outside RAM, lengths, direction).
    pub bad_srbs: u64,
    /// SRBs addressed to an empty LUN or another target.
    pub invalid_lun: u64,
    /// ENUMERATE_BUS notifications sent.
    pub rescans_sent: u64,
    /// Completions held back because the guest's ring was full.
    pub completions_deferred: u64,
    /// Completions dropped because the guest would not read them.
    pub completions_dropped: u64,
    /// SRBs held back before being served (`delay`, the `stale` misbehaviour).
    pub srbs_held: u64,
    /// Held SRBs never served because their channel closed first.
    pub held_srbs_dropped: u64,
}

fn error(message: String) -> ControlError {
    ControlError(message)
}

impl Storvsp {
    pub(super) fn on_control(&mut self, command: &Value) -> Result<Value, ControlError> {
        let op = command.get("op").and_then(Value::as_str);
        match op {
            Some("add_disk") => {
                let spec = command.get("disk").and_then(Value::as_str).ok_or_else(|| {
                    error(format!(
                        "{}: add_disk needs \"disk\": \"ram:size=...\" or \"file:path=...\"",
                        self.name
                    ))
                })?;
                let mut config: DiskConfig = spec.parse().map_err(|e| error(format!("{e}")))?;
                if let Some(lun) = command.get("lun") {
                    let lun = lun
                        .as_u64()
                        .and_then(|l| u8::try_from(l).ok())
                        .ok_or_else(|| error(format!("lun {lun} is not a LUN")))?;
                    config.lun = Some(lun);
                }
                let lun = self.add_disk(&config).map_err(|e| error(e.to_string()))?;
                Ok(json!({ "lun": lun }))
            }
            Some("remove_disk") => {
                let lun = command
                    .get("lun")
                    .and_then(Value::as_u64)
                    .and_then(|l| u8::try_from(l).ok())
                    .ok_or_else(|| error("remove_disk needs \"lun\": N".to_owned()))?;
                let backend = self.remove_disk(lun).map_err(|e| error(e.to_string()))?;
                Ok(json!({ "lun": lun, "backend": backend }))
            }
            Some("stats") => Ok(self.stats()),
            Some("delay") => {
                let ms = command
                    .get("ms")
                    .and_then(Value::as_u64)
                    .map(std::time::Duration::from_millis)
                    .filter(|d| *d <= super::held::MAX_DELAY)
                    .ok_or_else(|| {
                        error(format!(
                            "{}: delay needs \"ms\": N (0 to {} ms)",
                            self.name,
                            super::held::MAX_DELAY.as_millis()
                        ))
                    })?;
                self.held.delay = ms;
                Ok(json!({ "ms": ms.as_millis() as u64 }))
            }
            Some("misbehave") => self
                .misbehaviour
                .arm(command)
                .map_err(|e| error(format!("{}: {e}", self.name))),
            _ => Err(error(format!(
                "{}: unknown command {command} (add_disk, remove_disk, stats, misbehave, delay)",
                self.name
            ))),
        }
    }

    /// The controller and its disks, with their counters.
    pub fn stats(&self) -> Value {
        let disks: Vec<Value> = self
            .target
            .iter()
            .map(|(lun, d)| {
                let c = d.counters();
                json!({
                    "lun": lun,
                    "backend": d.backend_description(),
                    "size_bytes": d.size_bytes(),
                    "sector_size": d.block_size(),
                    "read_only": d.read_only(),
                    "serial": d.identity().serial,
                    "allocated_bytes": d.allocated_bytes(),
                    "reads": c.reads,
                    "writes": c.writes,
                    "bytes_read": c.bytes_read,
                    "bytes_written": c.bytes_written,
                    "flushes": c.flushes,
                    "unmaps": c.unmaps,
                    "bytes_unmapped": c.bytes_unmapped,
                    "errors": c.errors,
                })
            })
            .collect();
        let sum = |f: fn(&crate::scsi::DiskCounters) -> u64| -> u64 {
            self.target.iter().map(|(_, d)| f(&d.counters())).sum()
        };
        let version = self
            .state
            .version()
            .map(|v| format!("{}.{}", v >> 8, v & 0xff));
        json!({
            "controller": self.name,
            "instance_id": guid_text(&self.instance),
            "state": self.state.name(),
            "protocol": version,
            "max_subchannels": self.max_subchannels,
            "open_channels": self.open_channels.iter().collect::<Vec<_>>(),
            "counters": self.counters,
            "channel_srbs": self.channel_srbs,
            "misbehaved": self.misbehaviour.done(),
            "delay_ms": self.held.delay.as_millis() as u64,
            "srbs_held_now": self.held.held(),
            "reads": sum(|c| c.reads),
            "writes": sum(|c| c.writes),
            "bytes_read": sum(|c| c.bytes_read),
            "bytes_written": sum(|c| c.bytes_written),
            "errors": sum(|c| c.errors) + self.counters.bad_srbs + self.counters.bad_packets,
            "disks": disks,
        })
    }
}
