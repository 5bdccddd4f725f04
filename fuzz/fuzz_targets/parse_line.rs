//! Fuzzes every text parser: the first byte picks the format, the rest is a stream of lines fed
//! through one carried `State` (so header-driven formats — Zeek `#fields`, VPC flow headers —
//! are fuzzed with the layouts the input itself declares), and through the auto-detector.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socwall::parse::{AutoDetector, Ctx, Format, State, parse_line_with};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let format = Format::ALL[usize::from(pick) % Format::ALL.len()];
    let ctx = Ctx::new(1_780_000_000_000_000);
    let mut state = State::default();
    let mut auto = AutoDetector::new();
    for line in rest.split(|&b| b == b'\n') {
        let _ = parse_line_with(format, line, &ctx, &mut state);
        let _ = auto.feed(line, &ctx);
    }
});
