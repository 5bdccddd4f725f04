//! The `socwall` binary's contract: exit codes, `check` error messages naming file, line and key,
//! and `demo` announcing its URL within seconds.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn socwall() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_socwall"));
    c.env_remove("SOCWALL_CONFIG").env_remove("RUST_LOG");
    c
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn check_accepts_the_shipped_config() {
    let out = socwall()
        .args(["check", "--config", "config/socwall.toml"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "is valid: 2 source(s), dashboards: executive, network-flows, shift-lead, soc-wall; playlists: wall"
        ),
        "{stdout}"
    );
}

#[test]
fn check_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[server]\nlisten = \"127.0.0.1:8080\"\nmax_clinets = 3\n",
            ":3: `max_clinets`: unknown key",
        ),
        (
            "[[source]]\nname = \"fw\"\npath = \"/var/log/fw.log\"\nformat = \"pff\"\n",
            ":4: `source[0].format`: unknown format `pff`; use auto or one of",
        ),
        (
            "[server]\nlisten = \"everywhere\"\n",
            ":2: `server.listen`: `everywhere` is not an address:port",
        ),
        (
            "[tail]\nmax_line_bytes = \"big\"\n",
            ":2: `tail.max_line_bytes`: has the wrong type",
        ),
        ("[server\nlisten = 1\n", ":1: not valid TOML"),
        (
            "[server]\nlisten = \"0.0.0.0:8443\"\n",
            ":2: `server.listen`: refusing to serve the wall on 0.0.0.0:8443 without [auth]",
        ),
        (
            "[auth]\ntokens = [\n  { name = \"wall-1\", token = \"tooshort\" },\n]\n",
            ":3: `auth.tokens[0].token`: the token of `wall-1` is too short (8 characters; at least 16)",
        ),
        (
            "[server.tls]\ncert = \"/nonexistent/socwall-cert.pem\"\nkey = \"/nonexistent/socwall-key.pem\"\n",
            ":2: `server.tls.cert`: cannot read /nonexistent/socwall-cert.pem",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("bad{i}.toml"), text);
        let out = socwall()
            .args(["check", "--config", &path])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {stderr}");
        assert!(
            stderr.contains(&format!("{path}{want}")),
            "case {i}: want {want:?} in {stderr}"
        );
    }
}

#[test]
fn check_reports_a_broken_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let dash = dir.path().join("dash");
    std::fs::create_dir(&dash).unwrap();
    let bad = write(
        &dash,
        "ops.toml",
        "title = \"Ops\"\n[[widget]]\nkind = \"worldmap\"\nx = 1\ny = 1\nw = 1\nh = 1\n",
    );
    let cfg = write(
        dir.path(),
        "c.toml",
        &format!("[dashboards]\ndir = \"{}\"\n", dash.display()),
    );
    let out = socwall()
        .args(["check", "--config", &cfg])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{bad}:3: `widget[0].kind`: unknown widget kind `worldmap`"
        )),
        "{stderr}"
    );
}

#[test]
fn exit_codes() {
    assert_eq!(
        socwall().arg("--help").output().unwrap().status.code(),
        Some(0)
    );
    assert_eq!(
        socwall()
            .args(["demo", "--help"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        socwall().arg("frobnicate").output().unwrap().status.code(),
        Some(2)
    );
    assert_eq!(
        socwall()
            .args(["demo", "--rate", "0"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
    // The demo has no tokens: loopback only, refused before anything is written or bound.
    let out = socwall()
        .args(["demo", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("serves on loopback only"));
    let out = socwall()
        .args(["run", "--config", "/nonexistent/socwall.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("/nonexistent/socwall.toml: cannot read the config file")
    );
    // A port that is taken is a runtime failure (1), with a hint.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "c.toml",
        &format!("[server]\nlisten = \"{}\"\n", taken.local_addr().unwrap()),
    );
    let out = socwall().args(["run", "--config", &cfg]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on"));
}

#[test]
fn demo_announces_its_url_and_serves_the_wall() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = socwall()
        .args(["demo", "--listen", "127.0.0.1:0", "--rate", "200", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        line.starts_with("socwall demo: open http://127.0.0.1:"),
        "{line}"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    let url = line
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let addr = url.trim_start_matches("http://").to_string();

    // The generated logs flow through the real tail path: events appear within seconds.
    let deadline = Instant::now() + Duration::from_secs(15);
    let events = loop {
        let body = get(&addr, "/api/v1/snapshot");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let e = v["totals"]["events"].as_u64().unwrap();
        if e >= 200 {
            assert_eq!(
                v["totals"]["parse_errors"], 0,
                "the demo's own lines must all parse"
            );
            assert_eq!(v["sources"].as_array().unwrap().len(), 3);
            break e;
        }
        assert!(Instant::now() < deadline, "demo produced only {e} events");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(events >= 200);
    assert!(dir.path().join("edge-pf.log").exists());
    let _ = child.kill();
    let _ = child.wait();
}

fn get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    buf.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}
