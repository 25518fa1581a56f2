//! A bounds-checked cursor over a byte slice, for parsing untrusted input.
//!
//! Every read returns `Option`; nothing here can panic, whatever the input.

/// Reads fields front to back from a borrowed buffer.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    consumed: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self {
            rest: buf,
            consumed: 0,
        }
    }

    /// Takes the next `n` bytes, or `None` if fewer remain.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        self.consumed = self.consumed.checked_add(n)?;
        Some(head)
    }

    /// Takes the next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// Takes one byte.
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let [b] = self.array::<1>()?;
        Some(b)
    }

    /// Takes a big-endian `u16`.
    pub(crate) fn u16_be(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.array::<2>()?))
    }

    /// Takes everything that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let all = self.rest;
        self.consumed = self.consumed.saturating_add(all.len());
        self.rest = &[];
        all
    }

    /// How many bytes have been read so far.
    pub(crate) fn consumed(&self) -> usize {
        self.consumed
    }

    /// Succeeds only if the whole buffer was read.
    pub(crate) fn finish(self) -> Option<()> {
        self.rest.is_empty().then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::Reader;

    #[test]
    fn reads_and_tracks_position() {
        let mut r = Reader::new(&[1, 0, 2, 3, 4, 5]);
        assert_eq!(r.u8(), Some(1));
        assert_eq!(r.u16_be(), Some(2));
        assert_eq!(r.consumed(), 3);
        assert_eq!(r.array::<2>(), Some([3, 4]));
        assert_eq!(r.take(2), None, "short read must fail");
        assert_eq!(r.consumed(), 5, "failed read consumes nothing");
        assert!(r.clone().finish().is_none());
        assert_eq!(r.rest(), &[5]);
        assert_eq!(r.consumed(), 6);
        assert!(r.finish().is_some());
    }

    #[test]
    fn empty_input() {
        let mut r = Reader::new(&[]);
        assert_eq!(r.u8(), None);
        assert_eq!(r.u16_be(), None);
        assert_eq!(r.take(0), Some(&[][..]));
        assert_eq!(r.take(usize::MAX), None);
        assert!(r.finish().is_some());
    }
}
