// SPDX-License-Identifier: GPL-2.0
//! Guest RAM shared with QEMU: a file that QEMU maps as its RAM backend
//! (`-object memory-backend-file,share=on`) and hvsim maps too. On the `pc` machine with at
//! most 2 GiB of RAM, guest physical address == file offset (all RAM sits below the PCI hole).
//!
//! The guest changes this memory at any time, so it is never turned into a Rust reference:
//! every access is a bounds-checked volatile copy or a single atomic access.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::memory::{check_range, GuestMemory, MemoryError, VecMemory};

/// Guest memory that also offers the atomic accesses the SynIC needs: the guest clears event
/// flags with atomic instructions on other vCPUs while hvsim sets them.
pub trait SharedMemory: GuestMemory {
    /// Atomically ORs `bits` into the 4-byte-aligned u32 at `gpa`; returns its old value.
    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError>;
}

/// The RAM file and hvsim's mapping of it.
///
/// # Invariants
///
/// `base` points to a live `MAP_SHARED` read/write mapping of `size` bytes, unmapped only in
/// `Drop`.
pub struct GuestRam {
    base: NonNull<u8>,
    size: usize,
    path: PathBuf,
}

// SAFETY: the mapping is process-wide and never moves; every access through `GuestRam` is a
// volatile copy or an atomic access, which is what memory shared with another process (QEMU's
// vCPUs) needs anyway, so another thread of hvsim is no different.
unsafe impl Send for GuestRam {}
// SAFETY: as for `Send`: `&GuestRam` only allows volatile and atomic accesses.
unsafe impl Sync for GuestRam {}

impl GuestRam {
    /// Creates `path` (which must not exist) with `size` bytes and maps it.
    pub fn create(path: &Path, size: u64) -> io::Result<Self> {
        let len = usize::try_from(size)
            .map_err(|_| io::Error::other("guest RAM size does not fit usize"))?;
        if len == 0 {
            return Err(io::Error::other("guest RAM size is zero"));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        let unlink_on_error = |e: io::Error| {
            let _ = std::fs::remove_file(path);
            e
        };
        file.set_len(size).map_err(unlink_on_error)?;
        // SAFETY: a fresh shared mapping of a file we own; the kernel picks the address, so no
        // existing Rust object is affected. The mapping outlives `file`, which is fine.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(unlink_on_error(io::Error::last_os_error()));
        }
        let base =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        // INVARIANT: `base` is the mapping of `len` bytes made just above.
        Ok(Self {
            base,
            size: len,
            path: path.to_owned(),
        })
    }

    /// The RAM file, for QEMU's `mem-path=`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file name; both mappings stay valid. Call once QEMU has mapped it.
    pub fn unlink(&self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("removing {}: {e}", self.path.display()),
        }
    }

    fn range(&self, gpa: u64, len: usize) -> Result<*mut u8, MemoryError> {
        let r = check_range(self.size as u64, gpa, len)?;
        // SAFETY: `r.start + len <= size`, so the result stays inside the mapping.
        Ok(unsafe { self.base.as_ptr().add(r.start) })
    }

    fn atomic_u32(&self, gpa: u64) -> Result<&AtomicU32, MemoryError> {
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError { gpa, len: 4 });
        }
        let p = self.range(gpa, 4)?;
        // SAFETY: `p` is 4-byte aligned (the mapping is page aligned and `gpa` is a multiple of
        // 4) and valid for the lifetime of `self`; the memory is only ever accessed atomically
        // or with volatile copies, never through a plain reference.
        Ok(unsafe { AtomicU32::from_ptr(p.cast::<u32>()) })
    }
}

/// Copies `len` bytes with volatile accesses, 8 bytes at a time where `src` is aligned.
///
/// # Safety
///
/// `src` must be valid for reads and `dst` for writes of `len` bytes, and they must not overlap.
unsafe fn volatile_copy(src: *const u8, dst: *mut u8, len: usize) {
    let mut i = 0;
    while i < len && !(src as usize + i).is_multiple_of(8) {
        // SAFETY: `i < len`, covered by the caller's guarantee.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
        i += 1;
    }
    while i + 8 <= len {
        // SAFETY: `src + i` is 8-byte aligned here and `i + 8 <= len`; `dst` may be unaligned,
        // hence the unaligned write.
        unsafe {
            let v = src.add(i).cast::<u64>().read_volatile();
            dst.add(i).cast::<u64>().write_unaligned(v);
        }
        i += 8;
    }
    while i < len {
        // SAFETY: `i < len`, covered by the caller's guarantee.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
        i += 1;
    }
}

/// Like [`volatile_copy`] but with the volatile side being the destination.
///
/// # Safety
///
/// As for [`volatile_copy`].
unsafe fn volatile_copy_to(src: *const u8, dst: *mut u8, len: usize) {
    let mut i = 0;
    while i < len && !(dst as usize + i).is_multiple_of(8) {
        // SAFETY: `i < len`, covered by the caller's guarantee.
        unsafe { dst.add(i).write_volatile(src.add(i).read()) };
        i += 1;
    }
    while i + 8 <= len {
        // SAFETY: `dst + i` is 8-byte aligned here and `i + 8 <= len`.
        unsafe {
            let v = src.add(i).cast::<u64>().read_unaligned();
            dst.add(i).cast::<u64>().write_volatile(v);
        }
        i += 8;
    }
    while i < len {
        // SAFETY: `i < len`, covered by the caller's guarantee.
        unsafe { dst.add(i).write_volatile(src.add(i).read()) };
        i += 1;
    }
}

impl GuestMemory for GuestRam {
    fn size(&self) -> u64 {
        self.size as u64
    }

    fn read_at(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let src = self.range(gpa, buf.len())?;
        // SAFETY: `src..src+len` is inside the mapping (checked by `range`) and `buf` is a
        // distinct Rust buffer.
        unsafe { volatile_copy(src, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    fn write_at(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let dst = self.range(gpa, data.len())?;
        // SAFETY: as in `read_at`, in the other direction.
        unsafe { volatile_copy_to(data.as_ptr(), dst, data.len()) };
        Ok(())
    }

    fn read_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        if !gpa.is_multiple_of(4) {
            let mut b = [0u8; 4];
            self.read_at(gpa, &mut b)?;
            return Ok(u32::from_le_bytes(b));
        }
        // ORDERING: pairs with the guest's writes of ring indices and SynIC message types;
        // SeqCst keeps it simple and costs nothing measurable here.
        Ok(self.atomic_u32(gpa)?.load(Ordering::SeqCst))
    }

    fn write_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        if !gpa.is_multiple_of(4) {
            return self.write_at(gpa, &value.to_le_bytes());
        }
        // ORDERING: publishes everything written before it (e.g. a SynIC message body before
        // its type) to the guest's loads of this word.
        self.atomic_u32(gpa)?.store(value, Ordering::SeqCst);
        Ok(())
    }
}

impl SharedMemory for GuestRam {
    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
        // ORDERING: pairs with the guest's atomic test-and-clear of event flags.
        Ok(self.atomic_u32(gpa)?.fetch_or(bits, Ordering::SeqCst))
    }
}

/// Unit tests run single-threaded against a plain vector.
impl SharedMemory for VecMemory {
    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError { gpa, len: 4 });
        }
        let old = self.read_u32(gpa)?;
        self.write_u32(gpa, old | bits)?;
        Ok(old)
    }
}

impl Drop for GuestRam {
    fn drop(&mut self) {
        // SAFETY: `base`/`size` are the mapping made in `create` (type invariant); no
        // references into it exist.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.size) };
        self.unlink();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ram(size: u64) -> GuestRam {
        let p = std::env::temp_dir().join(format!("hvsim-ram-test-{}-{size}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        GuestRam::create(&p, size).unwrap()
    }

    #[test]
    fn copies_round_trip_at_every_alignment() {
        let m = ram(8192);
        let data: Vec<u8> = (0..100u8).collect();
        for off in 0..9u64 {
            m.write_at(4000 + off, &data).unwrap();
            let mut back = vec![0u8; data.len()];
            m.read_at(4000 + off, &mut back).unwrap();
            assert_eq!(back, data);
        }
    }

    #[test]
    fn bounds_are_checked() {
        let m = ram(4096 * 3);
        let mut b = [0u8; 16];
        assert!(m.read_at(4096 * 3 - 8, &mut b).is_err());
        assert!(m.write_at(u64::MAX - 3, &b).is_err());
        assert!(m.read_u32(4096 * 3).is_err());
        assert!(m.fetch_or_u32(2, 1).is_err());
        m.write_u32(8, 0x0102_0304).unwrap();
        assert_eq!(m.fetch_or_u32(8, 0x8000_0000).unwrap(), 0x0102_0304);
        assert_eq!(m.read_u32(8).unwrap(), 0x8102_0304);
        m.write_u32(13, 7).unwrap();
        assert_eq!(m.read_u32(13).unwrap(), 7);
    }

    #[test]
    fn a_second_mapping_sees_the_writes_and_drop_removes_the_file() {
        let m = ram(4096 * 4);
        let path = m.path().to_owned();
        m.write_at(4096, b"hello").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[4096..4101], b"hello");
        drop(m);
        assert!(!path.exists());
        assert!(GuestRam::create(Path::new("/nonexistent-dir/x"), 4096).is_err());
    }
}
