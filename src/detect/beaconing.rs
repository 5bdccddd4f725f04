//! `beaconing`: an internal host contacting one external address at regular intervals with small,
//! similar sizes — the heartbeat of malware calling home (command and control).
//!
//! Connections: records of one `internal → external` pair, sessionised: a record more than
//! `min_interval_s` (default 5 s) after the pair's previous record starts a new connection; closer
//! ones belong to the current one (their bytes add up). Time is the log's own `ts` when it has one
//! (intervals survive batching and replay), else the engine's clock.
//!
//! Score (RITA-style, 0–1): for the intervals between connection starts and for the connection
//! sizes alike, `1 − |Bowley skewness|` and `1 − MADM / (25 % of the median)` (both floored at 0)
//! weighted 1:2; the beacon score is the mean of the two. A perfectly regular beacon of constant
//! size scores 1; 10 % timing jitter still scores about 0.85; browsing scores low. When the log
//! gives no sizes, the interval score alone is used. Fires at `min_score` (0.8) over at least
//! `min_connections` (10), when the median size is at most `max_median_bytes` (small), and not for
//! `ignore_ports` (DNS and NTP are regular by design).
//!
//! Only connections that got through count ([`reached`]): a denied record or a connection log's
//! never-answered handshake is no working channel, and refused retries are regular for benign
//! reasons (a client retrying a blocked mail relay).
//!
//! State: a direct-mapped "seen once" filter of pair hashes (64K × 8 bytes) so one-off pairs —
//! most traffic, and every spoofed flood — never take a slot; pairs seen twice move to a capped
//! set-associative table ([`Assoc`]) holding the last 32 intervals and sizes, evicting the pairs
//! with the fewest connections first. Per record: internal→external only, two keyed hashes and
//! one or two probes. `tick` scores pairs that gained a connection, at most once a minute each.

use serde_json::json;

use super::assoc::{Assoc, effective, rank};
use super::common::{
    REPORT_EVERY_S, Sample, bytes, count, ip, port_key, port_label, samples_json, sec,
};
use super::{Context, Detector, Finding, Kind, KindsOf, Obs, Sink, TickView};
use crate::aggregate::keyhash::KeyHasher;
use crate::event::{Action, Micros, Proto, Record};

/// Intervals and sizes kept per pair.
const RING: usize = 32;
/// Slots of the seen-once filter.
const FILTER: usize = 1 << 16;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Fewest connections scored (default 10).
    pub min_connections: u32,
    /// Records closer than this belong to one connection; shorter beacons are not seen (5 s).
    pub min_interval_s: u32,
    /// Score that fires, 0–1 (default 0.8).
    pub min_score: f64,
    /// Median connection size above which it is not "small" (default 100 KB).
    pub max_median_bytes: u64,
    /// Destination ports never scored (default 53, 123: DNS and NTP are regular by design).
    pub ignore_ports: Vec<u16>,
    /// Pairs tracked (default 4096).
    pub capacity: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_connections: 10,
            min_interval_s: 5,
            min_score: 0.8,
            max_median_bytes: 100_000,
            ignore_ports: vec![53, 123],
            capacity: 4096,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Pair {
    /// Start of the current connection and the pair's latest record, ms (log time).
    start_ms: u64,
    last_ms: u64,
    /// Intervals between connection starts, deciseconds (saturated at ~109 minutes).
    gaps: [u16; RING],
    /// Connection sizes, bytes.
    sizes: [u32; RING],
    /// Connections seen (the first one included), and at the last evaluation.
    conns: u32,
    evaluated: u32,
    reported_conns: u32,
    /// Engine seconds: first seen, last record, last report.
    first_s: u32,
    last_s: u32,
    reported_at: u32,
    port: u32,
    sample: Sample,
}

impl Pair {
    #[inline]
    fn size_slot(&mut self) -> &mut u32 {
        let i = (self.conns as usize + RING - 1) % RING;
        &mut self.sizes[i]
    }

    #[inline]
    fn add_size(&mut self, n: u64) {
        let s = self.size_slot();
        *s = u32::try_from(u64::from(*s).saturating_add(n)).unwrap_or(u32::MAX);
    }

    /// A new connection at `t_ms`.
    #[inline]
    fn start(&mut self, t_ms: u64, n: u64) {
        if self.conns > 0 {
            let gap_ds = t_ms.saturating_sub(self.start_ms) / 100;
            self.gaps[(self.conns as usize - 1) % RING] = u16::try_from(gap_ds).unwrap_or(u16::MAX);
        }
        self.conns = self.conns.saturating_add(1);
        *self.size_slot() = 0;
        self.add_size(n);
        self.start_ms = t_ms;
        self.last_ms = t_ms;
    }
}

/// Whether the record is a connection that got through: not denied by the firewall, and (for a
/// connection log) not a handshake that never completed (Zeek `S0`/`REJ`, a refused Suricata
/// flow). A beacon is a working channel to its controller; attempts that never left the network
/// or were never answered carry no commands. Repeated refused attempts are common and benign
/// (a client retrying a blocked SMTP relay, a blocked updater) and would otherwise score as
/// regular — a packet log writes the same SYN size for every one of them, so only their timing
/// would separate them from a beacon. Blocked attempts are `deny_burst`'s and `port_scan`'s to
/// report; records with no action (flow logs) count.
#[inline]
fn reached(r: &Record) -> bool {
    if r.action == Some(Action::Deny) {
        return false;
    }
    let f = r.tcp_flags;
    !(f.is_conn() && f.syn_without_ack())
}

/// Median, Bowley skewness and MADM (median absolute deviation about the median) of `v`.
fn dispersion(v: &mut [u32]) -> (f64, f64, f64) {
    v.sort_unstable();
    let q = |p: f64| {
        let x = p * (v.len() - 1) as f64;
        let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
        f64::from(v[lo]) + (f64::from(v[hi]) - f64::from(v[lo])) * (x - lo as f64)
    };
    let (q1, q2, q3) = (q(0.25), q(0.5), q(0.75));
    let skew = if q3 > q1 {
        (q3 + q1 - 2.0 * q2) / (q3 - q1)
    } else {
        0.0
    };
    let mut dev = [0u32; RING];
    let n = v.len();
    for (d, &x) in dev.iter_mut().zip(v.iter()) {
        *d = (f64::from(x) - q2).abs().round() as u32;
    }
    let dev = &mut dev[..n];
    dev.sort_unstable();
    let madm = if n % 2 == 1 {
        f64::from(dev[n / 2])
    } else {
        (f64::from(dev[n / 2 - 1]) + f64::from(dev[n / 2])) / 2.0
    };
    (q2, skew, madm)
}

/// `1 − |skew|` and `1 − madm / (25 % of the median)`, weighted 1:2 — the Bowley skewness of a
/// dozen samples is noisy (±0.3 for a uniform jitter), the MADM much less so; `unit` floors the
/// tolerance.
fn regularity(median: f64, skew: f64, madm: f64, unit: f64) -> f64 {
    let skew_score = (1.0 - skew.abs()).max(0.0);
    let madm_score = (1.0 - madm / (0.25 * median).max(unit)).max(0.0);
    (skew_score + 2.0 * madm_score) / 3.0
}

/// What `tick` computed for a pair.
struct Score {
    score: f64,
    ts_score: f64,
    ds_score: Option<f64>,
    interval_s: f64,
    interval_madm_s: f64,
    median_bytes: f64,
    scored: usize,
}

fn score(p: &Pair) -> Option<Score> {
    let n_gaps = (p.conns as usize).saturating_sub(1).min(RING);
    let n_sizes = (p.conns as usize).min(RING);
    if n_gaps < 2 {
        return None;
    }
    // The ring holds the latest entries in some rotation; order does not matter for quantiles.
    let mut g = [0u32; RING];
    for (d, &x) in g.iter_mut().zip(p.gaps.iter()).take(n_gaps) {
        *d = u32::from(x);
    }
    let (gm, gskew, gmadm) = dispersion(&mut g[..n_gaps]);
    // Timing tolerance: at least 1 s (10 ds) of slack however short the interval.
    let ts_score = regularity(gm, gskew, gmadm, 10.0);
    let mut s = [0u32; RING];
    s[..n_sizes].copy_from_slice(&p.sizes[..n_sizes]);
    let (sm, sskew, smadm) = dispersion(&mut s[..n_sizes]);
    // Sizes within ±32 bytes are "the same" whatever the median (headers vary a little).
    let ds_score = (sm > 0.0).then(|| regularity(sm, sskew, smadm, 128.0));
    let score = match ds_score {
        Some(d) => (ts_score + d) / 2.0,
        None => ts_score,
    };
    Some(Score {
        score,
        ts_score,
        ds_score,
        interval_s: gm / 10.0,
        interval_madm_s: gmadm / 10.0,
        median_bytes: sm,
        scored: n_gaps + 1,
    })
}

pub struct Beaconing {
    s: Settings,
    kh: KeyHasher,
    /// Pairs seen once: `tag (16 bits of the pair hash) << 48 | size (16 bits, saturated) << 32
    /// | second`.
    seen: Box<[u64]>,
    pairs: Assoc<(u128, u128), Pair>,
}

impl Beaconing {
    pub fn new(s: Settings, _now: Micros) -> Self {
        Beaconing {
            kh: KeyHasher::get(),
            seen: vec![0u64; FILTER].into_boxed_slice(),
            pairs: Assoc::new(s.capacity.max(64)),
            s,
        }
    }
}

impl KindsOf for Beaconing {
    const KINDS: &'static [Kind] = &[Kind::Beaconing];
}

impl Detector for Beaconing {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    #[inline]
    fn observe(&mut self, o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {
        if !o.src_zone.is_internal() || !o.dst_zone.is_external() {
            return;
        }
        if !reached(o.r) {
            return;
        }
        let (Some(src), Some(dst)) = (o.src, o.dst) else {
            return;
        };
        let r = o.r;
        if let Some(p) = r.dst_port {
            if self.s.ignore_ports.contains(&p) {
                return;
            }
        }
        let t_ms = u64::try_from(r.ts.unwrap_or(o.now) / 1000).unwrap_or(0);
        let now_s = sec(o.now);
        let min_ms = u64::from(self.s.min_interval_s) * 1000;
        let kh = self.kh;
        let h = kh.pair(kh.addr(src), kh.addr(dst));
        let minute = now_s / 60;
        if let Some((p, rk)) = self.pairs.get_mut(&(src, dst), h) {
            if t_ms < p.last_ms {
                // Out of order: part of what was seen.
                p.add_size(r.bytes);
                return;
            }
            if t_ms - p.last_ms < min_ms {
                p.add_size(r.bytes);
                p.last_ms = t_ms;
            } else {
                p.start(t_ms, r.bytes);
                if p.conns & 7 == 1 {
                    p.sample = Sample::of(o);
                }
            }
            p.last_s = now_s;
            *rk = rank(u64::from(p.conns), minute);
            return;
        }
        // Seen once before (same tag) long enough ago to be another connection: promote.
        let slot = &mut self.seen[h as usize & (FILTER - 1)];
        let tag = h >> 48;
        let t_s = (t_ms / 1000) & 0xffff_ffff;
        let e = *slot;
        if e != 0 && e >> 48 == tag {
            let seen_at = e & 0xffff_ffff;
            if t_s < seen_at + u64::from(self.s.min_interval_s) {
                return; // the same first connection
            }
            *slot = 0;
            // Eviction: pairs idle for two hours first, then fewest connections, least recent.
            let (p, rk, _) = self
                .pairs
                .entry((src, dst), h, |r| effective(r, minute, 120));
            // The first connection as the filter knew it (second resolution; its size only as
            // far as its first record, up to 64 KB).
            p.start(seen_at * 1000, (e >> 32) & 0xffff);
            p.start(t_ms, r.bytes);
            p.first_s = now_s;
            p.last_s = now_s;
            p.port = r
                .proto
                .zip(r.dst_port)
                .map_or(0, |(pr, port)| port_key(pr, port));
            p.sample = Sample::of(o);
            *rk = rank(u64::from(p.conns), minute);
        } else {
            *slot = (tag << 48) | (r.bytes.min(0xffff) << 32) | t_s;
        }
    }

    fn tick(&mut self, now: Micros, _view: &TickView<'_>, ctx: &Context, sink: &mut Sink) {
        let now_s = sec(now);
        let s = &self.s;
        self.pairs.retain(|&(src, dst), p| {
            if p.conns < s.min_connections || p.conns == p.evaluated {
                return true;
            }
            if p.reported_at != 0 && now_s.saturating_sub(p.reported_at) < REPORT_EVERY_S {
                return true;
            }
            p.evaluated = p.conns;
            let Some(sc) = score(p) else {
                return true;
            };
            if sc.score >= s.min_score
                && sc.median_bytes <= s.max_median_bytes as f64
                && sc.interval_s >= f64::from(s.min_interval_s)
            {
                let new = p.conns - p.reported_conns;
                p.reported_at = now_s;
                p.reported_conns = p.conns;
                sink.push(finding(s, ctx, src, dst, p, &sc, new));
            }
            true
        });
    }

    fn memory(&self) -> usize {
        self.seen.len() * 8 + self.pairs.memory()
    }
}

fn every(secs: f64) -> String {
    if secs >= 90.0 * 60.0 {
        format!("{:.1}-hour", secs / 3600.0)
    } else if secs >= 90.0 {
        format!("{:.0}-minute", secs / 60.0)
    } else {
        format!("{secs:.0}-second")
    }
}

fn finding(
    s: &Settings,
    ctx: &Context,
    src: u128,
    dst: u128,
    p: &Pair,
    sc: &Score,
    new: u32,
) -> Finding {
    let (src_ip, dst_ip) = (ip(src), ip(dst));
    let zone = ctx.zone_of(src);
    let on = if p.port != 0 && Proto((p.port >> 16) as u8).has_ports() {
        format!(" on {}", port_label(p.port))
    } else {
        String::new()
    };
    let sizes = match sc.ds_score {
        Some(_) => format!(
            " with similar small sizes (about {})",
            bytes(sc.median_bytes.round() as u64)
        ),
        None => String::new(),
    };
    let summary = format!(
        "{} contacted {}{on} {} times at a steady {} interval{sizes} — possible malware beaconing (regularity {:.2})",
        ctx.describe(src_ip),
        ctx.describe(dst_ip),
        count(u64::from(p.conns)),
        every(sc.interval_s),
        sc.score,
    );
    // Investigate: many benign agents poll too; the more regular, the higher.
    let t = ((sc.score - s.min_score) / (1.0 - s.min_score).max(0.01)).clamp(0.0, 1.0);
    let severity = (40.0 + 25.0 * t).round() as u8;
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    Finding {
        kind: Kind::Beaconing,
        entity: format!("{src_ip} → {dst_ip}"),
        zone: ctx.zone_name(zone).map(str::to_string),
        severity,
        summary,
        count: u64::from(new.max(1)),
        evidence: json!({
            "connections": p.conns,
            "connections_scored": sc.scored,
            "interval_median_s": round2(sc.interval_s),
            "interval_madm_s": round2(sc.interval_madm_s),
            "size_median_bytes": sc.median_bytes,
            "score": round2(sc.score),
            "interval_score": round2(sc.ts_score),
            "size_score": sc.ds_score.map(round2),
            "first_seen": crate::aggregate::rfc3339_millis(i64::from(p.first_s) * 1_000_000),
            "port": (p.port != 0).then(|| port_label(p.port)),
            "samples": samples_json([&p.sample], 1),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testkit::*;
    use crate::event::{Action, Record, TcpFlags};

    fn rig() -> Rig<Beaconing> {
        let mut r = Rig::new(Beaconing::new(Settings::default(), T0));
        r.tick_every = 10;
        r
    }

    fn conn(src: &str, dst: &str, port: u16, n: u64) -> Record {
        let mut x = rec(ipa(src), ipa(dst), port, Proto::TCP, Some(Action::Allow));
        x.bytes = n;
        x
    }

    #[test]
    fn regular_small_beacon_fires() {
        let mut r = rig();
        let mut rng = Rng(11);
        // Every 60 s ± 3 s, 300-330 bytes, for 20 minutes.
        for _ in 0..20 {
            let jitter = (rng.next() % 61) as f64 / 10.0 - 3.0;
            r.feed(&conn(
                "10.1.0.23",
                "198.51.100.7",
                443,
                300 + rng.next() % 31,
            ));
            r.advance(60.0 + jitter);
        }
        let f = r.of("10.1.0.23 → 198.51.100.7");
        assert!(!f.is_empty(), "{:?}", r.findings);
        let f0 = f[0];
        assert_eq!(f0.kind, Kind::Beaconing);
        assert_eq!(f0.zone.as_deref(), Some("users"));
        assert!((40..=65).contains(&f0.severity), "{}", f0.severity);
        // First scored at the 10th connection.
        assert_eq!(f0.evidence["connections"], 10);
        assert!(
            f0.summary.starts_with(
                "internal host 10.1.0.23 (users) contacted external host 198.51.100.7 on 443/tcp 10 times at a steady 60-second interval with similar small sizes (about 3"
            ),
            "{}",
            f0.summary
        );
        assert!(f0.evidence["score"].as_f64().unwrap() >= 0.8);
        // Reported again as it continues, at most once a minute.
        assert!(f.len() >= 5 && f.len() <= 11, "{}", f.len());
        assert_eq!(f.last().unwrap().evidence["connections"], 20);
    }

    #[test]
    fn refused_and_unanswered_attempts_are_not_beacons() {
        // The same perfectly regular timing (every 180 s, 60-byte SYN lines) three ways.
        let run = |action: Action, flags: TcpFlags| {
            let mut r = rig();
            for _ in 0..20 {
                let mut x = conn("10.1.0.24", "198.18.25.1", 25, 60);
                x.action = Some(action);
                x.tcp_flags = flags;
                r.feed(&x);
                r.advance(180.0);
            }
            r.findings
        };
        // A client retrying an SMTP relay the firewall refuses (packet log, denied).
        assert!(run(Action::Deny, TcpFlags::SYN).is_empty());
        // A connection log's handshakes that were never answered (Zeek S0) or refused (REJ).
        let s0 = TcpFlags::CONN | TcpFlags::SYN;
        assert!(run(Action::Allow, s0).is_empty());
        assert!(run(Action::Allow, s0 | TcpFlags::RST).is_empty());
        // Let through (a packet log's allowed SYN, a completed connection): a beacon.
        let f = run(Action::Allow, TcpFlags::SYN);
        assert!(!f.is_empty());
        assert_eq!(f[0].evidence["connections"], 10);
        let done = TcpFlags::CONN | TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN;
        assert!(!run(Action::Allow, done).is_empty());
    }

    #[test]
    fn browsing_dns_and_inbound_do_not_fire() {
        let mut r = rig();
        let mut rng = Rng(12);
        let mut t = 0.0;
        for _ in 0..300 {
            // A user browsing one site: irregular gaps (1 s to 10 min), sizes 500 B to 2 MB.
            let gap = 1.0 + (rng.next() % 600) as f64 * (rng.next() % 3) as f64 / 2.0;
            let size = 500 + rng.next() % 2_000_000;
            r.feed(&conn("10.1.0.30", "203.0.113.80", 443, size));
            // The resolver asking upstream every 30 s exactly (ignored port).
            if t as u64 % 30 == 0 {
                r.feed(&conn("10.2.0.53", "198.51.100.53", 53, 80));
            }
            // An Internet host polling our server every 60 s: inbound, not beaconing out.
            r.feed(&conn("198.51.100.9", "10.2.0.80", 443, 300));
            r.advance(gap);
            t += gap;
        }
        // A large regular transfer (a sync job every 5 min, 50 MB each): not small.
        for _ in 0..20 {
            r.feed(&conn("10.2.0.10", "203.0.113.200", 443, 50_000_000));
            r.advance(300.0);
        }
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }

    #[test]
    fn memory_is_bounded_under_random_pairs_and_the_beacon_is_still_found() {
        let mut r = rig();
        let cap = r.d.memory();
        // Documented bound: 512 KB filter + 4096 pairs × ~330 bytes, under 2 MB.
        assert!(cap < 2_000_000, "{cap}");
        let mut rng = Rng(13);
        // 1M one-off internal → external pairs over 40 minutes; a 60 s beacon among them.
        for m in 0..40u32 {
            for i in 0..25_000u32 {
                let x = rng.next();
                let src = v4(0x0a01_0000 | (x as u32 & 0xffff));
                let dst = v4(((x >> 32) as u32 & 0x7fff_ffff) | 0x0100_0000);
                r.feed(&rec(src, dst, 443, Proto::TCP, Some(Action::Allow)));
                if i == 12_500 {
                    r.feed(&conn("10.1.0.23", "198.51.100.7", 443, 320));
                }
                if i % 2500 == 2499 {
                    r.advance(6.0);
                }
            }
            let _ = m;
        }
        r.advance(1.0);
        assert_eq!(r.d.memory(), cap);
        let f = r.of("10.1.0.23 → 198.51.100.7");
        assert!(
            !f.is_empty(),
            "beacon lost among {} findings",
            r.findings.len()
        );
    }
}
