//! Command-line interface (clap): `run`, `demo`, `parse`, `replay`, `check`, `bench`.
//! Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};

use crate::config::{DEFAULT_CONFIG_PATH, Settings};

#[derive(Parser, Debug)]
#[command(
    name = "socwall",
    version,
    about = "Live SOC video wall: tails firewall logs, keeps rolling metrics, pushes them to wall dashboards",
    after_help = "With no subcommand, `socwall` runs the daemon (`socwall run`)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Config file [env: SOCWALL_CONFIG; default /etc/socwall/socwall.toml].
    #[arg(long, short, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: tail the configured sources and serve the wall.
    Run(RunArgs),
    /// Run a self-contained demo: generated pf and iptables logs with incidents, tailed live.
    Demo {
        /// Address to serve the wall on.
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
        listen: SocketAddr,
        /// Background lines per second written across the demo feeds (incidents add on top).
        #[arg(long, default_value_t = 300, value_name = "LINES_PER_S", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        rate: u32,
        /// Write the demo logs here instead of a temporary directory (kept afterwards).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Parse log files and print one JSON object per input line (`-` reads stdin).
    Parse {
        /// Format: auto, or one of pf, iptables, filterlog, zeek, eve, yaf, asa, netscreen, srx,
        /// mikrotik, panos, cef, leef, fortigate, checkpoint, sonicwall, watchguard, sophos,
        /// stormshield, clavister, barracuda, meraki, vpcflow, netflow (each file = one packet).
        #[arg(long, short, default_value = "auto")]
        format: String,
        /// Files to parse; `-` for standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Replay old logs on event time: the clock comes from the log timestamps. With
    /// --anomalies-out, run at full speed, write every anomaly raised and exit; without it, serve
    /// the wall while replaying (an incident walkthrough).
    Replay {
        /// Format of every file: auto (detected per file) or one of the `parse` formats.
        #[arg(long, short, default_value = "auto")]
        format: String,
        /// N: N times faster than real time; max: as fast as possible (serving only).
        #[arg(long, default_value = "1", value_name = "N|max")]
        speed: String,
        /// Write every anomaly raised as JSON lines (kind, entity, severity, first_seen,
        /// last_seen, summary) to FILE (`-`: stdout), at full speed, then exit.
        #[arg(long, value_name = "FILE")]
        anomalies_out: Option<PathBuf>,
        /// Address to serve the wall on (without --anomalies-out).
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
        listen: SocketAddr,
        /// Config file for the site's settings ([aggregate], detectors, dashboards, [server]);
        /// its [[source]] entries are ignored. Default: built-in defaults.
        #[arg(long, short, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Year of syslog dates that print none (default: this year, future dates last year).
        #[arg(long, value_name = "YEAR")]
        year: Option<i32>,
        /// Events older than the replay clock minus this many seconds are late: counted, not
        /// put in the windows.
        #[arg(long, default_value_t = 5, value_name = "SECONDS")]
        tolerance: u64,
        /// Log files, merged by time; `-` reads stdin.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write a seeded, labelled scenario (pf and iptables logs with injected incidents of every
    /// detector kind) for `socwall replay`; prints the incident labels as JSON lines.
    Scenario {
        /// Directory for edge-pf.log, core-iptables.log, branch-iptables.log, and the site's
        /// socwall.toml and watchlist.txt (created).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Event time covered, in minutes.
        #[arg(long, default_value_t = 135, value_parser = clap::value_parser!(u64).range(1..=10_080))]
        minutes: u64,
        /// Background lines per second across the three feeds.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        rate: u32,
        #[arg(long, default_value_t = 4)]
        seed: u64,
        /// Benign background only, no incidents.
        #[arg(long)]
        benign: bool,
    },
    /// Validate the config and dashboards, then exit (0 valid, 2 not).
    Check(RunArgs),
    /// Measure parse and pipeline throughput on generated lines (one core).
    Bench {
        /// Lines to generate per format.
        #[arg(long, default_value_t = 2_000_000)]
        lines: usize,
        /// Instead: the memory benchmark. Replay N distinct source addresses over 10 minutes of
        /// event time with planted incidents; print peak RSS and which incidents were reported.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=200_000_000))]
        flood: Option<u64>,
        /// Instead: the load test (docs/PERFORMANCE.md). The real daemon on loopback, a writer
        /// appending --rate lines/s, first without clients, then with --clients WebSocket
        /// clients of which --slow never read; PASS/FAIL per criterion, exit 1 on a FAIL.
        #[arg(long, conflicts_with = "flood")]
        load: bool,
        /// --load: WebSocket clients in all.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        clients: u64,
        /// --load: of those, clients that never read (must be evicted).
        #[arg(long, default_value_t = 10)]
        slow: u64,
        /// --load: lines appended per second.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        rate: u64,
        /// --load: seconds per phase (without clients, then with them).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        duration: u64,
    },
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        None => run(&cli.run),
        Some(Command::Run(args)) => run(&args),
        Some(Command::Check(args)) => check(&args),
        Some(Command::Parse { format, files }) => crate::parse::cmd::main(&format, &files),
        Some(Command::Demo { listen, rate, dir }) => demo(listen, rate, dir),
        Some(Command::Bench {
            load: true,
            clients,
            slow,
            rate,
            duration,
            ..
        }) => {
            if slow > clients {
                eprintln!("socwall bench --load: --slow {slow} is more than --clients {clients}");
                return ExitCode::from(2);
            }
            crate::load::main(crate::load::LoadOptions {
                clients: clients as usize,
                slow: slow as usize,
                rate,
                duration: std::time::Duration::from_secs(duration),
                ..crate::load::LoadOptions::default()
            })
        }
        Some(Command::Bench {
            lines, flood: None, ..
        }) => crate::bench::main(lines),
        Some(Command::Bench { flood: Some(n), .. }) => crate::bench::flood(n),
        Some(Command::Scenario {
            out,
            minutes,
            rate,
            seed,
            benign,
        }) => scenario(&out, minutes, rate, seed, benign),
        Some(Command::Replay {
            format,
            speed,
            anomalies_out,
            listen,
            config,
            year,
            tolerance,
            files,
        }) => replay(ReplayArgs {
            format,
            speed,
            anomalies_out,
            listen,
            config,
            year,
            tolerance,
            files,
        }),
    }
}

fn config_path(args: &RunArgs) -> PathBuf {
    args.config
        .clone()
        .or_else(|| std::env::var_os("SOCWALL_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

fn load(path: &Path) -> Result<Settings, ExitCode> {
    Settings::load(path).map_err(|e| {
        eprintln!("socwall: {e}");
        ExitCode::from(2)
    })
}

/// The daemon's log filter: `RUST_LOG` if set (an operator can turn up logging without editing
/// files), else `level` from the config. Whatever it says, tungstenite stays at `debug` or
/// quieter: its `trace` lines print message payloads, and a socket's first message may carry a
/// viewer token.
pub fn log_filter(level: &str) -> tracing_subscriber::EnvFilter {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    match "tungstenite=debug".parse() {
        Ok(cap) => filter.add_directive(cap),
        Err(_) => filter,
    }
}

fn init_tracing(level: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(log_filter(level))
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("socwall: cannot start the runtime: {e}");
            ExitCode::from(1)
        })
}

fn serve(settings: Settings, banner: Option<String>) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(settings.server.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "socwall: cannot listen on {}: {e} (is another socwall running? pick another address with --listen or [server] listen)",
                    settings.server.listen
                );
                return ExitCode::from(1);
            }
        };
        if let Some(b) = banner {
            let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
            println!("{}", b.replace("{addr}", &addr));
        }
        match crate::run(listener, settings, crate::shutdown::os_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(crate::daemon::RunError::Config(errors)) => {
                for e in errors {
                    eprintln!("socwall: {e}");
                }
                ExitCode::from(2)
            }
            Err(e @ (crate::daemon::RunError::Unprotected(_) | crate::daemon::RunError::Tls(_))) => {
                eprintln!("socwall: {e}");
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("socwall: {e}");
                ExitCode::from(1)
            }
        }
    })
}

fn run(args: &RunArgs) -> ExitCode {
    let path = config_path(args);
    let settings = match load(&path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    init_tracing(&settings.log_level);
    if settings.sources.is_empty() {
        tracing::warn!(config = %path.display(), "no [[source]] configured: the wall will stay empty");
    }
    for w in web_warnings(&path, &settings) {
        tracing::warn!("{w}");
    }
    serve(settings, None)
}

/// Things that work but deserve a second look: tokens over plain HTTP off loopback, a config file
/// with tokens that anyone on the machine can read.
fn web_warnings(path: &Path, settings: &Settings) -> Vec<String> {
    let mut out = Vec::new();
    let Some(auth) = &settings.auth else {
        return out;
    };
    let listen = settings.server.listen;
    if settings.server.tls.is_none() && !listen.ip().to_canonical().is_loopback() {
        out.push(format!(
            "viewer tokens and cookies travel unencrypted on {listen}: add [server.tls] or put a TLS-terminating reverse proxy in front (docs/security.md)"
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if !auth.tokens.is_empty()
            && let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o004 != 0
        {
            out.push(format!(
                "{} holds viewer tokens and is readable by every user: chmod o-r it",
                path.display()
            ));
        }
    }
    out
}

fn check(args: &RunArgs) -> ExitCode {
    let path = config_path(args);
    let settings = match load(&path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(tls) = &settings.server.tls
        && let Err(e) = crate::web::tls::check(tls)
    {
        eprintln!(
            "socwall: {}",
            crate::config::error_at(&path, e.config_key(), e.to_string())
        );
        return ExitCode::from(2);
    }
    for w in settings
        .site
        .warnings
        .iter()
        .cloned()
        .chain(web_warnings(&path, &settings))
    {
        eprintln!("socwall check: warning: {w}");
    }
    match crate::dashboard::Dashboards::load(
        settings.dashboards.dir.as_deref(),
        &settings.dashboards.default,
    ) {
        Ok(d) => {
            println!(
                "socwall check: {} is valid: {} source(s), dashboards: {}; playlists: {}",
                path.display(),
                settings.sources.len(),
                d.by_name.keys().cloned().collect::<Vec<_>>().join(", "),
                d.playlists.keys().cloned().collect::<Vec<_>>().join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in errors {
                eprintln!("socwall: {e}");
            }
            ExitCode::from(2)
        }
    }
}

fn demo(listen: SocketAddr, rate: u32, dir: Option<PathBuf>) -> ExitCode {
    init_tracing("warn");
    if !listen.ip().to_canonical().is_loopback() {
        eprintln!(
            "socwall demo: the demo has no viewer tokens, so it serves on loopback only; use --listen 127.0.0.1:PORT (and an SSH tunnel to show it elsewhere), or `socwall run` with [auth] (docs/security.md)"
        );
        return ExitCode::from(2);
    }
    // The temp dir lives until this function returns; the generator is stopped before that.
    let (tmp, dir) = match dir {
        Some(d) => (None, d),
        None => match tempfile::Builder::new().prefix("socwall-demo-").tempdir() {
            Ok(t) => {
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
            Err(e) => {
                eprintln!("socwall demo: cannot create a temporary directory: {e}");
                return ExitCode::from(1);
            }
        },
    };
    let mut settings = crate::demo::settings(&dir, &Settings::default());
    settings.server.listen = listen;
    let stop = Arc::new(AtomicBool::new(false));
    let opts = crate::demo::Options {
        dir: dir.clone(),
        rate,
        cycle: std::time::Duration::from_secs(300),
        seed: crate::time::now_micros() as u64,
        rotate_bytes: 16 << 20,
    };
    let generator = match crate::demo::spawn(opts, stop.clone()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!(
                "socwall demo: cannot write demo logs in {}: {e}",
                dir.display()
            );
            return ExitCode::from(1);
        }
    };
    let code = serve(
        settings,
        Some(format!(
            "socwall demo: open http://{{addr}}/  (logs in {})",
            dir.display()
        )),
    );
    stop.store(true, Ordering::Relaxed);
    let _ = generator.join();
    drop(tmp);
    code
}

struct ReplayArgs {
    format: String,
    speed: String,
    anomalies_out: Option<PathBuf>,
    listen: SocketAddr,
    config: Option<PathBuf>,
    year: Option<i32>,
    tolerance: u64,
    files: Vec<PathBuf>,
}

fn replay(a: ReplayArgs) -> ExitCode {
    use crate::replay::{Replay, ReplayOptions, Speed};
    let format = match a.format.as_str() {
        "auto" => crate::parse::FormatSpec::Auto,
        name => match crate::parse::Format::from_name(name) {
            Some(crate::parse::Format::Netflow) | None => {
                let valid: Vec<&str> = crate::parse::Format::names()
                    .filter(|n| *n != "netflow")
                    .collect();
                eprintln!(
                    "socwall replay: unknown format {name:?}; valid formats: auto, {}",
                    valid.join(", ")
                );
                return ExitCode::from(2);
            }
            Some(f) => crate::parse::FormatSpec::Fixed(f),
        },
    };
    let speed: Speed = match a.speed.parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("socwall replay: --speed: {e}");
            return ExitCode::from(2);
        }
    };
    let mut settings = match &a.config {
        Some(p) => match load(p) {
            Ok(s) => s,
            Err(code) => return code,
        },
        None => Settings::default(),
    };
    init_tracing(if a.config.is_some() {
        &settings.log_level
    } else {
        "warn"
    });
    settings.server.listen = a.listen;
    // Serving needs the dashboards: check them before reading anything.
    if a.anomalies_out.is_none() {
        if let Err(errors) = crate::dashboard::Dashboards::load(
            settings.dashboards.dir.as_deref(),
            &settings.dashboards.default,
        ) {
            for e in errors {
                eprintln!("socwall: {e}");
            }
            return ExitCode::from(2);
        }
    }
    let verdicts: &'static _ = Box::leak(Box::new(settings.iptables_verdicts.clone()));
    let opts = ReplayOptions {
        format,
        tolerance: std::time::Duration::from_secs(a.tolerance),
        year: a.year,
        aggregate: crate::daemon::aggregate_settings(&settings, Vec::new()),
        verdicts,
        record: a.anomalies_out.is_some(),
    };
    let inputs = match crate::replay::open_inputs(&a.files) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("socwall replay: {e}");
            return ExitCode::from(1);
        }
    };
    let replay = match Replay::new(opts, inputs) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("socwall replay: {e}");
            return ExitCode::from(1);
        }
    };
    match a.anomalies_out {
        Some(out) => replay_to_file(replay, &out),
        None => replay_serve(replay, speed, settings),
    }
}

fn replay_to_file(replay: crate::replay::Replay, out: &Path) -> ExitCode {
    let report = match replay.run_to_end() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("socwall replay: {e}");
            return ExitCode::from(1);
        }
    };
    let written = if out.as_os_str() == "-" {
        report.write_anomalies(&mut std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        std::fs::File::create(out)
            .and_then(|f| report.write_anomalies(&mut std::io::BufWriter::new(f)))
    };
    if let Err(e) = written {
        eprintln!("socwall replay: cannot write {}: {e}", out.display());
        return ExitCode::from(1);
    }
    eprintln!(
        "socwall replay: {}; {} anomalies raised",
        crate::replay::summary(&report.stats),
        report.anomalies.len()
    );
    ExitCode::SUCCESS
}

fn replay_serve(
    replay: crate::replay::Replay,
    speed: crate::replay::Speed,
    settings: Settings,
) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(settings.server.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "socwall replay: cannot listen on {}: {e} (pick another address with --listen)",
                    settings.server.listen
                );
                return ExitCode::from(1);
            }
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        println!("socwall replay: open http://{addr}/  (Ctrl-C to stop)");
        match crate::replay::serve(
            listener,
            &settings,
            replay,
            speed,
            crate::shutdown::os_signal(),
            None,
        )
        .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(crate::replay::ReplayError::Config(errors)) => {
                for e in errors {
                    eprintln!("socwall: {e}");
                }
                ExitCode::from(2)
            }
            Err(e @ crate::replay::ReplayError::Unprotected(_)) => {
                eprintln!("socwall replay: {e}");
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("socwall replay: {e}");
                ExitCode::from(1)
            }
        }
    })
}

fn scenario(out: &Path, minutes: u64, rate: u32, seed: u64, benign: bool) -> ExitCode {
    let opts = crate::scenario::ScenarioOptions {
        seed,
        rate,
        duration: std::time::Duration::from_secs(minutes * 60),
        incidents: !benign,
        ..crate::scenario::ScenarioOptions::default()
    };
    let year = crate::time::year_of(opts.start);
    match crate::scenario::write_files(&opts, out) {
        Ok((labels, _, _)) => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            for l in &labels {
                let line = serde_json::json!({
                    "kind": l.kind,
                    "name": l.name,
                    "keys": l.keys,
                    "start": crate::time::format_rfc3339_millis(l.start).to_string(),
                    "end": crate::time::format_rfc3339_millis(l.end).to_string(),
                });
                if writeln!(stdout, "{line}").is_err() {
                    break; // a closed pipe (| head) is not an error here
                }
            }
            eprintln!(
                "socwall scenario: wrote {dir}; replay with: socwall replay --config {dir}/socwall.toml --year {year} --anomalies-out - {dir}/*.log",
                dir = out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("socwall scenario: cannot write {}: {e}", out.display());
            ExitCode::from(1)
        }
    }
}
