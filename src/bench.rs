//! `socwall bench`: throughput of the parsers and of parse + aggregate on one core, on generated
//! lines held in memory (docs/PERFORMANCE.md explains the method and records the figures).

use std::process::ExitCode;
use std::time::Instant;

use crate::aggregate::{AggregateSettings, Aggregator, EventBatch, SourceSettings};
use crate::event::Record;
use crate::parse::{Ctx, Format, Outcome, parse_line};
use crate::time::now_micros;

/// Lines per batch handed to the aggregator, as the tailer would (≈64 KiB of text).
const BATCH: usize = 512;

/// Formats `socwall bench` generates lines for.
pub const BENCH_FORMATS: &[Format] = &[Format::Pf, Format::Iptables, Format::Filterlog];

/// Deterministic sample lines of a format: varied addresses and ports, both verdicts.
/// Formats without a generator yet give an empty buffer.
pub fn sample_lines(format: Format, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 200);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (a, b, c, d) = (
            (x >> 8) as u8,
            (x >> 16) as u8,
            (x >> 24) as u8,
            (x >> 32) as u8,
        );
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
    // utime + stime from /proc/self/stat, in clock ticks (100 Hz on Linux).
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = s.rsplit(')').next()?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

pub fn main(lines: usize) -> ExitCode {
    let now = now_micros();
    let ctx = Ctx::new(now);
    println!("socwall bench: {lines} generated lines per format, one thread");
    println!(
        "{:<10} {:>14} {:>16} {:>10}",
        "format", "parse lines/s", "parse+agg lines/s", "events"
    );
    for &format in BENCH_FORMATS {
        let data = sample_lines(format, lines);
        let split: Vec<&[u8]> = data
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();

        // Parse only.
        let t = Instant::now();
        let mut events = 0usize;
        for l in &split {
            if let Outcome::Event(e) = parse_line(format, l, &ctx) {
                events += usize::from(e.src_ip.is_some());
            }
        }
        let parse_rate = split.len() as f64 / t.elapsed().as_secs_f64();

        // Parse + aggregate, in batches as the daemon does.
        let settings = AggregateSettings {
            sources: vec![SourceSettings::new("bench")],
            ..AggregateSettings::default()
        };
        let mut agg = Aggregator::new(settings, now);
        let mut records: Vec<Record> = Vec::with_capacity(BATCH);
        let t = Instant::now();
        for chunk in split.chunks(BATCH) {
            records.clear();
            let mut batch = EventBatch {
                source: 0,
                lines: chunk.len() as u64,
                ..EventBatch::default()
            };
            for l in chunk {
                match parse_line(format, l, &ctx) {
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
        let full_rate = split.len() as f64 / t.elapsed().as_secs_f64();
        println!(
            "{:<10} {:>14.0} {:>16.0} {:>10}",
            format.name(),
            parse_rate,
            full_rate,
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
