//! Fuzzes the NetFlow v5/v9/IPFIX decoder: the input is a sequence of packets (2-byte length
//! prefixes) from one exporter, so templates learnt from early packets shape later decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socwall::parse::netflow::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (packet, tail) = rest[2..].split_at(len);
        out.clear();
        let _ = decoder.decode([127, 0, 0, 1].into(), packet, &mut out);
        rest = tail;
    }
});
