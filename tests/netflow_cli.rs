//! End-to-end tests of `socwall parse --format netflow`: export packets built here (v5, v9,
//! IPFIX, options templates, truncated and hostile ones) written to files, fed to the binary,
//! and the exact JSON objects it prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn be16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}
fn be32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}

/// `id`, then the set's length (header included), then `body`.
fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    be16(&mut s, id);
    be16(&mut s, (body.len() + 4) as u16);
    s.extend_from_slice(body);
    s
}

/// A v9 packet: uptime 100 s, export time 1_700_000_000, source id 1.
fn v9(sets: &[Vec<u8>]) -> Vec<u8> {
    let mut p = Vec::new();
    be16(&mut p, 9);
    be16(&mut p, sets.len() as u16);
    be32(&mut p, 100_000);
    be32(&mut p, 1_700_000_000);
    be32(&mut p, 1);
    be32(&mut p, 1);
    for s in sets {
        p.extend_from_slice(s);
    }
    p
}

/// An IPFIX message: export time 1_700_000_000, observation domain 7.
fn ipfix(sets: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = sets.concat();
    let mut p = Vec::new();
    be16(&mut p, 10);
    be16(&mut p, (body.len() + 16) as u16);
    be32(&mut p, 1_700_000_000);
    be32(&mut p, 1);
    be32(&mut p, 7);
    p.extend_from_slice(&body);
    p
}

fn fields(specs: &[(u16, u16)]) -> Vec<u8> {
    let mut v = Vec::new();
    for &(id, len) in specs {
        be16(&mut v, id);
        be16(&mut v, len);
    }
    v
}

/// v9 template 256: src, dst, sport, dport, proto, IN_BYTES, IN_PKTS, FIRST_SWITCHED,
/// INPUT_SNMP, DIRECTION.
fn v9_template() -> Vec<u8> {
    let mut t = Vec::new();
    be16(&mut t, 256);
    be16(&mut t, 10);
    t.extend(fields(&[
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (1, 4),
        (2, 4),
        (22, 4),
        (10, 2),
        (61, 1),
    ]));
    set(0, &t)
}

fn v9_data() -> Vec<u8> {
    let mut r = vec![10, 1, 1, 1, 10, 2, 2, 2];
    be16(&mut r, 40000);
    be16(&mut r, 443);
    r.push(6);
    be32(&mut r, 1500);
    be32(&mut r, 10);
    be32(&mut r, 90_000); // 10 s before export
    be16(&mut r, 7);
    r.push(1);
    // a second record: ICMP (ports dropped), ingress
    r.extend_from_slice(&[10, 1, 1, 1, 10, 2, 2, 3, 0x03, 0x03, 0, 0, 1]);
    be32(&mut r, 84);
    be32(&mut r, 1);
    be32(&mut r, 100_000);
    be16(&mut r, 7);
    r.push(0);
    r.extend_from_slice(&[0, 0, 0]); // padding
    set(256, &r)
}

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

fn run(format: &str, files: &[&Path]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_socwall"))
        .args(["parse", "--format", format])
        .args(files)
        .output()
        .expect("run socwall");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[allow(clippy::too_many_arguments)]
fn flow(
    file: &Path,
    record: u64,
    ts: &str,
    src: &str,
    dst: &str,
    ports: (Value, Value),
    proto: &str,
    direction: Value,
    iface: Value,
    bytes: u64,
    packets: u64,
) -> Value {
    json!({"file": s(file), "record": record, "ts": ts, "src_ip": src, "dst_ip": dst,
        "src_port": ports.0, "dst_port": ports.1, "proto": proto, "action": null,
        "direction": direction, "iface": iface, "bytes": bytes, "packets": packets,
        "rule": null, "format": "netflow"})
}

#[test]
fn v5_records() {
    let d = Dir::new();
    let mut p = Vec::new();
    be16(&mut p, 5);
    be16(&mut p, 2);
    be32(&mut p, 60_000);
    be32(&mut p, 1_700_000_000);
    be32(&mut p, 0);
    be32(&mut p, 0);
    be32(&mut p, 0);
    for (src, sport, proto) in [([192, 0, 2, 1], 5353u16, 17u8), ([192, 0, 2, 9], 0, 50)] {
        p.extend_from_slice(&src);
        p.extend_from_slice(&[198, 51, 100, 1, 0, 0, 0, 0]);
        be16(&mut p, 2);
        be16(&mut p, 3);
        be32(&mut p, 4);
        be32(&mut p, 400);
        be32(&mut p, 59_000);
        be32(&mut p, 60_000);
        be16(&mut p, sport);
        be16(&mut p, 53);
        p.extend_from_slice(&[0, 0, proto, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
    let f = d.file("v5.dat", &p);
    assert_eq!(
        run("netflow", &[&f]),
        vec![
            flow(
                &f,
                0,
                "2023-11-14T22:13:19.000000Z",
                "192.0.2.1",
                "198.51.100.1",
                (json!(5353), json!(53)),
                "udp",
                Value::Null,
                json!("2"),
                400,
                4
            ),
            flow(
                &f,
                1,
                "2023-11-14T22:13:19.000000Z",
                "192.0.2.9",
                "198.51.100.1",
                // ESP has no ports, but the record's port fields say 0 and 53: as exported.
                (json!(0), json!(53)),
                "esp",
                Value::Null,
                json!("2"),
                400,
                4
            ),
        ]
    );
    // Truncated: the count promises two records.
    let t = d.file("v5short.dat", &p[..p.len() - 10]);
    assert_eq!(
        run("netflow", &[&t]),
        vec![json!({"file": s(&t), "error": "NetFlow v5 count 2 needs 120 bytes, packet has 110"})]
    );
}

#[test]
fn v9_templates_then_data_across_files() {
    let d = Dir::new();
    let early = d.file("0-data-before-template.dat", &v9(&[v9_data()]));
    let tpl = d.file("1-template.dat", &v9(&[v9_template()]));
    let data = d.file("2-data.dat", &v9(&[v9_data()]));
    let got = run("netflow", &[&early, &tpl, &data]);
    let want = vec![
        json!({"file": s(&early), "skipped": "1 data set(s) for unknown templates dropped"}),
        flow(
            &data,
            0,
            "2023-11-14T22:13:10.000000Z",
            "10.1.1.1",
            "10.2.2.2",
            (json!(40000), json!(443)),
            "tcp",
            json!("out"),
            json!("7"),
            1500,
            10,
        ),
        flow(
            &data,
            1,
            "2023-11-14T22:13:20.000000Z",
            "10.1.1.1",
            "10.2.2.3",
            (Value::Null, Value::Null),
            "icmp",
            json!("in"),
            json!("7"),
            84,
            1,
        ),
    ];
    assert_eq!(got, want);
    // --format auto recognises the packet files by their version number.
    assert_eq!(run("auto", &[&early, &tpl, &data]), want);
}

#[test]
fn ipfix_variable_length_enterprise_reduced_size_ipv6() {
    let d = Dir::new();
    let mut t = Vec::new();
    be16(&mut t, 300);
    be16(&mut t, 8);
    t.extend(fields(&[(27, 16), (28, 16), (7, 2), (11, 2), (4, 1)]));
    be16(&mut t, 0x8000 | 12);
    be16(&mut t, 0xFFFF); // enterprise, variable length: skipped
    be32(&mut t, 32473);
    t.extend(fields(&[(1, 2), (152, 8)])); // reduced-size octetDeltaCount, flowStartMilliseconds
    let mut r = Vec::new();
    r.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    r.extend_from_slice(
        &"2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    be16(&mut r, 51000);
    be16(&mut r, 22);
    r.push(6);
    r.push(255); // 3-byte length form
    be16(&mut r, 3);
    r.extend_from_slice(b"abc");
    be16(&mut r, 900);
    r.extend_from_slice(&1_700_000_000_123u64.to_be_bytes());
    // Options template 400 (1 scope field) and one options record: parsed, never printed.
    let mut o = Vec::new();
    be16(&mut o, 400);
    be16(&mut o, 2);
    be16(&mut o, 1);
    o.extend(fields(&[(149, 4), (41, 8)]));
    let mut od = Vec::new();
    be32(&mut od, 7);
    od.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9]);
    let f = d.file(
        "ipfix.dat",
        &ipfix(&[set(2, &t), set(3, &o), set(300, &r), set(400, &od)]),
    );
    let got = run("netflow", &[&f]);
    assert_eq!(
        got,
        vec![
            json!({"file": s(&f), "record": 0, "ts": "2023-11-14T22:13:20.123000Z",
            "src_ip": "2001:db8::1", "dst_ip": "2001:db8::2", "src_port": 51000, "dst_port": 22,
            "proto": "tcp", "action": null, "direction": null, "iface": null, "bytes": 900,
            "packets": null, "rule": null, "format": "netflow"})
        ]
    );
}

#[test]
fn hostile_packets_are_errors() {
    let d = Dir::new();
    // A set claiming more bytes than the packet holds, after a good template set.
    let mut bad = v9(&[v9_template(), v9_data()]);
    let n = bad.len();
    bad.truncate(n - 5);
    let f1 = d.file("cut.dat", &bad);
    // An IPFIX message length beyond the datagram.
    let mut long = ipfix(&[]);
    long[2..4].copy_from_slice(&60000u16.to_be_bytes());
    let f2 = d.file("long.dat", &long);
    // A template whose field count runs off the set.
    let mut t = Vec::new();
    be16(&mut t, 256);
    be16(&mut t, 60000);
    t.extend(fields(&[(8, 4)]));
    let f3 = d.file("tpl.dat", &v9(&[set(0, &t)]));
    let f4 = d.file("junk.dat", b"\x00\x07hello");
    let f5 = d.file("empty.dat", b"");
    assert_eq!(
        run("netflow", &[&f1, &f2, &f3, &f4, &f5]),
        vec![
            json!({"file": s(&f1), "error": "set 256 at offset 68: length 63 is invalid (58 bytes left)"}),
            json!({"file": s(&f2), "error": "IPFIX message length 60000 does not fit the packet (16 bytes)"}),
            json!({"file": s(&f3), "error": "template 256 is truncated"}),
            json!({"file": s(&f4), "error": "unsupported export version 7 (want 5, 9 or 10)"}),
            json!({"file": s(&f5), "error": "packet of 0 bytes is too short for a header"}),
        ]
    );
}
