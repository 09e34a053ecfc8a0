// SPDX-License-Identifier: GPL-2.0
//! The state of an open channel's two rings, for the sysfs debugging files.

use super::Channel;
use crate::ring::RingDebug;
use kernel::prelude::*;

impl Channel {
    /// The guest → host ring's and the host → guest ring's control words, in that order.
    pub(crate) fn ring_debug(&self) -> Result<(RingDebug, RingDebug)> {
        Ok((
            self.out_layout.debug_info(&self.pages)?,
            self.in_layout.debug_info(&self.pages)?,
        ))
    }
}
