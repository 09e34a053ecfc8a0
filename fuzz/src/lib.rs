// SPDX-License-Identifier: GPL-2.0
//! Helpers shared by the fuzz targets: where a slice a parser returned lies in its input, and
//! a little reader over the raw fuzz bytes for targets whose input is structured.

/// The byte range `part` occupies inside `whole`, or `None` if it is not inside it. A parser
/// that hands back a sub-slice of its input must hand back one of these; an empty slice may
/// be a `&[]` from anywhere.
pub fn range_in(part: &[u8], whole: &[u8]) -> Option<core::ops::Range<usize>> {
    if part.is_empty() {
        return Some(0..0);
    }
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then_some(start..end)
}

/// Panics unless `part` lies inside `whole`.
#[track_caller]
pub fn assert_inside(part: &[u8], whole: &[u8]) -> core::ops::Range<usize> {
    range_in(part, whole).unwrap_or_else(|| {
        panic!(
            "slice of {} bytes at {:p} is outside the {}-byte input at {:p}",
            part.len(),
            part.as_ptr(),
            whole.len(),
            whole.as_ptr()
        )
    })
}

/// Reads little-endian values off the front of the fuzz input; past its end it reads zeros,
/// so every input is usable.
pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// The next `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.rest.len());
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        head
    }

    /// Whatever is left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.rest.len())
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        let b = self.bytes(N);
        a[..b.len()].copy_from_slice(b);
        a
    }

    /// The next byte.
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    /// The next u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// The next u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    /// The next u64.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }
}

/// Panics unless `part` is exactly `whole[range]` (an empty `part` only needs an empty
/// `range`: the parser may hand back any empty slice).
#[track_caller]
pub fn assert_at(part: &[u8], whole: &[u8], range: core::ops::Range<usize>) {
    if part.is_empty() {
        assert!(range.is_empty(), "empty slice where {range:?} was expected");
    } else {
        assert_eq!(range_in(part, whole), Some(range));
    }
}
