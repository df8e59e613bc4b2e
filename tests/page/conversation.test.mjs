// The conversation in the page (public/state.js): the "new since you were
// last here" divider goes above the first message after the reader's
// pointer that is not the reader's own, once, and never on a first visit;
// reactions and replies redraw a message in place; every live message
// offers reply and react, a tombstone nothing.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Page, T0 } from "./page.mjs";

const message = (seq, clientId, text, extra = {}) => ({
  type: "message",
  seq,
  id: `m${seq}`,
  clientId,
  message: text,
  ts: T0 + seq * 1000,
  ...extra,
});
const history = (messages, extra = {}) => ({
  type: "history",
  messages,
  latestSeq: messages.length ? messages.at(-1).seq : 0,
  truncated: false,
  ...extra,
});
const of = (effects, kind) => effects.filter((e) => e.kind === kind);

describe("read state", () => {
  test("the divider goes above the first message by others after the pointer, once", () => {
    const page = new Page();
    const effects = page.receive(
      history([message(1, "a", "read"), message(2, "me", "mine"), message(3, "b", "new"), message(4, "a", "newer")], {
        read: { seq: 1, unread: 2 },
      }),
    );
    assert.deepEqual(of(effects, "divider"), [{ kind: "divider", seq: 3 }]);
    assert.deepEqual(of(effects, "read"), [{ kind: "read", seq: 1, unread: 2 }]);
    const later = page.receive(message(5, "b", "live"));
    assert.deepEqual(of(later, "divider"), []);
  });

  test("a first visit is all new and has no divider, nor after reading on", () => {
    const page = new Page();
    const effects = page.receive(history([message(1, "a", "x")], { read: { seq: 0, unread: 1 } }));
    assert.deepEqual(of(effects, "divider"), []);
    page.receive({ type: "read", seq: 1, unread: 0 });
    assert.deepEqual(of(page.receive(message(2, "b", "y")), "divider"), [], "my own reading is no divider");
  });
});

describe("reactions and replies", () => {
  test("a reaction redraws its message with the counts and mine", () => {
    const page = new Page();
    page.receive(history([message(1, "a", "vote")]));
    const effects = page.receive({
      type: "reaction",
      id: "m1",
      seq: 2,
      emoji: "👍",
      on: true,
      clientId: "me",
      reactions: [{ emoji: "👍", count: 1 }],
    });
    const [update] = of(effects, "update");
    assert.deepEqual(update.message.reactions, [{ emoji: "👍", count: 1, mine: true }]);
    assert.equal(update.message.canReact, true);
  });

  test("a reply shows its quote, which follows the original's delete", () => {
    const page = new Page();
    const reply = message(2, "b", "sure", { replyTo: { id: "m1", clientId: "a", quote: "lunch?" } });
    const shown = page.receive(history([message(1, "a", "lunch?"), reply]));
    assert.equal(of(shown, "show")[1].message.replyTo.quote, "lunch?");
    const gone = page.receive({ type: "delete", id: "m1", seq: 3 });
    const updated = of(gone, "update").map((e) => [e.message.seq, e.message.replyTo?.deleted ?? null]);
    assert.deepEqual(updated, [
      [1, null],
      [2, true],
    ]);
    assert.equal(of(gone, "update")[0].message.canReact, false, "a tombstone takes no reaction");
  });
});
