//! Seeded, labelled scenario logs for the detectors: hours of benign traffic (clients browsing,
//! DNS to the approved resolvers from random source ports, servers receiving connections, a
//! steady backup stream, NTP, internet noise against the edge) written as pf and iptables lines
//! with timestamps, with injected incidents of every detector kind, each labelled with its kind,
//! the entity strings that identify it and its event-time window.
//!
//! Three feeds: `edge-pf` (pf via syslog: the internet edge), `core-iptables` (UFW: east-west and
//! the internal servers), `branch-iptables` (Shorewall: a branch office). The same seed gives the
//! same bytes; `incidents: false` gives the benign background alone (the same background lines,
//! since incidents draw from their own random stream).
//!
//! Addresses: internal 10.0.0.0/8 (servers in 10.0.1.0/24, the "servers" zone); the internet
//! background uses the benchmarking range 198.18.0.0/15; incident actors use the documentation
//! ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24), so no background line ever names one.

use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::aggregate::{AggregateSettings, Cidr, ip_key};
use crate::demo::{precise_stamp, syslog_stamp};
use crate::detect::context::AddressList;
use crate::detect::{Context, DetectSettings, Kind};
use crate::event::Micros;
use crate::parse::{Format, FormatSpec};
use crate::replay::{Input, ReplayOptions};

const US: i64 = 1_000_000;

/// Feed names, formats and file names, by source id.
pub const FEEDS: [(&str, Format); 3] = [
    ("edge-pf", Format::Pf),
    ("core-iptables", Format::Iptables),
    ("branch-iptables", Format::Iptables),
];
const EDGE: usize = 0;
const CORE: usize = 1;
const BRANCH: usize = 2;

/// The approved resolvers: the two internal ones and their two upstream forwarders.
pub const APPROVED_RESOLVERS: [Ipv4Addr; 4] = [
    Ipv4Addr::new(10, 0, 0, 2),
    Ipv4Addr::new(10, 0, 0, 3),
    Ipv4Addr::new(192, 0, 2, 53),
    Ipv4Addr::new(198, 51, 100, 53),
];
/// The one watchlisted address (list "threat-intel").
pub const WATCHLISTED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 13);
/// Name of the watchlist.
pub const WATCHLIST: &str = "threat-intel";

/// What to generate.
#[derive(Debug, Clone)]
pub struct ScenarioOptions {
    pub seed: u64,
    /// Event time of the first second.
    pub start: Micros,
    pub duration: Duration,
    /// Background lines per second across the three feeds (incidents add on top).
    pub rate: u32,
    /// Inject the incidents (false: the benign background only).
    pub incidents: bool,
    /// Benign time before the first incident (detectors learn the site).
    pub warmup: Duration,
    /// Time from one incident's start to the next one's.
    pub spacing: Duration,
    /// NTP from the time server every 64 s (regular, benign, outbound).
    pub ntp: bool,
    /// Out-of-order lines: every 15 min one line 2 s early (accepted) and one 120 s early (late).
    pub disorder: bool,
}

impl Default for ScenarioOptions {
    fn default() -> Self {
        ScenarioOptions {
            seed: 4,
            // 2026-03-02T08:00:00Z
            start: crate::time::civil_to_micros(2026, 3, 2, 8, 0, 0, 0).unwrap_or(0),
            duration: Duration::from_secs(2 * 3600 + 15 * 60),
            rate: 10,
            incidents: true,
            warmup: Duration::from_secs(45 * 60),
            spacing: Duration::from_secs(5 * 60),
            ntp: true,
            disorder: true,
        }
    }
}

/// One injected incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// The kind that must fire.
    pub kind: Kind,
    /// Short name ("vertical port scan").
    pub name: &'static str,
    /// A matching anomaly's entity contains one of these (empty: any entity).
    pub keys: Vec<String>,
    /// Event time of the first and last incident line.
    pub start: Micros,
    pub end: Micros,
    /// Other kinds this incident may legitimately raise too (not counted as false positives,
    /// not counted for recall either).
    pub also: Vec<Kind>,
}

impl Label {
    /// Whether an anomaly with this entity, first seen at `at`, belongs to this incident as
    /// `kind` (`grace`: how long after the last line it may still open). As the incident's own
    /// kind the entity must name one of the keys; as one of the `also` kinds any entity goes (a
    /// flood's volume spike is about "all traffic" or a zone, not the flooder).
    pub fn matches(&self, kind: Kind, entity: &str, at: Micros, grace: Duration) -> bool {
        let g = i64::try_from(grace.as_micros()).unwrap_or(i64::MAX);
        let in_window = at >= self.start && at <= self.end.saturating_add(g);
        let named = self.keys.is_empty() || self.keys.iter().any(|k| entity.contains(k.as_str()));
        in_window && ((kind == self.kind && named) || self.also.contains(&kind))
    }
}

/// A generated scenario: the feeds' lines and the labels.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub options: ScenarioOptions,
    /// One buffer of `\n`-terminated lines per feed of [`FEEDS`].
    pub feeds: Vec<Vec<u8>>,
    pub labels: Vec<Label>,
    /// Lines written early by more than the default tolerance (the replay counts them late).
    pub late_lines: u64,
    /// Lines written early by less than the tolerance.
    pub reordered_lines: u64,
}

impl Scenario {
    /// Generates the whole scenario in memory.
    pub fn generate(options: ScenarioOptions) -> Scenario {
        let mut feeds = vec![Vec::new(), Vec::new(), Vec::new()];
        let (labels, late, reordered) = {
            let [a, b, c] = &mut feeds[..] else {
                unreachable!("three feeds")
            };
            let mut sinks: [&mut dyn Write; 3] = [a, b, c];
            // Writing to a Vec cannot fail.
            generate_into(&options, &mut sinks).unwrap_or_default()
        };
        Scenario {
            options,
            feeds,
            labels,
            late_lines: late,
            reordered_lines: reordered,
        }
    }

    /// The feeds as replay inputs (in-memory readers over copies of the buffers).
    pub fn inputs(&self) -> Vec<Input> {
        FEEDS
            .iter()
            .zip(&self.feeds)
            .map(|((name, _), buf)| Input::reader(*name, io::Cursor::new(buf.clone())))
            .collect()
    }

    /// Writes the feeds as `DIR/<feed>.log`; returns the paths, by source id.
    pub fn write_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        FEEDS
            .iter()
            .zip(&self.feeds)
            .map(|((name, _), buf)| {
                let p = dir.join(format!("{name}.log"));
                std::fs::write(&p, buf)?;
                Ok(p)
            })
            .collect()
    }

    /// Year of the scenario's syslog dates.
    pub fn year(&self) -> i32 {
        crate::time::year_of(self.options.start)
    }

    /// Replay options for this scenario: its year, pf/iptables per feed detected, the
    /// scenario's site [`context`] and [`detect_settings`].
    pub fn replay_options(&self) -> ReplayOptions {
        ReplayOptions {
            format: FormatSpec::Auto,
            year: Some(self.year()),
            aggregate: AggregateSettings {
                internal_networks: vec![cidr("10.0.0.0/8")],
                context: context(),
                detect: detect_settings(),
                ..AggregateSettings::default()
            },
            ..ReplayOptions::default()
        }
    }
}

fn cidr(s: &str) -> Cidr {
    s.parse().expect("a valid literal CIDR")
}

/// The `[detect]` settings of the scenario: the defaults, except a 30-minute learning period for
/// the first-seen kinds (the default day is longer than a short scenario).
pub const DETECT_TOML: &str =
    "[first_seen_host]\nlearning = \"30m\"\n\n[first_seen_service]\nlearning = \"30m\"\n";

/// [`DETECT_TOML`] as settings.
pub fn detect_settings() -> DetectSettings {
    toml::from_str::<toml::Table>(DETECT_TOML)
        .ok()
        .and_then(|t| DetectSettings::from_table(&t).ok())
        .unwrap_or_default()
}

/// A config file for `socwall replay --config` that gives the scenario's site: networks, zone,
/// approved resolvers, the watchlist (written next to it as `watchlist.txt`), [`DETECT_TOML`].
pub fn config_toml(watchlist: &Path) -> String {
    let resolvers: Vec<String> = APPROVED_RESOLVERS
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect();
    let detect: String = DETECT_TOML
        .lines()
        .map(|l| match l.strip_prefix('[') {
            Some(rest) => format!("[detect.{rest}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    format!(
        "# The site of `socwall scenario`: replay its logs with\n# socwall replay --config THIS --year 2026 --anomalies-out - *.log\n\n[networks]\ninternal = [\"10.0.0.0/8\"]\n\n[networks.zones]\nservers = [\"10.0.1.0/24\"]\n\n[dns]\napproved_resolvers = [{}]\n\n[[watchlist]]\nname = \"{WATCHLIST}\"\npath = {:?}\n\n{detect}",
        resolvers.join(", "),
        watchlist.display().to_string()
    )
}

/// What the detectors know about the scenario's site: internal 10.0.0.0/8, the "servers" zone
/// 10.0.1.0/24, the approved resolvers, and the "threat-intel" watchlist.
pub fn context() -> Context {
    let mut ctx = Context::new(
        &[cidr("10.0.0.0/8")],
        &[("servers".to_string(), vec![cidr("10.0.1.0/24")])],
    );
    ctx.approved_resolvers = APPROVED_RESOLVERS
        .iter()
        .map(|&a| ip_key(a.into()))
        .collect();
    let mut list = AddressList::new(WATCHLIST);
    list.add(cidr(&format!("{WATCHLISTED}/32")));
    ctx.watchlists = vec![list];
    ctx
}

/// Generates straight into `DIR/<feed>.log` files (for long scenarios); returns the labels and
/// the counts of late and reordered lines.
pub fn write_files(o: &ScenarioOptions, dir: &Path) -> io::Result<(Vec<Label>, u64, u64)> {
    std::fs::create_dir_all(dir)?;
    let open = |name: &str| -> io::Result<io::BufWriter<std::fs::File>> {
        Ok(io::BufWriter::with_capacity(
            256 << 10,
            std::fs::File::create(dir.join(format!("{name}.log")))?,
        ))
    };
    let (mut a, mut b, mut c) = (open(FEEDS[0].0)?, open(FEEDS[1].0)?, open(FEEDS[2].0)?);
    let out = {
        let mut sinks: [&mut dyn Write; 3] = [&mut a, &mut b, &mut c];
        generate_into(o, &mut sinks)?
    };
    a.flush()?;
    b.flush()?;
    c.flush()?;
    let watchlist = std::path::absolute(dir.join("watchlist.txt"))?;
    std::fs::write(&watchlist, format!("# {WATCHLIST}\n{WATCHLISTED}\n"))?;
    std::fs::write(dir.join("socwall.toml"), config_toml(&watchlist))?;
    Ok(out)
}

/// Generates into three sinks (edge, core, branch), one second at a time, so a long scenario
/// can go straight to files. Returns the labels and the counts of late and reordered lines.
pub fn generate_into(
    o: &ScenarioOptions,
    sinks: &mut [&mut dyn Write; 3],
) -> io::Result<(Vec<Label>, u64, u64)> {
    let mut g = Gen {
        bg: Rng::new(o.seed),
        inc: Rng::new(o.seed ^ 0x5DEE_CE66_D1CE_5EED),
        lines: [Vec::new(), Vec::new(), Vec::new()],
        carry: 0.0,
    };
    let plan = Plan::new(o);
    let secs = i64::try_from(o.duration.as_secs()).unwrap_or(i64::MAX);
    let t0 = o.start.div_euclid(US);
    let (mut late, mut reordered) = (0u64, 0u64);
    for s in 0..secs {
        let sec = t0 + s;
        g.background(o, s, sec, &plan);
        if o.incidents {
            g.incidents(&plan, sec);
        }
        if o.disorder && s > 0 && s % 900 == 450 {
            // One line 2 s early (within the tolerance) on core, one 120 s early on edge.
            let (src, dst) = (g.bg.client(), g.bg.server());
            let l = g.bg.core_allow(sec - 2, src, dst, 443, 60);
            g.push(CORE, 0, l);
            let src = g.bg.client();
            let dst = g.bg.internet();
            let l = g.bg.pf_pass_out((sec - 120) * US + 1, src, dst, 443);
            g.push(EDGE, 0, l);
            late += 1;
            reordered += 1;
        }
        g.flush(sinks)?;
    }
    let labels = if o.incidents {
        plan.labels()
    } else {
        Vec::new()
    };
    Ok((labels, late, reordered))
}

/// xorshift64*: plenty for synthetic traffic, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// An internal client (200 of them).
    fn client(&mut self) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 3 + self.below(3) as u8, 10 + self.below(67) as u8)
    }

    fn branch_client(&mut self) -> Ipv4Addr {
        Ipv4Addr::new(10, 20, 0, 10 + self.below(40) as u8)
    }

    /// An internal server (10.0.1.5–10.0.1.34).
    fn server(&mut self) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 1, 5 + self.below(30) as u8)
    }

    /// A background internet address: the benchmarking range only.
    fn internet(&mut self) -> Ipv4Addr {
        Ipv4Addr::new(
            198,
            18 + self.below(2) as u8,
            self.below(256) as u8,
            1 + self.below(254) as u8,
        )
    }

    fn sport(&mut self) -> u16 {
        32768 + self.below(28000) as u16
    }

    fn pf_pass_out(&mut self, at: Micros, src: Ipv4Addr, dst: Ipv4Addr, port: u16) -> String {
        let sport = self.sport();
        let seq = self.next() as u32;
        pf(
            at,
            "12",
            "pass out on em1",
            src,
            sport,
            dst,
            port,
            &format!("Flags [S], seq {seq}, win 64240, length 0"),
        )
    }

    fn core_allow(
        &mut self,
        sec: i64,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        port: u16,
        len: u64,
    ) -> String {
        let sport = self.sport();
        let id = self.below(65535);
        ufw(sec, "ALLOW", src, dst, "TCP", sport, port, len, id)
    }
}

/// A pf line as OpenBSD's pflogd + syslog write it (`tcpdump -e`-less style).
#[allow(clippy::too_many_arguments)]
fn pf(
    at: Micros,
    rule: &str,
    what: &str,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    rest: &str,
) -> String {
    format!(
        "{} edge-fw pf: {} rule {rule}/(match) {what}: {src}.{sport} > {dst}.{dport}: {rest}",
        syslog_stamp(at),
        precise_stamp(at)
    )
}

/// A UFW line (core firewall).
#[allow(clippy::too_many_arguments)]
fn ufw(
    sec: i64,
    verdict: &str,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: &str,
    sport: u16,
    dport: u16,
    len: u64,
    id: u64,
) -> String {
    let tail = if proto == "UDP" {
        format!("SPT={sport} DPT={dport} LEN={}", len.saturating_sub(20))
    } else {
        format!("SPT={sport} DPT={dport} WINDOW=64240 RES=0x00 SYN URGP=0")
    };
    format!(
        "{} core-1 kernel: [UFW {verdict}] IN=eth0 OUT=eth1 MAC= SRC={src} DST={dst} LEN={len} TOS=0x00 PREC=0x00 TTL=64 ID={id} DF PROTO={proto} {tail}",
        syslog_stamp(sec * US)
    )
}

/// A Shorewall line (branch gateway).
#[allow(clippy::too_many_arguments)]
fn shorewall(
    sec: i64,
    accept: bool,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: &str,
    sport: u16,
    dport: u16,
    len: u64,
) -> String {
    let tail = if proto == "UDP" {
        format!("SPT={sport} DPT={dport} LEN={}", len.saturating_sub(20))
    } else {
        format!("SPT={sport} DPT={dport} WINDOW=64240 RES=0x00 SYN URGP=0")
    };
    format!(
        "{} branch-gw kernel: Shorewall:loc2net:{}:IN=eth1 OUT=eth0 SRC={src} DST={dst} LEN={len} TOS=0x00 PREC=0x00 TTL=63 ID={} DF PROTO={proto} {tail}",
        syslog_stamp(sec * US),
        if accept { "ACCEPT" } else { "REJECT" },
        (sec as u64).wrapping_mul(2_654_435_761) % 65535
    )
}

/// Mail relays the branch's clients try to reach directly (refused).
const MAIL_RELAYS: [Ipv4Addr; 2] = [Ipv4Addr::new(198, 18, 25, 1), Ipv4Addr::new(198, 18, 25, 2)];
const QNAMES: &[&str] = &[
    "www.example.com",
    "mail.example.net",
    "cdn.example.org",
    "intranet.example.com",
    "updates.example.net",
];
const SERVER_PORTS: &[u16] = &[443, 443, 443, 80, 445, 389, 88, 636];
const INBOUND_NOISE_PORTS: &[u16] = &[22, 23, 25, 80, 443, 445, 1433, 3306, 3389, 5900, 8080];

/// The incident timetable, derived from the options.
struct Plan {
    /// Start second of each slot, in [`Slot`] order.
    at: Vec<i64>,
    beacon_start: i64,
    beacon_end: i64,
    silence: (i64, i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    VerticalScan,
    HorizontalScan,
    DenyBurst,
    VolumeSpike,
    FirstSeenHost,
    FirstSeenService,
    FixedDnsPort,
    UnapprovedResolver,
    LargeOutbound,
    SynFlood,
    WatchlistHit,
    ParseErrors,
    FeedSilence,
}

/// In this order, one every `spacing`: the volume spike after the detectors' hour of warm-up and
/// before the floods (which lift the recent level for half an hour).
const SLOTS: [Slot; 13] = [
    Slot::VerticalScan,
    Slot::HorizontalScan,
    Slot::DenyBurst,
    Slot::FirstSeenHost,
    Slot::FirstSeenService,
    Slot::VolumeSpike,
    Slot::FixedDnsPort,
    Slot::UnapprovedResolver,
    Slot::WatchlistHit,
    Slot::LargeOutbound,
    Slot::SynFlood,
    Slot::ParseErrors,
    Slot::FeedSilence,
];

/// How long each burst-like incident lasts (seconds).
const BURST_S: i64 = 60;
const LONG_S: i64 = 120;
/// Beacon period and jitter.
const BEACON_PERIOD_S: i64 = 60;
const BEACON_JITTER_S: i64 = 2;
const BEACON_COUNT: i64 = 40;
/// How long the branch feed stays silent.
const SILENCE_S: i64 = 600;

const SCANNER_V: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);
const SCAN_V_TARGET: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 20);
const SCANNER_H: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 99);
const BRUTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 23);
const BRUTE_TARGET: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const NEW_HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 9, 99);
const NEW_SERVICE_HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 30);
const NEW_SERVICE_PORT: u16 = 8443;
/// A server on which someone starts an old BIND: it resolves on its own, querying root and TLD
/// servers always from port 1030 (and, not being an approved resolver, bypasses them too).
const FIXED_DNS_HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 15);
/// Root/TLD servers it queries (five or more distinct servers is what tells a fixed port from
/// a forwarder talking to its one or two upstreams).
const DNS_ROOTS: [Ipv4Addr; 6] = [
    Ipv4Addr::new(192, 0, 2, 201),
    Ipv4Addr::new(192, 0, 2, 202),
    Ipv4Addr::new(198, 51, 100, 201),
    Ipv4Addr::new(198, 51, 100, 202),
    Ipv4Addr::new(203, 0, 113, 201),
    Ipv4Addr::new(203, 0, 113, 202),
];
const FIXED_DNS_PORT: u16 = 1030;
const ROGUE_DNS_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 71);
const ROGUE_RESOLVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 250);
const BEACON_HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 4, 70);
const BEACON_C2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 77);
const EXFIL_HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 24);
const EXFIL_DST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 200);
const FLOOD_TARGET: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 5);
const WATCH_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 66);
const NTP_SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 123);
const NTP_UPSTREAM: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 123);
const BACKUP_SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 50);

impl Plan {
    fn new(o: &ScenarioOptions) -> Plan {
        let first = o.start.div_euclid(US) + o.warmup.as_secs() as i64;
        let step = o.spacing.as_secs().max(1) as i64;
        let at: Vec<i64> = (0..SLOTS.len() as i64).map(|i| first + i * step).collect();
        let beacon_start = at[2] + 30;
        let silence_start = at[SLOTS.len() - 1];
        Plan {
            beacon_start,
            beacon_end: beacon_start + BEACON_PERIOD_S * (BEACON_COUNT - 1) + BEACON_JITTER_S,
            silence: (silence_start, silence_start + SILENCE_S),
            at,
        }
    }

    fn start(&self, slot: Slot) -> i64 {
        let i = SLOTS.iter().position(|&s| s == slot).unwrap_or(0);
        self.at[i]
    }

    /// Whether `sec` lies in `slot`'s active window of `len` seconds.
    fn active(&self, slot: Slot, sec: i64, len: i64) -> Option<i64> {
        let s = self.start(slot);
        (sec >= s && sec < s + len).then_some(sec - s)
    }

    fn labels(&self) -> Vec<Label> {
        let l = |kind, name, keys: &[&str], start: i64, len: i64, also: &[Kind]| Label {
            kind,
            name,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            start: start * US,
            end: (start + len) * US - 1,
            also: also.to_vec(),
        };
        let s = |slot| self.start(slot);
        vec![
            l(
                Kind::PortScan,
                "vertical port scan",
                &["203.0.113.66"],
                s(Slot::VerticalScan),
                BURST_S,
                &[Kind::DenyBurst],
            ),
            l(
                Kind::PortScan,
                "horizontal port scan",
                &["198.51.100.99"],
                s(Slot::HorizontalScan),
                BURST_S,
                &[Kind::DenyBurst],
            ),
            l(
                Kind::DenyBurst,
                "telnet brute force",
                &["192.0.2.23"],
                s(Slot::DenyBurst),
                BURST_S,
                &[Kind::VolumeSpike],
            ),
            l(
                Kind::VolumeSpike,
                "flash crowd",
                &[],
                s(Slot::VolumeSpike),
                LONG_S,
                &[],
            ),
            l(
                Kind::FirstSeenHost,
                "new internal host",
                &["10.0.9.99"],
                s(Slot::FirstSeenHost),
                LONG_S,
                &[],
            ),
            l(
                Kind::FirstSeenService,
                "new service tcp/8443",
                &["8443"],
                s(Slot::FirstSeenService),
                LONG_S,
                &[],
            ),
            l(
                Kind::FixedDnsSourcePort,
                "DNS from port 1030",
                &["10.0.1.15"],
                s(Slot::FixedDnsPort),
                LONG_S,
                &[Kind::UnapprovedResolver],
            ),
            l(
                Kind::UnapprovedResolver,
                "unapproved resolver",
                &["10.0.3.71", "203.0.113.250"],
                s(Slot::UnapprovedResolver),
                LONG_S,
                &[],
            ),
            l(
                Kind::LargeOutbound,
                "large outbound transfer",
                &["10.0.1.24", "203.0.113.200"],
                s(Slot::LargeOutbound),
                LONG_S,
                &[Kind::VolumeSpike],
            ),
            l(
                Kind::SynFlood,
                "SYN flood",
                &["10.0.1.5"],
                s(Slot::SynFlood),
                BURST_S,
                &[Kind::VolumeSpike, Kind::DenyBurst],
            ),
            l(
                Kind::WatchlistHit,
                "watchlisted destination",
                &["203.0.113.13", "10.0.3.66"],
                s(Slot::WatchlistHit),
                BURST_S,
                &[],
            ),
            l(
                Kind::ParseErrors,
                "parse-error jump",
                &["core-iptables"],
                s(Slot::ParseErrors),
                LONG_S,
                &[],
            ),
            l(
                Kind::FeedSilence,
                "branch feed silent",
                &["branch-iptables"],
                self.silence.0,
                self.silence.1 - self.silence.0,
                &[],
            ),
            l(
                Kind::Beaconing,
                "beacon every 60 s ± 2 s",
                &["10.0.4.70", "198.51.100.77"],
                self.beacon_start,
                self.beacon_end - self.beacon_start + 1,
                &[],
            ),
        ]
    }
}

struct Gen {
    /// Background randomness.
    bg: Rng,
    /// Incident randomness (separate, so the benign background is identical without incidents).
    inc: Rng,
    /// This second's lines per feed, with their offset in µs.
    lines: [Vec<(u32, String)>; 3],
    carry: f64,
}

impl Gen {
    fn push(&mut self, feed: usize, offset: u32, line: String) {
        self.lines[feed].push((offset, line));
    }

    fn flush(&mut self, sinks: &mut [&mut dyn Write; 3]) -> io::Result<()> {
        for (lines, sink) in self.lines.iter_mut().zip(sinks.iter_mut()) {
            lines.sort_by_key(|(o, _)| *o);
            for (_, l) in lines.drain(..) {
                sink.write_all(l.as_bytes())?;
                sink.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn background(&mut self, o: &ScenarioOptions, s: i64, sec: i64, plan: &Plan) {
        self.carry += f64::from(o.rate);
        let n = self.carry as u32;
        self.carry -= f64::from(n);
        let branch_silent = o.incidents && sec >= plan.silence.0 && sec < plan.silence.1;
        for _ in 0..n {
            let off = self.bg.below(1_000_000) as u32;
            let at = sec * US + i64::from(off);
            let r = &mut self.bg;
            match r.below(20) {
                // Edge: clients browsing (pass out).
                0..=5 => {
                    let (src, dst) = (r.client(), r.internet());
                    let port = r.pick(&[443, 443, 443, 80, 993]);
                    let l = r.pf_pass_out(at, src, dst, port);
                    self.push(EDGE, off, l);
                }
                // Edge: internet noise against the public address, blocked.
                6..=7 => {
                    let src = r.internet();
                    let port = r.pick(INBOUND_NOISE_PORTS);
                    let (sport, seq) = (1024 + r.below(60000) as u16, r.next() as u32);
                    let l = pf(
                        at,
                        "def",
                        "block in on em0",
                        src,
                        sport,
                        Ipv4Addr::new(203, 0, 113, 10),
                        port,
                        &format!("Flags [S], seq {seq}, win 1024, length 0"),
                    );
                    self.push(EDGE, off, l);
                }
                // Edge: the resolvers forward to their upstreams, random source ports.
                8 => {
                    let src = r.pick(&APPROVED_RESOLVERS[..2]);
                    let dst = r.pick(&APPROVED_RESOLVERS[2..]);
                    let (sport, id, q) =
                        (1024 + r.below(64000) as u16, r.below(65535), r.pick(QNAMES));
                    let l = pf(
                        at,
                        "14",
                        "pass out on em1",
                        src,
                        sport,
                        dst,
                        53,
                        &format!("{id}+ A? {q}. (33)"),
                    );
                    self.push(EDGE, off, l);
                }
                // Edge: the public web server (DMZ) receives connections.
                9 => {
                    let src = r.internet();
                    let (sport, seq) = (r.sport(), r.next() as u32);
                    let l = pf(
                        at,
                        "20",
                        "pass in on em0",
                        src,
                        sport,
                        Ipv4Addr::new(10, 0, 1, 5),
                        443,
                        &format!("Flags [S], seq {seq}, win 64240, length 0"),
                    );
                    self.push(EDGE, off, l);
                }
                // Core: clients to the internal servers.
                10..=13 => {
                    let (src, dst, port) = (r.client(), r.server(), r.pick(SERVER_PORTS));
                    let len = 60 + r.below(1400);
                    let l = r.core_allow(sec, src, dst, port, len);
                    self.push(CORE, off, l);
                }
                // Core: clients to the internal resolvers, random source ports.
                14..=15 => {
                    let (src, dst) = (r.client(), r.pick(&APPROVED_RESOLVERS[..2]));
                    let (sport, id) = (1024 + r.below(64000) as u16, r.below(65535));
                    let l = ufw(sec, "ALLOW", src, dst, "UDP", sport, 53, 72, id);
                    self.push(CORE, off, l);
                }
                // Core: an admin port tried now and then, blocked.
                16 => {
                    let (src, dst, port) = (r.client(), r.server(), r.pick(&[22, 3389, 5432]));
                    let (sport, id) = (r.sport(), r.below(65535));
                    let l = ufw(sec, "BLOCK", src, dst, "TCP", sport, port, 60, id);
                    self.push(CORE, off, l);
                }
                // Branch office to the internet and to the resolvers.
                _ if !branch_silent => {
                    let src = r.branch_client();
                    let l = match r.below(6) {
                        0 => {
                            let dst = r.pick(&APPROVED_RESOLVERS[..2]);
                            let sport = 1024 + r.below(64000) as u16;
                            shorewall(sec, true, src, dst, "UDP", sport, 53, 72)
                        }
                        1 => {
                            // Mail only through the provider's relays: direct SMTP is refused.
                            let (dst, sport) = (r.pick(&MAIL_RELAYS), r.sport());
                            shorewall(sec, false, src, dst, "TCP", sport, 25, 60)
                        }
                        _ => {
                            let (dst, sport, len) = (r.internet(), r.sport(), 60 + r.below(500));
                            shorewall(sec, true, src, dst, "TCP", sport, 443, len)
                        }
                    };
                    self.push(BRANCH, off, l);
                }
                _ => {}
            }
        }
        // The steady backup stream: every server to the backup server, 2 packets a second.
        for _ in 0..2 {
            let off = self.bg.below(1_000_000) as u32;
            let src = self.bg.server();
            let id = self.bg.below(65535);
            let l = ufw(
                sec,
                "ALLOW",
                src,
                BACKUP_SERVER,
                "TCP",
                40000,
                9102,
                1500,
                id,
            );
            self.push(CORE, off, l);
        }
        // NTP: the time server asks its upstream every 64 s.
        if o.ntp && s % 64 == 7 {
            let l = pf(
                sec * US + 250_000,
                "15",
                "pass out on em1",
                NTP_SERVER,
                123,
                NTP_UPSTREAM,
                123,
                "NTPv4, Client, length 48",
            );
            self.push(EDGE, 250_000, l);
        }
    }

    fn incidents(&mut self, plan: &Plan, sec: i64) {
        let r = &mut self.inc;
        let mut out: Vec<(usize, u32, String)> = Vec::new();
        let off = |r: &mut Rng| r.below(1_000_000) as u32;
        // Vertical port scan: ports 1–1024 of one server in 60 s, blocked at the edge.
        if let Some(i) = plan.active(Slot::VerticalScan, sec, BURST_S) {
            for k in 0..17 {
                let port = (i * 17 + k + 1) as u16;
                let o = off(r);
                let (sport, seq) = (40000 + r.below(2000) as u16, r.next() as u32);
                let l = pf(
                    sec * US + i64::from(o),
                    "def",
                    "block in on em0",
                    SCANNER_V,
                    sport,
                    SCAN_V_TARGET,
                    port,
                    &format!("Flags [S], seq {seq}, win 1024, length 0"),
                );
                out.push((EDGE, o, l));
            }
        }
        // Horizontal port scan: 10.0.2.1–254 on 445 in 60 s, blocked at the core.
        if let Some(i) = plan.active(Slot::HorizontalScan, sec, BURST_S) {
            for k in 0..5 {
                let host = (i * 5 + k) % 254 + 1;
                let dst = Ipv4Addr::new(10, 0, 2, host as u8);
                let id = r.below(65535);
                out.push((
                    CORE,
                    off(r),
                    ufw(sec, "BLOCK", SCANNER_H, dst, "TCP", 51515, 445, 44, id),
                ));
            }
        }
        // Deny burst: telnet brute force against one server, 30 a second, blocked.
        if plan.active(Slot::DenyBurst, sec, BURST_S).is_some() {
            for _ in 0..30 {
                let o = off(r);
                let (sport, seq) = (30000 + r.below(30000) as u16, r.next() as u32);
                let l = pf(
                    sec * US + i64::from(o),
                    "3",
                    "block in on em0",
                    BRUTE,
                    sport,
                    BRUTE_TARGET,
                    23,
                    &format!("Flags [S], seq {seq}, win 14600, length 0"),
                );
                out.push((EDGE, o, l));
            }
        }
        // Volume spike: a flash crowd, 60 more connections a second from the clients (about six
        // times the default rate's 12 lines a second, backups included).
        if plan.active(Slot::VolumeSpike, sec, LONG_S).is_some() {
            for _ in 0..60 {
                let o = off(r);
                let (src, dst) = (r.client(), r.internet());
                let l = r.pf_pass_out(sec * US + i64::from(o), src, dst, 443);
                out.push((EDGE, o, l));
            }
        }
        // A host nobody has seen starts talking.
        if let Some(i) = plan.active(Slot::FirstSeenHost, sec, LONG_S) {
            if i % 4 == 0 {
                let o = off(r);
                let dst = r.internet();
                let l = r.pf_pass_out(sec * US + i64::from(o), NEW_HOST, dst, 443);
                out.push((EDGE, o, l));
            }
        }
        // A server starts receiving on a port it never used.
        if let Some(i) = plan.active(Slot::FirstSeenService, sec, LONG_S) {
            if i % 3 == 0 {
                let src = r.client();
                let l = r.core_allow(sec, src, NEW_SERVICE_HOST, NEW_SERVICE_PORT, 60);
                out.push((CORE, off(r), l));
            }
        }
        // DNS from one fixed source port (BIND 9.1 style): a server resolving on its own asks
        // the root and TLD servers, always from port 1030.
        if plan.active(Slot::FixedDnsPort, sec, LONG_S).is_some() {
            for _ in 0..2 {
                let o = off(r);
                let (id, q, server) = (r.below(65535), r.pick(QNAMES), r.pick(&DNS_ROOTS));
                let l = pf(
                    sec * US + i64::from(o),
                    "57",
                    "pass out on em1",
                    FIXED_DNS_HOST,
                    FIXED_DNS_PORT,
                    server,
                    53,
                    &format!("{id} [1au] MX? {q}. (39) (DF)"),
                );
                out.push((EDGE, o, l));
            }
        }
        // A client asks a resolver nobody approved.
        if plan.active(Slot::UnapprovedResolver, sec, LONG_S).is_some() {
            let o = off(r);
            let (sport, id, q) = (1024 + r.below(64000) as u16, r.below(65535), r.pick(QNAMES));
            let l = pf(
                sec * US + i64::from(o),
                "14",
                "pass out on em1",
                ROGUE_DNS_CLIENT,
                sport,
                ROGUE_RESOLVER,
                53,
                &format!("{id}+ A? {q}. (33)"),
            );
            out.push((EDGE, o, l));
        }
        // Large outbound transfer: 1.2 GB in 120 s, logged as 64 kB segments (a kernel with
        // generic receive offload logs coalesced packets) at 160 a second.
        if plan.active(Slot::LargeOutbound, sec, LONG_S).is_some() {
            for _ in 0..160 {
                let id = r.below(65535);
                let l = ufw(
                    sec, "ALLOW", EXFIL_HOST, EXFIL_DST, "TCP", 49152, 443, 64_000, id,
                );
                out.push((CORE, off(r), l));
            }
        }
        // SYN flood: 300 SYNs a second from spoofed sources against the public web server.
        if plan.active(Slot::SynFlood, sec, BURST_S).is_some() {
            for _ in 0..300 {
                let o = off(r);
                let src = Ipv4Addr::new(203, 0, 113, 100 + r.below(100) as u8);
                let (sport, seq) = (1024 + r.below(64000) as u16, r.next() as u32);
                let l = pf(
                    sec * US + i64::from(o),
                    "20",
                    "pass in on em0",
                    src,
                    sport,
                    FLOOD_TARGET,
                    443,
                    &format!("Flags [S], seq {seq}, win 512, length 0"),
                );
                out.push((EDGE, o, l));
            }
        }
        // A client reaches a watchlisted address a few times.
        if let Some(i) = plan.active(Slot::WatchlistHit, sec, BURST_S) {
            if i % 12 == 0 {
                let o = off(r);
                let l = r.pf_pass_out(sec * US + i64::from(o), WATCH_CLIENT, WATCHLISTED, 443);
                out.push((EDGE, o, l));
            }
        }
        // The core feed starts writing lines its parser cannot read (5 a second).
        if plan.active(Slot::ParseErrors, sec, LONG_S).is_some() {
            for _ in 0..5 {
                let (a, b) = (r.below(256), r.below(65535));
                let l = format!(
                    "{} core-1 kernel: [UFW BLOCK] IN=eth0 OUT= MAC= SRC=10.0.{a}.#{b} DST=10.0.1.5 LEN=60 PROTO=TCP SPT=4x{b} DPT=443",
                    syslog_stamp(sec * US)
                );
                out.push((CORE, off(r), l));
            }
        }
        // Beaconing: one small connection every 60 s ± 2 s.
        if sec >= plan.beacon_start && sec <= plan.beacon_end {
            let k = sec - plan.beacon_start;
            // Beacon n is due at n·60 + jitter(n), jitter fixed per beacon by a hash.
            let n = (k + BEACON_JITTER_S) / BEACON_PERIOD_S;
            let h = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60;
            let jitter = (h as i64 % (2 * BEACON_JITTER_S + 1)) - BEACON_JITTER_S;
            if n < BEACON_COUNT && k == n * BEACON_PERIOD_S + jitter {
                let o = off(r);
                let l = r.pf_pass_out(sec * US + i64::from(o), BEACON_HOST, BEACON_C2, 443);
                out.push((EDGE, o, l));
            }
        }
        for (feed, o, l) in out {
            self.push(feed, o, l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ScenarioOptions {
        ScenarioOptions {
            duration: Duration::from_secs(600),
            warmup: Duration::from_secs(60),
            spacing: Duration::from_secs(30),
            ..ScenarioOptions::default()
        }
    }

    #[test]
    fn same_seed_same_bytes_and_benign_background_is_shared() {
        let a = Scenario::generate(small());
        let b = Scenario::generate(small());
        assert_eq!(a.feeds, b.feeds);
        assert_eq!(a.labels.len(), 14);
        let benign = Scenario::generate(ScenarioOptions {
            incidents: false,
            ..small()
        });
        assert!(benign.labels.is_empty());
        // Before the first incident the two runs are byte for byte the same.
        let first = a.labels.iter().map(|l| l.start).min().unwrap();
        let stamp = crate::demo::syslog_stamp(first);
        let cut = |f: &[u8]| {
            let s = String::from_utf8_lossy(f).into_owned();
            s.find(&stamp).map(|i| s[..i].to_string()).unwrap()
        };
        assert_eq!(cut(&a.feeds[1]), cut(&benign.feeds[1]));
    }

    #[test]
    fn every_line_parses_or_is_a_planted_error() {
        let s = Scenario::generate(small());
        let ctx = crate::parse::Ctx::new(s.options.start + 86_400 * US);
        let mut errors = 0;
        for ((_, format), buf) in FEEDS.iter().zip(&s.feeds) {
            for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                match crate::parse::parse_line(*format, line, &ctx) {
                    crate::parse::Outcome::Event(e) => assert!(e.ts.is_some()),
                    crate::parse::Outcome::Error(_) => errors += 1,
                    o => panic!("{o:?}: {}", String::from_utf8_lossy(line)),
                }
            }
        }
        assert_eq!(errors, 5 * LONG_S);
    }

    #[test]
    fn labels_match_by_kind_key_and_window() {
        let s = Scenario::generate(small());
        let scan = &s.labels[0];
        let g = Duration::from_secs(10);
        assert!(scan.matches(Kind::PortScan, "203.0.113.66", scan.start + US, g));
        assert!(scan.matches(Kind::DenyBurst, "203.0.113.66 → 10.0.1.20", scan.start, g));
        assert!(!scan.matches(Kind::PortScan, "198.51.100.99", scan.start, g));
        assert!(!scan.matches(Kind::PortScan, "203.0.113.66", scan.end + 11 * US, g));
        assert!(!scan.matches(Kind::Beaconing, "203.0.113.66", scan.start, g));
    }
}
