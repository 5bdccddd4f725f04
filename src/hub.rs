//! The hub: serialises the aggregator's state once per tick and publishes it to every client.
//!
//! Fan-out is a `watch` channel holding the newest [`Frame`]: a slow client never blocks the
//! aggregator or other clients, it simply skips to the newest frame (newest state wins), and a
//! client that skipped too much is sent a full snapshot instead of an update.
//!
//! Anomaly changes (`{"type":"anomaly",...}`) must not be skipped silently: each frame carries a
//! short log of the recent ones ([`AnomalyLog`]), so a client that skipped a few frames sends the
//! changes it missed, in order, before the update; one that skipped more gets the snapshot (which
//! holds the full `anomalies` list) and the changes after it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

/// Protocol version carried by `hello` and every snapshot (docs/PROTOCOL.md).
pub const PROTOCOL_VERSION: u32 = 1;

/// What the aggregator task hands over each tick.
#[derive(Debug)]
pub struct Published<S, U, H> {
    pub seq: u64,
    /// Present when the full state was rebuilt this tick (at least once per second while busy).
    pub snapshot: Option<S>,
    /// Present when something changed since the previous tick.
    pub update: Option<U>,
    pub heartbeat: H,
    /// Anomalies opened, changed or closed this tick, oldest first.
    pub anomalies: Vec<crate::detect::AnomalyChange>,
}

/// Frames whose anomaly messages stay in the log (a client further behind gets a snapshot).
pub const ANOMALY_LOG_FRAMES: u64 = 32;
/// Most anomaly messages kept in the log.
pub const ANOMALY_LOG_MAX: usize = 1024;

/// Recent `anomaly` messages by the seq of the frame that carried them.
#[derive(Debug, Default, Clone)]
pub struct AnomalyLog {
    /// Every message of a frame with seq > `complete_after` is in `entries`.
    pub complete_after: u64,
    pub entries: VecDeque<(u64, Arc<str>)>,
}

impl AnomalyLog {
    /// Messages of frames `after < seq <= upto`, in order.
    pub fn between(&self, after: u64, upto: u64) -> impl Iterator<Item = &Arc<str>> {
        self.entries
            .iter()
            .filter(move |(s, _)| *s > after && *s <= upto)
            .map(|(_, m)| m)
    }

    /// The log with this frame's messages appended and old ones trimmed.
    fn next(&self, seq: u64, msgs: Vec<Arc<str>>) -> AnomalyLog {
        let mut log = self.clone();
        log.entries.extend(msgs.into_iter().map(|m| (seq, m)));
        while let Some(&(s, _)) = log.entries.front() {
            if log.entries.len() > ANOMALY_LOG_MAX || s + ANOMALY_LOG_FRAMES < seq {
                log.complete_after = log.complete_after.max(s);
                log.entries.pop_front();
            } else {
                break;
            }
        }
        log
    }
}

/// One tick's messages, serialised once and shared by every client.
#[derive(Debug, Default)]
pub struct Frame {
    pub seq: u64,
    /// `{"type":"snapshot",...}`: the newest full state (may be a few ticks older than `seq`).
    pub snapshot: Arc<str>,
    /// The seq the snapshot was taken at.
    pub snapshot_seq: u64,
    /// `{"type":"update",...}` for this seq, if anything changed.
    pub update: Option<Arc<str>>,
    /// `{"type":"heartbeat",...}`.
    pub heartbeat: Arc<str>,
    /// `{"type":"anomaly",...}` messages of this and recent frames.
    pub anomaly_log: Arc<AnomalyLog>,
}

/// Counters the web side reports in `/metrics`.
#[derive(Debug, Default)]
pub struct HubStats {
    pub clients: AtomicUsize,
    pub clients_total: AtomicU64,
    pub clients_dropped: AtomicU64,
    pub snapshots_resent: AtomicU64,
    pub frames: AtomicU64,
    pub last_publish_ns: AtomicU64,
    pub publish_ns_total: AtomicU64,
    /// Hot reloads of the config / watchlist files applied, and failed (last good kept).
    pub config_reloads: AtomicU64,
    pub config_reload_errors: AtomicU64,
}

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// Serialises a message body with its `type` tag. Serialising our own structs cannot fail
/// (string keys, no non-finite floats are produced upstream); a failure is logged, not fatal.
pub fn tagged<T: Serialize>(kind: &'static str, body: &T) -> Arc<str> {
    match serde_json::to_string(&Tagged { kind, body }) {
        Ok(s) => s.into(),
        Err(e) => {
            tracing::error!(error = %e, kind, "serialising a message failed");
            format!("{{\"type\":\"{kind}\"}}").into()
        }
    }
}

/// The daemon's own health, added to every heartbeat (`daemon` in docs/PROTOCOL.md).
#[derive(Serialize)]
struct WithDaemon<'a, H: Serialize> {
    #[serde(flatten)]
    body: &'a H,
    daemon: DaemonHealth,
}

#[derive(Serialize)]
struct DaemonHealth {
    /// Wall clients connected now.
    clients: usize,
    /// How long serialising the last tick took, in microseconds.
    publish_us: u64,
}

/// Runs until the aggregator side closes its channel. Each published tick is serialised here,
/// off the aggregator's task, exactly once.
pub async fn run<S, U, H>(
    mut rx: mpsc::Receiver<Published<S, U, H>>,
    tx: watch::Sender<Arc<Frame>>,
    stats: Arc<HubStats>,
) where
    S: Serialize,
    U: Serialize,
    H: Serialize,
{
    while let Some(p) = rx.recv().await {
        let started = Instant::now();
        let prev = tx.borrow().clone();
        let (snapshot, snapshot_seq) = match &p.snapshot {
            Some(s) => (tagged("snapshot", s), p.seq),
            None => (prev.snapshot.clone(), prev.snapshot_seq),
        };
        let anomaly_log = if p.anomalies.is_empty() {
            prev.anomaly_log.clone()
        } else {
            let msgs = p.anomalies.iter().map(|c| tagged("anomaly", c)).collect();
            Arc::new(prev.anomaly_log.next(p.seq, msgs))
        };
        let frame = Frame {
            seq: p.seq,
            snapshot,
            snapshot_seq,
            update: p.update.as_ref().map(|u| tagged("update", u)),
            heartbeat: tagged(
                "heartbeat",
                &WithDaemon {
                    body: &p.heartbeat,
                    daemon: DaemonHealth {
                        clients: stats.clients.load(Ordering::Relaxed),
                        publish_us: stats.last_publish_ns.load(Ordering::Relaxed) / 1000,
                    },
                },
            ),
            anomaly_log,
        };
        let ns = started.elapsed().as_nanos() as u64;
        stats.last_publish_ns.store(ns, Ordering::Relaxed);
        stats.publish_ns_total.fetch_add(ns, Ordering::Relaxed);
        stats.frames.fetch_add(1, Ordering::Relaxed);
        // send_replace: never fails, even with no client connected.
        tx.send_replace(Arc::new(frame));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Body {
        seq: u64,
    }

    #[tokio::test]
    async fn frames_carry_tagged_json_and_keep_the_last_snapshot() {
        let (ptx, prx) = mpsc::channel(4);
        let (ftx, mut frx) = watch::channel(Arc::new(Frame::default()));
        let stats = Arc::new(HubStats::default());
        let task = tokio::spawn(run(prx, ftx, stats.clone()));
        ptx.send(Published {
            seq: 1,
            snapshot: Some(Body { seq: 1 }),
            update: None,
            heartbeat: Body { seq: 1 },
            anomalies: Vec::new(),
        })
        .await
        .unwrap();
        frx.changed().await.unwrap();
        let f = frx.borrow_and_update().clone();
        assert_eq!(&*f.snapshot, r#"{"type":"snapshot","seq":1}"#);
        assert!(f.update.is_none());
        ptx.send(Published {
            seq: 2,
            snapshot: None,
            update: Some(Body { seq: 2 }),
            heartbeat: Body { seq: 2 },
            anomalies: Vec::new(),
        })
        .await
        .unwrap();
        frx.changed().await.unwrap();
        let f = frx.borrow_and_update().clone();
        assert_eq!((f.seq, f.snapshot_seq), (2, 1));
        assert_eq!(f.update.as_deref(), Some(r#"{"type":"update","seq":2}"#));
        assert!(
            f.heartbeat
                .starts_with(r#"{"type":"heartbeat","seq":2,"daemon":{"clients":0,"publish_us":"#),
            "{}",
            f.heartbeat
        );
        drop(ptx);
        task.await.unwrap();
        assert_eq!(stats.frames.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn anomaly_log_keeps_recent_frames_in_order() {
        let m = |s: &str| -> Arc<str> { s.into() };
        let log = AnomalyLog::default()
            .next(3, vec![m("a"), m("b")])
            .next(5, vec![m("c")]);
        let got: Vec<&str> = log.between(2, 5).map(|s| &**s).collect();
        assert_eq!(got, vec!["a", "b", "c"]);
        let got: Vec<&str> = log.between(3, 5).map(|s| &**s).collect();
        assert_eq!(got, vec!["c"]);
        assert_eq!(log.complete_after, 0);
        let later = log.next(3 + ANOMALY_LOG_FRAMES + 1, vec![m("d")]);
        assert_eq!(later.complete_after, 3, "frame 3's messages aged out");
        assert_eq!(later.entries.len(), 2);
    }
}
