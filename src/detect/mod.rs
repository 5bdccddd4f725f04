//! The detection engine: per-record detectors with bounded state, merged into a short, ranked,
//! decaying list of anomalies a human should look at now (docs/detections.md).
//!
//! Ownership: the [`Engine`] lives inside the aggregator's task and is owned outright, like the
//! aggregator's windows (no locks). Every method takes `now` — arrival time when live, the log's
//! own time when replaying — so each detector is tested with an explicit clock, never by sleeping.
//!
//! Cost model: [`Engine::observe`] runs once per record on the hot path. It classifies the two
//! addresses once (internal? which zone?) and hands the same [`Obs`] to every enabled detector,
//! each of which only updates fixed-size or capped state. All evaluation that needs a window
//! (thresholds, baselines, dispersion) happens in [`Engine::tick`], once per second of `now`.
//! Findings are rare by construction, so they may allocate (summary text, evidence JSON).
//!
//! Layout: one module per detector kind; [`anomaly`] merges findings by kind + entity, decays
//! and expires them; [`context`] is the hot-reloadable knowledge detectors use (networks,
//! zones, approved resolvers, watchlists).

pub mod anomaly;
pub mod config;
pub mod context;

// Shared by the traffic detectors: capped tables, baselines, samples, formatting.
mod assoc;
mod common;

mod beaconing;
mod bounded;
mod deny_burst;
mod dns;
mod feeds;
mod first_seen;
mod large_outbound;
mod persist;
mod port_scan;
mod syn_flood;
mod volume_spike;
mod watchlist;

use std::fmt;

use serde::Serialize;

use crate::event::{Micros, Record};

pub use anomaly::{AnomalyChange, AnomalyOut, ChangeKind, Table, TableSettings};
pub use config::SettingError;
pub use context::{AddressList, Context, Zone};
pub use persist::{DetectState, NAME as STATE_SECTION, Restored, VERSION as STATE_VERSION};

/// Documented upper bound of the heap held by the context detectors (first_seen, dns, watchlist,
/// feeds) at their caps, whatever the traffic (docs/detections-context.md).
pub const CONTEXT_MEMORY_CAP: usize =
    first_seen::MEMORY_CAP + dns::MEMORY_CAP + watchlist::MEMORY_CAP + feeds::MEMORY_CAP;

/// Every detector kind, as named in config, the API and the docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    PortScan,
    DenyBurst,
    VolumeSpike,
    FirstSeenHost,
    FirstSeenService,
    FixedDnsSourcePort,
    UnapprovedResolver,
    Beaconing,
    LargeOutbound,
    SynFlood,
    WatchlistHit,
    FeedSilence,
    ParseErrors,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::PortScan,
        Kind::DenyBurst,
        Kind::VolumeSpike,
        Kind::FirstSeenHost,
        Kind::FirstSeenService,
        Kind::FixedDnsSourcePort,
        Kind::UnapprovedResolver,
        Kind::Beaconing,
        Kind::LargeOutbound,
        Kind::SynFlood,
        Kind::WatchlistHit,
        Kind::FeedSilence,
        Kind::ParseErrors,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PortScan => "port_scan",
            Kind::DenyBurst => "deny_burst",
            Kind::VolumeSpike => "volume_spike",
            Kind::FirstSeenHost => "first_seen_host",
            Kind::FirstSeenService => "first_seen_service",
            Kind::FixedDnsSourcePort => "fixed_dns_source_port",
            Kind::UnapprovedResolver => "unapproved_resolver",
            Kind::Beaconing => "beaconing",
            Kind::LargeOutbound => "large_outbound",
            Kind::SynFlood => "syn_flood",
            Kind::WatchlistHit => "watchlist_hit",
            Kind::FeedSilence => "feed_silence",
            Kind::ParseErrors => "parse_errors",
        }
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a detector reports: one observation of a behaviour, merged by the [`Table`] into the
/// anomaly for the same `kind` + `entity` (an address, a pair `a → b`, a feed name).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub kind: Kind,
    pub entity: String,
    /// Zone name of the entity when the context knows it ("servers", "internal", "external").
    pub zone: Option<String>,
    /// 0–100 on the one scale of docs/detections.md, shared by every kind:
    /// - 0–24 informational: recorded, not worth a look on its own;
    /// - 25–49 notable: look when time allows (Internet scanners at the perimeter, a first
    ///   occurrence that is probably benign);
    /// - 50–74 investigate: unusual behaviour of an internal host or service that needs a human
    ///   to explain it (a burst of denies, a beacon, unusual outbound volume);
    /// - 75–89 act now: likely compromise or an attack with impact in progress (an internal
    ///   host scanning its neighbours widely, a SYN flood, gigabytes leaving);
    /// - 90–100 critical: severe and confirmed by several signals at once.
    ///
    /// A detector sets the band from what the behaviour means and moves within it by how far past
    /// its threshold the behaviour is (`common::severity`, a log scale).
    pub severity: u8,
    /// One plain sentence with the numbers in it.
    pub summary: String,
    /// How many occurrences this finding adds to the anomaly's `count`.
    pub count: u64,
    /// The numbers behind the finding and a few sample events.
    pub evidence: serde_json::Value,
}

/// Where detectors put findings; drained by the engine after every call.
#[derive(Debug, Default)]
pub struct Sink(Vec<Finding>);

impl Sink {
    pub fn push(&mut self, f: Finding) {
        self.0.push(f);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn drain(&mut self) -> std::vec::Drain<'_, Finding> {
        self.0.drain(..)
    }
}

/// One record as every detector sees it, with the addresses classified once.
#[derive(Debug, Clone, Copy)]
pub struct Obs<'a> {
    /// The engine's clock for this record (arrival time live, log time in replay).
    pub now: Micros,
    /// Source id (index into the configured sources).
    pub source: u16,
    pub r: &'a Record,
    /// Addresses as `u128` keys (`crate::aggregate::cidr::ip_key`).
    pub src: Option<u128>,
    pub dst: Option<u128>,
    pub src_zone: Zone,
    pub dst_zone: Zone,
}

/// Per-feed counters handed to [`Detector::tick`] (from the aggregator's feed health).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedView<'a> {
    pub name: &'a str,
    pub lines: u64,
    pub events: u64,
    pub parse_errors: u64,
    pub last_line_at: Option<Micros>,
}

/// What the once-per-second evaluation may look at besides the detector's own state.
#[derive(Debug, Clone, Default)]
pub struct TickView<'a> {
    pub feeds: &'a [FeedView<'a>],
}

/// A detector: bounded state updated per record, evaluated once per second.
pub trait Detector {
    fn kind(&self) -> Kind;
    /// Per record, on the hot path: update bounded state only; findings are rare.
    fn observe(&mut self, o: &Obs<'_>, ctx: &Context, sink: &mut Sink);
    /// Once per second of the engine's clock: evaluate windows, push findings, evict state.
    fn tick(&mut self, now: Micros, view: &TickView<'_>, ctx: &Context, sink: &mut Sink);
    /// Approximate heap bytes held.
    fn memory(&self) -> usize;
}

/// Settings of the whole engine; each detector's own thresholds live in its module.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DetectSettings {
    pub table: TableSettings,
    /// Kinds switched off in config.
    pub disabled: Vec<Kind>,
    pub port_scan: port_scan::Settings,
    pub deny_burst: deny_burst::Settings,
    pub volume_spike: volume_spike::Settings,
    pub first_seen: first_seen::Settings,
    pub dns: dns::Settings,
    pub beaconing: beaconing::Settings,
    pub large_outbound: large_outbound::Settings,
    pub syn_flood: syn_flood::Settings,
    pub watchlist: watchlist::Settings,
    pub feeds: feeds::Settings,
}

/// The detectors, as concrete fields: the per-record loop is static dispatch, no `dyn`.
struct Detectors {
    port_scan: port_scan::PortScan,
    deny_burst: deny_burst::DenyBurst,
    volume_spike: volume_spike::VolumeSpike,
    first_seen: first_seen::FirstSeen,
    dns: dns::Dns,
    beaconing: beaconing::Beaconing,
    large_outbound: large_outbound::LargeOutbound,
    syn_flood: syn_flood::SynFlood,
    watchlist: watchlist::Watchlist,
    feeds: feeds::Feeds,
}

/// Calls `$body` with `$d` bound to each enabled detector in turn.
macro_rules! each_enabled {
    ($self:ident, $d:ident => $body:expr) => {{
        let on = &$self.enabled;
        let ds = &mut $self.d;
        {
            let $d = &mut ds.port_scan;
            if on.get($d) {
                $body;
            }
        }
        {
            let $d = &mut ds.deny_burst;
            if on.get($d) {
                $body;
            }
        }
        {
            let $d = &mut ds.volume_spike;
            if on.get($d) {
                $body;
            }
        }
        {
            let $d = &mut ds.first_seen;
            if on.get($d) {
                $body;
            }
        }
        {
            let $d = &mut ds.dns;
            if on.get($d) {
                $body;
            }
        }
        {
            let $d = &mut ds.beaconing;
            if on.get($d) {
                $body;
            }
        }
        {
            let $d = &mut ds.large_outbound;
            if on.get($d) {
                $body;
            }
        }
        {
            let $d = &mut ds.syn_flood;
            if on.get($d) {
                $body;
            }
        }
        {
            let $d = &mut ds.watchlist;
            if on.get($d) {
                $body;
            }
        }
        {
            let $d = &mut ds.feeds;
            if on.get($d) {
                $body;
            }
        }
    }};
}

/// Which detector modules run. A module that serves several kinds (first_seen: host and
/// service; dns: fixed source port and unapproved resolver; feeds: silence and parse errors)
/// runs while any of its kinds is enabled and checks [`Enabled::kind`] before reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enabled(u16);

impl Enabled {
    fn new(disabled: &[Kind]) -> Self {
        let mut bits = 0u16;
        for k in Kind::ALL {
            if !disabled.contains(&k) {
                bits |= 1 << (k as u16);
            }
        }
        Enabled(bits)
    }

    /// Whether `kind` may report.
    pub fn kind(self, kind: Kind) -> bool {
        self.0 & (1 << (kind as u16)) != 0
    }

    fn get<D: Detector + KindsOf>(self, _d: &D) -> bool {
        D::KINDS.iter().any(|&k| self.kind(k))
    }
}

/// The kinds a detector module may report (static, for [`Enabled`]).
pub trait KindsOf {
    const KINDS: &'static [Kind];
}

/// The detection engine: detectors + the anomaly table.
pub struct Engine {
    /// What it was built from: a config reload with other settings rebuilds the engine.
    settings: DetectSettings,
    ctx: Context,
    enabled: Enabled,
    d: Detectors,
    table: Table,
    sink: Sink,
    /// Second of the last [`Engine::tick`] evaluation.
    last_tick_sec: Option<i64>,
    /// Largest `now` seen (the engine's monotonic clock).
    clock: Micros,
    changes: Vec<AnomalyChange>,
}

impl Engine {
    pub fn new(settings: DetectSettings, ctx: Context, now: Micros) -> Self {
        let enabled = Enabled::new(&settings.disabled);
        let kept = settings.clone();
        Engine {
            settings: kept,
            d: Detectors {
                port_scan: port_scan::PortScan::new(settings.port_scan, now),
                deny_burst: deny_burst::DenyBurst::new(settings.deny_burst, now),
                volume_spike: volume_spike::VolumeSpike::new(settings.volume_spike, now),
                first_seen: first_seen::FirstSeen::new(settings.first_seen, enabled, now),
                dns: dns::Dns::new(settings.dns, enabled, now),
                beaconing: beaconing::Beaconing::new(settings.beaconing, now),
                large_outbound: large_outbound::LargeOutbound::new(settings.large_outbound, now),
                syn_flood: syn_flood::SynFlood::new(settings.syn_flood, now),
                watchlist: watchlist::Watchlist::new(settings.watchlist, now),
                feeds: feeds::Feeds::new(settings.feeds, enabled, now),
            },
            ctx,
            enabled,
            table: Table::new(settings.table),
            sink: Sink::default(),
            last_tick_sec: None,
            clock: now,
            changes: Vec::new(),
        }
    }

    /// Replaces the context (hot reload of networks, resolvers, watchlists).
    pub fn set_context(&mut self, ctx: Context) {
        self.ctx = ctx;
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    pub fn settings(&self) -> &DetectSettings {
        &self.settings
    }

    /// Per record, on the hot path.
    #[inline]
    pub fn observe(&mut self, source: u16, r: &Record, now: Micros) {
        self.clock = self.clock.max(now);
        let src = r.src_ip.map(crate::aggregate::ip_key);
        let dst = r.dst_ip.map(crate::aggregate::ip_key);
        let o = Obs {
            now: self.clock,
            source,
            r,
            src,
            dst,
            src_zone: src.map_or(Zone::Unknown, |k| self.ctx.zone_of(k)),
            dst_zone: dst.map_or(Zone::Unknown, |k| self.ctx.zone_of(k)),
        };
        let ctx = &self.ctx;
        let sink = &mut self.sink;
        each_enabled!(self, d => d.observe(&o, ctx, sink));
        if !self.sink.is_empty() {
            self.merge_sink();
        }
    }

    /// Once per second of `now` (calls within the same second only hand over changes):
    /// evaluates every detector, merges their findings, decays and expires anomalies. Returns the
    /// changes since the previous call (opened, severity changed, closed) — including those of
    /// findings merged by `observe` in between — for the WebSocket `anomaly` messages.
    pub fn tick(&mut self, now: Micros, view: &TickView<'_>) -> Vec<AnomalyChange> {
        self.clock = self.clock.max(now);
        let now = self.clock;
        let sec = now.div_euclid(1_000_000);
        if self.last_tick_sec == Some(sec) {
            return std::mem::take(&mut self.changes);
        }
        self.last_tick_sec = Some(sec);
        let ctx = &self.ctx;
        let sink = &mut self.sink;
        each_enabled!(self, d => d.tick(now, view, ctx, sink));
        self.merge_sink();
        self.table.tick(now, &mut self.changes);
        std::mem::take(&mut self.changes)
    }

    fn merge_sink(&mut self) {
        let now = self.clock;
        for f in self.sink.drain() {
            if self.enabled.kind(f.kind) {
                self.table.merge(f, now, &mut self.changes);
            }
        }
    }

    /// Current anomalies, highest (decayed) severity first, at most `limit`.
    pub fn anomalies(&self, now: Micros, limit: usize) -> Vec<AnomalyOut> {
        self.table.top(now.max(self.clock), limit)
    }

    /// Number of open anomalies.
    pub fn open(&self) -> usize {
        self.table.len()
    }

    /// Approximate heap bytes held by every detector and the table.
    pub fn memory_estimate(&self) -> usize {
        let d = &self.d;
        d.port_scan.memory()
            + d.deny_burst.memory()
            + d.volume_spike.memory()
            + d.first_seen.memory()
            + d.dns.memory()
            + d.beaconing.memory()
            + d.large_outbound.memory()
            + d.syn_flood.memory()
            + d.watchlist.memory()
            + d.feeds.memory()
            + self.table.memory()
    }
}

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_support;
