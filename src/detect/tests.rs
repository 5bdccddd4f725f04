//! Engine-level tests: merging, decay, expiry, enable/disable, with an explicit clock.

use super::*;

const S: Micros = 1_000_000;
const T0: Micros = 1_700_000_000 * S;

fn finding(kind: Kind, entity: &str, severity: u8) -> Finding {
    Finding {
        kind,
        entity: entity.into(),
        zone: None,
        severity,
        summary: format!("{entity} did something"),
        count: 1,
        evidence: serde_json::json!({}),
    }
}

#[test]
fn findings_merge_by_kind_and_entity() {
    let mut t = Table::new(TableSettings::default());
    let mut ch = Vec::new();
    t.merge(finding(Kind::PortScan, "10.0.0.1", 60), T0, &mut ch);
    t.merge(finding(Kind::PortScan, "10.0.0.1", 70), T0 + S, &mut ch);
    t.merge(finding(Kind::DenyBurst, "10.0.0.1", 50), T0 + S, &mut ch);
    assert_eq!(t.len(), 2);
    let opened = ch.iter().filter(|c| c.change == ChangeKind::Open).count();
    assert_eq!(opened, 2);
    let top = t.top(T0 + S, 10);
    assert_eq!(top[0].kind, Kind::PortScan);
    assert_eq!(top[0].count, 2);
    assert_eq!(top[0].severity, 70);
    assert_eq!(top[0].id, "port_scan-1");
    assert_eq!(top[1].kind, Kind::DenyBurst);
}

#[test]
fn severity_decays_and_anomalies_close() {
    let s = TableSettings::default();
    let mut t = Table::new(s.clone());
    let mut ch = Vec::new();
    t.merge(finding(Kind::PortScan, "a", 80), T0, &mut ch);
    ch.clear();
    // One half-life later: 40, reported as an update (moved >= 10 points).
    t.tick(T0 + s.half_life_s * S, &mut ch);
    assert_eq!(t.top(T0 + s.half_life_s * S, 1)[0].severity, 40);
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].change, ChangeKind::Update);
    ch.clear();
    t.tick(T0 + (s.expire_after_s + 1) * S, &mut ch);
    assert!(t.is_empty());
    assert_eq!(ch[0].change, ChangeKind::Close);
}

#[test]
fn table_is_bounded_and_keeps_the_most_severe() {
    let mut t = Table::new(TableSettings {
        max_open: 3,
        ..TableSettings::default()
    });
    let mut ch = Vec::new();
    for (i, sev) in [50u8, 20, 70].into_iter().enumerate() {
        t.merge(finding(Kind::PortScan, &i.to_string(), sev), T0, &mut ch);
    }
    t.merge(finding(Kind::PortScan, "x", 90), T0, &mut ch);
    assert_eq!(t.len(), 3);
    let sev: Vec<u8> = t.top(T0, 10).iter().map(|a| a.severity).collect();
    assert_eq!(sev, vec![90, 70, 50]);
    t.merge(finding(Kind::PortScan, "y", 10), T0, &mut ch);
    assert_eq!(t.dropped(), 1);
}

#[test]
fn engine_ticks_once_per_second_and_disabled_kinds_are_off() {
    let settings = DetectSettings {
        disabled: vec![Kind::FeedSilence],
        ..DetectSettings::default()
    };
    let enabled = Enabled::new(&settings.disabled);
    assert!(!enabled.kind(Kind::FeedSilence));
    assert!(enabled.kind(Kind::ParseErrors));
    let mut e = Engine::new(settings, Context::with_default_networks(), T0);
    let view = TickView::default();
    assert!(e.tick(T0, &view).is_empty());
    assert_eq!(e.open(), 0);
}

#[test]
fn changes_of_findings_merged_by_observe_reach_the_next_tick() {
    let mut ctx = Context::with_default_networks();
    let mut l = AddressList::new("ti");
    l.add("203.0.113.66".parse().unwrap());
    ctx.watchlists.push(l);
    let mut e = Engine::new(DetectSettings::default(), ctx, T0);
    let view = TickView::default();
    assert!(e.tick(T0, &view).is_empty());
    let r = super::tests_support::rec(
        "10.1.4.22",
        50000,
        "203.0.113.66",
        443,
        crate::event::Action::Allow,
    );
    e.observe(0, &r, T0 + S / 2);
    // Same second as the last evaluation: the change is still handed over, once.
    let ch = e.tick(T0 + S / 2, &view);
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].change, ChangeKind::Open);
    assert_eq!(ch[0].anomaly.id, "watchlist_hit-1");
    assert!(e.tick(T0 + S, &view).is_empty());
    assert_eq!(e.anomalies(T0 + S, 10)[0].entity, "203.0.113.66");
    assert!(e.memory_estimate() <= CONTEXT_MEMORY_CAP + (1 << 20));
}

#[test]
fn aggregator_applies_a_new_context_and_hands_over_anomaly_changes() {
    use crate::aggregate::{AggregateSettings, Aggregator, EventBatch};
    let mut a = Aggregator::new(AggregateSettings::default(), T0);
    let r = super::tests_support::udp(
        "195.141.69.45",
        1030,
        "61.215.160.253",
        53,
        crate::event::Action::Allow,
    );
    let batch = EventBatch {
        source: 0,
        lines: 1,
        records: vec![r],
        ..EventBatch::default()
    };
    a.ingest(&batch, T0 + S);
    let hosts = |a: &mut Aggregator, now| -> Vec<String> {
        a.snapshot(now)
            .first_seen
            .host
            .iter()
            .map(|e| e.key.clone())
            .collect()
    };
    assert!(hosts(&mut a, T0 + S).is_empty(), "not internal by default");
    // Hot reload: the log owner's /24 becomes internal, 61.215.160.253 is watchlisted.
    let mut ctx = Context::new(&["195.141.69.0/24".parse().unwrap()], &[]);
    let mut l = AddressList::new("threat-intel");
    l.add("61.215.160.253".parse().unwrap());
    ctx.watchlists.push(l);
    a.set_context(ctx);
    a.ingest(&batch, T0 + 2 * S);
    assert_eq!(hosts(&mut a, T0 + 2 * S), vec!["195.141.69.45".to_string()]);
    let up = a.update(T0 + 2 * S);
    let listed = up.anomalies.expect("the list changed");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].entity, "61.215.160.253");
    let ch = a.take_anomaly_changes();
    assert_eq!(ch.len(), 1);
    assert_eq!(
        (ch[0].change, ch[0].anomaly.kind),
        (ChangeKind::Open, Kind::WatchlistHit)
    );
    assert!(a.take_anomaly_changes().is_empty());
    // The JSON of a change is the anomaly's fields plus `change`.
    let v = serde_json::to_value(&ch[0]).unwrap();
    assert_eq!(v["change"], "open");
    assert_eq!(v["id"], "watchlist_hit-1");
    assert_eq!(v["zone"], "external");
}

#[test]
fn a_detect_settings_reload_rebuilds_the_engine_and_keeps_open_anomalies() {
    use crate::aggregate::{AggregateSettings, Aggregator, EventBatch};
    let mut a = Aggregator::new(AggregateSettings::default(), T0);
    let mut ctx = Context::new(&["10.0.0.0/8".parse().unwrap()], &[]);
    let mut l = AddressList::new("threat-intel");
    l.add("203.0.113.66".parse().unwrap());
    ctx.watchlists.push(l);
    a.set_context(ctx.clone());
    let r = super::tests_support::rec(
        "10.1.4.22",
        50000,
        "203.0.113.66",
        443,
        crate::event::Action::Allow,
    );
    let batch = EventBatch {
        source: 0,
        lines: 1,
        records: vec![r],
        ..EventBatch::default()
    };
    a.ingest(&batch, T0 + S);
    a.detect_tick(T0 + S);
    let before = a.anomalies(T0 + S, 10);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].id, "watchlist_hit-1");
    // Same settings: only the context is swapped.
    assert!(!a.set_site(ctx.clone(), DetectSettings::default()));
    // A changed threshold: rebuilt, the open anomaly keeps its id and count.
    let mut changed = DetectSettings::default();
    changed.port_scan.vertical_ports = 40;
    assert!(a.set_site(ctx.clone(), changed.clone()));
    let after = a.anomalies(T0 + 2 * S, 10);
    assert_eq!(after.len(), 1);
    assert_eq!(
        (after[0].id.as_str(), after[0].count),
        ("watchlist_hit-1", before[0].count)
    );
    // The same again is no change; the next hit of the pair merges into the same anomaly.
    assert!(!a.set_site(ctx, changed));
    a.ingest(&batch, T0 + 3 * S);
    a.detect_tick(T0 + 3 * S);
    let merged = a.anomalies(T0 + 3 * S, 10);
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0].id, "watchlist_hit-1");
    assert_eq!(merged[0].count, before[0].count + 1);
}
