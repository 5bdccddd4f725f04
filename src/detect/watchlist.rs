//! `watchlist_hit`: traffic to or from an address on a watchlist (`[[watchlist]]` files: threat
//! intelligence, honeypots, crown jewels).
//!
//! The anomaly's entity is the watchlisted address; its evidence names the peers (up to
//! [`MAX_PEERS`]), how many connections went each way, and how many the firewall let through.
//! Reported on the first hit, then at most once a minute while hits continue.
//!
//! Severity: 80 when traffic *to* the address got through (something inside reached out to it),
//! 60 when only traffic *from* it got through, 30 when the firewall blocked every connection.
//! The report budget is split by severity, so a spray of blocked probes from a listed range cannot
//! use up the budget that an allowed connection to a listed address needs.
//!
//! Bounds: per-address state in a [`TwoGen`] of [`ADDR_CAP`] per generation; memory at most
//! [`MEMORY_CAP`]. The lookups themselves are in [`Context::watchlisted`] (hash sets by prefix).

use std::net::IpAddr;

use serde_json::json;

use super::bounded::{Budget, Overflow, REPORTS_PER_MIN, REREPORT_S, TwoGen, plural, sec32};
use super::first_seen::{capitalise, record_json};
use super::{Context, Detector, Finding, Kind, KindsOf, Obs, Sink, TickView};
use crate::aggregate::key_ip;
use crate::event::{Action, Micros};

/// Watchlisted addresses tracked per generation (7/16 of a 2^13-bucket table, so churn rehashes
/// in place and a table never grows past 2^13 buckets).
pub const ADDR_CAP: usize = 3584;
/// Peers remembered per watchlisted address.
pub const MAX_PEERS: usize = 4;
/// Documented upper bound of [`Watchlist::memory`]: 2 generations × 2^13 buckets × 129 B
/// ≈ 2.1 MB.
pub const MEMORY_CAP: usize = 5 << 19;

pub const SEV_OUTBOUND_ALLOWED: u8 = 80;
pub const SEV_INBOUND_ALLOWED: u8 = 60;
pub const SEV_BLOCKED: u8 = 30;

/// Thresholds (docs/detections-context.md): none beyond `enabled` yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {}

#[derive(Clone, Copy)]
struct Hit {
    first: u32,
    reported: u32,
    reported_count: u32,
    count: u32,
    /// Connections to the watchlisted address that the firewall did not deny.
    to_allowed: u32,
    from_allowed: u32,
    /// Connections with the watchlisted address as destination / as source.
    to_it: u32,
    from_it: u32,
    n_peers: u8,
    peers: [u128; MAX_PEERS],
}

pub struct Watchlist {
    hits: TwoGen<u128, Hit>,
    low: Budget,
    high: Budget,
}

impl Watchlist {
    pub fn new(_s: Settings, _now: Micros) -> Self {
        Watchlist {
            hits: TwoGen::new(ADDR_CAP),
            low: Budget::new(REPORTS_PER_MIN),
            high: Budget::new(REPORTS_PER_MIN),
        }
    }

    /// One connection touching watchlisted `watched`; `to_it`: it was the destination.
    fn hit(
        &mut self,
        o: &Obs<'_>,
        watched: u128,
        peer: Option<u128>,
        to_it: bool,
        ctx: &Context,
        sink: &mut Sink,
    ) {
        let sec = sec32(o.now);
        let h = self.hits.entry(watched, || Hit {
            first: sec,
            reported: 0,
            reported_count: 0,
            count: 0,
            to_allowed: 0,
            from_allowed: 0,
            to_it: 0,
            from_it: 0,
            n_peers: 0,
            peers: [0; MAX_PEERS],
        });
        let allowed = o.r.action != Some(Action::Deny);
        h.count = h.count.saturating_add(1);
        if to_it {
            h.to_it = h.to_it.saturating_add(1);
            h.to_allowed = h.to_allowed.saturating_add(u32::from(allowed));
        } else {
            h.from_it = h.from_it.saturating_add(1);
            h.from_allowed = h.from_allowed.saturating_add(u32::from(allowed));
        }
        if let Some(p) = peer {
            let n = usize::from(h.n_peers);
            if n < MAX_PEERS && !h.peers[..n].contains(&p) {
                h.peers[n] = p;
                h.n_peers += 1;
            }
        }
        let due = h.reported == 0
            || (sec.saturating_sub(h.reported) >= REREPORT_S && h.count > h.reported_count);
        if !due {
            return;
        }
        h.reported = sec;
        h.reported_count = h.count;
        let h = *h;
        let f = finding(&h, watched, o, ctx);
        let budget = if f.severity >= SEV_INBOUND_ALLOWED {
            &mut self.high
        } else {
            &mut self.low
        };
        if budget.allow(o.now, Some(key_ip(watched))) {
            sink.push(f);
        }
    }
}

fn finding(h: &Hit, watched: u128, o: &Obs<'_>, ctx: &Context) -> Finding {
    let ip = key_ip(watched);
    let list = ctx
        .watchlisted(watched)
        .map_or("(removed)", |l| l.name.as_str());
    let peers: Vec<IpAddr> = h.peers[..usize::from(h.n_peers)]
        .iter()
        .map(|&k| key_ip(k))
        .collect();
    let peers_desc = match peers.as_slice() {
        [] => "unknown hosts".to_string(),
        [p] => ctx.describe(*p),
        ps => format!(
            "{}{} hosts ({})",
            if ps.len() >= MAX_PEERS {
                "at least "
            } else {
                ""
            },
            ps.len(),
            ps.iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let listed = format!("{ip}, which is on watchlist \"{list}\"");
    let what = plural(u64::from(h.count), "connection", "connections");
    let allowed = h.to_allowed + h.from_allowed;
    let verdict = match (allowed, h.count - allowed) {
        (1, 0) => "the firewall let it through".to_string(),
        (_, 0) => "the firewall let all of them through".to_string(),
        (0, 1) => "the firewall blocked it".to_string(),
        (0, _) => "the firewall blocked all of them".to_string(),
        (a, d) => format!("the firewall let {a} through and blocked {d}"),
    };
    let summary = if h.from_it == 0 {
        format!(
            "{} contacted {listed}: {what}, {verdict}.",
            capitalise(&peers_desc)
        )
    } else if h.to_it == 0 {
        format!(
            "{}, contacted {peers_desc}: {what}, {verdict}.",
            capitalise(&listed)
        )
    } else {
        format!(
            "{} exchanged {what} with {peers_desc}: {verdict}.",
            capitalise(&listed)
        )
    };
    let severity = if h.to_allowed > 0 {
        SEV_OUTBOUND_ALLOWED
    } else if h.from_allowed > 0 {
        SEV_INBOUND_ALLOWED
    } else {
        SEV_BLOCKED
    };
    Finding {
        kind: Kind::WatchlistHit,
        entity: ip.to_string(),
        zone: ctx.zone_name(ctx.zone_of(watched)).map(str::to_string),
        severity,
        summary,
        count: 1,
        evidence: json!({
            "address": ip.to_string(),
            "watchlist": list,
            "connections": h.count,
            "allowed": allowed,
            "blocked": h.count - allowed,
            "to_it": h.to_it,
            "from_it": h.from_it,
            "peers": peers.iter().map(IpAddr::to_string).collect::<Vec<_>>(),
            "since": crate::aggregate::rfc3339_millis(i64::from(h.first) * 1_000_000),
            "last_record": record_json(o),
        }),
    }
}

fn burst(o: Overflow, severity: u8) -> Finding {
    let samples: Vec<String> = o.samples.iter().map(IpAddr::to_string).collect();
    Finding {
        kind: Kind::WatchlistHit,
        entity: "many".into(),
        zone: None,
        severity,
        summary: format!(
            "{} more watchlist hits since {} were not shown one by one (e.g. {}).",
            o.count,
            crate::aggregate::rfc3339_millis(o.since),
            samples.join(", ")
        ),
        count: o.count,
        evidence: json!({"suppressed": o.count, "samples": samples}),
    }
}

impl KindsOf for Watchlist {
    const KINDS: &'static [Kind] = &[Kind::WatchlistHit];
}

impl Detector for Watchlist {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    #[inline]
    fn observe(&mut self, o: &Obs<'_>, ctx: &Context, sink: &mut Sink) {
        if ctx.watchlists.is_empty() {
            return;
        }
        if let Some(s) = o.src
            && ctx.watchlisted(s).is_some()
        {
            self.hit(o, s, o.dst, false, ctx, sink);
        }
        if let Some(d) = o.dst
            && ctx.watchlisted(d).is_some()
        {
            self.hit(o, d, o.src, true, ctx, sink);
        }
    }

    fn tick(&mut self, now: Micros, _view: &TickView<'_>, _ctx: &Context, sink: &mut Sink) {
        if let Some(o) = self.high.flush(now) {
            sink.push(burst(o, SEV_INBOUND_ALLOWED));
        }
        if let Some(o) = self.low.flush(now) {
            sink.push(burst(o, SEV_BLOCKED));
        }
        // Forget addresses not reported for a day (their anomaly closed long ago).
        if now.div_euclid(1_000_000) % 600 == 0 {
            let sec = sec32(now);
            self.hits
                .retain(|_, h| sec.saturating_sub(h.reported) < 86_400);
        }
    }

    fn memory(&self) -> usize {
        self.hits.memory()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Cidr;
    use crate::detect::context::AddressList;
    use crate::detect::tests_support::*;

    fn ctx() -> Context {
        let mut c = Context::new(
            &["10.0.0.0/8".parse::<Cidr>().unwrap()],
            &[("users".into(), vec!["10.1.0.0/16".parse().unwrap()])],
        );
        let mut l = AddressList::new("threat-intel");
        l.add("203.0.113.66".parse().unwrap());
        l.add("198.18.0.0/15".parse().unwrap());
        c.watchlists.push(l);
        c
    }

    #[test]
    fn outbound_allowed_hit_fires_with_peers_and_rereports_once_a_minute() {
        let ctx = ctx();
        let mut d = Watchlist::new(Settings::default(), T0);
        let mut sink = Sink::default();
        let benign = rec("10.1.4.22", 50000, "203.0.113.67", 443, Action::Allow);
        observe(&mut d, &ctx, &benign, T0, &mut sink);
        assert!(sink.is_empty());
        let out = rec("10.1.4.22", 50001, "203.0.113.66", 443, Action::Allow);
        for i in 0..90 {
            observe(&mut d, &ctx, &out, T0 + i * S, &mut sink);
        }
        assert_eq!(sink.0.len(), 2, "first hit, then 60 s later");
        let f = &sink.0[0];
        assert_eq!(f.kind, Kind::WatchlistHit);
        assert_eq!(f.entity, "203.0.113.66");
        assert_eq!(f.zone.as_deref(), Some("external"));
        assert_eq!(f.severity, SEV_OUTBOUND_ALLOWED);
        assert_eq!(
            f.summary,
            "Internal host 10.1.4.22 (users) contacted 203.0.113.66, which is on watchlist \"threat-intel\": 1 connection, the firewall let it through."
        );
        assert_eq!(f.evidence["watchlist"], "threat-intel");
        assert_eq!(f.evidence["peers"], json!(["10.1.4.22"]));
        assert_eq!(sink.0[1].evidence["connections"], 61);
    }

    #[test]
    fn blocked_probes_from_a_listed_range_are_low_severity() {
        let ctx = ctx();
        let mut d = Watchlist::new(Settings::default(), T0);
        let mut sink = Sink::default();
        for (i, dst) in ["10.2.0.1", "10.2.0.2"].into_iter().enumerate() {
            let r = rec("198.19.1.1", 40000, dst, 22, Action::Deny);
            observe(&mut d, &ctx, &r, T0 + i as i64 * S, &mut sink);
        }
        assert_eq!(sink.0.len(), 1);
        let f = &sink.0[0];
        assert_eq!(f.severity, SEV_BLOCKED);
        assert_eq!(
            f.summary,
            "198.19.1.1, which is on watchlist \"threat-intel\", contacted internal host 10.2.0.1: 1 connection, the firewall blocked it."
        );
    }

    #[test]
    fn listed_range_spray_is_bounded_and_cannot_hide_an_allowed_connection() {
        let ctx = ctx();
        let mut d = Watchlist::new(Settings::default(), T0);
        let mut sink = Sink::default();
        let mut rng = Rng(99);
        let mut planted = 0;
        let mut findings = 0;
        for i in 0..1_000_000i64 {
            let a = rng.next() as u32;
            // Random sources in 198.18.0.0/15 probing random internal hosts, all blocked.
            let src = std::net::Ipv4Addr::from(0xc612_0000 | (a & 0x1_ffff));
            let dst = std::net::Ipv4Addr::from(0x0a00_0000 | (a >> 8));
            let r = rec(&src.to_string(), 40000, &dst.to_string(), 22, Action::Deny);
            let now = T0 + i * 3_600;
            observe(&mut d, &ctx, &r, now, &mut sink);
            if i == 500_000 {
                let p = rec("10.1.4.22", 50001, "203.0.113.66", 443, Action::Allow);
                observe(&mut d, &ctx, &p, now, &mut sink);
            }
            if i % 1000 == 0 {
                d.tick(now, &TickView::default(), &ctx, &mut sink);
            }
            for f in sink.0.drain(..) {
                findings += 1;
                if f.entity == "203.0.113.66" {
                    planted += 1;
                    assert_eq!(f.severity, SEV_OUTBOUND_ALLOWED);
                }
            }
        }
        let mem = d.memory();
        assert!(mem <= MEMORY_CAP, "memory {mem} above {MEMORY_CAP}");
        assert_eq!(planted, 1);
        assert!(findings <= 2 * 21 * 61, "{findings}");
        eprintln!("watchlist spray: memory {mem} B, {findings} findings");
    }
}
