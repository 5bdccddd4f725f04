// web/conn.js: the WebSocket link to /ws — reconnects forever with capped, fully jittered exponential back-off.

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const CONNECT_TIMEOUT_MS = 10000;

/**
 * Keep one WebSocket open to `url` forever.
 * handlers: onMessage(msg, receivedAtMs), onOpen(), onClose(retryInMs).
 * Returns { kick(), retryAt() }: kick() drops the socket and reconnects (used when the link looks dead).
 */
export function connect(url, handlers) {
  let ws = null;
  let attempt = 0;
  let timer = 0;
  let nextRetryAt = 0;

  function schedule() {
    // Full jitter: uniform in [0, min(cap, base * 2^attempt)], never below the floor.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 10));
    const delay = Math.max(BACKOFF_MIN_MS / 2, Math.random() * ceiling);
    attempt++;
    nextRetryAt = Date.now() + delay;
    clearTimeout(timer);
    timer = setTimeout(open, delay);
    handlers.onClose(delay);
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
    // A handshake that hangs (half-open TCP, stuck proxy) must not stop the retries.
    const openTimer = setTimeout(() => {
      if (ws === sock && sock.readyState === WebSocket.CONNECTING) dropAndRetry(sock);
    }, CONNECT_TIMEOUT_MS);
    sock.onopen = () => {
      clearTimeout(openTimer);
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
    sock.onclose = () => {
      clearTimeout(openTimer);
      if (ws === sock) dropAndRetry(sock);
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
  };
}
