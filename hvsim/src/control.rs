// SPDX-License-Identifier: GPL-2.0
//! The control interface: a Unix socket speaking line-delimited JSON, through which tests and
//! users inspect and steer a running simulation (`hvsim ctl`).
//!
//! Each request is one JSON object on one line, `{"cmd": "...", ...}`; each answer is one
//! line, `{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`. Commands:
//!
//! | request | result |
//! | --- | --- |
//! | `{"cmd":"channels"}` | every VMBus channel: device, relid, class/instance GUIDs, state, and while it is open its `traffic` (signals and packets each way) |
//! | `{"cmd":"version"}` | the negotiated VMBus version `"major.minor"`, or null |
//! | `{"cmd":"stats"}` | timings: ms from QEMU start to ALLOFFERS_DELIVERED; `platform`: hypercalls, host → guest events and interrupts so far |
//! | `{"cmd":"rescind","target":T}` | rescinds a device (T: instance GUID or relid) |
//! | `{"cmd":"device","target":T,"command":{...}}` | a device-specific command |
//! | `{"cmd":"poweroff"}` | stops the guest at once (a hard power-off) |
//!
//! The socket is served from the event loop without blocking it: connections are
//! non-blocking, requests are size-limited, and a malformed one gets an error answer.

use serde::Deserialize;
use serde_json::{json, Value};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;
/// Most clients served at once.
const MAX_CLIENTS: usize = 16;

/// A parsed control request.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase", deny_unknown_fields)]
pub enum ControlRequest {
    // Empty struct variants rather than unit ones: serde ignores unknown fields beside the
    // tag of a unit variant, and a misspelt argument must be an error, not silently dropped.
    Channels {},
    Version {},
    Stats {},
    Rescind { target: String },
    Device { target: String, command: Value },
    Poweroff {},
}

/// Parses one request line.
pub fn parse_request(line: &str) -> Result<ControlRequest, String> {
    serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}"))
}

/// Formats an answer line (without the newline).
pub fn format_answer(result: Result<Value, String>) -> String {
    match result {
        Ok(v) => json!({ "ok": true, "result": v }).to_string(),
        Err(e) => json!({ "ok": false, "error": e }).to_string(),
    }
}

/// What executes control requests: the simulation's event loop.
pub trait ControlHandler {
    fn handle(&mut self, request: ControlRequest) -> Result<Value, String>;
}

struct Client {
    stream: UnixStream,
    pending: Vec<u8>,
    answers: Vec<u8>,
}

/// The listening socket and its clients.
pub struct ControlSocket {
    path: PathBuf,
    listener: UnixListener,
    clients: Vec<Client>,
}

impl ControlSocket {
    /// Binds `path` (replacing a stale socket file).
    pub fn bind(path: &Path) -> io::Result<Self> {
        if path.exists() {
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            path: path.to_owned(),
            listener,
            clients: Vec::new(),
        })
    }

    /// The descriptors to poll for input: the listener and every client.
    pub fn fds(&self) -> Vec<RawFd> {
        let mut fds = vec![self.listener.as_raw_fd()];
        fds.extend(self.clients.iter().map(|c| c.stream.as_raw_fd()));
        fds
    }

    /// Accepts new clients and answers every complete request, without blocking.
    pub fn service(&mut self, handler: &mut dyn ControlHandler) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.clients.len() >= MAX_CLIENTS || stream.set_nonblocking(true).is_err() {
                        tracing::warn!("control: too many clients, connection refused");
                        continue;
                    }
                    self.clients.push(Client {
                        stream,
                        pending: Vec::new(),
                        answers: Vec::new(),
                    });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::warn!("control: accept failed: {e}");
                    break;
                }
            }
        }
        self.clients.retain_mut(|c| serve_client(c, handler));
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads what the client sent, answers complete lines; false once the client is gone.
fn serve_client(client: &mut Client, handler: &mut dyn ControlHandler) -> bool {
    let mut buf = [0u8; 4096];
    let mut open = true;
    loop {
        match client.stream.read(&mut buf) {
            Ok(0) => {
                open = false;
                break;
            }
            Ok(n) => client.pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
        if client.pending.len() > MAX_REQUEST {
            break;
        }
    }
    while let Some(end) = client.pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = client.pending.drain(..=end).collect();
        let answer = match std::str::from_utf8(&line) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => match parse_request(text) {
                Ok(req) => handler.handle(req),
                Err(e) => Err(e),
            },
            Err(_) => Err("bad request: not UTF-8".to_owned()),
        };
        client
            .answers
            .extend_from_slice(format_answer(answer).as_bytes());
        client.answers.push(b'\n');
    }
    if client.pending.len() > MAX_REQUEST {
        tracing::warn!("control: request longer than {MAX_REQUEST} bytes, client dropped");
        return false;
    }
    // Answers are small; a client that does not read them within a second is dropped.
    if !client.answers.is_empty() {
        let _ = client.stream.set_nonblocking(false);
        let _ = client
            .stream
            .set_write_timeout(Some(Duration::from_secs(1)));
        let ok = client.stream.write_all(&client.answers).is_ok();
        let _ = client.stream.set_nonblocking(true);
        client.answers.clear();
        if !ok {
            return false;
        }
    }
    open
}

/// Sends one request to a running hvsim and returns its result (the client side of
/// `hvsim ctl`).
pub fn request(socket: &Path, request: &Value, timeout: Duration) -> Result<Value, String> {
    let mut stream = UnixStream::connect(socket)
        .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut line = request.to_string();
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(|e| format!("no answer from hvsim: {e}"))?;
    let v: Value = serde_json::from_str(&answer).map_err(|e| format!("bad answer: {e}"))?;
    if v.get("ok") == Some(&Value::Bool(true)) {
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    } else {
        Err(v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown error")
            .to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(Vec<ControlRequest>);
    impl ControlHandler for Echo {
        fn handle(&mut self, request: ControlRequest) -> Result<Value, String> {
            self.0.push(request.clone());
            match request {
                ControlRequest::Version {} => Ok(json!("6.0")),
                ControlRequest::Rescind { target } if target == "nope" => {
                    Err("no such channel".into())
                }
                _ => Ok(Value::Null),
            }
        }
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(
            parse_request(r#"{"cmd":"channels"}"#),
            Ok(ControlRequest::Channels {})
        );
        assert_eq!(
            parse_request(r#" {"cmd":"rescind","target":"5"} "#),
            Ok(ControlRequest::Rescind { target: "5".into() })
        );
        assert_eq!(
            parse_request(r#"{"cmd":"device","target":"x","command":{"op":"set"}}"#),
            Ok(ControlRequest::Device {
                target: "x".into(),
                command: json!({"op":"set"})
            })
        );
        assert_eq!(
            parse_request(r#"{"cmd":"poweroff"}"#),
            Ok(ControlRequest::Poweroff {})
        );
    }

    #[test]
    fn rejects_malformed_requests() {
        for bad in [
            "",
            "nonsense",
            "[]",
            r#"{"cmd":"launch"}"#,
            r#"{"cmd":"rescind"}"#,
            r#"{"cmd":"rescind","target":5}"#,
            r#"{"cmd":"channels","extra":1}"#,
            r#"{"target":"x"}"#,
        ] {
            assert!(parse_request(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn serves_requests_over_the_socket() {
        let dir = std::env::temp_dir().join(format!("hvsim-ctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        let mut socket = ControlSocket::bind(&path).unwrap();
        let mut handler = Echo(Vec::new());
        let mut client = UnixStream::connect(&path).unwrap();
        client
            .write_all(
                b"{\"cmd\":\"version\"}\n\nnot json\n{\"cmd\":\"rescind\",\"target\":\"nope\"}\n",
            )
            .unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reader = BufReader::new(client.try_clone().unwrap());
        let mut lines = Vec::new();
        for _ in 0..100 {
            socket.service(&mut handler);
            if handler.0.len() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for _ in 0..3 {
            let mut l = String::new();
            reader.read_line(&mut l).unwrap();
            lines.push(serde_json::from_str::<Value>(&l).unwrap());
        }
        assert_eq!(lines[0], json!({"ok": true, "result": "6.0"}));
        assert_eq!(lines[1]["ok"], json!(false));
        assert_eq!(lines[2], json!({"ok": false, "error": "no such channel"}));
        drop(socket);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn drops_clients_with_oversized_requests() {
        let dir = std::env::temp_dir().join(format!("hvsim-ctl-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        let mut socket = ControlSocket::bind(&path).unwrap();
        let mut handler = Echo(Vec::new());
        let client = UnixStream::connect(&path).unwrap();
        let writer = std::thread::spawn(move || {
            let mut client = client;
            let _ = client.write_all(&vec![b'x'; MAX_REQUEST * 2]);
        });
        for _ in 0..200 {
            socket.service(&mut handler);
            if socket.clients.is_empty() && writer.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(socket.clients.is_empty());
        assert!(handler.0.is_empty());
        let _ = writer.join();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
