//! `fixed_dns_source_port` and `unapproved_resolver`: DNS behaviour of hosts inside the
//! configured internal networks.
//!
//! A *DNS query* is a TCP or UDP record to port 53, or a record whose parser decoded a query
//! (pf, Zeek, EVE); answers (source port 53 to a higher port) are not queries.
//!
//! `fixed_dns_source_port`: within a window (default 1 h, starting at a host's first query and
//! restarting after it), a host that sends at least `min_queries` queries to at least
//! `min_servers` different servers from at most `max_ports` source ports does not randomise its
//! source port (RFC 5452; the classic BIND 9.1 behaviour of querying from one port such as 1030),
//! which makes its cache easy to poison. Once a host uses more than `max_ports` ports in a window
//! it is marked as randomising and only counted.
//!
//! `unapproved_resolver`: with `[dns] approved_resolvers` configured, a host that sends DNS to any
//! other address. The approved resolvers themselves are exempt (they talk to the internet).
//! Reported as investigate (50) when the firewall let a query through, notable (25) when it
//! blocked them all.
//!
//! Who is checked: sources inside the internal networks (`[networks] internal`, zones included);
//! with `include_external = true`, external sources too (the log owner's own public addresses
//! belong in `[networks] internal` instead).
//!
//! Bounds: per-host state in [`TwoGen`] maps of [`HOST_CAP`] per generation each (memory:
//! [`MEMORY_CAP`]); a host that keeps querying survives any spray of one-off sources.

use std::net::IpAddr;

use serde_json::json;

use super::bounded::{
    Budget, KeySeed, Overflow, REPORTS_PER_MIN, REREPORT_S, TwoGen, ip_of_key64, key64, plural,
    sec32, span,
};
use super::first_seen::capitalise;
use super::{Context, Detector, Enabled, Finding, Kind, KindsOf, Obs, Sink, TickView};
use crate::aggregate::key_ip;
use crate::event::{Action, Micros, Proto, Record};

/// Hosts per generation of each per-host map (7/16 of a 2^14-bucket table, so churn rehashes in
/// place and a table never grows past 2^14 buckets).
pub const HOST_CAP: usize = 7168;
/// Distinct servers remembered per host (so `min_servers` is at most this).
pub const MAX_SERVERS: usize = 8;
/// Distinct source ports remembered per host (so `max_ports` is at most this).
pub const MAX_PORTS: usize = 4;
/// Resolvers remembered per host for `unapproved_resolver`.
const MAX_RESOLVERS: usize = 4;
/// Documented upper bound of [`Dns::memory`]: two maps × two generations × 2^14 buckets × 113 B
/// ≈ 7.4 MB.
pub const MEMORY_CAP: usize = 8 << 20;

pub const SEV_FIXED_PORT: u8 = 60;
pub const SEV_UNAPPROVED_ALLOWED: u8 = 50;
pub const SEV_UNAPPROVED_BLOCKED: u8 = 25;

/// Thresholds (docs/detections-context.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub min_queries: u32,
    pub min_servers: u8,
    pub max_ports: u8,
    pub window_s: u32,
    /// Check sources outside the internal networks too (fixed source port).
    pub fixed_include_external: bool,
    /// Check sources outside the internal networks too (unapproved resolver).
    pub unapproved_include_external: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_queries: 10,
            min_servers: 5,
            max_ports: 2,
            window_s: 3600,
            fixed_include_external: false,
            unapproved_include_external: false,
        }
    }
}

/// One host's queries in the current window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Querier {
    window_start: u32,
    last: u32,
    reported: u32,
    queries: u32,
    /// More than `max_ports` source ports seen in this window.
    randomising: bool,
    n_ports: u8,
    ports: [u16; MAX_PORTS],
    n_servers: u8,
    servers: [u64; MAX_SERVERS],
}

impl Querier {
    fn new(sec: u32) -> Self {
        Querier {
            window_start: sec,
            last: sec,
            reported: 0,
            queries: 0,
            randomising: false,
            n_ports: 0,
            ports: [0; MAX_PORTS],
            n_servers: 0,
            servers: [0; MAX_SERVERS],
        }
    }
}

/// One host's queries to unapproved resolvers.
#[derive(Clone, Copy)]
struct Bypass {
    first: u32,
    reported: u32,
    /// Queries when last reported.
    reported_queries: u32,
    queries: u32,
    allowed: u32,
    n_resolvers: u8,
    resolvers: [u128; MAX_RESOLVERS],
}

pub struct Dns {
    s: Settings,
    enabled: Enabled,
    /// Seed of the IPv6 [`key64`]s (saved with them: src/detect/persist.rs).
    key: KeySeed,
    queriers: TwoGen<u128, Querier>,
    bypass: TwoGen<u128, Bypass>,
    fixed_budget: Budget,
    bypass_budget: Budget,
    last_sweep: u32,
}

/// The `dns` part of the `detect` section: the per-host windows of both kinds, with the seed
/// of the server keys inside them. Windows that ended (and hosts the hourly sweep would forget)
/// are not saved; nor are the report budgets (a minute long).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub seed: u64,
    pub queriers: Vec<(String, Querier)>,
    pub bypass: Vec<BypassState>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BypassState {
    pub host: String,
    pub first: u32,
    pub reported: u32,
    pub reported_queries: u32,
    pub queries: u32,
    pub allowed: u32,
    pub resolvers: Vec<String>,
}

impl Dns {
    pub fn export(&self, now: Micros) -> State {
        let sec = sec32(now);
        let w = self.s.window_s.max(600);
        State {
            seed: self.key.seed,
            queriers: self
                .queriers
                .iter()
                .filter(|(_, q)| sec.saturating_sub(q.window_start) < w)
                .map(|(k, q)| (key_ip(*k).to_string(), *q))
                .collect(),
            bypass: self
                .bypass
                .iter()
                .filter(|(_, b)| sec.saturating_sub(b.reported.max(b.first)) < 3600)
                .map(|(k, b)| BypassState {
                    host: key_ip(*k).to_string(),
                    first: b.first,
                    reported: b.reported,
                    reported_queries: b.reported_queries,
                    queries: b.queries,
                    allowed: b.allowed,
                    resolvers: b.resolvers[..usize::from(b.n_resolvers).min(MAX_RESOLVERS)]
                        .iter()
                        .map(|r| key_ip(*r).to_string())
                        .collect(),
                })
                .collect(),
        }
    }

    /// Restores into a fresh detector, adopting the saved seed (the server keys inside the
    /// windows were made with it). Oldest generation first, so the recent hosts stay recent.
    pub fn restore(&mut self, st: State) {
        self.key = KeySeed::with_seed(st.seed);
        let parse = |s: &str| s.parse::<IpAddr>().ok().map(crate::aggregate::ip_key);
        for (host, mut q) in st.queriers {
            let Some(k) = parse(&host) else { continue };
            // Counts from the file index fixed arrays: clamp them.
            q.n_ports = q.n_ports.min(MAX_PORTS as u8);
            q.n_servers = q.n_servers.min(MAX_SERVERS as u8);
            *self.queriers.entry(k, || q) = q;
        }
        for b in st.bypass {
            let Some(k) = parse(&b.host) else { continue };
            let mut resolvers = [0u128; MAX_RESOLVERS];
            let mut n = 0u8;
            for r in b
                .resolvers
                .iter()
                .filter_map(|r| parse(r))
                .take(MAX_RESOLVERS)
            {
                resolvers[usize::from(n)] = r;
                n += 1;
            }
            let v = Bypass {
                first: b.first,
                reported: b.reported,
                reported_queries: b.reported_queries,
                queries: b.queries,
                allowed: b.allowed,
                n_resolvers: n,
                resolvers,
            };
            *self.bypass.entry(k, || v) = v;
        }
    }
}

/// True for a DNS query (see the module docs).
#[inline]
pub fn is_query(r: &Record) -> bool {
    let port_proto = matches!(r.proto, Some(Proto::UDP) | Some(Proto::TCP) | None);
    (port_proto && r.dst_port == Some(53)) || (r.dns_query && r.src_port != Some(53))
}

impl Dns {
    pub fn new(s: Settings, enabled: Enabled, now: Micros) -> Self {
        Dns {
            enabled,
            key: KeySeed::random(),
            queriers: TwoGen::new(HOST_CAP),
            bypass: TwoGen::new(HOST_CAP),
            fixed_budget: Budget::new(REPORTS_PER_MIN),
            bypass_budget: Budget::new(REPORTS_PER_MIN),
            last_sweep: sec32(now),
            s,
        }
    }

    fn checked(o: &Obs<'_>, include_external: bool) -> bool {
        o.src_zone.is_internal() || (include_external && o.src_zone.is_external())
    }

    fn fixed_port(&mut self, o: &Obs<'_>, src: u128, ctx: &Context, sink: &mut Sink) {
        let Some(dst) = o.dst else { return };
        let Some(sport) = o.r.src_port else { return };
        let sec = sec32(o.now);
        let s = &self.s;
        let server = key64(dst, &self.key.hasher);
        let q = self.queriers.entry(src, || Querier::new(sec));
        if sec.saturating_sub(q.window_start) >= s.window_s {
            *q = Querier {
                reported: q.reported,
                ..Querier::new(sec)
            };
        }
        q.last = sec;
        q.queries = q.queries.saturating_add(1);
        if q.randomising {
            return;
        }
        let n = usize::from(q.n_ports);
        if !q.ports[..n].contains(&sport) {
            if n >= usize::from(s.max_ports) {
                q.randomising = true;
                return;
            }
            q.ports[n] = sport;
            q.n_ports += 1;
        }
        let n = usize::from(q.n_servers);
        if n < MAX_SERVERS && !q.servers[..n].contains(&server) {
            q.servers[n] = server;
            q.n_servers += 1;
        }
        if q.queries >= s.min_queries
            && q.n_servers >= s.min_servers
            && (q.reported == 0 || sec.saturating_sub(q.reported) >= REREPORT_S)
        {
            q.reported = sec;
            let q = *q;
            if self.fixed_budget.allow(o.now, Some(key_ip(src))) {
                sink.push(fixed_finding(&q, o, key_ip(src), ctx));
            }
        }
    }

    fn unapproved(&mut self, o: &Obs<'_>, src: u128, ctx: &Context, sink: &mut Sink) {
        let Some(dst) = o.dst else { return };
        if ctx.is_approved_resolver(src) || ctx.is_approved_resolver(dst) {
            return;
        }
        let sec = sec32(o.now);
        let b = self.bypass.entry(src, || Bypass {
            first: sec,
            reported: 0,
            reported_queries: 0,
            queries: 0,
            allowed: 0,
            n_resolvers: 0,
            resolvers: [0; MAX_RESOLVERS],
        });
        b.queries = b.queries.saturating_add(1);
        if o.r.action != Some(Action::Deny) {
            b.allowed = b.allowed.saturating_add(1);
        }
        let n = usize::from(b.n_resolvers);
        if n < MAX_RESOLVERS && !b.resolvers[..n].contains(&dst) {
            b.resolvers[n] = dst;
            b.n_resolvers += 1;
        }
        let due = b.reported == 0
            || (sec.saturating_sub(b.reported) >= REREPORT_S && b.queries > b.reported_queries);
        if due {
            b.reported = sec;
            b.reported_queries = b.queries;
            let b = *b;
            if self.bypass_budget.allow(o.now, Some(key_ip(src))) {
                sink.push(unapproved_finding(&b, o, key_ip(src), ctx));
            }
        }
    }
}

fn fixed_finding(q: &Querier, o: &Obs<'_>, host: IpAddr, ctx: &Context) -> Finding {
    let ports: Vec<u16> = q.ports[..usize::from(q.n_ports)].to_vec();
    let servers: Vec<String> = q.servers[..usize::from(q.n_servers)]
        .iter()
        .filter_map(|&k| ip_of_key64(k))
        .map(|ip| ip.to_string())
        .collect();
    let n_servers = if usize::from(q.n_servers) >= MAX_SERVERS {
        format!("at least {MAX_SERVERS}")
    } else {
        q.n_servers.to_string()
    };
    let from = match ports.as_slice() {
        [p] => format!("all from source port {p}"),
        ps => format!(
            "all from only {} source ports ({})",
            ps.len(),
            ps.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        ),
    };
    let elapsed = i64::from(q.last.saturating_sub(q.window_start));
    let within = if elapsed < 120 {
        "within 2 minutes".to_string()
    } else {
        format!("in {}", span(elapsed))
    };
    Finding {
        kind: Kind::FixedDnsSourcePort,
        entity: host.to_string(),
        zone: ctx.zone_name(o.src_zone).map(str::to_string),
        severity: SEV_FIXED_PORT,
        summary: format!(
            "{} sent {} to {n_servers} different DNS servers {within}, {from}: its DNS source port is not randomised, so its answers are easy to forge (cache poisoning).",
            capitalise(&ctx.describe(host)),
            plural(u64::from(q.queries), "query", "queries"),
        ),
        count: 1,
        evidence: json!({
            "host": host.to_string(),
            "queries": q.queries,
            "servers": q.n_servers,
            "source_ports": ports,
            "window_start": crate::aggregate::rfc3339_millis(i64::from(q.window_start) * 1_000_000),
            "sample_servers": servers,
        }),
    }
}

fn unapproved_finding(b: &Bypass, o: &Obs<'_>, host: IpAddr, ctx: &Context) -> Finding {
    let resolvers: Vec<String> = b.resolvers[..usize::from(b.n_resolvers)]
        .iter()
        .map(|&k| key_ip(k).to_string())
        .collect();
    let blocked = b.queries - b.allowed;
    let to = match resolvers.as_slice() {
        [r] => format!("{r}, which is not an approved resolver"),
        rs => format!("{}, which are not approved resolvers", rs.join(", ")),
    };
    let verdict = match (b.allowed, blocked) {
        (1, 0) => "the firewall let it through".to_string(),
        (_, 0) => "the firewall let all of them through".to_string(),
        (0, 1) => "the firewall blocked it".to_string(),
        (0, _) => "the firewall blocked all of them".to_string(),
        (a, d) => format!("the firewall let {a} through and blocked {d}"),
    };
    Finding {
        kind: Kind::UnapprovedResolver,
        entity: host.to_string(),
        zone: ctx.zone_name(o.src_zone).map(str::to_string),
        severity: if b.allowed > 0 {
            SEV_UNAPPROVED_ALLOWED
        } else {
            SEV_UNAPPROVED_BLOCKED
        },
        summary: format!(
            "{} sent {} to {to}; {verdict}.",
            capitalise(&ctx.describe(host)),
            plural(u64::from(b.queries), "DNS query", "DNS queries"),
        ),
        count: 1,
        evidence: json!({
            "host": host.to_string(),
            "queries": b.queries,
            "allowed": b.allowed,
            "blocked": blocked,
            "resolvers": resolvers,
            "since": crate::aggregate::rfc3339_millis(i64::from(b.first) * 1_000_000),
        }),
    }
}

fn burst(kind: Kind, what: &str, o: Overflow) -> Finding {
    let samples: Vec<String> = o.samples.iter().map(IpAddr::to_string).collect();
    Finding {
        kind,
        entity: "many".into(),
        zone: None,
        severity: if kind == Kind::FixedDnsSourcePort {
            SEV_FIXED_PORT
        } else {
            SEV_UNAPPROVED_ALLOWED
        },
        summary: format!(
            "{} more reports of {what} since {} were not shown one by one (e.g. {}).",
            o.count,
            crate::aggregate::rfc3339_millis(o.since),
            samples.join(", ")
        ),
        count: o.count,
        evidence: json!({"suppressed": o.count, "samples": samples}),
    }
}

impl KindsOf for Dns {
    const KINDS: &'static [Kind] = &[Kind::FixedDnsSourcePort, Kind::UnapprovedResolver];
}

impl Detector for Dns {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    #[inline]
    fn observe(&mut self, o: &Obs<'_>, ctx: &Context, sink: &mut Sink) {
        if !is_query(o.r) {
            return;
        }
        let Some(src) = o.src else { return };
        if self.enabled.kind(Kind::FixedDnsSourcePort)
            && Self::checked(o, self.s.fixed_include_external)
        {
            self.fixed_port(o, src, ctx, sink);
        }
        if self.enabled.kind(Kind::UnapprovedResolver)
            && !ctx.approved_resolvers.is_empty()
            && Self::checked(o, self.s.unapproved_include_external)
        {
            self.unapproved(o, src, ctx, sink);
        }
    }

    fn tick(&mut self, now: Micros, _view: &TickView<'_>, _ctx: &Context, sink: &mut Sink) {
        let sec = sec32(now);
        // Every 10 minutes: forget windows that ended and hosts idle for an hour.
        if sec.saturating_sub(self.last_sweep) >= 600 {
            self.last_sweep = sec;
            let w = self.s.window_s;
            self.queriers
                .retain(|_, q| sec.saturating_sub(q.window_start) < w.max(600));
            self.bypass
                .retain(|_, b| sec.saturating_sub(b.reported.max(b.first)) < 3600);
        }
        if let Some(o) = self.fixed_budget.flush(now) {
            sink.push(burst(Kind::FixedDnsSourcePort, "fixed DNS source ports", o));
        }
        if let Some(o) = self.bypass_budget.flush(now) {
            sink.push(burst(Kind::UnapprovedResolver, "unapproved resolvers", o));
        }
    }

    fn memory(&self) -> usize {
        self.queriers.memory() + self.bypass.memory()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Cidr;
    use crate::detect::tests_support::*;

    /// The log owner's network, 195.141.69.0/24, configured as internal (it is not RFC 1918).
    fn ctx() -> Context {
        let mut c = Context::new(&["195.141.69.0/24".parse::<Cidr>().unwrap()], &[]);
        c.approved_resolvers.clear();
        c
    }

    fn dns() -> Dns {
        Dns::new(Settings::default(), Enabled::new(&[]), T0)
    }

    const SERVERS: [&str; 6] = [
        "61.215.160.253",
        "204.123.2.19",
        "192.12.94.30",
        "205.151.222.254",
        "193.192.227.3",
        "198.41.0.4",
    ];

    #[test]
    fn seed_case_fixed_port_1030_fires_and_random_ports_do_not() {
        let ctx = ctx();
        let mut d = dns();
        let mut sink = Sink::default();
        // 195.141.69.45 queries six servers, always from port 1030, 10 queries in 9 minutes.
        // 195.141.69.42 sends as many queries to the same servers from random ports.
        let mut rng = Rng(42);
        for i in 0..10usize {
            let t = T0 + (i as i64) * 60 * S;
            let fixed = udp("195.141.69.45", 1030, SERVERS[i % 6], 53, Action::Allow);
            observe(&mut d, &ctx, &fixed, t, &mut sink);
            let port = 1024 + (rng.next() % 60_000) as u16;
            let random = udp("195.141.69.42", port, SERVERS[i % 6], 53, Action::Allow);
            observe(&mut d, &ctx, &random, t, &mut sink);
        }
        let f = &sink.0;
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].kind, Kind::FixedDnsSourcePort);
        assert_eq!(f[0].entity, "195.141.69.45");
        assert_eq!(f[0].zone.as_deref(), Some("internal"));
        assert_eq!(f[0].severity, 60);
        assert_eq!(
            f[0].summary,
            "Internal host 195.141.69.45 sent 10 queries to 6 different DNS servers in 9 minutes, all from source port 1030: its DNS source port is not randomised, so its answers are easy to forge (cache poisoning)."
        );
        assert_eq!(f[0].evidence["queries"], 10);
        assert_eq!(f[0].evidence["servers"], 6);
        assert_eq!(f[0].evidence["source_ports"], json!([1030]));
        assert_eq!(f[0].evidence["sample_servers"][0], "61.215.160.253");
    }

    #[test]
    fn fixed_port_rereports_at_most_once_a_minute_and_needs_five_servers() {
        let ctx = ctx();
        let mut d = dns();
        let mut sink = Sink::default();
        // Ten queries to four servers: a forwarder, not a recursive resolver: quiet.
        for i in 0..10usize {
            let r = udp("195.141.69.50", 1030, SERVERS[i % 4], 53, Action::Allow);
            observe(&mut d, &ctx, &r, T0 + i as i64 * S, &mut sink);
        }
        assert!(sink.is_empty());
        // The fifth server makes it fire; continuing queries re-report once a minute.
        let mut t = T0 + 10 * S;
        for i in 0..200i64 {
            let r = udp(
                "195.141.69.50",
                1030,
                SERVERS[4 + (i as usize % 2)],
                53,
                Action::Allow,
            );
            observe(&mut d, &ctx, &r, t, &mut sink);
            t += S;
        }
        assert_eq!(sink.0.len(), 4, "at 10 s, 70 s, 130 s, 190 s");
        // Outside the internal networks: not checked by default.
        sink.0.clear();
        for i in 0..20usize {
            let r = udp("203.0.113.7", 1030, SERVERS[i % 6], 53, Action::Allow);
            observe(&mut d, &ctx, &r, t, &mut sink);
        }
        assert!(sink.is_empty());
    }

    #[test]
    fn two_ports_still_fire_three_do_not_and_answers_are_not_queries() {
        let ctx = ctx();
        let mut d = dns();
        let mut sink = Sink::default();
        for i in 0..12usize {
            let two = udp(
                "195.141.69.60",
                1030 + (i % 2) as u16,
                SERVERS[i % 6],
                53,
                Action::Allow,
            );
            observe(&mut d, &ctx, &two, T0 + S, &mut sink);
            let three = udp(
                "195.141.69.61",
                1030 + (i % 3) as u16,
                SERVERS[i % 6],
                53,
                Action::Allow,
            );
            observe(&mut d, &ctx, &three, T0 + S, &mut sink);
            let answer = udp("195.141.69.62", 53, SERVERS[i % 6], 1030, Action::Allow);
            observe(&mut d, &ctx, &answer, T0 + S, &mut sink);
        }
        assert_eq!(sink.0.len(), 1);
        assert_eq!(sink.0[0].entity, "195.141.69.60");
        assert_eq!(sink.0[0].evidence["source_ports"], json!([1030, 1031]));
        assert!(
            sink.0[0]
                .summary
                .contains("all from only 2 source ports (1030, 1031)")
        );
    }

    #[test]
    fn window_restarts_after_an_hour() {
        let ctx = ctx();
        let mut d = dns();
        let mut sink = Sink::default();
        // Nine queries, then one more 61 minutes later: never ten in one window.
        for i in 0..9usize {
            let r = udp("195.141.69.70", 1030, SERVERS[i % 6], 53, Action::Allow);
            observe(&mut d, &ctx, &r, T0 + i as i64 * S, &mut sink);
        }
        let r = udp("195.141.69.70", 1030, SERVERS[5], 53, Action::Allow);
        observe(&mut d, &ctx, &r, T0 + 61 * 60 * S, &mut sink);
        assert!(sink.is_empty());
    }

    #[test]
    fn unapproved_resolver_fires_only_when_configured_and_exempts_the_resolvers() {
        let mut ctx = Context::with_default_networks();
        let mut d = dns();
        let mut sink = Sink::default();
        let to_google = udp("10.1.4.22", 50000, "8.8.8.8", 53, Action::Allow);
        observe(&mut d, &ctx, &to_google, T0, &mut sink);
        assert!(sink.is_empty(), "no approved_resolvers: off");
        ctx.approved_resolvers
            .insert(crate::aggregate::ip_key("10.0.0.53".parse().unwrap()));
        let approved = udp("10.1.4.22", 50001, "10.0.0.53", 53, Action::Allow);
        let resolver_out = udp("10.0.0.53", 40000, "198.41.0.4", 53, Action::Allow);
        observe(&mut d, &ctx, &approved, T0 + S, &mut sink);
        observe(&mut d, &ctx, &resolver_out, T0 + S, &mut sink);
        assert!(sink.is_empty(), "{:?}", sink.0);
        observe(&mut d, &ctx, &to_google, T0 + 2 * S, &mut sink);
        let blocked = udp("10.1.4.22", 50002, "1.1.1.1", 53, Action::Deny);
        observe(&mut d, &ctx, &blocked, T0 + 3 * S, &mut sink);
        assert_eq!(sink.0.len(), 1, "re-reported at most once a minute");
        let f = &sink.0[0];
        assert_eq!(f.kind, Kind::UnapprovedResolver);
        assert_eq!(f.entity, "10.1.4.22");
        assert_eq!(f.severity, SEV_UNAPPROVED_ALLOWED);
        assert_eq!(
            f.summary,
            "Internal host 10.1.4.22 sent 1 DNS query to 8.8.8.8, which is not an approved resolver; the firewall let it through."
        );
        observe(&mut d, &ctx, &blocked, T0 + 63 * S, &mut sink);
        assert_eq!(sink.0.len(), 2);
        assert_eq!(
            sink.0[1].summary,
            "Internal host 10.1.4.22 sent 3 DNS queries to 8.8.8.8, 1.1.1.1, which are not approved resolvers; the firewall let 1 through and blocked 2."
        );
        assert_eq!(sink.0[1].evidence["blocked"], 2);
        // Only blocked queries: notable.
        let only_blocked = udp("10.1.4.23", 50002, "1.1.1.1", 53, Action::Deny);
        observe(&mut d, &ctx, &only_blocked, T0 + 64 * S, &mut sink);
        assert_eq!(sink.0[2].severity, SEV_UNAPPROVED_BLOCKED);
        assert!(sink.0[2].summary.ends_with("the firewall blocked it."));
    }

    #[test]
    fn random_query_spray_is_bounded_and_a_planted_fixed_port_host_still_fires() {
        let mut ctx = Context::with_default_networks();
        ctx.approved_resolvers
            .insert(crate::aggregate::ip_key("10.0.0.53".parse().unwrap()));
        let mut d = dns();
        let mut sink = Sink::default();
        let mut rng = Rng(7);
        let mut planted = 0;
        let mut bypass_reports = 0;
        for i in 0..1_000_000i64 {
            let a = rng.next();
            let src = std::net::Ipv4Addr::from(0x0a00_0000 | (a as u32 & 0x00ff_ffff));
            let dst = std::net::Ipv4Addr::from((a >> 32) as u32);
            let r = udp(
                &src.to_string(),
                (a >> 16) as u16 | 1024,
                &dst.to_string(),
                53,
                Action::Allow,
            );
            let now = T0 + i * 3_600; // 1M queries over an hour
            observe(&mut d, &ctx, &r, now, &mut sink);
            if i % 5_000 == 0 {
                // Every 18 s, the planted host queries from port 1030.
                let p = udp(
                    "10.66.0.1",
                    1030,
                    SERVERS[(i / 5_000) as usize % 6],
                    53,
                    Action::Allow,
                );
                observe(&mut d, &ctx, &p, now, &mut sink);
            }
            for f in sink.0.drain(..) {
                match (f.kind, f.entity.as_str()) {
                    (Kind::FixedDnsSourcePort, "10.66.0.1") => planted += 1,
                    (Kind::FixedDnsSourcePort, other) => panic!("false positive {other}: {f:?}"),
                    (Kind::UnapprovedResolver, _) => bypass_reports += 1,
                    _ => {}
                }
            }
        }
        let mem = d.memory();
        assert!(mem <= MEMORY_CAP, "memory {mem} above {MEMORY_CAP}");
        assert!(d.queriers.len() <= 2 * HOST_CAP);
        assert!(planted >= 1, "the planted host must fire");
        assert!(bypass_reports <= 20 * 61, "{bypass_reports}");
        eprintln!(
            "dns spray: memory {mem} B, planted reports {planted}, unapproved reports {bypass_reports}, rotations {}",
            d.queriers.rotations()
        );
    }
}
