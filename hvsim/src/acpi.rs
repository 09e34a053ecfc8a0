// SPDX-License-Identifier: GPL-2.0
//! The SSDT that makes the guest find VMBus: a device with `_HID "VMBUS"` and a `_CRS`
//! (Linux's hv_vmbus binds to it through ACPI). Hyper-V nests it in an `ACPI0004` module
//! device whose `_CRS` holds the MMIO window for VMBus devices; hvsim adds that parent only
//! when asked for a window (synthetic video and PCI pass-through need one, storage and
//! network do not).
//!
//! The table is assembled here byte by byte (ACPI 6.5, chapter 20 "ACPI Machine Language
//! Specification" and 6.4 "Resource Data Types") and handed to QEMU with `-acpitable file=`.

/// An MMIO range the VMBus module device offers its children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioWindow {
    pub base: u64,
    pub len: u64,
}

const SCOPE_OP: u8 = 0x10;
const NAME_OP: u8 = 0x08;
const BUFFER_OP: u8 = 0x11;
const EXT_OP_PREFIX: u8 = 0x5b;
const DEVICE_OP: u8 = 0x82;
const STRING_PREFIX: u8 = 0x0d;
const BYTE_PREFIX: u8 = 0x0a;
const ZERO_OP: u8 = 0x00;
const ROOT_CHAR: u8 = b'\\';

const END_TAG: [u8; 2] = [0x79, 0x00];
const QWORD_ADDRESS_TAG: u8 = 0x8a;
/// Length of a QWord address space descriptor after its 3-byte header.
const QWORD_ADDRESS_LEN: u16 = 43;

const HEADER_LEN: usize = 36;

/// Encodes a PkgLength for `content` bytes that follow it.
fn pkg_length(content: usize) -> Vec<u8> {
    if content + 1 < 64 {
        // CAST: below 64.
        return vec![(content + 1) as u8];
    }
    for extra in 1..=3usize {
        let total = content + 1 + extra;
        if total < 1 << (4 + 8 * extra) {
            // CAST: each byte is masked or shifted into 8 bits.
            let mut v = vec![((extra as u8) << 6) | (total & 0xf) as u8];
            for i in 0..extra {
                v.push((total >> (4 + 8 * i)) as u8);
            }
            return v;
        }
    }
    // PANIC: an SSDT of 256 MiB cannot be built from the few objects below.
    unreachable!("AML package of {content} bytes");
}

/// `Opcode PkgLength <body>` (the prefix may be one or two bytes).
fn package(opcode: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = opcode.to_vec();
    v.extend(pkg_length(body.len()));
    v.extend_from_slice(body);
    v
}

/// A 4-character name segment, padded with `_`.
fn name_seg(name: &str) -> [u8; 4] {
    let mut seg = [b'_'; 4];
    for (d, s) in seg.iter_mut().zip(name.bytes()) {
        *d = s;
    }
    seg
}

fn name_string(name: &str) -> Vec<u8> {
    let mut v = vec![NAME_OP];
    v.extend(name_seg(name));
    v
}

fn name_str(name: &str, value: &str) -> Vec<u8> {
    let mut v = name_string(name);
    v.push(STRING_PREFIX);
    v.extend_from_slice(value.as_bytes());
    v.push(0);
    v
}

fn name_zero(name: &str) -> Vec<u8> {
    let mut v = name_string(name);
    v.push(ZERO_OP);
    v
}

/// `Name(_CRS, ResourceTemplate() { <descriptors> })`.
fn name_crs(descriptors: &[u8]) -> Vec<u8> {
    let mut bytes = descriptors.to_vec();
    bytes.extend_from_slice(&END_TAG);
    let mut body = vec![BYTE_PREFIX];
    // CAST: our templates are a few dozen bytes.
    body.push(bytes.len() as u8);
    body.extend(bytes);
    let mut v = name_string("_CRS");
    v.extend(package(&[BUFFER_OP], &body));
    v
}

/// QWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite).
fn qword_memory(w: MmioWindow) -> Vec<u8> {
    let mut v = vec![QWORD_ADDRESS_TAG];
    v.extend(QWORD_ADDRESS_LEN.to_le_bytes());
    v.push(0); // memory range
    v.push(0x0c); // general flags: max and min fixed, positive decode, producer
    v.push(0x01); // read-write, non-cacheable
    let max = w.base + w.len.saturating_sub(1);
    for field in [0, w.base, max, 0, w.len] {
        v.extend(field.to_le_bytes());
    }
    v
}

fn device(name: &str, body: &[u8]) -> Vec<u8> {
    let mut b = name_seg(name).to_vec();
    b.extend_from_slice(body);
    package(&[EXT_OP_PREFIX, DEVICE_OP], &b)
}

/// The whole SSDT (header included, checksum correct).
pub fn vmbus_ssdt(mmio: Option<MmioWindow>) -> Vec<u8> {
    let mut vmbus = name_str("_HID", "VMBUS");
    vmbus.extend(name_zero("_UID"));
    vmbus.extend(name_crs(&[]));
    let vmbus = device("VMBS", &vmbus);

    let child = match mmio {
        None => vmbus,
        Some(w) => {
            let mut vmod = name_str("_HID", "ACPI0004");
            vmod.extend(name_zero("_UID"));
            vmod.extend(name_crs(&qword_memory(w)));
            vmod.extend(vmbus);
            device("VMOD", &vmod)
        }
    };
    let mut scope_body = vec![ROOT_CHAR];
    scope_body.extend(name_seg("_SB"));
    scope_body.extend(child);
    let aml = package(&[SCOPE_OP], &scope_body);

    let mut t = Vec::with_capacity(HEADER_LEN + aml.len());
    t.extend_from_slice(b"SSDT");
    // CAST: a few hundred bytes.
    t.extend(((HEADER_LEN + aml.len()) as u32).to_le_bytes());
    t.push(2); // revision: 64-bit integers
    t.push(0); // checksum, below
    t.extend_from_slice(b"RHVSIM");
    t.extend_from_slice(b"HVSIMVMB");
    t.extend(1u32.to_le_bytes());
    t.extend_from_slice(b"RHV ");
    t.extend(1u32.to_le_bytes());
    t.extend(aml);
    let sum = t.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    t[9] = 0u8.wrapping_sub(sum);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkg_length_encodings() {
        assert_eq!(pkg_length(0), vec![1]);
        assert_eq!(pkg_length(62), vec![63]);
        // 63 content bytes + 2 length bytes = 65 = 0x41.
        assert_eq!(pkg_length(63), vec![0x41, 0x04]);
        assert_eq!(pkg_length(4093), vec![0x4f, 0xff]);
        assert_eq!(pkg_length(4094), vec![0x81, 0x00, 0x01]);
    }

    #[test]
    fn minimal_table_is_exactly_the_expected_aml() {
        let t = vmbus_ssdt(None);
        assert_eq!(&t[..4], b"SSDT");
        assert_eq!(
            u32::from_le_bytes(t[4..8].try_into().unwrap()) as usize,
            t.len()
        );
        assert_eq!(t.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0, "checksum");
        // Scope (\_SB) { Device (VMBS) { Name (_HID, "VMBUS") Name (_UID, Zero)
        //   Name (_CRS, ResourceTemplate () {}) } }, as iasl -f would encode it.
        let expected: &[u8] = &[
            0x10, 0x2a, b'\\', b'_', b'S', b'B', b'_', //
            0x5b, 0x82, 0x22, b'V', b'M', b'B', b'S', //
            0x08, b'_', b'H', b'I', b'D', 0x0d, b'V', b'M', b'B', b'U', b'S', 0x00, //
            0x08, b'_', b'U', b'I', b'D', 0x00, //
            0x08, b'_', b'C', b'R', b'S', 0x11, 0x05, 0x0a, 0x02, 0x79, 0x00,
        ];
        assert_eq!(&t[HEADER_LEN..], expected);
    }

    #[test]
    fn with_a_window_vmbus_sits_under_an_acpi0004_module() {
        let t = vmbus_ssdt(Some(MmioWindow {
            base: 0xf800_0000,
            len: 0x0400_0000,
        }));
        assert_eq!(t.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        let find = |needle: &[u8]| t.windows(needle.len()).position(|w| w == needle);
        let vmod = find(b"VMOD").unwrap();
        let vmbs = find(b"VMBS").unwrap();
        assert!(vmod < vmbs);
        assert!(find(b"ACPI0004\0").is_some());
        let qword = find(&[0x8a, 43, 0]).unwrap();
        let field = |i: usize| {
            u64::from_le_bytes(t[qword + 6 + 8 * i..qword + 14 + 8 * i].try_into().unwrap())
        };
        assert_eq!(
            (field(1), field(2), field(4)),
            (0xf800_0000, 0xfbff_ffff, 0x0400_0000)
        );
        // The module device's package is longer than 63 bytes: a 2-byte PkgLength.
        assert_eq!(t[vmod - 2] >> 6, 1);
    }
}
