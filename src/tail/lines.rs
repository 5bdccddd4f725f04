//! Line splitting for the tailer: [`LineBatch`] (the unit sent downstream) and the per-file
//! [`LineSplitter`] that turns arbitrary read chunks into complete lines.
//!
//! The splitter never allocates per line: complete lines inside a chunk are copied straight
//! from the read buffer into the batch; only a line that straddles two reads is staged in the
//! per-file `partial` buffer, which is bounded by `max_line_bytes + 1`. A line that grows past
//! the limit is dropped *while it streams by* (we switch to "skip until newline" and stop
//! buffering), so a 1 GiB line costs no memory. Encoding is never looked at: invalid UTF-8 and
//! NUL bytes pass through untouched.

use memchr::memchr;

/// One batch of complete lines from one source. Lines are stored back to back in `data`
/// without their `'\n'` (a trailing `'\r'` stripped); line `i` is `data[ends[i-1]..ends[i]]`
/// (with `ends[-1] = 0`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineBatch {
    pub source: u16,
    pub data: Vec<u8>,
    pub ends: Vec<u32>,
    /// Lines longer than the source's `max_line_bytes` skipped since the previous batch.
    pub overlong: u64,
    /// Set only on the marker batches a tailer sends when asked
    /// ([`super::CheckpointTrigger::request`]); such a batch holds no lines. The positions
    /// cover exactly the lines the tailer sent before it on this channel.
    pub checkpoint: Option<Box<super::TailCheckpoint>>,
}

impl LineBatch {
    /// An empty batch for `source` with room for about `bytes` of line data.
    pub fn with_capacity(source: u16, bytes: usize) -> LineBatch {
        LineBatch {
            source,
            data: Vec::with_capacity(bytes),
            // ~100 bytes per firewall line is typical; a guess, the Vec grows if wrong.
            ends: Vec::with_capacity(bytes / 100 + 1),
            overlong: 0,
            checkpoint: None,
        }
    }

    /// The lines, in order, without terminators.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let end = end as usize;
            let line = &self.data[start..end];
            start = end;
            line
        })
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the batch holds no line (it may still carry an `overlong` count).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Appends one line (without its '\n'); strips one trailing '\r'.
    pub fn push_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.data.extend_from_slice(line);
        // `data` stays far below 4 GiB: it is flushed at ~batch_bytes, which the worker clamps.
        self.ends.push(self.data.len() as u32);
    }
}

/// Per-file line assembly state. Survives between reads of the same file.
#[derive(Debug, Default)]
pub struct LineSplitter {
    /// Bytes of the current, not yet terminated line (≤ max + 1: a '\r' may still come).
    partial: Vec<u8>,
    /// Discarding bytes until the next '\n' (after an overlong line, or when starting at the
    /// end of a file in the middle of a line).
    skipping: bool,
}

impl LineSplitter {
    pub fn new() -> LineSplitter {
        LineSplitter::default()
    }

    /// Starts in "skip to the next newline" mode without counting an overlong line: used when
    /// we begin mid-line (start_at End on a file whose last byte is not '\n').
    pub fn skip_to_next_line(&mut self) {
        self.partial.clear();
        self.skipping = true;
    }

    /// Bytes held for an incomplete line (so a checkpoint can point at the line start).
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// True while discarding the rest of a line.
    #[cfg(test)]
    pub fn is_skipping(&self) -> bool {
        self.skipping
    }

    /// Forgets all state (after a truncation the old partial line belongs to old content).
    pub fn reset(&mut self) {
        self.partial.clear();
        self.skipping = false;
    }

    /// Feeds one read chunk; complete lines go to `batch`, overlong ones are counted in
    /// `batch.overlong`. Returns how many lines were pushed.
    pub fn feed(&mut self, mut chunk: &[u8], batch: &mut LineBatch, max: usize) -> u64 {
        let mut pushed = 0;
        while !chunk.is_empty() {
            match memchr(b'\n', chunk) {
                Some(i) => {
                    let seg = &chunk[..i];
                    chunk = &chunk[i + 1..];
                    if self.skipping {
                        // End of the line we were skipping; already counted when detected.
                        self.skipping = false;
                        continue;
                    }
                    // Content length of partial+seg, not counting a final '\r' (which may
                    // sit at the end of `partial` when the '\n' came in the next read).
                    let ends_cr = match seg.last() {
                        Some(&c) => c == b'\r',
                        None => self.partial.last() == Some(&b'\r'),
                    };
                    let len = self.partial.len() + seg.len() - ends_cr as usize;
                    if len > max {
                        batch.overlong += 1;
                        self.partial.clear();
                        continue;
                    }
                    if self.partial.is_empty() {
                        batch.push_line(seg);
                    } else {
                        self.partial.extend_from_slice(seg);
                        batch.push_line(&self.partial);
                        self.partial.clear();
                    }
                    pushed += 1;
                }
                None => {
                    if !self.skipping {
                        // `max + 1`: the line may still end in "\r\n", whose '\r' is not
                        // content. Beyond that it is overlong whatever comes next.
                        if self.partial.len() + chunk.len() > max.saturating_add(1) {
                            batch.overlong += 1;
                            self.partial.clear();
                            self.skipping = true;
                        } else {
                            self.partial.extend_from_slice(chunk);
                        }
                    }
                    break;
                }
            }
        }
        pushed
    }

    /// The file's byte stream has ended for good (closed after drain, or truncated): an
    /// unterminated last line will never get its newline, so it is emitted as it is rather
    /// than lost. Returns 1 when a line was pushed.
    pub fn finish(&mut self, batch: &mut LineBatch, max: usize) -> u64 {
        let out = if !self.skipping && !self.partial.is_empty() {
            let len = self
                .partial
                .strip_suffix(b"\r")
                .map_or(self.partial.len(), <[u8]>::len);
            if len > max {
                batch.overlong += 1;
                0
            } else {
                batch.push_line(&self.partial);
                1
            }
        } else {
            0
        };
        self.reset();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(b: &LineBatch) -> Vec<Vec<u8>> {
        b.lines().map(<[u8]>::to_vec).collect()
    }

    fn split(chunks: &[&[u8]], max: usize) -> (Vec<Vec<u8>>, u64, LineSplitter) {
        let mut s = LineSplitter::new();
        let mut b = LineBatch::with_capacity(1, 64);
        for c in chunks {
            s.feed(c, &mut b, max);
        }
        (lines(&b), b.overlong, s)
    }

    #[test]
    fn whole_lines_in_one_chunk() {
        let (l, o, s) = split(&[b"a\nbb\n\nccc\n"], 100);
        assert_eq!(
            l,
            vec![b"a".to_vec(), b"bb".to_vec(), b"".to_vec(), b"ccc".to_vec()]
        );
        assert_eq!(o, 0);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn line_split_across_many_reads() {
        let text = b"the quick brown fox jumps\nover\n";
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        let (l, _, _) = split(&chunks, 100);
        assert_eq!(
            l,
            vec![b"the quick brown fox jumps".to_vec(), b"over".to_vec()]
        );
        let chunks: Vec<&[u8]> = text.chunks(3).collect();
        assert_eq!(split(&chunks, 100).0, l);
    }

    #[test]
    fn partial_is_held_until_newline() {
        let (l, _, s) = split(&[b"one\ntw", b"o"], 100);
        assert_eq!(l, vec![b"one".to_vec()]);
        assert_eq!(s.pending(), 3);
        let (l, _, _) = split(&[b"one\ntw", b"o", b"\n"], 100);
        assert_eq!(l, vec![b"one".to_vec(), b"two".to_vec()]);
    }

    #[test]
    fn crlf_is_stripped_even_when_split() {
        let (l, _, _) = split(&[b"a\r\nb\r", b"\nc\rd\n"], 100);
        assert_eq!(l, vec![b"a".to_vec(), b"b".to_vec(), b"c\rd".to_vec()]);
    }

    #[test]
    fn overlong_line_in_one_chunk_is_skipped() {
        let (l, o, _) = split(&[b"ok\n0123456789\nfine\n"], 5);
        assert_eq!(l, vec![b"ok".to_vec(), b"fine".to_vec()]);
        assert_eq!(o, 1);
    }

    #[test]
    fn overlong_across_read_boundaries_is_not_buffered() {
        let mut s = LineSplitter::new();
        let mut b = LineBatch::with_capacity(1, 64);
        s.feed(b"ok\n0123", &mut b, 5);
        s.feed(b"456789", &mut b, 5);
        assert!(s.is_skipping());
        assert_eq!(s.pending(), 0, "overlong bytes must not be buffered");
        for _ in 0..100 {
            s.feed(b"xxxxxxxxxx", &mut b, 5);
        }
        assert_eq!(s.pending(), 0);
        s.feed(b"yy\nnext\n", &mut b, 5);
        assert_eq!(lines(&b), vec![b"ok".to_vec(), b"next".to_vec()]);
        assert_eq!(b.overlong, 1);
    }

    #[test]
    fn exactly_max_with_crlf_is_kept() {
        let (l, o, _) = split(&[b"12345\r", b"\n123456\r\n"], 5);
        assert_eq!(l, vec![b"12345".to_vec()]);
        assert_eq!(o, 1);
    }

    #[test]
    fn binary_bytes_pass_through() {
        let (l, _, _) = split(&[b"\x00\xff\xfe\n\xc3(\n"], 100);
        assert_eq!(l, vec![b"\x00\xff\xfe".to_vec(), b"\xc3(".to_vec()]);
    }

    #[test]
    fn skip_to_next_line_drops_the_tail_without_counting() {
        let mut s = LineSplitter::new();
        let mut b = LineBatch::with_capacity(1, 64);
        s.skip_to_next_line();
        s.feed(b"tail of old line\nnew\n", &mut b, 100);
        assert_eq!(lines(&b), vec![b"new".to_vec()]);
        assert_eq!(b.overlong, 0);
    }

    #[test]
    fn finish_emits_unterminated_line() {
        let mut s = LineSplitter::new();
        let mut b = LineBatch::with_capacity(1, 64);
        s.feed(b"a\nlast", &mut b, 100);
        assert_eq!(s.finish(&mut b, 100), 1);
        assert_eq!(lines(&b), vec![b"a".to_vec(), b"last".to_vec()]);
        assert_eq!(s.finish(&mut b, 100), 0);
    }

    #[test]
    fn batch_layout() {
        let mut b = LineBatch::with_capacity(7, 16);
        assert!(b.is_empty());
        b.push_line(b"ab");
        b.push_line(b"");
        b.push_line(b"c\r");
        assert_eq!(b.data, b"abc");
        assert_eq!(b.ends, vec![2, 2, 3]);
        assert_eq!(b.len(), 3);
    }
}
