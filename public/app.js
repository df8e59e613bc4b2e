// edge-chat page: connects to /ws/<client id> on this page's own origin,
// renders frames with textContent only, and reconnects with exponential
// backoff and jitter when the connection drops.
"use strict";

(() => {
  const ID_KEY = "edge-chat.clientId";
  // Backoff: 0.5 s doubling to 15 s, each wait randomised by ±50 % so that
  // a room full of tabs does not reconnect in lockstep after an outage.
  const BACKOFF_START_MS = 500;
  const BACKOFF_MAX_MS = 15000;

  const $ = (id) => document.getElementById(id);
  const list = $("messages");
  const input = $("input");
  const form = $("composer");
  const statusEl = $("status");
  const notice = $("notice");

  const clientId = loadClientId();
  $("me").textContent = clientId;

  let socket = null;
  let attempt = 0;
  let retryTimer = null;

  function loadClientId() {
    let id = sessionStorage.getItem(ID_KEY);
    if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
      const bytes = new Uint8Array(4);
      crypto.getRandomValues(bytes);
      id = "user-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      sessionStorage.setItem(ID_KEY, id);
    }
    return id;
  }

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/${encodeURIComponent(clientId)}`;
  }

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
    document.body.dataset.connection = state;
  }

  function connect() {
    clearTimeout(retryTimer);
    setStatus("connecting", attempt ? `Reconnecting (attempt ${attempt + 1})…` : "Connecting…");
    const ws = new WebSocket(socketUrl());
    socket = ws;
    ws.addEventListener("open", () => {
      attempt = 0;
      setStatus("online", "Connected");
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      render(frame);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      socket = null;
      scheduleReconnect(event);
    });
  }

  function scheduleReconnect(event) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
    const wait = Math.round(base * (0.5 + Math.random()));
    attempt += 1;
    const why = event.reason ? ` (${event.reason})` : "";
    setStatus("offline", `Disconnected${why}. Retrying in ${Math.ceil(wait / 1000)} s…`);
    retryTimer = setTimeout(connect, wait);
  }

  function localTime(ts) {
    const date = typeof ts === "number" ? new Date(ts) : new Date();
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function render(frame) {
    switch (frame.type) {
      case "message":
        addMessage(frame);
        break;
      case "join":
        if (frame.clientId !== clientId) addNotice(`${frame.clientId} joined`, frame.ts);
        break;
      case "leave":
        addNotice(`${frame.clientId} left`, frame.ts);
        break;
      case "error":
        showNotice(frame.message || "The server refused that.");
        break;
      default:
        break;
    }
  }

  function stickToBottom(add) {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    add();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function addMessage(frame) {
    const mine = frame.clientId === clientId;
    const item = el("li", mine ? "msg mine" : "msg theirs");
    const meta = el("div", "meta");
    meta.append(el("span", "author", mine ? "You" : frame.clientId));
    const time = el("time", "time", localTime(frame.ts));
    if (typeof frame.ts === "number") time.dateTime = new Date(frame.ts).toISOString();
    meta.append(time);
    item.append(meta, el("p", "text", frame.message));
    stickToBottom(() => list.append(item));
  }

  function addNotice(text, ts) {
    const item = el("li", "event");
    item.append(el("span", "", text), el("time", "time", localTime(ts)));
    stickToBottom(() => list.append(item));
  }

  let noticeTimer = null;
  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (notice.hidden = true), 6000);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showNotice("Not connected yet; your message is still in the box.");
      return;
    }
    socket.send(JSON.stringify({ type: "message", message: text }));
    input.value = "";
    input.focus();
  });

  connect();
})();
