//! Faults on the wall, in a real headless Chromium against the real `socwall` binary: a log file
//! that cannot be opened (`chmod 000`) turns its feed row into a magenta-red ERROR with the short
//! reason ("cannot open …: Permission denied · for N s"), and a state directory that cannot be
//! written shows "STATE NOT SAVED" under the feed rows and FAILING in the health widget; both clear
//! on the open page once fixed, without a reload. The file name carries markup: it stays text.
//!
//! As root, permissions would not apply to the daemon, so it is started as uid/gid 65534 (as
//! tests/durability.rs does); as another user, `chmod 000` suffices.

#[path = "support/cdp.rs"]
mod cdp;
#[path = "support/http.rs"]
mod http;

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cdp::Browser;

/// A `socwall run` child, killed when dropped (a failing test leaves nothing running).
struct Daemon {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    async fn start(dir: &Path, config: &str, as_nobody: bool) -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = dir.join("socwall.toml");
        fs::write(&cfg, config.replace("{port}", &port.to_string())).unwrap();
        let log = dir.join("daemon.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_socwall"));
        cmd.args(["run", "--config"])
            .arg(&cfg)
            .env_remove("SOCWALL_CONFIG")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap());
        if as_nobody {
            cmd.uid(65534).gid(65534);
        }
        let child = cmd.spawn().expect("spawn socwall");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let d = Daemon { child, addr, log };
        let end = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                Instant::now() < end,
                "socwall did not start: {}",
                d.log_text()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        d
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Can we open a mode-000 file (root, or CAP_DAC_OVERRIDE)?
fn privileged(dir: &Path) -> bool {
    let probe = dir.join("probe");
    fs::write(&probe, b"x").unwrap();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o000)).unwrap();
    let readable = fs::File::open(&probe).is_ok();
    fs::remove_file(&probe).unwrap();
    readable
}

const LINES: &str = "Nov 24 03:40:01 web-1 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.7 DST=10.0.1.20 LEN=44 PROTO=TCP SPT=40001 DPT=22 ID=1\n\
                     Nov 24 03:40:01 web-1 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.8 DST=10.0.1.20 LEN=44 PROTO=TCP SPT=40001 DPT=22 ID=2\n";

/// The feed row named `fw`, as `{badge, ioerr, ioerrHidden, bg}` (`bg`: the badge's computed
/// background), or null.
const FW_ROW: &str = "(() => {
  const r = [...document.querySelectorAll('.feeds-body .feeds-row')].find(r => !r.hidden && r.querySelector('.feeds-name').textContent === 'fw');
  if (!r) return null;
  const b = r.querySelector('.feeds-badge'), e = r.querySelector('.feeds-ioerr');
  return { badge: b.textContent, ioerr: e.textContent, ioerrHidden: e.hidden, title: e.title, bg: getComputedStyle(b).backgroundColor };
})()";

/// The state-save line under the feed rows and the health widget's row, or null when hidden.
const STATE_UI: &str = "(() => {
  const f = document.querySelector('.feeds-state-err');
  const h = [...document.querySelectorAll('.health-row')].find(r => r.querySelector('.health-key').textContent === 'State saved');
  return { feeds: f && !f.hidden ? f.textContent : null, feedsBg: f ? getComputedStyle(f).backgroundColor : null,
           health: h ? h.querySelector('.health-val').textContent : null, level: h ? h.dataset.level : null };
})()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_feed_and_unsaved_state_show_on_the_wall_and_clear() {
    if !Browser::available_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let as_nobody = privileged(tmp.path());
    // The daemon may run as nobody: it must traverse the tree and write the state directory.
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let logs = tmp.path().join("logs");
    fs::create_dir(&logs).unwrap();
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o755)).unwrap();
    // Markup in the file name: it reaches the page in `io_error.path` and must stay text.
    let name = "fw <img src=x onerror=alert(1)>.log";
    let log = logs.join(name);
    fs::write(&log, LINES).unwrap();
    fs::set_permissions(&log, fs::Permissions::from_mode(0o000)).unwrap();
    let state = tmp.path().join("state");
    fs::create_dir(&state).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o777)).unwrap();
    // The state file's temp name is taken by a directory (ours, not removable by the daemon):
    // every save fails with EISDIR until it is removed.
    let obstacle = state.join("socwall.state.tmp");
    fs::create_dir_all(obstacle.join("x")).unwrap();
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:{{port}}\"\nupdate_interval = \"100ms\"\nheartbeat_interval = \"1s\"\n\
         [tail]\nrescan_interval = \"100ms\"\n\
         [state]\ndir = \"{}\"\nsnapshot_interval = \"200ms\"\n\
         [[source]]\nname = \"fw\"\npath = \"{}\"\nformat = \"iptables\"\nstart_at = \"beginning\"\n",
        state.display(),
        log.display()
    );
    let d = Daemon::start(tmp.path(), &cfg, as_nobody).await;

    let b = Browser::launch(1920, 1080).await.expect("launch chromium");
    b.navigate(&format!("http://{}/d/shift-lead?kiosk", d.addr))
        .await
        .expect("navigate");
    b.wait_for(
        "document.body.dataset.ready === '1'",
        Duration::from_secs(15),
    )
    .await
    .expect("first snapshot rendered");

    // The feed's row: ERROR, magenta-red (--c-crit #ff2e88), the short reason and its age.
    let row = b
        .wait_for(
            &format!("(() => {{ const r = {FW_ROW}; return r && r.badge === 'ERROR' && /· for \\d+ s$/.test(r.ioerr) && r; }})()"),
            Duration::from_secs(15),
        )
        .await
        .unwrap_or_else(|e| panic!("feed row in error: {e}\ndaemon log:\n{}", d.log_text()));
    let text = row["ioerr"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("cannot open {name}: Permission denied · for ")),
        "{row}"
    );
    assert_eq!(row["ioerrHidden"], false);
    assert_eq!(
        row["bg"], "rgb(255, 46, 136)",
        "critical colour of the legend"
    );
    assert!(
        row["title"]
            .as_str()
            .unwrap()
            .starts_with(&log.display().to_string()),
        "full path in the tooltip: {row}"
    );
    assert_eq!(
        b.eval("document.querySelectorAll('img').length")
            .await
            .unwrap(),
        0,
        "the file name stayed text"
    );

    // The state directory: under the feed rows and in the health widget.
    let ui = b
        .wait_for(
            &format!("(() => {{ const s = {STATE_UI}; return s.feeds && s.health && s.health.startsWith('FAILING') && s; }})()"),
            Duration::from_secs(15),
        )
        .await
        .unwrap_or_else(|e| panic!("state failure shown: {e}\ndaemon log:\n{}", d.log_text()));
    let feeds = ui["feeds"].as_str().unwrap();
    assert!(
        feeds.starts_with("STATE NOT SAVED: ") && feeds.contains("Is a directory"),
        "{ui}"
    );
    assert_eq!(ui["feedsBg"], "rgb(255, 46, 136)");
    assert!(
        ui["health"].as_str().unwrap().contains("Is a directory"),
        "{ui}"
    );
    assert_eq!(ui["level"], "crit");

    // Fixed, both: the open page clears them by itself. The page gets a snapshot only when it
    // connects, so the state line can only clear through an update carrying `state`.
    fs::set_permissions(&log, fs::Permissions::from_mode(0o644)).unwrap();
    fs::remove_dir_all(&obstacle).unwrap();
    b.wait_for(
        &format!("(() => {{ const r = {FW_ROW}; return r && r.badge === 'OK' && r.ioerrHidden && r.ioerr === '' && socwall.state.totals.lines === 2; }})()"),
        Duration::from_secs(15),
    )
    .await
    .unwrap_or_else(|e| panic!("feed error cleared: {e}\ndaemon log:\n{}", d.log_text()));
    let ui = b
        .wait_for(
            &format!("(() => {{ const s = {STATE_UI}; return s.feeds === null && s.health && / ago$/.test(s.health) && s; }})()"),
            Duration::from_secs(15),
        )
        .await
        .unwrap_or_else(|e| panic!("state failure cleared: {e}\ndaemon log:\n{}", d.log_text()));
    assert_eq!(ui["level"], "");

    let errors = b.js_errors();
    assert!(errors.is_empty(), "JS errors: {errors:?}");
    let csp: Vec<String> = b
        .log_entries()
        .into_iter()
        .filter(|l| l.contains("Content Security Policy"))
        .collect();
    assert!(csp.is_empty(), "CSP violations: {csp:?}");
    eprintln!(
        "faults on the wall: shown and cleared ({})",
        if as_nobody {
            "running as root: daemon ran as uid 65534"
        } else {
            "chmod 000"
        }
    );
}
