// What the page knows, and every decision made from it, as pure functions.
// Each takes the state and one thing that happened (a frame from the server,
// a message the user wrote, the socket opening or closing, a timer firing)
// and returns `{ state, effects }`: the next state, and what app.js should do
// about it (render, send, start a timer). Nothing here touches the DOM, the
// socket, the clock or randomness, and the state passed in is never changed,
// so tests/page/state.test.mjs checks it all under `node --test`.
//
// New frames slot in as one case each in `receive`; a new action of the
// person (a read receipt, say) is a function like `requestEdit` that returns
// a `send` effect.
//
// Effects, by `kind`:
//   send     { frame }                  a frame for the socket
//   queued   {}                         the user's message waits for the connection
//   pending  { clientMsgId, text, ts }  the user's message, "sending…"
//   settle   { clientMsgId }            that message is stored; drop "sending…"
//   show     { message }                a stored message, once per seq, in seq order
//   update   { message }                a shown message was edited or deleted
//   event    { event, clientId, name, ts }  "joined", "left" or "missed"
//   members  { members: [{ clientId, name, me, removable }] }  sorted by client id
//   typing   { names }                  who is typing, oldest notice first
//   timer    { afterMs, clientId, until }  call `typingTimedOut` then
//   refused  { code, message, retryAfterMs }  a frame or an action was refused
//   ended    { why }                    "expired" or "removed": stop for good
//
// A shown message is `{ seq, id, clientId, name, text, ts, mine, continues,
// edited, deleted, canEdit, canDelete }`: `edited` is the time of its last
// edit or null, a deleted one has empty `text`, and the two `can` flags say
// which controls the page offers (the server decides again).

import {
  GROUP_WITHIN_MS,
  KICK_MAX_MINUTES,
  MESSAGE_MAX_CHARS,
  TYPING_SEND_EVERY_MS,
  TYPING_SHOW_MS,
} from "./limits.js";

/** Error codes after which the server closes the socket for good, and what
 *  the page then tells the person. */
const ENDING = { token_expired: "expired", kicked: "removed" };

/** The state of a page whose client id is `me`, before any connection;
 *  `moderator` when its token says so (for display: the server decides). */
export function initialState(me, { moderator = false } = {}) {
  return {
    me,
    moderator,
    /** Whether a socket is open: a send now would reach the server. */
    online: false,
    /** The newest seq shown, asked for as `since` on every reconnect; null
     *  until the first history, so a first visit gets the whole window. */
    lastSeq: null,
    /** seq -> the message as shown. A seq already here is a duplicate. */
    messages: new Map(),
    /** message id -> its seq: `edit` and `delete` frames name the id. */
    ids: new Map(),
    /** clientMsgId -> { text, ts }: written, not yet known to be stored, in
     *  the order written, which is the order they are resent in. */
    pending: new Map(),
    /** clientId -> display name, or "" for none. */
    members: new Map(),
    /** clientId -> the `until` of its newest typing notice. */
    typing: new Map(),
    /** Sender and time of the newest settled item if it is a message, null
     *  if it is a notice: a next message from the same sender soon after
     *  continues its group instead of repeating the header. */
    groupWith: null,
    /** When the last typing notice went out. */
    typingSentAt: -Infinity,
  };
}

/** A frame from the server (already parsed), received at `now`. */
export function apply(state, frame, now) {
  return step(state, (d) => {
    if (!frame || typeof frame !== "object") return;
    // `batch=1` clients get bursts as one frame; each inner frame counts as
    // if it came alone, and batches never nest.
    const frames = frame.type === "batch" ? frame.frames : [frame];
    if (Array.isArray(frames)) frames.forEach((f) => receive(d, f, now));
  });
}

/** The user wrote `text` at `now`; `clientMsgId` makes its resends
 *  idempotent. Blank text is not a message. */
export function compose(state, text, clientMsgId, now) {
  return step(state, (d) => {
    if (!text.trim()) return;
    d.edit("pending").set(clientMsgId, { text, ts: now });
    d.effects.push({ kind: "pending", clientMsgId, text, ts: now });
    // Offline, it waits in `pending` and goes out with the next history.
    d.effects.push(
      d.next.online
        ? { kind: "send", frame: { type: "message", message: text, clientMsgId } }
        : { kind: "queued" },
    );
  });
}

/** A keystroke in the message box at `now`; `hasText` is whether the box
 *  holds anything. */
export function typed(state, hasText, now) {
  return step(state, (d) => {
    if (!hasText || !d.next.online) return;
    if (now - d.next.typingSentAt <= TYPING_SEND_EVERY_MS) return;
    d.next.typingSentAt = now;
    d.effects.push({ kind: "send", frame: { type: "typing" } });
  });
}

/** The socket opened (`true`) or closed (`false`). The member list is kept
 *  while offline: an empty one would say everyone left. */
export function setOnline(state, online) {
  return step(state, (d) => {
    d.next.online = online;
  });
}

/** A `timer` effect fired: `clientId` stops typing unless a newer notice
 *  (with a later `until`) came in since. */
export function typingTimedOut(state, clientId, until) {
  return step(state, (d) => {
    if (d.next.typing.get(clientId) === until) stopTyping(d, clientId);
  });
}

/** The person saves `text` as the new text of their message `seq`. */
export function requestEdit(state, seq, text) {
  return step(state, (d) => {
    const message = d.next.messages.get(seq);
    if (!message || !message.canEdit || text === message.text) return;
    if (!text.trim()) {
      refuse(d, "empty_message", "An edit can't leave a message empty; delete it instead.");
    } else if ([...text].length > MESSAGE_MAX_CHARS) {
      refuse(d, "message_too_long", `the limit is ${MESSAGE_MAX_CHARS} characters`);
    } else {
      sendNow(d, { type: "edit", id: message.id, message: text });
    }
  });
}

/** The person deletes message `seq` (their own, or anyone's as moderator). */
export function requestDelete(state, seq) {
  return step(state, (d) => {
    const message = d.next.messages.get(seq);
    if (message && message.canDelete) sendNow(d, { type: "delete", id: message.id });
  });
}

/** A moderator removes `clientId` from the room for `minutes`. */
export function requestKick(state, clientId, minutes) {
  return step(state, (d) => {
    if (!d.next.moderator || clientId === d.next.me) return;
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > KICK_MAX_MINUTES) {
      refuse(d, "bad_minutes", `Minutes must be a whole number from 1 to ${KICK_MAX_MINUTES}.`);
    } else {
      sendNow(d, { type: "kick", clientId, minutes });
    }
  });
}

/** Runs `change` on a copy-on-write draft of `state`: a collection is copied
 *  the first time it is edited, so the caller's state stays as it was and a
 *  batch of many frames copies each collection once. */
function step(state, change) {
  const copied = new Set();
  const d = {
    next: { ...state },
    effects: [],
    edit(key) {
      if (!copied.has(key)) {
        d.next[key] = new Map(d.next[key]);
        copied.add(key);
      }
      return d.next[key];
    },
  };
  change(d);
  return { state: d.next, effects: d.effects };
}

function receive(d, frame, now) {
  switch (frame && frame.type) {
    case "history":
      onHistory(d, frame, now);
      break;
    case "presence":
      onPresence(d, frame);
      break;
    case "message":
      show(d, frame, now);
      break;
    case "edit":
      change(d, frame, { text: frame.message, edited: frame.editedTs ?? frame.ts ?? now });
      break;
    case "delete":
      change(d, frame, { text: "", deleted: true });
      break;
    case "ack":
      settle(d, frame.clientMsgId);
      break;
    case "join":
      onJoin(d, frame, now);
      break;
    case "leave":
      onLeave(d, frame, now);
      break;
    case "typing":
      onTyping(d, frame, now);
      break;
    case "error":
      onError(d, frame);
      break;
    default:
      break; // pong, and types from newer servers
  }
}

/** The whole member list, as the server sends it on every (re)connect. */
function onPresence(d, frame) {
  d.next.members = new Map((frame.members || []).map((m) => [m.clientId, m.name || ""]));
  pushMembers(d);
}

/** Someone joined; our own join shows in the list but is no news to us. */
function onJoin(d, frame, now) {
  d.edit("members").set(frame.clientId, frame.name || "");
  pushMembers(d);
  if (frame.clientId !== d.next.me) note(d, "joined", frame, now);
}

/** Someone left; whoever leaves also stops typing. */
function onLeave(d, frame, now) {
  d.edit("members").delete(frame.clientId);
  pushMembers(d);
  stopTyping(d, frame.clientId);
  note(d, "left", frame, now);
}

/** An error frame either ends the session (the server closes the socket
 *  next) or refuses one frame, and the session goes on. */
function onError(d, frame) {
  if (Object.hasOwn(ENDING, frame.code)) {
    d.effects.push({ kind: "ended", why: ENDING[frame.code] });
  } else {
    refuse(d, frame.code, frame.message, frame.retryAfterMs);
  }
}

function onHistory(d, frame, now) {
  // Only a reconnect can miss messages: a first visit expects the window.
  if (frame.truncated && d.next.lastSeq !== null) note(d, "missed", frame, now);
  (frame.messages || []).forEach((m) => show(d, m, now));
  // Edits and deletes of messages shown before the drop, in seq order.
  (frame.changes || []).forEach((c) => receive(d, c, now));
  if (typeof frame.latestSeq === "number") {
    d.next.lastSeq = Math.max(d.next.lastSeq || 0, frame.latestSeq);
  }
  // What is still pending went into a connection that dropped, or never
  // went out: the history just settled whatever of it was stored, and the
  // rest goes again under its original id, which the server stores at most
  // once.
  for (const [clientMsgId, { text }] of d.next.pending) {
    d.effects.push({ kind: "send", frame: { type: "message", message: text, clientMsgId } });
  }
}

function show(d, frame, now) {
  const { seq, clientId } = frame;
  if (typeof seq !== "number") return;
  advance(d, seq);
  const known = d.next.messages.get(seq);
  if (known) {
    // A copy of a message already shown, as a history overlapping a
    // broadcast gives: only a delete or a newer edit it carries is news,
    // and a copy from before an edit must not undo it.
    const fields = historyFields(frame);
    if (fields.deleted || (fields.edited ?? 0) > (known.edited ?? 0)) update(d, seq, {}, fields);
    return;
  }
  const mine = clientId === d.next.me;
  // Our own message coming back is as good as its ack, and the only word
  // there is when it arrives in a history after a reconnect.
  if (mine && frame.clientMsgId) settle(d, frame.clientMsgId);
  stopTyping(d, clientId);
  const ts = typeof frame.ts === "number" ? frame.ts : now;
  const prev = d.next.groupWith;
  const message = withRights(d, {
    seq,
    id: frame.id,
    clientId,
    name: frame.name,
    text: frame.message,
    ts,
    mine,
    continues: prev !== null && prev.clientId === clientId && ts - prev.ts < GROUP_WITHIN_MS,
    ...historyFields(frame),
  });
  d.edit("messages").set(seq, message);
  if (typeof frame.id === "string") d.edit("ids").set(frame.id, seq);
  d.next.groupWith = { clientId, ts };
  d.effects.push({ kind: "show", message });
}

/** How a message frame says the message is now: a history's copy of a
 *  deleted one is a tombstone, an edited one carries `editedTs`. */
function historyFields(frame) {
  if (frame.deleted === true) return { text: "", edited: null, deleted: true };
  return {
    text: frame.message,
    edited: typeof frame.editedTs === "number" ? frame.editedTs : null,
    deleted: false,
  };
}

/** Which controls the page offers on `message`: edit on your own, delete on
 *  your own or, for a moderator, on anyone's; none on a tombstone, nor on a
 *  message without an id to name it by. */
function withRights(d, message) {
  const live = !message.deleted && typeof message.id === "string";
  return {
    ...message,
    canEdit: live && message.mine,
    canDelete: live && (message.mine || d.next.moderator),
  };
}

/** An `edit` or `delete` frame: it takes the room's next seq, so `since`
 *  moves past it even when the message it names is not shown here (older
 *  than the page's window). */
function change(d, frame, fields) {
  if (typeof frame.seq === "number") advance(d, frame.seq);
  const seq = d.next.ids.get(frame.id);
  if (seq !== undefined) update(d, seq, { changeSeq: frame.seq }, fields);
}

/** Redraws message `seq` with `fields` if they change what it shows. A
 *  deleted message stays deleted, and a change older than one already
 *  applied (a batch and a catch-up racing) is stale. */
function update(d, seq, meta, fields) {
  const old = d.next.messages.get(seq);
  if (old.deleted) return;
  if (meta.changeSeq !== undefined && old.changeSeq !== undefined && meta.changeSeq <= old.changeSeq) return;
  const next = withRights(d, { ...old, ...meta, ...fields });
  const same = next.text === old.text && next.edited === old.edited && next.deleted === old.deleted;
  if (same) return;
  d.edit("messages").set(seq, next);
  d.effects.push({ kind: "update", message: next });
}

function advance(d, seq) {
  d.next.lastSeq = Math.max(d.next.lastSeq || 0, seq);
}

/** Sends `frame` if a socket is open; an edit, delete or kick written
 *  offline is refused, since only messages are kept to resend. */
function sendNow(d, frame) {
  if (d.next.online) {
    d.effects.push({ kind: "send", frame });
  } else {
    refuse(d, "offline", "You're offline: try again when the connection is back.");
  }
}

function refuse(d, code, message, retryAfterMs) {
  d.effects.push({ kind: "refused", code, message, retryAfterMs });
}

function settle(d, clientMsgId) {
  if (!d.next.pending.has(clientMsgId)) return;
  d.edit("pending").delete(clientMsgId);
  d.effects.push({ kind: "settle", clientMsgId });
}

function onTyping(d, frame, now) {
  const { clientId } = frame;
  if (clientId === d.next.me) return;
  const until = now + TYPING_SHOW_MS;
  d.edit("typing").set(clientId, until);
  // A typist may have joined before our presence frame; learn their name.
  const members = d.edit("members");
  members.set(clientId, frame.name || members.get(clientId) || "");
  d.effects.push({ kind: "timer", afterMs: TYPING_SHOW_MS, clientId, until });
  pushTyping(d);
}

function stopTyping(d, clientId) {
  if (!d.next.typing.has(clientId)) return;
  d.edit("typing").delete(clientId);
  pushTyping(d);
}

/** A notice in the conversation; it ends the current sender's group. */
function note(d, event, frame, now) {
  const ts = typeof frame.ts === "number" ? frame.ts : now;
  d.effects.push({ kind: "event", event, clientId: frame.clientId, name: frame.name, ts });
  d.next.groupWith = null;
}

function pushMembers(d) {
  const members = [...d.next.members.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([clientId, name]) => {
      const me = clientId === d.next.me;
      return { clientId, name, me, removable: d.next.moderator && !me };
    });
  d.effects.push({ kind: "members", members });
}

function pushTyping(d) {
  const names = [...d.next.typing.keys()].map((id) => d.next.members.get(id) || id);
  d.effects.push({ kind: "typing", names });
}
