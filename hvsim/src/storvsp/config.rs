// SPDX-License-Identifier: GPL-2.0
//! Controller and disk configuration: what `hvsim run --disk ...` and the `add_disk` control
//! command describe, parsed from text, and how a description becomes a [`ScsiDisk`].
//!
//! Disk syntax: `KIND:KEY=VALUE,...` with flags, e.g. `ram:size=1G,sector=4096`,
//! `file:path=/tmp/x.img,ro`, `file:path=/tmp/new.img,size=8G,lun=2`. Kinds: `ram` (needs
//! `size`) and `file` (needs `path`; with `size` the file is created or grown, sparse).
//! Keys: `size` (bytes, or with a K/M/G/T suffix, binary), `sector` (512 or 4096, default
//! 512), `lun` (default: the lowest free one), `serial` (VPD page 80h, printable ASCII);
//! flags: `ro` (read-only). A path cannot contain a comma.

use std::path::PathBuf;
use std::str::FromStr;

use rhv_proto::guid::Guid;
use rhv_proto::vstor;

use crate::scsi::backend::{BlockBackend, FileBackend, RamBackend};
use crate::scsi::disk::{DiskError, DiskIdentity, ScsiDisk};
use crate::scsi::target::MAX_LUN;

/// Most sub-channels a controller offers: Linux opens at most one per vCPU besides the
/// primary channel.
pub const MAX_SUBCHANNELS: u16 = 64;

/// Where a disk's blocks live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Host RAM, allocated on first write.
    Ram {
        /// Bytes.
        size: u64,
    },
    /// A raw image file.
    File {
        /// The image.
        path: PathBuf,
        /// Create or grow the file to this size; `None`: the file's own size.
        size: Option<u64>,
    },
}

/// One disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskConfig {
    /// Storage.
    pub backend: Backend,
    /// Logical block size: 512 or 4096.
    pub sector_size: u32,
    /// Refuse writes.
    pub read_only: bool,
    /// LUN; `None`: the lowest free one.
    pub lun: Option<u8>,
    /// Serial number; `None`: derived from the controller and the LUN.
    pub serial: Option<String>,
}

/// A configuration text or value that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Malformed disk description.
    #[error("disk {spec:?}: {why}")]
    Disk {
        /// The text.
        spec: String,
        /// What is wrong.
        why: String,
    },
    /// Malformed size.
    #[error("size {0:?}: expected bytes or a number with a K/M/G/T suffix")]
    Size(String),
}

/// Parses a size: `4096`, `64K`, `512M`, `1G`, `2T` (binary multiples; `KiB`-style and `B`
/// suffixes are accepted too).
pub fn parse_size(text: &str) -> Result<u64, ConfigError> {
    let err = || ConfigError::Size(text.to_owned());
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(err()),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits.parse().map_err(|_| err())?;
    n.checked_mul(1u64 << shift).ok_or_else(err)
}

impl DiskConfig {
    /// A writable RAM disk with 512-byte sectors.
    pub fn ram(size: u64) -> Self {
        Self {
            backend: Backend::Ram { size },
            sector_size: 512,
            read_only: false,
            lun: None,
            serial: None,
        }
    }

    /// A writable disk on an existing image file with 512-byte sectors.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            backend: Backend::File {
                path: path.into(),
                size: None,
            },
            ..Self::ram(0)
        }
    }

    /// Opens the backend and builds the disk.
    pub fn open(&self, identity: DiskIdentity) -> Result<ScsiDisk, OpenDiskError> {
        let backend: Box<dyn BlockBackend> = match &self.backend {
            Backend::Ram { size } => Box::new(RamBackend::new(*size)),
            Backend::File { path, size } => Box::new(
                FileBackend::open(path, self.read_only, *size)
                    .map_err(|e| OpenDiskError::Backend(format!("{}: {e}", path.display())))?,
            ),
        };
        Ok(ScsiDisk::new(
            backend,
            self.sector_size,
            self.read_only,
            identity,
        )?)
    }
}

/// A disk configuration that parsed but cannot be opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenDiskError {
    /// The backend (the image file) could not be opened.
    #[error("{0}")]
    Backend(String),
    /// The geometry is unusable.
    #[error(transparent)]
    Disk(#[from] DiskError),
}

impl FromStr for DiskConfig {
    type Err = ConfigError;

    fn from_str(spec: &str) -> Result<Self, ConfigError> {
        let bad = |why: String| ConfigError::Disk {
            spec: spec.to_owned(),
            why,
        };
        let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let mut size = None;
        let mut path = None;
        let mut config = DiskConfig::ram(0);
        for item in rest.split(',').filter(|s| !s.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            match (key, value) {
                ("size", Some(v)) => size = Some(parse_size(v)?),
                ("path", Some(v)) if !v.is_empty() => path = Some(PathBuf::from(v)),
                ("sector", Some(v)) => {
                    config.sector_size = match v {
                        "512" => 512,
                        "4096" | "4K" | "4k" => 4096,
                        _ => return Err(bad(format!("sector={v}: must be 512 or 4096"))),
                    }
                }
                ("lun", Some(v)) => match v.parse::<u8>() {
                    Ok(l) if l <= MAX_LUN => config.lun = Some(l),
                    _ => return Err(bad(format!("lun={v}: must be 0..={MAX_LUN}"))),
                },
                ("serial", Some(v)) => {
                    let ok =
                        !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic());
                    if !ok {
                        return Err(bad(format!(
                            "serial={v:?}: 1 to 64 printable ASCII characters"
                        )));
                    }
                    config.serial = Some(v.to_owned());
                }
                ("ro", None) | ("ro", Some("1" | "true" | "yes")) => config.read_only = true,
                ("ro", Some("0" | "false" | "no")) | ("rw", None) => config.read_only = false,
                _ => return Err(bad(format!("unknown or incomplete option {item:?}"))),
            }
        }
        config.backend = match kind {
            "ram" => {
                if path.is_some() {
                    return Err(bad("a ram disk has no path".into()));
                }
                Backend::Ram {
                    size: size.ok_or_else(|| bad("a ram disk needs size=".into()))?,
                }
            }
            "file" => Backend::File {
                path: path.ok_or_else(|| bad("a file disk needs path=".into()))?,
                size,
            },
            other => return Err(bad(format!("unknown kind {other:?} (ram or file)"))),
        };
        let sector = u64::from(config.sector_size);
        let size = match &config.backend {
            Backend::Ram { size } => Some(*size),
            Backend::File { size, .. } => *size,
        };
        if let Some(size) = size {
            if size < sector || size % sector != 0 {
                return Err(bad(format!(
                    "size {size} is not a positive multiple of the {sector}-byte sector"
                )));
            }
        }
        Ok(config)
    }
}

/// One synthetic SCSI controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorvspConfig {
    /// Short name for logs and the control interface (`storvsp0`).
    pub name: String,
    /// Instance GUID (sysfs `device_id`); fixed per controller so guests see stable names.
    pub instance: Guid,
    /// The disks at boot.
    pub disks: Vec<DiskConfig>,
    /// Sub-channels the guest may open besides the primary channel.
    pub max_subchannels: u16,
    /// Newest VSTOR version accepted (`rhv_proto::vstor::VERSION_*`).
    pub max_protocol_version: u16,
}

/// The instance GUID of controller `index`: `f3a5c8d0-6e2b-4c71-9a1d-2b7e5c0d00NN`.
pub fn controller_instance(index: u8) -> Guid {
    Guid::from_fields(
        0xf3a5c8d0,
        0x6e2b,
        0x4c71,
        [0x9a, 0x1d, 0x2b, 0x7e, 0x5c, 0x0d, 0x00, index],
    )
}

/// Sub-channels that make sense for `vcpus`: one per vCPU besides the primary's.
pub fn subchannels_for(vcpus: u32) -> u16 {
    u16::try_from(vcpus.saturating_sub(1))
        .unwrap_or(u16::MAX)
        .min(MAX_SUBCHANNELS)
}

impl StorvspConfig {
    /// Controller `index` of a guest with `vcpus` vCPUs, with `disks`.
    pub fn new(index: u8, disks: Vec<DiskConfig>, vcpus: u32) -> Self {
        Self {
            name: format!("storvsp{index}"),
            instance: controller_instance(index),
            disks,
            max_subchannels: subchannels_for(vcpus),
            max_protocol_version: vstor::VERSION_WIN10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512MB"), Ok(512 << 20));
        assert_eq!(parse_size("2t"), Ok(2 << 40));
        for bad in ["", "G", "1X", "-1", "1.5G", "99999999999999T", "1 G"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn disk_specs() {
        let d: DiskConfig = "ram:size=1G,sector=512".parse().unwrap();
        assert_eq!(d, DiskConfig::ram(1 << 30));
        let d: DiskConfig = "file:path=/tmp/x.img,ro".parse().unwrap();
        assert_eq!(
            d.backend,
            Backend::File {
                path: "/tmp/x.img".into(),
                size: None
            }
        );
        assert!(d.read_only);
        let d: DiskConfig = "file:path=/tmp/y.img,size=8G,sector=4096,lun=3,serial=ABC"
            .parse()
            .unwrap();
        assert_eq!(d.sector_size, 4096);
        assert_eq!(d.lun, Some(3));
        assert_eq!(d.serial.as_deref(), Some("ABC"));
        assert_eq!(
            d.backend,
            Backend::File {
                path: "/tmp/y.img".into(),
                size: Some(8 << 30)
            }
        );
    }

    #[test]
    fn bad_disk_specs() {
        for bad in [
            "",
            "ram",
            "ram:size=0",
            "ram:size=1000",
            "ram:size=1M,sector=1024",
            "ram:size=6K,sector=4096",
            "ram:size=1M,path=/x",
            "file:size=1G",
            "file:path=",
            "disk:size=1G",
            "ram:size=1M,lun=255",
            "ram:size=1M,lun=x",
            "ram:size=1M,bogus",
            "ram:size=1M,ro=maybe",
            "ram:size=1M,serial=has space",
            "ram:size=1M,serial=",
        ] {
            assert!(bad.parse::<DiskConfig>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn controllers_are_distinct_and_size_their_subchannels() {
        assert_ne!(controller_instance(0), controller_instance(1));
        let c = StorvspConfig::new(1, vec![], 2);
        assert_eq!(c.name, "storvsp1");
        assert_eq!(c.max_subchannels, 1);
        assert_eq!(subchannels_for(1), 0);
        assert_eq!(subchannels_for(0), 0);
        assert_eq!(subchannels_for(255), MAX_SUBCHANNELS);
    }
}
