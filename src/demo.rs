//! `socwall demo`: a generator that writes realistic pf and iptables lines, with scheduled
//! incidents, into files in a temp directory, which the normal daemon then tails through the very
//! same tail path as production.
//!
//! Incidents repeat every cycle (default 5 min) so a visitor sees all of them within minutes:
//! a port scan, a burst of blocked traffic, DNS from one fixed source port (the classic BIND 9.1
//! behaviour), a feed going quiet, and a new internal host and service.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{Input, Settings, SourceSettings};
use crate::event::Micros;
use crate::parse::{Format, FormatSpec};
use crate::tail::StartAt;
use crate::time::now_micros;

/// The demo's feeds, as configured sources.
pub fn settings(dir: &Path, base: &Settings) -> Settings {
    let mut s = base.clone();
    let src = |name: &str, file: &str, format: Format, quiet: u64, silent: u64| SourceSettings {
        name: name.into(),
        input: Input::File {
            path: dir.join(file).display().to_string(),
        },
        vpcflow_fields: None,
        format: FormatSpec::Fixed(format),
        start_at: StartAt::Beginning,
        quiet_after: Duration::from_secs(quiet),
        silent_after: Duration::from_secs(silent),
        max_line_bytes: s.tail.max_line_bytes,
    };
    // A three-shift schedule for the clock widgets (`[wall] shifts`), unless one is configured.
    if s.wall.shifts.is_empty() {
        s.wall.shifts = vec![
            ("Early".into(), 6 * 60),
            ("Late".into(), 14 * 60),
            ("Night".into(), 22 * 60),
        ];
    }
    s.sources = vec![
        src("edge-fw (pf)", "edge-pf.log*", Format::Pf, 30, 120),
        src(
            "core-fw (iptables)",
            "core-iptables.log*",
            Format::Iptables,
            30,
            120,
        ),
        src(
            "branch-fw (iptables)",
            "branch-iptables.log*",
            Format::Iptables,
            15,
            45,
        ),
    ];
    // A short learning period so "first seen" shows something during a demo.
    s.aggregate.learning = Duration::from_secs(60);
    // State next to the demo's own logs: a temp dir by default, so two demos never share it;
    // with --dir, a restarted demo resumes where it stopped.
    s.state.dir = Some(dir.join("state"));
    s.detect.first_seen.host.learning_s = 60;
    s.detect.first_seen.service.learning_s = 60;
    // The branch feed goes quiet for 80 s of every cycle: call that silence.
    s.detect.feeds.min_silence_s = 30;
    s
}

/// Generator options.
#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    /// Total lines per second across all feeds (incidents add on top).
    pub rate: u32,
    pub cycle: Duration,
    pub seed: u64,
    /// Rotate (rename to `.1`) a file once it grows past this.
    pub rotate_bytes: u64,
}

/// Runs the generator on its own thread until `stop` is set.
pub fn spawn(opts: Options, stop: Arc<AtomicBool>) -> io::Result<JoinHandle<()>> {
    let mut g = Generator::new(&opts)?;
    std::thread::Builder::new()
        .name("socwall-demo".into())
        .spawn(move || {
            let started = Instant::now();
            let tick = Duration::from_millis(50);
            let mut next = Instant::now();
            let mut carry = 0.0f64;
            while !stop.load(Ordering::Relaxed) {
                let t = started.elapsed().as_secs_f64() % opts.cycle.as_secs_f64();
                carry += f64::from(opts.rate) * tick.as_secs_f64();
                let n = carry as u32;
                carry -= f64::from(n);
                if let Err(e) = g.tick(now_micros(), t, n, opts.rotate_bytes) {
                    tracing::warn!(error = %e, "demo generator could not write");
                }
                next += tick;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now; // fell behind (suspended laptop): do not burst to catch up
                }
            }
        })
}

/// Writes the demo's logs for `duration` of simulated time from `start` (event time, 50 ms
/// ticks, no rotation, nothing waited for) into `dir`: what `socwall demo` would have written
/// live, for `socwall replay` and the tests that check the demo's incidents reach the wall.
pub fn write_simulated(
    dir: &Path,
    rate: u32,
    cycle: Duration,
    seed: u64,
    start: Micros,
    duration: Duration,
) -> io::Result<()> {
    let mut g = Generator::new(&Options {
        dir: dir.to_path_buf(),
        rate,
        cycle,
        seed,
        rotate_bytes: u64::MAX,
    })?;
    let tick = 50_000i64;
    let ticks = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX) / tick;
    let mut carry = 0.0f64;
    for k in 0..ticks {
        let elapsed = (k * tick) as f64 / 1e6;
        let t = elapsed % cycle.as_secs_f64();
        carry += f64::from(rate) * 0.05;
        let n = carry as u32;
        carry -= f64::from(n);
        g.tick(start + k * tick, t, n, u64::MAX)?;
    }
    Ok(())
}

struct Feed {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
}

impl Feed {
    fn open(path: PathBuf) -> io::Result<Feed> {
        let f = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Feed {
            path,
            out: BufWriter::new(f),
            written: 0,
        })
    }

    fn line(&mut self, s: &str) -> io::Result<()> {
        self.written += s.len() as u64 + 1;
        self.out.write_all(s.as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// Flushes whole lines, then rotates like logrotate's default (rename, new file).
    fn flush_and_rotate(&mut self, limit: u64) -> io::Result<()> {
        self.out.flush()?;
        if self.written >= limit {
            let mut rotated = self.path.clone().into_os_string();
            rotated.push(".1");
            std::fs::rename(&self.path, &rotated)?;
            *self = Feed::open(self.path.clone())?;
        }
        Ok(())
    }
}

struct Generator {
    rng: u64,
    edge: Feed,
    core: Feed,
    branch: Feed,
    dns_id: u16,
}

const EXTERNAL_RESOLVERS: &[Ipv4Addr] = &[
    Ipv4Addr::new(192, 0, 2, 53),
    Ipv4Addr::new(198, 51, 100, 53),
    Ipv4Addr::new(203, 0, 113, 53),
    Ipv4Addr::new(192, 0, 2, 153),
    Ipv4Addr::new(198, 51, 100, 153),
    Ipv4Addr::new(203, 0, 113, 153),
];
const MAIL_RELAYS: &[Ipv4Addr] = &[
    Ipv4Addr::new(192, 0, 2, 25),
    Ipv4Addr::new(198, 51, 100, 25),
    Ipv4Addr::new(203, 0, 113, 25),
];
const QNAMES: &[&str] = &[
    "example.com",
    "example.net",
    "example.org",
    "mail.example.com",
    "www.example.net",
];
const INBOUND_PORTS: &[u16] = &[22, 23, 25, 80, 443, 445, 1433, 3306, 3389, 5900, 8080, 8443];
const OUTBOUND_PORTS: &[(u16, bool)] = &[
    (443, true),
    (443, true),
    (443, true),
    (80, true),
    (53, false),
    (123, false),
    (993, true),
];

impl Generator {
    fn new(opts: &Options) -> io::Result<Generator> {
        std::fs::create_dir_all(&opts.dir)?;
        Ok(Generator {
            rng: opts.seed | 1,
            edge: Feed::open(opts.dir.join("edge-pf.log"))?,
            core: Feed::open(opts.dir.join("core-iptables.log"))?,
            branch: Feed::open(opts.dir.join("branch-iptables.log"))?,
            dns_id: 1000,
        })
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: plenty for synthetic traffic, no dependency.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    fn internet_ip(&mut self) -> Ipv4Addr {
        // Documentation and benchmarking ranges only: the demo never names a real host.
        let last = self.below(250) as u8 + 1;
        match self.below(4) {
            0 => Ipv4Addr::new(192, 0, 2, last),
            1 => Ipv4Addr::new(198, 51, 100, last),
            2 => Ipv4Addr::new(203, 0, 113, last),
            _ => Ipv4Addr::new(198, 18 + self.below(2) as u8, self.below(256) as u8, last),
        }
    }

    fn user_ip(&mut self) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 3 + self.below(3) as u8, 10 + self.below(60) as u8)
    }

    /// Writes one 50 ms tick: `now` is the lines' time, `t` the position in the cycle (s).
    fn tick(&mut self, now: Micros, t: f64, n: u32, rotate: u64) -> io::Result<()> {
        let stamp = syslog_stamp(now);
        let precise = precise_stamp(now);
        let branch_quiet = (180.0..260.0).contains(&t);
        for _ in 0..n {
            match self.below(10) {
                0..=4 => self.edge_background(&stamp, &precise)?,
                5..=7 => self.core_background(&stamp, now)?,
                _ if !branch_quiet => self.branch_background(&stamp)?,
                _ => self.core_background(&stamp, now)?,
            }
        }
        // DNS from one fixed source port, ~2 queries/s: BIND 9.1's missing port randomisation.
        if self.below(10) == 0 {
            let resolver = *self.pick(EXTERNAL_RESOLVERS);
            let q = *self.pick(QNAMES);
            self.dns_id = self.dns_id.wrapping_add(7919);
            let line = format!(
                "{stamp} edge-fw pf: {precise} rule 57/0(match): pass out on em1: 10.0.0.53.1030 > {resolver}.53: {} [1au] MX? {q}. (39) (DF)",
                self.dns_id
            );
            self.edge.line(&line)?;
        }
        // 30–75 s: a scanner sweeps one host's ports and one port across a subnet.
        if (30.0..75.0).contains(&t) {
            for _ in 0..3 {
                let port = ((t - 30.0) * 22.0) as u16 + self.below(20) as u16 + 1;
                let l = format!(
                    "{stamp} edge-fw pf: {precise} rule def/(match) block in on em0: 203.0.113.66.{} > 10.0.1.20.{}: Flags [S], seq {}, win 1024, length 0",
                    40000 + self.below(2000),
                    port,
                    self.next() as u32
                );
                self.edge.line(&l)?;
            }
            let host = ((t - 30.0) * 5.5) as u8 + 1;
            let l = format!(
                "{stamp} core-1 kernel: [UFW BLOCK] IN=eth0 OUT= MAC= SRC=203.0.113.66 DST=10.0.2.{host} LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID={} PROTO=TCP SPT=51515 DPT=445 WINDOW=1024 RES=0x00 SYN URGP=0",
                self.below(65535)
            );
            self.core.line(&l)?;
        }
        // 120–150 s: a burst of blocked telnet attempts from one source.
        if (120.0..150.0).contains(&t) {
            for _ in 0..(n * 2).max(2) {
                let dst = Ipv4Addr::new(10, 0, 1, 1 + self.below(50) as u8);
                let l = format!(
                    "{stamp} edge-fw pf: {precise} rule 3/(match) block in on em0: 198.51.100.23.{} > {dst}.23: Flags [S], seq {}, win 14600, length 0",
                    30000 + self.below(30000),
                    self.next() as u32
                );
                self.edge.line(&l)?;
            }
        }
        // From 200 s: a host nobody has seen starts talking, and a server opens a new port.
        if (200.0..240.0).contains(&t) && self.below(4) == 0 {
            let l = format!(
                "{stamp} core-1 kernel: [UFW ALLOW] IN=eth1 OUT=eth0 MAC= SRC=10.0.9.99 DST={} LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID={} DF PROTO=TCP SPT={} DPT=443 WINDOW=64240 RES=0x00 SYN URGP=0",
                self.internet_ip(),
                self.below(65535),
                32768 + self.below(28000)
            );
            self.core.line(&l)?;
            let l = format!(
                "{stamp} core-1 kernel: [UFW ALLOW] IN=eth0 OUT= MAC= SRC={} DST=10.0.1.30 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID={} DF PROTO=TCP SPT={} DPT=8443 WINDOW=64240 RES=0x00 SYN URGP=0",
                self.internet_ip(),
                self.below(65535),
                32768 + self.below(28000)
            );
            self.core.line(&l)?;
        }
        self.edge.flush_and_rotate(rotate)?;
        self.core.flush_and_rotate(rotate)?;
        self.branch.flush_and_rotate(rotate)
    }

    fn edge_background(&mut self, stamp: &str, precise: &str) -> io::Result<()> {
        if self.below(3) == 0 {
            // Internet noise against the edge, blocked.
            let src = self.internet_ip();
            let port = *self.pick(INBOUND_PORTS);
            let line = format!(
                "{stamp} edge-fw pf: {precise} rule def/(match) block in on em0: {src}.{} > 203.0.113.10.{port}: Flags [S], seq {}, win 1024, length 0",
                1024 + self.below(60000),
                self.next() as u32
            );
            self.edge.line(&line)
        } else {
            let src = self.user_ip();
            let dst = self.internet_ip();
            let (port, tcp) = *self.pick(OUTBOUND_PORTS);
            let sport = 32768 + self.below(28000);
            let line = if tcp {
                format!(
                    "{stamp} edge-fw pf: {precise} rule 12/(match) pass out on em1: {src}.{sport} > {dst}.{port}: Flags [S], seq {}, win 64240, length 0",
                    self.next() as u32
                )
            } else {
                format!(
                    "{stamp} edge-fw pf: {precise} rule 14/(match) pass out on em1: {src}.{sport} > {dst}.{port}: UDP, length {}",
                    40 + self.below(200)
                )
            };
            self.edge.line(&line)
        }
    }

    fn core_background(&mut self, stamp: &str, now: Micros) -> io::Result<()> {
        let (verdict, src, dst, port) = if self.below(4) == 0 {
            // Admin ports of the three jump hosts, tried and refused now and then.
            (
                "BLOCK",
                self.user_ip(),
                Ipv4Addr::new(10, 0, 1, 5 + self.below(3) as u8),
                *self.pick(&[22u16, 3389, 5432, 6379]),
            )
        } else {
            (
                "ALLOW",
                self.user_ip(),
                Ipv4Addr::new(10, 0, 1, 5 + self.below(20) as u8),
                *self.pick(&[443u16, 443, 80, 389, 445, 88]),
            )
        };
        let len = 60 + self.below(1400);
        let line = format!(
            "{stamp} core-1 kernel: [{}] [UFW {verdict}] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC={src} DST={dst} LEN={len} TOS=0x00 PREC=0x00 TTL=64 ID={} DF PROTO=TCP SPT={} DPT={port} WINDOW=64240 RES=0x00 SYN URGP=0",
            uptime_stamp(now),
            self.below(65535),
            32768 + self.below(28000)
        );
        self.core.line(&line)
    }

    fn branch_background(&mut self, stamp: &str) -> io::Result<()> {
        let deny = self.below(3) == 0;
        let src = Ipv4Addr::new(10, 20, 0, 10 + self.below(40) as u8);
        // DNS to the branch's two resolvers; blocked mail to the provider's three relays (not a
        // spread over the internet, which a scan detector would rightly flag).
        let (dst, proto, extra) = if self.below(4) == 0 {
            (
                EXTERNAL_RESOLVERS[self.below(2) as usize],
                "UDP",
                format!("SPT={} DPT=53 LEN=48", 1024 + self.below(60000)),
            )
        } else {
            (
                if deny {
                    *self.pick(MAIL_RELAYS)
                } else {
                    self.internet_ip()
                },
                "TCP",
                format!(
                    "SPT={} DPT={} WINDOW=64240 RES=0x00 SYN URGP=0",
                    1024 + self.below(60000),
                    if deny { 25 } else { 443 }
                ),
            )
        };
        let deny = deny && proto == "TCP";
        let prefix = if deny {
            "Shorewall:loc2net:REJECT:"
        } else {
            "Shorewall:loc2net:ACCEPT:"
        };
        let line = format!(
            "{stamp} branch-gw kernel: {prefix}IN=eth1 OUT=eth0 SRC={src} DST={dst} LEN={} TOS=0x00 PREC=0x00 TTL=63 ID={} DF PROTO={proto} {extra}",
            60 + self.below(500),
            self.below(65535)
        );
        self.branch.line(&line)
    }
}

fn uptime_stamp(now: Micros) -> String {
    let up = now / 1000;
    format!("{:>5}.{:06}", (up / 1000) % 100_000, (up % 1000) * 1000)
}

/// `Nov 24 03:40:01`, BSD syslog style (UTC).
pub(crate) fn syslog_stamp(micros: i64) -> String {
    let s = crate::time::format_rfc3339(micros).to_string(); // 2026-11-24T03:40:01.123456Z
    let month: usize = s[5..7].parse().unwrap_or(1);
    const M: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day: u32 = s[8..10].parse().unwrap_or(1);
    format!("{} {:>2} {}", M[(month + 11) % 12], day, &s[11..19])
}

/// `Nov 24 03:40:01.123456`, tcpdump's `-tttt`-less pflog style.
pub(crate) fn precise_stamp(micros: i64) -> String {
    let s = crate::time::format_rfc3339(micros).to_string();
    format!("{}{}", syslog_stamp(micros), &s[19..26])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        // 2002-10-21T06:06:58.096785Z
        let t = 1_035_180_418_096_785;
        assert_eq!(syslog_stamp(t), "Oct 21 06:06:58");
        assert_eq!(precise_stamp(t), "Oct 21 06:06:58.096785");
    }
}
