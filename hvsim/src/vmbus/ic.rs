// SPDX-License-Identifier: GPL-2.0
//! The four integration components Linux's `hv_utils` drives — heartbeat, shutdown, time
//! synchronisation and key-value pair exchange — as minimal devices: they are offered the
//! way Hyper-V offers them (message-mode pipes, one channel, no MMIO, fixed instance GUIDs)
//! and accept the guest's open; packets are only counted and logged until the IC protocols
//! themselves are implemented.
//!
//! Class GUIDs: `HV_*_GUID` in include/linux/hyperv.h.

use rhv_proto::guid::Guid;

use super::device::{ChannelHandle, IncomingPacket, VmbusDevice};
use super::offers::OfferParams;

/// Which integration component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcKind {
    /// Heartbeat.
    Heartbeat,
    /// Guest shutdown.
    Shutdown,
    /// Time synchronisation.
    Timesync,
    /// Key-value pair exchange.
    Kvp,
}

impl IcKind {
    /// All four, in the order Hyper-V usually offers them.
    pub const ALL: [IcKind; 4] = [
        IcKind::Shutdown,
        IcKind::Timesync,
        IcKind::Heartbeat,
        IcKind::Kvp,
    ];

    /// Short name for logs and the control interface.
    pub fn name(self) -> &'static str {
        match self {
            IcKind::Heartbeat => "heartbeat",
            IcKind::Shutdown => "shutdown",
            IcKind::Timesync => "timesync",
            IcKind::Kvp => "kvp",
        }
    }

    /// The class GUID `hv_utils` matches.
    pub fn class_id(self) -> Guid {
        match self {
            IcKind::Heartbeat => Guid::from_fields(
                0x57164f39,
                0x9115,
                0x4e78,
                [0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d],
            ),
            IcKind::Shutdown => Guid::from_fields(
                0x0e0b6031,
                0x5213,
                0x4934,
                [0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39, 0xdb],
            ),
            IcKind::Timesync => Guid::from_fields(
                0x9527e630,
                0xd0ae,
                0x497b,
                [0xad, 0xce, 0xe8, 0x0a, 0xb0, 0x17, 0x5c, 0xaf],
            ),
            IcKind::Kvp => Guid::from_fields(
                0xa9a0f4e7,
                0x5a45,
                0x4d96,
                [0xb8, 0x27, 0x8a, 0x84, 0x1e, 0x8c, 0x03, 0xe6],
            ),
        }
    }

    /// The instance GUID (sysfs `device_id`): Hyper-V uses the same one in every VM.
    pub fn instance_id(self) -> Guid {
        match self {
            IcKind::Heartbeat => Guid::from_fields(
                0xfd149e91,
                0x82e0,
                0x4a7d,
                [0xaf, 0xa6, 0x2a, 0x41, 0x66, 0xcb, 0xd7, 0xc0],
            ),
            IcKind::Shutdown => Guid::from_fields(
                0xb6650ff7,
                0x33bc,
                0x4840,
                [0x80, 0x48, 0xe0, 0x67, 0x67, 0x86, 0xf3, 0x93],
            ),
            IcKind::Timesync => Guid::from_fields(
                0x2dd1ce17,
                0x079e,
                0x403c,
                [0xb3, 0x52, 0xa1, 0x92, 0x1e, 0xe2, 0x07, 0xee],
            ),
            IcKind::Kvp => Guid::from_fields(
                0x242ff919,
                0x07db,
                0x4180,
                [0x9c, 0x2e, 0xb8, 0x6c, 0xb6, 0x8c, 0x8c, 0x55],
            ),
        }
    }
}

/// A placeholder integration component: accepts the open, counts and logs packets.
#[derive(Debug)]
pub struct IntegrationComponent {
    kind: IcKind,
    packets: u64,
}

impl IntegrationComponent {
    /// The component of this kind.
    pub fn new(kind: IcKind) -> Self {
        Self { kind, packets: 0 }
    }

    /// Packets received from the guest so far.
    pub fn packets(&self) -> u64 {
        self.packets
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
    }

    fn on_packet(&mut self, ch: &mut ChannelHandle<'_>, packet: &IncomingPacket<'_>) {
        self.packets += 1;
        tracing::info!(
            ic = self.kind.name(),
            relid = ch.relid(),
            packet_type = packet.packet_type,
            trans_id = packet.trans_id,
            len = packet.payload.len(),
            "integration component packet (protocol not implemented yet)"
        );
    }

    fn on_close(&mut self, _subchannel_index: u16) {
        tracing::info!(ic = self.kind.name(), "integration component closed");
    }

    fn control(
        &mut self,
        command: &serde_json::Value,
    ) -> Result<serde_json::Value, super::ControlError> {
        match command.get("op").and_then(|v| v.as_str()) {
            Some("stats") => {
                Ok(serde_json::json!({ "ic": self.kind.name(), "packets": self.packets }))
            }
            _ => Err(super::ControlError(format!(
                "{}: unknown command {command}",
                self.kind.name()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmbus::offers::guid_text;

    #[test]
    fn guids_match_linux_and_are_distinct() {
        assert_eq!(
            guid_text(&IcKind::Heartbeat.class_id()),
            "57164f39-9115-4e78-ab55-382f3bd5422d"
        );
        assert_eq!(
            guid_text(&IcKind::Shutdown.class_id()),
            "0e0b6031-5213-4934-818b-38d90ced39db"
        );
        assert_eq!(
            guid_text(&IcKind::Timesync.class_id()),
            "9527e630-d0ae-497b-adce-e80ab0175caf"
        );
        assert_eq!(
            guid_text(&IcKind::Kvp.class_id()),
            "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6"
        );
        let mut ids: Vec<_> = IcKind::ALL.iter().map(|k| k.instance_id()).collect();
        ids.sort_by_key(|g| g.bytes);
        ids.dedup();
        assert_eq!(ids.len(), 4);
    }

    #[test]
    fn ic_offers_are_message_pipes() {
        let ic = IntegrationComponent::new(IcKind::Kvp);
        let o = ic.offer();
        assert_eq!(o.flags, 0x11);
        assert_eq!(o.max_subchannels, 0);
        assert_eq!(o.mmio_megabytes, 0);
    }
}
