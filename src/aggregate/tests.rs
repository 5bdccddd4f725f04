//! Aggregator tests driven by an explicit clock (no sleeping): window counts at bucket
//! boundaries and after wrap-around, verdict split, exact top-N, heavy hitters and caps under
//! adversarial cardinality, first-seen, feed states, and the JSON shape of PROTOCOL.md.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::event::{Action, Proto, Record};

const T0: Micros = 1_764_000_000 * US; // 2025-11-24T16:00:00Z, a minute and 10 s boundary
const SEC: Micros = US;
const MIN: Micros = 60 * US;
const HOUR: Micros = 3600 * US;
const DAY: Micros = 86_400 * US;

fn v4(a: u8, b: u8, c: u8, d: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
}

fn rec(
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    port: u16,
    action: Option<Action>,
    bytes: u64,
) -> Record {
    Record {
        tcp_flags: Default::default(),
        ts: Some(T0 - 3 * HOUR),
        src_ip: src,
        dst_ip: dst,
        src_port: Some(40_000),
        dst_port: Some(port),
        proto: Some(Proto::TCP),
        action,
        direction: None,
        bytes,
        packets: 1,
        dns_query: false,
    }
}

fn batch(source: u16, records: Vec<Record>) -> EventBatch {
    EventBatch {
        source,
        lines: records.len() as u64,
        records,
        ..EventBatch::default()
    }
}

fn settings() -> AggregateSettings {
    AggregateSettings {
        sources: vec![SourceSettings::new("fw1"), SourceSettings::new("fw2")],
        ..AggregateSettings::default()
    }
}

fn one(action: Option<Action>) -> EventBatch {
    batch(
        0,
        vec![rec(v4(203, 0, 113, 9), v4(10, 0, 0, 1), 443, action, 100)],
    )
}

#[test]
fn windows_exact_at_boundaries_and_after_wrap() {
    let mut a = Aggregator::new(settings(), T0);
    // Last microsecond of second 0 and first of second 1 land in different buckets.
    a.ingest(&one(Some(Action::Allow)), T0 + SEC - 1);
    a.ingest(&one(Some(Action::Allow)), T0 + SEC);
    a.ingest(&one(Some(Action::Allow)), T0 + SEC);
    let s = a.series(Step::Second, 3, T0 + SEC);
    assert_eq!(s.end, T0 / US + 1);
    assert_eq!(s.events, vec![0, 1, 2]);
    assert_eq!(s.bytes, vec![0, 100, 200]);
    // Rates cover the 10 complete seconds before now.
    let u = a.update(T0 + 2 * SEC);
    assert_eq!(u.rates.events_per_s, 0.3);
    assert_eq!(u.series.events.len(), UPDATE_POINTS);
    assert_eq!(&u.series.events[7..], &[1, 2, 0]);
    // Minute buckets: both in the first minute, the next minute starts empty.
    a.ingest(&one(None), T0 + MIN);
    let m = a.series(Step::Minute, 2, T0 + MIN);
    assert_eq!(m.events, vec![3, 1]);
    assert_eq!(m.end, (T0 + MIN) / US);
    assert!(m.distinct_src.is_none());

    // One hour later the per-second ring has wrapped: the old seconds are gone, not doubled.
    let later = T0 + SEC + HOUR;
    a.ingest(&one(Some(Action::Deny)), later);
    let s = a.series(Step::Second, 3600, later);
    assert_eq!(s.events.iter().sum::<u64>(), 2); // the new one and the one at T0 + 1 min
    assert_eq!(s.events[0], 0); // same ring position as T0 + 1 s, which is gone
    assert_eq!(*s.events.last().unwrap(), 1);
    // Minutes still hold the first hour.
    let m = a.series(Step::Minute, 61, later);
    assert_eq!(m.events.iter().sum::<u64>(), 5);
    // Eight days later everything but totals is gone.
    let much_later = T0 + 8 * DAY;
    a.ingest(&one(Some(Action::Allow)), much_later);
    let m = a.series(Step::Minute, MINUTE_POINTS, much_later);
    assert_eq!(m.events.len(), MINUTE_POINTS);
    assert_eq!(m.events.iter().sum::<u64>(), 1);
    let snap = a.snapshot(much_later);
    assert_eq!(snap.totals.events, 6);
    assert_eq!(snap.topn.h1.src[0].count, 1);
    assert_eq!(snap.distinct.src.h1, 1);
}

#[test]
fn verdict_split_and_protocols() {
    let mut a = Aggregator::new(settings(), T0);
    let mut recs = vec![];
    for (n, act) in [(3, Some(Action::Allow)), (2, Some(Action::Deny)), (1, None)] {
        for _ in 0..n {
            recs.push(rec(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 53, act, 10));
        }
    }
    recs[0].proto = Some(Proto::UDP);
    recs[1].proto = Some(Proto::ICMPV6);
    recs[2].proto = None;
    a.ingest(&batch(0, recs), T0);
    let s = a.snapshot(T0);
    let t = &s.totals;
    assert_eq!((t.events, t.allowed, t.denied, t.no_verdict), (6, 3, 2, 1));
    assert_eq!(t.events, t.allowed + t.denied + t.no_verdict);
    assert_eq!(*s.series.denied.last().unwrap(), 2);
    let p: Vec<(&str, u64)> = s
        .protocols
        .iter()
        .map(|p| (p.key.as_str(), p.count))
        .collect();
    assert_eq!(p, vec![("tcp", 3), ("udp", 1), ("icmp", 1), ("other", 1)]);
    // Denied lists see only denied traffic; ICMP/no-proto records have no dport.
    assert_eq!(s.topn.m1.denied_src[0].count, 2);
    assert_eq!(s.topn.m1.dport[0].key, "tcp/53");
    assert_eq!(s.topn.m1.dport[0].count, 3);
}

#[test]
fn port_zero_of_portless_protocols_is_not_a_port() {
    // Parsers report ports as written, so GRE, PIM, protocol 0 or an unassigned protocol can
    // arrive with `dst_port: Some(0)`; only port protocols feed the port lists.
    let s = AggregateSettings {
        learning: Duration::ZERO,
        ..settings()
    };
    let mut a = Aggregator::new(s, T0);
    let mut recs = vec![];
    for proto in [
        Some(Proto::GRE),
        Some(Proto(103)),
        Some(Proto(0)),
        Some(Proto(253)),
        None,
    ] {
        let mut r = rec(v4(1, 1, 1, 1), v4(10, 0, 0, 1), 0, Some(Action::Deny), 10);
        (r.proto, r.src_port) = (proto, Some(0));
        recs.push(r);
    }
    recs.push(rec(
        v4(1, 1, 1, 1),
        v4(10, 0, 0, 1),
        443,
        Some(Action::Deny),
        10,
    ));
    a.ingest(&batch(0, recs), T0 + SEC);
    let snap = a.snapshot(T0 + SEC);
    assert_eq!(snap.totals.events, 6);
    for w in [&snap.topn.m1, &snap.topn.h1] {
        let keys: Vec<&str> = w.dport.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, vec!["tcp/443"]);
        assert_eq!(w.dport[0].count, 1);
        assert_eq!(w.denied_dport.len(), 1);
    }
    let rare: Vec<&str> = snap
        .topn
        .m1
        .rare_dport
        .iter()
        .map(|e| e.key.as_str())
        .collect();
    assert!(rare.iter().all(|k| *k == "tcp/443"), "{rare:?}");
    let first: Vec<&str> = snap
        .first_seen
        .dport
        .iter()
        .map(|e| e.key.as_str())
        .collect();
    assert_eq!(first, vec!["tcp/443"]);
}

#[test]
fn topn_exact_for_small_inputs() {
    let mut a = Aggregator::new(settings(), T0);
    let mut recs = vec![];
    for (i, n) in [(1u8, 5usize), (2, 3), (3, 8), (4, 1)] {
        for _ in 0..n {
            let act = if i == 2 {
                Some(Action::Deny)
            } else {
                Some(Action::Allow)
            };
            recs.push(rec(
                v4(198, 51, 100, i),
                v4(10, 0, 0, 1),
                1000 + u16::from(i),
                act,
                u64::from(i) * 1000,
            ));
        }
    }
    a.ingest(&batch(0, recs), T0 + 5 * SEC);
    let s = a.snapshot(T0 + 5 * SEC);
    let w = &s.topn.m1;
    let src: Vec<(&str, u64, u64, u64)> = w
        .src
        .iter()
        .map(|e| (e.key.as_str(), e.count, e.bytes, e.error))
        .collect();
    assert_eq!(
        src,
        vec![
            ("198.51.100.3", 8, 24_000, 0),
            ("198.51.100.1", 5, 5_000, 0),
            ("198.51.100.2", 3, 6_000, 0),
            ("198.51.100.4", 1, 4_000, 0),
        ]
    );
    let talkers: Vec<(&str, u64)> = w
        .talkers
        .iter()
        .map(|e| (e.key.as_str(), e.bytes))
        .collect();
    assert_eq!(
        talkers[..2],
        [("198.51.100.3", 24_000), ("198.51.100.2", 6_000)]
    );
    assert_eq!(w.talkers[0].count, 8);
    assert_eq!(w.pair[0].key, "198.51.100.3 > 10.0.0.1");
    assert_eq!(w.dport[0].key, "tcp/1003");
    assert_eq!(w.denied_dport.len(), 1);
    assert_eq!(w.denied_pair[0].key, "198.51.100.2 > 10.0.0.1");
    let rare: Vec<(&str, u64)> = w
        .rare_dport
        .iter()
        .map(|e| (e.key.as_str(), e.count))
        .collect();
    assert_eq!(
        rare,
        vec![
            ("tcp/1004", 1),
            ("tcp/1002", 3),
            ("tcp/1001", 5),
            ("tcp/1003", 8)
        ]
    );
    assert_eq!(
        w.dst,
        vec![TopEntry {
            key: "10.0.0.1".into(),
            count: 17,
            bytes: 39_000,
            error: 0
        }]
    );
    // The 1m window drops the slot once it is more than 6 slots old; 5m still has it.
    let s = a.snapshot(T0 + 65 * SEC);
    assert!(s.topn.m1.src.is_empty());
    assert_eq!(s.topn.m5.src.len(), 4);
    assert_eq!(s.topn.h1.src[0].count, 8);
}

/// 1M records over 100k distinct sources spread over 5 minutes, 3 heavy hitters: all found,
/// ranked first, and every reported count within the documented bound.
#[test]
fn heavy_hitters_found_under_skewed_stream() {
    let mut a = Aggregator::new(settings(), T0);
    let mut rng = super::spacesaving::tests::Rng(42);
    let n = 1_000_000u64;
    let mut recs = Vec::with_capacity(1000);
    let mut now = T0;
    let mut heavy = [0u64; 3];
    for i in 0..n {
        let r = rng.next();
        let src = if r % 100 < 15 {
            let h = (r >> 40) % 3;
            heavy[h as usize] += 1;
            v4(203, 0, 113, h as u8 + 1)
        } else {
            let k = (r >> 20) % 100_000;
            Some(IpAddr::V4(Ipv4Addr::from(0x6400_0000 + k as u32)))
        };
        recs.push(rec(src, v4(192, 0, 2, 1), 443, Some(Action::Allow), 1));
        if recs.len() == 1000 {
            a.ingest(&batch(0, std::mem::take(&mut recs)), now);
            now = T0 + (i as i64 * 300 / n as i64) * SEC;
        }
    }
    let s = a.snapshot(now);
    let w = &s.topn.m5;
    let total = s.totals.events;
    let top3: BTreeSet<&str> = w.src[..3].iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        top3,
        BTreeSet::from(["203.0.113.1", "203.0.113.2", "203.0.113.3"])
    );
    let cap = a.sizes().summary_cap as u64;
    for e in &w.src[..3] {
        let h = e.key.rsplit('.').next().unwrap().parse::<usize>().unwrap() - 1;
        // The 5m window holds (almost) all of the stream; the exact count lies in the interval.
        assert!(
            e.count - e.error <= heavy[h] && heavy[h] <= e.count + 1000,
            "{e:?} true {}",
            heavy[h]
        );
        assert!(e.error <= total / cap, "{e:?} bound {}", total / cap);
    }
    assert!(
        s.distinct.src.m5 > 95_000 && s.distinct.src.m5 < 105_000,
        "{:?}",
        s.distinct
    );
}

/// An attacker sprays random source IPs: every structure stays at its cap and the memory
/// estimate stops growing.
#[test]
fn memory_bounded_under_random_sources() {
    let mut a = Aggregator::new(settings(), T0);
    let mut rng = super::spacesaving::tests::Rng(7);
    let mut now = T0;
    let mut run = |a: &mut Aggregator, n: usize, now: &mut Micros| {
        for _ in 0..n / 2000 {
            let recs: Vec<Record> = (0..2000)
                .map(|_| {
                    let r = rng.next();
                    let src = Some(IpAddr::V4(Ipv4Addr::from((r >> 32) as u32)));
                    // Internal destinations too, so the host set grows.
                    let dst = Some(IpAddr::V4(Ipv4Addr::from(
                        0x0a00_0000 | (r as u32 & 0x00ff_ffff),
                    )));
                    rec(src, dst, (r >> 16) as u16, Some(Action::Deny), 60)
                })
                .collect();
            a.ingest(&batch(0, recs), *now);
            *now += 4 * SEC; // 2000 records per 4 s: 2M records touch every 10 s slot of the hour
        }
    };
    run(&mut a, 2_000_000, &mut now);
    let sz = a.sizes();
    assert_eq!(sz.top_slots, 360);
    assert_eq!(sz.max_summary_len, sz.summary_cap);
    assert_eq!(sz.max_rare_len, sz.rare_cap);
    assert!(sz.rare_untracked > 0);
    assert!(sz.hosts <= sz.host_cap && sz.ports <= sz.port_cap);
    let mem = a.memory_estimate();
    eprintln!("memory_estimate at caps: {mem} bytes, {sz:?}");
    run(&mut a, 1_000_000, &mut now);
    let sz2 = a.sizes();
    assert_eq!(sz2.max_summary_len, sz.summary_cap);
    assert_eq!(sz.hosts, HOST_CAP); // ~1.9M distinct internal destinations offered
    assert_eq!(sz2.hosts, HOST_CAP);
    // Bounded: another million adversarial records may not grow it beyond hash-table noise.
    let after = a.memory_estimate();
    assert!(
        after <= mem + mem / 100,
        "memory grew after the caps were reached: {mem} -> {after}"
    );
    let snap = a.snapshot(now);
    assert_eq!(snap.topn.h1.src.len(), 10);
    assert!(snap.topn.h1.src[0].error > 0);
}

#[test]
fn host_set_cap_drops_newcomers() {
    let mut a = Aggregator::new(AggregateSettings::default(), T0);
    let mut now = T0;
    let mut next = 0u32;
    while a.sizes().hosts < HOST_CAP {
        let recs: Vec<Record> = (0..10_000)
            .map(|_| {
                next += 1;
                let dst = Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | next)));
                rec(v4(8, 8, 8, 8), dst, 443, None, 0)
            })
            .collect();
        a.ingest(&batch(0, recs), now);
        now += SEC;
    }
    a.ingest(
        &batch(
            0,
            vec![rec(v4(8, 8, 8, 8), v4(192, 168, 1, 1), 443, None, 0)],
        ),
        now,
    );
    let sz = a.sizes();
    assert_eq!(sz.hosts, HOST_CAP);
    assert!(sz.host_dropped >= 1);
    assert!(a.snapshot(now).first_seen.host_dropped >= 1);
}

#[test]
fn first_seen_ports_and_hosts() {
    let s = AggregateSettings {
        learning: Duration::from_secs(600),
        ..settings()
    };
    let mut a = Aggregator::new(s, T0);
    a.ingest(&one(Some(Action::Allow)), T0 + SEC);
    let f = a.snapshot(T0 + SEC).first_seen;
    assert!(f.learning);
    assert_eq!(f.dport[0].key, "tcp/443");
    assert_eq!(f.host[0].key, "10.0.0.1"); // 203.0.113.9 is not internal
    assert_eq!(f.host.len(), 1);

    // After learning: things seen during learning are not news; new ones are, once.
    let t = T0 + 11 * MIN;
    a.ingest(&one(Some(Action::Allow)), t);
    let mut r = rec(
        v4(192, 168, 7, 7),
        v4(203, 0, 113, 1),
        8443,
        Some(Action::Allow),
        1,
    );
    a.ingest(&batch(0, vec![r]), t);
    r.dst_port = Some(22);
    a.ingest(&batch(0, vec![r]), t + SEC);
    a.ingest(&batch(0, vec![r]), t + 2 * SEC);
    let f = a.snapshot(t + 2 * SEC).first_seen;
    assert!(!f.learning);
    let ports: Vec<(&str, u64)> = f.dport.iter().map(|e| (e.key.as_str(), e.count)).collect();
    assert_eq!(ports, vec![("tcp/22", 2), ("tcp/8443", 1)]); // newest first
    assert_eq!(f.dport[1].at, "2025-11-24T16:11:00.000Z");
    assert_eq!(f.host.len(), 1);
    assert_eq!(f.host[0].key, "192.168.7.7");
    assert_eq!(f.host[0].count, 3);

    // More than an hour later they drop off the list; seen again within 7 days: not new.
    let t2 = t + 2 * HOUR;
    a.ingest(&batch(0, vec![r]), t2);
    let f = a.snapshot(t2).first_seen;
    assert!(f.dport.is_empty() && f.host.is_empty());
    // Unseen for more than 7 days: new again.
    let t3 = t2 + 8 * DAY;
    a.ingest(&batch(0, vec![r]), t3);
    let f = a.snapshot(t3).first_seen;
    assert_eq!(f.dport.len(), 1);
    assert_eq!(f.host.len(), 1);
}

#[test]
fn feed_states_and_health() {
    let mut a = Aggregator::new(settings(), T0);
    assert_eq!(a.heartbeat(T0).sources[0].state, "waiting");
    assert!(!a.dirty(T0));
    let mut b = one(Some(Action::Allow));
    b.lines = 3;
    b.skipped = 1;
    b.parse_errors = 1;
    b.format = Some(Format::Pf);
    b.last_error = Some(ErrorSample {
        reason: "bad field",
        line: "x".repeat(500),
    });
    a.ingest(&b, T0);
    assert!(a.dirty(T0));
    a.set_tail_info(0, 2, 4096);
    let u = a.update(T0);
    assert!(!a.dirty(T0));
    let s = &u.sources[0];
    assert_eq!(
        (s.state, s.format, s.lines, s.events, s.files, s.lag_bytes),
        ("ok", Some("pf"), 3, 1, 2, 4096)
    );
    assert_eq!(s.last_error.as_ref().unwrap().line.len(), 200);
    assert_eq!(s.last_event_at.as_deref(), Some("2025-11-24T16:00:00.000Z"));
    assert_eq!(s.last_event_ts.as_deref(), Some("2025-11-24T13:00:00.000Z"));
    assert_eq!(s.rate.len(), 60);
    assert_eq!(*s.rate.last().unwrap(), 1);
    assert_eq!(u.sources[1].state, "waiting");
    assert_eq!(
        u.feeds,
        FeedsSummary {
            total: 2,
            active: 1
        }
    );
    // Rates over the 10 s before now.
    let u = a.update(T0 + 5 * SEC);
    assert_eq!(u.sources[0].lines_per_s, 0.3);

    // Thresholds: quiet at 60 s, silent at 300 s; state changes make the aggregator dirty.
    assert!(!a.dirty(T0 + 60 * SEC - 1));
    assert_eq!(a.heartbeat(T0 + 60 * SEC - 1).sources[0].state, "ok");
    assert!(a.dirty(T0 + 60 * SEC));
    assert_eq!(a.heartbeat(T0 + 60 * SEC).sources[0].state, "quiet");
    a.update(T0 + 60 * SEC);
    assert!(!a.dirty(T0 + 299 * SEC));
    assert_eq!(a.heartbeat(T0 + 300 * SEC).sources[0].state, "silent");
    assert!(a.dirty(T0 + 300 * SEC));
    let u = a.update(T0 + 300 * SEC);
    assert_eq!(u.feeds.active, 0);
    // A line (even a skipped one) brings it back.
    a.ingest(
        &EventBatch {
            source: 0,
            lines: 1,
            skipped: 1,
            ..EventBatch::default()
        },
        T0 + 301 * SEC,
    );
    assert_eq!(a.heartbeat(T0 + 301 * SEC).sources[0].state, "ok");
    // Unknown source ids get a placeholder feed.
    a.ingest(&one(None), T0 + 301 * SEC);
    a.ingest(
        &EventBatch {
            source: 3,
            lines: 1,
            ..EventBatch::default()
        },
        T0 + 301 * SEC,
    );
    assert_eq!(a.heartbeat(T0 + 301 * SEC).sources[3].name, "source-3");
}

#[test]
fn update_sends_topn_at_most_once_per_second() {
    let mut a = Aggregator::new(settings(), T0);
    a.ingest(&one(None), T0);
    let u1 = a.update(T0);
    assert!(u1.topn.is_some() && u1.first_seen.is_some() && u1.protocols.is_some());
    let u2 = a.update(T0 + 250_000);
    assert!(u2.topn.is_none() && u2.protocols.is_none());
    assert_eq!(u2.seq, u1.seq + 1);
    let u3 = a.update(T0 + SEC);
    assert!(u3.topn.is_some());
    // A snapshot carries the current seq and does not bump it.
    let s = a.snapshot(T0 + 3 * SEC);
    assert_eq!(s.seq, u3.seq);
    // ... and its recompute is forwarded with the next update.
    assert!(a.update(T0 + 3 * SEC + 1).topn.is_some());
    let j = serde_json::to_value(a.update(T0 + 3 * SEC + 2)).unwrap();
    assert!(j.get("topn").is_none());
    assert_eq!(
        j["series"]["events"].as_array().unwrap().len(),
        UPDATE_POINTS
    );
}

#[test]
fn update_carries_state_health_once_when_it_changes() {
    let mut a = Aggregator::new(settings(), T0);
    let failing = StateOut {
        saved_at: Some("2026-11-24T03:40:00.000Z".into()),
        saves: 3,
        failures: 1,
        skipped: 0,
        error: Some(StateErrorOut {
            since: "2026-11-24T03:40:05.000Z".into(),
            error: "No space left on device (os error 28)".into(),
        }),
        restored_from: None,
        load_problems: Vec::new(),
    };
    assert!(a.update(T0).state.is_none(), "nothing to say yet");
    a.set_state_health(Some(failing.clone()));
    assert!(a.dirty(T0 + 1), "a change is owed to the walls");
    let j = serde_json::to_value(a.update(T0 + 250_000)).unwrap();
    assert_eq!(
        j["state"]["error"]["error"],
        "No space left on device (os error 28)"
    );
    assert_eq!(j["state"]["failures"], 1);
    // Sent once: the next update leaves the key out (the wall keeps its copy).
    let j = serde_json::to_value(a.update(T0 + 500_000)).unwrap();
    assert!(j.get("state").is_none(), "{j}");
    // The same value again is not a change; a recovery is.
    a.set_state_health(Some(failing.clone()));
    assert!(a.update(T0 + 750_000).state.is_none());
    let ok = StateOut {
        error: None,
        saves: 4,
        ..failing
    };
    a.set_state_health(Some(ok));
    let u = a.update(T0 + SEC).state.expect("recovery sent");
    assert_eq!((u.error, u.saves), (None, 4));
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn set(ks: &[&str]) -> BTreeSet<String> {
    ks.iter().map(|s| s.to_string()).collect()
}

/// The serialized snapshot has exactly PROTOCOL.md's keys (plus the documented additions).
#[test]
fn snapshot_json_shape() {
    let mut a = Aggregator::new(settings(), T0);
    let mut b = one(Some(Action::Deny));
    b.last_error = Some(ErrorSample {
        reason: "r",
        line: "l".into(),
    });
    a.ingest(&b, T0 + 250_000);
    let v = serde_json::to_value(a.snapshot(T0 + 250_000)).unwrap();
    assert_eq!(
        keys(&v),
        set(&[
            "anomalies",
            "protocol",
            "seq",
            "server_time",
            "started_at",
            "totals",
            "rates",
            "distinct",
            "feeds",
            "series",
            "protocols",
            "topn",
            "flows",
            "port_heat",
            "first_seen",
            "sources",
            "state",
        ])
    );
    assert!(v["state"].is_null(), "no state dir configured");
    assert_eq!(v["protocol"], 1);
    assert_eq!(v["server_time"], "2025-11-24T16:00:00.250Z");
    assert_eq!(v["started_at"], "2025-11-24T16:00:00.000Z");
    assert_eq!(
        keys(&v["totals"]),
        set(&[
            "lines",
            "events",
            "bytes",
            "packets",
            "allowed",
            "denied",
            "no_verdict",
            "skipped",
            "parse_errors",
            "overlong",
        ])
    );
    assert_eq!(
        keys(&v["rates"]),
        set(&[
            "window_s",
            "lines_per_s",
            "events_per_s",
            "allowed_per_s",
            "denied_per_s",
            "bytes_per_s"
        ])
    );
    assert_eq!(keys(&v["distinct"]), set(&["src", "dst"]));
    let win = set(&["1m", "5m", "15m", "1h"]);
    assert_eq!(keys(&v["distinct"]["src"]), win);
    assert_eq!(keys(&v["distinct"]["dst"]), win);
    assert_eq!(keys(&v["feeds"]), set(&["total", "active"]));
    assert_eq!(
        keys(&v["series"]),
        set(&[
            "step_s",
            "end",
            "events",
            "allowed",
            "denied",
            "bytes",
            "distinct_src"
        ])
    );
    assert_eq!(v["series"]["step_s"], 1);
    assert_eq!(v["series"]["end"], T0 / US);
    for k in ["events", "allowed", "denied", "bytes", "distinct_src"] {
        assert_eq!(
            v["series"][k].as_array().unwrap().len(),
            SNAPSHOT_POINTS,
            "{k}"
        );
    }
    assert_eq!(v["series"]["distinct_src"][SNAPSHOT_POINTS - 1], 1);
    assert_eq!(keys(&v["protocols"][0]), set(&["key", "count", "bytes"]));
    assert_eq!(keys(&v["topn"]), win);
    let lists = set(&[
        "src",
        "dst",
        "dport",
        "pair",
        "talkers",
        "denied_src",
        "denied_dst",
        "denied_dport",
        "denied_pair",
        "rare_dport",
    ]);
    for w in &win {
        assert_eq!(keys(&v["topn"][w]), lists, "{w}");
        for l in &lists {
            let e = &v["topn"][w][l][0];
            assert_eq!(keys(e), set(&["key", "count", "bytes", "error"]), "{w} {l}");
        }
    }
    assert_eq!(v["topn"]["1m"]["dport"][0]["key"], "tcp/443");
    assert_eq!(v["topn"]["1m"]["pair"][0]["key"], "203.0.113.9 > 10.0.0.1");
    assert_eq!(
        keys(&v["first_seen"]),
        set(&["learning", "dport", "host", "host_dropped"])
    );
    assert_eq!(
        keys(&v["first_seen"]["dport"][0]),
        set(&["key", "at", "count"])
    );
    assert_eq!(v["sources"].as_array().unwrap().len(), 2);
    assert_eq!(
        keys(&v["sources"][0]),
        set(&[
            "name",
            "format",
            "state",
            "files",
            "lines",
            "events",
            "skipped",
            "parse_errors",
            "overlong",
            "lines_per_s",
            "events_per_s",
            "last_event_at",
            "last_event_ts",
            "last_line_at",
            "lag_bytes",
            "last_error",
            "io_error",
            "rate",
        ])
    );
    assert!(v["sources"][0]["io_error"].is_null());
    assert_eq!(
        keys(&v["sources"][0]["last_error"]),
        set(&["at", "reason", "line"])
    );
    assert!(v["sources"][1]["last_error"].is_null());
    assert_eq!(v["sources"][0]["rate"].as_array().unwrap().len(), 60);

    let h = serde_json::to_value(a.heartbeat(T0 + SEC)).unwrap();
    assert_eq!(keys(&h), set(&["server_time", "seq", "sources"]));
    assert_eq!(
        keys(&h["sources"][0]),
        set(&["name", "state", "last_event_at"])
    );
    let u = serde_json::to_value(a.update(T0 + SEC)).unwrap();
    assert_eq!(
        keys(&u),
        set(&[
            "seq",
            "server_time",
            "totals",
            "rates",
            "distinct",
            "feeds",
            "series",
            "protocols",
            "topn",
            "flows",
            "port_heat",
            "first_seen",
            "sources",
        ])
    );
    let sr = serde_json::to_value(a.series(Step::Minute, 5, T0 + SEC)).unwrap();
    assert_eq!(
        keys(&sr),
        set(&[
            "step_s", "end", "events", "allowed", "denied", "bytes", "feeds"
        ])
    );
}

#[test]
fn clock_going_backwards_is_clamped() {
    let mut a = Aggregator::new(settings(), T0);
    a.ingest(&one(None), T0 + 10 * SEC);
    a.ingest(&one(None), T0 + 5 * SEC);
    let s = a.series(Step::Second, 1, T0 + 10 * SEC);
    assert_eq!(s.events, vec![2]);
}

#[test]
fn flows_and_port_heat_come_from_the_slots() {
    let mut a = Aggregator::new(settings(), T0);
    let mut icmp = rec(v4(10, 0, 0, 5), v4(10, 0, 0, 6), 0, Some(Action::Allow), 64);
    icmp.proto = Some(Proto::ICMP);
    icmp.dst_port = None;
    let mut recs = vec![icmp];
    for _ in 0..3 {
        recs.push(rec(
            v4(203, 0, 113, 9),
            v4(10, 0, 0, 1),
            22,
            Some(Action::Deny),
            60,
        ));
    }
    a.ingest(&batch(0, recs), T0 + 5 * SEC);
    // Two minutes later: denied 23 in another column.
    a.ingest(
        &batch(
            0,
            vec![rec(
                v4(198, 51, 100, 4),
                v4(10, 0, 0, 1),
                23,
                Some(Action::Deny),
                60,
            )],
        ),
        T0 + 2 * MIN + 5 * SEC,
    );
    let s = a.snapshot(T0 + 2 * MIN + 6 * SEC);
    let f = &s.flows.m15;
    assert_eq!(f.len(), 3);
    assert_eq!(
        (
            f[0].src.as_str(),
            f[0].dst.as_str(),
            f[0].service.as_str(),
            f[0].proto.as_str()
        ),
        ("203.0.113.9", "10.0.0.1", "tcp/22", "tcp")
    );
    assert_eq!((f[0].count, f[0].bytes, f[0].error), (3, 180, 0));
    assert!(
        f.iter()
            .any(|e| e.service == "icmp" && e.proto == "icmp" && e.bytes == 64)
    );
    // The 1m window holds only the newer flow.
    assert_eq!(s.flows.m1.len(), 1);
    let h = &s.port_heat;
    assert_eq!((h.step_s, h.end), (60, T0 / US + 120));
    assert_eq!(h.ports, vec!["tcp/22", "tcp/23"]);
    assert_eq!(h.counts[0].len(), 60);
    assert_eq!(h.counts[0][57], 3);
    assert_eq!(h.counts[1][59], 1);
    assert_eq!(h.counts[0].iter().sum::<u64>(), 3);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["flows"]["5m"][0]["service"], "tcp/22");
    assert_eq!(json["port_heat"]["ports"][1], "tcp/23");
}
