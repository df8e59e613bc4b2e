// edge-chat page. Connects to /ws/<client id> on this page's own origin for
// the room in the URL (/ or /r/<room>), renders every frame with textContent
// only, and survives dropped connections: it reconnects with exponential
// backoff and jitter, asks for exactly what it missed (`since`), and resends
// unacknowledged messages under their original clientMsgId so nothing shows
// twice.
"use strict";

(() => {
  const ID_KEY = "edge-chat.clientId";
  const NAME_KEY = "edge-chat.name";
  const ROOM_RE = /^[a-z0-9_-]{1,40}$/;
  // Backoff: 0.5 s doubling to 15 s, each wait randomised by ±50 % so a room
  // full of tabs does not reconnect in lockstep after an outage.
  const BACKOFF_START_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  // The server closes sockets silent for 300 s; its runtime answers pings
  // without waking the room, so pinging is free.
  const PING_EVERY_MS = 30000;
  // The server forwards one typing notice per 3 s; show each for a bit longer.
  const TYPING_SEND_EVERY_MS = 3000;
  const TYPING_SHOW_MS = 5000;
  // Messages from one sender within this long are grouped under one header.
  const GROUP_WITHIN_MS = 5 * 60 * 1000;
  const FAILED_ATTEMPTS_BEFORE_WARNING = 3;

  const $ = (id) => document.getElementById(id);
  const list = $("messages");
  const input = $("input");
  const statusEl = $("status");
  const banner = $("banner");
  const notice = $("notice");
  const pill = $("new-pill");
  const typingEl = $("typing");
  const nameInput = $("name-input");

  const clientId = loadClientId();
  const room = roomFromPath();
  let displayName = (localStorage.getItem(NAME_KEY) || "").slice(0, 32);

  let socket = null;
  let attempt = 0;
  let everConnected = false;
  let retryTimer = null;
  let lastSeq = null; // newest seq rendered; null until the first history
  const seen = new Set(); // seqs already rendered
  const pending = new Map(); // clientMsgId -> { text, item }
  const members = new Map(); // clientId -> display name or ""
  const typers = new Map(); // clientId -> timer
  let lastTypingSent = 0;

  $("me").textContent = clientId;
  $("room-name").textContent = room;
  nameInput.value = displayName;
  document.title = `#${room} · edge-chat`;

  function loadClientId() {
    let id = sessionStorage.getItem(ID_KEY);
    if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
      id = "user-" + randomHex(4);
      sessionStorage.setItem(ID_KEY, id);
    }
    return id;
  }

  function randomHex(bytes) {
    const buf = new Uint8Array(bytes);
    crypto.getRandomValues(buf);
    return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function roomFromPath() {
    const match = location.pathname.match(/^\/r\/([^/]+)\/?$/);
    const name = match ? decodeURIComponent(match[1]) : "lobby";
    return ROOM_RE.test(name) ? name : "lobby";
  }

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ room, batch: "1" });
    if (displayName) query.set("name", displayName);
    if (lastSeq !== null) query.set("since", String(lastSeq));
    return `${scheme}//${location.host}/ws/${encodeURIComponent(clientId)}?${query}`;
  }

  // ---- connection -------------------------------------------------------

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
    document.body.dataset.connection = state;
  }

  function showBanner(text, kind) {
    banner.textContent = text;
    banner.dataset.kind = kind;
    banner.hidden = false;
  }

  function connect() {
    clearTimeout(retryTimer);
    setStatus("connecting", attempt ? `Reconnecting (attempt ${attempt + 1})…` : "Connecting…");
    const ws = new WebSocket(socketUrl());
    let opened = false;
    socket = ws;
    ws.addEventListener("open", () => {
      opened = true;
      const wasReconnect = everConnected;
      everConnected = true;
      attempt = 0;
      setStatus("online", "Connected");
      if (wasReconnect) {
        showBanner("Reconnected. You are up to date.", "ok");
        setTimeout(() => {
          if (banner.dataset.kind === "ok") banner.hidden = true;
        }, 4000);
      } else {
        banner.hidden = true;
      }
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "batch" && Array.isArray(frame.frames)) {
        frame.frames.forEach(handle);
      } else {
        handle(frame);
      }
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      socket = null;
      // The member list stays, greyed out by CSS, until the next presence
      // frame replaces it: an empty list would say everyone left.
      if (event.reason === "renamed") {
        connect(); // our own doing: rejoin at once, quietly
        return;
      }
      scheduleReconnect(event, opened);
    });
  }

  function scheduleReconnect(event, opened) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
    const wait = Math.round(base * (0.5 + Math.random()));
    attempt += 1;
    const why = event.reason ? ` (${event.reason})` : "";
    const seconds = Math.ceil(wait / 1000);
    setStatus("offline", `Disconnected${why}. Retrying in ${seconds} s…`);
    if (!opened && attempt >= FAILED_ATTEMPTS_BEFORE_WARNING) {
      showBanner(
        `Can't reach the chat server (${attempt} attempts). Still trying; messages you write will be sent when it is back.`,
        "bad",
      );
    } else {
      showBanner(`Connection lost${why}. Reconnecting…`, "warn");
    }
    retryTimer = setTimeout(connect, wait);
  }

  function sendFrame(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  setInterval(() => sendFrame({ type: "ping" }), PING_EVERY_MS);

  // ---- frames -----------------------------------------------------------

  function handle(frame) {
    switch (frame.type) {
      case "history":
        onHistory(frame);
        break;
      case "presence":
        members.clear();
        (frame.members || []).forEach((m) => members.set(m.clientId, m.name || ""));
        renderMembers();
        break;
      case "message":
        addMessage(frame);
        break;
      case "ack":
        settle(frame.clientMsgId);
        break;
      case "join":
        members.set(frame.clientId, frame.name || "");
        renderMembers();
        if (frame.clientId !== clientId) addEvent(`${who(frame)} joined`, frame.ts);
        break;
      case "leave":
        members.delete(frame.clientId);
        renderMembers();
        stopTyping(frame.clientId);
        addEvent(`${who(frame)} left`, frame.ts);
        break;
      case "typing":
        showTyping(frame);
        break;
      case "error":
        onError(frame);
        break;
      default:
        break; // pong, and types from newer servers
    }
  }

  function onHistory(frame) {
    if (frame.truncated && lastSeq !== null) {
      addEvent("Some messages were sent while you were away and are no longer kept.", frame.ts);
    }
    (frame.messages || []).forEach(addMessage);
    if (typeof frame.latestSeq === "number") lastSeq = Math.max(lastSeq || 0, frame.latestSeq);
    // Anything still pending was sent into a connection that dropped:
    // resend it under the same id; the server stores it at most once.
    for (const [id, entry] of pending) {
      sendFrame({ type: "message", message: entry.text, clientMsgId: id });
    }
  }

  function onError(frame) {
    let text = frame.message || "The server refused that.";
    if (frame.code === "rate_limited" && frame.retryAfterMs) {
      text = `You're sending too fast; wait ${Math.ceil(frame.retryAfterMs / 100) / 10} s.`;
    } else if (frame.code === "message_too_long") {
      text = `Too long: ${frame.message}.`;
    }
    showNotice(text);
  }

  function who(frame) {
    return frame.name ? `${frame.name} (${frame.clientId})` : frame.clientId;
  }

  // ---- rendering ----------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function localTime(ts) {
    const date = typeof ts === "number" ? new Date(ts) : new Date();
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function timeEl(ts) {
    const time = el("time", "time", localTime(ts));
    if (typeof ts === "number") time.dateTime = new Date(ts).toISOString();
    return time;
  }

  function atBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }

  // Appends `item`, following the conversation only if the reader was
  // already at the bottom; otherwise offers a pill instead of yanking them.
  function append(item, fromOthers) {
    const follow = atBottom();
    const firstPending = list.querySelector(".pending");
    if (firstPending && !item.classList.contains("pending")) {
      list.insertBefore(item, firstPending);
    } else {
      list.append(item);
    }
    if (follow) {
      list.scrollTop = list.scrollHeight;
    } else if (fromOthers) {
      pill.hidden = false;
    }
  }

  function lastMessageItem(before) {
    let node = before ? before.previousElementSibling : list.lastElementChild;
    while (node && node.classList.contains("pending")) node = node.previousElementSibling;
    return node && node.classList.contains("msg") ? node : null;
  }

  function messageItem(frame, mine, extraClass) {
    const item = el("li", `msg ${mine ? "mine" : "theirs"}${extraClass ? " " + extraClass : ""}`);
    item.dataset.clientId = frame.clientId;
    item.dataset.ts = String(frame.ts || Date.now());
    const meta = el("div", "meta");
    meta.append(el("span", "author", mine ? "You" : who(frame)), timeEl(frame.ts));
    item.append(meta, el("p", "text", frame.message));
    return item;
  }

  function addMessage(frame) {
    if (typeof frame.seq !== "number" || seen.has(frame.seq)) return;
    seen.add(frame.seq);
    lastSeq = Math.max(lastSeq || 0, frame.seq);
    const mine = frame.clientId === clientId;
    if (mine && frame.clientMsgId) settle(frame.clientMsgId);
    stopTyping(frame.clientId);
    const item = messageItem(frame, mine);
    item.dataset.seq = String(frame.seq);
    const prev = lastMessageItem(list.querySelector(".pending"));
    if (
      prev &&
      prev.dataset.clientId === frame.clientId &&
      Number(item.dataset.ts) - Number(prev.dataset.ts) < GROUP_WITHIN_MS
    ) {
      item.classList.add("cont");
    }
    append(item, !mine);
  }

  function addEvent(text, ts) {
    const item = el("li", "event");
    item.append(el("span", "", text), timeEl(ts));
    append(item, false);
  }

  function settle(clientMsgId) {
    const entry = pending.get(clientMsgId);
    if (!entry) return;
    pending.delete(clientMsgId);
    entry.item.remove();
  }

  function renderMembers() {
    const ul = $("member-list");
    ul.replaceChildren();
    const sorted = [...members.entries()].sort((a, b) => a[0].localeCompare(b[0]));
    for (const [id, name] of sorted) {
      const li = el("li", id === clientId ? "me" : "");
      li.append(el("span", "member-name", name || id));
      if (name) li.append(el("span", "member-id", id));
      ul.append(li);
    }
    $("member-count").textContent = String(members.size);
  }

  function showTyping(frame) {
    if (frame.clientId === clientId) return;
    clearTimeout(typers.get(frame.clientId));
    typers.set(
      frame.clientId,
      setTimeout(() => stopTyping(frame.clientId), TYPING_SHOW_MS),
    );
    members.set(frame.clientId, frame.name || members.get(frame.clientId) || "");
    renderTyping();
  }

  function stopTyping(id) {
    if (!typers.has(id)) return;
    clearTimeout(typers.get(id));
    typers.delete(id);
    renderTyping();
  }

  function renderTyping() {
    const names = [...typers.keys()].map((id) => members.get(id) || id);
    typingEl.textContent =
      names.length === 0
        ? ""
        : names.length === 1
          ? `${names[0]} is typing…`
          : `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing…`;
  }

  let noticeTimer = null;
  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (notice.hidden = true), 6000);
  }

  // ---- user actions -------------------------------------------------------

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    const id = randomHex(8);
    const item = messageItem({ clientId, message: text, ts: Date.now() }, true, "pending");
    item.querySelector(".meta").append(el("span", "state", "sending…"));
    pending.set(id, { text, item });
    append(item, false);
    list.scrollTop = list.scrollHeight;
    if (!sendFrame({ type: "message", message: text, clientMsgId: id })) {
      showNotice("Offline: your message will be sent when the connection is back.");
    }
    input.value = "";
    input.focus();
  });

  input.addEventListener("input", () => {
    const now = Date.now();
    if (input.value && now - lastTypingSent > TYPING_SEND_EVERY_MS) {
      if (sendFrame({ type: "typing" })) lastTypingSent = now;
    }
  });

  list.addEventListener("scroll", () => {
    if (atBottom()) pill.hidden = true;
  });

  pill.addEventListener("click", () => {
    list.scrollTop = list.scrollHeight;
    pill.hidden = true;
    input.focus();
  });

  $("copy-link").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      showNotice("Link copied: share it to invite people to this room.");
    } catch {
      showNotice(`Copy this link: ${location.href}`);
    }
  });

  $("switch-room").addEventListener("submit", (event) => {
    event.preventDefault();
    const raw = $("room-input").value.trim().toLowerCase();
    const name = raw.replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40);
    if (!ROOM_RE.test(name)) {
      showNotice("Room names use lower-case letters, digits, _ and -.");
      return;
    }
    location.assign(name === "lobby" ? "/" : `/r/${name}`);
  });

  function saveName() {
    const name = nameInput.value.trim().slice(0, 32);
    if (name === displayName) return;
    displayName = name;
    if (name) localStorage.setItem(NAME_KEY, name);
    else localStorage.removeItem(NAME_KEY);
    // Rejoin so the room learns the new name; `since` keeps it seamless.
    if (socket) socket.close(1000, "renamed");
  }
  nameInput.addEventListener("change", saveName);
  nameInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      saveName();
      input.focus();
    }
  });

  connect();
})();
