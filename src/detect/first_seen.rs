//! `first_seen_host` and `first_seen_service`: an internal address never seen before in retained
//! history starts talking; an internal host accepts traffic on a port it never served before.
//!
//! The idea of `aggregate/firstseen.rs`, as a detector: one compact set per kind from a 64-bit key
//! (IPv4 exact, IPv6 hashed: [`key64`]) to the second it was last seen. A key is *new* when it is
//! absent or was last seen longer ago than `retention`. Nothing is reported while `learning`
//! (from the engine's start): those sightings are the history.
//!
//! Bounds: hosts at most [`HOST_CAP`], services at most [`SERVICE_CAP`] (memory: [`MEMORY_CAP`]).
//! Expired keys are swept hourly, and at most once a minute while a set is full. A newcomer that
//! does not fit is still *reported* (it is new) but not remembered; reports of either kind are
//! limited to 20 a minute per kind (the rest become one "and N more" finding), so a spray of spoofed
//! internal sources costs neither memory nor a flood of anomalies, and cannot hide a real newcomer
//! from the report once the spray stops (tested).
//!
//! "Talking" means being the *source* of a record (a destination can be any address an outsider
//! chose to probe). A service is `(internal destination, protocol, port)` of an *allowed* record,
//! when the port is at most `max_port` and below the source port (a reply flow in NetFlow-style
//! logs has the client's ephemeral port as its destination; the lower port is the service).

use std::collections::HashMap;
use std::net::IpAddr;

use foldhash::fast::RandomState;
use serde_json::json;
use std::hash::BuildHasher;

use super::bounded::{
    Budget, KeySeed, Overflow, REPORTS_PER_MIN, US, key64, sec32, service_name, span,
};
use super::{Context, Detector, Enabled, Finding, Kind, KindsOf, Obs, Sink, TickView};
use crate::event::{Action, Micros, Proto};

/// Most internal hosts remembered: 7/16 of a 2^19-bucket table, so sweep/insert churn rehashes in
/// place and the table never grows past 2^19 buckets.
pub const HOST_CAP: usize = 229_376;
/// Most `(host, protocol, port)` services remembered (7/16 of 2^18 buckets).
pub const SERVICE_CAP: usize = 114_688;
/// Documented upper bound of [`FirstSeen::memory`]: 2^19 × 17 B + 2^18 × 17 B ≈ 13.4 MB.
pub const MEMORY_CAP: usize = 14 << 20;

/// Thresholds (docs/detections-context.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub host: Common,
    pub service: Common,
    /// Highest destination port that counts as a service.
    pub max_port: u16,
}

/// Settings each of the two kinds has.
#[derive(Debug, Clone, PartialEq)]
pub struct Common {
    /// Nothing is reported for this long after start (seconds).
    pub learning_s: i64,
    /// "Never seen" means not seen for this long (seconds).
    pub retention_s: i64,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            learning_s: 86_400,
            retention_s: 7 * 86_400,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            host: Common::default(),
            service: Common::default(),
            max_port: 49_151,
        }
    }
}

/// Severity of a new host.
pub const SEV_HOST: u8 = 25;
/// Severity of a new service reached from inside / from outside.
pub const SEV_SERVICE_INTERNAL: u8 = 30;
pub const SEV_SERVICE_EXTERNAL: u8 = 50;
/// Severity of an "and N more" burst.
pub const SEV_BURST: u8 = 50;

/// Keys last seen within the retention.
struct Set {
    map: HashMap<u64, u32, RandomState>,
    cap: usize,
    /// Newcomers not remembered because the set was full.
    untracked: u64,
    last_full_sweep: u32,
}

impl Set {
    fn new(cap: usize) -> Self {
        Set {
            map: HashMap::default(),
            cap,
            untracked: 0,
            last_full_sweep: 0,
        }
    }

    /// Records a sighting; true when the key is new (absent or expired).
    #[inline]
    fn see(&mut self, k: u64, sec: u32, retention: u32) -> bool {
        if let Some(last) = self.map.get_mut(&k) {
            let new = sec.saturating_sub(*last) > retention;
            *last = (*last).max(sec);
            return new;
        }
        if self.map.len() >= self.cap {
            self.untracked += 1;
            return true;
        }
        self.map.insert(k, sec);
        true
    }

    fn sweep(&mut self, sec: u32, retention: u32) {
        self.map
            .retain(|_, last| sec.saturating_sub(*last) <= retention);
    }

    fn memory(&self) -> usize {
        super::bounded::table_bytes::<u64, u32>(self.map.capacity())
    }
}

pub struct FirstSeen {
    s: Settings,
    enabled: Enabled,
    host_learning_until: Micros,
    service_learning_until: Micros,
    host_retention: u32,
    service_retention: u32,
    /// Seed of the IPv6 [`key64`]s (saved with them: src/detect/persist.rs).
    key: KeySeed,
    hosts: Set,
    services: Set,
    host_budget: Budget,
    service_budget: Budget,
    last_sweep: u32,
}

impl FirstSeen {
    pub fn new(s: Settings, enabled: Enabled, now: Micros) -> Self {
        let until = |c: &Common| now.saturating_add(c.learning_s.saturating_mul(US));
        let retention = |c: &Common| u32::try_from(c.retention_s.max(0)).unwrap_or(u32::MAX);
        FirstSeen {
            host_learning_until: until(&s.host),
            service_learning_until: until(&s.service),
            host_retention: retention(&s.host),
            service_retention: retention(&s.service),
            key: KeySeed::random(),
            hosts: Set::new(HOST_CAP),
            services: Set::new(SERVICE_CAP),
            host_budget: Budget::new(REPORTS_PER_MIN),
            service_budget: Budget::new(REPORTS_PER_MIN),
            last_sweep: sec32(now),
            s,
            enabled,
        }
    }

    /// Hosts and services remembered.
    pub fn known(&self) -> (usize, usize) {
        (self.hosts.map.len(), self.services.map.len())
    }

    /// Hosts and services remembered, and newcomers that did not fit.
    #[cfg(test)]
    pub fn sizes(&self) -> (usize, usize, u64) {
        (
            self.hosts.map.len(),
            self.services.map.len(),
            self.hosts.untracked + self.services.untracked,
        )
    }

    fn service_key(&self, dst: u128, proto: Proto, port: u16) -> u64 {
        let k = key64(dst, &self.key.hasher);
        if k >> 63 == 0 {
            // IPv4: 32 address bits, 8 protocol bits, 16 port bits: exact.
            (k & 0xffff_ffff) << 24 | u64::from(proto.0) << 16 | u64::from(port)
        } else {
            self.key.hasher.hash_one((dst, proto.0, port)) | 1 << 63
        }
    }

    fn host_finding(&self, o: &Obs<'_>, ctx: &Context, src: IpAddr) -> Finding {
        let r = o.r;
        let to = match r.dst_ip {
            Some(d) => {
                let svc = match (r.proto, r.dst_port) {
                    (Some(p), Some(port)) if p.has_ports() => {
                        format!(" ({})", service_name(p, port))
                    }
                    _ => String::new(),
                };
                format!(": its first traffic went to {}{svc}", ctx.describe(d))
            }
            None => String::new(),
        };
        let desc = capitalise(&ctx.describe(src));
        Finding {
            kind: Kind::FirstSeenHost,
            entity: src.to_string(),
            zone: ctx.zone_name(o.src_zone).map(str::to_string),
            severity: SEV_HOST,
            summary: format!(
                "{desc} started talking and was not seen in the last {}{to}.",
                span(i64::from(self.host_retention))
            ),
            count: 1,
            evidence: json!({
                "host": src.to_string(),
                "retention_s": self.host_retention,
                "first_record": record_json(o),
                "known_hosts": self.hosts.map.len(),
            }),
        }
    }

    fn service_finding(
        &self,
        o: &Obs<'_>,
        ctx: &Context,
        dst: IpAddr,
        proto: Proto,
        port: u16,
    ) -> Finding {
        let svc = service_name(proto, port);
        let external = o.src_zone.is_external();
        let from =
            o.r.src_ip
                .map(|s| format!(", from {}", ctx.describe(s)))
                .unwrap_or_default();
        Finding {
            kind: Kind::FirstSeenService,
            entity: format!("{dst} {svc}"),
            zone: ctx.zone_name(o.dst_zone).map(str::to_string),
            severity: if external {
                SEV_SERVICE_EXTERNAL
            } else {
                SEV_SERVICE_INTERNAL
            },
            summary: format!(
                "{} accepted traffic on {svc} for the first time in {}{from}.",
                capitalise(&ctx.describe(dst)),
                span(i64::from(self.service_retention)),
            ),
            count: 1,
            evidence: json!({
                "host": dst.to_string(),
                "service": svc,
                "from": o.r.src_ip.map(|s| s.to_string()),
                "from_zone": ctx.zone_name(o.src_zone),
                "retention_s": self.service_retention,
                "first_record": record_json(o),
                "known_services": self.services.map.len(),
            }),
        }
    }
}

/// The `first_seen` part of the `detect` section: both sets, the seed their IPv6 keys were
/// made with, and when learning ends. Not saved: the report budgets (a minute long).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub seed: u64,
    pub host_learning_until: Micros,
    pub service_learning_until: Micros,
    /// `(key, second last seen)`; the keys are [`key64`]s (IPv4 exact, IPv6 hashed with `seed`).
    pub hosts: Vec<(u64, u32)>,
    pub services: Vec<(u64, u32)>,
}

impl FirstSeen {
    pub fn export(&self) -> State {
        let list = |set: &Set| -> Vec<(u64, u32)> {
            let mut v: Vec<(u64, u32)> = set.map.iter().map(|(k, s)| (*k, *s)).collect();
            v.sort_unstable();
            v
        };
        State {
            seed: self.key.seed,
            host_learning_until: self.host_learning_until,
            service_learning_until: self.service_learning_until,
            hosts: list(&self.hosts),
            services: list(&self.services),
        }
    }

    /// Restores into a fresh detector (before anything is observed): adopts the saved seed, so
    /// the saved IPv6 keys mean the same addresses (never keys under a different seed); keeps
    /// the learning deadline that comes first (a learning period that ended before the restart
    /// does not start again; a shorter `learning` in the new config still applies); drops keys
    /// past the current retention; beyond the caps keeps the most recently seen.
    pub fn restore(&mut self, st: State, now: Micros) {
        self.key = KeySeed::with_seed(st.seed);
        self.host_learning_until = self.host_learning_until.min(st.host_learning_until);
        self.service_learning_until = self.service_learning_until.min(st.service_learning_until);
        let sec = sec32(now);
        for (set, mut saved, retention) in [
            (&mut self.hosts, st.hosts, self.host_retention),
            (&mut self.services, st.services, self.service_retention),
        ] {
            set.map.clear();
            saved.retain(|(_, last)| sec.saturating_sub(*last) <= retention);
            if saved.len() > set.cap {
                saved.sort_unstable_by_key(|(_, last)| std::cmp::Reverse(*last));
                saved.truncate(set.cap);
            }
            set.map.reserve(saved.len());
            set.map.extend(saved);
        }
    }
}

fn burst(kind: Kind, what: &str, o: Overflow) -> Finding {
    let samples: Vec<String> = o.samples.iter().map(|ip| ip.to_string()).collect();
    Finding {
        kind,
        entity: "many".into(),
        zone: None,
        severity: SEV_BURST,
        summary: format!(
            "{} more {what} first seen since {} were not reported one by one (e.g. {}).",
            o.count,
            crate::aggregate::rfc3339_millis(o.since),
            samples.join(", ")
        ),
        count: o.count,
        evidence: json!({
            "suppressed": o.count,
            "since": crate::aggregate::rfc3339_millis(o.since),
            "samples": samples,
        }),
    }
}

/// The record as evidence: addresses, protocol, ports, verdict.
pub(crate) fn record_json(o: &Obs<'_>) -> serde_json::Value {
    let r = o.r;
    json!({
        "src": r.src_ip.map(|s| s.to_string()),
        "dst": r.dst_ip.map(|s| s.to_string()),
        "proto": r.proto.map(|p| p.keyword().map_or_else(|| p.0.to_string(), str::to_string)),
        "src_port": r.src_port,
        "dst_port": r.dst_port,
        "action": r.action.map(Action::as_str),
    })
}

/// "internal host …" → "Internal host …".
pub(crate) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl KindsOf for FirstSeen {
    const KINDS: &'static [Kind] = &[Kind::FirstSeenHost, Kind::FirstSeenService];
}

impl Detector for FirstSeen {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    #[inline]
    fn observe(&mut self, o: &Obs<'_>, ctx: &Context, sink: &mut Sink) {
        let sec = sec32(o.now);
        if self.enabled.kind(Kind::FirstSeenHost)
            && o.src_zone.is_internal()
            && let Some(src) = o.src
        {
            let k = key64(src, &self.key.hasher);
            if self.hosts.see(k, sec, self.host_retention)
                && o.now >= self.host_learning_until
                && self.host_budget.allow(o.now, o.r.src_ip)
                && let Some(ip) = o.r.src_ip
            {
                sink.push(self.host_finding(o, ctx, ip));
            }
        }
        if self.enabled.kind(Kind::FirstSeenService)
            && o.dst_zone.is_internal()
            && o.r.action == Some(Action::Allow)
            && let (Some(dst), Some(proto), Some(port)) = (o.dst, o.r.proto, o.r.dst_port)
            && proto.has_ports()
            && port <= self.s.max_port
            && o.r.src_port.is_none_or(|sp| port < sp)
        {
            let k = self.service_key(dst, proto, port);
            if self.services.see(k, sec, self.service_retention)
                && o.now >= self.service_learning_until
                && self.service_budget.allow(o.now, o.r.dst_ip)
                && let Some(ip) = o.r.dst_ip
            {
                sink.push(self.service_finding(o, ctx, ip, proto, port));
            }
        }
    }

    fn tick(&mut self, now: Micros, _view: &TickView<'_>, _ctx: &Context, sink: &mut Sink) {
        let sec = sec32(now);
        let hourly = sec.saturating_sub(self.last_sweep) >= 3600;
        if hourly {
            self.last_sweep = sec;
        }
        for (set, retention) in [
            (&mut self.hosts, self.host_retention),
            (&mut self.services, self.service_retention),
        ] {
            let full = set.map.len() >= set.cap && sec.saturating_sub(set.last_full_sweep) >= 60;
            if hourly || full {
                set.last_full_sweep = sec;
                set.sweep(sec, retention);
            }
        }
        if let Some(o) = self.host_budget.flush(now) {
            sink.push(burst(Kind::FirstSeenHost, "internal hosts", o));
        }
        if let Some(o) = self.service_budget.flush(now) {
            sink.push(burst(
                Kind::FirstSeenService,
                "services on internal hosts",
                o,
            ));
        }
    }

    fn memory(&self) -> usize {
        self.hosts.memory() + self.services.memory()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::tests_support::*;

    fn fs(learning_s: i64) -> (FirstSeen, Context) {
        let c = Common {
            learning_s,
            ..Common::default()
        };
        let s = Settings {
            host: c.clone(),
            service: c,
            ..Settings::default()
        };
        (
            FirstSeen::new(s, Enabled::new(&[]), T0),
            Context::with_default_networks(),
        )
    }

    #[test]
    fn new_internal_host_fires_after_learning_only() {
        let (mut d, ctx) = fs(600);
        let mut sink = Sink::default();
        // Learning: 10.1.0.1 is history.
        let r = rec("10.1.0.1", 50000, "203.0.113.9", 443, Action::Allow);
        observe(&mut d, &ctx, &r, T0 + S, &mut sink);
        assert!(sink.is_empty());
        // After learning: the known host is quiet, the new one fires exactly once.
        observe(&mut d, &ctx, &r, T0 + 700 * S, &mut sink);
        assert!(sink.is_empty());
        let n = rec("10.1.0.2", 50001, "203.0.113.9", 443, Action::Allow);
        observe(&mut d, &ctx, &n, T0 + 701 * S, &mut sink);
        observe(&mut d, &ctx, &n, T0 + 702 * S, &mut sink);
        let f = sink.0.clone();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, Kind::FirstSeenHost);
        assert_eq!(f[0].entity, "10.1.0.2");
        assert_eq!(f[0].zone.as_deref(), Some("internal"));
        assert_eq!(f[0].severity, 25);
        assert_eq!(
            f[0].summary,
            "Internal host 10.1.0.2 started talking and was not seen in the last 7 days: its first traffic went to external host 203.0.113.9 (tcp/443)."
        );
        assert_eq!(f[0].evidence["first_record"]["dst_port"], 443);
        assert_eq!(f[0].evidence["known_hosts"], 2);
        // An external source and an internal *destination* never count as a new host.
        sink.0.clear();
        let ext = rec("198.51.100.1", 1234, "10.9.9.9", 22, Action::Deny);
        observe(&mut d, &ctx, &ext, T0 + 703 * S, &mut sink);
        assert!(sink.is_empty(), "{:?}", sink.0);
    }

    #[test]
    fn host_unseen_beyond_retention_is_new_again() {
        let (mut d, ctx) = fs(0);
        let mut sink = Sink::default();
        let r = rec("10.1.0.1", 50000, "10.2.0.1", 80, Action::Allow);
        observe(&mut d, &ctx, &r, T0, &mut sink);
        assert_eq!(sink.0.len(), 2, "host and service"); // learning 0: fires at once
        sink.0.clear();
        observe(&mut d, &ctx, &r, T0 + 6 * 86_400 * S, &mut sink);
        assert!(sink.is_empty());
        observe(&mut d, &ctx, &r, T0 + 14 * 86_400 * S, &mut sink);
        assert_eq!(sink.0.len(), 2);
    }

    #[test]
    fn new_service_fires_for_allowed_inbound_only() {
        let (mut d, ctx) = fs(600);
        let mut sink = Sink::default();
        let known = rec("203.0.113.5", 40000, "10.2.0.5", 443, Action::Allow);
        observe(&mut d, &ctx, &known, T0, &mut sink);
        let t = T0 + 601 * S;
        observe(&mut d, &ctx, &known, t, &mut sink);
        // Denied: not served. Reply flow (destination port above source port): not a service.
        let denied = rec("203.0.113.5", 40000, "10.2.0.5", 8443, Action::Deny);
        let reply = rec("203.0.113.5", 443, "10.2.0.5", 51000, Action::Allow);
        let dynamic = rec("203.0.113.5", 65000, "10.2.0.5", 50000, Action::Allow);
        for r in [denied, reply, dynamic] {
            observe(&mut d, &ctx, &r, t, &mut sink);
        }
        assert!(sink.is_empty(), "{:?}", sink.0);
        let new = rec("203.0.113.5", 40001, "10.2.0.5", 8443, Action::Allow);
        observe(&mut d, &ctx, &new, t + S, &mut sink);
        let f = &sink.0;
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, Kind::FirstSeenService);
        assert_eq!(f[0].entity, "10.2.0.5 tcp/8443");
        assert_eq!(f[0].severity, SEV_SERVICE_EXTERNAL);
        assert_eq!(
            f[0].summary,
            "Internal host 10.2.0.5 accepted traffic on tcp/8443 for the first time in 7 days, from external host 203.0.113.5."
        );
        assert_eq!(f[0].evidence["service"], "tcp/8443");
    }

    #[test]
    fn spoofed_spray_is_bounded_and_a_later_newcomer_still_fires() {
        let (mut d, ctx) = fs(0);
        let mut sink = Sink::default();
        let mut rng = Rng(0x5eed);
        let mut findings = 0usize;
        let t = T0 + 10 * S;
        for i in 0..1_000_000u64 {
            // Random 10.x sources to random internal services: both sets overflow.
            let a = rng.next() as u32;
            let src = std::net::Ipv4Addr::from(0x0a00_0000 | (a & 0x00ff_ffff));
            let dst = std::net::Ipv4Addr::from(
                0x0a00_0000 | ((a >> 8) ^ (rng.next() as u32)) & 0x00ff_ffff,
            );
            let port = (rng.next() % 40_000) as u16 + 1;
            let r = rec(
                &src.to_string(),
                60000,
                &dst.to_string(),
                port,
                Action::Allow,
            );
            observe(&mut d, &ctx, &r, t + (i as i64) * 3_600, &mut sink); // 1M over ~1 h
            findings += sink.0.len();
            sink.0.clear();
        }
        let mem = d.memory();
        assert!(mem <= MEMORY_CAP, "memory {mem} above {MEMORY_CAP}");
        let (hosts, services, untracked) = d.sizes();
        assert_eq!((hosts, services), (HOST_CAP, SERVICE_CAP));
        assert!(untracked > 1_000_000, "{untracked}");
        // Reports stayed within the budget: 20 per kind per minute over ~60 minutes.
        assert!(findings <= 2 * 20 * 62, "{findings}");
        eprintln!("first_seen spray: memory {mem} B, {findings} findings, {untracked} untracked");
        // The spray stops; a genuinely new host still fires, in its own finding.
        let after = t + 3_700 * S;
        d.tick(after, &TickView::default(), &ctx, &mut sink);
        sink.0.clear();
        let planted = rec("192.168.77.7", 50000, "203.0.113.9", 443, Action::Allow);
        observe(&mut d, &ctx, &planted, after + S, &mut sink);
        assert_eq!(sink.0.len(), 1);
        assert_eq!(sink.0[0].entity, "192.168.77.7");
    }

    #[test]
    fn a_burst_beyond_the_budget_becomes_one_finding() {
        let (mut d, ctx) = fs(0);
        let mut sink = Sink::default();
        for i in 0..25u8 {
            let r = rec(
                &format!("10.5.0.{i}"),
                50000,
                "203.0.113.9",
                443,
                Action::Deny,
            );
            observe(&mut d, &ctx, &r, T0 + S, &mut sink);
        }
        assert_eq!(sink.0.len(), 20);
        sink.0.clear();
        d.tick(T0 + 30 * S, &TickView::default(), &ctx, &mut sink);
        assert!(sink.is_empty());
        d.tick(T0 + 62 * S, &TickView::default(), &ctx, &mut sink);
        assert_eq!(sink.0.len(), 1);
        let b = &sink.0[0];
        assert_eq!(
            (b.kind, b.entity.as_str(), b.count),
            (Kind::FirstSeenHost, "many", 5)
        );
        assert_eq!(
            b.summary,
            "5 more internal hosts first seen since 2023-11-14T22:13:21.000Z were not reported one by one (e.g. 10.5.0.20, 10.5.0.21, 10.5.0.22)."
        );
    }
}
