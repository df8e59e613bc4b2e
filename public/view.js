// The page's DOM, and nothing else: draws what state.js decided, in the
// words a person reads, and reports what the person does. Every piece of
// text from the server goes in through `textContent`, never as markup.

import {
  FAILED_ATTEMPTS_BEFORE_WARNING,
  FOLLOW_SLACK_PX,
  MESSAGE_MAX_CHARS,
  NAME_MAX_CHARS,
  NOTICE_MS,
  RECONNECTED_BANNER_MS,
  ROOM_MAX_CHARS,
} from "./limits.js";

const $ = (id) => document.getElementById(id);
const list = $("messages");
const input = $("input");
const statusEl = $("status");
const banner = $("banner");
const notice = $("notice");
const pill = $("new-pill");
const typingEl = $("typing");
const nameInput = $("name-input");
const roomInput = $("room-input");

/** clientMsgId -> its "sending…" item, in the order written: the items sit
 *  below every settled one, so the first is where settled items go. */
const pendingItems = new Map();
let noticeTimer = null;

/** Fills in who and where this page is. */
export function init({ clientId, room, name }) {
  $("me").textContent = clientId;
  $("room-name").textContent = room;
  nameInput.value = name;
  document.title = `#${room} · edge-chat`;
  input.maxLength = MESSAGE_MAX_CHARS;
  nameInput.maxLength = NAME_MAX_CHARS;
  roomInput.maxLength = ROOM_MAX_CHARS;
}

/**
 * Calls `on.send(text)`, `on.typed(hasText)`, `on.rename(name)`,
 * `on.switchRoom(raw)` and `on.copyLink()` when the person does those.
 */
export function bind(on) {
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    on.send(input.value);
  });
  input.addEventListener("input", () => on.typed(input.value !== ""));
  list.addEventListener("scroll", () => {
    if (atBottom()) pill.hidden = true;
  });
  pill.addEventListener("click", () => {
    list.scrollTop = list.scrollHeight;
    pill.hidden = true;
    input.focus();
  });
  $("copy-link").addEventListener("click", () => on.copyLink());
  $("switch-room").addEventListener("submit", (event) => {
    event.preventDefault();
    on.switchRoom(roomInput.value);
  });
  nameInput.addEventListener("change", () => on.rename(nameInput.value));
  nameInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      on.rename(nameInput.value);
      input.focus();
    }
  });
}

// ---- connection -----------------------------------------------------------

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
  // The member list greys out (style.css) while it may be stale.
  document.body.dataset.connection = state;
}

function showBanner(text, kind) {
  banner.textContent = text;
  banner.dataset.kind = kind;
  banner.hidden = false;
}

export function connecting(attempt) {
  setStatus("connecting", attempt ? `Reconnecting (attempt ${attempt + 1})…` : "Connecting…");
}

export function online(reconnected) {
  setStatus("online", "Connected");
  if (!reconnected) {
    banner.hidden = true;
    return;
  }
  showBanner("Reconnected. You are up to date.", "ok");
  setTimeout(() => {
    if (banner.dataset.kind === "ok") banner.hidden = true;
  }, RECONNECTED_BANNER_MS);
}

export function retrying({ attempt, waitMs, reason, opened }) {
  const why = reason ? ` (${reason})` : "";
  setStatus("offline", `Disconnected${why}. Retrying in ${Math.ceil(waitMs / 1000)} s…`);
  if (!opened && attempt >= FAILED_ATTEMPTS_BEFORE_WARNING) {
    showBanner(
      `Can't reach the chat server (${attempt} attempts). Still trying; messages you write will be sent when it is back.`,
      "bad",
    );
  } else {
    showBanner(`Connection lost${why}. Reconnecting…`, "warn");
  }
}

// ---- the conversation -----------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function timeEl(ts) {
  const date = new Date(ts);
  const time = el("time", "time", date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  time.dateTime = date.toISOString();
  return time;
}

function who({ clientId, name }) {
  return name ? `${name} (${clientId})` : clientId;
}

function atBottom() {
  return list.scrollHeight - list.scrollTop - list.clientHeight < FOLLOW_SLACK_PX;
}

/** Adds a settled item above the pending ones, following the conversation
 *  only if the reader was at the bottom; otherwise, for others' messages,
 *  offers a pill instead of yanking them down. */
function append(item, fromOthers) {
  const follow = atBottom();
  const firstPending = pendingItems.values().next().value;
  list.insertBefore(item, firstPending || null);
  if (follow) {
    list.scrollTop = list.scrollHeight;
  } else if (fromOthers) {
    pill.hidden = false;
  }
}

function messageItem({ clientId, name, text, ts, mine }) {
  const item = el("li", `msg ${mine ? "mine" : "theirs"}`);
  const meta = el("div", "meta");
  meta.append(el("span", "author", mine ? "You" : who({ clientId, name })), timeEl(ts));
  item.append(meta, el("p", "text", text));
  return item;
}

/** A stored message, under its sender's header unless it continues it. */
export function showMessage({ message }) {
  const item = messageItem(message);
  item.dataset.seq = String(message.seq);
  if (message.continues) item.classList.add("cont");
  append(item, !message.mine);
}

/** The person's own message on its way: below everything, marked
 *  "sending…", and the composer ready for the next one. */
export function addPending({ clientMsgId, text, ts }) {
  const item = messageItem({ text, ts, mine: true });
  item.classList.add("pending");
  item.querySelector(".meta").append(el("span", "state", "sending…"));
  pendingItems.set(clientMsgId, item);
  list.append(item);
  list.scrollTop = list.scrollHeight;
  input.value = "";
  input.focus();
}

/** The pending message is stored: its copy from the server shows it. */
export function settle({ clientMsgId }) {
  pendingItems.get(clientMsgId)?.remove();
  pendingItems.delete(clientMsgId);
}

const EVENT_TEXT = {
  joined: (e) => `${who(e)} joined`,
  left: (e) => `${who(e)} left`,
  missed: () => "Some messages were sent while you were away and are no longer kept.",
};

export function addEvent(event) {
  const item = el("li", "event");
  item.append(el("span", "", EVENT_TEXT[event.event](event)), timeEl(event.ts));
  append(item, false);
}

export function renderMembers({ members }) {
  const ul = $("member-list");
  ul.replaceChildren();
  for (const { clientId, name, me } of members) {
    const li = el("li", me ? "me" : "");
    li.append(el("span", "member-name", name || clientId));
    if (name) li.append(el("span", "member-id", clientId));
    ul.append(li);
  }
  $("member-count").textContent = String(members.length);
}

export function renderTyping({ names }) {
  typingEl.textContent =
    names.length === 0
      ? ""
      : names.length === 1
        ? `${names[0]} is typing…`
        : `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing…`;
}

// ---- notices --------------------------------------------------------------

export function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (notice.hidden = true), NOTICE_MS);
}

export function queued() {
  showNotice("Offline: your message will be sent when the connection is back.");
}

/** Why the server refused a frame, in the person's terms. */
export function refused({ code, message, retryAfterMs }) {
  let text = message || "The server refused that.";
  if (code === "rate_limited" && retryAfterMs) {
    text = `You're sending too fast; wait ${Math.ceil(retryAfterMs / 100) / 10} s.`;
  } else if (code === "message_too_long") {
    text = `Too long: ${message}.`;
  }
  showNotice(text);
}
