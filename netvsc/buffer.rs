// SPDX-License-Identifier: GPL-2.0
//! The receive and send buffers: a GPADL of pages shared with the host, with bulk copies in and
//! out (netvsc/shim.c: `memcpy` per page, `skb_copy_bits` straight into the send buffer)
//! instead of the word-by-word volatile copies of `vmbus::GpadlBuffer::read`, which cost too
//! much per frame. What is read is a copy the caller checks before use.

use crate::netdev::{RawSkb, Skb};
use kernel::prelude::*;
use vmbus::GpadlBuffer;

mod ffi {
    use crate::netdev::RawSkb;
    use kernel::ffi::c_int;

    extern "C" {
        pub(super) fn rhv_netvsc_buf_read(
            pfns: *const u64,
            npfns: u32,
            offset: u32,
            dst: *mut u8,
            len: u32,
        ) -> c_int;
        pub(super) fn rhv_netvsc_buf_write(
            pfns: *const u64,
            npfns: u32,
            offset: u32,
            src: *const u8,
            len: u32,
        ) -> c_int;
        pub(super) fn rhv_netvsc_buf_write_skb(
            pfns: *const u64,
            npfns: u32,
            offset: u32,
            skb: *mut RawSkb,
            len: u32,
        ) -> c_int;
    }
}

/// A buffer shared with the host.
///
/// # Invariants
///
/// `pfns` are the PFNs of `gpadl`'s pages, in order; the pages are directly mapped kernel
/// pages that stay allocated while `gpadl` lives, and so while `self` does.
pub(crate) struct SharedBuffer {
    gpadl: GpadlBuffer,
    pfns: KVec<u64>,
}

impl SharedBuffer {
    /// Wraps `gpadl`.
    pub(crate) fn new(gpadl: GpadlBuffer) -> Result<Self> {
        let count = gpadl.len() / 4096;
        let mut pfns = KVec::with_capacity(count, GFP_KERNEL)?;
        for i in 0..count {
            pfns.push(gpadl.pfn(i).ok_or(EINVAL)?, GFP_KERNEL)?;
        }
        // INVARIANT: the PFNs of all of `gpadl`'s pages, in order.
        Ok(Self { gpadl, pfns })
    }

    /// The GPADL handle.
    pub(crate) fn handle(&self) -> u32 {
        self.gpadl.handle()
    }

    /// Size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.pfns.len() * 4096
    }

    /// The PFNs of the buffer's pages, in order (directly mapped pages that stay allocated
    /// while `self` lives).
    pub(crate) fn pfns(&self) -> &[u64] {
        &self.pfns
    }

    fn npfns(&self) -> Result<u32> {
        u32::try_from(self.pfns.len()).map_err(|_| EINVAL)
    }

    /// Copies `out.len()` bytes at `offset` out of the buffer.
    pub(crate) fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        let offset = u32::try_from(offset).map_err(|_| EINVAL)?;
        let len = u32::try_from(out.len()).map_err(|_| EINVAL)?;
        // SAFETY: `pfns` name live, directly mapped pages (invariant); the shim checks the
        // span against them; `out` is `len` writable bytes.
        kernel::error::to_result(unsafe {
            ffi::rhv_netvsc_buf_read(
                self.pfns.as_ptr(),
                self.npfns()?,
                offset,
                out.as_mut_ptr(),
                len,
            )
        })
    }

    /// Copies `bytes` into the buffer at `offset`.
    pub(crate) fn write(&self, offset: usize, bytes: &[u8]) -> Result {
        let offset = u32::try_from(offset).map_err(|_| EINVAL)?;
        let len = u32::try_from(bytes.len()).map_err(|_| EINVAL)?;
        // SAFETY: as in `read`; `bytes` is `len` readable bytes.
        kernel::error::to_result(unsafe {
            ffi::rhv_netvsc_buf_write(
                self.pfns.as_ptr(),
                self.npfns()?,
                offset,
                bytes.as_ptr(),
                len,
            )
        })
    }

    /// Copies the frame of `skb` into the buffer at `offset`.
    pub(crate) fn write_skb(&self, offset: usize, skb: &Skb) -> Result {
        let offset = u32::try_from(offset).map_err(|_| EINVAL)?;
        let raw: *mut RawSkb = skb.as_raw();
        // SAFETY: as in `read`; `skb` is owned by the caller for the call; the shim checks the
        // length against the frame.
        kernel::error::to_result(unsafe {
            ffi::rhv_netvsc_buf_write_skb(self.pfns.as_ptr(), self.npfns()?, offset, raw, skb.len())
        })
    }
}
