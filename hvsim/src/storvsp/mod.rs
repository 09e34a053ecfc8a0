// SPDX-License-Identifier: GPL-2.0
//! storvsp: the host side of Hyper-V's synthetic SCSI controller, the device Linux's
//! `hv_storvsc` drives. One [`Storvsp`] is one controller: a VMBus device (class
//! `ba6163d9-04a1-4d29-b605-72e2ffb1dc7f`, a fixed instance GUID per controller) with
//! sub-channels for multi-queue I/O, and a SCSI target ([`crate::scsi`]) whose logical units
//! are disks in RAM or in raw image files.
//!
//! The VSTOR protocol (`rhv_proto::vstor`): the guest opens the primary channel and runs
//! BEGIN_INITIALIZATION, QUERY_PROTOCOL_VERSION (every defined version is accepted up to
//! [`StorvspConfig::max_protocol_version`]; Linux 7.3 proposes 6.2, then 6.0),
//! QUERY_PROPERTIES (sub-channels: one per vCPU besides the primary's) and
//! END_INITIALIZATION, then asks for sub-channels with CREATE_SUB_CHANNELS and sends
//! EXECUTE_SRB packets on any channel, with the data in the guest pages of a GPA-direct
//! packet. Every command completes before the packet handler returns, unless it is held back
//! (`held`: a slow host, or the `stale` misbehaviour), then it is served by `poll`. When the set of disks
//! changes, the host sends ENUMERATE_BUS and the guest rescans.
//!
//! Files: `config` (controller and disk configuration, the `--disk` syntax), `protocol` (the
//! initialization sequence and packet dispatch), `srb` (EXECUTE_SRB), `gpa_direct` (the
//! request's guest pages), `control` (control commands and statistics).
//!
//! # Control commands
//!
//! Sent with `hvsim ctl device <instance GUID or relid> '<json>'`
//! ([`VmbusDevice::control`]):
//!
//! | command | result |
//! | --- | --- |
//! | `{"op":"add_disk","disk":"ram:size=64M"}` | hot-adds a disk (syntax of `--disk`, see [`DiskConfig`]; `"lun":N` may be given here or in the text) and tells the guest to rescan: `{"lun":N}` |
//! | `{"op":"remove_disk","lun":N}` | hot-removes the disk at LUN N (its data is flushed) and tells the guest to rescan: `{"lun":N,"backend":"..."}` |
//! | `{"op":"stats"}` | the controller (protocol version, open channels, packet counters, SRBs per channel in `channel_srbs`), totals (`reads`, `writes`, `bytes_read`, `bytes_written`, `errors`: commands that did not end GOOD, ordinary refusals such as an unsupported mode page included, plus malformed requests) and every disk with its counters: `reads`, `writes`, `bytes_read`, `bytes_written`, `flushes`, `unmaps`, `bytes_unmapped`, `errors`, `allocated_bytes`, and `misbehaved` (bad packets sent per kind) |
//! | `{"op":"misbehave","kinds":["unknown-id","short","duplicate","stale","overlong","sense-overflow","error-no-sense","success-busy"],"every":N,"count":M}` | sends a bad packet with every N-th SRB completion, or makes that completion a bad one (`overlong`, `sense-overflow`, `error-no-sense`, `success-busy`; `stale`: with every N-th SRB whose slot has an old completion), M times, the kinds taking turns (see `misbehave`, `held` and `crate::misbehave`); `"kinds":[]` disarms: the plan |
//! | `{"op":"delay","ms":N}` | holds every SRB N ms before serving it, a slow host (see `held`; 0 serves at once): `{"ms":N}` |
//!
//! # Command line
//!
//! `hvsim run --disk SPEC` (repeatable) puts controller 0 with those disks on the bus; without
//! `--disk` there is no SCSI controller. [`DiskConfig`] parses SPEC: `ram:size=1G,sector=512`,
//! `file:path=/tmp/x.img,ro`, `file:path=/tmp/y.img,size=8G,sector=4096,lun=2`.
//! `Storvsp::new(StorvspConfig::new(0, disks, vcpus))` builds controller 0 with one
//! sub-channel per vCPU besides the primary channel.

mod config;
mod control;
pub mod gpa_direct;
mod held;
mod misbehave;
mod protocol;
mod srb;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rhv_proto::guid::Guid;
use rhv_proto::vstor;

use crate::memory::GuestMemory;
use crate::scsi::disk::DiskIdentity;
use crate::scsi::ScsiTarget;
use crate::vmbus::{
    ChannelHandle, ControlError, DeviceContext, IncomingPacket, OfferParams, OpenRefused,
    OpenRequest, SendError, VmbusDevice,
};

pub use config::{
    controller_instance, parse_size, subchannels_for, Backend, ConfigError, DiskConfig,
    OpenDiskError, StorvspConfig, MAX_SUBCHANNELS,
};
pub use control::ControllerCounters;
pub use protocol::InitState;

/// Completions a channel may hold back while the guest's ring is full; past this the guest
/// is not reading its completions and further ones are dropped.
const MAX_DEFERRED_COMPLETIONS: usize = 4096;

/// Why a controller or a disk could not be set up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorvspError {
    /// A disk could not be opened.
    #[error("{name} LUN {lun}: {source}")]
    Open {
        /// Controller.
        name: String,
        /// LUN it was meant for.
        lun: u8,
        /// Why.
        source: OpenDiskError,
    },
    /// The LUN is taken, out of range, or none is free.
    #[error("{name}: LUN {lun} is not available")]
    LunUnavailable {
        /// Controller.
        name: String,
        /// The LUN (255: no free LUN).
        lun: u8,
    },
    /// No disk at this LUN.
    #[error("{name}: no disk at LUN {lun}")]
    NoDisk {
        /// Controller.
        name: String,
        /// The LUN.
        lun: u8,
    },
}

/// What the packet handling needs from a channel: guest memory, a way to answer, and a way
/// to ask for sub-channels. [`ChannelHandle`] in the simulator, a recorder in tests.
pub(crate) trait ChannelIo {
    /// Guest RAM.
    fn memory(&self) -> &dyn GuestMemory;
    /// Sends a completion.
    fn send_completion(&mut self, trans_id: u64, payload: &[u8]) -> Result<(), SendError>;
    /// Asks the VMBus server to offer `n` more sub-channels.
    fn request_subchannels(&mut self, n: u16);
}

impl ChannelIo for ChannelHandle<'_> {
    fn memory(&self) -> &dyn GuestMemory {
        ChannelHandle::memory(self)
    }
    fn send_completion(&mut self, trans_id: u64, payload: &[u8]) -> Result<(), SendError> {
        ChannelHandle::send_completion(self, trans_id, payload)
    }
    fn request_subchannels(&mut self, n: u16) {
        ChannelHandle::request_subchannels(self, n)
    }
}

/// One synthetic SCSI controller. See the module documentation.
pub struct Storvsp {
    name: String,
    instance: Guid,
    max_subchannels: u16,
    max_version: u16,
    target: ScsiTarget,
    state: InitState,
    open_channels: BTreeSet<u16>,
    /// Completions waiting for room in the guest's ring, per sub-channel index.
    deferred: BTreeMap<u16, VecDeque<(u64, Vec<u8>)>>,
    /// The LUN set changed and the guest has not been told yet.
    rescan_pending: bool,
    counters: ControllerCounters,
    /// EXECUTE_SRBs per sub-channel index (multi-queue at work).
    channel_srbs: BTreeMap<u16, u64>,
    /// Bad completions armed by the `misbehave` command.
    misbehaviour: crate::misbehave::Plan<misbehave::BadCompletion>,
    /// SRBs held back before they are served, and completions remembered to send again.
    held: held::HeldWork,
}

impl std::fmt::Debug for Storvsp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storvsp")
            .field("name", &self.name)
            .field("state", &self.state)
            .field("luns", &self.target.len())
            .finish()
    }
}

impl Storvsp {
    /// A controller with the configured disks (their backends are opened here).
    pub fn new(config: StorvspConfig) -> Result<Self, StorvspError> {
        let mut storvsp = Self {
            name: config.name,
            instance: config.instance,
            max_subchannels: config.max_subchannels.min(MAX_SUBCHANNELS),
            max_version: config.max_protocol_version,
            target: ScsiTarget::new(),
            state: InitState::AwaitBegin,
            open_channels: BTreeSet::new(),
            deferred: BTreeMap::new(),
            rescan_pending: false,
            counters: ControllerCounters::default(),
            channel_srbs: BTreeMap::new(),
            misbehaviour: crate::misbehave::Plan::default(),
            held: held::HeldWork::default(),
        };
        for disk in &config.disks {
            storvsp.add_disk(disk)?;
        }
        storvsp.rescan_pending = false;
        Ok(storvsp)
    }

    /// The controller's name (`storvsp0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The controller's instance GUID.
    pub fn instance(&self) -> Guid {
        self.instance
    }

    /// The logical units.
    pub fn target(&self) -> &ScsiTarget {
        &self.target
    }

    /// Where the initialization sequence is.
    pub fn state(&self) -> InitState {
        self.state
    }

    /// The serial number and designator of the disk at `lun`: stable for a controller and
    /// LUN, distinct between controllers.
    fn identity(&self, lun: u8, serial: Option<&str>) -> DiskIdentity {
        // FNV-1a over the instance GUID and the LUN.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.instance.bytes.iter().chain(std::iter::once(&lun)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        DiskIdentity {
            serial: serial
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{:08x}{lun:02x}", self.instance_prefix())),
            naa_local: h,
        }
    }

    fn instance_prefix(&self) -> u32 {
        let b = self.instance.bytes;
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]) ^ u32::from(b[15])
    }

    /// Adds a disk (at its configured LUN or the lowest free one) and schedules the guest's
    /// rescan. Returns the LUN.
    pub fn add_disk(&mut self, config: &DiskConfig) -> Result<u8, StorvspError> {
        let unavailable = |lun| StorvspError::LunUnavailable {
            name: self.name.clone(),
            lun,
        };
        let lun = match config.lun {
            Some(l) if self.target.get(l).is_some() => return Err(unavailable(l)),
            Some(l) => l,
            None => self.target.free_lun().ok_or(unavailable(u8::MAX))?,
        };
        let disk = config
            .open(self.identity(lun, config.serial.as_deref()))
            .map_err(|source| StorvspError::Open {
                name: self.name.clone(),
                lun,
                source,
            })?;
        tracing::info!(
            controller = self.name,
            lun,
            backend = disk.backend_description(),
            bytes = disk.size_bytes(),
            sector = disk.block_size(),
            read_only = disk.read_only(),
            "disk attached"
        );
        self.target
            .insert(lun, disk)
            .map_err(|e| unavailable(e.0))?;
        self.rescan_pending = true;
        Ok(lun)
    }

    /// Removes the disk at `lun` after flushing it, and schedules the guest's rescan.
    pub fn remove_disk(&mut self, lun: u8) -> Result<String, StorvspError> {
        let mut disk = self.target.remove(lun).ok_or(StorvspError::NoDisk {
            name: self.name.clone(),
            lun,
        })?;
        let flush = [
            crate::scsi::cdb::SYNCHRONIZE_CACHE_10,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        let flushed = disk.execute(&flush, &mut crate::scsi::VecBuffer::none());
        if !matches!(flushed, Ok(o) if o.is_good()) {
            tracing::warn!(
                controller = self.name,
                lun,
                "flushing the removed disk failed"
            );
        }
        let backend = disk.backend_description();
        tracing::info!(controller = self.name, lun, backend, "disk detached");
        self.rescan_pending = true;
        Ok(backend)
    }

    /// Sends a completion, or holds it back while the guest's ring is full.
    fn complete(&mut self, io: &mut dyn ChannelIo, subchannel: u16, trans_id: u64, bytes: &[u8]) {
        let queue = self.deferred.entry(subchannel).or_default();
        if queue.is_empty() {
            match io.send_completion(trans_id, bytes) {
                Ok(()) => return,
                Err(SendError::Full) => {}
                Err(e) => {
                    if crate::vmbus::warn_allowed() {
                        tracing::warn!(controller = self.name, subchannel, "completion lost: {e}");
                    }
                    return;
                }
            }
        }
        if queue.len() >= MAX_DEFERRED_COMPLETIONS {
            self.counters.completions_dropped += 1;
            if crate::vmbus::warn_allowed() {
                tracing::warn!(
                    controller = self.name,
                    subchannel,
                    "guest does not read its completions; dropping one"
                );
            }
            return;
        }
        self.counters.completions_deferred += 1;
        queue.push_back((trans_id, bytes.to_vec()));
    }

    /// Sends held-back completions while the ring has room.
    fn flush_deferred(&mut self, io: &mut dyn ChannelIo, subchannel: u16) {
        let Some(queue) = self.deferred.get_mut(&subchannel) else {
            return;
        };
        while let Some((trans_id, bytes)) = queue.front() {
            match io.send_completion(*trans_id, bytes) {
                Ok(()) => {
                    queue.pop_front();
                }
                Err(SendError::Full) => return,
                Err(_) => {
                    queue.clear();
                    return;
                }
            }
        }
    }

    /// The ENUMERATE_BUS packet to send, if the LUN set changed and the guest listens. A
    /// guest that has not finished initializing is not told: it scans the bus once it has.
    fn rescan_packet(&mut self) -> Option<Vec<u8>> {
        if !self.rescan_pending {
            return None;
        }
        match self.state {
            InitState::Ready { version } if self.open_channels.contains(&0) => {
                let packet = vstor::VstorPacket::new(vstor::Operation::EnumerateBus);
                Some(packet.bytes_for(version).to_vec())
            }
            _ => {
                self.rescan_pending = false;
                None
            }
        }
    }

    /// Records the outcome of sending ENUMERATE_BUS; a full ring is retried at the next poll.
    fn rescan_sent(&mut self, result: Result<(), SendError>) {
        match result {
            Ok(()) => {
                tracing::info!(
                    controller = self.name,
                    "bus change notified (ENUMERATE_BUS)"
                );
                self.counters.rescans_sent += 1;
                self.rescan_pending = false;
            }
            Err(SendError::Full) => {}
            Err(e) => {
                tracing::warn!(controller = self.name, "cannot notify the bus change: {e}");
                self.rescan_pending = false;
            }
        }
    }
}

impl VmbusDevice for Storvsp {
    fn offer(&self) -> OfferParams {
        OfferParams::new(&self.name, vstor::SCSI_CLASS_ID, self.instance)
            .with_subchannels(self.max_subchannels)
    }

    fn on_open(&mut self, request: &OpenRequest) -> Result<(), OpenRefused> {
        if request.subchannel_index == 0 {
            // A new session: the guest starts the initialization sequence again.
            self.state = InitState::AwaitBegin;
        }
        self.deferred.remove(&request.subchannel_index);
        self.open_channels.insert(request.subchannel_index);
        Ok(())
    }

    fn on_packet(&mut self, ch: &mut ChannelHandle<'_>, packet: &IncomingPacket<'_>) {
        let subchannel = ch.subchannel_index();
        self.handle_packet(ch, subchannel, packet);
    }

    fn on_writable(&mut self, ch: &mut ChannelHandle<'_>) {
        let subchannel = ch.subchannel_index();
        self.flush_deferred(ch, subchannel);
    }

    fn on_close(&mut self, subchannel_index: u16) {
        self.open_channels.remove(&subchannel_index);
        self.deferred.remove(&subchannel_index);
        self.counters.held_srbs_dropped += self.held.forget_channel(subchannel_index) as u64;
        if subchannel_index == 0 {
            self.state = InitState::AwaitBegin;
        }
    }

    fn poll(&mut self, ctx: &mut DeviceContext<'_>) {
        for r in self.held.take_due(std::time::Instant::now()) {
            let Some(mut ch) = ctx.channel(r.subchannel) else {
                self.counters.held_srbs_dropped += 1;
                continue;
            };
            self.serve_packet(&mut ch, r.subchannel, &r.packet());
        }
        if let Some(bytes) = self.rescan_packet() {
            // Unsolicited packets carry transaction id 0, which Linux reserves for them.
            let result = match ctx.channel(0) {
                Some(mut primary) => primary.send_inband(0, &bytes, false),
                None => Err(SendError::NotOpen),
            };
            self.rescan_sent(result);
        }
    }

    fn control(&mut self, command: &serde_json::Value) -> Result<serde_json::Value, ControlError> {
        self.on_control(command)
    }
}
