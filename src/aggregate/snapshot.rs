//! The serialisable output: [`Snapshot`], [`Update`], [`Heartbeat`] and [`Series`], field for field
//! as docs/PROTOCOL.md specifies (no `type` field: the hub adds it), plus the one RFC 3339
//! formatter of this module (swapped for `crate::time` at merge; keep it the only one).

use serde::Serialize;

use crate::event::Micros;

/// RFC 3339 UTC with millisecond precision: `2026-11-24T03:40:00.250Z`.
/// Civil-from-days after Howard Hinnant's algorithm (proleptic Gregorian, any i64 day).
pub(crate) fn rfc3339_millis(micros: i64) -> String {
    let millis = micros.div_euclid(1000);
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

pub(crate) fn opt_time(t: Option<Micros>) -> Option<String> {
    t.map(rfc3339_millis)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Totals {
    pub lines: u64,
    pub events: u64,
    pub bytes: u64,
    pub packets: u64,
    pub allowed: u64,
    pub denied: u64,
    pub no_verdict: u64,
    pub skipped: u64,
    pub parse_errors: u64,
    pub overlong: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rates {
    pub window_s: u32,
    pub lines_per_s: f64,
    pub events_per_s: f64,
    pub allowed_per_s: f64,
    pub denied_per_s: f64,
    pub bytes_per_s: f64,
}

/// One number per window.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct PerWindow {
    #[serde(rename = "1m")]
    pub m1: u64,
    #[serde(rename = "5m")]
    pub m5: u64,
    #[serde(rename = "15m")]
    pub m15: u64,
    #[serde(rename = "1h")]
    pub h1: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Distinct {
    pub src: PerWindow,
    pub dst: PerWindow,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FeedsSummary {
    pub total: u64,
    /// Sources in state `ok`.
    pub active: u64,
}

/// Per-feed events in a [`Series`] (only from `Aggregator::series`, not in snapshots).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FeedSeries {
    pub name: String,
    pub events: Vec<u64>,
}

/// Buckets by arrival time, oldest first; the last one (`end`, Unix seconds of its start) is the
/// current, still-filling bucket.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Series {
    pub step_s: u32,
    pub end: i64,
    pub events: Vec<u64>,
    pub allowed: Vec<u64>,
    pub denied: Vec<u64>,
    pub bytes: Vec<u64>,
    /// Per-second distinct sources (HLL p = 8, ~6.5 % error); absent for minute steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_src: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feeds: Option<Vec<FeedSeries>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProtoEntry {
    pub key: String,
    pub count: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopEntry {
    pub key: String,
    pub count: u64,
    pub bytes: u64,
    /// Over-estimate bound of the ranked metric (0 = exact).
    pub error: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct TopWindow {
    pub src: Vec<TopEntry>,
    pub dst: Vec<TopEntry>,
    pub dport: Vec<TopEntry>,
    pub pair: Vec<TopEntry>,
    pub talkers: Vec<TopEntry>,
    pub denied_src: Vec<TopEntry>,
    pub denied_dst: Vec<TopEntry>,
    pub denied_dport: Vec<TopEntry>,
    pub denied_pair: Vec<TopEntry>,
    pub rare_dport: Vec<TopEntry>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct TopN {
    #[serde(rename = "1m")]
    pub m1: TopWindow,
    #[serde(rename = "5m")]
    pub m5: TopWindow,
    #[serde(rename = "15m")]
    pub m15: TopWindow,
    #[serde(rename = "1h")]
    pub h1: TopWindow,
}

/// One flow: `src > dst` on `service` (`tcp/443`, or the protocol alone when it has no ports).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowEntry {
    pub src: String,
    pub dst: String,
    pub service: String,
    pub proto: String,
    pub count: u64,
    pub bytes: u64,
    pub error: u64,
}

/// Top flows per window (`flows` in the snapshot).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct FlowsOut {
    #[serde(rename = "1m")]
    pub m1: Vec<FlowEntry>,
    #[serde(rename = "5m")]
    pub m5: Vec<FlowEntry>,
    #[serde(rename = "15m")]
    pub m15: Vec<FlowEntry>,
    #[serde(rename = "1h")]
    pub h1: Vec<FlowEntry>,
}

/// Denied events per destination port (rows) and minute (columns, oldest first, the last one
/// still filling and starting at `end`, Unix seconds).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct PortHeat {
    pub step_s: u32,
    pub end: i64,
    pub ports: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FirstSeenEntry {
    pub key: String,
    pub at: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FirstSeenOut {
    pub learning: bool,
    pub dport: Vec<FirstSeenEntry>,
    pub host: Vec<FirstSeenEntry>,
    /// Internal hosts not remembered because the host set was at its cap (added field).
    pub host_dropped: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LastError {
    pub at: String,
    pub reason: &'static str,
    pub line: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceOut {
    pub name: String,
    pub format: Option<&'static str>,
    pub state: &'static str,
    pub files: u64,
    pub lines: u64,
    pub events: u64,
    pub skipped: u64,
    pub parse_errors: u64,
    pub overlong: u64,
    pub lines_per_s: f64,
    pub events_per_s: f64,
    /// Arrival time of the last event.
    pub last_event_at: Option<String>,
    /// The log's own timestamp of the last event that had one (added field).
    pub last_event_ts: Option<String>,
    pub last_line_at: Option<String>,
    pub lag_bytes: u64,
    pub last_error: Option<LastError>,
    /// The tailing problem the source has right now (added field): cannot open or read a
    /// file, too many open files. `null` when there is none; it clears by itself when fixed.
    pub io_error: Option<IoErrorOut>,
    /// Events per second, last 60 s, oldest first.
    pub rate: Vec<u64>,
}

/// Full state (`snapshot` body without `type`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Snapshot {
    pub protocol: u32,
    pub seq: u64,
    pub server_time: String,
    pub started_at: String,
    pub totals: Totals,
    pub rates: Rates,
    pub distinct: Distinct,
    pub feeds: FeedsSummary,
    pub series: Series,
    pub protocols: Vec<ProtoEntry>,
    pub topn: TopN,
    /// Top flows per window (added in 0.2; docs/PROTOCOL.md).
    pub flows: FlowsOut,
    /// Denied events per port and minute, last hour (added in 0.2).
    pub port_heat: PortHeat,
    pub first_seen: FirstSeenOut,
    pub sources: Vec<SourceOut>,
    /// Open anomalies, highest severity first (at most `ANOMALIES_MAX`).
    pub anomalies: Vec<crate::detect::AnomalyOut>,
    /// State persistence health (added field); `null` when no `[state] dir` is configured.
    pub state: Option<StateOut>,
}

/// Incremental message body (`update` without `type`); absent keys are unchanged.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Update {
    pub seq: u64,
    pub server_time: String,
    pub totals: Totals,
    pub rates: Rates,
    pub distinct: Distinct,
    pub feeds: FeedsSummary,
    pub series: Series,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<ProtoEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topn: Option<TopN>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows: Option<FlowsOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_heat: Option<PortHeat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<FirstSeenOut>,
    pub sources: Vec<SourceOut>,
    /// The whole anomaly list when it changed since the previous update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomalies: Option<Vec<crate::detect::AnomalyOut>>,
    /// State persistence health when it changed since the previous update (added field), so
    /// that an open wall learns of a save failure, and of its end, without reconnecting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateOut>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeartbeatSource {
    pub name: String,
    pub state: &'static str,
    pub last_event_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Heartbeat {
    pub server_time: String,
    pub seq: u64,
    pub sources: Vec<HeartbeatSource>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_764_000_000_250_999),
            "2025-11-24T16:00:00.250Z"
        );
        assert_eq!(
            rfc3339_millis(951_782_400_000_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(rfc3339_millis(-1_000), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            rfc3339_millis(4_102_444_800_000_000),
            "2100-01-01T00:00:00.000Z"
        );
    }
}

/// `sources[].io_error`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IoErrorOut {
    /// When the problem started (RFC 3339).
    pub since: String,
    /// What failed: `open`, `stat`, `read`, `glob`, `fstat`, `head`, `fingerprint`,
    /// `max_open_files`.
    pub op: &'static str,
    pub path: String,
    pub error: String,
}

/// The snapshot's `state`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct StateOut {
    /// Last successful save (RFC 3339).
    pub saved_at: Option<String>,
    pub saves: u64,
    pub failures: u64,
    /// Snapshots not written because the previous one was still being written.
    pub skipped: u64,
    /// The current save failure (disk full, permissions, ...); `null` once a save succeeds.
    pub error: Option<StateErrorOut>,
    /// The file the running state was restored from at start, if any.
    pub restored_from: Option<String>,
    /// State files found unusable at start (each was set aside, see docs/operations.md).
    pub load_problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StateErrorOut {
    pub since: String,
    pub error: String,
}
