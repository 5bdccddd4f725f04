//! Dashboards and playlists as data: `dashboards/*.toml` (built in, embedded) plus an optional
//! directory of the user's own, validated into the JSON the wall page renders, and re-validated
//! while the daemon runs (hot reload: a broken file keeps its last good version).
//!
//! `playlists.toml` (built-in and/or in the directory) is not a dashboard: it holds the
//! `[[playlist]]` tables that `/p/{name}` rotates through.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::config::{ConfigError, Locator, first_line, parse_duration, toml_error_line};

/// Widget kinds the wall page knows (`web/widgets/<kind>/`).
pub const WIDGET_KINDS: &[&str] = &[
    "stat",
    "timeseries",
    "topn",
    "feeds",
    "clock",
    "text",
    "heatmap",
    "graph",
    "parallel",
    "health",
    "anomalies",
];
/// Windows the aggregator keeps top-N for.
pub const WINDOWS: &[&str] = &["1m", "5m", "15m", "1h"];
/// Top-N dimensions (docs/PROTOCOL.md).
pub const DIMS: &[&str] = &[
    "src",
    "dst",
    "dport",
    "pair",
    "talkers",
    "denied_src",
    "denied_dst",
    "denied_dport",
    "denied_pair",
    "rare_dport",
];
/// Time ranges a `timeseries` widget may show.
pub const RANGES: &[&str] = &["15m", "1h", "6h", "24h", "7d"];
/// Series names the page can draw (`series` in the snapshot, `/api/v1/series` for long ranges).
pub const SERIES: &[&str] = &["events", "allowed", "denied", "bytes", "distinct_src"];
/// The file in a dashboards directory that holds playlists instead of a dashboard.
pub const PLAYLISTS_FILE: &str = "playlists.toml";
/// Shortest and longest playlist dwell.
pub const DWELL_RANGE: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(86_400));
/// Most screens a dashboard may be split over (`screen = N` on a widget, `?screen=N` in the URL).
pub const MAX_SCREENS: i64 = 16;

/// One validated dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub name: String,
    /// Where it came from: `built-in` or a file path.
    pub origin: String,
    /// The spec as the page gets it from `/api/v1/dashboards/{name}` (TOML keys as JSON keys).
    pub spec: Value,
}

/// One validated playlist: dashboards shown in turn, each for `dwell`.
#[derive(Debug, Clone, PartialEq)]
pub struct Playlist {
    pub name: String,
    pub dashboards: Vec<String>,
    pub dwell: Duration,
    pub origin: String,
}

impl Playlist {
    /// The playlist as `/api/v1/playlists/{name}` serves it.
    pub fn json(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "dashboards": self.dashboards,
            "dwell_s": self.dwell.as_secs_f64(),
        })
    }
}

/// All dashboards and playlists by name, which one `/` shows, and the problems of the last
/// (re)load that were survived by keeping a last good version.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboards {
    pub by_name: BTreeMap<String, Dashboard>,
    pub playlists: BTreeMap<String, Playlist>,
    pub default: String,
    /// Problems found by the last tolerant load (file:line:key), oldest file first.
    pub errors: Vec<ConfigError>,
    /// Bumped when the operator orders every open wall to reload its page (SIGHUP).
    pub page_generation: u64,
}

/// Dashboard names are URL path segments: keep them boring.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One file of the directory as last seen: what the hot-reload poll compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    pub path: PathBuf,
    pub len: u64,
    pub modified: Option<SystemTime>,
}

/// `*.toml` files of `dir` with their size and modification time, sorted by path (an unreadable
/// directory lists nothing; the load reports it).
pub fn stamps(dir: &Path) -> Vec<FileStamp> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<FileStamp> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            FileStamp {
                len: meta.as_ref().map_or(0, |m| m.len()),
                modified: meta.and_then(|m| m.modified().ok()),
                path,
            }
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

impl Dashboards {
    /// Built-in dashboards, then every `*.toml` in `dir` (a file there replaces the built-in of the
    /// same name). Strict: returns every problem found, not just the first (`socwall check`).
    pub fn load(dir: Option<&Path>, default: &str) -> Result<Dashboards, Vec<ConfigError>> {
        let d = Self::load_tolerant(dir, default, None);
        if d.errors.is_empty() {
            Ok(d)
        } else {
            Err(d.errors)
        }
    }

    /// As [`Dashboards::load`], but a file that does not validate keeps the version `prev` had
    /// (if any) and its error is recorded in `errors` instead of failing the whole load: the
    /// running walls never lose a dashboard to a half-saved edit.
    pub fn load_tolerant(dir: Option<&Path>, default: &str, prev: Option<&Dashboards>) -> Self {
        let mut by_name = BTreeMap::new();
        let mut errors = Vec::new();
        let mut playlist_sources: Vec<(String, String)> = Vec::new();
        for (file, bytes) in crate::web::assets::DASHBOARDS {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let label = format!("dashboards/{file} (built-in)");
            if *file == PLAYLISTS_FILE {
                playlist_sources.push((label, text));
                continue;
            }
            let Some(name) = file.strip_suffix(".toml") else {
                continue;
            };
            match parse(name, &text, &label) {
                Ok(mut d) => {
                    d.origin = "built-in".into();
                    by_name.insert(d.name.clone(), d);
                }
                Err(e) => errors.push(e),
            }
        }
        if let Some(dir) = dir {
            match std::fs::read_dir(dir) {
                Err(e) => errors.push(ConfigError {
                    file: dir.display().to_string(),
                    line: None,
                    key: Some("dashboards.dir".into()),
                    message: format!("cannot read the dashboards directory: {e}"),
                }),
                Ok(_) => {
                    for stamp in stamps(dir) {
                        let path = stamp.path;
                        let file = path.display().to_string();
                        let fname = path.file_name().and_then(|s| s.to_str()).unwrap_or("");
                        let text = match std::fs::read_to_string(&path) {
                            Ok(t) => t,
                            Err(e) => {
                                errors.push(ConfigError {
                                    file,
                                    line: None,
                                    key: None,
                                    message: format!("cannot read: {e}"),
                                });
                                continue;
                            }
                        };
                        if fname == PLAYLISTS_FILE {
                            playlist_sources.push((file, text));
                            continue;
                        }
                        let name = path
                            .file_stem()
                            .and_then(|s| s.to_str())
                            .unwrap_or("")
                            .to_string();
                        if !valid_name(&name) {
                            errors.push(ConfigError {
                                file,
                                line: None,
                                key: None,
                                message: "dashboard file names must be letters, digits, - and _ (the name is the URL /d/NAME)".into(),
                            });
                            continue;
                        }
                        match parse(&name, &text, &file) {
                            Ok(d) => {
                                by_name.insert(name, d);
                            }
                            Err(e) => {
                                // Keep the last good version of this file, if there was one.
                                if let Some(old) = prev
                                    .and_then(|p| p.by_name.get(&name))
                                    .filter(|old| old.origin == file)
                                {
                                    by_name.insert(name, old.clone());
                                }
                                errors.push(e);
                            }
                        }
                    }
                }
            }
        }
        let mut playlists = BTreeMap::new();
        for (file, text) in &playlist_sources {
            match parse_playlists(text, file, &by_name) {
                Ok(list) => {
                    for p in list {
                        playlists.insert(p.name.clone(), p);
                    }
                }
                Err(e) => {
                    if let Some(p) = prev {
                        for (k, v) in &p.playlists {
                            if &v.origin == file {
                                playlists.insert(k.clone(), v.clone());
                            }
                        }
                    }
                    errors.push(e);
                }
            }
        }
        if !by_name.contains_key(default) {
            errors.push(ConfigError {
                file: "config".into(),
                line: None,
                key: Some("dashboards.default".into()),
                message: format!(
                    "no dashboard named `{default}`; available: {}",
                    by_name.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        Dashboards {
            by_name,
            playlists,
            default: default.to_string(),
            errors,
            page_generation: prev.map_or(0, |p| p.page_generation),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Dashboard> {
        self.by_name.get(name)
    }

    /// Names of dashboards whose spec differs between `self` and `newer` (added, changed or
    /// removed), and likewise of playlists.
    pub fn changes(&self, newer: &Dashboards) -> (Vec<String>, Vec<String>) {
        fn diff<T: PartialEq>(
            a: &BTreeMap<String, T>,
            b: &BTreeMap<String, T>,
            eq: impl Fn(&T, &T) -> bool,
        ) -> Vec<String> {
            let mut out: Vec<String> = a
                .iter()
                .filter(|(k, v)| b.get(*k).is_none_or(|w| !eq(v, w)))
                .map(|(k, _)| k.clone())
                .collect();
            out.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
            out.sort();
            out
        }
        (
            diff(&self.by_name, &newer.by_name, |x, y| x.spec == y.spec),
            diff(&self.playlists, &newer.playlists, |x, y| x == y),
        )
    }
}

/// Parses and validates a `playlists.toml`: `[[playlist]]` tables with `name`, `dashboards` (that
/// must exist) and `dwell` (default 45 s).
pub fn parse_playlists(
    text: &str,
    file: &str,
    dashboards: &BTreeMap<String, Dashboard>,
) -> Result<Vec<Playlist>, ConfigError> {
    let loc = Locator { text, file };
    let table: toml::Table = toml::from_str(text).map_err(|e| toml_err(e, text, file))?;
    for key in table.keys() {
        if key != "playlist" {
            return Err(loc.err(
                key,
                "unknown key; a playlists file holds [[playlist]] tables".into(),
            ));
        }
    }
    let Some(list) = table.get("playlist") else {
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        return Err(loc.err("playlist", "write playlists as [[playlist]] tables".into()));
    };
    let mut out: Vec<Playlist> = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let Some(p) = p.as_table() else {
            return Err(loc.err_item(
                "playlist",
                i,
                "name",
                "each [[playlist]] must be a table".into(),
            ));
        };
        for key in p.keys() {
            if !["name", "dashboards", "dwell"].contains(&key.as_str()) {
                return Err(loc.err_item(
                    "playlist",
                    i,
                    key,
                    "unknown key; allowed: name, dashboards, dwell".into(),
                ));
            }
        }
        let name = match p.get("name").and_then(|v| v.as_str()) {
            Some(n) if valid_name(n) => n.to_string(),
            _ => {
                return Err(loc.err_item(
                    "playlist",
                    i,
                    "name",
                    "every playlist needs a name of letters, digits, - and _ (the URL /p/NAME)"
                        .into(),
                ));
            }
        };
        if out.iter().any(|o| o.name == name) {
            return Err(loc.err_item("playlist", i, "name", format!("`{name}` is defined twice")));
        }
        let names: Vec<String> = match p.get("dashboards").and_then(|v| v.as_array()) {
            Some(a) if !a.is_empty() && a.iter().all(|v| v.is_str()) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => {
                return Err(loc.err_item(
                    "playlist",
                    i,
                    "dashboards",
                    "list the dashboards to rotate, e.g. dashboards = [\"soc-wall\", \"network-flows\"]".into(),
                ));
            }
        };
        if let Some(missing) = names.iter().find(|n| !dashboards.contains_key(*n)) {
            return Err(loc.err_item(
                "playlist",
                i,
                "dashboards",
                format!(
                    "no dashboard named `{missing}`; available: {}",
                    dashboards.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let dwell = match p.get("dwell") {
            None => Duration::from_secs(45),
            Some(v) => match v.as_str().and_then(parse_duration) {
                Some(d) if (DWELL_RANGE.0..=DWELL_RANGE.1).contains(&d) => d,
                _ => {
                    return Err(loc.err_item(
                        "playlist",
                        i,
                        "dwell",
                        "write a duration from \"2s\" to \"1d\", e.g. dwell = \"45s\"".into(),
                    ));
                }
            },
        };
        out.push(Playlist {
            name,
            dashboards: names,
            dwell,
            origin: file.to_string(),
        });
    }
    Ok(out)
}

fn toml_err(e: toml::de::Error, text: &str, file: &str) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        line: e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .or_else(|| toml_error_line(&e.to_string())),
        key: None,
        message: format!("not valid TOML: {}", first_line(e.message())),
    }
}

/// Checks a widget option against a list of allowed string values.
fn one_of(
    loc: &Locator<'_>,
    w: &toml::Table,
    i: usize,
    key: &str,
    allowed: &[&str],
) -> Result<(), ConfigError> {
    match w.get(key) {
        None => Ok(()),
        Some(toml::Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(v) => Err(loc.err_item(
            "widget",
            i,
            key,
            format!(
                "{} is not allowed; use one of: {}",
                show(v),
                allowed.join(", ")
            ),
        )),
    }
}

/// Checks an optional integer widget option.
fn int_in(
    loc: &Locator<'_>,
    w: &toml::Table,
    i: usize,
    key: &str,
    (lo, hi): (i64, i64),
) -> Result<(), ConfigError> {
    match w.get(key) {
        None => Ok(()),
        Some(toml::Value::Integer(v)) if (lo..=hi).contains(v) => Ok(()),
        Some(v) => Err(loc.err_item(
            "widget",
            i,
            key,
            format!("{} is not allowed; use {lo} to {hi}", show(v)),
        )),
    }
}

/// Kind-specific options: every value the page would otherwise have to guess about.
fn check_options(
    loc: &Locator<'_>,
    w: &toml::Table,
    i: usize,
    kind: &str,
) -> Result<(), ConfigError> {
    const COMPARE: &[&str] = &["yesterday", "last_week"];
    const TODAY: &[&str] = &["events", "allowed", "denied", "bytes"];
    one_of(loc, w, i, "window", WINDOWS)?;
    int_in(loc, w, i, "screen", (1, MAX_SCREENS))?;
    match kind {
        "stat" => {
            let has_metric = w
                .get("metric")
                .and_then(|v| v.as_str())
                .is_some_and(|m| !m.is_empty());
            if !has_metric && w.get("today").is_none() && w.get("count").is_none() {
                return Err(loc.err_item(
                    "widget",
                    i,
                    "metric",
                    "a stat widget needs metric, a path into the state such as \"rates.events_per_s\" (or today = \"denied\", or count = \"anomalies\")"
                        .into(),
                ));
            }
            one_of(loc, w, i, "today", TODAY)?;
            int_in(loc, w, i, "min", (i64::MIN, i64::MAX))?;
            int_in(loc, w, i, "max", (i64::MIN, i64::MAX))?;
            one_of(loc, w, i, "compare", COMPARE)?;
            one_of(loc, w, i, "compare_series", TODAY)?;
            one_of(loc, w, i, "colour", &["allowed", "denied", "neutral"])?;
            if w.get("compare").is_some()
                && w.get("today").is_none()
                && w.get("compare_series").is_none()
            {
                return Err(loc.err_item(
                    "widget",
                    i,
                    "compare",
                    "compare needs today = \"…\" or compare_series = \"…\" (the per-minute history it is measured on)".into(),
                ));
            }
        }
        "timeseries" => {
            one_of(loc, w, i, "range", RANGES)?;
            one_of(loc, w, i, "mode", &["stacked", "lines"])?;
            one_of(loc, w, i, "compare", COMPARE)?;
            if let Some(v) = w.get("series") {
                let ok = v.as_array().is_some_and(|a| {
                    !a.is_empty()
                        && a.len() <= 4
                        && a.iter()
                            .all(|s| s.as_str().is_some_and(|s| SERIES.contains(&s)))
                });
                if !ok {
                    return Err(loc.err_item(
                        "widget",
                        i,
                        "series",
                        format!("list 1 to 4 of: {}", SERIES.join(", ")),
                    ));
                }
            }
        }
        "topn" => {
            match w.get("dim").and_then(|v| v.as_str()) {
                Some(d) if DIMS.contains(&d) => {}
                _ => {
                    return Err(loc.err_item(
                        "widget",
                        i,
                        "dim",
                        format!("a topn widget needs dim, one of: {}", DIMS.join(", ")),
                    ));
                }
            }
            if let Some(n) = w.get("n") {
                if !n.as_integer().is_some_and(|n| (1..=50).contains(&n)) {
                    return Err(loc.err_item("widget", i, "n", "use 1 to 50".into()));
                }
            }
            one_of(loc, w, i, "value", &["count", "bytes"])?;
            one_of(loc, w, i, "order", &["top", "bottom"])?;
        }
        "heatmap" => {
            one_of(loc, w, i, "mode", &["port-time", "hour-day"])?;
            one_of(loc, w, i, "series", TODAY)?;
        }
        "graph" | "parallel" => int_in(loc, w, i, "n", (2, 50))?,
        "anomalies" => int_in(loc, w, i, "n", (1, 50))?,
        "feeds" => int_in(loc, w, i, "max_rows", (1, 32))?,
        "text" => {
            if let Some(v) = w.get("text") {
                if v.as_str().is_none_or(|s| s.chars().count() > 500) {
                    return Err(loc.err_item(
                        "widget",
                        i,
                        "text",
                        "write the note as a string of at most 500 characters".into(),
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Parses and validates one dashboard file.
pub fn parse(name: &str, text: &str, file: &str) -> Result<Dashboard, ConfigError> {
    let loc = Locator { text, file };
    let table: toml::Table = toml::from_str(text).map_err(|e| toml_err(e, text, file))?;
    const TOP: &[&str] = &["title", "columns", "rows", "theme", "widget"];
    for key in table.keys() {
        if !TOP.contains(&key.as_str()) {
            return Err(loc.err(key, format!("unknown key; allowed: {}", TOP.join(", "))));
        }
    }
    let title = match table.get("title") {
        None => name.to_string(),
        Some(toml::Value::String(s)) => s.clone(),
        Some(_) => return Err(loc.err("title", "must be a string".into())),
    };
    if let Some(t) = table.get("theme") {
        if !t.as_str().is_some_and(|t| THEMES.contains(&t)) {
            return Err(loc.err("theme", format!("use one of: {}", THEMES.join(", "))));
        }
    }
    let columns = grid_int(&loc, &table, "columns", 12)?;
    let rows = grid_int(&loc, &table, "rows", 8)?;
    let widgets = match table.get("widget") {
        None => return Err(loc.err("widget", "a dashboard needs at least one [[widget]]".into())),
        Some(toml::Value::Array(a)) => a,
        Some(_) => return Err(loc.err("widget", "write widgets as [[widget]] tables".into())),
    };
    for (i, w) in widgets.iter().enumerate() {
        let Some(w) = w.as_table() else {
            return Err(loc.err_item(
                "widget",
                i,
                "kind",
                "each [[widget]] must be a table".into(),
            ));
        };
        let kind = match w.get("kind") {
            Some(toml::Value::String(k)) if WIDGET_KINDS.contains(&k.as_str()) => k.as_str(),
            Some(toml::Value::String(k)) => {
                return Err(loc.err_item(
                    "widget",
                    i,
                    "kind",
                    format!(
                        "unknown widget kind `{k}`; use one of: {}",
                        WIDGET_KINDS.join(", ")
                    ),
                ));
            }
            _ => {
                return Err(loc.err_item(
                    "widget",
                    i,
                    "kind",
                    format!("every widget needs a kind: {}", WIDGET_KINDS.join(", ")),
                ));
            }
        };
        let mut place = [0i64; 4];
        for (slot, (key, limit)) in
            place
                .iter_mut()
                .zip([("x", columns), ("y", rows), ("w", columns), ("h", rows)])
        {
            *slot = match w.get(key) {
                Some(toml::Value::Integer(v)) if (1..=limit).contains(v) => *v,
                Some(v) => {
                    return Err(loc.err_item(
                        "widget",
                        i,
                        key,
                        format!("{} is outside the grid; use 1 to {limit}", show(v)),
                    ));
                }
                None => {
                    return Err(loc.err_item(
                        "widget",
                        i,
                        key,
                        "every widget needs x, y, w and h (grid cells, 1-based)".into(),
                    ));
                }
            };
        }
        let [x, y, ww, hh] = place;
        if x + ww - 1 > columns || y + hh - 1 > rows {
            return Err(loc.err_item(
                "widget",
                i,
                "w",
                format!(
                    "the widget ends at column {} row {}, beyond the {columns}×{rows} grid",
                    x + ww - 1,
                    y + hh - 1
                ),
            ));
        }
        check_options(&loc, w, i, kind)?;
    }
    let mut spec = serde_json::to_value(&table).map_err(|e| loc.err("widget", e.to_string()))?;
    if let Value::Object(m) = &mut spec {
        m.insert("name".into(), Value::String(name.to_string()));
        m.insert("title".into(), Value::String(title));
        m.insert("columns".into(), columns.into());
        m.insert("rows".into(), rows.into());
    }
    Ok(Dashboard {
        name: name.to_string(),
        origin: file.to_string(),
        spec,
    })
}

/// Page themes (`theme = …` in a dashboard, `?theme=` in the URL).
pub const THEMES: &[&str] = &["dark", "light", "contrast"];

/// A TOML value as the user wrote it, for messages.
fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => other.type_str().to_string(),
    }
}

fn grid_int(
    loc: &Locator<'_>,
    t: &toml::Table,
    key: &str,
    default: i64,
) -> Result<i64, ConfigError> {
    match t.get(key) {
        None => Ok(default),
        Some(toml::Value::Integer(v)) if (1..=48).contains(v) => Ok(*v),
        Some(v) => Err(loc.err(
            key,
            format!(
                "{} is not allowed; use a whole number from 1 to 48",
                show(v)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "title = \"T\"\ncolumns = 4\nrows = 2\n\n[[widget]]\nkind = \"stat\"\nmetric = \"rates.events_per_s\"\nx = 1\ny = 1\nw = 2\nh = 1\n\n[[widget]]\nkind = \"topn\"\ndim = \"src\"\nwindow = \"5m\"\nx = 3\ny = 1\nw = 2\nh = 2\n";

    #[test]
    fn valid_dashboard_becomes_json() {
        let d = parse("t", OK, "t.toml").unwrap();
        assert_eq!(d.spec["columns"], 4);
        assert_eq!(d.spec["widget"][1]["dim"], "src");
        assert_eq!(d.spec["name"], "t");
    }

    #[test]
    fn errors_name_line_and_key() {
        let bad = OK.replace("dim = \"src\"", "dim = \"srcs\"");
        let e = parse("t", &bad, "t.toml").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(15), Some("widget[1].dim")),
            "{e}"
        );
        let bad = OK.replace("x = 3", "x = 4");
        let e = parse("t", &bad, "t.toml").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("widget[1].w"), "{e}");
        let bad = OK.replace("kind = \"stat\"", "kind = \"map\"");
        let e = parse("t", &bad, "t.toml").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(6), Some("widget[0].kind")),
            "{e}"
        );
        let e = parse("t", "title = \n", "t.toml").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
    }

    #[test]
    fn built_ins_load() {
        let d = Dashboards::load(None, "soc-wall").unwrap();
        assert!(d.get("soc-wall").is_some());
    }

    #[test]
    fn names() {
        assert!(valid_name("soc-wall_2"));
        assert!(!valid_name("../x"));
        assert!(!valid_name(""));
    }

    #[test]
    fn built_in_playlists_and_dashboards() {
        let d = Dashboards::load(None, "soc-wall").unwrap();
        for name in ["soc-wall", "shift-lead", "executive", "network-flows"] {
            assert!(d.get(name).is_some(), "{name}");
        }
        assert!(d.get("playlists").is_none());
        let wall = &d.playlists["wall"];
        assert_eq!(wall.dashboards, ["soc-wall", "network-flows"]);
        assert_eq!(wall.dwell, Duration::from_secs(45));
    }

    #[test]
    fn playlist_errors_name_line_and_key() {
        let d = Dashboards::load(None, "soc-wall").unwrap();
        let text = "[[playlist]]\nname = \"a\"\ndashboards = [\"soc-wall\"]\n\n[[playlist]]\nname = \"b\"\ndashboards = [\"nope\"]\n";
        let e = parse_playlists(text, "p.toml", &d.by_name).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(7), Some("playlist[1].dashboards")),
            "{e}"
        );
        let text = "[[playlist]]\nname = \"a\"\ndashboards = [\"soc-wall\"]\ndwell = \"1s\"\n";
        let e = parse_playlists(text, "p.toml", &d.by_name).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("playlist[0].dwell")),
            "{e}"
        );
    }

    #[test]
    fn tolerant_reload_keeps_the_last_good_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ops.toml");
        std::fs::write(&f, OK).unwrap();
        let first = Dashboards::load_tolerant(Some(dir.path()), "soc-wall", None);
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        assert_eq!(first.get("ops").unwrap().spec["title"], "T");
        std::fs::write(&f, OK.replace("kind = \"stat\"", "kind = \"nope\"")).unwrap();
        let second = Dashboards::load_tolerant(Some(dir.path()), "soc-wall", Some(&first));
        assert_eq!(second.get("ops"), first.get("ops"));
        assert_eq!(second.errors.len(), 1);
        assert_eq!(second.errors[0].key.as_deref(), Some("widget[0].kind"));
        assert_eq!(first.changes(&second), (vec![], vec![]));
        std::fs::write(&f, OK.replace("title = \"T\"", "title = \"U\"")).unwrap();
        let third = Dashboards::load_tolerant(Some(dir.path()), "soc-wall", Some(&second));
        assert!(third.errors.is_empty());
        assert_eq!(second.changes(&third), (vec!["ops".to_string()], vec![]));
        std::fs::remove_file(&f).unwrap();
        let fourth = Dashboards::load_tolerant(Some(dir.path()), "soc-wall", Some(&third));
        assert!(fourth.get("ops").is_none());
        assert_eq!(third.changes(&fourth).0, vec!["ops".to_string()]);
    }

    #[test]
    fn option_values_are_checked() {
        let bad = OK.replace("window = \"5m\"", "window = \"5m\"\norder = \"sideways\"");
        let e = parse("t", &bad, "t.toml").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("widget[1].order"), "{e}");
        let bad = OK.replace(
            "metric = \"rates.events_per_s\"",
            "metric = \"rates.events_per_s\"\ncompare = \"yesterday\"",
        );
        let e = parse("t", &bad, "t.toml").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("widget[0].compare"), "{e}");
        let good = OK.replace(
            "metric = \"rates.events_per_s\"",
            "today = \"denied\"\ncompare = \"last_week\"\nscreen = 2",
        );
        parse("t", &good, "t.toml").unwrap();
    }
}
