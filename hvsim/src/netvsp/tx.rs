// SPDX-License-Identifier: GPL-2.0
//! Guest → host: where the bytes of a guest's SEND_RNDIS_PKT are. Small messages (and
//! batches of them) sit in a section of the send buffer; large ones arrive as GPA-direct page
//! ranges; Linux may also put the RNDIS header of a frame at the end of a section and the
//! frame itself in page ranges (`netvsc_send()` in drivers/net/hyperv/netvsc.c). The bytes
//! are the section's, then the ranges', in order; they hold one or more RNDIS messages.

use std::borrow::Cow;

use rhv_proto::ndis;
use rhv_proto::nvsp::{self, SendRndisPacket};
use rhv_proto::rndis::{PacketView, PPI_IEEE_8021Q};

use super::buffers::{parse_page_ranges, read_page_ranges, BufferError, GuestBuffer};
use crate::memory::GuestMemory;

/// Linux's send section size (`NETVSC_SEND_SECTION_SIZE`), which the host chooses.
pub const SEND_SECTION_SIZE: u32 = 6144;
/// Most bytes one SEND_RNDIS_PKT may carry (a 64 KiB frame and its headers, with room).
pub const MAX_PACKET_BYTES: usize = 128 << 10;

/// A bad SEND_RNDIS_PKT.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("send buffer of {0} bytes has no whole section")]
    TooSmall(u64),
    #[error("section {index} used, but there is no send buffer")]
    NoSendBuffer { index: u32 },
    #[error("section {index} of {count}, or {size} bytes in a {section_size}-byte section")]
    BadSection {
        index: u32,
        size: u32,
        count: u32,
        section_size: u32,
    },
    #[error("no data: neither a section nor page ranges")]
    Empty,
    #[error("{0}")]
    Buffer(#[from] BufferError),
}

/// The guest's send buffer.
#[derive(Debug)]
pub struct SendBuffer {
    buffer: GuestBuffer,
    sections: u32,
}

impl SendBuffer {
    /// The send buffer in `buffer`, cut into [`SEND_SECTION_SIZE`] sections.
    pub fn new(buffer: GuestBuffer) -> Result<Self, TxError> {
        let sections = u32::try_from(buffer.len() / u64::from(SEND_SECTION_SIZE))
            .ok()
            .filter(|&n| n > 0)
            .ok_or(TxError::TooSmall(buffer.len()))?;
        Ok(Self { buffer, sections })
    }

    /// The GPADL behind the buffer.
    pub fn gpadl(&self) -> u32 {
        self.buffer.gpadl()
    }
}

/// Collects the bytes of `msg` into `out` (cleared first): the send-buffer section it names,
/// then the GPA-direct ranges in `extra` (empty for an in-band packet).
pub fn gather(
    mem: &dyn GuestMemory,
    send: Option<&SendBuffer>,
    msg: &SendRndisPacket,
    gpa_direct: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), TxError> {
    out.clear();
    let index = msg.send_buffer_section_index;
    if index != nvsp::INVALID_SECTION_INDEX {
        let size = msg.send_buffer_section_size;
        let send = send.ok_or(TxError::NoSendBuffer { index })?;
        if index >= send.sections || size > SEND_SECTION_SIZE || size == 0 {
            return Err(TxError::BadSection {
                index,
                size,
                count: send.sections,
                section_size: SEND_SECTION_SIZE,
            });
        }
        out.resize(size as usize, 0);
        let offset = u64::from(index) * u64::from(SEND_SECTION_SIZE);
        send.buffer.read(mem, offset, out)?;
    }
    if let Some(extra) = gpa_direct {
        let ranges = parse_page_ranges(extra)?;
        read_page_ranges(mem, &ranges, out, MAX_PACKET_BYTES)?;
    }
    if out.is_empty() {
        return Err(TxError::Empty);
    }
    Ok(())
}

/// The Ethernet frame of a data message. A VLAN tag the guest passed as per-packet info is
/// put back into the frame, as the host network expects it.
pub fn frame<'a>(packet: &PacketView<'a>) -> Cow<'a, [u8]> {
    let data = packet.data;
    match packet.ppi_u32(PPI_IEEE_8021Q) {
        Some(info) if data.len() >= 12 => {
            let vid = (info >> ndis::VLAN_ID_SHIFT) & 0xfff;
            let pcp = info & ndis::VLAN_PRIORITY_MASK;
            let dei = u32::from(info & ndis::VLAN_CFI != 0);
            // CAST: 3 + 1 + 12 bits.
            let tci = (pcp << 13 | dei << 12 | vid) as u16;
            let mut tagged = Vec::with_capacity(data.len() + 4);
            tagged.extend_from_slice(&data[..12]);
            tagged.extend_from_slice(&0x8100u16.to_be_bytes());
            tagged.extend_from_slice(&tci.to_be_bytes());
            tagged.extend_from_slice(&data[12..]);
            Cow::Owned(tagged)
        }
        _ => Cow::Borrowed(data),
    }
}
