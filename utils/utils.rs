// SPDX-License-Identifier: GPL-2.0
//! `rhv_utils`: the integration-component drivers (heartbeat, shutdown, timesync, KVP).
//!
//! A driver on the `vmbus` bus of `rhv_vmbus`, using its Rust API across the module boundary:
//! it binds to the four integration-component classes (its id table also gives the module its
//! `vmbus:<hex>` aliases) and opens each device's channel. Heartbeat, shutdown and timesync
//! packets go through the IC framework (framework.rs) to their service (heartbeat.rs,
//! shutdown.rs, timesync.rs) and are answered; timesync also registers the "hyperv" PTP
//! clock. KVP (kvp.rs) hands the host's requests to the guest's KVP daemon through
//! `/dev/vmbus/hv_kvp` and answers with what the daemon says.

// Built with rustc 1.85 by distributions (see vmbus.rs): newer std APIs warn under CLIPPY=1.
#![warn(clippy::incompatible_msrv)]
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use vmbus::{Device, DeviceId, Guid, OpenChannel, OpenParams, Packet, PacketHandler, PacketType};

#[path = "../drivers/proto/src/ic.rs"]
pub mod ic;
#[path = "../drivers/proto/src/ic_msg.rs"]
pub mod ic_msg;
#[path = "../drivers/proto/src/kvp.rs"]
pub mod kvp_proto;

mod framework;
mod heartbeat;
mod kvp;
mod kvp_daemon;
mod kvp_tests;
mod kvp_transport;
mod shutdown;
mod system;
mod tests;
mod timesync;

use framework::{Dropped, Exchange, Service, Verdict};
use ic::IcVersion;

/// The integration components this module drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IcKind {
    Heartbeat,
    Shutdown,
    Timesync,
    Kvp,
}

impl IcKind {
    fn name(self) -> &'static str {
        match self {
            IcKind::Heartbeat => "heartbeat",
            IcKind::Shutdown => "shutdown",
            IcKind::Timesync => "timesync",
            IcKind::Kvp => "kvp",
        }
    }
}

const HEARTBEAT: Guid = vmbus::proto::offer::class::HEARTBEAT;
const SHUTDOWN: Guid = vmbus::proto::offer::class::SHUTDOWN;
const TIMESYNC: Guid = vmbus::proto::offer::class::TIMESYNC;
const KVP: Guid = vmbus::proto::offer::class::KVP;

vmbus::vmbus_device_table!(
    IC_TABLE,
    IcKind,
    [
        (DeviceId::new(HEARTBEAT), IcKind::Heartbeat),
        (DeviceId::new(SHUTDOWN), IcKind::Shutdown),
        (DeviceId::new(TIMESYNC), IcKind::Timesync),
        (DeviceId::new(KVP), IcKind::Kvp),
    ]
);

/// Ring sizes of the C driver's `hv_utils` (three pages of data each way).
const RING_SIZE: usize = 3 * 4096;

impl IcKind {
    /// The framework's view of the service.
    fn service(self) -> &'static Service {
        match self {
            IcKind::Heartbeat => &heartbeat::SERVICE,
            IcKind::Shutdown => &shutdown::SERVICE,
            IcKind::Timesync => &timesync::SERVICE,
            IcKind::Kvp => &kvp::SERVICE,
        }
    }
}

/// What the guest does once the answer is sent.
enum FollowUp {
    None,
    Shutdown(shutdown::Request),
    Time(timesync::Sample),
}

/// Receives the packets of a heartbeat, shutdown or timesync channel (softirq context) and
/// answers them.
struct IcChannel {
    kind: IcKind,
    /// The negotiated service version (`major << 16 | minor`); zero before negotiation.
    version: Atomic<u32>,
}

impl IcChannel {
    fn version(&self) -> Option<IcVersion> {
        match self.version.load(ordering::Relaxed) {
            0 => None,
            // CAST: the halves of the stored `major << 16 | minor`.
            v => Some(IcVersion::new((v >> 16) as u16, v as u16)),
        }
    }

    /// Answers `packet` through the framework and `service`; returns what to do next.
    fn answer(
        &self,
        channel: &vmbus::Channel,
        packet: &Packet<'_>,
        service: &Service,
    ) -> Result<FollowUp> {
        let len = packet.payload.len();
        if len > framework::MAX_PACKET {
            complain(service, "packet too long", len);
            return Ok(FollowUp::None);
        }
        let mut buf = KVec::new();
        buf.extend_from_slice(packet.payload, GFP_ATOMIC)?;
        buf.resize(framework::answer_capacity(len), 0, GFP_ATOMIC)?;
        let mut follow_up = FollowUp::None;
        let kind = self.kind;
        let result = framework::answer(&mut buf, len, service, self.version(), |version, body| {
            on_message(kind, version, body, &mut follow_up)
        });
        let (answer_len, exchange) = match result {
            Ok(answered) => answered,
            Err(dropped) => {
                match dropped {
                    Dropped::Short(got) => {
                        complain(service, "packet shorter than the headers", got)
                    }
                    Dropped::TooLong(got) => complain(service, "packet too long", got),
                    Dropped::NoRoom => complain(service, "no room for the answer", len),
                    Dropped::ShortBody { got, .. } => {
                        complain(service, "message body too short", got)
                    }
                }
                return Ok(FollowUp::None);
            }
        };
        match exchange {
            Exchange::Negotiated {
                framework,
                service: v,
            } => {
                self.version.store(v.to_u32(), ordering::Relaxed);
                if system::notice_ratelimit() {
                    pr_info!(
                        "{}: IC framework {}.{}, service version {}.{}\n",
                        service.name,
                        { framework.major },
                        { framework.minor },
                        { v.major },
                        { v.minor }
                    );
                }
            }
            Exchange::NoCommonVersion => complain(service, "no common version offered", len),
            Exchange::BadNegotiate(_) => complain(service, "malformed NEGOTIATE", len),
            Exchange::Unexpected(t) => complain(service, "unexpected message type", usize::from(t)),
            Exchange::Answered { .. } => {}
        }
        channel.send(&buf[..answer_len], packet.trans_id, false)?;
        Ok(follow_up)
    }
}

/// Hands a message of the service's type to the service of `kind`; what the guest must do
/// after answering goes to `follow_up`.
fn on_message(
    kind: IcKind,
    version: IcVersion,
    body: &mut [u8],
    follow_up: &mut FollowUp,
) -> Verdict {
    match kind {
        IcKind::Heartbeat => heartbeat::on_message(body),
        IcKind::Shutdown => match shutdown::parse_request(body) {
            Ok(request) => {
                *follow_up = FollowUp::Shutdown(request);
                request.verdict()
            }
            Err(verdict) => verdict,
        },
        IcKind::Timesync => match timesync::parse_sample(version, body) {
            Ok(sample) => {
                *follow_up = FollowUp::Time(sample);
                Verdict::Done
            }
            Err(verdict) => verdict,
        },
        // KVP has its own channel handler (kvp.rs).
        IcKind::Kvp => Verdict::Failed,
    }
}

/// A rate-limited complaint about what the host sent.
pub(crate) fn complain(service: &Service, what: &str, value: usize) {
    if system::ratelimit() {
        pr_warn!("{}: {} ({})\n", service.name, what, value);
    }
}

impl PacketHandler for IcChannel {
    fn on_packet(&self, channel: &vmbus::Channel, packet: &Packet<'_>) {
        let service = self.kind.service();
        if packet.packet_type != PacketType::DataInband as u16 {
            complain(
                service,
                "packet of unexpected VMBus type",
                usize::from(packet.packet_type),
            );
            return;
        }
        match self.answer(channel, packet, service) {
            Ok(FollowUp::None) => {}
            Ok(FollowUp::Shutdown(request)) => act_on_shutdown(request),
            Ok(FollowUp::Time(sample)) => timesync::on_sample(&sample),
            Err(e) => {
                if system::ratelimit() {
                    pr_warn!("{}: answering failed: {:?}\n", service.name, e);
                }
            }
        }
    }
}

/// Carries out an agreed shutdown request, after the answer went out (as Linux does).
fn act_on_shutdown(request: shutdown::Request) {
    match request {
        shutdown::Request::PowerOff => {
            if system::notice_ratelimit() {
                pr_info!("shutdown: the host asked for a power-off; shutting down\n");
            }
            system::orderly_poweroff();
        }
        shutdown::Request::Reboot => {
            if system::notice_ratelimit() {
                pr_info!("shutdown: the host asked for a restart; rebooting\n");
            }
            system::orderly_reboot();
        }
        shutdown::Request::Hibernate => {
            if system::notice_ratelimit() {
                pr_info!("shutdown: the host asked for hibernation; refused (not supported)\n");
            }
        }
        shutdown::Request::Invalid(flags) => {
            if system::ratelimit() {
                pr_warn!("shutdown: invalid request flags {:#x}; refused\n", flags);
            }
        }
    }
}

/// A bound integration component: its open channel (a KVP device keeps its own), closed
/// before the clock work of a timesync device is cancelled (fields drop in declaration
/// order).
struct IntegrationComponent {
    kind: IcKind,
    _channel: Option<OpenChannel>,
    _kvp: Option<kvp::KvpDevice>,
    _clock: Option<timesync::ClockWork>,
}

impl vmbus::Driver for IntegrationComponent {
    type IdInfo = IcKind;

    const ID_TABLE: vmbus::IdTable<IcKind> = &IC_TABLE;

    fn probe(dev: &Device<'_>, kind: &'static IcKind) -> Result<Pin<KBox<Self>>> {
        let params = OpenParams::new(RING_SIZE, RING_SIZE);
        let (channel, kvp) = if *kind == IcKind::Kvp {
            (None, Some(kvp::KvpDevice::new(dev, &params)?))
        } else {
            let handler = KBox::new(
                IcChannel {
                    kind: *kind,
                    version: Atomic::new(0),
                },
                GFP_KERNEL,
            )?;
            (Some(dev.open(&params, handler)?), None)
        };
        if system::notice_ratelimit() {
            dev_info!(
                dev.as_dev(),
                "{}: channel {} open\n",
                kind.name(),
                dev.relid()
            );
        }
        Ok(KBox::pin(
            IntegrationComponent {
                kind: *kind,
                _channel: channel,
                _kvp: kvp,
                _clock: (*kind == IcKind::Timesync).then(timesync::ClockWork::new),
            },
            GFP_KERNEL,
        )?)
    }

    fn remove(dev: &Device<'_>, this: Pin<&Self>) {
        if system::notice_ratelimit() {
            dev_info!(dev.as_dev(), "{}: unbound\n", this.kind.name());
        }
    }
}

vmbus::module_vmbus_driver! {
    type: IntegrationComponent,
    name: "rhv_utils",
    authors: ["The rhv developers"],
    description: "Hyper-V integration components (heartbeat, shutdown, timesync, KVP), in Rust",
    license: "GPL",
}
