//! Configuration: the TOML file (+ `SOCWALL_...` environment overrides) read raw, then validated
//! once into [`Settings`]. Every error names the file, the line when it can be found, the key, and
//! what to do about it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::aggregate::Cidr;
use crate::detect::DetectSettings;
use crate::listen::Endpoint;
use crate::parse::{Format, FormatSpec, VerdictWords};
use crate::tail::StartAt;

mod site;

pub use site::{SiteSettings, WatchlistSettings, parse_watchlist};

/// Where `socwall run` looks when no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/socwall/socwall.toml";

/// A configuration problem, ready to print: `file:line: key: message (hint)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

// ---------------------------------------------------------------------------------------------
// Raw shape: exactly what the file may contain. Unknown keys are errors (a typo must not be
// silently ignored on a security tool).

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    server: RawServer,
    auth: Option<RawAuth>,
    #[serde(default)]
    tail: RawTail,
    #[serde(default)]
    aggregate: RawAggregate,
    #[serde(default)]
    dashboards: RawDashboards,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    wall: RawWall,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    parse: RawParse,
    #[serde(default)]
    source: Vec<RawSource>,
    #[serde(default)]
    networks: site::RawNetworks,
    #[serde(default)]
    dns: site::RawDns,
    #[serde(default)]
    watchlist: Vec<site::RawWatchlist>,
    detect: Option<toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParse {
    #[serde(default)]
    iptables: RawVerdicts,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerdicts {
    deny: Option<Vec<String>>,
    allow: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    allowed_origins: Option<Vec<String>>,
    update_interval: Option<String>,
    heartbeat_interval: Option<String>,
    ping_interval: Option<String>,
    max_clients: Option<i64>,
    max_clients_per_address: Option<i64>,
    max_update_age: Option<String>,
    frame_ancestors: Option<Vec<String>>,
    tls: Option<RawTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    tokens: Option<Vec<RawToken>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: Option<String>,
    token: Option<String>,
}

impl fmt::Debug for RawToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawToken")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTail {
    rescan_interval: Option<String>,
    max_line_bytes: Option<i64>,
    max_open_files: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAggregate {
    top_n: Option<i64>,
    internal_networks: Option<Vec<String>>,
    learning: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDashboards {
    dir: Option<String>,
    default: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWall {
    shifts: Option<Vec<RawShift>>,
    reload_at: Option<String>,
    burn_in: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShift {
    name: Option<String>,
    start: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    dir: Option<String>,
    snapshot_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Option<String>,
    kind: Option<String>,
    path: Option<String>,
    listen: Option<OneOrMany>,
    fields: Option<String>,
    format: Option<String>,
    start_at: Option<String>,
    quiet_after: Option<String>,
    silent_after: Option<String>,
    max_line_bytes: Option<i64>,
}

/// `listen = "udp://0.0.0.0:514"` or `listen = ["udp://…", "tcp://…"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

// ---------------------------------------------------------------------------------------------
// Validated settings: what the rest of the program uses. Built once, never re-checked.

/// Everything the daemon needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    /// Viewer tokens; `None` when `[auth]` is absent (then only loopback may be bound).
    pub auth: Option<AuthSettings>,
    pub tail: TailSettings,
    pub aggregate: AggregateConfig,
    pub dashboards: DashboardSettings,
    pub wall: WallSettings,
    pub state: StateSettings,
    pub log_level: String,
    /// Words in an iptables log prefix that mean deny / allow.
    pub iptables_verdicts: VerdictWords,
    pub sources: Vec<SourceSettings>,
    /// Networks, zones, approved resolvers, watchlists (hot-reloaded by the daemon).
    pub site: SiteSettings,
    /// The detectors' switches and thresholds.
    pub detect: DetectSettings,
    /// The file these settings were loaded from (`None` when built from text).
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Extra `Origin` values allowed to open `/ws` besides the server's own.
    pub allowed_origins: Vec<String>,
    pub update_interval: Duration,
    pub heartbeat_interval: Duration,
    pub ping_interval: Duration,
    pub max_clients: usize,
    /// WebSocket clients at once from one IP address.
    pub max_clients_per_address: usize,
    /// A client whose oldest unsent message is older than this is dropped.
    pub max_update_age: Duration,
    /// Who may frame the page (CSP `frame-ancestors`); empty: nobody (`X-Frame-Options: DENY`).
    pub frame_ancestors: Vec<String>,
    pub tls: Option<TlsSettings>,
}

/// `[server.tls]`: PEM files, reloaded when they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[auth]`: named viewer tokens (remove one to revoke it).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub tokens: Vec<ViewerToken>,
}

#[derive(Debug, Clone)]
pub struct ViewerToken {
    pub name: String,
    pub token: Secret,
}

/// A secret that never shows in `Debug` output (settings may be logged while debugging).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Shortest viewer token accepted: 16 characters (`openssl rand -hex 32` gives 64).
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, Clone)]
pub struct TailSettings {
    pub rescan_interval: Duration,
    pub max_line_bytes: usize,
    pub max_open_files: usize,
}

/// `[state]`: what survives a restart (docs/operations.md).
#[derive(Debug, Clone)]
pub struct StateSettings {
    /// Where the state file lives; `None` (the default): nothing is saved or restored.
    pub dir: Option<PathBuf>,
    /// How often a snapshot is saved while running (and always at shutdown).
    pub snapshot_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct AggregateConfig {
    pub top_n: usize,
    pub internal_networks: Vec<String>,
    pub learning: Duration,
}

#[derive(Debug, Clone)]
pub struct DashboardSettings {
    /// A directory of `*.toml` dashboards that add to (or replace) the built-in ones.
    pub dir: Option<PathBuf>,
    pub default: String,
}

/// What every wall page is told about the room it hangs in (`GET /api/v1/wall`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WallSettings {
    /// Shift schedule: `(name, start minute of the day)`, sorted by start; wall-local time.
    pub shifts: Vec<(String, u16)>,
    /// Optional daily page reload, minute of the day (wall-local time).
    pub reload_at: Option<u16>,
    /// Slow pixel shift against burn-in on plasma/OLED panels.
    pub burn_in: bool,
}

impl WallSettings {
    /// The JSON served at `/api/v1/wall`.
    pub fn json(&self) -> serde_json::Value {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        serde_json::json!({
            "shifts": self.shifts.iter().map(|(n, s)| serde_json::json!({"name": n, "start": hm(*s)})).collect::<Vec<_>>(),
            "reload_at": self.reload_at.map(hm),
            "burn_in": self.burn_in,
        })
    }
}

/// `HH:MM` (24 h) → minute of the day.
pub fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

#[derive(Debug, Clone)]
pub struct SourceSettings {
    pub name: String,
    pub input: Input,
    /// VPC flow log field list (`fields = "..."`), for `format = "vpcflow"`.
    pub vpcflow_fields: Option<String>,
    pub format: FormatSpec,
    pub start_at: StartAt,
    pub quiet_after: Duration,
    pub silent_after: Duration,
    pub max_line_bytes: usize,
}

/// Where a source's lines come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Files matching a path or glob, tailed.
    File { path: String },
    /// A syslog receiver on UDP and/or TCP endpoints.
    Syslog { listen: Vec<Endpoint> },
    /// A NetFlow v5/v9/IPFIX collector on UDP endpoints.
    Netflow { listen: Vec<Endpoint> },
}

pub const DEFAULT_INTERNAL_NETWORKS: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
    "fe80::/10",
];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                allowed_origins: Vec::new(),
                update_interval: Duration::from_millis(250),
                heartbeat_interval: Duration::from_secs(5),
                ping_interval: Duration::from_secs(20),
                max_clients: 256,
                max_clients_per_address: 16,
                max_update_age: Duration::from_secs(10),
                frame_ancestors: Vec::new(),
                tls: None,
            },
            auth: None,
            tail: TailSettings {
                rescan_interval: Duration::from_secs(1),
                max_line_bytes: 64 * 1024,
                max_open_files: 256,
            },
            aggregate: AggregateConfig {
                top_n: 10,
                internal_networks: DEFAULT_INTERNAL_NETWORKS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                learning: Duration::from_secs(600),
            },
            dashboards: DashboardSettings {
                dir: None,
                default: "soc-wall".into(),
            },
            wall: WallSettings::default(),
            state: StateSettings {
                dir: None,
                snapshot_interval: Duration::from_secs(30),
            },
            log_level: "info".into(),
            iptables_verdicts: VerdictWords::default(),
            sources: Vec::new(),
            site: SiteSettings {
                internal: Cidr::default_internal(),
                ..SiteSettings::default()
            },
            detect: DetectSettings::default(),
            file: None,
        }
    }
}

impl Settings {
    /// Reads and validates a config file, applying `SOCWALL_...` environment overrides.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: None,
            key: None,
            message: format!(
                "cannot read the config file: {e} (pass --config PATH; an annotated example ships as config/socwall.toml)"
            ),
        })?;
        let mut s = Settings::from_toml(&text, &path.display().to_string(), env_overrides())?;
        s.file = Some(path.to_path_buf());
        Ok(s)
    }

    /// Validates config text. `file` names it in errors; `env` are `SOCWALL_...` overrides.
    pub fn from_toml(
        text: &str,
        file: &str,
        env: Vec<(String, String)>,
    ) -> Result<Settings, ConfigError> {
        let loc = Locator { text, file };
        let env_map: config::Map<String, String> = env.into_iter().collect();
        let raw: Raw = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("SOCWALL")
                    .prefix_separator("_")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("server.allowed_origins")
                    .with_list_parse_key("server.frame_ancestors")
                    .with_list_parse_key("aggregate.internal_networks")
                    .with_list_parse_key("networks.internal")
                    .with_list_parse_key("dns.approved_resolvers")
                    .with_list_parse_key("parse.iptables.deny")
                    .with_list_parse_key("parse.iptables.allow")
                    .try_parsing(true)
                    .source(Some(env_map)),
            )
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| redact_tokens(loc.convert(e), text))?;
        validate(raw, &loc)
    }
}

/// `SOCWALL_*` variables of this process, minus `SOCWALL_CONFIG` (a path, not a key).
pub fn env_overrides() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("SOCWALL_") && k != "SOCWALL_CONFIG" && k.contains("__"))
        .collect()
}

fn validate(raw: Raw, loc: &Locator<'_>) -> Result<Settings, ConfigError> {
    let mut s = Settings::default();
    let d = Settings::default();

    if let Some(v) = raw.server.listen {
        s.server.listen = v.parse().map_err(|_| {
            loc.err(
                "server.listen",
                format!(
                    "`{v}` is not an address:port; write e.g. \"127.0.0.1:8080\" or \"[::1]:8080\""
                ),
            )
        })?;
    }
    if let Some(v) = raw.server.allowed_origins {
        for o in &v {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                return Err(loc.err(
                    "server.allowed_origins",
                    format!("`{o}` is not an origin; write scheme://host[:port] without a path, e.g. \"https://wall.example.org\""),
                ));
            }
        }
        s.server.allowed_origins = v;
    }
    s.server.update_interval = duration(
        loc,
        "server.update_interval",
        raw.server.update_interval,
        d.server.update_interval,
        (50, 10_000),
    )?;
    s.server.heartbeat_interval = duration(
        loc,
        "server.heartbeat_interval",
        raw.server.heartbeat_interval,
        d.server.heartbeat_interval,
        (500, 60_000),
    )?;
    s.server.ping_interval = duration(
        loc,
        "server.ping_interval",
        raw.server.ping_interval,
        d.server.ping_interval,
        (1_000, 300_000),
    )?;
    s.server.max_clients = int(
        loc,
        "server.max_clients",
        raw.server.max_clients,
        d.server.max_clients,
        (1, 100_000),
    )?;
    validate_web(
        raw.server.max_clients_per_address,
        raw.server.max_update_age,
        raw.server.frame_ancestors,
        raw.server.tls,
        raw.auth,
        &mut s,
        loc,
    )?;

    s.tail.rescan_interval = duration(
        loc,
        "tail.rescan_interval",
        raw.tail.rescan_interval,
        d.tail.rescan_interval,
        (10, 60_000),
    )?;
    s.tail.max_line_bytes = int(
        loc,
        "tail.max_line_bytes",
        raw.tail.max_line_bytes,
        d.tail.max_line_bytes,
        (256, 16 << 20),
    )?;
    s.tail.max_open_files = int(
        loc,
        "tail.max_open_files",
        raw.tail.max_open_files,
        d.tail.max_open_files,
        (1, 65_536),
    )?;

    s.aggregate.top_n = int(
        loc,
        "aggregate.top_n",
        raw.aggregate.top_n,
        d.aggregate.top_n,
        (1, 100),
    )?;
    let alias = raw.aggregate.internal_networks.clone();
    if let Some(nets) = raw.aggregate.internal_networks {
        for n in &nets {
            if !valid_cidr(n) {
                return Err(loc.err(
                    "aggregate.internal_networks",
                    format!("`{n}` is not a CIDR; write address/prefix, e.g. \"10.0.0.0/8\" or \"fd00::/8\""),
                ));
            }
        }
        s.aggregate.internal_networks = nets;
    }
    s.aggregate.learning = duration(
        loc,
        "aggregate.learning",
        raw.aggregate.learning,
        d.aggregate.learning,
        (0, 7 * 86_400_000),
    )?;

    s.site = site::validate(
        loc,
        raw.networks,
        raw.dns,
        raw.watchlist,
        alias.as_deref(),
        &d.aggregate.internal_networks,
    )?;
    // One list of internal networks: the aggregator's first-seen panel uses the canonical one.
    s.aggregate.internal_networks = s.site.internal.iter().map(Cidr::to_string).collect();
    s.detect = site::detect(loc, raw.detect)?;

    if let Some(dir) = raw.dashboards.dir {
        s.dashboards.dir = Some(PathBuf::from(dir));
    }
    if let Some(name) = raw.dashboards.default {
        if !crate::dashboard::valid_name(&name) {
            return Err(loc.err(
                "dashboards.default",
                format!("`{name}` is not a dashboard name (letters, digits, - and _)"),
            ));
        }
        s.dashboards.default = name;
    }

    for (i, sh) in raw.wall.shifts.unwrap_or_default().into_iter().enumerate() {
        let name = sh
            .name
            .filter(|n| !n.trim().is_empty() && n.chars().count() <= 40)
            .ok_or_else(|| {
                loc.err(
                    "wall.shifts",
                    format!(
                        "shift {}: every shift needs a name of 1 to 40 characters",
                        i + 1
                    ),
                )
            })?;
        let start = sh.start.as_deref().and_then(parse_hhmm).ok_or_else(|| {
            loc.err(
                "wall.shifts",
                format!(
                    "shift {}: write the start as HH:MM (24 h, wall-local time), e.g. \"06:00\"",
                    i + 1
                ),
            )
        })?;
        s.wall.shifts.push((name, start));
    }
    s.wall.shifts.sort_by_key(|(_, start)| *start);
    if let Some(v) = raw.wall.reload_at {
        s.wall.reload_at = Some(parse_hhmm(&v).ok_or_else(|| {
            loc.err(
                "wall.reload_at",
                format!("`{v}` is not a time; write HH:MM (24 h, wall-local time), e.g. \"04:30\""),
            )
        })?);
    }
    s.wall.burn_in = raw.wall.burn_in.unwrap_or(false);
    if let Some(dir) = raw.state.dir {
        if dir.trim().is_empty() {
            return Err(loc.err(
                "state.dir",
                "is empty; set a directory such as \"/var/lib/socwall\", or remove the key to keep no state".into(),
            ));
        }
        s.state.dir = Some(PathBuf::from(dir));
    }
    s.state.snapshot_interval = duration(
        loc,
        "state.snapshot_interval",
        raw.state.snapshot_interval,
        d.state.snapshot_interval,
        (100, 3_600_000),
    )?;

    if let Some(level) = raw.log.level {
        if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
            return Err(loc.err(
                "log.level",
                format!("`{level}` is not a log filter; use error, warn, info, debug or trace"),
            ));
        }
        s.log_level = level;
    }

    for (key, words, slot) in [
        (
            "parse.iptables.deny",
            raw.parse.iptables.deny,
            &mut s.iptables_verdicts.deny,
        ),
        (
            "parse.iptables.allow",
            raw.parse.iptables.allow,
            &mut s.iptables_verdicts.allow,
        ),
    ] {
        let Some(words) = words else { continue };
        if let Some(bad) = words.iter().find(|w| w.trim().is_empty() || w.len() > 64) {
            return Err(loc.err(key, format!("{bad:?} is not a usable word; use 1 to 64 characters such as \"DROP\" or \"-D-\"")));
        }
        *slot = words;
    }

    for (i, src) in raw.source.into_iter().enumerate() {
        let at = |key: &str| format!("source[{i}].{key}");
        let name = src.name.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
            loc.err_item(
                "source",
                i,
                "name",
                "every [[source]] needs a name, shown on the wall".into(),
            )
        })?;
        if s.sources.iter().any(|o: &SourceSettings| o.name == name) {
            return Err(loc.err_item(
                "source",
                i,
                "name",
                format!("`{name}` is used by two sources; names must be unique"),
            ));
        }
        let input = match src.kind.as_deref() {
            None | Some("file") => {
                if src.listen.is_some() {
                    return Err(loc.err_item("source", i, "listen", "a file source has a path, not listen; for a receiver set kind = \"syslog\"".into()));
                }
                let path = src.path.filter(|p| !p.trim().is_empty()).ok_or_else(|| {
                    loc.err_item(
                        "source",
                        i,
                        "path",
                        "every file [[source]] needs a path (a file or a glob such as /var/log/fw.log*); for a receiver set kind = \"syslog\"".into(),
                    )
                })?;
                if let Err(e) = glob::Pattern::new(&path) {
                    return Err(loc.err_item(
                        "source",
                        i,
                        "path",
                        format!("`{path}` is not a valid glob: {e}"),
                    ));
                }
                Input::File { path }
            }
            Some(kind @ ("syslog" | "netflow")) => {
                if src.path.is_some() {
                    return Err(loc.err_item("source", i, "path", format!("a {kind} source listens, it has no path; remove path or set kind = \"file\"")));
                }
                if src.start_at.is_some() {
                    return Err(loc.err_item(
                        "source",
                        i,
                        "start_at",
                        "start_at applies to files only".into(),
                    ));
                }
                let example = if kind == "syslog" {
                    "[\"udp://0.0.0.0:514\", \"tcp://0.0.0.0:514\"]"
                } else {
                    "\"udp://0.0.0.0:2055\""
                };
                let raw = match src.listen {
                    Some(OneOrMany::One(one)) => vec![one],
                    Some(OneOrMany::Many(many)) if !many.is_empty() => many,
                    _ => {
                        return Err(loc.err_item(
                            "source",
                            i,
                            "listen",
                            format!("a {kind} source needs listen, e.g. {example}"),
                        ));
                    }
                };
                let mut listen = Vec::new();
                for l in raw {
                    let e: Endpoint = l
                        .parse()
                        .map_err(|m| loc.err_item("source", i, "listen", m))?;
                    if kind == "netflow" && matches!(e, Endpoint::Tcp(_)) {
                        return Err(loc.err_item(
                            "source",
                            i,
                            "listen",
                            format!("{e}: NetFlow/IPFIX is collected over UDP; write udp://…"),
                        ));
                    }
                    let taken = s.sources.iter().any(|o: &SourceSettings| {
                        matches!(&o.input, Input::Syslog { listen } | Input::Netflow { listen } if listen.contains(&e))
                    });
                    if listen.contains(&e) || taken {
                        return Err(loc.err_item(
                            "source",
                            i,
                            "listen",
                            format!("{e} is listed twice; each endpoint can feed one source"),
                        ));
                    }
                    listen.push(e);
                }
                if kind == "syslog" {
                    Input::Syslog { listen }
                } else {
                    Input::Netflow { listen }
                }
            }
            Some(other) => {
                return Err(loc.err_item(
                    "source",
                    i,
                    "kind",
                    format!("unknown kind `{other}`; use \"file\", \"syslog\" or \"netflow\""),
                ));
            }
        };
        let format = match src.format.as_deref() {
            None | Some("auto") => FormatSpec::Auto,
            Some(f) => FormatSpec::Fixed(Format::from_name(f).ok_or_else(|| {
                let names: Vec<&str> = Format::names().collect();
                loc.err_item(
                    "source",
                    i,
                    "format",
                    format!(
                        "unknown format `{f}`; use auto or one of: {}",
                        names.join(", ")
                    ),
                )
            })?),
        };
        let is_netflow = matches!(input, Input::Netflow { .. });
        if format == FormatSpec::Fixed(Format::Netflow) && !is_netflow {
            return Err(loc.err_item("source", i, "format", "netflow is a binary export format, not log lines: use kind = \"netflow\" with listen = \"udp://0.0.0.0:2055\"".into()));
        }
        if is_netflow && src.format.as_deref().is_some_and(|f| f != "netflow") {
            return Err(loc.err_item(
                "source",
                i,
                "format",
                "a netflow source reads NetFlow v5/v9/IPFIX; leave format out".into(),
            ));
        }
        let format = if is_netflow {
            FormatSpec::Fixed(Format::Netflow)
        } else {
            format
        };
        let vpcflow_fields = match src.fields {
            None => None,
            Some(f) => {
                if format != FormatSpec::Fixed(Format::Vpcflow) {
                    return Err(loc.err_item("source", i, "fields", "fields applies to format = \"vpcflow\" (a VPC flow log's custom field list)".into()));
                }
                if let Err(m) = crate::parse::vpcflow::State::from_fields(&f) {
                    return Err(loc.err_item("source", i, "fields", m));
                }
                Some(f)
            }
        };
        let start_at = match src.start_at.as_deref() {
            None | Some("end") => StartAt::End,
            Some("beginning") => StartAt::Beginning,
            Some(o) => {
                return Err(loc.err_item(
                    "source",
                    i,
                    "start_at",
                    format!("`{o}` is not allowed; use \"end\" or \"beginning\""),
                ));
            }
        };
        let quiet_after = duration_at(
            loc,
            Some(i),
            &at("quiet_after"),
            "quiet_after",
            src.quiet_after,
            Duration::from_secs(60),
            (1_000, 7 * 86_400_000),
        )?;
        let silent_after = duration_at(
            loc,
            Some(i),
            &at("silent_after"),
            "silent_after",
            src.silent_after,
            Duration::from_secs(300),
            (1_000, 7 * 86_400_000),
        )?;
        if silent_after < quiet_after {
            return Err(loc.err_item(
                "source",
                i,
                "silent_after",
                "must not be shorter than quiet_after".into(),
            ));
        }
        let max_line_bytes = match src.max_line_bytes {
            None => s.tail.max_line_bytes,
            Some(v) if (256..=16 << 20).contains(&v) => v as usize,
            Some(v) => {
                return Err(loc.err_item(
                    "source",
                    i,
                    "max_line_bytes",
                    format!("{v} is out of range; use 256 to 16777216"),
                ));
            }
        };
        s.sources.push(SourceSettings {
            name,
            input,
            vpcflow_fields,
            format,
            start_at,
            quiet_after,
            silent_after,
            max_line_bytes,
        });
    }
    if s.sources.len() > u16::MAX as usize {
        return Err(loc.err("source", "too many sources".into()));
    }
    Ok(s)
}

/// The web side's security settings: limits, framing, TLS, viewer tokens, and the rule that only
/// loopback may be bound without `[auth]`.
fn validate_web(
    per_address: Option<i64>,
    max_update_age: Option<String>,
    frame_ancestors: Option<Vec<String>>,
    tls: Option<RawTls>,
    auth: Option<RawAuth>,
    s: &mut Settings,
    loc: &Locator<'_>,
) -> Result<(), ConfigError> {
    let d = Settings::default();
    s.server.max_clients_per_address = int(
        loc,
        "server.max_clients_per_address",
        per_address,
        d.server.max_clients_per_address,
        (1, 100_000),
    )?;
    s.server.max_update_age = duration(
        loc,
        "server.max_update_age",
        max_update_age,
        d.server.max_update_age,
        (1_000, 300_000),
    )?;
    if let Some(list) = frame_ancestors {
        let mut out = Vec::new();
        for a in list {
            let a = a.trim();
            if a == "self" || a == "'self'" {
                out.push("'self'".to_string());
            } else if (a.starts_with("https://") || a.starts_with("http://"))
                && !a.ends_with('/')
                && !a.contains([' ', ';', ',', '\'', '"'])
            {
                out.push(a.to_string());
            } else {
                return Err(loc.err(
                    "server.frame_ancestors",
                    format!("`{a}` is not an origin; write \"self\" or scheme://host[:port] without a path, e.g. \"https://portal.example.org\""),
                ));
            }
        }
        s.server.frame_ancestors = out;
    }
    if let Some(t) = tls {
        let path = |key: &str, v: Option<String>| {
            v.filter(|p| !p.trim().is_empty()).map(PathBuf::from).ok_or_else(|| {
                loc.err(
                    &format!("server.tls.{key}"),
                    format!("[server.tls] needs {key} = \"/path/to/{key}.pem\" (PEM); remove [server.tls] to serve plain HTTP"),
                )
            })
        };
        s.server.tls = Some(TlsSettings {
            cert: path("cert", t.cert)?,
            key: path("key", t.key)?,
        });
    }
    if let Some(auth) = auth {
        let raw = auth.tokens.unwrap_or_default();
        if raw.is_empty() {
            return Err(loc.err(
                "auth.tokens",
                "[auth] needs at least one viewer token: tokens = [{ name = \"wall-1\", token = \"…\" }] (generate one with `openssl rand -hex 32`); remove [auth] to go without".into(),
            ));
        }
        let mut tokens: Vec<ViewerToken> = Vec::new();
        for (i, t) in raw.into_iter().enumerate() {
            let key = |leaf: &str| format!("auth.tokens[{i}].{leaf}");
            // Found by the entry's name, never by its secret: the secret must not be searched for
            // in messages or shown.
            let line = |name: Option<&str>| token_line(loc, i, name);
            let fail = |leaf: &str, name: Option<&str>, message: String| ConfigError {
                file: loc.file.to_string(),
                line: line(name),
                key: Some(key(leaf)),
                message,
            };
            let name = match t.name.as_deref().map(str::trim) {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => {
                    return Err(fail(
                        "name",
                        None,
                        "every token needs a name (shown in logs instead of the token; remove the entry to revoke it)".into(),
                    ));
                }
            };
            if name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(fail(
                    "name",
                    Some(&name),
                    format!("`{name}` is not a token name: use up to 64 letters, digits, - _ ."),
                ));
            }
            if tokens.iter().any(|o| o.name == name) {
                return Err(fail(
                    "name",
                    Some(&name),
                    format!("`{name}` names two tokens; names must be unique"),
                ));
            }
            let Some(secret) = t.token else {
                return Err(fail(
                    "token",
                    Some(&name),
                    "missing token: generate one with `openssl rand -hex 32`".into(),
                ));
            };
            if let Err(why) = token_strength(&secret) {
                return Err(fail(
                    "token",
                    Some(&name),
                    format!(
                        "the token of `{name}` is {why}; generate one with `openssl rand -hex 32`"
                    ),
                ));
            }
            if tokens.iter().any(|o| o.token.expose() == secret) {
                return Err(fail(
                    "token",
                    Some(&name),
                    format!(
                        "`{name}` has the same token as another entry; give every viewer its own, so that removing one revokes only it"
                    ),
                ));
            }
            tokens.push(ViewerToken {
                name,
                token: Secret(secret),
            });
        }
        s.auth = Some(AuthSettings { tokens });
    }
    let ip = s.server.listen.ip().to_canonical();
    if !ip.is_loopback() && s.auth.is_none() {
        return Err(loc.err("server.listen", unprotected_message(s.server.listen)));
    }
    Ok(())
}

/// Parse errors from the config crate may quote a value; any value written after `token =` or
/// `tokens =` in the file is replaced by `<redacted>` in the message.
fn redact_tokens(mut e: ConfigError, text: &str) -> ConfigError {
    let mut rest = text;
    while let Some(at) = rest.find("token") {
        let after = rest[at + 5..].trim_start_matches('s').trim_start();
        rest = &rest[at + 5..];
        let Some(value) = after.strip_prefix('=').map(str::trim_start) else {
            continue;
        };
        let Some(quote) = value.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if let Some(end) = value[1..].find(quote) {
            let secret = &value[1..1 + end];
            if !secret.is_empty() {
                e.message = e.message.replace(secret, "<redacted>");
            }
        }
    }
    e
}

/// Why serving on a non-loopback address without `[auth]` is refused, and what to do instead.
pub fn unprotected_message(addr: SocketAddr) -> String {
    format!(
        "refusing to serve the wall on {addr} without [auth]: anyone who can reach it would see your network's traffic. \
         Either add viewer tokens ([auth] tokens = [{{ name = \"wall-1\", token = \"…\" }}], token from `openssl rand -hex 32`), \
         or listen on 127.0.0.1 behind a reverse proxy that authenticates (docs/security.md)"
    )
}

/// `Err(why)` when a viewer token is too weak to stand in front of the wall (the reason never
/// contains the token).
pub fn token_strength(t: &str) -> Result<(), String> {
    let n = t.chars().count();
    if n < MIN_TOKEN_LEN {
        return Err(format!(
            "too short ({n} characters; at least {MIN_TOKEN_LEN})"
        ));
    }
    if n > 512 {
        return Err(format!("too long ({n} characters; at most 512)"));
    }
    if !t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
    {
        return Err(
            "not made of letters, digits, - _ . ~ only (it travels in URLs and cookies)".into(),
        );
    }
    let mut distinct: Vec<char> = t.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 6 {
        return Err(format!(
            "too repetitive ({} different characters; random tokens have many more)",
            distinct.len()
        ));
    }
    Ok(())
}

/// Line of the `i`-th `[auth] tokens` entry: its `name = "…"` (inline table or
/// `[[auth.tokens]]`), else the `tokens =` line, else the `[auth]` header.
fn token_line(loc: &Locator<'_>, i: usize, name: Option<&str>) -> Option<usize> {
    if let Some(name) = name {
        let quoted = format!("\"{name}\"");
        let mut in_auth = false;
        for (n, line) in loc.text.lines().enumerate() {
            if let Some(h) = header_name(line) {
                in_auth = h == "auth" || h == "auth.tokens";
                continue;
            }
            let t = line.trim_start();
            if in_auth
                && !t.starts_with('#')
                && t.contains(&quoted)
                && t.split(['=', ' ', '{', ','])
                    .any(|w| w.trim_matches('"') == "name")
            {
                return Some(n + 1);
            }
        }
    }
    loc.find(Some("auth.tokens"), Some(i), "name")
        .or_else(|| loc.find(Some("auth"), None, "tokens"))
        .or_else(|| loc.find_table("auth", None))
        .or_else(|| loc.find_table("auth.tokens", Some(i)))
}

/// A `ConfigError` about `key` in the config file at `path`, with its line when it can be found
/// (for problems found after validation, such as an unreadable TLS certificate).
pub fn error_at(path: &Path, key: &str, message: String) -> ConfigError {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let file = path.display().to_string();
    Locator {
        text: &text,
        file: &file,
    }
    .err(key, message)
}

fn valid_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    prefix <= if ip.is_ipv4() { 32 } else { 128 }
}

fn int(
    loc: &Locator<'_>,
    key: &str,
    v: Option<i64>,
    default: usize,
    (lo, hi): (i64, i64),
) -> Result<usize, ConfigError> {
    match v {
        None => Ok(default),
        Some(v) if (lo..=hi).contains(&v) => Ok(v as usize),
        Some(v) => Err(loc.err(key, format!("{v} is out of range; use {lo} to {hi}"))),
    }
}

fn duration(
    loc: &Locator<'_>,
    key: &str,
    v: Option<String>,
    default: Duration,
    range_ms: (u64, u64),
) -> Result<Duration, ConfigError> {
    duration_at(
        loc,
        None,
        key,
        key.rsplit('.').next().unwrap_or(key),
        v,
        default,
        range_ms,
    )
}

fn duration_at(
    loc: &Locator<'_>,
    source: Option<usize>,
    key: &str,
    short: &str,
    v: Option<String>,
    default: Duration,
    (lo, hi): (u64, u64),
) -> Result<Duration, ConfigError> {
    let Some(v) = v else { return Ok(default) };
    let fail = |msg: String| match source {
        Some(i) => loc.err_item("source", i, short, msg),
        None => loc.err(key, msg),
    };
    let d = parse_duration(&v).ok_or_else(|| {
        fail(format!("`{v}` is not a duration; write a number and a unit: \"250ms\", \"30s\", \"5m\", \"1h\", \"7d\""))
    })?;
    let ms = d.as_millis() as u64;
    if ms < lo || ms > hi {
        return Err(fail(format!(
            "`{v}` is out of range; use {} to {}",
            fmt_ms(lo),
            fmt_ms(hi)
        )));
    }
    Ok(d)
}

fn fmt_ms(ms: u64) -> String {
    match ms {
        0 => "0s".into(),
        ms if ms % 86_400_000 == 0 => format!("{}d", ms / 86_400_000),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// Parses `250ms`, `30s`, `5m`, `1h`, `7d` (one number, one unit).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        "d" => n.checked_mul(86_400_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// Finds where a key stands in TOML text, so errors can say `file:line` (shared with dashboards).
pub(crate) struct Locator<'a> {
    pub(crate) text: &'a str,
    pub(crate) file: &'a str,
}

impl Locator<'_> {
    /// An error about a dotted key (`server.listen`; a bare key is top level).
    pub(crate) fn err(&self, key: &str, message: String) -> ConfigError {
        let (table, leaf) = match key.rsplit_once('.') {
            Some((t, l)) => (Some(t), l),
            None => (None, key),
        };
        ConfigError {
            file: self.file.to_string(),
            line: self
                .find(table, None, leaf)
                .or_else(|| table.and_then(|t| self.find_table(t, None))),
            key: Some(key.to_string()),
            message,
        }
    }

    /// An error about `leaf` in the `index`-th `[[table]]` (0-based, as in `source[1].format`).
    pub(crate) fn err_item(
        &self,
        table: &str,
        index: usize,
        leaf: &str,
        message: String,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: self
                .find(Some(table), Some(index), leaf)
                .or_else(|| self.find_table(table, Some(index))),
            key: Some(format!("{table}[{index}].{leaf}")),
            message,
        }
    }

    /// Line (1-based) of the header `[table]` or the `index`-th `[[table]]`.
    pub(crate) fn find_table(&self, table: &str, index: Option<usize>) -> Option<usize> {
        let mut seen = 0;
        for (n, line) in self.text.lines().enumerate() {
            if header_name(line).is_some_and(|h| h == table) {
                if index.is_none_or(|i| i == seen) {
                    return Some(n + 1);
                }
                seen += 1;
            }
        }
        None
    }

    /// Line (1-based) of `leaf = ...` inside `[table]` (or the index-th `[[table]]`; top level when
    /// `table` is None).
    fn find(&self, table: Option<&str>, index: Option<usize>, leaf: &str) -> Option<usize> {
        let mut current: Option<&str> = None;
        let mut array_index: Option<usize> = None;
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for (n, line) in self.text.lines().enumerate() {
            if let Some(h) = header_name(line) {
                current = Some(h);
                let c = match counts.iter_mut().find(|(t, _)| *t == h) {
                    Some((_, c)) => {
                        *c += 1;
                        *c
                    }
                    None => {
                        counts.push((h, 0));
                        0
                    }
                };
                array_index = Some(c);
                continue;
            }
            let t = line.trim_start();
            let key = t
                .split(['=', ' ', '\t'])
                .next()
                .unwrap_or("")
                .trim_matches('"');
            if key == leaf && t.contains('=') {
                let table_ok = current == table;
                let index_ok = index.is_none() || array_index == index;
                if table_ok && index_ok {
                    return Some(n + 1);
                }
            }
        }
        None
    }

    /// Turns the config crate's error into ours, with a line where possible.
    fn convert(&self, e: config::ConfigError) -> ConfigError {
        match e {
            config::ConfigError::FileParse { cause, .. } => ConfigError {
                file: self.file.to_string(),
                line: toml_error_line(&cause.to_string()),
                key: None,
                message: format!("not valid TOML: {}", first_line(&cause.to_string())),
            },
            config::ConfigError::Type {
                unexpected,
                expected,
                key,
                ..
            } => {
                let key = key.unwrap_or_default();
                // A value under [auth] may be a secret written in the wrong place: name its type only.
                let found = if key.starts_with("auth") {
                    "another type".to_string()
                } else {
                    unexpected.to_string()
                };
                self.keyed(
                    &key,
                    format!("has the wrong type: found {found}, expected {expected}"),
                )
            }
            config::ConfigError::At { error, key, .. } => {
                let inner = self.convert(*error);
                match key {
                    Some(k) if inner.key.is_none() => self.keyed(&k, inner.message),
                    _ => inner,
                }
            }
            other => {
                let msg = other.to_string();
                // serde's "unknown field `x`, expected one of ..." carries the key in the text.
                if let Some(field) = msg
                    .split("unknown field `")
                    .nth(1)
                    .and_then(|r| r.split('`').next())
                {
                    let line = self
                        .text
                        .lines()
                        .position(|l| l.trim_start().split(['=', ' ']).next() == Some(field))
                        .map(|n| n + 1);
                    return ConfigError {
                        file: self.file.to_string(),
                        line,
                        key: Some(field.to_string()),
                        message: format!(
                            "unknown key; {}",
                            msg.split(", expected")
                                .nth(1)
                                .map(|r| format!("expected{r}"))
                                .unwrap_or(msg.clone())
                        ),
                    };
                }
                ConfigError {
                    file: self.file.to_string(),
                    line: None,
                    key: None,
                    message: msg,
                }
            }
        }
    }

    /// An error for a dotted key as the config crate spells it (`source[1].format`, `server.listen`).
    fn keyed(&self, key: &str, message: String) -> ConfigError {
        if let Some(rest) = key.strip_prefix("source[")
            && let Some((idx, leaf)) = rest.split_once("].")
            && let Ok(i) = idx.parse::<usize>()
        {
            return self.err_item("source", i, leaf, message);
        }
        self.err(key, message)
    }
}

fn header_name(line: &str) -> Option<&str> {
    let t = line.trim();
    let inner = t
        .strip_prefix("[[")
        .and_then(|r| r.split("]]").next())
        .or_else(|| t.strip_prefix('[').and_then(|r| r.split(']').next()))?;
    Some(inner.trim())
}

pub(crate) fn toml_error_line(msg: &str) -> Option<usize> {
    // toml's messages start "TOML parse error at line 3, column 7".
    let rest = msg.split("line ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

pub(crate) fn first_line(s: &str) -> String {
    // Keep toml's pointer lines out of a one-line message, but keep its explanation (last line).
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines.last().copied().unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Settings, ConfigError> {
        Settings::from_toml(text, "test.toml", Vec::new())
    }

    #[test]
    fn defaults_and_sources() {
        let s = load(
            "[server]\nlisten = \"127.0.0.1:9000\"\n\n[[source]]\nname = \"edge\"\npath = \"/var/log/pf*.log\"\nformat = \"pf\"\n\n[[source]]\nname = \"core\"\npath = \"/var/log/kern.log\"\nstart_at = \"beginning\"\nquiet_after = \"30s\"\n",
        )
        .unwrap();
        assert_eq!(s.server.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(s.server.max_clients, 256);
        assert_eq!(s.sources.len(), 2);
        assert_eq!(s.sources[0].format, FormatSpec::Fixed(Format::Pf));
        assert_eq!(s.sources[0].start_at, StartAt::End);
        assert_eq!(s.sources[1].format, FormatSpec::Auto);
        assert_eq!(s.sources[1].start_at, StartAt::Beginning);
        assert_eq!(s.sources[1].quiet_after, Duration::from_secs(30));
        assert_eq!(s.sources[1].max_line_bytes, 65536);
    }

    #[test]
    fn bad_format_names_file_line_and_key() {
        let e = load("[[source]]\nname = \"a\"\npath = \"/x\"\n\n[[source]]\nname = \"b\"\npath = \"/y\"\nformat = \"pff\"\n")
            .unwrap_err();
        assert_eq!(e.line, Some(8));
        assert_eq!(e.key.as_deref(), Some("source[1].format"));
        assert!(
            e.to_string()
                .starts_with("test.toml:8: `source[1].format`: unknown format `pff`"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let e = load("[server]\nlisten = \"127.0.0.1:1\"\nlistne = \"x\"\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert_eq!(e.key.as_deref(), Some("listne"));
        assert!(e.message.contains("unknown key"), "{e}");
    }

    #[test]
    fn wrong_type_names_key() {
        let e = load("[server]\nmax_clients = \"many\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("server.max_clients"), "{e}");
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn syntax_error_has_line() {
        let e = load("[server]\nlisten = \n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.starts_with("not valid TOML"), "{e}");
    }

    #[test]
    fn bad_listen_and_duration() {
        let e = load("[server]\nlisten = \"localhost\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("server.listen")));
        let e = load("[tail]\nrescan_interval = \"soon\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("tail.rescan_interval"))
        );
        let e = load("[[source]]\nname = \"a\"\npath = \"/x\"\nquiet_after = \"10m\"\nsilent_after = \"1m\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(5), Some("source[0].silent_after"))
        );
    }

    #[test]
    fn env_overrides_apply() {
        let s = Settings::from_toml(
            "[server]\nlisten = \"127.0.0.1:1\"\n",
            "t",
            vec![("SOCWALL_SERVER__LISTEN".into(), "127.0.0.1:2".into())],
        )
        .unwrap();
        assert_eq!(s.server.listen.port(), 2);
        let s = Settings::from_toml(
            "[server.tls]\ncert = \"/a.pem\"\nkey = \"/k.pem\"\n",
            "t",
            vec![("SOCWALL_SERVER__TLS__CERT".into(), "/b.pem".into())],
        )
        .unwrap();
        assert_eq!(s.server.tls.unwrap().cert, PathBuf::from("/b.pem"));
    }

    #[test]
    fn syslog_sources() {
        let s = load("[[source]]\nname = \"fw\"\nkind = \"syslog\"\nlisten = [\"udp://0.0.0.0:514\", \"tcp://127.0.0.1:5514\"]\nformat = \"iptables\"\n").unwrap();
        assert_eq!(
            s.sources[0].input,
            Input::Syslog {
                listen: vec![
                    "udp://0.0.0.0:514".parse().unwrap(),
                    "tcp://127.0.0.1:5514".parse().unwrap()
                ]
            }
        );
        let one =
            load("[[source]]\nname = \"fw\"\nkind = \"syslog\"\nlisten = \"udp://[::]:514\"\n")
                .unwrap();
        assert!(matches!(&one.sources[0].input, Input::Syslog { listen } if listen.len() == 1));
        let e = load("[[source]]\nname = \"fw\"\nkind = \"syslog\"\nlisten = \"0.0.0.0:514\"\n")
            .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("source[0].listen")),
            "{e}"
        );
        let e = load("[[source]]\nname = \"fw\"\nkind = \"syslog\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("source[0].listen"), "{e}");
        let e = load("[[source]]\nname = \"fw\"\nkind = \"syslog\"\npath = \"/x\"\nlisten = \"udp://0.0.0.0:514\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("source[0].path")),
            "{e}"
        );
        let e = load("[[source]]\nname = \"a\"\nkind = \"syslog\"\nlisten = \"udp://0.0.0.0:514\"\n[[source]]\nname = \"b\"\nkind = \"syslog\"\nlisten = \"udp://0.0.0.0:514\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(8), Some("source[1].listen")),
            "{e}"
        );
        let e = load("[[source]]\nname = \"fw\"\nkind = \"pipe\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("source[0].kind")),
            "{e}"
        );
    }

    #[test]
    fn netflow_and_vpcflow_sources() {
        let s = load(
            "[[source]]\nname = \"nf\"\nkind = \"netflow\"\nlisten = \"udp://0.0.0.0:2055\"\n",
        )
        .unwrap();
        assert_eq!(s.sources[0].format, FormatSpec::Fixed(Format::Netflow));
        let e = load(
            "[[source]]\nname = \"nf\"\nkind = \"netflow\"\nlisten = \"tcp://0.0.0.0:2055\"\n",
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("source[0].listen")),
            "{e}"
        );
        let e =
            load("[[source]]\nname = \"f\"\npath = \"/x\"\nformat = \"netflow\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("source[0].format")),
            "{e}"
        );
        let s = load("[[source]]\nname = \"v\"\npath = \"/x\"\nformat = \"vpcflow\"\nfields = \"${version} ${srcaddr} ${dstaddr} ${action}\"\n").unwrap();
        assert!(s.sources[0].vpcflow_fields.is_some());
        let e = load("[[source]]\nname = \"v\"\npath = \"/x\"\nformat = \"iptables\"\nfields = \"${version}\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(5), Some("source[0].fields")),
            "{e}"
        );
    }

    #[test]
    fn iptables_verdict_words() {
        let s = load("[parse.iptables]\ndeny = [\"NOPE\"]\n").unwrap();
        assert_eq!(s.iptables_verdicts.deny, vec!["NOPE".to_string()]);
        assert_eq!(s.iptables_verdicts.allow, VerdictWords::default().allow);
        let e = load("[parse.iptables]\nallow = [\"\"]\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("parse.iptables.allow")),
            "{e}"
        );
    }

    #[test]
    fn wall_settings() {
        let s = Settings::from_toml(
            "[wall]\nshifts = [{ name = \"Night\", start = \"22:00\" }, { name = \"Day\", start = \"06:00\" }]\nreload_at = \"04:30\"\nburn_in = true\n",
            "w.toml",
            Vec::new(),
        )
        .unwrap();
        assert_eq!(
            s.wall.shifts,
            vec![("Day".to_string(), 360), ("Night".to_string(), 1320)]
        );
        assert_eq!(s.wall.reload_at, Some(270));
        assert!(s.wall.burn_in);
        assert_eq!(s.wall.json()["shifts"][1]["start"], "22:00");
        let e = Settings::from_toml("[wall]\nreload_at = \"25:00\"\n", "w.toml", Vec::new())
            .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("wall.reload_at")),
            "{e}"
        );
        assert_eq!(parse_hhmm("7:05"), Some(425));
        assert_eq!(parse_hhmm("07:5"), None);
    }

    #[test]
    fn state_section() {
        let s = load("").unwrap();
        assert!(s.state.dir.is_none(), "no state unless asked for");
        assert_eq!(s.state.snapshot_interval, Duration::from_secs(30));
        let s = load("[state]\ndir = \"/var/lib/socwall\"\nsnapshot_interval = \"5s\"\n").unwrap();
        assert_eq!(s.state.dir.as_deref(), Some(Path::new("/var/lib/socwall")));
        assert_eq!(s.state.snapshot_interval, Duration::from_secs(5));
        let e = load("[state]\nsnapshot_interval = \"10ms\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("state.snapshot_interval")),
            "{e}"
        );
        let e = load("[state]\ndir = \"\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("state.dir"), "{e}");
        let s = Settings::from_toml(
            "",
            "t",
            vec![("SOCWALL_STATE__DIR".into(), "/tmp/s".into())],
        )
        .unwrap();
        assert_eq!(s.state.dir.as_deref(), Some(Path::new("/tmp/s")));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("1y"), None);
    }

    const GOOD: &str = "3f9c2a7be1d04c58a6f1";

    #[test]
    fn non_loopback_listen_needs_auth() {
        let e = load("[server]\nlisten = \"0.0.0.0:8443\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("server.listen")),
            "{e}"
        );
        assert!(
            e.message.contains("[auth]") && e.message.contains("127.0.0.1"),
            "{e}"
        );
        for ok in [
            "127.0.0.1:9",
            "127.8.9.1:9",
            "[::1]:9",
            "[::ffff:127.0.0.1]:9",
        ] {
            load(&format!("[server]\nlisten = \"{ok}\"\n")).unwrap();
        }
        let e = load("[server]\nlisten = \"[::]:8443\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("server.listen"));
        // From the environment too (no line to point at, but the same key).
        let e = Settings::from_toml(
            "",
            "t",
            vec![("SOCWALL_SERVER__LISTEN".into(), "10.0.0.5:80".into())],
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("server.listen"), "{e}");
        let s = load(&format!(
            "[server]\nlisten = \"0.0.0.0:8443\"\n[auth]\ntokens = [ {{ name = \"wall-1\", token = \"{GOOD}\" }} ]\n"
        ))
        .unwrap();
        let auth = s.auth.unwrap();
        assert_eq!(auth.tokens[0].name, "wall-1");
        assert_eq!(auth.tokens[0].token.expose(), GOOD);
    }

    #[test]
    fn weak_or_malformed_tokens_are_refused_without_showing_them() {
        let cases = [
            ("short-token-123", "too short (15"),
            ("aaaaaaaaaaaaaaaaaaaaaaaa", "too repetitive"),
            ("abcdefghij klmnopqrs", "letters, digits"),
            ("abcdefghij;klmnopqrs", "letters, digits"),
        ];
        for (token, why) in cases {
            let text = format!(
                "[auth]\ntokens = [\n  {{ name = \"wall-1\", token = \"{GOOD}\" }},\n  {{ name = \"lead\", token = \"{token}\" }},\n]\n"
            );
            let e = load(&text).unwrap_err();
            assert_eq!(
                (e.line, e.key.as_deref()),
                (Some(4), Some("auth.tokens[1].token")),
                "{e}"
            );
            assert!(e.message.contains(why), "{e}");
            assert!(e.message.contains("openssl rand -hex 32"), "{e}");
            assert!(!e.to_string().contains(token), "the token leaked: {e}");
        }
        // The same with [[auth.tokens]] tables.
        let e = load("[[auth.tokens]]\nname = \"a\"\ntoken = \"x\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("auth.tokens[0].token")),
            "{e}"
        );
        let e = load("[auth]\ntokens = []\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("auth.tokens")),
            "{e}"
        );
        let e = load(&format!("[auth]\ntokens = [{{ token = \"{GOOD}\" }}]\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("auth.tokens[0].name"), "{e}");
        assert!(!e.to_string().contains(GOOD));
        let dup = format!(
            "[auth]\ntokens = [{{ name = \"a\", token = \"{GOOD}\" }}, {{ name = \"b\", token = \"{GOOD}\" }}]\n"
        );
        let e = load(&dup).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("auth.tokens[1].token"), "{e}");
        assert!(!e.to_string().contains(GOOD));
        let e = load(&format!(
            "[auth]\ntokens = [{{ name = \"a b\", token = \"{GOOD}\" }}]\n"
        ))
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("auth.tokens[0].name"), "{e}");
        // A secret written where a table belongs is not echoed in the type error.
        let e = load(&format!("[auth]\ntokens = \"{GOOD}\"\n")).unwrap_err();
        assert!(!e.to_string().contains(GOOD), "{e}");
        let e = load(&format!(
            "[auth]\ntokens = [{{ name = \"a\", token = \"{GOOD}\", tokn = 1 }}]\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("unknown"), "{e}");
        // Debug output of the settings never shows a token.
        let s = load(&format!(
            "[auth]\ntokens = [{{ name = \"a\", token = \"{GOOD}\" }}]\n"
        ))
        .unwrap();
        assert!(!format!("{s:?}").contains(GOOD));
    }

    #[test]
    fn web_limits_framing_and_tls() {
        let s = load("").unwrap();
        assert_eq!(s.server.max_clients_per_address, 16);
        assert_eq!(s.server.max_update_age, Duration::from_secs(10));
        assert!(s.server.frame_ancestors.is_empty() && s.server.tls.is_none() && s.auth.is_none());
        let s = load("[server]\nmax_clients_per_address = 2\nmax_update_age = \"3s\"\nframe_ancestors = [\"self\", \"https://portal.example.org\"]\n[server.tls]\ncert = \"/etc/socwall/cert.pem\"\nkey = \"/etc/socwall/key.pem\"\n").unwrap();
        assert_eq!(s.server.max_clients_per_address, 2);
        assert_eq!(s.server.max_update_age, Duration::from_secs(3));
        assert_eq!(
            s.server.frame_ancestors,
            vec!["'self'", "https://portal.example.org"]
        );
        assert_eq!(
            s.server.tls,
            Some(TlsSettings {
                cert: "/etc/socwall/cert.pem".into(),
                key: "/etc/socwall/key.pem".into()
            })
        );
        let e = load("[server]\nframe_ancestors = [\"*\"]\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("server.frame_ancestors")),
            "{e}"
        );
        let e = load("[server.tls]\ncert = \"/c.pem\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(1), Some("server.tls.key")),
            "{e}"
        );
        let e = load("[server]\nmax_update_age = \"500ms\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("server.max_update_age"), "{e}");
        let e = load("[server]\nmax_clients_per_address = 0\n").unwrap_err();
        assert_eq!(
            e.key.as_deref(),
            Some("server.max_clients_per_address"),
            "{e}"
        );
    }

    #[test]
    fn shipped_config_is_valid() {
        let text = include_str!("../config/socwall.toml");
        let s = load(text).unwrap();
        assert!(!s.sources.is_empty());
        // Its commented [server.tls] and [auth] examples, switched on (with real tokens), are
        // valid too, also on a public address.
        let mut on = String::new();
        for line in text.lines() {
            let l = line
                .strip_prefix("# ")
                .filter(|l| {
                    ["[server.tls]", "cert =", "key =", "[auth]", "tokens ="]
                        .iter()
                        .any(|p| l.starts_with(p))
                })
                .unwrap_or(line);
            on.push_str(l);
            on.push('\n');
        }
        let on = on
            .replacen("\"...\"", "\"9f86d081884c7d659a2feaa0c55ad015\"", 1)
            .replacen("\"...\"", "\"a3f1c9e2b47d58064c1e2f3a4b5c6d7e\"", 1)
            .replace("listen = \"127.0.0.1:8080\"", "listen = \"0.0.0.0:8443\"");
        let s = load(&on).unwrap();
        assert_eq!(s.auth.unwrap().tokens.len(), 2);
        assert_eq!(
            s.server.tls.unwrap().cert,
            PathBuf::from("/etc/socwall/cert.pem")
        );
    }
}
