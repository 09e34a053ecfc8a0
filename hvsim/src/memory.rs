// SPDX-License-Identifier: GPL-2.0
//! Guest physical memory as seen by the host: every access is bounds-checked against the
//! size of guest RAM, so a bad GPA from the guest is an error, never an out-of-bounds access.

/// A guest physical address range that is not backed by RAM.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("guest physical range {gpa:#x}+{len:#x} is outside guest RAM")]
pub struct MemoryError {
    pub gpa: u64,
    pub len: u64,
}

/// Guest RAM. Implementations copy in and out: callers never get references into memory
/// that the guest can change underneath them.
pub trait GuestMemory {
    /// Bytes of RAM from GPA 0.
    fn size(&self) -> u64;
    /// Copies `buf.len()` bytes from `gpa`.
    fn read_at(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError>;
    /// Copies `data` to `gpa`.
    fn write_at(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError>;

    /// Reads a little-endian u32 (ring-buffer indices and the like) in one access.
    fn read_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        let mut b = [0u8; 4];
        self.read_at(gpa, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    /// Writes a little-endian u32 in one access.
    fn write_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        self.write_at(gpa, &value.to_le_bytes())
    }
}

/// Checks that `gpa..gpa+len` lies inside `size` bytes and returns it as a `usize` range.
pub fn check_range(
    size: u64,
    gpa: u64,
    len: usize,
) -> Result<core::ops::Range<usize>, MemoryError> {
    let err = MemoryError {
        gpa,
        len: len as u64,
    };
    let end = gpa.checked_add(len as u64).ok_or(err.clone())?;
    if end > size {
        return Err(err);
    }
    let start = usize::try_from(gpa).map_err(|_| err.clone())?;
    let end = usize::try_from(end).map_err(|_| err.clone())?;
    Ok(start..end)
}

/// Guest RAM in a plain vector: for unit tests of everything that reads guest memory.
#[derive(Default)]
pub struct VecMemory {
    bytes: std::sync::Mutex<Vec<u8>>,
}

impl VecMemory {
    pub fn new(size: usize) -> Self {
        Self {
            bytes: std::sync::Mutex::new(vec![0; size]),
        }
    }
}

impl GuestMemory for VecMemory {
    fn size(&self) -> u64 {
        self.bytes.lock().map(|b| b.len() as u64).unwrap_or(0)
    }
    fn read_at(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let bytes = self.bytes.lock().map_err(|_| MemoryError {
            gpa,
            len: buf.len() as u64,
        })?;
        let r = check_range(bytes.len() as u64, gpa, buf.len())?;
        buf.copy_from_slice(&bytes[r]);
        Ok(())
    }
    fn write_at(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let mut bytes = self.bytes.lock().map_err(|_| MemoryError {
            gpa,
            len: data.len() as u64,
        })?;
        let r = check_range(bytes.len() as u64, gpa, data.len())?;
        bytes[r].copy_from_slice(data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_out_of_range_and_overflowing_accesses() {
        let m = VecMemory::new(4096);
        let mut b = [0u8; 8];
        assert!(m.read_at(4090, &mut b).is_err());
        assert!(m.read_at(u64::MAX - 2, &mut b).is_err());
        assert!(m.write_at(4096, &[1]).is_err());
        m.write_u32(4092, 0xdead_beef).unwrap();
        assert_eq!(m.read_u32(4092).unwrap(), 0xdead_beef);
    }
}
