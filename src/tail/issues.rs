//! Per-source I/O problems of the tailer (permission denied, read errors, too many open files)
//! tracked as *states*, not as a stream of log lines: each is logged once when it starts and once
//! when it clears, and the newest active one is published in [`TailStats`] for feed health.
//!
//! Two kinds clear differently:
//! * **scan** problems (`glob`, `stat`, `open`, `fingerprint`, `max_open_files`) happen while the
//!   globs are evaluated, and every rescan retries them. Each report is stamped with the rescan's
//!   generation; a problem that the latest complete rescan did not report again is over (the
//!   open worked, or the path is gone) — no success path has to remember to clear it.
//! * **file** problems (`read`, `fstat`, `head`) belong to an open file, keyed by dev+ino (its
//!   path may change under rotation). They clear when the same operation on that file succeeds
//!   again, or when the file is closed.
//!
//! All of this runs on the tailer thread; the only shared state is the per-source slot in
//! `TailStats`, written only when the published value changes.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{TailIssue, TailStats};

/// More distinct active problems than this are not tracked individually (the oldest is
/// forgotten): memory stays bounded even with endlessly changing unreadable paths.
const MAX_ACTIVE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// A path problem found while rescanning.
    Scan,
    /// A problem of the open file with this dev+ino.
    File(u64, u64),
}

#[derive(Debug)]
struct Active {
    source: usize,
    key: Key,
    op: &'static str,
    path: PathBuf,
    error: String,
    since: SystemTime,
    /// Rescan generation that last reported it (scan problems only).
    generation: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Issues {
    active: Vec<Active>,
    generation: u64,
    /// Source names by index, for logs.
    names: Vec<String>,
}

impl Issues {
    pub fn new(names: Vec<String>) -> Issues {
        Issues {
            names,
            ..Issues::default()
        }
    }

    fn name(&self, source: usize) -> &str {
        self.names.get(source).map_or("?", String::as_str)
    }

    /// A rescan starts: reports from now on carry a new generation.
    pub fn begin_scan(&mut self) {
        self.generation += 1;
    }

    /// Records a problem; logs it if it is new.
    pub fn report(
        &mut self,
        stats: &TailStats,
        source: usize,
        key: Key,
        op: &'static str,
        path: &Path,
        error: String,
    ) {
        let generation = self.generation;
        if let Some(a) = self.active.iter_mut().find(|a| {
            a.source == source && a.key == key && a.op == op && same_subject(a, key, path)
        }) {
            a.generation = generation;
            if a.error != error {
                a.error = error;
                self.publish(stats, source);
            }
            return;
        }
        tracing::warn!(source = %self.name(source), op, path = %path.display(), error = %error, "tailing problem; retrying (the file's lines wait on disk)");
        if self.active.len() >= MAX_ACTIVE {
            self.active.remove(0);
        }
        self.active.push(Active {
            source,
            key,
            op,
            path: path.to_path_buf(),
            error,
            since: SystemTime::now(),
            generation,
        });
        self.publish(stats, source);
    }

    /// `op` on the open file dev+ino succeeded: clears a problem it had. Cheap when there is
    /// nothing to clear (the common case, called on every read).
    pub fn file_ok(&mut self, stats: &TailStats, source: usize, key: Key, op: &str) {
        if self.active.is_empty() {
            return;
        }
        self.clear(stats, |a| a.source == source && a.key == key && a.op == op);
    }

    /// The open file dev+ino was closed: whatever problems it had are over.
    pub fn file_closed(&mut self, stats: &TailStats, source: usize, key: Key) {
        if self.active.is_empty() {
            return;
        }
        self.clear(stats, |a| a.source == source && a.key == key);
    }

    /// A rescan completed: scan problems it did not report again are over.
    pub fn end_scan(&mut self, stats: &TailStats) {
        let generation = self.generation;
        self.clear(stats, |a| a.key == Key::Scan && a.generation < generation);
    }

    fn clear(&mut self, stats: &TailStats, pred: impl Fn(&Active) -> bool) {
        let names = &self.names;
        let mut cleared = Vec::new();
        self.active.retain(|a| {
            let over = pred(a);
            if over {
                tracing::info!(source = %names.get(a.source).map_or("?", String::as_str), op = a.op, path = %a.path.display(), "tailing problem cleared");
                cleared.push(a.source);
            }
            !over
        });
        cleared.sort_unstable();
        cleared.dedup();
        for s in cleared {
            self.publish(stats, s);
        }
    }

    /// Publishes the newest active problem of `source` (or none) if it differs from what is
    /// published.
    fn publish(&self, stats: &TailStats, source: usize) {
        let newest = self
            .active
            .iter()
            .filter(|a| a.source == source)
            .max_by_key(|a| a.since)
            .map(|a| TailIssue {
                since: a.since,
                op: a.op,
                path: a.path.clone(),
                error: a.error.clone(),
            });
        let mut slot = stats
            .at(source)
            .issue
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if *slot != newest {
            *slot = newest;
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.active.len()
    }
}

/// Scan problems are per path; file problems per inode (whatever the path is now).
fn same_subject(a: &Active, key: Key, path: &Path) -> bool {
    match key {
        Key::Scan => a.path == path,
        Key::File(..) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_problems_clear_when_a_rescan_no_longer_reports_them() {
        let stats = TailStats::new([7u16].into_iter());
        let mut i = Issues::new(vec!["s".into()]);
        let p = Path::new("/x/fw.log");
        i.begin_scan();
        i.report(&stats, 0, Key::Scan, "open", p, "denied".into());
        i.end_scan(&stats);
        assert_eq!(stats.issue(7).unwrap().op, "open");
        // Still failing on the next scan: still active, same `since`.
        let since = stats.issue(7).unwrap().since;
        i.begin_scan();
        i.report(&stats, 0, Key::Scan, "open", p, "denied".into());
        i.end_scan(&stats);
        assert_eq!(stats.issue(7).unwrap().since, since);
        // Not reported on the next scan: cleared.
        i.begin_scan();
        i.end_scan(&stats);
        assert_eq!(stats.issue(7), None);
        assert_eq!(i.len(), 0);
    }

    #[test]
    fn file_problems_clear_on_success_or_close() {
        let stats = TailStats::new([1u16].into_iter());
        let mut i = Issues::new(vec!["s".into()]);
        let k = Key::File(1, 2);
        i.report(&stats, 0, k, "read", Path::new("/a"), "EIO".into());
        // Scans do not clear file problems.
        i.begin_scan();
        i.end_scan(&stats);
        assert!(stats.issue(1).is_some());
        i.file_ok(&stats, 0, k, "fstat");
        assert!(
            stats.issue(1).is_some(),
            "another op's success does not clear it"
        );
        i.file_ok(&stats, 0, k, "read");
        assert_eq!(stats.issue(1), None);
        i.report(&stats, 0, k, "head", Path::new("/a"), "EIO".into());
        i.file_closed(&stats, 0, k);
        assert_eq!(stats.issue(1), None);
    }
}
