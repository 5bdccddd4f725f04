//! Browser test of the wall page (`web/`, `dashboards/soc-wall.toml`) against a stand-in server.
//!
//! A small fake of the socwall HTTP/WebSocket API serves the real page files from `web/`, the real
//! dashboard as JSON and a protocol-shaped `hello` / `snapshot` / `update` stream; headless Chromium
//! (via `tests/support/cdp.rs`) checks what the wall shows, that log text stays text, and that the
//! stale banner appears on disconnect and clears after reconnecting. Skips without Chromium unless
//! `SOCWALL_SKIP_BROWSER=1` is set.

#[path = "support/cdp.rs"]
mod cdp;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cdp::Browser;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const V6: &str = "2001:db8:85a3:0000:0000:8a2e:0370:7334";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// RFC 3339 UTC with milliseconds for a Unix time in ms (civil-from-days, no date crate).
fn iso(ms: u64) -> String {
    let (secs, milli) = (ms / 1000, ms % 1000);
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn now_iso() -> String {
    iso(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64)
}

fn entries(keys: &[&str], base: u64) -> Value {
    Value::Array(
        keys.iter()
            .enumerate()
            .map(|(i, k)| json!({"key": k, "count": base / (i as u64 + 1), "bytes": base * 1000 / (i as u64 + 1), "error": 0}))
            .collect(),
    )
}

fn snapshot(end: u64) -> Value {
    let allowed: Vec<u64> = (0..900).map(|i| 1000 + (i % 60) * 5).collect();
    let denied: Vec<u64> = (0..900).map(|i| 200 + (i % 30) * 3).collect();
    let events: Vec<u64> = allowed.iter().zip(&denied).map(|(a, d)| a + d).collect();
    let ips = [V6, "203.0.113.9", "198.51.100.4"];
    let window = json!({
        "src": entries(&ips, 9000), "dst": entries(&ips, 8000), "dport": entries(&["tcp/443", "udp/53"], 7000),
        "pair": [], "talkers": entries(&ips, 5000), "denied_src": entries(&ips, 4000), "denied_dst": [],
        "denied_dport": [], "denied_pair": [], "rare_dport": []
    });
    let src = |name: &str, state: &str, age_ms: u64| {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            - age_ms;
        json!({"name": name, "format": "pf", "state": state, "files": 1, "lines": 10, "events": 10, "skipped": 0,
               "parse_errors": 3, "overlong": 0, "lines_per_s": 5.0, "events_per_s": 4.5, "last_event_at": iso(at),
               "last_line_at": iso(at), "lag_bytes": 0, "last_error": null, "rate": vec![4; 60]})
    };
    json!({
        "type": "snapshot", "protocol": 1, "seq": 1, "server_time": now_iso(), "started_at": now_iso(),
        "totals": {"lines": 1, "events": 1, "bytes": 1, "packets": 1, "allowed": 1, "denied": 1,
                   "no_verdict": 0, "skipped": 0, "parse_errors": 3, "overlong": 0},
        "rates": {"window_s": 10, "lines_per_s": 1300.0, "events_per_s": 1234.5, "allowed_per_s": 1000.0,
                  "denied_per_s": 234.5, "bytes_per_s": 1.0e6},
        "distinct": {"src": {"1m": 10, "5m": 3456, "15m": 50, "1h": 90}, "dst": {"1m": 1, "5m": 2, "15m": 3, "1h": 4}},
        "feeds": {"total": 3, "active": 2},
        "series": {"step_s": 1, "end": end, "events": events, "allowed": allowed, "denied": denied,
                   "bytes": vec![0; 900], "distinct_src": vec![3000; 900]},
        "protocols": [{"key": "tcp", "count": 1, "bytes": 1}],
        "topn": {"1m": window, "5m": window, "15m": window, "1h": window},
        "first_seen": {"learning": true, "dport": [], "host": []},
        "anomalies": [anomaly("port_scan-1", "port_scan", 85, "203.0.113.66", "203.0.113.66 probed 1024 ports of 10.0.1.20 in 60 s"),
                      anomaly("watchlist_hit-2", "watchlist_hit", 45, "<img src=x onerror=alert(1)>", "reached <b>listed</b> address")],
        "sources": [src("fw-edge-01", "ok", 300), src("core-nft", "quiet", 47_000),
                    src("dmz-<b>asa</b>", "silent", 1_260_000)]
    })
}

fn anomaly(id: &str, kind: &str, severity: u8, entity: &str, summary: &str) -> Value {
    json!({"id": id, "kind": kind, "severity": severity, "peak_severity": severity, "entity": entity,
           "zone": "external", "summary": summary, "first_seen": now_iso(), "last_seen": now_iso(),
           "count": 3, "evidence": {}})
}

/// The stand-in server. `ws_up` false → `/ws` answers 503; `kick` drops every open socket;
/// `auth` says how a socket is refused for want of credentials ([`AUTH_OK`], [`AUTH_401`]: `/ws`
/// and the probe route answer 401, [`AUTH_4401`]: `/ws` upgrades and closes with 4401).
struct Fake {
    base: String,
    ws_up: Arc<AtomicBool>,
    auth: Arc<AtomicU8>,
    kick: watch::Sender<u64>,
}

const AUTH_OK: u8 = 0;
const AUTH_401: u8 = 1;
const AUTH_4401: u8 = 2;

async fn start_fake() -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let ws_up = Arc::new(AtomicBool::new(true));
    let auth = Arc::new(AtomicU8::new(AUTH_OK));
    let (kick, kick_rx) = watch::channel(0u64);
    let toml = std::fs::read_to_string(root().join("dashboards/soc-wall.toml")).unwrap();
    let dash: Value = config::Config::builder()
        .add_source(config::File::from_str(&toml, config::FileFormat::Toml))
        .build()
        .unwrap()
        .try_deserialize()
        .unwrap();
    let dash = Arc::new(dash.to_string());
    let up = ws_up.clone();
    let auth_mode = auth.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let (dash, up, kick_rx) = (dash.clone(), up.clone(), kick_rx.clone());
            let mode = auth_mode.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let _ = handle(sock, &dash, &up, mode, kick_rx).await;
            });
        }
    });
    Fake {
        base,
        ws_up,
        auth,
        kick,
    }
}

async fn respond(
    mut sock: TcpStream,
    status: &str,
    ctype: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nContent-Security-Policy: default-src 'self'\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body).await?;
    sock.shutdown().await
}

async fn handle(
    sock: TcpStream,
    dash: &str,
    ws_up: &AtomicBool,
    auth: u8,
    mut kick: watch::Receiver<u64>,
) -> anyhow::Result<()> {
    // Peek at the request head so a WebSocket upgrade can still be handed to tungstenite whole.
    let mut buf = vec![0u8; 8192];
    let head = loop {
        let n = sock.peek(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.contains("\r\n\r\n") || n == buf.len() {
            break text;
        }
        if n == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    if path == "/ws" {
        if !ws_up.load(Ordering::SeqCst) {
            return Ok(respond(sock, "503 Service Unavailable", "text/plain", b"down").await?);
        }
        if auth == AUTH_401 {
            return Ok(respond(sock, "401 Unauthorized", "text/plain", b"not authorised").await?);
        }
        let mut ws = tokio_tungstenite::accept_async(sock).await?;
        if auth == AUTH_4401 {
            use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
            let frame = CloseFrame {
                code: CloseCode::from(4401),
                reason: "unauthorised".into(),
            };
            let _ = ws.close(Some(frame)).await;
            return Ok(());
        }
        kick.borrow_and_update();
        let mut end = now_s();
        let hello = json!({"type": "hello", "protocol": 1, "server": "socwall test", "server_time": now_iso(),
                           "tick_ms": 250, "heartbeat_ms": 1000});
        ws.send(Message::text(hello.to_string())).await?;
        ws.send(Message::text(snapshot(end).to_string())).await?;
        let mut seq = 1;
        loop {
            tokio::select! {
                _ = kick.changed() => { let _ = ws.close(None).await; return Ok(()); }
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            seq += 1;
            end = end.max(now_s());
            let upd = json!({"type": "update", "seq": seq, "server_time": now_iso(),
                             "series": {"step_s": 1, "end": end, "events": vec![77; 10], "allowed": vec![70; 10],
                                        "denied": vec![7; 10], "bytes": vec![0; 10], "distinct_src": vec![3000; 10]}});
            ws.send(Message::text(upd.to_string())).await?;
            // One anomaly opens, then the most severe one closes (`anomaly` change messages).
            let change = match seq {
                3 => Some((
                    "open",
                    anomaly(
                        "beaconing-3",
                        "beaconing",
                        65,
                        "10.0.4.77 → 198.51.100.77",
                        "every 60 s ± 2 s",
                    ),
                )),
                5 => Some((
                    "close",
                    anomaly("port_scan-1", "port_scan", 40, "203.0.113.66", "closed"),
                )),
                _ => None,
            };
            if let Some((what, mut a)) = change {
                a["type"] = json!("anomaly");
                a["change"] = json!(what);
                ws.send(Message::text(a.to_string())).await?;
            }
        }
    }
    let web = root().join("web");
    let file = if path == "/" || path.starts_with("/d/") {
        Some(web.join("index.html"))
    } else {
        path.strip_prefix("/assets/")
            .filter(|rel| !rel.split('/').any(|p| p == ".." || p.is_empty()))
            .map(|rel| web.join(rel))
    };
    // The page's probe after a refused handshake.
    if path == "/api/v1/dashboards" {
        if auth == AUTH_401 {
            respond(sock, "401 Unauthorized", "text/plain", b"not authorised").await?;
        } else {
            let list = b"{\"default\":\"soc-wall\",\"dashboards\":[]}";
            respond(sock, "200 OK", "application/json", list).await?;
        }
        return Ok(());
    }
    if path == "/api/v1/dashboards/soc-wall" {
        return Ok(respond(sock, "200 OK", "application/json", dash.as_bytes()).await?);
    }
    match file.and_then(|f| std::fs::read(&f).ok().map(|b| (f, b))) {
        Some((f, body)) => {
            let ctype = match f.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                _ => "application/octet-stream",
            };
            Ok(respond(sock, "200 OK", ctype, &body).await?)
        }
        None => Ok(respond(sock, "404 Not Found", "text/plain", b"not found").await?),
    }
}

const BANNER: &str = "(() => { const b = document.getElementById('banner'); return b.hidden ? '' : b.textContent; })()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_renders_snapshot_and_recovers_from_disconnect() {
    if !Browser::available_or_skip() {
        return;
    }
    let fake = start_fake().await;
    let b = Browser::launch(1920, 1080).await.expect("launch");
    b.navigate(&format!("{}/d/soc-wall?kiosk&scale=1.2", fake.base))
        .await
        .expect("navigate");
    b.wait_for(
        "document.body.dataset.ready === '1'",
        Duration::from_secs(15),
    )
    .await
    .expect("first snapshot rendered");

    // What the wall shows.
    assert_eq!(b.eval("socwall.stale").await.unwrap(), false);
    assert_eq!(b.eval(BANNER).await.unwrap(), "");
    assert_eq!(
        b.eval("document.body.classList.contains('kiosk')")
            .await
            .unwrap(),
        true
    );
    assert_eq!(
        b.eval("getComputedStyle(document.documentElement).getPropertyValue('--scale').trim()")
            .await
            .unwrap(),
        "1.2"
    );
    assert_eq!(
        b.eval("document.querySelectorAll('.grid > .tile').length")
            .await
            .unwrap(),
        10
    );
    let nums = b
        .eval("[...document.querySelectorAll('.stat-num')].map(e => e.textContent)")
        .await
        .unwrap();
    assert_eq!(nums, json!(["1.2k", "235", "3.5k", "2"]));
    let first = b
        .eval("document.querySelector('.topn-denied .topn-row').title")
        .await
        .unwrap();
    assert_eq!(first, V6);
    let badges = b
        .eval("[...document.querySelectorAll('.feeds-badge')].map(e => e.textContent)")
        .await
        .unwrap();
    assert_eq!(badges, json!(["OK", "QUIET", "SILENT"]));
    // Log-derived text stays text: the feed name's markup is visible, not parsed.
    assert_eq!(
        b.eval("document.querySelectorAll('.feeds b').length")
            .await
            .unwrap(),
        0
    );
    let names = b
        .eval("[...document.querySelectorAll('.feeds-body .feeds-name')].map(e => e.textContent)")
        .await
        .unwrap();
    assert_eq!(names[2], "dmz-<b>asa</b>");

    // Anomalies: opened and closed by `anomaly` messages, most severe first, coloured by band,
    // log-derived text kept as text.
    b.wait_for(
        "[...document.querySelectorAll('.anom-row:not([hidden]) .anom-kind')].map(e => e.textContent).join() === 'beaconing,watchlist hit'",
        Duration::from_secs(5),
    )
    .await
    .expect("anomaly opened and closed");
    let rows = b
        .eval("[...document.querySelectorAll('.anom-row:not([hidden])')].map(r => [r.dataset.band, r.querySelector('.anom-sev').textContent, r.querySelector('.anom-entity').textContent])")
        .await
        .unwrap();
    assert_eq!(
        rows,
        json!([
            ["high", "65", "10.0.4.77 → 198.51.100.77"],
            ["medium", "45", "<img src=x onerror=alert(1)>"]
        ])
    );
    assert_eq!(
        b.eval("document.querySelectorAll('.anom img, .anom b').length")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        b.eval("getComputedStyle(document.querySelector('.anom-row[data-band=\"medium\"] .anom-sev')).backgroundColor")
            .await
            .unwrap(),
        "rgb(255, 214, 10)"
    );

    // Updates are merged by time into bounded series.
    b.wait_for(
        "socwall.state.series.events.at(-2) === 77",
        Duration::from_secs(5),
    )
    .await
    .expect("update merged");
    assert_eq!(
        b.eval("socwall.state.series.events.length").await.unwrap(),
        900
    );

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    b.screenshot(dir.join("wall-1080.png"))
        .await
        .expect("screenshot");

    // Disconnect: the banner says so; reconnect: it clears, without a reload.
    fake.ws_up.store(false, Ordering::SeqCst);
    fake.kick.send_modify(|n| *n += 1);
    let text = b
        .wait_for(BANNER, Duration::from_secs(5))
        .await
        .expect("stale banner");
    assert!(text.as_str().unwrap().starts_with("STALE"), "{text}");
    assert_eq!(b.eval("socwall.stale").await.unwrap(), true);
    fake.ws_up.store(true, Ordering::SeqCst);
    b.wait_for(
        "!socwall.stale && document.getElementById('banner').hidden",
        Duration::from_secs(20),
    )
    .await
    .expect("reconnected and banner cleared");

    let errors = b.js_errors();
    assert!(errors.is_empty(), "JS errors: {errors:?}");
}

/// A refused socket (401 at the handshake, or close 4401) shows NOT AUTHORISED, not a silent
/// endless reconnect; the page keeps retrying and recovers once the credentials work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_says_not_authorised_when_the_socket_is_refused() {
    if !Browser::available_or_skip() {
        return;
    }
    let fake = start_fake().await;
    let b = Browser::launch(1280, 720).await.expect("launch");
    b.navigate(&format!("{}/d/soc-wall", fake.base))
        .await
        .expect("navigate");
    b.wait_for(
        "document.body.dataset.ready === '1'",
        Duration::from_secs(15),
    )
    .await
    .expect("first snapshot rendered");

    for mode in [AUTH_401, AUTH_4401] {
        fake.auth.store(mode, Ordering::SeqCst);
        fake.kick.send_modify(|n| *n += 1);
        let text = b
            .wait_for(
                "(() => { const b = document.getElementById('banner'); return !b.hidden && b.textContent.startsWith('NOT AUTHORISED') && b.textContent; })()",
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|e| panic!("mode {mode}: no NOT AUTHORISED banner: {e}"));
        let text = text.as_str().unwrap();
        assert!(text.contains("?token="), "{text}");
        assert!(text.contains("Retrying"), "{text}");
        assert_eq!(
            b.eval("document.getElementById('conn-text').textContent")
                .await
                .unwrap(),
            "not authorised"
        );
        assert_eq!(
            b.eval("document.getElementById('conn-dot').dataset.state")
                .await
                .unwrap(),
            "denied"
        );
        assert_eq!(b.eval("socwall.stale").await.unwrap(), true);
        if mode == AUTH_401 {
            b.screenshot(
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wall-not-authorised.png"),
            )
            .await
            .expect("screenshot");
        }
        // Still retrying: once the credentials work again the wall recovers by itself.
        fake.auth.store(AUTH_OK, Ordering::SeqCst);
        b.wait_for(
            "!socwall.stale && document.getElementById('banner').hidden",
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("mode {mode}: did not recover: {e}"));
    }
    let errors = b.js_errors();
    assert!(errors.is_empty(), "JS errors: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_renders_crisp_at_4k() {
    if !Browser::available_or_skip() {
        return;
    }
    let fake = start_fake().await;
    let b = Browser::launch(1920, 1080).await.expect("launch");
    b.set_viewport(1920, 1080, 2.0).await.expect("viewport");
    b.navigate(&format!("{}/", fake.base))
        .await
        .expect("navigate");
    b.wait_for(
        "document.body.dataset.ready === '1'",
        Duration::from_secs(15),
    )
    .await
    .expect("first snapshot rendered");
    // Canvases carry CSS size × devicePixelRatio backing pixels.
    let ok = b
        .eval("[...document.querySelectorAll('canvas')].every(c => c.width === Math.round(parseFloat(c.style.width) * 2))")
        .await
        .unwrap();
    assert_eq!(ok, true);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    b.screenshot(dir.join("wall-4k.png"))
        .await
        .expect("screenshot");
    let errors = b.js_errors();
    assert!(errors.is_empty(), "JS errors: {errors:?}");
}

/// The page's state merge (`web/state.js`), run in the browser: series merged by time, gaps
/// zero-filled, out-of-date updates ignored, arrays never longer than 900 points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_merge_is_by_time_and_bounded() {
    if !Browser::available_or_skip() {
        return;
    }
    let fake = start_fake().await;
    let b = Browser::launch(800, 600).await.expect("launch");
    b.navigate(&format!("{}/assets/favicon.svg", fake.base))
        .await
        .expect("navigate");
    let got = b
        .eval(
            r#"import('/assets/state.js').then(({ fromSnapshot, applyUpdate }) => {
                const n = 900, end = 1000;
                const st = fromSnapshot({ type: 'snapshot', rates: {}, series: { step_s: 1, end,
                    events: Array.from({ length: n }, (_, i) => i) } });
                const out = {};
                out.changed = [...applyUpdate(st, { type: 'update', seq: 2, server_time: 'x', rates: { a: 1 },
                    series: { step_s: 1, end, events: Array(10).fill(-1) } })].sort();
                out.sameEnd = [st.series.events[889], st.series.events[890], st.series.events[899], st.series.end];
                applyUpdate(st, { type: 'update', series: { step_s: 1, end: end + 3, events: [1,2,3,4,5,6,7,8,9,10] } });
                out.advanced = [st.series.events.length, st.series.end, st.series.events[890], st.series.events[899]];
                applyUpdate(st, { type: 'update', series: { step_s: 1, end: end + 1, events: [42] } });
                out.old = [st.series.end, st.series.events[897], st.series.events[899]];
                applyUpdate(st, { type: 'update', series: { step_s: 1, end: end + 10000, events: [7] } });
                out.gap = [st.series.events.length, st.series.events[0], st.series.events[899]];
                for (let i = 1; i <= 3000; i++)
                    applyUpdate(st, { type: 'update', series: { step_s: 1, end: end + 10000 + i, events: Array(10).fill(i) } });
                out.bounded = st.series.events.length;
                return out;
            })"#,
        )
        .await
        .expect("merge script");
    assert_eq!(got["changed"], json!(["rates", "series"]));
    assert_eq!(got["sameEnd"], json!([889, -1, -1, 1000]));
    assert_eq!(got["advanced"], json!([900, 1003, 1, 10]));
    // An update ending in the past overwrites the buckets it covers and never moves `end` back.
    assert_eq!(got["old"], json!([1003, 42, 10]));
    assert_eq!(got["gap"], json!([900, 0, 7]));
    assert_eq!(got["bounded"], 900);
}
