// One client of one room, as an app uses it: `joinRoom(options)` connects
// (connection.js), runs every frame and every call through the pure room
// state (room.js), puts what it decides on the socket, and hands the app
// typed events. It owns what the room state cannot, because it needs the
// clock or the network: the token's life (refreshed before `exp` through
// the app's callback, or the session ended at `exp`), promises that settle
// when a message is stored, and, in token mode, asking the HTTP API why a
// handshake failed, since a WebSocket hides the refusal's status.

import { connect } from "./connection.js";
import { chatApi } from "./http.js";
import {
  CLIENT_ID_RE,
  DEFAULT_ROOM,
  MAX_TIMER_MS,
  MESSAGE_ID_BYTES,
  PAGE_TIMEOUT_MS,
  READ_EVERY_MS,
  ROOM_RE,
} from "./limits.js";
import { ChatError, refusedForGood, socketUrl } from "./protocol.js";
import * as rooms from "./room.js";
import { readClaims, refreshInMs } from "./token.js";

/** Joins a room now; see index.d.ts, `JoinOptions`, for every option. */
export function joinRoom(options) {
  return new RoomClient(options);
}

export class RoomClient {
  #options;
  #token;
  #claims;
  #name;
  #state;
  #conn = null;
  /** The connection ended itself (a final close) and must be made anew. */
  #connDead = false;
  #listeners = new Map();
  #acks = new Map();
  #timer = null;
  #refreshing = null;
  #probing = false;
  #end = null;
  /** Page requests waiting for their answers, oldest first: the room
   *  answers a socket's frames in order. */
  #pages = { older: [], search: [] };
  /** The newest seq asked to be marked read, when one last went out, and
   *  the timer that sends the next. */
  #readWanted = 0;
  #readSentAt = -Infinity;
  #readTimer = null;

  constructor(options) {
    const { url, room = DEFAULT_ROOM, token, clientId, name = "", on } = options || {};
    if (!url) throw new ChatError("bad_request", "joinRoom needs the chat's `url`");
    if (!ROOM_RE.test(room)) throw new ChatError("bad_request", `not a room name: ${room}`);
    this.#options = { batch: true, receipts: true, explainRefusals: true, ...options, room };
    this.#token = token || null;
    this.#claims = this.#token ? readClaims(this.#token) : null;
    const me = clientId ?? this.#claims?.sub ?? `client-${randomHex(4)}`;
    if (!CLIENT_ID_RE.test(me)) throw new ChatError("bad_request", `not a client id: ${me}`);
    this.#name = this.#token ? this.#claims?.name || "" : name;
    this.#state = rooms.initialRoom(me);
    if (on) this.on("*", on);
    this.#start();
  }

  /** This client's id: the token's `sub` in token mode. */
  get me() {
    return this.#state.me;
  }
  get room() {
    return this.#options.room;
  }
  /** The display name the room knows this client by ("" for none). */
  get name() {
    return this.#name;
  }
  /** The newest seq seen: what a reconnect asks for as `since`. */
  get since() {
    return this.#state.lastSeq;
  }
  get online() {
    return this.#state.online;
  }
  /** seq -> message, every message seen, as it is now. */
  get messages() {
    return this.#state.messages;
  }
  /** clientId -> display name, everyone in the room. */
  get members() {
    return this.#state.members;
  }
  /** clientMsgId -> { text, ts }: written and not yet stored. */
  get pending() {
    return this.#state.pending;
  }
  /** Why the session ended, or null while it goes on. */
  get ended() {
    return this.#end;
  }
  /** The room's history epoch, once a history said it. */
  get epoch() {
    return this.#state.epoch;
  }
  /** This person's read pointer and unread count, once the room said. */
  get read() {
    return this.#state.read;
  }

  /** Calls `listener(event)` for every event of `type` ("*": all of them);
   *  returns a function that stops it. */
  on(type, listener) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type).add(listener);
    return () => this.off(type, listener);
  }
  off(type, listener) {
    this.#listeners.get(type)?.delete(listener);
  }

  /** Sends `text` as a message. Resolves with `{ clientMsgId, seq, id }`
   *  once the room stored it, after as many reconnects and resends (under
   *  the same clientMsgId) as that takes; rejects with a ChatError if the
   *  text is refused before it goes out or the session ends first. */
  send(text, { clientMsgId = randomHex(MESSAGE_ID_BYTES), replyTo } = {}) {
    const acked = new Promise((resolve, reject) => {
      if (this.#end) return reject(this.#endError());
      if (typeof text !== "string" || !text.trim()) {
        return reject(new ChatError("empty_message", "message is empty"));
      }
      if (this.#state.pending.has(clientMsgId)) {
        return reject(new ChatError("bad_request", `${clientMsgId} is already pending`));
      }
      const result = rooms.compose(this.#state, text, clientMsgId, Date.now(), replyTo);
      const refused = result.events.find((e) => e.type === "error");
      if (refused) return reject(new ChatError(refused.code, refused.message));
      this.#acks.set(clientMsgId, { resolve, reject });
      this.#run(result);
    });
    // Fire and forget is fine: a send nobody awaits must not become an
    // unhandled rejection when the session ends.
    acked.catch(() => {});
    return acked;
  }

  /** Tells the room this client is typing (at most once per 3 s). */
  typing() {
    this.#run(rooms.typing(this.#state, Date.now()));
  }

  /** New text for message `id`. Throws a ChatError if refused before it
   *  goes out (offline, empty, too long); the room's own refusals
   *  (`not_author`, …) arrive as `error` events. */
  edit(id, text) {
    this.#act(rooms.edit(this.#state, id, text));
  }

  /** Deletes message `id`; throws like `edit`. */
  delete(id) {
    this.#act(rooms.remove(this.#state, id));
  }

  /** Removes `clientId` from the room for `minutes` (moderators). */
  kick(clientId, minutes) {
    this.#act(rooms.kick(this.#state, clientId, minutes));
  }

  /** A new display name (open mode): the client rejoins at once under it,
   *  and `since` makes that seamless. */
  rename(name) {
    if (this.#token || name === this.#name) return;
    this.#name = name;
    this.#conn?.rejoin();
  }

  /** Leaves the room for good. */
  close() {
    this.#finish("closed", "closed by the app");
  }

  /** The newest `limit` kept messages before seq `before` (or the newest
   *  of all), oldest first, as they are now: `{ messages, more }`. Rejects
   *  with a ChatError when offline, refused, or the socket drops first. */
  scrollback({ before, limit } = {}) {
    return this.#page("older", rooms.older(this.#state, before, limit));
  }

  /** Messages whose text has every word of `q`, newest first, before seq
   *  `before`: `{ messages, more, q }`; rejects like `scrollback`. */
  search(q, { before, limit } = {}) {
    return this.#page("search", rooms.search(this.#state, q, before, limit));
  }

  /** Toggles this client's reaction `emoji` on message `id`; the room's
   *  answer is a `reaction` event, its refusals `error` events. Throws a
   *  ChatError when offline. */
  react(id, emoji) {
    this.#act(rooms.react(this.#state, id, emoji));
  }

  /** This client has seen everything up to `seq`: the room moves its read
   *  pointer (forward only) and every tab of this person gets `read`. A
   *  reader scrolling reports many seqs a second; the newest goes out at
   *  most once per READ_EVERY_MS, as the room's rate limit counts frames. */
  markRead(seq) {
    this.#readWanted = Math.max(this.#readWanted, seq);
    if (this.#readTimer) return;
    const wait = this.#readSentAt + READ_EVERY_MS - Date.now();
    if (wait <= 0) {
      this.#sendRead();
    } else {
      this.#readTimer = setTimeout(() => this.#sendRead(), wait);
    }
  }

  #sendRead() {
    this.#readTimer = null;
    this.#readSentAt = Date.now();
    this.#run(rooms.markRead(this.#state, this.#readWanted));
  }

  #page(kind, result) {
    return new Promise((resolve, reject) => {
      if (this.#end) return reject(this.#endError());
      const refused = result.events.find((e) => e.type === "error");
      if (refused) return reject(new ChatError(refused.code, refused.message));
      // A refusal (over the rate, say) names no request: an answer that
      // does not come in time is not coming.
      const waiting = { resolve, reject };
      waiting.timer = setTimeout(() => {
        const queue = this.#pages[kind];
        const at = queue.indexOf(waiting);
        if (at >= 0) queue.splice(at, 1);
        reject(new ChatError("timeout", "the room did not answer in time"));
      }, PAGE_TIMEOUT_MS);
      this.#pages[kind].push(waiting);
      this.#run(result);
    });
  }

  /** Answers waiting for a socket that closed will never come. */
  #dropPages(error) {
    for (const queue of Object.values(this.#pages)) {
      for (const { reject, timer } of queue.splice(0)) {
        clearTimeout(timer);
        reject(error);
      }
    }
  }

  // ---- the session ----------------------------------------------------

  #start() {
    if (this.#claims && this.#claims.exp !== null && Date.now() >= this.#claims.exp) {
      // Known to be refused: no socket, unless a fresh token can be had.
      if (this.#options.refreshToken) this.#refresh();
      else this.#finish("token_expired", "the sign-in token has expired");
      return;
    }
    this.#connect();
    this.#watchToken();
  }

  #connect() {
    this.#connDead = false;
    const { url, room, batch, receipts, WebSocket } = this.#options;
    this.#conn = connect(
      () =>
        socketUrl(url, {
          clientId: this.me,
          room,
          name: this.#token ? undefined : this.#name,
          since: this.#state.lastSeq,
          epoch: this.#state.epoch,
          token: this.#token,
          batch,
          receipts,
        }),
      {
        connecting: (attempt) => this.#emit({ type: "connecting", attempt }),
        open: (reconnected) => {
          this.#state = rooms.setOnline(this.#state, true).state;
          this.#emit({ type: "open", reconnected });
        },
        // A socket closing after the end may still deliver what was in
        // flight; the app has heard `end` and hears nothing after it.
        frame: (frame) => this.#end || this.#run(rooms.receive(this.#state, frame, Date.now())),
        closed: () => {
          this.#state = rooms.setOnline(this.#state, false).state;
          this.#dropPages(new ChatError("offline", "the connection dropped before the answer"));
        },
        retrying: (retry) => {
          this.#emit({ type: "retrying", ...retry });
          if (!retry.opened) this.#explain();
        },
        ended: (code) => {
          this.#connDead = true;
          this.#ending(code, code);
        },
      },
      { WebSocket },
    );
  }

  /** Carries out what the room state decided, then tells the app. */
  #run({ state, events }) {
    this.#state = state;
    for (const event of events) {
      if (event.type === "send") {
        // A frame that cannot go out now is not lost: messages stay pending
        // and are resent after the next history; a typing notice does not
        // matter.
        this.#conn?.send(event.frame);
      } else if (event.type === "end") {
        this.#ending(event.code, event.message);
      } else {
        if (event.type === "ack") this.#settle(event);
        if (event.type === "older" || event.type === "search") {
          const waiting = this.#pages[event.type].shift();
          clearTimeout(waiting?.timer);
          waiting?.resolve(event);
        }
        if (event.type === "error") this.#refusePage(event);
        this.#emit(event);
      }
    }
  }

  /** A page request the room refused (a bad query, over the rate) is
   *  answered with the error instead of a page. */
  #refusePage({ code, message }) {
    const kind = code === "bad_query" ? "search" : null;
    const waiting = kind ? this.#pages[kind].shift() : undefined;
    clearTimeout(waiting?.timer);
    waiting?.reject(new ChatError(code, message));
  }

  #act(result) {
    const refused = result.events.find((e) => e.type === "error");
    if (refused) throw new ChatError(refused.code, refused.message);
    this.#run(result);
  }

  #settle({ clientMsgId, seq, id }) {
    this.#acks.get(clientMsgId)?.resolve({ clientMsgId, seq, id });
    this.#acks.delete(clientMsgId);
  }

  #emit(event) {
    for (const type of [event.type, "*"]) {
      for (const listener of this.#listeners.get(type) ?? []) listener(event);
    }
  }

  /** The room ended the session (or is about to): an expired token is
   *  renewed when the app can renew it, anything else is the end. */
  #ending(code, message) {
    if (this.#end) return;
    if ((code === "token_expired" || code === "expired_token") && this.#options.refreshToken) {
      this.#refresh();
    } else {
      this.#finish(code, message);
    }
  }

  #finish(code, message) {
    if (this.#end) return;
    this.#end = { code, message };
    clearTimeout(this.#timer);
    clearTimeout(this.#readTimer);
    this.#conn?.stop();
    this.#state = rooms.setOnline(this.#state, false).state;
    for (const { reject } of this.#acks.values()) reject(this.#endError());
    this.#acks.clear();
    this.#dropPages(this.#endError());
    this.#emit({ type: "end", code, message });
  }

  #endError() {
    return new ChatError(this.#end.code, this.#end.message);
  }

  // ---- the token ------------------------------------------------------

  /** Refreshes the token before `exp` when the app can; otherwise ends the
   *  session at `exp`, even while offline, when no room is there to say
   *  so. Timers re-arm in steps a timer can hold. */
  #watchToken() {
    clearTimeout(this.#timer);
    if (!this.#claims || this.#claims.exp === null || this.#end) return;
    const now = Date.now();
    this.#wakeAt(this.#options.refreshToken ? now + refreshInMs(this.#claims, now) : this.#claims.exp);
  }

  /** The token's moment comes at `due`, fixed once per token: asking
   *  refreshInMs again on waking would put it off every time. */
  #wakeAt(due) {
    const now = Date.now();
    if (now >= due) {
      this.#ending("token_expired", "the sign-in token has expired");
      return;
    }
    this.#timer = setTimeout(() => this.#wakeAt(due), Math.min(due - now, MAX_TIMER_MS));
  }

  /** Asks the app for a fresh token, then rejoins with it; one call at a
   *  time. A refusal or a failure to get one ends the session. */
  #refresh() {
    if (this.#refreshing || this.#end) return;
    this.#refreshing = (async () => {
      try {
        const fresh = await this.#options.refreshToken(this.#token);
        const claims = readClaims(fresh);
        if (!claims || claims.sub !== this.me) {
          throw new ChatError("bad_token", "the refreshed token names another client");
        }
        if (claims.exp !== null && claims.exp <= Date.now()) {
          throw new ChatError("expired_token", "the refreshed token has expired too");
        }
        this.#token = fresh;
        this.#claims = claims;
        this.#emit({ type: "token", token: fresh });
      } catch (err) {
        this.#finish("token_expired", `could not refresh the sign-in token: ${err.message}`);
        return;
      } finally {
        this.#refreshing = null;
      }
      if (this.#end) return;
      if (!this.#conn || this.#connDead) this.#connect();
      else this.#conn.rejoin();
      this.#watchToken();
    })();
  }

  /** A handshake failed, and a WebSocket never says why; in token mode the
   *  HTTP API answers the same refusal with its code, so ask it once per
   *  failed attempt. A ban or a bad token ends the session instead of a
   *  reconnect loop; anything else (the room is down) keeps retrying. */
  async #explain() {
    if (!this.#token || !this.#options.explainRefusals || this.#probing) return;
    this.#probing = true;
    try {
      await chatApi({ url: this.#options.url, token: this.#token, fetch: this.#options.fetch })
        .presence(this.room);
    } catch (err) {
      if (err instanceof ChatError && refusedForGood(err.code)) this.#ending(err.code, err.message);
    } finally {
      this.#probing = false;
    }
  }
}

function randomHex(bytes) {
  const buf = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}
