//! Profiling driver for `ingest` alone (no criterion), for `valgrind --tool=callgrind`:
//! `agg_profile realistic|spray [batches]` feeds that many 1024-record batches of the
//! generators of `benches/support/records.rs` (shared with the criterion bench) and prints
//! records/s.

use std::time::Instant;

#[path = "../benches/support/records.rs"]
mod records;

use records::{BATCH, Rng, T0, batches, realistic, settings, spray};
use socwall::aggregate::Aggregator;
use socwall::event::Record;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let make = match args.get(1).map(String::as_str) {
        Some("spray") => spray as fn(&mut Rng) -> Record,
        _ => realistic,
    };
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let bs = batches(make);
    let mut a = Aggregator::new(settings(), T0);
    let mut now = T0;
    let t = Instant::now();
    for i in 0..n {
        now += 1000;
        a.ingest(&bs[i % bs.len()], now);
    }
    let dt = t.elapsed().as_secs_f64();
    println!("{:.0} records/s", (n * BATCH) as f64 / dt);
}
