// SPDX-License-Identifier: GPL-2.0
//! The virtio-net header (`struct virtio_net_hdr` in include/uapi/linux/virtio_net.h) that a
//! TAP opened with `IFF_VNET_HDR` puts before every frame, both ways: it tells the host kernel
//! that a frame's transport checksum is still to be filled in (`NEEDS_CSUM`) or that a frame
//! is a TCP segment-offload frame for it to cut into MSS-sized segments (`gso_type`), and
//! tells us the same of frames the host kernel hands over. Fields are in host byte order
//! (little-endian here: the TAP's default on x86, and we never call TUNSETVNETBE).

use zerocopy::{FromBytes, IntoBytes};
use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `flags`: the checksum at `csum_start + csum_offset` must be filled in over
/// `csum_start..` (the field holds the pseudo-header sum).
pub const F_NEEDS_CSUM: u8 = 1;
/// `flags`: the sender already verified the frame's checksums.
pub const F_DATA_VALID: u8 = 2;
/// `gso_type`: not a segment-offload frame.
pub const GSO_NONE: u8 = 0;
/// `gso_type`: TCP over IPv4.
pub const GSO_TCPV4: u8 = 1;
/// `gso_type`: TCP over IPv6.
pub const GSO_TCPV6: u8 = 4;
/// `gso_type` bit: the frame has CWR set (ECN).
pub const GSO_ECN: u8 = 0x80;

/// One virtio-net header.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct VnetHeader {
    /// `F_*` bits.
    pub flags: u8,
    /// `GSO_*`.
    pub gso_type: u8,
    /// Bytes of the headers (Ethernet to TCP) that every segment repeats.
    pub hdr_len: u16,
    /// Payload bytes per segment (the MSS).
    pub gso_size: u16,
    /// Where the checksummed part starts, from the start of the frame.
    pub csum_start: u16,
    /// Where the checksum field is, from `csum_start`.
    pub csum_offset: u16,
}
const _: () = assert!(size_of::<VnetHeader>() == VnetHeader::SIZE);

impl VnetHeader {
    /// Bytes of the header (TUNSETVNETHDRSZ).
    pub const SIZE: usize = 10;

    /// The header as bytes.
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b.copy_from_slice(self.as_bytes());
        b
    }

    /// The header in the first [`Self::SIZE`] bytes of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Self::read_from_prefix(bytes).ok().map(|(h, _)| h)
    }

    /// Shifts the offsets by `delta` bytes (a VLAN tag was put into the frame before them).
    pub fn shifted(self, delta: u16) -> Option<Self> {
        if self == Self::default() {
            return Some(self);
        }
        Some(Self {
            hdr_len: if self.hdr_len == 0 {
                0
            } else {
                self.hdr_len.checked_add(delta)?
            },
            csum_start: self.csum_start.checked_add(delta)?,
            ..self
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_the_kernel_layout() {
        let h = VnetHeader {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        let b = h.to_bytes();
        assert_eq!(b, [1, 1, 66, 0, 0xa8, 5, 34, 0, 16, 0]);
        assert_eq!(VnetHeader::from_bytes(&b), Some(h));
        assert_eq!(VnetHeader::from_bytes(&b[..9]), None);
        let s = h.shifted(4).unwrap();
        assert_eq!((s.hdr_len, s.csum_start, s.csum_offset), (70, 38, 16));
        assert_eq!(
            VnetHeader::default().shifted(4),
            Some(VnetHeader::default())
        );
    }
}
