//! "Nothing lost", end to end, with the real `socwall` binary as a child process:
//!
//! * `kill -9` at random moments while a writer appends steadily and rotates by rename (also
//!   while the daemon is down), restart, and compare `totals.lines` from `GET /api/v1/snapshot`
//!   with the lines written: exact, because positions and counts are saved in one snapshot.
//! * An unreadable log file is reported in `sources[].io_error` and in the log, and recovers
//!   when fixed (as root, the daemon runs as `nobody` so that permissions apply).
//! * A state directory that cannot be written (a real full filesystem when a tmpfs can be
//!   mounted, otherwise an obstructed temp name) is reported in the snapshot's `state` and in
//!   the log once, and recovers.
//! * A corrupt state file is set aside and reported; the daemon starts anyway.

#[path = "support/http.rs"]
mod http;

use std::fs::{self, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(20);

/// splitmix64 for the kill schedule (seed printed, `SOCWALL_SEED` replays).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `socwall run` child.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Daemon {
    /// Starts `socwall run` with `config` (`{port}` is replaced by a free port) and waits until
    /// it answers HTTP. `as_nobody`: drop to uid/gid 65534 (only when we are root).
    async fn start(dir: &Path, config: &str, as_nobody: bool) -> Daemon {
        let port = free_port();
        let cfg = dir.join(format!("socwall-{port}.toml"));
        fs::write(&cfg, config.replace("{port}", &port.to_string())).unwrap();
        let log = dir.join(format!("daemon-{port}.log"));
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
        let end = Instant::now() + DEADLINE;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                Instant::now() < end,
                "socwall did not start: {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Daemon { child, addr, log }
    }

    async fn snapshot(&self) -> Value {
        http::get(self.addr, "/api/v1/snapshot").await.json()
    }

    async fn wait(&self, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + DEADLINE;
        loop {
            let s = self.snapshot().await;
            if cond(&s) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}: totals {} sources {} state {}\nlog:\n{}",
                s["totals"],
                s["sources"],
                s["state"],
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown code runs.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for a clean exit.
    fn terminate(mut self) -> String {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "exit status {status}: {}",
            self.log_text()
        );
        self.log_text()
    }
}

impl Drop for Daemon {
    /// A failing test must not leave the daemon running (kill is a no-op once it was reaped).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines_of(s: &Value) -> u64 {
    s["totals"]["lines"].as_u64().unwrap()
}

/// An iptables line carrying its sequence number (as the packet ID).
fn fw_line(seq: u64) -> String {
    format!(
        "Nov 24 03:40:01 web-1 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.{} DST=10.0.1.20 LEN=44 PROTO=TCP SPT=40001 DPT=22 ID={seq}\n",
        seq % 250 + 1
    )
}

/// Appends numbered lines steadily; rotates by rename (and reopens, like a daemon on SIGHUP)
/// when asked.
struct Writer {
    written: Arc<AtomicU64>,
    rotate: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    rotations: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<()>,
}

fn spawn_writer(dir: PathBuf) -> Writer {
    let written = Arc::new(AtomicU64::new(0));
    let rotate = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let rotations = Arc::new(AtomicU64::new(0));
    let (w, r, s, n) = (
        written.clone(),
        rotate.clone(),
        stop.clone(),
        rotations.clone(),
    );
    let handle = std::thread::spawn(move || {
        let live = dir.join("fw.log");
        let open = || {
            BufWriter::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&live)
                    .unwrap(),
            )
        };
        let mut out = open();
        let mut seq = 0;
        while !s.load(Ordering::Relaxed) {
            for _ in 0..20 {
                out.write_all(fw_line(seq).as_bytes()).unwrap();
                seq += 1;
            }
            out.flush().unwrap();
            w.store(seq, Ordering::Release);
            if r.swap(false, Ordering::AcqRel) {
                let k = n.fetch_add(1, Ordering::Relaxed) + 1;
                fs::rename(&live, dir.join(format!("fw.log.{k}"))).unwrap();
                // A few lines still go to the renamed file before the "HUP" reopen.
                for _ in 0..5 {
                    out.write_all(fw_line(seq).as_bytes()).unwrap();
                    seq += 1;
                }
                out.flush().unwrap();
                w.store(seq, Ordering::Release);
                out = open();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    Writer {
        written,
        rotate,
        stop,
        rotations,
        handle,
    }
}

fn config(logs: &Path, state: &Path) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:{{port}}\"\nupdate_interval = \"50ms\"\n\
         [tail]\nrescan_interval = \"50ms\"\n\
         [state]\ndir = \"{}\"\nsnapshot_interval = \"150ms\"\n\
         [[source]]\nname = \"fw\"\npath = \"{}/fw.log\"\nformat = \"iptables\"\nstart_at = \"end\"\n",
        state.display(),
        logs.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_counts_every_line_exactly_once() {
    let seed = std::env::var("SOCWALL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill -9 test: seed {seed} (replay: SOCWALL_SEED={seed})");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let state = tmp.path().join("state");
    // The glob names the live file only: files rotated while the daemon is down are found
    // again through the saved positions alone.
    let cfg = config(&logs, &state);
    fs::write(logs.join("fw.log"), b"").unwrap();
    let mut d = Daemon::start(tmp.path(), &cfg, false).await;
    // start_at = "end": the writer starts once the (empty) file is open.
    d.wait("fw.log open", |s| s["sources"][0]["files"] == 1)
        .await;
    let w = spawn_writer(logs.clone());

    let mut kills = 0;
    let mut rotations_while_down = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(rng.range(100, 700))).await;
        if rng.next() % 3 == 0 {
            w.rotate.store(true, Ordering::Release);
            continue;
        }
        d.kill9();
        kills += 1;
        if rng.next() % 2 == 0 {
            // At most one rotation while down: with a live-name-only glob, a file created
            // *and* rotated away while nobody was reading is not found (docs/operations.md).
            w.rotate.store(true, Ordering::Release);
            rotations_while_down += 1;
            let r = w.rotations.load(Ordering::Relaxed);
            let end = Instant::now() + DEADLINE;
            while w.rotations.load(Ordering::Relaxed) == r {
                assert!(Instant::now() < end);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.range(0, 200))).await;
        d = Daemon::start(tmp.path(), &cfg, false).await;
    }
    w.stop.store(true, Ordering::Relaxed);
    w.handle.join().unwrap();
    let written = w.written.load(Ordering::Acquire);
    let rotations = w.rotations.load(Ordering::Relaxed);

    let s = d
        .wait(&format!("totals.lines == {written}"), |s| {
            lines_of(s) >= written
        })
        .await;
    assert_eq!(
        lines_of(&s),
        written,
        "seed {seed}: lines counted twice\nlog:\n{}",
        d.log_text()
    );
    // Nothing more arrives (a duplicate would show up within a few rescans).
    tokio::time::sleep(Duration::from_millis(400)).await;
    let s = d.snapshot().await;
    assert_eq!(lines_of(&s), written, "seed {seed}: late duplicates");
    assert_eq!(s["sources"][0]["lines"], written);
    assert!(s["state"]["saves"].as_u64().unwrap() > 0, "{}", s["state"]);

    // A clean stop saves the final state; the next start counts nothing again.
    let log = d.terminate();
    assert!(!log.contains("ERROR"), "{log}");
    let d = Daemon::start(tmp.path(), &cfg, false).await;
    let s = d.wait("restored", |s| lines_of(s) == written).await;
    assert!(
        s["state"]["restored_from"]
            .as_str()
            .is_some_and(|p| p.ends_with("socwall.state")),
        "{}",
        s["state"]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lines_of(&d.snapshot().await), written);
    d.kill9();
    eprintln!(
        "kill -9 test: seed {seed}: {written} lines, {kills} kill -9, {rotations} rotations \
         ({rotations_while_down} while down): counted exactly once ({:.1?})",
        started.elapsed()
    );
}

/// Are we root (or otherwise able to read a mode-000 file)?
fn privileged(dir: &Path) -> bool {
    let probe = dir.join("probe");
    fs::write(&probe, b"x").unwrap();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o000)).unwrap();
    let readable = fs::File::open(&probe).is_ok();
    fs::remove_file(&probe).unwrap();
    readable
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_file_is_reported_on_feed_health_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    // As root, permissions would not apply: run the daemon as nobody, with a tree it can
    // traverse and config and log files it can read and write.
    let as_nobody = privileged(tmp.path());
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let log = tmp.path().join("fw.log");
    fs::write(&log, fw_line(0) + &fw_line(1)).unwrap();
    fs::set_permissions(&log, fs::Permissions::from_mode(0o000)).unwrap();
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:{{port}}\"\nupdate_interval = \"50ms\"\n\
         [tail]\nrescan_interval = \"50ms\"\n\
         [[source]]\nname = \"fw\"\npath = \"{}\"\nformat = \"iptables\"\nstart_at = \"beginning\"\n",
        log.display()
    );
    let d = Daemon::start(tmp.path(), &cfg, as_nobody).await;
    let s = d
        .wait("io_error on feed health", |s| {
            !s["sources"][0]["io_error"].is_null()
        })
        .await;
    let e = &s["sources"][0]["io_error"];
    assert_eq!(e["op"], "open", "{e}");
    assert_eq!(e["path"], log.display().to_string());
    assert!(
        e["error"].as_str().unwrap().contains("ermission denied"),
        "{e}"
    );
    assert_eq!(lines_of(&s), 0);
    // Fixed: readable again. The file is read (it was never opened) and the problem clears.
    fs::set_permissions(&log, fs::Permissions::from_mode(0o644)).unwrap();
    let s = d
        .wait("recovery", |s| {
            s["sources"][0]["io_error"].is_null() && lines_of(s) == 2
        })
        .await;
    assert_eq!(s["sources"][0]["files"], 1);
    let text = d.terminate();
    assert_eq!(
        text.matches("tailing problem; retrying").count(),
        1,
        "logged once, not every rescan:\n{text}"
    );
    assert!(text.contains("tailing problem cleared"), "{text}");
    eprintln!(
        "unreadable file: reported and recovered ({})",
        if as_nobody {
            "running as root: daemon ran as uid 65534"
        } else {
            "chmod 000"
        }
    );
}

/// A tmpfs mounted for the duration of a test; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_write_failure_is_reported_once_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    fs::create_dir(&logs).unwrap();
    fs::write(logs.join("fw.log"), fw_line(0)).unwrap();
    let state = tmp.path().join("state");
    // A real full disk when we may mount a small tmpfs; otherwise the temp file's name is
    // taken by a directory (the write fails just the same, and root cannot override it).
    let tmpfs = Tmpfs::mount(&state, "64k");
    let filler = state.join("filler");
    let obstacle = state.join("socwall.state.tmp");
    let cfg = config(&logs, &state).replace("start_at = \"end\"", "start_at = \"beginning\"");
    let d = Daemon::start(tmp.path(), &cfg, false).await;
    d.wait("a first save", |s| s["state"]["saves"].as_u64() > Some(0))
        .await;
    let variant = if tmpfs.is_some() {
        // Fill it up: no room for the next state file.
        let mut f = fs::File::create(&filler).unwrap();
        let chunk = vec![b'x'; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        "tmpfs full (ENOSPC)"
    } else {
        fs::create_dir_all(obstacle.join("x")).unwrap();
        "obstructed temp file (no tmpfs mount permitted)"
    };
    let s = d
        .wait("the failure on feed health", |s| {
            s["state"]["failures"].as_u64() >= Some(3)
        })
        .await;
    let err = s["state"]["error"]["error"].as_str().unwrap().to_string();
    if tmpfs.is_some() {
        assert!(err.contains("No space left on device"), "{err}");
    }
    // The last good state file is still there and intact.
    assert!(state.join("socwall.state").exists());
    // Fixed: saving resumes, the error clears.
    if tmpfs.is_some() {
        fs::remove_file(&filler).unwrap();
    } else {
        fs::remove_dir_all(&obstacle).unwrap();
    }
    let saves = s["state"]["saves"].as_u64().unwrap();
    d.wait("recovery", |s| {
        s["state"]["error"].is_null() && s["state"]["saves"].as_u64() > Some(saves)
    })
    .await;
    let text = d.terminate();
    assert_eq!(
        text.matches("cannot save state").count(),
        1,
        "logged once:\n{text}"
    );
    assert!(text.contains("state saved again"), "{text}");
    drop(tmpfs);
    eprintln!("state write failure: {variant}: reported once, recovered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_state_is_set_aside_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let state = tmp.path().join("state");
    fs::create_dir(&state).unwrap();
    fs::write(
        state.join("socwall.state"),
        b"SOCWALL-STATE 1 5 0000000000000000\nhello",
    )
    .unwrap();
    fs::write(logs.join("fw.log"), fw_line(0)).unwrap();
    let cfg = config(&logs, &state).replace("start_at = \"end\"", "start_at = \"beginning\"");
    let d = Daemon::start(tmp.path(), &cfg, false).await;
    let s = d
        .wait("a save after the bad file", |s| {
            s["state"]["saves"].as_u64() > Some(0) && lines_of(s) == 1
        })
        .await;
    let problems = s["state"]["load_problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{}", s["state"]);
    assert!(
        problems[0].as_str().unwrap().contains("checksum mismatch"),
        "{problems:?}"
    );
    assert!(s["state"]["restored_from"].is_null());
    let aside: Vec<_> = fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("socwall.state.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "set aside, not deleted");
    d.kill9();
}
