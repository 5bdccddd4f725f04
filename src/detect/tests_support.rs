//! Helpers shared by the detectors' unit tests: an explicit clock, records, a seeded RNG.

use super::{Context, Detector, Obs, Sink};
use crate::aggregate::ip_key;
use crate::event::{Action, Micros, Proto, Record};

pub const S: Micros = 1_000_000;
/// 2023-11-14T22:13:20Z.
pub const T0: Micros = 1_700_000_000 * S;

/// A TCP record.
pub fn rec(src: &str, sport: u16, dst: &str, dport: u16, action: Action) -> Record {
    Record {
        ts: None,
        src_ip: Some(src.parse().expect("src ip")),
        dst_ip: Some(dst.parse().expect("dst ip")),
        src_port: Some(sport),
        dst_port: Some(dport),
        proto: Some(Proto::TCP),
        action: Some(action),
        direction: None,
        bytes: 60,
        packets: 1,
        dns_query: false,
        tcp_flags: Default::default(),
    }
}

/// A UDP record.
pub fn udp(src: &str, sport: u16, dst: &str, dport: u16, action: Action) -> Record {
    Record {
        proto: Some(Proto::UDP),
        ..rec(src, sport, dst, dport, action)
    }
}

/// The record as the engine hands it to detectors.
pub fn obs<'a>(r: &'a Record, ctx: &Context, now: Micros) -> Obs<'a> {
    let src = r.src_ip.map(ip_key);
    let dst = r.dst_ip.map(ip_key);
    Obs {
        now,
        source: 0,
        r,
        src,
        dst,
        src_zone: src.map_or(super::Zone::Unknown, |k| ctx.zone_of(k)),
        dst_zone: dst.map_or(super::Zone::Unknown, |k| ctx.zone_of(k)),
    }
}

pub fn observe<D: Detector>(d: &mut D, ctx: &Context, r: &Record, now: Micros, sink: &mut Sink) {
    d.observe(&obs(r, ctx, now), ctx, sink);
}

/// xorshift64*: deterministic random addresses for the cardinality tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
