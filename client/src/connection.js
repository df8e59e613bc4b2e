// The room's WebSocket: opens it, asking for exactly what was missed (the
// URL is asked for again before every attempt), reconnects with
// exponential backoff and jitter, except after a close that ends the session
// for good (an expired token, a moderator's removal); keeps it alive with
// pings; answers the room's marks with receipts, so the room can tell a slow
// reader from a stalled one, and rejoins quietly when the room closes it as
// too slow. It carries frames and reports what the socket does, and decides
// nothing about messages: which ones to resend, and under which
// clientMsgId, is room.js's call. Uses only the platform's WebSocket and
// timers, so it runs in browsers, Node 22+ (20 with --experimental-websocket
// or a `WebSocket` passed in), Deno and Workers.

import {
  BACKOFF_JITTER,
  BACKOFF_MAX_MS,
  BACKOFF_START_MS,
  CONNECT_TIMEOUT_MS,
  PING_EVERY_MS,
  SLOW_CLOSE_WINDOW_MS,
  SLOW_CLOSES_BEFORE_WARNING,
} from "./limits.js";
import { REJOIN, TOO_SLOW, finalClose, frames, receiptFor } from "./protocol.js";

/** WebSocket's readyState values, by number: a constructor passed in need
 *  not carry the static names. */
const CONNECTING = 0;
const OPEN = 1;

/** Whether a close with `reason` at `now` should rejoin at once and say
 *  nothing: a "too slow" close is the room's flow control, and catching up
 *  with `since` fixes it; only when it keeps happening (`recent` holds the
 *  times of earlier ones, and is updated) is it worth telling the person. */
export function quietSlowClose(reason, recent, now) {
  if (reason !== TOO_SLOW) return false;
  while (recent.length && now - recent[0] > SLOW_CLOSE_WINDOW_MS) recent.shift();
  recent.push(now);
  return recent.length < SLOW_CLOSES_BEFORE_WARNING;
}

/** How long to wait before reconnect attempt `attempt` (0 for the first),
 *  given a `random` number in [0, 1). */
export function backoffMs(attempt, random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
  return Math.round(base * (1 - BACKOFF_JITTER + 2 * BACKOFF_JITTER * random));
}

/** What the reconnect loop carries from one attempt to the next, as it is
 *  before the first. */
export function initialLoop() {
  return {
    /** Attempts since the last open: the backoff grows with it. */
    attempt: 0,
    everConnected: false,
    /** The current attempt follows a quiet "too slow" close. */
    quietly: false,
    /** Times of recent "too slow" closes; see quietSlowClose. */
    slowCloses: [],
  };
}

/** A socket opened: the loop starts afresh, and `reconnected` says whether
 *  to tell the person, which neither a first connect nor a quiet rejoin
 *  does. The `loop` passed in is not changed. */
export function afterOpen(loop) {
  return {
    loop: { ...loop, attempt: 0, everConnected: true, quietly: false },
    reconnected: loop.everConnected && !loop.quietly,
  };
}

/** A socket closed with `reason` at `now` (an attempt that failed closes
 *  with ""): the loop after it, and what comes `next`: `{ kind: "reopen" }`
 *  at once, `{ kind: "end", code }` for good (the code of the
 *  error the room sent before that close), or `{ kind: "retry", attempt,
 *  waitMs }` after a backoff. `random()` is drawn only for a backoff. The
 *  `loop` passed in is not changed. */
export function afterClose(loop, reason, now, random) {
  // Our own close: the loop stands as it was, a quiet rejoin included.
  if (reason === REJOIN) return { loop, next: { kind: "reopen" } };
  const slowCloses = [...loop.slowCloses];
  if (quietSlowClose(reason, slowCloses, now)) {
    return { loop: { ...loop, slowCloses, quietly: true }, next: { kind: "reopen" } };
  }
  const code = finalClose(reason);
  if (code) return { loop: { ...loop, slowCloses }, next: { kind: "end", code } };
  const waitMs = backoffMs(loop.attempt, random());
  const attempt = loop.attempt + 1;
  return { loop: { ...loop, slowCloses, attempt }, next: { kind: "retry", attempt, waitMs } };
}

/**
 * Connects now and stays connected. `url()` is asked again before every
 * attempt, so each one carries the latest `since`, display name and token.
 * Callbacks: `connecting(attempt)`, `open(reconnected)`, `frame(parsed)`,
 * `closed()` whenever the socket closes, `retrying({ attempt, waitMs,
 * reason, opened })` when a close was not our own doing, and `ended(code)`
 * when a close ends the session for good. `WebSocket` is the constructor
 * to use (default: the platform's, looked up at each attempt).
 * Returns `send(frame)`, true if it went out, `rejoin()` and `stop()`.
 */
export function connect(url, on, { WebSocket } = {}) {
  /** The session's mutable part, shared by the functions below: `socket`
   *  is the one whose events are still ours, or null when none is. */
  const conn = {
    url,
    on,
    WebSocket,
    socket: null,
    loop: initialLoop(),
    retryTimer: null,
    stopped: false,
    pinger: null,
    networkBack: null,
  };
  // The runtime answers pings itself without waking the room, so they are
  // the cheap way to stay under the server's idle timeout.
  conn.pinger = setInterval(() => send(conn, frames.ping()), PING_EVERY_MS);
  // One function, so that stop() can remove the very listener added here.
  conn.networkBack = () => networkBack(conn);
  // Browsers only: elsewhere there is no `online`, or no global listener.
  globalThis.addEventListener?.("online", conn.networkBack);
  open(conn);
  return {
    send: (frame) => send(conn, frame),
    stop: () => stop(conn),
    /** Reconnects at once, so the room learns a new display name or token;
     *  `since` makes it seamless. */
    rejoin() {
      if (conn.socket) conn.socket.close(1000, REJOIN);
    },
  };
}

/** Starts an attempt, unless the session is over. Each socket gets its own
 *  timeout, in `sock`, since a stale socket's events may still arrive after
 *  the next one has started. */
function open(conn) {
  if (conn.stopped) return;
  clearTimeout(conn.retryTimer);
  conn.on.connecting(conn.loop.attempt);
  const Socket = conn.WebSocket ?? globalThis.WebSocket;
  const ws = new Socket(conn.url());
  const sock = { ws, opened: false, giveUp: null };
  conn.socket = ws;
  sock.giveUp = setTimeout(() => timedOut(conn, sock), CONNECT_TIMEOUT_MS);
  ws.addEventListener("open", () => opened(conn, sock));
  ws.addEventListener("message", (event) => received(conn, sock, event.data));
  // An attempt that never opened has failed at its `error`: Chromium may
  // fire the `close` that follows only many seconds later, and a failed
  // handshake carries no reason anyway. Whichever comes first counts.
  ws.addEventListener("error", () => {
    if (!sock.opened) ended(conn, sock, "");
  });
  ws.addEventListener("close", (event) => ended(conn, sock, event.reason));
}

/** An attempt still connecting after CONNECT_TIMEOUT_MS is given up as
 *  failed; limits.js says why. */
function timedOut(conn, sock) {
  if (sock.ws.readyState !== CONNECTING) return;
  sock.ws.close();
  ended(conn, sock, "");
}

/** The socket opened: the backoff starts afresh. */
function opened(conn, sock) {
  clearTimeout(sock.giveUp);
  sock.opened = true;
  const { loop, reconnected } = afterOpen(conn.loop);
  conn.loop = loop;
  conn.on.open(reconnected);
}

/** A frame arrived: a mark is answered with its receipt and goes no
 *  further; any other frame goes on if it parses. */
function received(conn, sock, data) {
  const receipt = receiptFor(data);
  if (receipt) {
    // A mark is for the socket, not the app.
    if (sock.ws.readyState === OPEN) sock.ws.send(JSON.stringify(receipt));
    return;
  }
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return; // not from our server; nothing to do with it
  }
  conn.on.frame(frame);
}

/** The socket closed, or the attempt failed: once per socket. */
function ended(conn, sock, reason) {
  clearTimeout(sock.giveUp);
  if (conn.socket !== sock.ws) return;
  conn.socket = null;
  conn.on.closed();
  const { loop, next } = afterClose(conn.loop, reason, Date.now(), Math.random);
  conn.loop = loop;
  if (next.kind === "reopen") {
    open(conn);
  } else if (next.kind === "end") {
    stop(conn);
    conn.on.ended(next.code);
  } else {
    conn.on.retrying({ attempt: next.attempt, waitMs: next.waitMs, reason, opened: sock.opened });
    conn.retryTimer = setTimeout(() => open(conn), next.waitMs);
  }
}

/** Sends `frame` if the socket is open: true if it went out. */
function send(conn, frame) {
  if (conn.socket && conn.socket.readyState === OPEN) {
    conn.socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

/** The browser says the network is back: an attempt waiting out its
 *  backoff, or still connecting through the network that went away, would
 *  keep the person offline for nothing. Connects again at once. */
function networkBack(conn) {
  if (conn.stopped || (conn.socket && conn.socket.readyState === OPEN)) return;
  const stale = conn.socket;
  conn.socket = null; // its close event is then not ours to handle
  if (stale) stale.close();
  open(conn);
}

/** Closes the socket and never reconnects. */
function stop(conn) {
  conn.stopped = true;
  globalThis.removeEventListener?.("online", conn.networkBack);
  clearTimeout(conn.retryTimer);
  clearInterval(conn.pinger);
  const ws = conn.socket;
  conn.socket = null;
  if (ws) ws.close(1000, "session ended");
}
