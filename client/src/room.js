// What a client knows about its room, and every decision made from it, as
// pure functions. Each takes the state and one thing that happened (a frame
// from the room, a message the app wrote, the socket opening or closing)
// and returns `{ state, events }`: the next state, and the typed events to
// hand on (index.d.ts, `RoomEvent`), among them `send` events the caller
// puts on the socket. Nothing here touches a socket, the clock or
// randomness, and the state passed in is never changed, so
// client/test/room.test.mjs checks it all under `node --test`.
//
// The guarantees live here: every stored message is handed on once, in the
// room's order, however often a catch-up, a batch or a broadcast repeats
// it; `since` is the newest seq seen, edits' and deletes' included; and a
// message written is pending under its clientMsgId until the room says it
// is stored, resent after every catch-up until then.
//
// New frames slot in as one case each in `receive`.

import {
  KICK_MAX_MINUTES,
  MESSAGE_MAX_CHARS,
  PAGE_DEFAULT,
  PAGE_MAX,
  QUOTE_CHARS,
  TYPING_SEND_EVERY_MS,
} from "./limits.js";
import { endingCode, frames } from "./protocol.js";

/** The state of client `me` before any connection. */
export function initialRoom(me) {
  return {
    me,
    /** Whether a socket is open: a send now would reach the room. */
    online: false,
    /** The newest seq seen, asked for as `since` on every reconnect; null
     *  until the first history, so a first visit gets the whole window. */
    lastSeq: null,
    /** seq -> the message as it is now. A seq already here is a duplicate. */
    messages: new Map(),
    /** message id -> its seq: `edit` and `delete` frames name the id. */
    ids: new Map(),
    /** clientMsgId -> { text, ts }: written, not yet known to be stored, in
     *  the order written, which is the order they are resent in. */
    pending: new Map(),
    /** clientId -> display name, or "" for none: everyone in a small room,
     *  the first 500 and those who came since in a big one. */
    members: new Map(),
    /** How many people are here: exact, however many `members` lists. */
    count: 0,
    /** Relay objects holding the room's sockets; 0 while it is one object. */
    relays: 0,
    /** When the last typing notice went out. */
    typingSentAt: -Infinity,
    /** The room's history epoch, sent beside `since` on a reconnect. */
    epoch: null,
    /** This person's read pointer and unread count, once the room said. */
    read: null,
  };
}

/** A frame from the room (already parsed), received at `now`. */
export function receive(state, frame, now) {
  return step(state, (d) => {
    if (!frame || typeof frame !== "object") return;
    // `batch=1` clients get bursts as one frame; each inner frame counts as
    // if it came alone, and batches never nest.
    const inner = frame.type === "batch" ? frame.frames : [frame];
    if (Array.isArray(inner)) inner.forEach((f) => one(d, f, now));
  });
}

/** The app wrote `text` at `now`; `clientMsgId` makes its resends
 *  idempotent. Blank text is not a message. */
export function compose(state, text, clientMsgId, now, replyTo = undefined) {
  return step(state, (d) => {
    if (!text.trim()) return;
    if ([...text].length > MESSAGE_MAX_CHARS) {
      refuse(d, "message_too_long", `the limit is ${MESSAGE_MAX_CHARS} characters`);
      return;
    }
    d.edit("pending").set(clientMsgId, { text, ts: now, replyTo });
    const pending = { type: "pending", clientMsgId, text, ts: now };
    if (replyTo) pending.replyTo = replyTo;
    d.events.push(pending);
    // Offline, it waits in `pending` and goes out after the next history.
    d.events.push(
      d.next.online
        ? { type: "send", frame: frames.message(text, clientMsgId, replyTo) }
        : { type: "queued", clientMsgId },
    );
  });
}

/** Toggles this client's `emoji` on message `id`: the room adds it, or
 *  takes it away if it was already given, and says so in a `reaction`. */
export function react(state, id, emoji) {
  return step(state, (d) => sendNow(d, frames.react(id, emoji)));
}

/** This client has seen everything up to `seq`: the room moves its read
 *  pointer there (forward only) and tells all its tabs. Nothing is sent
 *  when the room already has the pointer there or further. */
export function markRead(state, seq) {
  return step(state, (d) => {
    if (!Number.isInteger(seq) || (d.next.read && seq <= d.next.read.seq)) return;
    if (d.next.online) d.events.push({ type: "send", frame: frames.read(seq) });
  });
}

/** Asks for a page of scrollback before `before` (or the newest). */
export function older(state, before, limit = PAGE_DEFAULT) {
  return step(state, (d) => {
    if (pageLimit(d, limit)) sendNow(d, frames.older(before, limit));
  });
}

/** Asks for a page of search hits for `q`, newest first, before `before`. */
export function search(state, q, before, limit = PAGE_DEFAULT) {
  return step(state, (d) => {
    if (typeof q !== "string" || !q.trim()) {
      refuse(d, "bad_query", "Type something to search for.");
    } else if (pageLimit(d, limit)) {
      sendNow(d, frames.search(q, before, limit));
    }
  });
}

function pageLimit(d, limit) {
  if (Number.isInteger(limit) && limit >= 1 && limit <= PAGE_MAX) return true;
  refuse(d, "bad_request", `A page holds 1 to ${PAGE_MAX} messages.`);
  return false;
}

/** The app is typing at `now`: a notice goes out at most once per
 *  interval, and only online (a late one means nothing). */
export function typing(state, now) {
  return step(state, (d) => {
    if (!d.next.online || now - d.next.typingSentAt <= TYPING_SEND_EVERY_MS) return;
    d.next.typingSentAt = now;
    d.events.push({ type: "send", frame: frames.typing() });
  });
}

/** The socket opened (`true`) or closed (`false`). The member list is kept
 *  while offline: an empty one would say everyone left. */
export function setOnline(state, online) {
  return step(state, (d) => {
    d.next.online = online;
  });
}

/** New text for message `id` (the author's own: the room refuses others). */
export function edit(state, id, text) {
  return step(state, (d) => {
    if (!text.trim()) {
      refuse(d, "empty_message", "An edit can't leave a message empty; delete it instead.");
    } else if ([...text].length > MESSAGE_MAX_CHARS) {
      refuse(d, "message_too_long", `the limit is ${MESSAGE_MAX_CHARS} characters`);
    } else {
      sendNow(d, frames.edit(id, text));
    }
  });
}

/** Deletes message `id` (the author's own, or anyone's for a moderator). */
export function remove(state, id) {
  return step(state, (d) => sendNow(d, frames.delete(id)));
}

/** Removes `clientId` from the room for `minutes` (moderators only: the
 *  room refuses anyone else with `not_moderator`). */
export function kick(state, clientId, minutes) {
  return step(state, (d) => {
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > KICK_MAX_MINUTES) {
      refuse(d, "bad_minutes", `Minutes must be a whole number from 1 to ${KICK_MAX_MINUTES}.`);
    } else {
      sendNow(d, frames.kick(clientId, minutes));
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
    events: [],
    edit(key) {
      if (!copied.has(key)) {
        d.next[key] = new Map(d.next[key]);
        copied.add(key);
      }
      return d.next[key];
    },
  };
  change(d);
  return { state: d.next, events: d.events };
}

function one(d, frame, now) {
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
      change(d, frame, { text: "", deleted: true, reactions: [], mentions: [], mentionsMe: false });
      break;
    case "ack":
      settle(d, frame.clientMsgId, frame.seq, frame.id);
      break;
    case "join":
      onJoin(d, frame, now);
      break;
    case "leave":
      onLeave(d, frame, now);
      break;
    case "crowd":
      onCrowd(d, frame);
      break;
    case "typing":
      if (frame.clientId !== d.next.me) d.events.push({ type: "typing", ...person(frame, now) });
      break;
    case "error":
      onError(d, frame);
      break;
    case "reaction":
      onReaction(d, frame);
      break;
    case "reactions":
      if (typeof frame.seq === "number") advance(d, frame.seq);
      reactionsNow(d, frame.id, frame.reactions);
      break;
    case "read":
      onRead(d, frame);
      break;
    case "older":
    case "search":
      onPage(d, frame);
      break;
    default:
      break; // pong, and types from newer rooms
  }
}

/** Who a frame is about, and when. */
function person(frame, now) {
  return {
    clientId: frame.clientId,
    name: frame.name || "",
    ts: typeof frame.ts === "number" ? frame.ts : now,
  };
}

/** The whole member list, as the room sends it on every (re)connect. */
function onPresence(d, frame) {
  d.next.members = new Map((frame.members || []).map((m) => [m.clientId, m.name || ""]));
  d.next.count = typeof frame.count === "number" ? frame.count : d.next.members.size;
  d.next.relays = typeof frame.relays === "number" ? frame.relays : 0;
  pushMembers(d);
}

/** A crowded room's comings and goings, grouped: the count as it is now. */
function onCrowd(d, frame) {
  if (typeof frame.count === "number") d.next.count = frame.count;
  if (typeof frame.relays === "number") d.next.relays = frame.relays;
  const { joined = 0, left = 0 } = frame;
  d.events.push({ type: "crowd", joined, left, count: d.next.count, relays: d.next.relays });
  pushMembers(d);
}

/** Someone joined, ourselves included (`me`). */
function onJoin(d, frame, now) {
  // A join is someone's first socket; our own is in the presence count.
  if (!d.next.members.has(frame.clientId)) d.next.count += 1;
  d.edit("members").set(frame.clientId, frame.name || "");
  pushMembers(d);
  d.events.push({ type: "join", ...person(frame, now), me: frame.clientId === d.next.me });
}

function onLeave(d, frame, now) {
  d.next.count = Math.max(0, d.next.count - 1);
  d.edit("members").delete(frame.clientId);
  pushMembers(d);
  d.events.push({ type: "leave", ...person(frame, now), me: frame.clientId === d.next.me });
}

/** An error frame either ends the session (the room closes the socket
 *  next) or refuses one frame, and the session goes on. */
function onError(d, frame) {
  if (endingCode(frame.code)) {
    d.events.push({ type: "end", code: frame.code, message: frame.message || frame.code });
  } else {
    refuse(d, frame.code, frame.message, frame.retryAfterMs);
  }
}

function onHistory(d, frame, now) {
  // Only a reconnect can miss messages: a first visit expects the window.
  // The room starts a client over when more was missed than one history
  // holds (the rest is scrollback) or its history was replaced (`reset`).
  if (frame.truncated && d.next.lastSeq !== null) {
    const ts = typeof frame.ts === "number" ? frame.ts : now;
    d.events.push({ type: "missed", ts, reset: frame.reset === true });
  }
  if (frame.reset === true) d.next.lastSeq = null;
  if (typeof frame.epoch === "string") d.next.epoch = frame.epoch;
  if (frame.read) onRead(d, frame.read);
  // A first history is what was said before this client came: a bot
  // answers what is said from now on, and what it missed while away.
  const backlog = d.next.lastSeq === null;
  (frame.messages || []).forEach((m) => show(d, m, now, backlog));
  // Edits and deletes of messages seen before the drop, in seq order.
  (frame.changes || []).forEach((c) => one(d, c, now));
  if (typeof frame.latestSeq === "number") {
    d.next.lastSeq = Math.max(d.next.lastSeq || 0, frame.latestSeq);
  }
  // What is still pending went into a connection that dropped, or never
  // went out: the history just settled whatever of it was stored, and the
  // rest goes again under its original id, which the room stores at most
  // once.
  for (const [clientMsgId, { text, replyTo }] of d.next.pending) {
    d.events.push({ type: "send", frame: frames.message(text, clientMsgId, replyTo) });
  }
}

/** A reaction added or taken away: the message's counts as the room now
 *  has them, and `mine` moved only by this client's own toggles. */
function onReaction(d, frame) {
  if (typeof frame.seq === "number") advance(d, frame.seq);
  const seq = d.next.ids.get(frame.id);
  if (seq === undefined) return;
  const before = d.next.messages.get(seq).reactions || [];
  const wasMine = (emoji) => before.find((r) => r.emoji === emoji)?.mine === true;
  const byMe = frame.clientId === d.next.me;
  const reactions = (frame.reactions || []).map(({ emoji, count }) => ({
    emoji,
    count,
    mine: byMe && emoji === frame.emoji ? frame.on === true : wasMine(emoji),
  }));
  update(d, seq, {}, { reactions });
  d.events.push({ type: "reaction", id: frame.id, seq: frame.seq, emoji: frame.emoji, on: frame.on, clientId: frame.clientId, reactions });
}

/** A message's reactions as the room has them now, `mine` included. */
function reactionsNow(d, id, reactions) {
  const seq = d.next.ids.get(id);
  if (seq !== undefined) update(d, seq, {}, { reactions: reactions || [] });
}

/** Where this person's read pointer is, and how much is unread. */
function onRead(d, read) {
  if (typeof read.seq !== "number") return;
  if (d.next.read && read.seq < d.next.read.seq) return;
  d.next.read = { seq: read.seq, unread: read.unread ?? 0 };
  d.events.push({ type: "read", ...d.next.read });
}

/** A page of scrollback or search hits: kept so later edits, deletes and
 *  reactions reach them, handed on as one event, never as new messages. */
function onPage(d, frame) {
  const messages = (frame.messages || []).filter((m) => typeof m.seq === "number").map((m) => {
    const known = d.next.messages.get(m.seq);
    if (known) return known;
    const message = asMessage(d, m, d.next.me);
    d.edit("messages").set(m.seq, message);
    if (typeof m.id === "string") d.edit("ids").set(m.id, m.seq);
    return message;
  });
  const event = { type: frame.type, messages, more: frame.more === true };
  if (frame.type === "search") event.q = frame.q;
  if (typeof frame.before === "number") event.before = frame.before;
  d.events.push(event);
}

function show(d, frame, now, backlog = false) {
  const { seq, clientId } = frame;
  if (typeof seq !== "number") return;
  advance(d, seq);
  const known = d.next.messages.get(seq);
  if (known) {
    // A copy of a message already seen, as a history overlapping a
    // broadcast gives: only a delete or a newer edit it carries is news,
    // and a copy from before an edit must not undo it.
    const fields = historyFields(frame);
    if (fields.deleted || (fields.edited ?? 0) > (known.edited ?? 0)) update(d, seq, {}, fields);
    return;
  }
  const mine = clientId === d.next.me;
  // Our own message coming back is as good as its ack, and the only word
  // there is when it arrives in a history after a reconnect.
  if (mine && frame.clientMsgId) settle(d, frame.clientMsgId, seq, frame.id);
  const message = asMessage(d, frame, d.next.me, now);
  d.edit("messages").set(seq, message);
  if (typeof frame.id === "string") d.edit("ids").set(frame.id, seq);
  d.events.push({ type: "message", message, backlog });
}

/** A message frame as a `Message`. */
function asMessage(d, frame, me, now = 0) {
  const message = {
    seq: frame.seq,
    id: frame.id,
    clientId: frame.clientId,
    name: frame.name || "",
    ts: typeof frame.ts === "number" ? frame.ts : now,
    mine: frame.clientId === me,
    ...historyFields(frame),
    reactions: Array.isArray(frame.reactions) ? frame.reactions : [],
    mentions: Array.isArray(frame.mentions) ? frame.mentions : [],
    mentionsMe: Array.isArray(frame.mentions) && frame.mentions.includes(me),
  };
  if (frame.replyTo) message.replyTo = frame.replyTo;
  if (frame.clientMsgId) message.clientMsgId = frame.clientMsgId;
  return message;
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

/** The quote a reply shows of `text`, as the room makes it. */
export function quoteOf(text) {
  const chars = [...text];
  return chars.length > QUOTE_CHARS ? `${chars.slice(0, QUOTE_CHARS).join("")}…` : text;
}

/** An `edit` or `delete` frame: it takes the room's next seq, so `since`
 *  moves past it even when the message it names is not kept here (older
 *  than the window this client saw). */
function change(d, frame, fields) {
  if (typeof frame.seq === "number") advance(d, frame.seq);
  const seq = d.next.ids.get(frame.id);
  if (seq !== undefined) update(d, seq, { changeSeq: frame.seq }, fields);
  if (Array.isArray(frame.mentions)) {
    if (seq !== undefined) {
      const mentionsMe = frame.mentions.includes(d.next.me);
      update(d, seq, {}, { mentions: frame.mentions, mentionsMe });
    }
  }
  // Replies to it quote it as it is now.
  for (const [replySeq, m] of d.next.messages) {
    if (m.replyTo?.id !== frame.id || m.replyTo.gone) continue;
    const replyTo = fields.deleted
      ? { ...m.replyTo, quote: "", deleted: true }
      : { ...m.replyTo, quote: quoteOf(fields.text) };
    update(d, replySeq, {}, { replyTo });
  }
}

/** Applies `fields` to message `seq` if they change it. A deleted message
 *  stays deleted, and a change older than one already applied (a batch
 *  and a catch-up racing) is stale. */
function update(d, seq, meta, fields) {
  const old = d.next.messages.get(seq);
  if (old.deleted) return;
  if (meta.changeSeq !== undefined && old.changeSeq !== undefined && meta.changeSeq <= old.changeSeq) return;
  const next = { ...old, ...meta, ...fields };
  const same =
    next.text === old.text &&
    next.edited === old.edited &&
    next.deleted === old.deleted &&
    next.reactions === old.reactions &&
    next.replyTo === old.replyTo &&
    next.mentions === old.mentions;
  if (same) return;
  d.edit("messages").set(seq, next);
  d.events.push({ type: "update", message: next });
}

function advance(d, seq) {
  d.next.lastSeq = Math.max(d.next.lastSeq || 0, seq);
}

/** Sends `frame` if a socket is open; an edit, delete or kick asked for
 *  offline is refused, since only messages are kept to resend. */
function sendNow(d, frame) {
  if (d.next.online) {
    d.events.push({ type: "send", frame });
  } else {
    refuse(d, "offline", "You're offline: try again when the connection is back.");
  }
}

function refuse(d, code, message, retryAfterMs) {
  const event = { type: "error", code, message: message || code };
  if (retryAfterMs !== undefined) event.retryAfterMs = retryAfterMs;
  d.events.push(event);
}

function settle(d, clientMsgId, seq, id) {
  if (!d.next.pending.has(clientMsgId)) return;
  d.edit("pending").delete(clientMsgId);
  d.events.push({ type: "ack", clientMsgId, seq, id });
}

function pushMembers(d) {
  const members = [...d.next.members.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([clientId, name]) => ({ clientId, name, me: clientId === d.next.me }));
  d.events.push({ type: "members", members, count: d.next.count, relays: d.next.relays });
}
