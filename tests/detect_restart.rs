//! Detector state across a restart, end to end: the real daemon on 127.0.0.1:0 with `[state] dir`
//! in a temp dir, tailing a real pf log. An anomaly raised before a graceful stop is still in
//! `GET /api/v1/anomalies` after the next start, with the same id, first_seen and count; a host
//! first seen before the restart does not fire again after it; the state file holds a `detect`
//! section.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/http.rs"]
mod http;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use daemon::append;
use serde_json::Value;
use socwall::config::Settings;
use tokio::sync::oneshot;

// 195.141.69.45 and .42 are internal (config below); each line is their first traffic.
const FROM_45: &str = "Oct 21 06:06:58.096785 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 61.215.160.253.53: 2520 [1au][|domain] (DF)";
const FROM_45_AGAIN: &str = "Oct 21 06:20:00.844472 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 192.12.94.30.53: 29396 MX? about.com. (27) (DF)";
const FROM_42: &str = "Oct 21 06:07:11.298946 rule 57/0(match): pass in on xl1: 195.141.69.42.63994 > 204.123.2.19.53: 20792 [1au] MX? www.com.ar. (39) (DF)";

fn config(dir: &Path) -> String {
    format!(
        "[server]\nupdate_interval = \"50ms\"\nheartbeat_interval = \"1s\"\n[tail]\nrescan_interval = \"50ms\"\n\
         [state]\ndir = \"{d}/state\"\nsnapshot_interval = \"200ms\"\n\
         [networks]\ninternal = [\"195.141.69.0/24\"]\n\
         [detect.first_seen_host]\nlearning = \"0s\"\n[detect.first_seen_service]\nenabled = false\n\
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

impl Running {
    /// Graceful stop (the final state save happens before `run` returns).
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("daemon stops within 15 s")
            .expect("task joins")
            .expect("run ends cleanly");
    }
}

fn find<'a>(list: &'a Value, kind: &str, entity: &str) -> Option<&'a Value> {
    list["anomalies"]
        .as_array()?
        .iter()
        .find(|a| a["kind"] == kind && a["entity"] == entity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_and_first_seen_history_survive_a_graceful_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = d.join("socwall.toml");
    std::fs::write(&cfg, config(d)).unwrap();

    let r = start(&cfg).await;
    append(&d.join("pf.log"), &[FROM_45]);
    let list = http::wait_json(r.addr, "/api/v1/anomalies", |v| {
        find(v, "first_seen_host", "195.141.69.45").is_some()
    })
    .await;
    let before = find(&list, "first_seen_host", "195.141.69.45")
        .unwrap()
        .clone();
    assert_eq!(before["id"], "first_seen_host-1");
    assert_eq!(before["count"], 1);
    r.stop().await;

    // The state file holds the detect section next to tail and aggregate.
    let state = std::fs::read(d.join("state/socwall.state")).unwrap();
    let text = String::from_utf8_lossy(&state);
    for section in ["\"tail\":", "\"aggregate\":", "\"detect\":"] {
        assert!(text.contains(section), "{section} missing");
    }

    let r = start(&cfg).await;
    let snap = http::wait_json(r.addr, "/api/v1/snapshot", |v| {
        v["state"]["restored_from"].is_string()
    })
    .await;
    assert_eq!(snap["state"]["load_problems"], serde_json::json!([]));
    let list = http::wait_json(r.addr, "/api/v1/anomalies", |v| {
        find(v, "first_seen_host", "195.141.69.45").is_some()
    })
    .await;
    let after = find(&list, "first_seen_host", "195.141.69.45").unwrap();
    for field in [
        "id",
        "first_seen",
        "last_seen",
        "count",
        "summary",
        "peak_severity",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }

    // .45 talks again (known: no new finding, its count stays 1); .42 is new and fires. Once
    // .42's anomaly is there, the line from .45 (written before it) has been processed too.
    append(&d.join("pf.log"), &[FROM_45_AGAIN, FROM_42]);
    let list = http::wait_json(r.addr, "/api/v1/anomalies", |v| {
        find(v, "first_seen_host", "195.141.69.42").is_some()
    })
    .await;
    let new = find(&list, "first_seen_host", "195.141.69.42").unwrap();
    assert_eq!(new["id"], "first_seen_host-2", "ids continue, never reused");
    let known = find(&list, "first_seen_host", "195.141.69.45").unwrap();
    assert_eq!(known["id"], before["id"]);
    assert_eq!(
        known["count"], 1,
        "a host seen before the restart did not fire again"
    );
    let opened = list["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "first_seen_host")
        .count();
    assert_eq!(opened, 2);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_detect_section_is_reported_and_the_rest_restores() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = d.join("socwall.toml");
    std::fs::write(&cfg, config(d)).unwrap();
    let r = start(&cfg).await;
    append(&d.join("pf.log"), &[FROM_45]);
    http::wait_json(r.addr, "/api/v1/anomalies", |v| {
        find(v, "first_seen_host", "195.141.69.45").is_some()
    })
    .await;
    r.stop().await;

    // Rewrite the file with the detect section's version bumped, through the state module's
    // own writer (so header and checksum are valid: only the section is incompatible).
    let store = socwall::state::Store::new(d.join("state"));
    let mut loaded = socwall::state::Store::read(&store.path())
        .unwrap()
        .expect("a state file");
    let tail: Value = loaded.section("tail", 1).unwrap().unwrap();
    let agg: Value = loaded.section("aggregate", 1).unwrap().unwrap();
    let det: Value = loaded.section("detect", 1).unwrap().unwrap();
    store
        .write(
            vec![
                socwall::state::SectionOut::new("tail", 1, tail),
                socwall::state::SectionOut::new("aggregate", 1, agg),
                socwall::state::SectionOut::new("detect", 99, det),
            ],
            std::time::SystemTime::now(),
        )
        .unwrap();

    let r = start(&cfg).await;
    let snap = http::wait_json(r.addr, "/api/v1/snapshot", |v| {
        v["state"]["restored_from"].is_string()
    })
    .await;
    let problems = snap["state"]["load_problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].as_str().unwrap().contains("detect"),
        "{problems:?}"
    );
    assert_eq!(snap["totals"]["lines"], 1, "the aggregate section restored");
    let list = http::get(r.addr, "/api/v1/anomalies").await.json();
    assert_eq!(list["open"], 0, "detectors started fresh");
    r.stop().await;
}
