//! `feed_silence` and `parse_errors`: a source that went quiet for longer than it normally does,
//! or whose share of unreadable lines jumped. Both run in `tick` from the aggregator's feed
//! counters ([`FeedView`]); `observe` does nothing.
//!
//! Silence: every change of a feed's `last_line_at` is a gap, counted in a log2 histogram of
//! seconds (bucket 0: under 1 s, bucket b: 2^(b-1) to 2^b s). Once `min_gaps` gaps are known, the
//! feed's normal gap is the bucket bound holding 99 % of them, and silence longer than
//! `max(min_silence, factor × normal gap)` fires; silence longer than `max_silence` fires in any
//! case (a feed with too little history, or a very slow one). A feed that never sent is `waiting`,
//! not silent. Re-reported once a minute while the silence lasts; the anomaly decays once the feed
//! is back.
//!
//! Parse errors: per minute (of the engine clock), a feed with at least `min_lines` lines whose
//! error share is at least `jump` percentage points above its baseline fires. The baseline is an
//! exponential average (α = 0.2) of earlier qualifying minutes and is frozen while the jump lasts,
//! so a format change keeps being reported until it is fixed; with no history the baseline is 0,
//! so a source that is unreadable from its first minute fires too.
//!
//! Bounds: one fixed-size record per feed (at most `aggregate::MAX_FEEDS`), nothing per address.

use serde_json::json;

use super::bounded::{REREPORT_S, US, sec32, span};
use super::{Context, Detector, Enabled, FeedView, Finding, Kind, KindsOf, Obs, Sink, TickView};
use crate::event::Micros;

/// Documented upper bound of [`Feeds::memory`] (64 feeds).
pub const MEMORY_CAP: usize = 64 << 10;

pub const SEV_SILENT_LEARNED: u8 = 50;
pub const SEV_SILENT_MAX: u8 = 60;
pub const SEV_PARSE_ERRORS: u8 = 40;
pub const SEV_PARSE_ERRORS_MOST: u8 = 60;

/// Thresholds (docs/detections-context.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub min_silence_s: i64,
    pub max_silence_s: i64,
    pub factor: u32,
    pub min_gaps: u32,
    /// Percentage points above the baseline.
    pub jump_pct: u32,
    pub min_lines: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_silence_s: 120,
            max_silence_s: 3600,
            factor: 4,
            min_gaps: 30,
            jump_pct: 10,
            min_lines: 50,
        }
    }
}

const BUCKETS: usize = 32;

#[derive(Clone, Default)]
struct Track {
    last_line_at: Option<Micros>,
    gaps: [u32; BUCKETS],
    n_gaps: u32,
    silence_reported: u32,
    /// Minute index of the current parse-error period, and the counters at its start.
    minute: Option<i64>,
    lines0: u64,
    errors0: u64,
    baseline: Option<f64>,
}

impl Track {
    /// Upper bound (seconds) of the gap bucket holding 99 % of the gaps.
    fn normal_gap(&self) -> u64 {
        let want = (u64::from(self.n_gaps) * 99).div_ceil(100);
        let mut acc = 0u64;
        for (b, &n) in self.gaps.iter().enumerate() {
            acc += u64::from(n);
            if acc >= want {
                return 1 << b;
            }
        }
        1 << (BUCKETS - 1)
    }

    fn add_gap(&mut self, gap: Micros) {
        let s = (gap.max(0) / US) as u64;
        let b = ((64 - s.leading_zeros()) as usize).min(BUCKETS - 1);
        self.gaps[b] += 1;
        self.n_gaps += 1;
        if self.n_gaps >= 100_000 {
            // Age the history: recent behaviour counts twice as much.
            self.n_gaps = 0;
            for g in &mut self.gaps {
                *g /= 2;
                self.n_gaps += *g;
            }
        }
    }
}

pub struct Feeds {
    s: Settings,
    enabled: Enabled,
    tracks: Vec<Track>,
}

impl Feeds {
    pub fn new(s: Settings, enabled: Enabled, _now: Micros) -> Self {
        Feeds {
            s,
            enabled,
            tracks: Vec::new(),
        }
    }

    fn silence(&mut self, i: usize, f: &FeedView<'_>, now: Micros, sink: &mut Sink) {
        let s = &self.s;
        let t = &mut self.tracks[i];
        if f.last_line_at != t.last_line_at {
            if let (Some(old), Some(new)) = (t.last_line_at, f.last_line_at) {
                t.add_gap(new - old);
            }
            t.last_line_at = f.last_line_at;
            t.silence_reported = 0;
        }
        if !self.enabled.kind(Kind::FeedSilence) {
            return;
        }
        let Some(last) = t.last_line_at else { return };
        let silent_s = (now - last) / US;
        let learned = (t.n_gaps >= s.min_gaps).then(|| {
            let g = t.normal_gap();
            (
                g,
                (g.saturating_mul(u64::from(s.factor)) as i64).max(s.min_silence_s),
            )
        });
        let limit = learned.map_or(s.max_silence_s, |(_, l)| l.min(s.max_silence_s));
        let sec = sec32(now);
        if silent_s <= limit
            || (t.silence_reported != 0 && sec.saturating_sub(t.silence_reported) < REREPORT_S)
        {
            return;
        }
        t.silence_reported = sec;
        let beyond_max = silent_s > s.max_silence_s;
        let why = match learned {
            Some((g, _)) if !beyond_max => {
                format!("it normally sends at least every {}", span(g as i64))
            }
            _ => format!(
                "that is longer than the configured maximum of {}",
                span(s.max_silence_s)
            ),
        };
        sink.push(Finding {
            kind: Kind::FeedSilence,
            entity: f.name.to_string(),
            zone: None,
            severity: if beyond_max || learned.is_none() {
                SEV_SILENT_MAX
            } else {
                SEV_SILENT_LEARNED
            },
            summary: format!(
                "Feed {} has sent nothing for {}; {why}, so the wall cannot see what it logs.",
                f.name,
                span(silent_s)
            ),
            count: 1,
            evidence: json!({
                "feed": f.name,
                "silent_s": silent_s,
                "last_line_at": crate::aggregate::rfc3339_millis(last),
                "normal_gap_s": learned.map(|(g, _)| g),
                "threshold_s": limit,
                "gaps_learned": t.n_gaps,
            }),
        });
    }

    fn parse_errors(&mut self, i: usize, f: &FeedView<'_>, now: Micros, sink: &mut Sink) {
        let s = &self.s;
        let t = &mut self.tracks[i];
        let minute = now.div_euclid(60 * US);
        let Some(start) = t.minute else {
            t.minute = Some(minute);
            t.lines0 = f.lines;
            t.errors0 = f.parse_errors;
            return;
        };
        if start == minute {
            return;
        }
        let lines = f.lines.saturating_sub(t.lines0);
        let errors = f.parse_errors.saturating_sub(t.errors0).min(lines);
        t.minute = Some(minute);
        t.lines0 = f.lines;
        t.errors0 = f.parse_errors;
        if lines < s.min_lines {
            return;
        }
        let share = errors as f64 / lines as f64;
        let base = t.baseline.unwrap_or(0.0);
        if (share - base) * 100.0 + 1e-9 < f64::from(s.jump_pct) {
            t.baseline = Some(match t.baseline {
                Some(b) => 0.8 * b + 0.2 * share,
                None => share,
            });
            return;
        }
        if !self.enabled.kind(Kind::ParseErrors) {
            return;
        }
        let pct = (share * 100.0).round() as u64;
        let base_pct = (base * 100.0).round() as u64;
        let was = match t.baseline {
            Some(_) => format!("usually {base_pct}%"),
            None => "no earlier history".to_string(),
        };
        let window_s = (minute - start) * 60;
        sink.push(Finding {
            kind: Kind::ParseErrors,
            entity: f.name.to_string(),
            zone: None,
            severity: if share >= 0.5 {
                SEV_PARSE_ERRORS_MOST
            } else {
                SEV_PARSE_ERRORS
            },
            summary: format!(
                "Feed {} could not read {pct}% of its {lines} lines in the last {} ({was}): its log format or logging settings probably changed.",
                f.name,
                if window_s == 60 { "minute".to_string() } else { span(window_s) },
            ),
            count: 1,
            evidence: json!({
                "feed": f.name,
                "lines": lines,
                "parse_errors": errors,
                "share_pct": pct,
                "baseline_pct": t.baseline.map(|_| base_pct),
                "window_s": window_s,
            }),
        });
    }
}

/// One feed's learned behaviour as saved, by feed name: its gap histogram (what "normally
/// sends at least every …" is learned from), the last line it saw, when silence was last
/// reported, and the usual parse-error share. Not saved: the running parse-error minute (its
/// counters restart at the first tick; the aggregate section restores the feed's totals).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackState {
    pub name: String,
    pub last_line_at: Option<Micros>,
    pub gaps: Vec<u32>,
    pub n_gaps: u32,
    pub silence_reported: u32,
    pub baseline: Option<f64>,
}

impl Feeds {
    /// `names`: the configured feeds, by index (as in [`TickView::feeds`]).
    pub fn export(&self, names: &[&str]) -> Vec<TrackState> {
        self.tracks
            .iter()
            .zip(names)
            .map(|(t, name)| TrackState {
                name: (*name).to_string(),
                last_line_at: t.last_line_at,
                gaps: t.gaps.to_vec(),
                n_gaps: t.n_gaps,
                silence_reported: t.silence_reported,
                baseline: t.baseline.filter(|b| b.is_finite()),
            })
            .collect()
    }

    /// Matches saved feeds by name (ids change when sources are reordered); a feed no longer
    /// configured is dropped, a new one starts learning.
    pub fn restore(&mut self, v: Vec<TrackState>, names: &[&str]) {
        for st in v {
            let Some(i) = names.iter().position(|n| *n == st.name) else {
                continue;
            };
            if self.tracks.len() <= i {
                self.tracks.resize(i + 1, Track::default());
            }
            let t = &mut self.tracks[i];
            for (g, s) in t.gaps.iter_mut().zip(&st.gaps) {
                *g = *s;
            }
            // The count is the histogram's sum, whatever the file says.
            t.n_gaps = t.gaps.iter().fold(0u32, |a, g| a.saturating_add(*g));
            t.last_line_at = st.last_line_at;
            t.silence_reported = st.silence_reported;
            t.baseline = st
                .baseline
                .filter(|b| b.is_finite() && (0.0..=1.0).contains(b));
        }
    }
}

impl KindsOf for Feeds {
    const KINDS: &'static [Kind] = &[Kind::FeedSilence, Kind::ParseErrors];
}

impl Detector for Feeds {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    #[inline]
    fn observe(&mut self, _o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn tick(&mut self, now: Micros, view: &TickView<'_>, _ctx: &Context, sink: &mut Sink) {
        if self.tracks.len() < view.feeds.len() {
            self.tracks.resize(view.feeds.len(), Track::default());
        }
        for (i, f) in view.feeds.iter().enumerate() {
            self.silence(i, f, now, sink);
            self.parse_errors(i, f, now, sink);
        }
    }

    fn memory(&self) -> usize {
        self.tracks.capacity() * std::mem::size_of::<Track>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::tests_support::*;
    use crate::event::Action;

    struct Sim {
        d: Feeds,
        lines: u64,
        errors: u64,
        last: Option<Micros>,
        sink: Sink,
        ctx: Context,
    }

    impl Sim {
        fn new() -> Self {
            Sim {
                d: Feeds::new(Settings::default(), Enabled::new(&[]), T0),
                lines: 0,
                errors: 0,
                last: None,
                sink: Sink::default(),
                ctx: Context::with_default_networks(),
            }
        }

        fn tick(&mut self, now: Micros) {
            let v = [FeedView {
                name: "edge-fw",
                lines: self.lines,
                events: self.lines - self.errors,
                parse_errors: self.errors,
                last_line_at: self.last,
            }];
            self.d
                .tick(now, &TickView { feeds: &v }, &self.ctx, &mut self.sink);
        }

        fn lines(&mut self, now: Micros, lines: u64, errors: u64) {
            self.lines += lines;
            self.errors += errors;
            self.last = Some(now);
        }
    }

    #[test]
    fn silence_beyond_the_learned_gap_fires_and_rereports_each_minute() {
        let mut sim = Sim::new();
        // Ten minutes of a line every 5 seconds.
        let mut t = T0;
        for s in 0..600 {
            if s % 5 == 0 {
                sim.lines(t, 1, 0);
            }
            sim.tick(t);
            t += S;
        }
        assert!(sim.sink.is_empty());
        // Normal gap: 8 s bucket; threshold max(120 s, 4 × 8 s) = 120 s after the last line.
        let last = sim.last.unwrap();
        for _ in 0..300 {
            sim.tick(t);
            t += S;
        }
        let f = &sim.sink.0;
        assert_eq!(f.len(), 4, "at 121 s, 181 s, 241 s, 301 s: {f:#?}");
        assert_eq!(f[0].kind, Kind::FeedSilence);
        assert_eq!(f[0].entity, "edge-fw");
        assert_eq!(f[0].severity, SEV_SILENT_LEARNED);
        assert_eq!(
            f[0].summary,
            "Feed edge-fw has sent nothing for 2 minutes; it normally sends at least every 8 seconds, so the wall cannot see what it logs."
        );
        assert_eq!(f[0].evidence["normal_gap_s"], 8);
        assert_eq!(f[0].evidence["threshold_s"], 120);
        assert_eq!(f[0].evidence["silent_s"], 121);
        assert_eq!(
            f[0].evidence["last_line_at"],
            crate::aggregate::rfc3339_millis(last)
        );
        // Back: no more reports.
        sim.sink.0.clear();
        sim.lines(t, 1, 0);
        for _ in 0..100 {
            sim.tick(t);
            t += S;
        }
        assert!(sim.sink.is_empty());
    }

    #[test]
    fn little_history_uses_the_configured_maximum_and_waiting_feeds_never_fire() {
        let mut sim = Sim::new();
        sim.tick(T0);
        sim.tick(T0 + 5000 * S);
        assert!(sim.sink.is_empty(), "never sent: waiting, not silent");
        sim.lines(T0 + 5000 * S, 3, 0);
        sim.tick(T0 + 5000 * S);
        sim.tick(T0 + 8600 * S);
        assert!(sim.sink.is_empty());
        sim.tick(T0 + 8601 * S);
        assert_eq!(sim.sink.0.len(), 1);
        assert_eq!(sim.sink.0[0].severity, SEV_SILENT_MAX);
        assert_eq!(
            sim.sink.0[0].summary,
            "Feed edge-fw has sent nothing for 60 minutes; that is longer than the configured maximum of 60 minutes, so the wall cannot see what it logs."
        );
    }

    #[test]
    fn parse_error_jump_fires_steady_share_does_not() {
        let mut sim = Sim::new();
        let mut t = T0 - T0 % (60 * S); // a minute boundary
        // Ten minutes at 2 % (100 lines, 2 errors a minute): steady, quiet.
        for _ in 0..10 {
            sim.lines(t, 100, 2);
            sim.tick(t);
            t += 60 * S;
        }
        sim.tick(t);
        assert!(sim.sink.is_empty(), "{:?}", sim.sink.0);
        // The format changes: 70 of 100 lines unreadable.
        sim.lines(t, 100, 70);
        t += 60 * S;
        sim.tick(t);
        let f = &sim.sink.0;
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, Kind::ParseErrors);
        assert_eq!(f[0].severity, SEV_PARSE_ERRORS_MOST);
        assert_eq!(
            f[0].summary,
            "Feed edge-fw could not read 70% of its 100 lines in the last minute (usually 2%): its log format or logging settings probably changed."
        );
        assert_eq!(f[0].evidence["share_pct"], 70);
        assert_eq!(f[0].evidence["baseline_pct"], 2);
        // Still broken next minute: reported again (baseline frozen).
        sim.lines(t, 100, 70);
        t += 60 * S;
        sim.tick(t);
        assert_eq!(sim.sink.0.len(), 2);
        // Too few lines: no verdict.
        sim.lines(t, 10, 10);
        t += 60 * S;
        sim.tick(t);
        assert_eq!(sim.sink.0.len(), 2);
    }

    #[test]
    fn address_spray_costs_nothing() {
        let mut d = Feeds::new(Settings::default(), Enabled::new(&[]), T0);
        let ctx = Context::with_default_networks();
        let mut sink = Sink::default();
        let views: Vec<FeedView<'_>> = (0..64)
            .map(|_| FeedView {
                name: "f",
                lines: 1,
                events: 1,
                parse_errors: 0,
                last_line_at: Some(T0),
            })
            .collect();
        d.tick(T0, &TickView { feeds: &views }, &ctx, &mut sink);
        let before = d.memory();
        let mut rng = Rng(3);
        for i in 0..1_000_000i64 {
            let a = std::net::Ipv4Addr::from(rng.next() as u32).to_string();
            let r = rec(&a, 1, &a, 2, Action::Allow);
            observe(&mut d, &ctx, &r, T0 + i, &mut sink);
        }
        assert_eq!(d.memory(), before);
        assert!(before <= MEMORY_CAP, "{before}");
    }
}
