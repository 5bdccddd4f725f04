//! Dashboards as data: `dashboards/*.toml` (built in, embedded) plus an optional directory of the
//! user's own, validated at load into the JSON the wall page renders.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::config::{ConfigError, Locator, first_line, toml_error_line};

/// Widget kinds the wall page knows (`web/widgets/<kind>/`).
pub const WIDGET_KINDS: &[&str] = &[
    "stat",
    "timeseries",
    "topn",
    "feeds",
    "clock",
    "text",
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

/// One validated dashboard.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub name: String,
    /// Where it came from: `built-in` or a file path.
    pub origin: String,
    /// The spec as the page gets it from `/api/v1/dashboards/{name}` (TOML keys as JSON keys).
    pub spec: Value,
}

/// All dashboards by name, and which one `/` shows.
#[derive(Debug, Clone)]
pub struct Dashboards {
    pub by_name: BTreeMap<String, Dashboard>,
    pub default: String,
}

/// Dashboard names are URL path segments: keep them boring.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Dashboards {
    /// Built-in dashboards, then every `*.toml` in `dir` (a file there replaces the built-in of the
    /// same name). Returns every problem found, not just the first.
    pub fn load(dir: Option<&Path>, default: &str) -> Result<Dashboards, Vec<ConfigError>> {
        let mut by_name = BTreeMap::new();
        let mut errors = Vec::new();
        for (file, bytes) in crate::web::assets::DASHBOARDS {
            let Some(name) = file.strip_suffix(".toml") else {
                continue;
            };
            let text = String::from_utf8_lossy(bytes);
            match parse(name, &text, &format!("dashboards/{file} (built-in)")) {
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
                Ok(entries) => {
                    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
                    paths.sort();
                    for path in paths
                        .into_iter()
                        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    {
                        let file = path.display().to_string();
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
                        match std::fs::read_to_string(&path) {
                            Err(e) => errors.push(ConfigError {
                                file,
                                line: None,
                                key: None,
                                message: format!("cannot read: {e}"),
                            }),
                            Ok(text) => match parse(&name, &text, &file) {
                                Ok(d) => {
                                    by_name.insert(name, d);
                                }
                                Err(e) => errors.push(e),
                            },
                        }
                    }
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
        if errors.is_empty() {
            Ok(Dashboards {
                by_name,
                default: default.to_string(),
            })
        } else {
            Err(errors)
        }
    }

    pub fn get(&self, name: &str) -> Option<&Dashboard> {
        self.by_name.get(name)
    }
}

/// Parses and validates one dashboard file.
pub fn parse(name: &str, text: &str, file: &str) -> Result<Dashboard, ConfigError> {
    let loc = Locator { text, file };
    let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError {
        file: file.to_string(),
        line: e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .or_else(|| toml_error_line(&e.to_string())),
        key: None,
        message: format!("not valid TOML: {}", first_line(e.message())),
    })?;
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
        if let Some(v) = w.get("window") {
            if !v.as_str().is_some_and(|s| WINDOWS.contains(&s)) {
                return Err(loc.err_item(
                    "widget",
                    i,
                    "window",
                    format!("use one of: {}", WINDOWS.join(", ")),
                ));
            }
        }
        if kind == "topn" {
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
        }
        if kind == "topn" || kind == "anomalies" {
            if let Some(n) = w.get("n") {
                if !n.as_integer().is_some_and(|n| (1..=50).contains(&n)) {
                    return Err(loc.err_item("widget", i, "n", "use 1 to 50".into()));
                }
            }
        }
        let has_metric = w
            .get("metric")
            .and_then(|v| v.as_str())
            .is_some_and(|m| !m.is_empty());
        if kind == "stat" && !has_metric {
            return Err(loc.err_item(
                "widget",
                i,
                "metric",
                "a stat widget needs metric, a path into the state such as \"rates.events_per_s\""
                    .into(),
            ));
        }
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
}
