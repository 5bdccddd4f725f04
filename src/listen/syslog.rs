//! Syslog receiver: UDP datagrams and TCP streams, one message = one line for the parse stage.
//!
//! TCP framing follows RFC 6587 and is decided per message: a message starting with a digit is
//! octet-counted (`LEN SP MSG`), anything else runs to the next LF (or NUL, which some senders
//! use). Messages longer than the source's `max_line_bytes` are skipped and counted as overlong,
//! never buffered whole. Back-pressure: when the pipeline is full the receiver stops reading — TCP
//! senders are slowed by the window, UDP datagrams beyond the socket buffer are dropped by the
//! kernel (UDP syslog can always lose; use TCP where that matters).

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Endpoint, ListenStats};
use crate::shutdown::Shutdown;
use crate::tail::LineBatch;

/// Flush a batch once it holds this much (the same order as the tailer's batches).
const BATCH_BYTES: usize = 64 * 1024;
/// Open TCP connections per source; more are accepted and closed at once.
pub const MAX_CONNECTIONS: u64 = 512;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "cannot listen on {endpoint}: {source} (is another syslog daemon bound there? ports below 1024 need privileges)"
    )]
    Bind {
        endpoint: Endpoint,
        source: io::Error,
    },
}

/// A syslog source's sockets, bound (so that bind errors surface at start-up).
#[derive(Debug)]
pub struct Bound {
    source: u16,
    max_line: usize,
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
}

pub async fn bind(
    source: u16,
    endpoints: &[Endpoint],
    max_line: usize,
) -> Result<Bound, ListenError> {
    let mut b = Bound {
        source,
        max_line,
        udp: Vec::new(),
        tcp: Vec::new(),
    };
    for &endpoint in endpoints {
        match endpoint {
            Endpoint::Udp(a) => b.udp.push(
                UdpSocket::bind(a)
                    .await
                    .map_err(|source| ListenError::Bind { endpoint, source })?,
            ),
            Endpoint::Tcp(a) => b.tcp.push(
                TcpListener::bind(a)
                    .await
                    .map_err(|source| ListenError::Bind { endpoint, source })?,
            ),
        }
    }
    Ok(b)
}

impl Bound {
    /// The actual addresses (useful when binding port 0).
    pub fn local_endpoints(&self) -> Vec<Endpoint> {
        let udp = self
            .udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .map(Endpoint::Udp);
        let tcp = self
            .tcp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .map(Endpoint::Tcp);
        udp.chain(tcp).collect()
    }

    /// Starts one task per socket; they end on shutdown or when the pipeline is gone.
    pub fn spawn(
        self,
        out: mpsc::Sender<LineBatch>,
        stats: Arc<ListenStats>,
        shutdown: Shutdown,
    ) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        for sock in self.udp {
            tasks.push(tokio::spawn(udp_loop(
                sock,
                self.source,
                self.max_line,
                out.clone(),
                stats.clone(),
                shutdown.clone(),
            )));
        }
        for listener in self.tcp {
            tasks.push(tokio::spawn(tcp_accept(
                listener,
                self.source,
                self.max_line,
                out.clone(),
                stats.clone(),
                shutdown.clone(),
            )));
        }
        tasks
    }
}

async fn udp_loop(
    sock: UdpSocket,
    source: u16,
    max_line: usize,
    out: mpsc::Sender<LineBatch>,
    stats: Arc<ListenStats>,
    mut shutdown: Shutdown,
) {
    // A datagram is at most 64 KiB; one buffer, reused.
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, _)) => n,
                // ICMP errors surface here on some systems; nothing to do but keep receiving.
                Err(e) => { tracing::debug!(error = %e, "syslog udp receive error"); continue }
            },
            _ = shutdown.wait() => break,
        };
        let mut batch = LineBatch::with_capacity(source, BATCH_BYTES);
        let mut messages = 1;
        push_datagram(&mut batch, &buf[..n], max_line);
        // Drain what is already queued without waiting, so a burst becomes one batch.
        while batch.data.len() < BATCH_BYTES {
            match sock.try_recv_from(&mut buf) {
                Ok((n, _)) => {
                    push_datagram(&mut batch, &buf[..n], max_line);
                    messages += 1;
                }
                Err(_) => break,
            }
        }
        if let Some(s) = stats.source(source) {
            s.messages.fetch_add(messages, Ordering::Relaxed);
        }
        if (!batch.is_empty() || batch.overlong > 0) && out.send(batch).await.is_err() {
            break;
        }
    }
}

/// One datagram is normally one message; senders that pack several separate them with LF.
fn push_datagram(batch: &mut LineBatch, dgram: &[u8], max_line: usize) {
    for msg in dgram.split(|&b| b == b'\n' || b == 0) {
        let msg = msg.strip_suffix(b"\r").unwrap_or(msg);
        if msg.is_empty() {
            continue;
        }
        if msg.len() > max_line {
            batch.overlong += 1;
        } else {
            batch.push_line(msg);
        }
    }
}

async fn tcp_accept(
    listener: TcpListener,
    source: u16,
    max_line: usize,
    out: mpsc::Sender<LineBatch>,
    stats: Arc<ListenStats>,
    mut shutdown: Shutdown,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                // EMFILE and friends: back off briefly rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "syslog tcp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.wait() => break,
        };
        let Some(s) = stats.source(source) else {
            continue;
        };
        if s.connections.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            s.refused.fetch_add(1, Ordering::Relaxed);
            continue; // dropping the stream closes it
        }
        s.connections.fetch_add(1, Ordering::Relaxed);
        let (out, stats, shutdown) = (out.clone(), stats.clone(), shutdown.clone());
        tokio::spawn(async move {
            tcp_conn(stream, source, max_line, out, &stats, shutdown).await;
            if let Some(s) = stats.source(source) {
                s.connections.fetch_sub(1, Ordering::Relaxed);
            }
        });
    }
}

async fn tcp_conn(
    mut stream: TcpStream,
    source: u16,
    max_line: usize,
    out: mpsc::Sender<LineBatch>,
    stats: &ListenStats,
    mut shutdown: Shutdown,
) {
    let mut framer = Framer::new(max_line);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            // A read error ends the connection like EOF does.
            r = stream.read(&mut buf) => r.unwrap_or(0),
            _ = shutdown.wait() => 0,
        };
        let mut batch = LineBatch::with_capacity(source, n.min(BATCH_BYTES));
        let before = batch.len();
        if n == 0 {
            // The sender closed: a last message without its LF is still a message.
            framer.finish(&mut batch);
        } else {
            framer.feed(&buf[..n], &mut batch);
        }
        if let Some(s) = stats.source(source) {
            s.messages.fetch_add(
                (batch.len() - before) as u64 + batch.overlong,
                Ordering::Relaxed,
            );
        }
        if (!batch.is_empty() || batch.overlong > 0) && out.send(batch).await.is_err() {
            break;
        }
        if n == 0 {
            break;
        }
    }
}

/// RFC 6587 framing, decided per message, resumable across reads.
#[derive(Debug)]
pub struct Framer {
    max: usize,
    state: FrameState,
    /// Bytes of the message being assembled (never more than `max`).
    pending: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameState {
    /// Between messages.
    Start,
    /// Reading the decimal length of an octet-counted message.
    Length(usize),
    /// Reading `left` more bytes of an octet-counted message (discarding when `skip`).
    Counted { left: usize, skip: bool },
    /// Reading up to LF/NUL (discarding when `skip`).
    Delimited { skip: bool },
}

impl Framer {
    pub fn new(max: usize) -> Framer {
        Framer {
            max,
            state: FrameState::Start,
            pending: Vec::new(),
        }
    }

    pub fn feed(&mut self, mut data: &[u8], batch: &mut LineBatch) {
        while let Some(&b) = data.first() {
            match self.state {
                FrameState::Start => match b {
                    b'\n' | b'\r' | 0 | b' ' => data = &data[1..],
                    b'1'..=b'9' => self.state = FrameState::Length(0),
                    _ => self.state = FrameState::Delimited { skip: false },
                },
                FrameState::Length(n) => {
                    data = &data[1..];
                    match b {
                        b'0'..=b'9' if n < 100_000_000 => {
                            self.state = FrameState::Length(n * 10 + usize::from(b - b'0'))
                        }
                        b' ' => {
                            let skip = n > self.max;
                            if skip {
                                batch.overlong += 1;
                            }
                            self.state = if n == 0 {
                                FrameState::Start
                            } else {
                                FrameState::Counted { left: n, skip }
                            };
                        }
                        // Not a length after all (or absurdly long): treat the rest as a
                        // delimited message and resynchronise at the next LF.
                        _ => self.state = FrameState::Delimited { skip: true },
                    }
                }
                FrameState::Counted { left, skip } => {
                    let take = left.min(data.len());
                    if !skip {
                        self.pending.extend_from_slice(&data[..take]);
                    }
                    data = &data[take..];
                    if take == left {
                        if !skip {
                            self.emit(batch);
                        }
                        self.state = FrameState::Start;
                    } else {
                        self.state = FrameState::Counted {
                            left: left - take,
                            skip,
                        };
                    }
                }
                FrameState::Delimited { skip } => {
                    let end = memchr::memchr2(b'\n', 0, data);
                    let chunk = &data[..end.unwrap_or(data.len())];
                    let mut skip = skip;
                    if !skip {
                        if self.pending.len() + chunk.len() > self.max {
                            skip = true;
                            batch.overlong += 1;
                            self.pending.clear();
                        } else {
                            self.pending.extend_from_slice(chunk);
                        }
                    }
                    match end {
                        Some(i) => {
                            if !skip {
                                self.emit(batch);
                            }
                            self.pending.clear();
                            data = &data[i + 1..];
                            self.state = FrameState::Start;
                        }
                        None => {
                            data = &[];
                            self.state = FrameState::Delimited { skip };
                        }
                    }
                }
            }
        }
    }

    /// End of stream: a delimited message still open is complete; a short counted one is not.
    pub fn finish(&mut self, batch: &mut LineBatch) {
        if self.state == (FrameState::Delimited { skip: false }) {
            self.emit(batch);
        }
        self.pending.clear();
        self.state = FrameState::Start;
    }

    fn emit(&mut self, batch: &mut LineBatch) {
        let msg = self.pending.strip_suffix(b"\n").unwrap_or(&self.pending);
        let msg = msg.strip_suffix(b"\r").unwrap_or(msg);
        if !msg.is_empty() {
            batch.push_line(msg);
        }
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(b: &LineBatch) -> Vec<String> {
        b.lines()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    /// Feeds `input` split at every possible point (and byte by byte) and checks the result is
    /// always the same: framing must not depend on how TCP segments the stream.
    fn framed(input: &[u8], max: usize) -> (Vec<String>, u64) {
        let mut whole = LineBatch::with_capacity(0, 1024);
        let mut f = Framer::new(max);
        f.feed(input, &mut whole);
        f.finish(&mut whole);
        for cut in 0..=input.len() {
            let mut b = LineBatch::with_capacity(0, 1024);
            let mut f = Framer::new(max);
            f.feed(&input[..cut], &mut b);
            f.feed(&input[cut..], &mut b);
            f.finish(&mut b);
            assert_eq!(
                (lines(&b), b.overlong),
                (lines(&whole), whole.overlong),
                "cut at {cut}"
            );
        }
        let mut b = LineBatch::with_capacity(0, 1024);
        let mut f = Framer::new(max);
        for byte in input.chunks(1) {
            f.feed(byte, &mut b);
        }
        f.finish(&mut b);
        assert_eq!(lines(&b), lines(&whole));
        (lines(&whole), whole.overlong)
    }

    #[test]
    fn newline_framing() {
        let (l, o) = framed(b"<134>Oct 21 fw pf: a\n<134>b\r\n\n<13>c", 100);
        assert_eq!(l, ["<134>Oct 21 fw pf: a", "<134>b", "<13>c"]);
        assert_eq!(o, 0);
    }

    #[test]
    fn nul_framing() {
        assert_eq!(framed(b"<1>a\0<1>b\0", 100).0, ["<1>a", "<1>b"]);
    }

    #[test]
    fn octet_counting_with_embedded_newlines_and_mixed_framing() {
        let (l, o) = framed(b"10 <134>a\nb c5 <1>xy<13>plain\n", 100);
        assert_eq!(l, ["<134>a\nb c", "<1>xy", "<13>plain"]);
        assert_eq!(o, 0);
    }

    #[test]
    fn overlong_messages_are_counted_and_skipped_in_both_framings() {
        let (l, o) = framed(
            b"<1>0123456789\n<1>ok\n20 <1>0123456789abcdef9 <1>ok-too",
            10,
        );
        assert_eq!(l, ["<1>ok", "<1>ok-too"]);
        assert_eq!(o, 2);
    }

    #[test]
    fn truncated_counted_message_is_dropped_at_eof() {
        assert_eq!(framed(b"50 <1>short", 100).0, Vec::<String>::new());
    }

    #[test]
    fn datagrams() {
        let mut b = LineBatch::with_capacity(0, 100);
        push_datagram(&mut b, b"<1>one\n", 100);
        push_datagram(&mut b, b"<1>two\r\n<1>three", 100);
        push_datagram(&mut b, &[b'x'; 200], 100);
        push_datagram(&mut b, b"", 100);
        assert_eq!(lines(&b), ["<1>one", "<1>two", "<1>three"]);
        assert_eq!(b.overlong, 1);
    }
}
