// SPDX-License-Identifier: GPL-2.0
//! GPADLs (guest physical address descriptor lists): buffers of guest pages the host may
//! access, named by a handle. Establishing sends GPADL_HEADER and as many GPADL_BODY messages
//! as the page list needs (`proto::gpadl`), then waits for GPADL_CREATED; tearing down sends
//! GPADL_TEARDOWN and waits for GPADL_TORNDOWN (the C driver's `vmbus_establish_gpadl()` and
//! `vmbus_teardown_gpadl()` in `drivers/hv/channel.c`).
//!
//! Pages the host never confirmed it let go of are leaked rather than freed: the host could
//! still write to them. That covers a creation whose answer never came (timed out, interrupted,
//! rescinded: `proto::gpadl::pages_after_creation`) and a teardown the host did not confirm
//! (timed out, interrupted, or cut short by the channel's rescind while the GPADL was still the
//! host's: `proto::gpadl::pages_after_teardown`); each leak is logged (rate-limited) and
//! counted in `/sys/bus/vmbus/leaked_gpadl_pages`.

use crate::connection::{Connection, Expect};
use crate::platform::hooks::ratelimit;
use crate::platform::page::SharedPages;
use crate::proto::gpadl::{
    creation_outcome, pages_after_creation, pages_after_teardown, GpadlMessages, PagesFate,
    TeardownOutcome,
};
use crate::proto::vmbus::{
    parse, GpadlCreated, GpadlTeardown, MessageHeader, MessageType, MAX_MESSAGE_SIZE,
};
use crate::sysfs::DeviceInfo;
use core::cell::Cell;
use kernel::prelude::*;
use kernel::sync::Arc;
use zerocopy::IntoBytes;

/// How long the host may take to answer GPADL_HEADER or GPADL_TEARDOWN.
const GPADL_TIMEOUT_MS: u32 = 10_000;

impl Connection {
    /// Describes `pages` to the host as a GPADL of channel `relid`; returns its handle.
    ///
    /// If the host may have taken the pages without the guest learning the outcome (the wait
    /// timed out, was interrupted or ended by a rescind, or the answer was malformed), the
    /// pages are marked to be leaked, not freed, when the caller drops them.
    pub(crate) fn establish_gpadl(&self, relid: u32, pages: &SharedPages) -> Result<u32> {
        let mut pfns = KVec::with_capacity(pages.count(), GFP_KERNEL)?;
        for pfn in pages.pfns() {
            pfns.push(pfn, GFP_KERNEL)?;
        }
        let handle = self.next_gpadl_handle();
        let expect = Expect::keyed(MessageType::GpadlCreated, handle, relid);
        let plan = GpadlMessages::new(relid, handle, &pfns).map_err(|_| EINVAL)?;
        let posted = Cell::new(false);
        let answer = self.request_with(expect, GPADL_TIMEOUT_MS, |post| {
            let mut m = [0u8; MAX_MESSAGE_SIZE];
            let mut plan = plan.clone();
            while let Some(len) = plan.next_message(&mut m) {
                post(&m[..len])?;
                posted.set(true);
            }
            Ok(())
        });
        let status = answer.as_ref().ok().and_then(|a| {
            parse::<GpadlCreated>(a.bytes())
                .ok()
                .map(|(created, _)| created.creation_status)
        });
        match pages_after_creation(creation_outcome(posted.get(), status)) {
            PagesFate::TearDown => Ok(handle),
            PagesFate::Free => {
                if let Some(status) = status {
                    if ratelimit() {
                        pr_warn!(
                            "channel {}: the host refused GPADL {:#x}: status {:#x}\n",
                            relid,
                            handle,
                            status
                        );
                    }
                    return Err(EIO);
                }
                answer.map(|_| handle)
            }
            PagesFate::Leak => {
                pages.leak_on_drop();
                if ratelimit() {
                    pr_warn!(
                        "channel {}: GPADL {:#x} unanswered ({:?}); leaking its {} pages\n",
                        relid,
                        handle,
                        answer.as_ref().err(),
                        pages.count()
                    );
                }
                Err(answer.err().unwrap_or(EPROTO))
            }
        }
    }

    /// Asks the host to let go of GPADL `handle` of channel `relid` and waits until it has.
    pub(crate) fn teardown_gpadl(&self, relid: u32, handle: u32) -> Result {
        let m = GpadlTeardown {
            header: MessageHeader::new(MessageType::GpadlTeardown),
            child_relid: relid,
            gpadl: handle,
        };
        let expect = Expect::keyed(MessageType::GpadlTorndown, handle, relid);
        self.request_with(expect, GPADL_TIMEOUT_MS, |post| post(m.as_bytes()))?;
        Ok(())
    }
}

/// Tears down GPADL `handle` over `pages`; if the host may still use them, marks them to be
/// leaked instead of freed when they are dropped. A channel rescinded before the teardown has
/// its GPADLs released by the host, and so are all GPADLs after UNLOAD: nothing to send then.
/// A rescind that arrives while the teardown waits for its answer (`ENODEV`) does not say the
/// host let go of the GPADL: its pages are leaked.
pub(crate) fn release(conn: &Connection, info: &DeviceInfo, handle: u32, pages: &SharedPages) {
    let relid = info.offer().relid;
    let (outcome, error) = if info.is_rescinded() || !conn.is_connected() {
        (TeardownOutcome::NotNeeded, None)
    } else {
        match conn.teardown_gpadl(relid, handle) {
            Ok(()) => (TeardownOutcome::Confirmed, None),
            // Unloaded before the request went out.
            Err(ENOTCONN) => (TeardownOutcome::NotNeeded, None),
            Err(e) => (TeardownOutcome::Unconfirmed, Some(e)),
        }
    };
    if pages_after_teardown(outcome) == PagesFate::Leak {
        if ratelimit() {
            pr_warn!(
                "channel {}: GPADL {:#x} not torn down ({:?}); leaking its {} pages\n",
                relid,
                handle,
                error,
                pages.count()
            );
        }
        pages.leak_on_drop();
    }
}

/// A buffer of pages shared with the host through a GPADL of a device's primary channel (for
/// a driver's receive or send buffer). Torn down when dropped.
pub struct GpadlBuffer {
    conn: Arc<Connection>,
    info: Arc<DeviceInfo>,
    handle: u32,
    pages: Option<SharedPages>,
}

impl GpadlBuffer {
    pub(crate) fn new(conn: Arc<Connection>, info: Arc<DeviceInfo>, pages: usize) -> Result<Self> {
        let shared = SharedPages::new(pages)?;
        let handle = conn.establish_gpadl(info.offer().relid, &shared)?;
        Ok(Self {
            conn,
            info,
            handle,
            pages: Some(shared),
        })
    }

    /// The GPADL handle the device protocol passes to the host.
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// Size in bytes.
    #[inline(never)]
    pub fn len(&self) -> usize {
        self.pages.as_ref().map_or(0, |p| p.len())
    }

    /// Whether the buffer has no pages (never true for an established GPADL).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies bytes out of the buffer, starting at the 8-byte-aligned `offset`. The host may
    /// change the buffer at any time: the copy is all the caller can rely on.
    #[inline(never)]
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        self.pages.as_ref().ok_or(ENODEV)?.read(offset, out)
    }

    /// Copies `bytes` into the buffer at the 8-byte-aligned `offset`.
    #[inline(never)]
    pub fn write(&self, offset: usize, bytes: &[u8]) -> Result {
        self.pages.as_ref().ok_or(ENODEV)?.write(offset, bytes)
    }

    /// PFN of page `i` (for GPA-direct packets that point into the buffer).
    #[inline(never)]
    pub fn pfn(&self, i: usize) -> Option<u64> {
        self.pages.as_ref()?.page(i).map(|p| p.pfn())
    }
}

impl Drop for GpadlBuffer {
    fn drop(&mut self) {
        if let Some(pages) = self.pages.take() {
            release(&self.conn, &self.info, self.handle, &pages);
        }
    }
}
