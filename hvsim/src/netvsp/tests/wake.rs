// SPDX-License-Identifier: GPL-2.0
//! Frames move as soon as they can: the backend's wake descriptor is offered only while
//! frames can be taken from it, and a receive completion on one channel lets the frames
//! queued on the others go as soon as that channel is drained.

use rhv_proto::ndis;
use rhv_proto::ring::PacketType;
use rhv_proto::rndis;

use super::*;
use crate::netvsp::rss::tests::{rss_params, tcp4_frame};
use crate::vmbus::VmbusDevice;

/// The descriptor the test wire claims; never polled.
const FAKE_FD: RawFd = 1000;

/// A TCP frame to the guest from 10.0.0.1:`sport`.
fn tcp_frame(sport: u16) -> Vec<u8> {
    let mut f = tcp4_frame([10, 0, 0, 1], [10, 0, 0, 2], sport, 5201);
    f[..6].copy_from_slice(&MAC);
    f
}

fn push(g: &Guest, frames: impl IntoIterator<Item = Vec<u8>>) {
    g.wire.0.lock().unwrap().from_host.extend(frames);
}

fn waiting_in_backend(g: &Guest) -> usize {
    g.wire.0.lock().unwrap().from_host.len()
}

fn wake_fds(g: &Guest) -> Vec<RawFd> {
    let mut fds = Vec::new();
    g.nic.wake_fds(&mut fds);
    fds
}

fn free_sections(g: &Guest) -> usize {
    g.nic.recv.as_ref().unwrap().free_sections()
}

/// Takes the transfer-page packets sent on `channel` without completing them: their
/// transaction ids and how many frames they carried.
fn take_transfers(g: &mut Guest, channel: u16) -> (Vec<u64>, usize) {
    let mut ids = Vec::new();
    let mut frames = 0;
    while let Some(s) = g.take(channel) {
        assert_eq!(s.packet_type, PacketType::DataUsingTransferPages, "{s:?}");
        ids.push(s.trans_id);
        frames += u32::from_le_bytes(s.extra[4..8].try_into().unwrap()) as usize;
    }
    (ids, frames)
}

/// Runs `step` (a tick or a wake) until the NIC takes no more frames from the backend,
/// completing nothing.
fn fill_sections(g: &mut Guest, step: fn(&mut Guest)) {
    let sections = free_sections(g);
    for _ in 0..sections / 1024 + 3 {
        step(g);
    }
    assert_eq!(free_sections(g), 0);
}

#[test]
fn a_completion_on_one_channel_sends_the_frames_queued_for_another() {
    let mut g = Guest::new(Guest::config(3));
    g.bring_up();
    g.open_channel(1);
    g.open_channel(2);
    // Every TCP flow to channel 2; frames RSS cannot hash (ARP) stay on channel 0.
    assert_eq!(
        g.set(
            ndis::OID_GEN_RECEIVE_SCALE_PARAMETERS,
            &rss_params(&[2; 128], 0)
        ),
        rndis::STATUS_SUCCESS
    );
    let sections = free_sections(&g);
    push(&g, [frame(MAC, 0, 60)]);
    push(
        &g,
        (0..sections + 2).map(|i| tcp_frame(40_000 + (i % 1000) as u16)),
    );
    // The guest completes nothing: every section fills, three frames stay in the backend.
    fill_sections(&mut g, Guest::poll);
    let (on0, n0) = take_transfers(&mut g, 0);
    let (_, n2) = take_transfers(&mut g, 2);
    assert_eq!((on0.len(), n0, n2), (1, 1, sections - 1));
    assert_eq!(waiting_in_backend(&g), 3);

    // The completion on channel 0 frees a section: one frame for channel 2 comes in at once...
    g.complete_transfer(0, on0[0]);
    assert_eq!(waiting_in_backend(&g), 2);
    assert_eq!(
        take_transfers(&mut g, 2).1,
        0,
        "sent before channel 0 is drained"
    );
    // ...and goes out when the server has drained channel 0, not at the next poll.
    g.nic.after_drain(&mut g.bus);
    assert_eq!(take_transfers(&mut g, 2).1, 1);
    assert!(g.take(0).is_none());
    assert_eq!(g.nic.stats().to_guest.drops, 0);
    assert_eq!(g.bad_packets(), 0);
}

#[test]
fn the_backend_is_waited_on_only_while_the_nic_can_take_its_frames() {
    let mut g = Guest::new(Guest::config(1));
    assert!(wake_fds(&g).is_empty(), "a backend without a descriptor");
    g.wire.0.lock().unwrap().wake_fd = Some(FAKE_FD);
    // Before RNDIS is up, frames are read (and dropped) as they come.
    assert_eq!(wake_fds(&g), [FAKE_FD]);
    g.bring_up();
    assert_eq!(wake_fds(&g), [FAKE_FD]);

    let sections = free_sections(&g);
    push(&g, (0..sections + 5).map(|i| frame(MAC, i as u8, 64)));
    // The tick leaves a backend the event loop waits on alone; its wakes take the frames.
    g.poll();
    assert_eq!(waiting_in_backend(&g), sections + 5);
    fill_sections(&mut g, Guest::wake);
    let (ids, n) = take_transfers(&mut g, 0);
    assert_eq!(n, sections);
    // No section free: the frames wait in the backend, and its descriptor (readable all
    // along) must not wake the event loop meanwhile.
    assert_eq!(waiting_in_backend(&g), 5);
    assert!(wake_fds(&g).is_empty());
    // A completion frees the sections of one transfer (up to 64 frames): the five frames go,
    // and the backend is worth waiting on again.
    g.complete_transfer(0, ids[0]);
    assert_eq!(waiting_in_backend(&g), 0);
    assert_eq!(take_transfers(&mut g, 0).1, 5);
    assert!(free_sections(&g) > 0);
    assert_eq!(wake_fds(&g), [FAKE_FD]);
    let taken = g.nic.stats().rx_taken_on;
    assert_eq!(
        (taken.wake, taken.completion, taken.tick),
        (sections as u64, 5, 0)
    );

    // A failing backend would stay ready: it is left to the tick until it reads fine again.
    g.wire.0.lock().unwrap().fail_recvs = true;
    push(&g, [frame(MAC, 1, 64)]);
    g.wake();
    assert!(wake_fds(&g).is_empty());
    g.poll();
    assert!(wake_fds(&g).is_empty());
    g.wire.0.lock().unwrap().fail_recvs = false;
    g.poll();
    assert_eq!(wake_fds(&g), [FAKE_FD]);
    assert_eq!(g.nic.stats().rx_taken_on.tick, 1);
    assert_eq!(take_transfers(&mut g, 0).1, 1);
}
