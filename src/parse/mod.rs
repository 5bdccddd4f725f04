//! Parsers: pure functions from one log line (`&[u8]`) to an [`Outcome`], plus format detection.
//!
//! Contract (see docs/PARSE.md): never panic, never allocate per line on the hot path, no regex.
//! A line that is not a traffic event is `Skipped`; a line that should be one but cannot be read
//! is `Error`. Both carry a static reason so counting them costs nothing.

use crate::event::{Event, Micros};

/// A log format socwall can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Pf,
    Iptables,
    Filterlog,
}

impl Format {
    /// Every concrete format, in the order auto-detection tries them.
    pub const ALL: &'static [Format] = &[Format::Filterlog, Format::Iptables, Format::Pf];

    pub fn name(self) -> &'static str {
        match self {
            Format::Pf => "pf",
            Format::Iptables => "iptables",
            Format::Filterlog => "filterlog",
        }
    }

    pub fn from_name(s: &str) -> Option<Format> {
        Format::ALL.iter().copied().find(|f| f.name() == s)
    }
}

/// What a source is configured to read: one format, or detect it from the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatSpec {
    Auto,
    Fixed(Format),
}

/// Parse context: what a pure parser needs to know beyond the line itself.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Year assumed for syslog dates that print none.
    pub year: i32,
    /// "Now", to pull a year-less date that would lie in the future back into last year.
    pub now: Micros,
}

/// The result of parsing one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    Event(Event<'a>),
    /// Not a traffic event (header, comment, another program's message); the reason says which.
    Skipped(&'static str),
    /// Looked like this format but could not be read; the reason says what was wrong.
    Error(&'static str),
}

pub mod cmd;
