// SPDX-License-Identifier: GPL-2.0
//! Deliberate misbehaviour of a device, armed by its `misbehave` control command, for
//! scenarios that check a guest driver survives a buggy or hostile host.
//!
//! A device names its kinds of bad packets ([`Kind`]); a [`Plan`] says when to send one:
//! with every `every`-th eligible packet (the device decides which are eligible), up to
//! `count` times, the armed kinds taking turns. The command:
//! `{"op":"misbehave","kinds":["name", ...],"every":N,"count":M}` (`every` defaults to 1,
//! `count` to unlimited; `"kinds":[]` disarms). The totals per kind stay across arming and
//! are reported by the device's `stats`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// A kind of bad packet a device can send.
pub trait Kind: Copy + Eq + 'static {
    /// Every kind, for parsing and reporting.
    const ALL: &'static [Self];
    /// Its name in the control command.
    fn name(self) -> &'static str;
}

/// What is armed and what was done.
#[derive(Debug)]
pub struct Plan<K: Kind> {
    kinds: Vec<K>,
    every: u64,
    left: u64,
    seen: u64,
    turn: usize,
    done: BTreeMap<&'static str, u64>,
}

impl<K: Kind> Default for Plan<K> {
    fn default() -> Self {
        Self {
            kinds: Vec::new(),
            every: 1,
            left: 0,
            seen: 0,
            turn: 0,
            done: K::ALL.iter().map(|k| (k.name(), 0)).collect(),
        }
    }
}

impl<K: Kind> Plan<K> {
    fn parse_kind(name: &Value) -> Result<K, String> {
        let known = || {
            K::ALL
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let name = name
            .as_str()
            .ok_or_else(|| format!("a kind is not a string: {name} (known: {})", known()))?;
        K::ALL
            .iter()
            .copied()
            .find(|k| k.name() == name)
            .ok_or_else(|| format!("unknown misbehaviour {name:?} (known: {})", known()))
    }

    /// Arms the plan from a `misbehave` command; answers what is armed.
    pub fn arm(&mut self, command: &Value) -> Result<Value, String> {
        let kinds = command
            .get("kinds")
            .and_then(Value::as_array)
            .ok_or("misbehave needs \"kinds\": [names], \"every\": N, \"count\": M")?
            .iter()
            .map(Self::parse_kind)
            .collect::<Result<Vec<K>, String>>()?;
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
        let count = number("count", u64::MAX)?;
        self.kinds = kinds;
        self.every = every;
        self.left = count;
        self.seen = 0;
        self.turn = 0;
        let names: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
        Ok(json!({ "kinds": names, "every": every, "count": count }))
    }

    /// Whether bad packets are still to come.
    pub fn armed(&self) -> bool {
        !self.kinds.is_empty() && self.left > 0
    }

    /// Whether bad packets of kind `kind` may still come.
    pub fn arms(&self, kind: K) -> bool {
        self.left > 0 && self.kinds.contains(&kind)
    }

    /// An eligible packet is about to be sent: the bad packet to go with it, if any.
    pub fn due(&mut self) -> Option<K> {
        self.due_if(|_| true)
    }

    /// A packet is about to be sent that only the kinds `fits` accepts can go with: the bad
    /// packet to send with it, if any. Packets that do not fit the kind whose turn it is
    /// are not counted, so every kind gets its turn at a packet it fits.
    pub fn due_if(&mut self, fits: impl Fn(K) -> bool) -> Option<K> {
        if self.kinds.is_empty() || self.left == 0 {
            return None;
        }
        let kind = self.kinds[self.turn % self.kinds.len()];
        if !fits(kind) {
            return None;
        }
        self.seen += 1;
        if !self.seen.is_multiple_of(self.every) {
            return None;
        }
        self.left -= 1;
        self.turn += 1;
        *self.done.entry(kind.name()).or_default() += 1;
        Some(kind)
    }

    /// Bad packets sent so far, per kind name.
    pub fn done(&self) -> Value {
        json!(self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Bad {
        Red,
        Blue,
    }

    impl Kind for Bad {
        const ALL: &'static [Self] = &[Bad::Red, Bad::Blue];
        fn name(self) -> &'static str {
            match self {
                Bad::Red => "red",
                Bad::Blue => "blue",
            }
        }
    }

    #[test]
    fn disarmed_sends_nothing_bad() {
        let mut p = Plan::<Bad>::default();
        assert_eq!(p.due(), None);
        assert_eq!(p.done(), json!({"red": 0, "blue": 0}));
    }

    #[test]
    fn kinds_take_turns_every_nth_packet_up_to_the_count() {
        let mut p = Plan::<Bad>::default();
        let armed = p
            .arm(&json!({"kinds": ["red", "blue"], "every": 2, "count": 3}))
            .unwrap();
        assert_eq!(
            armed,
            json!({"kinds": ["red", "blue"], "every": 2, "count": 3})
        );
        let got: Vec<Option<Bad>> = (0..8).map(|_| p.due()).collect();
        use Bad::*;
        assert_eq!(
            got,
            [
                None,
                Some(Red),
                None,
                Some(Blue),
                None,
                Some(Red),
                None,
                None
            ]
        );
        assert_eq!(p.done(), json!({"red": 2, "blue": 1}));
    }

    #[test]
    fn a_kind_waits_for_a_packet_it_fits() {
        let mut p = Plan::<Bad>::default();
        p.arm(&json!({"kinds": ["red", "blue"]})).unwrap();
        let blue_only = |k| k == Bad::Blue;
        assert_eq!(p.due_if(blue_only), None, "red's turn");
        assert_eq!(p.due(), Some(Bad::Red));
        assert_eq!(p.due_if(blue_only), Some(Bad::Blue));
        assert_eq!(p.done(), json!({"red": 1, "blue": 1}));
    }

    #[test]
    fn a_kind_is_armed_until_its_count_is_spent() {
        let mut p = Plan::<Bad>::default();
        assert!(!p.arms(Bad::Red));
        p.arm(&json!({"kinds": ["red"], "count": 1})).unwrap();
        assert!(p.arms(Bad::Red));
        assert!(!p.arms(Bad::Blue));
        assert_eq!(p.due(), Some(Bad::Red));
        assert!(!p.arms(Bad::Red));
    }

    #[test]
    fn bad_commands_are_refused_and_disarming_keeps_the_totals() {
        let mut p = Plan::<Bad>::default();
        assert!(p.arm(&json!({})).is_err());
        assert!(p.arm(&json!({"kinds": ["green"]})).is_err());
        assert!(p.arm(&json!({"kinds": [3]})).is_err());
        assert!(p.arm(&json!({"kinds": ["red"], "every": 0})).is_err());
        assert!(p.arm(&json!({"kinds": ["red"], "count": -1})).is_err());
        p.arm(&json!({"kinds": ["red"]})).unwrap();
        assert_eq!(p.due(), Some(Bad::Red));
        p.arm(&json!({"kinds": []})).unwrap();
        assert_eq!(p.due(), None);
        assert_eq!(p.done(), json!({"red": 1, "blue": 0}));
    }
}
