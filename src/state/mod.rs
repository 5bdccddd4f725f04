//! State that survives restarts: one file in `[state] dir`, a versioned container of named
//! sections (`tail`: file positions; `aggregate`: totals and per-minute history; more can be
//! added by their owners), written atomically and checked on load.
//!
//! File layout (`socwall.state`):
//!
//! ```text
//! SOCWALL-STATE 1 <body length> <FNV-1a 64 of the body, 16 hex digits>\n
//! {"written_at_ms": …, "sections": {"tail": {"version": 1, "data": {…}}, …}}
//! ```
//!
//! Writing (see [`Store::write`]): the body goes to `socwall.state.tmp` (created fresh, never
//! through an existing name), which is fsynced; the current file is hard-linked to
//! `socwall.state.prev`; the temp file is renamed over `socwall.state`; the directory is fsynced
//! so the rename itself is durable. A crash at any point leaves a complete `socwall.state` (old
//! or new) — `rename` replaces atomically — and, from the second write on, a complete previous
//! copy.
//!
//! Loading (see [`Store::load_or_set_aside`]): a file that is corrupt (bad header, short,
//! checksum or JSON mismatch) or incompatible (a newer container version) is renamed aside to
//! `socwall.state.<corrupt|incompatible>-<unix ms>`, reported, and the previous copy is tried.
//! Nothing about state is ever fatal: the worst case is starting without it.
//!
//! Sections are independent: each has its own version and is decoded by its owner with
//! [`Loaded::section`]; an unknown section is ignored (a downgrade keeps working), one with a
//! version this build does not read is reported and skipped.
//!
//! Every write happens on a dedicated thread ([`Writer`]): fsync can take long on a busy disk,
//! and neither the tailer nor the aggregator may wait for it.

pub mod run;
pub mod tail;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::tail::fnv1a;

/// The state file's name inside `[state] dir`.
pub const FILE_NAME: &str = "socwall.state";
/// Container format version this build writes and reads.
pub const CONTAINER_VERSION: u32 = 1;
const MAGIC: &str = "SOCWALL-STATE";
/// A header longer than this is not ours (and we never read unbounded junk into memory).
const MAX_HEADER: usize = 128;

/// What can go wrong with the state file. None of it stops the daemon.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not a socwall state file (bad header)")]
    NotState { path: PathBuf },
    #[error(
        "{path}: written by a newer socwall (state format {found}; this build reads {supported})"
    )]
    Incompatible {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{path}: truncated or overlong: the header announces {expected} bytes, {found} follow")]
    Length {
        path: PathBuf,
        expected: usize,
        found: usize,
    },
    #[error("{path}: checksum mismatch (stored {stored:016x}, computed {computed:016x})")]
    Checksum {
        path: PathBuf,
        stored: u64,
        computed: u64,
    },
    #[error("{path}: the body is not valid: {source}")]
    Body {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("state section {name:?} has version {found}; this build reads version {supported}")]
    SectionVersion {
        name: String,
        found: u32,
        supported: u32,
    },
    #[error("state section {name:?} cannot be decoded: {source}")]
    SectionBody {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot encode state section {name:?}: {source}")]
    Encode {
        name: String,
        #[source]
        source: serde_json::Error,
    },
}

impl StateError {
    /// How a file with this problem is set aside: `Some("corrupt")`, `Some("incompatible")`;
    /// `None` for problems that say nothing about the file's content (I/O errors).
    pub fn set_aside_as(&self) -> Option<&'static str> {
        match self {
            StateError::NotState { .. }
            | StateError::Length { .. }
            | StateError::Checksum { .. }
            | StateError::Body { .. } => Some("corrupt"),
            StateError::Incompatible { .. } => Some("incompatible"),
            _ => None,
        }
    }

    fn io(op: &'static str, path: &Path, source: io::Error) -> StateError {
        StateError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One section to write. Its data is serialised on the writer thread, so the owner only pays
/// for building (cloning) the data.
pub struct SectionOut {
    name: &'static str,
    version: u32,
    encode: Box<dyn FnOnce() -> serde_json::Result<String> + Send>,
}

impl SectionOut {
    pub fn new<T: Serialize + Send + 'static>(
        name: &'static str,
        version: u32,
        data: T,
    ) -> SectionOut {
        SectionOut {
            name,
            version,
            encode: Box::new(move || serde_json::to_string(&data)),
        }
    }
}

impl std::fmt::Debug for SectionOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SectionOut({}, v{})", self.name, self.version)
    }
}

#[derive(serde::Deserialize)]
struct RawBody {
    written_at_ms: u64,
    sections: BTreeMap<String, RawSection>,
}

#[derive(serde::Deserialize)]
struct RawSection {
    version: u32,
    data: serde_json::Value,
}

/// A state file that passed every check. Sections are taken out by their owners.
pub struct Loaded {
    pub path: PathBuf,
    pub written_at: SystemTime,
    sections: BTreeMap<String, RawSection>,
}

impl Loaded {
    /// Takes section `name` if present, decoding it when its version is `supported`.
    pub fn section<T: DeserializeOwned>(
        &mut self,
        name: &str,
        supported: u32,
    ) -> Result<Option<T>, StateError> {
        let Some(raw) = self.sections.remove(name) else {
            return Ok(None);
        };
        if raw.version != supported {
            return Err(StateError::SectionVersion {
                name: name.to_string(),
                found: raw.version,
                supported,
            });
        }
        serde_json::from_value(raw.data)
            .map(Some)
            .map_err(|source| StateError::SectionBody {
                name: name.to_string(),
                source,
            })
    }

    /// Names of the sections not taken yet.
    pub fn remaining(&self) -> impl Iterator<Item = &str> {
        self.sections.keys().map(String::as_str)
    }
}

/// A problem found while loading, and where the file was moved.
#[derive(Debug)]
pub struct LoadProblem {
    pub error: StateError,
    pub set_aside_to: Option<PathBuf>,
}

/// Result of [`Store::load_or_set_aside`].
#[derive(Default)]
pub struct LoadOutcome {
    pub loaded: Option<Loaded>,
    pub problems: Vec<LoadProblem>,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `socwall.state`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// `socwall.state.prev`: the copy before the last write.
    pub fn prev_path(&self) -> PathBuf {
        self.dir.join(format!("{FILE_NAME}.prev"))
    }

    fn tmp_path(&self) -> PathBuf {
        self.dir.join(format!("{FILE_NAME}.tmp"))
    }

    /// Reads and checks `path`. `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Loaded>, StateError> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::io("read", path, e)),
        };
        decode(path, &bytes).map(Some)
    }

    /// Loads the newest usable state: `socwall.state`, else `socwall.state.prev`. A file that
    /// is corrupt or from a newer version is renamed aside (never deleted: it may be wanted
    /// after a downgrade, or for a bug report) and reported in `problems`; it never stops the
    /// daemon. Both files absent is the normal first start.
    pub fn load_or_set_aside(&self) -> LoadOutcome {
        let mut out = LoadOutcome::default();
        for path in [self.path(), self.prev_path()] {
            match Store::read(&path) {
                Ok(Some(l)) => {
                    out.loaded = Some(l);
                    break;
                }
                Ok(None) => {}
                Err(error) => {
                    let set_aside_to = error.set_aside_as().and_then(|kind| {
                        let ms = unix_ms(SystemTime::now());
                        let to = path.with_file_name(format!(
                            "{}.{kind}-{ms}",
                            path.file_name().unwrap_or_default().to_string_lossy()
                        ));
                        match fs::rename(&path, &to) {
                            Ok(()) => Some(to),
                            Err(e) => {
                                tracing::warn!(path = %path.display(), error = %e, "cannot set the bad state file aside");
                                None
                            }
                        }
                    });
                    tracing::warn!(error = %error, set_aside_to = ?set_aside_to, "state file not used");
                    out.problems.push(LoadProblem {
                        error,
                        set_aside_to,
                    });
                }
            }
        }
        out
    }

    /// Writes `sections` atomically (see the module docs). Returns the bytes written.
    pub fn write(&self, sections: Vec<SectionOut>, now: SystemTime) -> Result<u64, StateError> {
        let body = encode_body(sections, now)?;
        let mut file = Vec::with_capacity(body.len() + 64);
        writeln!(
            file,
            "{MAGIC} {CONTAINER_VERSION} {} {:016x}",
            body.len(),
            fnv1a(body.as_bytes())
        )
        .expect("writing to a Vec cannot fail");
        file.extend_from_slice(body.as_bytes());

        fs::create_dir_all(&self.dir).map_err(|e| StateError::io("create", &self.dir, e))?;
        let tmp = self.tmp_path();
        // A stale temp file from a crash: remove it and create ours with O_EXCL, so we never
        // write through a name someone else placed here (a symlink, say).
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StateError::io("remove", &tmp, e)),
        }
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| StateError::io("create", &tmp, e))?;
            f.write_all(&file)
                .map_err(|e| StateError::io("write", &tmp, e))?;
            // Data on disk before the rename makes it visible: otherwise a crash can leave a
            // renamed but empty (or partial) file on filesystems that reorder.
            f.sync_all().map_err(|e| StateError::io("fsync", &tmp, e))
        })();
        if let Err(e) = result {
            // Do not leave a partial file behind (disk full): it would only take more space.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.keep_previous()?;
        let path = self.path();
        fs::rename(&tmp, &path).map_err(|e| StateError::io("rename", &tmp, e))?;
        // The rename is an update of the directory: fsync it, or a power loss can forget it.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StateError::io("fsync", &self.dir, e))?;
        Ok(file.len() as u64)
    }

    /// `socwall.state` → `socwall.state.prev` as a hard link, so `socwall.state` exists at every
    /// instant. Filesystems without hard links get a rename instead (a crash right after it
    /// leaves only `.prev`, which the loader falls back to).
    fn keep_previous(&self) -> Result<(), StateError> {
        let (cur, prev) = (self.path(), self.prev_path());
        if !cur.exists() {
            // First write, or the current file was set aside: the previous copy (if any) is
            // the newest good state there is; keep it.
            return Ok(());
        }
        match fs::remove_file(&prev) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StateError::io("remove", &prev, e)),
        }
        match fs::hard_link(&cur, &prev) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()), // first write
            Err(_) => match fs::rename(&cur, &prev) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(StateError::io("rename", &cur, e)),
            },
        }
    }
}

fn encode_body(sections: Vec<SectionOut>, now: SystemTime) -> Result<String, StateError> {
    // Sections are serialised by their closures and spliced in as raw JSON (serde_json's
    // RawValue would need a feature flag; the names are escaped by serde_json).
    let mut body = format!("{{\"written_at_ms\":{},\"sections\":{{", unix_ms(now));
    for (i, s) in sections.into_iter().enumerate() {
        let data = (s.encode)().map_err(|source| StateError::Encode {
            name: s.name.to_string(),
            source,
        })?;
        if i > 0 {
            body.push(',');
        }
        let name = serde_json::to_string(s.name).map_err(|source| StateError::Encode {
            name: s.name.to_string(),
            source,
        })?;
        body.push_str(&format!(
            "{name}:{{\"version\":{},\"data\":{data}}}",
            s.version
        ));
    }
    body.push_str("}}");
    Ok(body)
}

fn decode(path: &Path, bytes: &[u8]) -> Result<Loaded, StateError> {
    let not_state = || StateError::NotState {
        path: path.to_path_buf(),
    };
    let nl = bytes
        .iter()
        .take(MAX_HEADER)
        .position(|&b| b == b'\n')
        .ok_or_else(not_state)?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| not_state())?;
    let mut parts = header.split(' ');
    if parts.next() != Some(MAGIC) {
        return Err(not_state());
    }
    let version: u32 = parts
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(not_state)?;
    if version != CONTAINER_VERSION {
        // Older containers do not exist yet; newer ones we cannot know.
        return Err(StateError::Incompatible {
            path: path.to_path_buf(),
            found: version,
            supported: CONTAINER_VERSION,
        });
    }
    let len: usize = parts
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(not_state)?;
    let stored = parts
        .next()
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .ok_or_else(not_state)?;
    if parts.next().is_some() {
        return Err(not_state());
    }
    let body = &bytes[nl + 1..];
    if body.len() != len {
        return Err(StateError::Length {
            path: path.to_path_buf(),
            expected: len,
            found: body.len(),
        });
    }
    let computed = fnv1a(body);
    if computed != stored {
        return Err(StateError::Checksum {
            path: path.to_path_buf(),
            stored,
            computed,
        });
    }
    let raw: RawBody = serde_json::from_slice(body).map_err(|source| StateError::Body {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Loaded {
        path: path.to_path_buf(),
        written_at: UNIX_EPOCH + Duration::from_millis(raw.written_at_ms),
        sections: raw.sections,
    })
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

// ------------------------------------------------------------------------------ writer

/// How state saving is going, for feed health and `/metrics`. Written by the writer thread,
/// read by the aggregator once per tick; `version` lets the reader skip unchanged values.
#[derive(Debug, Default)]
pub struct Health {
    inner: Mutex<HealthSnapshot>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// Bumped on every change.
    pub version: u64,
    pub saves: u64,
    pub failures: u64,
    /// Snapshots dropped because the previous one was still being written.
    pub skipped: u64,
    pub last_saved_at: Option<SystemTime>,
    pub last_bytes: u64,
    /// The current failure (cleared by the next successful write): since, text.
    pub error: Option<(SystemTime, String)>,
    /// Where the running state came from at start, and what was wrong with the files.
    pub restored_from: Option<PathBuf>,
    pub load_problems: Vec<String>,
}

impl Health {
    pub fn snapshot(&self) -> HealthSnapshot {
        self.lock().clone()
    }

    pub fn version(&self) -> u64 {
        self.lock().version
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealthSnapshot> {
        // Plain data: a panic while holding the lock cannot leave it half-updated in a way
        // that matters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut HealthSnapshot)) {
        let mut h = self.lock();
        f(&mut h);
        h.version += 1;
    }
}

enum Job {
    Write(Vec<SectionOut>),
    /// The last write; the thread exits after it.
    Final(Option<Vec<SectionOut>>),
}

/// The state-writing thread. [`Writer::submit`] never blocks: while a write is in progress,
/// one more snapshot may wait; further ones are dropped (and counted) — every snapshot is a
/// consistent cut on its own, so writing a later one instead loses nothing.
pub struct Writer {
    tx: SyncSender<Job>,
    thread: Option<JoinHandle<()>>,
    health: Arc<Health>,
}

impl Writer {
    pub fn spawn(store: Store, health: Arc<Health>) -> io::Result<Writer> {
        let (tx, rx) = sync_channel::<Job>(1);
        let h = health.clone();
        let thread = std::thread::Builder::new()
            .name("socwall-state".into())
            .spawn(move || write_loop(store, rx, h))?;
        Ok(Writer {
            tx,
            thread: Some(thread),
            health,
        })
    }

    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// Queues a snapshot; returns false when it was dropped (writer busy).
    pub fn submit(&self, sections: Vec<SectionOut>) -> bool {
        match self.tx.try_send(Job::Write(sections)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.health.update(|h| h.skipped += 1);
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Writes the final snapshot (if any) and waits for the thread. Blocking: call from a
    /// blocking context at shutdown.
    pub fn finish(mut self, sections: Option<Vec<SectionOut>>) {
        let _ = self.tx.send(Job::Final(sections));
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("state writer thread panicked");
        }
    }
}

fn write_loop(store: Store, rx: Receiver<Job>, health: Arc<Health>) {
    while let Ok(job) = rx.recv() {
        let (sections, last) = match job {
            Job::Write(s) => (Some(s), false),
            Job::Final(s) => (s, true),
        };
        if let Some(sections) = sections {
            let now = SystemTime::now();
            match store.write(sections, now) {
                Ok(bytes) => {
                    let recovered = health.snapshot().error.is_some();
                    if recovered {
                        tracing::info!(path = %store.path().display(), "state saved again");
                    }
                    health.update(|h| {
                        h.saves += 1;
                        h.last_saved_at = Some(now);
                        h.last_bytes = bytes;
                        h.error = None;
                    });
                }
                Err(e) => {
                    let text = e.to_string();
                    let first = health.snapshot().error.is_none();
                    if first {
                        // Once when it starts failing (disk full, read-only, permissions), and
                        // once when it recovers: not every snapshot_interval.
                        tracing::warn!(error = %text, "cannot save state; the previous state file is kept and saving is retried every snapshot_interval");
                    }
                    health.update(|h| {
                        h.failures += 1;
                        let since = h.error.as_ref().map_or(now, |(s, _)| *s);
                        h.error = Some((since, text));
                    });
                }
            }
        }
        if last {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Demo {
        n: u64,
        s: String,
    }

    fn demo(n: u64) -> Vec<SectionOut> {
        vec![
            SectionOut::new(
                "demo",
                3,
                Demo {
                    n,
                    s: "ü\"\n".into(),
                },
            ),
            SectionOut::new("other", 1, vec![1, 2, 3]),
        ]
    }

    #[test]
    fn round_trip_keeps_previous_copy_and_sections_are_independent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("sub"));
        assert!(store.load_or_set_aside().loaded.is_none());
        store.write(demo(1), SystemTime::now()).unwrap();
        store.write(demo(2), SystemTime::now()).unwrap();
        let mut l = store.load_or_set_aside().loaded.unwrap();
        assert_eq!(
            l.section::<Demo>("demo", 3).unwrap(),
            Some(Demo {
                n: 2,
                s: "ü\"\n".into()
            })
        );
        assert!(matches!(
            l.section::<Vec<u32>>("other", 2),
            Err(StateError::SectionVersion { found: 1, .. })
        ));
        assert_eq!(l.section::<Demo>("missing", 1).unwrap(), None);
        let mut prev = Store::read(&store.prev_path()).unwrap().unwrap();
        assert_eq!(prev.section::<Demo>("demo", 3).unwrap().unwrap().n, 1);
        // No temp file left behind.
        assert!(!store.tmp_path().exists());
    }

    #[test]
    fn corrupt_and_incompatible_files_are_set_aside_and_the_previous_copy_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.write(demo(1), SystemTime::now()).unwrap();
        store.write(demo(2), SystemTime::now()).unwrap();
        // Flip one byte of the body: checksum mismatch.
        let mut bytes = fs::read(store.path()).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        fs::write(store.path(), &bytes).unwrap();
        let mut out = store.load_or_set_aside();
        assert_eq!(out.problems.len(), 1);
        assert!(matches!(out.problems[0].error, StateError::Checksum { .. }));
        let aside = out.problems[0].set_aside_to.clone().unwrap();
        assert!(aside.to_string_lossy().contains("socwall.state.corrupt-"));
        assert!(aside.exists() && !store.path().exists());
        let l = out.loaded.as_mut().unwrap();
        assert_eq!(l.path, store.prev_path());
        assert_eq!(l.section::<Demo>("demo", 3).unwrap().unwrap().n, 1);

        // Truncated (torn) file, and a file from a newer version.
        store.write(demo(3), SystemTime::now()).unwrap();
        let bytes = fs::read(store.path()).unwrap();
        fs::write(store.path(), &bytes[..bytes.len() / 2]).unwrap();
        let newer = String::from_utf8(fs::read(store.prev_path()).unwrap())
            .unwrap()
            .replacen("SOCWALL-STATE 1 ", "SOCWALL-STATE 9 ", 1);
        fs::write(store.prev_path(), newer).unwrap();
        let out = store.load_or_set_aside();
        assert!(out.loaded.is_none());
        assert!(matches!(out.problems[0].error, StateError::Length { .. }));
        assert!(matches!(
            out.problems[1].error,
            StateError::Incompatible { found: 9, .. }
        ));
        assert!(
            out.problems[1]
                .set_aside_to
                .as_ref()
                .unwrap()
                .to_string_lossy()
                .contains("incompatible-")
        );
        // Garbage is not a state file.
        fs::write(store.path(), b"hello\nworld").unwrap();
        assert!(matches!(
            Store::read(&store.path()),
            Err(StateError::NotState { .. })
        ));
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_is_reported_until_it_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let store = Store::new(&state_dir);
        store.write(demo(1), SystemTime::now()).unwrap();
        let health = Arc::new(Health::default());
        let w = Writer::spawn(store.clone(), health.clone()).unwrap();
        // Make the next writes fail: the temp file's name is taken by a directory we cannot
        // remove with remove_file (works as root too).
        fs::create_dir(store.tmp_path()).unwrap();
        fs::write(store.tmp_path().join("x"), b"").unwrap();
        w.submit(demo(2));
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while health.snapshot().failures == 0 {
            assert!(std::time::Instant::now() < end);
            std::thread::sleep(Duration::from_millis(2));
        }
        let h = health.snapshot();
        assert!(
            h.error.as_ref().unwrap().1.contains("socwall.state.tmp"),
            "{h:?}"
        );
        let mut l = Store::read(&store.path()).unwrap().unwrap();
        assert_eq!(l.section::<Demo>("demo", 3).unwrap().unwrap().n, 1);
        // Fixed: the next write succeeds and clears the error.
        fs::remove_dir_all(store.tmp_path()).unwrap();
        w.finish(Some(demo(3)));
        let h = health.snapshot();
        assert_eq!((h.saves, h.error.is_none()), (1, true), "{h:?}");
        let mut l = Store::read(&store.path()).unwrap().unwrap();
        assert_eq!(l.section::<Demo>("demo", 3).unwrap().unwrap().n, 3);
    }
}
