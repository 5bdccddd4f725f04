//! What detectors know about the site (config, hot-reloaded): internal networks and named zones,
//! approved DNS resolvers, and watchlisted addresses. Built once per (re)load, then read-only.
//!
//! Lookups are on the hot path (twice per record): networks are a short list of masks tested
//! longest-prefix-first; watchlists are exact addresses in a hash set plus a short CIDR list.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::aggregate::{Cidr, ip_key};

/// Where an address sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    /// No address (the record lacked it).
    Unknown,
    /// Outside every internal network.
    External,
    /// Internal, in no named zone.
    Internal,
    /// Internal, in the named zone with this index into [`Context::zone_names`].
    Named(u16),
}

impl Zone {
    pub fn is_internal(self) -> bool {
        matches!(self, Zone::Internal | Zone::Named(_))
    }

    pub fn is_external(self) -> bool {
        self == Zone::External
    }
}

/// One named list of addresses (a watchlist file or an inline list).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddressList {
    pub name: String,
    pub exact: HashSet<u128>,
    /// `(network, mask)` in key space.
    pub nets: Vec<(u128, u128)>,
}

impl AddressList {
    pub fn contains(&self, k: u128) -> bool {
        self.exact.contains(&k) || self.nets.iter().any(|&(n, m)| k & m == n)
    }

    pub fn len(&self) -> usize {
        self.exact.len() + self.nets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// Internal networks as `(network, mask, zone)`, most specific first.
    nets: Vec<(u128, u128, Zone)>,
    zone_names: Vec<String>,
    /// Approved DNS resolvers (keys).
    pub approved_resolvers: HashSet<u128>,
    pub watchlists: Vec<AddressList>,
}

impl Context {
    /// `internal`: the internal networks; `zones`: named zones (name, prefixes), which are
    /// internal too. A prefix in a zone wins over a less specific internal network.
    pub fn new(internal: &[Cidr], zones: &[(String, Vec<Cidr>)]) -> Self {
        let mut nets: Vec<(u128, u128, Zone)> = Vec::new();
        let mut zone_names = Vec::new();
        for c in internal {
            let (n, m) = c.key_mask();
            nets.push((n, m, Zone::Internal));
        }
        for (i, (name, cidrs)) in zones.iter().enumerate() {
            zone_names.push(name.clone());
            let z = Zone::Named(u16::try_from(i).unwrap_or(u16::MAX));
            for c in cidrs {
                let (n, m) = c.key_mask();
                nets.push((n, m, z));
            }
        }
        // Most specific first (longest mask = most leading ones); zones before plain
        // internal networks of the same length.
        nets.sort_by(|a, b| {
            b.1.leading_ones()
                .cmp(&a.1.leading_ones())
                .then(matches!(a.2, Zone::Internal).cmp(&matches!(b.2, Zone::Internal)))
        });
        Context {
            nets,
            zone_names,
            approved_resolvers: HashSet::new(),
            watchlists: Vec::new(),
        }
    }

    /// The defaults: RFC 1918, 100.64/10, fc00::/7, fe80::/10 internal; no zones.
    pub fn with_default_networks() -> Self {
        Context::new(&Cidr::default_internal(), &[])
    }

    #[inline]
    pub fn zone_of(&self, k: u128) -> Zone {
        for &(n, m, z) in &self.nets {
            if k & m == n {
                return z;
            }
        }
        Zone::External
    }

    pub fn zone_of_ip(&self, ip: IpAddr) -> Zone {
        self.zone_of(ip_key(ip))
    }

    pub fn zone_names(&self) -> &[String] {
        &self.zone_names
    }

    /// Display name of a zone: the zone's own name, "internal", "external" or None.
    pub fn zone_name(&self, z: Zone) -> Option<&str> {
        match z {
            Zone::Unknown => None,
            Zone::External => Some("external"),
            Zone::Internal => Some("internal"),
            Zone::Named(i) => self.zone_names.get(usize::from(i)).map(String::as_str),
        }
    }

    /// "internal server 10.2.0.5 (servers)", "external 203.0.113.9", "internal host 10.1.4.22".
    pub fn describe(&self, ip: IpAddr) -> String {
        match self.zone_of_ip(ip) {
            Zone::Named(i) => match self.zone_names.get(usize::from(i)) {
                Some(n) => format!("internal host {ip} ({n})"),
                None => format!("internal host {ip}"),
            },
            Zone::Internal => format!("internal host {ip}"),
            Zone::External | Zone::Unknown => format!("external host {ip}"),
        }
    }

    pub fn is_approved_resolver(&self, k: u128) -> bool {
        self.approved_resolvers.contains(&k)
    }

    /// The first watchlist holding `k`.
    #[inline]
    pub fn watchlisted(&self, k: u128) -> Option<&AddressList> {
        if self.watchlists.is_empty() {
            return None;
        }
        self.watchlists.iter().find(|w| w.contains(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn zones_win_over_internal_and_names_resolve() {
        let ctx = Context::new(
            &[c("10.0.0.0/8")],
            &[("servers".into(), vec![c("10.2.0.0/16")])],
        );
        let z = ctx.zone_of_ip("10.2.0.5".parse().unwrap());
        assert_eq!(z, Zone::Named(0));
        assert_eq!(ctx.zone_name(z), Some("servers"));
        assert_eq!(ctx.zone_of_ip("10.1.4.22".parse().unwrap()), Zone::Internal);
        assert_eq!(
            ctx.zone_of_ip("203.0.113.9".parse().unwrap()),
            Zone::External
        );
        assert_eq!(
            ctx.describe("10.2.0.5".parse().unwrap()),
            "internal host 10.2.0.5 (servers)"
        );
    }
}
