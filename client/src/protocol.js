// The wire protocol's words, in one place: its version, the socket URL, the
// frames a client sends, the close reasons and error codes that end a
// session, the receipts that prove reading, and the error every refusal
// becomes. docs/protocol.md is the prose; src/wire/ on the server is the
// truth these mirror.

/** The wire protocol this client speaks (docs/protocol.md, "Version"). The
 *  package's major version is this number: a client of 1.x talks to any
 *  room of protocol 1. */
export const PROTOCOL_VERSION = 1;

/** The close reason a client uses to rejoin at once (a new display name, a
 *  refreshed token); the loop reopens quietly after it. */
export const REJOIN = "renamed";

/** The reason the room gives a socket that fell too far behind
 *  (src/wire/error.rs, TOO_SLOW_CLOSE). */
export const TOO_SLOW = "too slow, reconnect";

/** Close reasons (src/wire/error.rs) after which reconnecting cannot help,
 *  and the error code the room sent just before each. */
const FINAL_CLOSES = { "token expired": "token_expired", "removed by a moderator": "kicked" };

/** Error codes the room sends just before it closes the socket for good. */
const ENDING_CODES = new Set(["token_expired", "kicked"]);

/** Handshake refusals (the HTTP API answers with the same codes) that no
 *  retry with the same token can get past: `expired_token` can, with a new
 *  token, which is the caller's to give. */
const REFUSED_FOR_GOOD = new Set([
  "banned",
  "expired_token",
  "bad_token",
  "missing_token",
  "room_forbidden",
  "id_mismatch",
]);

/** A refusal from the room, a socket's error frame or an HTTP API answer,
 *  or one the client made itself before anything went out (`offline`,
 *  `empty_message`, `message_too_long`, `bad_minutes`, `timeout`,
 *  `closed`). `code` is the room's stable code (docs/security.md). */
export class ChatError extends Error {
  constructor(code, message, { status, retryAfterMs } = {}) {
    super(message || code);
    this.name = "ChatError";
    this.code = code;
    if (status !== undefined) this.status = status;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }
}

/** Which session-ending code a close `reason` stands for, or null when the
 *  client should reconnect. */
export function finalClose(reason) {
  return Object.hasOwn(FINAL_CLOSES, reason) ? FINAL_CLOSES[reason] : null;
}

/** Whether an error frame's `code` says the room is about to close the
 *  socket for good. */
export function endingCode(code) {
  return ENDING_CODES.has(code);
}

/** Whether a handshake refusal's `code` means no retry can get in. */
export function refusedForGood(code) {
  return REFUSED_FOR_GOOD.has(code);
}

/** The room's marks begin so (src/wire/protocol.rs, mark_frame). */
const MARK_PREFIX = '{"type":"mark"';

/** The receipt (`{type: "seen", mark}`) to send for `data` when it is one
 *  of the room's marks, else null. The room sends a socket that asked for
 *  them (`receipts=1`) a fresh random mark after every 64 KiB; since frames
 *  arrive in order, echoing one proves everything before it was read, and
 *  the room frees what it holds for this socket (src/send/flow.rs). */
export function receiptFor(data) {
  if (typeof data !== "string" || !data.startsWith(MARK_PREFIX)) return null;
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return null;
  }
  return typeof frame.mark === "string" ? { type: "seen", mark: frame.mark } : null;
}

/**
 * The socket URL for a client that has seen everything up to `since` (null:
 * nothing yet), on the chat at `base` (its page's address: `https://` gives
 * `wss://`). With a `token` the name comes from it, so none is sent; a
 * browser cannot set headers on a WebSocket, so the token goes in the
 * query. `batch` and `receipts` default to on: a busy room then sends one
 * frame per burst, and the client proves it reads.
 */
export function socketUrl(
  base,
  { clientId, room, name, since, epoch, token, batch = true, receipts = true },
) {
  const url = new URL(String(base));
  const scheme = url.protocol === "https:" || url.protocol === "wss:" ? "wss:" : "ws:";
  const query = new URLSearchParams({ room });
  if (batch) query.set("batch", "1");
  if (receipts) query.set("receipts", "1");
  if (token) query.set("token", token);
  else if (name) query.set("name", name);
  if (since !== null && since !== undefined) {
    query.set("since", String(since));
    // The room starts over (`reset`) if its history is not the one `since`
    // came from.
    if (epoch) query.set("epoch", epoch);
  }
  return `${scheme}//${url.host}/ws/${encodeURIComponent(clientId)}?${query}`;
}

/** The frames a client sends (docs/protocol.md, "Client → server"). */
export const frames = {
  message: (message, clientMsgId, replyTo) =>
    replyTo ? { type: "message", message, clientMsgId, replyTo } : { type: "message", message, clientMsgId },
  typing: () => ({ type: "typing" }),
  ping: () => ({ type: "ping" }),
  edit: (id, message) => ({ type: "edit", id, message }),
  delete: (id) => ({ type: "delete", id }),
  kick: (clientId, minutes) => ({ type: "kick", clientId, minutes }),
  older: (before, limit) => withDefined({ type: "older", before, limit }),
  search: (q, before, limit) => withDefined({ type: "search", q, before, limit }),
  react: (id, emoji) => ({ type: "react", id, emoji }),
  read: (seq) => ({ type: "read", seq }),
};

/** `frame` without the fields left undefined, which the room would read
 *  as present. */
function withDefined(frame) {
  return Object.fromEntries(Object.entries(frame).filter(([, v]) => v !== undefined));
}
