//! `[detect]` and its `[detect.<kind>]` tables → [`DetectSettings`], checked key by key.
//!
//! `[detect]`: `max_open`, `half_life`, `expire_after` (the anomaly table). Each
//! `[detect.<kind>]` takes `enabled` and the thresholds of that kind (every key and default:
//! docs/detections-traffic.md, docs/detections-context.md); the values land in the kind's module
//! `Settings` inside [`DetectSettings`], which `Engine::new` hands to each detector. Durations are
//! strings ("5m"), counts and byte sizes integers, ratios floats, ports integer arrays; ranges
//! keep a value inside what the detector's fixed-size state can represent. Table capacities are
//! not configurable: they are the documented memory bounds. An unknown key is an error listing
//! the kind's keys. Errors carry the full dotted key (`detect.fixed_dns_source_port.min_servers`)
//! so the config loader can point at the line.

use super::{DetectSettings, Kind, dns, first_seen};
use crate::config::parse_duration;

/// A bad value or unknown key under `[detect]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct SettingError {
    /// Dotted key, e.g. `detect.feed_silence.max_silence`.
    pub key: String,
    pub message: String,
}

struct Table<'a> {
    prefix: String,
    t: &'a toml::Table,
}

impl Table<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> SettingError {
        SettingError {
            key: format!("{}.{key}", self.prefix),
            message: message.into(),
        }
    }

    /// Rejects keys outside `known` (a typo must not be ignored on a security tool).
    fn only(&self, known: &[&str]) -> Result<(), SettingError> {
        for k in self.t.keys() {
            if !known.contains(&k.as_str()) {
                return Err(self.err(
                    k,
                    format!("unknown key; expected one of: {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn int(&self, key: &str, lo: i64, hi: i64) -> Result<Option<i64>, SettingError> {
        match self.t.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(v)) if (lo..=hi).contains(v) => Ok(Some(*v)),
            Some(toml::Value::Integer(v)) => {
                Err(self.err(key, format!("{v} is out of range; use {lo} to {hi}")))
            }
            Some(other) => Err(self.err(
                key,
                format!(
                    "expected a whole number from {lo} to {hi}, found {}",
                    show(other)
                ),
            )),
        }
    }

    /// A number with or without a decimal point, within `lo..=hi` (NaN and infinities are out).
    fn float(&self, key: &str, lo: f64, hi: f64) -> Result<Option<f64>, SettingError> {
        let v = match self.t.get(key) {
            None => return Ok(None),
            Some(toml::Value::Float(f)) => *f,
            Some(toml::Value::Integer(i)) => *i as f64,
            Some(other) => {
                return Err(self.err(
                    key,
                    format!("expected a number from {lo} to {hi}, found {}", show(other)),
                ));
            }
        };
        if !(lo..=hi).contains(&v) {
            return Err(self.err(key, format!("{v} is out of range; use {lo} to {hi}")));
        }
        Ok(Some(v))
    }

    /// An array of port numbers (0–65535), at most `max` of them; duplicates are dropped.
    fn ports(&self, key: &str, max: usize) -> Result<Option<Vec<u16>>, SettingError> {
        let Some(v) = self.t.get(key) else {
            return Ok(None);
        };
        let Some(items) = v.as_array() else {
            return Err(self.err(
                key,
                format!(
                    "expected an array of port numbers like [53, 123], found {}",
                    show(v)
                ),
            ));
        };
        if items.len() > max {
            return Err(self.err(
                key,
                format!("{} ports is too many; use at most {max}", items.len()),
            ));
        }
        let mut out: Vec<u16> = Vec::with_capacity(items.len());
        for item in items {
            let port = match item {
                toml::Value::Integer(p) => u16::try_from(*p).map_err(|_| {
                    self.err(key, format!("{p} is out of range; use ports 0 to 65535"))
                })?,
                other => {
                    return Err(self.err(
                        key,
                        format!("expected port numbers 0 to 65535, found {}", show(other)),
                    ));
                }
            };
            if !out.contains(&port) {
                out.push(port);
            }
        }
        Ok(Some(out))
    }

    /// A duration string in whole minutes within `lo..=hi` seconds, as minutes.
    fn minutes(&self, key: &str, lo: i64, hi: i64) -> Result<Option<u32>, SettingError> {
        let Some(s) = self.secs(key, lo, hi)? else {
            return Ok(None);
        };
        if s % 60 != 0 {
            return Err(self.err(
                key,
                format!("{s}s is not a whole number of minutes; write e.g. \"30m\""),
            ));
        }
        Ok(Some((s / 60) as u32))
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, SettingError> {
        match self.t.get(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(other) => Err(self.err(
                key,
                format!("expected true or false, found {}", show(other)),
            )),
        }
    }

    /// A duration string, in whole seconds within `lo..=hi` seconds.
    fn secs(&self, key: &str, lo: i64, hi: i64) -> Result<Option<i64>, SettingError> {
        let Some(v) = self.t.get(key) else {
            return Ok(None);
        };
        let hint = "write a number and a unit: \"30s\", \"5m\", \"1h\", \"7d\"";
        let d = v
            .as_str()
            .and_then(parse_duration)
            .ok_or_else(|| self.err(key, format!("{} is not a duration; {hint}", show(v))))?;
        let s = d.as_secs() as i64;
        if s < lo || s > hi {
            return Err(self.err(
                key,
                format!(
                    "{} is out of range; use {} to {}",
                    show(v),
                    fmt_s(lo),
                    fmt_s(hi)
                ),
            ));
        }
        Ok(Some(s))
    }
}

/// A value as the file wrote it (strings quoted), or its type for tables and arrays.
fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("a {}", other.type_str()),
    }
}

fn fmt_s(s: i64) -> String {
    match s {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl DetectSettings {
    /// Settings from the `[detect]` table (defaults for everything absent).
    pub fn from_table(t: &toml::Table) -> Result<DetectSettings, SettingError> {
        let mut s = DetectSettings::default();
        let top = Table {
            prefix: "detect".into(),
            t,
        };
        for (k, v) in t {
            match k.as_str() {
                "max_open" | "half_life" | "expire_after" => {}
                name => {
                    let Some(kind) = Kind::from_name(name) else {
                        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                        return Err(top.err(
                            name,
                            format!(
                                "unknown key; expected max_open, half_life, expire_after or a detector table: {}",
                                kinds.join(", ")
                            ),
                        ));
                    };
                    let Some(table) = v.as_table() else {
                        return Err(top.err(
                            name,
                            format!("expected a table: [detect.{name}] with enabled = true/false"),
                        ));
                    };
                    s.apply(kind, table)?;
                }
            }
        }
        if let Some(v) = top.int("max_open", 1, 100_000)? {
            s.table.max_open = v as usize;
        }
        if let Some(v) = top.secs("half_life", 60, 86_400)? {
            s.table.half_life_s = v;
        }
        if let Some(v) = top.secs("expire_after", 60, 7 * 86_400)? {
            s.table.expire_after_s = v;
        }
        Ok(s)
    }

    /// Applies one `[detect.<kind>]` table.
    pub fn apply(&mut self, kind: Kind, t: &toml::Table) -> Result<(), SettingError> {
        let t = Table {
            prefix: format!("detect.{}", kind.as_str()),
            t,
        };
        if let Some(on) = t.boolean("enabled")? {
            self.disabled.retain(|&k| k != kind);
            if !on {
                self.disabled.push(kind);
            }
        }
        match kind {
            Kind::FirstSeenHost | Kind::FirstSeenService => {
                let service = kind == Kind::FirstSeenService;
                let known: &[&str] = if service {
                    &["enabled", "learning", "retention", "max_port"]
                } else {
                    &["enabled", "learning", "retention"]
                };
                t.only(known)?;
                let fs = &mut self.first_seen;
                let c: &mut first_seen::Common = if service {
                    &mut fs.service
                } else {
                    &mut fs.host
                };
                if let Some(v) = t.secs("learning", 0, 30 * 86_400)? {
                    c.learning_s = v;
                }
                if let Some(v) = t.secs("retention", 3600, 90 * 86_400)? {
                    c.retention_s = v;
                }
                if let Some(v) = t.int("max_port", 1, 65_535)? {
                    fs.max_port = v as u16;
                }
            }
            Kind::FixedDnsSourcePort => {
                t.only(&[
                    "enabled",
                    "min_queries",
                    "min_servers",
                    "max_ports",
                    "window",
                    "include_external",
                ])?;
                let d = &mut self.dns;
                if let Some(v) = t.int("min_queries", 2, 1_000_000)? {
                    d.min_queries = v as u32;
                }
                if let Some(v) = t.int("min_servers", 1, dns::MAX_SERVERS as i64)? {
                    d.min_servers = v as u8;
                }
                if let Some(v) = t.int("max_ports", 1, dns::MAX_PORTS as i64)? {
                    d.max_ports = v as u8;
                }
                if let Some(v) = t.secs("window", 60, 86_400)? {
                    d.window_s = v as u32;
                }
                if let Some(v) = t.boolean("include_external")? {
                    d.fixed_include_external = v;
                }
            }
            Kind::UnapprovedResolver => {
                t.only(&["enabled", "include_external"])?;
                if let Some(v) = t.boolean("include_external")? {
                    self.dns.unapproved_include_external = v;
                }
            }
            Kind::FeedSilence => {
                t.only(&[
                    "enabled",
                    "min_silence",
                    "max_silence",
                    "factor",
                    "min_gaps",
                ])?;
                let f = &mut self.feeds;
                if let Some(v) = t.secs("min_silence", 10, 7 * 86_400)? {
                    f.min_silence_s = v;
                }
                if let Some(v) = t.secs("max_silence", 60, 30 * 86_400)? {
                    f.max_silence_s = v;
                }
                if let Some(v) = t.int("factor", 1, 1000)? {
                    f.factor = v as u32;
                }
                if let Some(v) = t.int("min_gaps", 1, 1_000_000)? {
                    f.min_gaps = v as u32;
                }
                if f.max_silence_s < f.min_silence_s {
                    return Err(t.err("max_silence", "must not be shorter than min_silence"));
                }
            }
            Kind::ParseErrors => {
                t.only(&["enabled", "jump", "min_lines"])?;
                if let Some(v) = t.int("jump", 1, 100)? {
                    self.feeds.jump_pct = v as u32;
                }
                if let Some(v) = t.int("min_lines", 1, 1_000_000_000)? {
                    self.feeds.min_lines = v as u64;
                }
            }
            Kind::WatchlistHit => t.only(&["enabled"])?,
            Kind::PortScan => {
                t.only(&["enabled", "window", "horizontal_hosts", "vertical_ports"])?;
                let p = &mut self.port_scan;
                if let Some(v) = t.secs("window", 10, 3600)? {
                    p.window_s = v as u32;
                }
                // Distinct counts are exact to 32, then estimated (about 10 % off at 2,000).
                if let Some(v) = t.int("horizontal_hosts", 2, 2000)? {
                    p.horizontal_hosts = v as u32;
                }
                if let Some(v) = t.int("vertical_ports", 2, 2000)? {
                    p.vertical_ports = v as u32;
                }
            }
            Kind::DenyBurst => {
                t.only(&[
                    "enabled", "floor", "ratio", "z", "warmup", "absolute", "alpha",
                ])?;
                let d = &mut self.deny_burst;
                if let Some(v) = t.int("floor", 1, 100_000_000)? {
                    d.floor = v as u32;
                }
                if let Some(v) = t.float("ratio", 1.0, 1000.0)? {
                    d.ratio = v;
                }
                if let Some(v) = t.float("z", 0.0, 100.0)? {
                    d.z = v;
                }
                if let Some(v) = t.minutes("warmup", 0, 7 * 86_400)? {
                    d.warmup_min = v;
                }
                if let Some(v) = t.int("absolute", 1, 100_000_000)? {
                    d.absolute = v as u32;
                }
                if let Some(v) = t.float("alpha", 0.0001, 1.0)? {
                    d.alpha = v;
                }
            }
            Kind::VolumeSpike => {
                t.only(&[
                    "enabled",
                    "floor_events",
                    "floor_bytes",
                    "ratio",
                    "z",
                    "warmup",
                    "alpha",
                    "alpha_day",
                ])?;
                let v = &mut self.volume_spike;
                if let Some(x) = t.int("floor_events", 1, 1_000_000_000)? {
                    v.floor_events = x as u64;
                }
                if let Some(x) = t.int("floor_bytes", 1, 1_000_000_000_000_000)? {
                    v.floor_bytes = x as u64;
                }
                if let Some(x) = t.float("ratio", 1.0, 1000.0)? {
                    v.ratio = x;
                }
                if let Some(x) = t.float("z", 0.0, 100.0)? {
                    v.z = x;
                }
                if let Some(x) = t.minutes("warmup", 0, 7 * 86_400)? {
                    v.warmup_min = x;
                }
                if let Some(x) = t.float("alpha", 0.0001, 1.0)? {
                    v.alpha = x;
                }
                if let Some(x) = t.float("alpha_day", 0.01, 1.0)? {
                    v.alpha_day = x;
                }
            }
            Kind::SynFlood => {
                t.only(&[
                    "enabled",
                    "floor",
                    "ratio",
                    "z",
                    "warmup",
                    "absolute",
                    "max_established_share",
                    "min_sources",
                    "alpha",
                ])?;
                let f = &mut self.syn_flood;
                if let Some(v) = t.int("floor", 1, 100_000_000)? {
                    f.floor = v as u32;
                }
                if let Some(v) = t.float("ratio", 1.0, 1000.0)? {
                    f.ratio = v;
                }
                if let Some(v) = t.float("z", 0.0, 100.0)? {
                    f.z = v;
                }
                if let Some(v) = t.minutes("warmup", 0, 7 * 86_400)? {
                    f.warmup_min = v;
                }
                if let Some(v) = t.int("absolute", 1, 100_000_000)? {
                    f.absolute = v as u32;
                }
                if let Some(v) = t.float("max_established_share", 0.0, 1.0)? {
                    f.max_established_share = v;
                }
                // Distinct sources are estimated by linear counting, which saturates near 3,000.
                if let Some(v) = t.int("min_sources", 1, 2000)? {
                    f.min_sources = v as u32;
                }
                if let Some(v) = t.float("alpha", 0.0001, 1.0)? {
                    f.alpha = v;
                }
            }
            Kind::LargeOutbound => {
                t.only(&[
                    "enabled",
                    "bucket",
                    "floor_bytes",
                    "ratio",
                    "z",
                    "warmup",
                    "absolute_bytes",
                    "alpha",
                ])?;
                let l = &mut self.large_outbound;
                if let Some(v) = t.minutes("bucket", 60, 86_400)? {
                    l.bucket_s = v * 60;
                }
                if let Some(v) = t.int("floor_bytes", 1, 1_000_000_000_000_000)? {
                    l.floor_bytes = v as u64;
                }
                if let Some(v) = t.float("ratio", 1.0, 1000.0)? {
                    l.ratio = v;
                }
                if let Some(v) = t.float("z", 0.0, 100.0)? {
                    l.z = v;
                }
                // Read after `bucket` (whatever the key order in the file): the warm-up is kept
                // as a number of buckets, rounded up.
                if let Some(v) = t.secs("warmup", 0, 30 * 86_400)? {
                    l.warmup_buckets = (v as u64).div_ceil(u64::from(l.bucket_s.max(1))) as u32;
                }
                if let Some(v) = t.int("absolute_bytes", 1, 1_000_000_000_000_000)? {
                    l.absolute_bytes = v as u64;
                }
                if let Some(v) = t.float("alpha", 0.0001, 1.0)? {
                    l.alpha = v;
                }
            }
            Kind::Beaconing => {
                t.only(&[
                    "enabled",
                    "min_connections",
                    "min_interval",
                    "min_score",
                    "max_median_bytes",
                    "ignore_ports",
                ])?;
                let b = &mut self.beaconing;
                if let Some(v) = t.int("min_connections", 3, 100_000)? {
                    b.min_connections = v as u32;
                }
                if let Some(v) = t.secs("min_interval", 1, 3600)? {
                    b.min_interval_s = v as u32;
                }
                if let Some(v) = t.float("min_score", 0.1, 1.0)? {
                    b.min_score = v;
                }
                if let Some(v) = t.int("max_median_bytes", 1, 4_000_000_000)? {
                    b.max_median_bytes = v as u64;
                }
                if let Some(v) = t.ports("ignore_ports", 64)? {
                    b.ignore_ports = v;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<DetectSettings, SettingError> {
        let t: toml::Table = toml::from_str(s).unwrap();
        DetectSettings::from_table(t.get("detect").and_then(|d| d.as_table()).unwrap())
    }

    #[test]
    fn kinds_switch_off_and_thresholds_apply() {
        let s = parse(
            "[detect]\nmax_open = 50\nhalf_life = \"5m\"\n[detect.port_scan]\nenabled = false\n[detect.fixed_dns_source_port]\nmin_servers = 3\nwindow = \"30m\"\n[detect.first_seen_host]\nlearning = \"0s\"\n[detect.feed_silence]\nmax_silence = \"2h\"\n",
        )
        .unwrap();
        assert_eq!(s.disabled, vec![Kind::PortScan]);
        assert_eq!(s.table.max_open, 50);
        assert_eq!(s.table.half_life_s, 300);
        assert_eq!((s.dns.min_servers, s.dns.window_s), (3, 1800));
        assert_eq!(s.first_seen.host.learning_s, 0);
        assert_eq!(s.first_seen.service.learning_s, 86_400);
        assert_eq!(s.feeds.max_silence_s, 7200);
    }

    #[test]
    fn errors_name_the_full_key() {
        let e = parse("[detect.fixed_dns_source_port]\nmin_servers = 9\n").unwrap_err();
        assert_eq!(e.key, "detect.fixed_dns_source_port.min_servers");
        assert_eq!(e.message, "9 is out of range; use 1 to 8");
        let e = parse("[detect.port_scan]\nthreshold = 3\n").unwrap_err();
        assert_eq!(e.key, "detect.port_scan.threshold");
        let e = parse("[detect.portscan]\nenabled = false\n").unwrap_err();
        assert_eq!(e.key, "detect.portscan");
        assert!(e.message.starts_with("unknown key"), "{e}");
        let e = parse("[detect.feed_silence]\nmax_silence = \"soon\"\n").unwrap_err();
        assert_eq!(e.key, "detect.feed_silence.max_silence");
        let e = parse("[detect.watchlist_hit]\nenabled = \"yes\"\n").unwrap_err();
        assert_eq!(e.message, "expected true or false, found \"yes\"");
    }

    #[test]
    fn traffic_kinds_take_every_threshold() {
        let s = parse(
            r#"
[detect.port_scan]
window = "10m"
horizontal_hosts = 50
vertical_ports = 30
[detect.deny_burst]
floor = 200
ratio = 8
z = 4.5
warmup = "1h"
absolute = 5000
alpha = 0.01
[detect.volume_spike]
floor_events = 1200
floor_bytes = 500000000
ratio = 2.5
z = 5
warmup = "2h"
alpha = 0.05
alpha_day = 0.5
[detect.syn_flood]
floor = 6000
ratio = 4
z = 7
warmup = "45m"
absolute = 60000
max_established_share = 0.1
min_sources = 50
alpha = 0.02
[detect.large_outbound]
warmup = "12h"
bucket = "15m"
floor_bytes = 300000000
ratio = 3
z = 5
absolute_bytes = 2000000000
alpha = 0.01
[detect.beaconing]
min_connections = 20
min_interval = "10s"
min_score = 0.9
max_median_bytes = 50000
ignore_ports = [53, 123, 8443, 53]
"#,
        )
        .unwrap();
        let p = &s.port_scan;
        assert_eq!(
            (p.window_s, p.horizontal_hosts, p.vertical_ports),
            (600, 50, 30)
        );
        let d = &s.deny_burst;
        assert_eq!((d.floor, d.warmup_min, d.absolute), (200, 60, 5000));
        assert_eq!((d.ratio, d.z, d.alpha), (8.0, 4.5, 0.01));
        let v = &s.volume_spike;
        assert_eq!(
            (v.floor_events, v.floor_bytes, v.warmup_min),
            (1200, 500_000_000, 120)
        );
        assert_eq!((v.ratio, v.z, v.alpha, v.alpha_day), (2.5, 5.0, 0.05, 0.5));
        let f = &s.syn_flood;
        assert_eq!(
            (f.floor, f.warmup_min, f.absolute, f.min_sources),
            (6000, 45, 60_000, 50)
        );
        assert_eq!(
            (f.ratio, f.z, f.max_established_share, f.alpha),
            (4.0, 7.0, 0.1, 0.02)
        );
        let l = &s.large_outbound;
        // 12 h of 15-minute buckets, though `warmup` came before `bucket` in the file.
        assert_eq!((l.bucket_s, l.warmup_buckets), (900, 48));
        assert_eq!(
            (l.floor_bytes, l.absolute_bytes),
            (300_000_000, 2_000_000_000)
        );
        assert_eq!((l.ratio, l.z, l.alpha), (3.0, 5.0, 0.01));
        let b = &s.beaconing;
        assert_eq!(
            (b.min_connections, b.min_interval_s, b.min_score),
            (20, 10, 0.9)
        );
        assert_eq!(b.max_median_bytes, 50_000);
        assert_eq!(b.ignore_ports, vec![53, 123, 8443]);
        // Nothing else moved; capacities are not configurable (fixed memory bounds).
        assert!(s.disabled.is_empty());
        assert_eq!(s.dns, dns::Settings::default());
        assert_eq!(
            b.capacity,
            super::super::beaconing::Settings::default().capacity
        );
        // A warm-up that is not a whole number of buckets rounds up.
        let s = parse("[detect.large_outbound]\nwarmup = \"25m\"\n").unwrap();
        assert_eq!(s.large_outbound.warmup_buckets, 3);
    }

    #[test]
    fn traffic_kinds_name_the_bad_key() {
        let bad = |toml: &str, key: &str, message: &str| {
            let e = parse(toml).unwrap_err();
            assert_eq!(
                (e.key.as_str(), e.message.as_str()),
                (key, message),
                "{toml}"
            );
        };
        bad(
            "[detect.port_scan]\nhorizontal_hosts = 1\n",
            "detect.port_scan.horizontal_hosts",
            "1 is out of range; use 2 to 2000",
        );
        bad(
            "[detect.port_scan]\nthreshold = 3\n",
            "detect.port_scan.threshold",
            "unknown key; expected one of: enabled, window, horizontal_hosts, vertical_ports",
        );
        bad(
            "[detect.deny_burst]\nratio = 0.5\n",
            "detect.deny_burst.ratio",
            "0.5 is out of range; use 1 to 1000",
        );
        bad(
            "[detect.deny_burst]\nfloor = \"100\"\n",
            "detect.deny_burst.floor",
            "expected a whole number from 1 to 100000000, found \"100\"",
        );
        bad(
            "[detect.volume_spike]\nwarmup = \"90s\"\n",
            "detect.volume_spike.warmup",
            "90s is not a whole number of minutes; write e.g. \"30m\"",
        );
        bad(
            "[detect.volume_spike]\nalpha_day = 0\n",
            "detect.volume_spike.alpha_day",
            "0 is out of range; use 0.01 to 1",
        );
        bad(
            "[detect.syn_flood]\nmax_established_share = 1.5\n",
            "detect.syn_flood.max_established_share",
            "1.5 is out of range; use 0 to 1",
        );
        bad(
            "[detect.syn_flood]\nmin_sources = 5000\n",
            "detect.syn_flood.min_sources",
            "5000 is out of range; use 1 to 2000",
        );
        bad(
            "[detect.large_outbound]\nbucket = \"30s\"\n",
            "detect.large_outbound.bucket",
            "\"30s\" is out of range; use 1m to 1d",
        );
        bad(
            "[detect.large_outbound]\nabsolute_bytes = -1\n",
            "detect.large_outbound.absolute_bytes",
            "-1 is out of range; use 1 to 1000000000000000",
        );
        bad(
            "[detect.beaconing]\nmin_score = \"high\"\n",
            "detect.beaconing.min_score",
            "expected a number from 0.1 to 1, found \"high\"",
        );
        bad(
            "[detect.beaconing]\nignore_ports = 53\n",
            "detect.beaconing.ignore_ports",
            "expected an array of port numbers like [53, 123], found 53",
        );
        bad(
            "[detect.beaconing]\nignore_ports = [53, \"ntp\"]\n",
            "detect.beaconing.ignore_ports",
            "expected port numbers 0 to 65535, found \"ntp\"",
        );
        bad(
            "[detect.beaconing]\nmin_interval = \"2h\"\n",
            "detect.beaconing.min_interval",
            "\"2h\" is out of range; use 1s to 1h",
        );
    }

    #[test]
    fn shipped_commented_examples_are_valid_and_the_defaults() {
        // The commented `[detect.<traffic kind>]` tables of config/socwall.toml, uncommented.
        let text = include_str!("../../config/socwall.toml");
        let start = text.find("# [detect.port_scan]").expect("examples shipped");
        let mut toml = String::new();
        for line in text[start..].lines() {
            let Some(l) = line.strip_prefix('#') else {
                break;
            };
            let l = l.strip_prefix(' ').unwrap_or(l);
            if !l.starts_with('#') {
                toml.push_str(l);
                toml.push('\n');
            }
        }
        let t: toml::Table = toml::from_str(&toml).unwrap();
        let t = t["detect"].as_table().unwrap();
        let mut s = DetectSettings::from_table(t).unwrap();
        let d = DetectSettings::default();
        // The file writes the EWMA weights to six places.
        for (got, want) in [
            (&mut s.deny_burst.alpha, d.deny_burst.alpha),
            (&mut s.volume_spike.alpha, d.volume_spike.alpha),
            (&mut s.syn_flood.alpha, d.syn_flood.alpha),
            (&mut s.large_outbound.alpha, d.large_outbound.alpha),
        ] {
            assert!((*got - want).abs() < 1e-6, "{got} vs {want}");
            *got = want;
        }
        assert_eq!(s, d);
        assert_eq!(t.len(), 6, "{toml}");
    }

    /// Thresholds from config reach the detectors: each kind, fed the same traffic with its
    /// defaults and with one changed key, fires only with the change (explicit clock).
    mod thresholds_change_firing {
        use super::parse;
        use crate::detect::testkit::*;
        use crate::detect::{
            DetectSettings, Kind, beaconing, deny_burst, large_outbound, port_scan, syn_flood,
            volume_spike,
        };
        use crate::event::{Action, Proto, Record};

        fn with(toml: &str) -> DetectSettings {
            parse(toml).unwrap()
        }

        #[test]
        fn port_scan_vertical_ports() {
            let run = |s: &DetectSettings| {
                let mut r = Rig::new(port_scan::PortScan::new(s.port_scan.clone(), T0));
                // 203.0.113.9 tries 10 ports of 10.2.0.5, one every 2 s.
                for p in 0..10u16 {
                    r.feed(&deny("203.0.113.9", "10.2.0.5", 2000 + p));
                    r.advance(2.0);
                }
                r.advance(5.0);
                r.findings
            };
            assert!(run(&DetectSettings::default()).is_empty());
            let f = run(&with("[detect.port_scan]\nvertical_ports = 10\n"));
            assert_eq!(f.len(), 1, "{f:?}");
            assert_eq!(f[0].kind, Kind::PortScan);
            assert_eq!(f[0].evidence["ports"], 10);
            assert_eq!(f[0].evidence["thresholds"]["vertical_ports"], 10);
        }

        #[test]
        fn deny_burst_absolute() {
            let run = |s: &DetectSettings| {
                let mut r = Rig::new(deny_burst::DenyBurst::new(s.deny_burst.clone(), T0));
                // A source without history: 200 denials in 20 s, within one minute.
                r.advance_to((T0 / (60 * S) + 1) * 60 * S);
                for i in 0..200u32 {
                    r.feed(&deny("203.0.113.50", "10.2.0.5", 23));
                    if i % 10 == 9 {
                        r.advance(1.0);
                    }
                }
                r.advance(1.0);
                r.findings
            };
            assert!(run(&DetectSettings::default()).is_empty());
            let f = run(&with("[detect.deny_burst]\nabsolute = 150\nfloor = 150\n"));
            assert_eq!(f.len(), 1, "{f:?}");
            assert_eq!(f[0].kind, Kind::DenyBurst);
            assert_eq!(f[0].evidence["rule"], "absolute");
            assert_eq!(f[0].evidence["denied_this_minute"], 150);
        }

        #[test]
        fn volume_spike_warmup() {
            let run = |s: &DetectSettings| {
                let mut r = Rig::new(volume_spike::VolumeSpike::new(s.volume_spike.clone(), T0));
                r.tick_every = 10;
                r.advance_to((T0 / (60 * S) + 1) * 60 * S);
                // 15 minutes of 100 events a minute, then a minute of 2,000.
                for n in std::iter::repeat_n(100u32, 15).chain([2000]) {
                    let start = r.now;
                    for i in 0..n {
                        r.feed(&allow("10.1.0.7", "198.51.100.80", 443));
                        if i % 50 == 49 {
                            r.advance_to(start + 60 * S * i64::from(i + 1) / i64::from(n));
                        }
                    }
                    r.advance_to(start + 60 * S);
                }
                r.findings
            };
            assert!(run(&DetectSettings::default()).is_empty());
            let f = run(&with("[detect.volume_spike]\nwarmup = \"10m\"\n"));
            let total: Vec<_> = f.iter().filter(|f| f.entity == "all traffic").collect();
            assert_eq!(total.len(), 1, "{f:?}");
            assert_eq!(total[0].kind, Kind::VolumeSpike);
            // max(floor 600, 3 × 100, 100 + 6 × 10)
            assert_eq!(total[0].evidence["threshold"], 600.0);
        }

        #[test]
        fn syn_flood_absolute() {
            let run = |s: &DetectSettings| {
                let mut r = Rig::new(syn_flood::SynFlood::new(s.syn_flood.clone(), T0));
                r.advance_to((T0 / (60 * S) + 1) * 60 * S);
                // 100 sources, 4,000 denied TCP attempts on 10.2.0.80:443 in 40 s.
                for i in 0..4000u32 {
                    r.feed(&rec(
                        v4(0xcb00_7100 + i % 100),
                        ipa("10.2.0.80"),
                        443,
                        Proto::TCP,
                        Some(Action::Deny),
                    ));
                    if i % 100 == 99 {
                        r.advance(1.0);
                    }
                }
                r.findings
            };
            assert!(run(&DetectSettings::default()).is_empty());
            let f = run(&with("[detect.syn_flood]\nabsolute = 3000\n"));
            assert_eq!(f.len(), 1, "{f:?}");
            assert_eq!(f[0].kind, Kind::SynFlood);
            assert_eq!(f[0].evidence["rule"], "absolute");
            assert_eq!(f[0].evidence["attempts_this_minute"], 3000);
            // The same flood from 100 sources is too small a crowd once min_sources is 200.
            let f = run(&with(
                "[detect.syn_flood]\nabsolute = 3000\nmin_sources = 200\n",
            ));
            assert!(f.is_empty(), "{f:?}");
        }

        #[test]
        fn large_outbound_absolute_bytes() {
            let run = |s: &DetectSettings| {
                let mut r = Rig::new(large_outbound::LargeOutbound::new(
                    s.large_outbound.clone(),
                    T0,
                ));
                r.tick_every = 10;
                // 30 × 10 MB from one host in its first 5 minutes (T0 is 200 s into a bucket).
                for _ in 0..30 {
                    let mut x = allow("10.1.0.50", "198.51.100.99", 443);
                    x.bytes = 10_000_000;
                    r.feed(&x);
                    r.advance(10.0);
                }
                r.findings
            };
            assert!(run(&DetectSettings::default()).is_empty());
            let f = run(&with(
                "[detect.large_outbound]\nabsolute_bytes = 250000000\n",
            ));
            assert_eq!(f.len(), 1, "{f:?}");
            assert_eq!(f[0].kind, Kind::LargeOutbound);
            assert_eq!(f[0].evidence["rule"], "absolute");
            assert_eq!(f[0].evidence["bytes_this_bucket"], 250_000_000);
        }

        /// A perfectly regular beacon, `n` connections of 300 bytes every 60 s.
        fn beacon(s: &DetectSettings, n: u32) -> Vec<crate::detect::Finding> {
            let mut r = Rig::new(beaconing::Beaconing::new(s.beaconing.clone(), T0));
            r.tick_every = 10;
            for _ in 0..n {
                let mut x: Record = allow("10.1.0.23", "198.51.100.7", 443);
                x.bytes = 300;
                r.feed(&x);
                r.advance(60.0);
            }
            r.findings
        }

        #[test]
        fn beaconing_min_connections_and_ignore_ports() {
            assert!(beacon(&DetectSettings::default(), 8).is_empty());
            let f = beacon(&with("[detect.beaconing]\nmin_connections = 5\n"), 8);
            assert!(!f.is_empty());
            assert_eq!(f[0].kind, Kind::Beaconing);
            assert_eq!(f[0].evidence["connections"], 5);
            // Twenty connections fire by default, and not once 443 is ignored.
            assert!(!beacon(&DetectSettings::default(), 20).is_empty());
            let f = beacon(&with("[detect.beaconing]\nignore_ports = [443]\n"), 20);
            assert!(f.is_empty(), "{f:?}");
        }
    }
}
