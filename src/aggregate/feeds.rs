//! Feed health per source: counters, arrival times, last error sample, detected format, tail
//! info set from outside, state (`waiting` / `ok` / `quiet` / `silent`), and per-feed rings
//! (per second for 1 h, per minute for 7 days) for rates, the sparkline and `series`.
//!
//! All times are arrival times (`now` of the batch); only `last_event_ts` is the log's own clock.

use crate::event::Micros;
use crate::parse::Format;

use super::snapshot::{IoErrorOut, LastError, SourceOut, opt_time, rfc3339_millis};
use super::window::Ring;

/// Characters of an offending line kept in `last_error`.
pub const ERROR_LINE_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    Waiting,
    Ok,
    Quiet,
    Silent,
}

impl FeedState {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedState::Waiting => "waiting",
            FeedState::Ok => "ok",
            FeedState::Quiet => "quiet",
            FeedState::Silent => "silent",
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct FeedCounts {
    pub lines: u64,
    pub events: u64,
}

pub struct Feed {
    pub name: String,
    pub quiet_after: Micros,
    pub silent_after: Micros,
    pub lines: u64,
    pub events: u64,
    pub skipped: u64,
    pub parse_errors: u64,
    pub overlong: u64,
    pub last_line_at: Option<Micros>,
    pub last_event_at: Option<Micros>,
    pub last_event_ts: Option<Micros>,
    /// (at, reason, first 200 chars); the String is reused so errors do not allocate per batch.
    pub last_error: Option<(Micros, &'static str, String)>,
    pub format: Option<Format>,
    pub files_open: u64,
    pub lag_bytes: u64,
    /// Set from the tailer's current problem (see `Aggregator::set_io_error`).
    pub io_error: Option<IoErrorOut>,
    pub secs: Ring<FeedCounts>,
    pub mins: Ring<u64>,
}

impl Feed {
    pub fn new(name: String, quiet_after: Micros, silent_after: Micros) -> Self {
        Feed {
            name,
            quiet_after,
            silent_after,
            lines: 0,
            events: 0,
            skipped: 0,
            parse_errors: 0,
            overlong: 0,
            last_line_at: None,
            last_event_at: None,
            last_event_ts: None,
            last_error: None,
            format: None,
            files_open: 0,
            lag_bytes: 0,
            io_error: None,
            secs: Ring::new(3600),
            mins: Ring::new(10_080),
        }
    }

    pub fn state(&self, now: Micros) -> FeedState {
        match self.last_line_at {
            None => FeedState::Waiting,
            Some(t) if now - t >= self.silent_after => FeedState::Silent,
            Some(t) if now - t >= self.quiet_after => FeedState::Quiet,
            Some(_) => FeedState::Ok,
        }
    }

    pub fn set_error(&mut self, at: Micros, reason: &'static str, line: &str) {
        let end = line
            .char_indices()
            .nth(ERROR_LINE_CHARS)
            .map_or(line.len(), |(i, _)| i);
        match &mut self.last_error {
            Some((a, r, l)) => {
                *a = at;
                *r = reason;
                l.clear();
                l.push_str(&line[..end]);
            }
            None => self.last_error = Some((at, reason, line[..end].to_string())),
        }
    }

    /// Sum over the `n` complete seconds before `sec`.
    pub fn recent(&self, sec: i64, n: i64) -> FeedCounts {
        let mut acc = FeedCounts::default();
        for s in sec - n..sec {
            if let Some(c) = self.secs.get(s) {
                acc.lines += c.lines;
                acc.events += c.events;
            }
        }
        acc
    }

    pub fn out(&self, now: Micros, rate_window_s: i64) -> SourceOut {
        let sec = now.div_euclid(1_000_000);
        let r = self.recent(sec, rate_window_s);
        SourceOut {
            name: self.name.clone(),
            format: self.format.map(Format::name),
            state: self.state(now).as_str(),
            files: self.files_open,
            lines: self.lines,
            events: self.events,
            skipped: self.skipped,
            parse_errors: self.parse_errors,
            overlong: self.overlong,
            lines_per_s: r.lines as f64 / rate_window_s as f64,
            events_per_s: r.events as f64 / rate_window_s as f64,
            last_event_at: opt_time(self.last_event_at),
            last_event_ts: opt_time(self.last_event_ts),
            last_line_at: opt_time(self.last_line_at),
            lag_bytes: self.lag_bytes,
            last_error: self
                .last_error
                .as_ref()
                .map(|(at, reason, line)| LastError {
                    at: rfc3339_millis(*at),
                    reason,
                    line: line.clone(),
                }),
            io_error: self.io_error.clone(),
            rate: (sec - 59..=sec)
                .map(|s| self.secs.get(s).map_or(0, |c| c.events))
                .collect(),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.secs.heap_bytes()
            + self.mins.heap_bytes()
            + self.name.capacity()
            + ERROR_LINE_CHARS * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_sample_truncated_on_char_boundary() {
        let mut f = Feed::new("a".into(), 60_000_000, 300_000_000);
        let line = "é".repeat(300);
        f.set_error(5, "bad", &line);
        let (_, _, l) = f.last_error.as_ref().unwrap();
        assert_eq!(l.chars().count(), 200);
        f.set_error(6, "short", "xyz");
        assert_eq!(f.last_error.as_ref().unwrap().2, "xyz");
    }
}
