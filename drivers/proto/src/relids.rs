// SPDX-License-Identifier: GPL-2.0
//! The relids the host has offered, as the guest's message worker sees them when it routes
//! offers and rescinds to the workers that handle them (devices, sub-channels). An offer is
//! routed only if it is accepted: its relid must not be offered already (a second offer
//! for a live relid, which a confused or hostile host could send, is refused before it
//! changes anything), and a rescind goes to the worker its relid's accepted offer went to, once.
//! The relid is free again when the guest releases it (RELID_RELEASED), after which the host
//! may offer it anew.
//!
//! Also compiled into the kernel modules: `core` only; expects `vmbus.rs` as a sibling module.

use super::vmbus::MAX_CHANNEL_RELIDS;

/// The worker an offer or rescind goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Primary channels: adds and removes devices.
    Devices,
    /// Sub-channels: adds and removes them and tells their primary's driver.
    Subchannels,
}

/// Why an offer or rescind is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The relid is out of range.
    BadRelid(u32),
    /// An offer for a relid offered and not released yet.
    RelidInUse(u32),
    /// A rescind for a relid not offered, or rescinded already.
    NotOffered(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Free,
    Offered(Route),
    Rescinded,
}

/// The state of every relid.
pub struct RelidRoutes {
    slots: [Slot; MAX_CHANNEL_RELIDS as usize],
}

impl Default for RelidRoutes {
    fn default() -> Self {
        Self::new()
    }
}

impl RelidRoutes {
    /// No relid offered.
    pub const fn new() -> Self {
        Self {
            slots: [Slot::Free; MAX_CHANNEL_RELIDS as usize],
        }
    }

    fn slot(&mut self, relid: u32) -> Result<&mut Slot, Refusal> {
        self.slots
            .get_mut(relid as usize)
            .filter(|_| relid != 0)
            .ok_or(Refusal::BadRelid(relid))
    }

    /// Accepts an offer of `relid` (a sub-channel's if `subchannel`) and says where it goes,
    /// or refuses it, leaving every relid as it was.
    pub fn offer(&mut self, relid: u32, subchannel: bool) -> Result<Route, Refusal> {
        let slot = self.slot(relid)?;
        if *slot != Slot::Free {
            return Err(Refusal::RelidInUse(relid));
        }
        let route = if subchannel {
            Route::Subchannels
        } else {
            Route::Devices
        };
        *slot = Slot::Offered(route);
        Ok(route)
    }

    /// Accepts the rescind of `relid` and says where it goes: where its offer went.
    pub fn rescind(&mut self, relid: u32) -> Result<Route, Refusal> {
        let slot = self.slot(relid)?;
        match *slot {
            Slot::Offered(route) => {
                *slot = Slot::Rescinded;
                Ok(route)
            }
            Slot::Free | Slot::Rescinded => Err(Refusal::NotOffered(relid)),
        }
    }

    /// The guest released `relid` after its rescind: the host may offer it again.
    pub fn release(&mut self, relid: u32) {
        if let Ok(slot) = self.slot(relid) {
            *slot = Slot::Free;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::boxed::Box;

    #[test]
    fn a_refused_offer_does_not_reroute_the_primarys_rescind() {
        let mut r = Box::new(RelidRoutes::new());
        assert_eq!(r.offer(5, false), Ok(Route::Devices));
        // A sub-channel offer reusing the primary's relid.
        assert_eq!(r.offer(5, true), Err(Refusal::RelidInUse(5)));
        assert_eq!(r.rescind(5), Ok(Route::Devices));
    }

    #[test]
    fn a_relid_is_offered_once_until_released() {
        let mut r = Box::new(RelidRoutes::new());
        assert_eq!(r.offer(7, true), Ok(Route::Subchannels));
        assert_eq!(r.rescind(7), Ok(Route::Subchannels));
        assert_eq!(r.rescind(7), Err(Refusal::NotOffered(7)));
        assert_eq!(r.offer(7, false), Err(Refusal::RelidInUse(7)));
        r.release(7);
        assert_eq!(r.offer(7, false), Ok(Route::Devices));
    }

    #[test]
    fn rescinds_of_unknown_relids_and_bad_relids_are_refused() {
        let mut r = Box::new(RelidRoutes::new());
        assert_eq!(r.rescind(9), Err(Refusal::NotOffered(9)));
        assert_eq!(r.offer(0, false), Err(Refusal::BadRelid(0)));
        assert_eq!(
            r.offer(MAX_CHANNEL_RELIDS, false),
            Err(Refusal::BadRelid(MAX_CHANNEL_RELIDS))
        );
    }
}
