//! What the detectors know about the site — `[networks]`, `[networks.zones]`, `[dns]`,
//! `[[watchlist]]` — and the `[detect]` tables, validated into [`SiteSettings`] and
//! [`DetectSettings`]. Validation reads the watchlist files: an unreadable file is an error
//! (`watchlist[0].path`), a bad line in one is a warning with `file:line`, never fatal.
//!
//! These are also what the daemon re-reads on a hot reload (docs/CONFIG.md "Hot reload").

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, Locator};
use crate::aggregate::Cidr;
use crate::detect::{AddressList, Context, DetectSettings};

/// Largest watchlist file read (bigger is an error: probably the wrong file).
pub const WATCHLIST_MAX_BYTES: u64 = 64 << 20;
/// Bad lines reported per watchlist file (the rest are counted).
const WARNINGS_PER_FILE: usize = 20;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetworks {
    internal: Option<Vec<String>>,
    zones: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDns {
    approved_resolvers: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatchlist {
    name: Option<String>,
    path: Option<String>,
}

/// Networks, zones, resolvers and watchlists, validated (watchlist files read).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteSettings {
    pub internal: Vec<Cidr>,
    /// `(name, prefixes)`, sorted by name.
    pub zones: Vec<(String, Vec<Cidr>)>,
    pub approved_resolvers: Vec<IpAddr>,
    pub watchlists: Vec<WatchlistSettings>,
    /// Non-fatal problems (bad watchlist lines, deprecated keys), each with `file:line`.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WatchlistSettings {
    pub name: String,
    pub path: PathBuf,
    pub list: AddressList,
}

impl SiteSettings {
    /// The detectors' context.
    pub fn context(&self) -> Context {
        let mut ctx = Context::new(&self.internal, &self.zones);
        ctx.approved_resolvers = self
            .approved_resolvers
            .iter()
            .map(|ip| crate::aggregate::ip_key(*ip))
            .collect();
        ctx.watchlists = self.watchlists.iter().map(|w| w.list.clone()).collect();
        ctx
    }

    /// Files whose change triggers a reload besides the config file itself.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        self.watchlists.iter().map(|w| w.path.clone()).collect()
    }
}

fn cidrs(loc: &Locator<'_>, key: &str, list: &[String]) -> Result<Vec<Cidr>, ConfigError> {
    list.iter()
        .map(|n| {
            if !super::valid_cidr(n) {
                return Err(loc.err(
                    key,
                    format!("`{n}` is not a CIDR; write address/prefix, e.g. \"10.0.0.0/8\" or \"fd00::/8\""),
                ));
            }
            n.parse::<Cidr>()
                .map_err(|e| loc.err(key, format!("{e}")))
        })
        .collect()
}

/// Validates the site tables. `aggregate_nets`: `[aggregate] internal_networks` as written
/// (the deprecated alias), if it was.
pub(super) fn validate(
    loc: &Locator<'_>,
    networks: RawNetworks,
    dns: RawDns,
    watchlists: Vec<RawWatchlist>,
    aggregate_nets: Option<&[String]>,
    default_nets: &[String],
) -> Result<SiteSettings, ConfigError> {
    let mut s = SiteSettings::default();
    let internal = match (networks.internal, aggregate_nets) {
        (Some(n), Some(old)) if n != old => {
            return Err(loc.err(
                "aggregate.internal_networks",
                "is a deprecated alias of [networks] internal and says something else; remove it"
                    .into(),
            ));
        }
        (Some(n), _) => n,
        (None, Some(old)) => {
            s.warnings.push(format!(
                "{}:{}: `aggregate.internal_networks` is deprecated; move the list to [networks] internal",
                loc.file,
                loc.err("aggregate.internal_networks", String::new())
                    .line
                    .unwrap_or(0)
            ));
            old.to_vec()
        }
        (None, None) => default_nets.to_vec(),
    };
    let key = if aggregate_nets.is_some() && loc.find_table("networks", None).is_none() {
        "aggregate.internal_networks"
    } else {
        "networks.internal"
    };
    s.internal = cidrs(loc, key, &internal)?;

    for (name, nets) in networks.zones.unwrap_or_default() {
        let key = format!("networks.zones.{name}");
        if !crate::dashboard::valid_name(&name) {
            return Err(loc.err(
                &key,
                format!("`{name}` is not a zone name; use letters, digits, - and _"),
            ));
        }
        if nets.is_empty() {
            return Err(loc.err(&key, "a zone needs at least one CIDR".into()));
        }
        let c = cidrs(loc, &key, &nets)?;
        s.zones.push((name, c));
    }

    for r in dns.approved_resolvers.unwrap_or_default() {
        let ip: IpAddr = r.trim().parse().map_err(|_| {
            loc.err(
                "dns.approved_resolvers",
                format!(
                    "`{r}` is not an IP address; list each resolver's address, e.g. \"10.0.0.53\""
                ),
            )
        })?;
        if !s.approved_resolvers.contains(&ip) {
            s.approved_resolvers.push(ip);
        }
    }

    let base = Path::new(loc.file).parent();
    for (i, w) in watchlists.into_iter().enumerate() {
        let name = w.name.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
            loc.err_item(
                "watchlist",
                i,
                "name",
                "every [[watchlist]] needs a name, shown in its anomalies".into(),
            )
        })?;
        if s.watchlists.iter().any(|o| o.name == name) {
            return Err(loc.err_item(
                "watchlist",
                i,
                "name",
                format!("`{name}` is used by two watchlists; names must be unique"),
            ));
        }
        let path = w.path.filter(|p| !p.trim().is_empty()).ok_or_else(|| {
            loc.err_item(
                "watchlist",
                i,
                "path",
                "every [[watchlist]] needs a path: a file with one IP or CIDR per line".into(),
            )
        })?;
        let mut path = PathBuf::from(path);
        if path.is_relative()
            && let Some(b) = base
            && !b.as_os_str().is_empty()
        {
            path = b.join(path);
        }
        let text = read_watchlist(&path).map_err(|m| loc.err_item("watchlist", i, "path", m))?;
        let (list, warnings) = parse_watchlist(&name, &path.display().to_string(), &text);
        s.warnings.extend(warnings);
        s.watchlists.push(WatchlistSettings { name, path, list });
    }
    Ok(s)
}

fn read_watchlist(path: &Path) -> Result<String, String> {
    let hint = "the file must exist and be readable by socwall (one IP or CIDR per line)";
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}; {hint}", path.display()))?;
    if meta.len() > WATCHLIST_MAX_BYTES {
        return Err(format!(
            "{} is {} bytes, more than the {} MiB a watchlist may have",
            path.display(),
            meta.len(),
            WATCHLIST_MAX_BYTES >> 20
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}; {hint}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// One IP or CIDR per line; `#` starts a comment; blank lines are skipped. Bad lines become
/// warnings `file:line: ...` (at most 20 per file, then a count).
pub fn parse_watchlist(name: &str, file: &str, text: &str) -> (AddressList, Vec<String>) {
    let mut list = AddressList::new(name);
    let mut warnings = Vec::new();
    let mut bad = 0usize;
    for (n, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        match entry.parse::<Cidr>() {
            Ok(c) => list.add(c),
            Err(_) => {
                bad += 1;
                if warnings.len() < WARNINGS_PER_FILE {
                    warnings.push(format!(
                        "{file}:{}: `{}` is not an IP address or CIDR; line ignored",
                        n + 1,
                        entry.chars().take(80).collect::<String>()
                    ));
                }
            }
        }
    }
    if bad > WARNINGS_PER_FILE {
        warnings.push(format!(
            "{file}: {} more bad lines ignored",
            bad - WARNINGS_PER_FILE
        ));
    }
    (list, warnings)
}

/// `[detect]` → settings, with the error pointed at its line.
pub(super) fn detect(
    loc: &Locator<'_>,
    raw: Option<toml::Table>,
) -> Result<DetectSettings, ConfigError> {
    let Some(t) = raw else {
        return Ok(DetectSettings::default());
    };
    DetectSettings::from_table(&t).map_err(|e| loc.err(&e.key, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::detect::{Kind, Zone};

    fn load(text: &str) -> Result<Settings, ConfigError> {
        Settings::from_toml(text, "test.toml", Vec::new())
    }

    #[test]
    fn site_tables_build_the_context() {
        let dir = tempfile::tempdir().unwrap();
        let wl = dir.path().join("ti.txt");
        std::fs::write(&wl, "203.0.113.66\nbogus\n").unwrap();
        let s = load(&format!(
            "[networks]\ninternal = [\"10.0.0.0/8\", \"195.141.69.0/24\"]\n[networks.zones]\nDMZ = [\"10.1.0.0/16\"]\nservers = [\"10.2.0.0/16\"]\n[dns]\napproved_resolvers = [\"10.0.0.53\"]\n[[watchlist]]\nname = \"threat-intel\"\npath = \"{}\"\n[detect]\nmax_open = 10\n[detect.port_scan]\nenabled = false\n",
            wl.display()
        ))
        .unwrap();
        assert_eq!(
            s.aggregate.internal_networks,
            vec!["10.0.0.0/8", "195.141.69.0/24"]
        );
        assert_eq!(s.detect.table.max_open, 10);
        assert_eq!(s.detect.disabled, vec![Kind::PortScan]);
        assert_eq!(s.site.warnings.len(), 1, "{:?}", s.site.warnings);
        assert!(
            s.site.warnings[0]
                .ends_with("ti.txt:2: `bogus` is not an IP address or CIDR; line ignored")
        );
        let ctx = s.site.context();
        let zone = ctx.zone_of_ip("10.1.2.3".parse().unwrap());
        assert_eq!(
            ctx.zone_name(zone),
            Some("DMZ"),
            "zone names keep their case"
        );
        assert_eq!(
            ctx.zone_of_ip("195.141.69.45".parse().unwrap()),
            Zone::Internal
        );
        assert!(ctx.is_approved_resolver(crate::aggregate::ip_key("10.0.0.53".parse().unwrap())));
        assert_eq!(
            ctx.watchlisted(crate::aggregate::ip_key("203.0.113.66".parse().unwrap()))
                .map(|l| l.name.as_str()),
            Some("threat-intel")
        );
    }

    #[test]
    fn errors_point_at_file_line_and_key() {
        let e = load(
            "[networks]\ninternal = [\"10.0.0.0/8\"]\n[networks.zones]\ndmz = [\"10.1.0.0/99\"]\n",
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("networks.zones.dmz")),
            "{e}"
        );
        let e = load("[dns]\napproved_resolvers = [\"10.0.0.0/24\"]\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("dns.approved_resolvers")),
            "{e}"
        );
        let e = load("[[watchlist]]\nname = \"a\"\npath = \"/nonexistent/socwall-wl.txt\"\n")
            .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("watchlist[0].path")),
            "{e}"
        );
        assert!(
            e.message
                .starts_with("cannot read /nonexistent/socwall-wl.txt"),
            "{e}"
        );
        let e = load("[detect]\nmax_open = 5\n\n[detect.fixed_dns_source_port]\nmin_servers = 0\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "test.toml:5: `detect.fixed_dns_source_port.min_servers`: 0 is out of range; use 1 to 8"
        );
        let e = load("[detect.port_scan]\nwindow = \"1s\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("detect.port_scan.window")),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "test.toml:2: `detect.port_scan.window`: \"1s\" is out of range; use 10s to 1h"
        );
        let e = load("[detect.beaconing]\nmin_score = 0.8\nignore_ports = [53, 123, 70000]\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "test.toml:3: `detect.beaconing.ignore_ports`: 70000 is out of range; use ports 0 to 65535"
        );
    }

    #[test]
    fn aggregate_internal_networks_is_a_deprecated_alias() {
        let s = load("[aggregate]\ninternal_networks = [\"172.16.0.0/12\"]\n").unwrap();
        assert_eq!(
            s.site.internal,
            vec!["172.16.0.0/12".parse::<Cidr>().unwrap()]
        );
        assert_eq!(
            s.site.warnings,
            vec!["test.toml:2: `aggregate.internal_networks` is deprecated; move the list to [networks] internal".to_string()]
        );
        let e = load("[aggregate]\ninternal_networks = [\"172.16.0.0/12\"]\n[networks]\ninternal = [\"10.0.0.0/8\"]\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("aggregate.internal_networks")),
            "{e}"
        );
        let d = load("").unwrap();
        assert_eq!(d.site.internal, Cidr::default_internal());
    }

    #[test]
    fn watchlist_lines() {
        let (l, w) = parse_watchlist(
            "ti",
            "/etc/ti.txt",
            "# feed\n203.0.113.66\n198.18.0.0/15  # range\n\nnot-an-ip\n10.0.0.0/33\n2001:db8::1\n",
        );
        assert_eq!(l.len(), 3);
        assert!(l.contains(crate::aggregate::ip_key("198.19.4.4".parse().unwrap())));
        assert_eq!(
            w,
            vec![
                "/etc/ti.txt:5: `not-an-ip` is not an IP address or CIDR; line ignored".to_string(),
                "/etc/ti.txt:6: `10.0.0.0/33` is not an IP address or CIDR; line ignored"
                    .to_string(),
            ]
        );
    }
}
