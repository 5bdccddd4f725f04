//! Command-line interface (clap): `run`, `demo`, `parse`, `check`; exit codes 0 ok, 1 runtime
//! failure, 2 bad usage or config.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "socwall",
    version,
    about = "Live SOC video wall: tails firewall logs, pushes rolling metrics to dashboards"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse log files and print one JSON object per input line (`-` reads stdin).
    Parse {
        /// Format: auto, pf, iptables, filterlog.
        #[arg(long, short, default_value = "auto")]
        format: String,
        /// Files to parse; `-` for standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
        Some(Command::Parse { format, files }) => crate::parse::cmd::main(&format, &files),
        None => {
            eprintln!("socwall: the daemon is not wired yet");
            ExitCode::from(1)
        }
    }
}
