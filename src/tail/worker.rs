//! The tailer thread: rescans globs, reads open files in passes, tracks rotation, truncation
//! and deletion, and sends batches downstream.
//!
//! Loop shape: wake up (notify hint, rescan timer, or stop) → if due, rescan every glob →
//! one read pass over every open file → flush each source's batch → sleep on the wake channel
//! until the next rescan deadline. All I/O is blocking and happens on this thread only, so the
//! per-file state needs no locks; the only shared state is atomics (stats, stop/rescan flags).
//!
//! Ordering: `files` is kept in the order files were first opened, and every pass reads in
//! that order. New files found in one rescan are appended oldest-mtime first. So after a
//! rotation the old file (still open, wherever its name went) is drained before the new file
//! at the old name is read — lines of one source come out in write order.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use notify::event::ModifyKind;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::Sender;

use super::file::{Chunk, TailedFile};
use super::fingerprint::{Fingerprint, HEAD_BYTES};
use super::lines::LineBatch;
use super::{FileCheckpoint, Shared, SourceCounters, SourceSpec, StartAt, TailOptions, TailStats};

/// Size of the one reused read buffer. Each read asks for `batch_bytes` clamped to
/// [MIN_READ, READ_CHUNK], so a batch overshoots `batch_bytes` by at most one read.
const READ_CHUNK: usize = 64 * 1024;
const MIN_READ: usize = 4096;
/// Per file per pass: a file with a big backlog yields after this much so that other files
/// and sources are not starved; the loop then runs another pass without sleeping.
const PASS_BUDGET: u64 = 1024 * 1024;
/// A file missing from its glob for this many consecutive rescans, and read to EOF, is
/// closed. Two (not one) gives writers that still hold the rotated file a full rescan
/// interval to write their last lines before we let go.
const MISSING_SCANS_BEFORE_CLOSE: u32 = 2;
/// Same problem (path + kind of error) is logged at most once per this interval.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The receiver of the output channel is gone: nothing more can be delivered, exit.
struct Closed;

/// Rate limiter for per-path warnings (a missing permission would otherwise log every rescan).
#[derive(Default)]
struct WarnLimiter {
    last: HashMap<String, Instant>,
}

impl WarnLimiter {
    fn allow(&mut self, key: String) -> bool {
        let now = Instant::now();
        if self.last.len() > 4096 {
            // Bounded memory even with endlessly changing paths.
            self.last.retain(|_, t| now.duration_since(*t) < WARN_EVERY);
        }
        match self.last.get(&key) {
            Some(t) if now.duration_since(*t) < WARN_EVERY => false,
            _ => {
                self.last.insert(key, now);
                true
            }
        }
    }
}

pub(crate) struct Worker {
    sources: Vec<SourceSpec>,
    /// The batch being built for each source (same index as `sources`).
    batches: Vec<LineBatch>,
    files: Vec<TailedFile>,
    opts: TailOptions,
    out: Sender<LineBatch>,
    stats: Arc<TailStats>,
    shared: Arc<Shared>,
    wake_tx: SyncSender<()>,
    wake_rx: Receiver<()>,
    checkpoints: Vec<FileCheckpoint>,
    first_scan: bool,
    buf: Vec<u8>,
    watcher: Option<RecommendedWatcher>,
    /// Directories we would like notify to watch, and whether that succeeded.
    watch_dirs: Vec<(PathBuf, bool)>,
    warn: WarnLimiter,
    /// Per source: paths a tracked file has left (renamed away or vanished) and nothing has
    /// taken since. A *new* file appearing at such a path — or at a path another tracked
    /// file held at the previous scan — is one rotation, whether the rename and the create
    /// are seen in the same rescan or in two.
    vacated: Vec<HashSet<PathBuf>>,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sources: Vec<SourceSpec>,
        mut opts: TailOptions,
        out: Sender<LineBatch>,
        stats: Arc<TailStats>,
        shared: Arc<Shared>,
        wake_tx: SyncSender<()>,
        wake_rx: Receiver<()>,
        checkpoints: Vec<FileCheckpoint>,
    ) -> Worker {
        // Sanitise knobs: a zero interval would spin; `ends` are u32, so a batch must stay far
        // below 4 GiB (batch_bytes + one chunk + one line).
        opts.rescan_interval = opts.rescan_interval.max(Duration::from_millis(1));
        opts.batch_bytes = opts.batch_bytes.clamp(1, 1 << 30);
        opts.max_open_files = opts.max_open_files.max(1);
        let vacated = vec![HashSet::new(); sources.len()];
        let batches = sources
            .iter()
            .map(|s| LineBatch::with_capacity(s.id, opts.batch_bytes.min(1 << 20)))
            .collect();
        Worker {
            batches,
            files: Vec::new(),
            out,
            stats,
            shared,
            wake_tx,
            wake_rx,
            checkpoints,
            first_scan: true,
            buf: vec![0; opts.batch_bytes.clamp(MIN_READ, READ_CHUNK)],
            watcher: None,
            watch_dirs: sources
                .iter()
                .filter_map(|s| watch_dir(&s.pattern))
                .map(|d| (d, false))
                .collect(),
            sources: sources
                .into_iter()
                .map(|mut s| {
                    // Lines must fit in a batch's u32 offsets together with batch_bytes.
                    s.max_line_bytes = s.max_line_bytes.min(1 << 30);
                    s
                })
                .collect(),
            opts,
            warn: WarnLimiter::default(),
            vacated,
        }
    }

    /// Thread body. Returns the checkpoints of files still open at exit.
    pub fn run(mut self) -> Vec<FileCheckpoint> {
        self.start_watcher();
        let mut next_scan = Instant::now();
        loop {
            if self.stopping() {
                break;
            }
            let due = Instant::now() >= next_scan;
            // swap: consume the hint even when the timer is due anyway.
            let hinted = self.shared.rescan.swap(false, Relaxed);
            if due || hinted {
                self.rescan();
                if due {
                    next_scan = Instant::now() + self.opts.rescan_interval;
                }
            }
            let more = match self.read_pass() {
                Ok(more) => more,
                Err(Closed) => {
                    tracing::debug!("tailer output channel closed; stopping");
                    break;
                }
            };
            if self.stopping() {
                break;
            }
            if more {
                // Backlog left: go again at once, but still let a pending wake be consumed
                // (it is covered by the pass we are about to do).
                let _ = self.wake_rx.try_recv();
                continue;
            }
            let timeout = next_scan.saturating_duration_since(Instant::now());
            match self.wake_rx.recv_timeout(timeout) {
                Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                // Cannot happen (we hold a sender), but never spin if it did.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // Drop the watcher first so its thread stops sending wake-ups.
        self.watcher = None;
        self.checkpoints_now()
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Relaxed)
    }

    fn checkpoints_now(&self) -> Vec<FileCheckpoint> {
        self.files
            .iter()
            .map(|f| FileCheckpoint {
                source: self.sources[f.source].id,
                fingerprint: f.fp,
                path: f.path.clone(),
                offset: f.checkpoint_offset(),
            })
            .collect()
    }

    // ---------------------------------------------------------------- notify

    fn start_watcher(&mut self) {
        let wake = self.wake_tx.clone();
        let shared = self.shared.clone();
        let patterns: Vec<glob::Pattern> = self
            .sources
            .iter()
            .filter_map(|s| glob::Pattern::new(&s.pattern).ok())
            .collect();
        // Runs on notify's own thread: must never block, so only atomics and try_send.
        let handler = move |res: notify::Result<notify::Event>| {
            let wake_up = match &res {
                Ok(ev) => match ev.kind {
                    // Our own opens/reads and writers' closes: no new data.
                    EventKind::Access(_) => false,
                    // The set of files may have changed: rescan now rather than at the timer.
                    EventKind::Create(_)
                    | EventKind::Remove(_)
                    | EventKind::Modify(ModifyKind::Name(_))
                    | EventKind::Any
                    | EventKind::Other => {
                        shared.rescan.store(true, Relaxed);
                        true
                    }
                    // Data written: only interesting for files our globs match (the watched
                    // directory may hold other busy logs).
                    EventKind::Modify(_) => ev
                        .paths
                        .iter()
                        .any(|p| patterns.iter().any(|pat| pat.matches_path(p))),
                },
                // Overflowed queue or similar: events were lost, rescan.
                Err(_) => {
                    shared.rescan.store(true, Relaxed);
                    true
                }
            };
            if wake_up {
                let _ = wake.try_send(());
            }
        };
        match notify::recommended_watcher(handler) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "file change notifications unavailable; tailing by polling every {:?}", self.opts.rescan_interval);
            }
        }
        self.ensure_watches();
    }

    /// Watches directories not watched yet (they may be created after startup).
    fn ensure_watches(&mut self) {
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        for (dir, ok) in self.watch_dirs.iter_mut().filter(|(_, ok)| !*ok) {
            if !dir.is_dir() {
                continue;
            }
            match w.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => *ok = true,
                Err(e) => {
                    if self.warn.allow(format!("watch {}", dir.display())) {
                        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory; relying on rescans");
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- rescan

    /// Re-evaluates every glob: opens new files, follows renames, counts missing ones, and
    /// verifies heads of open files (in-place rewrite detection).
    fn rescan(&mut self) {
        for f in &mut self.files {
            f.seen = false;
        }
        for s in 0..self.sources.len() {
            self.scan_source(s);
        }
        for i in 0..self.files.len() {
            let f = &mut self.files[i];
            f.missing_scans = if f.seen {
                0
            } else {
                f.missing_scans.saturating_add(1)
            };
            if f.missing_scans == 1 {
                let (s, path) = (f.source, f.path.clone());
                if !self
                    .files
                    .iter()
                    .any(|o| o.source == s && o.seen && o.path == path)
                {
                    vacate(&mut self.vacated[s], path);
                }
            }
            let f = &mut self.files[i];
            match f.head_changed() {
                Ok(false) => {}
                Ok(true) => self.truncated(i, "head rewritten"),
                Err(e) => {
                    let key = format!("head {}", f.path.display());
                    if self.warn.allow(key) {
                        tracing::warn!(path = %self.files[i].path.display(), error = %e, "cannot re-read file head");
                    }
                }
            }
        }
        self.first_scan = false;
        self.ensure_watches();
    }

    fn scan_source(&mut self, s: usize) {
        let pattern = self.sources[s].pattern.clone();
        let Ok(paths) = glob::glob(&pattern) else {
            return;
        }; // validated at spawn
        // Paths this source's files had before this scan: a new file at one of them is a
        // rotation (rename-and-recreate, or delete-and-recreate).
        let prev_paths: HashSet<PathBuf> = self
            .files
            .iter()
            .filter(|f| f.source == s)
            .map(|f| f.path.clone())
            .collect();
        let mut new: Vec<(PathBuf, Metadata)> = Vec::new();
        for entry in paths {
            let path = match entry {
                Ok(p) => p,
                Err(e) => {
                    if self.warn.allow(format!("glob {}", e.path().display())) {
                        tracing::warn!(source = %self.sources[s].name, path = %e.path().display(), error = %e.error(), "cannot read while globbing");
                    }
                    continue;
                }
            };
            // stat follows symlinks: identity is the target's dev+ino.
            let meta = match fs::metadata(&path) {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                // Raced with a rotation (or a dangling symlink): the next scan sorts it out.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    if self.warn.allow(format!("stat {}", path.display())) {
                        tracing::warn!(source = %self.sources[s].name, path = %path.display(), error = %e, "cannot stat file");
                    }
                    continue;
                }
            };
            if let Some(f) = self
                .files
                .iter_mut()
                .find(|f| f.source == s && f.fp.same_inode(meta.dev(), meta.ino()))
            {
                // Known file, possibly under a new name (rename rotation within the glob).
                // With two names for one inode (symlink + target) the first one wins.
                if !f.seen {
                    f.seen = true;
                    if f.path != path {
                        let old = std::mem::replace(&mut f.path, path.clone());
                        vacate(&mut self.vacated[s], old);
                    }
                    // Filled by a file we already know: not a rotation target any more.
                    self.vacated[s].remove(&path);
                }
            } else if !new
                .iter()
                .any(|(_, m)| m.dev() == meta.dev() && m.ino() == meta.ino())
            {
                new.push((path, meta));
            }
        }
        if new.is_empty() {
            return;
        }
        // Oldest first: read order follows write order across rotated generations.
        new.sort_by_key(|(_, m)| (m.mtime(), m.mtime_nsec()));
        let room = self.opts.max_open_files.saturating_sub(self.files.len());
        if new.len() > room {
            // Prefer the newest files: they are the live ones.
            let skipped = new.len() - room;
            if self.warn.allow(format!("max_open_files {s}")) {
                tracing::warn!(source = %self.sources[s].name, skipped, max_open_files = self.opts.max_open_files, "too many open files; newest files first, retrying on later rescans");
            }
            new.drain(..skipped);
        }
        for (path, _) in new {
            self.open_new(s, path, &prev_paths);
        }
    }

    fn open_new(&mut self, s: usize, path: PathBuf, prev_paths: &HashSet<PathBuf>) {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return, // raced; next scan
            Err(e) => {
                if self.warn.allow(format!("open {}", path.display())) {
                    tracing::warn!(source = %self.sources[s].name, path = %path.display(), error = %e, "cannot open file");
                }
                return;
            }
        };
        // The name may have been replaced between stat and open: from here on, identity
        // comes from the fd, never from the path.
        let (meta, fp) = match file
            .metadata()
            .and_then(|m| Ok((m, Fingerprint::of_file(&file)?)))
        {
            Ok(x) => x,
            Err(e) => {
                if self.warn.allow(format!("fstat {}", path.display())) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot fingerprint file");
                }
                return;
            }
        };
        if !meta.is_file() {
            return;
        }
        if let Some(f) = self
            .files
            .iter_mut()
            .find(|f| f.source == s && f.fp.same_inode(meta.dev(), meta.ino()))
        {
            f.seen = true;
            return;
        }
        let size = meta.len();
        let (offset, mid_file) = if let Some(cp) = self.take_checkpoint(s, &fp, &file, &path) {
            // A checkpoint past the end means the file was truncated while we were down.
            if cp.offset <= size {
                (cp.offset, true)
            } else {
                (0, false)
            }
        } else if self.first_scan && self.sources[s].start_at == StartAt::End {
            (size, true)
        } else {
            // Present at startup with start_at Beginning, or appeared later: new data.
            (0, false)
        };
        // `|`, not `||`: always consume the vacated entry.
        let rotated =
            !self.first_scan && (self.vacated[s].remove(&path) | prev_paths.contains(&path));
        let mut tf = TailedFile::new(s, path, file, fp, offset, size);
        if mid_file && let Err(e) = tf.align_to_line_start() {
            tracing::debug!(path = %tf.path.display(), error = %e, "cannot check line alignment");
        }
        let c = self.stats.at(s);
        if rotated {
            c.rotations.fetch_add(1, Relaxed);
            tracing::info!(source = %self.sources[s].name, path = %tf.path.display(), "file rotated; reading the new file from the beginning");
        } else {
            tracing::debug!(source = %self.sources[s].name, path = %tf.path.display(), offset, "tailing file");
        }
        c.files_open.fetch_add(1, Relaxed);
        self.files.push(tf);
    }

    /// Finds (and consumes) the checkpoint for a newly opened file: same dev+ino with the same
    /// head bytes; or, when device numbers changed (reboot, remount), the same full-length head
    /// under the same path. A short head on a reused inode can mis-match; see docs/TAILING.md.
    fn take_checkpoint(
        &mut self,
        s: usize,
        fp: &Fingerprint,
        file: &File,
        path: &Path,
    ) -> Option<FileCheckpoint> {
        let id = self.sources[s].id;
        let matches = |c: &FileCheckpoint, by_inode: bool| {
            c.source == id
                && if by_inode {
                    c.fingerprint.same_inode(fp.dev, fp.ino)
                } else {
                    c.fingerprint.head_len as usize == HEAD_BYTES && c.path == path
                }
                && c.fingerprint.head_matches(file).unwrap_or(false)
        };
        let pos = self
            .checkpoints
            .iter()
            .position(|c| matches(c, true))
            .or_else(|| self.checkpoints.iter().position(|c| matches(c, false)))?;
        Some(self.checkpoints.swap_remove(pos))
    }

    /// File `i` lost its content (shrank below our offset, or its head was rewritten).
    fn truncated(&mut self, i: usize, why: &str) {
        let f = &mut self.files[i];
        let s = f.source;
        let max = self.sources[s].max_line_bytes;
        let c = self.stats.at(s);
        c.truncations.fetch_add(1, Relaxed);
        tracing::info!(source = %self.sources[s].name, path = %f.path.display(), old_offset = f.offset, why, "file truncated; reading again from the start");
        // Lines pushed here are counted in `lines` when the batch is flushed.
        match f.restart_after_truncation(&mut self.batches[s], max) {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(path = %f.path.display(), error = %e, "cannot re-fingerprint truncated file")
            }
        }
    }

    // ---------------------------------------------------------------- read pass

    /// Reads every open file (up to PASS_BUDGET each), closes drained missing files, flushes
    /// each source's batch. Returns true when some file still had data left.
    fn read_pass(&mut self) -> Result<bool, Closed> {
        let mut more = false;
        for s in 0..self.sources.len() {
            let max = self.sources[s].max_line_bytes;
            let mut i = 0;
            while i < self.files.len() {
                if self.files[i].source != s {
                    i += 1;
                    continue;
                }
                match self.files[i].refresh_size() {
                    // New data: before reading past our offset, make sure the bytes before it
                    // are still the ones we read. A truncate followed by a rewrite longer than
                    // our offset (copytruncate racing with a busy writer) is invisible to the
                    // size check; one 256-byte pread per pass with data catches it.
                    Ok(false) if self.files[i].size > self.files[i].offset => {
                        if let Ok(true) = self.files[i].head_changed() {
                            self.truncated(i, "head rewritten");
                        }
                    }
                    Ok(false) => {}
                    Ok(true) => self.truncated(i, "size below offset"),
                    Err(e) => {
                        if self
                            .warn
                            .allow(format!("fstat {}", self.files[i].path.display()))
                        {
                            tracing::warn!(path = %self.files[i].path.display(), error = %e, "cannot stat open file");
                        }
                    }
                }
                let (left, eof) = self.read_file(i, max)?;
                more |= left;
                let f = &mut self.files[i];
                if eof && f.missing_scans >= MISSING_SCANS_BEFORE_CLOSE {
                    // Gone from the glob (renamed out of it or deleted) and fully read: close
                    // it so a deleted file's blocks are released. Its unterminated last line
                    // will never be completed, so it is emitted now.
                    f.finish(&mut self.batches[s], max);
                    let f = self.files.remove(i);
                    self.stats.at(s).files_open.fetch_sub(1, Relaxed);
                    tracing::debug!(source = %self.sources[s].name, path = %f.path.display(), "closed drained file no longer matched by the glob");
                    continue;
                }
                i += 1;
            }
            flush(
                &self.out,
                &mut self.batches[s],
                self.stats.at(s),
                self.opts.batch_bytes,
            )?;
            let lag = self
                .files
                .iter()
                .filter(|f| f.source == s)
                .map(TailedFile::lag)
                .sum();
            self.stats.at(s).lag_bytes.store(lag, Relaxed);
        }
        Ok(more)
    }

    /// Reads file `i` until EOF, the pass budget, or stop. Flushes the source batch whenever
    /// it reaches batch_bytes (blocking on a full channel = backpressure). Returns
    /// (budget exhausted with data left, reached EOF).
    fn read_file(&mut self, i: usize, max: usize) -> Result<(bool, bool), Closed> {
        let f = &mut self.files[i];
        let s = f.source;
        let batch = &mut self.batches[s];
        let c = self.stats.at(s);
        let mut budget = PASS_BUDGET;
        loop {
            if self.shared.stop.load(Relaxed) {
                return Ok((false, false));
            }
            let overlong_before = batch.overlong;
            let mut lines = 0;
            match f.read_chunk(&mut self.buf, batch, max, &mut lines) {
                Ok(Chunk::Eof) => return Ok((false, true)),
                Ok(Chunk::Data(n)) => {
                    c.bytes_read.fetch_add(n as u64, Relaxed);
                    c.overlong
                        .fetch_add(batch.overlong - overlong_before, Relaxed);
                    if batch.data.len() >= self.opts.batch_bytes {
                        flush(&self.out, batch, c, self.opts.batch_bytes)?;
                    }
                    budget = budget.saturating_sub(n as u64);
                    if budget == 0 {
                        return Ok((true, false));
                    }
                }
                Err(e) => {
                    if self.warn.allow(format!("read {}", f.path.display())) {
                        tracing::warn!(path = %f.path.display(), error = %e, "read error; will retry");
                    }
                    return Ok((false, false));
                }
            }
        }
    }
}

/// Remembers a path a tracked file left (bounded: paths of deleted files that never come
/// back would otherwise pile up).
fn vacate(set: &mut HashSet<PathBuf>, path: PathBuf) {
    if set.len() >= 1024 {
        set.clear();
    }
    set.insert(path);
}

/// Sends the batch if it has lines (never an empty one; an `overlong`-only count rides along
/// with the next real batch). Blocks while the channel is full: that is the backpressure.
fn flush(
    out: &Sender<LineBatch>,
    batch: &mut LineBatch,
    c: &SourceCounters,
    batch_bytes: usize,
) -> Result<(), Closed> {
    if batch.is_empty() {
        return Ok(());
    }
    let fresh = LineBatch::with_capacity(batch.source, (batch_bytes + READ_CHUNK).min(1 << 21));
    let full = std::mem::replace(batch, fresh);
    c.lines.fetch_add(full.len() as u64, Relaxed);
    out.blocking_send(full).map_err(|_| Closed)
}

/// The directory to watch for a pattern: its parent, when that contains no glob
/// metacharacters. Patterns with wildcards in directory parts are served by rescans only.
fn watch_dir(pattern: &str) -> Option<PathBuf> {
    let parent = Path::new(pattern).parent()?;
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let literal = parent.components().all(|c| match c {
        Component::Normal(s) => !s.to_string_lossy().contains(['*', '?', '[', ']']),
        _ => true,
    });
    literal.then(|| parent.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_dir_only_for_literal_parents() {
        assert_eq!(
            watch_dir("/var/log/fw.log*"),
            Some(PathBuf::from("/var/log"))
        );
        assert_eq!(watch_dir("fw.log"), Some(PathBuf::from(".")));
        assert_eq!(watch_dir("/var/log/*/fw.log"), None);
    }

    #[test]
    fn warn_limiter_limits() {
        let mut w = WarnLimiter::default();
        assert!(w.allow("a".into()));
        assert!(!w.allow("a".into()));
        assert!(w.allow("b".into()));
    }
}
