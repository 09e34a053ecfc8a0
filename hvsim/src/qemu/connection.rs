// SPDX-License-Identifier: GPL-2.0
//! One non-blocking Unix stream to QEMU with framing: bytes in, whole messages out, and a
//! send queue so hvsim never blocks on a slow reader (QEMU's main loop may be busy with the
//! BQL while a vCPU waits for hvsim).

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use super::protocol::{frame_size, ProtocolError, MAX_MESSAGE_SIZE};

/// Why a connection stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("QEMU closed the connection")]
    Closed,
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
}

/// A framed, buffered connection.
pub struct Connection {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    /// Bytes of `outbuf` already written.
    sent: usize,
}

impl Connection {
    pub fn new(stream: UnixStream) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        Ok(Self {
            stream,
            inbuf: Vec::with_capacity(MAX_MESSAGE_SIZE),
            outbuf: Vec::new(),
            sent: 0,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Reads what the socket has. A peer cannot make the buffer grow past two messages: the
    /// caller takes whole messages out with [`Self::next_message`] after every read, and that
    /// rejects bad headers as soon as they are complete.
    pub fn receive(&mut self) -> Result<(), ConnectionError> {
        let mut chunk = [0u8; MAX_MESSAGE_SIZE];
        loop {
            let room = (2 * MAX_MESSAGE_SIZE)
                .saturating_sub(self.inbuf.len())
                .min(chunk.len());
            if room == 0 {
                return Ok(());
            }
            match self.stream.read(&mut chunk[..room]) {
                Ok(0) => return Err(ConnectionError::Closed),
                Ok(n) => {
                    self.inbuf.extend_from_slice(&chunk[..n]);
                    // Stop once a whole message is there: the caller handles it first.
                    if frame_size(&self.inbuf)?.is_some_and(|(_, size)| self.inbuf.len() >= size) {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Takes the first whole message out of the receive buffer, if there is one.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, ProtocolError> {
        match frame_size(&self.inbuf)? {
            Some((_, size)) if self.inbuf.len() >= size => {
                Ok(Some(self.inbuf.drain(..size).collect()))
            }
            _ => Ok(None),
        }
    }

    /// Queues `msg` and writes as much as the socket takes now.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), ConnectionError> {
        self.outbuf.extend_from_slice(msg);
        self.flush()
    }

    /// Writes queued bytes until the socket would block.
    pub fn flush(&mut self) -> Result<(), ConnectionError> {
        while self.sent < self.outbuf.len() {
            match self.stream.write(&self.outbuf[self.sent..]) {
                Ok(0) => return Err(ConnectionError::Closed),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    return Err(ConnectionError::Closed)
                }
                Err(e) => return Err(e.into()),
            }
        }
        if self.sent == self.outbuf.len() {
            self.outbuf.clear();
            self.sent = 0;
        }
        Ok(())
    }

    /// Whether queued bytes wait for the socket to become writable.
    pub fn wants_write(&self) -> bool {
        self.sent < self.outbuf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::protocol::{qemu_side, Request};
    use super::*;

    #[test]
    fn frames_messages_split_and_joined_across_reads() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut c = Connection::new(a).unwrap();
        let m1 = qemu_side::request(&Request::Cpuid {
            leaf: 0x4000_0000,
            subleaf: 0,
        });
        let m2 = qemu_side::request(&Request::Rdmsr { msr: 0x4000_0002 });
        b.write_all(&m1[..5]).unwrap();
        c.receive().unwrap();
        assert_eq!(c.next_message().unwrap(), None);
        b.write_all(&m1[5..]).unwrap();
        b.write_all(&m2).unwrap();
        c.receive().unwrap();
        assert_eq!(c.next_message().unwrap(), Some(m1));
        c.receive().unwrap();
        assert_eq!(c.next_message().unwrap(), Some(m2));
        assert_eq!(c.next_message().unwrap(), None);
    }

    #[test]
    fn a_bad_header_is_an_error_and_eof_is_closed() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut c = Connection::new(a).unwrap();
        b.write_all(&[3, 0, 0, 0, 200, 0, 0, 0]).unwrap();
        assert!(matches!(
            c.receive(),
            Err(ConnectionError::Protocol(ProtocolError::BadSize { .. }))
        ));
        drop(b);
        let (a, b) = UnixStream::pair().unwrap();
        let mut c = Connection::new(a).unwrap();
        drop(b);
        assert!(matches!(c.receive(), Err(ConnectionError::Closed)));
    }

    #[test]
    fn a_flood_without_valid_frames_cannot_grow_the_buffer() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut c = Connection::new(a).unwrap();
        // A valid header of a large kind, then far more bytes than one message.
        let m = qemu_side::request(&Request::Wrmsr { msr: 1, value: 2 });
        for _ in 0..100 {
            b.write_all(&m).unwrap();
        }
        c.receive().unwrap();
        assert!(c.inbuf.len() <= 2 * MAX_MESSAGE_SIZE);
    }

    #[test]
    fn sends_are_queued_when_the_peer_does_not_read() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut c = Connection::new(a).unwrap();
        let msg = vec![0x55u8; 4096];
        let mut queued = 0;
        for _ in 0..1024 {
            c.send(&msg).unwrap();
            queued += msg.len();
            if c.wants_write() {
                break;
            }
        }
        assert!(c.wants_write(), "the socket buffer never filled up");
        b.set_nonblocking(true).unwrap();
        let mut got = 0;
        let mut buf = vec![0u8; 65536];
        while got < queued {
            match b.read(&mut buf) {
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.flush().unwrap(),
                Err(e) => panic!("{e}"),
            }
        }
        assert!(!c.wants_write());
        assert_eq!(got, queued);
    }
}
