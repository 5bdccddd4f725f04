//! The anomaly table: findings merged by kind + entity into one anomaly each, severity decaying
//! while the behaviour is absent, expiry when it has stopped, and the ranked top-N the wall shows.
//!
//! Bounded: at most `TableSettings::max_open` anomalies; a new one beyond the cap evicts the
//! lowest current severity (or is dropped if it is itself the lowest), and the drop is counted.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Finding, Kind};
use crate::event::Micros;

const US: i64 = 1_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct TableSettings {
    /// Severity halves every `half_life` without a new finding.
    pub half_life_s: i64,
    /// An anomaly with no finding for this long closes.
    pub expire_after_s: i64,
    /// An anomaly whose decayed severity falls below this closes.
    pub close_below: u8,
    /// Most open anomalies kept.
    pub max_open: usize,
    /// A severity move of at least this many points is reported as a change.
    pub report_step: u8,
}

impl Default for TableSettings {
    fn default() -> Self {
        TableSettings {
            half_life_s: 600,
            expire_after_s: 1800,
            close_below: 5,
            max_open: 1000,
            report_step: 10,
        }
    }
}

/// One anomaly as the API and the WebSocket carry it (docs/PROTOCOL.md, docs/detections.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnomalyOut {
    pub id: String,
    pub kind: Kind,
    /// Current (decayed) severity, 0–100.
    pub severity: u8,
    /// Highest severity reached.
    pub peak_severity: u8,
    pub entity: String,
    pub zone: Option<String>,
    pub summary: String,
    pub first_seen: String,
    pub last_seen: String,
    pub count: u64,
    pub evidence: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Open,
    Update,
    Close,
}

/// One change to report (`{"type":"anomaly","change":"open",...anomaly}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnomalyChange {
    pub change: ChangeKind,
    #[serde(flatten)]
    pub anomaly: AnomalyOut,
}

/// The `table` part of the `detect` state section: every open anomaly and the id counter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableState {
    pub next_id: u64,
    pub dropped: u64,
    pub open: Vec<EntryState>,
}

/// One open anomaly as saved. `kind` is the config name, so a kind a later build drops (or an
/// older build does not know) is skipped instead of failing the whole section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryState {
    pub id: u64,
    pub kind: String,
    pub entity: String,
    pub zone: Option<String>,
    pub severity: u8,
    pub peak: u8,
    pub reported: u8,
    pub summary: String,
    pub first_seen: Micros,
    pub last_seen: Micros,
    pub count: u64,
    pub evidence: serde_json::Value,
}

#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    kind: Kind,
    entity: String,
    zone: Option<String>,
    /// Severity of the latest finding(s), before decay.
    severity: u8,
    peak: u8,
    /// Decayed severity last reported in a change.
    reported: u8,
    summary: String,
    first_seen: Micros,
    last_seen: Micros,
    count: u64,
    evidence: serde_json::Value,
}

impl Entry {
    fn current(&self, now: Micros, half_life_s: i64) -> u8 {
        let age = (now - self.last_seen).max(0) as f64 / US as f64;
        let hl = half_life_s.max(1) as f64;
        let v = f64::from(self.severity) * 0.5f64.powf(age / hl);
        v.round().clamp(0.0, 100.0) as u8
    }

    fn out(&self, now: Micros, half_life_s: i64) -> AnomalyOut {
        AnomalyOut {
            id: format!("{}-{}", self.kind.as_str(), self.id),
            kind: self.kind,
            severity: self.current(now, half_life_s),
            peak_severity: self.peak,
            entity: self.entity.clone(),
            zone: self.zone.clone(),
            summary: self.summary.clone(),
            first_seen: crate::aggregate::rfc3339_millis(self.first_seen),
            last_seen: crate::aggregate::rfc3339_millis(self.last_seen),
            count: self.count,
            evidence: self.evidence.clone(),
        }
    }
}

/// Open anomalies by kind + entity.
pub struct Table {
    s: TableSettings,
    entries: HashMap<(Kind, String), Entry>,
    next_id: u64,
    /// Findings dropped because the table was full of more severe anomalies.
    dropped: u64,
}

impl Table {
    pub fn new(s: TableSettings) -> Self {
        Table {
            s,
            entries: HashMap::new(),
            next_id: 1,
            dropped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Merges one finding: a new anomaly opens, an existing one is refreshed (latest summary
    /// and evidence, count added, severity = the finding's, i.e. decay restarts from it).
    pub fn merge(&mut self, f: Finding, now: Micros, changes: &mut Vec<AnomalyChange>) {
        let hl = self.s.half_life_s;
        let key = (f.kind, f.entity);
        if let Some(e) = self.entries.get_mut(&key) {
            let before = e.reported;
            e.severity = f.severity;
            e.peak = e.peak.max(f.severity);
            e.summary = f.summary;
            e.evidence = f.evidence;
            e.count = e.count.saturating_add(f.count);
            e.last_seen = e.last_seen.max(now);
            if f.zone.is_some() {
                e.zone = f.zone;
            }
            let cur = e.current(now, hl);
            if cur.abs_diff(before) >= self.s.report_step {
                e.reported = cur;
                changes.push(AnomalyChange {
                    change: ChangeKind::Update,
                    anomaly: e.out(now, hl),
                });
            }
            return;
        }
        if self.entries.len() >= self.s.max_open {
            // Evict the least severe open anomaly, unless the newcomer is less severe still.
            let weakest = self
                .entries
                .iter()
                .map(|(k, e)| (e.current(now, hl), k.clone()))
                .min_by_key(|(sev, _)| *sev);
            match weakest {
                Some((sev, k)) if sev < f.severity => {
                    if let Some(e) = self.entries.remove(&k) {
                        changes.push(AnomalyChange {
                            change: ChangeKind::Close,
                            anomaly: e.out(now, hl),
                        });
                    }
                }
                _ => {
                    self.dropped += 1;
                    return;
                }
            }
        }
        let e = Entry {
            id: self.next_id,
            kind: key.0,
            entity: key.1.clone(),
            zone: f.zone,
            severity: f.severity,
            peak: f.severity,
            reported: f.severity,
            summary: f.summary,
            first_seen: now,
            last_seen: now,
            count: f.count.max(1),
            evidence: f.evidence,
        };
        self.next_id += 1;
        changes.push(AnomalyChange {
            change: ChangeKind::Open,
            anomaly: e.out(now, hl),
        });
        self.entries.insert(key, e);
    }

    /// Decay and expiry; reports severity moves of `report_step` or more, and closes.
    pub fn tick(&mut self, now: Micros, changes: &mut Vec<AnomalyChange>) {
        let s = &self.s;
        self.entries.retain(|_, e| {
            let cur = e.current(now, s.half_life_s);
            let expired = now - e.last_seen > s.expire_after_s * US || cur < s.close_below;
            if expired {
                changes.push(AnomalyChange {
                    change: ChangeKind::Close,
                    anomaly: e.out(now, s.half_life_s),
                });
                return false;
            }
            if cur.abs_diff(e.reported) >= s.report_step {
                e.reported = cur;
                changes.push(AnomalyChange {
                    change: ChangeKind::Update,
                    anomaly: e.out(now, s.half_life_s),
                });
            }
            true
        });
    }

    /// Highest current severity first (ties: most recent first, then id), at most `limit`.
    pub fn top(&self, now: Micros, limit: usize) -> Vec<AnomalyOut> {
        let hl = self.s.half_life_s;
        let mut v: Vec<(u8, &Entry)> = self
            .entries
            .values()
            .map(|e| (e.current(now, hl), e))
            .collect();
        v.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(b.1.last_seen.cmp(&a.1.last_seen))
                .then(a.1.id.cmp(&b.1.id))
        });
        v.into_iter()
            .take(limit)
            .map(|(_, e)| e.out(now, hl))
            .collect()
    }

    /// The open anomalies and the id counter, for the state file (src/detect/persist.rs).
    pub fn export(&self) -> TableState {
        let mut open: Vec<EntryState> = self
            .entries
            .values()
            .map(|e| EntryState {
                id: e.id,
                kind: e.kind.as_str().to_string(),
                entity: e.entity.clone(),
                zone: e.zone.clone(),
                severity: e.severity,
                peak: e.peak,
                reported: e.reported,
                summary: e.summary.clone(),
                first_seen: e.first_seen,
                last_seen: e.last_seen,
                count: e.count,
                evidence: e.evidence.clone(),
            })
            .collect();
        // Stable order: the file diffs cleanly and tests compare it.
        open.sort_by_key(|e| e.id);
        TableState {
            next_id: self.next_id,
            dropped: self.dropped,
            open,
        }
    }

    /// Puts saved anomalies back into an empty table, with their ids, so the wall sees the same
    /// anomaly after a restart rather than a close and a new open. Skipped: kinds this build
    /// does not know or config disabled (`keep`), anomalies that expired while the daemon was
    /// down (the next tick would only close them), and beyond `max_open` (a smaller cap in the
    /// new config) the least severe. Returns how many were restored.
    pub fn restore(&mut self, s: TableState, now: Micros, keep: impl Fn(Kind) -> bool) -> usize {
        let hl = self.s.half_life_s;
        let mut max_id = 0;
        let mut ok: Vec<Entry> = s
            .open
            .into_iter()
            .filter_map(|e| {
                max_id = max_id.max(e.id);
                let kind = Kind::from_name(&e.kind).filter(|k| keep(*k))?;
                Some(Entry {
                    id: e.id,
                    kind,
                    entity: e.entity,
                    zone: e.zone,
                    severity: e.severity.min(100),
                    peak: e.peak.min(100),
                    reported: e.reported.min(100),
                    summary: e.summary,
                    first_seen: e.first_seen,
                    last_seen: e.last_seen,
                    count: e.count,
                    evidence: e.evidence,
                })
            })
            .filter(|e| {
                now - e.last_seen <= self.s.expire_after_s * US
                    && e.current(now, hl) >= self.s.close_below
            })
            .collect();
        ok.sort_by(|a, b| {
            b.current(now, hl)
                .cmp(&a.current(now, hl))
                .then(b.last_seen.cmp(&a.last_seen))
        });
        ok.truncate(self.s.max_open);
        // Ids are never reused, even those of anomalies not restored.
        self.next_id = self.next_id.max(s.next_id).max(max_id.saturating_add(1));
        self.dropped = self.dropped.saturating_add(s.dropped);
        let n = ok.len();
        for e in ok {
            self.entries.insert((e.kind, e.entity.clone()), e);
        }
        n
    }

    /// Approximate heap bytes held.
    pub fn memory(&self) -> usize {
        self.entries.capacity() * (std::mem::size_of::<Entry>() + 64)
            + self
                .entries
                .values()
                .map(|e| e.summary.capacity() + e.entity.capacity() * 2 + 256)
                .sum::<usize>()
    }
}
