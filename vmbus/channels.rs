// SPDX-License-Identifier: GPL-2.0
//! The channels the host has offered and not rescinded, by relid, each with the bus device of
//! a primary channel. The table refuses a second offer for a relid or for the instance of a
//! live primary channel, which a confused or hostile host could send.

use crate::bus::{BusDevice, DeviceInfo};
use crate::channel_sysfs::ChannelDir;
use kernel::prelude::*;
use kernel::sync::Arc;

/// An offered channel.
pub(crate) struct OfferedChannel {
    /// What sysfs shows, shared with the device.
    pub(crate) info: Arc<DeviceInfo>,
    /// The channel's `channels/<relid>/` directory under its primary's device; dropped
    /// before the device (fields drop in order).
    pub(crate) dir: Option<ChannelDir>,
    /// The bus device (primary channels only), held for its `Drop`, which unregisters it.
    pub(crate) device: Option<BusDevice>,
}

impl OfferedChannel {
    fn relid(&self) -> u32 {
        self.info.offer().relid
    }
}

/// Why an offer cannot be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// The relid is in use.
    Relid,
    /// A primary channel with this instance GUID exists.
    Instance,
    /// The connection is going away.
    Closed,
}

/// The offered channels.
pub(crate) struct ChannelTable {
    channels: KVec<OfferedChannel>,
    closed: bool,
}

impl ChannelTable {
    /// An empty, open table.
    pub(crate) const fn new() -> Self {
        Self {
            channels: KVec::new(),
            closed: false,
        }
    }

    /// Checks whether `info` may be added.
    pub(crate) fn check(&self, info: &DeviceInfo) -> Result<(), Conflict> {
        if self.closed {
            return Err(Conflict::Closed);
        }
        let offer = info.offer();
        for c in self.channels.iter() {
            let other = c.info.offer();
            if other.relid == offer.relid {
                return Err(Conflict::Relid);
            }
            if offer.sub_channel_index == 0
                && other.sub_channel_index == 0
                && other.instance == offer.instance
            {
                return Err(Conflict::Instance);
            }
        }
        Ok(())
    }

    /// Adds a channel that passed [`ChannelTable::check`].
    pub(crate) fn insert(&mut self, channel: OfferedChannel) -> Result {
        self.channels.push(channel, GFP_KERNEL)?;
        Ok(())
    }

    /// Gives channel `relid` its bus device and directory; hands them back if the channel
    /// is gone.
    pub(crate) fn set_device(
        &mut self,
        relid: u32,
        device: BusDevice,
        dir: Option<ChannelDir>,
    ) -> Result<(), (BusDevice, Option<ChannelDir>)> {
        match self.channels.iter_mut().find(|c| c.relid() == relid) {
            Some(c) => {
                c.dir = dir;
                c.device = Some(device);
                Ok(())
            }
            None => Err((device, dir)),
        }
    }

    /// Adds the directory of sub-channel `relid` under its primary's device, if that has
    /// one.
    pub(crate) fn add_subchannel_dir(&mut self, relid: u32) -> Result {
        let sub = self
            .channels
            .iter()
            .find(|c| c.relid() == relid)
            .ok_or(ENOENT)?;
        let info = sub.info.clone();
        let instance = info.offer().instance;
        let device = self
            .channels
            .iter()
            .find(|c| c.info.offer().sub_channel_index == 0 && c.info.offer().instance == instance)
            .and_then(|c| c.device.as_ref())
            .ok_or(ENODEV)?;
        let dir = ChannelDir::add(device, info)?;
        if let Some(sub) = self.channels.iter_mut().find(|c| c.relid() == relid) {
            sub.dir = Some(dir);
        }
        Ok(())
    }

    /// Takes out the directories of the sub-channels of `instance` (their primary's device
    /// goes away). The caller drops them after unlocking the table: removing a directory
    /// waits for its sysfs writers, which may wait for the message worker, which may need
    /// the table.
    pub(crate) fn take_subchannel_dirs(&mut self, instance: &crate::Guid) -> KVec<ChannelDir> {
        let mut out = KVec::new();
        for c in self.channels.iter_mut() {
            let o = c.info.offer();
            if o.sub_channel_index != 0 && o.instance == *instance {
                if let Some(dir) = c.dir.take() {
                    // Out of memory: `push` drops (removes) the directory right here.
                    let _ = out.push(dir, GFP_KERNEL);
                }
            }
        }
        out
    }

    /// The offer of channel `relid`.
    pub(crate) fn info(&self, relid: u32) -> Option<Arc<DeviceInfo>> {
        self.channels
            .iter()
            .find(|c| c.relid() == relid)
            .map(|c| c.info.clone())
    }

    /// The sub-channel offers of the primary channel with instance `instance`.
    pub(crate) fn subchannels_of(&self, instance: &crate::Guid) -> Result<KVec<Arc<DeviceInfo>>> {
        let mut out = KVec::new();
        for c in self.channels.iter() {
            let o = c.info.offer();
            if o.sub_channel_index != 0 && o.instance == *instance {
                out.push(c.info.clone(), GFP_KERNEL)?;
            }
        }
        Ok(out)
    }

    /// The primary channel with instance `instance`.
    pub(crate) fn primary_of(&self, instance: &crate::Guid) -> Option<Arc<DeviceInfo>> {
        self.channels
            .iter()
            .find(|c| {
                let o = c.info.offer();
                o.sub_channel_index == 0 && o.instance == *instance
            })
            .map(|c| c.info.clone())
    }

    /// Whether the table refuses offers because the connection is going away.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Removes the channel `relid`.
    pub(crate) fn remove(&mut self, relid: u32) -> Option<OfferedChannel> {
        let i = self.channels.iter().position(|c| c.relid() == relid)?;
        self.channels.remove(i).ok()
    }

    /// Refuses further offers and hands out every channel.
    pub(crate) fn close(&mut self) -> KVec<OfferedChannel> {
        self.closed = true;
        core::mem::take(&mut self.channels)
    }
}

#[kunit_tests(rhv_vmbus_channels)]
mod tests {
    use super::*;
    use crate::proto::offer::parse_offer;
    use crate::proto::vmbus::{MessageHeader, MessageType, OfferChannel};
    use zerocopy::{FromZeros, IntoBytes};

    fn channel(relid: u32, instance: u8, sub: u16) -> Result<OfferedChannel> {
        let mut m = OfferChannel::new_zeroed();
        m.header = MessageHeader::new(MessageType::OfferChannel);
        m.offer.if_instance.bytes = [instance; 16];
        m.offer.sub_channel_index = sub;
        m.child_relid = relid;
        let offer = parse_offer(m.as_bytes()).map_err(|_| EINVAL)?;
        Ok(OfferedChannel {
            info: Arc::new(DeviceInfo::new(offer)?, GFP_KERNEL)?,
            dir: None,
            device: None,
        })
    }

    #[test]
    fn refuses_duplicates() -> Result {
        let mut t = ChannelTable::new();
        let a = channel(1, 0xaa, 0)?;
        assert_eq!(t.check(&a.info), Ok(()));
        t.insert(a)?;
        assert_eq!(t.check(&channel(1, 0xbb, 0)?.info), Err(Conflict::Relid));
        assert_eq!(t.check(&channel(2, 0xaa, 0)?.info), Err(Conflict::Instance));
        // A sub-channel shares its primary's instance.
        assert_eq!(t.check(&channel(2, 0xaa, 1)?.info), Ok(()));
        Ok(())
    }

    #[test]
    fn finds_primary_and_subchannels() -> Result {
        let mut t = ChannelTable::new();
        t.insert(channel(1, 0xaa, 0)?)?;
        t.insert(channel(2, 0xaa, 1)?)?;
        t.insert(channel(3, 0xbb, 0)?)?;
        t.insert(channel(4, 0xaa, 2)?)?;
        let a = crate::Guid { bytes: [0xaa; 16] };
        assert_eq!(t.primary_of(&a).map(|i| i.offer().relid), Some(1));
        let subs = t.subchannels_of(&a)?;
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[0].offer().sub_channel_index, 1);
        assert_eq!(subs[1].offer().relid, 4);
        assert!(t
            .subchannels_of(&crate::Guid { bytes: [0xbb; 16] })?
            .is_empty());
        assert!(t.primary_of(&crate::Guid { bytes: [0xcc; 16] }).is_none());
        assert!(!t.is_closed());
        drop(t.close());
        assert!(t.is_closed());
        Ok(())
    }

    #[test]
    fn remove_and_close() -> Result {
        let mut t = ChannelTable::new();
        t.insert(channel(1, 1, 0)?)?;
        t.insert(channel(2, 2, 0)?)?;
        assert!(t.remove(3).is_none());
        assert!(t.remove(1).is_some());
        assert!(t.remove(1).is_none());
        assert_eq!(t.close().len(), 1);
        assert_eq!(t.check(&channel(5, 5, 0)?.info), Err(Conflict::Closed));
        Ok(())
    }
}
