//! `socwall parse`: read files (or stdin), print one JSON object per input line.

use std::path::PathBuf;
use std::process::ExitCode;

/// Entry point of the subcommand; returns the process exit code.
pub fn main(format: &str, files: &[PathBuf]) -> ExitCode {
    let _ = (format, files);
    eprintln!("socwall parse: not implemented yet");
    ExitCode::from(1)
}
