// SPDX-License-Identifier: GPL-2.0
//! Checksum offload: the host's capabilities (OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, an
//! `NDIS_OFFLOAD` structure whose revision follows the NVSP version) and the guest's choice
//! (OID_TCP_OFFLOAD_PARAMETERS). Receive checksum offload for TCP and UDP is turned on when
//! the host advertises it; only then does the receive path believe the host's checksum
//! per-packet info. Transmit checksum and large-send offload are not used yet: frames leave
//! with their checksums computed by the stack.

use super::Session;
use crate::proto::{ndis, nvsp};
use kernel::prelude::*;
use zerocopy::{FromBytes, IntoBytes};

/// TCP and UDP checksums over one IP version.
const TCP_UDP: u32 = ndis::CSUM_CAP_TCP | ndis::CSUM_CAP_UDP;

impl Session {
    /// Turns receive checksum offload on if the host offers it; returns whether it is on.
    pub(super) fn negotiate_offload(&self) -> Result<bool> {
        let caps = self.query(ndis::OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES)?;
        // Older revisions are shorter: the missing tail reads as zero (not offered).
        let mut raw = [0u8; core::mem::size_of::<ndis::NdisOffload>()];
        for (d, s) in raw.iter_mut().zip(caps.bytes()) {
            *d = *s;
        }
        let offload = ndis::NdisOffload::read_from_bytes(&raw).map_err(|_| EPROTO)?;
        let header = offload.header;
        if header.object_type != ndis::OBJECT_TYPE_OFFLOAD
            || usize::from(header.size) > caps.bytes().len()
        {
            return Err(EPROTO);
        }
        let csum = offload.checksum;
        let v4 = csum.ip4_rx_checksum & TCP_UDP == TCP_UDP;
        let v6 = csum.ip6_rx_checksum & TCP_UDP == TCP_UDP;
        if !v4 && !v6 {
            return Ok(false);
        }
        let on = |yes: bool| {
            if yes {
                ndis::OFFLOAD_PARAM_RX_ENABLED_TX_DISABLED
            } else {
                ndis::OFFLOAD_PARAM_TX_RX_DISABLED
            }
        };
        let (revision, size) = if self.nvsp_version >= nvsp::VERSION_5 {
            (2, core::mem::size_of::<ndis::OffloadParameters>())
        } else {
            (1, ndis::OffloadParameters::V4_SIZE)
        };
        let params = ndis::OffloadParameters {
            header: ndis::ObjectHeader {
                object_type: ndis::OBJECT_TYPE_DEFAULT,
                revision,
                // CAST: 22 or 28.
                size: size as u16,
            },
            tcp4_checksum: on(v4),
            udp4_checksum: on(v4),
            tcp6_checksum: on(v6),
            udp6_checksum: on(v6),
            ..Default::default()
        };
        let bytes = params.as_bytes().get(..size).ok_or(EINVAL)?;
        self.set(ndis::OID_TCP_OFFLOAD_PARAMETERS, &[bytes])?;
        Ok(true)
    }
}
