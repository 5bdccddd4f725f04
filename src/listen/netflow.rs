//! NetFlow v5/v9/IPFIX collector: UDP export packets decoded straight into event batches for the
//! aggregator (there are no text lines to parse). One decoder per socket; its template cache is
//! keyed by exporter address and observation domain, so many exporters can share a port.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::syslog::ListenError;
use super::{Endpoint, ListenStats};
use crate::aggregate::{ErrorSample, EventBatch};
use crate::parse::Format;
use crate::parse::netflow::Decoder;
use crate::shutdown::Shutdown;

/// Packets drained into one batch when a burst is queued.
const MAX_PACKETS_PER_BATCH: usize = 64;

/// A netflow source's sockets, bound at start-up.
#[derive(Debug)]
pub struct Bound {
    source: u16,
    udp: Vec<UdpSocket>,
}

pub async fn bind(source: u16, endpoints: &[Endpoint]) -> Result<Bound, ListenError> {
    let mut b = Bound {
        source,
        udp: Vec::new(),
    };
    for &endpoint in endpoints {
        let Endpoint::Udp(a) = endpoint else {
            // Config validation only lets UDP through; keep the error honest if it ever changes.
            return Err(ListenError::Bind {
                endpoint,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "NetFlow/IPFIX is collected over UDP only",
                ),
            });
        };
        b.udp.push(
            UdpSocket::bind(a)
                .await
                .map_err(|source| ListenError::Bind { endpoint, source })?,
        );
    }
    Ok(b)
}

impl Bound {
    pub fn local_endpoints(&self) -> Vec<Endpoint> {
        self.udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .map(Endpoint::Udp)
            .collect()
    }

    pub fn spawn(
        self,
        out: mpsc::Sender<EventBatch>,
        stats: Arc<ListenStats>,
        shutdown: Shutdown,
    ) -> Vec<JoinHandle<()>> {
        self.udp
            .into_iter()
            .map(|sock| {
                tokio::spawn(collect(
                    sock,
                    self.source,
                    out.clone(),
                    stats.clone(),
                    shutdown.clone(),
                ))
            })
            .collect()
    }
}

async fn collect(
    sock: UdpSocket,
    source: u16,
    out: mpsc::Sender<EventBatch>,
    stats: Arc<ListenStats>,
    mut shutdown: Shutdown,
) {
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 65_536];
    let mut flows = Vec::new();
    loop {
        let (n, peer) = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => { tracing::debug!(error = %e, "netflow receive error"); continue }
            },
            _ = shutdown.wait() => break,
        };
        let mut batch = EventBatch {
            source,
            format: Some(Format::Netflow),
            ..EventBatch::default()
        };
        decode(
            &mut decoder,
            peer.ip(),
            &buf[..n],
            &mut flows,
            &mut batch,
            &stats,
        );
        // A burst of queued packets becomes one batch.
        for _ in 1..MAX_PACKETS_PER_BATCH {
            match sock.try_recv_from(&mut buf) {
                Ok((n, peer)) => decode(
                    &mut decoder,
                    peer.ip(),
                    &buf[..n],
                    &mut flows,
                    &mut batch,
                    &stats,
                ),
                Err(_) => break,
            }
        }
        if out.send(batch).await.is_err() {
            break;
        }
    }
}

/// One packet: its flows become records; a bad packet is a parse error of the source, counted per
/// exporter, and the records decoded before the problem are kept.
fn decode(
    decoder: &mut Decoder,
    exporter: IpAddr,
    packet: &[u8],
    flows: &mut Vec<crate::parse::netflow::FlowRecord>,
    batch: &mut EventBatch,
    stats: &ListenStats,
) {
    flows.clear();
    batch.lines += 1; // for a collector, a "line" is an export packet
    if let Some(s) = stats.source(batch.source) {
        s.messages.fetch_add(1, Ordering::Relaxed);
    }
    match decoder.decode(exporter, packet, flows) {
        Ok(summary) if summary.unknown_template_sets > 0 && flows.is_empty() => batch.skipped += 1,
        Ok(_) => {}
        Err(e) => {
            batch.parse_errors += 1;
            stats.exporter_error(exporter);
            batch.last_error = Some(ErrorSample {
                reason: "netflow: bad export packet",
                line: format!("from {exporter}: {e}"),
            });
        }
    }
    batch
        .records
        .extend(flows.iter().map(|f| f.event().record()));
}
