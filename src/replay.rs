//! Event-time replay (`socwall replay`): old logs fed through the live pipeline — the same
//! parsers, the same [`Aggregator`] and detection engine — with the clock taken from the logs'
//! own timestamps instead of the arrival time.
//!
//! Clock: one replay clock that only moves forward. Several inputs are merged by time (each
//! input is assumed roughly in order, as log files are); a line without a timestamp takes the
//! current clock; an event older than `clock − tolerance` is *late*: its line is counted for its
//! feed, the event is counted in [`ReplayStats::late`] and is not put in any window. Events late
//! by less than the tolerance are counted at the current clock.
//!
//! Batches: records are grouped per input and per second of event time, and handed to
//! [`Aggregator::ingest`] with `now` = the clock when the second closes (at most
//! [`BATCH_MAX`] records per batch). The detectors' once-per-second evaluation
//! ([`Aggregator::detect_tick`]) runs for every second of event time that passes, gaps included
//! (gaps longer than [`GAP_TICKS_MAX`] seconds are ticked for that long, then jumped).
//!
//! Two ways to run it: [`Replay::run_to_end`] as fast as possible, recording every anomaly raised
//! (what `--anomalies-out` writes and the scenario tests check), or [`serve`]: the wall served on
//! a listener while the replay runs at a chosen speed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::aggregate::{
    AggregateSettings, Aggregator, ErrorSample, EventBatch, SourceSettings, Step,
};
use crate::config::Settings;
use crate::detect::{AnomalyChange, AnomalyOut, Kind};
use crate::event::{Micros, Record};
use crate::hub::{self, Frame, HubStats, Published};
use crate::parse::cmd::{Line, LineReader};
use crate::parse::{AutoDetector, Ctx, Format, FormatSpec, Outcome, State, parse_line_with};
use crate::shutdown::{self, Shutdown};
use crate::web::{self, AnomaliesRequest, SeriesRequest, WebState};

const US: i64 = 1_000_000;
/// Default tolerance for out-of-order events.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5);
/// Most records in one batch handed to the aggregator.
pub const BATCH_MAX: usize = 4096;
/// Longest gap of event time ticked second by second (3 h); beyond it the clock jumps.
pub const GAP_TICKS_MAX: i64 = 3 * 3600;
/// How much of a bad line a feed keeps as its last error.
const SAMPLE_CHARS: usize = 200;

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot read {name}: {source}")]
    Read { name: String, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: io::Error,
    },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Config(Vec<crate::config::ConfigError>),
    #[error("the replay thread stopped unexpectedly")]
    Thread,
    #[error(
        "refusing to serve the replay on {0} without [auth]: only loopback addresses may go without viewer tokens (docs/security.md)"
    )]
    Unprotected(std::net::SocketAddr),
}

/// A source of lines: one replayed feed.
pub trait LineSource: Send {
    /// Reads the next line into `buf` (cleared first, without its newline). `Ok(None)` at the
    /// end; `Ok(Some(false))` for a line longer than the parser's limit (its bytes are dropped).
    fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<bool>>;
}

/// Any buffered reader, split on `\n` with the same line cap as `socwall parse`.
struct Reader<R>(LineReader<R>);

impl<R: BufRead + Send> LineSource for Reader<R> {
    fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<bool>> {
        buf.clear();
        Ok(match self.0.next_line()? {
            None => None,
            Some(Line::Text(t)) => {
                buf.extend_from_slice(t);
                Some(true)
            }
            Some(Line::TooLong) => Some(false),
        })
    }
}

/// One input of a replay: a feed name (shown on the wall) and its lines.
pub struct Input {
    pub name: String,
    src: Box<dyn LineSource>,
}

impl Input {
    /// A log file; the feed is named after the file name.
    pub fn file(path: &Path) -> Result<Input, ReplayError> {
        let f = File::open(path).map_err(|source| ReplayError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Ok(Input::reader(name, BufReader::with_capacity(256 << 10, f)))
    }

    /// Lines from any buffered reader (stdin, an in-memory buffer).
    pub fn reader(name: impl Into<String>, r: impl BufRead + Send + 'static) -> Input {
        Input {
            name: name.into(),
            src: Box::new(Reader(LineReader::new(r))),
        }
    }

    /// Lines from a generator (benchmarks: no file, no buffer of the whole input).
    pub fn lines(name: impl Into<String>, src: impl LineSource + 'static) -> Input {
        Input {
            name: name.into(),
            src: Box::new(src),
        }
    }
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Format of every input (`Auto`: detected per input).
    pub format: FormatSpec,
    /// Events older than `clock − tolerance` are late (counted, not ingested).
    pub tolerance: Duration,
    /// Year assumed for syslog dates that print none (default: the current year, dates after
    /// today taken as last year's, as `socwall parse` does).
    pub year: Option<i32>,
    /// Aggregator and detector settings. `sources` empty: one default source per input, named
    /// after it.
    pub aggregate: AggregateSettings,
    /// Iptables verdict words.
    pub verdicts: &'static crate::parse::VerdictWords,
    /// Record every anomaly raised ([`ReplayReport::anomalies`]). Off when serving: the wall's
    /// own WebSocket messages take the anomaly changes.
    pub record: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            format: FormatSpec::Auto,
            tolerance: DEFAULT_TOLERANCE,
            year: None,
            aggregate: AggregateSettings::default(),
            verdicts: crate::parse::VerdictWords::default_static(),
            record: true,
        }
    }
}

/// Counters of one replay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayStats {
    pub lines: u64,
    /// Events ingested into the windows.
    pub events: u64,
    /// Events older than `clock − tolerance`: counted, dropped from the windows.
    pub late: u64,
    /// Events out of order by less than the tolerance (ingested at the current clock).
    pub reordered: u64,
    pub skipped: u64,
    pub parse_errors: u64,
    pub overlong: u64,
    /// Lines without a timestamp (they took the replay clock).
    pub untimed: u64,
    /// Event time of the first and last timestamp seen.
    pub first_ts: Option<Micros>,
    pub last_ts: Option<Micros>,
    /// Per-second detector evaluations run.
    pub ticks: u64,
}

/// One anomaly raised during a replay, as `--anomalies-out` writes it (one JSON object a line).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Raised {
    pub kind: Kind,
    pub entity: String,
    /// Peak severity reached, 0–100.
    pub severity: u8,
    #[serde(serialize_with = "ser_time")]
    pub first_seen: Micros,
    #[serde(serialize_with = "ser_time")]
    pub last_seen: Micros,
    /// The latest summary.
    pub summary: String,
}

fn ser_time<S: serde::Serializer>(t: &Micros, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&crate::time::format_rfc3339_millis(*t))
}

/// What a finished replay hands back.
#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    pub stats: ReplayStats,
    /// Every anomaly raised, by first_seen (then kind, entity). Empty unless recording.
    pub anomalies: Vec<Raised>,
}

impl ReplayReport {
    /// Writes [`ReplayReport::anomalies`] as JSON lines.
    pub fn write_anomalies(&self, out: &mut impl Write) -> io::Result<()> {
        for a in &self.anomalies {
            serde_json::to_writer(&mut *out, a)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

/// Keeps every anomaly raised, by its id (a closed and re-opened anomaly gets a new id, so a
/// new line). Fed from the anomaly changes of every tick (open, severity moves, close — a close
/// carries the anomaly's final span, peak and summary), and from the open list at the end, or
/// whenever a tick's changes may have been cut at the aggregator's cap.
#[derive(Debug, Default)]
struct Recorder {
    by_id: HashMap<String, Raised>,
}

/// Changes kept by the aggregator between two takes; a tick with this many may have lost some.
const CHANGES_CAP: usize = 256;

fn parse_time(s: &str) -> Option<Micros> {
    crate::time::parse_rfc3339(s.as_bytes()).map(|(t, _)| t)
}

impl Recorder {
    fn note(&mut self, a: &AnomalyOut) {
        let (Some(first), Some(last)) = (parse_time(&a.first_seen), parse_time(&a.last_seen))
        else {
            return;
        };
        let sev = a.peak_severity.max(a.severity);
        match self.by_id.get_mut(&a.id) {
            Some(r) => {
                r.severity = r.severity.max(sev);
                r.first_seen = r.first_seen.min(first);
                if last >= r.last_seen {
                    r.last_seen = last;
                    r.summary.clone_from(&a.summary);
                }
            }
            None => {
                self.by_id.insert(
                    a.id.clone(),
                    Raised {
                        kind: a.kind,
                        entity: a.entity.clone(),
                        severity: sev,
                        first_seen: first,
                        last_seen: last,
                        summary: a.summary.clone(),
                    },
                );
            }
        }
    }

    /// After a tick: its changes; the whole open list too when they may have been cut.
    fn after_tick(&mut self, agg: &Aggregator, now: Micros, changes: &[AnomalyChange]) {
        for c in changes {
            self.note(&c.anomaly);
        }
        if changes.len() >= CHANGES_CAP {
            self.poll(agg, now);
        }
    }

    fn poll(&mut self, agg: &Aggregator, now: Micros) {
        for a in &agg.anomalies(now, usize::MAX) {
            self.note(a);
        }
    }

    fn finish(self) -> Vec<Raised> {
        let mut v: Vec<Raised> = self.by_id.into_values().collect();
        v.sort_by(|a, b| {
            a.first_seen
                .cmp(&b.first_seen)
                .then(a.kind.cmp(&b.kind))
                .then_with(|| a.entity.cmp(&b.entity))
        });
        v
    }
}

enum Parser {
    Fixed(Format, State),
    Auto(AutoDetector),
}

/// What the next line of an input turned out to be.
#[derive(Debug, Clone, Copy)]
enum Item {
    Event(Record),
    Skipped,
    Error(&'static str),
}

/// One input's state: its reader, parser, the next line (parsed ahead for the merge by time)
/// and the batch being filled.
struct Feed {
    src: Box<dyn LineSource>,
    parser: Parser,
    buf: Vec<u8>,
    /// The next line: what it is, its timestamp, whether it was cut as overlong.
    next: Option<(Item, Option<Micros>, bool)>,
    batch: EventBatch,
    /// The last bad line of the current batch (copied into reused capacity).
    err_line: Vec<u8>,
    err_reason: Option<&'static str>,
}

impl Feed {
    fn read_next(&mut self, ctx: &Ctx, name: &str) -> Result<(), ReplayError> {
        self.next = match self.src.next_line(&mut self.buf) {
            Err(source) => {
                return Err(ReplayError::Read {
                    name: name.to_string(),
                    source,
                });
            }
            Ok(None) => None,
            Ok(Some(false)) => Some((Item::Error("line too long"), None, true)),
            Ok(Some(true)) => {
                let o = match &mut self.parser {
                    Parser::Fixed(f, st) => parse_line_with(*f, &self.buf, ctx, st),
                    Parser::Auto(d) => d.feed(&self.buf, ctx).1,
                };
                Some(match o {
                    Outcome::Event(e) => (Item::Event(e.record()), e.ts, false),
                    Outcome::Skipped(_) => (Item::Skipped, None, false),
                    Outcome::Error(r) => (Item::Error(r), None, false),
                })
            }
        };
        Ok(())
    }

    fn format(&self) -> Option<Format> {
        match &self.parser {
            Parser::Fixed(f, _) => Some(*f),
            Parser::Auto(d) => d.current(),
        }
    }
}

/// How far [`Replay::step`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Every input is read to its end (the last batches are ingested).
    Done,
    /// The next line lies after `until` (the clock was moved to `until`).
    Paused,
    /// The line budget ran out first.
    Budget,
}

/// A replay in progress.
pub struct Replay {
    names: Vec<String>,
    feeds: Vec<Feed>,
    ctx: Ctx,
    tolerance: Micros,
    settings: Option<AggregateSettings>,
    /// Created at the first timestamp (its start and learning period are in event time).
    agg: Option<Aggregator>,
    clock: Option<Micros>,
    stats: ReplayStats,
    recorder: Option<Recorder>,
    done: bool,
}

impl Replay {
    /// Opens a replay over `inputs` (reads the first line of each).
    pub fn new(opts: ReplayOptions, inputs: Vec<Input>) -> Result<Replay, ReplayError> {
        let ctx = match opts.year {
            Some(year) => Ctx {
                year,
                now: i64::MAX,
                verdicts: opts.verdicts,
            },
            None => Ctx {
                verdicts: opts.verdicts,
                ..Ctx::now()
            },
        };
        let mut settings = opts.aggregate;
        if settings.sources.is_empty() {
            settings.sources = inputs
                .iter()
                .map(|i| SourceSettings::new(i.name.clone()))
                .collect();
        }
        let mut names = Vec::with_capacity(inputs.len());
        let mut feeds = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.into_iter().enumerate() {
            let mut f = Feed {
                src: input.src,
                parser: match opts.format {
                    FormatSpec::Fixed(f) => Parser::Fixed(f, State::default()),
                    FormatSpec::Auto => Parser::Auto(AutoDetector::new()),
                },
                buf: Vec::with_capacity(1024),
                next: None,
                batch: EventBatch {
                    source: u16::try_from(i).unwrap_or(u16::MAX),
                    ..EventBatch::default()
                },
                err_line: Vec::new(),
                err_reason: None,
            };
            f.read_next(&ctx, &input.name)?;
            names.push(input.name);
            feeds.push(f);
        }
        Ok(Replay {
            names,
            feeds,
            ctx,
            tolerance: i64::try_from(opts.tolerance.as_micros()).unwrap_or(i64::MAX),
            settings: Some(settings),
            agg: None,
            clock: None,
            stats: ReplayStats::default(),
            recorder: opts.record.then(Recorder::default),
            done: false,
        })
    }

    /// The replay clock (event time), once a timestamp was seen.
    pub fn clock(&self) -> Option<Micros> {
        self.clock
    }

    /// Timestamp of the next line to be replayed, if it has one.
    pub fn next_time(&self) -> Option<Micros> {
        self.feeds
            .iter()
            .filter_map(|f| f.next.as_ref().and_then(|n| n.1))
            .min()
    }

    pub fn stats(&self) -> &ReplayStats {
        &self.stats
    }

    /// The aggregator (created at the first timestamp).
    pub fn aggregator(&self) -> Option<&Aggregator> {
        self.agg.as_ref()
    }

    pub fn aggregator_mut(&mut self) -> Option<&mut Aggregator> {
        self.agg.as_mut()
    }

    /// Input names (feed names), by source id.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The input whose next line comes first: lines without a timestamp go at once.
    fn pick(&self) -> Option<(usize, Option<Micros>)> {
        let mut best: Option<(usize, Option<Micros>)> = None;
        for (i, f) in self.feeds.iter().enumerate() {
            let Some((_, ts, _)) = f.next else { continue };
            let Some(ts) = ts else {
                return Some((i, None));
            };
            match best {
                Some((_, Some(b))) if b <= ts => {}
                _ => best = Some((i, Some(ts))),
            }
        }
        best
    }

    /// Replays lines until every input ends, the next line lies after `until` (then the clock is
    /// moved to `until`: a paced replay's wall keeps time through gaps), or `budget` lines.
    pub fn step(&mut self, until: Option<Micros>, budget: usize) -> Result<Progress, ReplayError> {
        if self.done {
            return Ok(Progress::Done);
        }
        for _ in 0..budget {
            let Some((i, ts)) = self.pick() else {
                self.finish_input();
                return Ok(Progress::Done);
            };
            if let (Some(u), Some(t)) = (until, ts) {
                if t > u {
                    self.advance_to(u);
                    return Ok(Progress::Paused);
                }
            }
            self.apply(i);
            let name = &self.names[i];
            self.feeds[i].read_next(&self.ctx, name)?;
        }
        Ok(Progress::Budget)
    }

    /// Replays everything as fast as possible and returns the report.
    pub fn run_to_end(mut self) -> Result<ReplayReport, ReplayError> {
        while self.step(None, usize::MAX)? != Progress::Done {}
        Ok(self.into_report())
    }

    /// The report so far (the anomalies recorded up to now, when recording).
    pub fn into_report(mut self) -> ReplayReport {
        if let (Some(rec), Some(agg), Some(now)) = (&mut self.recorder, &self.agg, self.clock) {
            rec.poll(agg, now);
        }
        ReplayReport {
            stats: self.stats,
            anomalies: self.recorder.map(Recorder::finish).unwrap_or_default(),
        }
    }

    /// The aggregator, created at `at` on first use.
    fn agg_at(&mut self, at: Micros) -> &mut Aggregator {
        let settings = &mut self.settings;
        self.agg
            .get_or_insert_with(|| Aggregator::new(settings.take().unwrap_or_default(), at))
    }

    fn apply(&mut self, i: usize) {
        let Some((item, ts, overlong)) = self.feeds[i].next.take() else {
            return;
        };
        self.stats.lines += 1;
        if let Some(ts) = ts {
            self.stats.first_ts = Some(self.stats.first_ts.map_or(ts, |f| f.min(ts)));
            self.stats.last_ts = Some(self.stats.last_ts.map_or(ts, |l| l.max(ts)));
            match self.clock {
                None => {
                    self.clock = Some(ts);
                    self.agg_at(ts);
                }
                Some(c) if ts > c => self.advance_to(ts),
                Some(c) if ts < c.saturating_sub(self.tolerance) => {
                    // Late: the line counts for its feed, the event goes in no window.
                    self.stats.late += 1;
                    self.feeds[i].batch.lines += 1;
                    return;
                }
                Some(c) if ts < c => self.stats.reordered += 1,
                Some(_) => {}
            }
        } else {
            self.stats.untimed += 1;
        }
        let f = &mut self.feeds[i];
        f.batch.lines += 1;
        if overlong {
            f.batch.overlong += 1;
        }
        match item {
            Item::Event(r) => {
                f.batch.records.push(r);
                self.stats.events += 1;
            }
            Item::Skipped => {
                f.batch.skipped += 1;
                self.stats.skipped += 1;
            }
            Item::Error(reason) => {
                f.batch.parse_errors += 1;
                self.stats.parse_errors += 1;
                if overlong {
                    self.stats.overlong += 1;
                } else {
                    f.err_line.clear();
                    f.err_line
                        .extend_from_slice(&f.buf[..f.buf.len().min(SAMPLE_CHARS * 4)]);
                }
                f.err_reason = Some(reason);
            }
        }
        if f.batch.records.len() >= BATCH_MAX {
            self.flush(i);
        }
    }

    /// Hands input `i`'s batch to the aggregator at the current clock.
    fn flush(&mut self, i: usize) {
        let Some(now) = self.clock else {
            return; // nothing timed yet: keep counting
        };
        let f = &mut self.feeds[i];
        if f.batch.lines == 0 && f.batch.records.is_empty() {
            return;
        }
        f.batch.format = f.format();
        f.batch.last_error = f.err_reason.take().map(|reason| ErrorSample {
            reason,
            line: String::from_utf8_lossy(&f.err_line)
                .chars()
                .take(SAMPLE_CHARS)
                .collect(),
        });
        let agg = self
            .agg
            .get_or_insert_with(|| Aggregator::new(self.settings.take().unwrap_or_default(), now));
        agg.ingest(&f.batch, now);
        let b = &mut f.batch;
        b.records.clear();
        b.lines = 0;
        b.skipped = 0;
        b.parse_errors = 0;
        b.overlong = 0;
        b.last_error = None;
    }

    fn flush_all(&mut self) {
        for i in 0..self.feeds.len() {
            self.flush(i);
        }
    }

    /// Moves the clock forward to `to`: closes the current second's batches and runs the
    /// detectors' evaluation for every second boundary passed.
    fn advance_to(&mut self, to: Micros) {
        let Some(from) = self.clock else {
            return;
        };
        if to <= from {
            return;
        }
        let (s0, s1) = (from.div_euclid(US), to.div_euclid(US));
        if s1 > s0 {
            self.flush_all();
            let last = s1.min(s0 + GAP_TICKS_MAX);
            for s in s0 + 1..=last {
                self.tick(s * US);
            }
            if last < s1 {
                self.tick(s1 * US);
            }
        }
        self.clock = Some(to);
    }

    fn tick(&mut self, now: Micros) {
        let Some(agg) = self.agg.as_mut() else {
            return;
        };
        agg.detect_tick(now);
        self.stats.ticks += 1;
        if let Some(rec) = &mut self.recorder {
            let changes = agg.take_anomaly_changes();
            rec.after_tick(agg, now, &changes);
        }
    }

    /// End of every input: ingest what is left and evaluate the last second.
    fn finish_input(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        if self.clock.is_none() && self.feeds.iter().any(|f| f.batch.lines > 0) {
            // Nothing carried a timestamp: count the lines at the wall clock.
            let now = crate::time::now_micros();
            self.clock = Some(now);
            self.agg_at(now);
        }
        self.flush_all();
        if let Some(c) = self.clock {
            let next = (c.div_euclid(US) + 1) * US;
            self.tick(next);
            self.clock = Some(next);
        }
    }
}

/// Replays `paths` as fast as possible and returns the report.
pub fn replay_files(paths: &[PathBuf], opts: ReplayOptions) -> Result<ReplayReport, ReplayError> {
    let inputs = open_inputs(paths)?;
    Replay::new(opts, inputs)?.run_to_end()
}

/// Opens every path (`-`: standard input).
pub fn open_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, ReplayError> {
    paths
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                Ok(Input::reader(
                    "stdin",
                    BufReader::with_capacity(256 << 10, io::stdin()),
                ))
            } else {
                Input::file(p)
            }
        })
        .collect()
}

/// How fast a served replay runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// `N`× real time.
    Times(f64),
    /// As fast as the pipeline goes.
    Max,
}

impl std::str::FromStr for Speed {
    type Err = String;

    fn from_str(s: &str) -> Result<Speed, String> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => Ok(Speed::Times(n)),
            _ => Err(format!(
                "`{s}` is not a speed: use a positive number (times real time) or `max`"
            )),
        }
    }
}

/// Lines replayed between two looks at the clock, the series requests and the publish timer.
const CHUNK: usize = 20_000;

/// Serves the wall on `listener` while replaying at `speed`, until `shutdown` resolves. The
/// wall's clock (`server_time`, ages, feed states) is the replay clock. When the inputs end, the
/// final state stays on the wall. `finished` receives the stats when the inputs end.
pub async fn serve(
    listener: TcpListener,
    settings: &Settings,
    replay: Replay,
    speed: Speed,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    finished: Option<tokio::sync::oneshot::Sender<ReplayStats>>,
) -> Result<(), ReplayError> {
    let started = Instant::now();
    // The same rule as `socwall run`, on the socket actually bound.
    if settings.auth.is_none()
        && let Ok(addr) = listener.local_addr()
        && !addr.ip().to_canonical().is_loopback()
    {
        return Err(ReplayError::Unprotected(addr));
    }
    let dashboards = crate::dashboard::Dashboards::load(
        settings.dashboards.dir.as_deref(),
        &settings.dashboards.default,
    )
    .map_err(ReplayError::Config)?;
    let (trigger, stop) = shutdown::channel();
    let trigger = Arc::new(trigger);
    {
        let trigger = trigger.clone();
        tokio::spawn(async move {
            shutdown.await;
            trigger.fire();
        });
    }
    let (publish_tx, publish_rx) = mpsc::channel(2);
    let (frames_tx, frames_rx) = watch::channel(Arc::new(Frame::default()));
    let (series_tx, series_rx) = mpsc::channel::<SeriesRequest>(16);
    let (anomalies_tx, anomalies_rx) = mpsc::channel::<AnomaliesRequest>(16);
    let stats = Arc::new(HubStats::default());
    let hub_task = tokio::spawn(hub::run(publish_rx, frames_tx, stats.clone()));
    let interval = settings.server.update_interval;
    let replay_stop = stop.clone();
    let worker = tokio::task::spawn_blocking(move || {
        drive(
            replay,
            speed,
            interval,
            publish_tx,
            Requests {
                series: series_rx,
                anomalies: anomalies_rx,
            },
            replay_stop,
            finished,
        )
    });
    // Wait for the first frame so that the very first client already sees a snapshot.
    let mut first = frames_rx.clone();
    let _ = tokio::time::timeout(Duration::from_secs(2), first.wait_for(|f| f.seq > 0)).await;
    let state = Arc::new(WebState {
        frames: frames_rx,
        dashboards: watch::channel(Arc::new(dashboards)).1,
        stats,
        server: settings.server.clone(),
        shutdown: stop.clone(),
        series: series_tx,
        anomalies: anomalies_tx,
        started,
        listen: crate::listen::ListenStats::new(0),
        auth: settings.auth.as_ref().map(web::auth::Tokens::new),
        clients_by_addr: Default::default(),
        counters: Default::default(),
        wall: settings.wall.json(),
    });
    // Replays are served over plain HTTP (a walkthrough on a laptop or behind a proxy).
    web::serve(listener, state, None).await;
    trigger.fire();
    let result = worker.await.map_err(|_| ReplayError::Thread)?;
    let _ = hub_task.await;
    result
}

/// What the web side asks the replay thread (which owns the aggregator).
struct Requests {
    series: mpsc::Receiver<SeriesRequest>,
    anomalies: mpsc::Receiver<AnomaliesRequest>,
}

type Publish =
    Published<crate::aggregate::Snapshot, crate::aggregate::Update, crate::aggregate::Heartbeat>;

/// The replay thread: replays in chunks paced to `speed`, publishes a frame every `interval`
/// (a snapshot at most once a second), answers series requests, and after the end keeps the
/// final state published until `stop`.
fn drive(
    mut replay: Replay,
    speed: Speed,
    interval: Duration,
    publish: mpsc::Sender<Publish>,
    mut requests: Requests,
    stop: Shutdown,
    mut finished: Option<tokio::sync::oneshot::Sender<ReplayStats>>,
) -> Result<(), ReplayError> {
    let wall0 = Instant::now();
    let ev0 = replay.next_time();
    let mut seq = 0u64;
    let mut last_publish: Option<Instant> = None;
    let mut last_snapshot: Option<Instant> = None;
    let mut done = false;
    while !stop.is_triggered() {
        if !done {
            let until = match (speed, ev0) {
                (Speed::Times(n), Some(t0)) => {
                    let ahead = wall0.elapsed().as_secs_f64() * n * 1e6;
                    Some(t0.saturating_add(ahead.min(i64::MAX as f64 / 2.0) as i64))
                }
                _ => None,
            };
            if replay.step(until, CHUNK)? == Progress::Done {
                done = true;
                eprintln!("socwall replay: {}", summary(replay.stats()));
                if let Some(tx) = finished.take() {
                    let _ = tx.send(replay.stats().clone());
                }
            }
        }
        while let Ok(req) = requests.anomalies.try_recv() {
            if let (Some(agg), Some(now)) = (replay.agg.as_ref(), replay.clock) {
                let body = serde_json::json!({
                    "server_time": crate::time::format_rfc3339_millis(now).to_string(),
                    "open": agg.open_anomalies(),
                    "anomalies": agg.anomalies(now, req.limit),
                });
                let _ = req.reply.send(body.to_string().into());
            }
        }
        while let Ok(req) = requests.series.try_recv() {
            if let (Some(agg), Some(now)) = (replay.agg.as_ref(), replay.clock) {
                let step = if req.per_minute {
                    Step::Minute
                } else {
                    Step::Second
                };
                let s = agg.series(step, req.points, now);
                let json: Arc<str> = serde_json::to_string(&s).unwrap_or_default().into();
                let _ = req.reply.send(json);
            }
        }
        let due = last_publish.is_none_or(|t| t.elapsed() >= interval);
        if due {
            if let (Some(now), Some(agg)) = (replay.clock, replay.agg.as_mut()) {
                seq += 1;
                let snapshot = last_snapshot
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                    .then(|| {
                        last_snapshot = Some(Instant::now());
                        agg.snapshot(now)
                    });
                let update = Some(agg.update(now));
                let p = Published {
                    seq,
                    snapshot,
                    update,
                    heartbeat: agg.heartbeat(now),
                    anomalies: agg.take_anomaly_changes(),
                };
                if publish.blocking_send(p).is_err() {
                    break;
                }
                last_publish = Some(Instant::now());
            }
        }
        // Paced or finished: wait for the next publish (pacing, not synchronisation: nothing
        // else is waited for).
        let paced = matches!(speed, Speed::Times(_)) || done;
        if paced {
            let next =
                last_publish.map_or(Duration::ZERO, |t| interval.saturating_sub(t.elapsed()));
            std::thread::sleep(next.clamp(Duration::from_millis(5), interval));
        }
    }
    Ok(())
}

/// One line: what the replay read and how much was late.
pub fn summary(s: &ReplayStats) -> String {
    let span = match (s.first_ts, s.last_ts) {
        (Some(a), Some(b)) => format!(
            ", event time {} → {}",
            crate::time::format_rfc3339_millis(a),
            crate::time::format_rfc3339_millis(b)
        ),
        _ => String::new(),
    };
    format!(
        "{} lines, {} events, {} late (dropped), {} reordered, {} skipped, {} parse errors, {} untimed{span}",
        s.lines, s.events, s.late, s.reordered, s.skipped, s.parse_errors, s.untimed
    )
}

#[cfg(test)]
mod tests;
