//! The web side locked down, against the real daemon on 127.0.0.1 over real sockets: viewer
//! tokens (401 everywhere but `/healthz`, `?token=` exchanged for a strict cookie, bearer headers,
//! revocation), WebSocket auth by cookie or first message, the loopback-only rule, per-address
//! limits, the Origin allow-list, framing headers, slow and silent clients, TLS with a certificate
//! reloaded from disk, and tokens kept out of the logs.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/http.rs"]
mod http;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use daemon::Daemon;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

const WALL: &str = "wall1-3f9c2a7be1d04c58a6f1";
const LEAD: &str = "lead-9b8e7d6c5b4a39281706";
/// A well-formed token that is not configured (what a guesser would send).
const WRONG: &str = "nope-0123456789abcdefXYZ";

fn auth_both() -> String {
    format!(
        "[auth]\ntokens = [ {{ name = \"wall-1\", token = \"{WALL}\" }}, {{ name = \"shift-lead\", token = \"{LEAD}\" }} ]\n"
    )
}

/// Every log line of this test binary through the daemon's log filter at `trace` (the `log`
/// records of tungstenite and friends too).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = buf.clone();
        // The daemon's own filter at its most verbose (what `RUST_LOG=trace` gives).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(socwall::cli::log_filter("trace"))
            .with_ansi(false)
            .with_writer(move || Capture(w.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn start(dir: &std::path::Path, server_extra: &str, extra: &str) -> Daemon {
    logs();
    Daemon::start_config(dir, "127.0.0.1:0", "edge", server_extra, extra).await
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn ws_connect(addr: SocketAddr, headers: &[(&str, &str)]) -> Result<Ws, tungstenite::Error> {
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(req),
    )
    .await
    .expect("upgrade answered within 10 s")
    .map(|(ws, _)| ws)
}

fn refused_status(r: Result<Ws, tungstenite::Error>) -> u16 {
    match r {
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected an HTTP refusal, the upgrade succeeded"),
    }
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("stream open")
            .expect("no ws error");
        if let Message::Text(t) = m {
            return serde_json::from_str(&t).expect("JSON text frame");
        }
    }
}

/// The close code the server ends the socket with (skipping data messages).
async fn close_code<S>(ws: &mut S) -> u16
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        let m = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("closed within 15 s");
        match m {
            Some(Ok(Message::Close(Some(f)))) => return u16::from(f.code),
            Some(Ok(Message::Close(None))) => return 1005,
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error instead of a close frame: {e}"),
            None => panic!("socket ended without a close frame"),
        }
    }
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_healthz_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), "", &auth_both()).await;
    for path in [
        "/",
        "/?kiosk",
        "/d/soc-wall",
        "/d/nope",
        "/assets/app.js",
        "/assets/favicon.svg",
        "/api/v1/snapshot",
        "/api/v1/series?step=1m",
        "/api/v1/dashboards",
        "/api/v1/dashboards/soc-wall",
        "/metrics",
        "/ws",
        "/no/such/route",
    ] {
        let r = http::get(d.addr, path).await;
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"socwall\""),
            "{path}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert!(r.body.contains("?token="), "{path}: {}", r.body);
        assert!(r.headers_all("set-cookie").is_empty(), "{path}");
    }
    let post = http::request(
        d.addr,
        &format!(
            "POST /api/v1/snapshot HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            d.addr
        ),
    )
    .await;
    assert_eq!(post.status, 401);
    assert_eq!(
        refused_status(ws_connect(d.addr, &[("cookie", "socwall=")]).await),
        401
    );

    let health = http::get(d.addr, "/healthz").await;
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (200, Some("ok"))
    );
    // With a bearer token the same routes answer as without [auth].
    let bearer = format!("Bearer {LEAD}");
    let auth = [("authorization", bearer.as_str())];
    assert_eq!(
        http::get_with(d.addr, "/d/soc-wall", &auth).await.status,
        200
    );
    assert_eq!(http::get_with(d.addr, "/d/nope", &auth).await.status, 404);
    assert_eq!(
        http::get_with(d.addr, "/no/such/route", &auth).await.status,
        404
    );
    let m = http::get_with(d.addr, "/metrics", &auth).await;
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains("socwall_unauthorised_total 15"),
        "{}",
        m.body
    );
    let wrong = format!("Bearer {WRONG}");
    assert_eq!(
        http::get_with(d.addr, "/metrics", &[("authorization", wrong.as_str())])
            .await
            .status,
        401
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_token_becomes_a_strict_cookie_and_a_clean_redirect() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), "", &auth_both()).await;

    let r = http::get(d.addr, &format!("/d/soc-wall?kiosk&token={WALL}&scale=1.5")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/d/soc-wall?kiosk&scale=1.5"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let set = r.headers_all("set-cookie");
    assert_eq!(set.len(), 1, "{set:?}");
    let attrs: Vec<&str> = set[0].split(';').map(str::trim).collect();
    for want in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attrs.contains(&want), "{want} missing in {set:?}");
    }
    assert!(!attrs.contains(&"Secure"), "plain HTTP: no Secure, {set:?}");
    let cookie = cookie_pair(set[0]);
    assert_eq!(cookie, format!("socwall={WALL}"));

    // The redirect target now loads with the cookie alone, and so do the API and the assets.
    let with = [("cookie", cookie.as_str())];
    let page = http::get_with(d.addr, "/d/soc-wall?kiosk&scale=1.5", &with).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<script type=\"module\""),
        "{}",
        page.body
    );
    assert_eq!(
        http::get_with(d.addr, "/assets/app.js", &with).await.status,
        200
    );
    let snap = http::get_with(d.addr, "/api/v1/snapshot", &with).await;
    assert_eq!(
        (snap.status, snap.json()["type"].as_str()),
        (200, Some("snapshot"))
    );
    let root = http::get_with(d.addr, "/", &with).await;
    assert_eq!(
        (root.status, root.header("location")),
        (302, Some("/d/soc-wall"))
    );

    // `/?token=` keeps working as the kiosk's start URL.
    let r = http::get(d.addr, &format!("/?token={LEAD}")).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/")));
    // A wrong token gets nothing; a path that looks like another host is not an open redirect.
    let r = http::get(d.addr, &format!("/d/soc-wall?token={WRONG}")).await;
    assert_eq!(r.status, 401);
    assert!(r.headers_all("set-cookie").is_empty());
    let r = http::get(d.addr, &format!("//evil.example/?token={WALL}")).await;
    assert_eq!(r.header("location"), Some("/evil.example/"));
    // A token in the WebSocket URL is refused outright (it would sit in proxy logs).
    assert_eq!(
        refused_status(
            tokio::time::timeout(
                Duration::from_secs(10),
                tokio_tungstenite::connect_async(format!("ws://{}/ws?token={WALL}", d.addr))
            )
            .await
            .unwrap()
            .map(|(ws, _)| ws)
        ),
        400
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_token_stops_working_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), "", &auth_both()).await;
    let lead = format!("socwall={LEAD}");
    let wall = format!("socwall={WALL}");
    assert_eq!(
        http::get_with(d.addr, "/api/v1/snapshot", &[("cookie", &lead)])
            .await
            .status,
        200
    );
    let mut ws = ws_connect(d.addr, &[("cookie", &lead)])
        .await
        .expect("lead's socket");
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    drop(ws);
    d.stop().await;

    // shift-lead is removed from the config; the daemon restarts.
    let only_wall = format!("[auth]\ntokens = [ {{ name = \"wall-1\", token = \"{WALL}\" }} ]\n");
    let d = start(dir.path(), "", &only_wall).await;
    for path in ["/d/soc-wall", "/api/v1/snapshot", "/metrics"] {
        let r = http::get_with(d.addr, path, &[("cookie", &lead)]).await;
        assert_eq!(r.status, 401, "{path}");
    }
    assert_eq!(
        http::get(d.addr, &format!("/?token={LEAD}")).await.status,
        401
    );
    assert_eq!(
        refused_status(ws_connect(d.addr, &[("cookie", &lead)]).await),
        401
    );
    let mut ws = ws_connect(d.addr, &[])
        .await
        .expect("upgrade without credentials");
    ws.send(Message::text(format!(
        r#"{{"type":"auth","token":"{LEAD}"}}"#
    )))
    .await
    .unwrap();
    assert_eq!(close_code(&mut ws).await, 4401);
    // wall-1 is unaffected.
    assert_eq!(
        http::get_with(d.addr, "/api/v1/snapshot", &[("cookie", &wall)])
            .await
            .status,
        200
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_needs_a_cookie_or_a_first_message_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), "", &auth_both()).await;

    // Cookie: hello and snapshot at once.
    let cookie = format!("socwall={WALL}");
    let mut ws = ws_connect(d.addr, &[("cookie", &cookie)])
        .await
        .expect("cookie upgrade");
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");
    drop(ws);

    // Bearer header (non-browser tools).
    let bearer = format!("Bearer {LEAD}");
    let mut ws = ws_connect(d.addr, &[("authorization", &bearer)])
        .await
        .expect("bearer upgrade");
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    drop(ws);

    // No credentials: nothing is sent until the first message authenticates.
    let mut ws = ws_connect(d.addr, &[])
        .await
        .expect("upgrade without credentials");
    let early = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(early.is_err(), "the server spoke before auth: {early:?}");
    ws.send(Message::text(format!(
        r#"{{"type":"auth","token":"{LEAD}"}}"#
    )))
    .await
    .unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(
        (hello["type"].as_str(), hello["protocol"].as_u64()),
        (Some("hello"), Some(1))
    );
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");
    // Inbound messages over 16 KiB close the connection.
    ws.send(Message::text("x".repeat(17 * 1024))).await.unwrap();
    assert_eq!(close_code(&mut ws).await, 1009);

    // A wrong token, a message that is not auth, or a binary frame: close 4401.
    for first in [
        Message::text(format!(r#"{{"type":"auth","token":"{WRONG}"}}"#)),
        Message::text(r#"{"type":"hello"}"#),
        Message::text("not json"),
        Message::binary(WALL.as_bytes().to_vec()),
    ] {
        let mut ws = ws_connect(d.addr, &[])
            .await
            .expect("upgrade without credentials");
        ws.send(first).await.unwrap();
        assert_eq!(close_code(&mut ws).await, 4401);
    }
    let m = http::get_with(d.addr, "/metrics", &[("cookie", &cookie)]).await;
    assert!(
        m.body.contains("socwall_unauthorised_total 4"),
        "{}",
        m.body
    );
    // A socket that says nothing is closed after the auth timeout (10 s) and holds no slot.
    let mut silent = ws_connect(d.addr, &[])
        .await
        .expect("upgrade without credentials");
    let started = Instant::now();
    assert_eq!(close_code(&mut silent).await, 4401);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(9), "{waited:?}");
    eprintln!("silent unauthenticated socket closed after {waited:?}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_loopback_bind_without_auth_refuses_to_start() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    // Validation: the config says 0.0.0.0 and has no [auth].
    let text = Daemon::config(dir.path(), "edge", "listen = \"0.0.0.0:8443\"", "");
    let e = socwall::config::Settings::from_toml(&text, "socwall.toml", Vec::new()).unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(4), Some("server.listen")),
        "{e}"
    );
    assert!(e.to_string().contains("without [auth]"), "{e}");
    assert!(e.to_string().contains("openssl rand -hex 32"), "{e}");

    // run(): the socket actually bound decides, whatever the settings say. It returns at once,
    // before accepting anything.
    let ok = Daemon::config(dir.path(), "edge", "", "");
    let settings = socwall::config::Settings::from_toml(&ok, "socwall.toml", Vec::new()).unwrap();
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        socwall::run(listener, settings, std::future::pending()),
    )
    .await
    .expect("run returns at once");
    match r {
        Err(e @ socwall::RunError::Unprotected(addr)) => {
            assert_eq!(addr.port(), port);
            assert!(e.to_string().contains("[auth]"), "{e}");
        }
        other => panic!("expected Unprotected, got {other:?}"),
    }
    // The listener was dropped: nothing serves on that port.
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());

    // With [auth] the same settings are fine on 0.0.0.0 (validated only; not served here).
    let text = Daemon::config(
        dir.path(),
        "edge",
        "listen = \"0.0.0.0:8443\"",
        &auth_both(),
    );
    let s = socwall::config::Settings::from_toml(&text, "socwall.toml", Vec::new()).unwrap();
    assert_eq!(s.auth.unwrap().tokens.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_per_address_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), "max_clients_per_address = 2", "").await;
    let mut a = ws_connect(d.addr, &[]).await.expect("first");
    let mut b = ws_connect(d.addr, &[]).await.expect("second");
    assert_eq!(next_json(&mut a).await["type"], "hello");
    assert_eq!(next_json(&mut b).await["type"], "hello");
    assert_eq!(refused_status(ws_connect(d.addr, &[]).await), 429);
    let m = http::get(d.addr, "/metrics").await;
    assert!(m.body.contains("socwall_clients 2"), "{}", m.body);
    assert!(
        m.body
            .contains("socwall_clients_refused_total{reason=\"per_address\"} 1"),
        "{}",
        m.body
    );
    // A client that leaves frees its place.
    a.close(None).await.unwrap();
    drop(a);
    http::wait_json(d.addr, "/healthz", |_| true).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut c = loop {
        match ws_connect(d.addr, &[]).await {
            Ok(ws) => break ws,
            Err(tungstenite::Error::Http(r)) if r.status() == 429 => {
                assert!(tokio::time::Instant::now() < deadline, "slot never freed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(next_json(&mut c).await["type"], "hello");
    drop((b, c));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_allow_list_and_framing_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(
        dir.path(),
        "allowed_origins = [\"https://soc-wall.example\"]\nframe_ancestors = [\"self\"]",
        "",
    )
    .await;
    let mut ok = ws_connect(d.addr, &[("origin", "https://soc-wall.example")])
        .await
        .expect("allow-listed origin");
    assert_eq!(next_json(&mut ok).await["type"], "hello");
    let same = format!("http://{}", d.addr);
    let mut ok2 = ws_connect(d.addr, &[("origin", &same)])
        .await
        .expect("same origin");
    assert_eq!(next_json(&mut ok2).await["type"], "hello");
    for bad in [
        "https://other.example",
        "https://soc-wall.example.evil",
        "null",
    ] {
        assert_eq!(
            refused_status(ws_connect(d.addr, &[("origin", bad)]).await),
            403,
            "{bad}"
        );
    }
    let page = http::get(d.addr, "/d/soc-wall").await;
    assert_eq!(page.header("x-frame-options"), Some("SAMEORIGIN"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .ends_with("frame-ancestors 'self'")
    );
    drop((ok, ok2));
    d.stop().await;

    let d = start(
        dir.path(),
        "frame_ancestors = [\"https://portal.example.org\"]",
        "",
    )
    .await;
    let page = http::get(d.addr, "/d/soc-wall").await;
    assert_eq!(page.header("x-frame-options"), None);
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.ends_with("frame-ancestors https://portal.example.org"),
        "{csp}"
    );
    assert!(
        csp.starts_with("default-src 'self'; script-src 'self';"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    d.stop().await;
}

/// A raw upgrade from a socket with a 4 KiB receive buffer that never reads.
async fn stuck_client(addr: SocketAddr) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut s = sock.connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut s,
        format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_cannot_keep_up_is_evicted_by_message_age() {
    let dir = tempfile::tempdir().unwrap();
    // 150 more (idle) sources: every update lists every source with its per-second rates, so
    // updates are ~100 KB and the kernel's socket buffers (which grow to megabytes on loopback)
    // fill within seconds rather than minutes.
    let many: String = (0..150)
        .map(|i| {
            format!(
                "[[source]]\nname = \"idle-{i}\"\npath = \"{}/idle/{i}.log\"\n",
                dir.path().display()
            )
        })
        .collect();
    let d = start(dir.path(), "max_update_age = \"1s\"", &many).await;
    // A client that keeps reading, all along.
    let mut reader = ws_connect(d.addr, &[]).await.expect("reader");
    let updates = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = updates.clone();
    let reading = tokio::spawn(async move {
        while let Some(Ok(m)) = reader.next().await {
            if m.is_text() {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let started = Instant::now();
    let stuck = stuck_client(d.addr).await;
    // Something changes every tick, so an update goes out every tick.
    let line = "Oct 21 06:07:11.298946 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 204.123.2.19.53: 20792 [1au] MX? www.com.ar. (39) (DF)";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        daemon::append(&dir.path().join("pf.log"), &[line]);
        let m = http::get(d.addr, "/metrics").await;
        if m.body.contains("socwall_clients_evicted_slow_total 1") {
            assert!(m.body.contains("socwall_clients 1"), "{}", m.body);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never evicted: {}",
            m.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "stuck client evicted {:?} after connecting (max_update_age 1s)",
        started.elapsed()
    );
    // The reading client was not touched and still gets messages.
    let before = updates.load(std::sync::atomic::Ordering::Relaxed);
    assert!(before > 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while updates.load(std::sync::atomic::Ordering::Relaxed) == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reader stopped getting messages"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!reading.is_finished(), "the reading client was dropped");
    drop(stuck);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_answers_no_ping_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), "ping_interval = \"1s\"", "").await;
    // Reads everything (so it is never too slow) but never writes a pong.
    let mut s = stuck_client(d.addr).await;
    let started = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match tokio::io::AsyncReadExt::read(&mut s, &mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "not dropped within 10 s");
    let after = started.elapsed();
    assert!(
        after >= Duration::from_secs(2),
        "dropped too early: {after:?}"
    );
    eprintln!("client without pongs dropped after {after:?} (ping_interval 1s)");
    d.stop().await;
}

// ---------------------------------------------------------------------------------------------
// TLS

struct Pki {
    ca_pem: String,
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

fn pki() -> Pki {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "socwall test CA");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Pki {
        ca_pem: cert.pem(),
        ca: rcgen::Issuer::new(params, key),
    }
}

fn leaf(pki: &Pki, cn: &str) -> Leaf {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &pki.ca).unwrap();
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

fn connector(pki: &Pki) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn tls_connect(
    addr: SocketAddr,
    c: &tokio_rustls::TlsConnector,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(Duration::from_secs(10), c.connect(name, tcp))
        .await
        .expect("handshake within 10 s")
        .expect("handshake")
}

fn presented(s: &tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
    s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_and_reloads_a_changed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let (a, b) = (leaf(&pki, "wall cert A"), leaf(&pki, "wall cert B"));
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &a.cert_pem).unwrap();
    std::fs::write(&key, &a.key_pem).unwrap();
    let tls = format!(
        "{}[server.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        auth_both(),
        cert.display(),
        key.display()
    );
    let d = start(dir.path(), "", &tls).await;
    let c = connector(&pki);

    let s = tls_connect(d.addr, &c).await;
    assert_eq!(presented(&s), a.der);
    let h = http::request_on(
        s,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(h.status, 200);
    // Over TLS the cookie is Secure and __Host- prefixed.
    let r = http::request_on(
        tls_connect(d.addr, &c).await,
        &format!(
            "GET /d/soc-wall?token={WALL} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(r.status, 303);
    let set = r.header("set-cookie").unwrap();
    assert!(set.starts_with(&format!("__Host-socwall={WALL};")), "{set}");
    assert!(
        set.contains("; Secure") && set.contains("HttpOnly"),
        "{set}"
    );
    // wss with the token in the first message.
    let (mut ws, _) =
        tokio_tungstenite::client_async("wss://localhost/ws", tls_connect(d.addr, &c).await)
            .await
            .expect("wss upgrade");
    ws.send(Message::text(format!(
        r#"{{"type":"auth","token":"{WALL}"}}"#
    )))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    // Plain HTTP to the TLS port gets no page.
    let mut raw = TcpStream::connect(d.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut raw,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut raw, &mut answer),
    )
    .await
    .expect("the server hangs up");
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "plain HTTP was served"
    );

    // Replace the pair the way a renewal might: certificate first (for a moment it does not match
    // the key, which must keep A in service), then the key.
    std::fs::write(&cert, &b.cert_pem).unwrap();
    let mid = tls_connect(d.addr, &c).await;
    assert_eq!(
        presented(&mid),
        a.der,
        "a half-replaced pair must not be used"
    );
    let written = Instant::now();
    std::fs::write(&key, &b.key_pem).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let s = tls_connect(d.addr, &c).await;
        if presented(&s) == b.der {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "certificate B never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "new certificate served {:?} after the key was written",
        written.elapsed()
    );
    // The open socket was not disturbed by the reload.
    assert!(matches!(
        next_json(&mut ws).await["type"].as_str(),
        Some("update" | "heartbeat" | "snapshot")
    ));
    drop(ws);
    d.stop().await;
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_reach_the_logs() {
    let logs = logs();
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), "", &auth_both()).await;
    // Every way a token can arrive, valid and not.
    for t in [WALL, WRONG] {
        http::get(d.addr, &format!("/d/soc-wall?kiosk&token={t}")).await;
        let bearer = format!("Bearer {t}");
        http::get_with(d.addr, "/metrics", &[("authorization", &bearer)]).await;
        let cookie = format!("socwall={t}");
        http::get_with(d.addr, "/api/v1/snapshot", &[("cookie", &cookie)]).await;
        let _ = ws_connect(d.addr, &[("cookie", &cookie)]).await;
        let mut ws = ws_connect(d.addr, &[]).await.unwrap();
        ws.send(Message::text(format!(r#"{{"type":"auth","token":"{t}"}}"#)))
            .await
            .unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
    }
    d.stop().await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        text.contains("viewer token exchanged for a session cookie") && text.contains("wall-1"),
        "the exchange is logged by name"
    );
    assert!(text.contains("invalid credentials"), "refusals are logged");
    for t in [WALL, LEAD, WRONG] {
        let leaked: Vec<String> = text
            .lines()
            .filter(|l| l.contains(t))
            .map(|l| l.replace(t, "<TOKEN>").chars().take(200).collect())
            .collect();
        assert!(leaked.is_empty(), "a token reached the logs: {leaked:?}");
    }
    eprintln!("checked {} bytes of TRACE logs for tokens", text.len());
}
