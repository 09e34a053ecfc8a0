// SPDX-License-Identifier: GPL-2.0
//! A ring's control words as the C driver's ring debugging files show them (`in_*`/`out_*`
//! of a device, `in_mask`, `out_mask`, `read_avail`, `write_avail` of a channel): the raw
//! indices and mask in the shared control page, and the bytes to read and write they give.
//! Only for display: the ring code itself never trusts these values (see `ring.rs`).

use super::RingLayout;
use crate::platform::page::SharedPages;
use crate::proto::ring::{
    debug_avail, INTERRUPT_MASK_OFFSET, READ_INDEX_OFFSET, WRITE_INDEX_OFFSET,
};
use kernel::prelude::*;
use kernel::sync::atomic::ordering;

/// A snapshot of one ring's control words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RingDebug {
    /// `read_index` as in shared memory.
    pub(crate) read_index: u32,
    /// `write_index` as in shared memory.
    pub(crate) write_index: u32,
    /// `interrupt_mask` as in shared memory.
    pub(crate) interrupt_mask: u32,
    /// Bytes the reader could consume, from the two indices.
    pub(crate) bytes_to_read: u32,
    /// Bytes the writer could fill, from the two indices.
    pub(crate) bytes_to_write: u32,
}

impl RingLayout {
    /// Reads the control words of this ring in `pages`.
    pub(crate) fn debug_info(&self, pages: &SharedPages) -> Result<RingDebug> {
        let load =
            |offset| -> Result<u32> { Ok(self.index(pages, offset)?.load(ordering::Relaxed)) };
        let read_index = load(READ_INDEX_OFFSET)?;
        let write_index = load(WRITE_INDEX_OFFSET)?;
        let (bytes_to_read, bytes_to_write) = debug_avail(read_index, write_index, self.size);
        Ok(RingDebug {
            read_index,
            write_index,
            interrupt_mask: load(INTERRUPT_MASK_OFFSET)?,
            bytes_to_read,
            bytes_to_write,
        })
    }
}

#[kunit_tests(rhv_vmbus_ring_debug)]
mod tests {
    use super::*;

    #[test]
    fn debug_info_reads_the_control_page() -> Result {
        let pages = SharedPages::new(2)?;
        let ring = RingLayout::new(0, 1)?;
        let page = pages.page(0).ok_or(EINVAL)?;
        page.atomic_u32(WRITE_INDEX_OFFSET as usize)
            .store(64, ordering::Relaxed);
        page.atomic_u32(READ_INDEX_OFFSET as usize)
            .store(16, ordering::Relaxed);
        page.atomic_u32(INTERRUPT_MASK_OFFSET as usize)
            .store(1, ordering::Relaxed);
        let d = ring.debug_info(&pages)?;
        assert_eq!(
            d,
            RingDebug {
                read_index: 16,
                write_index: 64,
                interrupt_mask: 1,
                bytes_to_read: 48,
                bytes_to_write: 4096 - 48,
            }
        );
        Ok(())
    }
}
