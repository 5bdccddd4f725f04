//! File tailer: follows the files matched by each source's glob through rotation, truncation
//! and deletion, and sends complete lines downstream in bounded [`LineBatch`]es.
//!
//! Design (modelled on Vector's file source; details in docs/TAILING.md):
//! * Files are identified by a [`Fingerprint`] (dev+ino plus a hash of the first bytes), not by
//!   path, so a renamed file is the same file and a new file under an old name is a new one.
//! * One dedicated std thread does all the (blocking) I/O. `notify` events only wake it up; a
//!   periodic rescan of every glob is the source of truth, so lost or coalesced events, inotify
//!   limits and network filesystems degrade latency, never correctness.
//! * Output goes through a *bounded* tokio channel with `blocking_send`: when the pipeline is
//!   slow the tailer waits and unread data simply stays in the file. Memory is bounded by
//!   `channel capacity × batch_bytes` plus one partial line per open file.
//!
//! * Checkpoints travel *in band*: on request the thread sends a marker batch carrying the
//!   position of every open file right after the lines those positions cover, so a consumer
//!   that saves its own counts when the marker reaches it gets a consistent cut (docs/TAILING.md,
//!   "Checkpoints").
//!
//! Module layout: `fingerprint` (identity), `lines` (splitting, batches), `file` (per-file
//! state and reads), `issues` (I/O problems as they start and clear), `worker` (the thread:
//! rescan, read passes, rotation bookkeeping, restore).

mod file;
mod fingerprint;
mod issues;
mod lines;
mod worker;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

pub use fingerprint::{Fingerprint, HEAD_BYTES, fnv1a};
pub use lines::LineBatch;

/// Where to start reading files that already exist when the tailer starts. Files that
/// appear later are always read from the beginning (they are new data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    Beginning,
    #[default]
    End,
}

/// One configured log source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// Stamped on every batch of this source; must be unique.
    pub id: u16,
    /// For logs only.
    pub name: String,
    /// Glob (the `glob` crate's syntax); may match several files, e.g. `fw.log*` including
    /// rotated ones — fingerprints prevent reading a renamed file twice.
    pub pattern: String,
    pub start_at: StartAt,
    /// Longer lines are skipped (counted in [`LineBatch::overlong`]).
    pub max_line_bytes: usize,
}

impl SourceSpec {
    /// Default `max_line_bytes`: 64 KiB.
    pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

    /// A source with the default line limit, starting at the end of existing files.
    pub fn new(id: u16, name: impl Into<String>, pattern: impl Into<String>) -> SourceSpec {
        SourceSpec {
            id,
            name: name.into(),
            pattern: pattern.into(),
            start_at: StartAt::End,
            max_line_bytes: Self::DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// Tuning knobs shared by all sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailOptions {
    /// How often every glob is re-evaluated and every open file re-checked (the correctness
    /// backstop behind notify). Default 1 s; tests use ~50 ms. Clamped to ≥ 1 ms.
    pub rescan_interval: Duration,
    /// A batch is sent once it holds about this many bytes (it may overshoot by one read
    /// chunk), or at the end of each read pass over a source. Default 64 KiB.
    pub batch_bytes: usize,
    /// Upper bound on fds held open across all sources; new files beyond it are not opened
    /// (warned, retried on the next rescan). Default 256.
    pub max_open_files: usize,
}

impl Default for TailOptions {
    fn default() -> Self {
        TailOptions {
            rescan_interval: Duration::from_secs(1),
            batch_bytes: 64 * 1024,
            max_open_files: 256,
        }
    }
}

/// A saved position in one file. Produced by [`Tailer::stop_with_checkpoints`] and inside every
/// [`TailCheckpoint`]; consumed by [`Tailer::spawn_with_checkpoints`] and [`Tailer::resume`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheckpoint {
    /// Which source tracked the file.
    pub source: u16,
    pub fingerprint: Fingerprint,
    /// Last path the file was seen under (informational; identity is the fingerprint).
    pub path: std::path::PathBuf,
    /// First byte not yet delivered as part of a complete line.
    pub offset: u64,
}

/// Everything needed to resume tailing after a restart without reading a line twice or
/// skipping one: the position of every file the tailer had open, which sources that covers,
/// and when the globs were last evaluated before the positions were taken.
///
/// Taken in band ([`CheckpointTrigger::request`] → a marker [`LineBatch`]) or at
/// [`Tailer::stop_for_resume`]; restored with [`Tailer::resume`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailCheckpoint {
    /// Ids of the sources this checkpoint covers (all of the tailer's sources). On resume, a
    /// file of such a source that matches no checkpoint and whose inode changed at or after
    /// `scanned_at` (minus a small slack) appeared while nobody was reading: it is read from
    /// byte 0 whatever `start_at` says. Sources not listed use `start_at` as on a first start.
    pub sources: Vec<u16>,
    pub files: Vec<FileCheckpoint>,
    /// Wall-clock start of the last glob rescan that completed before the positions were
    /// taken: a file created later may not have been seen.
    pub scanned_at: SystemTime,
}

impl TailCheckpoint {
    /// A checkpoint with positions only: on resume every source keeps its `start_at` for files
    /// without a position (what [`Tailer::spawn_with_checkpoints`] does).
    pub fn positions_only(files: Vec<FileCheckpoint>) -> TailCheckpoint {
        TailCheckpoint {
            sources: Vec::new(),
            files,
            scanned_at: SystemTime::UNIX_EPOCH,
        }
    }
}

/// An I/O problem a source currently has (cannot open a file, read error, too many open
/// files, ...). Set when it starts, cleared when the operation succeeds again or the path is
/// gone; see [`TailStats::issue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailIssue {
    /// When this problem was first seen (it may have been retried many times since).
    pub since: SystemTime,
    /// What failed: `glob`, `stat`, `open`, `fingerprint`, `read`, `fstat`, `head`,
    /// `max_open_files`.
    pub op: &'static str,
    pub path: PathBuf,
    /// The OS error text (or a description for `max_open_files`).
    pub error: String,
}

/// Errors at the tailer's boundary. [`Tailer::spawn`] returns them wrapped in an
/// `io::Error` (kind `InvalidInput` for configuration errors), recoverable with
/// `err.get_ref().and_then(|e| e.downcast_ref::<TailError>())`.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("source {name:?}: invalid glob pattern {pattern:?}: {msg}")]
    InvalidPattern {
        name: String,
        pattern: String,
        msg: String,
    },
    #[error("source id {0} is used by more than one source")]
    DuplicateSourceId(u16),
    #[error("cannot start the tailer thread: {0}")]
    Spawn(#[source] io::Error),
}

impl From<TailError> for io::Error {
    fn from(e: TailError) -> io::Error {
        let kind = match &e {
            TailError::Spawn(inner) => inner.kind(),
            _ => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}

/// Live counters of one source, updated by the tailer thread with relaxed atomics (each
/// number is independently meaningful; readers never block the tailer).
#[derive(Debug, Default)]
struct SourceCounters {
    id: u16,
    files_open: AtomicU64,
    bytes_read: AtomicU64,
    lag_bytes: AtomicU64,
    rotations: AtomicU64,
    truncations: AtomicU64,
    lines: AtomicU64,
    overlong: AtomicU64,
    /// The newest active I/O problem. Written by the tailer thread only when a problem starts
    /// or clears (rare); read once per tick by the daemon. A mutex is fine at that rate.
    issue: Mutex<Option<TailIssue>>,
}

/// A plain copy of one source's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceTailStats {
    /// Files currently held open (including rotated-away ones still being drained).
    pub files_open: u64,
    /// Bytes read from files (including skipped overlong lines), total.
    pub bytes_read: u64,
    /// Size − offset summed over open files, as of the last read pass: how far behind we are.
    pub lag_bytes: u64,
    /// A path we were reading now names a different file (rename/delete+recreate rotation).
    pub rotations: u64,
    /// A file shrank below our offset or its head was rewritten: we restarted at byte 0.
    pub truncations: u64,
    /// Complete lines delivered.
    pub lines: u64,
    /// Lines skipped for exceeding `max_line_bytes`.
    pub overlong: u64,
}

/// Live counters shared with the daemon.
#[derive(Debug)]
pub struct TailStats {
    sources: Vec<SourceCounters>,
    /// Completed glob rescans (tests wait on this instead of sleeping).
    rescans: AtomicU64,
    /// notify (inotify) is delivering events; false = polling only (`rescan_interval`).
    notify_active: AtomicBool,
    /// Times the kernel's event queue overflowed (events lost; a rescan followed).
    notify_overflows: AtomicU64,
    /// Checkpoint markers sent downstream.
    checkpoints: AtomicU64,
}

impl TailStats {
    fn new(ids: impl Iterator<Item = u16>) -> TailStats {
        TailStats {
            sources: ids
                .map(|id| SourceCounters {
                    id,
                    ..Default::default()
                })
                .collect(),
            rescans: AtomicU64::new(0),
            notify_active: AtomicBool::new(false),
            notify_overflows: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
        }
    }

    /// The I/O problem source `id` currently has, if any (newest first when several).
    pub fn issue(&self, id: u16) -> Option<TailIssue> {
        let c = self.sources.iter().find(|c| c.id == id)?;
        // A poisoned lock only means the tailer panicked while holding it; the value is
        // still a valid Option.
        c.issue.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Completed rescans since start.
    pub fn rescans(&self) -> u64 {
        self.rescans.load(Ordering::Relaxed)
    }

    /// True while filesystem notifications wake the tailer; false when it polls only.
    pub fn notify_active(&self) -> bool {
        self.notify_active.load(Ordering::Relaxed)
    }

    /// How often the notification queue overflowed (each followed by a full rescan).
    pub fn notify_overflows(&self) -> u64 {
        self.notify_overflows.load(Ordering::Relaxed)
    }

    /// Checkpoint markers sent so far.
    pub fn checkpoints(&self) -> u64 {
        self.checkpoints.load(Ordering::Relaxed)
    }

    /// Counters of source `id` (all zero for an unknown id).
    pub fn source(&self, id: u16) -> SourceTailStats {
        let Some(c) = self.sources.iter().find(|c| c.id == id) else {
            return SourceTailStats::default();
        };
        let r = Ordering::Relaxed;
        SourceTailStats {
            files_open: c.files_open.load(r),
            bytes_read: c.bytes_read.load(r),
            lag_bytes: c.lag_bytes.load(r),
            rotations: c.rotations.load(r),
            truncations: c.truncations.load(r),
            lines: c.lines.load(r),
            overlong: c.overlong.load(r),
        }
    }

    /// By position in the spawn-time source list (the worker's index).
    fn at(&self, idx: usize) -> &SourceCounters {
        &self.sources[idx]
    }
}

/// State shared between the handle, the notify callback and the worker thread.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    /// A notify event suggested the set of files changed (create/remove/rename): rescan the
    /// globs on this wake-up instead of waiting for the timer.
    rescan: AtomicBool,
    /// Checkpoint markers requested so far (the worker sends one when this is ahead of what it
    /// has sent; several requests before the next pass coalesce into one marker).
    checkpoint_requests: AtomicU64,
}

/// Asks a running tailer for a checkpoint marker; cheap to clone, usable from any thread or
/// task (it never blocks).
#[derive(Debug, Clone)]
pub struct CheckpointTrigger {
    wake: std_mpsc::SyncSender<()>,
    shared: Arc<Shared>,
}

impl CheckpointTrigger {
    /// After its next read pass the tailer sends a [`LineBatch`] with no lines whose
    /// `checkpoint` holds the position of every open file. Every line sent before that batch
    /// is covered by those positions and no line after it is, so a consumer that records its
    /// own state when the marker arrives (the daemon: aggregate totals) has a consistent cut.
    pub fn request(&self) {
        self.shared
            .checkpoint_requests
            .fetch_add(1, Ordering::Relaxed);
        // Full channel = a wake-up is pending already; it will see the request.
        let _ = self.wake.try_send(());
    }
}

/// Handle to the running tailer thread.
#[derive(Debug)]
pub struct Tailer {
    thread: Option<JoinHandle<TailCheckpoint>>,
    /// Capacity-1 wake channel: a full channel means a wake-up is already pending, so
    /// senders use `try_send` and wake-ups coalesce instead of queueing without bound.
    wake: std_mpsc::SyncSender<()>,
    shared: Arc<Shared>,
    stats: Arc<TailStats>,
}

impl Tailer {
    /// Starts the tailer thread. Files present now are read according to each source's
    /// `start_at`; files that appear later are read from the beginning.
    pub fn spawn(
        sources: Vec<SourceSpec>,
        options: TailOptions,
        out: tokio::sync::mpsc::Sender<LineBatch>,
    ) -> io::Result<Tailer> {
        Self::spawn_with_checkpoints(sources, options, out, Vec::new())
    }

    /// Like [`Tailer::spawn`], resuming files that match a checkpoint (same dev+ino and same
    /// head bytes, or — when the device number changed, e.g. after a reboot — the same full
    /// 256-byte head under the same path) at the saved offset. A file present at startup with
    /// no matching checkpoint falls back to `start_at`.
    pub fn spawn_with_checkpoints(
        sources: Vec<SourceSpec>,
        options: TailOptions,
        out: tokio::sync::mpsc::Sender<LineBatch>,
        checkpoints: Vec<FileCheckpoint>,
    ) -> io::Result<Tailer> {
        Self::resume(
            sources,
            options,
            out,
            TailCheckpoint::positions_only(checkpoints),
        )
    }

    /// Resumes from a [`TailCheckpoint`] taken by an earlier run (see its docs): files are
    /// matched to positions as in [`Tailer::spawn_with_checkpoints`]; files of covered sources
    /// that appeared while nothing was reading are read from the beginning; and a checkpointed
    /// file that was renamed out of the glob meanwhile (rotation while stopped, glob `fw.log`)
    /// is looked up by inode in its old directory and drained from its position before the
    /// new file, so rename rotation loses nothing and reads nothing twice across a restart.
    pub fn resume(
        sources: Vec<SourceSpec>,
        options: TailOptions,
        out: tokio::sync::mpsc::Sender<LineBatch>,
        checkpoint: TailCheckpoint,
    ) -> io::Result<Tailer> {
        Self::spawn_inner(sources, options, out, checkpoint, None)
    }

    fn spawn_inner(
        sources: Vec<SourceSpec>,
        options: TailOptions,
        out: tokio::sync::mpsc::Sender<LineBatch>,
        checkpoint: TailCheckpoint,
        make_watcher: Option<worker::WatcherFactory>,
    ) -> io::Result<Tailer> {
        for (i, s) in sources.iter().enumerate() {
            if sources[..i].iter().any(|o| o.id == s.id) {
                return Err(TailError::DuplicateSourceId(s.id).into());
            }
            if let Err(e) = glob::Pattern::new(&s.pattern) {
                return Err(TailError::InvalidPattern {
                    name: s.name.clone(),
                    pattern: s.pattern.clone(),
                    msg: e.to_string(),
                }
                .into());
            }
        }
        let stats = Arc::new(TailStats::new(sources.iter().map(|s| s.id)));
        let shared = Arc::new(Shared::default());
        let (wake_tx, wake_rx) = std_mpsc::sync_channel(1);
        let mut worker = worker::Worker::new(
            sources,
            options,
            out,
            stats.clone(),
            shared.clone(),
            wake_tx.clone(),
            wake_rx,
            checkpoint,
        );
        if let Some(f) = make_watcher {
            worker.make_watcher = f;
        }
        let thread = std::thread::Builder::new()
            .name("socwall-tail".into())
            .spawn(move || worker.run())
            .map_err(TailError::Spawn)?;
        Ok(Tailer {
            thread: Some(thread),
            wake: wake_tx,
            shared,
            stats,
        })
    }

    /// The live counters.
    pub fn stats(&self) -> Arc<TailStats> {
        self.stats.clone()
    }

    /// A handle that asks for in-band checkpoint markers (see [`CheckpointTrigger::request`]).
    pub fn checkpoint_trigger(&self) -> CheckpointTrigger {
        CheckpointTrigger {
            wake: self.wake.clone(),
            shared: self.shared.clone(),
        }
    }

    /// Asks the thread to finish and joins it. Complete lines already read are flushed
    /// (with `blocking_send`, so the consumer must keep draining the channel — or drop it —
    /// until this returns). Unterminated last lines of live files are *not* emitted: the
    /// writer may still complete them.
    pub fn stop(self) {
        let _ = self.stop_with_checkpoints();
    }

    /// [`Tailer::stop`], returning the position of every file still open, for persisting.
    pub fn stop_with_checkpoints(mut self) -> Vec<FileCheckpoint> {
        self.shutdown().map(|c| c.files).unwrap_or_default()
    }

    /// [`Tailer::stop`], returning a full [`TailCheckpoint`] for [`Tailer::resume`]. `None`
    /// when the thread panicked: its positions are unknown, and saving "no files" instead
    /// would make the next start read everything again.
    pub fn stop_for_resume(mut self) -> Option<TailCheckpoint> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Option<TailCheckpoint> {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = self.wake.try_send(());
        match self.thread.take()?.join() {
            Ok(c) => Some(c),
            Err(_) => {
                tracing::error!("tailer thread panicked");
                None
            }
        }
    }
}

impl Drop for Tailer {
    /// Dropping the handle without `stop()` signals the thread to finish but does not join it:
    /// joining here could deadlock a consumer that drops the handle while not draining the
    /// channel. The thread exits after its current pass (or when the receiver is dropped).
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shared.stop.store(true, Ordering::Relaxed);
            let _ = self.wake.try_send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Instant;

    fn failing_watcher(_: worker::NotifyHandler) -> notify::Result<notify::RecommendedWatcher> {
        // What inotify_init1 reports when fs.inotify.max_user_instances is exhausted.
        Err(notify::Error::io(io::Error::from_raw_os_error(24)))
    }

    /// The watcher cannot be created (inotify limits): the tailer says so, polls, and every
    /// line still arrives — appended to a known file or in a file created later.
    #[test]
    fn without_notifications_polling_alone_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        std::fs::write(&log, b"").unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let spec = SourceSpec {
            start_at: StartAt::Beginning,
            ..SourceSpec::new(1, "s", dir.path().join("*.log").to_str().unwrap())
        };
        let opts = TailOptions {
            rescan_interval: Duration::from_millis(30),
            ..TailOptions::default()
        };
        let t = Tailer::spawn_inner(
            vec![spec],
            opts,
            tx,
            TailCheckpoint::positions_only(Vec::new()),
            Some(failing_watcher),
        )
        .unwrap();
        let st = t.stats();
        let end = Instant::now() + Duration::from_secs(5);
        while st.rescans() == 0 {
            assert!(Instant::now() < end, "no rescan");
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(!st.notify_active(), "must report polling");
        let mut want = Vec::new();
        for i in 0..50 {
            let target = if i % 10 == 9 {
                dir.path().join(format!("late{i}.log"))
            } else {
                log.clone()
            };
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&target)
                .unwrap();
            writeln!(f, "line {i}").unwrap();
            want.push(format!("line {i}"));
        }
        let mut got = Vec::new();
        while got.len() < want.len() {
            match rx.try_recv() {
                Ok(b) => got.extend(b.lines().map(|l| String::from_utf8(l.to_vec()).unwrap())),
                Err(_) => {
                    assert!(Instant::now() < end, "only {} lines: {got:?}", got.len());
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        got.sort();
        want.sort();
        assert_eq!(got, want);
        t.stop();
    }
}
