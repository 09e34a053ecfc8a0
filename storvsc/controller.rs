// SPDX-License-Identifier: GPL-2.0
//! One synthetic SCSI controller: its VMBus channels (the primary and the sub-channels, one
//! per blk-mq hardware queue), the VSTOR initialization on the primary channel
//! (BEGIN_INITIALIZATION, version negotiation, QUERY_PROPERTIES, END_INITIALIZATION,
//! CREATE_SUB_CHANNELS), the I/O path (a queued command → EXECUTE_SRB on the channel of its
//! hardware queue, data named by page range) and the host reset. What comes back on the
//! channels is handled in `packets.rs`.
//!
//! Transaction ids: 0 is the host's for unsolicited packets; bit 63 marks the control
//! requests of the primary channel; an SRB goes out as `generation << 32 | unique tag`, and
//! its completion is accepted only if a started command has that tag and is with the host
//! under that generation, once. Anything else the host sends is logged (rate-limited) and
//! dropped; a completion that does not fit its command fails that command only.

use crate::packets::{ControlSlot, Handler, Shared};
use crate::proto::vstor::{self, DataDirection, Operation, VstorPacket};
use crate::scsi::{self, Command, HostLimits, ScsiHost};
use crate::srb;
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::{new_condvar, new_mutex, new_spinlock_irq, Arc};
use kernel::time::Delta;
use vmbus::{Channel, Device, OpenChannel, OpenParams, PacketHandler};
use zerocopy::IntoBytes;

/// Data bytes of each channel's guest → host ring.
const SEND_RING_SIZE: usize = 256 * 1024;
/// Data bytes of each channel's host → guest ring.
const RECV_RING_SIZE: usize = 128 * 1024;
/// Commands per hardware queue (the send ring holds this many of the largest).
const QUEUE_DEPTH: u32 = 128;
/// How long the host may take to answer a control request.
const CONTROL_TIMEOUT_MS: u32 = 10_000;
/// How long the host may take to answer a bus reset (the C driver's storvsc_timeout).
const RESET_TIMEOUT_MS: u32 = 180_000;
/// How long the sub-channel offers may take to arrive.
const SUBCHANNEL_TIMEOUT_MS: i64 = 5_000;
/// Smallest transfer limit a host may set.
const MIN_TRANSFER: u32 = 4096;
/// Largest transfer the driver describes in one page range (128 pages besides a partial
/// first one; see `RHV_STORVSC_MAX_PFNS` of `shim.h`).
const MAX_TRANSFER: u32 = 512 * 1024;

/// What `queuecommand` tells the midlayer.
pub(crate) enum QueueStatus {
    /// Taken (sent, or completed with an error).
    Accepted,
    /// Try again later (the ring is full).
    DeviceBusy,
}

/// What initialization learnt of the host.
struct HostProperties {
    max_transfer: u32,
    max_subchannels: u16,
}

/// A blk-mq hardware queue: its channel, and whether the host is owed a signal for
/// commands of the current batch (sent without one while more of the batch followed).
struct HwQueue {
    channel: OpenChannel,
    signal_owed: Atomic<bool>,
}

/// A controller bound to a VMBus device.
pub(crate) struct Controller {
    /// Queue `i` is hardware queue `i`; the channels close before the host is released.
    queues: KVec<HwQueue>,
    shared: Arc<Shared>,
    host: ScsiHost,
}

fn open_channel(
    open: impl FnOnce(&OpenParams, KBox<dyn PacketHandler>) -> Result<OpenChannel>,
    shared: &Arc<Shared>,
    index: u32,
) -> Result<OpenChannel> {
    let mut params = OpenParams::new(SEND_RING_SIZE, RECV_RING_SIZE);
    params.target_cpu = scsi::nth_online_cpu(index % scsi::online_cpus().max(1));
    let handler: KBox<dyn PacketHandler> = KBox::new(
        Handler {
            shared: shared.clone(),
        },
        GFP_KERNEL,
    )?;
    open(&params, handler)
}

impl Controller {
    /// Binds to `dev`: opens its channels, initializes the protocol and adds the SCSI host.
    pub(crate) fn probe(dev: &Device<'_>) -> Result<Pin<KBox<Self>>> {
        let host = ScsiHost::new()?;
        let (handle, host_no) = (host.handle(), host.number());
        let shared = Arc::pin_init(
            try_pin_init!(Shared {
                host: handle,
                host_no,
                version: Atomic::new(0),
                control_seq <- new_mutex!(0),
                control <- new_spinlock_irq!(ControlSlot { waiting: 0, answer: None }),
                answered <- new_condvar!(),
            }),
            GFP_KERNEL,
        )?;
        let primary = open_channel(|p, h| dev.open(p, h), &shared, 0)?;
        let props = Self::initialize(&shared, &primary)?;
        let mut channels = KVec::new();
        channels.push(primary, GFP_KERNEL)?;
        Self::open_subchannels(dev, &shared, &mut channels, props.max_subchannels);
        let max_transfer = props.max_transfer;
        let limits = HostLimits {
            // CAST: at most 65 channels.
            nr_hw_queues: channels.len() as u32,
            can_queue: QUEUE_DEPTH,
            max_sectors: max_transfer >> 9,
            sg_tablesize: (max_transfer >> 12) + 1,
            protocol_version: shared.version(),
        };
        let mut queues = KVec::with_capacity(channels.len(), GFP_KERNEL)?;
        for channel in channels {
            queues.push(
                HwQueue {
                    channel,
                    signal_owed: Atomic::new(false),
                },
                GFP_KERNEL,
            )?;
        }
        let ctrl = KBox::new(
            Controller {
                queues,
                shared,
                host,
            },
            GFP_KERNEL,
        )?;
        let ptr: *const Controller = &*ctrl;
        // SAFETY: the controller is boxed (its address stays) and its drop removes the host
        // before anything of it goes.
        unsafe { ctrl.host.add(dev.as_dev(), ptr, &limits)? };
        dev_info!(
            dev.as_dev(),
            "host{}: VSTOR {}.{}, {} channel(s), transfers up to {} KiB\n",
            ctrl.host.number(),
            limits.protocol_version >> 8,
            limits.protocol_version & 0xff,
            limits.nr_hw_queues,
            max_transfer >> 10
        );
        Ok(KBox::into_pin(ctrl))
    }

    /// The initialization sequence of the primary channel.
    fn initialize(shared: &Shared, primary: &Channel) -> Result<HostProperties> {
        shared.control_ok(primary, Operation::BeginInitialization, CONTROL_TIMEOUT_MS)?;
        let mut agreed = None;
        for version in vstor::LINUX_VERSIONS {
            let mut p = VstorPacket::new(Operation::QueryProtocolVersion);
            p.set_version(&vstor::ProtocolVersion {
                major_minor: version,
                revision: 0,
            });
            let answer = shared.control(primary, p, CONTROL_TIMEOUT_MS)?;
            match answer.header.status {
                vstor::STATUS_SUCCESS => {
                    agreed = Some(version);
                    break;
                }
                vstor::STATUS_REVISION_MISMATCH => {}
                status => {
                    pr_err!("VSTOR version {:#x} answered with {:#x}\n", version, status);
                    return Err(EIO);
                }
            }
        }
        let Some(version) = agreed else {
            pr_err!("the host speaks neither VSTOR 6.2 nor 6.0\n");
            return Err(ENODEV);
        };
        shared.version.store(u32::from(version), ordering::Relaxed);
        let answer = shared.control(
            primary,
            VstorPacket::new(Operation::QueryProperties),
            CONTROL_TIMEOUT_MS,
        )?;
        if answer.header.status != vstor::STATUS_SUCCESS {
            pr_err!("QUERY_PROPERTIES failed: {:#x}\n", { answer.header.status });
            return Err(EIO);
        }
        let props = answer.properties();
        let host_max = props.max_transfer_bytes;
        // The host's limit, in whole pages, within what one page range describes.
        let max_transfer = (host_max & !(MIN_TRANSFER - 1)).min(MAX_TRANSFER);
        if max_transfer < MIN_TRANSFER {
            pr_err!("the host's transfer limit {} is too small\n", host_max);
            return Err(EPROTO);
        }
        let max_subchannels = if props.flags & vstor::STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL != 0 {
            props.max_channel_count.min(64)
        } else {
            0
        };
        shared.control_ok(primary, Operation::EndInitialization, CONTROL_TIMEOUT_MS)?;
        Ok(HostProperties {
            max_transfer,
            max_subchannels,
        })
    }

    /// Asks for a sub-channel per further CPU (at most `max`), waits for the offers and
    /// opens them; runs on with the channels it has if any step fails.
    fn open_subchannels(
        dev: &Device<'_>,
        shared: &Arc<Shared>,
        channels: &mut KVec<OpenChannel>,
        max: u16,
    ) {
        let cpus = scsi::online_cpus();
        // CAST: bounded by `max`, a u16.
        let wanted = (cpus.saturating_sub(1)).min(u32::from(max)) as u16;
        if wanted == 0 {
            return;
        }
        let Some(primary) = channels.first() else {
            return;
        };
        let mut p = VstorPacket::new(Operation::CreateSubChannels);
        p.set_sub_channel_count(wanted);
        match shared.control(primary, p, CONTROL_TIMEOUT_MS) {
            Ok(a) if a.header.status == vstor::STATUS_SUCCESS => {}
            Ok(a) => {
                pr_warn!(
                    "host{}: sub-channels refused ({:#x}); one channel\n",
                    shared.host_no,
                    { a.header.status }
                );
                return;
            }
            Err(_) => return,
        }
        let mut waited = 0;
        let subs = loop {
            match dev.subchannels() {
                Ok(subs)
                    if subs.len() >= usize::from(wanted) || waited >= SUBCHANNEL_TIMEOUT_MS =>
                {
                    break subs
                }
                Ok(_) => {}
                Err(_) => return,
            }
            kernel::time::delay::fsleep(Delta::from_millis(20));
            waited += 20;
        };
        for index in 1..=wanted {
            let Some(sub) = subs.iter().find(|s| s.index() == index) else {
                pr_warn!(
                    "host{}: sub-channel {} was not offered\n",
                    shared.host_no,
                    index
                );
                return;
            };
            match open_channel(|p, h| sub.open(p, h), shared, u32::from(index)) {
                Ok(ch) => {
                    if channels.push(ch, GFP_KERNEL).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    pr_warn!(
                        "host{}: sub-channel {} did not open: {:?}\n",
                        shared.host_no,
                        index,
                        e
                    );
                    return;
                }
            }
        }
    }

    /// `queuecommand`: sends the command as an EXECUTE_SRB on its hardware queue's channel.
    pub(crate) fn queue_command(&self, cmd: Command) -> QueueStatus {
        let info = cmd.info();
        let direction = match info.direction {
            0 => DataDirection::Write,
            1 => DataDirection::Read,
            2 => DataDirection::None,
            _ => {
                cmd.complete(srb::DID_ERROR, srb::SAM_STAT_GOOD, &[], info.length);
                return QueueStatus::Accepted;
            }
        };
        let request = srb::Command {
            cdb: info.cdb,
            cdb_len: info.cdb_len,
            path: info.address.0,
            target: info.address.1,
            lun: info.address.2,
            direction,
            length: info.length,
            tagged: info.tagged,
        };
        let packet = match srb::pack(&request) {
            Ok(p) => p,
            Err(e) => {
                if scsi::ratelimit() {
                    pr_warn!("host{}: command not sent: {:?}\n", self.shared.host_no, e);
                }
                cmd.complete(srb::DID_ERROR, srb::SAM_STAT_GOOD, &[], info.length);
                return QueueStatus::Accepted;
            }
        };
        let queue = match self.queue(info.hwq) {
            Some(q) => q,
            None => {
                cmd.complete(srb::DID_NO_CONNECT, srb::SAM_STAT_GOOD, &[], info.length);
                return QueueStatus::Accepted;
            }
        };
        let pages = if info.length > 0 {
            match cmd.pages() {
                Ok(p) => Some(p),
                Err(e) => {
                    if scsi::ratelimit() {
                        pr_warn!(
                            "host{}: data of opcode {:#x} is not one page range: {:?}\n",
                            self.shared.host_no,
                            info.cdb[0],
                            e
                        );
                    }
                    cmd.complete(srb::DID_ERROR, srb::SAM_STAT_GOOD, &[], info.length);
                    return QueueStatus::Accepted;
                }
            }
        } else {
            None
        };
        let generation = cmd.arm();
        let id = srb::srb_id(generation, info.unique_tag);
        let send = |ch: &Channel| match &pages {
            Some(p) => {
                ch.send_gpa_direct_pages_batched(p.offset, p.len, p.pfns, packet.as_bytes(), id)
            }
            None => ch.send_batched(packet.as_bytes(), id, true),
        };
        let sent = if info.last {
            // The host usually completes the batch during the signal: the completions are
            // then handled before this returns, without an interrupt.
            queue.channel.send_polled(|ch| {
                let sent = send(ch);
                // The batch's earlier commands are signalled for even if this one failed.
                // ORDERING: the flag orders nothing; the ring's indices carry the packets.
                let owed = queue.signal_owed.xchg(false, ordering::Relaxed);
                if owed || matches!(sent, Ok(true)) {
                    ch.signal();
                }
                sent
            })
        } else {
            // More of the batch follows: one signal for all of it, at its last command or
            // in `commit_rqs`.
            let sent = send(&queue.channel);
            if matches!(sent, Ok(true)) {
                // ORDERING: as above; the batch's end (on this queue's dispatch) reads it.
                queue.signal_owed.store(true, ordering::Relaxed);
            }
            sent
        };
        let Err(e) = sent.map(|_| ()) else {
            // The command may be completed already: it is not touched again.
            return QueueStatus::Accepted;
        };
        if !cmd.disarm(generation) {
            return QueueStatus::Accepted;
        }
        if e == EAGAIN {
            return QueueStatus::DeviceBusy;
        }
        let host_byte = if e == ENODEV {
            srb::DID_NO_CONNECT
        } else {
            srb::DID_ERROR
        };
        cmd.complete(host_byte, srb::SAM_STAT_GOOD, &[], info.length);
        QueueStatus::Accepted
    }

    /// The queue of hardware queue `hwq` (the primary channel's for one that does not exist).
    fn queue(&self, hwq: u16) -> Option<&HwQueue> {
        self.queues
            .get(usize::from(hwq))
            .or_else(|| self.queues.first())
    }

    /// `commit_rqs`: the block layer's batch on `hwq` ended without a last command; the host
    /// is signalled for what was sent of it.
    pub(crate) fn commit(&self, hwq: u16) {
        let Some(queue) = self.queue(hwq) else {
            return;
        };
        // ORDERING: as in `queue_command`.
        if queue.signal_owed.xchg(false, ordering::Relaxed) {
            queue.channel.send_polled(|ch| ch.signal());
        }
    }

    /// `eh_host_reset_handler`: resets the bus through the primary channel, then waits
    /// until the host has answered every command it holds, whatever the reset's outcome:
    /// the midlayer gets commands back from a reset, and the host must never write into the
    /// pages of a command the midlayer has finished (or retried elsewhere).
    pub(crate) fn reset_host(&self) -> Result {
        let primary = &self.queues.first().ok_or(ENODEV)?.channel;
        pr_warn!("host{}: resetting the bus\n", self.shared.host_no);
        let reset = self
            .shared
            .control_ok(primary, Operation::ResetBus, RESET_TIMEOUT_MS);
        self.shared.host.wait_host_commands();
        reset
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        // No command is queued once the host is removed; then the channels close (the
        // fields drop in order) before the host is released.
        self.host.remove();
    }
}
