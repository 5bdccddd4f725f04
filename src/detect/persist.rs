//! The `detect` section of the state file (src/state): what the detection engine keeps across a
//! restart — the open anomalies with their ids, the first-seen history, every learned baseline,
//! the feeds' learned gaps — and what it deliberately drops (docs/detections.md, "What survives
//! a restart").
//!
//! Saved in the same atomic snapshot as the tail positions and the aggregate totals, at the same
//! checkpoint markers (src/state/run.rs), so all three describe one cut of the stream.
//!
//! Cost: [`Engine::export`] copies the bounded state into owned plain data on the aggregator
//! task (outside ingest, once per `snapshot_interval`: a few milliseconds at the caps); the
//! JSON encoding happens on the state writer's thread. [`Engine::restore`] runs once, on a
//! fresh engine, before the first record. The per-record paths are untouched.
//!
//! Hash seeds: tables placed by the per-process key (`aggregate::keyhash`: the set-associative
//! detector tables, seen-once filters, distinct-count bitmaps) are never restored bit for bit:
//! their entries are saved by address and re-inserted under the new key, or dropped. The two
//! detectors whose *saved keys* are seeded hashes (first_seen's and dns's IPv6 [`key64`]s) save
//! their seed with them and adopt it on restore.
//!
//! [`key64`]: super::bounded::key64

use serde::{Deserialize, Serialize};

use super::anomaly::TableState;
use super::{
    Engine, Kind, deny_burst, dns, feeds, first_seen, large_outbound, syn_flood, volume_spike,
};
use crate::event::Micros;

pub const NAME: &str = "detect";
/// Bumped when a saved part changes meaning; a part only *added* is `#[serde(default)]` and
/// needs no bump (an older file simply lacks it).
pub const VERSION: u32 = 1;

/// Everything the engine saves. Each detector's part is optional: a detector whose part is
/// missing (older file) starts fresh while the others restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectState {
    /// The engine's clock when saved (Unix microseconds; informational).
    pub saved_clock: Micros,
    pub table: TableState,
    #[serde(default)]
    pub first_seen: Option<first_seen::State>,
    #[serde(default)]
    pub dns: Option<dns::State>,
    #[serde(default)]
    pub deny_burst: Option<Vec<deny_burst::SrcState>>,
    #[serde(default)]
    pub volume_spike: Option<volume_spike::State>,
    #[serde(default)]
    pub large_outbound: Option<large_outbound::State>,
    #[serde(default)]
    pub syn_flood: Option<Vec<syn_flood::DstState>>,
    #[serde(default)]
    pub feeds: Option<Vec<feeds::TrackState>>,
}

/// What a restore put back, for the start-up log line and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Restored {
    pub anomalies: usize,
    pub hosts: usize,
    pub services: usize,
}

impl Engine {
    /// A copy of the persistent state. `feeds`: the configured feed names by index.
    pub fn export(&self, feeds: &[&str]) -> DetectState {
        let d = &self.d;
        DetectState {
            saved_clock: self.clock,
            table: self.table.export(),
            first_seen: Some(d.first_seen.export()),
            dns: Some(d.dns.export(self.clock)),
            deny_burst: Some(d.deny_burst.export()),
            volume_spike: Some(d.volume_spike.export(&self.ctx)),
            large_outbound: Some(d.large_outbound.export()),
            syn_flood: Some(d.syn_flood.export()),
            feeds: Some(d.feeds.export(feeds)),
        }
    }

    /// Restores a saved state into this engine, which must be fresh (nothing observed yet).
    /// Whatever the config now says is respected: anomalies of disabled kinds are not restored,
    /// series of zones that no longer exist are dropped, feeds are matched by name, caps and
    /// retentions are the current ones. Never fails: anything unusable is skipped.
    pub fn restore(&mut self, s: DetectState, feeds: &[&str], now: Micros) -> Restored {
        let now = now.max(self.clock);
        let enabled = self.enabled;
        let anomalies = self.table.restore(s.table, now, |k: Kind| enabled.kind(k));
        let d = &mut self.d;
        if let Some(v) = s.first_seen {
            d.first_seen.restore(v, now);
        }
        if let Some(v) = s.dns {
            d.dns.restore(v);
        }
        if let Some(v) = s.deny_burst {
            d.deny_burst.restore(v, now);
        }
        if let Some(v) = s.volume_spike {
            d.volume_spike.restore(v, &self.ctx, now);
        }
        if let Some(v) = s.large_outbound {
            d.large_outbound.restore(v, now);
        }
        if let Some(v) = s.syn_flood {
            d.syn_flood.restore(v, now);
        }
        if let Some(v) = s.feeds {
            d.feeds.restore(v, feeds);
        }
        let (hosts, services) = d.first_seen.known();
        Restored {
            anomalies,
            hosts,
            services,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::tests_support::{S, T0, rec, udp};
    use crate::detect::{
        AnomalyOut, ChangeKind, Context, DetectSettings, FeedView, Finding, TickView,
    };
    use crate::event::{Action, Record};

    /// Export, through JSON text and `serde_json::Value` as the state file reads it back.
    fn saved(e: &Engine, feeds: &[&str]) -> DetectState {
        let text = serde_json::to_string(&e.export(feeds)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        serde_json::from_value(v).unwrap()
    }

    fn quiet_settings() -> DetectSettings {
        let mut s = DetectSettings::default();
        s.first_seen.host.learning_s = 0;
        s.first_seen.service.learning_s = 0;
        s
    }

    /// Observes `r` at `now` and ticks; the changes of kind `k`.
    fn step(e: &mut Engine, r: &Record, now: Micros, k: Kind) -> Vec<(ChangeKind, AnomalyOut)> {
        e.observe(0, r, now);
        e.tick(now, &TickView::default())
            .into_iter()
            .filter(|c| c.anomaly.kind == k)
            .map(|c| (c.change, c.anomaly))
            .collect()
    }

    fn of(e: &Engine, now: Micros, kind: Kind, entity: &str) -> Option<AnomalyOut> {
        e.anomalies(now, 1000)
            .into_iter()
            .find(|a| a.kind == kind && a.entity == entity)
    }

    #[test]
    fn a_host_known_before_the_restart_is_not_new_after_it_ipv6_included() {
        let ctx = Context::with_default_networks();
        let mut a = Engine::new(quiet_settings(), ctx.clone(), T0);
        let v4 = rec("10.1.0.1", 50000, "203.0.113.9", 443, Action::Allow);
        let v6 = rec("fd00::17", 50000, "2001:db8::9", 443, Action::Allow);
        assert_eq!(step(&mut a, &v4, T0, Kind::FirstSeenHost).len(), 1);
        assert_eq!(step(&mut a, &v6, T0 + S, Kind::FirstSeenHost).len(), 1);
        let st = saved(&a, &[]);
        assert_eq!(st.first_seen.as_ref().unwrap().hosts.len(), 2);

        // A minute later, a new process: a fresh random seed until the saved one is adopted.
        let now = T0 + 60 * S;
        let mut b = Engine::new(quiet_settings(), ctx.clone(), now);
        let r = b.restore(st.clone(), &[], now);
        assert_eq!((r.anomalies, r.hosts), (2, 2));
        assert!(step(&mut b, &v4, now, Kind::FirstSeenHost).is_empty());
        assert!(step(&mut b, &v6, now + S, Kind::FirstSeenHost).is_empty());
        // A host never seen still fires, once, with the next id.
        let n = rec("10.1.0.2", 50000, "203.0.113.9", 443, Action::Allow);
        let ch = step(&mut b, &n, now + 2 * S, Kind::FirstSeenHost);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].0, ChangeKind::Open);
        assert_eq!(ch[0].1.entity, "10.1.0.2");
        let next = st.table.next_id;
        assert_eq!(ch[0].1.id, format!("first_seen_host-{next}"));

        // Control: without the restore both known hosts would fire again.
        let mut c = Engine::new(quiet_settings(), ctx, now);
        assert_eq!(step(&mut c, &v4, now, Kind::FirstSeenHost).len(), 1);
        assert_eq!(step(&mut c, &v6, now + S, Kind::FirstSeenHost).len(), 1);
    }

    #[test]
    fn a_learning_period_that_ended_before_the_restart_does_not_start_again() {
        let ctx = Context::with_default_networks();
        let mut s = DetectSettings::default();
        s.first_seen.host.learning_s = 600;
        let mut a = Engine::new(s.clone(), ctx.clone(), T0);
        let known = rec("10.1.0.1", 50000, "203.0.113.9", 443, Action::Allow);
        assert!(step(&mut a, &known, T0 + S, Kind::FirstSeenHost).is_empty());
        let st = saved(&a, &[]);
        assert_eq!(
            st.first_seen.as_ref().unwrap().host_learning_until,
            T0 + 600 * S
        );
        // Restarted after the learning ended: a new host fires at once.
        let now = T0 + 700 * S;
        let mut b = Engine::new(s.clone(), ctx.clone(), now);
        b.restore(st.clone(), &[], now);
        let n = rec("10.1.0.2", 50000, "203.0.113.9", 443, Action::Allow);
        assert_eq!(step(&mut b, &n, now + S, Kind::FirstSeenHost).len(), 1);
        assert!(step(&mut b, &known, now + 2 * S, Kind::FirstSeenHost).is_empty());
        // Restarted during the learning: it ends when it would have (T0 + 600 s), not later.
        let now = T0 + 300 * S;
        let mut c = Engine::new(s, ctx, now);
        c.restore(st, &[], now);
        assert!(step(&mut c, &n, T0 + 599 * S, Kind::FirstSeenHost).is_empty());
        let m = rec("10.1.0.3", 50000, "203.0.113.9", 443, Action::Allow);
        assert_eq!(step(&mut c, &m, T0 + 601 * S, Kind::FirstSeenHost).len(), 1);
    }

    fn finding(kind: Kind, entity: &str, severity: u8) -> Finding {
        Finding {
            kind,
            entity: entity.into(),
            zone: Some("internal".into()),
            severity,
            summary: format!("{entity} did something"),
            count: 3,
            evidence: serde_json::json!({"n": 3, "samples": ["a", "b"]}),
        }
    }

    #[test]
    fn open_anomalies_keep_id_first_seen_count_and_evidence() {
        let ctx = Context::with_default_networks();
        let mut a = Engine::new(DetectSettings::default(), ctx.clone(), T0);
        let mut ch = Vec::new();
        a.table
            .merge(finding(Kind::PortScan, "10.0.0.1", 80), T0, &mut ch);
        a.table
            .merge(finding(Kind::DenyBurst, "10.0.0.2", 60), T0 + S, &mut ch);
        a.table
            .merge(finding(Kind::PortScan, "10.0.0.1", 70), T0 + 5 * S, &mut ch);
        // This one will have expired (30 min without a finding) by the restart.
        a.table.merge(
            finding(Kind::SynFlood, "10.0.0.3", 90),
            T0 - 1700 * S,
            &mut ch,
        );
        let before = a.anomalies(T0 + 5 * S, 10);
        let st = saved(&a, &[]);
        assert_eq!(st.table.open.len(), 3);
        assert_eq!(st.table.next_id, 4);

        let now = T0 + 120 * S;
        let mut b = Engine::new(DetectSettings::default(), ctx, now);
        assert_eq!(b.restore(st, &[], now).anomalies, 2);
        let scan = of(&b, now, Kind::PortScan, "10.0.0.1").unwrap();
        let old = before.iter().find(|x| x.kind == Kind::PortScan).unwrap();
        assert_eq!(scan.id, "port_scan-1");
        assert_eq!(scan.id, old.id);
        assert_eq!(scan.first_seen, old.first_seen);
        assert_eq!(scan.last_seen, old.last_seen);
        assert_eq!(scan.count, 6);
        assert_eq!(scan.peak_severity, 80);
        assert_eq!(
            scan.evidence,
            serde_json::json!({"n": 3, "samples": ["a", "b"]})
        );
        // Decay continues from the saved last_seen: 70 × 0.5^(115 / 600) = 61.
        assert_eq!(scan.severity, 61);
        assert_eq!(
            of(&b, now, Kind::DenyBurst, "10.0.0.2").unwrap().id,
            "deny_burst-2"
        );
        assert!(of(&b, now, Kind::SynFlood, "10.0.0.3").is_none());
        // A refresh merges into the restored anomaly (no new open); a new one takes id 4,
        // not a reused 1..3.
        let mut ch = Vec::new();
        b.table
            .merge(finding(Kind::PortScan, "10.0.0.1", 80), now, &mut ch);
        b.table
            .merge(finding(Kind::PortScan, "10.0.0.9", 80), now, &mut ch);
        let opened: Vec<&str> = ch
            .iter()
            .filter(|c| c.change == ChangeKind::Open)
            .map(|c| c.anomaly.id.as_str())
            .collect();
        assert_eq!(opened, vec!["port_scan-4"]);
        assert_eq!(of(&b, now, Kind::PortScan, "10.0.0.1").unwrap().count, 9);
    }

    #[test]
    fn disabled_kinds_changed_zones_and_a_smaller_cap_restore_without_failing() {
        let ctx = crate::detect::testkit::ctx();
        let mut a = Engine::new(DetectSettings::default(), ctx.clone(), T0);
        let mut ch = Vec::new();
        for (i, sev) in [(1, 30u8), (2, 90), (3, 60)] {
            let f = finding(Kind::DenyBurst, &format!("10.0.0.{i}"), sev);
            a.table.merge(f, T0, &mut ch);
        }
        a.table
            .merge(finding(Kind::Beaconing, "x", 50), T0, &mut ch);
        // Traffic in both named zones, so volume_spike has a series for each.
        for i in 0..30 {
            let r = rec("10.1.0.5", 40000, "10.2.0.5", 443, Action::Allow);
            a.observe(0, &r, T0 + i * S);
        }
        let st = saved(&a, &[]);
        let names: Vec<&str> = st
            .volume_spike
            .as_ref()
            .unwrap()
            .series
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, vec!["*all", "zone:users", "zone:servers"]);

        // New config: beaconing off, two anomalies at most, zone "users" gone, "servers" moved
        // to index 0, a new zone "dmz".
        let mut s = DetectSettings {
            disabled: vec![Kind::Beaconing],
            ..DetectSettings::default()
        };
        s.table.max_open = 2;
        let c = |x: &str| x.parse::<crate::aggregate::Cidr>().unwrap();
        let ctx2 = Context::new(
            &[c("10.0.0.0/8")],
            &[
                ("servers".into(), vec![c("10.2.0.0/16")]),
                ("dmz".into(), vec![c("10.9.0.0/16")]),
            ],
        );
        // Restarted within the same minute: the running counts continue too.
        let now = T0 + 30 * S;
        let mut b = Engine::new(s, ctx2.clone(), now);
        assert_eq!(b.restore(st.clone(), &[], now).anomalies, 2);
        let left: Vec<String> = b.anomalies(now, 10).into_iter().map(|a| a.entity).collect();
        assert_eq!(left, vec!["10.0.0.2", "10.0.0.3"]);
        let vs = b.d.volume_spike.export(&ctx2);
        let names: Vec<&str> = vs.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["*all", "zone:servers"]);
        let saved_servers = st.volume_spike.unwrap().series[2].clone();
        assert_eq!(saved_servers.name, "zone:servers");
        assert_eq!(saved_servers.events.cur, 30);
        assert_eq!(vs.series[1], saved_servers);
    }

    #[test]
    fn a_deny_baseline_learned_before_the_restart_makes_a_burst_fire_right_after() {
        let ctx = Context::with_default_networks();
        let src = "203.0.113.5";
        let deny = rec(src, 40000, "10.0.0.5", 23, Action::Deny);
        // 40 minutes of 20 denials a minute: a warm baseline (warm-up: 30 minutes).
        let mut a = Engine::new(DetectSettings::default(), ctx.clone(), T0);
        let mut t = T0;
        for i in 0..2400 {
            t = T0 + i * S;
            if i % 3 == 0 {
                a.observe(0, &deny, t);
            }
            a.tick(t, &TickView::default());
        }
        let st = saved(&a, &[]);
        let base = st
            .deny_burst
            .as_ref()
            .unwrap()
            .iter()
            .find(|s| s.addr == src)
            .unwrap()
            .base;
        // Warm (the first, partial minute pulls the mean below 20: it starts the EWMA).
        assert!(
            base.n >= 30 && base.mean > 10.0 && base.mean < 20.0,
            "{base:?}"
        );

        // Restart right away; 300 denials in the next minute: over max(floor 100, 5 × 20,
        // 20 + 6σ) = 100 on the restored baseline; a fresh engine would need the absolute 1000.
        let burst = |e: &mut Engine, from: Micros| -> Vec<AnomalyOut> {
            let mut out = Vec::new();
            for i in 0..300 {
                let now = from + i * S / 5;
                e.observe(0, &deny, now);
                out.extend(
                    e.tick(now, &TickView::default())
                        .into_iter()
                        .filter(|c| c.anomaly.kind == Kind::DenyBurst)
                        .map(|c| c.anomaly),
                );
            }
            out
        };
        let now = t + S;
        let start = (now / (60 * S) + 1) * 60 * S;
        let mut b = Engine::new(DetectSettings::default(), ctx.clone(), now);
        b.restore(st, &[], now);
        let fired = burst(&mut b, start);
        assert!(!fired.is_empty());
        assert_eq!(fired[0].entity, src);
        assert_eq!(fired[0].evidence["rule"], "baseline");
        assert_eq!(fired[0].evidence["threshold"], 100.0);
        let mut c = Engine::new(DetectSettings::default(), ctx, now);
        assert!(
            burst(&mut c, start).is_empty(),
            "a fresh engine has no baseline"
        );
    }

    #[test]
    fn a_volume_baseline_learned_before_the_restart_makes_a_spike_fire_right_after() {
        let ctx = Context::with_default_networks();
        let r = rec("10.1.0.1", 40000, "203.0.113.9", 443, Action::Allow);
        // 90 minutes of 120 events a minute (warm-up: 60 minutes).
        let mut a = Engine::new(DetectSettings::default(), ctx.clone(), T0);
        let mut t = T0;
        for i in 0..5400 {
            t = T0 + i * S;
            a.observe(0, &r, t);
            a.observe(0, &r, t + S / 2);
            a.tick(t, &TickView::default());
        }
        let st = saved(&a, &[]);
        let all = &st.volume_spike.as_ref().unwrap().series[0];
        assert_eq!(all.name, "*all");
        assert!(all.events.ewma.n >= 60 && (all.events.ewma.mean - 120.0).abs() < 1.0);

        // Down for 10 minutes (not folded as quiet minutes), then 1200 events in a minute:
        // over max(floor 600, 3 × 120, 120 + 6σ) = 600.
        let now = t + 600 * S;
        let start = (now / (60 * S) + 1) * 60 * S;
        let spike = |e: &mut Engine| -> Vec<AnomalyOut> {
            let mut out = Vec::new();
            e.tick(now, &TickView::default());
            for i in 0..1200 {
                let at = start + i * S / 20;
                e.observe(0, &r, at);
                out.extend(
                    e.tick(at, &TickView::default())
                        .into_iter()
                        .filter(|c| c.anomaly.kind == Kind::VolumeSpike)
                        .map(|c| c.anomaly),
                );
            }
            out
        };
        let mut b = Engine::new(DetectSettings::default(), ctx.clone(), now);
        b.restore(st, &[], now);
        let fired = spike(&mut b);
        assert!(!fired.is_empty());
        assert_eq!(fired[0].evidence["threshold"], 600.0);
        assert_eq!(fired[0].evidence["recent_mean"], 120.0);
        let mut c = Engine::new(DetectSettings::default(), ctx, now);
        assert!(
            spike(&mut c).is_empty(),
            "a fresh engine is still warming up"
        );
    }

    #[test]
    fn a_learned_feed_gap_survives_and_a_removed_feed_is_dropped() {
        let ctx = Context::with_default_networks();
        let mut a = Engine::new(DetectSettings::default(), ctx.clone(), T0);
        // "fw" sends every 2 s for 20 minutes.
        let mut t = T0;
        for i in 0..600 {
            t = T0 + 2 * i * S;
            let feeds = [
                FeedView {
                    name: "fw",
                    lines: i as u64,
                    events: 0,
                    parse_errors: 0,
                    last_line_at: Some(t),
                },
                FeedView {
                    name: "old",
                    lines: 0,
                    events: 0,
                    parse_errors: 0,
                    last_line_at: None,
                },
            ];
            a.tick(t, &TickView { feeds: &feeds });
        }
        let st = saved(&a, &["fw", "old"]);
        let fw = st
            .feeds
            .as_ref()
            .unwrap()
            .iter()
            .find(|f| f.name == "fw")
            .unwrap()
            .clone();
        assert_eq!(fw.n_gaps, 599);
        assert_eq!(fw.last_line_at, Some(t));

        // Restart with feeds reordered, "old" removed: "fw" is index 1 now.
        let now = t + S;
        let mut b = Engine::new(DetectSettings::default(), ctx, now);
        b.restore(st, &["new", "fw"], now);
        let out = b.d.feeds.export(&["new", "fw"]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], fw);
        assert_eq!(out[0].n_gaps, 0);
    }

    #[test]
    fn every_detector_part_round_trips_exactly() {
        let ctx = crate::detect::testkit::ctx();
        let mut s = quiet_settings();
        s.dns.min_servers = 2;
        let mut a = Engine::new(s.clone(), ctx.clone(), T0);
        for i in 0..3000u32 {
            let now = T0 + i64::from(i) * S;
            let o = (i % 200) as u8;
            let big = Record {
                bytes: 5_000_000,
                ..rec(
                    &format!("10.1.0.{o}"),
                    40000,
                    "198.51.100.7",
                    443,
                    Action::Allow,
                )
            };
            a.observe(0, &big, now);
            let svc = rec(
                &format!("10.1.0.{o}"),
                40000,
                "10.2.0.1",
                443 + u16::from(o % 5),
                Action::Allow,
            );
            a.observe(0, &svc, now);
            a.observe(
                0,
                &rec(
                    &format!("203.0.113.{o}"),
                    1000,
                    "10.2.0.1",
                    22,
                    Action::Deny,
                ),
                now,
            );
            let mut syn = rec(
                &format!("198.51.100.{o}"),
                1000 + i as u16,
                "10.2.0.9",
                80,
                Action::Deny,
            );
            syn.tcp_flags = crate::event::TcpFlags::SYN;
            a.observe(0, &syn, now);
            a.observe(
                0,
                &udp(
                    "10.1.0.7",
                    1030,
                    &format!("192.0.2.{}", o % 9),
                    53,
                    Action::Allow,
                ),
                now,
            );
            a.observe(
                0,
                &udp(
                    "fd00::7",
                    1030,
                    &format!("2001:db8::{}", o % 9),
                    53,
                    Action::Allow,
                ),
                now,
            );
            a.tick(now, &TickView::default());
        }
        let st = saved(&a, &["fw"]);
        let fs = st.first_seen.as_ref().unwrap();
        assert!(fs.hosts.len() >= 200 && !fs.services.is_empty());
        assert!(!st.dns.as_ref().unwrap().queriers.is_empty());
        assert!(!st.deny_burst.as_ref().unwrap().is_empty());
        assert!(!st.syn_flood.as_ref().unwrap().is_empty());
        assert!(!st.large_outbound.as_ref().unwrap().srcs.is_empty());
        let now = a.clock;
        let mut b = Engine::new(s, ctx, now);
        b.restore(st.clone(), &["fw"], now);
        let mut again = saved(&b, &["fw"]);
        // Entry order in the set-associative tables follows the (new) key: compare as sets.
        let sort = |d: &mut DetectState| {
            d.deny_burst
                .as_mut()
                .unwrap()
                .sort_by(|x, y| x.addr.cmp(&y.addr));
            d.syn_flood
                .as_mut()
                .unwrap()
                .sort_by(|x, y| x.addr.cmp(&y.addr));
            d.large_outbound
                .as_mut()
                .unwrap()
                .srcs
                .sort_by(|x, y| x.addr.cmp(&y.addr));
            d.dns
                .as_mut()
                .unwrap()
                .queriers
                .sort_by(|x, y| x.0.cmp(&y.0));
            d.dns
                .as_mut()
                .unwrap()
                .bypass
                .sort_by(|x, y| x.host.cmp(&y.host));
        };
        let mut st = st;
        sort(&mut st);
        sort(&mut again);
        assert_eq!(again, st);
    }

    /// Reports the section's size (not a timing: sizes are deterministic for a seed) after the
    /// default labelled scenario, and for the largest part, first_seen, at its caps.
    #[test]
    fn section_size_after_a_scenario_and_first_seen_at_its_caps() {
        use crate::detect::tests_support::observe;
        let sc = crate::scenario::Scenario::generate(crate::scenario::ScenarioOptions::default());
        let mut r = crate::replay::Replay::new(sc.replay_options(), sc.inputs()).unwrap();
        while r.step(None, usize::MAX).unwrap() != crate::replay::Progress::Done {}
        let st = r.aggregator().unwrap().persist_detect();
        let len = |v: &dyn erased::Size| v.size();
        let total = serde_json::to_string(&st).unwrap().len();
        eprintln!(
            "detect section after the default scenario: {total} B; table {} B ({} open), first_seen {} B ({} hosts, {} services), dns {} B, deny_burst {} B, volume_spike {} B, large_outbound {} B, syn_flood {} B, feeds {} B",
            len(&st.table),
            st.table.open.len(),
            len(&st.first_seen),
            st.first_seen.as_ref().map_or(0, |f| f.hosts.len()),
            st.first_seen.as_ref().map_or(0, |f| f.services.len()),
            len(&st.dns),
            len(&st.deny_burst),
            len(&st.volume_spike),
            len(&st.large_outbound),
            len(&st.syn_flood),
            len(&st.feeds),
        );
        assert!(!st.table.open.is_empty() && total < 2 << 20, "{total}");

        // first_seen filled past both caps (learning: nothing reported).
        let mut s = first_seen::Settings::default();
        s.host.learning_s = 86_400;
        s.service.learning_s = 86_400;
        let mut fs = first_seen::FirstSeen::new(s, super::super::Enabled::new(&[]), T0);
        let ctx = crate::detect::Context::with_default_networks();
        let mut sink = crate::detect::Sink::default();
        let n = first_seen::HOST_CAP as u32 + 10_000;
        for i in 0..n {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 | i).to_string();
            let r = rec(&a, 50000, &a, 80, Action::Allow);
            observe(&mut fs, &ctx, &r, T0 + i64::from(i) * 1000, &mut sink);
        }
        let part = fs.export();
        assert_eq!(
            (part.hosts.len(), part.services.len()),
            (first_seen::HOST_CAP, first_seen::SERVICE_CAP)
        );
        let bytes = serde_json::to_string(&part).unwrap().len();
        eprintln!("first_seen part at its caps: {bytes} B");
        assert!(bytes < 12 << 20, "{bytes}");
    }

    /// JSON length of any part (a tiny trait object so the report above stays one line each).
    mod erased {
        pub trait Size {
            fn size(&self) -> usize;
        }
        impl<T: serde::Serialize> Size for T {
            fn size(&self) -> usize {
                serde_json::to_string(self).map_or(0, |s| s.len())
            }
        }
    }
}
