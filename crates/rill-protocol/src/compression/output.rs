//! [`Output`]: where a decoder writes decompressed bytes, on top of a
//! buffer that may be reused.
//!
//! A reused buffer (from a [`super::BufferPool`]) arrives with the bytes of
//! its last use still in it. They count as initialized, so a decoder writes
//! over them instead of zeroing the space first; only growth past the
//! buffer's length is zero-filled (`lz4_flex` and `snap` decode into
//! `&mut [u8]`, which must be initialized). Zeroing before every decode was
//! a second pass over each output, and on fresh memory the page faults of
//! that pass were most of the consumer's system time.

/// Decompressed bytes so far (`written`), in a buffer whose contents past
/// `written` are scratch.
pub(crate) struct Output<'a> {
    buf: &'a mut Vec<u8>,
    written: usize,
}

impl<'a> Output<'a> {
    /// Writes from the start of `buf`, whatever it holds.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Output { buf, written: 0 }
    }

    /// Bytes written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Room for `n` more bytes after what is written, already initialized
    /// (zero-filled only where the buffer grows).
    pub fn room(&mut self, n: usize) -> &mut [u8] {
        let (start, end) = self.span(n);
        self.buf.get_mut(start..end).unwrap_or_default()
    }

    /// Like [`Output::room`], with the bytes written since `from` as well
    /// (for decoders that copy matches from earlier output).
    pub fn written_since_and_room(&mut self, from: usize, n: usize) -> (&[u8], &mut [u8]) {
        let (start, end) = self.span(n);
        let at = start.min(self.buf.len());
        let (before, after) = self.buf.split_at_mut(at);
        let before: &[u8] = before;
        (before.get(from..).unwrap_or_default(), after.get_mut(..end - start).unwrap_or_default())
    }

    fn span(&mut self, n: usize) -> (usize, usize) {
        let end = self.written.saturating_add(n);
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        (self.written, end)
    }

    /// Counts `n` bytes of the room as written (at most what the room had).
    pub fn advance(&mut self, n: usize) {
        self.written = self.written.saturating_add(n).min(self.buf.len());
    }

    /// Appends `data`.
    pub fn extend(&mut self, data: &[u8]) {
        let room = self.room(data.len());
        room.copy_from_slice(data);
        self.advance(data.len());
    }

    /// Ends the output: the first bytes returned of the buffer are what
    /// was written. The buffer keeps its length (what is past them was
    /// initialized by this use or an earlier one) so its next use need not
    /// zero-fill it again.
    pub fn finish(self) -> usize {
        self.written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_over_old_bytes_and_keeps_only_what_was_written() {
        let mut buf = b"old contents here".to_vec();
        let mut out = Output::new(&mut buf);
        out.extend(b"new");
        let room = out.room(30);
        assert_eq!(room.len(), 30);
        assert_eq!(&room[..5], b" cont", "the old bytes are written over, not zeroed");
        assert_eq!(&room[14..], &[0u8; 16][..], "growth is zero-filled");
        room[..2].copy_from_slice(b"!!");
        out.advance(2);
        let (since, room) = out.written_since_and_room(1, 4);
        assert_eq!(since, b"ew!!");
        assert_eq!(room.len(), 4);
        assert_eq!(out.finish(), 5);
        assert_eq!(&buf[..5], b"new!!");
        assert_eq!(buf.len(), 33, "the length stays as far as the room given reached: those bytes are initialized");
    }

    #[test]
    fn advance_never_passes_the_room_given() {
        let mut buf = Vec::new();
        let mut out = Output::new(&mut buf);
        out.room(4);
        out.advance(10);
        assert_eq!(out.written(), 4);
        assert_eq!(out.finish(), 4);
        assert_eq!(buf.len(), 4);
    }
}
