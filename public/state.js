// What the page shows, decided as pure functions over the client library's
// events (client/src/room.js decides everything about the wire: catch-up,
// dedupe, pending messages and their resends, members, edits and deletes).
// Each function takes the view's state and one thing that happened (an
// event from the client, a typing notice timing out) and returns `{ state,
// effects }`: the next state, and what app.js should draw or start. Nothing
// here touches the DOM, the clock or the client, and the state passed in is
// never changed, so tests/page/*.test.mjs check it under `node --test`.
//
// Effects, by `kind`:
//   queued   {}                         the user's message waits for the connection
//   pending  { clientMsgId, text, ts }  the user's message, "sending…"
//   settle   { clientMsgId }            that message is stored; drop "sending…"
//   show     { message }                a stored message, once per seq, in seq order
//   update   { message }                a shown message was edited or deleted
//   event    { event, clientId, name, ts }  "joined", "left" or "missed"
//   restart  {}                         a catch-up could not be whole: clear the
//                                       conversation, the newest messages follow
//   prepend  { messages, beginning }    a page of older messages, oldest first,
//                                       none already shown; `beginning`: no more
//   read     { seq, unread }            the reader's pointer, as the room has it
//   divider  { seq }                    "new since you were last here" above seq
//   members  { members: [{ clientId, name, me, removable }] }  sorted by client id
//   typing   { names }                  who is typing, oldest notice first
//   timer    { afterMs, clientId, until }  call `typingTimedOut` then
//   refused  { code, message, retryAfterMs }  a frame or an action was refused
//   ended    { why }                    "expired" or "removed": stop for good
//
// A shown message is the client's message (`{ seq, id, clientId, name,
// text, ts, mine, edited, deleted }`) plus `continues` (it joins the group
// above) and the two `can` flags, which say which controls the page offers
// (the room decides again).

import { GROUP_WITHIN_MS, TYPING_SHOW_MS } from "./limits.js";

/** Why a session ended, in the words the view knows: the client's end
 *  codes. A ban or a refused token reads like an expired session. */
const ENDED = { kicked: "removed", banned: "removed" };

/** The view of a page whose client id is `me`; `moderator` when its token
 *  says so (for display: the room decides). */
export function initialState(me, { moderator = false } = {}) {
  return {
    me,
    moderator,
    /** clientId -> the `until` of its newest typing notice. */
    typing: new Map(),
    /** clientId -> display name, from the member list and typing notices. */
    names: new Map(),
    /** Sender and time of the newest settled item if it is a message, null
     *  if it is a notice: a next message from the same sender soon after
     *  continues its group instead of repeating the header. */
    groupWith: null,
    /** The lowest seq shown: scrollback asks for what lies before it. */
    oldest: null,
    /** Scrollback reached the first message the room keeps. */
    beginning: false,
    /** A page of scrollback is on its way. */
    loadingOlder: false,
    /** The reader's pointer when the page opened: the first message after
     *  it, not the reader's own, gets the "new since" divider, once. */
    divideAfter: null,
    dividerShown: false,
    /** Whether the room has said where the pointer was: only that first
     *  word places the divider, not the reader's own reading since. */
    pointerKnown: false,
  };
}

/** Where to ask scrollback from, or null when there is nothing to ask:
 *  a page already on its way, or the first kept message shown. */
export function olderWanted(state) {
  if (state.loadingOlder || state.beginning) return null;
  return { before: state.oldest ?? undefined };
}

/** A page of scrollback was asked for (`true`), or the asking failed. */
export function olderAsked(state, asked) {
  return step(state, (d) => {
    d.next.loadingOlder = asked;
  });
}

/** An event from the client library (`RoomEvent`), at `now`. Events about
 *  the connection itself (`connecting`, `open`, `retrying`) are app.js's. */
export function onEvent(state, event, now) {
  return step(state, (d) => {
    switch (event.type) {
      case "message":
        stopTyping(d, event.message.clientId);
        show(d, event.message);
        break;
      case "update":
        d.effects.push({ kind: "update", message: withRights(d.next, event.message) });
        break;
      case "pending":
        d.effects.push({ kind: "pending", clientMsgId: event.clientMsgId, text: event.text, ts: event.ts });
        break;
      case "queued":
        d.effects.push({ kind: "queued" });
        break;
      case "ack":
        d.effects.push({ kind: "settle", clientMsgId: event.clientMsgId });
        break;
      case "members":
        onMembers(d, event.members, event.count);
        break;
      case "crowd":
        // A big room's comings and goings, one line a second at most.
        note(d, "crowd", { ...event, clientId: "server", name: "", ts: now });
        break;
      case "join":
        // Our own join shows in the list but is no news to us.
        if (!event.me) note(d, "joined", event);
        break;
      case "leave":
        stopTyping(d, event.clientId);
        note(d, "left", event);
        break;
      case "typing":
        onTyping(d, event, now);
        break;
      case "missed":
        // The room starts a client over that missed more than one history
        // holds: the conversation shown so far has a gap, so it goes, and
        // scrollback reaches everything before the newest messages.
        d.effects.push({ kind: "restart" });
        d.next.oldest = null;
        d.next.beginning = false;
        d.next.groupWith = null;
        note(d, "missed", event);
        break;
      case "older":
        onOlder(d, event);
        break;
      case "read":
        // The first pointer is where the reader left off; a first visit
        // (nothing read yet) is all new, and needs no divider.
        if (!d.next.pointerKnown) {
          d.next.pointerKnown = true;
          if (event.seq > 0) d.next.divideAfter = event.seq;
        }
        d.effects.push({ kind: "read", seq: event.seq, unread: event.unread });
        break;
      case "error":
        d.effects.push({ kind: "refused", code: event.code, message: event.message, retryAfterMs: event.retryAfterMs });
        break;
      case "end":
        if (event.code !== "closed") d.effects.push({ kind: "ended", why: ENDED[event.code] ?? "expired" });
        break;
      default:
        break;
    }
  });
}

/** A `timer` effect fired: `clientId` stops typing unless a newer notice
 *  (with a later `until`) came in since. */
export function typingTimedOut(state, clientId, until) {
  return step(state, (d) => {
    if (d.next.typing.get(clientId) === until) stopTyping(d, clientId);
  });
}

/** Which controls the page offers on `message`: edit on your own, delete on
 *  your own or, for a moderator, on anyone's; none on a tombstone, nor on a
 *  message without an id to name it by. */
export function rights(state, message) {
  const live = !message.deleted && typeof message.id === "string";
  return {
    canEdit: live && message.mine,
    canDelete: live && (message.mine || state.moderator),
    canReact: live,
  };
}

/** Whether saving `text` over `message` (undefined: not shown) is an edit
 *  to send: one the person may make that changes something. */
export function editWanted(state, message, text) {
  return Boolean(message) && rights(state, message).canEdit && text !== message.text;
}

/** Whether the person may delete `message` (undefined: not shown). */
export function deleteWanted(state, message) {
  return Boolean(message) && rights(state, message).canDelete;
}

/** Whether the person may remove `clientId`: moderators, anyone but
 *  themselves. */
export function kickWanted(state, clientId) {
  return state.moderator && clientId !== state.me;
}

/** Runs `change` on a copy-on-write draft of `state`: a collection is copied
 *  the first time it is edited, so the caller's state stays as it was. */
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

function withRights(state, message) {
  return { ...message, ...rights(state, message) };
}

function show(d, message) {
  const continues = groupsWith(d.next.groupWith, message);
  d.next.groupWith = { clientId: message.clientId, ts: message.ts };
  d.next.oldest = d.next.oldest === null ? message.seq : Math.min(d.next.oldest, message.seq);
  d.effects.push({ kind: "show", message: { ...withRights(d.next, message), continues } });
  const after = d.next.divideAfter;
  if (!d.next.dividerShown && after !== null && message.seq > after && !message.mine) {
    d.next.dividerShown = true;
    d.effects.push({ kind: "divider", seq: message.seq });
  }
}

/** Whether `message` continues the group of `prev` (sender and time). */
function groupsWith(prev, message) {
  return prev !== null && prev.clientId === message.clientId && message.ts - prev.ts < GROUP_WITHIN_MS;
}

/** A page of scrollback: the messages older than any shown, grouped among
 *  themselves, to go above the conversation. */
function onOlder(d, { messages, more }) {
  d.next.loadingOlder = false;
  const older = messages.filter((m) => d.next.oldest === null || m.seq < d.next.oldest);
  let prev = null;
  const shown = older.map((m) => {
    const continues = groupsWith(prev, m);
    prev = { clientId: m.clientId, ts: m.ts };
    return { ...withRights(d.next, m), continues };
  });
  if (shown.length) d.next.oldest = shown[0].seq;
  d.next.beginning = !more;
  d.effects.push({ kind: "prepend", messages: shown, beginning: !more });
}

function onMembers(d, members, count = members.length) {
  const names = d.edit("names");
  for (const { clientId, name } of members) names.set(clientId, name);
  d.effects.push({
    kind: "members",
    members: members.map((m) => ({ ...m, removable: kickWanted(d.next, m.clientId) })),
    count,
  });
}

function onTyping(d, { clientId, name }, now) {
  const until = now + TYPING_SHOW_MS;
  d.edit("typing").set(clientId, until);
  // A typist may have joined before our member list; learn their name.
  const names = d.edit("names");
  names.set(clientId, name || names.get(clientId) || "");
  d.effects.push({ kind: "timer", afterMs: TYPING_SHOW_MS, clientId, until });
  pushTyping(d);
}

function stopTyping(d, clientId) {
  if (!d.next.typing.has(clientId)) return;
  d.edit("typing").delete(clientId);
  pushTyping(d);
}

/** A notice in the conversation; it ends the current sender's group. */
function note(d, event, { clientId, name, ts, joined, left }) {
  d.effects.push({ kind: "event", event, clientId, name, ts, joined, left });
  d.next.groupWith = null;
}

function pushTyping(d) {
  const names = [...d.next.typing.keys()].map((id) => d.next.names.get(id) || id);
  d.effects.push({ kind: "typing", names });
}
