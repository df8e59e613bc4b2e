// The page's entry point: works out who and where this tab is, opens the
// room's WebSocket (connection.js), runs every frame and every action of the
// person through the pure state (state.js), and carries out the effects that
// come back, mostly on the DOM (view.js). The only mutable state of the page
// lives here, in two variables.

import { connect, socketUrl } from "./connection.js";
import {
  CLIENT_ID_BYTES,
  CLIENT_ID_RE,
  DEFAULT_ROOM,
  MESSAGE_ID_BYTES,
  NAME_MAX_CHARS,
  ROOM_MAX_CHARS,
  ROOM_RE,
} from "./limits.js";
import { apply, compose, initialState, setOnline, typed, typingTimedOut } from "./state.js";
import * as view from "./view.js";

// The client id lives in the tab (a second tab is a second person); the
// display name is remembered across visits.
const ID_KEY = "edge-chat.clientId";
const NAME_KEY = "edge-chat.name";

const clientId = loadClientId();
const room = roomFromPath(location.pathname);
let displayName = (localStorage.getItem(NAME_KEY) || "").slice(0, NAME_MAX_CHARS);
let state = initialState(clientId);

function loadClientId() {
  let id = sessionStorage.getItem(ID_KEY);
  if (!id || !CLIENT_ID_RE.test(id)) {
    id = "user-" + randomHex(CLIENT_ID_BYTES);
    sessionStorage.setItem(ID_KEY, id);
  }
  return id;
}

function randomHex(bytes) {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `/` is the default room and `/r/<name>` any other; a bad name falls back
 *  to the default rather than failing at connect. */
function roomFromPath(pathname) {
  const match = pathname.match(/^\/r\/([^/]+)\/?$/);
  const name = match ? decodeURIComponent(match[1]) : DEFAULT_ROOM;
  return ROOM_RE.test(name) ? name : DEFAULT_ROOM;
}

/** Takes what a state function returned and acts on it. */
function dispatch({ state: next, effects }) {
  state = next;
  for (const effect of effects) run(effect);
}

/** The effects that only change what the page shows, by kind. */
const DRAW = {
  queued: view.queued,
  pending: view.addPending,
  settle: view.settle,
  show: view.showMessage,
  event: view.addEvent,
  members: view.renderMembers,
  typing: view.renderTyping,
  refused: view.refused,
};

function run(effect) {
  if (effect.kind === "send") {
    // A frame that cannot go out now is not lost: messages stay pending and
    // are resent after the next history; a typing notice does not matter.
    connection.send(effect.frame);
  } else if (effect.kind === "timer") {
    setTimeout(
      () => dispatch(typingTimedOut(state, effect.clientId, effect.until)),
      effect.afterMs,
    );
  } else if (Object.hasOwn(DRAW, effect.kind)) {
    DRAW[effect.kind](effect);
  } else {
    throw new Error(`state.js emitted an unknown effect: ${effect.kind}`);
  }
}

view.init({ clientId, room, name: displayName });

const connection = connect(
  () => socketUrl(location, { clientId, room, name: displayName, since: state.lastSeq }),
  {
    connecting: view.connecting,
    open(reconnected) {
      dispatch(setOnline(state, true));
      view.online(reconnected);
    },
    frame: (frame) => dispatch(apply(state, frame, Date.now())),
    closed: () => dispatch(setOnline(state, false)),
    retrying: view.retrying,
  },
);

view.bind({
  send: (text) => dispatch(compose(state, text, randomHex(MESSAGE_ID_BYTES), Date.now())),
  typed: (hasText) => dispatch(typed(state, hasText, Date.now())),
  rename(raw) {
    const name = raw.trim().slice(0, NAME_MAX_CHARS);
    if (name === displayName) return;
    displayName = name;
    if (name) localStorage.setItem(NAME_KEY, name);
    else localStorage.removeItem(NAME_KEY);
    connection.rejoin();
  },
  switchRoom(raw) {
    const name = raw
      .trim()
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, ROOM_MAX_CHARS);
    if (!ROOM_RE.test(name)) {
      view.showNotice("Room names use lower-case letters, digits, _ and -.");
      return;
    }
    location.assign(name === DEFAULT_ROOM ? "/" : `/r/${name}`);
  },
  async copyLink() {
    try {
      await navigator.clipboard.writeText(location.href);
      view.showNotice("Link copied: share it to invite people to this room.");
    } catch {
      view.showNotice(`Copy this link: ${location.href}`);
    }
  },
});
