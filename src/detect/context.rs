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

/// `::ffff:0:0/96`, where IPv4 addresses sit in key space (`ip_key`).
const V4_MAPPED: u128 = 0xffff << 32;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// Internal networks as `(network, mask, zone)`, most specific first.
    nets: Vec<(u128, u128, Zone)>,
    /// The same prefixes as seen by an IPv4-mapped key (`::ffff:a.b.c.d`), in the same order,
    /// as 32-bit `(network, mask, zone)`: an IPv4 prefix keeps its low 32 bits, an IPv6 prefix
    /// that contains all of `::ffff:0:0/96` (`::/0`, `::/80`...) matches every IPv4 address
    /// (mask 0), and an IPv6 prefix that does not is left out. Most traffic is IPv4, and this
    /// halves the width of each compare and skips the IPv6-only prefixes (the defaults have two).
    v4: Vec<(u32, u32, Zone)>,
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
        let v4 = nets
            .iter()
            .filter_map(|&(n, m, z)| {
                if m.leading_ones() >= 96 {
                    (n >> 32 == V4_MAPPED >> 32).then_some((n as u32, m as u32, z))
                } else {
                    // A prefix shorter than /96 holds either every IPv4-mapped key or none.
                    (V4_MAPPED & m == n).then_some((0, 0, z))
                }
            })
            .collect();
        Context {
            nets,
            v4,
            zone_names,
            approved_resolvers: HashSet::new(),
            watchlists: Vec::new(),
        }
    }

    /// The defaults: RFC 1918, 100.64/10, fc00::/7, fe80::/10 internal; no zones.
    pub fn with_default_networks() -> Self {
        Context::new(&Cidr::default_internal(), &[])
    }

    /// The zone of an address key, most specific prefix first. Twice per record on the hot path:
    /// IPv4-mapped keys take the 32-bit list (same answer, see `v4`).
    #[inline]
    pub fn zone_of(&self, k: u128) -> Zone {
        if k >> 32 == V4_MAPPED >> 32 {
            let a = k as u32;
            for &(n, m, z) in &self.v4 {
                if a & m == n {
                    return z;
                }
            }
            return Zone::External;
        }
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

    /// The zone as the plain scan of every prefix gives it (what `zone_of` did before `v4`).
    fn zone_by_scan(ctx: &Context, k: u128) -> Zone {
        ctx.nets
            .iter()
            .find(|&&(n, m, _)| k & m == n)
            .map_or(Zone::External, |&(_, _, z)| z)
    }

    #[test]
    fn ipv4_fast_path_gives_the_same_zone_as_the_scan() {
        let zones = |v: &[(&str, &[&str])]| -> Vec<(String, Vec<Cidr>)> {
            v.iter()
                .map(|(n, cs)| (n.to_string(), cs.iter().map(|x| c(x)).collect()))
                .collect()
        };
        let contexts = [
            Context::with_default_networks(),
            Context::new(
                &Cidr::default_internal(),
                &zones(&[
                    ("servers", &["10.2.0.0/16", "10.2.3.4/32"]),
                    ("v6lab", &["2001:db8::/32"]),
                ]),
            ),
            // IPv6 prefixes that hold every IPv4-mapped address, before and after IPv4 ones.
            Context::new(&[c("::/0")], &zones(&[("dmz", &["192.0.2.0/24"])])),
            Context::new(&[c("::ffff:0:0/96"), c("::ffff:0:0/80")], &[]),
            Context::new(&[c("::/80"), c("10.0.0.0/8")], &[]),
            // An IPv6 prefix holding none of them, and a /0 of IPv4.
            Context::new(&[c("2001:db8::/32"), c("0.0.0.0/0")], &[]),
            Context::new(&[], &[]),
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut keys: Vec<u128> = [
            "10.2.3.4",
            "10.2.3.5",
            "10.9.9.9",
            "192.0.2.1",
            "172.16.0.1",
            "100.64.0.1",
            "8.8.8.8",
            "0.0.0.0",
            "255.255.255.255",
            "2001:db8::1",
            "fc00::1",
            "fe80::1",
            "::1",
            "::10.0.0.1",
        ]
        .iter()
        .map(|a| ip_key(a.parse().unwrap()))
        .collect();
        for _ in 0..20_000 {
            let r = next();
            keys.push(V4_MAPPED | u128::from(r as u32));
            // Private ranges often, so zones are hit.
            keys.push(V4_MAPPED | u128::from(0x0a00_0000 | (r >> 40) as u32 & 0x00ff_ffff));
            keys.push(u128::from(r) << 64 | u128::from(next()));
        }
        for (i, ctx) in contexts.iter().enumerate() {
            let mut internal = 0;
            for &k in &keys {
                let z = ctx.zone_of(k);
                assert_eq!(z, zone_by_scan(ctx, k), "context {i}, key {k:#x}");
                internal += usize::from(z.is_internal());
            }
            // Every context but the empty one puts some of the keys inside.
            if i != 6 {
                assert!(internal > 0, "context {i}");
            }
        }
        let d = &contexts[0];
        assert_eq!(
            d.zone_of(ip_key("10.1.2.3".parse().unwrap())),
            Zone::Internal
        );
        assert_eq!(
            d.zone_of(ip_key("8.8.8.8".parse().unwrap())),
            Zone::External
        );
        assert_eq!(d.v4.len(), 4, "{:?}", d.v4);
        let all = &contexts[2];
        assert_eq!(
            all.zone_of(ip_key("192.0.2.9".parse().unwrap())),
            Zone::Named(0)
        );
        assert_eq!(
            all.zone_of(ip_key("8.8.8.8".parse().unwrap())),
            Zone::Internal
        );
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
