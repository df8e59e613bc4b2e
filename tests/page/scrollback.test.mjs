// Scrollback in the page (public/state.js): pages of older messages go
// above the conversation, each message once and in order, grouped among
// themselves; a page is asked for only when none is on its way and the
// first kept message is not shown yet; and a reconnect that could not be
// made whole starts the conversation over, so no gap hides in it.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as room from "../../client/src/room.js";
import { olderAsked, olderWanted } from "../../public/state.js";
import { Page, T0 } from "./page.mjs";

const message = (seq, clientId, text) => ({
  type: "message",
  seq,
  id: `m${seq}`,
  clientId,
  message: text,
  ts: T0 + seq * 1000,
});
const history = (messages, extra = {}) => ({
  type: "history",
  messages,
  latestSeq: messages.length ? messages.at(-1).seq : 0,
  truncated: false,
  ...extra,
});
const older = (seqs, more) => ({ type: "older", messages: seqs.map((s) => message(s, "a", `m${s}`)), more });
const of = (effects, kind) => effects.filter((e) => e.kind === kind);

describe("scrollback", () => {
  test("older pages go above, once each, oldest first, until the beginning", () => {
    const page = new Page();
    page.receive(history([10, 11].map((s) => message(s, "a", `m${s}`))));
    assert.deepEqual(olderWanted(page.view), { before: 10 });
    page.take(olderAsked(page.view, true));
    assert.equal(olderWanted(page.view), null, "one page at a time");
    // A page overlapping what is shown (a message that arrived meanwhile).
    const first = page.receive(older([7, 8, 9, 10], true));
    assert.deepEqual(of(first, "prepend")[0].messages.map((m) => m.seq), [7, 8, 9]);
    assert.equal(of(first, "prepend")[0].beginning, false);
    assert.deepEqual(olderWanted(page.view), { before: 7 });
    const last = page.receive(older([5, 6], false));
    assert.equal(of(last, "prepend")[0].beginning, true);
    assert.equal(olderWanted(page.view), null, "nothing before the first kept message");
  });

  test("a page's messages are grouped among themselves and carry their controls", () => {
    const page = new Page();
    page.receive(history([message(5, "me", "mine")]));
    const effects = page.receive({
      type: "older",
      more: false,
      messages: [message(2, "a", "x"), message(3, "a", "y"), message(4, "me", "z")],
    });
    const shown = of(effects, "prepend")[0].messages;
    assert.deepEqual(shown.map((m) => m.continues), [false, true, false]);
    assert.deepEqual(shown.map((m) => m.canEdit), [false, false, true]);
  });

  test("a catch-up that missed too much clears the conversation and scrollback starts over", () => {
    const page = new Page();
    page.receive(history([1, 2].map((s) => message(s, "a", `m${s}`))));
    page.receive(older([], false));
    assert.equal(olderWanted(page.view), null);
    const effects = page.receive(history([message(90, "a", "new")], { truncated: true, latestSeq: 90 }));
    assert.deepEqual(effects.map((e) => e.kind), ["restart", "event", "show"]);
    assert.deepEqual(olderWanted(page.view), { before: 90 }, "the gap is scrollback now");
  });

  test("a failed ask can be asked again", () => {
    const page = new Page();
    page.receive(history([message(3, "a", "x")]));
    page.take(olderAsked(page.view, true));
    page.take(olderAsked(page.view, false));
    assert.deepEqual(olderWanted(page.view), { before: 3 });
    assert.deepEqual(room.older(page.room, 3).events.at(-1).frame, { type: "older", before: 3, limit: 50 });
  });
});
