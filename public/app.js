// The page's entry point: works out who and where this tab is (a sign-in
// token from the URL fragment, or a random client id in open mode), opens
// the room's WebSocket (connection.js), runs every frame and every action of
// the person through the pure state (state.js), and carries out the effects
// that come back, mostly on the DOM (view.js). The only mutable state of the
// page lives here.

import { connect, socketUrl } from "./connection.js";
import { expired, fragmentWithoutToken, readClaims, tokenFromFragment } from "./identity.js";
import {
  CLIENT_ID_BYTES,
  CLIENT_ID_RE,
  MAX_TIMER_MS,
  MESSAGE_ID_BYTES,
  NAME_MAX_CHARS,
} from "./limits.js";
import { privateRoomName, roomFromInput, roomFromPath, roomPath } from "./rooms.js";
import {
  apply,
  compose,
  initialState,
  requestDelete,
  requestEdit,
  requestKick,
  setOnline,
  typed,
  typingTimedOut,
} from "./state.js";
import * as view from "./view.js";

// The client id and the sign-in token live in the tab (a second tab is a
// second person, and the token survives a reload and a move to another
// room); the display name of open mode is remembered across visits.
const ID_KEY = "edge-chat.clientId";
const TOKEN_KEY = "edge-chat.token";
const NAME_KEY = "edge-chat.name";

const token = loadToken();
/** What the token says, for display only: the server verifies it. Null for
 *  a token the page cannot read, which still goes to the server, whose
 *  refusal then reads as a bad link rather than as open mode. */
const claims = token && readClaims(token);
const clientId = claims ? claims.sub : loadClientId();
const room = roomFromPath(location.pathname);
let displayName = token
  ? claims?.name || ""
  : (localStorage.getItem(NAME_KEY) || "").slice(0, NAME_MAX_CHARS);
let state = initialState(clientId, { moderator: claims?.role === "moderator" });
let connection = null;
let over = false;

/** The token from `#token=` (kept for the tab, and taken out of the address
 *  bar so it is not bookmarked, shared or shown), else the tab's stored one. */
function loadToken() {
  const fresh = tokenFromFragment(location.hash);
  if (fresh) {
    sessionStorage.setItem(TOKEN_KEY, fresh);
    const rest = fragmentWithoutToken(location.hash);
    history.replaceState(history.state, "", location.pathname + location.search + rest);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function loadClientId() {
  let id = sessionStorage.getItem(ID_KEY);
  if (!id || !CLIENT_ID_RE.test(id)) {
    id = "user-" + randomHex(CLIENT_ID_BYTES);
    sessionStorage.setItem(ID_KEY, id);
  }
  return id;
}

function randomBytes(count) {
  const buf = new Uint8Array(count);
  crypto.getRandomValues(buf);
  return buf;
}

function randomHex(count) {
  return Array.from(randomBytes(count), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Stops for good (an expired token, a moderator's removal): no reconnect
 *  loop against a server that will only refuse. */
function endSession(why) {
  if (over) return;
  over = true;
  connection?.stop();
  dispatch(setOnline(state, false));
  view.ended({ why });
}

/** Ends the session when the token's `exp` passes, even while offline,
 *  when no server is there to say so. */
function watchExpiry() {
  if (!claims || claims.exp === null || over) return;
  if (expired(claims, Date.now())) {
    endSession("expired");
    return;
  }
  setTimeout(watchExpiry, Math.min(claims.exp - Date.now(), MAX_TIMER_MS));
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
  update: view.updateMessage,
};

function run(effect) {
  if (effect.kind === "send") {
    // A frame that cannot go out now is not lost: messages stay pending and
    // are resent after the next history; a typing notice does not matter.
    connection?.send(effect.frame);
  } else if (effect.kind === "timer") {
    setTimeout(
      () => dispatch(typingTimedOut(state, effect.clientId, effect.until)),
      effect.afterMs,
    );
  } else if (effect.kind === "ended") {
    endSession(effect.why);
  } else if (Object.hasOwn(DRAW, effect.kind)) {
    DRAW[effect.kind](effect);
  } else {
    throw new Error(`state.js emitted an unknown effect: ${effect.kind}`);
  }
}

view.init({
  clientId,
  room,
  name: displayName,
  tokenMode: Boolean(token),
  // A token names its rooms; a random new one is only open to `*`.
  canCreateRoom: !token || Boolean(claims?.rooms.includes("*")),
});

watchExpiry();
if (!over) {
  connection = connect(
    () => socketUrl(location, { clientId, room, name: displayName, since: state.lastSeq, token }),
    {
      connecting: view.connecting,
      open(reconnected) {
        dispatch(setOnline(state, true));
        view.online(reconnected);
      },
      frame: (frame) => dispatch(apply(state, frame, Date.now())),
      closed: () => dispatch(setOnline(state, false)),
      retrying: view.retrying,
      ended: endSession,
    },
  );
}

view.bind({
  send: (text) => dispatch(compose(state, text, randomHex(MESSAGE_ID_BYTES), Date.now())),
  typed: (hasText) => dispatch(typed(state, hasText, Date.now())),
  rename(raw) {
    const name = raw.trim().slice(0, NAME_MAX_CHARS);
    if (token || name === displayName) return;
    displayName = name;
    if (name) localStorage.setItem(NAME_KEY, name);
    else localStorage.removeItem(NAME_KEY);
    connection?.rejoin();
  },
  switchRoom(raw) {
    const name = roomFromInput(raw);
    if (name === null) {
      view.showNotice("Room names use lower-case letters, digits, _ and -.");
      return;
    }
    location.assign(roomPath(name));
  },
  newPrivateRoom: () => location.assign(roomPath(privateRoomName(randomBytes))),
  edit(seq, text) {
    const result = requestEdit(state, seq, text);
    dispatch(result);
    // A refused edit keeps the editor open, with what the person wrote.
    return !result.effects.some((e) => e.kind === "refused");
  },
  remove: (seq) => dispatch(requestDelete(state, seq)),
  kick: (member, minutes) => dispatch(requestKick(state, member, minutes)),
  reload: () => location.reload(),
  async copyLink() {
    try {
      await navigator.clipboard.writeText(location.href);
      view.showNotice("Link copied: share it to invite people to this room.");
    } catch {
      view.showNotice(`Copy this link: ${location.href}`);
    }
  },
});
