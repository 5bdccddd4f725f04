//! Parser throughput (lines/s): pf and iptables lines, auto-detection over a mixed feed, and every
//! other text format on the fixture lines of `tests/fixtures/parse/formats.log`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use socwall::parse::{AutoDetector, Ctx, Format, Outcome, parse_line};

const PF: &[&[u8]] = &[
    b"Oct 21 06:07:11.298946 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 204.123.2.19.53: 20792 [1au] MX? www.com.ar. (39) (DF)",
    b"Jan 14 10:15:01 fw1 pf: Jan 14 10:15:01.123456 rule def/(match) block in on em0: 198.51.100.7.51234 > 203.0.113.10.22: S 123:123(0) win 1024",
    b"Jan 14 10:15:02.000001 rule 3/(match) pass out on em1: 2001:db8::1.443 > 2001:db8::2.51000: Flags [P.], seq 1:5, ack 1, win 10, length 4",
];

const IPT: &[&[u8]] = &[
    b"Jun  8 14:34:33 web1 kernel: [50028442.088484] IN=enp1s0 OUT= MAC=00:08:a2:0c:1f:12:00:c8:8b:e2:d6:87:08:00 SRC=198.51.100.7 DST=203.0.113.5 LEN=40 TOS=0x00 PREC=0x00 TTL=245 ID=37308 PROTO=TCP SPT=8080 DPT=8123 WINDOW=1024 RES=0x00 SYN URGP=0",
    b"Mar  3 10:00:00 gw kernel: [  812.004411] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=192.0.2.1 DST=192.0.2.99 LEN=68 TOS=0x00 PREC=0xC0 TTL=64 ID=1 PROTO=ICMP TYPE=3 CODE=3 [SRC=192.0.2.99 DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=63 ID=7 PROTO=UDP SPT=5000 DPT=6000 LEN=20 ]",
    b"Jun 13 23:29:15 UDM [WAN_LOCAL-D-2147483647] DESCR=\"[WAN_LOCAL]Block All Traffic\" IN=eth8 OUT= MAC=74:ac:b9:1c:62:e5:00:17:10:2b:31:a9:08:00 SRC=192.168.1.1 DST=192.168.1.25 LEN=122 TOS=00 PREC=0x00 TTL=49 ID=45366 DF PROTO=UDP SPT=38451 DPT=54329 LEN=102 MARK=1a0000",
];

fn events(format: Format, lines: &[&[u8]], ctx: &Ctx) -> usize {
    lines
        .iter()
        .filter(|l| matches!(parse_line(format, black_box(l), ctx), Outcome::Event(_)))
        .count()
}

fn bench(c: &mut Criterion) {
    let ctx = Ctx::new(1_780_000_000_000_000);
    assert_eq!(events(Format::Pf, PF, &ctx), PF.len());
    assert_eq!(events(Format::Iptables, IPT, &ctx), IPT.len());

    let mut g = c.benchmark_group("parse");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(PF.len() as u64));
    g.bench_function("pf", |b| b.iter(|| events(Format::Pf, PF, &ctx)));
    g.throughput(Throughput::Elements(IPT.len() as u64));
    g.bench_function("iptables", |b| {
        b.iter(|| events(Format::Iptables, IPT, &ctx))
    });
    let mixed: Vec<&[u8]> = PF.iter().chain(IPT).copied().collect();
    g.throughput(Throughput::Elements(mixed.len() as u64));
    g.bench_function("auto_mixed", |b| {
        let mut d = AutoDetector::new();
        b.iter(|| {
            mixed
                .iter()
                .filter(|l| matches!(d.feed(black_box(l), &ctx).1, Outcome::Event(_)))
                .count()
        })
    });
    g.finish();

    // Every other text format, on its own fixture lines (the first format that reads a line as
    // an event owns it; netflow is binary and benched by its own tests).
    let fixtures: &[u8] = include_bytes!("../tests/fixtures/parse/formats.log");
    let mut by_format: Vec<(Format, Vec<&[u8]>)> = Vec::new();
    for line in fixtures.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Some(&f) = Format::ALL
            .iter()
            .find(|&&f| matches!(parse_line(f, line, &ctx), Outcome::Event(_)))
        {
            match by_format.iter_mut().find(|(g, _)| *g == f) {
                Some((_, v)) => v.push(line),
                None => by_format.push((f, vec![line])),
            }
        }
    }
    let mut g = c.benchmark_group("format");
    g.measurement_time(Duration::from_secs(1));
    g.warm_up_time(Duration::from_millis(300));
    for (f, lines) in &by_format {
        assert_eq!(events(*f, lines, &ctx), lines.len());
        g.throughput(Throughput::Elements(lines.len() as u64));
        g.bench_function(f.name(), |b| b.iter(|| events(*f, lines, &ctx)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
