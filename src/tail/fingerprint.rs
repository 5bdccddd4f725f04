//! File identity for the tailer: device + inode plus a hash of the file's first bytes.
//!
//! Why both halves:
//! * dev+ino is what makes a file the *same* file across renames (rotation moves a name, not
//!   the bytes) and across symlinks (we stat through the link, so identity is the target's).
//!   While the tailer holds an fd open the kernel cannot free the inode, so inside one run
//!   dev+ino alone is unambiguous — the worker matches open files by dev+ino only.
//! * The head hash protects everything that outlives an fd: checkpoints restored after a
//!   restart (the old file may be gone and its inode reused by a brand-new file) and in-place
//!   rewrites (copytruncate followed by writes past our old offset before we noticed the
//!   shrink). The hash covers the first `head_len` bytes, `head_len = min(size, HEAD_BYTES)`
//!   when the file is opened; a short file therefore has a short (weak) head that is
//!   *extended* as we read it — with the very bytes we read ([`Fingerprint::extend`]), never
//!   with a separate read of the file. An empty file has `head_len == 0` and is identified by
//!   dev+ino alone until we have read its first byte.
//!
//! Why extend from the read buffer: the head answers "is the file still the one whose bytes we
//! consumed?". Hashed from a second `pread`, it could describe content written *after* our
//! data read (a copytruncate racing the writer while the head was still empty), and the next
//! read at our stale offset would pass the check and emit fragments of the new content. The
//! randomised model test (tests/tail_model.rs) found exactly that.
//!
//! The hash is FNV-1a 64 on purpose, not foldhash: it is persisted in checkpoints, so it must
//! be stable across builds, versions and processes (foldhash promises none of that), and
//! 256 bytes hashed once per rescan make speed irrelevant.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

/// How many leading bytes the head hash covers once the file is long enough.
pub const HEAD_BYTES: usize = 256;

/// What identifies a tailed file. Plain data so it can be saved with a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    pub dev: u64,
    pub ino: u64,
    /// How many leading bytes `head_hash` covers (0..=HEAD_BYTES).
    pub head_len: u16,
    /// FNV-1a 64 of the first `head_len` bytes.
    pub head_hash: u64,
}

impl Fingerprint {
    /// Fingerprints an open file: dev+ino from `fstat` of the fd (not the path, which may
    /// already name another file), head from a positional read (does not move the fd).
    pub fn of_file(file: &File) -> io::Result<Fingerprint> {
        let meta = file.metadata()?;
        let (head_len, head_hash) = read_head(file, HEAD_BYTES)?;
        Ok(Fingerprint {
            dev: meta.dev(),
            ino: meta.ino(),
            head_len,
            head_hash,
        })
    }

    /// True when `other` is the same inode on the same device.
    pub fn same_inode(&self, dev: u64, ino: u64) -> bool {
        self.dev == dev && self.ino == ino
    }

    /// Re-reads the first `head_len` bytes of `file` (which must be the file this fingerprint
    /// was taken of) and reports whether they are still the bytes we hashed.
    pub fn verify(&self, file: &File) -> io::Result<HeadCheck> {
        Ok(if self.head_matches(file)? {
            HeadCheck::Same
        } else {
            HeadCheck::Changed
        })
    }

    /// We just read `data` at `offset` (after checking the head is unchanged): if the head is
    /// still short and `data` continues it, hash the continuation from `data` itself, up to
    /// `HEAD_BYTES`. A gap (we read past bytes the head does not cover) cannot happen with how
    /// the tailer opens files; if it did, the head simply stays short.
    pub fn extend(&mut self, offset: u64, data: &[u8]) {
        let len = self.head_len as u64;
        if len >= HEAD_BYTES as u64 || offset > len {
            return;
        }
        let end = (offset + data.len() as u64).min(HEAD_BYTES as u64);
        if end <= len {
            return;
        }
        let from = (len - offset) as usize;
        let to = (end - offset) as usize;
        self.head_hash = fnv1a_continue(self.head_hash, &data[from..to]);
        self.head_len = end as u16;
    }

    /// True when `file` (already known to have this dev+ino, or being matched by content)
    /// starts with the bytes this fingerprint hashed.
    pub fn head_matches(&self, file: &File) -> io::Result<bool> {
        let (len, hash) = read_head(file, self.head_len as usize)?;
        Ok(len == self.head_len && hash == self.head_hash)
    }
}

/// Outcome of [`Fingerprint::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadCheck {
    Same,
    /// The first bytes differ or the file became shorter than the hashed head: the content
    /// was replaced in place (copytruncate + rewrite). Treat as a truncation.
    Changed,
}

/// FNV-1a 64 (stable by construction; see module docs).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_continue(0xcbf2_9ce4_8422_2325, bytes)
}

/// FNV-1a 64 of `a ++ bytes`, given `h = fnv1a(a)`: the hash is a running state.
fn fnv1a_continue(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Reads up to `max` (≤ HEAD_BYTES) leading bytes with pread and hashes them.
fn read_head(file: &File, max: usize) -> io::Result<(u16, u64)> {
    let mut buf = [0u8; HEAD_BYTES];
    let want = max.min(HEAD_BYTES);
    let mut got = 0;
    // pread may return short counts; loop until `want` bytes or EOF.
    while got < want {
        match file.read_at(&mut buf[got..want], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((got as u16, fnv1a(&buf[..got])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn fnv_is_stable() {
        // Reference values of FNV-1a 64; a change here would invalidate saved checkpoints.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn short_file_head_grows_with_the_bytes_read() {
        let mut f = tempfile::tempfile().unwrap();
        let mut fp = Fingerprint::of_file(&f).unwrap();
        assert_eq!(fp.head_len, 0);
        f.write_all(b"hello\n").unwrap();
        assert_eq!(fp.verify(&f).unwrap(), HeadCheck::Same);
        fp.extend(0, b"hello\n");
        assert_eq!(fp.head_len, 6);
        assert_eq!(fp.head_hash, fnv1a(b"hello\n"));
        f.write_all(&[b'x'; 1000]).unwrap();
        // Read in two chunks; the head is cut at HEAD_BYTES.
        fp.extend(6, &[b'x'; 100]);
        fp.extend(106, &[b'x'; 900]);
        assert_eq!(fp.head_len as usize, HEAD_BYTES);
        assert_eq!(fp, Fingerprint::of_file(&f).unwrap());
        // Re-reading old bytes does not change it.
        let before = fp;
        fp.extend(0, b"hello\n");
        assert_eq!(fp, before);
        let meta = f.metadata().unwrap();
        assert!(fp.same_inode(meta.dev(), meta.ino()));
    }

    #[test]
    fn data_read_before_a_rewrite_cannot_adopt_the_new_head() {
        // Empty at fingerprint time; we read old content, then the file is truncated and
        // rewritten before we extend: the head is the old content's, so the rewrite shows.
        let mut f = tempfile::tempfile().unwrap();
        let mut fp = Fingerprint::of_file(&f).unwrap();
        f.write_all(b"old line 1\nold line 2\n").unwrap();
        let read = b"old line 1\nold line 2\n".to_vec();
        f.set_len(0).unwrap();
        f.write_all_at(b"new content, longer than the old one\n", 0)
            .unwrap();
        assert_eq!(fp.verify(&f).unwrap(), HeadCheck::Same, "empty head");
        fp.extend(0, &read);
        assert_eq!(fp.verify(&f).unwrap(), HeadCheck::Changed);
    }

    #[test]
    fn rewritten_head_is_detected() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"first line\nsecond\n").unwrap();
        let fp = Fingerprint::of_file(&f).unwrap();
        assert!(fp.head_matches(&f).unwrap());
        // copytruncate then new content longer than before
        f.set_len(0).unwrap();
        f.write_all_at(b"other content entirely\n", 0).unwrap();
        assert!(!fp.head_matches(&f).unwrap());
        assert_eq!(fp.verify(&f).unwrap(), HeadCheck::Changed);
    }

    #[test]
    fn truncated_below_head_is_changed() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123456789\n").unwrap();
        let fp = Fingerprint::of_file(&f).unwrap();
        f.set_len(3).unwrap();
        assert_eq!(fp.verify(&f).unwrap(), HeadCheck::Changed);
    }

    #[test]
    fn same_head_different_inode_differs() {
        let mut a = tempfile::tempfile().unwrap();
        let mut b = tempfile::tempfile().unwrap();
        a.write_all(b"same\n").unwrap();
        b.write_all(b"same\n").unwrap();
        let fa = Fingerprint::of_file(&a).unwrap();
        let fb = Fingerprint::of_file(&b).unwrap();
        assert_eq!(fa.head_hash, fb.head_hash);
        assert_ne!(fa, fb);
    }
}
