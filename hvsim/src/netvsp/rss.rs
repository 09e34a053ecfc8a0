// SPDX-License-Identifier: GPL-2.0
//! Receive side scaling on the host: which channel a frame from the host network is delivered
//! on. The guest sets the hash key, the hash types and the indirection table with
//! `OID_GEN_RECEIVE_SCALE_PARAMETERS`; the host computes the Toeplitz hash of the frame's
//! addresses (and TCP ports) as NDIS defines it, picks `table[hash % size]`, and hands the
//! hash to the guest with the frame so it need not compute its own.

use rhv_proto::ndis::{self, RssConfig};

/// The RSS state of a NIC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rss {
    hash_types: u32,
    key: Vec<u8>,
    table: Vec<u16>,
}

/// Why RSS parameters were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RssError {
    #[error("indirection table names channel {entry}, the NIC has {queues}")]
    NoSuchQueue { entry: u32, queues: u16 },
    #[error("hash function {0:#x} is not Toeplitz")]
    HashFunction(u32),
}

impl Rss {
    /// Whether frames are spread over several channels.
    pub fn enabled(&self) -> bool {
        !self.table.is_empty() && !self.key.is_empty()
    }

    /// Entries of the indirection table.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// Applies the guest's parameters; a table entry must name one of `queues` channels.
    pub fn configure(&mut self, config: &RssConfig<'_>, queues: u16) -> Result<(), RssError> {
        if config.disabled() {
            *self = Self::default();
            return Ok(());
        }
        let hash = config.params.hash_information;
        if hash & 0xff != ndis::HASH_FUNC_TOEPLITZ {
            return Err(RssError::HashFunction(hash & 0xff));
        }
        let mut table = Vec::new();
        for entry in config.entries() {
            match u16::try_from(entry) {
                Ok(q) if q < queues => table.push(q),
                _ => return Err(RssError::NoSuchQueue { entry, queues }),
            }
        }
        self.hash_types = hash;
        if !config.hash_key.is_empty() {
            self.key = config.hash_key.to_vec();
        }
        if !table.is_empty() {
            self.table = table;
        }
        Ok(())
    }

    /// The hash and channel of `frame`, or `None` when RSS is off or the frame is not IP.
    pub fn classify(&self, frame: &[u8]) -> Option<(u32, u16)> {
        if !self.enabled() {
            return None;
        }
        let (input, len) = hash_input(frame, self.hash_types)?;
        let hash = toeplitz(&self.key, &input[..len]);
        let queue = *self.table.get(hash as usize % self.table.len())?;
        Some((hash, queue))
    }
}

/// The Toeplitz hash of `input` under `key` (NDIS "RSS hashing functions"). Key bits past
/// the end of the key count as zero.
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let key_bit = |n: usize| -> u32 {
        key.get(n / 8)
            .map_or(0, |b| u32::from((b >> (7 - n % 8)) & 1))
    };
    let mut window = (0..32).fold(0u32, |w, n| (w << 1) | key_bit(n));
    let mut hash = 0u32;
    for (i, byte) in input.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            window = (window << 1) | key_bit(32 + i * 8 + bit);
        }
    }
    hash
}

/// The hash input of a frame: source and destination address, then source and destination
/// port for TCP when the guest asked for TCP hashing. At most 36 bytes (IPv6 with ports).
fn hash_input(frame: &[u8], hash_types: u32) -> Option<([u8; 36], usize)> {
    let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let mut l3 = 14;
    if ethertype == 0x8100 {
        ethertype = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
        l3 = 18;
    }
    let ip = frame.get(l3..)?;
    let mut out = [0u8; 36];
    let (addr_len, protocol, l4) = match ethertype {
        0x0800 if hash_types & (ndis::HASH_IPV4 | ndis::HASH_TCP_IPV4) != 0 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let fragmented = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x3fff != 0;
            out[..8].copy_from_slice(ip.get(12..20)?);
            let protocol = if fragmented { 0 } else { *ip.get(9)? };
            let tcp = hash_types & ndis::HASH_TCP_IPV4 != 0;
            (8, if tcp { protocol } else { 0 }, ihl)
        }
        0x86dd if hash_types & (ndis::HASH_IPV6 | ndis::HASH_TCP_IPV6) != 0 => {
            out[..32].copy_from_slice(ip.get(8..40)?);
            let tcp = hash_types & ndis::HASH_TCP_IPV6 != 0;
            (32, if tcp { *ip.get(6)? } else { 0 }, 40)
        }
        _ => return None,
    };
    if protocol == 6 {
        if let Some(ports) = ip.get(l4..l4 + 4) {
            out[addr_len..addr_len + 4].copy_from_slice(ports);
            return Some((out, addr_len + 4));
        }
    }
    Some((out, addr_len))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rhv_proto::ndis::{ObjectHeader, RssParameters};
    use zerocopy::IntoBytes;

    /// The key of the NDIS verification suite.
    pub(crate) const KEY: [u8; 40] = rhv_proto::ndis::RSS_VERIFICATION_KEY;

    #[test]
    fn toeplitz_matches_the_ndis_verification_vectors() {
        // 66.9.149.187:2794 -> 161.142.100.80:1766
        let v4 = [66, 9, 149, 187, 161, 142, 100, 80];
        assert_eq!(toeplitz(&KEY, &v4), 0x323e_8fc2);
        let mut tcp = v4.to_vec();
        tcp.extend_from_slice(&2794u16.to_be_bytes());
        tcp.extend_from_slice(&1766u16.to_be_bytes());
        assert_eq!(toeplitz(&KEY, &tcp), 0x51cc_c178);
        // 199.92.111.2:14230 -> 65.69.140.83:4739
        let v4 = [199, 92, 111, 2, 65, 69, 140, 83];
        assert_eq!(toeplitz(&KEY, &v4), 0xd718_262a);
    }

    /// An Ethernet + IPv4 + TCP frame from `src:sport` to `dst:dport`.
    pub(crate) fn tcp4_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        f[23] = 6;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    /// An RSS parameter buffer as `rndis_set_rss_param_msg()` builds it: Toeplitz over IPv4 and
    /// IPv6 addresses and TCP ports, with `flags`, `table` and [`KEY`].
    pub(crate) fn rss_params(table: &[u32], flags: u16) -> Vec<u8> {
        let p = RssParameters {
            header: ObjectHeader {
                object_type: ndis::OBJECT_TYPE_RSS_PARAMETERS,
                revision: 2,
                size: 40,
            },
            flags,
            hash_information: ndis::HASH_FUNC_TOEPLITZ
                | ndis::HASH_IPV4
                | ndis::HASH_TCP_IPV4
                | ndis::HASH_IPV6
                | ndis::HASH_TCP_IPV6,
            indirection_table_size: (table.len() * 4) as u16,
            indirection_table_offset: 40,
            hash_key_size: 40,
            hash_key_offset: 40 + table.len() as u32 * 4,
            ..RssParameters::default()
        };
        let mut v = p.as_bytes().to_vec();
        for e in table {
            v.extend_from_slice(&e.to_le_bytes());
        }
        v.extend_from_slice(&KEY);
        v
    }

    #[test]
    fn frames_are_spread_by_the_guests_table() {
        let mut rss = Rss::default();
        let f = tcp4_frame([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766);
        assert_eq!(rss.classify(&f), None);
        let table: Vec<u32> = (0..128).map(|i| i % 2).collect();
        let buf = rss_params(&table, 0);
        rss.configure(&RssConfig::parse(&buf).unwrap(), 2).unwrap();
        assert_eq!(rss.table_len(), 128);
        let (hash, queue) = rss.classify(&f).unwrap();
        assert_eq!(hash, 0x51cc_c178);
        assert_eq!(queue, (0x51cc_c178 % 128 % 2) as u16);
        // Non-IP frames and truncated headers go nowhere in particular.
        assert_eq!(rss.classify(&[0u8; 14]), None);
        assert_eq!(rss.classify(&f[..20]), None);
        // A table naming a channel the NIC does not have is refused and changes nothing.
        let buf = rss_params(&[0, 5], 0);
        assert_eq!(
            rss.configure(&RssConfig::parse(&buf).unwrap(), 2),
            Err(RssError::NoSuchQueue {
                entry: 5,
                queues: 2
            })
        );
        assert_eq!(rss.table_len(), 128);
        // Disabling turns classification off.
        let buf = rss_params(&[], ndis::RSS_PARAM_FLAG_DISABLE_RSS);
        rss.configure(&RssConfig::parse(&buf).unwrap(), 2).unwrap();
        assert_eq!(rss.classify(&f), None);
    }

    #[test]
    fn fragments_hash_on_addresses_only() {
        let mut f = tcp4_frame([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766);
        f[20] = 0x20; // more fragments
        let (input, len) = hash_input(&f, ndis::HASH_IPV4 | ndis::HASH_TCP_IPV4).unwrap();
        assert_eq!(toeplitz(&KEY, &input[..len]), 0x323e_8fc2);
    }
}
