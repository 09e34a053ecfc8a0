// SPDX-License-Identifier: GPL-2.0
//! The socket buffers the stack hands to the driver for sending: their length, pages and
//! fragments, and what they ask of the hardware (checksum, large send). Part of `netdev`, the
//! wrapper layer over netvsc/shim.c.

use super::{ffi, RawSkb};
use core::ptr::NonNull;
use kernel::ffi::c_int;
use kernel::prelude::*;

/// The transport protocol of a frame that asks for a checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// TCP, checksum at offset 16.
    Tcp,
    /// UDP, checksum at offset 6.
    Udp,
    /// Anything else (or an IP layout the host cannot take): checksum in software.
    Other,
}

/// What an skb asks of the hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxOffload {
    /// Nothing: checksums are done.
    None,
    /// A transport checksum to fill in.
    Checksum {
        /// IPv6 (else IPv4).
        ipv6: bool,
        /// The transport protocol.
        transport: Transport,
        /// The transport header's offset in the frame.
        offset: u32,
    },
    /// A TCP large send, headers prepared as NDIS wants them.
    LargeSend {
        /// IPv6 (else IPv4).
        ipv6: bool,
        /// Payload bytes per segment.
        mss: u32,
        /// The TCP header's offset in the frame.
        offset: u32,
    },
}

/// A socket buffer handed to the driver for sending; freed when dropped.
///
/// # Invariants
///
/// `raw` is an skb the driver owns.
pub(crate) struct Skb {
    raw: NonNull<RawSkb>,
}

// SAFETY: an skb the driver owns may be freed or read on any CPU (`dev_kfree_skb_any`).
unsafe impl Send for Skb {}

impl Skb {
    /// Takes ownership of `raw`.
    ///
    /// # Safety
    ///
    /// `raw` is an skb handed over to the driver (as ndo_start_xmit does), owned by nobody
    /// else from now on.
    pub(super) unsafe fn from_raw(raw: NonNull<RawSkb>) -> Self {
        // INVARIANT: the caller hands the skb over.
        Self { raw }
    }

    /// Bytes of the frame.
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: `raw` is owned (invariant).
        unsafe { ffi::rhv_netvsc_skb_len(self.raw.as_ptr()) }
    }

    /// Makes the frame linear and returns the pages it lies in (filled into `pfns`) and its
    /// offset into the first. The pages stay valid while `self` lives.
    pub(crate) fn pages(&mut self, pfns: &mut [u64]) -> Result<(usize, u32)> {
        let max = u32::try_from(pfns.len()).map_err(|_| EINVAL)?;
        let mut offset = 0u32;
        // SAFETY: `raw` is owned; `pfns` is `max` writable words; `offset` a local.
        let n = unsafe {
            ffi::rhv_netvsc_skb_pages(self.raw.as_ptr(), pfns.as_mut_ptr(), max, &mut offset)
        };
        let n = usize::try_from(n).map_err(|_| Error::from_errno(n))?;
        Ok((n, offset))
    }

    /// What the frame asks of the hardware; a large send's headers are prepared for the host
    /// on the way (so this is called once per transmission attempt).
    pub(crate) fn offload(&mut self) -> Result<TxOffload> {
        const CSUM: c_int = 0x1;
        const LSO: c_int = 0x2;
        const IPV6: c_int = 0x4;
        const TCP: c_int = 0x8;
        const UDP: c_int = 0x10;
        let (mut offset, mut mss) = (0u32, 0u32);
        // SAFETY: `raw` is owned (invariant); the out-parameters are locals.
        let r = unsafe { ffi::rhv_netvsc_skb_offload(self.raw.as_ptr(), &mut offset, &mut mss) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        let ipv6 = r & IPV6 != 0;
        Ok(if r & LSO != 0 {
            TxOffload::LargeSend { ipv6, mss, offset }
        } else if r & CSUM != 0 {
            let transport = match r & (TCP | UDP) {
                TCP => Transport::Tcp,
                UDP => Transport::Udp,
                _ => Transport::Other,
            };
            TxOffload::Checksum {
                ipv6,
                transport,
                offset,
            }
        } else {
            TxOffload::None
        })
    }

    /// Fills in the checksum the frame asks for in software.
    pub(crate) fn checksum_in_software(&mut self) -> Result {
        // SAFETY: `raw` is owned (invariant).
        kernel::error::to_result(unsafe { ffi::rhv_netvsc_skb_checksum_help(self.raw.as_ptr()) })
    }

    /// The frame as page ranges without copying (the linear part, then each fragment): the
    /// PFNs in order into `pfns`, each range's (offset into its first page, length, PFN
    /// count) into `ranges`; returns the number of ranges. `EMSGSIZE` when they do not fit
    /// (then [`Skb::pages`] linearises). The pages stay valid while `self` lives.
    pub(crate) fn page_ranges(&self, pfns: &mut [u64], ranges: &mut [[u32; 3]]) -> Result<usize> {
        let max_pfns = u32::try_from(pfns.len()).map_err(|_| EINVAL)?;
        let max_ranges = u32::try_from(ranges.len()).map_err(|_| EINVAL)?;
        // SAFETY: `raw` is owned (invariant); `pfns` is `max_pfns` writable words and `ranges`
        // `3 * max_ranges` writable u32s (an array of `[u32; 3]` is laid out contiguously).
        let n = unsafe {
            ffi::rhv_netvsc_skb_ranges(
                self.raw.as_ptr(),
                pfns.as_mut_ptr(),
                max_pfns,
                ranges.as_mut_ptr().cast(),
                max_ranges,
            )
        };
        let n = usize::try_from(n).map_err(|_| Error::from_errno(n))?;
        // The shim never reports more ranges than it was given room for.
        Ok(n.min(ranges.len()))
    }

    /// Whether the stack hands over more frames right after this one (meaningful inside
    /// ndo_start_xmit, where every `Skb` is handled): the host's interrupt can wait.
    pub(crate) fn xmit_more(&self) -> bool {
        // SAFETY: no preconditions; it reads a per-CPU flag the stack sets around the call.
        unsafe { ffi::rhv_netvsc_xmit_more() }
    }

    /// The raw skb, for the shim's copies (owned by `self` throughout).
    pub(crate) fn as_raw(&self) -> *mut RawSkb {
        self.raw.as_ptr()
    }

    /// Frees the skb of a completed send from a NAPI poll, as consumed (not dropped), its
    /// head going to the CPU's NAPI cache for the next received frame.
    pub(crate) fn consume_in_poll(self) {
        let raw = self.into_raw();
        // SAFETY: owned (invariant), given up by `into_raw`, freed once; the caller runs in a
        // NAPI poll (softirq context).
        unsafe { ffi::rhv_netvsc_skb_consume_napi(raw) }
    }

    /// Gives the skb back to the stack unfreed (NETDEV_TX_BUSY).
    pub(super) fn into_raw(self) -> *mut RawSkb {
        let raw = self.raw.as_ptr();
        core::mem::forget(self);
        raw
    }
}

impl Drop for Skb {
    fn drop(&mut self) {
        // SAFETY: owned (invariant), freed once.
        unsafe { ffi::rhv_netvsc_skb_free(self.raw.as_ptr()) }
    }
}
