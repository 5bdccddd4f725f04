//! The `aggregate` section of the state file (src/state): what survives a restart of the
//! aggregator — all-time totals, per-feed counters and times, and the per-minute history (7 days,
//! global and per feed).
//!
//! Not kept (rebuilt from live data): the per-second ring (1 h), top-N slots, distinct-count
//! sketches and first-seen sets. Those are the detector/aggregate owners' to add, as new fields
//! or a new section version.
//!
//! Taken only at a tailer checkpoint marker (docs/operations.md): the totals then count exactly
//! the lines before the file positions saved with them, so after a crash the lines re-read from
//! those positions are counted once. Export and restore run outside `ingest`; the hot path is
//! untouched.

use serde::{Deserialize, Serialize};

use super::window::Counts;
use super::{Aggregator, MINUTE_POINTS, Totals, US};
use crate::event::Micros;

pub const NAME: &str = "aggregate";
pub const VERSION: u32 = 1;

/// One minute's counters: Unix minute, then lines, events, bytes, packets, allowed, denied,
/// no_verdict, events per protocol class (4), bytes per protocol class (4).
pub type MinuteRow = (i64, [u64; 15]);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateState {
    pub totals: TotalsState,
    pub minutes: Vec<MinuteRow>,
    pub feeds: Vec<FeedState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalsState {
    pub lines: u64,
    pub events: u64,
    pub bytes: u64,
    pub packets: u64,
    pub allowed: u64,
    pub denied: u64,
    pub no_verdict: u64,
    pub skipped: u64,
    pub parse_errors: u64,
    pub overlong: u64,
}

/// Per feed, matched by name on restore (ids change when sources are reordered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedState {
    pub name: String,
    pub lines: u64,
    pub events: u64,
    pub skipped: u64,
    pub parse_errors: u64,
    pub overlong: u64,
    /// Arrival times and the log's own time of the last event, Unix microseconds.
    pub last_line_at: Option<Micros>,
    pub last_event_at: Option<Micros>,
    pub last_event_ts: Option<Micros>,
    /// (Unix minute, events).
    pub minutes: Vec<(i64, u64)>,
}

fn row(idx: i64, c: &Counts) -> MinuteRow {
    let mut v = [0u64; 15];
    v[..7].copy_from_slice(&[
        c.lines,
        c.events,
        c.bytes,
        c.packets,
        c.allowed,
        c.denied,
        c.no_verdict,
    ]);
    v[7..11].copy_from_slice(&c.proto_events);
    v[11..15].copy_from_slice(&c.proto_bytes);
    (idx, v)
}

fn counts(v: &[u64; 15]) -> Counts {
    let mut c = Counts {
        lines: v[0],
        events: v[1],
        bytes: v[2],
        packets: v[3],
        allowed: v[4],
        denied: v[5],
        no_verdict: v[6],
        ..Counts::default()
    };
    c.proto_events.copy_from_slice(&v[7..11]);
    c.proto_bytes.copy_from_slice(&v[11..15]);
    c
}

/// Minute indices the ring can hold at `clock` (oldest first).
fn minute_range(clock: Micros) -> std::ops::RangeInclusive<i64> {
    let now = clock.div_euclid(60 * US);
    now - MINUTE_POINTS as i64 + 1..=now
}

impl Aggregator {
    /// The persistent part of the state (a copy: ~10k small rows at most).
    pub fn persist(&self) -> AggregateState {
        let t = &self.totals;
        let range = minute_range(self.clock);
        let minutes = range
            .clone()
            .filter_map(|i| {
                self.mins
                    .get(i)
                    .filter(|c| **c != Counts::default())
                    .map(|c| row(i, c))
            })
            .collect();
        let feeds = self
            .feeds
            .iter()
            .map(|f| FeedState {
                name: f.name.clone(),
                lines: f.lines,
                events: f.events,
                skipped: f.skipped,
                parse_errors: f.parse_errors,
                overlong: f.overlong,
                last_line_at: f.last_line_at,
                last_event_at: f.last_event_at,
                last_event_ts: f.last_event_ts,
                minutes: range
                    .clone()
                    .filter_map(|i| f.mins.get(i).filter(|e| **e > 0).map(|e| (i, *e)))
                    .collect(),
            })
            .collect();
        AggregateState {
            totals: TotalsState {
                lines: t.lines,
                events: t.events,
                bytes: t.bytes,
                packets: t.packets,
                allowed: t.allowed,
                denied: t.denied,
                no_verdict: t.no_verdict,
                skipped: t.skipped,
                parse_errors: t.parse_errors,
                overlong: t.overlong,
            },
            minutes,
            feeds,
        }
    }

    /// Restores a persisted state into a fresh aggregator (before anything is ingested).
    /// History older than the rings hold, or in the future (the clock went back), is dropped;
    /// feeds are matched by name, a feed no longer configured is dropped (its lines stay in
    /// the totals).
    pub fn restore(&mut self, s: AggregateState) {
        let t = s.totals;
        self.totals = Totals {
            lines: t.lines,
            events: t.events,
            bytes: t.bytes,
            packets: t.packets,
            allowed: t.allowed,
            denied: t.denied,
            no_verdict: t.no_verdict,
            skipped: t.skipped,
            parse_errors: t.parse_errors,
            overlong: t.overlong,
        };
        let range = minute_range(self.clock);
        for (i, v) in &s.minutes {
            if range.contains(i) {
                *self.mins.slot_mut(*i) = counts(v);
            }
        }
        for fs in s.feeds {
            let Some(f) = self.feeds.iter_mut().find(|f| f.name == fs.name) else {
                tracing::info!(feed = %fs.name, "state has counters for a feed that is no longer configured; kept in the totals only");
                continue;
            };
            f.lines = fs.lines;
            f.events = fs.events;
            f.skipped = fs.skipped;
            f.parse_errors = fs.parse_errors;
            f.overlong = fs.overlong;
            f.last_line_at = fs.last_line_at;
            f.last_event_at = fs.last_event_at;
            f.last_event_ts = fs.last_event_ts;
            for (i, e) in fs.minutes {
                if range.contains(&i) {
                    *f.mins.slot_mut(i) = e;
                }
            }
        }
        self.last_states = self.feeds.iter().map(|f| f.state(self.clock)).collect();
        self.dirty = true;
    }
}

impl Aggregator {
    /// The detection engine's persistent part (the `detect` section, src/detect/persist.rs),
    /// taken at the same checkpoint as [`Aggregator::persist`].
    pub fn persist_detect(&self) -> crate::detect::DetectState {
        let names: Vec<&str> = self.feeds.iter().map(|f| f.name.as_str()).collect();
        self.detect.export(&names)
    }

    /// Restores the detection engine into a fresh aggregator (before anything is ingested).
    pub fn restore_detect(&mut self, s: crate::detect::DetectState) -> crate::detect::Restored {
        let names: Vec<String> = self.feeds.iter().map(|f| f.name.clone()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let r = self.detect.restore(s, &names, self.clock);
        self.anomalies_dirty = true;
        self.dirty = true;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{AggregateSettings, EventBatch, SourceSettings, Step};

    const T0: Micros = 1_764_000_000 * US;

    fn settings(names: &[&str]) -> AggregateSettings {
        AggregateSettings {
            sources: names.iter().map(|n| SourceSettings::new(*n)).collect(),
            ..AggregateSettings::default()
        }
    }

    #[test]
    fn totals_feeds_and_minutes_survive_by_name() {
        let mut a = Aggregator::new(settings(&["fw1", "fw2"]), T0);
        let b = |source, lines| EventBatch {
            source,
            lines,
            skipped: lines,
            ..EventBatch::default()
        };
        a.ingest(&b(0, 5), T0);
        a.ingest(&b(1, 7), T0 + 120 * US);
        let saved = a.persist();
        let json = serde_json::to_string(&saved).unwrap();
        let back: AggregateState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, saved);

        // Restart a little later with the sources reordered and one added.
        let now = T0 + 200 * US;
        let mut r = Aggregator::new(settings(&["fw2", "new", "fw1"]), now);
        r.restore(back);
        let s = r.snapshot(now);
        assert_eq!((s.totals.lines, s.totals.skipped), (12, 12));
        let by_name = |n: &str| s.sources.iter().find(|x| x.name == n).unwrap().lines;
        assert_eq!((by_name("fw1"), by_name("fw2"), by_name("new")), (5, 7, 0));
        assert_eq!(s.sources[0].state, "quiet", "fw2's last line 80 s ago");
        // The per-minute history is back: the two minutes with lines.
        let m = r.series(Step::Minute, 15, now);
        let lines_per_min: u64 = m
            .feeds
            .unwrap()
            .iter()
            .map(|f| f.events.iter().sum::<u64>())
            .sum();
        assert_eq!(lines_per_min, 0, "no events, only skipped lines");
        let restored: Vec<_> = r
            .persist()
            .minutes
            .iter()
            .map(|(i, v)| (*i, v[0]))
            .collect();
        assert_eq!(
            restored,
            vec![
                (T0.div_euclid(60 * US), 5),
                ((T0 + 120 * US).div_euclid(60 * US), 7)
            ]
        );
    }

    #[test]
    fn history_outside_the_ring_is_dropped() {
        let a = Aggregator::new(settings(&["fw"]), T0);
        let mut st = a.persist();
        let now_min = T0.div_euclid(60 * US);
        st.minutes = vec![
            (now_min - MINUTE_POINTS as i64, [1; 15]),
            (now_min, [2; 15]),
            (now_min + 5, [3; 15]),
        ];
        let mut r = Aggregator::new(settings(&["fw"]), T0);
        r.restore(st);
        let kept: Vec<i64> = r.persist().minutes.iter().map(|m| m.0).collect();
        assert_eq!(kept, vec![now_min]);
    }
}
