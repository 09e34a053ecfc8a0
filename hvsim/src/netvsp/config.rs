// SPDX-License-Identifier: GPL-2.0
//! The configuration of one synthetic NIC and its command-line form,
//! `tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,queues=N][,mtu=N][,instance=GUID][,offload=on|off]`.

use std::str::FromStr;

use rhv_proto::guid::Guid;

use crate::vmbus::parse_guid;

/// Hyper-V's OUI: the MAC prefix of its synthetic NICs.
pub const HYPERV_OUI: [u8; 3] = [0x00, 0x15, 0x5d];
/// Receive queues (channels) offered by default: enough for the 2–4 vCPUs of a test guest.
pub const DEFAULT_QUEUES: u16 = 4;
/// Most receive queues: Linux's `VRSS_CHANNEL_MAX`.
pub const MAX_QUEUES: u16 = 64;
/// Largest MTU a guest may set by default (a jumbo-frame vSwitch port).
pub const DEFAULT_MAX_MTU: u32 = 9000;
/// Smallest and largest MTU the host accepts as configuration.
pub const MTU_RANGE: std::ops::RangeInclusive<u32> = 576..=65_521;
/// Link speed reported to the guest, in Mbit/s.
pub const DEFAULT_LINK_SPEED_MBPS: u32 = 10_000;

/// One synthetic NIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetvspConfig {
    /// Host TAP interface the NIC is plugged into.
    pub tap: String,
    /// The NIC's permanent MAC address.
    pub mac: [u8; 6],
    /// VMBus instance GUID (sysfs `device_id`); by default derived from the MAC, so it is the
    /// same in every run and different for every NIC.
    pub instance: Guid,
    /// Receive queues: the primary channel plus `queues - 1` sub-channels.
    pub queues: u16,
    /// The largest MTU the guest may use (`OID_GEN_MAXIMUM_FRAME_SIZE`).
    pub max_mtu: u32,
    /// Link speed reported to the guest, in Mbit/s.
    pub link_speed_mbps: u32,
    /// Offer checksum and large-send offload (the TAP carries virtio-net headers).
    pub offload: bool,
}

impl NetvspConfig {
    /// A NIC on `tap` with `mac` and the defaults for everything else.
    pub fn new(tap: &str, mac: [u8; 6]) -> Self {
        Self {
            tap: tap.to_owned(),
            mac,
            instance: instance_for_mac(mac),
            queues: DEFAULT_QUEUES,
            max_mtu: DEFAULT_MAX_MTU,
            link_speed_mbps: DEFAULT_LINK_SPEED_MBPS,
            offload: true,
        }
    }
}

/// The default instance GUID of the NIC with `mac`: a fixed GUID whose last 6 bytes are the
/// MAC address.
pub fn instance_for_mac(mac: [u8; 6]) -> Guid {
    Guid::from_fields(
        0x5b6e_7e1c,
        0x4a2d,
        0x4f3a,
        [0x9e, 0x51, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]],
    )
}

/// A bad `--nic` argument.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("--nic: missing tap=NAME")]
    MissingTap,
    #[error("--nic: tap name {0:?} must be 1 to 15 bytes without '/' or whitespace")]
    BadTap(String),
    #[error("--nic: {0:?} is not a MAC address (XX:XX:XX:XX:XX:XX)")]
    BadMac(String),
    #[error("--nic: {0:?} is a multicast MAC address")]
    MulticastMac(String),
    #[error("--nic: {key}={value:?}: {why}")]
    BadValue {
        key: &'static str,
        value: String,
        why: String,
    },
    #[error("--nic: unknown option {0:?} (tap, mac, queues, mtu, instance, offload)")]
    UnknownKey(String),
}

/// Parses `XX:XX:XX:XX:XX:XX` (or with `-`).
pub fn parse_mac(s: &str) -> Result<[u8; 6], ConfigError> {
    let bad = || ConfigError::BadMac(s.to_owned());
    let mut mac = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for byte in &mut mac {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if mac[0] & 1 != 0 {
        return Err(ConfigError::MulticastMac(s.to_owned()));
    }
    Ok(mac)
}

/// The text form of a MAC address.
pub fn mac_text(mac: &[u8; 6]) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

fn number<T>(
    key: &'static str,
    value: &str,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display,
{
    let bad = |why: String| ConfigError::BadValue {
        key,
        value: value.to_owned(),
        why,
    };
    let n: T = value.parse().map_err(|_| bad("not a number".to_owned()))?;
    if !range.contains(&n) {
        return Err(bad(format!(
            "must be between {} and {}",
            range.start(),
            range.end()
        )));
    }
    Ok(n)
}

impl FromStr for NetvspConfig {
    type Err = ConfigError;

    /// `tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,queues=N][,mtu=N][,instance=GUID][,offload=on|off]`;
    /// the MAC defaults to 00:15:5d:00:00:01, offload to on.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let mut tap = None;
        let mut mac = [HYPERV_OUI[0], HYPERV_OUI[1], HYPERV_OUI[2], 0, 0, 1];
        let mut queues = DEFAULT_QUEUES;
        let mut max_mtu = DEFAULT_MAX_MTU;
        let mut instance = None;
        let mut offload = true;
        for item in s.split(',').filter(|i| !i.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            match key {
                "tap" => {
                    let ok = (1..16).contains(&value.len())
                        && !value.contains('/')
                        && !value.chars().any(char::is_whitespace);
                    if !ok {
                        return Err(ConfigError::BadTap(value.to_owned()));
                    }
                    tap = Some(value.to_owned());
                }
                "mac" => mac = parse_mac(value)?,
                "queues" => queues = number("queues", value, 1..=MAX_QUEUES)?,
                "mtu" => max_mtu = number("mtu", value, MTU_RANGE)?,
                "instance" => {
                    instance = Some(parse_guid(value).ok_or_else(|| ConfigError::BadValue {
                        key: "instance",
                        value: value.to_owned(),
                        why: "not a GUID".to_owned(),
                    })?)
                }
                "offload" => {
                    offload = match value {
                        "on" => true,
                        "off" => false,
                        _ => {
                            return Err(ConfigError::BadValue {
                                key: "offload",
                                value: value.to_owned(),
                                why: "must be on or off".to_owned(),
                            })
                        }
                    }
                }
                other => return Err(ConfigError::UnknownKey(other.to_owned())),
            }
        }
        let tap = tap.ok_or(ConfigError::MissingTap)?;
        let mut config = NetvspConfig::new(&tap, mac);
        config.queues = queues;
        config.max_mtu = max_mtu;
        config.offload = offload;
        if let Some(i) = instance {
            config.instance = i;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmbus::guid_text;

    #[test]
    fn parses_the_cli_form() {
        let c: NetvspConfig = "tap=tap0,mac=00:15:5d:00:00:07".parse().unwrap();
        assert_eq!(c.tap, "tap0");
        assert_eq!(c.mac, [0, 0x15, 0x5d, 0, 0, 7]);
        assert_eq!(c.queues, DEFAULT_QUEUES);
        assert_eq!(
            guid_text(&c.instance),
            "5b6e7e1c-4a2d-4f3a-9e51-00155d000007"
        );
        let c: NetvspConfig = "mac=02-00-00-00-00-01,tap=t,queues=1,mtu=1500,\
                               instance=12345678-1234-5678-9abc-def012345678"
            .parse()
            .unwrap();
        assert_eq!((c.queues, c.max_mtu, c.offload), (1, 1500, true));
        assert_eq!(
            guid_text(&c.instance),
            "12345678-1234-5678-9abc-def012345678"
        );
        let off: NetvspConfig = "tap=t,offload=off".parse().unwrap();
        assert!(!off.offload);
        let c: NetvspConfig = "tap=x".parse().unwrap();
        assert_eq!(c.mac, [0, 0x15, 0x5d, 0, 0, 1]);
        assert_eq!(mac_text(&c.mac), "00:15:5d:00:00:01");
    }

    #[test]
    fn refuses_bad_arguments() {
        for bad in [
            "",
            "mac=00:15:5d:00:00:01",
            "tap=",
            "tap=a/b",
            "tap=0123456789abcdef",
            "tap=t,mac=00:15:5d:00:00",
            "tap=t,mac=00:15:5d:00:00:01:02",
            "tap=t,mac=0:15:5d:00:00:01",
            "tap=t,mac=zz:15:5d:00:00:01",
            "tap=t,mac=01:00:5e:00:00:01",
            "tap=t,queues=0",
            "tap=t,queues=65",
            "tap=t,queues=x",
            "tap=t,mtu=100",
            "tap=t,instance=nope",
            "tap=t,speed=1",
            "tap=t,offload=yes",
            "tap=t,offload",
        ] {
            assert!(bad.parse::<NetvspConfig>().is_err(), "{bad:?}");
        }
    }
}
