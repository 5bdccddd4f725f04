//! End-to-end: the real daemon on 127.0.0.1:0 tailing real temp files; checked through
//! `/api/v1/snapshot`, a WebSocket client, `/metrics`, and a refused cross-origin upgrade.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/http.rs"]
mod http;

use daemon::{Daemon, append};

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

const PF: &[&str] = &[
    "Oct 21 06:06:58.096785 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 61.215.160.253.53: 2520 [1au][|domain] (DF)",
    "Oct 21 06:07:11.298946 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 204.123.2.19.53: 20792 [1au] MX? www.com.ar. (39) (DF)",
    "Oct 21 06:20:00.844472 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 192.12.94.30.53: 29396 MX? about.com. (27) (DF)",
    "Oct 21 06:20:00.859900 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 205.151.222.254.53: 14698[|domain] (DF)",
    "Oct 13 20:46:03.915405 rule 184/0(match): pass in on xl1: 195.141.69.42.63994 > 193.192.227.3.53: 60676+[|domain]",
];

const IPTABLES: &[&str] = &[
    "Nov 24 03:40:01 web-1 kernel: [1234.567890] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.66 DST=10.0.1.20 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=4242 PROTO=TCP SPT=40001 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0",
    "Nov 24 03:40:02 web-1 kernel: [1235.567890] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.66 DST=10.0.1.20 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=4243 PROTO=TCP SPT=40001 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0",
    "Nov 24 03:40:03 web-1 kernel: [1236.567890] [UFW ALLOW] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=198.51.100.7 DST=10.0.1.20 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=4244 DF PROTO=TCP SPT=51000 DPT=443 WINDOW=64240 RES=0x00 SYN URGP=0",
];

fn source<'a>(snap: &'a Value, name: &str) -> &'a Value {
    snap["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no source {name}: {snap:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_appended_show_up_in_snapshot_ws_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    // kern.log exists before start with old content: start_at = end must skip it.
    append(&dir.path().join("kern.log"), &[IPTABLES[0], IPTABLES[0]]);
    let d = Daemon::start(dir.path()).await;

    // A WebSocket client from the start: hello, then a snapshot.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", d.addr))
        .await
        .expect("ws connects");
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["protocol"], 1);
    let snap = next_json(&mut ws).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["totals"]["events"], 0);

    append(&dir.path().join("pf.log"), PF);
    append(&dir.path().join("kern.log"), IPTABLES);
    append(
        &dir.path().join("kern.log"),
        &[
            "Nov 24 03:40:04 web-1 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=not-an-ip DST=10.0.1.20 PROTO=TCP SPT=1 DPT=2",
        ],
    );

    let s = d
        .wait_snapshot("8 events", |s| {
            s["totals"]["events"] == 8 && s["totals"]["parse_errors"] == 1
        })
        .await;
    assert_eq!(s["totals"]["lines"], 9);
    assert_eq!(s["totals"]["allowed"], 6);
    assert_eq!(s["totals"]["denied"], 2);
    assert_eq!(s["totals"]["bytes"], 44 + 44 + 60); // iptables LEN=; pf DNS lines carry no IP length
    let edge = source(&s, "edge");
    assert_eq!(
        (
            edge["lines"].as_u64(),
            edge["events"].as_u64(),
            edge["format"].as_str()
        ),
        (Some(5), Some(5), Some("pf"))
    );
    let core = source(&s, "core");
    assert_eq!(
        (
            core["lines"].as_u64(),
            core["events"].as_u64(),
            core["parse_errors"].as_u64()
        ),
        (Some(4), Some(3), Some(1))
    );
    assert_eq!(core["format"], "iptables");
    assert!(
        core["last_error"]["line"]
            .as_str()
            .unwrap()
            .contains("not-an-ip")
    );
    let top = &s["topn"]["1m"]["denied_src"][0];
    assert_eq!(
        (top["key"].as_str(), top["count"].as_u64()),
        (Some("203.0.113.66"), Some(2))
    );
    let dports: Vec<&str> = s["topn"]["1m"]["dport"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(dports[0], "udp/53", "{dports:?}");

    // The same numbers reach the WebSocket client through updates.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut saw = None;
    while tokio::time::Instant::now() < deadline {
        let m = next_json(&mut ws).await;
        if m["type"] == "update" && m["totals"]["events"] == 8 {
            saw = Some(m);
            break;
        }
    }
    let u = saw.expect("an update with 8 events");
    assert_eq!(u["totals"]["denied"], 2);
    assert!(u["seq"].as_u64().unwrap() > snap["seq"].as_u64().unwrap());

    // Prometheus text has per-source counters.
    let m = http::get(d.addr, "/metrics").await;
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains("socwall_events_total{source=\"edge\"} 5"),
        "{}",
        m.body
    );
    assert!(
        m.body
            .contains("socwall_parse_errors_total{source=\"core\"} 1"),
        "{}",
        m.body
    );
    assert!(m.body.contains("socwall_clients 1"), "{}", m.body);

    drop(ws);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_websocket_is_refused_and_headers_are_strict() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path()).await;

    let mut req = format!("ws://{}/ws", d.addr).into_client_request().unwrap();
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!(
            "cross-origin upgrade must be refused with 403, got {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    // Same origin is fine.
    let mut req = format!("ws://{}/ws", d.addr).into_client_request().unwrap();
    req.headers_mut()
        .insert("origin", format!("http://{}", d.addr).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("same-origin upgrade");
    assert_eq!(next_json(&mut ws).await["type"], "hello");

    let page = http::get(d.addr, "/d/soc-wall").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    let root = http::get(d.addr, "/?kiosk").await;
    assert_eq!(
        (root.status, root.header("location")),
        (302, Some("/d/soc-wall?kiosk"))
    );
    assert_eq!(http::get(d.addr, "/d/nope").await.status, 404);
    assert_eq!(http::get(d.addr, "/assets/../Cargo.toml").await.status, 404);
    let dash = http::get(d.addr, "/api/v1/dashboards/soc-wall")
        .await
        .json();
    assert_eq!(dash["name"], "soc-wall");
    assert!(!dash["widget"].as_array().unwrap().is_empty());
    let health = http::get(d.addr, "/healthz").await;
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (200, Some("ok"))
    );
    let post = http::request(d.addr, &format!("POST /api/v1/snapshot HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", d.addr)).await;
    assert_eq!(post.status, 405);
    let series = http::get(d.addr, "/api/v1/series?step=1m&points=60").await;
    assert_eq!(series.status, 200);
    assert_eq!(
        http::get(d.addr, "/api/v1/series?step=2h").await.status,
        400
    );

    drop(ws);
    d.stop().await;
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<tungstenite::Message, tungstenite::Error>> + Unpin,
{
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("stream open")
            .expect("no ws error");
        if let tungstenite::Message::Text(t) = m {
            return serde_json::from_str(&t).expect("JSON text frame");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_slow_anyone() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path()).await;

    // A "browser" that completes the upgrade and then never reads a byte.
    let mut stuck = tokio::net::TcpStream::connect(d.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stuck,
        format!(
            "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            d.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", d.addr))
        .await
        .unwrap();

    // 20,000 lines in bursts: every update is large enough to fill the stuck client's socket.
    let line = PF[1];
    let lines: Vec<&str> = std::iter::repeat_n(line, 1000).collect();
    for _ in 0..20 {
        append(&dir.path().join("pf.log"), &lines);
    }
    let s = d
        .wait_snapshot("20000 events", |s| s["totals"]["events"] == 20_000)
        .await;
    assert_eq!(s["totals"]["lines"], 20_000);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = next_json(&mut ws).await;
        if m["type"] == "update" && m["totals"]["events"] == 20_000 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reading client never saw all events"
        );
    }
    let m = http::get(d.addr, "/metrics").await;
    assert!(m.body.contains("socwall_clients 2"), "{}", m.body);
    drop(ws);
    // Shutdown does not wait on the client that stopped reading.
    d.stop().await;
    drop(stuck);
}
