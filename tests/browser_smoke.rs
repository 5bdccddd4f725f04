//! Smoke test for the CDP harness (`tests/support/cdp.rs`): real headless Chromium loads a tiny page
//! served from a hand-written HTTP server, and we read the title, run JS and take a screenshot.

#[path = "support/cdp.rs"]
mod cdp;

use std::time::Duration;

use cdp::Browser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PAGE: &str = "<!doctype html><html><head><meta charset=utf-8><title>socwall smoke</title></head>\
<body style=\"background:#07090d;color:#e8edf3;font:48px sans-serif\"><h1 id=h>hello wall</h1></body></html>";

/// Serve `PAGE` for every request on 127.0.0.1:0 until the test ends; returns the base URL.
async fn serve_page() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                // Read the request head (we ignore what was asked for).
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    if got.len() > 64 * 1024 {
                        return;
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    PAGE.len(),
                    PAGE
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}/")
}

#[test]
fn base64_decoder_matches_rfc4648_vectors() {
    for (enc, dec) in [
        ("", ""),
        ("Zg==", "f"),
        ("Zm8=", "fo"),
        ("Zm9v", "foo"),
        ("Zm9vYg==", "foob"),
        ("Zm9vYmE=", "fooba"),
        ("Zm9vYmFy", "foobar"),
    ] {
        assert_eq!(cdp::base64_decode(enc).unwrap(), dec.as_bytes(), "{enc}");
    }
    assert!(cdp::base64_decode("Zm9v!").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_loads_page_evaluates_js_and_screenshots() {
    if !Browser::available_or_skip() {
        return;
    }
    let url = serve_page().await;
    let browser = Browser::launch(800, 600).await.expect("launch chromium");
    browser.navigate(&url).await.expect("navigate");

    let title = browser.eval("document.title").await.expect("eval title");
    assert_eq!(title, "socwall smoke");
    let sum = browser
        .eval("Promise.resolve(20 + 22)")
        .await
        .expect("eval promise");
    assert_eq!(sum, 42);
    let text = browser
        .wait_for(
            "document.getElementById('h')?.textContent",
            Duration::from_secs(5),
        )
        .await
        .expect("wait_for");
    assert_eq!(text, "hello wall");
    assert!(browser.eval("throw new Error('boom')").await.is_err());

    // Console errors are collected from CDP events.
    browser
        .eval("console.error('deliberate', 7)")
        .await
        .expect("console.error");
    browser
        .wait_for(
            "new Promise(r => setTimeout(() => r(true), 100))",
            Duration::from_secs(5),
        )
        .await
        .expect("settle");
    let errors = browser.js_errors();
    assert!(
        errors.iter().any(|e| e.contains("deliberate 7")),
        "console.error not collected: {errors:?}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let shot = dir.path().join("smoke.png");
    browser.screenshot(&shot).await.expect("screenshot");
    let png = std::fs::read(&shot).expect("read png");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // IHDR width/height at bytes 16..24 (big-endian): the viewport we asked for.
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((w, h), (800, 600));

    browser.set_viewport(400, 300, 2.0).await.expect("viewport");
    let dpr = browser
        .eval("[innerWidth, devicePixelRatio]")
        .await
        .expect("dpr");
    assert_eq!(dpr, serde_json::json!([400, 2]));
}
