// The page's DOM, and nothing else: draws what state.js decided, in the
// words a person reads, and reports what the person does. Every piece of
// text from the server goes in through `textContent`, never as markup.
// Controls inside the message and member lists are found by delegation
// (`data-action`), since those lists are redrawn as frames arrive.

import { KICK_MAX_MINUTES, MESSAGE_MAX_CHARS, NAME_MAX_CHARS, ROOM_MAX_CHARS } from "./client/limits.js";
import {
  FAILED_ATTEMPTS_BEFORE_WARNING,
  FOLLOW_SLACK_PX,
  KICK_DEFAULT_MINUTES,
  NOTICE_MS,
  QUICK_REACTIONS,
  RECONNECTED_BANNER_MS,
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
const olderRow = $("older-row");
const results = $("results");
const resultList = $("result-list");

/** clientMsgId -> its "sending…" item, in the order written: the items sit
 *  below every settled one, so the first is where settled items go. */
const pendingItems = new Map();
let noticeTimer = null;
/** Whether a failed connect may be a refused token (see `retrying`). */
let signedIn = false;
/** The member whose removal form is open: the list is redrawn on every
 *  join and leave, and the form must survive that. */
let removing = null;

/** Fills in who and where this page is. With a sign-in token the name is
 *  the token's, so its box is read-only; a private room can only be made
 *  where the token admits any room. */
export function init({ clientId, room, name, tokenMode, canCreateRoom }) {
  signedIn = tokenMode;
  $("me").textContent = clientId;
  $("room-name").textContent = room;
  nameInput.value = name;
  if (tokenMode) {
    nameInput.readOnly = true;
    nameInput.placeholder = "";
    nameInput.title = "Your name comes from your sign-in link.";
  }
  $("private-room").hidden = !canCreateRoom;
  document.title = `#${room} · edge-chat`;
  input.maxLength = MESSAGE_MAX_CHARS;
  nameInput.maxLength = NAME_MAX_CHARS;
  roomInput.maxLength = ROOM_MAX_CHARS;
}

/**
 * Calls `on.send(text)`, `on.typed(hasText)`, `on.rename(name)`,
 * `on.switchRoom(raw)`, `on.copyLink()`, `on.newPrivateRoom()`,
 * `on.edit(seq, text)` (true if the editor may close), `on.remove(seq)`,
 * `on.kick(clientId, minutes)` and `on.reload()` when the person does those.
 */
export function bind(on) {
  bindMessages(on);
  bindMembers(on);
  $("new-room").addEventListener("click", () => on.newPrivateRoom());
  $("reload").addEventListener("click", () => on.reload());
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
  bindScrollback(on);
  bindSearch(on);
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
  if (!opened && attempt >= FAILED_ATTEMPTS_BEFORE_WARNING && signedIn) {
    // The browser hides why a handshake failed: a refused token and a
    // server that is down look the same from here.
    showBanner(
      `Could not connect (${attempt} attempts); your link may have expired or may not be for this room. Still trying.`,
      "bad",
    );
  } else if (!opened && attempt >= FAILED_ATTEMPTS_BEFORE_WARNING) {
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

function messageItem(message) {
  const { clientId, name, ts, mine } = message;
  const item = el("li", `msg ${mine ? "mine" : "theirs"}`);
  const meta = el("div", "meta");
  meta.append(el("span", "author", mine ? "You" : who({ clientId, name })), timeEl(ts));
  item.append(meta);
  renderBody(item, message);
  return item;
}

/** A short quote of a message, so each control's label says which one. */
function excerpt(text) {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** A small button that the list's delegated handlers know by `action`. */
function tool(action, text, label) {
  const button = el("button", `tool ${action}`, text);
  button.type = "button";
  button.dataset.action = action;
  button.dataset.focus = action;
  if (label) button.setAttribute("aria-label", label);
  return button;
}

/** Draws a message's quote of what it answers, its text (or its
 *  tombstone), "(edited)", its reactions and the controls state.js
 *  allows, keeping keyboard focus on the control that had it. */
function renderBody(item, message) {
  const { text, edited, deleted, canEdit, canDelete, canReact, replyTo, mentionsMe } = message;
  const focused = item.contains(document.activeElement) ? focusKey(document.activeElement) : null;
  item.querySelectorAll(".quote, .text, .editing, .reactions, .foot").forEach((node) => node.remove());
  item.classList.toggle("deleted", Boolean(deleted));
  item.classList.toggle("mentions-me", Boolean(mentionsMe) && !deleted);
  if (replyTo && !deleted) item.append(quoteButton(replyTo));
  item.append(deleted ? el("p", "text tombstone", "message deleted") : el("p", "text", text));
  if (!deleted && message.reactions?.length) item.append(reactionRow(message));
  const foot = el("div", "foot");
  if (edited && !deleted) {
    const mark = el("span", "edited", "(edited)");
    mark.title = `Edited ${new Date(edited).toLocaleString()}`;
    foot.append(mark);
  }
  if (canReact) {
    foot.append(tool("reply", "Reply", `Reply to “${excerpt(text)}”`));
    foot.append(tool("pick", "React", `React to “${excerpt(text)}”`));
  }
  if (canEdit) foot.append(tool("edit", "Edit", `Edit your message “${excerpt(text)}”`));
  if (canDelete) foot.append(tool("delete", "Delete", `Delete the message “${excerpt(text)}”`));
  if (foot.childElementCount) item.append(foot);
  if (focused) (item.querySelector(`[data-focus="${focused}"]`) || list).focus();
}

/** What to find a control by after a redraw: its action, and for a
 *  reaction its emoji. */
function focusKey(node) {
  return node.dataset?.focus || null;
}

/** The quote of the message a reply answers: a button that goes to it. */
function quoteButton(replyTo) {
  const quote = el("button", "quote");
  quote.type = "button";
  quote.dataset.action = "goto";
  quote.dataset.focus = "goto";
  quote.dataset.id = replyTo.id;
  const author = replyTo.name || replyTo.clientId || "";
  const said = replyTo.gone ? "a message no longer kept" : replyTo.deleted ? "message deleted" : replyTo.quote;
  quote.append(el("span", "quote-author", author ? `↩ ${author}` : "↩"), el("span", "quote-text", said));
  quote.setAttribute("aria-label", `In reply to ${author || "a message"}: ${said}. Show it.`);
  return quote;
}

/** Each emoji with its count; pressed when it is the reader's own. */
function reactionRow({ reactions, text }) {
  const row = el("div", "reactions");
  for (const { emoji, count, mine } of reactions) {
    const chip = el("button", `chip${mine ? " mine" : ""}`, `${emoji} ${count}`);
    chip.type = "button";
    chip.dataset.action = "react";
    chip.dataset.emoji = emoji;
    chip.dataset.focus = `react:${emoji}`;
    chip.setAttribute("aria-pressed", mine ? "true" : "false");
    const yours = mine ? ", yours among them" : "";
    chip.setAttribute("aria-label", `${emoji}: ${count}${yours}. Toggle your ${emoji} on “${excerpt(text)}”`);
    row.append(chip);
  }
  return row;
}

/** A few reactions to choose from, as buttons: the keyboard reaches them. */
function openPicker(item) {
  if (item.querySelector(".picker")) return;
  const picker = el("div", "picker");
  picker.setAttribute("role", "group");
  picker.setAttribute("aria-label", "Choose a reaction");
  for (const emoji of QUICK_REACTIONS) {
    const button = el("button", "", emoji);
    button.type = "button";
    button.dataset.action = "react";
    button.dataset.emoji = emoji;
    button.setAttribute("aria-label", `React with ${emoji}`);
    picker.append(button);
  }
  item.append(picker);
  picker.querySelector("button").focus();
}

/** A stored message, under its sender's header unless it continues it. */
export function showMessage({ message }) {
  const item = messageItem(message);
  item.dataset.seq = String(message.seq);
  if (message.continues) item.classList.add("cont");
  append(item, !message.mine);
}

/** A page of older messages, above the conversation, the reader's place
 *  kept: what they were looking at stays where it was. */
export function prependMessages({ messages, beginning }) {
  const fromBottom = list.scrollHeight - list.scrollTop;
  const items = messages.map((message) => {
    const item = messageItem(message);
    item.dataset.seq = String(message.seq);
    if (message.continues) item.classList.add("cont");
    return item;
  });
  list.prepend(...items);
  list.scrollTop = list.scrollHeight - fromBottom;
  showOlder(!beginning, beginning);
}

/** Whether older messages can be loaded, or the first kept one is shown. */
export function showOlder(more, beginning = false) {
  olderRow.hidden = !more && !beginning;
  $("load-older").hidden = !more;
  $("beginning").hidden = !beginning;
}

/** A catch-up could not be whole: the conversation shown had a gap, so it
 *  goes (pending messages stay); the newest messages follow. */
export function restart() {
  list.querySelectorAll(".msg:not(.pending), .event").forEach((node) => node.remove());
  showOlder(true);
}

/** Brings message `seq` into view and marks it for a moment; false if it is
 *  not shown. */
export function highlight(seq) {
  const item = list.querySelector(`.msg[data-seq="${seq}"]`);
  if (!item) return false;
  item.tabIndex = -1;
  item.scrollIntoView({ block: "center" });
  item.classList.add("found");
  item.focus({ preventScroll: true });
  setTimeout(() => item.classList.remove("found"), NOTICE_MS);
  return true;
}

/** Scrollback: the button above the conversation, and reaching the top. */
function bindScrollback(on) {
  $("load-older").addEventListener("click", () => on.older());
  list.addEventListener("scroll", () => {
    if (list.scrollTop < FOLLOW_SLACK_PX && !olderRow.hidden) on.older();
  });
}

/** Search: the box in the header and the panel of hits. */
function bindSearch(on) {
  const input = $("search-input");
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) on.search(input.value.trim());
  });
  $("more-results").addEventListener("click", () => on.moreResults());
  $("close-results").addEventListener("click", () => {
    results.hidden = true;
    input.focus();
  });
  resultList.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-seq]");
    if (button) on.jump(Number(button.dataset.seq));
  });
}

/** A page of search hits for `q`, newest first: a new search replaces the
 *  list, `More results` adds to it. */
export function showResults({ q, messages, more, append: adding }) {
  results.hidden = false;
  if (!adding) resultList.replaceChildren();
  for (const message of messages) {
    const item = el("li", "hit");
    item.append(el("span", "author", message.mine ? "You" : who(message)), timeEl(message.ts));
    item.append(el("p", "text", message.text));
    const go = el("button", "", "Show in conversation");
    go.type = "button";
    go.dataset.seq = String(message.seq);
    go.setAttribute("aria-label", `Show “${excerpt(message.text)}” in the conversation`);
    item.append(go);
    resultList.append(item);
  }
  const count = resultList.childElementCount;
  $("results-status").textContent = count
    ? `${count}${more ? "+" : ""} message${count === 1 ? "" : "s"} with “${q}”`
    : `No messages with “${q}”.`;
  $("more-results").hidden = !more;
  if (!adding) $("results-title").focus?.();
}

/** A shown message was edited or deleted: redrawn in place. */
export function updateMessage({ message }) {
  const item = list.querySelector(`.msg[data-seq="${message.seq}"]`);
  if (item) renderBody(item, message);
}

/** Edit and delete on the message list. Editing happens in place: Enter
 *  saves, Escape cancels, and the text is redrawn when the server's `edit`
 *  comes back. */
function bindMessages(on) {
  const actions = {
    edit: startEditing,
    cancel: stopEditing,
    save: (item) => {
      const editor = item.querySelector(".editor");
      if (on.edit(Number(item.dataset.seq), editor.value)) stopEditing(item);
    },
    delete: (item) => on.remove(Number(item.dataset.seq)),
    reply: (item) => on.reply(Number(item.dataset.seq)),
    pick: openPicker,
    react: (item, button) => {
      item.querySelector(".picker")?.remove();
      on.react(Number(item.dataset.seq), button.dataset.emoji);
    },
    goto: (item, button) => on.goto(button.dataset.id),
  };
  list.addEventListener("click", (event) => {
    const button = event.target.closest(".msg button[data-action]");
    if (button) actions[button.dataset.action](button.closest(".msg"), button);
  });
  list.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && event.target.closest(".picker")) {
      const item = event.target.closest(".msg");
      item.querySelector(".picker").remove();
      item.querySelector('[data-action="pick"]')?.focus();
    }
  });
  list.addEventListener("keydown", (event) => {
    if (!event.target.classList.contains("editor")) return;
    const key = { Enter: "save", Escape: "cancel" }[event.key];
    if (!key) return;
    event.preventDefault();
    actions[key](event.target.closest(".msg"));
  });
}

function startEditing(item) {
  if (item.querySelector(".editing")) return;
  const text = item.querySelector(".text");
  const editor = el("input", "editor");
  editor.type = "text";
  editor.value = text.textContent;
  editor.maxLength = MESSAGE_MAX_CHARS;
  editor.setAttribute("aria-label", "Edit your message: Enter saves, Escape cancels");
  const row = el("div", "editing");
  row.append(editor, tool("save", "Save"), tool("cancel", "Cancel"));
  text.hidden = true;
  item.querySelector(".foot").hidden = true;
  text.after(row);
  editor.focus();
  editor.select();
}

function stopEditing(item) {
  item.querySelector(".editing")?.remove();
  item.querySelector(".text").hidden = false;
  const foot = item.querySelector(".foot");
  if (foot) foot.hidden = false;
  item.querySelector('[data-action="edit"]')?.focus();
}

/** The person's own message on its way: below everything, marked
 *  "sending…", and the composer ready for the next one. */
export function addPending({ clientMsgId, text, ts }) {
  const item = messageItem({ text, ts, mine: true, edited: null, deleted: false });
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
  crowd: ({ joined, left }) =>
    [joined && `${joined} joined`, left && `${left} left`].filter(Boolean).join(", "),
  missed: () => "You missed more than fits here: these are the newest messages. Scroll up for the rest.",
};

export function addEvent(event) {
  const item = el("li", "event");
  item.append(el("span", "", EVENT_TEXT[event.event](event)), timeEl(event.ts));
  append(item, false);
}

export function renderMembers({ members, count = members.length }) {
  const ul = $("member-list");
  const keepFocus = ul.contains(document.activeElement);
  ul.replaceChildren();
  for (const { clientId, name, me, removable } of members) {
    const li = el("li", me ? "me" : "");
    li.dataset.clientId = clientId;
    li.append(el("span", "member-name", name || clientId));
    if (name) li.append(el("span", "member-id", clientId));
    if (removable) {
      li.append(tool("remove-member", "Remove", `Remove ${who({ clientId, name })} from the room`));
      if (removing === clientId) openRemoval(li, keepFocus);
    }
    ul.append(li);
  }
  if (!members.some((m) => m.removable && m.clientId === removing)) removing = null;
  // Exact, where a big room's list names only some.
  $("member-count").textContent = String(count);
}

/** A moderator's "Remove" asks for how long, in a small form in the list. */
function bindMembers(on) {
  const ul = $("member-list");
  ul.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const li = button.closest("li");
    if (button.dataset.action === "remove-member") {
      removing = li.dataset.clientId;
      openRemoval(li, true);
    } else if (button.dataset.action === "cancel-removal") {
      closeRemoval(li);
    }
  });
  ul.addEventListener("submit", (event) => {
    event.preventDefault();
    const li = event.target.closest("li");
    const minutes = Number(event.target.querySelector("input").value);
    closeRemoval(li);
    on.kick(li.dataset.clientId, minutes);
  });
  ul.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && event.target.closest(".removal")) closeRemoval(event.target.closest("li"));
  });
}

function openRemoval(li, focus) {
  if (li.querySelector(".removal")) return;
  const form = el("form", "removal");
  const id = `minutes-${li.dataset.clientId}`;
  const label = el("label", "", "Minutes");
  label.htmlFor = id;
  const minutes = el("input", "minutes");
  Object.assign(minutes, { id, type: "number", min: "1", max: String(KICK_MAX_MINUTES) });
  minutes.value = String(KICK_DEFAULT_MINUTES);
  const confirm = el("button", "", "Remove");
  confirm.type = "submit";
  form.append(label, minutes, confirm, tool("cancel-removal", "Cancel"));
  li.querySelector('[data-action="remove-member"]').hidden = true;
  li.append(form);
  if (focus) minutes.focus();
}

function closeRemoval(li) {
  removing = null;
  li.querySelector(".removal")?.remove();
  const button = li.querySelector('[data-action="remove-member"]');
  button.hidden = false;
  button.focus();
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

const ENDED_TEXT = {
  expired: "Your session expired. Open a new link from your sign-in to keep chatting.",
  removed: "You were removed by a moderator.",
};

/** The session is over for good: say why, stop offering anything that
 *  would need the connection, and offer to reload. */
export function ended({ why }) {
  banner.hidden = true;
  setStatus("ended", why === "removed" ? "Removed from the room" : "Session expired");
  $("ended-text").textContent = ENDED_TEXT[why];
  $("ended").hidden = false;
  input.disabled = true;
  $("send").disabled = true;
  $("reload").focus();
}

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

// ---- replies and read state ----------------------------------------------

/** The composer answers message `message`: a bar above the input says so,
 *  with a way out. */
export function replying(message) {
  const bar = $("reply-bar");
  if (!message) {
    bar.hidden = true;
    return;
  }
  $("reply-text").textContent = `Replying to ${message.mine ? "yourself" : who(message)}: ${excerpt(message.text)}`;
  bar.hidden = false;
  input.focus();
}

/** "New since you were last here", above the first message after the
 *  reader's pointer. */
export function divider({ seq }) {
  list.querySelector(".divider")?.remove();
  const item = list.querySelector(`.msg[data-seq="${seq}"]`);
  if (!item) return;
  const line = el("li", "divider", "New since you were last here");
  line.setAttribute("role", "separator");
  item.before(line);
}

/** The tab's title counts what the reader has not seen. */
export function unreadTitle(count, room) {
  document.title = `${count > 0 ? `(${count > 999 ? "999+" : count}) ` : ""}#${room} · edge-chat`;
}

/** The highest seq wholly in view, or null: what the reader has seen. */
export function lastSeen() {
  if (document.visibilityState !== "visible") return null;
  const bottom = list.getBoundingClientRect().bottom;
  // Messages are in seq order: the last one wholly in view is the first
  // found from the end, so this runs on every frame without measuring the
  // whole conversation.
  const items = list.querySelectorAll(".msg[data-seq]");
  for (let i = items.length - 1; i >= 0; i--) {
    if (items[i].getBoundingClientRect().bottom <= bottom + 1) return Number(items[i].dataset.seq);
  }
  return null;
}

/** Calls `on.seen()` when what the reader sees may have changed. */
export function bindReading(on) {
  list.addEventListener("scroll", () => on.seen());
  document.addEventListener("visibilitychange", () => on.seen());
  $("cancel-reply").addEventListener("click", () => on.cancelReply());
}
