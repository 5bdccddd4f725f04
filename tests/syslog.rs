//! Syslog receivers end to end: real UDP datagrams and TCP streams (both RFC 6587 framings) on
//! 127.0.0.1 reach the wall's counters exactly.

#[path = "support/http.rs"]
mod http;

use std::time::Duration;

use socwall::config::Settings;
use tokio::io::AsyncWriteExt;

fn free_port_udp() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_port_tcp() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ufw(verdict: &str, src: &str, dpt: u16) -> String {
    format!(
        "<4>Nov 24 03:40:01 web-1 kernel: [UFW {verdict}] IN=eth0 OUT= MAC= SRC={src} DST=10.0.1.20 LEN=60 TOS=0x00 PREC=0x00 TTL=49 ID=1 PROTO=TCP SPT=40001 DPT={dpt} WINDOW=1024 RES=0x00 SYN URGP=0"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_and_tcp_syslog_reach_the_counters() {
    let (udp, tcp) = (free_port_udp(), free_port_tcp());
    let cfg = format!(
        "[server]\nupdate_interval = \"50ms\"\n\
         [[source]]\nname = \"fw-syslog\"\nkind = \"syslog\"\nlisten = [\"udp://127.0.0.1:{udp}\", \"tcp://127.0.0.1:{tcp}\"]\nmax_line_bytes = 1024\n"
    );
    let settings = Settings::from_toml(&cfg, "t.toml", Vec::new()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(socwall::run(listener, settings, async move {
        let _ = rx.await;
    }));
    // The receivers are bound before the web side serves: once /healthz answers, they listen.
    http::wait_json(addr, "/healthz", |_| true).await;

    // UDP: three datagrams, one of them carrying two LF-separated messages, one over the limit.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(
        ufw("BLOCK", "203.0.113.66", 22).as_bytes(),
        ("127.0.0.1", udp),
    )
    .await
    .unwrap();
    let two = format!(
        "{}\n{}\n",
        ufw("BLOCK", "203.0.113.66", 23),
        ufw("ALLOW", "198.51.100.7", 443)
    );
    sock.send_to(two.as_bytes(), ("127.0.0.1", udp))
        .await
        .unwrap();
    sock.send_to(&[b'x'; 2000], ("127.0.0.1", udp))
        .await
        .unwrap();

    // TCP: newline framing, then octet counting, split across writes at awkward places.
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", tcp))
        .await
        .unwrap();
    let a = format!("{}\n", ufw("BLOCK", "192.0.2.1", 3389));
    let b = ufw("ALLOW", "192.0.2.2", 80);
    let framed = format!("{a}{} {b}{}\n", b.len(), ufw("BLOCK", "192.0.2.3", 25));
    let (x, y) = framed.as_bytes().split_at(a.len() + 2);
    conn.write_all(x).await.unwrap();
    conn.flush().await.unwrap();
    // (The framer's own tests cover every split point; here the split is real sockets'.)
    conn.write_all(y).await.unwrap();
    conn.shutdown().await.unwrap();

    let s = http::wait_json(addr, "/api/v1/snapshot", |s| s["totals"]["events"] == 6).await;
    let src = &s["sources"][0];
    assert_eq!(src["name"], "fw-syslog");
    assert_eq!(
        (src["lines"].as_u64(), src["events"].as_u64()),
        (Some(6), Some(6))
    );
    assert_eq!(src["overlong"], 1);
    assert_eq!(src["format"], "iptables");
    assert_eq!(
        (
            s["totals"]["denied"].as_u64(),
            s["totals"]["allowed"].as_u64()
        ),
        (Some(4), Some(2))
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_a_start_up_error() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let cfg = format!(
        "[[source]]\nname = \"s\"\nkind = \"syslog\"\nlisten = \"udp://127.0.0.1:{port}\"\n"
    );
    let settings = Settings::from_toml(&cfg, "t.toml", Vec::new()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = socwall::run(listener, settings, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on udp://127.0.0.1:{port}")),
        "{err}"
    );
}
