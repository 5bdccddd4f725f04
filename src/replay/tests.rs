//! Replay unit tests: merge by time, late and reordered events, ticks through gaps.

use super::*;

const T0: Micros = 1_772_438_400 * US; // 2026-03-02T08:00:00Z

fn pf_line(at: Micros, src: &str) -> String {
    format!(
        "{} edge-fw pf: {} rule 12/(match) pass out on em1: {src}.40000 > 198.18.0.1.443: Flags [S], seq 1, win 64240, length 0",
        crate::demo::syslog_stamp(at),
        crate::demo::precise_stamp(at)
    )
}

fn input(name: &str, lines: &[String]) -> Input {
    let mut text = lines.join("\n");
    text.push('\n');
    Input::reader(name, io::Cursor::new(text.into_bytes()))
}

fn opts() -> ReplayOptions {
    ReplayOptions {
        year: Some(2026),
        ..ReplayOptions::default()
    }
}

#[test]
fn late_events_are_counted_and_dropped_reordered_ones_kept() {
    let lines = vec![
        pf_line(T0, "10.0.0.1"),
        pf_line(T0 + 10 * US, "10.0.0.2"),
        pf_line(T0 + 8 * US, "10.0.0.3"), // 2 s early: accepted
        pf_line(T0 + 2 * US, "10.0.0.4"), // 8 s early: late
        pf_line(T0 + 11 * US, "10.0.0.5"),
        "not a log line at all".to_string(),
    ];
    let mut r = Replay::new(opts(), vec![input("a", &lines)]).unwrap();
    while r.step(None, 2).unwrap() != Progress::Done {}
    let s = r.stats().clone();
    assert_eq!(s.lines, 6);
    assert_eq!(s.late, 1);
    assert_eq!(s.reordered, 1);
    assert_eq!(s.events, 4);
    assert_eq!(s.first_ts, Some(T0));
    assert_eq!(s.last_ts, Some(T0 + 11 * US));
    // One tick per second from T0+1 to T0+11, and one after the end.
    assert_eq!(s.ticks, 12);
    let agg = r.aggregator_mut().unwrap();
    let snap = agg.snapshot(T0 + 12 * US);
    assert_eq!(snap.totals.events, 4);
    assert_eq!(snap.totals.lines, 6);
    assert_eq!(snap.server_time, "2026-03-02T08:00:12.000Z");
}

#[test]
fn inputs_merge_by_time_and_gaps_tick_every_second() {
    let a = vec![pf_line(T0, "10.0.0.1"), pf_line(T0 + 100 * US, "10.0.0.1")];
    let b = vec![pf_line(T0 + 50 * US, "10.0.0.2")];
    let mut r = Replay::new(opts(), vec![input("a", &a), input("b", &b)]).unwrap();
    // Paused before the line at +50 s: the clock moves to `until` through the gap.
    assert_eq!(r.step(Some(T0 + 20 * US), 100).unwrap(), Progress::Paused);
    assert_eq!(r.clock(), Some(T0 + 20 * US));
    assert_eq!(r.stats().ticks, 20);
    assert_eq!(r.next_time(), Some(T0 + 50 * US));
    let report = r.run_to_end().unwrap();
    assert_eq!(report.stats.late, 0);
    assert_eq!(report.stats.events, 3);
    assert_eq!(report.stats.ticks, 101);
}

#[test]
fn gaps_longer_than_the_cap_jump() {
    let a = vec![
        pf_line(T0, "10.0.0.1"),
        pf_line(T0 + (GAP_TICKS_MAX + 500) * US, "10.0.0.1"),
    ];
    let report = Replay::new(opts(), vec![input("a", &a)])
        .unwrap()
        .run_to_end()
        .unwrap();
    assert_eq!(report.stats.ticks as i64, GAP_TICKS_MAX + 1 + 1);
}

#[test]
fn untimed_lines_take_the_clock_and_errors_are_counted_per_feed() {
    let a = vec![
        "garbage before anything".to_string(),
        pf_line(T0, "10.0.0.1"),
        "Mar  2 08:00:01 core-1 kernel: [UFW BLOCK] IN=eth0 OUT= MAC= SRC=10.0.3.#17 DST=10.0.1.5 LEN=60 PROTO=TCP SPT=4 DPT=443".to_string(),
    ];
    let mut o = opts();
    o.format = FormatSpec::Auto;
    let mut r = Replay::new(o, vec![input("a", &a)]).unwrap();
    while r.step(None, usize::MAX).unwrap() != Progress::Done {}
    assert_eq!(r.stats().untimed, 2);
    let snap = r.aggregator_mut().unwrap().snapshot(T0 + 5 * US);
    assert_eq!(snap.totals.lines, 3);
    assert_eq!(snap.sources[0].name, "a");
}

#[test]
fn recorder_keeps_peak_and_span_per_id() {
    let out = |sev: u8, peak: u8, first: &str, last: &str, summary: &str| AnomalyOut {
        id: "port_scan-1".into(),
        kind: Kind::PortScan,
        severity: sev,
        peak_severity: peak,
        entity: "203.0.113.66".into(),
        zone: None,
        summary: summary.into(),
        first_seen: first.into(),
        last_seen: last.into(),
        count: 1,
        evidence: serde_json::json!({}),
    };
    let mut rec = Recorder::default();
    rec.note(&out(
        60,
        60,
        "2026-03-02T08:00:00.000Z",
        "2026-03-02T08:00:00.000Z",
        "a",
    ));
    rec.note(&out(
        40,
        80,
        "2026-03-02T08:00:00.000Z",
        "2026-03-02T08:00:30.000Z",
        "b",
    ));
    rec.note(&out(
        20,
        80,
        "2026-03-02T08:00:00.000Z",
        "2026-03-02T08:00:10.000Z",
        "old",
    ));
    let v = rec.finish();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].severity, 80);
    assert_eq!(v[0].summary, "b");
    assert_eq!(v[0].last_seen - v[0].first_seen, 30 * US);
    let json = serde_json::to_value(&v[0]).unwrap();
    assert_eq!(json["kind"], "port_scan");
    assert_eq!(json["first_seen"], "2026-03-02T08:00:00.000Z");
    // Field order as declared (serde_json's own map would sort them).
    let line = serde_json::to_string(&v[0]).unwrap();
    assert!(
        line.starts_with(
            r#"{"kind":"port_scan","entity":"203.0.113.66","severity":80,"first_seen":"#
        ),
        "{line}"
    );
    assert_eq!(json.as_object().unwrap().len(), 6);
}

#[test]
fn speeds_parse() {
    assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
    assert_eq!("60".parse::<Speed>(), Ok(Speed::Times(60.0)));
    assert!("0".parse::<Speed>().is_err());
    assert!("fast".parse::<Speed>().is_err());
}
