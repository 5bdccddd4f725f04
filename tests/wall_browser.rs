//! The real wall page served by the real daemon, in a real headless Chromium: lines appended to a
//! tailed file show up on screen, log-derived text stays text, the page obeys the CSP without a
//! console error, and it goes STALE (banner "Disconnected since …" within two heartbeats, every
//! tile showing its data age) when the daemon dies and recovers when it comes back, without a
//! manual reload.

#[path = "support/cdp.rs"]
mod cdp;
#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/http.rs"]
mod http;

use std::time::Duration;

use cdp::Browser;
use daemon::{Daemon, append};
use serde_json::json;

const DENIED: &[&str] = &[
    "Nov 24 03:40:01 web-1 kernel: [UFW BLOCK] IN=eth0 OUT= MAC= SRC=203.0.113.66 DST=10.0.1.20 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=1 PROTO=TCP SPT=40001 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0",
    "Nov 24 03:40:01 web-1 kernel: [UFW BLOCK] IN=eth0 OUT= MAC= SRC=203.0.113.66 DST=10.0.1.21 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=2 PROTO=TCP SPT=40001 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0",
    "Nov 24 03:40:01 web-1 kernel: [UFW BLOCK] IN=eth0 OUT= MAC= SRC=198.51.100.23 DST=10.0.1.20 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=3 PROTO=TCP SPT=40002 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0",
];
const ALLOWED: &str = "Nov 24 03:40:02.000001 rule 12/(match) pass out on em1: 10.0.3.14.51000 > 192.0.2.80.443: Flags [S], seq 1, win 64240, length 0";

const BANNER: &str = "(() => { const b = document.getElementById('banner'); return b.hidden ? '' : b.textContent; })()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_daemon_drives_the_wall_page() {
    if !Browser::available_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kern.log"), "").unwrap();
    let hostile = "edge <img src=x onerror=alert(1)>";
    let d = Daemon::start_with(dir.path(), "127.0.0.1:0", hostile).await;
    let addr = d.addr;

    let b = Browser::launch(1920, 1080).await.expect("launch chromium");
    b.navigate(&format!("http://{addr}/?kiosk"))
        .await
        .expect("navigate");
    b.wait_for(
        "document.body.dataset.ready === '1'",
        Duration::from_secs(15),
    )
    .await
    .expect("first snapshot rendered");

    append(&dir.path().join("kern.log"), DENIED);
    for _ in 0..5 {
        append(&dir.path().join("pf.log"), &[ALLOWED]);
    }
    b.wait_for(
        "socwall.state.totals && socwall.state.totals.events === 8",
        Duration::from_secs(10),
    )
    .await
    .expect("8 events reach the page");
    let totals = b.eval("socwall.state.totals").await.unwrap();
    assert_eq!(
        (totals["allowed"].clone(), totals["denied"].clone()),
        (json!(5), json!(3))
    );

    // The top blocked sources list shows the scanner first, as text, once the once-a-second
    // top-N recompute has landed.
    let first = b
        .wait_for(
            "(() => { const r = document.querySelector('.topn-denied .topn-row'); return r && r.title; })()",
            Duration::from_secs(10),
        )
        .await
        .expect("a blocked source is listed");
    assert_eq!(first, "203.0.113.66");
    // The feed named with markup is shown literally and creates no element.
    assert_eq!(
        b.eval("document.querySelectorAll('img').length")
            .await
            .unwrap(),
        0
    );
    let names = b
        .eval("[...document.querySelectorAll('.feeds-name')].map(e => e.textContent)")
        .await
        .unwrap();
    assert!(
        names.as_array().unwrap().iter().any(|n| n == hostile),
        "{names}"
    );
    assert_eq!(b.eval(BANNER).await.unwrap(), "");

    // Kill the daemon: the page must say it is stale (two 1 s heartbeats), not keep old numbers
    // on screen as if live.
    let stopped = std::time::Instant::now();
    d.stop().await;
    let text = b
        .wait_for(BANNER, Duration::from_secs(8))
        .await
        .expect("stale banner");
    // Within two heartbeats (1 s each here), plus the page's 500 ms status tick.
    assert!(
        stopped.elapsed() < Duration::from_millis(2 * 1000 + 1000),
        "banner after {:?}",
        stopped.elapsed()
    );
    let text = text.as_str().unwrap();
    assert!(text.starts_with("STALE — Disconnected since "), "{text}");
    // Every tile says how old its data is once that is older than two heartbeats.
    b.wait_for(
        "[...document.querySelectorAll('.tile:not(.tile-unknown)')].every(t => !t.querySelector('.tile-age').hidden && /^data \\d+ s old$/.test(t.querySelector('.tile-age').textContent))",
        Duration::from_secs(5),
    )
    .await
    .expect("tiles show their data age");

    // Bring it back on the same address: the page reconnects by itself and shows the new state.
    let d = Daemon::start_with(dir.path(), &addr.to_string(), "edge-2").await;
    b.wait_for(
        "!socwall.stale && document.getElementById('banner').hidden && socwall.state.sources.some(s => s.name === 'edge-2') && [...document.querySelectorAll('.tile-age')].every(a => a.hidden)",
        Duration::from_secs(30),
    )
    .await
    .expect("reconnected to the new daemon, banner cleared");

    let errors = b.js_errors();
    assert!(errors.is_empty(), "JS errors: {errors:?}");
    let csp: Vec<String> = b
        .log_entries()
        .into_iter()
        .filter(|l| l.contains("Content Security Policy"))
        .collect();
    assert!(csp.is_empty(), "CSP violations: {csp:?}");
    d.stop().await;
}

/// The kiosk flow with `[auth]`, in a real browser against the real daemon: the wall is opened once
/// with `?token=`, lands on the URL without it, runs on the HttpOnly cookie (invisible to scripts),
/// says NOT AUTHORISED when its token is removed from the config, and recovers by itself when the
/// token is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiosk_signs_in_with_a_token_and_shows_when_it_is_revoked() {
    if !Browser::available_or_skip() {
        return;
    }
    const WALL: &str = "wall1-3f9c2a7be1d04c58a6f1";
    const LEAD: &str = "lead-9b8e7d6c5b4a39281706";
    let auth = |tokens: &[(&str, &str)]| {
        let list: Vec<String> = tokens
            .iter()
            .map(|(n, t)| format!("{{ name = \"{n}\", token = \"{t}\" }}"))
            .collect();
        format!("[auth]\ntokens = [{}]\n", list.join(", "))
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kern.log"), "").unwrap();
    let with_wall = auth(&[("wall-1", WALL), ("shift-lead", LEAD)]);
    let d = Daemon::start_config(dir.path(), "127.0.0.1:0", "edge", "", &with_wall).await;
    let addr = d.addr;

    let b = Browser::launch(1280, 720).await.expect("launch chromium");
    b.navigate(&format!("http://{addr}/d/soc-wall?kiosk&token={WALL}"))
        .await
        .expect("navigate");
    b.wait_for(
        "document.body.dataset.ready === '1'",
        Duration::from_secs(15),
    )
    .await
    .expect("first snapshot rendered with the cookie");
    assert_eq!(
        b.eval("location.pathname + location.search").await.unwrap(),
        "/d/soc-wall?kiosk",
        "the token is gone from the address bar"
    );
    assert_eq!(b.eval("document.cookie").await.unwrap(), "", "HttpOnly");
    append(&dir.path().join("kern.log"), DENIED);
    b.wait_for(
        "socwall.state.totals && socwall.state.totals.events === 3",
        Duration::from_secs(10),
    )
    .await
    .expect("events reach the page over the cookie-authenticated socket");
    assert_eq!(b.eval(BANNER).await.unwrap(), "");

    // wall-1 is removed from the config and the daemon restarts on the same address.
    d.stop().await;
    let d = Daemon::start_config(
        dir.path(),
        &addr.to_string(),
        "edge",
        "",
        &auth(&[("shift-lead", LEAD)]),
    )
    .await;
    let text = b
        .wait_for(
            "(() => { const t = document.getElementById('banner').textContent; return t.startsWith('NOT AUTHORISED') && t; })()",
            Duration::from_secs(30),
        )
        .await
        .expect("NOT AUTHORISED banner");
    assert!(text.as_str().unwrap().contains("?token="), "{text}");
    assert_eq!(
        b.eval("document.getElementById('conn-text').textContent")
            .await
            .unwrap(),
        "not authorised"
    );

    // The token is back: the page, still retrying, recovers without a reload.
    d.stop().await;
    let d = Daemon::start_config(dir.path(), &addr.to_string(), "edge", "", &with_wall).await;
    b.wait_for(
        "!socwall.stale && document.getElementById('banner').hidden",
        Duration::from_secs(30),
    )
    .await
    .expect("recovered once the token was configured again");

    let errors = b.js_errors();
    assert!(errors.is_empty(), "JS errors: {errors:?}");
    let csp: Vec<String> = b
        .log_entries()
        .into_iter()
        .filter(|l| l.contains("Content Security Policy"))
        .collect();
    assert!(csp.is_empty(), "CSP violations: {csp:?}");
    d.stop().await;
}
