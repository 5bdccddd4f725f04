//! One tailed file: its open fd, identity, read offset and line-assembly state.
//!
//! Reads are positional (`pread` via `FileExt::read_at`) at our own `offset`, never through
//! the fd's cursor: truncation handling is then just "set offset to 0", and nothing else
//! (a `dup`ed fd, a restore from checkpoint) can move the position under us. The fd is kept
//! open for as long as the file is tracked — that is what lets us finish a file that was
//! renamed or deleted by rotation, and what guarantees (kernel-side) that its inode cannot be
//! reused by a new file while we still think of it as "this file".

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::fingerprint::{Fingerprint, HeadCheck};
use super::lines::{LineBatch, LineSplitter};

/// Per-file state. `fingerprint + offset (− pending partial)` is exactly what a checkpoint
/// saves; see [`TailedFile::checkpoint`].
#[derive(Debug)]
pub(crate) struct TailedFile {
    /// Index into the worker's source list.
    pub source: usize,
    /// The path this file was last seen under (may be stale after a rename or delete).
    pub path: PathBuf,
    file: File,
    pub fp: Fingerprint,
    /// Next byte to read.
    pub offset: u64,
    /// Size from the last fstat (for lag accounting).
    pub size: u64,
    splitter: LineSplitter,
    /// Consecutive rescans in which the glob did not yield this file (renamed out of the
    /// pattern, or deleted). Reset when seen again.
    pub missing_scans: u32,
    /// When the first of those rescans ran (None while the glob yields the file).
    pub missing_since: Option<std::time::Instant>,
    /// Set by the rescan that saw the file; cleared at the start of each rescan.
    pub seen: bool,
}

/// What one `read_chunk` call did.
pub(crate) enum Chunk {
    /// Read this many bytes (> 0).
    Data(usize),
    /// At end of file for now.
    Eof,
    /// The file no longer starts with the bytes we fingerprinted: what was just read belongs
    /// to new content at a stale offset and was discarded. Restart the file at 0.
    Rewritten,
}

impl TailedFile {
    pub fn new(
        source: usize,
        path: PathBuf,
        file: File,
        fp: Fingerprint,
        offset: u64,
        size: u64,
    ) -> Self {
        TailedFile {
            source,
            path,
            file,
            fp,
            offset,
            size,
            splitter: LineSplitter::new(),
            missing_scans: 0,
            missing_since: None,
            seen: true,
        }
    }

    /// We start in the middle of the file (start_at End, or a checkpoint that points past a
    /// byte that is not a '\n'): drop bytes up to the next newline so we never emit half a
    /// line. Checks the byte just before `offset`.
    pub fn align_to_line_start(&mut self) -> io::Result<()> {
        if self.offset == 0 {
            return Ok(());
        }
        let mut b = [0u8; 1];
        let n = self.file.read_at(&mut b, self.offset - 1)?;
        if n == 1 && b[0] != b'\n' {
            self.splitter.skip_to_next_line();
        }
        Ok(())
    }

    /// fstat through the fd: the current size of *this* inode, wherever its name now is.
    /// Returns true when the file shrank below our offset (copytruncate or `> file`).
    pub fn refresh_size(&mut self) -> io::Result<bool> {
        self.size = self.file.metadata()?.len();
        Ok(self.size < self.offset)
    }

    /// Rescan-time check of the head hash: catches a truncate followed by enough new writes
    /// to get past our old offset before we saw the file shrink (size alone cannot see that).
    pub fn head_changed(&mut self) -> io::Result<bool> {
        Ok(self.fp.verify(&self.file)? == HeadCheck::Changed)
    }

    /// The content was replaced in place (copytruncate, `> file`, or a rewrite): start again
    /// from byte 0 with a fresh head fingerprint. Returns the byte length of the partial line
    /// that was dropped.
    ///
    /// The pending partial line is *dropped*, not emitted (unlike [`TailedFile::finish`]): at
    /// a truncation it is almost always the prefix of a line whose rest was written before the
    /// truncate (buffered writers flush at 4 KiB boundaries, not at line ends) and went into
    /// the copy. Emitting it would hand the parser half a line.
    pub fn restart_after_truncation(&mut self) -> io::Result<usize> {
        let dropped = self.splitter.pending();
        self.splitter.reset();
        self.offset = 0;
        // Keep dev+ino (same inode), rehash the head of the new content.
        self.fp = Fingerprint::of_file(&self.file)?;
        Ok(dropped)
    }

    /// One positional read into the shared buffer, fed to the splitter. Returns lines pushed
    /// through `lines_out`.
    ///
    /// The head is verified *after* the read and before a byte is used. A copytruncate plus a
    /// rewrite past our offset that lands between an earlier check and this `pread` would
    /// otherwise hand us the middle of the new content: fragments of lines at a wrong offset.
    /// Checked afterwards, the bytes we hold are either from before the truncate (head still
    /// the same) or discarded ([`Chunk::Rewritten`]). One extra 256-byte `pread` per chunk
    /// with data; nothing per idle pass.
    ///
    /// The check cannot vouch for bytes the head does not cover, so a short head is extended
    /// from the data just read: it always describes bytes we consumed.
    pub fn read_chunk(
        &mut self,
        buf: &mut [u8],
        batch: &mut LineBatch,
        max: usize,
        lines_out: &mut u64,
    ) -> io::Result<Chunk> {
        let n = loop {
            match self.file.read_at(buf, self.offset) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(Chunk::Eof);
        }
        if self.fp.verify(&self.file)? == HeadCheck::Changed {
            return Ok(Chunk::Rewritten);
        }
        // A short head grows with exactly these bytes (fingerprint.rs says why not a pread).
        self.fp.extend(self.offset, &buf[..n]);
        self.offset += n as u64;
        self.size = self.size.max(self.offset);
        *lines_out += self.splitter.feed(&buf[..n], batch, max);
        Ok(Chunk::Data(n))
    }

    /// The file is being closed for good: emit its unterminated last line, if any.
    pub fn finish(&mut self, batch: &mut LineBatch, max: usize) -> u64 {
        self.splitter.finish(batch, max)
    }

    /// Offset of the first byte not yet delivered as part of a complete line. While skipping
    /// an overlong line we report the read offset (restoring there resumes mid-line; the
    /// restore path re-aligns to the next newline).
    pub fn checkpoint_offset(&self) -> u64 {
        self.offset - self.splitter.pending() as u64
    }

    pub fn lag(&self) -> u64 {
        self.size.saturating_sub(self.offset)
    }
}
