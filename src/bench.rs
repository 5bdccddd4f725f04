//! `socwall bench`: throughput of the parsers and of parse + aggregate on one core, on generated
//! lines held in memory (docs/PERFORMANCE.md explains the method and records the figures).

use std::process::ExitCode;
use std::time::Instant;

use std::io;
use std::io::Write as _;

use crate::aggregate::{AggregateSettings, Aggregator, EventBatch, SourceSettings};
use crate::detect::{DetectSettings, Kind};
use crate::event::{Micros, Record};
use crate::parse::{Ctx, Format, Outcome, parse_line};
use crate::replay::{Input, LineSource, Replay, ReplayOptions};
use crate::time::now_micros;

/// Lines per batch handed to the aggregator, as the tailer would (≈64 KiB of text).
const BATCH: usize = 512;

/// Formats `socwall bench` generates lines for.
pub const BENCH_FORMATS: &[Format] = &[Format::Pf, Format::Iptables, Format::Filterlog];

/// The address mix of generated lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Every line from a random one of 65,536 sources to a random one of 65,536 hosts: the
    /// worst case for per-entity state (each line is a cache miss in every table).
    Random,
    /// A working set like a real edge: 95 % of lines from a few thousand sources (skewed: a few
    /// talk a lot), each to one or two of 256 internal hosts; 5 % as in `Random`.
    Typical,
}

/// Deterministic sample lines of a format: varied addresses and ports, both verdicts.
/// Formats without a generator yet give an empty buffer.
pub fn sample_lines(format: Format, n: usize) -> Vec<u8> {
    sample_lines_mix(format, n, Mix::Random)
}

/// [`sample_lines`] with an address mix.
pub fn sample_lines_mix(format: Format, n: usize, mix: Mix) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 200);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (mut a, mut b, mut c, mut d) = (
            (x >> 8) as u8,
            (x >> 16) as u8,
            (x >> 24) as u8,
            (x >> 32) as u8,
        );
        if mix == Mix::Typical && (x >> 48) % 20 != 0 {
            // A product of two uniforms: small source numbers are much more frequent.
            // Each source talks to one or two of 256 internal hosts, as clients do.
            let s = ((x >> 8) % 64) * ((x >> 14) % 64);
            (a, b, c, d) = (
                (s >> 8) as u8,
                s as u8,
                0,
                (s.wrapping_mul(7) + (x >> 40) % 2) as u8,
            );
        }
        let port = [22u16, 80, 443, 445, 3389, 53, 8080][(x % 7) as usize];
        let sport = 1024 + (x >> 40) as u16 % 60000;
        let line = match format {
            Format::Pf => format!(
                "Nov 24 03:40:01 fw pf: Nov 24 03:40:01.{:06} rule {}/(match) {} in on em0: 198.51.{a}.{b}.{sport} > 10.0.{c}.{d}.{port}: Flags [S], seq {}, win 1024, length 0",
                i % 1_000_000,
                i % 40,
                if x & 1 == 0 { "block" } else { "pass" },
                x as u32
            ),
            Format::Iptables => format!(
                "Nov 24 03:40:01 host kernel: [12345.678901] [UFW {}] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.{a}.{b} DST=10.1.{c}.{d} LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID={} DF PROTO=TCP SPT={sport} DPT={port} WINDOW=64240 RES=0x00 SYN URGP=0",
                if x & 1 == 0 { "BLOCK" } else { "ALLOW" },
                x as u16
            ),
            Format::Filterlog => format!(
                "Nov 24 03:40:01 pfSense filterlog: 5,,,1000000103,igb0,match,{},in,4,0x0,,64,{},0,DF,6,tcp,60,198.51.{a}.{b},10.0.{c}.{d},{sport},{port},0,S,{},,64240,,mss;sackOK;TS;nop;wscale",
                if x & 1 == 0 { "block" } else { "pass" },
                x as u16,
                x as u32
            ),
            _ => return Vec::new(),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn cpu_seconds() -> Option<f64> {
    stat_cpu_seconds("/proc/self/stat")
}

/// utime + stime of a `/proc/.../stat` file, in seconds (clock ticks at 100 Hz on Linux).
fn stat_cpu_seconds(path: &str) -> Option<f64> {
    let s = std::fs::read_to_string(path).ok()?;
    let rest = s.rsplit(')').next()?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// CPU seconds of the calling thread (utime + stime of /proc/thread-self/stat, 10 ms ticks):
/// unlike the wall clock, it does not count the time the thread waited for a core, so runs on a
/// machine busy with other work still compare.
fn thread_cpu_seconds() -> Option<f64> {
    stat_cpu_seconds("/proc/thread-self/stat")
}

/// Lines per second over `elapsed` wall seconds, or over the thread's CPU seconds when they are
/// known and at least 0.2 s (20 ticks, so the tick rounding stays within 5 %).
fn rate(lines: usize, elapsed: f64, cpu: Option<f64>) -> f64 {
    match cpu {
        Some(c) if c >= 0.2 => lines as f64 / c,
        _ => lines as f64 / elapsed,
    }
}

/// Parse + aggregate `lines` in batches as the daemon does, with the detector kinds in
/// `disabled` off; returns lines per second.
fn parse_aggregate(
    format: Format,
    lines: &[&[u8]],
    ctx: &Ctx,
    now: Micros,
    disabled: Vec<Kind>,
) -> f64 {
    let settings = AggregateSettings {
        sources: vec![SourceSettings::new("bench")],
        detect: DetectSettings {
            disabled,
            ..DetectSettings::default()
        },
        ..AggregateSettings::default()
    };
    let mut agg = Aggregator::new(settings, now);
    let mut records: Vec<Record> = Vec::with_capacity(BATCH);
    let cpu0 = thread_cpu_seconds();
    let t = Instant::now();
    for chunk in lines.chunks(BATCH) {
        records.clear();
        let mut batch = EventBatch {
            source: 0,
            lines: chunk.len() as u64,
            ..EventBatch::default()
        };
        for l in chunk {
            match parse_line(format, l, ctx) {
                Outcome::Event(e) => records.push(e.record()),
                Outcome::Skipped(_) => batch.skipped += 1,
                Outcome::Error(_) => batch.parse_errors += 1,
            }
        }
        batch.records = std::mem::take(&mut records);
        agg.ingest(&batch, now);
        records = batch.records;
    }
    let _ = agg.snapshot(now);
    let elapsed = t.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    rate(lines.len(), elapsed, cpu)
}

/// Runs of parse + aggregate per detector setting (the median is reported).
const RUNS: usize = 3;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn main(lines: usize) -> ExitCode {
    let now = now_micros();
    let ctx = Ctx::new(now);
    println!(
        "socwall bench: {lines} generated lines per format, one thread, median of {RUNS} runs, lines per CPU second of the thread"
    );
    println!(
        "{:<19} {:>14} {:>16} {:>16} {:>10} {:>10}",
        "format (sources)",
        "parse lines/s",
        "parse+agg lines/s",
        "(detect off)",
        "overhead",
        "events"
    );
    for (format, mix) in BENCH_FORMATS
        .iter()
        .map(|&f| (f, Mix::Random))
        .chain(BENCH_FORMATS.iter().map(|&f| (f, Mix::Typical)))
    {
        let data = sample_lines_mix(format, lines, mix);
        let split: Vec<&[u8]> = data
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();

        // Parse only.
        let cpu0 = thread_cpu_seconds();
        let t = Instant::now();
        let mut events = 0usize;
        for l in &split {
            if let Outcome::Event(e) = parse_line(format, l, &ctx) {
                events += usize::from(e.src_ip.is_some());
            }
        }
        let cpu = thread_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
        let parse_rate = rate(split.len(), t.elapsed().as_secs_f64(), cpu);

        // Parse + aggregate, in batches as the daemon does: detectors on and all off, alternated
        // RUNS times; the medians are reported (one run of each swings by ±5 % on a busy VM, and
        // alternating keeps a slow phase of the machine from landing on one side only).
        let mut full = Vec::with_capacity(RUNS);
        let mut bare = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            full.push(parse_aggregate(format, &split, &ctx, now, Vec::new()));
            bare.push(parse_aggregate(
                format,
                &split,
                &ctx,
                now,
                Kind::ALL.to_vec(),
            ));
        }
        let (full_rate, bare_rate) = (median(&mut full), median(&mut bare));
        println!(
            "{:<19} {:>14.0} {:>16.0} {:>16.0} {:>9.1}% {:>10}",
            format!(
                "{} ({})",
                format.name(),
                if mix == Mix::Random {
                    "random"
                } else {
                    "typical"
                }
            ),
            parse_rate,
            full_rate,
            bare_rate,
            (bare_rate / full_rate - 1.0) * 100.0,
            events
        );
        if events != split.len() {
            eprintln!(
                "socwall bench: {} of {} {} lines did not parse",
                split.len() - events,
                split.len(),
                format.name()
            );
            return ExitCode::from(1);
        }
    }
    if let (Some(cpu), Some(rss)) = (cpu_seconds(), peak_rss_kib()) {
        println!("cpu {cpu:.2} s, peak RSS {:.1} MiB", rss as f64 / 1024.0);
    }
    ExitCode::SUCCESS
}

/// Peak RSS budget of the flood benchmark, for the whole process.
pub const FLOOD_RSS_BUDGET_MIB: f64 = 256.0;
/// Event time the flood covers.
const FLOOD_SPAN_S: i64 = 600;

/// The flood: `n` iptables lines, each from a distinct external address (16.0.0.0/4 walked by
/// an odd multiplier, a bijection for n < 2^28), blocked SYNs to random internal hosts and
/// ports, evenly spread over [`FLOOD_SPAN_S`] of event time. Made line by line: no buffer of the
/// whole input.
struct Flood {
    i: u64,
    n: u64,
    start: Micros,
    stamp_sec: i64,
    stamp: String,
}

impl LineSource for Flood {
    fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<bool>> {
        buf.clear();
        if self.i >= self.n {
            return Ok(None);
        }
        let i = self.i;
        self.i += 1;
        let at = self.start
            + (i128::from(i) * i128::from(FLOOD_SPAN_S) * 1_000_000 / i128::from(self.n)) as i64;
        let sec = at.div_euclid(1_000_000);
        if sec != self.stamp_sec {
            self.stamp_sec = sec;
            self.stamp = crate::demo::syslog_stamp(at);
        }
        let src = 0x1000_0000 | ((i as u32).wrapping_mul(0x9E37_79B1) & 0x0FFF_FFFF);
        let src = std::net::Ipv4Addr::from(src);
        let x = i.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let dst = std::net::Ipv4Addr::new(10, 0, (x >> 8) as u8, (x >> 16) as u8);
        let dport = 1 + (x >> 24) as u16 % 65000;
        write!(
            buf,
            "{} fw kernel: [UFW BLOCK] IN=eth0 OUT= MAC= SRC={src} DST={dst} LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID={} PROTO=TCP SPT={} DPT={dport} WINDOW=1024 RES=0x00 SYN URGP=0",
            self.stamp,
            x as u16,
            1024 + (x >> 40) as u16 % 60000,
        )?;
        Ok(Some(true))
    }
}

/// The planted incidents of the flood benchmark: (kind, entity key, lines).
fn planted(start: Micros) -> (Vec<(Kind, &'static str)>, Vec<u8>) {
    let s = 1_000_000;
    let mut lines: Vec<(Micros, String)> = Vec::new();
    let ufw = |at: Micros, v: &str, src: &str, dst: &str, proto: &str, sport: u16, dport: u16| {
        format!(
            "{} fw kernel: [UFW {v}] IN=eth0 OUT=eth1 MAC= SRC={src} DST={dst} LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO={proto} SPT={sport} DPT={dport} WINDOW=1024 RES=0x00 SYN URGP=0",
            crate::demo::syslog_stamp(at)
        )
    };
    // Vertical port scan: 1024 ports of one server in 60 s (from 120 s).
    for p in 0..1024i64 {
        let at = start + 120 * s + p * 60 * s / 1024;
        lines.push((
            at,
            ufw(
                at,
                "BLOCK",
                "203.0.113.66",
                "10.0.1.20",
                "TCP",
                40000,
                (p + 1) as u16,
            ),
        ));
    }
    // Deny burst: 30 blocked telnet attempts a second for 60 s (from 240 s).
    for k in 0..1800i64 {
        let at = start + 240 * s + k * s / 30;
        lines.push((
            at,
            ufw(
                at,
                "BLOCK",
                "192.0.2.23",
                "10.0.1.10",
                "TCP",
                30000 + (k % 30000) as u16,
                23,
            ),
        ));
    }
    // Watchlist hit: five connections to a watchlisted address (from 300 s).
    for k in 0..5i64 {
        let at = start + 300 * s + k * 12 * s;
        lines.push((
            at,
            ufw(
                at,
                "ALLOW",
                "10.0.3.66",
                "203.0.113.13",
                "TCP",
                50000 + k as u16,
                443,
            ),
        ));
    }
    // DNS from one fixed source port to six servers, twice a second for 120 s (from 360 s).
    const ROOTS: [&str; 6] = [
        "192.0.2.201",
        "192.0.2.202",
        "198.51.100.201",
        "198.51.100.202",
        "203.0.113.201",
        "203.0.113.202",
    ];
    for k in 0..240i64 {
        let at = start + 360 * s + k * s / 2;
        lines.push((
            at,
            ufw(
                at,
                "ALLOW",
                "10.0.4.53",
                ROOTS[k as usize % ROOTS.len()],
                "UDP",
                1030,
                53,
            ),
        ));
    }
    lines.sort_by_key(|(at, _)| *at);
    let mut buf = Vec::new();
    for (_, l) in lines {
        buf.extend_from_slice(l.as_bytes());
        buf.push(b'\n');
    }
    (
        vec![
            (Kind::PortScan, "203.0.113.66"),
            (Kind::DenyBurst, "192.0.2.23"),
            (Kind::WatchlistHit, "203.0.113.13"),
            (Kind::FixedDnsSourcePort, "10.0.4.53"),
        ],
        buf,
    )
}

/// `socwall bench --flood N`: N distinct sources over 10 minutes of event time through the
/// replay path (parse → aggregate → detect), with planted incidents; prints peak RSS (VmHWM,
/// the whole process) and whether each planted incident was reported. Exit 1 when the peak RSS
/// exceeds [`FLOOD_RSS_BUDGET_MIB`].
pub fn flood(n: u64) -> ExitCode {
    let scenario = crate::scenario::ScenarioOptions::default();
    let start = scenario.start;
    let (expected, planted_lines) = planted(start);
    let opts = ReplayOptions {
        year: Some(crate::time::year_of(start)),
        format: crate::parse::FormatSpec::Fixed(Format::Iptables),
        aggregate: AggregateSettings {
            context: crate::scenario::context(),
            ..AggregateSettings::default()
        },
        ..ReplayOptions::default()
    };
    let inputs = vec![
        Input::lines(
            "flood",
            Flood {
                i: 0,
                n,
                start,
                stamp_sec: i64::MIN,
                stamp: String::new(),
            },
        ),
        Input::reader("planted", io::Cursor::new(planted_lines)),
    ];
    println!(
        "socwall bench --flood: {n} distinct sources over {FLOOD_SPAN_S} s of event time, planted incidents: {}",
        expected.len()
    );
    let t = Instant::now();
    let report = match Replay::new(opts, inputs).and_then(Replay::run_to_end) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("socwall bench: {e}");
            return ExitCode::from(1);
        }
    };
    let secs = t.elapsed().as_secs_f64();
    println!(
        "replayed {} lines in {secs:.1} s ({:.0} lines/s); {} late; {} anomalies raised",
        report.stats.lines,
        report.stats.lines as f64 / secs,
        report.stats.late,
        report.anomalies.len()
    );
    let mut found = 0;
    for (kind, key) in &expected {
        let hit = report
            .anomalies
            .iter()
            .find(|a| a.kind == *kind && a.entity.contains(key));
        match hit {
            Some(a) => {
                found += 1;
                println!(
                    "  planted {kind} {key}: reported (severity {}, at +{:.0} s)",
                    a.severity,
                    (a.first_seen - start) as f64 / 1e6
                );
            }
            None => println!("  planted {kind} {key}: NOT reported"),
        }
    }
    println!("planted incidents reported: {found} / {}", expected.len());
    for a in &report.anomalies {
        if !expected
            .iter()
            .any(|(k, key)| a.kind == *k && a.entity.contains(key))
        {
            println!(
                "  also raised: {} {} (severity {}, at +{:.0} s): {}",
                a.kind,
                a.entity,
                a.severity,
                (a.first_seen - start) as f64 / 1e6,
                a.summary
            );
        }
    }
    let rss = peak_rss_kib().map(|k| k as f64 / 1024.0);
    match rss {
        Some(mib) => {
            let ok = mib <= FLOOD_RSS_BUDGET_MIB;
            println!(
                "peak RSS {mib:.1} MiB (budget {FLOOD_RSS_BUDGET_MIB:.0} MiB): {}",
                if ok { "ok" } else { "OVER BUDGET" }
            );
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        None => {
            println!("peak RSS: unknown (no /proc/self/status)");
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_lines_parse_with_distinct_sources_and_planted_lines_are_in_order() {
        let start = crate::scenario::ScenarioOptions::default().start;
        let mut f = Flood {
            i: 0,
            n: 5000,
            start,
            stamp_sec: i64::MIN,
            stamp: String::new(),
        };
        let ctx = Ctx::new(start + 86_400_000_000);
        let mut buf = Vec::new();
        let mut srcs = std::collections::HashSet::new();
        while f.next_line(&mut buf).unwrap().is_some() {
            match parse_line(Format::Iptables, &buf, &ctx) {
                Outcome::Event(e) => {
                    let ip = e.src_ip.unwrap();
                    assert!(crate::scenario::context().zone_of_ip(ip).is_external());
                    srcs.insert(ip);
                }
                o => panic!("{o:?}: {}", String::from_utf8_lossy(&buf)),
            }
        }
        assert_eq!(srcs.len(), 5000);
        let (expected, lines) = planted(start);
        assert_eq!(expected.len(), 4);
        let mut last = i64::MIN;
        for l in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let Outcome::Event(e) = parse_line(Format::Iptables, l, &ctx) else {
                panic!("{}", String::from_utf8_lossy(l));
            };
            assert!(e.ts.unwrap() >= last);
            last = e.ts.unwrap();
        }
    }
}
