// The page's entry point: works out who and where this tab is (a sign-in
// token from the URL fragment, or a random client id in open mode), joins
// the room with the client library (client/, served as /client/), runs
// every event it reports through the view's pure state (state.js), and
// carries out the effects that come back, on the DOM (view.js). Everything
// on the wire is the library's; the only mutable state of the page lives
// here.

import { joinRoom, readClaims } from "./client/index.js";
import { CLIENT_ID_RE, NAME_MAX_CHARS } from "./client/limits.js";
import { fragmentWithoutToken, tokenFromFragment } from "./identity.js";
import { CLIENT_ID_BYTES, JUMP_MAX_PAGES, SCROLLBACK_PAGE, SEARCH_PAGE } from "./limits.js";
import { privateRoomName, roomFromInput, roomFromPath, roomPath } from "./rooms.js";
import {
  deleteWanted,
  editWanted,
  initialState,
  kickWanted,
  olderAsked,
  olderWanted,
  onEvent,
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
let client = null;
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

/** Stops for good (an expired token, a moderator's removal): the client
 *  never loops on reconnects against a room that will only refuse. */
function endSession(why) {
  if (over) return;
  over = true;
  client?.close();
  view.ended({ why });
}

/** Takes what a state function returned and acts on it. */
function dispatch({ state: next, effects }) {
  state = next;
  for (const effect of effects) run(effect);
  if (effects.length) {
    view.unreadTitle(unread(), room);
    seen();
  }
}

/** What the reader has not seen: others' messages after the pointer, as
 *  shown here, or as the room counted them (it also counts what is not
 *  shown), whichever is more. */
function unread() {
  const after = client?.read?.seq ?? 0;
  let shown = 0;
  for (const m of client?.messages.values() ?? []) {
    if (m.seq > after && !m.mine && !m.deleted) shown += 1;
  }
  return Math.max(shown, client?.read?.unread ?? 0);
}

/** The highest seq the reader asked the room to mark read. */
let markedRead = 0;

/** Moves the read pointer to what the reader actually sees: a visible tab,
 *  messages wholly in view. */
function seen() {
  const seq = view.lastSeen();
  if (!client || seq === null || seq <= markedRead || seq <= (client.read?.seq ?? 0)) return;
  markedRead = seq;
  client.markRead(seq);
}

/** The message the composer answers, if any. */
let replyTo = null;

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
  prepend: view.prependMessages,
  restart: view.restart,
  divider: view.divider,
  read: () => {},
};

function run(effect) {
  if (effect.kind === "timer") {
    setTimeout(
      () => dispatch(typingTimedOut(state, effect.clientId, effect.until)),
      effect.afterMs,
    );
  } else if (effect.kind === "ended") {
    endSession(effect.why);
  } else if (Object.hasOwn(DRAW, effect.kind)) {
    DRAW[effect.kind](effect);
    if (effect.kind === "show") view.showOlder(!state.beginning, state.beginning);
  } else {
    throw new Error(`state.js emitted an unknown effect: ${effect.kind}`);
  }
}

/** The client's events about the connection go to the view as they are;
 *  the rest through the view's state. */
const CONNECTION = {
  connecting: ({ attempt }) => view.connecting(attempt),
  open: ({ reconnected }) => view.online(reconnected),
  retrying: view.retrying,
};

/** What the person asked for was refused before it went out. */
function refused(err) {
  view.refused({ code: err.code, message: err.message });
}

view.init({
  clientId,
  room,
  name: displayName,
  tokenMode: Boolean(token),
  // A token names its rooms; a random new one is only open to `*`.
  canCreateRoom: !token || Boolean(claims?.rooms.includes("*")),
});

client = joinRoom({
  url: location.href,
  room,
  clientId,
  name: displayName,
  token,
  // A browser hides why a handshake was refused; after a few failures the
  // view says what may be wrong (a link expired, or not for this room),
  // rather than the client asking the HTTP API and ending the session.
  explainRefusals: false,
  on(event) {
    if (Object.hasOwn(CONNECTION, event.type)) CONNECTION[event.type](event);
    else dispatch(onEvent(state, event, Date.now()));
  },
});
if (over) client.close();
view.bindReading({
  seen,
  cancelReply() {
    replyTo = null;
    view.replying(null);
  },
});

view.bind({
  // Pending messages show as "sending…" until stored, so the promise that
  // says the same is not needed here.
  send(text) {
    const answering = replyTo?.id;
    replyTo = null;
    view.replying(null);
    return client.send(text, { replyTo: answering });
  },
  reply(seq) {
    replyTo = client.messages.get(seq) ?? null;
    view.replying(replyTo);
  },
  react(seq, emoji) {
    const message = client.messages.get(seq);
    if (!message) return;
    try {
      client.react(message.id, emoji);
    } catch (err) {
      refused(err);
    }
  },
  goto(id) {
    const seq = Number(/^m(\d+)-/.exec(id)?.[1]);
    if (seq) jump(seq);
  },
  typed(hasText) {
    if (hasText) client.typing();
  },
  rename(raw) {
    const name = raw.trim().slice(0, NAME_MAX_CHARS);
    if (token || name === displayName) return;
    displayName = name;
    if (name) localStorage.setItem(NAME_KEY, name);
    else localStorage.removeItem(NAME_KEY);
    client.rename(name);
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
    const message = client.messages.get(seq);
    if (!editWanted(state, message, text)) return true;
    try {
      client.edit(message.id, text);
      return true;
    } catch (err) {
      // A refused edit keeps the editor open, with what the person wrote.
      refused(err);
      return false;
    }
  },
  remove(seq) {
    const message = client.messages.get(seq);
    if (!deleteWanted(state, message)) return;
    try {
      client.delete(message.id);
    } catch (err) {
      refused(err);
    }
  },
  kick(member, minutes) {
    if (!kickWanted(state, member)) return;
    try {
      client.kick(member, minutes);
    } catch (err) {
      refused(err);
    }
  },
  older: loadOlder,
  search: (q) => searchFor(q, undefined),
  moreResults: () => searchFor(lastSearch.q, lastSearch.before),
  jump,
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

/** The page of scrollback on its way, if any: a jump and the reader's
 *  scrolling share it rather than racing for the next one. */
let olderInFlight = null;

/** Asks for the page of messages before the oldest shown, one at a time;
 *  the answer arrives as an `older` event. Resolves whether one came. */
function loadOlder() {
  if (olderInFlight) return olderInFlight;
  const wanted = olderWanted(state);
  if (!wanted) return Promise.resolve(false);
  dispatch(olderAsked(state, true));
  olderInFlight = client
    .scrollback({ before: wanted.before, limit: SCROLLBACK_PAGE })
    .then(
      () => true,
      (err) => {
        dispatch(olderAsked(state, false));
        if (err.code !== "offline") refused(err);
        return false;
      },
    )
    .finally(() => {
      olderInFlight = null;
    });
  return olderInFlight;
}

/** The last search, to page on from. */
let lastSearch = { q: "", before: undefined };

async function searchFor(q, before) {
  try {
    const page = await client.search(q, { before, limit: SEARCH_PAGE });
    const last = page.messages.at(-1);
    lastSearch = { q, before: last ? last.seq : before };
    view.showResults({ ...page, q, append: before !== undefined });
  } catch (err) {
    refused(err);
  }
}

/** Shows message `seq` in the conversation: loads older pages until it is
 *  there (a hit from last week is a few pages away), up to a bound; a hit
 *  further back than that is shown as far as scrollback reached. */
async function jump(seq) {
  for (let pages = 0; !view.highlight(seq) && pages < JUMP_MAX_PAGES; pages++) {
    if (!(await loadOlder())) break;
  }
  if (!view.highlight(seq)) view.showNotice("That message is too far back to show here; keep scrolling up.");
}
