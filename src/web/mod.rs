//! HTTP side (warp): the embedded wall page, `/api/v1/*`, `/healthz`, `/metrics` and the `/ws`
//! fan-out. Each WebSocket client is its own task reading the hub's newest frame, so a slow or
//! hostile browser can only hurt itself. Our own accept loop (`server.rs`) adds TLS and the
//! viewer-token gate (`auth.rs`) in front of the warp routes; nothing here changes state.

pub mod assets;
pub mod auth;
mod metrics;
mod server;
pub mod tls;
mod ws;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::config::ServerSettings;
use crate::dashboard::Dashboards;
use crate::hub::{Frame, HubStats};
use crate::shutdown::Shutdown;

/// A request for a longer series than the snapshot carries, answered by the aggregator task.
#[derive(Debug)]
pub struct SeriesRequest {
    /// true: per-minute buckets (7 days kept); false: per-second (1 hour kept).
    pub per_minute: bool,
    pub points: usize,
    pub reply: oneshot::Sender<Arc<str>>,
}

/// `GET /api/v1/anomalies`: the current anomalies as JSON, answered by the aggregator task.
#[derive(Debug)]
pub struct AnomaliesRequest {
    /// At most this many, highest severity first (1–1000).
    pub limit: usize,
    pub reply: oneshot::Sender<Arc<str>>,
}

/// Default and largest `?limit=` of `/api/v1/anomalies`.
pub const ANOMALIES_DEFAULT_LIMIT: usize = 100;
pub const ANOMALIES_MAX_LIMIT: usize = 1000;

/// Everything a request handler may look at. Shared read-only; no locks.
pub struct WebState {
    pub frames: watch::Receiver<Arc<Frame>>,
    pub dashboards: watch::Receiver<Arc<Dashboards>>,
    pub stats: Arc<HubStats>,
    pub server: ServerSettings,
    pub shutdown: Shutdown,
    pub series: mpsc::Sender<SeriesRequest>,
    pub anomalies: mpsc::Sender<AnomaliesRequest>,
    pub started: Instant,
    /// Receivers' counters (per-exporter NetFlow packet errors for `/metrics`).
    pub listen: Arc<crate::listen::ListenStats>,
    /// Viewer tokens when `[auth]` is configured.
    pub auth: Option<auth::Tokens>,
    /// WebSocket clients per IP address (`max_clients_per_address`).
    pub clients_by_addr: ws::ClientsByAddr,
    pub counters: Counters,
    /// `[wall]` settings as `/api/v1/wall` serves them.
    pub wall: serde_json::Value,
}

/// The web side's own counters, in `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests and sockets refused for want of valid credentials.
    pub unauthorised: AtomicU64,
    pub refused_origin: AtomicU64,
    pub refused_full: AtomicU64,
    pub refused_per_address: AtomicU64,
    /// Clients dropped because their oldest unsent message got older than `max_update_age`.
    pub evicted_slow: AtomicU64,
}

/// The connection's peer address, attached to each request by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Serves until `shutdown` fires, then closes WebSockets and drains HTTP connections. With `tls`,
/// every connection is TLS and the certificate is reloaded when its files change.
pub async fn serve(listener: TcpListener, state: Arc<WebState>, tls: Option<tls::Tls>) {
    server::serve(listener, state, tls).await
}

fn with_state(
    state: Arc<WebState>,
) -> impl Filter<Extract = (Arc<WebState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Every route (the accept loop adds the security headers and the auth gate).
pub fn routes(
    state: Arc<WebState>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let get = warp::get().or(warp::head()).unify();

    let root = warp::path::end()
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(with_state(state.clone()))
        .map(|query: String, st: Arc<WebState>| {
            let default = st.dashboards.borrow().default.clone();
            let loc = if query.is_empty() {
                format!("/d/{default}")
            } else {
                format!("/d/{default}?{query}")
            };
            let mut r = Response::new("".into());
            *r.status_mut() = StatusCode::FOUND;
            if let Ok(v) = HeaderValue::from_str(&loc) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        });

    let page = warp::path!("d" / String)
        .and(with_state(state.clone()))
        .map(|name: String, st: Arc<WebState>| {
            if st.dashboards.borrow().get(&name).is_none() {
                return not_found(&format!("no dashboard named {name:?}"));
            }
            asset("index.html")
        });

    // A playlist rotates dashboards in the same page (docs/dashboards.md).
    let playlist_page = warp::path!("p" / String)
        .and(with_state(state.clone()))
        .map(|name: String, st: Arc<WebState>| {
            if !st.dashboards.borrow().playlists.contains_key(&name) {
                return not_found(&format!("no playlist named {name:?}"));
            }
            asset("index.html")
        });

    let playlists_list = warp::path!("api" / "v1" / "playlists")
        .and(with_state(state.clone()))
        .map(|st: Arc<WebState>| {
            let d = st.dashboards.borrow().clone();
            let list: Vec<_> = d.playlists.values().map(|p| p.json()).collect();
            json_response(serde_json::json!({"playlists": list}).to_string())
        });

    let playlist = warp::path!("api" / "v1" / "playlists" / String)
        .and(with_state(state.clone()))
        .map(
            |name: String, st: Arc<WebState>| match st.dashboards.borrow().playlists.get(&name) {
                Some(p) => json_response(p.json().to_string()),
                None => not_found(&format!("no playlist named {name:?}")),
            },
        );

    let wall = warp::path!("api" / "v1" / "wall")
        .and(with_state(state.clone()))
        .map(|st: Arc<WebState>| json_response(st.wall.to_string()));

    let assets = warp::path("assets")
        .and(warp::path::tail())
        .map(|tail: warp::path::Tail| asset(tail.as_str()));

    let snapshot = warp::path!("api" / "v1" / "snapshot")
        .and(with_state(state.clone()))
        .map(|st: Arc<WebState>| {
            let f = st.frames.borrow().clone();
            json_response(f.snapshot.to_string())
        });

    let dashboards_list = warp::path!("api" / "v1" / "dashboards")
        .and(with_state(state.clone()))
        .map(|st: Arc<WebState>| {
            let d = st.dashboards.borrow().clone();
            let list: Vec<_> = d
                .by_name
                .values()
                .map(|d| serde_json::json!({"name": d.name, "title": d.spec.get("title")}))
                .collect();
            let errors: Vec<String> = d.errors.iter().map(|e| e.to_string()).collect();
            json_response(
                serde_json::json!({"default": d.default, "dashboards": list, "errors": errors})
                    .to_string(),
            )
        });

    let dashboard = warp::path!("api" / "v1" / "dashboards" / String)
        .and(with_state(state.clone()))
        .map(
            |name: String, st: Arc<WebState>| match st.dashboards.borrow().get(&name) {
                Some(d) => json_response(d.spec.to_string()),
                None => not_found(&format!("no dashboard named {name:?}")),
            },
        );

    let series = warp::path!("api" / "v1" / "series")
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(with_state(state.clone()))
        .then(
            |q: std::collections::HashMap<String, String>, st: Arc<WebState>| async move {
                series(q, st).await
            },
        );

    let anomalies = warp::path!("api" / "v1" / "anomalies")
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(with_state(state.clone()))
        .then(
            |q: std::collections::HashMap<String, String>, st: Arc<WebState>| async move {
                anomalies(q, st).await
            },
        );

    let healthz = warp::path!("healthz").and(with_state(state.clone())).map(|st: Arc<WebState>| {
        let seq = st.frames.borrow().seq;
        let reloads = serde_json::json!({
            "ok": st.stats.config_reloads.load(std::sync::atomic::Ordering::Relaxed),
            "failed": st.stats.config_reload_errors.load(std::sync::atomic::Ordering::Relaxed),
        });
        json_response(
            serde_json::json!({"status": "ok", "uptime_s": st.started.elapsed().as_secs(), "seq": seq, "clients": st.stats.clients.load(std::sync::atomic::Ordering::Relaxed), "config_reloads": reloads}).to_string(),
        )
    });

    let metrics = warp::path!("metrics")
        .and(with_state(state.clone()))
        .map(|st: Arc<WebState>| {
            let mut r = Response::new(metrics::render(&st).into());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        });

    let ws = warp::path!("ws")
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("host"))
        .and(warp::ext::optional::<auth::Access>())
        .and(warp::ext::optional::<Peer>())
        .and(warp::ws())
        .and(with_state(state.clone()))
        .map(ws::upgrade);

    get.and(
        root.or(page)
            .unify()
            .or(playlist_page)
            .unify()
            .or(playlists_list)
            .unify()
            .or(playlist)
            .unify()
            .or(wall)
            .unify()
            .or(assets)
            .unify()
            .or(snapshot)
            .unify()
            .or(dashboards_list)
            .unify()
            .or(dashboard)
            .unify()
            .or(series)
            .unify()
            .or(anomalies)
            .unify()
            .or(healthz)
            .unify()
            .or(metrics)
            .unify()
            .or(ws)
            .unify(),
    )
    .recover(|rej: warp::Rejection| async move {
        let r = if rej.is_not_found() {
            not_found("not found")
        } else if rej.find::<warp::reject::MethodNotAllowed>().is_some() {
            plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: this server only answers GET",
            )
        } else {
            plain(StatusCode::BAD_REQUEST, "bad request")
        };
        Ok::<_, Infallible>(r)
    })
    .unify()
}

/// Headers on every response: the page loads nothing but its own files (no inline script, no
/// eval) and cannot be framed, except by the `frame_ancestors` the operator listed.
pub fn security_headers(server: &ServerSettings) -> HeaderMap {
    let ancestors = if server.frame_ancestors.is_empty() {
        "'none'".to_string()
    } else {
        server.frame_ancestors.join(" ")
    };
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
    );
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    // X-Frame-Options can say DENY or SAMEORIGIN only; for other framers CSP alone decides.
    match server.frame_ancestors.as_slice() {
        [] => {
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        [one] if one == "'self'" => {
            h.insert(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("SAMEORIGIN"),
            );
        }
        _ => {}
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h
}

fn asset(path: &str) -> Response {
    match assets::web(path) {
        Some(bytes) => {
            let mut r = match bytes {
                std::borrow::Cow::Borrowed(b) => Response::new(b.into()),
                std::borrow::Cow::Owned(v) => Response::new(v.into()),
            };
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(assets::content_type(path)),
            );
            r
        }
        None => not_found("no such file"),
    }
}

fn json_response(body: String) -> Response {
    let mut r = Response::new(body.into());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub(crate) fn plain(status: StatusCode, msg: &str) -> Response {
    let mut r = Response::new(format!("{msg}\n").into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn not_found(msg: &str) -> Response {
    plain(StatusCode::NOT_FOUND, msg)
}

async fn series(q: std::collections::HashMap<String, String>, st: Arc<WebState>) -> Response {
    let per_minute = match q.get("step").map(String::as_str) {
        None | Some("1s") => false,
        Some("1m") => true,
        Some(_) => return plain(StatusCode::BAD_REQUEST, "step must be 1s or 1m"),
    };
    let max = if per_minute { 7 * 24 * 60 } else { 3600 };
    let points = match q.get("points").map(|p| p.parse::<usize>()) {
        None => {
            if per_minute {
                24 * 60
            } else {
                900
            }
        }
        Some(Ok(p)) if (1..=max).contains(&p) => p,
        Some(_) => {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("points must be 1 to {max}"),
            );
        }
    };
    let (reply, rx) = oneshot::channel();
    if st
        .series
        .send(SeriesRequest {
            per_minute,
            points,
            reply,
        })
        .await
        .is_err()
    {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match tokio::time::timeout(std::time::Duration::from_secs(5), rx).await {
        Ok(Ok(json)) => json_response(json.to_string()),
        _ => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the aggregator did not answer in time",
        ),
    }
}

async fn anomalies(q: std::collections::HashMap<String, String>, st: Arc<WebState>) -> Response {
    let limit = match q.get("limit").map(|p| p.parse::<usize>()) {
        None => ANOMALIES_DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=ANOMALIES_MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("limit must be 1 to {ANOMALIES_MAX_LIMIT}"),
            );
        }
    };
    let (reply, rx) = oneshot::channel();
    if st
        .anomalies
        .send(AnomaliesRequest { limit, reply })
        .await
        .is_err()
    {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match tokio::time::timeout(std::time::Duration::from_secs(5), rx).await {
        Ok(Ok(json)) => json_response(json.to_string()),
        _ => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the aggregator did not answer in time",
        ),
    }
}
