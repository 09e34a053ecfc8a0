// SPDX-License-Identifier: GPL-2.0
//! The NDIS side of RNDIS: the OIDs a synthetic NIC queries and sets, and the NDIS objects in
//! their information buffers — hardware offload capabilities and offload parameters, receive
//! side scaling (RSS) capabilities and parameters, configuration parameters — plus the bit
//! layouts of the checksum, large-send and 802.1Q per-packet info words.
//!
//! Layouts: `struct ndis_*` in drivers/net/hyperv/hyperv_net.h and the OIDs of
//! include/linux/rndis.h; the C structures' implicit padding is spelled out as `reserved`
//! fields so both sides agree byte for byte.
//!
//! This file is also compiled into the kernel modules: `core` and `zerocopy` only, no sibling
//! modules.

use zerocopy::FromBytes;
use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Supported OIDs (query): a list of u32.
pub const OID_GEN_SUPPORTED_LIST: u32 = 0x0001_0101;
/// Hardware status (query): u32, 0 = ready.
pub const OID_GEN_HARDWARE_STATUS: u32 = 0x0001_0102;
/// Media supported (query): u32.
pub const OID_GEN_MEDIA_SUPPORTED: u32 = 0x0001_0103;
/// Media in use (query): u32.
pub const OID_GEN_MEDIA_IN_USE: u32 = 0x0001_0104;
/// Largest frame payload, Ethernet header excluded (query): u32. Linux takes it as its MTU cap.
pub const OID_GEN_MAXIMUM_FRAME_SIZE: u32 = 0x0001_0106;
/// Link speed in units of 100 bit/s (query): u32.
pub const OID_GEN_LINK_SPEED: u32 = 0x0001_0107;
/// Vendor id (query): u32, OUI in the low 3 bytes.
pub const OID_GEN_VENDOR_ID: u32 = 0x0001_010c;
/// Vendor description (query): ASCII, NUL-terminated.
pub const OID_GEN_VENDOR_DESCRIPTION: u32 = 0x0001_010d;
/// Receive packet filter (query and set): u32 of `PACKET_TYPE_*`.
pub const OID_GEN_CURRENT_PACKET_FILTER: u32 = 0x0001_010e;
/// NDIS version of the driver (query): u16 major.minor.
pub const OID_GEN_DRIVER_VERSION: u32 = 0x0001_0110;
/// Largest frame including the header (query): u32.
pub const OID_GEN_MAXIMUM_TOTAL_SIZE: u32 = 0x0001_0111;
/// Link state (query): u32 of `MEDIA_STATE_*`.
pub const OID_GEN_MEDIA_CONNECT_STATUS: u32 = 0x0001_0114;
/// Vendor driver version (query): u32.
pub const OID_GEN_VENDOR_DRIVER_VERSION: u32 = 0x0001_0116;
/// Physical medium (query): u32.
pub const OID_GEN_PHYSICAL_MEDIUM: u32 = 0x0001_0202;
/// A named configuration parameter (set): [`ConfigParameterInfo`] and its strings.
pub const OID_GEN_RNDIS_CONFIG_PARAMETER: u32 = 0x0001_021b;
/// Adapter name (query): UTF-16.
pub const OID_GEN_FRIENDLY_NAME: u32 = 0x0002_0216;
/// RSS capabilities (query): [`RssCapabilities`].
pub const OID_GEN_RECEIVE_SCALE_CAPABILITIES: u32 = 0x0001_0203;
/// RSS parameters (set): [`RssParameters`], the indirection table and the key.
pub const OID_GEN_RECEIVE_SCALE_PARAMETERS: u32 = 0x0001_0204;
/// Permanent MAC address (query): 6 bytes.
pub const OID_802_3_PERMANENT_ADDRESS: u32 = 0x0101_0101;
/// Current MAC address (query): 6 bytes.
pub const OID_802_3_CURRENT_ADDRESS: u32 = 0x0101_0102;
/// Multicast list (set): 6 bytes per address.
pub const OID_802_3_MULTICAST_LIST: u32 = 0x0101_0103;
/// Multicast list capacity (query): u32.
pub const OID_802_3_MAXIMUM_LIST_SIZE: u32 = 0x0101_0104;
/// Encapsulation offload (query and set).
pub const OID_OFFLOAD_ENCAPSULATION: u32 = 0x0101_010a;
/// Offload currently in effect (query): [`NdisOffload`].
pub const OID_TCP_OFFLOAD_CURRENT_CONFIG: u32 = 0xfc01_020b;
/// Offload parameters (set): [`OffloadParameters`].
pub const OID_TCP_OFFLOAD_PARAMETERS: u32 = 0xfc01_020c;
/// Offload the hardware can do (query): [`NdisOffload`].
pub const OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES: u32 = 0xfc01_020d;

/// Medium: 802.3 Ethernet.
pub const MEDIUM_802_3: u32 = 0;
/// Physical medium: unspecified (a virtual NIC).
pub const PHYSICAL_MEDIUM_UNSPECIFIED: u32 = 0;
/// Link state: connected.
pub const MEDIA_STATE_CONNECTED: u32 = 0;
/// Link state: disconnected.
pub const MEDIA_STATE_DISCONNECTED: u32 = 1;

/// Packet filter: frames to the NIC's address.
pub const PACKET_TYPE_DIRECTED: u32 = 0x0001;
/// Packet filter: frames to listed multicast addresses.
pub const PACKET_TYPE_MULTICAST: u32 = 0x0002;
/// Packet filter: all multicast frames.
pub const PACKET_TYPE_ALL_MULTICAST: u32 = 0x0004;
/// Packet filter: broadcast frames.
pub const PACKET_TYPE_BROADCAST: u32 = 0x0008;
/// Packet filter: every frame.
pub const PACKET_TYPE_PROMISCUOUS: u32 = 0x0020;

/// NDIS object type of [`OffloadParameters`].
pub const OBJECT_TYPE_DEFAULT: u8 = 0x80;
/// NDIS object type of [`RssCapabilities`].
pub const OBJECT_TYPE_RSS_CAPABILITIES: u8 = 0x88;
/// NDIS object type of [`RssParameters`].
pub const OBJECT_TYPE_RSS_PARAMETERS: u8 = 0x89;
/// NDIS object type of [`NdisOffload`].
pub const OBJECT_TYPE_OFFLOAD: u8 = 0xa7;

/// [`NdisOffload`] size for NDIS 6.0 (up to `flags`; revision 1).
pub const OFFLOAD_SIZE_6_0: u16 = 112;
/// [`NdisOffload`] size for NDIS 6.1 (up to IPsec v2; revision 2).
pub const OFFLOAD_SIZE_6_1: u16 = 144;
/// [`NdisOffload`] size for NDIS 6.30 (revision 3).
pub const OFFLOAD_SIZE_6_30: u16 = 156;

/// The header of every NDIS object.
#[repr(C, packed)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct ObjectHeader {
    /// `OBJECT_TYPE_*`.
    pub object_type: u8,
    /// Revision of the object.
    pub revision: u8,
    /// Size of the object in bytes.
    pub size: u16,
}
const _: () = assert!(core::mem::size_of::<ObjectHeader>() == 4);

/// Declares a packed NDIS structure with its size check.
macro_rules! ndis_struct {
    (
        $(#[$meta:meta])*
        $name:ident, size $size:literal {
            $($(#[$fmeta:meta])* pub $field:ident : $fty:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[repr(C, packed)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $fty,)*
        }
        const _: () = assert!(core::mem::size_of::<$name>() == $size);
    };
}

ndis_struct! {
    /// Checksum offload capabilities (`struct ndis_csum_offload`); `*csum` fields hold
    /// `TXCSUM_*`/`RXCSUM_*` bits, `*enc` fields `ENCAP_*` bits.
    ChecksumOffload, size 32 {
        /// IPv4 transmit encapsulations.
        pub ip4_tx_encapsulation: u32,
        /// IPv4 transmit checksums.
        pub ip4_tx_checksum: u32,
        /// IPv4 receive encapsulations.
        pub ip4_rx_encapsulation: u32,
        /// IPv4 receive checksums.
        pub ip4_rx_checksum: u32,
        /// IPv6 transmit encapsulations.
        pub ip6_tx_encapsulation: u32,
        /// IPv6 transmit checksums.
        pub ip6_tx_checksum: u32,
        /// IPv6 receive encapsulations.
        pub ip6_rx_encapsulation: u32,
        /// IPv6 receive checksums.
        pub ip6_rx_checksum: u32,
    }
}

ndis_struct! {
    /// Large send offload v2 capabilities (`struct ndis_lsov2_offload`).
    LsoV2Offload, size 28 {
        /// IPv4 encapsulations (`ENCAP_802_3` to enable).
        pub ip4_encapsulation: u32,
        /// Largest IPv4 segment-offload packet.
        pub ip4_max_size: u32,
        /// Fewest IPv4 segments.
        pub ip4_min_segments: u32,
        /// IPv6 encapsulations.
        pub ip6_encapsulation: u32,
        /// Largest IPv6 segment-offload packet.
        pub ip6_max_size: u32,
        /// Fewest IPv6 segments.
        pub ip6_min_segments: u32,
        /// IPv6 options (`LSOV2_CAP_IP6`).
        pub ip6_options: u32,
    }
}

ndis_struct! {
    /// Offload capabilities (`struct ndis_offload`), the answer to
    /// [`OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES`]. Fields the host does not offer stay zero.
    NdisOffload, size 156 {
        /// Type [`OBJECT_TYPE_OFFLOAD`]; revision 1..3 and the matching `OFFLOAD_SIZE_*`.
        pub header: ObjectHeader,
        /// Checksum offload.
        pub checksum: ChecksumOffload,
        /// Large send v1 (unused by Linux).
        pub lso_v1: [u32; 4],
        /// IPsec v1 (unused by Linux).
        pub ipsec_v1: [u32; 7],
        /// Large send v2.
        pub lso_v2: LsoV2Offload,
        /// Flags.
        pub flags: u32,
        /// IPsec v2 (NDIS 6.1; unused by Linux).
        pub ipsec_v2: [u8; 32],
        /// Receive segment coalescing for IPv4 (NDIS 6.30).
        pub rsc_ip4: u8,
        /// Receive segment coalescing for IPv6 (NDIS 6.30).
        pub rsc_ip6: u8,
        /// C padding.
        pub reserved: [u8; 2],
        /// GRE encapsulation flags (NDIS 6.30).
        pub encap_gre_flags: u32,
        /// GRE encapsulation: largest header.
        pub encap_gre_max_header: u32,
    }
}

/// Checksum capability bit: IPv4 options / IPv6 extension headers.
pub const CSUM_CAP_IP_OPTIONS: u32 = 0x001;
/// Checksum capability bit: TCP options.
pub const CSUM_CAP_TCP_OPTIONS: u32 = 0x004;
/// Checksum capability bit: TCP.
pub const CSUM_CAP_TCP: u32 = 0x010;
/// Checksum capability bit: UDP.
pub const CSUM_CAP_UDP: u32 = 0x040;
/// Checksum capability bit: the IPv4 header checksum.
pub const CSUM_CAP_IP4: u32 = 0x100;
/// Encapsulation: 802.3.
pub const ENCAP_802_3: u32 = 0x0002;
/// Large send v2 IPv6 option: extension headers.
pub const LSOV2_CAP_IP6_EXTENSION_HEADERS: u32 = 0x001;
/// Large send v2 IPv6 option: TCP options.
pub const LSOV2_CAP_TCP6_OPTIONS: u32 = 0x004;

ndis_struct! {
    /// Offload parameters (`struct ndis_offload_params`), set by the guest with
    /// [`OID_TCP_OFFLOAD_PARAMETERS`]. NVSP 4 guests send only the first 22 bytes: parse
    /// with [`OffloadParameters::parse`].
    OffloadParameters, size 28 {
        /// Type [`OBJECT_TYPE_DEFAULT`].
        pub header: ObjectHeader,
        /// IPv4 header checksum (`OFFLOAD_PARAM_*`).
        pub ip4_checksum: u8,
        /// TCP/IPv4 checksum.
        pub tcp4_checksum: u8,
        /// UDP/IPv4 checksum.
        pub udp4_checksum: u8,
        /// TCP/IPv6 checksum.
        pub tcp6_checksum: u8,
        /// UDP/IPv6 checksum.
        pub udp6_checksum: u8,
        /// Large send v1.
        pub lso_v1: u8,
        /// IPsec v1.
        pub ipsec_v1: u8,
        /// Large send v2 over IPv4 (`OFFLOAD_PARAM_LSOV2_*`).
        pub lso_v2_ip4: u8,
        /// Large send v2 over IPv6.
        pub lso_v2_ip6: u8,
        /// TCP connection offload over IPv4.
        pub tcp_connection_ip4: u8,
        /// TCP connection offload over IPv6.
        pub tcp_connection_ip6: u8,
        /// C padding.
        pub reserved: u8,
        /// Flags.
        pub flags: u32,
        /// IPsec v2.
        pub ipsec_v2: u8,
        /// IPsec v2 over IPv4.
        pub ipsec_v2_ip4: u8,
        /// Receive segment coalescing over IPv4 (`OFFLOAD_PARAM_RSC_*`).
        pub rsc_ip4: u8,
        /// Receive segment coalescing over IPv6.
        pub rsc_ip6: u8,
        /// Encapsulated packet task offload.
        pub encapsulated_packet_task_offload: u8,
        /// Encapsulation types.
        pub encapsulation_types: u8,
        /// C padding.
        pub reserved2: [u8; 2],
    }
}

/// Offload parameter value: leave as is.
pub const OFFLOAD_PARAM_NO_CHANGE: u8 = 0;
/// Checksum offload parameter: disabled both ways.
pub const OFFLOAD_PARAM_TX_RX_DISABLED: u8 = 1;
/// Checksum offload parameter: transmit only.
pub const OFFLOAD_PARAM_TX_ENABLED_RX_DISABLED: u8 = 2;
/// Checksum offload parameter: receive only.
pub const OFFLOAD_PARAM_RX_ENABLED_TX_DISABLED: u8 = 3;
/// Checksum offload parameter: both ways.
pub const OFFLOAD_PARAM_TX_RX_ENABLED: u8 = 4;
/// Large send v2 parameter: disabled.
pub const OFFLOAD_PARAM_LSOV2_DISABLED: u8 = 1;
/// Large send v2 parameter: enabled.
pub const OFFLOAD_PARAM_LSOV2_ENABLED: u8 = 2;

/// Why an NDIS object in an information buffer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdisError {
    /// The buffer is shorter than the object.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// The object header names another type or a size that disagrees with the buffer.
    BadHeader(ObjectHeader),
    /// An offset/size pair points outside the buffer.
    BadOffset(&'static str),
    /// A length is not what the protocol allows.
    BadLength(&'static str),
}

impl OffloadParameters {
    /// Length NVSP 4 and older guests send (up to `ipsec_v2_ip4`).
    pub const V4_SIZE: usize = 22;

    /// Reads the parameters from `info`, zero-filling the fields a shorter (older) structure
    /// lacks; fewer than [`Self::V4_SIZE`] bytes is an error.
    pub fn parse(info: &[u8]) -> Result<Self, NdisError> {
        if info.len() < Self::V4_SIZE {
            return Err(NdisError::TooShort {
                needed: Self::V4_SIZE,
                got: info.len(),
            });
        }
        let mut raw = [0u8; core::mem::size_of::<Self>()];
        let n = info.len().min(raw.len());
        raw[..n].copy_from_slice(&info[..n]);
        Self::read_from_bytes(&raw).map_err(|_| NdisError::TooShort {
            needed: raw.len(),
            got: n,
        })
    }
}

ndis_struct! {
    /// RSS capabilities (`struct ndis_recv_scale_cap`), the answer to
    /// [`OID_GEN_RECEIVE_SCALE_CAPABILITIES`]. Linux enables multiple queues only if
    /// `num_receive_queues` is at least 2.
    RssCapabilities, size 18 {
        /// Type [`OBJECT_TYPE_RSS_CAPABILITIES`], revision 2, size 18.
        pub header: ObjectHeader,
        /// `RSS_CAPS_*` bits.
        pub capabilities: u32,
        /// Interrupt messages.
        pub num_interrupt_messages: u32,
        /// Receive queues (channels) the host can spread traffic over.
        pub num_receive_queues: u32,
        /// Entries of the indirection table.
        pub num_indirection_table_entries: u16,
    }
}

/// RSS capability: hash TCP over IPv4.
pub const RSS_CAPS_HASH_TYPE_TCP_IPV4: u32 = 0x0000_0100;
/// RSS capability: hash TCP over IPv6.
pub const RSS_CAPS_HASH_TYPE_TCP_IPV6: u32 = 0x0000_0200;
/// RSS capability: hash TCP over IPv6 with extension headers.
pub const RSS_CAPS_HASH_TYPE_TCP_IPV6_EX: u32 = 0x0000_0400;
/// RSS capability: classification at DPC time.
pub const RSS_CAPS_CLASSIFICATION_AT_DPC: u32 = 0x0400_0000;

ndis_struct! {
    /// RSS parameters (`struct ndis_recv_scale_param`), set by the guest with
    /// [`OID_GEN_RECEIVE_SCALE_PARAMETERS`]; the indirection table (u32 channel numbers) and
    /// the hash key follow at offsets from the start of this structure.
    RssParameters, size 40 {
        /// Type [`OBJECT_TYPE_RSS_PARAMETERS`].
        pub header: ObjectHeader,
        /// `RSS_PARAM_FLAG_*`.
        pub flags: u16,
        /// Base CPU (unused).
        pub base_cpu_number: u16,
        /// `HASH_*` function and types.
        pub hash_information: u32,
        /// Bytes of the indirection table.
        pub indirection_table_size: u16,
        /// C padding.
        pub reserved1: u16,
        /// Offset of the indirection table.
        pub indirection_table_offset: u32,
        /// Bytes of the hash key.
        pub hash_key_size: u16,
        /// C padding.
        pub reserved2: u16,
        /// Offset of the hash key.
        pub hash_key_offset: u32,
        /// Processor masks (unused).
        pub processor_masks_offset: u32,
        /// Processor masks (unused).
        pub num_processor_masks: u32,
        /// Processor masks (unused).
        pub processor_masks_entry_size: u32,
    }
}

/// RSS parameter flag: the indirection table is unchanged.
pub const RSS_PARAM_FLAG_ITABLE_UNCHANGED: u16 = 0x0004;
/// RSS parameter flag: the hash key is unchanged.
pub const RSS_PARAM_FLAG_HASH_KEY_UNCHANGED: u16 = 0x0008;
/// RSS parameter flag: turn RSS off.
pub const RSS_PARAM_FLAG_DISABLE_RSS: u16 = 0x0010;
/// Hash function: Toeplitz.
pub const HASH_FUNC_TOEPLITZ: u32 = 0x0000_0001;
/// Hash type: IPv4 addresses.
pub const HASH_IPV4: u32 = 0x0000_0100;
/// Hash type: IPv4 addresses and TCP ports.
pub const HASH_TCP_IPV4: u32 = 0x0000_0200;
/// Hash type: IPv6 addresses.
pub const HASH_IPV6: u32 = 0x0000_0400;
/// Hash type: IPv6 addresses and TCP ports.
pub const HASH_TCP_IPV6: u32 = 0x0000_1000;
/// Largest indirection table (entries).
pub const RSS_MAX_INDIRECTION_ENTRIES: usize = 256;
/// Largest hash key (bytes).
pub const RSS_MAX_KEY_SIZE: usize = 40;
/// The Toeplitz key of the NDIS RSS verification suite, which Linux's netvsc also uses by
/// default: the key our guest driver hands the host, and the one the suite's hash vectors are
/// computed with.
pub const RSS_VERIFICATION_KEY: [u8; RSS_MAX_KEY_SIZE] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// A validated RSS parameter set: the structure and its two arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RssConfig<'a> {
    /// The fixed structure.
    pub params: RssParameters,
    /// The indirection table, 4 bytes per entry (empty if unchanged or RSS is off).
    pub indirection_table: &'a [u8],
    /// The hash key (empty if unchanged or RSS is off).
    pub hash_key: &'a [u8],
}

impl<'a> RssConfig<'a> {
    /// Validates an [`OID_GEN_RECEIVE_SCALE_PARAMETERS`] buffer.
    pub fn parse(info: &'a [u8]) -> Result<Self, NdisError> {
        let (params, _) =
            RssParameters::read_from_prefix(info).map_err(|_| NdisError::TooShort {
                needed: core::mem::size_of::<RssParameters>(),
                got: info.len(),
            })?;
        let h = params.header;
        if h.object_type != OBJECT_TYPE_RSS_PARAMETERS
            || usize::from(h.size) < core::mem::size_of::<RssParameters>()
            || usize::from(h.size) > info.len()
        {
            return Err(NdisError::BadHeader(h));
        }
        if params.flags & RSS_PARAM_FLAG_DISABLE_RSS != 0 {
            return Ok(Self {
                params,
                indirection_table: &[],
                hash_key: &[],
            });
        }
        let table = if params.flags & RSS_PARAM_FLAG_ITABLE_UNCHANGED != 0 {
            &[]
        } else {
            let t = array_at(
                info,
                "indirection table",
                params.indirection_table_offset,
                params.indirection_table_size,
            )?;
            let entries = t.len() / 4;
            if t.len() % 4 != 0 || entries == 0 || entries > RSS_MAX_INDIRECTION_ENTRIES {
                return Err(NdisError::BadLength("indirection table"));
            }
            t
        };
        let key = if params.flags & RSS_PARAM_FLAG_HASH_KEY_UNCHANGED != 0 {
            &[]
        } else {
            let k = array_at(
                info,
                "hash key",
                params.hash_key_offset,
                params.hash_key_size,
            )?;
            if k.is_empty() || k.len() > RSS_MAX_KEY_SIZE {
                return Err(NdisError::BadLength("hash key"));
            }
            k
        };
        Ok(Self {
            params,
            indirection_table: table,
            hash_key: key,
        })
    }

    /// Whether the guest turned RSS off.
    pub fn disabled(&self) -> bool {
        self.params.flags & RSS_PARAM_FLAG_DISABLE_RSS != 0
    }

    /// The indirection table entries.
    pub fn entries(&self) -> impl Iterator<Item = u32> + 'a {
        self.indirection_table.chunks_exact(4).map(|c| {
            let mut w = [0u8; 4];
            w.copy_from_slice(c);
            u32::from_le_bytes(w)
        })
    }
}

/// `size` bytes at `offset` of `info`, past the fixed [`RssParameters`].
fn array_at<'a>(
    info: &'a [u8],
    what: &'static str,
    offset: u32,
    size: u16,
) -> Result<&'a [u8], NdisError> {
    let start = offset as usize;
    if start < core::mem::size_of::<RssParameters>() {
        return Err(NdisError::BadOffset(what));
    }
    start
        .checked_add(usize::from(size))
        .and_then(|end| info.get(start..end))
        .ok_or(NdisError::BadOffset(what))
}

ndis_struct! {
    /// A configuration parameter (`struct rndis_config_parameter_info`) set with
    /// [`OID_GEN_RNDIS_CONFIG_PARAMETER`]; name and value are UTF-16 at offsets from the
    /// start of this structure. Linux sets `NetworkAddress` to change the MAC address.
    ConfigParameterInfo, size 20 {
        /// Offset of the name.
        pub name_offset: u32,
        /// Bytes of the name.
        pub name_length: u32,
        /// `CONFIG_PARAM_TYPE_*`.
        pub parameter_type: u32,
        /// Offset of the value.
        pub value_offset: u32,
        /// Bytes of the value.
        pub value_length: u32,
    }
}

/// Configuration parameter type: integer.
pub const CONFIG_PARAM_TYPE_INTEGER: u32 = 0;
/// Configuration parameter type: UTF-16 string.
pub const CONFIG_PARAM_TYPE_STRING: u32 = 2;

impl ConfigParameterInfo {
    /// Validates a configuration parameter buffer; returns the structure, the name bytes and
    /// the value bytes (both UTF-16LE).
    pub fn parse(info: &[u8]) -> Result<(Self, &[u8], &[u8]), NdisError> {
        let (c, _) = Self::read_from_prefix(info).map_err(|_| NdisError::TooShort {
            needed: core::mem::size_of::<Self>(),
            got: info.len(),
        })?;
        let field = |what, offset: u32, len: u32| {
            let start = offset as usize;
            if start < core::mem::size_of::<Self>() || len % 2 != 0 {
                return Err(NdisError::BadOffset(what));
            }
            start
                .checked_add(len as usize)
                .and_then(|end| info.get(start..end))
                .ok_or(NdisError::BadOffset(what))
        };
        let name = field("name", c.name_offset, c.name_length)?;
        let value = field("value", c.value_offset, c.value_length)?;
        Ok((c, name, value))
    }
}

/// Checksum info word, transmit: the frame is IPv4.
pub const CSUM_TX_IS_IPV4: u32 = 1 << 0;
/// Checksum info word, transmit: the frame is IPv6.
pub const CSUM_TX_IS_IPV6: u32 = 1 << 1;
/// Checksum info word, transmit: fill in the TCP checksum.
pub const CSUM_TX_TCP: u32 = 1 << 2;
/// Checksum info word, transmit: fill in the UDP checksum.
pub const CSUM_TX_UDP: u32 = 1 << 3;
/// Checksum info word, transmit: fill in the IPv4 header checksum.
pub const CSUM_TX_IP_HEADER: u32 = 1 << 4;
/// Checksum info word, transmit: shift of the 10-bit transport header offset.
pub const CSUM_TX_TCP_HEADER_OFFSET_SHIFT: u32 = 16;
/// Checksum and large-send info words: the transport header offset is 10 bits wide.
pub const TX_HEADER_OFFSET_MASK: u32 = 0x3ff;
/// Checksum info word, receive: the TCP checksum was verified.
pub const CSUM_RX_TCP_SUCCEEDED: u32 = 1 << 3;
/// Checksum info word, receive: the UDP checksum was verified.
pub const CSUM_RX_UDP_SUCCEEDED: u32 = 1 << 4;
/// Checksum info word, receive: the IPv4 header checksum was verified.
pub const CSUM_RX_IP_SUCCEEDED: u32 = 1 << 5;

/// Large-send info word (v2): the MSS, bits 0..20.
pub const LSO_MSS_MASK: u32 = 0x000f_ffff;
/// Large-send info word: shift of the 10-bit TCP header offset.
pub const LSO_TCP_HEADER_OFFSET_SHIFT: u32 = 20;
/// Large-send info word: type v2.
pub const LSO_TYPE_V2: u32 = 1 << 30;
/// Large-send info word: IPv6 (else IPv4).
pub const LSO_IPV6: u32 = 1 << 31;

/// 802.1Q info word: priority, bits 0..3.
pub const VLAN_PRIORITY_MASK: u32 = 0x7;
/// 802.1Q info word: canonical format indicator.
pub const VLAN_CFI: u32 = 1 << 3;
/// 802.1Q info word: shift of the 12-bit VLAN id.
pub const VLAN_ID_SHIFT: u32 = 4;
