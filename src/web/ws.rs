//! One WebSocket client: `hello`, a full `snapshot`, then `anomaly` changes and `update`s as the
//! hub publishes them, `heartbeat`s, and pings. The client task only ever reads the newest frame,
//! so it can fall behind without holding memory or slowing anyone else.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::ws::{Message, WebSocket, Ws};

use super::{WebState, plain};
use crate::hub::PROTOCOL_VERSION;

/// Largest client message accepted (clients have nothing to say yet; this caps abuse).
pub const MAX_INBOUND_BYTES: usize = 16 * 1024;
/// A client that skipped more frames than this gets a full snapshot rather than an update:
/// updates carry the last 10 s of series points, and 20 ticks at 250 ms stay well inside that.
const MAX_SKIPPED_FRAMES: u64 = 20;
/// A send that takes longer than this means the client stopped reading: drop it.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Decides whether to upgrade: same-origin (or allow-listed) browsers only, within the client cap.
pub fn upgrade(
    origin: Option<String>,
    host: Option<String>,
    ws: Ws,
    st: Arc<WebState>,
) -> Response {
    if let Some(origin) = origin.as_deref()
        && !origin_allowed(origin, host.as_deref(), &st.server.allowed_origins)
    {
        tracing::warn!(origin, "refused a WebSocket from another origin");
        return plain(
            StatusCode::FORBIDDEN,
            "this origin may not open the socwall WebSocket",
        );
    }
    // Reserve a slot before upgrading so that a burst of connections cannot overshoot the cap.
    let clients = st.stats.clients.fetch_add(1, Ordering::SeqCst);
    if clients >= st.server.max_clients {
        st.stats.clients.fetch_sub(1, Ordering::SeqCst);
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many wall clients connected",
        );
    }
    let guard = ClientSlot(st.clone());
    use warp::Reply;
    ws.max_message_size(MAX_INBOUND_BYTES)
        .max_frame_size(MAX_INBOUND_BYTES)
        .on_upgrade(move |socket| async move {
            run_client(socket, &guard.0).await;
            drop(guard);
        })
        .into_response()
}

/// Gives the client slot back however the connection ends (also if the upgrade never happens).
struct ClientSlot(Arc<WebState>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.stats.clients.fetch_sub(1, Ordering::SeqCst);
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

async fn run_client(socket: WebSocket, st: &WebState) {
    st.stats.clients_total.fetch_add(1, Ordering::Relaxed);
    let (mut tx, mut rx) = socket.split();
    let mut frames = st.frames.clone();
    let mut shutdown = st.shutdown.clone();
    let mut dashboards = st.dashboards.clone();
    let mut dash_seen = dashboards.borrow_and_update().clone();
    let mut dash_open = true;
    // `reload` messages owed to this client (bounded by the number of dashboards and playlists).
    let mut reloads: std::collections::VecDeque<String> = Default::default();

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
    if send(&mut tx, hello).await.is_err() {
        return;
    }
    for m in resync(&first) {
        if send(&mut tx, m).await.is_err() {
            return;
        }
    }
    let mut last_seq = first.seq;

    let mut heartbeat = tokio::time::interval(st.server.heartbeat_interval);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.tick().await; // the first tick fires at once; the snapshot just went out
    let mut ping = tokio::time::interval(st.server.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut unanswered_pings = 0u32;

    loop {
        if let Some(r) = reloads.pop_front() {
            if send(&mut tx, r).await.is_err() {
                break;
            }
            continue;
        }
        let msg = tokio::select! {
            changed = dashboards.changed(), if dash_open => {
                if changed.is_err() { dash_open = false; continue; }
                let now = dashboards.borrow_and_update().clone();
                reloads.extend(reload_messages(&dash_seen, &now));
                dash_seen = now;
                continue;
            }
            changed = frames.changed() => {
                if changed.is_err() { break; } // the hub is gone: shutting down
                let f = frames.borrow_and_update().clone();
                let (msgs, resent) = next_messages(&f, last_seq);
                if resent {
                    st.stats.snapshots_resent.fetch_add(1, Ordering::Relaxed);
                }
                last_seq = f.seq;
                let mut msgs = msgs.into_iter();
                let Some(last) = msgs.next_back() else { continue };
                let mut failed = false;
                for m in msgs {
                    if send(&mut tx, m).await.is_err() {
                        failed = true;
                        break;
                    }
                }
                if failed {
                    break;
                }
                Message::text(last)
            }
            _ = heartbeat.tick() => Message::text(frames.borrow().heartbeat.to_string()),
            _ = ping.tick() => {
                // Two pings without a pong: the peer is gone (or a proxy ate the connection).
                if unanswered_pings >= 2 {
                    st.stats.clients_dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                unanswered_pings += 1;
                Message::ping(Vec::new())
            }
            inbound = rx.next() => match inbound {
                Some(Ok(m)) if m.is_pong() => { unanswered_pings = 0; continue }
                Some(Ok(m)) if m.is_close() => break,
                Some(Ok(_)) => continue, // nothing to say yet; size is capped by max_message_size
                Some(Err(_)) | None => break,
            },
            _ = shutdown.wait() => {
                // Bounded: a client that stopped reading must not hold up the shutdown.
                let close = tx.send(Message::close_with(1001u16, "server shutting down"));
                let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
                break;
            }
        };
        match tokio::time::timeout(SEND_TIMEOUT, tx.send(msg)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                tracing::info!("dropped a wall client that stopped reading");
                st.stats.clients_dropped.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), tx.close()).await;
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
/// or — when it fell more than [`MAX_SKIPPED_FRAMES`] behind, or changes it missed have left the
/// log — the snapshot and the changes after it.
fn next_messages(f: &crate::hub::Frame, last_seq: u64) -> (Vec<String>, bool) {
    if f.seq.saturating_sub(last_seq) > MAX_SKIPPED_FRAMES
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

async fn send<S>(tx: &mut S, text: String) -> Result<(), ()>
where
    S: futures_util::Sink<Message> + Unpin,
{
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(Message::text(text))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
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
        let (m, resent) = next_messages(&frame(7, 6, l.clone()), 4);
        assert_eq!(
            (m, resent),
            (vec!["a5".into(), "a7".into(), "U7".into()], false)
        );
        // Nothing new for this client: just the update.
        let (m, _) = next_messages(&frame(8, 6, l.clone()), 7);
        assert_eq!(m, vec!["U8".to_string()]);
        // Changes it missed left the log: the snapshot (taken at 6) and the changes after it.
        let gone = log(&[(7, "a7")], 5);
        let (m, resent) = next_messages(&frame(7, 6, gone), 4);
        assert_eq!((m, resent), (vec!["S".into(), "a7".into()], true));
        // Too far behind: the same.
        let (m, resent) = next_messages(&frame(7 + MAX_SKIPPED_FRAMES, 6, l), 6);
        assert_eq!((m, resent), (vec!["S".into(), "a7".into()], true));
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
}
