// SPDX-License-Identifier: GPL-2.0
//! The monitor pages' layout (TLFS "Monitor page"; `struct hv_monitor_page` of the C driver):
//! where the guest finds a monitored channel's trigger group, latency and connection id, for
//! the sysfs files that show them. A monitor id (`0..=MAX_MONITOR_ID`, checked when the offer
//! is parsed) picks one of 4 groups of 32 channels. Also compiled into the kernel modules:
//! `core` only.

/// Byte offset of the trigger groups (after the trigger state and a reserved word); each group
/// is a `pending` word followed by an `armed` word.
const TRIGGER_GROUPS_OFFSET: usize = 8;
/// Byte offset of `latency[4][32]`, 16 bits each (after the groups, 3 reserved quadwords and
/// `next_checktime[4][32]` of 32 bits).
const LATENCY_OFFSET: usize = TRIGGER_GROUPS_OFFSET + 4 * 8 + 3 * 8 + 4 * 32 * 4;
/// Byte offset of `parameter[4][32]`, 8 bytes each starting with the connection id (after the
/// latencies and 32 reserved quadwords).
const PARAMETER_OFFSET: usize = LATENCY_OFFSET + 4 * 32 * 2 + 32 * 8;

/// The trigger group of monitor id `id`.
pub fn group(id: u8) -> usize {
    usize::from(id) / 32
}

/// The position of monitor id `id` inside its group.
pub fn slot(id: u8) -> usize {
    usize::from(id) % 32
}

/// Offset of the 32-bit `pending` word of `id`'s trigger group.
pub fn pending_offset(id: u8) -> usize {
    TRIGGER_GROUPS_OFFSET + group(id) * 8
}

/// Offset of the 16-bit latency of `id`.
pub fn latency_offset(id: u8) -> usize {
    LATENCY_OFFSET + (group(id) * 32 + slot(id)) * 2
}

/// Offset of the 32-bit connection id of `id`.
pub fn connection_id_offset(id: u8) -> usize {
    PARAMETER_OFFSET + (group(id) * 32 + slot(id)) * 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_the_tlfs_layout() {
        // The layout comment of the C header: latencies at 0x240, parameters at 0x440.
        assert_eq!(LATENCY_OFFSET, 0x240);
        assert_eq!(PARAMETER_OFFSET, 0x440);
        assert_eq!(pending_offset(0), 8);
        assert_eq!(pending_offset(33), 16);
        assert_eq!(pending_offset(127), 32);
        assert_eq!(latency_offset(33), 0x240 + 33 * 2);
        assert_eq!(connection_id_offset(127), 0x440 + 127 * 8);
        // Everything stays inside one 4 KiB page.
        assert!(connection_id_offset(127) + 8 <= 4096);
    }
}
