//! End-to-end tests of `socwall parse`: the built binary on fixture files, stdin, odd bytes,
//! long lines and usage errors, asserting the exact JSON objects it prints.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "parse",
        name,
    ]
    .iter()
    .collect();
    p.to_string_lossy().into_owned()
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_socwall"))
        .arg("parse")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn socwall");
    {
        let mut sin = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            sin.write_all(input).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn objects(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("stdout is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
        .collect()
}

/// Year-less syslog dates get the current year (or the previous one): compare the rest.
fn ts_ends_with(v: &Value, suffix: &str) {
    let ts = v["ts"].as_str().unwrap_or_else(|| panic!("no ts in {v}"));
    assert!(ts.ends_with(suffix), "{ts} does not end with {suffix}");
}

/// `v` without its `ts`, for exact comparison of everything else.
fn without_ts(v: &Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut().unwrap().remove("ts");
    v
}

#[test]
fn pf_fixture_exact() {
    let out = run(&["--format", "pf", &fixture("pf.log")], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let o = objects(&out);
    assert_eq!(o.len(), 8);
    ts_ends_with(&o[0], "-10-21T06:06:58.096785Z");
    assert_eq!(
        without_ts(&o[0]),
        json!({"line":1,"src_ip":"195.141.69.45","dst_ip":"61.215.160.253","src_port":1030,"dst_port":53,
               "proto":"udp","action":"allow","direction":"in","iface":"xl1","bytes":null,"packets":1,
               "rule":"57/0","format":"pf"})
    );
    assert_eq!(
        without_ts(&o[1]),
        json!({"line":2,"src_ip":"195.141.69.45","dst_ip":"204.123.2.19","src_port":1030,"dst_port":53,
               "proto":"udp","action":"allow","direction":"in","iface":"xl1","bytes":null,"packets":1,
               "rule":"57/0","format":"pf","dns_qtype":"MX","dns_qname":"www.com.ar"})
    );
    ts_ends_with(&o[2], "-01-14T10:15:01.123456Z");
    assert_eq!(
        without_ts(&o[2]),
        json!({"line":3,"src_ip":"198.51.100.7","dst_ip":"203.0.113.10","src_port":51234,"dst_port":22,
               "proto":"tcp","action":"deny","direction":"in","iface":"em0","bytes":null,"packets":1,
               "rule":"def","format":"pf"})
    );
    assert_eq!(
        without_ts(&o[3]),
        json!({"line":4,"src_ip":"2001:db8::1","dst_ip":"2001:db8::2","src_port":443,"dst_port":51000,
               "proto":"tcp","action":"allow","direction":"out","iface":"em1","bytes":null,"packets":1,
               "rule":"3","format":"pf"})
    );
    ts_ends_with(&o[4], "-01-14T10:15:03.500000Z");
    assert_eq!(
        without_ts(&o[4]),
        json!({"line":5,"src_ip":"10.0.0.1","dst_ip":"10.0.0.2","src_port":null,"dst_port":null,
               "proto":"icmp","action":"deny","direction":"in","iface":"em0","bytes":null,"packets":1,
               "rule":"9","format":"pf"})
    );
    assert_eq!(o[5], json!({"line":6,"skipped":"pf: no rule label"}));
    assert_eq!(o[6], json!({"line":7,"skipped":"pf: no rule label"}));
    assert_eq!(
        o[7],
        json!({"line":8,"error":"pf: bad destination address"})
    );
}

#[test]
fn iptables_fixture_exact() {
    let out = run(&["--format", "iptables", &fixture("iptables.log")], None);
    assert!(out.status.success());
    let o = objects(&out);
    assert_eq!(o.len(), 7);
    ts_ends_with(&o[0], "-03-03T10:00:00.000000Z");
    assert_eq!(
        without_ts(&o[0]),
        json!({"line":1,"src_ip":"192.0.2.1","dst_ip":"192.0.2.99","src_port":null,"dst_port":null,
               "proto":"icmp","action":"deny","direction":"in","iface":"eth0","bytes":68,"packets":1,
               "rule":"UFW BLOCK","format":"iptables"})
    );
    assert_eq!(
        without_ts(&o[1]),
        json!({"line":2,"src_ip":"2001:db8::1","dst_ip":"2001:db8::2","src_port":null,"dst_port":null,
               "proto":"ipv6-icmp","action":"allow","direction":"out","iface":"eth1","bytes":104,"packets":1,
               "rule":"IPT-ACCEPT","format":"iptables"})
    );
    assert_eq!(
        without_ts(&o[2]),
        json!({"line":3,"src_ip":"198.51.100.20","dst_ip":"10.9.8.7","src_port":4500,"dst_port":4500,
               "proto":"udp","action":"deny","direction":null,"iface":"eth0","bytes":1400,"packets":1,
               "rule":"fwd-drop","format":"iptables"})
    );
    assert_eq!(
        o[3],
        json!({"line":4,"ts":"2022-06-20T11:16:23.000000Z","src_ip":"10.3.94.12","dst_ip":"10.3.94.10",
               "src_port":49566,"dst_port":22,"proto":"tcp","action":"deny","direction":"out",
               "iface":"vmbr0.94","bytes":60,"packets":1,"rule":"PVEFW-HOST-OUT","format":"iptables"})
    );
    assert_eq!(o[4], json!({"line":5,"skipped":"iptables: no IN= or OUT="}));
    assert_eq!(o[5], json!({"line":6,"error":"iptables: bad SRC="}));
    assert_eq!(
        (
            &o[6]["proto"],
            &o[6]["src_port"],
            &o[6]["bytes"],
            &o[6]["action"]
        ),
        (&json!("esp"), &Value::Null, &json!(152), &Value::Null)
    );
}

#[test]
fn filterlog_fixture_exact() {
    let out = run(&["--format", "filterlog", &fixture("filterlog.log")], None);
    assert!(out.status.success());
    let o = objects(&out);
    assert_eq!(
        o,
        vec![
            json!({"line":1,"ts":"2025-03-01T07:00:00.250000Z","src_ip":"203.0.113.50","dst_ip":"192.0.2.10",
                   "src_port":41234,"dst_port":3389,"proto":"tcp","action":"deny","direction":"in",
                   "iface":"igb0","bytes":60,"packets":1,"rule":"9f2c0de1","format":"filterlog"}),
            json!({"line":2,"ts":"2025-03-01T08:00:01.000000Z","src_ip":"2001:db8::10","dst_ip":"2001:db8::53",
                   "src_port":50000,"dst_port":53,"proto":"udp","action":"allow","direction":"out",
                   "iface":"igb0","bytes":88,"packets":1,"rule":"13","format":"filterlog"}),
            json!({"line":3,"error":"filterlog: too few columns"}),
            json!({"line":4,"skipped":"filterlog: not a filterlog line"}),
        ]
    );
}

#[test]
fn auto_detects_and_switches_formats() {
    let out = run(&[&fixture("mixed.log")], None);
    assert!(out.status.success());
    let o = objects(&out);
    let formats: Vec<&Value> = o.iter().map(|v| &v["format"]).collect();
    assert_eq!(
        formats,
        vec![
            &json!("filterlog"),
            &json!("filterlog"),
            &json!("iptables"),
            &json!("iptables"),
            &json!("iptables"),
            &Value::Null
        ]
    );
    assert_eq!(
        (&o[1]["proto"], &o[1]["src_port"]),
        (&json!("icmp"), &Value::Null)
    );
    // After three iptables lines in a row the detector has switched: the unclaimed last line
    // carries the iptables parser's reason, not filterlog's.
    assert_eq!(o[5], json!({"line":6,"skipped":"iptables: no IN= or OUT="}));
}

#[test]
fn auto_on_unrecognised_input_reports_every_line() {
    let out = run(&["-"], Some(b"hello\n\nworld"));
    assert!(out.status.success());
    assert_eq!(
        objects(&out),
        vec![
            json!({"line":1,"skipped":"no parser recognised the line"}),
            json!({"line":2,"skipped":"no parser recognised the line"}),
            json!({"line":3,"skipped":"no parser recognised the line"}),
        ]
    );
}

#[test]
fn stdin_crlf_invalid_utf8_and_nul() {
    let input = std::fs::read(fixture("odd.log")).unwrap();
    let out = run(&["--format", "auto", "-"], Some(&input));
    assert!(out.status.success());
    let o = objects(&out);
    assert_eq!(o.len(), 3);
    assert_eq!(
        (&o[0]["format"], &o[0]["bytes"], &o[0]["dst_port"]),
        (&json!("filterlog"), &json!(40), &json!(2000))
    );
    // CR stripped: the last CSV column parsed cleanly and the line is an event.
    assert_eq!(o[0]["proto"], json!("udp"));
    // Invalid UTF-8 in the interface name: the field is dropped, the event and direction kept.
    assert_eq!(
        (
            &o[1]["format"],
            &o[1]["iface"],
            &o[1]["direction"],
            &o[1]["rule"],
            &o[1]["src_ip"]
        ),
        (
            &json!("iptables"),
            &Value::Null,
            &json!("in"),
            &Value::Null,
            &json!("10.0.0.1")
        )
    );
    assert_eq!(
        o[2],
        json!({"line":3,"skipped":"filterlog: not a filterlog line"})
    );
}

#[test]
fn long_lines_are_errors_and_parsing_continues() {
    let mut input = vec![b'A'; 70_000];
    input.extend_from_slice(b"\nrule 1/(match) pass in on em0: 10.0.0.1.1 > 10.0.0.2.2: udp 1\n");
    let out = run(&["--format", "pf", "-"], Some(&input));
    assert!(out.status.success());
    let o = objects(&out);
    assert_eq!(
        o[0],
        json!({"line":1,"error":"line longer than 65536 bytes"})
    );
    assert_eq!((&o[1]["line"], &o[1]["dst_port"]), (&json!(2), &json!(2)));
    assert_eq!(o.len(), 2);
}

#[test]
fn several_files_are_labelled_and_unreadable_ones_reported() {
    let pf = fixture("pf.log");
    let missing = fixture("does-not-exist.log");
    let fl = fixture("filterlog.log");
    let out = run(&[&pf, &missing, &fl], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does-not-exist.log"), "{stderr}");
    let o = objects(&out);
    assert_eq!(o.len(), 8 + 4, "both readable files are parsed");
    assert_eq!((&o[0]["file"], &o[0]["line"]), (&json!(pf), &json!(1)));
    assert_eq!((&o[8]["file"], &o[8]["line"]), (&json!(fl), &json!(1)));
    // One file: no "file" key.
    let out = run(&[&fl], None);
    assert!(objects(&out).iter().all(|v| v.get("file").is_none()));
}

#[test]
fn unknown_format_is_a_usage_error() {
    let out = run(&["--format", "netflowz", &fixture("pf.log")], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in ["auto", "pf", "iptables", "filterlog"] {
        assert!(stderr.contains(name), "{stderr}");
    }
}

#[test]
fn closed_pipe_exits_quietly() {
    let line = b"rule 1/(match) pass in on em0: 10.0.0.1.1 > 10.0.0.2.2: udp 1\n";
    let input: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(line.len() * 200_000)
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_socwall"))
        .args(["parse", "--format", "pf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = sin.write_all(&input);
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    assert!(out.status.success(), "status {:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `{"line":N,"skipped":"continuation of the JSON document at line M"}` for N in `lines`.
fn continuations(lines: std::ops::RangeInclusive<u64>, first: u64) -> Vec<Value> {
    lines
        .map(|n| json!({"line": n, "skipped": format!("continuation of the JSON document at line {first}")}))
        .collect()
}

#[test]
fn pretty_printed_zeek_json_is_one_record_at_its_first_line() {
    let f = fixture("zeek-pretty.json");
    for format in ["zeek", "auto"] {
        let out = run(&["--format", format, &f], None);
        assert!(out.status.success(), "{format}");
        let o = objects(&out);
        assert_eq!(o.len(), 29, "one object per input line ({format})");
        let lines: Vec<u64> = o.iter().map(|v| v["line"].as_u64().unwrap()).collect();
        assert_eq!(lines, (1..=29).collect::<Vec<u64>>());
        // A one-line record before the documents.
        assert_eq!(
            (&o[0]["src_port"], &o[0]["bytes"]),
            (&json!(51000), &json!(4600))
        );
        // The nested-id document of lines 2-21, with braces and quotes inside a string.
        assert_eq!(
            o[1],
            json!({"line":2,"ts":"2024-01-02T03:04:06.500000Z","src_ip":"192.0.2.11",
                   "dst_ip":"198.51.100.53","src_port":5353,"dst_port":53,"proto":"udp",
                   "action":null,"direction":"out","iface":null,"bytes":216,"packets":2,
                   "rule":null,"format":"zeek"})
        );
        assert_eq!(o[2..21], continuations(3..=21, 2)[..]);
        // An indented document (lines 22-28): ICMP, so Zeek's type/code are not ports.
        assert_eq!(
            (
                &o[21]["src_ip"],
                &o[21]["proto"],
                &o[21]["src_port"],
                &o[21]["bytes"]
            ),
            (
                &json!("192.0.2.12"),
                &json!("icmp"),
                &Value::Null,
                &json!(168)
            )
        );
        assert_eq!(o[22..28], continuations(23..=28, 22)[..]);
        // Line-per-line again afterwards; GRE ports as written.
        assert_eq!(
            (
                &o[28]["line"],
                &o[28]["proto"],
                &o[28]["src_port"],
                &o[28]["dst_port"]
            ),
            (&json!(29), &json!("gre"), &json!(0), &json!(0))
        );
    }
}

#[test]
fn pretty_printed_eve_and_file_labels() {
    let doc = b"{\n \"timestamp\": \"2025-03-04T10:11:12.000000+0000\",\n \"event_type\": \"flow\",\n \"src_ip\": \"192.0.2.30\", \"src_port\": 40000,\n \"dest_ip\": \"198.51.100.30\", \"dest_port\": 22,\n \"proto\": \"TCP\",\n \"flow\": {\"pkts_toserver\": 3, \"pkts_toclient\": 2, \"bytes_toserver\": 300, \"bytes_toclient\": 200}\n}\n";
    let out = run(&["--format", "eve", "-"], Some(doc));
    assert!(out.status.success());
    let o = objects(&out);
    assert_eq!(o.len(), 8);
    assert_eq!(
        (
            &o[0]["line"],
            &o[0]["format"],
            &o[0]["dst_port"],
            &o[0]["bytes"],
            &o[0]["packets"]
        ),
        (&json!(1), &json!("eve"), &json!(22), &json!(500), &json!(5))
    );
    assert_eq!(o[1..], continuations(2..=8, 1)[..]);
    // With several files, continuation objects carry the file like every other object.
    let f = fixture("zeek-pretty.json");
    let o = objects(&run(&[&f, &f], None));
    assert_eq!(o.len(), 58);
    assert_eq!(
        o[31],
        json!({"line":3,"file":f,"skipped":"continuation of the JSON document at line 2"})
    );
}

#[test]
fn other_formats_stay_line_per_line() {
    let out = run(&["--format", "pf", "-"], Some(b"{\n  \"a\": 1\n}\n"));
    let o = objects(&out);
    assert_eq!(o.len(), 3);
    assert!(
        o.iter()
            .all(|v| v.get("skipped").is_some() || v.get("error").is_some()),
        "{o:?}"
    );
    assert!(
        o.iter().all(|v| !v.to_string().contains("continuation")),
        "{o:?}"
    );
}

#[test]
fn unterminated_json_document_is_an_error_and_its_lines_are_kept() {
    // At the end of input: an error at the first line, then every other line read on its own.
    let out = run(
        &["--format", "zeek", "-"],
        Some(b"{\n  \"uid\" : \"CwPrt9\",\n  \"id\" : {\n"),
    );
    assert!(out.status.success());
    assert_eq!(
        objects(&out),
        vec![
            json!({"line":1,"error":"JSON document not closed at end of input"}),
            json!({"line":2,"skipped":"zeek: not a Zeek conn line"}),
            json!({"line":3,"skipped":"zeek: not a complete JSON object"}),
        ]
    );
    // A truncated record followed by whole ones: the whole ones are not lost.
    let rec = |i: u8| {
        format!(
            "{{\"ts\":1704164645,\"uid\":\"CwPrt{i}eeeeeeeeeeee\",\"id.orig_h\":\"192.0.2.{i}\",\"id.orig_p\":1000,\"id.resp_h\":\"198.51.100.9\",\"id.resp_p\":80,\"proto\":\"tcp\"}}\n"
        )
    };
    let mut input =
        b"{\"ts\":1704164645,\"uid\":\"CwPrt0eeeeeeeeeeee\",\"id.orig_h\":\"19\n".to_vec();
    for i in 1..=3 {
        input.extend_from_slice(rec(i).as_bytes());
    }
    let o = objects(&run(&["-"], Some(&input)));
    assert_eq!(o.len(), 4);
    assert_eq!(
        o[0],
        json!({"line":1,"error":"JSON document not closed at end of input"})
    );
    for i in 1..=3u64 {
        assert_eq!(
            (
                &o[i as usize]["line"],
                &o[i as usize]["src_ip"],
                &o[i as usize]["format"]
            ),
            (
                &json!(i + 1),
                &json!(format!("192.0.2.{i}")),
                &json!("zeek")
            )
        );
    }
}

#[test]
fn json_document_caps() {
    // Over 65536 bytes: an error at the first line, the held lines one by one, and the line that
    // broke the cap read normally.
    let mut input = b"{\n".to_vec();
    let filler = format!("  \"k\" : \"{}\",\n", "x".repeat(1000));
    for _ in 0..65 {
        input.extend_from_slice(filler.as_bytes());
    }
    input.extend_from_slice(b"}\n");
    let o = objects(&run(&["--format", "zeek", "-"], Some(&input)));
    assert_eq!(o.len(), 67);
    assert_eq!(
        o[0],
        json!({"line":1,"error":"JSON document longer than 65536 bytes"})
    );
    let lines: Vec<u64> = o.iter().map(|v| v["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, (1..=67).collect::<Vec<u64>>());
    assert!(
        o[1..].iter().all(|v| v.get("skipped").is_some()),
        "{:?}",
        &o[60..]
    );
    // Over 10000 lines (30 KB: under the byte cap).
    let mut input = b"{\n".to_vec();
    for _ in 0..10_000 {
        input.extend_from_slice(b"1,\n");
    }
    input.extend_from_slice(b"}\n");
    let o = objects(&run(&["--format", "zeek", "-"], Some(&input)));
    assert_eq!(o.len(), 10_002);
    assert_eq!(
        o[0],
        json!({"line":1,"error":"JSON document longer than 10000 lines"})
    );
    assert_eq!(o[10_001]["line"], json!(10_002));
    assert!(o[1..].iter().all(|v| v.get("skipped").is_some()));
    // A line over 65536 bytes inside a document ends it too; that line keeps its own error.
    let mut input = b"{\n\"a\":1,\n".to_vec();
    input.extend_from_slice(&vec![b'x'; 70_000]);
    input.extend_from_slice(b"\n}\n");
    let o = objects(&run(&["--format", "auto", "-"], Some(&input)));
    assert_eq!(
        o,
        vec![
            json!({"line":1,"error":"JSON document longer than 65536 bytes"}),
            json!({"line":2,"skipped":"no parser recognised the line"}),
            json!({"line":3,"error":"line longer than 65536 bytes"}),
            json!({"line":4,"skipped":"no parser recognised the line"}),
        ]
    );
}

mod no_alloc {
    //! The parsers' "no allocation per line" contract, checked with a counting allocator that
    //! only counts on the thread that asks (the test harness's own threads are left alone).
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    use socwall::parse::{AutoDetector, Ctx, Format, parse_line};

    struct Counting;

    thread_local! {
        static ON: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<usize> = const { Cell::new(0) };
    }

    // SAFETY: forwards every call to the system allocator unchanged; the thread-locals are
    // const-initialised, so touching them never allocates (no re-entrancy).
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if ON.with(Cell::get) {
                COUNT.with(|n| n.set(n.get() + 1));
            }
            // SAFETY: same contract as ours.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as ours.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    const FIXTURES: &[&[u8]] = &[
        include_bytes!("fixtures/parse/pf.log"),
        include_bytes!("fixtures/parse/iptables.log"),
        include_bytes!("fixtures/parse/filterlog.log"),
        include_bytes!("fixtures/parse/mixed.log"),
        include_bytes!("fixtures/parse/odd.log"),
        // One to three lines of every other text format (zeek, eve, yaf, asa, netscreen, srx,
        // mikrotik, panos, cef, leef, the kv vendors, vpcflow), written for socwall's own tests.
        include_bytes!("fixtures/parse/formats.log"),
    ];

    #[test]
    fn parsing_does_not_allocate() {
        let ctx = Ctx::new(1_780_000_000_000_000);
        let mut detector = AutoDetector::new();
        let mut events = 0;
        ON.with(|on| on.set(true));
        for file in FIXTURES {
            for line in file.split(|&b| b == b'\n') {
                for &f in Format::ALL {
                    events += usize::from(matches!(
                        parse_line(f, line, &ctx),
                        socwall::parse::Outcome::Event(_)
                    ));
                }
                let _ = detector.feed(line, &ctx);
            }
        }
        ON.with(|on| on.set(false));
        assert_eq!(COUNT.with(Cell::get), 0, "allocations while parsing");
        // formats.log: 29 lines, each an event for its own format; a FortiGate and a Check Point
        // line in CEF are also events for the generic `cef` format: 31.
        assert_eq!(events, 5 + 5 + 2 + 5 + 2 + 31, "fixture events");
        assert_eq!(COUNT.with(Cell::get), 0, "allocations while parsing");
    }
}
