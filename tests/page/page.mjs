// A page's state driven frame by frame, for the tests of public/state.js:
// the `Page` collects every effect in order, and the builders make the
// frames the server sends (README, "Wire protocol").

import { apply, compose, initialState, setOnline } from "../../public/state.js";

export const ME = "me";
export const T0 = 1_700_000_000_000;

/** A page that has connected, with all effects so far collected in order. */
export class Page {
  /** `options` as for `initialState`, e.g. `{ moderator: true }`. */
  constructor(options) {
    this.state = setOnline(initialState(ME, options), true).state;
    this.effects = [];
  }
  take({ state, effects }) {
    this.state = state;
    this.effects.push(...effects);
    return effects;
  }
  receive(frame, now = T0) {
    return this.take(apply(this.state, frame, now));
  }
  write(text, clientMsgId, now = T0) {
    return this.take(compose(this.state, text, clientMsgId, now));
  }
  drop() {
    return this.take(setOnline(this.state, false));
  }
  reconnect() {
    return this.take(setOnline(this.state, true));
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
