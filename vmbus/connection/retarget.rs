// SPDX-License-Identifier: GPL-2.0
//! Moving an open channel's interrupts to another CPU with MODIFYCHANNEL (VMBus 4.1 and
//! newer; from 5.3 on the host confirms with MODIFYCHANNEL_RESPONSE), for the sysfs
//! `channels/<relid>/cpu` attribute and for a CPU going offline. The C counterparts are
//! `vmbus_channel_set_cpu()` (`vmbus_drv.c`), `vmbus_send_modifychannel()` (`channel.c`) and
//! `hv_synic_cleanup()` (`hv.c`), whose rules this follows: before 5.3 nothing says when the
//! host has moved the channel, so a CPU that channels still target may not go offline
//! (`EBUSY`); from 5.3 on they are moved to the connect CPU first.
//!
//! Moves are serialised by `retarget`, which closing a channel also takes around
//! CLOSECHANNEL, so the host never sees MODIFYCHANNEL for a channel already closed. Callers
//! hold the CPU hotplug lock (sysfs takes it for reading, the offline callback runs under it),
//! so the CPU chosen stays online.

use super::*;
use crate::proto::negotiate::{channel_moves, ChannelMoves};
use crate::proto::vmbus::{ModifyChannel, ModifyChannelResponse, STATUS_SUCCESS};

/// How long the host may take to answer MODIFYCHANNEL (5.3+).
const MODIFY_TIMEOUT_MS: u32 = 10_000;

impl Connection {
    /// Moves the open channel `info` to `cpu` (sysfs `cpu`). The caller holds the CPU hotplug
    /// lock. `EIO` for a channel that is not open or a version without MODIFYCHANNEL, or if
    /// the host refused; `EINVAL` for a CPU that is not online.
    pub(crate) fn set_channel_cpu(&self, info: &DeviceInfo, cpu: u32) -> Result {
        let moves = channel_moves(self.version.load(ordering::Acquire));
        if moves == ChannelMoves::Unsupported {
            return Err(EIO);
        }
        let target = if cpu < crate::platform::nr_cpu_ids() {
            CpuId::from_u32(cpu)
        } else {
            None
        };
        let target = target.ok_or(EINVAL)?;
        if !crate::platform::cpu_online(target) {
            return Err(EINVAL);
        }
        let _moving = self.retarget.lock();
        self.retarget_locked(info, target, moves)
    }

    /// Moves every open channel that targets `cpu` away from it; `cpu` is about to go
    /// offline. `EBUSY` if one cannot be moved safely.
    pub(crate) fn move_channels_off(&self, cpu: CpuId) -> Result {
        let moves = channel_moves(self.version.load(ordering::Acquire));
        if !self.connected() {
            return Ok(());
        }
        let _moving = self.retarget.lock();
        for relid in 0..MAX_CHANNEL_RELIDS {
            let Some(channel) = self.attached(relid) else {
                continue;
            };
            let info = channel.info();
            if info.target_cpu() != cpu.as_u32() || !info.is_open() || info.is_rescinded() {
                continue;
            }
            if moves != ChannelMoves::Confirmed {
                if ratelimit() {
                    pr_info!(
                        "CPU {} stays online: channel {} targets it and VMBus before 5.3 cannot \
                         confirm a move\n",
                        cpu.as_u32(),
                        relid
                    );
                }
                return Err(EBUSY);
            }
            if let Err(e) = self.retarget_locked(info, self.connect_cpu, moves) {
                if ratelimit() {
                    pr_warn!(
                        "CPU {} stays online: channel {} could not be moved: {:?}\n",
                        cpu.as_u32(),
                        relid,
                        e
                    );
                }
                return Err(EBUSY);
            }
        }
        Ok(())
    }

    /// The open channel of `relid`, if any.
    fn attached(&self, relid: u32) -> Option<Arc<Channel>> {
        self.open
            .lock()
            .get(relid as usize)
            .and_then(|c| c.as_ref().cloned())
    }

    /// Sends MODIFYCHANNEL for `info` and, from 5.3 on, waits for the host's answer; `retarget`
    /// is held.
    fn retarget_locked(&self, info: &DeviceInfo, target: CpuId, moves: ChannelMoves) -> Result {
        let relid = info.offer().relid;
        if self.attached(relid).is_none() || !info.is_open() || info.is_rescinded() {
            return Err(EIO);
        }
        if info.target_cpu() == target.as_u32() {
            return Ok(());
        }
        let m = ModifyChannel {
            header: MessageHeader::new(MessageType::ModifyChannel),
            child_relid: relid,
            target_vp: hypercall::vp_index(target),
        };
        if moves == ChannelMoves::Confirmed {
            let expect = Expect::keyed(MessageType::ModifyChannelResponse, relid, relid);
            let answer = self
                .request_with(expect, MODIFY_TIMEOUT_MS, |post| post(m.as_bytes()))
                .map_err(|e| {
                    if ratelimit() {
                        pr_warn!("channel {}: MODIFYCHANNEL got no answer: {:?}\n", relid, e);
                    }
                    EIO
                })?;
            let (r, _) = parse::<ModifyChannelResponse>(answer.bytes()).map_err(|_| EIO)?;
            if r.status != STATUS_SUCCESS {
                if ratelimit() {
                    pr_warn!(
                        "channel {}: the host refused to move it to CPU {}: status {:#x}\n",
                        relid,
                        target.as_u32(),
                        { r.status }
                    );
                }
                return Err(EIO);
            }
        } else if moves == ChannelMoves::Unconfirmed {
            self.post_message(m.as_bytes()).map_err(|_| EIO)?;
        } else {
            return Err(EIO);
        }
        info.set_target_cpu(target.as_u32());
        Ok(())
    }

    /// Holds off channel moves while a channel is being closed.
    pub(crate) fn lock_retarget(&self) -> kernel::sync::MutexGuard<'_, ()> {
        self.retarget.lock()
    }
}
