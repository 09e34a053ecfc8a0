// SPDX-License-Identifier: GPL-2.0
//! netvsp: the host side of Hyper-V's synthetic network adapter (the device Linux's
//! `hv_netvsc` drives), plugged into a TAP interface of the host.
//!
//! The guest negotiates NVSP, hands over a receive and a send buffer (GPADLs), initialises
//! RNDIS over it, and may ask for sub-channels (one receive queue each, spread by RSS). Frames
//! from the guest arrive as RNDIS data messages in send-buffer sections or GPA-direct page
//! ranges and go to the TAP; frames from the TAP are copied into receive-buffer sections and
//! announced with transfer-page packets, on the channel the guest's RSS table picks.
//!
//! Frames move host → guest as soon as they can: the TAP is the device's wake descriptor
//! ([`VmbusDevice::wake_fds`]) while receive-buffer sections are free for more frames, so the
//! event loop wakes the NIC the moment the host kernel queues a frame; a receive completion
//! of the guest takes more frames at once and, once the server has handed over the channel's
//! packets ([`VmbusDevice::on_drained`]), sends what waits on every channel, not only on the
//! completing one. With no section free the TAP is left alone (its queue is the backlog)
//! until completions free some. The event loop's tick (a few milliseconds) reads the TAP only
//! while it is not waited on (no wake descriptor, or a failed read) and flushes what is left
//! (link indications).
//!
//! Protocol references: drivers/net/hyperv/{netvsc.c,rndis_filter.c,hyperv_net.h} and
//! include/linux/rndis.h in Linux 7.3, [MS-RNDIS]; wire layouts in `rhv_proto::{nvsp, rndis,
//! ndis}`.
//!
//! Files: `protocol` (NVSP messages), `datapath` (frames both ways, queues, flow control),
//! `rndis_control` (RNDIS requests and OIDs), `offload`/`offload_frames`/`vnet` (checksum
//! and segmentation offload: negotiation, per-frame mapping, the TAP's virtio-net header), `rx` (receive buffer sections), `tx` (where a
//! guest's message bytes are), `buffers` (GPADL buffers, page ranges), `rss` (Toeplitz,
//! indirection), `channel` (the seam to the VMBus server), `tap`/`backend` (host network),
//! `config` (the `--nic` syntax).
//!
//! # Configuration
//! [`Netvsp::new`] with a [`NetvspConfig`]; its `FromStr` takes the form of a command-line
//! flag: `tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,queues=N][,mtu=N][,instance=GUID][,offload=on|off]`
//! (MAC default 00:15:5d:00:00:01, 4 queues, largest guest MTU 9000, instance GUID derived
//! from the MAC, checksum and large-send offload on).
//!
//! # Control commands ([`VmbusDevice::control`])
//! - `{"op":"link","up":false}` / `{"op":"link","up":true}`: unplug / plug the virtual cable;
//!   the guest gets an RNDIS status indication (MEDIA_DISCONNECT / MEDIA_CONNECT) and no
//!   frames flow while the link is down. Answers `{"link_up":BOOL}`.
//! - `{"op":"stats"}`: counters since the NIC was created — `to_guest` and `from_guest`
//!   (`frames`, `bytes`, `drops`), `filtered` (frames from the TAP nobody asked for: RNDIS not
//!   initialised, packet filter, link down), `rx_taken_on` (frames read from the TAP when it
//!   woke the NIC, after a receive completion, on the tick: `wake`, `completion`, `tick`),
//!   `bad_packets` (malformed or unexpected packets
//!   from the guest), `csum_offloaded` and `lso_frames`/`lso_bytes`/`lso_ipv6_frames` (guest frames whose
//!   checksum the host filled in / that the host kernel segmented), `rx_csum_verified`
//!   (frames to the guest announced with a verified checksum) — and the state: `link_up`, `nvsp_version`, `ndis_version`, `mtu`,
//!   `mac`, `rndis_initialized`, `packet_filter`, `channels`, `rss_table_entries`,
//!   `receives_in_flight`, `offload_offered`, `offload` (what the guest turned on); `queues`:
//!   per open channel (sub-channel index) the frames and transfer-page packets it carried and
//!   how often a full ring or a full receive buffer stopped its flush.
//!
//! - `{"op":"misbehave","kinds":[...],"every":N,"count":M}`: bad packets for robustness
//!   scenarios (`bad-range`, `bad-rndis`, `overlap-ranges`, `bad-csum`, `stop-reading`,
//!   `unknown-completion`, `duplicate-completion`; see
//!   `misbehave`); `stats` reports how many were sent as `misbehaved`.
//!
//! Bad input from the guest (lengths, offsets, page ranges, unknown messages, completions
//! that match nothing) drops the packet, counts it in `bad_packets` and logs a rate-limited
//! warning; the guest still gets the completion it asked for, with a failure status.

mod backend;
mod buffers;
mod channel;
mod config;
mod datapath;
mod misbehave;
mod offload;
mod offload_frames;
mod protocol;
mod rndis_control;
mod rss;
mod rx;
mod tap;
#[cfg(test)]
mod tests;
mod tx;
mod vnet;

use std::collections::BTreeMap;
use std::io;
use std::os::unix::io::RawFd;

use rhv_proto::guid::Guid;

pub use backend::NetBackend;
pub use config::{mac_text, parse_mac, ConfigError, NetvspConfig};
pub use tap::Tap;

use crate::vmbus::{
    ChannelHandle, ControlError, DeviceContext, IncomingPacket, OfferParams, VmbusDevice,
};
use channel::ChannelQueue;
use rndis_control::RndisControl;
use rx::ReceiveBuffer;
use tx::SendBuffer;

/// The network adapter class (`HV_NIC_GUID` in include/linux/hyperv.h).
pub const NETWORK_CLASS_ID: Guid = rhv_proto::offer::class::NETWORK;

/// Traffic counters of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DirectionStats {
    /// Frames delivered.
    pub frames: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Frames lost (backend error, no room, link down, too large).
    pub drops: u64,
}

/// The NIC's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NetStats {
    /// TAP → guest.
    pub to_guest: DirectionStats,
    /// Guest → TAP.
    pub from_guest: DirectionStats,
    /// Frames from the TAP the guest had not asked for.
    pub filtered: u64,
    /// Malformed or unexpected packets from the guest.
    pub bad_packets: u64,
    /// Guest frames whose transport checksum the host filled in.
    pub csum_offloaded: u64,
    /// Guest large-send frames the host cut into segments.
    pub lso_frames: u64,
    /// Bytes of those large-send frames.
    pub lso_bytes: u64,
    /// Those of the large-send frames that were TCP over IPv6.
    pub lso_ipv6_frames: u64,
    /// Frames to the guest announced with a verified checksum.
    pub rx_csum_verified: u64,
    /// Frames taken from the backend, by what prompted the read.
    pub rx_taken_on: TakenOn,
}

/// Frames taken from the backend per occasion (`rx_taken_on` in `stats`): how much of the
/// host → guest traffic moved as soon as it arrived and how much waited for the tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TakenOn {
    /// The backend's wake descriptor was readable.
    pub wake: u64,
    /// A receive completion of the guest freed sections.
    pub completion: u64,
    /// The event loop's tick (a backend without a wake descriptor, or one that failed).
    pub tick: u64,
}

/// A synthetic NIC. See the module documentation.
pub struct Netvsp {
    config: NetvspConfig,
    backend: Box<dyn NetBackend>,
    /// Negotiated NVSP version.
    version: Option<u32>,
    /// The guest's NDIS version (major, minor).
    ndis_version: Option<(u32, u32)>,
    /// The guest's largest frame (MTU + Ethernet header) from SEND_NDIS_CONFIG.
    guest_frame: Option<u32>,
    /// Relid of the primary channel, once it carried a packet.
    primary_relid: Option<u32>,
    recv: Option<ReceiveBuffer>,
    send: Option<SendBuffer>,
    rndis: RndisControl,
    /// The open channels and what waits to be sent on each.
    queues: BTreeMap<u16, ChannelQueue>,
    stats: NetStats,
    /// Scratch: a frame from the backend.
    frame_buf: Vec<u8>,
    /// Scratch: the bytes of a guest's message.
    gather_buf: Vec<u8>,
    /// Bad packets armed by the `misbehave` command.
    misbehaviour: crate::misbehave::Plan<misbehave::BadPacket>,
    /// The guest → host rings are left unread until then (`stop-reading`).
    reading_stopped_until: Option<std::time::Instant>,
    /// A receive completion freed sections since the last flush of every channel: frames
    /// queued on other channels than the completing one may go now (`on_drained`).
    flush_wanted: bool,
    /// The backend's last receive failed: its wake descriptor is not offered (it would stay
    /// ready) until a receive on the tick succeeds again.
    backend_failing: bool,
}

impl Netvsp {
    /// A NIC plugged into the TAP interface `config.tap` (attached, or created if missing).
    pub fn new(config: NetvspConfig) -> io::Result<Self> {
        let tap = Tap::open(&config.tap, config.offload)?;
        tracing::info!(
            tap = tap.name(),
            mac = mac_text(&config.mac),
            offload = config.offload,
            "netvsp: TAP attached"
        );
        Ok(Self::with_backend(config, Box::new(tap)))
    }

    /// A NIC on any backend.
    pub fn with_backend(config: NetvspConfig, backend: Box<dyn NetBackend>) -> Self {
        Self {
            rndis: RndisControl::new(&config),
            config,
            backend,
            version: None,
            ndis_version: None,
            guest_frame: None,
            primary_relid: None,
            recv: None,
            send: None,
            queues: BTreeMap::new(),
            stats: NetStats::default(),
            frame_buf: vec![0; 65_536 + 64],
            gather_buf: Vec::new(),
            misbehaviour: crate::misbehave::Plan::default(),
            reading_stopped_until: None,
            flush_wanted: false,
            backend_failing: false,
        }
    }

    /// The counters.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Forgets everything the guest set up on the primary channel (it closed it).
    fn reset_session(&mut self) {
        self.version = None;
        self.ndis_version = None;
        self.guest_frame = None;
        self.recv = None;
        self.send = None;
        self.rndis.reset();
        self.queues.clear();
    }

    /// Plugs or unplugs the virtual cable; an initialised guest hears of it.
    pub fn set_link(&mut self, up: bool) {
        if self.rndis.link_up == up {
            return;
        }
        self.rndis.link_up = up;
        tracing::info!(device = "netvsp", up, "link state changed");
        if self.rndis.initialized {
            let indication = self.rndis.link_indication();
            if let Some(q) = self.queues.get_mut(&0) {
                q.rndis.push_back(channel::Queued::control(indication));
            }
        }
    }

    fn stats_json(&self) -> serde_json::Value {
        let version = self.version.map(|v| format!("{}.{}", v >> 16, v & 0xffff));
        let ndis = self.ndis_version.map(|(a, b)| format!("{a}.{b}"));
        serde_json::json!({
            "to_guest": self.stats.to_guest,
            "from_guest": self.stats.from_guest,
            "filtered": self.stats.filtered,
            "bad_packets": self.stats.bad_packets,
            "csum_offloaded": self.stats.csum_offloaded,
            "lso_frames": self.stats.lso_frames,
            "lso_bytes": self.stats.lso_bytes,
            "lso_ipv6_frames": self.stats.lso_ipv6_frames,
            "rx_csum_verified": self.stats.rx_csum_verified,
            "rx_taken_on": self.stats.rx_taken_on,
            "offload_offered": self.config.offload,
            "offload": self.rndis.offload,
            "link_up": self.rndis.link_up,
            "nvsp_version": version,
            "ndis_version": ndis,
            "mtu": self.guest_frame.map(|f| f.saturating_sub(14)),
            "mac": mac_text(&self.rndis.current_mac),
            "rndis_initialized": self.rndis.initialized,
            "packet_filter": self.rndis.packet_filter,
            "channels": self.queues.len(),
            "rss_table_entries": self.rndis.rss.table_len(),
            "receives_in_flight": self.recv.as_ref().map_or(0, |r| r.in_flight()),
            "misbehaved": self.misbehaviour.done(),
            "queues": self.queues.iter().map(|(i, q)| (i.to_string(), q.stats)).collect::<BTreeMap<_, _>>(),
        })
    }
}

impl VmbusDevice for Netvsp {
    fn offer(&self) -> OfferParams {
        OfferParams::new("netvsp", NETWORK_CLASS_ID, self.config.instance)
            .with_subchannels(self.config.queues.saturating_sub(1))
    }

    fn on_opened(&mut self, ch: &mut ChannelHandle<'_>) {
        self.queues
            .insert(ch.subchannel_index(), ChannelQueue::default());
    }

    fn on_packet(&mut self, ch: &mut ChannelHandle<'_>, packet: &IncomingPacket<'_>) {
        self.handle_packet(ch, packet);
    }

    fn pauses_reading(&self) -> bool {
        self.reading_stopped()
    }

    fn on_writable(&mut self, ch: &mut ChannelHandle<'_>) {
        self.flush(ch);
    }

    fn on_close(&mut self, subchannel_index: u16) {
        if subchannel_index == 0 {
            self.reset_session();
        } else {
            self.queues.remove(&subchannel_index);
            if let Some(r) = self.recv.as_mut() {
                r.forget_channel(subchannel_index);
            }
        }
    }

    fn on_drained(&mut self, ctx: &mut DeviceContext<'_>) {
        self.after_drain(ctx);
    }

    fn poll(&mut self, ctx: &mut DeviceContext<'_>) {
        self.service(ctx);
    }

    fn wake_fds(&self, out: &mut Vec<RawFd>) {
        out.extend(self.wake_fd());
    }

    fn on_wake(&mut self, ctx: &mut DeviceContext<'_>) {
        self.wake(ctx);
    }

    fn control(&mut self, command: &serde_json::Value) -> Result<serde_json::Value, ControlError> {
        match command.get("op").and_then(|o| o.as_str()) {
            Some("link") => {
                let up = command
                    .get("up")
                    .and_then(|u| u.as_bool())
                    .ok_or_else(|| ControlError("link: \"up\" must be true or false".into()))?;
                self.set_link(up);
                Ok(serde_json::json!({ "link_up": up }))
            }
            Some("stats") => Ok(self.stats_json()),
            Some("misbehave") => self.misbehaviour.arm(command).map_err(ControlError),
            _ => Err(ControlError(
                "netvsp knows {\"op\":\"link\",\"up\":BOOL}, {\"op\":\"stats\"} and {\"op\":\"misbehave\",...}"
                    .into(),
            )),
        }
    }
}
