// SPDX-License-Identifier: GPL-2.0
//! The thin safe layer over the SCSI midlayer (through `shim.c`): a [`ScsiHost`] the driver
//! allocates, adds and removes; a [`HostHandle`] for the channel handlers (rescans, and
//! finding a command by the id the host echoes); a [`Command`] the midlayer queued, with what
//! the SRB needs of it, its data as one page range, and its completion. The only `unsafe` of
//! `rhv_storvsc`, with the two C → Rust entry points of the host template.

use crate::controller::{Controller, QueueStatus};
use core::marker::{PhantomData, PhantomPinned};
use core::ptr::NonNull;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};

mod ffi {
    use super::*;

    /// `struct Scsi_Host`, opaque.
    #[repr(C)]
    pub(super) struct ScsiHostRaw {
        _opaque: [u8; 0],
        _marker: PhantomData<(*mut u8, PhantomPinned)>,
    }

    /// `struct scsi_cmnd`, opaque.
    #[repr(C)]
    pub(super) struct ScsiCmndRaw {
        _opaque: [u8; 0],
        _marker: PhantomData<(*mut u8, PhantomPinned)>,
    }

    /// `struct rhv_storvsc_cmd_info` of `shim.h` (the shim asserts the layout).
    #[repr(C)]
    #[derive(Default)]
    pub(super) struct CmdInfo {
        pub(super) cdb: [u8; 16],
        pub(super) cdb_len: u8,
        pub(super) channel: u8,
        pub(super) target: u8,
        pub(super) lun: u8,
        pub(super) direction: u8,
        pub(super) flags: u8,
        pub(super) hwq: u16,
        pub(super) unique_tag: u32,
        pub(super) length: u32,
    }
    const _: () = assert!(core::mem::size_of::<CmdInfo>() == 32);
    const _: () = assert!(core::mem::offset_of!(CmdInfo, unique_tag) == 24);

    /// `struct rhv_storvsc_limits` of `shim.h`.
    #[repr(C)]
    pub(super) struct Limits {
        pub(super) nr_hw_queues: u32,
        pub(super) can_queue: u32,
        pub(super) max_sectors: u32,
        pub(super) sg_tablesize: u32,
        pub(super) protocol_version: u32,
    }
    const _: () = assert!(core::mem::size_of::<Limits>() == 20);

    extern "C" {
        pub(super) fn rhv_storvsc_host_alloc() -> *mut ScsiHostRaw;
        pub(super) fn rhv_storvsc_host_add(
            host: *mut ScsiHostRaw,
            parent: *mut c_void,
            ctx: *const c_void,
            limits: *const Limits,
        ) -> c_int;
        pub(super) fn rhv_storvsc_host_remove(host: *mut ScsiHostRaw);
        pub(super) fn rhv_storvsc_host_put(host: *mut ScsiHostRaw);
        pub(super) fn rhv_storvsc_host_no(host: *mut ScsiHostRaw) -> u32;
        pub(super) fn rhv_storvsc_schedule_scan(host: *mut ScsiHostRaw);
        pub(super) fn rhv_storvsc_schedule_lun_work(
            host: *mut ScsiHostRaw,
            target: u8,
            lun: u8,
            remove: bool,
        );
        pub(super) fn rhv_storvsc_find_cmd(host: *mut ScsiHostRaw, tag: u32) -> *mut ScsiCmndRaw;
        pub(super) fn rhv_storvsc_wait_host_commands(host: *mut ScsiHostRaw);
        pub(super) fn rhv_storvsc_count_dropped(host: *mut ScsiHostRaw);
        pub(super) fn rhv_storvsc_cmd_info(cmd: *mut ScsiCmndRaw, info: *mut CmdInfo);
        pub(super) fn rhv_storvsc_cmd_map(
            cmd: *mut ScsiCmndRaw,
            offset: *mut u32,
            len: *mut u32,
            pfns: *mut *const u64,
        ) -> c_int;
        pub(super) fn rhv_storvsc_cmd_arm(cmd: *mut ScsiCmndRaw) -> u32;
        pub(super) fn rhv_storvsc_cmd_disarm(cmd: *mut ScsiCmndRaw, generation: u32) -> bool;
        pub(super) fn rhv_storvsc_cmd_complete(
            cmd: *mut ScsiCmndRaw,
            host_byte: u8,
            status: u8,
            sense: *const u8,
            sense_len: u32,
            resid: u32,
        );
        pub(super) fn rhv_storvsc_online_cpus() -> u32;
        pub(super) fn rhv_storvsc_nth_online_cpu(n: u32) -> c_int;
        pub(super) fn rhv_storvsc_ratelimit() -> bool;
    }
}

/// `RHV_STORVSC_CMD_TAGGED` of `shim.h`.
const CMD_TAGGED: u8 = 0x01;
/// `RHV_STORVSC_CMD_LAST` of `shim.h`.
const CMD_LAST: u8 = 0x02;

/// `SCSI_MLQUEUE_HOST_BUSY`.
const MLQUEUE_HOST_BUSY: c_int = 0x1055;
/// `SCSI_MLQUEUE_DEVICE_BUSY`.
const MLQUEUE_DEVICE_BUSY: c_int = 0x1056;

/// Whether a complaint about the host may be logged now (one limit for the module).
pub(crate) fn ratelimit() -> bool {
    // SAFETY: no preconditions; the rate limit state is static and has its own lock.
    unsafe { ffi::rhv_storvsc_ratelimit() }
}

/// How many CPUs are online.
pub(crate) fn online_cpus() -> u32 {
    // SAFETY: no preconditions.
    unsafe { ffi::rhv_storvsc_online_cpus() }
}

/// The `n`th online CPU, if there are that many.
pub(crate) fn nth_online_cpu(n: u32) -> Option<kernel::cpu::CpuId> {
    // SAFETY: no preconditions.
    let cpu = unsafe { ffi::rhv_storvsc_nth_online_cpu(n) };
    kernel::cpu::CpuId::from_u32(u32::try_from(cpu).ok()?)
}

/// The limits of a host.
pub(crate) struct HostLimits {
    /// Hardware queues (one per channel).
    pub(crate) nr_hw_queues: u32,
    /// Commands per hardware queue.
    pub(crate) can_queue: u32,
    /// Largest command, in 512-byte sectors.
    pub(crate) max_sectors: u32,
    /// Most scatter-gather segments of a command.
    pub(crate) sg_tablesize: u32,
    /// The agreed VSTOR protocol version.
    pub(crate) protocol_version: u16,
}

/// A SCSI host of the midlayer, allocated by [`ScsiHost::new`] and released when dropped
/// (after [`ScsiHost::remove`], which dropping also does if needed).
///
/// # Invariants
///
/// `raw` is a host from `rhv_storvsc_host_alloc` on which `rhv_storvsc_host_put` has not
/// been called; `added` says whether `rhv_storvsc_host_add` succeeded and no
/// `rhv_storvsc_host_remove` followed.
pub(crate) struct ScsiHost {
    raw: NonNull<ffi::ScsiHostRaw>,
    added: Atomic<bool>,
}

// SAFETY: the midlayer's host may be used from any thread.
unsafe impl Send for ScsiHost {}
// SAFETY: the methods taking `&self` are safe to call concurrently (the midlayer locks).
unsafe impl Sync for ScsiHost {}

impl ScsiHost {
    /// Allocates a host of the driver's template (not visible until [`ScsiHost::add`]).
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: no preconditions.
        let raw = NonNull::new(unsafe { ffi::rhv_storvsc_host_alloc() }).ok_or(ENOMEM)?;
        // INVARIANT: freshly allocated, not added.
        Ok(Self {
            raw,
            added: Atomic::new(false),
        })
    }

    /// The host number (`hostN` in sysfs).
    pub(crate) fn number(&self) -> u32 {
        // SAFETY: `raw` is a live host (type invariant).
        unsafe { ffi::rhv_storvsc_host_no(self.raw.as_ptr()) }
    }

    /// A handle for the channel handlers.
    pub(crate) fn handle(&self) -> HostHandle {
        HostHandle { raw: self.raw }
    }

    /// Sets the limits, adds the host under `parent` and starts the scan of its bus; from
    /// here on the midlayer calls `ctrl` to queue commands and to reset.
    ///
    /// # Safety
    ///
    /// `ctrl` stays valid, at the same address, until [`ScsiHost::remove`] returns or `self`
    /// is dropped.
    pub(crate) unsafe fn add(
        &self,
        parent: &kernel::device::Device,
        ctrl: *const Controller,
        limits: &HostLimits,
    ) -> Result {
        let raw_limits = ffi::Limits {
            nr_hw_queues: limits.nr_hw_queues,
            can_queue: limits.can_queue,
            max_sectors: limits.max_sectors,
            sg_tablesize: limits.sg_tablesize,
            protocol_version: u32::from(limits.protocol_version),
        };
        // CAST: `kernel::device::Device` is a transparent wrapper of `struct device`.
        let parent = core::ptr::from_ref(parent).cast_mut().cast();
        // SAFETY: `raw` is a live host; `parent` is a registered device that outlives the
        // host (it is its driver's device); `ctrl` is valid as long as the host is added
        // (the function's contract); `raw_limits` is read during the call only.
        kernel::error::to_result(unsafe {
            ffi::rhv_storvsc_host_add(self.raw.as_ptr(), parent, ctrl.cast(), &raw_limits)
        })?;
        self.added.store(true, ordering::Release);
        Ok(())
    }

    /// Removes the host and its devices: no command is queued after this returns.
    pub(crate) fn remove(&self) {
        if self.added.xchg(false, ordering::Acquire) {
            // SAFETY: the host was added and not removed yet (checked just above).
            unsafe { ffi::rhv_storvsc_host_remove(self.raw.as_ptr()) };
        }
    }
}

impl Drop for ScsiHost {
    fn drop(&mut self) {
        self.remove();
        // SAFETY: `raw` is live and not added; nothing uses it after this.
        unsafe { ffi::rhv_storvsc_host_put(self.raw.as_ptr()) };
    }
}

/// The host as the channel handlers see it.
///
/// # Invariants
///
/// Used only while the host is allocated: the channels whose handlers hold it are closed
/// before the [`ScsiHost`] is dropped.
#[derive(Clone, Copy)]
pub(crate) struct HostHandle {
    raw: NonNull<ffi::ScsiHostRaw>,
}

// SAFETY: the functions called through the handle may be called from any thread.
unsafe impl Send for HostHandle {}
// SAFETY: as above; they lock what they change.
unsafe impl Sync for HostHandle {}

impl HostHandle {
    /// Schedules a rescan of the bus (test every LUN, then scan for new ones). Ignored
    /// before the host is added and once its removal started. Any context.
    pub(crate) fn schedule_scan(&self) {
        // SAFETY: the host is allocated (type invariant).
        unsafe { ffi::rhv_storvsc_schedule_scan(self.raw.as_ptr()) }
    }

    /// Schedules the removal (or the rescan) of one logical unit. Any context.
    pub(crate) fn schedule_lun_work(&self, target: u8, lun: u8, remove: bool) {
        // SAFETY: the host is allocated (type invariant).
        unsafe { ffi::rhv_storvsc_schedule_lun_work(self.raw.as_ptr(), target, lun, remove) }
    }

    /// Takes back the command the host completes under `tag` and `generation`: `None`
    /// unless a started command has that tag and is with the host under that generation.
    /// Succeeds once per sending.
    pub(crate) fn take_command(&self, tag: u32, generation: u32) -> Option<Command> {
        // SAFETY: the host is allocated; the shim bounds-checks the tag.
        let raw = NonNull::new(unsafe { ffi::rhv_storvsc_find_cmd(self.raw.as_ptr(), tag) })?;
        // SAFETY: `raw` is a started command of this host, so its private data is ours.
        if unsafe { ffi::rhv_storvsc_cmd_disarm(raw.as_ptr(), generation) } {
            // INVARIANT: it was with the host and now is ours alone, not completed.
            Some(Command { raw })
        } else {
            None
        }
    }

    /// Counts a completion from the host that named no command it held (shown in
    /// `/sys/class/scsi_host/hostN/dropped_completions`). Any context.
    pub(crate) fn count_dropped(&self) {
        // SAFETY: the host is allocated (type invariant); the counter is atomic.
        unsafe { ffi::rhv_storvsc_count_dropped(self.raw.as_ptr()) }
    }

    /// Sleeps until the host has given back every command sent to it, however long that
    /// takes (the host answers every command; its latency is unbounded).
    pub(crate) fn wait_host_commands(&self) {
        // SAFETY: the host is allocated; the shim only walks its started commands.
        unsafe { ffi::rhv_storvsc_wait_host_commands(self.raw.as_ptr()) };
    }
}

/// The data of a command as one page range.
pub(crate) struct PageRange<'a> {
    /// Offset of the data in the first page.
    pub(crate) offset: u32,
    /// Bytes of data.
    pub(crate) len: u32,
    /// The 4 KiB pages, in order.
    pub(crate) pfns: &'a [u64],
}

/// What the driver reads of a command.
pub(crate) struct CommandInfo {
    /// The CDB.
    pub(crate) cdb: [u8; 16],
    /// Bytes of the CDB.
    pub(crate) cdb_len: u8,
    /// Path, target, LUN.
    pub(crate) address: (u8, u8, u8),
    /// 0 to the device, 1 from it, 2 none, 3 anything else.
    pub(crate) direction: u8,
    /// Whether the device does tagged queueing.
    pub(crate) tagged: bool,
    /// Whether the command ends the block layer's batch: the host must be signalled for it
    /// and the commands before it now (otherwise `commit_rqs` or a later command does).
    pub(crate) last: bool,
    /// The hardware queue the command came on.
    pub(crate) hwq: u16,
    /// The tag, unique in the host.
    pub(crate) unique_tag: u32,
    /// Bytes of data.
    pub(crate) length: u32,
}

/// A command the midlayer gave the driver; not completed yet.
///
/// # Invariants
///
/// `raw` is a command of the midlayer that is started, owned by the driver (queued to it and
/// not with the host, or taken back from the host) and not completed.
pub(crate) struct Command {
    raw: NonNull<ffi::ScsiCmndRaw>,
}

impl Command {
    /// What the SRB needs of the command.
    pub(crate) fn info(&self) -> CommandInfo {
        let mut c = ffi::CmdInfo::default();
        // SAFETY: `raw` is a live command (type invariant); `c` is valid for writes.
        unsafe { ffi::rhv_storvsc_cmd_info(self.raw.as_ptr(), &mut c) };
        CommandInfo {
            cdb: c.cdb,
            cdb_len: c.cdb_len,
            address: (c.channel, c.target, c.lun),
            direction: c.direction,
            tagged: c.flags & CMD_TAGGED != 0,
            last: c.flags & CMD_LAST != 0,
            hwq: c.hwq,
            unique_tag: c.unique_tag,
            length: c.length,
        }
    }

    /// The command's data as one page range (in its private data).
    pub(crate) fn pages(&self) -> Result<PageRange<'_>> {
        let (mut offset, mut len, mut pfns) = (0u32, 0u32, core::ptr::null::<u64>());
        // SAFETY: `raw` is a live command; the out-pointers are valid for writes.
        let n = unsafe {
            ffi::rhv_storvsc_cmd_map(self.raw.as_ptr(), &mut offset, &mut len, &mut pfns)
        };
        let n = usize::try_from(n).map_err(|_| Error::from_errno(n))?;
        if pfns.is_null() || n == 0 {
            return Err(EINVAL);
        }
        // SAFETY: the shim wrote `n` PFNs at `pfns`, in the command's private data, which
        // nothing else writes while the driver owns the command (the borrow of `self`).
        let pfns = unsafe { core::slice::from_raw_parts(pfns, n) };
        Ok(PageRange { offset, len, pfns })
    }

    /// Marks the command as with the host; returns the generation to send it under.
    pub(crate) fn arm(&self) -> u32 {
        // SAFETY: `raw` is a live command owned by the driver.
        unsafe { ffi::rhv_storvsc_cmd_arm(self.raw.as_ptr()) }
    }

    /// Takes the command back after its sending failed; `false` if the host completed it
    /// meanwhile (then it is no longer the caller's).
    pub(crate) fn disarm(&self, generation: u32) -> bool {
        // SAFETY: `raw` is a live command.
        unsafe { ffi::rhv_storvsc_cmd_disarm(self.raw.as_ptr(), generation) }
    }

    /// Completes the command with the host byte, the status byte, sense data and the
    /// residual byte count.
    pub(crate) fn complete(self, host_byte: u8, status: u8, sense: &[u8], resid: u32) {
        // CAST: sense data is at most a few dozen bytes.
        let sense_len = sense.len().min(u32::MAX as usize) as u32;
        // SAFETY: `raw` is a live, not yet completed command (type invariant), consumed
        // here; `sense` is valid for reads of `sense_len` bytes during the call.
        unsafe {
            ffi::rhv_storvsc_cmd_complete(
                self.raw.as_ptr(),
                host_byte,
                status,
                sense.as_ptr(),
                sense_len,
                resid,
            )
        };
    }
}

/// The template's `queuecommand`.
///
/// # Safety
///
/// Called by the shim only, with the `ctrl` given to [`ScsiHost::add`] (valid while the host
/// is added) and a command queued to the host.
#[no_mangle]
unsafe extern "C" fn rhv_storvsc_rust_queuecommand(
    ctrl: *const c_void,
    cmd: *mut ffi::ScsiCmndRaw,
) -> c_int {
    // SAFETY: per the function's contract.
    let ctrl = unsafe { &*ctrl.cast::<Controller>() };
    let Some(raw) = NonNull::new(cmd) else {
        return MLQUEUE_HOST_BUSY;
    };
    // INVARIANT: queued to the driver, not completed.
    match ctrl.queue_command(Command { raw }) {
        QueueStatus::Accepted => 0,
        QueueStatus::DeviceBusy => MLQUEUE_DEVICE_BUSY,
    }
}

/// The template's `commit_rqs`: the batch of hardware queue `hwq` ended early.
///
/// # Safety
///
/// Called by the shim only, with the `ctrl` given to [`ScsiHost::add`].
#[no_mangle]
unsafe extern "C" fn rhv_storvsc_rust_commit(ctrl: *const c_void, hwq: u16) {
    // SAFETY: per the function's contract.
    let ctrl = unsafe { &*ctrl.cast::<Controller>() };
    ctrl.commit(hwq);
}

/// The template's `eh_host_reset_handler`: 0 if the host was reset.
///
/// # Safety
///
/// Called by the shim only, with the `ctrl` given to [`ScsiHost::add`].
#[no_mangle]
unsafe extern "C" fn rhv_storvsc_rust_host_reset(ctrl: *const c_void) -> c_int {
    // SAFETY: per the function's contract.
    let ctrl = unsafe { &*ctrl.cast::<Controller>() };
    match ctrl.reset_host() {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
