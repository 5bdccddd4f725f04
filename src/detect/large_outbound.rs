//! `large_outbound`: an internal host sending far more bytes to external addresses than it usually
//! does — beyond its own baseline + n·σ and an absolute floor (possible exfiltration), or, before
//! it has a baseline, beyond a high absolute limit.
//!
//! Counted: records from an internal source to an external destination, their `bytes`, in
//! 10-minute buckets per source. Per-packet logs give the bytes of that direction; flow and
//! connection logs (Zeek, Suricata flows) give both directions summed, so on those a large
//! *download* started by the host counts too (docs/detections.md: tuning).
//!
//! State: a capped set-associative table ([`Assoc`]) of internal sources: the running bucket's
//! bytes and records, its main external destination (a weighted majority vote, one candidate),
//! its largest record, and an EWMA of bytes per bucket with idle buckets folded in as zeros, so
//! a nightly backup's volume becomes part of the host's baseline. Per record: internal→external
//! only, one keyed hash and a bucket scan. `tick` checks the running bucket.
//!
//! Warm-up: `warmup_buckets` (default 36 buckets = 6 hours) of history per source before the
//! baseline rule; before that only `absolute_bytes` fires.

use serde_json::json;

use super::assoc::{Assoc, effective, rank};
use super::common::{
    Ewma, REPORT_EVERY_S, Sample, addr_key, addr_text, bytes, count, ip, samples_json, sec,
    severity, times,
};
use super::{Context, Detector, Finding, Kind, KindsOf, Obs, Sink, TickView};
use crate::aggregate::keyhash::KeyHasher;
use crate::event::Micros;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Bucket length, seconds (default 600).
    pub bucket_s: u32,
    /// Fewest bytes per bucket that can fire on the baseline rule (default 200 MB).
    pub floor_bytes: u64,
    /// Times the baseline mean (default 4).
    pub ratio: f64,
    /// Standard deviations above the baseline mean (default 6).
    pub z: f64,
    /// Buckets of history before the baseline rule applies (default 36: 6 hours).
    pub warmup_buckets: u32,
    /// Bytes per bucket that fire without a baseline (default 1 GB).
    pub absolute_bytes: u64,
    /// EWMA weight of each bucket (default 1/144: about a day of memory).
    pub alpha: f64,
    /// Internal sources tracked (default 8192).
    pub capacity: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bucket_s: 600,
            floor_bytes: 200_000_000,
            ratio: 4.0,
            z: 6.0,
            warmup_buckets: 36,
            absolute_bytes: 1_000_000_000,
            alpha: 1.0 / 144.0,
            capacity: 8192,
        }
    }
}

impl Settings {
    fn threshold(&self, base: &Ewma) -> Option<f64> {
        if base.n < self.warmup_buckets {
            return None;
        }
        let mean = base.mean();
        Some(
            (self.floor_bytes as f64)
                .max(self.ratio * mean)
                .max(mean + self.z * base.std()),
        )
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Src {
    base: Ewma,
    bucket: u32,
    bytes: u64,
    records: u32,
    /// Majority-vote candidate for the main destination, and its margin in bytes.
    top_dst: u128,
    top_margin: u64,
    reported_at: u32,
    /// The largest record of the bucket.
    largest: Sample,
}

impl Src {
    fn roll(&mut self, bucket: u32, s: &Settings) {
        if bucket <= self.bucket {
            return;
        }
        // Not capped when it fired: a new regular job (a nightly backup) must become the
        // baseline; a day-long memory (alpha) keeps one burst from hiding the next for long.
        self.base.push(self.bytes as f64, s.alpha);
        self.base.push_zeros(bucket - self.bucket - 1, s.alpha);
        *self = Src {
            base: self.base,
            bucket,
            reported_at: self.reported_at,
            ..Src::default()
        };
    }
}

pub struct LargeOutbound {
    s: Settings,
    kh: KeyHasher,
    srcs: Assoc<u128, Src>,
}

impl LargeOutbound {
    pub fn new(s: Settings, _now: Micros) -> Self {
        LargeOutbound {
            kh: KeyHasher::get(),
            srcs: Assoc::new(s.capacity.max(64)),
            s,
        }
    }
}

/// One tracked internal source as saved: the learned per-bucket baseline and the running
/// bucket (bytes, records, main destination), with the bucket length they were counted in.
/// Not saved: the largest record's sample (evidence only).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SrcState {
    pub addr: String,
    pub base: Ewma,
    pub bucket: u32,
    pub bytes: u64,
    pub records: u32,
    pub top_dst: String,
    pub top_margin: u64,
    pub reported_at: u32,
}

/// The `large_outbound` part of the `detect` section.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct State {
    /// `bucket_s` the buckets were numbered with.
    pub bucket_s: u32,
    pub srcs: Vec<SrcState>,
}

impl LargeOutbound {
    pub fn export(&self) -> State {
        State {
            bucket_s: self.s.bucket_s,
            srcs: self
                .srcs
                .iter()
                .filter(|(_, e)| e.base.n > 0 || e.bytes > 0)
                .map(|(k, e)| SrcState {
                    addr: addr_text(*k),
                    base: e.base.finite(),
                    bucket: e.bucket,
                    bytes: e.bytes,
                    records: e.records,
                    top_dst: addr_text(e.top_dst),
                    top_margin: e.top_margin,
                    reported_at: e.reported_at,
                })
                .collect(),
        }
    }

    /// Re-inserts saved sources (see `DenyBurst::restore`). When `bucket_s` changed in config,
    /// bucket numbers mean other times: the baselines are kept (bytes per bucket of a
    /// different length, relearned at `alpha`), the running buckets start now.
    pub fn restore(&mut self, st: State, now: Micros) {
        let now_s = sec(now);
        let minute = now_s / 60;
        let same = st.bucket_s == self.s.bucket_s;
        let bucket_now = now_s / self.s.bucket_s.max(1);
        for v in st.srcs {
            let Some(src) = addr_key(&v.addr) else {
                continue;
            };
            let (e, rk, _) = self
                .srcs
                .entry(src, self.kh.addr(src), |r| effective(r, minute, 254));
            *e = if same {
                Src {
                    base: v.base,
                    bucket: v.bucket,
                    bytes: v.bytes,
                    records: v.records,
                    top_dst: addr_key(&v.top_dst).unwrap_or(0),
                    top_margin: v.top_margin,
                    reported_at: v.reported_at,
                    largest: Sample::default(),
                }
            } else {
                Src {
                    base: v.base,
                    bucket: bucket_now,
                    reported_at: v.reported_at,
                    ..Src::default()
                }
            };
            *rk = rank((e.base.mean() as u64).saturating_add(e.bytes) >> 16, minute);
        }
    }
}

impl KindsOf for LargeOutbound {
    const KINDS: &'static [Kind] = &[Kind::LargeOutbound];
}

impl Detector for LargeOutbound {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    #[inline]
    fn observe(&mut self, o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {
        let n = o.r.bytes;
        if n == 0 || !o.src_zone.is_internal() || !o.dst_zone.is_external() {
            return;
        }
        let (Some(src), Some(dst)) = (o.src, o.dst) else {
            return;
        };
        let now_s = sec(o.now);
        let bucket = now_s / self.s.bucket_s.max(1);
        let minute = now_s / 60;
        // Eviction: smallest baseline + bytes (in 64 KB units) first, then least recent.
        let (e, rk, new) = self
            .srcs
            .entry(src, self.kh.addr(src), |r| effective(r, minute, 254));
        if new {
            e.bucket = bucket;
        } else if e.bucket != bucket {
            e.roll(bucket, &self.s);
        }
        e.bytes = e.bytes.saturating_add(n);
        e.records = e.records.saturating_add(1);
        if e.top_dst == dst {
            e.top_margin = e.top_margin.saturating_add(n);
        } else if e.top_margin >= n {
            e.top_margin -= n;
        } else {
            e.top_dst = dst;
            e.top_margin = n - e.top_margin;
        }
        if u64::from(e.largest.bytes) < n {
            e.largest = Sample::of(o);
        }
        *rk = rank((e.base.mean() as u64).saturating_add(e.bytes) >> 16, minute);
    }

    fn tick(&mut self, now: Micros, _view: &TickView<'_>, ctx: &Context, sink: &mut Sink) {
        let now_s = sec(now);
        let s = &self.s;
        let bucket = now_s / s.bucket_s.max(1);
        let least = s.floor_bytes.min(s.absolute_bytes);
        self.srcs.retain(|&src, e| {
            if e.bucket != bucket || e.bytes < least {
                return true;
            }
            if e.reported_at != 0 && now_s.saturating_sub(e.reported_at) < REPORT_EVERY_S {
                return true;
            }
            let thr = s.threshold(&e.base);
            let fires = match thr {
                Some(t) => e.bytes as f64 >= t,
                None => e.bytes >= s.absolute_bytes,
            };
            if fires {
                e.reported_at = now_s;
                sink.push(finding(s, ctx, src, e, thr));
            }
            true
        });
    }

    fn memory(&self) -> usize {
        self.srcs.memory()
    }
}

fn finding(s: &Settings, ctx: &Context, src: u128, e: &Src, thr: Option<f64>) -> Finding {
    let src_ip = ip(src);
    let zone = ctx.zone_of(src);
    let mean = e.base.mean();
    let minutes = s.bucket_s / 60;
    let usual = match thr {
        Some(_) => format!(
            ", {} its usual {}",
            times(e.bytes as f64 / mean.max(1.0)),
            bytes(mean.round() as u64)
        ),
        None => " (no baseline yet for this host)".to_string(),
    };
    let summary = format!(
        "{} sent {} to external hosts in {minutes} minutes{usual} — mostly to {}",
        ctx.describe(src_ip),
        bytes(e.bytes),
        ctx.describe(ip(e.top_dst)),
    );
    let ratio = e.bytes as f64 / thr.unwrap_or(s.absolute_bytes as f64).max(1.0);
    Finding {
        kind: Kind::LargeOutbound,
        entity: src_ip.to_string(),
        zone: ctx.zone_name(zone).map(str::to_string),
        // Possible exfiltration: investigate; many times past the threshold: act now.
        severity: severity(50, 80, ratio, 20.0),
        summary,
        count: u64::from(e.records),
        evidence: json!({
            "bytes_this_bucket": e.bytes,
            "records_this_bucket": e.records,
            "bucket_s": s.bucket_s,
            "top_destination": ip(e.top_dst).to_string(),
            "baseline_bytes": thr.map(|_| mean.round()),
            "baseline_std": thr.map(|_| e.base.std().round()),
            "baseline_buckets": e.base.n,
            "threshold": thr.map_or(s.absolute_bytes as f64, f64::round),
            "rule": if thr.is_some() { "baseline" } else { "absolute" },
            "records": count(u64::from(e.records)),
            "samples": samples_json([&e.largest], 1),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testkit::*;
    use crate::event::{Action, Proto, Record};

    fn rig() -> Rig<LargeOutbound> {
        let mut r = Rig::new(LargeOutbound::new(Settings::default(), T0));
        r.tick_every = 60;
        r
    }

    fn out(src: &str, dst: &str, n: u64) -> Record {
        let mut x = rec(ipa(src), ipa(dst), 443, Proto::TCP, Some(Action::Allow));
        x.bytes = n;
        x
    }

    /// `per_bucket` bytes from `src` in 10 records spread over each 10-minute bucket.
    fn workday(r: &mut Rig<LargeOutbound>, src: &str, per_bucket: u64, buckets: u32) {
        for b in 0..buckets {
            for i in 0..10u64 {
                // ±20 % noise, deterministic.
                let noise = 80 + (u64::from(b) * 7 + i * 13) % 41;
                r.feed(&out(src, "203.0.113.10", per_bucket / 10 * noise / 100));
                r.advance(60.0);
            }
        }
    }

    #[test]
    fn exfiltration_over_a_warm_baseline_fires() {
        let mut r = rig();
        r.advance_to(T0 + 400 * S); // a bucket boundary (T0 is 200 s into one)
        workday(&mut r, "10.1.0.50", 5_000_000, 48);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        // 25 MB every 30 s to one new address: 250 MB after five minutes.
        for _ in 0..10 {
            r.feed(&out("10.1.0.50", "198.51.100.99", 25_000_000));
            r.advance(30.0);
        }
        let f = r.of("10.1.0.50");
        assert_eq!(f.len(), 2, "{:?}", r.findings);
        let f0 = f[0];
        assert_eq!(f0.kind, Kind::LargeOutbound);
        assert_eq!(f0.zone.as_deref(), Some("users"));
        assert!((50..=60).contains(&f0.severity), "{}", f0.severity);
        assert_eq!(f0.evidence["bytes_this_bucket"], 200_000_000);
        assert_eq!(f0.evidence["rule"], "baseline");
        assert!(
            f0.summary.starts_with(
                "internal host 10.1.0.50 (users) sent 200 MB to external hosts in 10 minutes, "
            ),
            "{}",
            f0.summary
        );
        assert!(
            f0.summary
                .ends_with(", 40× its usual 5.1 MB — mostly to external host 198.51.100.99"),
            "{}",
            f0.summary
        );
        // A minute later, still going: re-reported with the new total.
        assert!(f[1].summary.contains("sent 250 MB"), "{}", f[1].summary);
    }

    #[test]
    fn nightly_backup_becomes_the_baseline() {
        let mut r = rig();
        r.tick_every = 120;
        // Three days. 01:00-03:00 each night the backup server sends 3 GB per 10 minutes to
        // the cloud; a workstation sends a few MB per hour all day.
        let day0 = (T0 / (86_400 * S) + 1) * 86_400 * S;
        r.advance_to(day0);
        let mut night_findings = Vec::new();
        for day in 0..3i64 {
            for minute in 0..1440i64 {
                let at = day0 + (day * 1440 + minute) * 60 * S;
                r.advance_to(at);
                if (60..180).contains(&minute) {
                    r.feed(&out("10.2.0.10", "203.0.113.200", 300_000_000));
                }
                if minute % 60 == 0 {
                    r.feed(&out("10.1.0.7", "198.51.100.5", 4_000_000));
                }
            }
            night_findings.push(r.findings.len());
        }
        // The first night is new (and the host had no baseline): reported. Later nights are not.
        assert!(night_findings[0] >= 1, "{night_findings:?}");
        assert_eq!(night_findings[1], night_findings[0], "{:?}", r.findings);
        assert_eq!(night_findings[2], night_findings[0], "{:?}", r.findings);
        assert!(r.of("10.1.0.7").is_empty());
    }

    #[test]
    fn memory_is_bounded_under_many_sources_and_the_exfiltration_is_still_found() {
        let mut r = rig();
        let cap = r.d.memory();
        // Documented bound: 8192 sources × ~130 bytes, under 1.2 MB.
        assert!(cap < 1_200_000, "{cap}");
        let mut rng = Rng(5);
        r.advance_to(T0 + 400 * S);
        // 8 hours: 1M distinct internal sources (10.x.y.z, 2,100 a minute) sending a little, and
        // the planted host its usual 5 MB per bucket; then 2 GB in one bucket.
        for m in 0..480u32 {
            for _ in 0..2100 {
                let x = rng.next();
                r.feed(&rec(
                    v4(0x0a00_0000 | (x as u32 & 0x00ff_ffff)),
                    v4(0xcb00_7100),
                    80,
                    Proto::TCP,
                    Some(Action::Allow),
                ));
            }
            if m % 2 == 0 {
                r.feed(&out("10.1.0.50", "203.0.113.10", 1_000_000));
            }
            r.advance(60.0);
        }
        for _ in 0..10 {
            r.feed(&out("10.1.0.50", "198.51.100.99", 200_000_000));
            r.advance(30.0);
        }
        assert_eq!(r.d.memory(), cap);
        let f = r.of("10.1.0.50");
        assert!(!f.is_empty(), "exfiltration lost");
        assert_eq!(f[0].evidence["rule"], "baseline");
        assert!(r.findings.iter().all(|f| f.entity == "10.1.0.50"));
    }
}
