// A page driven frame by frame, as app.js drives it, for the tests of
// public/state.js: the client library's room state (client/src/room.js)
// takes each frame or action, and the view's state takes each event it
// reports. The `Page` collects every effect in order (the client's `send`s
// among them, as `{ kind: "send", frame }`), and the builders make the
// frames the server sends (docs/protocol.md).

import * as room from "../../client/src/room.js";
import {
  deleteWanted,
  editWanted,
  initialState,
  kickWanted,
  onEvent,
  rights,
  typingTimedOut,
} from "../../public/state.js";

export const ME = "me";
export const T0 = 1_700_000_000_000;

/** A page that has connected, with all effects so far collected in order. */
export class Page {
  /** `options` as for `initialState`, e.g. `{ moderator: true }`. */
  constructor(options) {
    this.room = room.setOnline(room.initialRoom(ME), true).state;
    this.view = initialState(ME, options);
    this.effects = [];
  }
  /** What the page knows: the client's room state, the view's state, and
   *  each message with the controls the page offers on it. */
  get state() {
    const messages = new Map(
      [...this.room.messages].map(([seq, m]) => [seq, { ...m, ...rights(this.view, m) }]),
    );
    return { ...this.room, ...this.view, messages };
  }
  /** Runs what the client's room state returned through the view. */
  client({ state, events }, now = T0) {
    this.room = state;
    const effects = [];
    for (const event of events) {
      if (event.type === "send") {
        effects.push({ kind: "send", frame: event.frame });
        continue;
      }
      const next = onEvent(this.view, event, now);
      this.view = next.state;
      effects.push(...next.effects);
    }
    this.effects.push(...effects);
    return effects;
  }
  /** Runs what the view's state returned. */
  take({ state, effects }) {
    this.view = state;
    this.effects.push(...effects);
    return effects;
  }
  receive(frame, now = T0) {
    return this.client(room.receive(this.room, frame, now), now);
  }
  write(text, clientMsgId, now = T0) {
    return this.client(room.compose(this.room, text, clientMsgId, now), now);
  }
  drop() {
    return this.client(room.setOnline(this.room, false));
  }
  reconnect() {
    return this.client(room.setOnline(this.room, true));
  }
  typingTimedOut(clientId, until) {
    return this.take(typingTimedOut(this.view, clientId, until));
  }
  /** The person saves `text` over message `seq`, as app.js handles it. */
  requestEdit(seq, text) {
    const message = this.room.messages.get(seq);
    if (!editWanted(this.view, message, text)) return [];
    return this.client(room.edit(this.room, message.id, text));
  }
  requestDelete(seq) {
    const message = this.room.messages.get(seq);
    if (!deleteWanted(this.view, message)) return [];
    return this.client(room.remove(this.room, message.id));
  }
  requestKick(clientId, minutes) {
    if (!kickWanted(this.view, clientId)) return [];
    return this.client(room.kick(this.room, clientId, minutes));
  }
  /** The seqs shown so far, in the order they were shown. */
  shown() {
    return of(this.effects, "show").map((e) => e.message.seq);
  }
}

export function of(effects, kind) {
  return effects.filter((e) => e.kind === kind);
}

export function sent(effects) {
  return of(effects, "send").map((e) => e.frame);
}

export function message(seq, clientId, text, extra = {}) {
  return { type: "message", seq, clientId, message: text, ts: T0 + seq, ...extra };
}

export function history(messages, { latestSeq, truncated = false } = {}) {
  const last = messages.length ? messages.at(-1).seq : 0;
  return { type: "history", messages, latestSeq: latestSeq ?? last, truncated, ts: T0 };
}
