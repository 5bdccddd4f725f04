//! `deny_burst`: a source whose denied events per minute jump far above its own baseline (and
//! above an absolute floor), or — before it has a baseline — above a high absolute limit.
//!
//! State: one capped set-associative table ([`Assoc`]) of sources with denies: the running
//! minute's count and an EWMA of per-minute counts (zero minutes included, folded in lazily when
//! the source is next seen). A source enters it at its second denial within 10 minutes (a
//! [`SeenOnce`] filter holds the first), so a spoofed flood's one-off sources never do. Per record: denied records only, one keyed hash and a bucket scan.
//! Eviction drops the sources with the smallest baseline + current count first, so a flood of
//! one-off spoofed sources churns only itself. `tick` compares the running minute of each source
//! that reached the floor (a hot list, not a table sweep) against its threshold, so a burst is reported within a second or two of crossing it.
//!
//! Warm-up: a source needs `warmup_min` minutes (default 30) of history before the
//! baseline-relative rule applies; until then only the absolute limit does. A minute that fired
//! is folded into the baseline capped at the threshold, so a long burst does not quickly become
//! its own baseline.

use serde_json::json;

use super::assoc::{Assoc, effective, rank};
use super::common::{
    Ewma, HOT_RESERVE, REPORT_EVERY_S, Sample, SeenOnce, addr_key, addr_text, count, ip, port_key,
    port_label, samples_json, sec, severity, times,
};
use super::{Context, Detector, Finding, Kind, KindsOf, Obs, Sink, TickView};
use crate::aggregate::keyhash::KeyHasher;
use crate::event::{Action, Micros, Proto};

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Fewest denied events per minute that can fire on the baseline rule (default 100).
    pub floor: u32,
    /// Times the baseline mean (default 5).
    pub ratio: f64,
    /// Standard deviations above the baseline mean (default 6).
    pub z: f64,
    /// Minutes of history before the baseline rule applies (default 30).
    pub warmup_min: u32,
    /// Denied events per minute that fire without a baseline (default 1000).
    pub absolute: u32,
    /// EWMA weight of each new minute (default 1/60: about an hour of memory).
    pub alpha: f64,
    /// Sources tracked (default 8192).
    pub capacity: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            floor: 100,
            ratio: 5.0,
            z: 6.0,
            warmup_min: 30,
            absolute: 1000,
            alpha: 1.0 / 60.0,
            capacity: 8192,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Src {
    base: Ewma,
    /// Minute (Unix minutes) of `cur`.
    minute: u32,
    cur: u32,
    /// Second of the last report (0: never).
    reported_at: u32,
    /// First denied event of the running minute, and the latest.
    first: Sample,
    last: Sample,
    /// `minute + 1` when the source was put on the hot list (its count reached the floor).
    hot: u32,
}

impl Settings {
    /// The count that fires for `base`: `None` while cold (then `absolute` applies).
    fn threshold(&self, base: &Ewma) -> Option<f64> {
        if base.n < self.warmup_min {
            return None;
        }
        let mean = base.mean();
        // Counts are Poisson-like: never trust a spread narrower than sqrt(mean), or 1.
        let sd = base.std().max(mean.sqrt()).max(1.0);
        Some(
            f64::from(self.floor)
                .max(self.ratio * mean)
                .max(mean + self.z * sd),
        )
    }
}

impl Src {
    /// Folds the finished minute (capped at its threshold if it fired) and the idle minutes
    /// since into the baseline.
    fn roll(&mut self, minute: u32, s: &Settings) {
        if minute <= self.minute {
            return;
        }
        let x = f64::from(self.cur);
        let cap = s.threshold(&self.base).unwrap_or(f64::from(s.absolute));
        self.base.push(x.min(cap), s.alpha);
        self.base.push_zeros(minute - self.minute - 1, s.alpha);
        self.minute = minute;
        self.cur = 0;
    }
}

/// A source is tracked from its second denial within this many minutes.
const ADMIT_MIN: u32 = 10;

pub struct DenyBurst {
    s: Settings,
    kh: KeyHasher,
    seen: SeenOnce,
    srcs: Assoc<u128, Src>,
    /// Sources whose running minute reached the floor: all that `tick` looks at. Sweeping the
    /// whole table every second cost a cache miss per entry (a third of this detector's cost
    /// on a busy edge, docs/PERFORMANCE.md); a source joins once per minute it gets there and
    /// leaves when its minute is over or it is evicted.
    hot: Vec<u128>,
}

impl DenyBurst {
    pub fn new(s: Settings, _now: Micros) -> Self {
        DenyBurst {
            kh: KeyHasher::get(),
            seen: SeenOnce::new(16_384),
            srcs: Assoc::new(s.capacity.max(64)),
            hot: Vec::with_capacity(HOT_RESERVE),
            s,
        }
    }
}

/// One tracked source as saved: its learned per-minute baseline, the running minute's count
/// and the last report. Not saved: the evidence samples and the seen-once filter (its slots
/// are placed by the per-process key, and it only holds the last ten minutes' one-off sources).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SrcState {
    pub addr: String,
    pub base: Ewma,
    pub minute: u32,
    pub cur: u32,
    pub reported_at: u32,
}

impl DenyBurst {
    /// Sources with something learned or counted (empty slots and cold entries are skipped).
    pub fn export(&self) -> Vec<SrcState> {
        self.srcs
            .iter()
            .filter(|(_, e)| e.base.n > 0 || e.cur > 0)
            .map(|(k, e)| SrcState {
                addr: addr_text(*k),
                base: e.base.finite(),
                minute: e.minute,
                cur: e.cur,
                reported_at: e.reported_at,
            })
            .collect()
    }

    /// Re-inserts saved sources under this process's key (buckets are placed by the keyed hash,
    /// so entries are rebuilt rather than copied). Minutes missed while the daemon was down are
    /// folded as idle minutes when the source is next seen, as for any quiet source. A smaller
    /// `capacity` keeps whichever entries win their bucket.
    pub fn restore(&mut self, v: Vec<SrcState>, now: Micros) {
        let minute_now = sec(now) / 60;
        for st in v {
            let Some(src) = addr_key(&st.addr) else {
                continue;
            };
            let h = self.kh.addr(src);
            let (e, rk, _) = self.srcs.entry(src, h, |r| effective(r, minute_now, 254));
            *e = Src {
                base: st.base,
                minute: st.minute,
                cur: st.cur,
                reported_at: st.reported_at,
                ..Src::default()
            };
            *rk = rank(e.base.mean() as u64 + u64::from(e.cur), e.minute);
        }
    }
}

impl KindsOf for DenyBurst {
    const KINDS: &'static [Kind] = &[Kind::DenyBurst];
}

impl Detector for DenyBurst {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    #[inline]
    fn observe(&mut self, o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {
        if o.r.action != Some(Action::Deny) {
            return;
        }
        let Some(src) = o.src else {
            return;
        };
        let minute = sec(o.now) / 60;
        let h = self.kh.addr(src);
        if let Some((e, rk)) = self.srcs.get_mut(&src, h) {
            if e.minute != minute {
                e.roll(minute, &self.s);
            }
            denied(e, rk, minute, o);
            hot_check(e, src, minute, &self.s, &mut self.hot);
            return;
        }
        // A source not tracked yet goes through the seen-once filter: tracked from its second
        // denial within ADMIT_MIN minutes, so a spoofed flood's one-off sources never enter.
        let Some((_, age)) = self.seen.check(h, minute, ADMIT_MIN, 0) else {
            return;
        };
        // Eviction: smallest baseline + count first, then least recent.
        let (e, rk, _) = self.srcs.entry(src, h, |r| effective(r, minute, 254));
        e.minute = minute;
        // The first denial, if it was this minute.
        e.cur = u32::from(age == 0);
        e.hot = 0;
        denied(e, rk, minute, o);
        hot_check(e, src, minute, &self.s, &mut self.hot);
    }

    fn tick(&mut self, now: Micros, _view: &TickView<'_>, ctx: &Context, sink: &mut Sink) {
        let now_s = sec(now);
        let minute = now_s / 60;
        let floor = self.s.floor.min(self.s.absolute);
        let s = &self.s;
        let mut i = 0;
        while i < self.hot.len() {
            let src = self.hot[i];
            let Some((e, _)) = self.srcs.get_mut(&src, self.kh.addr(src)) else {
                // Evicted since.
                self.hot.swap_remove(i);
                continue;
            };
            if e.minute != minute || e.cur < floor {
                self.hot.swap_remove(i);
                continue;
            }
            i += 1;
            if e.reported_at != 0 && now_s.saturating_sub(e.reported_at) < REPORT_EVERY_S {
                continue;
            }
            let thr = s.threshold(&e.base);
            let fires = match thr {
                Some(t) => f64::from(e.cur) >= t,
                None => e.cur >= s.absolute,
            };
            if fires {
                e.reported_at = now_s;
                sink.push(finding(s, ctx, src, e, thr));
            }
        }
    }

    fn memory(&self) -> usize {
        self.seen.memory() + self.srcs.memory() + self.hot.capacity() * 16
    }
}

/// Puts `src` on the hot list the first time in `minute` its count reaches the floor.
#[inline]
fn hot_check(e: &mut Src, src: u128, minute: u32, s: &Settings, hot: &mut Vec<u128>) {
    if e.cur >= s.floor.min(s.absolute) && e.hot != minute + 1 {
        e.hot = minute + 1;
        hot.push(src);
    }
}

/// One denial of a tracked source (its minute already current).
#[inline]
fn denied(e: &mut Src, rk: &mut u32, minute: u32, o: &Obs<'_>) {
    e.cur = e.cur.saturating_add(1);
    // Samples from the 8th denial of the minute on: none for sources denied only now and then.
    if e.cur == 8 {
        e.first = Sample::of(o);
    } else if e.cur & 63 == 0 {
        e.last = Sample::of(o);
    }
    *rk = rank(e.base.mean() as u64 + u64::from(e.cur), minute);
}

fn finding(s: &Settings, ctx: &Context, src: u128, e: &Src, thr: Option<f64>) -> Finding {
    let src_ip = ip(src);
    let zone = ctx.zone_of(src);
    let who = ctx.describe(src_ip);
    let n = u64::from(e.cur);
    let mean = e.base.mean();
    let target = if e.last.is_set() { e.last } else { e.first };
    let to = if target.is_set() {
        let proto = (target.proto > 0).then(|| Proto(target.proto - 1));
        let port = match proto {
            Some(p) if p.has_ports() => {
                format!(" on port {}", port_label(port_key(p, target.dport)))
            }
            _ => String::new(),
        };
        format!(", e.g. to {}{port}", ctx.describe(ip(target.dst)))
    } else {
        String::new()
    };
    let (summary, ratio) = match thr {
        Some(t) => (
            format!(
                "{who} was denied {} times in one minute, {} its usual {} per minute{to}",
                count(n),
                times(n as f64 / mean.max(1.0)),
                count(mean.round() as u64)
            ),
            n as f64 / t,
        ),
        None => (
            format!(
                "{who} was denied {} times in one minute (over the limit of {} for a source without history){to}",
                count(n),
                count(u64::from(s.absolute))
            ),
            n as f64 / f64::from(s.absolute.max(1)),
        ),
    };
    // Internal hosts hammering a blocked destination are misconfigured or infected: investigate.
    // Outsiders being blocked a lot is what the firewall is for: notable.
    let sev = if zone.is_internal() {
        severity(50, 70, ratio, 10.0)
    } else {
        severity(30, 50, ratio, 10.0)
    };
    Finding {
        kind: Kind::DenyBurst,
        entity: src_ip.to_string(),
        zone: ctx.zone_name(zone).map(str::to_string),
        severity: sev,
        summary,
        count: n,
        evidence: json!({
            "denied_this_minute": n,
            "baseline_per_minute": thr.map(|_| (mean * 10.0).round() / 10.0),
            "baseline_std": thr.map(|_| (e.base.std() * 10.0).round() / 10.0),
            "baseline_minutes": e.base.n,
            "threshold": thr.map_or(f64::from(s.absolute), f64::round),
            "rule": if thr.is_some() { "baseline" } else { "absolute" },
            "samples": samples_json([&e.first, &e.last], 2),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testkit::*;

    fn rig() -> Rig<DenyBurst> {
        Rig::new(DenyBurst::new(Settings::default(), T0))
    }

    /// `per_min` denies from `src` spread over each of `minutes` minutes.
    fn steady(r: &mut Rig<DenyBurst>, src: &str, per_min: u32, minutes: u32) {
        for _ in 0..minutes {
            for i in 0..per_min {
                r.feed(&deny(src, "10.2.0.5", 123));
                if i % 10 == 9 {
                    r.advance(60.0 / f64::from(per_min) * 10.0);
                }
            }
            let next = (r.now + 60 * S - 1) / (60 * S) * 60 * S;
            r.advance_to(next);
        }
    }

    #[test]
    fn burst_over_a_warm_baseline_fires() {
        let mut r = rig();
        r.tick_every = 5;
        // An hour at ~20 denies/min (a host retrying a blocked update server).
        steady(&mut r, "10.1.4.22", 20, 60);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        // Then 1,000 in the next minute (malware spreading, a misconfigured job).
        for i in 0..1000u32 {
            r.feed(&deny("10.1.4.22", "10.2.0.5", 445));
            if i % 100 == 99 {
                r.advance(5.0);
            }
        }
        r.advance(1.0);
        let f = r.of("10.1.4.22");
        assert_eq!(f.len(), 1, "{:?}", r.findings);
        let f = f[0];
        assert_eq!(f.kind, Kind::DenyBurst);
        assert_eq!(f.zone.as_deref(), Some("users"));
        assert!((50..=70).contains(&f.severity), "{}", f.severity);
        // Fired at the first tick past the threshold: max(100 floor, 5 × mean, mean + 6 sd).
        assert_eq!(f.evidence["denied_this_minute"], 100);
        assert_eq!(f.evidence["threshold"], 100.0);
        assert_eq!(
            f.summary,
            "internal host 10.1.4.22 (users) was denied 100 times in one minute, 5.0× its usual 20 per minute, e.g. to internal host 10.2.0.5 (servers) on port 445/tcp"
        );
        assert_eq!(f.evidence["rule"], "baseline");
    }

    #[test]
    fn steady_noisy_source_and_cold_sources_below_the_limit_do_not_fire() {
        let mut r = rig();
        r.tick_every = 5;
        // Two hours of a steady 300/min (a broken NTP client): its own baseline.
        steady(&mut r, "10.1.0.9", 300, 120);
        // A new source at 600/min for 10 minutes: above its (empty) baseline, but cold and
        // under the absolute limit.
        steady(&mut r, "198.51.100.77", 600, 10);
        // Many sources each denied a little.
        for i in 0..5000u32 {
            r.feed(&rec(
                v4(0xc633_6400 + i),
                ipa("10.2.0.5"),
                22,
                Proto::TCP,
                Some(Action::Deny),
            ));
        }
        r.advance(120.0);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }

    #[test]
    fn cold_source_above_the_absolute_limit_fires_and_repeats_once_a_minute() {
        let mut r = rig();
        for sec in 0..150u32 {
            for _ in 0..50 {
                r.feed(&deny("203.0.113.50", "10.2.0.80", 443));
            }
            let _ = sec;
            r.advance(1.0);
        }
        let f = r.of("203.0.113.50");
        // 3,000/min from the start: reported when the running minute passed 1,000 and then at
        // most once a minute.
        assert!((2..=3).contains(&f.len()), "{}", f.len());
        assert_eq!(f[0].evidence["rule"], "absolute");
        assert_eq!(f[0].zone.as_deref(), Some("external"));
        assert!((30..=40).contains(&f[0].severity), "{}", f[0].severity);
        assert!(
            f[0].summary
                .starts_with("external host 203.0.113.50 was denied 1,0"),
            "{}",
            f[0].summary
        );
        assert!(
            f[0].summary
                .contains("(over the limit of 1,000 for a source without history)")
        );
    }

    #[test]
    fn memory_is_bounded_under_spoofed_sources_and_the_burst_is_still_found() {
        let mut r = rig();
        r.tick_every = 10;
        let cap = r.d.memory();
        // Documented bound: 128 KB filter + 8192 sources × ~150 bytes, under 1.4 MB.
        assert!(cap < 1_400_000, "{cap}");
        let mut rng = Rng(3);
        // 40 minutes, 25,000 spoofed one-off sources per minute (1M in all), while the planted
        // host keeps its ~10/min baseline and then bursts to 1,500/min.
        for m in 0..40u32 {
            for i in 0..25_000u32 {
                let x = rng.next();
                r.feed(&rec(
                    v4(x as u32),
                    ipa("10.2.0.5"),
                    22,
                    Proto::TCP,
                    Some(Action::Deny),
                ));
                let planted = if m < 39 { i % 2500 == 0 } else { i % 16 == 0 };
                if planted {
                    r.feed(&deny("10.1.4.22", "10.2.0.5", 445));
                }
                if i % 2500 == 2499 {
                    r.advance(6.0);
                }
            }
        }
        r.advance(1.0);
        assert_eq!(r.d.memory(), cap);
        let f = r.of("10.1.4.22");
        assert_eq!(f.len(), 1, "{:?}", r.findings);
        assert_eq!(f[0].evidence["rule"], "baseline");
        assert!(r.findings.iter().all(|f| f.entity == "10.1.4.22"));
    }
}
