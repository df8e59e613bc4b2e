// The room's WebSocket: opens it for this page's client id and room, asking
// for exactly what was missed (`since`) and carrying the sign-in token in
// token mode; when it drops, reconnects with exponential backoff and jitter,
// except after a close that ends the session for good (an expired token, a
// moderator's removal); keeps it alive with pings; tells the room how far
// it has read, so the room can tell a slow reader from a stalled one, and
// rejoins quietly when the room closes it as too slow. It carries
// frames and reports what the socket does, and decides nothing about
// messages: which ones to resend, and under which clientMsgId, is state.js's
// call.

import {
  BACKOFF_JITTER,
  BACKOFF_MAX_MS,
  BACKOFF_START_MS,
  CONNECT_TIMEOUT_MS,
  PING_EVERY_MS,
  RECEIPT_EVERY_CHARS,
  SLOW_CLOSE_WINDOW_MS,
  SLOW_CLOSES_BEFORE_WARNING,
} from "./limits.js";

/** The close reason the page uses to rejoin under a new display name; such a
 *  close is our own doing, so the page reconnects at once and quietly. */
const RENAMED = "renamed";

/** Close reasons (src/wire/error.rs) after which reconnecting cannot help: the
 *  token stays expired, and the ban refuses the reconnect. */
const FINAL_CLOSES = { "token expired": "expired", "removed by a moderator": "removed" };

/** The reason the room gives a socket that fell too far behind
 *  (src/wire/error.rs, TOO_SLOW_CLOSE). */
export const TOO_SLOW = "too slow, reconnect";

const PONG = '{"type":"pong"}';

/** A counter of what one socket has read: `read(data)` returns the receipt
 *  to send (`{type: "seen", frames}`) once `everyChars` more have arrived
 *  since the last one, else null. `frames` counts every frame since the
 *  socket opened, which is what the room counts too (src/send/flow.rs).
 *
 *  The first receipt waits `lead` more chars, random by default. Every
 *  socket in a room reads the same frames, so without it all of them would
 *  send their receipts at the same moment, and a thousand receipts in one
 *  burst stall the room's broadcasts for tens of milliseconds
 *  (BENCHMARKS.md). */
export function receipts(everyChars = RECEIPT_EVERY_CHARS, lead = Math.floor(Math.random() * everyChars)) {
  let frames = 0;
  let chars = -lead;
  return {
    read(data) {
      // The runtime's answer to a ping is not the room's frame.
      if (data === PONG) return null;
      frames += 1;
      chars += typeof data === "string" ? data.length : 0;
      if (chars < everyChars) return null;
      chars = 0;
      return { type: "seen", frames };
    },
  };
}

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

/** Why a close with `reason` ended the session for good ("expired" or
 *  "removed"), or null when the page should reconnect. */
export function finalClose(reason) {
  return Object.hasOwn(FINAL_CLOSES, reason) ? FINAL_CLOSES[reason] : null;
}

/** How long to wait before reconnect attempt `attempt` (0 for the first),
 *  given a `random` number in [0, 1). */
export function backoffMs(attempt, random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
  return Math.round(base * (1 - BACKOFF_JITTER + 2 * BACKOFF_JITTER * random));
}

/** The socket URL on the page's own origin (`location`), for a client that
 *  has seen everything up to `since` (null: nothing yet). With a `token`, the
 *  name comes from it, so none is sent; a browser cannot set headers on a
 *  WebSocket, so the token goes in the query. */
export function socketUrl(location, { clientId, room, name, since, token }) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  // batch=1: a busy room then sends each socket one frame per burst.
  const query = new URLSearchParams({ room, batch: "1" });
  if (token) query.set("token", token);
  else if (name) query.set("name", name);
  if (since !== null) query.set("since", String(since));
  return `${scheme}//${location.host}/ws/${encodeURIComponent(clientId)}?${query}`;
}

/**
 * Connects now and stays connected. `url()` is asked again before every
 * attempt, so each one carries the latest `since` and display name.
 * Callbacks: `connecting(attempt)`, `open(reconnected)`, `frame(parsed)`,
 * `closed()` whenever the socket closes, `retrying({ attempt, waitMs,
 * reason, opened })` when a close was not our own doing, and `ended(why)`
 * when a close ends the session for good.
 * Returns `send(frame)`, true if it went out, `rejoin()` and `stop()`.
 */
export function connect(url, on) {
  let socket = null;
  let attempt = 0;
  let everConnected = false;
  let retryTimer = null;
  let stopped = false;
  /** Times of recent "too slow" closes; see quietSlowClose. */
  const slowCloses = [];
  /** The current attempt follows a quiet "too slow" close. */
  let quietly = false;

  function open() {
    if (stopped) return;
    clearTimeout(retryTimer);
    on.connecting(attempt);
    const ws = new WebSocket(url());
    const read = receipts();
    let opened = false;
    socket = ws;
    const giveUp = setTimeout(() => {
      if (ws.readyState !== WebSocket.CONNECTING) return;
      ws.close();
      ended({ reason: "" });
    }, CONNECT_TIMEOUT_MS);
    ws.addEventListener("open", () => {
      clearTimeout(giveUp);
      opened = true;
      const reconnected = everConnected && !quietly;
      everConnected = true;
      attempt = 0;
      quietly = false;
      on.open(reconnected);
    });
    ws.addEventListener("message", (event) => {
      const receipt = read.read(event.data);
      if (receipt && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(receipt));
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return; // not from our server; nothing to do with it
      }
      on.frame(frame);
    });
    // An attempt that never opened has failed at its `error`: Chromium may
    // fire the `close` that follows only many seconds later, and a failed
    // handshake carries no reason anyway. Whichever comes first counts.
    ws.addEventListener("error", () => {
      if (!opened) ended({ reason: "" });
    });
    ws.addEventListener("close", ended);

    /** The socket closed, or the attempt failed: once per socket. */
    function ended(event) {
      clearTimeout(giveUp);
      if (socket !== ws) return;
      socket = null;
      on.closed();
      if (event.reason === RENAMED) {
        open();
        return;
      }
      if (quietSlowClose(event.reason, slowCloses, Date.now())) {
        quietly = true;
        open();
        return;
      }
      const why = finalClose(event.reason);
      if (why) {
        stop();
        on.ended(why);
        return;
      }
      const waitMs = backoffMs(attempt, Math.random());
      attempt += 1;
      on.retrying({ attempt, waitMs, reason: event.reason, opened });
      retryTimer = setTimeout(open, waitMs);
    }
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // The runtime answers pings itself without waking the room, so they are
  // the cheap way to stay under the server's idle timeout.
  const pinger = setInterval(() => send({ type: "ping" }), PING_EVERY_MS);

  /** The browser says the network is back: an attempt waiting out its
   *  backoff, or still connecting through the network that went away, would
   *  keep the person offline for nothing. Connects again at once. */
  function networkBack() {
    if (stopped || (socket && socket.readyState === WebSocket.OPEN)) return;
    const stale = socket;
    socket = null; // its close event is then not ours to handle
    if (stale) stale.close();
    open();
  }
  globalThis.addEventListener?.("online", networkBack);

  /** Closes the socket and never reconnects. */
  function stop() {
    stopped = true;
    globalThis.removeEventListener?.("online", networkBack);
    clearTimeout(retryTimer);
    clearInterval(pinger);
    const ws = socket;
    socket = null;
    if (ws) ws.close(1000, "session ended");
  }

  open();

  return {
    send,
    stop,
    /** Reconnects at once, so the room learns a new display name; `since`
     *  makes it seamless. */
    rejoin() {
      if (socket) socket.close(1000, RENAMED);
    },
  };
}
