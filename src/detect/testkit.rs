//! Test rig for the traffic detectors: builds records, classifies them as the engine does, and
//! drives a detector with an explicit clock (ticks every `tick_every` seconds), never sleeping.

use std::net::IpAddr;

use super::{Context, Detector, Finding, Obs, Sink, TickView, Zone};
use crate::aggregate::{Cidr, ip_key};
use crate::event::{Action, Micros, Proto, Record, TcpFlags};

pub const S: Micros = 1_000_000;
/// 2023-11-14 22:13:20 UTC.
pub const T0: Micros = 1_700_000_000 * S;

/// Internal: 10/8, 172.16/12, 192.168/16; zones "users" (10.1/16) and "servers" (10.2/16).
pub fn ctx() -> Context {
    let c = |s: &str| s.parse::<Cidr>().unwrap();
    Context::new(
        &[c("10.0.0.0/8"), c("172.16.0.0/12"), c("192.168.0.0/16")],
        &[
            ("users".into(), vec![c("10.1.0.0/16")]),
            ("servers".into(), vec![c("10.2.0.0/16")]),
        ],
    )
}

pub fn ipa(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A record with the fields detectors read; everything else unknown.
pub fn rec(src: IpAddr, dst: IpAddr, dport: u16, proto: Proto, action: Option<Action>) -> Record {
    let ports = proto.has_ports();
    Record {
        ts: None,
        src_ip: Some(src),
        dst_ip: Some(dst),
        src_port: ports.then_some(40_000),
        dst_port: ports.then_some(dport),
        proto: Some(proto),
        action,
        direction: None,
        bytes: 60,
        packets: 1,
        dns_query: false,
        tcp_flags: TcpFlags::default(),
    }
}

pub fn deny(src: &str, dst: &str, dport: u16) -> Record {
    rec(ipa(src), ipa(dst), dport, Proto::TCP, Some(Action::Deny))
}

pub fn allow(src: &str, dst: &str, dport: u16) -> Record {
    rec(ipa(src), ipa(dst), dport, Proto::TCP, Some(Action::Allow))
}

/// An IPv4 address from a number (for generated sources).
pub fn v4(n: u32) -> IpAddr {
    IpAddr::V4(n.into())
}

/// Tiny deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A detector with its context, clock and collected findings.
pub struct Rig<D: Detector> {
    pub d: D,
    pub ctx: Context,
    pub findings: Vec<Finding>,
    sink: Sink,
    /// Engine clock.
    pub now: Micros,
    last_tick: Micros,
    /// Seconds between ticks when time is advanced (1 = as the engine does).
    pub tick_every: i64,
}

impl<D: Detector> Rig<D> {
    pub fn new(d: D) -> Self {
        Rig {
            d,
            ctx: ctx(),
            findings: Vec::new(),
            sink: Sink::default(),
            now: T0,
            last_tick: T0,
            tick_every: 1,
        }
    }

    /// One record at the current clock, classified as [`super::Engine::observe`] does.
    pub fn feed(&mut self, r: &Record) {
        let src = r.src_ip.map(ip_key);
        let dst = r.dst_ip.map(ip_key);
        let o = Obs {
            now: self.now,
            source: 0,
            r,
            src,
            dst,
            src_zone: src.map_or(Zone::Unknown, |k| self.ctx.zone_of(k)),
            dst_zone: dst.map_or(Zone::Unknown, |k| self.ctx.zone_of(k)),
        };
        self.d.observe(&o, &self.ctx, &mut self.sink);
        self.findings.extend(self.sink.drain());
    }

    /// Advances the clock to `to`, ticking every `tick_every` seconds on the way (and at `to`).
    pub fn advance_to(&mut self, to: Micros) {
        let step = self.tick_every.max(1) * S;
        while self.last_tick + step <= to {
            self.last_tick += step;
            self.now = self.last_tick;
            self.tick();
        }
        self.now = to;
        if self.last_tick < to {
            self.last_tick = to;
            self.tick();
        }
    }

    pub fn advance(&mut self, secs: f64) {
        let to = self.now + (secs * S as f64) as Micros;
        self.advance_to(to);
    }

    fn tick(&mut self) {
        let view = TickView::default();
        self.d.tick(self.now, &view, &self.ctx, &mut self.sink);
        self.findings.extend(self.sink.drain());
    }

    /// Findings for `entity`.
    pub fn of(&self, entity: &str) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.entity == entity)
            .collect()
    }
}
