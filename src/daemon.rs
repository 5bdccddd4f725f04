//! Wires the pipeline together: tailer thread → parse task → aggregator task → hub task → web.
//!
//! Every hop is a bounded channel carrying batches. Back-pressure flows upstream: if the
//! aggregator falls behind, the parse task blocks, then the tailer stops reading, and the unread
//! bytes simply wait in the log files (reported as tail lag) — nothing is dropped and nothing
//! grows without bound.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::aggregate::{
    AggregateSettings, Aggregator, EventBatch, SourceSettings as AggSource, Step,
};
use crate::config::{Input, Settings};
use crate::dashboard::Dashboards;
use crate::detect::{Context, DetectSettings};
use crate::hub::{self, Frame, HubStats, Published};
use crate::listen::{ListenStats, netflow, syslog};
use crate::parse::stage;
use crate::shutdown;
use crate::state::run::Persistence;
use crate::tail::{LineBatch, SourceSpec, TailCheckpoint, TailOptions, TailStats, Tailer};
use crate::time::{format_rfc3339_millis, now_micros};
use crate::web::{self, AnomaliesRequest, SeriesRequest, WebState};

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Config(Vec<crate::config::ConfigError>),
    #[error("cannot start the file tailer: {0}")]
    Tail(std::io::Error),
    #[error("{0}")]
    Listen(crate::listen::syslog::ListenError),
    /// A non-loopback listener without `[auth]`: nothing is served.
    #[error("{}", crate::config::unprotected_message(*.0))]
    Unprotected(std::net::SocketAddr),
    #[error("TLS: {0}")]
    Tls(#[from] web::tls::TlsError),
}

/// Batches in flight between stages. Small: each batch holds up to ~64 KiB of lines.
const LINE_BATCHES: usize = 16;
const EVENT_BATCHES: usize = 16;
/// How often the config file and the watchlist files are checked for changes (hot reload).
pub const RELOAD_POLL: Duration = Duration::from_secs(1);

/// Runs the daemon on an already-bound listener until `shutdown` resolves (mini-redis style:
/// tests bind 127.0.0.1:0 and pass a oneshot).
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let started = Instant::now();
    // Checked on the socket actually bound, whatever the settings say: only loopback goes without
    // viewer tokens.
    if settings.auth.is_none()
        && let Ok(addr) = listener.local_addr()
        && !addr.ip().to_canonical().is_loopback()
    {
        return Err(RunError::Unprotected(addr));
    }
    let tls = settings
        .server
        .tls
        .as_ref()
        .map(web::tls::Tls::load)
        .transpose()?;
    // Tolerant: a broken file in the dashboards directory is logged and skipped (`socwall check`
    // reports it strictly); only a missing default dashboard stops the start.
    let dashboards = Dashboards::load_tolerant(
        settings.dashboards.dir.as_deref(),
        &settings.dashboards.default,
        None,
    );
    if !dashboards
        .by_name
        .contains_key(&settings.dashboards.default)
    {
        return Err(RunError::Config(dashboards.errors));
    }
    for e in &dashboards.errors {
        tracing::warn!("dashboard not loaded: {e}");
    }
    let (trigger, stop) = shutdown::channel();
    let trigger = Arc::new(trigger);
    {
        let trigger = trigger.clone();
        tokio::spawn(async move {
            shutdown.await;
            trigger.fire();
        });
    }

    // tail / syslog receivers → parse
    let (lines_tx, lines_rx) = mpsc::channel::<LineBatch>(LINE_BATCHES);
    let listen_stats = ListenStats::new(settings.sources.len());
    let mut listeners = Vec::new();
    for (i, s) in settings.sources.iter().enumerate() {
        if let Input::Syslog { listen } = &s.input {
            // Bind every receiver before anything runs: a taken port is a start-up error.
            let bound = syslog::bind(i as u16, listen, s.max_line_bytes)
                .await
                .map_err(RunError::Listen)?;
            tracing::info!(source = %s.name, endpoints = ?bound.local_endpoints(), "syslog receiver listening");
            listeners.extend(bound.spawn(lines_tx.clone(), listen_stats.clone(), stop.clone()));
        }
    }
    let specs: Vec<SourceSpec> = settings
        .sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.input {
            Input::File { path } => Some(SourceSpec {
                id: i as u16,
                name: s.name.clone(),
                // notify reports absolute paths; a relative glob would only be seen by the rescan.
                pattern: std::path::absolute(path)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| path.clone()),
                start_at: s.start_at,
                max_line_bytes: s.max_line_bytes,
            }),
            Input::Syslog { .. } | Input::Netflow { .. } => None,
        })
        .collect();
    let tail_options = TailOptions {
        rescan_interval: settings.tail.rescan_interval,
        max_open_files: settings.tail.max_open_files,
        ..TailOptions::default()
    };
    // State from the last run: file positions and the counts that go with them (src/state).
    let (persistence, restored) = Persistence::open(&settings.state, &specs);
    let tailer =
        Tailer::resume(specs, tail_options, lines_tx, restored.tail).map_err(RunError::Tail)?;
    let tail_stats = tailer.stats();
    if persistence.is_some() {
        // Each request makes the tailer send a checkpoint marker down the pipeline; the
        // aggregator saves the state when the marker reaches it (see state::run).
        let trigger = tailer.checkpoint_trigger();
        let mut stop = stop.clone();
        let every = settings.state.snapshot_interval;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => trigger.request(),
                    _ = stop.wait() => break,
                }
            }
        });
    }
    let (final_checkpoint_tx, final_checkpoint_rx) = tokio::sync::oneshot::channel();

    // parse → aggregate
    let (events_tx, events_rx) = mpsc::channel::<EventBatch>(EVENT_BATCHES);
    // Each source's parser starts with its configured state (a VPC flow log's field list).
    let formats = settings
        .sources
        .iter()
        .map(|s| {
            let mut state = crate::parse::State::default();
            if let Some(fields) = &s.vpcflow_fields {
                // Validated when the config was loaded.
                state.vpcflow =
                    crate::parse::vpcflow::State::from_fields(fields).unwrap_or_default();
            }
            (s.format, state)
        })
        .collect();
    // Parsers take their word lists by `&'static` so their context stays `Copy`; one small leak
    // per daemon start.
    let verdicts: &'static _ = Box::leak(Box::new(settings.iptables_verdicts.clone()));
    // NetFlow collectors decode packets straight into event batches: no lines to parse.
    for (i, s) in settings.sources.iter().enumerate() {
        if let Input::Netflow { listen } = &s.input {
            let bound = netflow::bind(i as u16, listen)
                .await
                .map_err(RunError::Listen)?;
            tracing::info!(source = %s.name, endpoints = ?bound.local_endpoints(), "netflow collector listening");
            listeners.extend(bound.spawn(events_tx.clone(), listen_stats.clone(), stop.clone()));
        }
    }
    let parse_task = tokio::spawn(stage::run(lines_rx, events_tx, formats, verdicts));

    // aggregate → hub → web
    for w in &settings.site.warnings {
        tracing::warn!("{w}");
    }
    let sources = settings
        .sources
        .iter()
        .map(|s| AggSource {
            name: s.name.clone(),
            quiet_after: s.quiet_after,
            silent_after: s.silent_after,
        })
        .collect();
    let agg_settings = aggregate_settings(&settings, sources);
    let (publish_tx, publish_rx) = mpsc::channel(2);
    let (frames_tx, frames_rx) = watch::channel(Arc::new(Frame::default()));
    let (series_tx, series_rx) = mpsc::channel::<SeriesRequest>(16);
    let (anomalies_tx, anomalies_rx) = mpsc::channel::<AnomaliesRequest>(16);
    let (context_tx, context_rx) = mpsc::channel::<(Context, DetectSettings)>(2);
    let stats = Arc::new(HubStats::default());
    let reload_task = settings.file.clone().map(|path| {
        tokio::spawn(reload_loop(
            path,
            settings.site.watched_files(),
            context_tx,
            stats.clone(),
            stop.clone(),
        ))
    });
    let n_sources = settings.sources.len();
    let mut aggregator = Aggregator::new(agg_settings, now_micros());
    if let Some(a) = restored.aggregate {
        aggregator.restore(a);
    }
    if let Some(d) = restored.detect {
        let r = aggregator.restore_detect(d);
        tracing::info!(
            anomalies = r.anomalies,
            first_seen_hosts = r.hosts,
            first_seen_services = r.services,
            "restored detector state"
        );
    }
    let agg_task = tokio::spawn(aggregate_loop(
        aggregator,
        events_rx,
        series_rx,
        anomalies_rx,
        context_rx,
        publish_tx,
        tail_stats,
        listen_stats.clone(),
        n_sources,
        settings.server.update_interval,
        stop.clone(),
        persistence,
        final_checkpoint_rx,
    ));
    let hub_task = tokio::spawn(hub::run(publish_rx, frames_tx, stats.clone()));

    // Wait for the first frame so that the very first client already sees a snapshot.
    let mut first = frames_rx.clone();
    let _ = tokio::time::timeout(Duration::from_secs(2), first.wait_for(|f| f.seq > 0)).await;

    let (dash_tx, dash_rx) = watch::channel(Arc::new(dashboards));
    let dash_task = tokio::spawn(watch_dashboards(
        settings.dashboards.dir.clone(),
        settings.dashboards.default.clone(),
        dash_tx,
        stop.clone(),
    ));
    let state = Arc::new(WebState {
        frames: frames_rx,
        dashboards: dash_rx,
        stats,
        server: settings.server.clone(),
        shutdown: stop.clone(),
        series: series_tx,
        anomalies: anomalies_tx,
        started,
        listen: listen_stats.clone(),
        wall: settings.wall.json(),
        auth: settings.auth.as_ref().map(web::auth::Tokens::new),
        clients_by_addr: Default::default(),
        counters: Default::default(),
    });
    tracing::info!(
        addr = ?listener.local_addr().ok(),
        sources = n_sources,
        tls = tls.is_some(),
        viewer_tokens = settings.auth.as_ref().map_or(0, |a| a.tokens.len()),
        "socwall serving"
    );
    web::serve(listener, state, tls).await;

    // Orderly stop: the tailer first (it flushes complete lines), then the stages drain in order
    // as each one's input channel closes.
    trigger.fire();
    let final_checkpoint = tokio::task::spawn_blocking(move || tailer.stop_for_resume())
        .await
        .ok()
        .flatten();
    // The aggregator saves it with its final counts once it has drained every line.
    let _ = final_checkpoint_tx.send(final_checkpoint);
    for l in listeners {
        let _ = l.await;
    }
    let _ = parse_task.await;
    if let Some(t) = reload_task {
        let _ = t.await;
    }
    let _ = agg_task.await;
    let _ = hub_task.await;
    let _ = dash_task.await;
    tracing::info!("socwall stopped");
    Ok(())
}

/// How often the dashboards directory is checked for changed files.
const DASHBOARD_POLL: Duration = Duration::from_secs(1);

/// Hot reload: polls the dashboards directory (size and mtime of each `*.toml`) and re-validates
/// on a change; SIGHUP re-validates at once and orders every open wall to reload its page. A file
/// that does not validate keeps its last good version and its error is logged (file:line:key).
async fn watch_dashboards(
    dir: Option<std::path::PathBuf>,
    default: String,
    tx: watch::Sender<Arc<Dashboards>>,
    mut stop: shutdown::Shutdown,
) {
    let stamps = |d: &Option<std::path::PathBuf>| {
        d.as_deref()
            .map(crate::dashboard::stamps)
            .unwrap_or_default()
    };
    let mut last = stamps(&dir);
    let mut poll = tokio::time::interval(DASHBOARD_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        let page = tokio::select! {
            _ = poll.tick() => false,
            _ = hangup => true,
            _ = stop.wait() => break,
        };
        // File reads on the blocking pool: a slow or hung file system must not stall a runtime
        // worker.
        let prev = tx.borrow().clone();
        let job = (dir.clone(), default.clone(), last.clone(), prev.clone());
        let Ok(Some((now, mut next))) = tokio::task::spawn_blocking(move || {
            let (dir, default, last, prev) = job;
            let now = stamps(&dir);
            if now == last && !page {
                return None;
            }
            let next = Dashboards::load_tolerant(dir.as_deref(), &default, Some(&prev));
            Some((now, next))
        })
        .await
        else {
            continue;
        };
        last = now;
        if page {
            next.page_generation += 1;
            tracing::info!("SIGHUP: dashboards re-read, every wall page told to reload");
        }
        if next == *prev {
            continue;
        }
        if next.errors != prev.errors {
            for e in &next.errors {
                tracing::warn!("dashboard kept at its last good version: {e}");
            }
            if next.errors.is_empty() {
                tracing::info!("every dashboard file is valid again");
            }
        }
        let (dashboards, playlists) = prev.changes(&next);
        if !dashboards.is_empty() || !playlists.is_empty() {
            tracing::info!(?dashboards, ?playlists, "dashboards reloaded");
        }
        tx.send_replace(Arc::new(next));
    }
}

/// The aggregator's and detectors' settings from the config (shared with `socwall replay`).
pub fn aggregate_settings(settings: &Settings, sources: Vec<AggSource>) -> AggregateSettings {
    AggregateSettings {
        top_n: settings.aggregate.top_n,
        context: settings.site.context(),
        detect: settings.detect.clone(),
        internal_networks: settings.site.internal.clone(),
        learning: settings.aggregate.learning,
        sources,
    }
}

/// The aggregator's task: the only owner of the aggregate state.
#[allow(clippy::too_many_arguments)]
async fn aggregate_loop(
    mut agg: Aggregator,
    mut events: mpsc::Receiver<EventBatch>,
    mut series: mpsc::Receiver<SeriesRequest>,
    mut anomalies: mpsc::Receiver<AnomaliesRequest>,
    mut contexts: mpsc::Receiver<(Context, DetectSettings)>,
    publish: mpsc::Sender<
        Published<
            crate::aggregate::Snapshot,
            crate::aggregate::Update,
            crate::aggregate::Heartbeat,
        >,
    >,
    tail: Arc<TailStats>,
    listen: Arc<ListenStats>,
    n_sources: usize,
    tick: Duration,
    stop: shutdown::Shutdown,
    mut persistence: Option<Persistence>,
    final_checkpoint: tokio::sync::oneshot::Receiver<Option<TailCheckpoint>>,
) {
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut seq = 0u64;
    let mut last_snapshot = Instant::now() - Duration::from_secs(10);
    let mut inputs_open = true;
    let mut snapshot_owed = false;
    let mut contexts_open = true;
    loop {
        tokio::select! {
            // Biased towards draining input: publishing stale state while batches wait helps nobody,
            // and the tick still fires between batches.
            biased;
            batch = events.recv(), if inputs_open => match batch {
                Some(mut b) => {
                    if let Some(cp) = b.checkpoint.take() {
                        // Everything before the marker is counted, nothing after it: save.
                        if let Some(p) = &persistence {
                            p.checkpoint(&cp, &agg);
                        }
                        if b.lines == 0 && b.records.is_empty() {
                            continue;
                        }
                    }
                    tracing::trace!(source = b.source, records = b.records.len(), "ingest");
                    agg.ingest(&b, now_micros())
                }
                None => inputs_open = false,
            },
            _ = ticker.tick() => {
                let now = now_micros();
                for id in 0..n_sources {
                    // Files open (tailed sources) or connections open (receivers): the other
                    // kind reports zero for an id that is not its own.
                    let t = tail.source(id as u16);
                    agg.set_tail_info(id as u16, t.files_open + listen.connections(id as u16), t.lag_bytes);
                    agg.set_io_error(id as u16, tail.issue(id as u16).map(io_error_out));
                }
                if let Some(h) = persistence.as_mut().and_then(Persistence::health_changed) {
                    agg.set_state_health(Some(h));
                }
                seq += 1;
                // Detectors evaluate every second even when nothing arrives (silence, decay).
                agg.detect_tick(now);
                let dirty = agg.dirty(now);
                tracing::trace!(seq, dirty, "tick");
                // The full state at most once a second (it merges an hour of top-N slots), but
                // never left behind: a change that arrived inside the second is owed a snapshot.
                snapshot_owed |= dirty;
                let snapshot = if seq == 1 || (snapshot_owed && last_snapshot.elapsed() >= Duration::from_secs(1)) {
                    snapshot_owed = false;
                    last_snapshot = Instant::now();
                    Some(agg.snapshot(now))
                } else {
                    None
                };
                // An update follows every snapshot too: it carries the top-N the snapshot just
                // recomputed to the connected walls, which only ever receive updates.
                let update = (dirty || snapshot.is_some()).then(|| agg.update(now));
                let p = Published {
                    seq,
                    snapshot,
                    update,
                    heartbeat: agg.heartbeat(now),
                    anomalies: agg.take_anomaly_changes(),
                };
                if publish.send(p).await.is_err() {
                    break;
                }
                if !inputs_open && stop.is_triggered() {
                    break;
                }
            }
            req = series.recv() => if let Some(req) = req {
                let step = if req.per_minute { Step::Minute } else { Step::Second };
                let s = agg.series(step, req.points, now_micros());
                let json: Arc<str> = serde_json::to_string(&s).unwrap_or_default().into();
                let _ = req.reply.send(json);
            },
            req = anomalies.recv() => if let Some(req) = req {
                let now = now_micros();
                let list = agg.anomalies(now, req.limit);
                let body = serde_json::json!({
                    "server_time": crate::time::format_rfc3339_millis(now).to_string(),
                    "open": agg.open_anomalies(),
                    "anomalies": list,
                });
                let _ = req.reply.send(body.to_string().into());
            },
            // Guarded: without a config file there is no reload task and the channel is closed.
            ctx = contexts.recv(), if contexts_open => match ctx {
                Some((ctx, detect)) => {
                    if agg.set_site(ctx, detect) {
                        tracing::info!("detector settings changed: detectors rebuilt, learned state carried over");
                    }
                }
                None => contexts_open = false,
            },
        }
    }
    // Every line the tailer sent before stopping is counted now: save its final positions
    // with these counts.
    if let Some(p) = persistence {
        let cp = final_checkpoint.await.ok().flatten();
        let save = p.finish(cp, &agg);
        let _ = tokio::task::spawn_blocking(move || save.run()).await;
    }
}

/// `(modified, length)` of a file, `None` when it cannot be read.
fn file_sig(p: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Hot reload: polls the config file and the watchlist files every [`RELOAD_POLL`]; on a change
/// re-reads and validates the whole file (off the aggregator's task) and sends the new networks,
/// zones, resolvers, watchlists and `[detect]` settings to the aggregator. A bad reload keeps the last good context and
/// logs the error with `file:line`. Other settings need a restart.
async fn reload_loop(
    path: PathBuf,
    watchlists: Vec<PathBuf>,
    tx: mpsc::Sender<(Context, DetectSettings)>,
    stats: Arc<HubStats>,
    mut stop: shutdown::Shutdown,
) {
    let sigs = |files: &[PathBuf]| files.iter().map(|f| file_sig(f)).collect::<Vec<_>>();
    let mut files: Vec<PathBuf> = std::iter::once(path.clone()).chain(watchlists).collect();
    let mut last = sigs(&files);
    let mut ticker = tokio::time::interval(RELOAD_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait() => break,
        }
        let seen = sigs(&files);
        if seen == last {
            continue;
        }
        // Signatures taken before reading: a write during the load is seen at the next poll.
        last = seen;
        let p = path.clone();
        let loaded = match tokio::task::spawn_blocking(move || Settings::load(&p)).await {
            Ok(r) => r,
            Err(_) => break,
        };
        match loaded {
            Ok(s) => {
                for w in &s.site.warnings {
                    tracing::warn!("{w}");
                }
                let new_files: Vec<PathBuf> = std::iter::once(path.clone())
                    .chain(s.site.watched_files())
                    .collect();
                if new_files != files {
                    last = sigs(&new_files);
                    files = new_files;
                }
                tracing::info!(
                    file = %path.display(),
                    internal = s.site.internal.len(),
                    zones = s.site.zones.len(),
                    approved_resolvers = s.site.approved_resolvers.len(),
                    watchlists = s.site.watchlists.len(),
                    "reloaded networks, zones, resolvers, watchlists and [detect] (other settings need a restart)"
                );
                if tx.send((s.site.context(), s.detect.clone())).await.is_err() {
                    break;
                }
                stats.config_reloads.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(
                    "config reload failed, keeping the last good networks, zones, resolvers, watchlists and [detect]: {e}"
                );
                stats.config_reload_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A tailer problem as feed health shows it.
fn io_error_out(i: crate::tail::TailIssue) -> crate::aggregate::IoErrorOut {
    let since = i
        .since
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    crate::aggregate::IoErrorOut {
        since: format_rfc3339_millis(since).to_string(),
        op: i.op,
        path: i.path.display().to_string(),
        error: i.error,
    }
}
