// SPDX-License-Identifier: GPL-2.0
//! A 4 KiB page of guest memory that the host reads or writes too: SynIC message and event
//! flags pages, monitor pages, the legacy interrupt page. The host may change it at any time,
//! so it is never exposed as a reference: only volatile copies and atomic accesses.

use super::bindings;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::sync::atomic::Atomic;

/// Hyper-V page size; the kernel's page is at least this big.
pub(crate) const HV_PAGE_SIZE: usize = 4096;

/// A zeroed page shared with the host.
///
/// # Invariants
///
/// `ptr` points to a page of at least [`HV_PAGE_SIZE`] bytes from `rhv_page_alloc()`, owned by
/// this value until it is dropped, and only accessed through volatile or atomic operations.
pub(crate) struct SharedPage {
    ptr: NonNull<u8>,
}

// SAFETY: the page is plain memory; every access is volatile or atomic, so it may be used and
// dropped from any thread.
unsafe impl Send for SharedPage {}
// SAFETY: as above: concurrent accesses are volatile or atomic, never through references.
unsafe impl Sync for SharedPage {}

impl SharedPage {
    /// Allocates a zeroed page.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: `rhv_page_alloc` has no preconditions; it returns null on failure.
        let raw = unsafe { bindings::rhv_page_alloc() };
        let ptr = NonNull::new(raw.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: a fresh page from `rhv_page_alloc`.
        Ok(Self { ptr })
    }

    /// Guest physical address of the page, as the host is told it.
    pub(crate) fn gpa(&self) -> u64 {
        // SAFETY: `ptr` is a directly mapped kernel page (type invariant).
        unsafe { bindings::rhv_virt_to_phys(self.ptr.as_ptr().cast()) }
    }

    /// A pointer to the `T` at `offset`, checked to be in the page and aligned.
    fn at<T>(&self, offset: usize) -> *mut T {
        let end = offset + core::mem::size_of::<T>();
        // PANIC: callers pass constant offsets inside the page; a violation is a bug here.
        assert!(end <= HV_PAGE_SIZE && offset % core::mem::align_of::<T>() == 0);
        // SAFETY: `offset` is inside the page (checked above).
        unsafe { self.ptr.as_ptr().add(offset).cast::<T>() }
    }

    /// Volatile read of the byte at `offset`.
    pub(crate) fn read_u8(&self, offset: usize) -> u8 {
        // SAFETY: in-bounds pointer into the owned page; the host may write concurrently,
        // which a volatile read tolerates.
        unsafe { self.at::<u8>(offset).read_volatile() }
    }

    /// Volatile read of the u64 at `offset`.
    pub(crate) fn read_u64(&self, offset: usize) -> u64 {
        // SAFETY: in-bounds, aligned pointer into the owned page; volatile as above.
        unsafe { self.at::<u64>(offset).read_volatile() }
    }

    /// Volatile write of the u64 at `offset`.
    pub(crate) fn write_u64(&self, offset: usize, value: u64) {
        // SAFETY: in-bounds, aligned pointer into the owned page; the host may read
        // concurrently, which a volatile write tolerates.
        unsafe { self.at::<u64>(offset).write_volatile(value) }
    }

    /// Page frame number (4 KiB units) of the page, as GPADLs name it.
    pub(crate) fn pfn(&self) -> u64 {
        self.gpa() >> 12
    }

    /// The u32 at `offset` as an atomic.
    pub(crate) fn atomic_u32(&self, offset: usize) -> &Atomic<u32> {
        // SAFETY: in-bounds, aligned pointer into the page that lives as long as `self`; every
        // guest access to it is atomic, and the host's are those of another CPU.
        unsafe { Atomic::from_ptr(self.at::<u32>(offset)) }
    }

    /// The u64 at `offset` as an atomic.
    pub(crate) fn atomic_u64(&self, offset: usize) -> &Atomic<u64> {
        // SAFETY: as for `atomic_u32`.
        unsafe { Atomic::from_ptr(self.at::<u64>(offset)) }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: the page came from `rhv_page_alloc` and is freed once (type invariant).
        unsafe { bindings::rhv_page_free(self.ptr.as_ptr().cast()) };
    }
}

/// Several pages shared with the host as one buffer (a ring, a GPADL): byte offsets run
/// through the pages in order. They need not be physically contiguous: the host sees them
/// through their PFN list.
pub(crate) struct SharedPages {
    pages: KVec<SharedPage>,
    leak: Atomic<bool>,
}

impl SharedPages {
    /// Allocates `count` zeroed pages.
    pub(crate) fn new(count: usize) -> Result<Self> {
        let mut pages = KVec::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            pages.push(SharedPage::new()?, GFP_KERNEL)?;
        }
        Ok(Self {
            pages,
            leak: Atomic::new(false),
        })
    }

    /// Number of pages.
    pub(crate) fn count(&self) -> usize {
        self.pages.len()
    }

    /// Size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.pages.len() * HV_PAGE_SIZE
    }

    /// Page `i`.
    pub(crate) fn page(&self, i: usize) -> Option<&SharedPage> {
        self.pages.get(i)
    }

    /// PFNs of the pages, in buffer order.
    pub(crate) fn pfns(&self) -> impl Iterator<Item = u64> + '_ {
        self.pages.iter().map(SharedPage::pfn)
    }

    fn locate(&self, offset: usize) -> Result<(&SharedPage, usize)> {
        let page = self.pages.get(offset / HV_PAGE_SIZE).ok_or(EINVAL)?;
        Ok((page, offset % HV_PAGE_SIZE))
    }

    /// Volatile read of the 8-byte-aligned u64 at `offset`.
    pub(crate) fn read_u64(&self, offset: usize) -> Result<u64> {
        if offset % 8 != 0 {
            return Err(EINVAL);
        }
        let (page, at) = self.locate(offset)?;
        Ok(page.read_u64(at))
    }

    /// Volatile write of the 8-byte-aligned u64 at `offset`.
    pub(crate) fn write_u64(&self, offset: usize, value: u64) -> Result {
        if offset % 8 != 0 {
            return Err(EINVAL);
        }
        let (page, at) = self.locate(offset)?;
        page.write_u64(at, value);
        Ok(())
    }

    /// Copies `out.len()` bytes starting at the 8-byte-aligned `offset` out of the buffer.
    pub(crate) fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        let end = offset.checked_add(out.len()).ok_or(EINVAL)?;
        if end > self.len() {
            return Err(EINVAL);
        }
        for (i, chunk) in out.chunks_mut(8).enumerate() {
            let word = self.read_u64(offset + 8 * i)?.to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(word) {
                *d = s;
            }
        }
        Ok(())
    }

    /// Copies `bytes` into the buffer at the 8-byte-aligned `offset`; a partial last word is
    /// padded with zeros.
    pub(crate) fn write(&self, offset: usize, bytes: &[u8]) -> Result {
        let end = offset.checked_add(bytes.len()).ok_or(EINVAL)?;
        if end > self.len() {
            return Err(EINVAL);
        }
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            for (d, s) in word.iter_mut().zip(chunk) {
                *d = *s;
            }
            self.write_u64(offset + 8 * i, u64::from_le_bytes(word))?;
        }
        Ok(())
    }

    /// Makes dropping this value give up the pages without freeing them: for pages the host
    /// may still use because it never confirmed that it let go of them. Counted once in
    /// `leaked_gpadl_pages`.
    pub(crate) fn leak_on_drop(&self) {
        if !self
            .leak
            .xchg(true, kernel::sync::atomic::ordering::Relaxed)
        {
            // CAST: a page count, far below u64::MAX.
            crate::counters::count(
                &crate::counters::LEAKED_GPADL_PAGES,
                self.pages.len() as u64,
            );
        }
    }
}

impl Drop for SharedPages {
    fn drop(&mut self) {
        if self.leak.load(kernel::sync::atomic::ordering::Relaxed) {
            while let Some(page) = self.pages.pop() {
                core::mem::forget(page);
            }
        }
    }
}
