// SPDX-License-Identifier: GPL-2.0
//! An integration component as a VMBus device: offered as Hyper-V offers it (a message-mode
//! pipe, one channel, the fixed instance GUID), it feeds the channel's packets and the time
//! into its [`IcChannel`] and puts what that returns into the ring.

use std::time::Instant;

use serde_json::Value;

use super::framework::{IcChannel, Outgoing, Service};
use super::heartbeat::Heartbeat;
use super::kvp::Kvp;
use super::shutdown::Shutdown;
use super::timesync::Timesync;
use super::{IcConfig, IcKind};
use crate::vmbus::{
    ChannelHandle, ControlError, DeviceContext, IncomingPacket, OfferParams, VmbusDevice,
};

/// One integration component. See the module documentation of `ic` for its control commands.
pub struct IntegrationComponent {
    kind: IcKind,
    channel: IcChannel,
}

impl IntegrationComponent {
    /// The component of this kind with default timing.
    pub fn new(kind: IcKind) -> Self {
        Self::with_config(kind, &IcConfig::default())
    }

    /// The component of this kind.
    pub fn with_config(kind: IcKind, config: &IcConfig) -> Self {
        let service: Box<dyn Service> = match kind {
            IcKind::Heartbeat => Box::new(Heartbeat::new(
                config.heartbeat_interval,
                config.answer_timeout,
            )),
            IcKind::Shutdown => Box::new(Shutdown::new(config.answer_timeout)),
            IcKind::Timesync => Box::new(Timesync::new(
                config.timesync_sample_interval,
                config.answer_timeout,
                config.timesync_offset_nanos,
                config.reference_clock.clone(),
            )),
            IcKind::Kvp => Box::new(Kvp::new(config.kvp_answer_timeout)),
        };
        Self {
            kind,
            channel: IcChannel::new(service, config.negotiation_timeout),
        }
    }

    /// Which component.
    pub fn kind(&self) -> IcKind {
        self.kind
    }

    /// The `status` answer (as `{"op":"status"}` returns it).
    pub fn status(&self) -> Value {
        Value::Object(self.channel.status())
    }

    fn send(&mut self, ch: &mut ChannelHandle<'_>, out: Vec<Outgoing>) {
        for o in out {
            if let Err(e) = ch.send_inband(o.trans_id, &o.payload, false) {
                self.channel.send_failed(o.trans_id, &e.to_string());
            }
        }
    }
}

impl VmbusDevice for IntegrationComponent {
    fn offer(&self) -> OfferParams {
        OfferParams::new(
            self.kind.name(),
            self.kind.class_id(),
            self.kind.instance_id(),
        )
        .message_pipe()
    }

    fn on_opened(&mut self, ch: &mut ChannelHandle<'_>) {
        tracing::info!(
            ic = self.kind.name(),
            relid = ch.relid(),
            "integration component opened"
        );
        let out = self.channel.open(Instant::now());
        self.send(ch, out);
    }

    fn on_packet(&mut self, ch: &mut ChannelHandle<'_>, packet: &IncomingPacket<'_>) {
        let out = self.channel.on_packet(
            packet.packet_type,
            packet.trans_id,
            packet.payload,
            Instant::now(),
        );
        self.send(ch, out);
    }

    fn on_writable(&mut self, ch: &mut ChannelHandle<'_>) {
        let out = self.channel.poll(Instant::now());
        self.send(ch, out);
    }

    fn on_close(&mut self, subchannel_index: u16) {
        if subchannel_index == 0 {
            tracing::info!(ic = self.kind.name(), "integration component closed");
            self.channel.close();
        }
    }

    fn poll(&mut self, ctx: &mut DeviceContext<'_>) {
        if let Some(mut ch) = ctx.channel(0) {
            let out = self.channel.poll(Instant::now());
            self.send(&mut ch, out);
        }
    }

    fn control(&mut self, command: &Value) -> Result<Value, ControlError> {
        self.channel.control(command, Instant::now())
    }
}
