//! Network sources: syslog over UDP and TCP, feeding the same line pipeline as tailed files (and,
//! with the NetFlow collector, the same aggregator).

pub mod netflow;
pub mod syslog;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A listen address as configured: `udp://HOST:PORT` or `tcp://HOST:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Udp(SocketAddr),
    Tcp(SocketAddr),
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Endpoint, String> {
        let (scheme, addr) = s.split_once("://").ok_or_else(|| {
            format!("`{s}` has no scheme; write udp://HOST:PORT or tcp://HOST:PORT")
        })?;
        let addr: SocketAddr = addr.parse().map_err(|_| {
            format!("`{addr}` is not an address:port (e.g. 0.0.0.0:514 or [::]:514)")
        })?;
        match scheme {
            "udp" => Ok(Endpoint::Udp(addr)),
            "tcp" => Ok(Endpoint::Tcp(addr)),
            other => Err(format!("unknown scheme `{other}`; use udp:// or tcp://")),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Udp(a) => write!(f, "udp://{a}"),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Live counters of the network sources, by source id (atomics: read by the aggregator's tick).
#[derive(Debug, Default)]
pub struct ListenStats {
    sources: Vec<SourceListenStats>,
    /// Undecodable NetFlow/IPFIX packets per exporter. Touched only on errors (never on the hot
    /// path), so a mutex is fine; capped so a spoofed flood cannot grow it.
    exporter_errors: Mutex<BTreeMap<IpAddr, u64>>,
}

/// Distinct exporters whose packet errors are counted individually; the rest count as `::`.
pub const MAX_EXPORTERS: usize = 1024;

#[derive(Debug, Default)]
pub struct SourceListenStats {
    /// TCP connections open now.
    pub connections: AtomicU64,
    /// Messages received (datagrams or framed TCP messages).
    pub messages: AtomicU64,
    /// TCP connections refused because the per-source cap was reached.
    pub refused: AtomicU64,
}

impl ListenStats {
    pub fn new(sources: usize) -> Arc<ListenStats> {
        Arc::new(ListenStats {
            sources: (0..sources).map(|_| SourceListenStats::default()).collect(),
            exporter_errors: Mutex::default(),
        })
    }

    /// Counts one undecodable packet from `exporter`.
    pub fn exporter_error(&self, exporter: IpAddr) {
        let Ok(mut m) = self.exporter_errors.lock() else {
            return;
        };
        let key = if m.len() < MAX_EXPORTERS || m.contains_key(&exporter) {
            exporter
        } else {
            IpAddr::from([0u16; 8])
        };
        *m.entry(key).or_default() += 1;
    }

    /// `(exporter, undecodable packets)`, for `/metrics`.
    pub fn exporter_errors(&self) -> Vec<(IpAddr, u64)> {
        self.exporter_errors
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }

    pub fn source(&self, id: u16) -> Option<&SourceListenStats> {
        self.sources.get(usize::from(id))
    }

    /// Open connections of a source (0 for unknown ids).
    pub fn connections(&self, id: u16) -> u64 {
        self.source(id)
            .map_or(0, |s| s.connections.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            "udp://0.0.0.0:514".parse(),
            Ok(Endpoint::Udp("0.0.0.0:514".parse().unwrap()))
        );
        assert_eq!(
            "tcp://[::1]:6514".parse(),
            Ok(Endpoint::Tcp("[::1]:6514".parse().unwrap()))
        );
        assert!(
            "0.0.0.0:514"
                .parse::<Endpoint>()
                .unwrap_err()
                .contains("no scheme")
        );
        assert!(
            "http://0.0.0.0:514"
                .parse::<Endpoint>()
                .unwrap_err()
                .contains("unknown scheme")
        );
        assert!(
            "udp://host:514"
                .parse::<Endpoint>()
                .unwrap_err()
                .contains("not an address")
        );
        assert_eq!(
            Endpoint::Udp("127.0.0.1:514".parse().unwrap()).to_string(),
            "udp://127.0.0.1:514"
        );
    }
}
