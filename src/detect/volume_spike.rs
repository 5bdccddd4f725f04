//! `volume_spike`: events or bytes per minute, in total or for one zone, far above both the recent
//! level (EWMA) and what is usual for this hour of the day (a profile learnt across days).
//!
//! Series: all traffic, plus one per internal zone (records count toward the zone of their source
//! and of their destination, once each; the plain `internal` zone is one series, named zones up
//! to [`MAX_NAMED`] more). Per series and metric (events, bytes): the running minute, an EWMA of
//! per-minute values (`alpha` 1/30: about half an hour), and 24 hourly slots, each an EWMA across
//! days of that hour's per-minute mean and mean square (so its spread includes the ups and downs
//! within the hour). Fixed memory, whatever the traffic (about 70 KB).
//!
//! Rule, checked every second on the running minute (so a spike is seen before the minute ends):
//! value ≥ `floor`, ≥ `ratio` × the EWMA mean and ≥ EWMA mean + `z` σ, and — when the hour-of-day
//! profile has data for this hour or the hours either side — also ≥ `ratio` × and ≥ mean + `z` σ
//! of the highest of those three slots. A nightly backup is therefore part of the baseline from its
//! second night on (the first night it is new, and reported).
//!
//! Warm-up: the EWMA needs `warmup_min` minutes (default 60) before anything fires; the profile
//! needs one day for an hour before it can veto. There is no absolute rule here.

use serde_json::json;

use super::common::{
    Ewma, REPORT_EVERY_S, Sample, bytes, count, finite, samples_json, sec, severity, times,
};
use super::{Context, Detector, Finding, Kind, KindsOf, Obs, Sink, TickView, Zone};
use crate::event::Micros;

/// Named zones with their own series (more are counted in the total only).
pub const MAX_NAMED: usize = 32;
/// Total + plain internal + named zones.
const SERIES: usize = 2 + MAX_NAMED;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Fewest events per minute that can fire (default 600).
    pub floor_events: u64,
    /// Fewest bytes per minute that can fire (default 100 MB).
    pub floor_bytes: u64,
    /// Times the usual level (default 3).
    pub ratio: f64,
    /// Standard deviations above the usual level (default 6).
    pub z: f64,
    /// Minutes of history before anything fires (default 60).
    pub warmup_min: u32,
    /// EWMA weight of each minute (default 1/30).
    pub alpha: f64,
    /// Weight of each new day in the hour-of-day profile (default 0.3).
    pub alpha_day: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            floor_events: 600,
            floor_bytes: 100_000_000,
            ratio: 3.0,
            z: 6.0,
            warmup_min: 60,
            alpha: 1.0 / 30.0,
            alpha_day: 0.3,
        }
    }
}

/// One hour of the day: per-minute mean and mean square, averaged across days.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Slot {
    mean: f64,
    sq: f64,
    days: u32,
    /// The hour being filled now.
    acc_sum: f64,
    acc_sq: f64,
    acc_n: u32,
}

impl Slot {
    fn close_day(&mut self, alpha_day: f64) {
        if self.acc_n == 0 {
            return;
        }
        let n = f64::from(self.acc_n);
        let (m, q) = (self.acc_sum / n, self.acc_sq / n);
        if self.days == 0 {
            (self.mean, self.sq) = (m, q);
        } else {
            self.mean += alpha_day * (m - self.mean);
            self.sq += alpha_day * (q - self.sq);
        }
        self.days += 1;
        (self.acc_sum, self.acc_sq, self.acc_n) = (0.0, 0.0, 0);
    }

    fn std(&self) -> f64 {
        (self.sq - self.mean * self.mean).max(0.0).sqrt()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Metric {
    pub(super) cur: u64,
    pub(super) ewma: Ewma,
    hours: [Slot; 24],
}

impl Metric {
    /// Folds one finished minute (`minute` in Unix minutes) with value `v`.
    fn fold(&mut self, minute: u32, v: f64, s: &Settings) {
        self.ewma.push(v, s.alpha);
        let h = (minute / 60 % 24) as usize;
        let slot = &mut self.hours[h];
        slot.acc_sum += v;
        slot.acc_sq += v * v;
        slot.acc_n += 1;
        if minute % 60 == 59 {
            slot.close_day(s.alpha_day);
        }
    }

    /// The value that fires now (hour `h`) and the usual level behind it: the EWMA's, or the
    /// hour-of-day profile's when that sets the higher bar (then the flag is true).
    fn threshold(
        &self,
        h: usize,
        floor: f64,
        s: &Settings,
        poisson: bool,
    ) -> Option<(f64, f64, bool)> {
        if self.ewma.n < s.warmup_min {
            return None;
        }
        let mean = self.ewma.mean();
        let mut sd = self.ewma.std();
        if poisson {
            sd = sd.max(mean.sqrt());
        }
        let mut thr = floor.max(s.ratio * mean).max(mean + s.z * sd);
        let (mut usual, mut by_profile) = (mean, false);
        for hh in [(h + 23) % 24, h, (h + 1) % 24] {
            let slot = &self.hours[hh];
            if slot.days > 0 {
                let t = (s.ratio * slot.mean).max(slot.mean + s.z * slot.std());
                if t > thr {
                    (thr, usual, by_profile) = (t, slot.mean, true);
                }
            }
        }
        Some((thr, usual, by_profile))
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Series {
    events: Metric,
    bytes: Metric,
    reported_at: u32,
    sample: Sample,
}

pub struct VolumeSpike {
    s: Settings,
    /// Index 0: all traffic; 1: plain internal; 2..: named zones.
    series: Box<[Series; SERIES]>,
    /// Unix minute of the running values.
    minute: u32,
    /// The running minute began before the detector did: not a whole minute, not folded.
    partial: bool,
}

impl VolumeSpike {
    pub fn new(s: Settings, now: Micros) -> Self {
        VolumeSpike {
            s,
            series: Box::new([Series::default(); SERIES]),
            minute: sec(now) / 60,
            partial: true,
        }
    }

    /// Folds the running minute and any idle minutes up to `minute`.
    fn roll(&mut self, minute: u32) {
        if minute <= self.minute {
            return;
        }
        let s = &self.s;
        // More than a day idle: fold only the last day of zeros (the profile sees each hour).
        let from = self.minute.max(minute.saturating_sub(1440));
        let skip = std::mem::take(&mut self.partial).then_some(self.minute);
        for m in from..minute {
            if Some(m) == skip {
                continue;
            }
            let first = m == self.minute;
            for se in self.series.iter_mut() {
                let (e, b) = if first {
                    (se.events.cur, se.bytes.cur)
                } else {
                    (0, 0)
                };
                se.events.fold(m, e as f64, s);
                se.bytes.fold(m, b as f64, s);
            }
        }
        for se in self.series.iter_mut() {
            se.events.cur = 0;
            se.bytes.cur = 0;
        }
        self.minute = minute;
    }
}

#[inline]
fn series_of(z: Zone) -> Option<usize> {
    match z {
        Zone::Internal => Some(1),
        Zone::Named(i) if usize::from(i) < MAX_NAMED => Some(2 + usize::from(i)),
        _ => None,
    }
}

/// The `volume_spike` part of the `detect` section: every series' minute EWMA and hour-of-day
/// profile (the part that takes hours and days to learn), by name so that a zone renamed,
/// added or removed in config only loses its own series. Not saved: the evidence sample.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct State {
    /// Unix minute of the running values.
    pub minute: u32,
    pub partial: bool,
    pub series: Vec<SeriesState>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeriesState {
    /// `*all`, `*internal`, or `zone:<name>`.
    pub name: String,
    pub events: Metric,
    pub bytes: Metric,
    pub reported_at: u32,
}

impl Slot {
    fn finite(self) -> Slot {
        Slot {
            mean: finite(self.mean),
            sq: finite(self.sq),
            acc_sum: finite(self.acc_sum),
            acc_sq: finite(self.acc_sq),
            ..self
        }
    }
}

impl Metric {
    fn finite(self) -> Metric {
        Metric {
            cur: self.cur,
            ewma: self.ewma.finite(),
            hours: self.hours.map(Slot::finite),
        }
    }
}

fn series_name(i: usize, ctx: &Context) -> Option<String> {
    match i {
        0 => Some("*all".into()),
        1 => Some("*internal".into()),
        n => ctx.zone_names().get(n - 2).map(|z| format!("zone:{z}")),
    }
}

impl VolumeSpike {
    pub fn export(&self, ctx: &Context) -> State {
        State {
            minute: self.minute,
            partial: self.partial,
            series: self
                .series
                .iter()
                .enumerate()
                .filter(|(_, se)| se.events.ewma.n > 0 || se.events.cur > 0)
                .filter_map(|(i, se)| {
                    Some(SeriesState {
                        name: series_name(i, ctx)?,
                        events: se.events.finite(),
                        bytes: se.bytes.finite(),
                        reported_at: se.reported_at,
                    })
                })
                .collect(),
        }
    }

    /// Puts the learned levels back, matching series by name under the current zones.
    ///
    /// The time the daemon was down is *not* folded into the baselines as quiet minutes: the
    /// traffic did not stop, socwall just did not see it (and the lines it re-reads from the
    /// saved positions arrive now). So when the restart is in a later minute, the saved running
    /// minute is dropped and the new one starts partial; within the same minute the saved counts
    /// continue (they count exactly the lines before the saved positions).
    pub fn restore(&mut self, st: State, ctx: &Context, now: Micros) {
        let same_minute = st.minute == sec(now) / 60;
        for (i, se) in self.series.iter_mut().enumerate() {
            let Some(name) = series_name(i, ctx) else {
                continue;
            };
            let Some(saved) = st.series.iter().find(|s| s.name == name) else {
                continue;
            };
            se.events = saved.events;
            se.bytes = saved.bytes;
            se.reported_at = saved.reported_at;
            if !same_minute {
                se.events.cur = 0;
                se.bytes.cur = 0;
            }
        }
        if same_minute {
            self.partial = st.partial;
        }
    }
}

impl KindsOf for VolumeSpike {
    const KINDS: &'static [Kind] = &[Kind::VolumeSpike];
}

impl Detector for VolumeSpike {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    #[inline]
    fn observe(&mut self, o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {
        let minute = sec(o.now) / 60;
        if minute != self.minute {
            self.roll(minute);
        }
        let b = o.r.bytes;
        let add = |se: &mut Series| {
            se.events.cur += 1;
            se.bytes.cur += b;
            if se.events.cur & 1023 == 1 {
                se.sample = Sample::of(o);
            }
        };
        add(&mut self.series[0]);
        let a = series_of(o.src_zone);
        if let Some(a) = a {
            add(&mut self.series[a]);
        }
        if let Some(z) = series_of(o.dst_zone) {
            if Some(z) != a {
                add(&mut self.series[z]);
            }
        }
    }

    fn tick(&mut self, now: Micros, _view: &TickView<'_>, ctx: &Context, sink: &mut Sink) {
        let now_s = sec(now);
        self.roll(now_s / 60);
        let h = (now_s / 3600 % 24) as usize;
        let s = &self.s;
        for (i, se) in self.series.iter_mut().enumerate() {
            if se.events.cur < s.floor_events && se.bytes.cur < s.floor_bytes {
                continue;
            }
            if se.reported_at != 0 && now_s.saturating_sub(se.reported_at) < REPORT_EVERY_S {
                continue;
            }
            let check = |m: &Metric, floor: u64, poisson: bool| {
                let (thr, usual, by_profile) = m.threshold(h, floor as f64, s, poisson)?;
                let v = m.cur as f64;
                (v >= thr).then_some((
                    v / thr,
                    Level {
                        thr,
                        usual,
                        by_profile,
                    },
                ))
            };
            let ev = check(&se.events, s.floor_events, true);
            let by = check(&se.bytes, s.floor_bytes, false);
            let pick = match (ev, by) {
                (Some(e), Some(b)) => Some(if b.0 > e.0 { (true, b) } else { (false, e) }),
                (Some(e), None) => Some((false, e)),
                (None, Some(b)) => Some((true, b)),
                (None, None) => None,
            };
            let Some((is_bytes, (ratio, level))) = pick else {
                continue;
            };
            se.reported_at = now_s;
            let name = match i {
                0 => None,
                1 => Some("internal".to_string()),
                n => ctx.zone_names().get(n - 2).cloned(),
            };
            sink.push(finding(se, name, h, is_bytes, ratio, level));
        }
    }

    fn memory(&self) -> usize {
        std::mem::size_of::<[Series; SERIES]>()
    }
}

/// What a series was compared with.
#[derive(Debug, Clone, Copy)]
struct Level {
    thr: f64,
    usual: f64,
    by_profile: bool,
}

fn finding(
    se: &Series,
    zone: Option<String>,
    h: usize,
    is_bytes: bool,
    ratio: f64,
    level: Level,
) -> Finding {
    let m = if is_bytes { &se.bytes } else { &se.events };
    let Level {
        thr,
        usual,
        by_profile,
    } = level;
    let amount = |v: u64| {
        if is_bytes {
            bytes(v)
        } else {
            format!("{} events", count(v))
        }
    };
    let usual_text = if by_profile {
        format!(
            "the usual {} for this time of day",
            amount(usual.round() as u64)
        )
    } else {
        format!("the usual {}", amount(usual.round() as u64))
    };
    let what = match &zone {
        None => "All traffic".to_string(),
        Some(z) => format!("Traffic in zone {z}"),
    };
    let summary = format!(
        "{what} reached {} in one minute, {} {usual_text} — a volume spike",
        amount(m.cur),
        times(m.cur as f64 / usual.max(1.0)),
    );
    Finding {
        kind: Kind::VolumeSpike,
        entity: zone.clone().unwrap_or_else(|| "all traffic".to_string()),
        zone,
        // Context for the wall rather than an incident by itself: notable, up to investigate.
        severity: severity(30, 60, ratio, 10.0),
        summary,
        count: se.events.cur,
        evidence: json!({
            "metric": if is_bytes { "bytes" } else { "events" },
            "this_minute": m.cur,
            "events_this_minute": se.events.cur,
            "bytes_this_minute": se.bytes.cur,
            "recent_mean": m.ewma.mean().round(),
            "recent_std": m.ewma.std().round(),
            "hour_utc": h,
            "hour_mean": (m.hours[h].days > 0).then(|| m.hours[h].mean.round()),
            "hour_days": m.hours[h].days,
            "threshold": thr.round(),
            "threshold_from": if by_profile { "time_of_day" } else { "recent" },
            "samples": samples_json([&se.sample], 1),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testkit::*;
    use crate::event::{Action, Proto};

    fn rig() -> Rig<VolumeSpike> {
        let mut r = Rig::new(VolumeSpike::new(Settings::default(), T0));
        r.tick_every = 10;
        r
    }

    /// One minute of `n` events of `b` bytes each from users to servers, spread evenly.
    fn minute(r: &mut Rig<VolumeSpike>, n: u32, b: u64) {
        let start = r.now;
        for i in 0..n {
            let mut x = rec(
                v4(0x0a01_0000 + i % 200),
                ipa("10.2.0.80"),
                443,
                Proto::TCP,
                Some(Action::Allow),
            );
            x.bytes = b;
            r.feed(&x);
            if i % 100 == 99 {
                r.advance_to(start + 60 * S * i64::from(i + 1) / i64::from(n));
            }
        }
        r.advance_to(start + 60 * S);
    }

    #[test]
    fn spike_after_warm_up_fires_for_total_and_zones() {
        let mut r = rig();
        r.advance_to(T0 + 40 * S); // a minute boundary
        for _ in 0..120 {
            minute(&mut r, 1000, 500);
        }
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        minute(&mut r, 10_000, 500);
        let total = r.of("all traffic");
        assert_eq!(total.len(), 1, "{:?}", r.findings);
        let f = total[0];
        assert_eq!(f.kind, Kind::VolumeSpike);
        assert_eq!(f.zone, None);
        assert!((30..=40).contains(&f.severity), "{}", f.severity);
        assert_eq!(f.evidence["metric"], "events");
        // Threshold: 3 × the hour-before profile of 1,000/min (its spread is nil).
        assert_eq!(f.evidence["threshold"], 3000.0);
        assert_eq!(f.evidence["this_minute"], 3000);
        assert_eq!(
            f.summary,
            "All traffic reached 3,000 events in one minute, 3.0× the usual 1,000 events — a volume spike"
        );
        // Users and servers each saw the same spike.
        assert_eq!(r.of("users").len(), 1);
        assert_eq!(r.of("servers").len(), 1);
        assert!(
            r.of("servers")[0]
                .summary
                .starts_with("Traffic in zone servers reached 3,000 events in one minute")
        );
    }

    #[test]
    fn nightly_backup_is_baseline_from_the_second_night() {
        let mut r = rig();
        r.tick_every = 30;
        let day0 = (T0 / (86_400 * S) + 1) * 86_400 * S;
        r.advance_to(day0);
        let mut after_day = Vec::new();
        for _day in 0..3 {
            for m in 0..1440u32 {
                // 100 events a minute all day; 01:00-03:00 a backup adds 1,000 events of
                // 1 MB each (1 GB a minute).
                let backup = (60..180).contains(&m);
                let start = r.now;
                for i in 0..100u32 {
                    r.feed(&allow(
                        &format!("10.1.0.{}", i % 50 + 1),
                        "203.0.113.5",
                        443,
                    ));
                }
                if backup {
                    for _ in 0..1000 {
                        let mut x = allow("10.2.0.10", "203.0.113.200", 22);
                        x.bytes = 1_000_000;
                        r.feed(&x);
                    }
                }
                r.advance_to(start + 60 * S);
            }
            after_day.push(r.findings.len());
        }
        // Night 1 is new and fires; nights 2 and 3 match the hour-of-day profile.
        assert!(after_day[0] >= 1, "{after_day:?}");
        assert_eq!(
            after_day[1],
            after_day[0],
            "{:?}",
            &r.findings[after_day[0]..]
        );
        assert_eq!(
            after_day[2],
            after_day[0],
            "{:?}",
            &r.findings[after_day[0]..]
        );
    }

    #[test]
    fn memory_is_fixed_under_random_sources_and_the_spike_is_still_found() {
        let mut r = rig();
        let cap = r.d.memory();
        // Documented bound: fixed, about 70 KB.
        assert!(cap < 70_000, "{cap}");
        r.advance_to(T0 + 40 * S);
        let mut rng = Rng(9);
        // 100 minutes × 10,000 events from random spoofed sources (1M), then a tenfold minute.
        for m in 0..101u32 {
            let n = if m == 100 { 100_000 } else { 10_000 };
            let start = r.now;
            for i in 0..n {
                let x = rng.next();
                r.feed(&rec(
                    v4(x as u32),
                    v4(0x0a02_0000 | (x >> 48) as u32),
                    80,
                    Proto::TCP,
                    Some(Action::Deny),
                ));
                if i % 1000 == 999 {
                    r.advance_to(start + 60 * S * i64::from(i + 1) / i64::from(n));
                }
            }
            r.advance_to(start + 60 * S);
        }
        assert_eq!(r.d.memory(), cap);
        let f = r.of("all traffic");
        assert_eq!(f.len(), 1, "{:?}", r.findings);
        assert!(
            f[0].summary.starts_with(
                "All traffic reached 30,000 events in one minute, 3.0× the usual 10,000 events"
            ),
            "{}",
            f[0].summary
        );
    }
}
