// SPDX-License-Identifier: GPL-2.0
//! Tests of storvsp: a scripted guest that speaks VSTOR the way Linux's `storvsc` does
//! (initialization, sub-channels, SRBs with GPA-direct pages), and hostile variations of it.
//! `init`: the initialization sequence; `srb`: SCSI commands and bad requests; `control`:
//! hot-plug, control commands, flow control; `server`: the same behind the real VMBus server.

mod control;
mod init;
mod server;
mod srb;

use rhv_proto::ring::{PacketType, PACKET_FLAG_COMPLETION_REQUESTED};
use rhv_proto::vstor::{self, Operation, ScsiRequest, VstorPacket};
use serde_json::json;
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use super::gpa_direct::{encode_ranges, PageRange};
use super::*;
use crate::memory::{GuestMemory, VecMemory};
use crate::scsi::cdb::*;
use crate::scsi::Sense;

/// A channel: guest RAM, the completions sent, the sub-channels asked for.
struct FakeChannel {
    mem: VecMemory,
    completions: Vec<(u64, Vec<u8>)>,
    subchannel_requests: Vec<u16>,
    full: bool,
}

impl ChannelIo for FakeChannel {
    fn memory(&self) -> &dyn GuestMemory {
        &self.mem
    }
    fn send_completion(&mut self, trans_id: u64, payload: &[u8]) -> Result<(), SendError> {
        if self.full {
            return Err(SendError::Full);
        }
        self.completions.push((trans_id, payload.to_vec()));
        Ok(())
    }
    fn request_subchannels(&mut self, n: u16) {
        self.subchannel_requests.push(n);
    }
}

/// A guest with 1 MiB of RAM and a controller.
struct Guest {
    dev: Storvsp,
    ch: FakeChannel,
    next_id: u64,
}

const RAM: usize = 1 << 20;
/// Guest page where the tests put data buffers.
const DATA_PFN: u64 = 16;

impl Guest {
    fn new(disks: &[&str], vcpus: u32) -> Self {
        let disks = disks.iter().map(|d| d.parse().unwrap()).collect();
        let dev = Storvsp::new(StorvspConfig::new(0, disks, vcpus)).unwrap();
        Self {
            dev,
            ch: FakeChannel {
                mem: VecMemory::new(RAM),
                completions: Vec::new(),
                subchannel_requests: Vec::new(),
                full: false,
            },
            next_id: 100,
        }
    }

    /// Sends raw packet bytes on `subchannel`; returns the completion, if one came.
    fn send_raw(
        &mut self,
        subchannel: u16,
        packet_type: PacketType,
        extra: &[u8],
        payload: &[u8],
    ) -> Option<Vec<u8>> {
        let mut sent = self.send_raw_all(subchannel, packet_type, extra, payload);
        assert!(sent.len() <= 1);
        let (id, bytes) = sent.pop()?;
        assert_eq!(id, self.next_id, "completion for another request");
        Some(bytes)
    }

    /// Sends raw packet bytes on `subchannel`; returns every packet the controller sent.
    fn send_raw_all(
        &mut self,
        subchannel: u16,
        packet_type: PacketType,
        extra: &[u8],
        payload: &[u8],
    ) -> Vec<(u64, Vec<u8>)> {
        self.next_id += 1;
        let before = self.ch.completions.len();
        let packet = IncomingPacket {
            packet_type: packet_type as u16,
            flags: PACKET_FLAG_COMPLETION_REQUESTED,
            trans_id: self.next_id,
            extra,
            payload,
        };
        self.dev.handle_packet(&mut self.ch, subchannel, &packet);
        self.ch.completions.split_off(before)
    }

    /// Sends a VSTOR packet in-band on the primary channel; returns the parsed completion.
    fn op(&mut self, packet: &VstorPacket) -> VstorPacket {
        let bytes = self
            .send_raw(0, PacketType::DataInband, &[], packet.as_bytes())
            .expect("no completion");
        assert_eq!(
            bytes.len(),
            64,
            "Linux drops completions shorter than 64 bytes"
        );
        let reply = VstorPacket::read_from_bytes(&bytes).unwrap();
        assert_eq!(reply.operation(), Ok(Operation::CompleteIo));
        reply
    }

    /// `storvsc_channel_init()`: returns the properties.
    fn linux_init(&mut self) -> vstor::ChannelProperties {
        assert_eq!(
            {
                self.op(&request(Operation::BeginInitialization))
                    .header
                    .status
            },
            0
        );
        let mut agreed = false;
        for v in vstor::LINUX_VERSIONS {
            let mut p = request(Operation::QueryProtocolVersion);
            p.set_version(&vstor::ProtocolVersion {
                major_minor: v,
                revision: 0,
            });
            let reply = self.op(&p);
            assert_eq!({ reply.version().major_minor }, v);
            if reply.header.status == 0 {
                agreed = true;
                break;
            }
            assert_eq!({ reply.header.status }, vstor::STATUS_REVISION_MISMATCH);
        }
        assert!(agreed, "no version agreed");
        let props = self.op(&request(Operation::QueryProperties));
        assert_eq!({ props.header.status }, 0);
        assert_eq!(
            {
                self.op(&request(Operation::EndInitialization))
                    .header
                    .status
            },
            0
        );
        props.properties()
    }

    /// An SRB for `lun` with `cdb`; `data` (`len` bytes at `offset` in DATA_PFN..) if any.
    fn srb(
        &mut self,
        subchannel: u16,
        lun: u8,
        cdb: &[u8],
        data_in: u8,
        buffer: Option<(u32, u32)>,
    ) -> ScsiRequest {
        let mut p = request(Operation::ExecuteSrb);
        let mut srb = ScsiRequest::new_zeroed();
        srb.length = vstor::SRB_SIZE_WIN8 as u16;
        srb.lun = lun;
        srb.cdb_length = cdb.len() as u8;
        srb.cdb[..cdb.len()].copy_from_slice(cdb);
        srb.data_in = data_in;
        srb.sense_info_length = vstor::SENSE_BUFFER_SIZE as u8;
        let extra = match buffer {
            Some((offset, len)) => {
                srb.data_transfer_length = len;
                let pages = (u64::from(offset) + u64::from(len)).div_ceil(4096);
                encode_ranges(&[PageRange {
                    byte_offset: offset,
                    byte_count: len,
                    pfns: (DATA_PFN..DATA_PFN + pages).collect(),
                }])
            }
            None => Vec::new(),
        };
        p.set_srb(&srb);
        let kind = if buffer.is_some() {
            PacketType::DataUsingGpaDirect
        } else {
            PacketType::DataInband
        };
        let bytes = self
            .send_raw(subchannel, kind, &extra, p.as_bytes())
            .expect("no completion");
        assert_eq!(bytes.len(), 64);
        let reply = VstorPacket::read_from_bytes(&bytes).unwrap();
        assert_eq!(reply.operation(), Ok(Operation::CompleteIo));
        reply.srb()
    }

    fn data(&self, offset: u32, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        self.ch
            .mem
            .read_at(DATA_PFN * 4096 + u64::from(offset), &mut b)
            .unwrap();
        b
    }

    fn put_data(&self, offset: u32, bytes: &[u8]) {
        self.ch
            .mem
            .write_at(DATA_PFN * 4096 + u64::from(offset), bytes)
            .unwrap();
    }
}

fn request(op: Operation) -> VstorPacket {
    let mut p = VstorPacket::new(op);
    p.header.flags = vstor::FLAG_REQUEST_COMPLETION;
    p
}

fn rw16(op: u8, lba: u64, blocks: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = op;
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&blocks.to_be_bytes());
    c
}

fn sense_of(srb: &ScsiRequest) -> Sense {
    assert_eq!(
        srb.srb_status,
        vstor::SRB_STATUS_ERROR | vstor::SRB_STATUS_AUTOSENSE_VALID
    );
    assert_eq!(srb.scsi_status, 2);
    assert_eq!(srb.sense_info_length, 18);
    Sense::from_fixed(&srb.cdb[..18]).unwrap()
}

fn open_request(subchannel_index: u16) -> OpenRequest {
    OpenRequest {
        relid: 10 + u32::from(subchannel_index),
        subchannel_index,
        target_vp: 0,
        user_data: [0; 120],
        incoming_ring_size: 1 << 16,
        outgoing_ring_size: 1 << 16,
    }
}
