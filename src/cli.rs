//! Command-line interface (clap): `run`, `demo`, `parse`, `check`, `bench`.
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
    /// Validate the config and dashboards, then exit (0 valid, 2 not).
    Check(RunArgs),
    /// Measure parse and pipeline throughput on generated lines (one core).
    Bench {
        /// Lines to generate per format.
        #[arg(long, default_value_t = 2_000_000)]
        lines: usize,
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
        Some(Command::Bench { lines }) => crate::bench::main(lines),
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

fn init_tracing(level: &str) {
    // RUST_LOG wins over the config so an operator can turn up logging without editing files.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
    serve(settings, None)
}

fn check(args: &RunArgs) -> ExitCode {
    let path = config_path(args);
    let settings = match load(&path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    for w in &settings.site.warnings {
        eprintln!("socwall: warning: {w}");
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
