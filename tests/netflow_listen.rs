//! The NetFlow collector end to end: real UDP export packets on 127.0.0.1 — a NetFlow v5 packet
//! built here byte by byte, and a truncated one — reach the counters exactly, and the bad packet
//! is counted against its exporter.

#[path = "support/http.rs"]
mod http;

use std::time::Duration;

use socwall::config::Settings;

/// A NetFlow v5 export packet with one record per `(src, dst, dport, bytes)`.
fn v5(records: &[([u8; 4], [u8; 4], u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&5u16.to_be_bytes()); // version
    p.extend_from_slice(&(records.len() as u16).to_be_bytes()); // count
    p.extend_from_slice(&60_000u32.to_be_bytes()); // sysuptime ms
    p.extend_from_slice(&1_764_000_000u32.to_be_bytes()); // unix secs
    p.extend_from_slice(&0u32.to_be_bytes()); // unix nsecs
    p.extend_from_slice(&1u32.to_be_bytes()); // flow sequence
    p.extend_from_slice(&[0, 0, 0, 0]); // engine type/id, sampling
    for &(src, dst, dport, bytes) in records {
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&[0, 0, 0, 0]); // nexthop
        p.extend_from_slice(&1u16.to_be_bytes()); // input
        p.extend_from_slice(&2u16.to_be_bytes()); // output
        p.extend_from_slice(&3u32.to_be_bytes()); // packets
        p.extend_from_slice(&bytes.to_be_bytes()); // octets
        p.extend_from_slice(&50_000u32.to_be_bytes()); // first
        p.extend_from_slice(&59_000u32.to_be_bytes()); // last
        p.extend_from_slice(&51_000u16.to_be_bytes()); // src port
        p.extend_from_slice(&dport.to_be_bytes()); // dst port
        p.extend_from_slice(&[0, 0x02, 6, 0]); // pad, tcp flags, proto tcp, tos
        p.extend_from_slice(&[0, 0, 0, 0, 24, 24, 0, 0]); // src/dst as, masks, pad
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netflow_v5_packets_reach_the_counters() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = format!(
        "[server]\nupdate_interval = \"50ms\"\n[[source]]\nname = \"core-router\"\nkind = \"netflow\"\nlisten = \"udp://127.0.0.1:{port}\"\n"
    );
    let settings = Settings::from_toml(&cfg, "t.toml", Vec::new()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(socwall::run(listener, settings, async move {
        let _ = rx.await;
    }));
    http::wait_json(addr, "/healthz", |_| true).await;

    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let good = v5(&[
        ([10, 0, 0, 1], [192, 0, 2, 10], 443, 1500),
        ([10, 0, 0, 2], [192, 0, 2, 10], 443, 500),
        ([10, 0, 0, 1], [198, 51, 100, 7], 22, 100),
    ]);
    sock.send_to(&good, ("127.0.0.1", port)).await.unwrap();
    // A header that promises 3 records followed by 1 and a half: decoded nothing, counted.
    sock.send_to(&good[..24 + 48 + 20], ("127.0.0.1", port))
        .await
        .unwrap();

    let s = http::wait_json(addr, "/api/v1/snapshot", |s| {
        s["totals"]["events"] == 3 && s["totals"]["parse_errors"] == 1
    })
    .await;
    assert_eq!(s["totals"]["bytes"], 2100);
    assert_eq!(s["totals"]["packets"], 9);
    let src = &s["sources"][0];
    assert_eq!(
        (src["name"].as_str(), src["format"].as_str()),
        (Some("core-router"), Some("netflow"))
    );
    assert_eq!(
        (src["lines"].as_u64(), src["events"].as_u64()),
        (Some(2), Some(3))
    );
    assert!(
        src["last_error"]["line"]
            .as_str()
            .unwrap()
            .starts_with("from 127.0.0.1: "),
        "{src}"
    );
    let top = &s["topn"]["1m"]["dport"][0];
    assert_eq!(
        (top["key"].as_str(), top["count"].as_u64()),
        (Some("tcp/443"), Some(2))
    );
    let m = http::get(addr, "/metrics").await;
    assert!(
        m.body
            .contains("socwall_netflow_packet_errors_total{exporter=\"127.0.0.1\"} 1"),
        "{}",
        m.body
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
