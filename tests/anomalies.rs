//! End-to-end detections: the real daemon on 127.0.0.1:0 with a config file and a watchlist file
//! on disk, tailing a real pf log. A watchlisted address in appended lines must appear in
//! `GET /api/v1/anomalies` and as a WebSocket `anomaly` message with exact fields; editing the
//! watchlist file is picked up without a restart; a broken config reload keeps the last good
//! context.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/http.rs"]
mod http;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use daemon::append;
use futures_util::StreamExt;
use serde_json::{Value, json};
use socwall::config::Settings;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite;

const TO_WATCHED: &str = "Oct 21 06:06:58.096785 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 61.215.160.253.53: 2520 [1au][|domain] (DF)";
const TO_ADDED: &str = "Oct 21 06:07:11.298946 rule 57/0(match): pass in on xl1: 195.141.69.42.63994 > 204.123.2.19.53: 20792 [1au] MX? www.com.ar. (39) (DF)";
const TO_KEPT: &str = "Oct 21 06:20:00.844472 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 192.12.94.30.53: 29396 MX? about.com. (27) (DF)";

fn config(dir: &Path, extra: &str) -> String {
    format!(
        "[server]\nupdate_interval = \"50ms\"\nheartbeat_interval = \"1s\"\n[tail]\nrescan_interval = \"50ms\"\n\
         [networks]\ninternal = [\"195.141.69.0/24\"]\n{extra}\
         [[watchlist]]\nname = \"threat-intel\"\npath = \"{d}/watchlist.txt\"\n\
         [detect.first_seen_host]\nenabled = false\n[detect.first_seen_service]\nenabled = false\n\
         [[source]]\nname = \"edge\"\npath = \"{d}/pf.log*\"\nformat = \"pf\"\nstart_at = \"beginning\"\n",
        d = dir.display()
    )
}

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), socwall::RunError>>,
}

async fn start(cfg: &Path) -> Running {
    let settings = Settings::load(cfg).expect("valid config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(socwall::run(listener, settings, async move {
        let _ = rx.await;
    }));
    Running { addr, stop, task }
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

/// Replaces a file the way an operator's tooling should: write aside, then rename.
fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn find<'a>(list: &'a Value, entity: &str) -> Option<&'a Value> {
    list["anomalies"]
        .as_array()?
        .iter()
        .find(|a| a["entity"] == entity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchlisted_address_in_a_tailed_log_becomes_an_anomaly_in_the_api_and_on_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("watchlist.txt"),
        "# threat feed\n61.215.160.253\n192.12.94.30\nnot-an-address\n",
    )
    .unwrap();
    let cfg = d.join("socwall.toml");
    std::fs::write(&cfg, config(d, "")).unwrap();
    let r = start(&cfg).await;

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", r.addr))
        .await
        .expect("ws connects");
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    let snap = next_json(&mut ws).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["anomalies"], json!([]));

    append(&d.join("pf.log"), &[TO_WATCHED]);
    let list = http::wait_json(r.addr, "/api/v1/anomalies", |v| {
        find(v, "61.215.160.253").is_some()
    })
    .await;
    assert_eq!(list["open"], 1);
    let a = find(&list, "61.215.160.253").unwrap();
    let summary = "Internal host 195.141.69.45 contacted 61.215.160.253, which is on watchlist \"threat-intel\": 1 connection, the firewall let it through.";
    assert_eq!(a["id"], "watchlist_hit-1");
    assert_eq!(a["kind"], "watchlist_hit");
    assert_eq!(a["severity"], 80);
    assert_eq!(a["peak_severity"], 80);
    assert_eq!(a["zone"], "external");
    assert_eq!(a["summary"], summary);
    assert_eq!(a["count"], 1);
    assert_eq!(a["first_seen"], a["last_seen"]);
    assert!(a["first_seen"].as_str().unwrap().ends_with('Z'));
    let e = &a["evidence"];
    assert_eq!(e["watchlist"], "threat-intel");
    assert_eq!(e["address"], "61.215.160.253");
    assert_eq!(
        (
            &e["connections"],
            &e["allowed"],
            &e["blocked"],
            &e["to_it"],
            &e["from_it"]
        ),
        (&json!(1), &json!(1), &json!(0), &json!(1), &json!(0))
    );
    assert_eq!(e["peers"], json!(["195.141.69.45"]));
    assert_eq!(
        e["last_record"],
        json!({"src": "195.141.69.45", "dst": "61.215.160.253", "proto": "udp",
               "src_port": 1030, "dst_port": 53, "action": "allow"})
    );

    // The same anomaly arrives on the socket as an `open` change, before the update that lists it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let change = loop {
        let m = next_json(&mut ws).await;
        if m["type"] == "anomaly" {
            break m;
        }
        assert!(
            m["anomalies"].is_null(),
            "update listed it before the change: {m}"
        );
        assert!(tokio::time::Instant::now() < deadline, "no anomaly message");
    };
    assert_eq!(change["change"], "open");
    for k in [
        "id",
        "kind",
        "severity",
        "peak_severity",
        "entity",
        "zone",
        "summary",
        "first_seen",
        "count",
        "evidence",
    ] {
        assert_eq!(change[k], a[k], "{k}");
    }

    assert_eq!(
        http::get(r.addr, "/api/v1/anomalies?limit=0").await.status,
        400
    );
    assert_eq!(
        http::get(r.addr, "/api/v1/anomalies?limit=1").await.json()["anomalies"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Hot reload: the watchlist file gains 204.123.2.19. Lines are appended until one is seen
    // after the reload (each poll of the API is the awaited condition).
    write_atomic(
        &d.join("watchlist.txt"),
        "61.215.160.253\n192.12.94.30\n204.123.2.19\n",
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        append(&d.join("pf.log"), &[TO_ADDED]);
        let v = http::get(r.addr, "/api/v1/anomalies").await.json();
        if find(&v, "204.123.2.19").is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "watchlist edit not applied: {v}"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), next_json(&mut ws)).await;
    }
    let h = http::wait_json(r.addr, "/healthz", |h| h["config_reloads"]["ok"] == 1).await;
    assert_eq!(h["config_reloads"]["failed"], 0);

    // A broken config: the reload fails and the last good context (with 192.12.94.30) stays.
    write_atomic(
        &cfg,
        &config(d, "[networks.zones]\ndmz = [\"10.1.0.0/99\"]\n"),
    );
    let h = http::wait_json(r.addr, "/healthz", |h| h["config_reloads"]["failed"] == 1).await;
    assert_eq!(h["config_reloads"]["ok"], 1);
    append(&d.join("pf.log"), &[TO_KEPT]);
    let v = http::wait_json(r.addr, "/api/v1/anomalies", |v| {
        find(v, "192.12.94.30").is_some()
    })
    .await;
    assert_eq!(find(&v, "192.12.94.30").unwrap()["zone"], "external", "{v}");

    drop(ws);
    let _ = r.stop.send(());
    tokio::time::timeout(Duration::from_secs(10), r.task)
        .await
        .expect("daemon stops within 10 s")
        .unwrap()
        .unwrap();
}

/// The seed case through the whole pipeline: pf lines in which 195.141.69.45 sends every DNS query
/// from port 1030 to several servers raise `fixed_dns_source_port`; 195.141.69.42, querying the
/// same servers from random ports, does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_dns_source_port_from_pf_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("watchlist.txt"), "# empty\n").unwrap();
    let cfg = d.join("socwall.toml");
    std::fs::write(&cfg, config(d, "")).unwrap();
    let r = start(&cfg).await;

    let servers = [
        "61.215.160.253",
        "204.123.2.19",
        "192.12.94.30",
        "205.151.222.254",
        "193.192.227.3",
    ];
    let mut lines = Vec::new();
    for i in 0..10 {
        let s = servers[i % servers.len()];
        lines.push(format!(
            "Oct 21 06:20:{i:02}.844472 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > {s}.53: {} MX? about.com. (27) (DF)",
            29396 + i
        ));
        lines.push(format!(
            "Oct 21 06:20:{i:02}.859900 rule 184/0(match): pass in on xl1: 195.141.69.42.{} > {s}.53: {}+[|domain]",
            40000 + 997 * i,
            60676 + i
        ));
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    append(&d.join("pf.log"), &refs);
    let v = http::wait_json(r.addr, "/api/v1/anomalies", |v| {
        find(v, "195.141.69.45").is_some()
    })
    .await;
    let a = find(&v, "195.141.69.45").unwrap();
    assert_eq!(a["kind"], "fixed_dns_source_port");
    assert_eq!(a["severity"], 60);
    assert_eq!(a["zone"], "internal");
    assert_eq!(
        a["summary"],
        "Internal host 195.141.69.45 sent 10 queries to 5 different DNS servers within 2 minutes, all from source port 1030: its DNS source port is not randomised, so its answers are easy to forge (cache poisoning)."
    );
    assert_eq!(a["evidence"]["source_ports"], json!([1030]));
    assert!(find(&v, "195.141.69.42").is_none(), "{v}");
    assert_eq!(v["open"], 1, "{v}");

    let _ = r.stop.send(());
    tokio::time::timeout(Duration::from_secs(10), r.task)
        .await
        .expect("daemon stops within 10 s")
        .unwrap()
        .unwrap();
}
