//! [`Cidr`]: an address prefix (`10.0.0.0/8`, `fc00::/7`) for the configurable list of internal
//! networks, and the `u128` address key the aggregator uses everywhere.
//!
//! Why `u128`: one integer compares, hashes and masks faster than the `IpAddr` enum. IPv4 maps to
//! `::ffff:a.b.c.d` (RFC 4291 IPv4-mapped), so an IPv4 prefix /n becomes an IPv6 prefix /(96+n)
//! and a single mask test serves both families.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// Address as a `u128` key (IPv4 → IPv4-mapped IPv6).
#[inline]
pub fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address back from its key (IPv4-mapped keys print as IPv4).
pub fn key_ip(key: u128) -> IpAddr {
    let v6 = Ipv6Addr::from(key);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// An address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("invalid address in CIDR {0:?}")]
    Addr(String),
    #[error("invalid prefix length in CIDR {0:?}")]
    Prefix(String),
}

impl Cidr {
    /// `(network, mask)` in key space.
    pub fn key_mask(&self) -> (u128, u128) {
        let bits = match self.addr {
            IpAddr::V4(_) => 96 + u32::from(self.prefix),
            IpAddr::V6(_) => u32::from(self.prefix),
        };
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
        (ip_key(self.addr) & mask, mask)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, mask) = self.key_mask();
        ip_key(ip) & mask == net
    }

    /// RFC 1918, shared address space (RFC 6598), unique-local and link-local IPv6.
    pub fn default_internal() -> Vec<Cidr> {
        [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "fc00::/7",
            "fe80::/10",
        ]
        .iter()
        .map(|s| s.parse().expect("valid built-in CIDR"))
        .collect()
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `addr/len`, or a bare address (a host prefix).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| CidrError::Addr(s.to_string()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| CidrError::Prefix(s.to_string()))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_contains() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("10.200.1.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(!c.contains("::a00:1".parse().unwrap()));
        let c: Cidr = "fe80::/10".parse().unwrap();
        assert!(c.contains("fe80::1".parse().unwrap()));
        assert!(!c.contains("10.0.0.1".parse().unwrap()));
        let c: Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(c.prefix, 32);
        assert_eq!(c.to_string(), "192.0.2.7/32");
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope/8".parse::<Cidr>().is_err());
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert_eq!(Cidr::default_internal().len(), 6);
    }

    #[test]
    fn key_round_trip() {
        for s in ["203.0.113.9", "2001:db8::1", "::1"] {
            let ip: IpAddr = s.parse().unwrap();
            assert_eq!(key_ip(ip_key(ip)), ip);
        }
    }
}
