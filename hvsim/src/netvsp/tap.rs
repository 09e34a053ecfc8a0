// SPDX-License-Identifier: GPL-2.0
//! A Linux TAP interface as the NIC's backend: `/dev/net/tun` attached to an interface by name
//! with TUNSETIFF (`IFF_TAP | IFF_NO_PI`: plain Ethernet frames, no packet-info prefix), in
//! non-blocking mode so the event loop can poll it (its descriptor is the NIC's wake
//! descriptor). The interface is created if it does not exist (that needs CAP_NET_ADMIN) and
//! persists only while hvsim holds it, unless it was made persistent beforehand
//! (`ip tuntap add dev NAME mode tap`).
//!
//! With offload, the TAP is opened with `IFF_VNET_HDR`: every frame both ways carries a
//! [`VnetHeader`] first, so the host kernel fills in checksums and segments large sends for
//! us, and TUNSETOFFLOAD(`TUN_F_CSUM`) lets it hand us frames whose checksum is still to be
//! computed (no `TUN_F_TSO*`: we never take segment-offload frames, having no receive segment
//! coalescing towards the guest). Without offload the TAP's offloads are cleared, as a
//! persistent TAP keeps them from an earlier run.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::{AsRawFd, RawFd};

use super::backend::NetBackend;
use super::vnet::VnetHeader;

/// An open TAP interface.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
    /// Frames carry a [`VnetHeader`].
    vnet: bool,
}

impl Tap {
    /// Attaches to (or creates) the TAP interface `name`, with checksum offload both ways
    /// if `offload`.
    pub fn open(name: &str, offload: bool) -> io::Result<Self> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?}"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        // SAFETY: ifreq is plain old data (a name array and a union of integers and pointers);
        // all-zero bytes are a valid value of it.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
            // CAST: interface names are bytes; c_char is i8 or u8 depending on the target.
            *dst = src as libc::c_char;
        }
        let vnet = if offload { libc::IFF_VNET_HDR } else { 0 };
        req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI | vnet) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`; `req` is a valid, initialised
        // ifreq that lives across the call, and the fd is the tun device we just opened.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        if offload {
            // CAST: 10.
            let size = VnetHeader::SIZE as libc::c_int;
            // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer; `size` outlives the
            // call.
            let r = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETVNETHDRSZ, &size) };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let features = if offload { libc::TUN_F_CSUM } else { 0 };
        // SAFETY: TUNSETOFFLOAD takes its argument by value (an unsigned long of TUN_F_*
        // bits) and touches no memory of ours.
        let r = unsafe {
            libc::ioctl(
                file.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                libc::c_ulong::from(features),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            file,
            name: name.to_owned(),
            vnet: offload,
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl NetBackend for Tap {
    fn send(&mut self, offload: &VnetHeader, frame: &[u8]) -> io::Result<()> {
        let (n, expected) = if self.vnet {
            let hdr = offload.to_bytes();
            let parts = [IoSlice::new(&hdr), IoSlice::new(frame)];
            (self.file.write_vectored(&parts)?, hdr.len() + frame.len())
        } else if *offload != VnetHeader::default() {
            return Err(io::Error::other("offload asked of a TAP without offload"));
        } else {
            (self.file.write(frame)?, frame.len())
        };
        if n != expected {
            return Err(io::Error::other(format!(
                "short TAP write: {n} of {expected} bytes"
            )));
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, VnetHeader)>> {
        let mut hdr = [0u8; VnetHeader::SIZE];
        let read = if self.vnet {
            let mut parts = [IoSliceMut::new(&mut hdr), IoSliceMut::new(buf)];
            self.file.read_vectored(&mut parts)
        } else {
            self.file.read(buf).map(|n| n + VnetHeader::SIZE)
        };
        match read {
            Ok(n) if n >= VnetHeader::SIZE => {
                let offload = VnetHeader::from_bytes(&hdr).unwrap_or_default();
                Ok(Some((n - VnetHeader::SIZE, offload)))
            }
            Ok(n) => Err(io::Error::other(format!("short TAP read: {n} bytes"))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn wake_fd(&self) -> Option<RawFd> {
        Some(self.file.as_raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// Runs `f` on a thread in a network namespace of its own; `None` if this process may not
    /// create one (not root).
    fn in_private_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        std::thread::spawn(move || {
            // SAFETY: unshare() only moves the calling thread into a new network namespace; it
            // touches no memory of this process.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return None;
            }
            Some(f())
        })
        .join()
        .ok()
        .flatten()
    }

    fn ip(args: &[&str]) {
        let ok = Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {args:?} failed");
    }

    /// An ARP request from 02:00:00:00:00:02 / 10.200.0.2 for 10.200.0.1.
    fn arp_request() -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 2]);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
        f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 10, 200, 0, 2]);
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 200, 0, 1]);
        f.resize(60, 0);
        f
    }

    #[test]
    fn frames_cross_a_tap_in_a_private_namespace() {
        let reply = in_private_netns(|| {
            let mut tap = Tap::open("rhvtest0", true).expect("TUNSETIFF");
            assert_eq!(tap.name(), "rhvtest0");
            ip(&["link", "set", "rhvtest0", "up"]);
            ip(&["addr", "add", "10.200.0.1/24", "dev", "rhvtest0"]);
            tap.send(&VnetHeader::default(), &arp_request())
                .expect("TAP write");
            let mut buf = [0u8; 2048];
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                match tap.recv(&mut buf).expect("TAP read") {
                    // The host's ARP reply to our MAC (the kernel also sends IPv6 chatter).
                    Some((n, _)) if n >= 42 && buf[12..14] == [8, 6] && buf[20..22] == [0, 2] => {
                        return Some(buf[..n].to_vec());
                    }
                    Some(_) => {}
                    None => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            None
        });
        match reply {
            None => eprintln!("skipped: cannot create a network namespace (needs root)"),
            Some(reply) => {
                let reply = reply.expect("no ARP reply through the TAP");
                assert_eq!(&reply[..6], &[2, 0, 0, 0, 0, 2]);
                assert_eq!(&reply[28..32], &[10, 200, 0, 1]);
            }
        }
        assert!(Tap::open("", false).is_err());
        assert!(Tap::open("name-that-is-way-too-long", true).is_err());
    }
}
