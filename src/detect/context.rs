//! What detectors know about the site (config, hot-reloaded): internal networks and named zones,
//! approved DNS resolvers, and watchlisted addresses. Built once per (re)load, then read-only.
//!
//! Lookups are on the hot path (twice per record): networks are a short list of masks tested
//! longest-prefix-first; a watchlist is one hash set per distinct prefix length.

use std::collections::HashSet;

use foldhash::fast::RandomState;
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

/// One named list of addresses (a watchlist file). A lookup tests one prefix length after the
/// other (a threat feed mixing /32s, /24s and /16s: three tests), however many entries it has.
/// Each test first reads one 64-bit word of a blocked Bloom filter (16–32 bits per entry, so it
/// mostly stays in cache; well under 1 % false positives) and probes the exact hash set only on a match —
/// nearly every record on the hot path is not listed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddressList {
    pub name: String,
    /// Per prefix length: `(mask, networks)` in key space, longest mask first.
    by_mask: Vec<(u128, HashSet<u128, RandomState>)>,
    entries: usize,
    /// Blocked Bloom filter over `(network, mask)`; a power-of-two number of words.
    bloom: Vec<u64>,
}

/// Bloom hash of a masked key and its mask (fixed multiply-fold: a crafted collision only costs
/// the exact probe it would have cost without the filter).
#[inline]
fn bloom_hash(net: u128, mask: u128) -> u64 {
    let x = (net as u64) ^ ((net >> 64) as u64).rotate_left(29) ^ u64::from(mask.leading_ones());
    let h = (u128::from(x) * 0x9e37_79b9_7f4a_7c15) as u64;
    h ^ (h >> 29)
}

/// The word index and the two bits of a Bloom hash.
#[inline]
fn bloom_probe(h: u64, words: usize) -> (usize, u64) {
    let bits = (1u64 << ((h >> 52) & 63)) | (1u64 << ((h >> 58) & 63));
    ((h as usize) & (words - 1), bits)
}

impl AddressList {
    pub fn new(name: impl Into<String>) -> Self {
        AddressList {
            name: name.into(),
            by_mask: Vec::new(),
            entries: 0,
            bloom: Vec::new(),
        }
    }

    /// Adds an address or prefix (a duplicate is ignored).
    pub fn add(&mut self, c: Cidr) {
        let (net, mask) = c.key_mask();
        let i = match self.by_mask.iter().position(|(m, _)| *m == mask) {
            Some(i) => i,
            None => {
                self.by_mask.push((mask, HashSet::default()));
                self.by_mask
                    .sort_by_key(|(m, _)| std::cmp::Reverse(m.leading_ones()));
                self.by_mask
                    .iter()
                    .position(|(m, _)| *m == mask)
                    .expect("just added")
            }
        };
        if self.by_mask[i].1.insert(net) {
            self.entries += 1;
            let words = (self.entries / 4).next_power_of_two();
            if words > self.bloom.len() {
                self.rebuild_bloom(words);
            } else {
                let (w, bits) = bloom_probe(bloom_hash(net, mask), self.bloom.len());
                self.bloom[w] |= bits;
            }
        }
    }

    fn rebuild_bloom(&mut self, words: usize) {
        self.bloom = vec![0; words.max(1)];
        let n = self.bloom.len();
        for (mask, set) in &self.by_mask {
            for &net in set {
                let (w, bits) = bloom_probe(bloom_hash(net, *mask), n);
                self.bloom[w] |= bits;
            }
        }
    }

    #[inline]
    pub fn contains(&self, k: u128) -> bool {
        let n = self.bloom.len();
        self.by_mask.iter().any(|(m, set)| {
            let net = k & m;
            let (w, bits) = bloom_probe(bloom_hash(net, *m), n);
            self.bloom[w] & bits == bits && set.contains(&net)
        })
    }

    /// Addresses and prefixes listed.
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Approximate heap bytes.
    pub fn memory(&self) -> usize {
        self.bloom.len() * 8
            + self
                .by_mask
                .iter()
                .map(|(_, s)| s.capacity() * 17 + 64)
                .sum::<usize>()
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

    /// Every internal prefix (zones included) as `(network, mask)` in key space.
    pub fn internal_masks(&self) -> Vec<(u128, u128)> {
        self.nets.iter().map(|&(n, m, _)| (n, m)).collect()
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
    fn address_lists_match_exactly_by_prefix() {
        let mut l = AddressList::new("ti");
        assert!(!l.contains(ip_key("203.0.113.66".parse().unwrap())));
        for i in 0..10_000u32 {
            l.add(Cidr {
                addr: std::net::Ipv4Addr::from(0xc000_0000 | (i * 7)).into(),
                prefix: 32,
            });
        }
        l.add(c("198.18.0.0/15"));
        l.add(c("2001:db8::/32"));
        l.add(c("198.18.0.0/15"));
        assert_eq!(l.len(), 10_002);
        for i in 0..10_000u32 {
            let listed = std::net::Ipv4Addr::from(0xc000_0000 | (i * 7));
            assert!(l.contains(ip_key(listed.into())), "{listed}");
            let not = std::net::Ipv4Addr::from(0xc000_0000 | (i * 7 + 3));
            assert!(!l.contains(ip_key(not.into())), "{not}");
        }
        assert!(l.contains(ip_key("198.19.255.1".parse().unwrap())));
        assert!(!l.contains(ip_key("198.20.0.1".parse().unwrap())));
        assert!(l.contains(ip_key("2001:db8::99".parse().unwrap())));
        assert!(!l.contains(ip_key("2001:db9::1".parse().unwrap())));
        assert!(l.memory() < 10_002 * 40, "{}", l.memory());
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
