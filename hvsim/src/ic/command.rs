// SPDX-License-Identifier: GPL-2.0
//! Arguments of the ICs' control commands (documented in `ic/mod.rs`), parsed strictly:
//! unknown operations and fields are errors.

use rhv_proto::kvp::KvpPool;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::vmbus::ControlError;

/// Parses a command object into `T`.
pub(crate) fn parse<T: DeserializeOwned>(command: &Value) -> Result<T, ControlError> {
    T::deserialize(command).map_err(|e| ControlError(format!("bad command {command}: {e}")))
}

/// Heartbeat commands.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum HeartbeatCommand {
    Interval { ms: u64 },
}

/// What a shutdown request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ShutdownOp {
    Shutdown,
    Reboot,
    Hibernate,
}

impl ShutdownOp {
    pub fn name(self) -> &'static str {
        match self {
            ShutdownOp::Shutdown => "shutdown",
            ShutdownOp::Reboot => "reboot",
            ShutdownOp::Hibernate => "hibernate",
        }
    }
}

/// A shutdown request.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShutdownCommand {
    pub op: ShutdownOp,
    #[serde(default)]
    pub force: bool,
    pub reason: Option<u32>,
    pub timeout_secs: Option<u32>,
    pub message: Option<String>,
}

/// What a timesync command does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TimesyncOp {
    Sample,
    Sync,
    Offset,
}

/// A timesync command.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimesyncCommand {
    pub op: TimesyncOp,
    pub offset_secs: Option<f64>,
}

/// Seconds as nanoseconds, for offsets within ±100 years.
pub(crate) fn offset_nanos(secs: f64) -> Result<i64, ControlError> {
    const LIMIT: f64 = 100.0 * 366.0 * 86400.0;
    if !secs.is_finite() || secs.abs() > LIMIT {
        return Err(ControlError(format!(
            "offset_secs {secs} is not within ±100 years"
        )));
    }
    // CAST: bounded above to ±3.2e18, inside i64.
    Ok((secs * 1e9).round() as i64)
}

/// A pool, by name or number.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum PoolArg {
    Number(u8),
    Name(String),
}

/// A pool's name in commands and answers.
pub(crate) fn pool_name(pool: KvpPool) -> &'static str {
    match pool {
        KvpPool::External => "external",
        KvpPool::Guest => "guest",
        KvpPool::Auto => "auto",
        KvpPool::AutoExternal => "auto_external",
        KvpPool::AutoInternal => "auto_internal",
    }
}

impl PoolArg {
    pub fn pool(&self) -> Result<KvpPool, ControlError> {
        match self {
            PoolArg::Number(n) => KvpPool::try_from(*n).map_err(|_| ()),
            PoolArg::Name(s) => KvpPool::ALL
                .iter()
                .copied()
                .find(|p| pool_name(*p) == s)
                .ok_or(()),
        }
        .map_err(|()| {
            ControlError(format!(
                "no pool {self:?} (external, guest, auto, auto_external, auto_internal or 0..4)"
            ))
        })
    }
}

/// KVP commands.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum KvpCommand {
    Set {
        pool: PoolArg,
        key: String,
        value: Value,
        #[serde(rename = "type")]
        value_type: Option<String>,
    },
    Get {
        pool: PoolArg,
        key: String,
    },
    Delete {
        pool: PoolArg,
        key: String,
    },
    Enumerate {
        pool: PoolArg,
        index: u32,
    },
    Scan {
        pool: Option<PoolArg>,
    },
    Result {
        id: Option<u64>,
    },
    Pools {},
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_parse_strictly() {
        let c: ShutdownCommand = parse(&json!({"op": "reboot", "force": true})).unwrap();
        assert_eq!((c.op, c.force, c.reason), (ShutdownOp::Reboot, true, None));
        assert!(parse::<ShutdownCommand>(&json!({"op": "explode"})).is_err());
        assert!(parse::<ShutdownCommand>(&json!({"op": "shutdown", "forse": true})).is_err());
        assert!(parse::<ShutdownCommand>(&json!({"op": "shutdown", "reason": -1})).is_err());
        let c: KvpCommand = parse(&json!({"op": "enumerate", "pool": "auto", "index": 5})).unwrap();
        assert_eq!(
            c,
            KvpCommand::Enumerate {
                pool: PoolArg::Name("auto".into()),
                index: 5
            }
        );
        assert!(parse::<KvpCommand>(&json!({"op": "enumerate", "pool": 2})).is_err());
        assert!(parse::<KvpCommand>(&json!({"op": "get", "pool": 0, "key": 1})).is_err());
        assert!(parse::<KvpCommand>(&json!({"op": "pools", "x": 1})).is_err());
        assert!(parse::<KvpCommand>(&json!("set")).is_err());
        let t: TimesyncCommand = parse(&json!({"op": "sample", "offset_secs": -3600})).unwrap();
        assert_eq!(t.offset_secs, Some(-3600.0));
        assert!(parse::<HeartbeatCommand>(&json!({"op": "interval"})).is_err());
    }

    #[test]
    fn pools_by_name_or_number() {
        assert_eq!(PoolArg::Number(2).pool().unwrap(), KvpPool::Auto);
        assert_eq!(
            PoolArg::Name("auto_external".into()).pool().unwrap(),
            KvpPool::AutoExternal
        );
        assert!(PoolArg::Number(5).pool().is_err());
        assert!(PoolArg::Name("Auto".into()).pool().is_err());
        for p in KvpPool::ALL {
            assert_eq!(PoolArg::Name(pool_name(p).into()).pool().unwrap(), p);
        }
    }

    #[test]
    fn offsets_are_bounded() {
        assert_eq!(offset_nanos(-3600.0).unwrap(), -3_600_000_000_000);
        assert_eq!(offset_nanos(0.5).unwrap(), 500_000_000);
        assert!(offset_nanos(f64::NAN).is_err());
        assert!(offset_nanos(f64::INFINITY).is_err());
        assert!(offset_nanos(1e12).is_err());
    }
}
