//! `port_scan`: one source probing many hosts on one port (horizontal sweep) or many ports on one
//! host (vertical) within a few minutes, counted per *source* from denied or failed attempts.
//!
//! What counts as a probe (allowed, completed traffic never does: a busy client reaching many
//! web servers, or a server answering many clients, is not scanning):
//! - a denied event, unless its TCP flags show it belongs to an existing conversation (ACK or
//!   RST set: late packets of expired states, which firewalls log in bulk);
//! - a connection record that never completed its handshake (`TcpFlags` CONN with SYN and no
//!   ACK: Zeek `S0`/`REJ`, a Suricata flow that was refused), whatever the verdict;
//! - not a denied *reply* of a service: source port below 1024 to a port at or above it (a DNS
//!   server's late answers to many client ports are not a vertical scan of the client).
//!
//! State: two capped set-associative tables ([`Assoc`]) of `(source, port) → distinct hosts`
//! and `(source, host) → distinct ports`, each distinct count exact to 32 and a linear-counting
//! estimate beyond ([`Distinct`]), in 5-minute windows anchored at each cell's first probe. Per
//! record: two keyed hashes and two bucket scans, probes only. Once per second `tick` reports the
//! sources whose cells crossed a threshold, grouped per source, at most once a minute per source.
//!
//! A key gets a cell at its second probe within the window: a [`SeenOnce`] filter (16K slots per
//! table) holds the first, and hands back its item, so counts stay exact while the one-off keys of
//! a spoofed flood never take a cell. Limit: under such a flood a filter slot lasts about 16,000
//! flood probes, so a scanner's second probe to the same cell must come within that (60/s
//! against a 1M/s flood); a slower one hidden in such a flood can be missed.

use std::collections::BTreeMap;

use serde_json::json;

use super::assoc::{Assoc, effective, rank};
use super::common::{
    Distinct, HOT_RESERVE, REPORT_EVERY_S, Sample, SeenOnce, count, ip, port_key, port_label,
    samples_json, sec, severity, top32,
};
use super::{Context, Detector, Finding, Kind, KindsOf, Obs, Sink, TickView};
use crate::aggregate::keyhash::KeyHasher;
use crate::event::{Action, Micros, Proto, TcpFlags};

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Window length, seconds (default 300).
    pub window_s: u32,
    /// Distinct hosts on one port from one source (default 25).
    pub horizontal_hosts: u32,
    /// Distinct ports on one host from one source (default 15).
    pub vertical_ports: u32,
    /// Slots of each of the two tables (default 4096).
    pub capacity: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window_s: 300,
            horizontal_hosts: 25,
            vertical_ports: 15,
            capacity: 4096,
        }
    }
}

/// One `(source, port)` or `(source, host)` cell.
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    /// Distinct hosts (horizontal) or ports (vertical) in the window.
    distinct: Distinct,
    probes: u32,
    /// Window start and latest probe, seconds.
    start: u32,
    last: u32,
    sample: Sample,
    /// On its table's hot list (cleared with the cell when its window starts over).
    hot: bool,
}

impl Cell {
    #[inline]
    fn hit(&mut self, now: u32, window: u32, item_hash: u64, o: &Obs<'_>) {
        if self.probes == 0 {
            // A new cell (the table hands it over cleared).
            self.start = now;
        } else if now.saturating_sub(self.start) >= window {
            *self = Cell {
                start: now,
                ..Cell::default()
            };
        }
        self.distinct.insert(item_hash);
        self.probes = self.probes.saturating_add(1);
        self.last = now;
        // The second probe of the window and every 16th after: varied samples, and none taken
        // for the one-off cells a spoofed flood creates.
        if self.probes & 15 == 2 {
            self.sample = Sample::of(o);
        }
    }

    /// A cell admitted by the seen-once filter: its first probe (at `start`, item `fp`).
    fn first(&mut self, start: u32, fp: u32) {
        self.start = start;
        self.last = start;
        self.probes = 1;
        self.distinct.insert_mixed(fp);
    }

    /// Distinct count, never above the probes seen.
    fn distinct(&self) -> u64 {
        self.distinct.estimate().min(u64::from(self.probes))
    }

    fn live(&self, now: u32, window: u32) -> bool {
        self.probes > 0 && now.saturating_sub(self.start) < window
    }
}

/// Last report per source: when, and how many probes it covered.
#[derive(Debug, Clone, Copy, Default)]
struct Reported {
    at: u32,
    probes: u64,
}

pub struct PortScan {
    s: Settings,
    kh: KeyHasher,
    /// `(source, port key)` → distinct destination hosts.
    horizontal: Assoc<(u128, u32), Cell>,
    /// `(source, destination)` → distinct port keys.
    vertical: Assoc<(u128, u128), Cell>,
    /// First sightings of `(source, port)` and `(source, destination)` keys.
    seen_h: SeenOnce,
    seen_v: SeenOnce,
    reported: Assoc<u128, Reported>,
    /// Cells whose distinct count reached their threshold: all that `tick` looks at until
    /// something fires. Sweeping both tables every second cost a cache miss per cell (the
    /// largest share of detection's cost on a busy edge, docs/PERFORMANCE.md). A cell joins
    /// when it crosses and leaves when its window is over or it is evicted.
    hot_h: Vec<(u128, u32)>,
    hot_v: Vec<(u128, u128)>,
}

impl PortScan {
    pub fn new(s: Settings, _now: Micros) -> Self {
        let cap = s.capacity.max(64);
        PortScan {
            kh: KeyHasher::get(),
            horizontal: Assoc::new(cap),
            vertical: Assoc::new(cap),
            seen_h: SeenOnce::new(16_384),
            seen_v: SeenOnce::new(16_384),
            reported: Assoc::new(1024),
            hot_h: Vec::with_capacity(HOT_RESERVE),
            hot_v: Vec::with_capacity(HOT_RESERVE),
            s,
        }
    }
}

/// One probe of `key` (hash `hash`) with item hash `item`: counted in its cell if it has one;
/// else the seen-once filter keeps it, and hands it back at the key's second probe within the
/// window, when the cell is made — one-off keys never get a cell.
#[allow(clippy::too_many_arguments)]
#[inline]
fn probe<K: Copy + Eq + Default>(
    t: &mut Assoc<K, Cell>,
    f: &mut SeenOnce,
    hot: &mut Vec<K>,
    thr: u64,
    key: K,
    hash: u64,
    now: u32,
    window: u32,
    item: u64,
    o: &Obs<'_>,
) {
    // Eviction: cells idle for a window first, then fewest distinct items, least recent (in
    // 2-second units: 256 of them span more than the window).
    let unit = now / 2;
    let stale = window.div_ceil(2).min(254);
    let c = if let Some((c, rk)) = t.get_mut(&key, hash) {
        c.hit(now, window, item, o);
        *rk = rank(c.distinct.size(), unit);
        c
    } else {
        let Some((fp, age)) = f.check(hash, unit, stale, top32(item)) else {
            return;
        };
        let (c, rk, _) = t.entry(key, hash, |r| effective(r, unit, stale));
        c.first(now.saturating_sub(2 * age), fp);
        c.hit(now, window, item, o);
        *rk = rank(c.distinct.size(), unit);
        c
    };
    // `size` is exact below Distinct::EXACT and never above the estimate beyond it: the cheap
    // test first, the estimate only for cells near a threshold.
    if !c.hot && c.distinct.size() >= thr.min(Distinct::EXACT as u64) && c.distinct() >= thr {
        c.hot = true;
        hot.push(key);
    }
}

/// True if the record is a probe (see the module docs).
#[inline]
fn is_probe(o: &Obs<'_>) -> bool {
    let r = o.r;
    let f = r.tcp_flags;
    if r.proto == Some(Proto::TCP) && f.is_known() {
        if f.is_conn() {
            return f.syn_without_ack();
        }
        if f.0 & (TcpFlags::ACK.0 | TcpFlags::RST.0) != 0 {
            return false;
        }
    }
    if r.action != Some(Action::Deny) {
        return false;
    }
    // A service answering: low source port to a high destination port.
    !matches!((r.src_port, r.dst_port), (Some(sp), Some(dp)) if sp != 0 && sp < 1024 && dp >= 1024)
}

impl KindsOf for PortScan {
    const KINDS: &'static [Kind] = &[Kind::PortScan];
}

/// What `tick` gathers about one source.
#[derive(Default)]
struct Agg {
    /// Best horizontal cell: (hosts, port key).
    horiz: Option<(u64, u32)>,
    /// Best vertical cell: (ports, host).
    vert: Option<(u64, u128)>,
    /// Live horizontal cells (ports probed) and vertical cells (hosts probed).
    ports: u64,
    hosts: u64,
    /// Probes in the horizontal and in the vertical cells (each probe is in one of each, except
    /// first sightings still in the filters): the larger is reported.
    probes: u64,
    probes_v: u64,
    start: u32,
    last: u32,
    saturated: bool,
    samples: Vec<Sample>,
}

impl Detector for PortScan {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    #[inline]
    fn observe(&mut self, o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {
        let (Some(src), Some(dst), Some(proto)) = (o.src, o.dst, o.r.proto) else {
            return;
        };
        let pk = match (proto, o.r.dst_port) {
            (Proto::ICMP | Proto::ICMPV6, _) => port_key(proto, 0),
            (p, Some(port)) if p.has_ports() => port_key(p, port),
            _ => return,
        };
        if !is_probe(o) {
            return;
        }
        let now = sec(o.now);
        let w = self.s.window_s.max(1);
        let kh = self.kh;
        let (hs, hd, hp) = (kh.addr(src), kh.addr(dst), kh.port(pk));
        let hh = kh.pair(hs, hp);
        let (hthr, vthr) = (
            u64::from(self.s.horizontal_hosts.max(1)),
            u64::from(self.s.vertical_ports.max(1)),
        );
        probe(
            &mut self.horizontal,
            &mut self.seen_h,
            &mut self.hot_h,
            hthr,
            (src, pk),
            hh,
            now,
            w,
            hd,
            o,
        );
        let hv = kh.pair(hs, hd);
        probe(
            &mut self.vertical,
            &mut self.seen_v,
            &mut self.hot_v,
            vthr,
            (src, dst),
            hv,
            now,
            w,
            hp,
            o,
        );
    }

    fn tick(&mut self, now: Micros, _view: &TickView<'_>, ctx: &Context, sink: &mut Sink) {
        let now = sec(now);
        let w = self.s.window_s.max(1);
        let (hthr, vthr) = (
            u64::from(self.s.horizontal_hosts.max(1)),
            u64::from(self.s.vertical_ports.max(1)),
        );
        // Pass 1: sources with a cell over a threshold and new probes since their last report.
        // Allocates only when something fires (rare by construction).
        let mut hits: BTreeMap<u128, Agg> = BTreeMap::new();
        let reported = &self.reported;
        let kh = self.kh;
        let due = |src: u128, last: u32| match reported.get(&src, kh.addr(src)) {
            Some(r) => last > r.at && now.saturating_sub(r.at) >= REPORT_EVERY_S,
            None => true,
        };
        let mut i = 0;
        while i < self.hot_h.len() {
            let key @ (src, pk) = self.hot_h[i];
            let h = kh.pair(kh.addr(src), kh.port(pk));
            match self.horizontal.get_mut(&key, h) {
                Some((c, _)) if c.hot && c.live(now, w) && c.distinct() >= hthr => {
                    i += 1;
                    if due(src, c.last) {
                        let a = hits.entry(src).or_default();
                        if a.horiz.is_none_or(|(n, _)| c.distinct() > n) {
                            a.horiz = Some((c.distinct(), pk));
                        }
                    }
                }
                other => {
                    // Window over, or evicted (the slot may hold another key by now).
                    if let Some((c, _)) = other {
                        c.hot = false;
                    }
                    self.hot_h.swap_remove(i);
                }
            }
        }
        let mut i = 0;
        while i < self.hot_v.len() {
            let key @ (src, dst) = self.hot_v[i];
            let h = kh.pair(kh.addr(src), kh.addr(dst));
            match self.vertical.get_mut(&key, h) {
                Some((c, _)) if c.hot && c.live(now, w) && c.distinct() >= vthr => {
                    i += 1;
                    if due(src, c.last) {
                        let a = hits.entry(src).or_default();
                        if a.vert.is_none_or(|(n, _)| c.distinct() > n) {
                            a.vert = Some((c.distinct(), dst));
                        }
                    }
                }
                other => {
                    if let Some((c, _)) = other {
                        c.hot = false;
                    }
                    self.hot_v.swap_remove(i);
                }
            }
        }
        if hits.is_empty() {
            return;
        }
        // Pass 2: the whole picture of each firing source from both tables.
        for (&(src, _), c) in self.horizontal.iter() {
            if let Some(a) = hits.get_mut(&src) {
                if c.live(now, w) {
                    a.ports += 1;
                    a.probes += u64::from(c.probes);
                    a.start = if a.start == 0 {
                        c.start
                    } else {
                        a.start.min(c.start)
                    };
                    a.last = a.last.max(c.last);
                    a.saturated |= c.distinct.saturated();
                    a.samples.push(c.sample);
                }
            }
        }
        for (&(src, _), c) in self.vertical.iter() {
            if let Some(a) = hits.get_mut(&src) {
                if c.live(now, w) {
                    a.hosts += 1;
                    a.probes_v += u64::from(c.probes);
                    a.start = if a.start == 0 {
                        c.start
                    } else {
                        a.start.min(c.start)
                    };
                    a.last = a.last.max(c.last);
                    a.saturated |= c.distinct.saturated();
                    a.samples.push(c.sample);
                }
            }
        }
        for (src, mut a) in hits {
            a.probes = a.probes.max(a.probes_v);
            let hosts = a.hosts.max(a.horiz.map_or(0, |h| h.0));
            let ports = a.ports.max(a.vert.map_or(0, |v| v.0));
            let prev = self.reported.get(&src, kh.addr(src)).copied();
            let new_probes = match prev {
                Some(p) if p.probes <= a.probes => a.probes - p.probes,
                _ => a.probes,
            };
            let (r, rk, _) = self
                .reported
                .entry(src, kh.addr(src), |r| effective(r, now / 60, 254));
            *r = Reported {
                at: now,
                probes: a.probes,
            };
            *rk = rank(1, now / 60);
            sink.push(self.finding(ctx, src, &a, hosts, ports, new_probes.max(1)));
        }
    }

    fn memory(&self) -> usize {
        self.horizontal.memory()
            + self.vertical.memory()
            + self.seen_h.memory()
            + self.seen_v.memory()
            + self.reported.memory()
            + self.hot_h.capacity() * 32
            + self.hot_v.capacity() * 32
    }
}

impl PortScan {
    fn finding(
        &self,
        ctx: &Context,
        src: u128,
        a: &Agg,
        hosts: u64,
        ports: u64,
        count_new: u64,
    ) -> Finding {
        let (hthr, vthr) = (
            f64::from(self.s.horizontal_hosts.max(1)),
            f64::from(self.s.vertical_ports.max(1)),
        );
        let src_ip = ip(src);
        let src_zone = ctx.zone_of(src);
        let who = ctx.describe(src_ip);
        let at_least = if a.saturated { "at least " } else { "" };
        let minutes = (a.last.saturating_sub(a.start) / 60 + 1).min(self.s.window_s.div_ceil(60));
        let mins = if minutes == 1 {
            "1 minute".to_string()
        } else {
            format!("{minutes} minutes")
        };
        let target_zone = |k: u128| {
            if ctx.zone_of(k).is_internal() {
                "internal"
            } else {
                "external"
            }
        };
        let plural = |n: u64, one: &str, many: &str| {
            format!("{} {}", count(n), if n == 1 { one } else { many })
        };
        let (summary, shape) = match (a.horiz, a.vert) {
            // Many ports on one host, and perhaps more hosts: lead with the ports.
            (_, Some((vp, host)))
                if a.horiz
                    .is_none_or(|(hh, _)| vp as f64 / vthr >= hh as f64 / hthr) =>
            {
                let on = if hosts > 1 {
                    plural(hosts, "host", &format!("{} hosts", target_zone(host)))
                } else {
                    ctx.describe(ip(host))
                };
                (
                    format!(
                        "{who} probed {at_least}{} on {on} in {mins} — likely a port scan",
                        plural(ports, "port", "ports")
                    ),
                    "vertical",
                )
            }
            (Some((hh, pk)), _) => {
                let more = if ports > 1 {
                    format!(" (and {} more)", plural(ports - 1, "port", "ports"))
                } else {
                    String::new()
                };
                let zone = a
                    .samples
                    .iter()
                    .find(|s| s.is_set())
                    .map_or("", |s| target_zone(s.dst));
                (
                    format!(
                        "{who} probed port {}{more} on {at_least}{} {zone} hosts in {mins} — likely a port scan",
                        port_label(pk),
                        count(hh.max(hosts))
                    ),
                    "horizontal",
                )
            }
            // Not reached (a source is gathered only with a firing cell); no panic in a daemon.
            _ => (
                format!(
                    "{who} probed {} on {} in {mins} — likely a port scan",
                    plural(ports, "port", "ports"),
                    plural(hosts, "host", "hosts")
                ),
                "mixed",
            ),
        };
        let ratio = (hosts as f64 / hthr).max(ports as f64 / vthr);
        // Internal hosts scanning is lateral movement or a compromised machine: investigate to
        // act now. Internet scanners hitting the perimeter are background noise: notable.
        let sev = if src_zone.is_internal() {
            severity(60, 80, ratio, 10.0)
        } else {
            severity(30, 50, ratio, 10.0)
        };
        Finding {
            kind: Kind::PortScan,
            entity: src_ip.to_string(),
            zone: ctx.zone_name(src_zone).map(str::to_string),
            severity: sev,
            summary,
            count: count_new,
            evidence: json!({
                "shape": shape,
                "hosts": hosts,
                "ports": ports,
                "probes": a.probes,
                "window_s": self.s.window_s,
                "top_port": a.horiz.map(|(n, pk)| json!({"port": port_label(pk), "hosts": n})),
                "top_host": a.vert.map(|(n, h)| json!({"host": ip(h).to_string(), "ports": n})),
                "at_least": a.saturated,
                "thresholds": {"horizontal_hosts": self.s.horizontal_hosts, "vertical_ports": self.s.vertical_ports},
                "samples": samples_json(&a.samples, 5),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testkit::*;

    fn rig() -> Rig<PortScan> {
        Rig::new(PortScan::new(Settings::default(), T0))
    }

    #[test]
    fn vertical_scan_of_one_host_fires() {
        let mut r = rig();
        // 10.1.4.22 (users) tries 30 ports on 10.2.0.5 (servers), one every 4 s. (Counts stay
        // within the exact range of the distinct counter, 32.)
        for p in 0..30u16 {
            r.feed(&deny("10.1.4.22", "10.2.0.5", 1000 + p));
            r.advance(4.0);
        }
        let f = r.of("10.1.4.22");
        // Reported when the 15th port was probed, and again a minute later (30 ports).
        assert_eq!(f.len(), 2, "{:?}", r.findings);
        let (f0, f1) = (f[0], f[1]);
        assert_eq!(f0.kind, Kind::PortScan);
        assert_eq!(f0.zone.as_deref(), Some("users"));
        assert!((60..=70).contains(&f0.severity), "{}", f0.severity);
        assert_eq!(
            f0.summary,
            "internal host 10.1.4.22 (users) probed 15 ports on internal host 10.2.0.5 (servers) in 1 minute — likely a port scan"
        );
        assert_eq!(f0.evidence["shape"], "vertical");
        assert_eq!(f0.evidence["samples"][0]["dst"], "10.2.0.5");
        assert_eq!(f0.count, 15);
        assert_eq!(
            f1.summary,
            "internal host 10.1.4.22 (users) probed 30 ports on internal host 10.2.0.5 (servers) in 2 minutes — likely a port scan"
        );
        assert_eq!(f1.count, 15);
        assert!(f1.severity > f0.severity);
        // Finished: nothing more.
        r.advance(600.0);
        assert_eq!(r.of("10.1.4.22").len(), 2);
    }

    #[test]
    fn horizontal_sweep_from_outside_fires_as_notable() {
        let mut r = rig();
        for h in 0..300u32 {
            let dst = v4(0x0a02_0000 + h); // 10.2.x.y (servers)
            r.feed(&rec(
                ipa("203.0.113.9"),
                dst,
                445,
                Proto::TCP,
                Some(Action::Deny),
            ));
            if h == 24 || h % 50 == 49 {
                r.advance(20.0);
            }
        }
        r.advance(1.0);
        let f = r.of("203.0.113.9");
        // Reported as soon as the 25th host was probed.
        assert_eq!(
            f[0].summary,
            "external host 203.0.113.9 probed port 445/tcp on 25 internal hosts in 1 minute — likely a port scan"
        );
        assert_eq!(f[0].evidence["shape"], "horizontal");
        assert_eq!(f[0].evidence["top_port"]["hosts"], 25);
        assert!(!f.is_empty());
        let last = f.last().unwrap();
        assert_eq!(last.zone.as_deref(), Some("external"));
        assert!((30..=50).contains(&last.severity), "{}", last.severity);
        // First report at the threshold crossing; all 300 hosts by the end (nearly exact).
        assert!(
            f[0].summary
                .starts_with("external host 203.0.113.9 probed port 445/tcp on "),
            "{}",
            f[0].summary
        );
        assert!(
            f[0].summary
                .ends_with("internal hosts in 1 minute — likely a port scan"),
            "{}",
            f[0].summary
        );
        // Past 32 the count is a linear-counting estimate (~3 % standard error at 300; the hash
        // seed changes every run): allow 10 %.
        let hosts = last.evidence["hosts"].as_u64().unwrap();
        assert!((270..=330).contains(&hosts), "{hosts}");
    }

    #[test]
    fn failed_connections_from_zeek_count_and_established_do_not() {
        let mut r = rig();
        for p in 0..20u16 {
            // Zeek S0 (no answer) toward many ports: a scan, though nothing was denied.
            let mut x = rec(ipa("10.1.9.9"), ipa("10.2.0.7"), 2000 + p, Proto::TCP, None);
            x.tcp_flags = TcpFlags::SYN | TcpFlags::CONN;
            r.feed(&x);
            // A client with 20 completed connections to 20 ports: not a scan.
            let mut y = rec(ipa("10.1.9.8"), ipa("10.2.0.7"), 2000 + p, Proto::TCP, None);
            y.tcp_flags = TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN | TcpFlags::CONN;
            r.feed(&y);
        }
        r.advance(2.0);
        assert_eq!(r.of("10.1.9.9").len(), 1);
        assert!(r.of("10.1.9.9")[0].summary.contains("probed 20 ports"));
        assert!(r.of("10.1.9.8").is_empty());
    }

    #[test]
    fn benign_busy_servers_and_clients_do_not_fire() {
        let mut r = rig();
        let mut rng = Rng(42);
        for i in 0..20_000u32 {
            // 2,000 clients querying the internal DNS server and web server: one destination
            // receiving many connections is not a scanner.
            let client = v4(0x0a01_0000 + (rng.next() % 2000) as u32);
            r.feed(&rec(
                client,
                ipa("10.2.0.53"),
                53,
                Proto::UDP,
                Some(Action::Allow),
            ));
            r.feed(&rec(
                client,
                ipa("10.2.0.80"),
                443,
                Proto::TCP,
                Some(Action::Allow),
            ));
            // The DNS server's late answers denied toward one client's many ephemeral ports.
            let mut late = rec(
                ipa("10.2.0.53"),
                ipa("10.1.0.7"),
                30_000 + (i % 500) as u16,
                Proto::UDP,
                Some(Action::Deny),
            );
            late.src_port = Some(53);
            r.feed(&late);
            // Blocked out-of-state ACK/FIN packets from a web server toward many client ports.
            let mut stale = deny("10.2.0.80", "10.1.0.9", 40_000 + (i % 700) as u16);
            stale.tcp_flags = TcpFlags::ACK | TcpFlags::FIN;
            stale.src_port = Some(443);
            r.feed(&stale);
            // A browser reaching 60 external web servers on 443, allowed.
            r.feed(&allow("10.1.0.20", &format!("198.51.100.{}", i % 60), 443));
            if i % 100 == 0 {
                r.advance(1.0);
            }
        }
        r.advance(10.0);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }

    #[test]
    fn memory_is_bounded_under_spoofed_sources_and_the_scanner_is_still_found() {
        let mut r = rig();
        let cap = r.d.memory();
        // Documented bound: two 4096-slot tables, two 128 KB filters and the report table,
        // under 2.9 MB.
        assert!(cap < 2_900_000, "{cap}");
        let mut rng = Rng(7);
        for i in 0..1_000_000u32 {
            let x = rng.next();
            let spoofed = v4((x >> 32) as u32);
            let dst = v4(0x0a02_0000 | (x as u32 & 0xffff));
            r.feed(&rec(
                spoofed,
                dst,
                (x >> 16) as u16,
                Proto::TCP,
                Some(Action::Deny),
            ));
            if i % 1_000 == 0 {
                // The real scanner: one probe per 1,000 spoofed records (20/s against 20,000/s),
                // 1,000 ports on one host. A new cell needs its second probe before about 8
                // newcomers land in its bucket (~4,000 flood records): see the module docs.
                r.feed(&deny("10.1.4.22", "10.2.0.5", 1 + (i / 1_000) as u16));
            }
            if i % 20_000 == 0 {
                r.advance(1.0);
            }
        }
        r.advance(1.0);
        assert_eq!(r.d.memory(), cap);
        let f = r.of("10.1.4.22");
        assert!(!f.is_empty(), "scanner lost");
        assert!(
            f.last()
                .unwrap()
                .summary
                .contains("on internal host 10.2.0.5 (servers)")
        );
        // Spoofed one-offs never reach a threshold.
        assert!(r.findings.iter().all(|f| f.entity == "10.1.4.22"));
    }
}
