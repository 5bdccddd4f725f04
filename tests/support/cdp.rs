//! Tiny Chrome DevTools Protocol harness for integration tests: a real headless Chromium, no WebDriver.
//!
//! Include it from a test with `#[path = "support/cdp.rs"] mod cdp;`. The browser binary comes from
//! `SOCWALL_CHROMIUM`, else `chromium` / `chromium-browser` on `PATH`. Browser tests start with
//! [`Browser::available_or_skip`]: a missing browser fails the test with the install command, unless
//! `SOCWALL_SKIP_BROWSER=1` says to skip (a browser test that silently passes proves nothing).
//!
//! Protocol: launch with `--remote-debugging-port=0`, read the port from `DevToolsActivePort` in the
//! temporary profile, `GET /json/list` for the page target, then JSON commands over a WebSocket,
//! responses matched by `id`. Console errors and uncaught exceptions are collected from events.
//! [`Browser::heap_used`] measures the page's JS heap after a forced GC (leak checks).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures_util::SinkExt;
use futures_util::stream::{SplitSink, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// How long one CDP command may take before we give up on it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// One headless Chromium with one page, driven over CDP. Dropping it kills the process.
pub struct Browser {
    child: Child,
    profile: tempfile::TempDir,
    sink: tokio::sync::Mutex<Sink>,
    pending: Pending,
    next_id: AtomicU64,
    js_errors: Arc<Mutex<Vec<String>>>,
    log_entries: Arc<Mutex<Vec<String>>>,
    loads: watch::Receiver<u64>,
    reader: tokio::task::JoinHandle<()>,
}

impl Browser {
    /// The Chromium binary to use: `SOCWALL_CHROMIUM`, else `chromium` / `chromium-browser` on PATH.
    pub fn find_binary() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("SOCWALL_CHROMIUM") {
            return Some(PathBuf::from(p));
        }
        let path = std::env::var_os("PATH")?;
        for dir in std::env::split_paths(&path) {
            for name in ["chromium", "chromium-browser"] {
                let cand = dir.join(name);
                if cand.is_file() {
                    return Some(cand);
                }
            }
        }
        None
    }

    /// True when Chromium is there. Without it: false (skip) when `SOCWALL_SKIP_BROWSER=1`, else a
    /// panic naming the fix.
    pub fn available_or_skip() -> bool {
        if Self::find_binary().is_some() {
            return true;
        }
        let skip =
            std::env::var_os("SOCWALL_SKIP_BROWSER").is_some_and(|v| !v.is_empty() && v != "0");
        assert!(
            skip,
            "the browser tests need Chromium: apt-get install -y chromium (or set SOCWALL_CHROMIUM=/path, or SOCWALL_SKIP_BROWSER=1 to skip them)"
        );
        eprintln!("skipping: no chromium and SOCWALL_SKIP_BROWSER=1");
        false
    }

    /// Launch headless Chromium with a `width`×`height` window and attach to its page.
    pub async fn launch(width: u32, height: u32) -> Result<Browser> {
        let bin = Self::find_binary()
            .ok_or_else(|| anyhow!("no chromium: set SOCWALL_CHROMIUM or put chromium on PATH"))?;
        let profile = tempfile::Builder::new().prefix("socwall-cdp-").tempdir()?;
        let child = Command::new(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--mute-audio",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        // From here on a failure must still kill the child: build a guard first.
        let mut guard = ChildGuard(Some(child));
        let port = read_devtools_port(profile.path(), guard.0.as_mut().expect("child")).await?;
        let ws_url = page_ws_url(port).await?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(256 << 20))
            .max_frame_size(Some(256 << 20));
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(ws_url.as_str(), Some(config), true)
                .await
                .context("connecting to the DevTools WebSocket")?;
        let (sink, mut stream) = ws.split();

        let pending: Pending = Arc::default();
        let js_errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let log_entries: Arc<Mutex<Vec<String>>> = Arc::default();
        let (loads_tx, loads) = watch::channel(0u64);
        let reader = {
            let pending = pending.clone();
            let js_errors = js_errors.clone();
            let log_entries = log_entries.clone();
            tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    let Message::Text(text) = msg else { continue };
                    let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    if let Some(id) = v.get("id").and_then(Value::as_u64) {
                        if let Some(tx) = pending.lock().expect("pending").remove(&id) {
                            let _ = tx.send(v);
                        }
                        continue;
                    }
                    on_event(&v, &js_errors, &log_entries, &loads_tx);
                }
            })
        };

        let child = guard.0.take().expect("child");
        let browser = Browser {
            child,
            profile,
            sink: tokio::sync::Mutex::new(sink),
            pending,
            next_id: AtomicU64::new(1),
            js_errors,
            log_entries,
            loads,
            reader,
        };
        browser.call("Page.enable", json!({})).await?;
        browser.call("Runtime.enable", json!({})).await?;
        browser.call("Log.enable", json!({})).await?;
        browser.set_viewport(width, height, 1.0).await?;
        Ok(browser)
    }

    /// Send one CDP command and wait for its response; a protocol error becomes `Err`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending").insert(id, tx);
        let cmd = json!({ "id": id, "method": method, "params": params }).to_string();
        self.sink
            .lock()
            .await
            .send(Message::text(cmd))
            .await
            .with_context(|| format!("sending {method}"))?;
        let resp = match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(v)) => v,
            Ok(Err(_)) => bail!("{method}: DevTools connection closed"),
            Err(_) => {
                self.pending.lock().expect("pending").remove(&id);
                bail!("{method}: no response in {COMMAND_TIMEOUT:?}")
            }
        };
        if let Some(err) = resp.get("error") {
            bail!("{method}: {err}");
        }
        Ok(resp.get("result").cloned().unwrap_or(Value::Null))
    }

    /// Navigate and wait for the page's load event (30 s at most).
    pub async fn navigate(&self, url: &str) -> Result<()> {
        let mut loads = self.loads.clone();
        let before = *loads.borrow_and_update();
        let res = self.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(err) = res.get("errorText").and_then(Value::as_str) {
            bail!("navigating to {url}: {err}");
        }
        tokio::time::timeout(COMMAND_TIMEOUT, async {
            while *loads.borrow_and_update() == before {
                if loads.changed().await.is_err() {
                    bail!("DevTools connection closed while loading {url}");
                }
            }
            Ok(())
        })
        .await
        .map_err(|_| anyhow!("{url}: no load event in {COMMAND_TIMEOUT:?}"))?
    }

    /// Evaluate `js` in the page (promises awaited) and return its value by value.
    /// `undefined` comes back as `Value::Null`; a thrown exception becomes `Err`.
    pub async fn eval(&self, js: &str) -> Result<Value> {
        let res = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": js, "returnByValue": true, "awaitPromise": true }),
            )
            .await?;
        if let Some(ex) = res.get("exceptionDetails") {
            let text = ex
                .pointer("/exception/description")
                .and_then(Value::as_str)
                .or_else(|| ex.get("text").and_then(Value::as_str))
                .unwrap_or("exception");
            bail!("eval `{js}` threw: {text}");
        }
        Ok(res.pointer("/result/value").cloned().unwrap_or(Value::Null))
    }

    /// Poll `js` every 50 ms until it yields a truthy value, and return that value.
    pub async fn wait_for(&self, js: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let last_err = match self.eval(js).await {
                Ok(v) if truthy(&v) => return Ok(v),
                Ok(_) => None,
                Err(e) => Some(e),
            };
            if Instant::now() >= deadline {
                let why = last_err
                    .map(|e| format!(" (last error: {e:#})"))
                    .unwrap_or_default();
                bail!("timed out after {timeout:?} waiting for `{js}`{why}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Emulate a `width`×`height` CSS-pixel viewport at `device_scale_factor` (2.0 on a 1920 viewport = 4K).
    pub async fn set_viewport(
        &self,
        width: u32,
        height: u32,
        device_scale_factor: f64,
    ) -> Result<()> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": device_scale_factor, "mobile": false }),
        )
        .await?;
        Ok(())
    }

    /// Capture the viewport as PNG into `path`.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Result<()> {
        let res = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await?;
        let data = res
            .get("data")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("captureScreenshot returned no data"))?;
        let png = base64_decode(data)?;
        std::fs::write(path.as_ref(), png)
            .with_context(|| format!("writing {}", path.as_ref().display()))?;
        Ok(())
    }

    /// Used JS heap in bytes after a full garbage collection (`HeapProfiler.collectGarbage`, then
    /// `Runtime.getHeapUsage`): what the page really holds on to.
    pub async fn heap_used(&self) -> Result<u64> {
        self.call("HeapProfiler.collectGarbage", json!({})).await?;
        let r = self.call("Runtime.getHeapUsage", json!({})).await?;
        r.get("usedSize")
            .and_then(Value::as_f64)
            .map(|v| v as u64)
            .ok_or_else(|| anyhow!("getHeapUsage returned no usedSize"))
    }

    /// `console.error` calls and uncaught exceptions seen so far ("no JS errors" = empty).
    pub fn js_errors(&self) -> Vec<String> {
        self.js_errors.lock().expect("js_errors").clone()
    }

    /// Browser log entries at level error/warning (failed loads, refused WebSockets, CSP violations).
    pub fn log_entries(&self) -> Vec<String> {
        self.log_entries.lock().expect("log_entries").clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.reader.abort();
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `profile` (TempDir) is removed after this, once the process is gone.
        let _ = self.profile.path();
    }
}

/// Kills the browser if launch fails half-way.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn on_event(
    v: &Value,
    js_errors: &Mutex<Vec<String>>,
    log_entries: &Mutex<Vec<String>>,
    loads: &watch::Sender<u64>,
) {
    let params = v.get("params").unwrap_or(&Value::Null);
    match v.get("method").and_then(Value::as_str) {
        Some("Page.loadEventFired") => loads.send_modify(|n| *n += 1),
        Some("Runtime.consoleAPICalled") => {
            let kind = params.get("type").and_then(Value::as_str).unwrap_or("");
            if kind == "error" || kind == "assert" {
                let args: Vec<String> = params
                    .get("args")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(remote_object_text).collect())
                    .unwrap_or_default();
                js_errors
                    .lock()
                    .expect("js_errors")
                    .push(format!("console.{kind}: {}", args.join(" ")));
            }
        }
        Some("Runtime.exceptionThrown") => {
            let d = params.get("exceptionDetails").unwrap_or(&Value::Null);
            let text = d
                .pointer("/exception/description")
                .and_then(Value::as_str)
                .or_else(|| d.get("text").and_then(Value::as_str))
                .unwrap_or("exception");
            js_errors
                .lock()
                .expect("js_errors")
                .push(format!("exception: {text}"));
        }
        Some("Log.entryAdded") => {
            let e = params.get("entry").unwrap_or(&Value::Null);
            let level = e.get("level").and_then(Value::as_str).unwrap_or("");
            if level == "error" || level == "warning" {
                let text = e.get("text").and_then(Value::as_str).unwrap_or("");
                let url = e.get("url").and_then(Value::as_str).unwrap_or("");
                log_entries
                    .lock()
                    .expect("log_entries")
                    .push(format!("{level}: {text} {url}"));
            }
        }
        _ => {}
    }
}

fn remote_object_text(o: &Value) -> String {
    match o.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => o
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string(),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Wait (20 s at most) for Chromium to write its DevTools port into the profile directory.
async fn read_devtools_port(profile: &Path, child: &mut Child) -> Result<u16> {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(&file) {
            if let Some(port) = text
                .lines()
                .next()
                .and_then(|l| l.trim().parse::<u16>().ok())
            {
                return Ok(port);
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!("chromium exited before opening DevTools: {status}");
        }
        if Instant::now() >= deadline {
            bail!("chromium wrote no {} within 20 s", file.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Find the page target's WebSocket URL (`GET /json/list`, else `PUT /json/new?about:blank`).
async fn page_ws_url(port: u16) -> Result<String> {
    let list = http_json(port, "GET", "/json/list").await?;
    if let Some(url) = list.as_array().and_then(|targets| {
        targets
            .iter()
            .find(|t| t.get("type").and_then(Value::as_str) == Some("page"))
            .and_then(|t| t.get("webSocketDebuggerUrl").and_then(Value::as_str))
    }) {
        return Ok(url.to_string());
    }
    let target = http_json(port, "PUT", "/json/new?about:blank").await?;
    target
        .get("webSocketDebuggerUrl")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("DevTools gave no page target"))
}

/// A hand-written HTTP/1.1 request to the DevTools endpoint; the body is parsed as JSON.
async fn http_json(port: u16, method: &str, path: &str) -> Result<Value> {
    let fut = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await?;
        // DevTools may keep the connection open: stop at Content-Length instead of EOF.
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if len.is_some_and(|len| buf.len() >= end + 4 + len) {
                    break;
                }
            }
        }
        anyhow::Ok(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| anyhow!("DevTools HTTP {method} {path} timed out"))??;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed DevTools HTTP response"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!(
            "DevTools HTTP {method} {path}: {}",
            head.lines().next().unwrap_or("")
        );
    }
    serde_json::from_str(body).context("DevTools HTTP body is not JSON")
}

/// Standard base64 (RFC 4648, with or without padding) → bytes. Whitespace is ignored.
pub fn base64_decode(s: &str) -> Result<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in s.as_bytes() {
        if c == b'=' {
            break;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = val(c).ok_or_else(|| anyhow!("invalid base64 byte {c:#04x}"))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}
