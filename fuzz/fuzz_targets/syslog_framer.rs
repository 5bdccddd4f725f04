//! Fuzzes the RFC 6587 TCP framer: the first byte splits the input into two reads, which must
//! never panic, never emit a message over the limit, and never buffer more than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socwall::listen::syslog::Framer;
use socwall::tail::LineBatch;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let cut = usize::from(cut).min(rest.len());
    let mut batch = LineBatch::with_capacity(0, 4096);
    let mut framer = Framer::new(64);
    framer.feed(&rest[..cut], &mut batch);
    framer.feed(&rest[cut..], &mut batch);
    framer.finish(&mut batch);
    assert!(batch.lines().all(|l| l.len() <= 64));
});
