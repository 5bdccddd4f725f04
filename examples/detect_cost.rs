//! Hot-path cost of the detection engine: `Engine::observe` per record with every kind off
//! (address classification only) and with the context detectors on (default networks, an
//! approved resolver, a 100,000-address + 1,000-prefix watchlist), on the realistic mix and the
//! random-source spray of `benches/support/records.rs`. Run: `cargo run --release --example
//! detect_cost` (`DETAIL=1`: each detector module alone). Times are the thread's CPU time.

#[path = "../benches/support/records.rs"]
mod records;

/// This thread's time on a CPU (ns), from /proc (the machine is shared: wall time is noisy);
/// wall time elsewhere.
fn cpu_ns() -> u128 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        })
}

use records::{Rng, T0, realistic, spray};
use socwall::aggregate::{Cidr, ip_key};
use socwall::detect::{AddressList, Context, DetectSettings, Engine, Kind, TickView};
use socwall::event::Record;

const N: usize = 5_000_000;

fn context() -> Context {
    let mut ctx = Context::with_default_networks();
    ctx.approved_resolvers
        .insert(ip_key("10.0.0.53".parse().unwrap()));
    let mut l = AddressList::new("threat-intel");
    let mut rng = Rng(77);
    for _ in 0..100_000 {
        let a = std::net::Ipv4Addr::from(rng.next() as u32);
        l.add(Cidr {
            addr: a.into(),
            prefix: 32,
        });
    }
    for _ in 0..1_000 {
        let a = std::net::Ipv4Addr::from(rng.next() as u32 & 0xffff_ff00);
        l.add(Cidr {
            addr: a.into(),
            prefix: 24,
        });
    }
    ctx.watchlists.push(l);
    ctx
}

fn run(name: &str, records: &[Record], disabled: Vec<Kind>) {
    let mut s = DetectSettings {
        disabled,
        ..DetectSettings::default()
    };
    s.first_seen.host.learning_s = 0;
    s.first_seen.service.learning_s = 0;
    let mut e = Engine::new(s, context(), T0);
    let view = TickView::default();
    let started = cpu_ns();
    let mut now = T0;
    for (i, r) in records.iter().enumerate() {
        now += 1; // 1M records per second of engine time
        e.observe(0, r, now);
        if i % 1_000_000 == 0 {
            std::hint::black_box(e.tick(now, &view));
        }
    }
    let ns = (cpu_ns() - started) as f64 / records.len() as f64;
    println!(
        "{name:40} {ns:6.1} ns/record  open {:4}  memory {:.1} MB",
        e.open(),
        e.memory_estimate() as f64 / 1e6
    );
}

fn main() {
    for (mix, make) in [
        ("realistic", realistic as fn(&mut Rng) -> Record),
        ("spray", spray),
    ] {
        let mut rng = Rng(0x1234_5678);
        let records: Vec<Record> = (0..N).map(|_| make(&mut rng)).collect();
        run(
            &format!("{mix}: every kind off"),
            &records,
            Kind::ALL.to_vec(),
        );
        run(
            &format!("{mix}: context detectors on"),
            &records,
            Vec::new(),
        );
        if std::env::var_os("DETAIL").is_some() {
            for only in [
                &[Kind::WatchlistHit][..],
                &[Kind::FirstSeenHost, Kind::FirstSeenService],
                &[Kind::FixedDnsSourcePort, Kind::UnapprovedResolver],
            ] {
                let off: Vec<Kind> = Kind::ALL
                    .into_iter()
                    .filter(|k| !only.contains(k))
                    .collect();
                run(&format!("{mix}: only {only:?}"), &records, off);
            }
        }
    }
}
