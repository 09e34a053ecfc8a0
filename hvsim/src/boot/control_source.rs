// SPDX-License-Identifier: GPL-2.0
//! The control socket as a source of the event loop: requests are answered between two
//! rounds of guest requests, with the platform and the VMBus server at hand.

use std::time::Instant;

use serde_json::{json, Value};

use super::event_loop::{EventSource, SourceAction};
use crate::control::{ControlHandler, ControlRequest, ControlSocket};
use crate::platform::Platform;
use crate::vmbus::{ChannelTarget, VmbusServer};

/// Serves `hvsim run --control SOCKET`.
pub struct ControlSource {
    socket: ControlSocket,
    started: Instant,
}

impl ControlSource {
    pub fn new(socket: ControlSocket, started: Instant) -> Self {
        Self { socket, started }
    }
}

impl EventSource for ControlSource {
    fn poll_fds(&self, out: &mut Vec<libc::pollfd>) {
        out.extend(self.socket.fds().into_iter().map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        }));
    }

    fn on_ready(
        &mut self,
        ready: &[libc::pollfd],
        platform: &mut Platform,
        server: &mut VmbusServer,
    ) -> SourceAction {
        if ready.iter().all(|p| p.revents == 0) {
            return SourceAction::Continue;
        }
        let mut handler = Handler {
            platform,
            server,
            started: self.started,
            poweroff: false,
        };
        self.socket.service(&mut handler);
        if handler.poweroff {
            SourceAction::Stop(0)
        } else {
            SourceAction::Continue
        }
    }
}

struct Handler<'a> {
    platform: &'a mut Platform,
    server: &'a mut VmbusServer,
    started: Instant,
    poweroff: bool,
}

impl ControlHandler for Handler<'_> {
    fn handle(&mut self, request: ControlRequest) -> Result<Value, String> {
        match request {
            ControlRequest::Channels {} => Ok(channels(self.server)),
            ControlRequest::Version {} => Ok(version(self.server)),
            ControlRequest::Stats {} => {
                let mut s = stats(self.server, self.started);
                s["platform"] = json!(self.platform.counters());
                Ok(s)
            }
            ControlRequest::Rescind { target } => {
                let target: ChannelTarget = target.parse().map_err(|e| format!("{e}"))?;
                self.server
                    .rescind(self.platform, target)
                    .map_err(|e| format!("{e}"))?;
                Ok(Value::Null)
            }
            ControlRequest::Device { target, command } => {
                let target: ChannelTarget = target.parse().map_err(|e| format!("{e}"))?;
                self.server
                    .control(target, &command)
                    .map_err(|e| format!("{e}"))
            }
            ControlRequest::Poweroff {} => {
                tracing::info!("control: power-off requested");
                self.poweroff = true;
                Ok(Value::Null)
            }
        }
    }
}

/// Every channel, as the control interface and the final state show them.
pub fn channels(server: &VmbusServer) -> Value {
    serde_json::to_value(server.channels()).unwrap_or(Value::Null)
}

/// The negotiated VMBus version as "major.minor", or null.
pub fn version(server: &VmbusServer) -> Value {
    match server.negotiated_version() {
        Some((major, minor)) => json!(format!("{major}.{minor}")),
        None => Value::Null,
    }
}

/// Timings of the run.
pub fn stats(server: &VmbusServer, started: Instant) -> Value {
    let ms = server
        .all_offers_delivered_at()
        .map(|t| t.saturating_duration_since(started).as_secs_f64() * 1000.0);
    json!({ "alloffers_delivered_ms": ms, "uptime_ms": started.elapsed().as_secs_f64() * 1000.0 })
}

/// The state written by `hvsim run --state-out FILE` when the run ends.
pub fn final_state(server: &VmbusServer, started: Instant, exit_code: i32) -> Value {
    json!({
        "version": version(server),
        "channels": channels(server),
        "stats": stats(server, started),
        "exit_code": exit_code,
    })
}
