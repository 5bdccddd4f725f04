//! Starts the real daemon on 127.0.0.1:0 for integration tests and talks to it.

#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use socwall::config::Settings;
use tokio::sync::oneshot;

use crate::http;

pub struct Daemon {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), socwall::RunError>>,
}

impl Daemon {
    /// A daemon with two sources in `dir`: `edge` (pf.log*, pf, from the beginning) and `core`
    /// (kern.log, auto, from the end), publishing every 50 ms.
    pub async fn start(dir: &Path) -> Daemon {
        Daemon::start_with(dir, "127.0.0.1:0", "edge").await
    }

    /// As [`Daemon::start`], on `listen` and with the first source named `edge_name`.
    pub async fn start_with(dir: &Path, listen: &str, edge_name: &str) -> Daemon {
        Daemon::start_config(dir, listen, edge_name, "", "").await
    }

    /// The test config with `server_extra` lines added to `[server]` and `extra` (tables such as
    /// `[auth]` or `[server.tls]`) appended.
    pub fn config(dir: &Path, edge_name: &str, server_extra: &str, extra: &str) -> String {
        format!(
            "[server]\nupdate_interval = \"50ms\"\nheartbeat_interval = \"1s\"\n{server_extra}\n[tail]\nrescan_interval = \"50ms\"\n\
             [[source]]\nname = \"{edge}\"\npath = \"{d}/pf.log*\"\nformat = \"pf\"\nstart_at = \"beginning\"\n\
             [[source]]\nname = \"core\"\npath = \"{d}/kern.log\"\nformat = \"auto\"\n{extra}\n",
            d = dir.display(),
            edge = edge_name.replace('"', "\\\""),
        )
    }

    /// As [`Daemon::start_with`], with `extra` TOML appended to the config (`[dashboards]`,
    /// `[wall]`, …).
    pub async fn start_opts(dir: &Path, listen: &str, edge_name: &str, extra: &str) -> Daemon {
        Daemon::start_config(dir, listen, edge_name, "", extra).await
    }

    /// As [`Daemon::start_with`], with [`Daemon::config`]'s additions.
    pub async fn start_config(
        dir: &Path,
        listen: &str,
        edge_name: &str,
        server_extra: &str,
        extra: &str,
    ) -> Daemon {
        let cfg = Daemon::config(dir, edge_name, server_extra, extra);
        let settings =
            Settings::from_toml(&cfg, "test.toml", Vec::new()).expect("valid test config");
        let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(socwall::run(listener, settings, async move {
            let _ = rx.await;
        }));
        Daemon {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub async fn snapshot(&self) -> Value {
        let r = http::get(self.addr, "/api/v1/snapshot").await;
        assert_eq!(r.status, 200);
        r.json()
    }

    /// Polls the snapshot until `cond` holds (the aggregator publishes every 50 ms here).
    pub async fn wait_snapshot(&self, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.snapshot().await;
            if cond(&s) {
                return s;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; last snapshot: seq {} totals {} sources {}",
                    s["seq"], s["totals"], s["sources"]
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("daemon stops within 10 s")
            .unwrap()
            .unwrap();
    }
}

pub fn append(path: &Path, lines: &[&str]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.sync_data().unwrap();
}
