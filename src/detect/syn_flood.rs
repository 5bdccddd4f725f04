//! `syn_flood`: connection attempts toward one destination far above its own baseline while few
//! of them are answered — a SYN flood (spoofed or not), reported per *destination*.
//!
//! What is counted, per TCP record toward the destination (docs/detections.md):
//! - with TCP flags ([`TcpFlags`]): an *attempt* is SYN without ACK — a connection opening in a
//!   packet log (pf, iptables, filterlog, Suricata drop), a handshake that never completed in a
//!   connection log (Zeek `S0`/`REJ`, a refused Suricata flow); *established* is anything with
//!   ACK (the handshake answered, or packets of a live connection);
//! - without flags (most deny-only logs): a denied TCP record is an attempt and an allowed one
//!   counts as established; the flood must then also come from at least `min_sources` distinct
//!   sources, so one client's retries (a `deny_burst`) are not called a flood.
//!
//! State: a capped set-associative table ([`Assoc`]) of destinations: the running minute's
//! attempts, established and distinct sources (a 64-byte linear-counting bitmap), and an EWMA of
//! attempts per minute. A destination enters it at its second attempt within 10 minutes (a
//! [`SeenOnce`] filter holds the first), so the one-off destinations of a scan or of random
//! traffic never touch it. Per record: TCP only, one keyed hash, a bucket scan or a filter slot. `tick` checks
//! the running minute, so a flood is reported within a second or two.
//!
//! Warm-up: `warmup_min` minutes (default 30) of history per destination before the
//! baseline-relative rule; before that only the absolute limit fires.

use serde_json::json;

use super::assoc::{Assoc, effective, rank};
use super::common::{
    Ewma, HOT_RESERVE, Lc512, REPORT_EVERY_S, Sample, SeenOnce, addr_key, addr_text, count, ip,
    samples_json, sec, severity, times, top32,
};
use super::{Context, Detector, Finding, Kind, KindsOf, Obs, Sink, TickView};
use crate::aggregate::keyhash::KeyHasher;
use crate::event::{Action, Micros, Proto, TcpFlags};

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Fewest attempts per minute that can fire on the baseline rule (default 3000, 50/s).
    pub floor: u32,
    /// Times the baseline mean (default 5).
    pub ratio: f64,
    /// Standard deviations above the baseline mean (default 6).
    pub z: f64,
    /// Minutes of history before the baseline rule applies (default 30).
    pub warmup_min: u32,
    /// Attempts per minute that fire without a baseline (default 30000, 500/s).
    pub absolute: u32,
    /// "Few established": at most this share of the attempts (default 0.25).
    pub max_established_share: f64,
    /// Distinct sources required when the flags are unknown (default 20).
    pub min_sources: u32,
    /// EWMA weight of each new minute (default 1/60).
    pub alpha: f64,
    /// Destinations tracked (default 4096).
    pub capacity: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            floor: 3000,
            ratio: 5.0,
            z: 6.0,
            warmup_min: 30,
            absolute: 30_000,
            max_established_share: 0.25,
            min_sources: 20,
            alpha: 1.0 / 60.0,
            capacity: 4096,
        }
    }
}

impl Settings {
    fn threshold(&self, base: &Ewma) -> Option<f64> {
        if base.n < self.warmup_min {
            return None;
        }
        let mean = base.mean();
        let sd = base.std().max(mean.sqrt()).max(1.0);
        Some(
            f64::from(self.floor)
                .max(self.ratio * mean)
                .max(mean + self.z * sd),
        )
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Dst {
    base: Ewma,
    minute: u32,
    attempts: u32,
    /// Attempts whose flags were known (the rest: denied TCP without flags).
    flagged: u32,
    established: u32,
    sources: Lc512,
    reported_at: u32,
    first: Sample,
    last: Sample,
    /// `minute + 1` when the destination was put on the hot list (attempts reached the floor).
    hot: u32,
}

impl Dst {
    fn roll(&mut self, minute: u32, s: &Settings) {
        if minute <= self.minute {
            return;
        }
        let cap = s.threshold(&self.base).unwrap_or(f64::from(s.absolute));
        self.base.push(f64::from(self.attempts).min(cap), s.alpha);
        self.base.push_zeros(minute - self.minute - 1, s.alpha);
        *self = Dst {
            base: self.base,
            minute,
            reported_at: self.reported_at,
            ..Dst::default()
        };
    }
}

/// A destination is tracked from its second attempt within this many minutes.
const ADMIT_MIN: u32 = 10;

pub struct SynFlood {
    s: Settings,
    kh: KeyHasher,
    seen: SeenOnce,
    dsts: Assoc<u128, Dst>,
    /// Destinations whose running minute reached the floor: all that `tick` looks at (a table
    /// sweep every second cost a cache miss per entry; see deny_burst.rs).
    hot: Vec<u128>,
}

impl SynFlood {
    pub fn new(s: Settings, _now: Micros) -> Self {
        SynFlood {
            kh: KeyHasher::get(),
            seen: SeenOnce::new(16_384),
            dsts: Assoc::new(s.capacity.max(64)),
            hot: Vec::with_capacity(HOT_RESERVE),
            s,
        }
    }
}

/// One tracked destination as saved: the learned per-minute baseline, the minute it was last
/// rolled to and the last report. The running minute's counts are not saved: their distinct-
/// source bitmap is placed by the per-process key (restoring its bits under another key would
/// count sources wrongly), and a minute is short; so the saved minute folds as 0.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DstState {
    pub addr: String,
    pub base: Ewma,
    pub minute: u32,
    pub reported_at: u32,
}

impl SynFlood {
    pub fn export(&self) -> Vec<DstState> {
        self.dsts
            .iter()
            .filter(|(_, e)| e.base.n > 0)
            .map(|(k, e)| DstState {
                addr: addr_text(*k),
                base: e.base.finite(),
                minute: e.minute,
                reported_at: e.reported_at,
            })
            .collect()
    }

    /// Re-inserts saved destinations (see `DenyBurst::restore`).
    pub fn restore(&mut self, v: Vec<DstState>, now: Micros) {
        let minute_now = sec(now) / 60;
        for st in v {
            let Some(dst) = addr_key(&st.addr) else {
                continue;
            };
            let h = self.kh.addr(dst);
            let (e, rk, _) = self.dsts.entry(dst, h, |r| effective(r, minute_now, 254));
            *e = Dst {
                base: st.base,
                minute: st.minute,
                reported_at: st.reported_at,
                ..Dst::default()
            };
            *rk = rank(e.base.mean() as u64, e.minute);
        }
    }
}

impl KindsOf for SynFlood {
    const KINDS: &'static [Kind] = &[Kind::SynFlood];
}

impl Detector for SynFlood {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    #[inline]
    fn observe(&mut self, o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {
        let r = o.r;
        if r.proto != Some(Proto::TCP) {
            return;
        }
        let Some(dst) = o.dst else {
            return;
        };
        let f = r.tcp_flags;
        // (attempt, with known flags, established)
        let (attempt, flagged, established) = if f.is_known() {
            if f.syn_without_ack() {
                (true, true, false)
            } else {
                (false, true, f.has(TcpFlags::ACK))
            }
        } else {
            match r.action {
                Some(Action::Deny) => (true, false, false),
                Some(Action::Allow) => (false, false, true),
                None => return,
            }
        };
        if !attempt && !established {
            return;
        }
        let minute = sec(o.now) / 60;
        let h = self.kh.addr(dst);
        if established {
            // Only destinations already tracked: answered traffic alone never needs a slot.
            if let Some((e, _)) = self.dsts.get_mut(&dst, h) {
                if e.minute != minute {
                    e.roll(minute, &self.s);
                }
                e.established = e.established.saturating_add(1);
            }
            return;
        }
        let src_fp = o.src.map(|s| top32(self.kh.addr(s)));
        if let Some((e, rk)) = self.dsts.get_mut(&dst, h) {
            if e.minute != minute {
                e.roll(minute, &self.s);
            }
            count_attempt(e, rk, minute, flagged, src_fp, o);
            hot_check(e, dst, minute, &self.s, &mut self.hot);
            return;
        }
        // A destination not tracked yet goes through the seen-once filter: tracked from its
        // second attempt within ADMIT_MIN minutes (the first comes back as the payload: its
        // source, and whether its flags were known, in the low bit).
        let payload = (src_fp.unwrap_or(0) & !1) | u32::from(flagged);
        let Some((p, age)) = self.seen.check(h, minute, ADMIT_MIN, payload) else {
            return;
        };
        // Eviction: smallest baseline + attempts first, then least recent.
        let (e, rk, _) = self.dsts.entry(dst, h, |r| effective(r, minute, 254));
        e.minute = minute;
        if age == 0 {
            e.attempts = 1;
            e.flagged = p & 1;
            if p & !1 != 0 {
                e.sources.insert_mixed(p & !1);
            }
        }
        count_attempt(e, rk, minute, flagged, src_fp, o);
        hot_check(e, dst, minute, &self.s, &mut self.hot);
    }

    fn tick(&mut self, now: Micros, _view: &TickView<'_>, ctx: &Context, sink: &mut Sink) {
        let now_s = sec(now);
        let minute = now_s / 60;
        let s = &self.s;
        let floor = s.floor.min(s.absolute);
        let mut i = 0;
        while i < self.hot.len() {
            let dst = self.hot[i];
            let Some((e, _)) = self.dsts.get_mut(&dst, self.kh.addr(dst)) else {
                // Evicted since.
                self.hot.swap_remove(i);
                continue;
            };
            if e.minute != minute || e.attempts < floor {
                self.hot.swap_remove(i);
                continue;
            }
            i += 1;
            if e.reported_at != 0 && now_s.saturating_sub(e.reported_at) < REPORT_EVERY_S {
                continue;
            }
            let n = f64::from(e.attempts);
            if f64::from(e.established) > s.max_established_share * n {
                continue;
            }
            // Mostly flag-less denies: require a crowd, or it is one client's retries.
            let by_denies = e.flagged < e.attempts / 2;
            if by_denies && e.sources.estimate() < u64::from(s.min_sources) {
                continue;
            }
            let thr = s.threshold(&e.base);
            let fires = match thr {
                Some(t) => n >= t,
                None => e.attempts >= s.absolute,
            };
            if fires {
                e.reported_at = now_s;
                sink.push(finding(s, ctx, dst, e, thr, by_denies));
            }
        }
    }

    fn memory(&self) -> usize {
        self.seen.memory() + self.dsts.memory() + self.hot.capacity() * 16
    }
}

/// Puts `dst` on the hot list the first time in `minute` its attempts reach the floor.
#[inline]
fn hot_check(e: &mut Dst, dst: u128, minute: u32, s: &Settings, hot: &mut Vec<u128>) {
    if e.attempts >= s.floor.min(s.absolute) && e.hot != minute + 1 {
        e.hot = minute + 1;
        hot.push(dst);
    }
}

/// One attempt toward a tracked destination (its minute already current).
#[inline]
fn count_attempt(
    e: &mut Dst,
    rk: &mut u32,
    minute: u32,
    flagged: bool,
    src_fp: Option<u32>,
    o: &Obs<'_>,
) {
    e.attempts = e.attempts.saturating_add(1);
    e.flagged += u32::from(flagged);
    if let Some(fp) = src_fp {
        e.sources.insert_mixed(fp);
    }
    // Samples from the 16th attempt on: none for destinations that see only a few.
    if e.attempts == 16 {
        e.first = Sample::of(o);
    } else if e.attempts & 255 == 0 {
        e.last = Sample::of(o);
    }
    *rk = rank(e.base.mean() as u64 + u64::from(e.attempts), minute);
}

fn finding(
    s: &Settings,
    ctx: &Context,
    dst: u128,
    e: &Dst,
    thr: Option<f64>,
    by_denies: bool,
) -> Finding {
    let dst_ip = ip(dst);
    let zone = ctx.zone_of(dst);
    let n = u64::from(e.attempts);
    let mean = e.base.mean();
    let sources = e.sources.estimate();
    let about = if sources > 32 { "about " } else { "" };
    let what = if by_denies {
        "denied TCP connection attempts"
    } else {
        "TCP connection attempts (SYN)"
    };
    let answered = 100.0 * f64::from(e.established) / n.max(1) as f64;
    let usual = match thr {
        Some(_) => format!(
            ", {} its usual {} per minute",
            times(n as f64 / mean.max(1.0)),
            count(mean.round() as u64)
        ),
        None => String::new(),
    };
    let outcome = if by_denies {
        format!("{answered:.0}% allowed")
    } else {
        format!("only {answered:.0}% answered")
    };
    let summary = format!(
        "{} received {} {what} in one minute from {about}{} {}{usual}, {outcome} — likely a SYN flood",
        ctx.describe(dst_ip),
        count(n),
        count(sources),
        if sources == 1 { "source" } else { "sources" },
    );
    let ratio = n as f64 / thr.unwrap_or(f64::from(s.absolute)).max(1.0);
    Finding {
        kind: Kind::SynFlood,
        entity: dst_ip.to_string(),
        zone: ctx.zone_name(zone).map(str::to_string),
        // A flood in progress denies service: act now, more so the further past the threshold.
        severity: severity(65, 85, ratio, 10.0),
        summary,
        count: n,
        evidence: json!({
            "attempts_this_minute": n,
            "established_this_minute": e.established,
            "distinct_sources": sources,
            "counted_from": if by_denies { "denied_tcp" } else { "tcp_flags" },
            "baseline_per_minute": thr.map(|_| mean.round()),
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

    fn rig() -> Rig<SynFlood> {
        Rig::new(SynFlood::new(Settings::default(), T0))
    }

    fn syn(src: std::net::IpAddr, dst: &str, action: Action) -> Record {
        let mut x = rec(src, ipa(dst), 443, Proto::TCP, Some(action));
        x.tcp_flags = TcpFlags::SYN;
        x
    }

    fn ack(src: std::net::IpAddr, dst: &str) -> Record {
        let mut x = rec(src, ipa(dst), 443, Proto::TCP, Some(Action::Allow));
        x.tcp_flags = TcpFlags::ACK | TcpFlags::PSH;
        x
    }

    use crate::event::Record;

    /// A busy web server: `per_s` new connections a second from many clients, each answered.
    fn web_traffic(r: &mut Rig<SynFlood>, rng: &mut Rng, per_s: u32, secs: u32) {
        for _ in 0..secs {
            for _ in 0..per_s {
                let client = v4(0x0a01_0000 + (rng.next() % 5000) as u32);
                r.feed(&syn(client, "10.2.0.80", Action::Allow));
                r.feed(&ack(client, "10.2.0.80"));
                r.feed(&ack(client, "10.2.0.80"));
            }
            r.advance(1.0);
        }
    }

    #[test]
    fn spoofed_flood_over_a_warm_baseline_fires() {
        let mut r = rig();
        r.tick_every = 5;
        let mut rng = Rng(1);
        // 40 minutes of a busy server: 20 connections/s (1,200/min), all answered.
        let next = (r.now + 60 * S - 1) / (60 * S) * 60 * S;
        r.advance_to(next);
        web_traffic(&mut r, &mut rng, 20, 40 * 60);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        r.tick_every = 1;
        // Start of a minute, then 2,000 spoofed SYNs a second that nobody answers.
        let next = (r.now + 60 * S - 1) / (60 * S) * 60 * S;
        r.advance_to(next);
        for _ in 0..10 {
            for _ in 0..2000 {
                r.feed(&syn(v4(rng.next() as u32), "10.2.0.80", Action::Allow));
            }
            r.advance(1.0);
        }
        let f = r.of("10.2.0.80");
        assert_eq!(f.len(), 1, "{:?}", r.findings);
        let f = f[0];
        assert_eq!(f.kind, Kind::SynFlood);
        assert_eq!(f.zone.as_deref(), Some("servers"));
        assert!((65..=75).contains(&f.severity), "{}", f.severity);
        // Threshold max(3000, 5 × 1,200, 1,200 + 6 sd) = 6,000: crossed at the 3rd second.
        assert_eq!(f.evidence["attempts_this_minute"], 6000);
        assert_eq!(f.evidence["rule"], "baseline");
        assert!(
            f.summary.starts_with(
                "internal host 10.2.0.80 (servers) received 6,000 TCP connection attempts (SYN) in one minute from about "
            ),
            "{}",
            f.summary
        );
        assert!(
            f.summary.ends_with(
                ", 5.0× its usual 1,200 per minute, only 0% answered — likely a SYN flood"
            ),
            "{}",
            f.summary
        );
        let sources = f.evidence["distinct_sources"].as_u64().unwrap();
        assert!(sources >= 3000, "{sources}");
    }

    #[test]
    fn busy_server_and_one_retrying_client_do_not_fire() {
        let mut r = rig();
        r.tick_every = 5;
        let mut rng = Rng(2);
        // Far above the absolute limit in raw SYNs (1,000/s = 60,000/min) but all answered.
        web_traffic(&mut r, &mut rng, 1000, 90);
        // One client retrying a blocked port, flags unknown: 40,000 denies in a minute from a
        // single source is a deny_burst, not a flood.
        for i in 0..40_000u32 {
            r.feed(&deny("10.1.0.5", "10.2.0.9", 8443));
            if i % 1000 == 999 {
                r.advance(1.0);
            }
        }
        r.advance(1.0);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }

    #[test]
    fn flagless_denied_flood_from_many_sources_fires_on_the_absolute_limit() {
        let mut r = rig();
        let mut rng = Rng(3);
        for _ in 0..30 {
            for _ in 0..1500 {
                let src = v4(rng.next() as u32);
                r.feed(&rec(
                    src,
                    ipa("10.2.0.25"),
                    25,
                    Proto::TCP,
                    Some(Action::Deny),
                ));
            }
            r.advance(1.0);
        }
        let f = r.of("10.2.0.25");
        assert!(!f.is_empty(), "{:?}", r.findings);
        assert_eq!(f[0].evidence["counted_from"], "denied_tcp");
        assert_eq!(f[0].evidence["rule"], "absolute");
        assert_eq!(f[0].evidence["attempts_this_minute"], 30_000);
        assert!(
            f[0].summary.starts_with(
                "internal host 10.2.0.25 (servers) received 30,000 denied TCP connection attempts in one minute from about "
            ),
            "{}",
            f[0].summary
        );
        assert!(
            f[0].summary
                .ends_with(" sources, 0% allowed — likely a SYN flood"),
            "{}",
            f[0].summary
        );
    }

    #[test]
    fn memory_is_bounded_under_random_destinations_and_the_flood_is_still_found() {
        let mut r = rig();
        let cap = r.d.memory();
        // Documented bound: 128 KB filter + 4096 destinations × ~230 bytes, under 1.2 MB.
        assert!(cap < 1_200_000, "{cap}");
        let mut rng = Rng(4);
        // 1M SYNs from random sources to random destinations, and a 50,000/min flood inside.
        for i in 0..1_000_000u32 {
            let x = rng.next();
            let mut y = rec(
                v4(x as u32),
                v4((x >> 32) as u32),
                80,
                Proto::TCP,
                Some(Action::Allow),
            );
            y.tcp_flags = TcpFlags::SYN;
            r.feed(&y);
            if i % 20 == 0 {
                r.feed(&syn(v4((x >> 16) as u32), "10.2.0.80", Action::Allow));
            }
            if i % 10_000 == 9_999 {
                r.advance(0.6);
            }
        }
        r.advance(1.0);
        assert_eq!(r.d.memory(), cap);
        let f = r.of("10.2.0.80");
        assert!(!f.is_empty(), "flood lost");
        assert_eq!(f[0].evidence["rule"], "absolute");
        assert!(r.findings.iter().all(|f| f.entity == "10.2.0.80"));
    }
}
