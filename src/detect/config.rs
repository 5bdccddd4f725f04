//! `[detect]` and its `[detect.<kind>]` tables → [`DetectSettings`], checked key by key.
//!
//! `[detect]`: `max_open`, `half_life`, `expire_after` (the anomaly table). Each
//! `[detect.<kind>]` takes `enabled` and the thresholds of that kind. Kinds whose thresholds are
//! not configurable yet (port_scan, deny_burst, volume_spike, syn_flood, large_outbound,
//! beaconing: their modules define them) take only `enabled`; any other key is an error naming
//! the kind. Errors carry the full dotted key (`detect.fixed_dns_source_port.min_servers`) so the
//! config loader can point at the line.

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
            // TODO(detectors): thresholds of these kinds are defined by their own modules; until
            // each module's Settings takes its table here, only `enabled` is accepted.
            Kind::PortScan
            | Kind::DenyBurst
            | Kind::VolumeSpike
            | Kind::Beaconing
            | Kind::LargeOutbound
            | Kind::SynFlood => {
                for k in t.t.keys() {
                    if k != "enabled" {
                        return Err(t.err(
                            k,
                            format!(
                                "unknown key; {} takes only `enabled` for now (its thresholds are not configurable yet)",
                                kind.as_str()
                            ),
                        ));
                    }
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
}
