//! `socwall replay` end to end: the wall served from a replay (library API on 127.0.0.1:0, its
//! clock the logs' time), the demo generator's incidents reaching the wall's anomaly list, and
//! the binary's contract (anomalies written as JSON lines, exit codes 0/1/2).

#[path = "support/http.rs"]
mod http;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use socwall::aggregate::SourceSettings;
use socwall::config::Settings;
use socwall::detect::Kind;
use socwall::replay::{self, Input, Replay, ReplayOptions, ReplayStats, Speed};
use socwall::scenario::{Scenario, ScenarioOptions};
use tokio::sync::oneshot;

/// Detector kinds merged on main so far: the demo test insists on these (the others' incidents
/// are listed in DEMO_INCIDENTS and checked once their detector lands).
const LANDED: &[Kind] = &[
    Kind::PortScan,
    Kind::DenyBurst,
    Kind::FixedDnsSourcePort,
    Kind::FeedSilence,
    Kind::FirstSeenHost,
    Kind::FirstSeenService,
];

/// The demo's scheduled incidents (src/demo.rs) as the anomaly each must raise: kind and a
/// string the entity must contain.
const DEMO_INCIDENTS: &[(Kind, &str)] = &[
    (Kind::PortScan, "203.0.113.66"),
    (Kind::DenyBurst, "198.51.100.23"),
    (Kind::FixedDnsSourcePort, "10.0.0.53"),
    (Kind::FeedSilence, "branch"),
    (Kind::FirstSeenHost, "10.0.9.99"),
    (Kind::FirstSeenService, "8443"),
];

struct Served {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    finished: Option<oneshot::Receiver<ReplayStats>>,
    task: tokio::task::JoinHandle<Result<(), replay::ReplayError>>,
}

impl Served {
    async fn start(settings: Settings, r: Replay, speed: Speed) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            replay::serve(
                listener,
                &settings,
                r,
                speed,
                async move {
                    let _ = stopped.await;
                },
                Some(done_tx),
            )
            .await
        });
        Served {
            addr,
            stop: Some(stop),
            finished: Some(done_rx),
            task,
        }
    }

    /// Waits (bounded) until the replay has read every input.
    async fn finished(&mut self) -> ReplayStats {
        let rx = self.finished.take().expect("finished once");
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("replay finished within 60 s")
            .expect("replay thread reported")
    }

    async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("stops within 10 s")
            .expect("task joins")
            .expect("serve returned Ok");
    }
}

fn small_scenario() -> Scenario {
    Scenario::generate(ScenarioOptions {
        duration: Duration::from_secs(20 * 60),
        warmup: Duration::from_secs(5 * 60),
        spacing: Duration::from_secs(60),
        ..ScenarioOptions::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_replay_shows_event_time_on_the_wall() {
    let sc = small_scenario();
    let r = Replay::new(
        ReplayOptions {
            record: false,
            ..sc.replay_options()
        },
        sc.inputs(),
    )
    .unwrap();
    let mut s = Served::start(Settings::default(), r, Speed::Max).await;
    let stats = s.finished().await;
    let lines: u64 = sc
        .feeds
        .iter()
        .map(|f| f.iter().filter(|&&b| b == b'\n').count() as u64)
        .sum();
    assert_eq!(stats.lines, lines);
    let snap = http::wait_json(s.addr, "/api/v1/snapshot", |v| {
        v["totals"]["lines"].as_u64() == Some(lines)
    })
    .await;
    // The wall's clock is the log's: the replay ended just after 08:20 on the scenario's day.
    let t = snap["server_time"].as_str().unwrap();
    assert!(t.starts_with("2026-03-02T08:20:0"), "{t}");
    assert_eq!(snap["totals"]["events"].as_u64(), Some(stats.events));
    let names: Vec<&str> = snap["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["edge-pf", "core-iptables", "branch-iptables"]);
    assert!(snap["anomalies"].is_array());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_replay_keeps_time_through_gaps() {
    // Two lines 30 s of event time apart at 10× real time: the wall's clock moves through the
    // gap (3 s of wall time) instead of jumping when the second line arrives.
    let at = |s: i64| {
        let t = ScenarioOptions::default().start + s * 1_000_000;
        format!(
            "{} fw kernel: [UFW BLOCK] IN=eth0 OUT= MAC= SRC=198.18.0.1 DST=10.0.0.1 LEN=40 PROTO=TCP SPT=1 DPT=22\n",
            stamp(t)
        )
    };
    let text = at(0) + &at(30);
    let r = Replay::new(
        ReplayOptions {
            year: Some(2026),
            record: false,
            ..ReplayOptions::default()
        },
        vec![Input::reader("fw", std::io::Cursor::new(text.into_bytes()))],
    )
    .unwrap();
    let mut s = Served::start(Settings::default(), r, Speed::Times(10.0)).await;
    let mid = http::wait_json(s.addr, "/api/v1/snapshot", |v| {
        v["totals"]["events"] == 1
            && v["server_time"]
                .as_str()
                .is_some_and(|t| t > "2026-03-02T08:00:05" && t < "2026-03-02T08:00:30")
    })
    .await;
    assert_eq!(mid["totals"]["events"], 1);
    let stats = s.finished().await;
    assert_eq!(stats.events, 2);
    s.stop().await;
}

fn stamp(t: i64) -> String {
    // `Mar  2 08:00:00`
    let s = socwall::time::format_rfc3339(t).to_string();
    let day: u32 = s[8..10].parse().unwrap();
    format!("Mar {day:>2} {}", &s[11..19])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_incidents_show_up_in_the_snapshot_anomalies() {
    // One demo cycle (5 min) and a bit, written on a simulated clock, replayed at full speed
    // with the demo's own settings, served; then the wall's snapshot must list each incident.
    let dir = tempfile::tempdir().unwrap();
    let start = ScenarioOptions::default().start;
    socwall::demo::write_simulated(
        dir.path(),
        300,
        Duration::from_secs(300),
        7,
        start,
        Duration::from_secs(330),
    )
    .unwrap();
    let settings = socwall::demo::settings(dir.path(), &Settings::default());
    let files: Vec<PathBuf> = ["edge-pf.log", "core-iptables.log", "branch-iptables.log"]
        .iter()
        .map(|f| dir.path().join(f))
        .collect();
    let sources = settings
        .sources
        .iter()
        .map(|s| SourceSettings {
            name: s.name.clone(),
            quiet_after: s.quiet_after,
            silent_after: s.silent_after,
        })
        .collect();
    let r = Replay::new(
        ReplayOptions {
            year: Some(2026),
            record: false,
            aggregate: socwall::daemon::aggregate_settings(&settings, sources),
            ..ReplayOptions::default()
        },
        replay::open_inputs(&files).unwrap(),
    )
    .unwrap();
    let mut s = Served::start(settings, r, Speed::Max).await;
    let stats = s.finished().await;
    assert!(stats.events > 20_000, "{stats:?}");
    assert_eq!(stats.late, 0);
    let want: Vec<&(Kind, &str)> = DEMO_INCIDENTS
        .iter()
        .filter(|(k, _)| LANDED.contains(k))
        .collect();
    let found = |snap: &Value, kind: Kind, key: &str| {
        snap["anomalies"].as_array().is_some_and(|a| {
            a.iter().any(|x| {
                x["kind"] == kind.as_str() && x["entity"].as_str().is_some_and(|e| e.contains(key))
            })
        })
    };
    let snap = http::wait_json(s.addr, "/api/v1/snapshot", |v| {
        v["totals"]["events"].as_u64() == Some(stats.events)
            && want.iter().all(|(k, key)| found(v, *k, key))
    })
    .await;
    assert!(snap["anomalies"].is_array());
    s.stop().await;
}

fn socwall() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_socwall"));
    c.env_remove("SOCWALL_CONFIG").env_remove("RUST_LOG");
    c
}

fn logs(dir: &Path) -> Vec<String> {
    small_scenario()
        .write_dir(dir)
        .unwrap()
        .iter()
        .map(|p| p.display().to_string())
        .collect()
}

#[test]
fn cli_writes_anomalies_and_reports_late_events() {
    let dir = tempfile::tempdir().unwrap();
    let files = logs(dir.path());
    let out = dir.path().join("anomalies.jsonl");
    let o = socwall()
        .args(["replay", "--year", "2026", "--anomalies-out"])
        .arg(&out)
        .args(&files)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(" late (dropped)"), "{stderr}");
    assert!(stderr.contains("anomalies raised"), "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        for k in [
            "kind",
            "entity",
            "severity",
            "first_seen",
            "last_seen",
            "summary",
        ] {
            assert!(v.get(k).is_some(), "{k} missing in {line}");
        }
    }
}

#[test]
fn cli_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let files = logs(dir.path());
    let code = |args: &[&str]| {
        let o = socwall().arg("replay").args(args).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (c, e) = code(&["--speed", "fast", &files[0]]);
    assert_eq!(c, Some(2), "{e}");
    assert!(e.contains("--speed"), "{e}");
    let (c, e) = code(&["--format", "pff", &files[0]]);
    assert_eq!(c, Some(2), "{e}");
    assert!(e.contains("unknown format"), "{e}");
    let (c, e) = code(&["--anomalies-out", "-", "/nonexistent/fw.log"]);
    assert_eq!(c, Some(1), "{e}");
    assert!(e.contains("cannot open /nonexistent/fw.log"), "{e}");
    let (c, e) = code(&[]);
    assert_eq!(c, Some(2), "{e}");
    let missing_dir = dir.path().join("no/such/dir/out.jsonl");
    let (c, e) = code(&["--anomalies-out", missing_dir.to_str().unwrap(), &files[0]]);
    assert_eq!(c, Some(1), "{e}");
}

#[test]
fn cli_replays_a_scenario_with_its_config() {
    // `socwall scenario` writes the logs and a config naming the site; the first hour holds the
    // two port scans and the deny burst.
    let dir = tempfile::tempdir().unwrap();
    let o = socwall()
        .args(["scenario", "--minutes", "60", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = dir.path().join("anomalies.jsonl");
    let o = socwall()
        .args(["replay", "--year", "2026", "--config"])
        .arg(dir.path().join("socwall.toml"))
        .arg("--anomalies-out")
        .arg(&out)
        .args(
            ["edge-pf.log", "core-iptables.log", "branch-iptables.log"].map(|f| dir.path().join(f)),
        )
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let raised: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["kind"].as_str().unwrap().to_string(),
                v["entity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (kind, who) in [
        ("port_scan", "203.0.113.66"),
        ("port_scan", "198.51.100.99"),
        ("deny_burst", "192.0.2.23"),
    ] {
        assert!(
            raised.iter().any(|(k, e)| k == kind && e.contains(who)),
            "{kind} {who} not in {raised:?}"
        );
    }
}
