// SPDX-License-Identifier: GPL-2.0
//! Where a disk's blocks live: a raw image file (sparse, holes punched on UNMAP) or host RAM
//! (allocated in chunks on first write, freed on UNMAP). Both read back zeros from blocks
//! never written or unmapped, which is what the disk advertises (LBPRZ).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Storage behind a disk, addressed in bytes. Callers keep accesses inside [`size`];
/// backends check again and fail with `InvalidInput` rather than touch anything outside.
///
/// [`size`]: BlockBackend::size
pub trait BlockBackend: Send {
    /// Short description for logs and statistics (`ram`, `file:/path`).
    fn describe(&self) -> String;
    /// Bytes of storage.
    fn size(&self) -> u64;
    /// Reads `buf.len()` bytes at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes `data` at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes written data durable.
    fn flush(&mut self) -> io::Result<()>;
    /// Deallocates `len` bytes at `offset`; they read back as zeros afterwards.
    fn discard(&mut self, offset: u64, len: u64) -> io::Result<()>;
    /// Bytes of storage actually allocated, if the backend knows.
    fn allocated_bytes(&self) -> Option<u64>;
}

fn check_bounds(size: u64, offset: u64, len: u64) -> io::Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("access {offset:#x}+{len:#x} is outside the {size:#x}-byte disk"),
        )),
    }
}

/// Zero bytes written per call when a backend has to write zeros.
const ZERO_CHUNK: usize = 64 << 10;

/// A raw disk image.
#[derive(Debug)]
pub struct FileBackend {
    file: File,
    path: PathBuf,
    size: u64,
    /// Hole punching works on this file system (cleared at the first EOPNOTSUPP).
    punch_holes: bool,
}

impl FileBackend {
    /// Opens `path`. With `size`, a missing file is created and a shorter one grown (sparse);
    /// the disk then has exactly `size` bytes. Without it the disk is the whole file.
    pub fn open(path: &Path, read_only: bool, size: Option<u64>) -> io::Result<Self> {
        let mut options = OpenOptions::new();
        options.read(true);
        if !read_only {
            options.write(true).create(size.is_some());
        }
        let file = options.open(path)?;
        let len = file.metadata()?.len();
        let size = match size {
            Some(size) if size > len => {
                if read_only {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("read-only image of {len} bytes is shorter than size={size}"),
                    ));
                }
                file.set_len(size)?;
                size
            }
            Some(size) => size,
            None => len,
        };
        Ok(Self {
            file,
            path: path.to_owned(),
            size,
            punch_holes: true,
        })
    }

    fn write_zeros(&mut self, offset: u64, len: u64) -> io::Result<()> {
        let zeros = vec![0u8; ZERO_CHUNK];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(ZERO_CHUNK as u64) as usize;
            self.file.write_all_at(&zeros[..n], offset + done)?;
            done += n as u64;
        }
        Ok(())
    }
}

impl BlockBackend for FileBackend {
    fn describe(&self) -> String {
        format!("file:{}", self.path.display())
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        check_bounds(self.size, offset, buf.len() as u64)?;
        self.file.read_exact_at(buf, offset)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        check_bounds(self.size, offset, data.len() as u64)?;
        self.file.write_all_at(data, offset)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn discard(&mut self, offset: u64, len: u64) -> io::Result<()> {
        check_bounds(self.size, offset, len)?;
        if len == 0 {
            return Ok(());
        }
        if self.punch_holes {
            let (Ok(off), Ok(n)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len))
            else {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            };
            // SAFETY: fallocate() only takes integers: the descriptor stays open for the
            // duration of the call because `self.file` owns it, and no memory is passed.
            let r = unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    off,
                    n,
                )
            };
            if r == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EOPNOTSUPP) {
                return Err(err);
            }
            tracing::info!(
                path = %self.path.display(),
                "the file system cannot punch holes; UNMAP writes zeros instead"
            );
            self.punch_holes = false;
        }
        self.write_zeros(offset, len)
    }
    fn allocated_bytes(&self) -> Option<u64> {
        // st_blocks counts 512-byte units whatever the file system's block size.
        self.file.metadata().ok().map(|m| m.blocks() * 512)
    }
}

/// Bytes per RAM chunk: the allocation and deallocation unit of [`RamBackend`].
pub const RAM_CHUNK: u64 = 64 << 10;

/// A disk in host RAM, allocated in [`RAM_CHUNK`]s on first write.
#[derive(Debug, Default)]
pub struct RamBackend {
    size: u64,
    chunks: HashMap<u64, Box<[u8]>>,
}

impl RamBackend {
    /// An all-zero disk of `size` bytes; nothing is allocated yet.
    pub fn new(size: u64) -> Self {
        Self {
            size,
            chunks: HashMap::new(),
        }
    }

    /// Splits `offset..offset+len` into (chunk index, offset in chunk, length) pieces.
    fn pieces(offset: u64, len: u64) -> impl Iterator<Item = (u64, usize, usize)> {
        let mut pos = offset;
        let end = offset + len;
        std::iter::from_fn(move || {
            if pos >= end {
                return None;
            }
            let index = pos / RAM_CHUNK;
            let within = pos % RAM_CHUNK;
            let n = (RAM_CHUNK - within).min(end - pos);
            pos += n;
            Some((index, within as usize, n as usize))
        })
    }
}

impl BlockBackend for RamBackend {
    fn describe(&self) -> String {
        "ram".to_owned()
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        check_bounds(self.size, offset, buf.len() as u64)?;
        let mut done = 0;
        for (index, within, n) in Self::pieces(offset, buf.len() as u64) {
            let dst = &mut buf[done..done + n];
            match self.chunks.get(&index) {
                Some(chunk) => dst.copy_from_slice(&chunk[within..within + n]),
                None => dst.fill(0),
            }
            done += n;
        }
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        check_bounds(self.size, offset, data.len() as u64)?;
        let mut done = 0;
        for (index, within, n) in Self::pieces(offset, data.len() as u64) {
            let chunk = self
                .chunks
                .entry(index)
                .or_insert_with(|| vec![0u8; RAM_CHUNK as usize].into_boxed_slice());
            chunk[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn discard(&mut self, offset: u64, len: u64) -> io::Result<()> {
        check_bounds(self.size, offset, len)?;
        for (index, within, n) in Self::pieces(offset, len) {
            if n as u64 == RAM_CHUNK {
                self.chunks.remove(&index);
            } else if let Some(chunk) = self.chunks.get_mut(&index) {
                chunk[within..within + n].fill(0);
            }
        }
        Ok(())
    }
    fn allocated_bytes(&self) -> Option<u64> {
        Some(self.chunks.len() as u64 * RAM_CHUNK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_reads_zeros_then_data_and_frees_on_discard() {
        let mut r = RamBackend::new(4 * RAM_CHUNK);
        let mut buf = vec![0xffu8; 100];
        r.read_at(10, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        assert_eq!(r.allocated_bytes(), Some(0));
        // A write across a chunk boundary allocates two chunks.
        let data: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        r.write_at(RAM_CHUNK - 100, &data).unwrap();
        assert_eq!(r.allocated_bytes(), Some(2 * RAM_CHUNK));
        let mut back = vec![0u8; 200];
        r.read_at(RAM_CHUNK - 100, &mut back).unwrap();
        assert_eq!(back, data);
        // A partial discard zeroes, a whole-chunk discard frees.
        r.discard(RAM_CHUNK - 50, 50).unwrap();
        r.read_at(RAM_CHUNK - 100, &mut back).unwrap();
        assert_eq!(&back[..50], &data[..50]);
        assert!(back[50..100].iter().all(|&b| b == 0));
        r.discard(RAM_CHUNK, RAM_CHUNK).unwrap();
        assert_eq!(r.allocated_bytes(), Some(RAM_CHUNK));
    }

    #[test]
    fn out_of_bounds_accesses_fail() {
        let mut r = RamBackend::new(4096);
        let mut buf = [0u8; 8];
        assert!(r.read_at(4090, &mut buf).is_err());
        assert!(r.write_at(u64::MAX - 2, &buf).is_err());
        assert!(r.discard(0, 4097).is_err());
        assert!(r.read_at(4088, &mut buf).is_ok());
    }

    #[test]
    fn file_backend_punches_holes() {
        let dir = std::env::temp_dir().join(format!("hvsim-backend-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("disk.img");
        let _ = std::fs::remove_file(&path);
        let size = 8 << 20;
        let mut f = FileBackend::open(&path, false, Some(size)).unwrap();
        assert_eq!(f.size(), size);
        let before = f.allocated_bytes().unwrap();
        let data = vec![0xa5u8; 4 << 20];
        f.write_at(1 << 20, &data).unwrap();
        f.flush().unwrap();
        let written = f.allocated_bytes().unwrap();
        assert!(
            written >= before + (4 << 20),
            "{written} after writing 4 MiB"
        );
        f.discard(1 << 20, 4 << 20).unwrap();
        let mut back = vec![0xffu8; 4096];
        f.read_at(2 << 20, &mut back).unwrap();
        assert!(back.iter().all(|&b| b == 0));
        let after = f.allocated_bytes().unwrap();
        assert!(
            after < written,
            "allocation {written} → {after} after UNMAP"
        );
        assert!(f.write_at(size - 1, &[0, 0]).is_err());
        drop(f);
        // Read-only: cannot grow, reads work, the size is the file's.
        let mut ro = FileBackend::open(&path, true, None).unwrap();
        assert_eq!(ro.size(), size);
        assert!(ro.read_at(0, &mut back).is_ok());
        assert!(FileBackend::open(&path, true, Some(size * 2)).is_err());
        assert!(FileBackend::open(&dir.join("missing.img"), false, None).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
