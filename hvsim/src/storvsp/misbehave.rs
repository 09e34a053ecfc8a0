// SPDX-License-Identifier: GPL-2.0
//! Deliberate misbehaviour of the controller, armed by the `misbehave` control command, for
//! scenarios that check a guest driver survives a buggy or hostile host.
//!
//! Only EXECUTE_SRB completions are touched. Every `every`-th one (up to `count` of them) is
//! accompanied by a bad packet, the kinds taking turns in the order given:
//! - `unknown-id`: first a completion whose transaction id matches no request the guest sent;
//! - `short`: first a completion with the request's id that is too short to be a VSTOR packet;
//! - `duplicate`: the real completion is sent twice (the id may name a new request by then).
//!
//! The real completion is always sent as well, so a guest that ignores (or fails and retries)
//! the bad packet loses no I/O.

use serde::Serialize;
use serde_json::Value;

/// A kind of bad packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Misbehaviour {
    /// A completion with an id no request has.
    UnknownId,
    /// A truncated completion with the request's id, before the real one.
    Short,
    /// The real completion, twice.
    Duplicate,
}

impl std::str::FromStr for Misbehaviour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "unknown-id" => Ok(Misbehaviour::UnknownId),
            "short" => Ok(Misbehaviour::Short),
            "duplicate" => Ok(Misbehaviour::Duplicate),
            other => Err(format!(
                "unknown misbehaviour {other:?} (known: unknown-id, short, duplicate)"
            )),
        }
    }
}

/// The transaction ids `unknown-id` uses: far above any tag or counter a guest issues.
const UNKNOWN_ID_BASE: u64 = 0x7bad_0000_0000_0000;
/// Bytes of a `short` completion: the operation and flags, no status, no SRB.
pub(super) const SHORT_LEN: usize = 8;

/// What is armed and what was done.
#[derive(Debug, Default)]
pub(super) struct MisbehaviourPlan {
    kinds: Vec<Misbehaviour>,
    every: u64,
    left: u64,
    seen: u64,
    done: Done,
}

/// Bad packets sent so far, per kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Done {
    /// `unknown-id` packets.
    pub unknown_id: u64,
    /// `short` packets.
    pub short: u64,
    /// `duplicate` packets.
    pub duplicate: u64,
}

/// One packet to send for a completion.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Send {
    /// Its transaction id.
    pub trans_id: u64,
    /// How many bytes of the completion it carries.
    pub len: usize,
}

impl MisbehaviourPlan {
    /// Arms the plan from a control command's fields: `kinds` (names), `every` (≥ 1,
    /// default 1), `count` (default unlimited); an empty list disarms it.
    pub(super) fn arm(&mut self, command: &Value) -> Result<Value, String> {
        let kinds = command
            .get("kinds")
            .and_then(Value::as_array)
            .ok_or("misbehave needs \"kinds\": [\"unknown-id\" | \"short\" | \"duplicate\", ...]")?
            .iter()
            .map(|k| k.as_str().ok_or("a kind is not a string")?.parse())
            .collect::<Result<Vec<Misbehaviour>, String>>()?;
        let number = |key: &str, default: u64| -> Result<u64, String> {
            match command.get(key) {
                None => Ok(default),
                Some(v) => v
                    .as_u64()
                    .ok_or_else(|| format!("\"{key}\" is not a count: {v}")),
            }
        };
        let every = number("every", 1)?;
        if every == 0 {
            return Err("\"every\" must be at least 1".to_owned());
        }
        let left = number("count", u64::MAX)?;
        *self = MisbehaviourPlan {
            kinds,
            every,
            left,
            seen: 0,
            done: self.done,
        };
        Ok(serde_json::json!({ "kinds": self.kinds, "every": every, "count": left }))
    }

    /// The packets to send for a completion of `len` bytes with id `trans_id`, in order.
    pub(super) fn completion(&mut self, trans_id: u64, len: usize) -> Vec<Send> {
        let real = Send { trans_id, len };
        if self.kinds.is_empty() || self.left == 0 {
            return vec![real];
        }
        self.seen += 1;
        if !self.seen.is_multiple_of(self.every) {
            return vec![real];
        }
        self.left -= 1;
        let done = self.done.unknown_id + self.done.short + self.done.duplicate;
        // CAST: the index is below the list's length.
        let kind = self.kinds[(done % self.kinds.len() as u64) as usize];
        match kind {
            Misbehaviour::UnknownId => {
                self.done.unknown_id += 1;
                let bogus = Send {
                    trans_id: UNKNOWN_ID_BASE + self.done.unknown_id,
                    len,
                };
                vec![bogus, real]
            }
            Misbehaviour::Short => {
                self.done.short += 1;
                let short = Send {
                    trans_id,
                    len: SHORT_LEN.min(len),
                };
                vec![short, real]
            }
            Misbehaviour::Duplicate => {
                self.done.duplicate += 1;
                vec![Send { trans_id, len }, real]
            }
        }
    }

    /// Bad packets sent so far.
    pub(super) fn done(&self) -> Done {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn disarmed_sends_the_completion_only() {
        let mut p = MisbehaviourPlan::default();
        assert_eq!(
            p.completion(5, 64),
            vec![Send {
                trans_id: 5,
                len: 64
            }]
        );
    }

    #[test]
    fn kinds_take_turns_every_nth_completion_up_to_the_count() {
        let mut p = MisbehaviourPlan::default();
        p.arm(&json!({"kinds": ["unknown-id", "short", "duplicate"], "every": 2, "count": 3}))
            .unwrap();
        let real = |id| Send {
            trans_id: id,
            len: 64,
        };
        assert_eq!(p.completion(1, 64), vec![real(1)]);
        let two = p.completion(2, 64);
        assert_eq!(two.len(), 2);
        assert!(two[0].trans_id >= UNKNOWN_ID_BASE);
        assert_eq!(two[1], real(2));
        assert_eq!(p.completion(3, 64), vec![real(3)]);
        assert_eq!(
            p.completion(4, 64),
            vec![
                Send {
                    trans_id: 4,
                    len: SHORT_LEN
                },
                real(4)
            ]
        );
        assert_eq!(p.completion(5, 64), vec![real(5)]);
        assert_eq!(p.completion(6, 64), vec![real(6), real(6)]);
        // The count is spent.
        assert_eq!(p.completion(7, 64), vec![real(7)]);
        assert_eq!(p.completion(8, 64), vec![real(8)]);
        assert_eq!(
            p.done(),
            Done {
                unknown_id: 1,
                short: 1,
                duplicate: 1
            }
        );
    }

    #[test]
    fn bad_commands_are_refused() {
        let mut p = MisbehaviourPlan::default();
        assert!(p.arm(&json!({})).is_err());
        assert!(p.arm(&json!({"kinds": ["everything"]})).is_err());
        assert!(p.arm(&json!({"kinds": ["short"], "every": 0})).is_err());
        assert!(p.arm(&json!({"kinds": ["short"], "count": -1})).is_err());
        assert!(p.arm(&json!({"kinds": [3]})).is_err());
        // Disarming keeps the totals.
        p.arm(&json!({"kinds": ["short"]})).unwrap();
        p.completion(1, 64);
        p.arm(&json!({"kinds": []})).unwrap();
        assert_eq!(p.completion(2, 64).len(), 1);
        assert_eq!(p.done().short, 1);
    }
}
