//! `socwall bench --load`: the load test on loopback (issue 6). Starts the real daemon in this
//! process, appends pf lines at a paced rate, measures ingestion without clients (baseline) and
//! then with N WebSocket clients of which some never read, and reports freshness, slow-client
//! eviction and memory with a PASS/FAIL per criterion. Bounded and self-stopping; the method and
//! the figures are in docs/PERFORMANCE.md ("Load test").
//!
//! Freshness, precisely: the writer notes `(instant, cumulative lines)` just *before* it appends
//! each batch; a fast client that receives a message whose `totals.lines` reaches a batch's
//! cumulative count for the first time records `receive instant − batch instant` for it. So it is
//! "line appended → first update whose totals include it" per batch, per client, including
//! tailing, parsing, aggregating, the tick wait, serialisation and the socket.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::config::Settings;
use crate::parse::Format;

/// What to run. `Default` is the figure: 200 clients, 10 slow, 100k lines/s, 60 s.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// WebSocket clients in all (fast + slow).
    pub clients: usize,
    /// Of those, clients that never read.
    pub slow: usize,
    /// Lines per second appended.
    pub rate: u64,
    /// Length of each phase (baseline, then with clients).
    pub duration: Duration,
    /// `[server] max_update_age` of the daemon under test (its default is 10 s).
    pub max_update_age: Duration,
    /// Run the baseline phase (no clients) first.
    pub baseline: bool,
    /// Print progress lines to stderr while running.
    pub verbose: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            clients: 200,
            slow: 10,
            rate: 100_000,
            duration: Duration::from_secs(60),
            max_update_age: Duration::from_secs(10),
            baseline: true,
            verbose: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("load test: {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("load test: bad daemon config: {0}")]
    Config(String),
    #[error("load test: the daemon stopped: {0}")]
    Daemon(String),
    #[error("load test: WebSocket client {0} could not connect: {1}")]
    Connect(usize, String),
    #[error("load test: {0}")]
    Timeout(&'static str),
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> LoadError {
    move |source| LoadError::Io { what, source }
}

/// One phase's ingestion.
#[derive(Debug, Clone, Default)]
pub struct Phase {
    pub secs: f64,
    /// Lines the writer appended during the phase.
    pub written: u64,
    /// Lines the daemon counted (`socwall_lines_total`) during the phase.
    pub ingested: u64,
    /// Written but not yet counted when the phase ended.
    pub lag_lines_at_end: u64,
}

impl Phase {
    pub fn ingest_rate(&self) -> f64 {
        self.ingested as f64 / self.secs.max(1e-9)
    }
    pub fn write_rate(&self) -> f64 {
        self.written as f64 / self.secs.max(1e-9)
    }
}

/// Freshness quantiles over every (fast client, batch) pair, in seconds.
#[derive(Debug, Clone, Default)]
pub struct Freshness {
    pub samples: u64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub options_clients: usize,
    pub options_slow: usize,
    pub target_rate: u64,
    pub baseline: Option<Phase>,
    pub loaded: Phase,
    /// Lines appended in all, and counted by the daemon after the writer stopped and it drained.
    pub written: u64,
    pub ingested: u64,
    /// The last `totals.lines` each fast client saw (after the drain).
    pub fast_final_lines: Vec<u64>,
    /// Messages with totals (snapshots and updates) the fast clients received, in all.
    pub fast_messages: u64,
    /// Fast clients whose connection ended before we closed it (they must not be evicted).
    pub fast_lost: usize,
    pub freshness: Freshness,
    /// `socwall_clients_evicted_slow_total` at the end.
    pub evicted: u64,
    /// Seconds from the slow clients' connection to each eviction the daemon counted.
    pub evicted_after: Vec<f64>,
    /// Slow clients whose connection the server had ended (seen when they finally read).
    pub slow_closed: usize,
    /// (seconds since start, phase, VmRSS KiB of the whole process) every 5 s.
    pub rss: Vec<(f64, &'static str, u64)>,
}

/// One criterion's verdict: (name, pass, detail).
pub type Verdict = (&'static str, bool, String);

impl LoadReport {
    /// RSS samples of the phase with clients.
    fn loaded_rss(&self) -> Vec<u64> {
        self.rss
            .iter()
            .filter(|(_, p, _)| *p == "clients")
            .map(|&(_, _, k)| k)
            .collect()
    }

    /// The criteria, each with its measured value.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let mut v = Vec::new();
        if let Some(b) = &self.baseline {
            let diff = (self.loaded.ingest_rate() / b.ingest_rate().max(1e-9) - 1.0) * 100.0;
            v.push((
                "ingestion rate unchanged within 10 %",
                diff.abs() <= 10.0,
                format!(
                    "{:.0} → {:.0} lines/s ({diff:+.1} %)",
                    b.ingest_rate(),
                    self.loaded.ingest_rate()
                ),
            ));
        }
        let keep = self.loaded.ingest_rate() >= 0.9 * self.target_rate as f64;
        v.push((
            "ingestion keeps up with the writer (≥ 90 % of the target)",
            keep,
            format!(
                "{:.0} of {} lines/s with clients, {} lines behind at the end",
                self.loaded.ingest_rate(),
                self.target_rate,
                self.loaded.lag_lines_at_end
            ),
        ));
        v.push((
            "fast clients keep ≤ 1 s freshness (max)",
            self.freshness.samples > 0 && self.freshness.max <= 1.0 && self.fast_lost == 0,
            format!(
                "p50 {:.3} s, p99 {:.3} s, max {:.3} s over {} samples; {} fast clients lost",
                self.freshness.p50,
                self.freshness.p99,
                self.freshness.max,
                self.freshness.samples,
                self.fast_lost
            ),
        ));
        let slow = self.options_slow as u64;
        v.push((
            "slow clients are evicted",
            self.evicted == slow && self.slow_closed == self.options_slow,
            format!(
                "{} of {slow} evicted (daemon count), {} saw their connection closed, after {}",
                self.evicted,
                self.slow_closed,
                match (
                    self.evicted_after.iter().cloned().reduce(f64::min),
                    self.evicted_after.iter().cloned().reduce(f64::max)
                ) {
                    (Some(a), Some(b)) => format!("{a:.1}–{b:.1} s"),
                    _ => "-".into(),
                }
            ),
        ));
        let rss = self.loaded_rss();
        let (flat, detail) = match (rss.get(rss.len() / 2), rss.last(), rss.first()) {
            (Some(&mid), Some(&end), Some(&start)) => {
                // Flat: no growth over the second half of the phase beyond noise (5 % or 8 MiB,
                // whichever is larger); the first half includes connecting and warm-up.
                let allowed = (mid / 20).max(8 * 1024);
                (
                    end <= mid + allowed,
                    format!(
                        "start {:.1} MiB, middle {:.1} MiB, end {:.1} MiB (second half {:+.1} MiB)",
                        start as f64 / 1024.0,
                        mid as f64 / 1024.0,
                        end as f64 / 1024.0,
                        (end as f64 - mid as f64) / 1024.0
                    ),
                )
            }
            _ => (false, "no RSS samples (no /proc?)".into()),
        };
        v.push(("memory flat", flat, detail));
        let every = self.ingested == self.written
            && !self.fast_final_lines.is_empty()
            && self.fast_final_lines.iter().all(|&l| l == self.written);
        v.push((
            "every line ingested, fast clients' totals reach it exactly",
            every,
            format!(
                "{} written, {} ingested, fast clients ended at {}..{}",
                self.written,
                self.ingested,
                self.fast_final_lines.iter().min().unwrap_or(&0),
                self.fast_final_lines.iter().max().unwrap_or(&0)
            ),
        ));
        v
    }

    pub fn print(&self, out: &mut impl io::Write) -> io::Result<()> {
        for (name, p) in [
            ("without clients", self.baseline.as_ref()),
            ("with clients", Some(&self.loaded)),
        ] {
            if let Some(p) = p {
                writeln!(
                    out,
                    "{name:<16} {:>5.1} s: written {:>10.0} lines/s, ingested {:>10.0} lines/s, {} lines behind at the end",
                    p.secs,
                    p.write_rate(),
                    p.ingest_rate(),
                    p.lag_lines_at_end
                )?;
            }
        }
        writeln!(
            out,
            "freshness ({} fast clients): p50 {:.3} s  p99 {:.3} s  max {:.3} s  ({} samples, {} messages)",
            self.options_clients - self.options_slow,
            self.freshness.p50,
            self.freshness.p99,
            self.freshness.max,
            self.freshness.samples,
            self.fast_messages
        )?;
        let after: Vec<String> = self
            .evicted_after
            .iter()
            .map(|s| format!("{s:.1}"))
            .collect();
        writeln!(
            out,
            "slow clients: {} of {} evicted, after [{}] s; {} saw the server close",
            self.evicted,
            self.options_slow,
            after.join(", "),
            self.slow_closed
        )?;
        let rss: Vec<String> = self
            .rss
            .iter()
            .map(|(t, p, k)| format!("{t:.0}s/{p}:{:.1}", *k as f64 / 1024.0))
            .collect();
        writeln!(out, "RSS MiB (whole process): {}", rss.join("  "))?;
        for (name, pass, detail) in self.verdicts() {
            writeln!(
                out,
                "{} {name}: {detail}",
                if pass { "PASS" } else { "FAIL" }
            )?;
        }
        Ok(())
    }

    pub fn passed(&self) -> bool {
        self.verdicts().iter().all(|(_, p, _)| *p)
    }
}

/// The writer's progress: `(instant just before the append, cumulative lines after it)`, one
/// entry per batch, appended by the writer thread and read by every fast client. Bounded by the
/// run's length (≤ 100 batches a second).
#[derive(Default)]
struct Progress {
    batches: RwLock<Vec<(Instant, u64)>>,
    written: AtomicU64,
    /// Set by the writer once it has stopped: `written` is final.
    finished: AtomicBool,
}

impl Progress {
    /// Index of the first batch not covered by `lines`.
    fn first_after(&self, lines: u64) -> usize {
        let b = self.batches.read().unwrap_or_else(|e| e.into_inner());
        b.partition_point(|&(_, c)| c <= lines)
    }
}

/// Freshness histogram: 1 ms bins up to 30 s and an overflow bin, shared by the clients
/// (atomics: no lock on the receive path); the maximum is kept exactly.
struct Histogram {
    bins: Vec<AtomicU64>,
    max_us: AtomicU64,
}

const HIST_BINS: usize = 30_000;

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            bins: (0..=HIST_BINS).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }
    fn record(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        let bin = ((us / 1000) as usize).min(HIST_BINS);
        self.bins[bin].fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }
    fn summary(&self) -> Freshness {
        let counts: Vec<u64> = self
            .bins
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let n: u64 = counts.iter().sum();
        let q = |f: f64| -> f64 {
            let want = ((n as f64) * f).ceil().max(1.0) as u64;
            let mut acc = 0;
            for (i, c) in counts.iter().enumerate() {
                acc += c;
                if acc >= want {
                    // Upper edge of the bin: never reports better than measured.
                    return (i + 1) as f64 / 1000.0;
                }
            }
            0.0
        };
        Freshness {
            samples: n,
            p50: if n > 0 { q(0.5) } else { 0.0 },
            p99: if n > 0 { q(0.99) } else { 0.0 },
            max: self.max_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// Rotate the log when it reaches this size, so that a long run does not fill the disk.
const ROTATE_BYTES: u64 = 256 << 20;
/// The writer appends every this often (pacing: the number of lines due since the start).
const WRITE_EVERY: Duration = Duration::from_millis(10);

/// Appends pf lines to `dir/pf.log` at `rate` lines/s until `stop`; rotates by rename to
/// `pf.log.1`, deleting the previous `pf.log.1` only once the daemon has counted all of it
/// (`ingested`), so nothing unread is ever removed.
fn writer(
    dir: &Path,
    rate: u64,
    progress: &Progress,
    ingested: &AtomicU64,
    stop: &AtomicBool,
) -> io::Result<()> {
    let pool = crate::bench::sample_lines(Format::Pf, 4096);
    let lines: Vec<&[u8]> = pool.split_inclusive(|&b| b == b'\n').collect();
    let path = dir.join("pf.log");
    let old = dir.join("pf.log.1");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)?;
    let mut size = 0u64;
    let mut old_ends_at: Option<u64> = None;
    let mut written = 0u64;
    let mut next = 0usize;
    let mut buf = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let due = (u128::from(rate) * start.elapsed().as_micros() / 1_000_000) as u64;
        // At most a second's worth at once: a writer starved of CPU catches up, not in one lump.
        let n = due.saturating_sub(written).min(rate.max(1));
        if n > 0 {
            buf.clear();
            for _ in 0..n {
                buf.extend_from_slice(lines[next]);
                next = (next + 1) % lines.len();
            }
            written += n;
            {
                let mut b = progress.batches.write().unwrap_or_else(|e| e.into_inner());
                b.push((Instant::now(), written));
            }
            file.write_all(&buf)?;
            progress.written.store(written, Ordering::Release);
            size += buf.len() as u64;
            if size >= ROTATE_BYTES {
                let can_drop_old =
                    old_ends_at.is_none_or(|end| ingested.load(Ordering::Acquire) >= end);
                if can_drop_old {
                    if old_ends_at.is_some() {
                        std::fs::remove_file(&old)?;
                    }
                    std::fs::rename(&path, &old)?;
                    file = std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(&path)?;
                    old_ends_at = Some(written);
                    size = 0;
                }
            }
        }
        std::thread::sleep(WRITE_EVERY);
    }
    Ok(())
}

/// [`writer`], then marks the progress final (also when it failed).
fn writer_thread(
    dir: &Path,
    rate: u64,
    progress: &Progress,
    ingested: &AtomicU64,
    stop: &AtomicBool,
) -> io::Result<()> {
    let r = writer(dir, rate, progress, ingested, stop);
    progress.finished.store(true, Ordering::Release);
    r
}

/// The fields of a message a fast client needs; everything else is skipped by serde.
#[derive(serde::Deserialize)]
struct Totals {
    lines: u64,
}

#[derive(serde::Deserialize)]
struct Msg {
    #[serde(rename = "type")]
    kind: String,
    totals: Option<Totals>,
}

/// What a fast client saw.
struct FastOutcome {
    last_lines: u64,
    messages: u64,
    /// The connection ended before we stopped it.
    lost: bool,
}

/// A client that reads every message and records freshness until `stop` turns true.
async fn fast_client(
    mut ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    progress: Arc<Progress>,
    hist: Arc<Histogram>,
    seen: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> FastOutcome {
    let mut out = FastOutcome {
        last_lines: 0,
        messages: 0,
        lost: false,
    };
    let mut cursor: Option<usize> = None;
    loop {
        let m = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            m = ws.next() => m,
        };
        let text = match m {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_)) | Err(_)) | None => {
                out.lost = true;
                break;
            }
            Some(Ok(_)) => continue, // pings are answered by tungstenite while we read
        };
        let at = Instant::now();
        let Ok(msg) = serde_json::from_str::<Msg>(&text) else {
            continue;
        };
        let Some(t) = msg.totals else { continue };
        out.messages += 1;
        out.last_lines = out.last_lines.max(t.lines);
        seen.store(out.last_lines, Ordering::Release);
        match (msg.kind.as_str(), cursor) {
            // A snapshot (first, or after a resync) sets where this client starts measuring.
            ("snapshot", _) | (_, None) => cursor = Some(progress.first_after(t.lines)),
            (_, Some(c)) => {
                let b = progress.batches.read().unwrap_or_else(|e| e.into_inner());
                let mut i = c;
                while i < b.len() && b[i].1 <= t.lines {
                    hist.record(at.saturating_duration_since(b[i].0));
                    i += 1;
                }
                cursor = Some(i);
            }
        }
    }
    let _ = ws.close(None).await;
    out
}

type ClientWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects a WebSocket client; `recv_buffer`: a small kernel receive buffer for the slow ones
/// (so that the daemon's writes block soon and deterministically, whatever the loopback tuning).
async fn connect(addr: SocketAddr, recv_buffer: Option<u32>) -> Result<ClientWs, String> {
    let sock = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
    if let Some(n) = recv_buffer {
        sock.set_recv_buffer_size(n).map_err(|e| e.to_string())?;
    }
    let stream = sock.connect(addr).await.map_err(|e| e.to_string())?;
    let (ws, _) = tokio_tungstenite::client_async(
        format!("ws://{addr}/ws"),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// `GET path` over a fresh connection; the whole response as text.
async fn http_get(addr: SocketAddr, path: &str) -> io::Result<String> {
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "GET timed out"))?
}

/// (lines counted over all sources, slow clients evicted) from `/metrics`.
async fn metrics(addr: SocketAddr) -> io::Result<(u64, u64)> {
    let text = http_get(addr, "/metrics").await?;
    let value = |l: &str| -> u64 {
        l.rsplit(' ')
            .next()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    let mut lines = 0;
    let mut evicted = 0;
    for l in text.lines() {
        if l.starts_with("socwall_lines_total{") {
            lines += value(l);
        } else if l.starts_with("socwall_clients_evicted_slow_total ") {
            evicted = value(l);
        }
    }
    Ok((lines, evicted))
}

fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Shared between the run and its 5-second RSS sampler.
struct Sampler {
    phase: std::sync::Mutex<&'static str>,
    rss: std::sync::Mutex<Vec<(f64, &'static str, u64)>>,
}

/// Runs the load test against an in-process daemon in a fresh temporary directory. Must be
/// called inside a multi-threaded tokio runtime (the daemon, the clients and the samplers share
/// it; the writer is a thread of its own).
pub async fn run(opts: LoadOptions) -> Result<LoadReport, LoadError> {
    let tmp = tempfile::Builder::new()
        .prefix("socwall-load-")
        .tempdir()
        .map_err(io_err("cannot create a temporary directory"))?;
    let dir = tmp.path().to_path_buf();
    std::fs::write(dir.join("pf.log"), b"").map_err(io_err("cannot create the log"))?;
    let result = run_in(&dir, &opts).await;
    drop(tmp);
    result
}

fn daemon_settings(dir: &Path, opts: &LoadOptions) -> Result<Settings, LoadError> {
    let cap = opts.clients + 8;
    let cfg = format!(
        "[server]\nmax_clients = {cap}\nmax_clients_per_address = {cap}\nmax_update_age = \"{}ms\"\n\
         [[source]]\nname = \"load\"\npath = \"{}/pf.log*\"\nformat = \"pf\"\nstart_at = \"beginning\"\n",
        opts.max_update_age.as_millis(),
        dir.display()
    );
    Settings::from_toml(&cfg, "load-test.toml", Vec::new())
        .map_err(|e| LoadError::Config(e.to_string()))
}

async fn run_in(dir: &Path, opts: &LoadOptions) -> Result<LoadReport, LoadError> {
    let say = |s: String| {
        if opts.verbose {
            eprintln!("socwall bench --load: {s}");
        }
    };
    let settings = daemon_settings(dir, opts)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io_err("cannot listen on 127.0.0.1"))?;
    let addr = listener.local_addr().map_err(io_err("local address"))?;
    let (stop_daemon, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(crate::run(listener, settings, async move {
        let _ = stopped.await;
    }));

    let t0 = Instant::now();
    let progress = Arc::new(Progress::default());
    let ingested = Arc::new(AtomicU64::new(0));
    let stop_writer = Arc::new(AtomicBool::new(false));
    let writer = {
        let (dir, progress, ingested, stop) = (
            dir.to_path_buf(),
            progress.clone(),
            ingested.clone(),
            stop_writer.clone(),
        );
        let rate = opts.rate;
        std::thread::Builder::new()
            .name("load-writer".into())
            .spawn(move || writer_thread(&dir, rate, &progress, &ingested, &stop))
            .map_err(io_err("cannot start the writer thread"))?
    };
    // Whatever happens below, the writer and the daemon are stopped before returning.
    let outcome = drive(addr, opts, &progress, &ingested, &stop_writer, t0, &say).await;
    stop_writer.store(true, Ordering::Relaxed);
    let written_ok = tokio::task::spawn_blocking(move || writer.join())
        .await
        .ok()
        .and_then(|j| j.ok());
    let _ = stop_daemon.send(());
    let stopped = tokio::time::timeout(Duration::from_secs(15), daemon).await;
    let mut report = outcome?;
    match written_ok {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            return Err(LoadError::Io {
                what: "the writer failed",
                source: e,
            });
        }
        None => return Err(LoadError::Daemon("the writer thread panicked".into())),
    }
    match stopped {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(LoadError::Daemon(e.to_string())),
        Ok(Err(e)) => return Err(LoadError::Daemon(e.to_string())),
        Err(_) => return Err(LoadError::Timeout("the daemon did not stop within 15 s")),
    }
    report.options_clients = opts.clients;
    report.options_slow = opts.slow;
    report.target_rate = opts.rate;
    Ok(report)
}

/// Polls `/metrics` until `cond(lines, evicted)` holds or `limit` passes; returns the last
/// reading (and updates `ingested` for the writer's rotation).
async fn wait_metrics(
    addr: SocketAddr,
    ingested: &AtomicU64,
    limit: Duration,
    cond: impl Fn(u64, u64) -> bool,
) -> Result<(u64, u64, bool), LoadError> {
    let end = Instant::now() + limit;
    loop {
        let (l, e) = metrics(addr).await.map_err(io_err("GET /metrics"))?;
        ingested.store(l, Ordering::Release);
        if cond(l, e) {
            return Ok((l, e, true));
        }
        if Instant::now() >= end {
            return Ok((l, e, false));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One phase: runs for `opts.duration` polling `/metrics` every 250 ms (recording evictions),
/// and returns its ingestion.
async fn phase(
    addr: SocketAddr,
    opts: &LoadOptions,
    progress: &Progress,
    ingested: &AtomicU64,
    evictions: &mut Vec<f64>,
    slow_since: Option<Instant>,
) -> Result<Phase, LoadError> {
    let (l0, mut seen_evicted) = metrics(addr).await.map_err(io_err("GET /metrics"))?;
    let w0 = progress.written.load(Ordering::Acquire);
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let (mut l1, mut w1);
    loop {
        tick.tick().await;
        w1 = progress.written.load(Ordering::Acquire);
        let (l, e) = metrics(addr).await.map_err(io_err("GET /metrics"))?;
        l1 = l;
        ingested.store(l, Ordering::Release);
        if let Some(since) = slow_since {
            while seen_evicted < e {
                seen_evicted += 1;
                evictions.push(since.elapsed().as_secs_f64());
            }
        }
        if start.elapsed() >= opts.duration {
            break;
        }
    }
    Ok(Phase {
        secs: start.elapsed().as_secs_f64(),
        written: w1 - w0,
        ingested: l1 - l0,
        lag_lines_at_end: w1.saturating_sub(l1),
    })
}

async fn drive(
    addr: SocketAddr,
    opts: &LoadOptions,
    progress: &Arc<Progress>,
    ingested: &AtomicU64,
    stop_writer: &AtomicBool,
    t0: Instant,
    say: &impl Fn(String),
) -> Result<LoadReport, LoadError> {
    let mut report = LoadReport::default();
    let sampler = Arc::new(Sampler {
        phase: std::sync::Mutex::new("start"),
        rss: std::sync::Mutex::new(Vec::new()),
    });
    let sampling = {
        let s = sampler.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                let phase = *s.phase.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(k) = rss_kib() {
                    let mut v = s.rss.lock().unwrap_or_else(|e| e.into_inner());
                    // Bounded: a sample every 5 s, and the runs are bounded (clap caps the duration).
                    v.push((t0.elapsed().as_secs_f64(), phase, k));
                }
            }
        })
    };
    let set_phase = |p: &'static str| *sampler.phase.lock().unwrap_or_else(|e| e.into_inner()) = p;

    // The daemon is up and reading when the first lines are counted.
    let (_, _, up) = wait_metrics(addr, ingested, Duration::from_secs(20), |l, _| l > 0).await?;
    if !up {
        sampling.abort();
        return Err(LoadError::Timeout("no line was ingested within 20 s"));
    }
    let mut evictions = Vec::new();
    if opts.baseline {
        set_phase("baseline");
        say(format!(
            "baseline: {} lines/s for {:?}, no clients",
            opts.rate, opts.duration
        ));
        report.baseline = Some(phase(addr, opts, progress, ingested, &mut evictions, None).await?);
    }

    set_phase("clients");
    let fast_n = opts.clients.saturating_sub(opts.slow);
    say(format!(
        "connecting {fast_n} fast and {} slow clients",
        opts.slow
    ));
    let hist = Arc::new(Histogram::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let last_lines: Vec<Arc<AtomicU64>> =
        (0..fast_n).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let mut fast = Vec::with_capacity(fast_n);
    for (i, seen) in last_lines.iter().enumerate() {
        let ws = connect(addr, None)
            .await
            .map_err(|e| LoadError::Connect(i, e))?;
        fast.push(tokio::spawn(fast_client(
            ws,
            progress.clone(),
            hist.clone(),
            seen.clone(),
            stop_rx.clone(),
        )));
    }
    let mut slow = Vec::with_capacity(opts.slow);
    for i in 0..opts.slow {
        // A 4 KiB receive buffer (the kernel doubles it) and no reads at all.
        slow.push(
            connect(addr, Some(4096))
                .await
                .map_err(|e| LoadError::Connect(fast_n + i, e))?,
        );
    }
    let slow_since = Instant::now();
    say(format!("with clients: {:?}", opts.duration));
    report.loaded = phase(
        addr,
        opts,
        progress,
        ingested,
        &mut evictions,
        Some(slow_since),
    )
    .await?;

    // An eviction comes max_update_age after the daemon's writes to that client block, which is
    // once the kernel buffers are full: wait for all of them (bounded).
    let want = opts.slow as u64;
    let before = evictions.len() as u64;
    let (_, evicted, _) = wait_metrics(
        addr,
        ingested,
        opts.max_update_age + Duration::from_secs(60),
        |_, e| e >= want,
    )
    .await?;
    for _ in before..evicted {
        evictions.push(slow_since.elapsed().as_secs_f64());
    }
    report.evicted = evicted;
    report.evicted_after = evictions;

    // Stop writing and wait until every written line is counted.
    set_phase("drain");
    stop_writer.store(true, Ordering::Relaxed);
    let end = Instant::now() + Duration::from_secs(10);
    while !progress.finished.load(Ordering::Acquire) {
        if Instant::now() >= end {
            return Err(LoadError::Timeout("the writer did not stop within 10 s"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let written = progress.written.load(Ordering::Acquire);
    report.written = written;
    let (lines, _, _) = wait_metrics(addr, ingested, Duration::from_secs(120), |l, _| {
        l >= written
    })
    .await?;
    report.ingested = lines;
    say(format!("drained: {written} written, {lines} counted"));

    // Every fast client still connected must see the final count (the daemon sends an update
    // when the totals change; a lost client cannot, and is reported as lost).
    let end = Instant::now() + Duration::from_secs(10);
    while !last_lines
        .iter()
        .all(|l| l.load(Ordering::Acquire) >= lines)
        && !fast.iter().any(|t| t.is_finished())
        && Instant::now() < end
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    for t in fast {
        match t.await {
            Ok(o) => {
                report.fast_messages += o.messages;
                report.fast_lost += usize::from(o.lost);
                report.fast_final_lines.push(o.last_lines);
            }
            Err(_) => {
                report.fast_lost += 1;
                report.fast_final_lines.push(0);
            }
        }
    }
    report.freshness = hist.summary();

    // The slow clients read now, at last: what the daemon wrote before it dropped them, then
    // the end of the connection (a close frame, EOF or a reset, depending on what was unsent).
    let drains = slow.into_iter().map(|mut ws| async move {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return true,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
        .unwrap_or(false)
    });
    report.slow_closed = futures_util::future::join_all(drains)
        .await
        .into_iter()
        .filter(|c| *c)
        .count();
    sampling.abort();
    report.rss = std::mem::take(&mut *sampler.rss.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(report)
}

/// The machine's load average (1, 5, 15 min), for the report: other work skews the figures.
fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// `socwall bench --load`: runs, prints the report, exits 0 when every criterion passed.
pub fn main(opts: LoadOptions) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("socwall bench --load: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "socwall bench --load: {} clients ({} slow, never reading), {} lines/s of pf, {} s per phase, max_update_age {:?}; {} cores, load average {}",
        opts.clients,
        opts.slow,
        opts.rate,
        opts.duration.as_secs(),
        opts.max_update_age,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average().unwrap_or_else(|| "?".into())
    );
    let report = match rt.block_on(run(opts)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("socwall bench --load: {e}");
            return ExitCode::from(1);
        }
    };
    let _ = report.print(&mut io::stdout().lock());
    println!(
        "load average at the end: {}",
        load_average().unwrap_or_else(|| "?".into())
    );
    if report.passed() {
        println!("PASS");
        ExitCode::SUCCESS
    } else {
        println!("FAIL");
        ExitCode::from(1)
    }
}
