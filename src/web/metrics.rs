//! `GET /metrics`: Prometheus text exposition, rendered on request from the newest snapshot and
//! the hub's counters (a scrape every few seconds costs one JSON parse).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use serde_json::Value;

use super::WebState;

pub fn render(st: &WebState) -> String {
    let frame = st.frames.borrow().clone();
    let snap: Value = serde_json::from_str(&frame.snapshot).unwrap_or(Value::Null);
    let mut out = String::with_capacity(4096);
    let sources = snap
        .get("sources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();

    let per_source: &[(&str, &str, &str, &str)] = &[
        (
            "socwall_lines_total",
            "counter",
            "lines",
            "Complete lines read, per source.",
        ),
        (
            "socwall_events_total",
            "counter",
            "events",
            "Traffic events parsed, per source.",
        ),
        (
            "socwall_skipped_lines_total",
            "counter",
            "skipped",
            "Lines that are not traffic events (headers, other programs), per source.",
        ),
        (
            "socwall_parse_errors_total",
            "counter",
            "parse_errors",
            "Lines that could not be parsed, per source.",
        ),
        (
            "socwall_overlong_lines_total",
            "counter",
            "overlong",
            "Lines over max_line_bytes, skipped, per source.",
        ),
        (
            "socwall_tail_lag_bytes",
            "gauge",
            "lag_bytes",
            "Bytes written to the source's files but not read yet.",
        ),
        (
            "socwall_files_open",
            "gauge",
            "files",
            "Files currently open for the source.",
        ),
    ];
    for (name, kind, field, help) in per_source {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for s in &sources {
            let label = s.get("name").and_then(Value::as_str).unwrap_or("");
            let v = s.get(*field).and_then(Value::as_f64).unwrap_or(0.0);
            let _ = writeln!(out, "{name}{{source=\"{}\"}} {v}", escape(label));
        }
    }
    let _ = writeln!(
        out,
        "# HELP socwall_source_up 1 when the source is ok, 0 when quiet, silent or waiting.\n# TYPE socwall_source_up gauge"
    );
    for s in &sources {
        let label = s.get("name").and_then(Value::as_str).unwrap_or("");
        let up = u8::from(s.get("state").and_then(Value::as_str) == Some("ok"));
        let _ = writeln!(
            out,
            "socwall_source_up{{source=\"{}\"}} {up}",
            escape(label)
        );
    }
    let _ = writeln!(
        out,
        "# HELP socwall_netflow_packet_errors_total Undecodable NetFlow/IPFIX packets, per exporter (:: = beyond the first 1024 exporters).\n# TYPE socwall_netflow_packet_errors_total counter"
    );
    for (exporter, n) in st.listen.exporter_errors() {
        let _ = writeln!(
            out,
            "socwall_netflow_packet_errors_total{{exporter=\"{exporter}\"}} {n}"
        );
    }
    let stats = &st.stats;
    let gauges: &[(&str, &str, &str, f64)] = &[
        (
            "socwall_clients",
            "gauge",
            "WebSocket clients connected.",
            stats.clients.load(Ordering::Relaxed) as f64,
        ),
        (
            "socwall_clients_total",
            "counter",
            "WebSocket clients accepted since start.",
            stats.clients_total.load(Ordering::Relaxed) as f64,
        ),
        (
            "socwall_clients_dropped_total",
            "counter",
            "Clients dropped for not reading or not answering pings.",
            stats.clients_dropped.load(Ordering::Relaxed) as f64,
        ),
        (
            "socwall_snapshots_resent_total",
            "counter",
            "Full snapshots sent to clients that fell behind.",
            stats.snapshots_resent.load(Ordering::Relaxed) as f64,
        ),
        (
            "socwall_publish_duration_seconds",
            "gauge",
            "Time to serialise the last published tick.",
            stats.last_publish_ns.load(Ordering::Relaxed) as f64 / 1e9,
        ),
        (
            "socwall_publish_duration_seconds_total",
            "counter",
            "Time spent serialising ticks since start.",
            stats.publish_ns_total.load(Ordering::Relaxed) as f64 / 1e9,
        ),
        (
            "socwall_published_ticks_total",
            "counter",
            "Ticks published by the hub.",
            stats.frames.load(Ordering::Relaxed) as f64,
        ),
        (
            "socwall_unauthorised_total",
            "counter",
            "Requests and WebSockets refused for want of a valid viewer token or cookie.",
            st.counters.unauthorised.load(Ordering::Relaxed) as f64,
        ),
        (
            "socwall_clients_evicted_slow_total",
            "counter",
            "Clients dropped because their oldest unsent message got older than max_update_age.",
            st.counters.evicted_slow.load(Ordering::Relaxed) as f64,
        ),
        (
            "socwall_uptime_seconds",
            "gauge",
            "Seconds since the daemon started.",
            st.started.elapsed().as_secs_f64(),
        ),
    ];
    for (name, kind, help, v) in gauges {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP socwall_clients_refused_total WebSocket upgrades refused, by reason.\n# TYPE socwall_clients_refused_total counter"
    );
    for (reason, n) in [
        ("origin", &st.counters.refused_origin),
        ("max_clients", &st.counters.refused_full),
        ("per_address", &st.counters.refused_per_address),
    ] {
        let _ = writeln!(
            out,
            "socwall_clients_refused_total{{reason=\"{reason}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
    out
}

/// Label values: backslash, double quote and newline must be escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
