//! The aggregator: one owner (no locks, no `Arc`, no interior mutability) of every rolling
//! window, heavy-hitter summary, distinct-count sketch, first-seen set and feed-health record.
//! The daemon runs it inside one tokio task and feeds it [`EventBatch`]es; every method takes
//! `now` so the windows are tested with an explicit clock, never by sleeping.
//!
//! Time model (docs/AGGREGATION.md): live windows bucket by *arrival* time (`now`), not by the
//! record's own `ts` — syslog clocks are skewed or zone-less and the wall must show what is
//! happening now. `last_event_at` is arrival time too; the log's own time of the last event is kept
//! per source as `last_event_ts`. `now` is clamped to be monotonic (a clock step backwards never
//! rewinds a ring).
//!
//! Cost model: `ingest` touches fixed-size rings and capped summaries only (no allocation per
//! record once the structures are warm); all merging (top-N, distinct windows, first-seen lists)
//! happens in `snapshot`/`update`, at most once per second.

mod cidr;
mod feeds;
mod firstseen;
mod hll;
pub(crate) mod keyhash;
mod persist;
mod rare;
mod snapshot;
mod spacesaving;
mod topn;
mod window;

use std::time::Duration;

use crate::detect::{
    AnomalyChange, AnomalyOut, Context, DetectSettings, Engine, FeedView, TickView,
};
use crate::event::{Action, Micros, Proto, Record};
use crate::parse::Format;

pub use cidr::{Cidr, CidrError, ip_key, key_ip};
pub use feeds::FeedState;
pub use persist::{AggregateState, NAME as STATE_SECTION, VERSION as STATE_VERSION};
pub use snapshot::{
    Distinct, FeedSeries, FeedsSummary, FirstSeenEntry, FirstSeenOut, FlowEntry, FlowsOut,
    Heartbeat, HeartbeatSource, IoErrorOut, LastError, PerWindow, PortHeat, ProtoEntry, Rates,
    Series, Snapshot, SourceOut, StateErrorOut, StateOut, TopEntry, TopN, TopWindow, Totals,
    Update,
};

use feeds::Feed;
use firstseen::{FirstSeen, Hosts};
use keyhash::KeyHasher;
use snapshot::opt_time;
pub(crate) use snapshot::rfc3339_millis;
use topn::{SLOT_S, TopSlots, flow_key, port_key, port_key_string};
use window::{Counts, PROTO_CLASSES, Ring};

/// Protocol version of the JSON this module produces.
pub const PROTOCOL: u32 = 1;
/// Window of `rates` and the per-source rates, in seconds (complete seconds before `now`).
pub const RATE_WINDOW_S: i64 = 10;
/// Per-second points in a snapshot's `series` (15 min).
pub const SNAPSHOT_POINTS: usize = 900;
/// Per-second points in an update's `series`.
pub const UPDATE_POINTS: usize = 10;
/// Seconds of per-second history (ring length).
pub const SECOND_POINTS: usize = 3600;
/// Minutes of per-minute history (7 days).
pub const MINUTE_POINTS: usize = 10_080;
/// Window of the `protocols` list, in seconds.
pub const PROTOCOLS_WINDOW_S: i64 = 900;
/// Most feeds tracked (configured sources always get one; unknown ids beyond this are counted
/// in the totals only).
pub const MAX_FEEDS: usize = 64;
/// Hard cap of the internal-host first-seen set: half the usable capacity of a 2^21-bucket
/// table, so sweep/insert churn rehashes in place and never doubles the table to 2^22.
pub const HOST_CAP: usize = 917_504;
/// Further cap of the internal IPv6 hosts within `HOST_CAP` (their entries are twice the size of
/// IPv4 ones): half the usable capacity of a 2^18-bucket table, for the same in-place-rehash
/// reason as `HOST_CAP`.
pub const HOST_CAP_V6: usize = 114_688;
/// Cap of the port first-seen set (4 port-carrying protocols × 65536 ports fit).
pub const PORT_CAP: usize = 4 << 16;
/// First-seen retention: "new" means not seen for this long.
pub const RETENTION_S: u32 = 7 * 86_400;
/// Distinct ports counted exactly per 10-second slot for `rare_dport`.
pub const RARE_CAP: usize = 512;
/// Most anomalies carried by a snapshot or an update (the API can ask for more).
pub const ANOMALIES_MAX: usize = 50;
/// Smallest Space-Saving capacity per slot (it is `max(64, 4 × top_n)`, at most 1024).
pub const MIN_SUMMARY_CAP: usize = 64;

const US: i64 = 1_000_000;

fn micros(d: Duration) -> Micros {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Per-source settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSettings {
    pub name: String,
    /// State turns `quiet` after this long without a line.
    pub quiet_after: Duration,
    /// State turns `silent` after this long without a line.
    pub silent_after: Duration,
}

impl SourceSettings {
    /// A source with the default thresholds (60 s quiet, 300 s silent).
    pub fn new(name: impl Into<String>) -> Self {
        SourceSettings {
            name: name.into(),
            quiet_after: Duration::from_secs(60),
            silent_after: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AggregateSettings {
    /// Entries per top-N list (default 10).
    pub top_n: usize,
    /// Networks whose hosts are reported by first-seen (default: RFC 1918, 100.64/10, fc00::/7,
    /// fe80::/10).
    pub internal_networks: Vec<Cidr>,
    /// How long after start first-seen reports `learning` (default 10 min).
    pub learning: Duration,
    /// Sources by id (`EventBatch::source` indexes this list).
    pub sources: Vec<SourceSettings>,
    /// The detectors' settings.
    pub detect: DetectSettings,
    /// What the detectors know about the site (replaceable later: [`Aggregator::set_context`]).
    pub context: Context,
}

impl Default for AggregateSettings {
    fn default() -> Self {
        AggregateSettings {
            top_n: 10,
            internal_networks: Cidr::default_internal(),
            learning: Duration::from_secs(600),
            sources: Vec::new(),
            detect: DetectSettings::default(),
            context: Context::with_default_networks(),
        }
    }
}

/// A sample of the last line a parser could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorSample {
    pub reason: &'static str,
    pub line: String,
}

/// What the parse stage hands over for one batch of lines of one source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventBatch {
    pub source: u16,
    pub lines: u64,
    pub records: Vec<Record>,
    pub skipped: u64,
    pub parse_errors: u64,
    pub overlong: u64,
    pub last_error: Option<ErrorSample>,
    pub format: Option<Format>,
    /// A tailer checkpoint marker forwarded in order by the parse stage (the batch then has no
    /// lines). The daemon saves its state when one arrives: see docs/operations.md.
    pub checkpoint: Option<Box<crate::tail::TailCheckpoint>>,
}

/// Bucket width of [`Aggregator::series`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// 1 s buckets, up to 3600.
    Second,
    /// 60 s buckets, up to 10080 (7 days).
    Minute,
}

/// Current sizes of the bounded structures (for tests and `/api/v1/debug`-style reporting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes {
    pub top_slots: usize,
    pub max_summary_len: usize,
    pub summary_cap: usize,
    pub max_rare_len: usize,
    pub rare_cap: usize,
    /// Port events not counted for `rare_dport` because their slot was at `rare_cap`.
    pub rare_untracked: u64,
    pub hosts: usize,
    pub host_cap: usize,
    pub host_dropped: u64,
    pub ports: usize,
    pub port_cap: usize,
    pub feeds: usize,
}

/// 256-register HLL for one second of `distinct_src`.
#[derive(Clone)]
struct SmallHll([u8; hll::M_SMALL]);

impl Default for SmallHll {
    fn default() -> Self {
        SmallHll([0; hll::M_SMALL])
    }
}

/// Results of the once-per-second merge.
struct Recomputed {
    at: Micros,
    topn: TopN,
    flows: FlowsOut,
    port_heat: PortHeat,
    first_seen: FirstSeenOut,
    protocols: Vec<ProtoEntry>,
}

pub struct Aggregator {
    top_n: usize,
    /// Internal networks as `(network, mask)` in `u128` key space.
    nets: Vec<(u128, u128)>,
    learning_until: Micros,
    started_at: Micros,
    /// Largest `now` seen (the monotonic clock).
    clock: Micros,
    seq: u64,
    totals: Totals,
    secs: Ring<Counts>,
    mins: Ring<Counts>,
    sec_src: Ring<SmallHll>,
    slots: TopSlots,
    ports: FirstSeen<u32>,
    hosts: Hosts,
    last_sweep_sec: i64,
    feeds: Vec<Feed>,
    dirty: bool,
    last_states: Vec<FeedState>,
    recomputed: Option<Recomputed>,
    /// A snapshot recomputed top-N since the last update: send it with the next update too.
    recompute_unsent: bool,
    warned_unknown_source: bool,
    /// The detection engine (owned here: it sees every record on the same task, no locks).
    detect: Engine,
    /// Anomaly changes since the last update (bounded: a burst beyond the cap is summarised by
    /// the full list the update carries anyway).
    anomaly_changes: Vec<AnomalyChange>,
    anomalies_dirty: bool,
    /// State persistence health, shown in snapshots (`None`: no state dir).
    state: Option<StateOut>,
    /// `state` changed since the last `update()`: the next update carries it.
    state_unsent: bool,
}

/// Most anomaly changes kept between two updates.
const CHANGES_MAX: usize = 256;

#[inline]
fn is_internal(nets: &[(u128, u128)], k: u128) -> bool {
    nets.iter().any(|&(net, mask)| k & mask == net)
}

#[inline]
fn proto_class(p: Option<Proto>) -> usize {
    match p {
        Some(Proto::TCP) => 0,
        Some(Proto::UDP) => 1,
        Some(Proto::ICMP) | Some(Proto::ICMPV6) => 2,
        _ => 3,
    }
}

impl Aggregator {
    pub fn new(settings: AggregateSettings, now: Micros) -> Self {
        let cap = (settings.top_n.saturating_mul(4)).clamp(MIN_SUMMARY_CAP, 1024);
        let feeds: Vec<Feed> = settings
            .sources
            .iter()
            .map(|s| {
                Feed::new(
                    s.name.clone(),
                    micros(s.quiet_after),
                    micros(s.silent_after),
                )
            })
            .collect();
        Aggregator {
            top_n: settings.top_n,
            nets: settings
                .internal_networks
                .iter()
                .map(Cidr::key_mask)
                .collect(),
            learning_until: now.saturating_add(micros(settings.learning)),
            started_at: now,
            clock: now,
            seq: 0,
            totals: Totals {
                lines: 0,
                events: 0,
                bytes: 0,
                packets: 0,
                allowed: 0,
                denied: 0,
                no_verdict: 0,
                skipped: 0,
                parse_errors: 0,
                overlong: 0,
            },
            secs: Ring::new(SECOND_POINTS),
            mins: Ring::new(MINUTE_POINTS),
            sec_src: Ring::new(SECOND_POINTS),
            slots: TopSlots::new(cap, RARE_CAP),
            ports: FirstSeen::new(PORT_CAP, RETENTION_S),
            hosts: Hosts::new(HOST_CAP, HOST_CAP_V6, RETENTION_S),
            last_sweep_sec: now.div_euclid(US),
            last_states: feeds.iter().map(|f| f.state(now)).collect(),
            feeds,
            dirty: false,
            recomputed: None,
            recompute_unsent: false,
            warned_unknown_source: false,
            detect: Engine::new(settings.detect, settings.context, now),
            anomaly_changes: Vec::new(),
            anomalies_dirty: false,
            state: None,
            state_unsent: false,
        }
    }

    /// Replaces the detectors' context (hot reload of networks, zones, resolvers, watchlists).
    /// The first-seen panel follows the new internal networks too.
    pub fn set_context(&mut self, ctx: Context) {
        self.nets = ctx.internal_masks();
        self.detect.set_context(ctx);
    }

    /// Hot reload of the whole site: the context, and the `[detect]` settings. Unchanged
    /// settings only swap the context; changed ones rebuild the engine and carry over what the
    /// state file would (open anomalies with their ids, first-seen history, baselines, feed
    /// gaps: src/detect/persist.rs), so a threshold edit does not restart learning. Short-window
    /// state (port-scan windows, beacon rings) starts again. Returns true when rebuilt.
    pub fn set_site(&mut self, ctx: Context, detect: crate::detect::DetectSettings) -> bool {
        if *self.detect.settings() == detect {
            self.set_context(ctx);
            return false;
        }
        self.nets = ctx.internal_masks();
        let kept = self.persist_detect();
        self.detect = Engine::new(detect, ctx, self.clock);
        let _ = self.restore_detect(kept);
        true
    }

    /// Runs the detectors' once-per-second evaluation (a no-op within the same second) and
    /// collects the anomaly changes for the next update. `snapshot` and `update` call it; the
    /// daemon also calls it every tick, so silence is noticed and anomalies decay and close
    /// while no record arrives (which makes the aggregator dirty when anything changed).
    pub fn detect_tick(&mut self, now: Micros) {
        let now = self.tick(now);
        let views: Vec<FeedView<'_>> = self
            .feeds
            .iter()
            .map(|f| FeedView {
                name: &f.name,
                lines: f.lines,
                events: f.events,
                parse_errors: f.parse_errors,
                last_line_at: f.last_line_at,
            })
            .collect();
        let changes = self.detect.tick(now, &TickView { feeds: &views });
        if !changes.is_empty() {
            self.anomalies_dirty = true;
            let room = CHANGES_MAX.saturating_sub(self.anomaly_changes.len());
            self.anomaly_changes.extend(changes.into_iter().take(room));
        }
    }

    /// Current anomalies, highest severity first, at most `limit` (for `/api/v1/anomalies`).
    pub fn anomalies(&self, now: Micros, limit: usize) -> Vec<AnomalyOut> {
        self.detect.anomalies(now.max(self.clock), limit)
    }

    /// Number of open anomalies.
    pub fn open_anomalies(&self) -> usize {
        self.detect.open()
    }

    /// Anomaly changes (open / update / close) since the last call, oldest first.
    pub fn take_anomaly_changes(&mut self) -> Vec<AnomalyChange> {
        std::mem::take(&mut self.anomaly_changes)
    }

    /// Advances the monotonic clock.
    fn tick(&mut self, now: Micros) -> Micros {
        self.clock = self.clock.max(now);
        self.clock
    }

    fn feed_index(&mut self, source: u16) -> Option<usize> {
        let i = usize::from(source);
        if i < self.feeds.len() {
            return Some(i);
        }
        if i < MAX_FEEDS {
            while self.feeds.len() <= i {
                let name = format!("source-{}", self.feeds.len());
                self.feeds.push(Feed::new(name, 60 * US, 300 * US));
                self.last_states.push(FeedState::Waiting);
            }
            return Some(i);
        }
        if !self.warned_unknown_source {
            self.warned_unknown_source = true;
            tracing::warn!(
                source,
                "batch from an unknown source id beyond {MAX_FEEDS}; counted in totals only"
            );
        }
        None
    }

    /// Counts one batch at arrival time `now`.
    pub fn ingest(&mut self, batch: &EventBatch, now: Micros) {
        let now = self.tick(now);
        let sec = now.div_euclid(US);
        let sec32 = sec.clamp(0, i64::from(u32::MAX)) as u32;
        let mut c = Counts {
            lines: batch.lines,
            ..Counts::default()
        };
        let mut last_ts = None;
        {
            // Disjoint field borrows: the hot loop sees only what it writes.
            let nets = &self.nets[..];
            let kh = KeyHasher::get();
            let hosts = &mut self.hosts;
            let ports = &mut self.ports;
            let detect = &mut self.detect;
            let source = batch.source;
            let small = &mut self.sec_src.slot_mut(sec).0;
            let slot = self.slots.slot_mut(sec.div_euclid(SLOT_S));
            for r in &batch.records {
                detect.observe(source, r, now);
                c.events += 1;
                c.bytes += r.bytes;
                c.packets += r.packets;
                let denied = match r.action {
                    Some(Action::Allow) => {
                        c.allowed += 1;
                        false
                    }
                    Some(Action::Deny) => {
                        c.denied += 1;
                        true
                    }
                    None => {
                        c.no_verdict += 1;
                        false
                    }
                };
                let pc = proto_class(r.proto);
                c.proto_events[pc] += 1;
                c.proto_bytes[pc] += r.bytes;
                if r.ts.is_some() {
                    last_ts = r.ts;
                }
                let src = r.src_ip.map(cidr::ip_key);
                let dst = r.dst_ip.map(cidr::ip_key);
                // One keyed hash per key, shared by every summary that holds it.
                let mut hs = 0;
                if let Some(s) = src {
                    let h = hll::hash_key(s);
                    hll::insert(&mut slot.hll_src, hll::P, h);
                    hll::insert(small, hll::P_SMALL, h);
                    hs = kh.addr(s);
                    slot.src.add_hashed(s, hs, 1, r.bytes);
                    if r.bytes > 0 {
                        slot.talkers.add_hashed(s, hs, r.bytes, 1);
                    }
                    if denied {
                        slot.denied_src.add_hashed(s, hs, 1, r.bytes);
                    }
                    if is_internal(nets, s) {
                        hosts.observe(s, sec32);
                    }
                }
                if let Some(d) = dst {
                    hll::insert(&mut slot.hll_dst, hll::P, hll::hash_key(d));
                    let hd = kh.addr(d);
                    slot.dst.add_hashed(d, hd, 1, r.bytes);
                    if denied {
                        slot.denied_dst.add_hashed(d, hd, 1, r.bytes);
                    }
                    if is_internal(nets, d) {
                        hosts.observe(d, sec32);
                    }
                    if let Some(s) = src {
                        let hp = kh.pair(hs, hd);
                        slot.pair.add_hashed((s, d), hp, 1, r.bytes);
                        let fk = flow_key(r.proto, r.dst_port);
                        slot.flow
                            .add_hashed((s, d, fk), kh.pair(hp, kh.port(fk)), 1, r.bytes);
                        if denied {
                            slot.denied_pair.add_hashed((s, d), hp, 1, r.bytes);
                        }
                    }
                }
                if let (Some(p), Some(port)) = (r.proto, r.dst_port) {
                    if p.has_ports() {
                        let k = port_key(p, port);
                        let hk = kh.port(k);
                        slot.dport.add_hashed(k, hk, 1, r.bytes);
                        if denied {
                            slot.denied_dport.add_hashed(k, hk, 1, r.bytes);
                        }
                        slot.rare.add(k, r.bytes);
                        ports.observe(k, sec32);
                    }
                }
            }
        }
        self.secs.slot_mut(sec).add(&c);
        self.mins.slot_mut(sec.div_euclid(60)).add(&c);

        let t = &mut self.totals;
        t.lines += batch.lines;
        t.events += c.events;
        t.bytes += c.bytes;
        t.packets += c.packets;
        t.allowed += c.allowed;
        t.denied += c.denied;
        t.no_verdict += c.no_verdict;
        t.skipped += batch.skipped;
        t.parse_errors += batch.parse_errors;
        t.overlong += batch.overlong;
        self.dirty = true;

        if let Some(i) = self.feed_index(batch.source) {
            let f = &mut self.feeds[i];
            f.lines += batch.lines;
            f.events += c.events;
            f.skipped += batch.skipped;
            f.parse_errors += batch.parse_errors;
            f.overlong += batch.overlong;
            if batch.lines > 0 || c.events > 0 {
                f.last_line_at = Some(now);
            }
            if c.events > 0 {
                f.last_event_at = Some(now);
            }
            if last_ts.is_some() {
                f.last_event_ts = last_ts;
            }
            if let Some(e) = &batch.last_error {
                f.set_error(now, e.reason, &e.line);
            }
            if batch.format.is_some() {
                f.format = batch.format;
            }
            let fs = f.secs.slot_mut(sec);
            fs.lines += batch.lines;
            fs.events += c.events;
            *f.mins.slot_mut(sec.div_euclid(60)) += c.events;
        }
    }

    /// Tail information reported by the tail stage.
    pub fn set_tail_info(&mut self, source: u16, files_open: u64, lag_bytes: u64) {
        if let Some(i) = self.feed_index(source) {
            let f = &mut self.feeds[i];
            if f.files_open != files_open || f.lag_bytes != lag_bytes {
                f.files_open = files_open;
                f.lag_bytes = lag_bytes;
                self.dirty = true;
            }
        }
    }

    /// The tailer's current problem for `source` (`None` clears it).
    pub fn set_io_error(&mut self, source: u16, e: Option<IoErrorOut>) {
        if let Some(i) = self.feed_index(source) {
            let f = &mut self.feeds[i];
            if f.io_error != e {
                f.io_error = e;
                self.dirty = true;
            }
        }
    }

    /// State persistence health for snapshots (`/api/v1/snapshot`, a wall's first message).
    pub fn set_state_health(&mut self, s: Option<StateOut>) {
        if self.state != s {
            self.state = s;
            // Owed to the walls: snapshots carry it, and so does the next update.
            self.state_unsent = true;
            self.dirty = true;
        }
    }

    /// True when anything was ingested (or a feed changed state) since the last `update()`.
    pub fn dirty(&self, now: Micros) -> bool {
        let now = now.max(self.clock);
        self.dirty
            || self.anomalies_dirty
            || self
                .feeds
                .iter()
                .zip(&self.last_states)
                .any(|(f, &s)| f.state(now) != s)
    }

    fn recompute(&mut self, now: Micros) {
        let sec = now.div_euclid(US);
        // Hourly: forget first-seen keys older than the retention.
        if sec - self.last_sweep_sec >= 3600 {
            self.last_sweep_sec = sec;
            let s = sec.clamp(0, i64::from(u32::MAX)) as u32;
            self.hosts.sweep(s);
            self.ports.sweep(s);
        }
        let topn = self.slots.topn(sec.div_euclid(SLOT_S), self.top_n);
        let flows = self.slots.flows(sec.div_euclid(SLOT_S));
        let port_heat = self.slots.port_heat(sec.div_euclid(SLOT_S));
        let first_seen = self.first_seen(now);
        let p = window::sum(&self.secs, sec - PROTOCOLS_WINDOW_S + 1, sec);
        let mut protocols: Vec<ProtoEntry> = PROTO_CLASSES
            .iter()
            .enumerate()
            .map(|(i, k)| ProtoEntry {
                key: (*k).to_string(),
                count: p.proto_events[i],
                bytes: p.proto_bytes[i],
            })
            .collect();
        protocols.sort_by_key(|p| std::cmp::Reverse(p.count));
        self.recomputed = Some(Recomputed {
            at: now,
            topn,
            flows,
            port_heat,
            first_seen,
            protocols,
        });
    }

    /// Recomputes the merged parts if they are a second old (or missing); true if it did.
    fn refresh(&mut self, now: Micros) -> bool {
        match &self.recomputed {
            Some(r) if now - r.at < US => false,
            _ => {
                self.recompute(now);
                true
            }
        }
    }

    fn first_seen(&self, now: Micros) -> FirstSeenOut {
        let learning = now < self.learning_until;
        let hour_ago = now.div_euclid(US) - 3600;
        // After learning, keys first seen during it are not news.
        let since = if learning {
            hour_ago
        } else {
            hour_ago
                .max(self.learning_until.div_euclid(US) + i64::from(self.learning_until % US != 0))
        };
        let since = since.clamp(0, i64::from(u32::MAX)) as u32;
        let entry = |key: String, at: u32, count: u32| FirstSeenEntry {
            key,
            at: rfc3339_millis(i64::from(at) * US),
            count: u64::from(count),
        };
        FirstSeenOut {
            learning,
            dport: self
                .ports
                .recent(since, firstseen::REPORT_MAX)
                .into_iter()
                .map(|(k, at, n)| entry(port_key_string(k), at, n))
                .collect(),
            host: self
                .hosts
                .recent(since, firstseen::REPORT_MAX)
                .into_iter()
                .map(|(k, at, n)| entry(cidr::key_ip(k).to_string(), at, n))
                .collect(),
            host_dropped: self.hosts.dropped(),
        }
    }

    fn rates(&self, now: Micros) -> Rates {
        let sec = now.div_euclid(US);
        let c = window::sum(&self.secs, sec - RATE_WINDOW_S, sec - 1);
        let w = RATE_WINDOW_S as f64;
        Rates {
            window_s: RATE_WINDOW_S as u32,
            lines_per_s: c.lines as f64 / w,
            events_per_s: c.events as f64 / w,
            allowed_per_s: c.allowed as f64 / w,
            denied_per_s: c.denied as f64 / w,
            bytes_per_s: c.bytes as f64 / w,
        }
    }

    fn distinct(&self, now: Micros) -> Distinct {
        let (src, dst) = self.slots.distinct(now.div_euclid(US).div_euclid(SLOT_S));
        Distinct { src, dst }
    }

    fn feeds_summary(&self, now: Micros) -> FeedsSummary {
        FeedsSummary {
            total: self.feeds.len() as u64,
            active: self
                .feeds
                .iter()
                .filter(|f| f.state(now) == FeedState::Ok)
                .count() as u64,
        }
    }

    fn sources(&self, now: Micros) -> Vec<SourceOut> {
        self.feeds
            .iter()
            .map(|f| f.out(now, RATE_WINDOW_S))
            .collect()
    }

    fn series_at(&self, step: Step, points: usize, now: Micros, with_feeds: bool) -> Series {
        let sec = now.div_euclid(US);
        let (ring, end_idx, step_s, max) = match step {
            Step::Second => (&self.secs, sec, 1, SECOND_POINTS),
            Step::Minute => (&self.mins, sec.div_euclid(60), 60, MINUTE_POINTS),
        };
        let points = points.clamp(1, max) as i64;
        let range = end_idx - points + 1..=end_idx;
        let get = |i: i64| ring.get(i).copied().unwrap_or_default();
        let col = |f: fn(&Counts) -> u64| range.clone().map(|i| f(&get(i))).collect::<Vec<u64>>();
        let distinct_src = (step == Step::Second).then(|| {
            range
                .clone()
                .map(|i| {
                    self.sec_src
                        .get(i)
                        .map_or(0, |h| hll::estimate(&h.0).round() as u64)
                })
                .collect()
        });
        let feeds = with_feeds.then(|| {
            self.feeds
                .iter()
                .map(|f| FeedSeries {
                    name: f.name.clone(),
                    events: range
                        .clone()
                        .map(|i| match step {
                            Step::Second => f.secs.get(i).map_or(0, |c| c.events),
                            Step::Minute => f.mins.get(i).copied().unwrap_or(0),
                        })
                        .collect(),
                })
                .collect()
        });
        Series {
            step_s,
            end: end_idx * i64::from(step_s),
            events: col(|c| c.events),
            allowed: col(|c| c.allowed),
            denied: col(|c| c.denied),
            bytes: col(|c| c.bytes),
            distinct_src,
            feeds,
        }
    }

    /// Time series for `GET /api/v1/series`: `points` buckets ending with the current one
    /// (seconds: up to 3600; minutes: up to 10080), with per-feed event counts.
    pub fn series(&self, step: Step, points: usize, now: Micros) -> Series {
        self.series_at(step, points, now.max(self.clock), true)
    }

    /// The full state (PROTOCOL.md "Snapshot body", without `type`); carries the current `seq`.
    pub fn snapshot(&mut self, now: Micros) -> Snapshot {
        let now = self.tick(now);
        if self.refresh(now) {
            self.recompute_unsent = true;
        }
        self.detect_tick(now);
        let anomalies = self.detect.anomalies(now, ANOMALIES_MAX);
        let r = self.recomputed.as_ref().expect("refreshed above");
        Snapshot {
            protocol: PROTOCOL,
            seq: self.seq,
            server_time: rfc3339_millis(now),
            started_at: rfc3339_millis(self.started_at),
            totals: self.totals.clone(),
            rates: self.rates(now),
            distinct: self.distinct(now),
            feeds: self.feeds_summary(now),
            series: self.series_at(Step::Second, SNAPSHOT_POINTS, now, false),
            protocols: r.protocols.clone(),
            topn: r.topn.clone(),
            flows: r.flows.clone(),
            port_heat: r.port_heat.clone(),
            first_seen: r.first_seen.clone(),
            sources: self.sources(now),
            anomalies,
            state: self.state.clone(),
        }
    }

    /// The next incremental message; `topn`, `first_seen` and `protocols` only when recomputed
    /// (at most once per second) or recomputed by a snapshot since the last update.
    pub fn update(&mut self, now: Micros) -> Update {
        let now = self.tick(now);
        self.seq += 1;
        self.detect_tick(now);
        let anomalies = std::mem::take(&mut self.anomalies_dirty)
            .then(|| self.detect.anomalies(now, ANOMALIES_MAX));
        let fresh = self.refresh(now) || std::mem::take(&mut self.recompute_unsent);
        self.recompute_unsent = false;
        let (protocols, topn, first_seen, flows, port_heat) = match (&self.recomputed, fresh) {
            (Some(r), true) => (
                Some(r.protocols.clone()),
                Some(r.topn.clone()),
                Some(r.first_seen.clone()),
                Some(r.flows.clone()),
                Some(r.port_heat.clone()),
            ),
            _ => (None, None, None, None, None),
        };
        let up = Update {
            seq: self.seq,
            server_time: rfc3339_millis(now),
            totals: self.totals.clone(),
            rates: self.rates(now),
            distinct: self.distinct(now),
            feeds: self.feeds_summary(now),
            series: self.series_at(Step::Second, UPDATE_POINTS, now, false),
            protocols,
            topn,
            flows,
            port_heat,
            first_seen,
            sources: self.sources(now),
            anomalies,
            state: if std::mem::take(&mut self.state_unsent) {
                self.state.clone()
            } else {
                None
            },
        };
        self.dirty = false;
        self.last_states = self.feeds.iter().map(|f| f.state(now)).collect();
        up
    }

    /// Liveness message: per source name, state and arrival time of the last event.
    pub fn heartbeat(&self, now: Micros) -> Heartbeat {
        let now = now.max(self.clock);
        Heartbeat {
            server_time: rfc3339_millis(now),
            seq: self.seq,
            sources: self
                .feeds
                .iter()
                .map(|f| HeartbeatSource {
                    name: f.name.clone(),
                    state: f.state(now).as_str(),
                    last_event_at: opt_time(f.last_event_at),
                })
                .collect(),
        }
    }

    /// Current lengths and caps of the bounded structures.
    pub fn sizes(&self) -> Sizes {
        Sizes {
            top_slots: self.slots.allocated().count(),
            max_summary_len: self
                .slots
                .allocated()
                .map(|s| s.max_len())
                .max()
                .unwrap_or(0),
            summary_cap: self.slots.cap(),
            max_rare_len: self
                .slots
                .allocated()
                .map(|s| s.rare.len())
                .max()
                .unwrap_or(0),
            rare_cap: self.slots.rare_cap(),
            rare_untracked: self.slots.allocated().map(|s| s.rare.untracked()).sum(),
            hosts: self.hosts.len(),
            host_cap: HOST_CAP,
            host_dropped: self.hosts.dropped(),
            ports: self.ports.len(),
            port_cap: PORT_CAP,
            feeds: self.feeds.len(),
        }
    }

    /// Approximate heap bytes held (capacities, not lengths).
    pub fn memory_estimate(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.secs.heap_bytes()
            + self.mins.heap_bytes()
            + self.sec_src.heap_bytes()
            + self.slots.heap_bytes()
            + self.ports.heap_bytes()
            + self.hosts.heap_bytes()
            + self.feeds.iter().map(Feed::heap_bytes).sum::<usize>()
            + self.detect.memory_estimate()
    }
}

#[cfg(test)]
mod tests;
