//! One WebSocket client: `hello`, a full `snapshot`, then `anomaly` changes and `update`s as the
//! hub publishes them, `heartbeat`s, and pings. The client task only ever reads the newest frame, so it can fall
//! behind without holding memory or slowing anyone else.
//!
//! Admission: the `Origin` must be this server or allow-listed (403), at most `max_clients` in all
//! (503) and `max_clients_per_address` from one IP (429). With `[auth]`, a socket that arrived
//! without a cookie or bearer token must send `{"type":"auth","token":"…"}` first (close 4401
//! otherwise).
//!
//! Sending never blocks the task: a batch is written in the background while new frames replace
//! what is waiting in the outbox (newest wins). A client whose oldest unsent message is older than
//! `max_update_age` cannot keep up and is dropped.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::ws::{Message, WebSocket, Ws};

use super::auth::Access;
use super::{Peer, WebState, plain};
use crate::hub::PROTOCOL_VERSION;

/// Largest client message accepted (an auth message is ~100 bytes; this caps abuse).
pub const MAX_INBOUND_BYTES: usize = 16 * 1024;
/// A client whose waiting update covers more ticks than this gets a full snapshot instead:
/// updates carry the last 10 s of series points, and 20 ticks at 250 ms stay well inside that.
const MAX_SKIPPED_FRAMES: u64 = 20;
/// A socket that arrived without credentials has this long to send its auth message.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code for a refused or missing first-message authentication (4000–4999 belong to the
/// application; 4401 mirrors HTTP 401, as graphql-ws does).
pub const CLOSE_UNAUTHORISED: u16 = 4401;
/// Close code for a client dropped because it could not keep up (RFC 6455 1008, policy).
const CLOSE_TOO_SLOW: u16 = 1008;

/// Clients at once, by IP address (IPv4-mapped IPv6 counted as IPv4).
pub type ClientsByAddr = std::sync::Mutex<HashMap<IpAddr, usize>>;

/// Why an upgrade was refused before it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    Total,
    PerAddress,
}

/// Decides whether to upgrade: same-origin (or allow-listed) browsers only, within the caps.
pub fn upgrade(
    origin: Option<String>,
    host: Option<String>,
    access: Option<Access>,
    peer: Option<Peer>,
    ws: Ws,
    st: Arc<WebState>,
) -> Response {
    if let Some(origin) = origin.as_deref()
        && !origin_allowed(origin, host.as_deref(), &st.server.allowed_origins)
    {
        tracing::warn!(origin, "refused a WebSocket from another origin");
        st.counters.refused_origin.fetch_add(1, Ordering::Relaxed);
        return plain(
            StatusCode::FORBIDDEN,
            "this origin may not open the socwall WebSocket",
        );
    }
    let ip = peer.map(|p| p.0.ip().to_canonical());
    // Reserve a slot before upgrading so that a burst of connections cannot overshoot the caps.
    let slot = match ClientSlot::reserve(&st, ip) {
        Ok(slot) => slot,
        Err(Refused::Total) => {
            st.counters.refused_full.fetch_add(1, Ordering::Relaxed);
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many wall clients connected",
            );
        }
        Err(Refused::PerAddress) => {
            st.counters
                .refused_per_address
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(peer = ?ip, "refused a WebSocket: too many from this address");
            return plain(
                StatusCode::TOO_MANY_REQUESTS,
                "too many wall clients connected from this address",
            );
        }
    };
    let access = access.unwrap_or(if st.auth.is_some() {
        Access::Pending
    } else {
        Access::Open
    });
    use warp::Reply;
    ws.max_message_size(MAX_INBOUND_BYTES)
        .max_frame_size(MAX_INBOUND_BYTES)
        .on_upgrade(move |socket| async move {
            run_client(socket, &slot.st, access, slot.ip).await;
            drop(slot);
        })
        .into_response()
}

/// A client's place under the caps, given back however the connection ends (also if the upgrade
/// never happens).
struct ClientSlot {
    st: Arc<WebState>,
    ip: Option<IpAddr>,
}

impl ClientSlot {
    fn reserve(st: &Arc<WebState>, ip: Option<IpAddr>) -> Result<ClientSlot, Refused> {
        let before = st.stats.clients.fetch_add(1, Ordering::SeqCst);
        if before >= st.server.max_clients {
            st.stats.clients.fetch_sub(1, Ordering::SeqCst);
            return Err(Refused::Total);
        }
        if let Some(ip) = ip {
            let mut by_addr = st.clients_by_addr.lock().unwrap_or_else(|e| e.into_inner());
            let n = by_addr.entry(ip).or_insert(0);
            if *n >= st.server.max_clients_per_address {
                drop(by_addr);
                st.stats.clients.fetch_sub(1, Ordering::SeqCst);
                return Err(Refused::PerAddress);
            }
            *n += 1;
        }
        Ok(ClientSlot { st: st.clone(), ip })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            let mut by_addr = self
                .st
                .clients_by_addr
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = by_addr.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    by_addr.remove(&ip);
                }
            }
        }
        self.st.stats.clients.fetch_sub(1, Ordering::SeqCst);
    }
}

/// RFC 6455 §10.2: browsers send `Origin`; only the page we served (same host) or an origin the
/// operator listed may read the wall's data.
pub fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some(host) = host else { return false };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

/// `{"type":"auth","token":"…"}`, the first message of a socket that has no cookie.
#[derive(serde::Deserialize)]
struct AuthMessage {
    #[serde(rename = "type")]
    kind: String,
    token: String,
}

/// Waits for the auth message; `Err` says why (for the log; never the token).
async fn authenticate(
    rx: &mut SplitStream<WebSocket>,
    st: &WebState,
) -> Result<Arc<str>, &'static str> {
    let Some(tokens) = st.auth.as_ref() else {
        return Err("no tokens configured");
    };
    let deadline = Instant::now() + AUTH_TIMEOUT;
    loop {
        let m = match tokio::time::timeout_at(deadline, rx.next()).await {
            Err(_) => return Err("no auth message in time"),
            Ok(None | Some(Err(_))) => return Err("closed before authenticating"),
            Ok(Some(Ok(m))) => m,
        };
        if m.is_ping() || m.is_pong() {
            continue;
        }
        let parsed = m
            .to_str()
            .ok()
            .and_then(|t| serde_json::from_str::<AuthMessage>(t).ok())
            .filter(|a| a.kind == "auth");
        return match parsed {
            Some(a) => tokens
                .verify(a.token.as_bytes())
                .ok_or("invalid token in the auth message"),
            None => Err("the first message was not an auth message"),
        };
    }
}

type Tx = SplitSink<WebSocket, Message>;
/// A batch being written; yields the sink back, and whether the write worked.
type Sending = Pin<Box<dyn Future<Output = (Tx, bool)> + Send>>;

fn send_batch(mut tx: Tx, batch: Vec<Message>) -> Sending {
    Box::pin(async move {
        let mut ok = true;
        for m in batch {
            if tx.feed(m).await.is_err() {
                ok = false;
                break;
            }
        }
        if ok {
            ok = tx.flush().await.is_ok();
        }
        (tx, ok)
    })
}

/// What waits to be sent. Each slot keeps only the newest message of its kind.
#[derive(Default)]
struct Outbox {
    /// Anomaly changes in order, then the newest update; or a snapshot (and the changes after
    /// it) when the waiting data would cover too many ticks.
    data: Vec<Message>,
    /// The last message of `data` is an update that a newer one replaces (newest wins).
    update_last: bool,
    /// The seq of the oldest frame whose change `data` carries.
    data_from_seq: u64,
    heartbeat: Option<Message>,
    ping: bool,
    /// When the oldest message now waiting arrived (pings do not count).
    since: Option<Instant>,
}

impl Outbox {
    fn is_empty(&self) -> bool {
        self.data.is_empty() && self.heartbeat.is_none() && !self.ping
    }

    fn take(&mut self) -> (Vec<Message>, Option<Instant>) {
        let mut batch: Vec<Message> = self
            .ping
            .then(|| Message::ping(Vec::new()))
            .into_iter()
            .collect();
        batch.append(&mut self.data);
        batch.extend(self.heartbeat.take());
        self.ping = false;
        self.update_last = false;
        (batch, self.since.take())
    }
}

async fn run_client(socket: WebSocket, st: &WebState, access: Access, ip: Option<IpAddr>) {
    let (tx, mut rx) = socket.split();
    let viewer = match access {
        Access::Open => None,
        Access::Viewer(name) => Some(name),
        Access::Pending => match authenticate(&mut rx, st).await {
            Ok(name) => Some(name),
            Err(why) => {
                st.counters.unauthorised.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(peer = ?ip, reason = why, "refused a WebSocket: not authorised");
                close(tx, CLOSE_UNAUTHORISED, "unauthorised").await;
                return;
            }
        },
    };
    tracing::debug!(peer = ?ip, viewer = viewer.as_deref().unwrap_or("-"), "wall client connected");
    st.stats.clients_total.fetch_add(1, Ordering::Relaxed);
    let mut frames = st.frames.clone();
    let mut shutdown = st.shutdown.clone();
    let max_age = st.server.max_update_age;
    let mut dashboards = st.dashboards.clone();
    let mut dash_seen = dashboards.borrow_and_update().clone();
    let mut dash_open = true;

    let hello = serde_json::json!({
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "server": concat!("socwall ", env!("CARGO_PKG_VERSION")),
        "server_time": crate::time::format_rfc3339_millis(crate::time::now_micros()).to_string(),
        "tick_ms": st.server.update_interval.as_millis() as u64,
        "heartbeat_ms": st.server.heartbeat_interval.as_millis() as u64,
        "assets": super::assets::build_id(),
    })
    .to_string();
    let first = frames.borrow_and_update().clone();
    let mut opening = vec![Message::text(hello)];
    opening.extend(resync(&first).into_iter().map(Message::text));
    let mut sending: Option<Sending> = Some(send_batch(tx, opening));
    let mut in_flight_since = Some(Instant::now());
    let mut idle: Option<Tx> = None;
    let mut outbox = Outbox::default();
    let mut last_seq = first.seq;

    let mut heartbeat = tokio::time::interval(st.server.heartbeat_interval);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.tick().await; // the first tick fires at once; the snapshot just went out
    let mut ping = tokio::time::interval(st.server.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut unanswered_pings = 0u32;

    let goodbye = loop {
        if sending.is_none()
            && !outbox.is_empty()
            && let Some(tx) = idle.take()
        {
            let (batch, since) = outbox.take();
            in_flight_since = since;
            sending = Some(send_batch(tx, batch));
        }
        let oldest = match (in_flight_since, outbox.since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let evict_at = oldest.map(|t| t + max_age);
        tokio::select! {
            done = async { sending.as_mut().expect("guarded").await }, if sending.is_some() => {
                sending = None;
                in_flight_since = None;
                let (tx, ok) = done;
                if !ok {
                    break None; // the peer is gone
                }
                idle = Some(tx);
            }
            _ = tokio::time::sleep_until(evict_at.unwrap_or_else(Instant::now)), if evict_at.is_some() => {
                tracing::info!(peer = ?ip, max_update_age = ?max_age, "dropped a wall client that could not keep up");
                st.stats.clients_dropped.fetch_add(1, Ordering::Relaxed);
                st.counters.evicted_slow.fetch_add(1, Ordering::Relaxed);
                break Some((CLOSE_TOO_SLOW, "too slow"));
            }
            changed = dashboards.changed(), if dash_open => {
                if changed.is_err() {
                    dash_open = false;
                    continue;
                }
                // A dashboard or playlist changed: tell the page which (docs/PROTOCOL.md `reload`).
                let now = dashboards.borrow_and_update().clone();
                let msgs = reload_messages(&dash_seen, &now);
                dash_seen = now;
                if !msgs.is_empty() {
                    outbox.data.extend(msgs.into_iter().map(Message::text));
                    outbox.update_last = false;
                    outbox.since.get_or_insert_with(Instant::now);
                }
            }
            changed = frames.changed() => {
                if changed.is_err() {
                    break Some((1001, "server shutting down")); // the hub is gone
                }
                let f = frames.borrow_and_update().clone();
                let now = Instant::now();
                if outbox.data.is_empty() {
                    outbox.data_from_seq = last_seq + 1;
                }
                let behind = f.seq.saturating_sub(outbox.data_from_seq) >= MAX_SKIPPED_FRAMES;
                let (msgs, resent) = next_messages(&f, last_seq, behind);
                if resent {
                    st.stats.snapshots_resent.fetch_add(1, Ordering::Relaxed);
                    outbox.data.clear();
                    outbox.data_from_seq = f.seq;
                } else if outbox.update_last && f.update.is_some() {
                    outbox.data.pop(); // superseded by the newer update below
                }
                last_seq = f.seq;
                if !msgs.is_empty() {
                    outbox.update_last = !resent && f.update.is_some();
                    outbox.data.extend(msgs.into_iter().map(Message::text));
                    outbox.since.get_or_insert(now);
                }
            }
            _ = heartbeat.tick() => {
                outbox.heartbeat = Some(Message::text(frames.borrow().heartbeat.to_string()));
                outbox.since.get_or_insert_with(Instant::now);
            }
            _ = ping.tick() => {
                // Two pings without a pong: the peer is gone (or a proxy ate the connection).
                if unanswered_pings >= 2 {
                    tracing::debug!(peer = ?ip, "dropped a wall client that answered no ping");
                    st.stats.clients_dropped.fetch_add(1, Ordering::Relaxed);
                    break Some((1001, "no pong"));
                }
                unanswered_pings += 1;
                outbox.ping = true;
            }
            inbound = rx.next() => match inbound {
                Some(Ok(m)) if m.is_pong() => unanswered_pings = 0,
                Some(Ok(m)) if m.is_close() => break Some((1000, "")),
                Some(Ok(_)) => {} // nothing to say yet; size is capped by max_message_size
                // RFC 6455 1009: the message was over MAX_INBOUND_BYTES.
                Some(Err(e)) if e.to_string().contains("too long") => break Some((1009, "message too big")),
                Some(Err(_)) | None => break None,
            },
            _ = shutdown.wait() => break Some((1001, "server shutting down")),
        }
    };
    let Some((code, reason)) = goodbye else {
        return;
    };
    // A client that is too slow, or stopped reading, must not hold anything up: bounded waits.
    let tx = match (idle, sending) {
        (Some(tx), _) => tx,
        (None, Some(pending)) if code != CLOSE_TOO_SLOW => {
            match tokio::time::timeout(Duration::from_secs(1), pending).await {
                Ok((tx, true)) => tx,
                _ => return,
            }
        }
        _ => return,
    };
    close(tx, code, reason).await;
}

/// `reload` messages (docs/PROTOCOL.md) for what changed between two dashboard sets: the whole
/// page when the operator ordered it, else each changed dashboard and playlist.
pub fn reload_messages(
    old: &crate::dashboard::Dashboards,
    new: &crate::dashboard::Dashboards,
) -> Vec<String> {
    if new.page_generation != old.page_generation {
        return vec![serde_json::json!({"type": "reload", "scope": "page"}).to_string()];
    }
    let (dashboards, playlists) = old.changes(new);
    let dashboards = dashboards.into_iter().map(|name| {
        serde_json::json!({"type": "reload", "scope": "dashboard", "dashboard": name}).to_string()
    });
    let playlists = playlists.into_iter().map(|name| {
        serde_json::json!({"type": "reload", "scope": "playlist", "playlist": name}).to_string()
    });
    dashboards.chain(playlists).collect()
}

/// What a client that last got frame `last_seq` is sent for frame `f`, and whether that is a
/// resync: the anomaly changes of every frame since `last_seq`, in order, then the newest update;
/// or — when it fell more than [`MAX_SKIPPED_FRAMES`] behind (`behind`: its waiting data already
/// spans that many), or changes it missed have left the
/// log — the snapshot and the changes after it.
fn next_messages(f: &crate::hub::Frame, last_seq: u64, behind: bool) -> (Vec<String>, bool) {
    if behind
        || f.seq.saturating_sub(last_seq) > MAX_SKIPPED_FRAMES
        || f.anomaly_log.complete_after > last_seq
    {
        return (resync(f), true);
    }
    let mut v: Vec<String> = f
        .anomaly_log
        .between(last_seq, f.seq)
        .map(|m| m.to_string())
        .collect();
    v.extend(f.update.as_ref().map(|u| u.to_string()));
    (v, false)
}

/// The snapshot, then the anomaly changes published after it was taken (a snapshot may be a few
/// ticks older than its frame); clients apply changes by `id`, so a repeat is harmless.
fn resync(f: &crate::hub::Frame) -> Vec<String> {
    let mut v = vec![f.snapshot.to_string()];
    v.extend(
        f.anomaly_log
            .between(f.snapshot_seq, f.seq)
            .map(|m| m.to_string()),
    );
    v
}

/// Sends a close frame and closes, giving up after a second.
async fn close(mut tx: Tx, code: u16, reason: &'static str) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = tx.send(Message::close_with(code, reason)).await;
        let _ = tx.close().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::{MAX_SKIPPED_FRAMES, next_messages, origin_allowed, reload_messages};
    use crate::hub::{AnomalyLog, Frame};
    use std::sync::Arc;

    fn frame(seq: u64, snapshot_seq: u64, log: AnomalyLog) -> Frame {
        Frame {
            seq,
            snapshot: "S".into(),
            snapshot_seq,
            update: Some(format!("U{seq}").into()),
            heartbeat: "H".into(),
            anomaly_log: Arc::new(log),
        }
    }

    fn log(entries: &[(u64, &str)], complete_after: u64) -> AnomalyLog {
        AnomalyLog {
            complete_after,
            entries: entries.iter().map(|&(s, m)| (s, m.into())).collect(),
        }
    }

    #[test]
    fn skipped_anomaly_changes_are_sent_in_order_before_the_update() {
        let l = log(&[(3, "a3"), (3, "b3"), (5, "a5"), (7, "a7")], 0);
        // Last sent frame 4; now at 7: the changes of 5 and 7, then update 7.
        let (m, resent) = next_messages(&frame(7, 6, l.clone()), 4, false);
        assert_eq!(
            (m, resent),
            (vec!["a5".into(), "a7".into(), "U7".into()], false)
        );
        // Nothing new for this client: just the update.
        let (m, _) = next_messages(&frame(8, 6, l.clone()), 7, false);
        assert_eq!(m, vec!["U8".to_string()]);
        // Changes it missed left the log: the snapshot (taken at 6) and the changes after it.
        let gone = log(&[(7, "a7")], 5);
        let (m, resent) = next_messages(&frame(7, 6, gone), 4, false);
        assert_eq!((m, resent), (vec!["S".into(), "a7".into()], true));
        // Too far behind: the same.
        let (m, resent) = next_messages(&frame(7 + MAX_SKIPPED_FRAMES, 6, l.clone()), 6, false);
        assert_eq!((m, resent), (vec!["S".into(), "a7".into()], true));
    }

    #[test]
    fn a_client_whose_waiting_data_spans_too_many_frames_is_resynced() {
        let l = log(&[(7, "a7")], 0);
        let (m, resent) = next_messages(&frame(8, 6, l), 7, true);
        assert_eq!((m, resent), (vec!["S".into(), "a7".into()], true));
    }

    #[test]
    fn origins() {
        assert!(origin_allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(origin_allowed(
            "https://wall.local:8443",
            Some("wall.local:8443"),
            &[]
        ));
        assert!(!origin_allowed(
            "http://evil.example",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(!origin_allowed(
            "http://127.0.0.1:8081",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(!origin_allowed("null", Some("127.0.0.1:8080"), &[]));
        assert!(origin_allowed(
            "https://soc.example.org",
            Some("10.0.0.5:8080"),
            &["https://soc.example.org".into()]
        ));
    }

    #[test]
    fn reloads_name_what_changed() {
        let a = crate::dashboard::Dashboards::load(None, "soc-wall").unwrap();
        let json = |v: Vec<String>| -> Vec<serde_json::Value> {
            v.iter().map(|m| serde_json::from_str(m).unwrap()).collect()
        };
        assert!(reload_messages(&a, &a).is_empty());
        let mut b = a.clone();
        b.by_name.get_mut("executive").unwrap().spec["title"] = "x".into();
        b.playlists.remove("wall");
        assert_eq!(
            json(reload_messages(&a, &b)),
            [
                serde_json::json!({"type": "reload", "scope": "dashboard", "dashboard": "executive"}),
                serde_json::json!({"type": "reload", "scope": "playlist", "playlist": "wall"}),
            ]
        );
        b.page_generation += 1;
        assert_eq!(
            json(reload_messages(&a, &b)),
            [serde_json::json!({"type": "reload", "scope": "page"})]
        );
    }
}
