//! The tailer thread: rescans globs, reads open files in passes, tracks rotation, truncation
//! and deletion, sends batches downstream, and emits checkpoint markers on request.
//!
//! Loop shape: wake up (notify hint, rescan timer, checkpoint request, or stop) → if due,
//! rescan every glob → one read pass over every open file → flush each source's batch → send a
//! checkpoint marker if one was requested → sleep on the wake channel until the next rescan
//! deadline. All I/O is blocking and happens on this thread only, so the per-file state needs
//! no locks; the only shared state is atomics (stats, stop/rescan/checkpoint flags) and the
//! per-source problem slot.
//!
//! Ordering: `files` is kept in the order files were first opened, and every pass reads in
//! that order. New files found in one rescan are appended oldest-mtime first. So after a
//! rotation the old file (still open, wherever its name went) is drained before the new file
//! at the old name is read — lines of one source come out in write order.
//!
//! Consistency of checkpoints: a marker is sent only right after a complete read pass, when
//! every source's batch has been flushed. At that instant each open file's
//! `checkpoint_offset()` (read offset minus the pending partial line) is exactly "every
//! complete line before this byte has been sent", so positions and the lines before the marker
//! on the channel describe the same cut.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use notify::event::ModifyKind;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::Sender;

use super::file::{Chunk, TailedFile};
use super::fingerprint::{Fingerprint, HEAD_BYTES};
use super::issues::{Issues, Key};
use super::lines::LineBatch;
use super::{
    FileCheckpoint, Shared, SourceCounters, SourceSpec, StartAt, TailCheckpoint, TailOptions,
    TailStats,
};

/// Size of the one reused read buffer. Each read asks for `batch_bytes` clamped to
/// [MIN_READ, READ_CHUNK], so a batch overshoots `batch_bytes` by at most one read.
const READ_CHUNK: usize = 64 * 1024;
const MIN_READ: usize = 4096;
/// Per file per pass: a file with a big backlog yields after this much so that other files
/// and sources are not starved; the loop then runs another pass without sleeping.
const PASS_BUDGET: u64 = 1024 * 1024;
/// A file missing from its glob is closed once it is read to EOF, was missed by at least this
/// many consecutive rescans, *and* has been missing for `CLOSE_GRACE_INTERVALS` ×
/// `rescan_interval` of wall time since the first of them. The time matters: notify events
/// trigger extra rescans, and one logrotate run (renames, its state file, the postrotate
/// script) triggers several within milliseconds, so counting rescans alone closed the rotated
/// file before the writer had reopened and written its last lines to it.
const MISSING_SCANS_BEFORE_CLOSE: u32 = 2;
const CLOSE_GRACE_INTERVALS: u32 = 2;
/// Same problem (path + kind of error) is logged at most once per this interval.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// On resume, a file whose inode changed this long before the checkpoint's rescan or later
/// counts as new. Inode times come from the kernel's coarse clock (a tick behind
/// `SystemTime::now()`), and a file that old would have been found by that rescan anyway.
const RESUME_SLACK: Duration = Duration::from_secs(2);

/// The receiver of the output channel is gone: nothing more can be delivered, exit.
struct Closed;

/// The callback notify runs on its own thread.
pub(crate) type NotifyHandler = Box<dyn FnMut(notify::Result<notify::Event>) + Send>;
/// Creates the notify watcher. A field so that tests can make it fail the way an exhausted
/// inotify instance limit does, and check that polling alone loses nothing.
pub(crate) type WatcherFactory = fn(NotifyHandler) -> notify::Result<RecommendedWatcher>;

fn recommended_watcher(h: NotifyHandler) -> notify::Result<RecommendedWatcher> {
    notify::recommended_watcher(h)
}

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

/// How one call of `read_file` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadEnd {
    /// At end of file.
    Eof,
    /// Pass budget used up with data left.
    Budget,
    /// Stop requested, or a read error (reported; retried next pass).
    Interrupted,
    /// The head changed under us: what was read was discarded; restart the file at 0.
    Rewritten,
}

/// What a notify event asks of the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    Ignore,
    /// Data written to a file we tail: a read pass.
    Read,
    /// The set of files may have changed: rescan the globs now.
    Rescan,
    /// The kernel's queue overflowed and events were lost: rescan (and count it).
    Overflow,
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
    /// Positions from the resume checkpoint not matched to an open file yet. After the first
    /// rescan only those whose file still exists are kept (it could not be opened yet); they
    /// are carried into every checkpoint we take, so a file that is unreadable for a while
    /// keeps its position across restarts.
    checkpoints: Vec<FileCheckpoint>,
    /// Per source: covered by the resume checkpoint (new files appeared while stopped are read
    /// from 0, see `appeared_while_stopped`).
    resumed: Vec<bool>,
    /// The resume checkpoint's `scanned_at`.
    resumed_at: SystemTime,
    /// Wall-clock start of the last completed rescan (the resume's before the first one).
    last_scan: SystemTime,
    /// Checkpoint requests already answered with a marker.
    checkpoints_sent: u64,
    first_scan: bool,
    buf: Vec<u8>,
    watcher: Option<RecommendedWatcher>,
    pub make_watcher: WatcherFactory,
    /// Directories we would like notify to watch, and whether that succeeded.
    watch_dirs: Vec<(PathBuf, bool)>,
    warn: WarnLimiter,
    issues: Issues,
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
        resume: TailCheckpoint,
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
        let resumed = sources
            .iter()
            .map(|s| resume.sources.contains(&s.id))
            .collect();
        let issues = Issues::new(sources.iter().map(|s| s.name.clone()).collect());
        Worker {
            batches,
            files: Vec::new(),
            out,
            stats,
            shared,
            wake_tx,
            wake_rx,
            checkpoints: resume.files,
            resumed,
            resumed_at: resume.scanned_at,
            last_scan: resume.scanned_at,
            checkpoints_sent: 0,
            first_scan: true,
            buf: vec![0; opts.batch_bytes.clamp(MIN_READ, READ_CHUNK)],
            watcher: None,
            make_watcher: recommended_watcher,
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
            issues,
            vacated,
        }
    }

    /// Thread body. Returns the checkpoint at exit.
    pub fn run(mut self) -> TailCheckpoint {
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
            if self.send_checkpoint_if_requested().is_err() {
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
        self.checkpoint_now()
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Relaxed)
    }

    /// Positions of every open file plus the ones carried from the resume (see `checkpoints`).
    fn checkpoint_now(&self) -> TailCheckpoint {
        let mut files: Vec<FileCheckpoint> = self
            .files
            .iter()
            .map(|f| FileCheckpoint {
                source: self.sources[f.source].id,
                fingerprint: f.fp,
                path: f.path.clone(),
                offset: f.checkpoint_offset(),
            })
            .collect();
        // Stopped before the first rescan finished, these are still all the positions there
        // are: handing on "no files" instead would make the next start read everything again.
        files.extend(self.checkpoints.iter().cloned());
        // Until a rescan has run, we vouch only for the sources the resume covered (a source
        // new in the config has never been scanned by anyone).
        let sources = self
            .sources
            .iter()
            .zip(&self.resumed)
            .filter(|(_, r)| !self.first_scan || **r)
            .map(|(s, _)| s.id)
            .collect();
        TailCheckpoint {
            sources,
            files,
            scanned_at: self.last_scan,
        }
    }

    /// Sends a checkpoint marker if one was requested since the last. Called right after a
    /// complete read pass: every batch has been flushed (see the module docs).
    fn send_checkpoint_if_requested(&mut self) -> Result<(), Closed> {
        let wanted = self.shared.checkpoint_requests.load(Relaxed);
        if wanted == self.checkpoints_sent {
            return Ok(());
        }
        self.checkpoints_sent = wanted;
        debug_assert!(self.batches.iter().all(LineBatch::is_empty));
        let marker = LineBatch {
            checkpoint: Some(Box::new(self.checkpoint_now())),
            ..LineBatch::default()
        };
        self.stats.checkpoints.fetch_add(1, Relaxed);
        // Blocks like any batch when the pipeline is full: the marker must stay in order.
        self.out.blocking_send(marker).map_err(|_| Closed)
    }

    // ---------------------------------------------------------------- notify

    fn start_watcher(&mut self) {
        let wake = self.wake_tx.clone();
        let shared = self.shared.clone();
        let stats = self.stats.clone();
        let patterns: Vec<glob::Pattern> = self
            .sources
            .iter()
            .filter_map(|s| glob::Pattern::new(&s.pattern).ok())
            .collect();
        // Runs on notify's own thread: must never block, so only atomics and try_send.
        let handler: NotifyHandler = Box::new(move |res| {
            let wake_up = match classify(&res, &patterns) {
                Hint::Ignore => false,
                Hint::Read => true,
                Hint::Rescan => {
                    shared.rescan.store(true, Relaxed);
                    true
                }
                Hint::Overflow => {
                    shared.rescan.store(true, Relaxed);
                    // Events were dropped by the kernel; the rescan finds whatever they were
                    // about. Logged once per tailer (it tends to come in storms), counted always.
                    if stats.notify_overflows.fetch_add(1, Relaxed) == 0 {
                        tracing::warn!(
                            "file notification queue overflowed; rescanning (further overflows are counted, not logged)"
                        );
                    }
                    true
                }
            };
            if wake_up {
                let _ = wake.try_send(());
            }
        });
        match (self.make_watcher)(handler) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => {
                // Logged once: nothing retries creating the watcher. Polling every
                // rescan_interval is complete on its own (the rescan is the truth); only
                // latency changes.
                tracing::warn!(error = %e, "file change notifications unavailable (inotify limits?); tailing by polling every {:?}", self.opts.rescan_interval);
            }
        }
        self.ensure_watches();
    }

    /// Watches directories not watched yet (they may be created after startup). A directory
    /// that cannot be watched (inotify watch limit) is retried on every rescan, logged once a
    /// minute at most, and polled meanwhile.
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
        let active = self.watch_dirs.iter().any(|(_, ok)| *ok);
        self.stats.notify_active.store(active, Relaxed);
    }

    // ---------------------------------------------------------------- rescan

    /// Re-evaluates every glob: opens new files, follows renames, counts missing ones, and
    /// verifies heads of open files (in-place rewrite detection).
    fn rescan(&mut self) {
        let started = SystemTime::now();
        self.issues.begin_scan();
        for f in &mut self.files {
            f.seen = false;
        }
        if self.first_scan && !self.checkpoints.is_empty() {
            // Before any glob match is opened, so rotated-away files come first.
            self.open_rotated_away();
        }
        for s in 0..self.sources.len() {
            self.scan_source(s);
        }
        for i in 0..self.files.len() {
            let f = &mut self.files[i];
            if f.seen {
                f.missing_scans = 0;
                f.missing_since = None;
            } else {
                f.missing_scans = f.missing_scans.saturating_add(1);
                f.missing_since.get_or_insert_with(Instant::now);
            }
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
            let key = Key::File(f.fp.dev, f.fp.ino);
            let s = f.source;
            match f.head_changed() {
                Ok(false) => self.issues.file_ok(&self.stats, s, key, "head"),
                Ok(true) => self.truncated(i, "head rewritten"),
                Err(e) => {
                    let path = self.files[i].path.clone();
                    self.issues
                        .report(&self.stats, s, key, "head", &path, e.to_string());
                }
            }
        }
        if self.first_scan {
            // Positions whose file is gone for good are dropped, and so are those of a file we
            // have open anyway (its content changed while we were stopped: it was read from 0).
            // The rest (file there but not openable yet) are kept until it can be opened.
            let files = &self.files;
            self.checkpoints.retain(|c| {
                let fp = c.fingerprint;
                !files.iter().any(|f| f.fp.same_inode(fp.dev, fp.ino))
                    && fs::metadata(&c.path).is_ok_and(|m| fp.same_inode(m.dev(), m.ino()))
            });
        }
        self.issues.end_scan(&self.stats);
        self.first_scan = false;
        self.last_scan = started;
        self.stats.rescans.fetch_add(1, Relaxed);
        self.ensure_watches();
    }

    /// First rescan after a resume: a position whose file is no longer matched by its
    /// source's glob usually belongs to a file renamed away by rotation while we were stopped.
    /// With a glob that matches only the live name (`fw.log`), nothing else would ever read
    /// the rest of it. Look for the inode in the directory it was last seen in and drain it
    /// from its position, opened before any new file of the source so that read order stays
    /// write order. (A file deleted while stopped is gone, and so are its unread lines.)
    fn open_rotated_away(&mut self) {
        let mut matched: HashSet<(usize, u64, u64)> = HashSet::new();
        for (s, src) in self.sources.iter().enumerate() {
            if !self.checkpoints.iter().any(|c| c.source == src.id) {
                continue;
            }
            let Ok(paths) = glob::glob(&src.pattern) else {
                continue;
            };
            for p in paths.flatten() {
                if let Ok(m) = fs::metadata(&p) {
                    matched.insert((s, m.dev(), m.ino()));
                }
            }
        }
        let mut listings: HashMap<PathBuf, Vec<(PathBuf, Metadata)>> = HashMap::new();
        let mut found: Vec<(usize, PathBuf, Metadata)> = Vec::new();
        for cp in &self.checkpoints {
            let Some(s) = self.sources.iter().position(|x| x.id == cp.source) else {
                continue;
            };
            let fp = cp.fingerprint;
            if matched.contains(&(s, fp.dev, fp.ino)) {
                continue;
            }
            let Some(dir) = cp.path.parent() else {
                continue;
            };
            let entries = listings
                .entry(dir.to_path_buf())
                .or_insert_with(|| list_files(dir));
            if let Some((p, m)) = entries
                .iter()
                .find(|(_, m)| fp.same_inode(m.dev(), m.ino()))
            {
                found.push((s, p.clone(), m.clone()));
            }
        }
        found.sort_by_key(|(_, _, m)| (m.mtime(), m.mtime_nsec()));
        for (s, path, _) in found {
            self.open_rotated(s, path);
        }
    }

    /// Opens a file found by `open_rotated_away` if its head still matches its position.
    fn open_rotated(&mut self, s: usize, path: PathBuf) {
        let opened = File::open(&path).and_then(|f| {
            let meta = f.metadata()?;
            let fp = Fingerprint::of_file(&f)?;
            Ok((f, meta, fp))
        });
        let (file, meta, fp) = match opened {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "cannot open a file rotated away while stopped");
                return;
            }
        };
        let Some(cp) = self.take_checkpoint(s, &fp, &file, &path) else {
            return; // same inode, other content: not the file we were reading
        };
        let size = meta.len();
        let offset = if cp.offset <= size { cp.offset } else { 0 };
        let mut tf = TailedFile::new(s, path, file, fp, offset, size);
        if offset > 0
            && let Err(e) = tf.align_to_line_start()
        {
            tracing::debug!(path = %tf.path.display(), error = %e, "cannot check line alignment");
        }
        tracing::info!(source = %self.sources[s].name, path = %tf.path.display(), offset, "resuming a file rotated away while stopped; draining it");
        self.stats.at(s).files_open.fetch_add(1, Relaxed);
        self.files.push(tf);
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
                    let (path, msg) = (e.path().to_path_buf(), e.error().to_string());
                    self.scan_issue(s, "glob", &path, msg);
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
                    self.scan_issue(s, "stat", &path, e.to_string());
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
            // Prefer the newest files: they are the live ones. The rest wait on disk and are
            // retried every rescan; reported on the source's feed health meanwhile.
            let skipped = new.len() - room;
            let first = new[0].0.clone();
            self.scan_issue(
                s,
                "max_open_files",
                &first,
                format!(
                    "{skipped} file(s) not opened: max_open_files = {} reached (newest opened first)",
                    self.opts.max_open_files
                ),
            );
            new.drain(..skipped);
        }
        for (path, _) in new {
            self.open_new(s, path, &prev_paths);
        }
    }

    /// Reports a problem found while scanning source `s` (cleared when a rescan no longer
    /// finds it).
    fn scan_issue(&mut self, s: usize, op: &'static str, path: &Path, msg: String) {
        self.issues.report(&self.stats, s, Key::Scan, op, path, msg);
    }

    fn open_new(&mut self, s: usize, path: PathBuf, prev_paths: &HashSet<PathBuf>) {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return, // raced; next scan
            Err(e) => {
                self.scan_issue(s, "open", &path, e.to_string());
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
                self.scan_issue(s, "fingerprint", &path, e.to_string());
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
        } else if self.first_scan && self.resumed[s] && self.appeared_while_stopped(&meta, &path) {
            // Created, renamed here or replaced after the last rescan of the run we resume:
            // nobody has read any of it, whatever start_at says.
            (0, false)
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

    /// True when the file's inode (or the symlink naming it) changed at or after the resumed
    /// checkpoint's rescan, minus `RESUME_SLACK`. ctime, not mtime: a rename into the glob
    /// changes ctime but keeps the (old) mtime.
    fn appeared_while_stopped(&self, meta: &Metadata, path: &Path) -> bool {
        let cutoff = self
            .resumed_at
            .checked_sub(RESUME_SLACK)
            .unwrap_or(UNIX_EPOCH);
        let link = fs::symlink_metadata(path).ok();
        [Some(meta), link.as_ref()]
            .into_iter()
            .flatten()
            .any(|m| ctime(m) >= cutoff)
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
        let c = self.stats.at(s);
        c.truncations.fetch_add(1, Relaxed);
        tracing::info!(source = %self.sources[s].name, path = %f.path.display(), old_offset = f.offset, why, "file truncated; reading again from the start");
        match f.restart_after_truncation() {
            Ok(0) => {}
            Ok(dropped) => {
                tracing::debug!(path = %f.path.display(), dropped, "dropped the partial line of the old content")
            }
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
                let key = Key::File(self.files[i].fp.dev, self.files[i].fp.ino);
                match self.files[i].refresh_size() {
                    Ok(shrank) => {
                        self.issues.file_ok(&self.stats, s, key, "fstat");
                        if shrank {
                            self.truncated(i, "size below offset");
                        }
                    }
                    Err(e) => {
                        let path = self.files[i].path.clone();
                        self.issues
                            .report(&self.stats, s, key, "fstat", &path, e.to_string());
                    }
                }
                // The head is re-verified after every read (see `TailedFile::read_chunk`);
                // a rewrite restarts the file at 0, at most once per pass so that a file
                // rewritten continuously cannot hold the thread.
                let mut end = self.read_file(i, max)?;
                if end == ReadEnd::Rewritten {
                    self.truncated(i, "head rewritten");
                    end = match self.read_file(i, max)? {
                        ReadEnd::Rewritten => ReadEnd::Budget,
                        other => other,
                    };
                }
                more |= end == ReadEnd::Budget;
                let f = &mut self.files[i];
                let grace = self.opts.rescan_interval * CLOSE_GRACE_INTERVALS;
                if end == ReadEnd::Eof
                    && f.missing_scans >= MISSING_SCANS_BEFORE_CLOSE
                    && f.missing_since.is_some_and(|t| t.elapsed() >= grace)
                {
                    // Gone from the glob (renamed out of it or deleted) and fully read: close
                    // it so a deleted file's blocks are released. Its unterminated last line
                    // will never be completed, so it is emitted now.
                    f.finish(&mut self.batches[s], max);
                    let f = self.files.remove(i);
                    self.stats.at(s).files_open.fetch_sub(1, Relaxed);
                    self.issues.file_closed(&self.stats, s, key);
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

    /// Reads file `i` until EOF, the pass budget, stop, a read error or a rewritten head.
    /// Flushes the source batch whenever it reaches batch_bytes (blocking on a full channel =
    /// backpressure).
    fn read_file(&mut self, i: usize, max: usize) -> Result<ReadEnd, Closed> {
        let f = &mut self.files[i];
        let s = f.source;
        let key = Key::File(f.fp.dev, f.fp.ino);
        let batch = &mut self.batches[s];
        let c = self.stats.at(s);
        let mut budget = PASS_BUDGET;
        loop {
            if self.shared.stop.load(Relaxed) {
                return Ok(ReadEnd::Interrupted);
            }
            let overlong_before = batch.overlong;
            let mut lines = 0;
            match f.read_chunk(&mut self.buf, batch, max, &mut lines) {
                Ok(Chunk::Eof) => {
                    self.issues.file_ok(&self.stats, s, key, "read");
                    return Ok(ReadEnd::Eof);
                }
                Ok(Chunk::Rewritten) => return Ok(ReadEnd::Rewritten),
                Ok(Chunk::Data(n)) => {
                    self.issues.file_ok(&self.stats, s, key, "read");
                    c.bytes_read.fetch_add(n as u64, Relaxed);
                    c.overlong
                        .fetch_add(batch.overlong - overlong_before, Relaxed);
                    if batch.data.len() >= self.opts.batch_bytes {
                        flush(&self.out, batch, c, self.opts.batch_bytes)?;
                    }
                    budget = budget.saturating_sub(n as u64);
                    if budget == 0 {
                        return Ok(ReadEnd::Budget);
                    }
                }
                Err(e) => {
                    self.issues
                        .report(&self.stats, s, key, "read", &f.path, e.to_string());
                    return Ok(ReadEnd::Interrupted);
                }
            }
        }
    }
}

/// What a notify callback result asks for. A pure function so the overflow path can be tested
/// without making a real kernel queue overflow.
fn classify(res: &notify::Result<notify::Event>, patterns: &[glob::Pattern]) -> Hint {
    let ev = match res {
        // notify turns IN_Q_OVERFLOW into an event flagged "rescan".
        Ok(ev) if ev.need_rescan() => return Hint::Overflow,
        Ok(ev) => ev,
        // An error from the watcher (a watch was lost, a read failed): events may be missing.
        Err(_) => return Hint::Rescan,
    };
    match ev.kind {
        // Our own opens/reads and writers' closes: no new data.
        EventKind::Access(_) => Hint::Ignore,
        EventKind::Create(_)
        | EventKind::Remove(_)
        | EventKind::Modify(ModifyKind::Name(_))
        | EventKind::Any
        | EventKind::Other => Hint::Rescan,
        // Data written: only interesting for files our globs match (the watched directory may
        // hold other busy logs).
        EventKind::Modify(_) => {
            if ev
                .paths
                .iter()
                .any(|p| patterns.iter().any(|pat| pat.matches_path(p)))
            {
                Hint::Read
            } else {
                Hint::Ignore
            }
        }
    }
}

/// Regular files (following symlinks) in `dir` with their metadata; errors mean "nothing".
fn list_files(dir: &Path) -> Vec<(PathBuf, Metadata)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let p = e.path();
            let m = fs::metadata(&p).ok()?;
            m.is_file().then_some((p, m))
        })
        .collect()
}

/// Inode change time as a `SystemTime` (before 1970 reads as the epoch).
fn ctime(m: &Metadata) -> SystemTime {
    let secs = u64::try_from(m.ctime()).unwrap_or(0);
    let nanos = u32::try_from(m.ctime_nsec()).unwrap_or(0).min(999_999_999);
    UNIX_EPOCH + Duration::new(secs, nanos)
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
    fn overflow_and_watcher_errors_mean_rescan() {
        use notify::event::{CreateKind, DataChange, Flag};
        let pats = vec![glob::Pattern::new("/logs/fw.log*").unwrap()];
        let ev = |kind: EventKind, path: &str| {
            Ok(notify::Event::new(kind).add_path(PathBuf::from(path)))
        };
        // IN_Q_OVERFLOW as notify reports it.
        let overflow = Ok(notify::Event::new(EventKind::Other).set_flag(Flag::Rescan));
        assert_eq!(classify(&overflow, &pats), Hint::Overflow);
        assert_eq!(
            classify(&Err(notify::Error::generic("lost")), &pats),
            Hint::Rescan
        );
        assert_eq!(
            classify(&ev(EventKind::Create(CreateKind::File), "/logs/x"), &pats),
            Hint::Rescan
        );
        let data = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert_eq!(classify(&ev(data, "/logs/fw.log"), &pats), Hint::Read);
        assert_eq!(classify(&ev(data, "/logs/other"), &pats), Hint::Ignore);
        assert_eq!(
            classify(
                &ev(
                    EventKind::Access(notify::event::AccessKind::Any),
                    "/logs/fw.log"
                ),
                &pats
            ),
            Hint::Ignore
        );
    }

    #[test]
    fn warn_limiter_limits() {
        let mut w = WarnLimiter::default();
        assert!(w.allow("a".into()));
        assert!(!w.allow("a".into()));
        assert!(w.allow("b".into()));
    }
}
