//! Aggregator throughput: `ingest` of 1024-record batches (realistic mix and an adversarial
//! random-source spray) and the cost of `update`/`snapshot` on a warm aggregator.
//!
//! Arrival time advances 1 ms per batch (≈1M records/s of wall time), so slots rotate as in
//! production and the summaries are full.

#[path = "support/records.rs"]
mod records;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use records::{BATCH, Rng, T0, batches, realistic, settings, spray};
use socwall::aggregate::Aggregator;
use socwall::event::Record;

fn ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, make) in [
        ("realistic", realistic as fn(&mut Rng) -> Record),
        ("spray", spray),
    ] {
        let bs = batches(make);
        let mut a = Aggregator::new(settings(), T0);
        let mut now = T0;
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                now += 1000;
                i = (i + 1) % bs.len();
                a.ingest(black_box(&bs[i]), now);
            })
        });
    }
    g.finish();
}

fn outputs(c: &mut Criterion) {
    let bs = batches(realistic);
    let mut a = Aggregator::new(settings(), T0);
    let mut now = T0;
    // Warm: an hour of arrival time, 10 batches per second.
    for k in 0..36_000 {
        now += 100_000;
        a.ingest(&bs[k % bs.len()], now);
    }
    let mut g = c.benchmark_group("output");
    g.sample_size(20);
    g.bench_function("update_with_topn", |b| {
        b.iter(|| {
            now += 1_000_000;
            black_box(a.update(now))
        })
    });
    g.bench_function("update_light", |b| {
        b.iter(|| {
            now += 1; // within the second: no top-N recompute
            black_box(a.update(now))
        })
    });
    g.bench_function("snapshot_json", |b| {
        b.iter(|| {
            now += 1_000_000;
            black_box(serde_json::to_string(&a.snapshot(now)).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, ingest, outputs);
criterion_main!(benches);
