// web/conn.js: the WebSocket link to /ws — reconnects forever with capped, fully jittered exponential back-off,
// and tells a refused login (401 / close 4401) apart from an unreachable server.

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const CONNECT_TIMEOUT_MS = 10000;
const PROBE_TIMEOUT_MS = 5000;
/** Close code the server uses when a socket is not authorised (docs/PROTOCOL.md). */
const CLOSE_UNAUTHORISED = 4401;

/**
 * Keep one WebSocket open to `url` forever.
 * handlers: onMessage(msg, receivedAtMs), onOpen(), onClose(retryInMs, reason).
 * options.authProbe: a same-origin URL that answers 401 when this browser's credentials are refused;
 *   fetched when a handshake fails, because a browser never shows a WebSocket's HTTP status.
 * Returns { kick(), retryAt(), isOpen(), reason() }: kick() drops the socket and reconnects (used when
 * the link looks dead); reason() is why the link is down: 'unauthorised' or '' (unknown / unreachable).
 */
export function connect(url, handlers, options = {}) {
  let ws = null;
  let attempt = 0;
  let timer = 0;
  let nextRetryAt = 0;
  let downReason = '';

  /** Whether the server refuses our credentials: a 401 from the probe URL. */
  async function refused() {
    if (!options.authProbe) return false;
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), PROBE_TIMEOUT_MS);
    try {
      const r = await fetch(options.authProbe, {
        method: 'HEAD',
        cache: 'no-store',
        credentials: 'same-origin',
        redirect: 'manual',
        signal: ctl.signal,
      });
      return r.status === 401;
    } catch (e) {
      return false; // unreachable: not an answer about credentials
    } finally {
      clearTimeout(t);
    }
  }

  function schedule() {
    // Full jitter: uniform in [0, min(cap, base * 2^attempt)], never below the floor.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 10));
    const delay = Math.max(BACKOFF_MIN_MS / 2, Math.random() * ceiling);
    attempt++;
    nextRetryAt = Date.now() + delay;
    clearTimeout(timer);
    timer = setTimeout(open, delay);
    handlers.onClose(delay, downReason);
  }

  function open() {
    nextRetryAt = 0;
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (e) {
      schedule();
      return;
    }
    ws = sock;
    let opened = false;
    // A handshake that hangs (half-open TCP, stuck proxy) must not stop the retries.
    const openTimer = setTimeout(() => {
      if (ws === sock && sock.readyState === WebSocket.CONNECTING) dropAndRetry(sock);
    }, CONNECT_TIMEOUT_MS);
    sock.onopen = () => {
      clearTimeout(openTimer);
      opened = true;
      downReason = '';
      handlers.onOpen();
    };
    sock.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        console.warn('socwall: dropped a non-JSON frame');
        return;
      }
      if (!msg || typeof msg !== 'object') return;
      // A healthy message stream resets the back-off.
      attempt = 0;
      handlers.onMessage(msg, Date.now());
    };
    sock.onclose = (ev) => {
      clearTimeout(openTimer);
      if (ws !== sock) return;
      if (ev.code === CLOSE_UNAUTHORISED) {
        downReason = 'unauthorised';
        dropAndRetry(sock);
      } else if (!opened) {
        // The handshake failed: refused (401, 403, 429, 503) or nobody there. Ask why before retrying.
        ws = null;
        sock.onopen = sock.onmessage = sock.onclose = sock.onerror = null;
        refused().then((no) => {
          downReason = no ? 'unauthorised' : '';
          schedule();
        });
      } else {
        downReason = '';
        dropAndRetry(sock);
      }
    };
    sock.onerror = () => {
      /* onclose follows and reconnects */
    };
  }

  /** Forget `sock` (handlers dropped so nothing keeps a dead socket alive), close it, retry later. */
  function dropAndRetry(sock) {
    if (ws === sock) ws = null;
    sock.onopen = sock.onmessage = sock.onclose = sock.onerror = null;
    try {
      sock.close();
    } catch (e) {
      /* already closing */
    }
    schedule();
  }

  open();
  return {
    kick() {
      if (ws) dropAndRetry(ws);
    },
    retryAt() {
      return nextRetryAt;
    },
    isOpen() {
      return ws !== null && ws.readyState === WebSocket.OPEN;
    },
    reason() {
      return downReason;
    },
  };
}
