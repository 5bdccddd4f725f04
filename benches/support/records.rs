//! Record generators shared by `benches/aggregate.rs` and `examples/agg_profile.rs`: a realistic
//! skewed mix and an adversarial random-source spray, deterministic (fixed seed).

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use socwall::aggregate::{AggregateSettings, EventBatch, SourceSettings};
use socwall::event::{Action, Proto, Record, TcpFlags};

pub const BATCH: usize = 1024;
pub const T0: i64 = 1_764_000_000_000_000;

pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Skewed traffic: a few thousand external sources (squared-uniform skew), 500 internal
/// destinations, 40 common ports and a long tail, 20 % denied.
pub fn realistic(rng: &mut Rng) -> Record {
    let r = rng.next();
    let u = (r >> 11) as f64 / (1u64 << 53) as f64;
    let src = 0xcb00_7100 + (u * u * 5000.0) as u32;
    let dst = 0x0a00_0000 + ((r >> 8) % 500) as u32;
    let port = if r % 10 < 8 {
        [443u16, 80, 53, 22, 25, 123, 3389, 445][(r >> 20) as usize % 8]
    } else {
        (r >> 24) as u16
    };
    record(src, dst, port, r % 5 == 0, r)
}

/// Adversarial: every record a random source, random port, internal destination.
pub fn spray(rng: &mut Rng) -> Record {
    let r = rng.next();
    record(
        (r >> 32) as u32,
        0x0a00_0000 | (r as u32 & 0xffff),
        (r >> 16) as u16,
        r % 2 == 0,
        r,
    )
}

pub fn record(src: u32, dst: u32, port: u16, deny: bool, r: u64) -> Record {
    let tcp = r % 7 != 0;
    Record {
        ts: Some(T0),
        src_ip: Some(IpAddr::V4(Ipv4Addr::from(src))),
        dst_ip: Some(IpAddr::V4(Ipv4Addr::from(dst))),
        src_port: Some(40_000),
        dst_port: Some(port),
        proto: Some(if tcp { Proto::TCP } else { Proto::UDP }),
        action: Some(if deny { Action::Deny } else { Action::Allow }),
        direction: None,
        bytes: 60 + (r >> 50),
        packets: 1,
        dns_query: false,
        // Per-packet firewall lines of connection openings, as `socwall bench` generates.
        tcp_flags: if tcp {
            TcpFlags::SYN
        } else {
            TcpFlags::default()
        },
    }
}

pub fn batches(make: fn(&mut Rng) -> Record) -> Vec<EventBatch> {
    let mut rng = Rng(0x1234_5678);
    (0..64)
        .map(|_| EventBatch {
            source: 0,
            lines: BATCH as u64,
            records: (0..BATCH).map(|_| make(&mut rng)).collect(),
            ..EventBatch::default()
        })
        .collect()
}

pub fn settings() -> AggregateSettings {
    AggregateSettings {
        sources: vec![SourceSettings::new("fw")],
        ..AggregateSettings::default()
    }
}
