// Edit, delete and moderation in the page's state (public/state.js): live
// `edit` and `delete` frames, a history's tombstones and `editedTs`, the
// changes a catch-up carries, `since` moving past every change's seq, which
// controls each person gets, and the frames their actions send.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { KICK_MAX_MINUTES, MESSAGE_MAX_CHARS } from "../../client/src/limits.js";
import { ME, Page, T0, history, message, of, sent } from "./page.mjs";

/** A stored message as the server sends it, its id derived from its seq. */
function stored(seq, clientId, text, extra = {}) {
  return message(seq, clientId, text, { id: `m${seq}`, ...extra });
}

function edit(seq, id, text, editedTs = T0 + seq) {
  return { type: "edit", seq, id, clientId: ME, message: text, ts: editedTs, editedTs };
}

function del(seq, id) {
  return { type: "delete", seq, id, clientId: ME, message: "", ts: T0 + seq };
}

const updates = (effects) => of(effects, "update").map((e) => e.message);

describe("live edit and delete", () => {
  test("an edit redraws the message with its new text, marked edited", () => {
    const page = new Page();
    page.receive(history([stored(1, "a", "helo")]));
    const [shown] = updates(page.receive(edit(2, "m1", "hello", T0 + 50)));
    assert.equal(shown.seq, 1);
    assert.equal(shown.text, "hello");
    assert.equal(shown.edited, T0 + 50);
    assert.equal(page.state.messages.get(1).text, "hello");
  });

  test("a delete leaves a tombstone: no text, no controls", () => {
    const page = new Page();
    page.receive(history([stored(1, ME, "oops")]));
    assert.equal(page.state.messages.get(1).canDelete, true);
    const [gone] = updates(page.receive(del(2, "m1")));
    assert.deepEqual(
      [gone.deleted, gone.text, gone.canEdit, gone.canDelete],
      [true, "", false, false],
    );
  });

  test("a deleted message stays deleted; a later edit of it changes nothing", () => {
    const page = new Page();
    page.receive(history([stored(1, ME, "x")]));
    page.receive(del(2, "m1"));
    assert.deepEqual(page.receive(edit(3, "m1", "back")), []);
    assert.equal(page.state.messages.get(1).deleted, true);
  });

  test("edits and deletes arrive batched like any frame", () => {
    const page = new Page();
    page.receive(history([stored(1, "a", "one"), stored(2, "a", "two")]));
    page.receive({ type: "batch", frames: [edit(3, "m1", "uno"), del(4, "m2")] });
    assert.equal(page.state.messages.get(1).text, "uno");
    assert.equal(page.state.messages.get(2).deleted, true);
  });

  test("the same edit twice redraws once; an older one after a newer is stale", () => {
    const page = new Page();
    page.receive(history([stored(1, "a", "v1")]));
    page.receive(edit(3, "m1", "v3"));
    assert.deepEqual(page.receive(edit(3, "m1", "v3")), []);
    assert.deepEqual(page.receive(edit(2, "m1", "v2")), []);
    assert.equal(page.state.messages.get(1).text, "v3");
  });
});

describe("`since` after edits and deletes", () => {
  test("each change's own seq moves lastSeq, so a reconnect asks since it", () => {
    const page = new Page();
    page.receive(history([stored(1, "a", "x")]));
    page.receive(edit(2, "m1", "y"));
    assert.equal(page.state.lastSeq, 2);
    page.receive(del(3, "m1"));
    assert.equal(page.state.lastSeq, 3);
  });

  test("a change to a message the page never showed still moves lastSeq", () => {
    const page = new Page();
    page.receive(history([stored(10, "a", "x")]));
    assert.deepEqual(page.receive(del(11, "m-older-than-the-window")), []);
    assert.equal(page.state.lastSeq, 11);
  });
});

describe("history and catch-up", () => {
  test("a first history shows tombstones and edited messages as they are now", () => {
    const page = new Page();
    page.receive(
      history([
        stored(1, "a", "", { deleted: true }),
        stored(2, "a", "fixed", { editedTs: T0 + 99 }),
        stored(3, "a", "plain"),
      ], { latestSeq: 5 }),
    );
    const shown = of(page.effects, "show").map((e) => e.message);
    assert.deepEqual(
      shown.map((m) => [m.seq, m.text, m.deleted, m.edited]),
      [
        [1, "", true, null],
        [2, "fixed", false, T0 + 99],
        [3, "plain", false, null],
      ],
    );
  });

  test("a reconnect's changes edit and delete messages shown before the drop", () => {
    const page = new Page();
    page.receive(history([stored(1, "a", "keep"), stored(2, "a", "bad"), stored(3, "a", "typo")]));
    page.drop();
    page.reconnect();
    const effects = page.receive({
      ...history([stored(6, "a", "new")], { latestSeq: 6 }),
      changes: [del(4, "m2"), edit(5, "m3", "type")],
    });
    assert.deepEqual(
      updates(effects).map((m) => [m.seq, m.text, m.deleted]),
      [
        [2, "", true],
        [3, "type", false],
      ],
    );
    assert.deepEqual(page.shown(), [1, 2, 3, 6]);
    assert.equal(page.state.lastSeq, 6);
  });

  test("changes alone (no new message) still move lastSeq past them", () => {
    const page = new Page();
    page.receive(history([stored(1, "a", "x")]));
    page.receive({ ...history([], { latestSeq: 1 }), changes: [del(2, "m1")] });
    assert.equal(page.state.lastSeq, 2);
    assert.equal(page.state.messages.get(1).deleted, true);
  });

  test("a history's copy of a shown message that was deleted meanwhile redraws it", () => {
    const page = new Page();
    page.receive(history([stored(1, "a", "x")]));
    const effects = page.receive(history([stored(1, "a", "", { deleted: true })]));
    assert.deepEqual(of(effects, "show"), []);
    assert.equal(updates(effects)[0].deleted, true);
  });

  test("a copy of a message from before its edit does not undo the edit", () => {
    const page = new Page();
    page.receive(history([stored(1, "a", "old")]));
    page.receive(edit(2, "m1", "new"));
    assert.deepEqual(page.receive(stored(1, "a", "old")), []);
    assert.equal(page.state.messages.get(1).text, "new");
  });
});

describe("who gets which control", () => {
  test("a member may edit and delete their own messages, nobody else's", () => {
    const page = new Page();
    page.receive(history([stored(1, ME, "mine"), stored(2, "a", "theirs")]));
    const [mine, theirs] = [1, 2].map((s) => page.state.messages.get(s));
    assert.deepEqual([mine.canEdit, mine.canDelete], [true, true]);
    assert.deepEqual([theirs.canEdit, theirs.canDelete], [false, false]);
  });

  test("a moderator may delete anyone's message but edit only their own", () => {
    const page = new Page({ moderator: true });
    page.receive(history([stored(1, ME, "mine"), stored(2, "a", "theirs")]));
    const theirs = page.state.messages.get(2);
    assert.deepEqual([theirs.canEdit, theirs.canDelete], [false, true]);
  });

  test("a moderator may remove every member but themself", () => {
    const page = new Page({ moderator: true });
    page.receive({ type: "presence", members: [{ clientId: ME }, { clientId: "a" }], count: 2 });
    const members = of(page.effects, "members").at(-1).members;
    assert.deepEqual(
      members.map((m) => [m.clientId, m.removable]),
      [
        ["a", true],
        [ME, false],
      ],
    );
  });

  test("a message without an id (an older server) offers no controls", () => {
    const page = new Page({ moderator: true });
    page.receive(history([message(1, ME, "no id")]));
    const m = page.state.messages.get(1);
    assert.deepEqual([m.canEdit, m.canDelete], [false, false]);
  });
});

describe("actions", () => {
  function withMessages(options) {
    const page = new Page(options);
    page.receive(history([stored(1, ME, "mine"), stored(2, "a", "theirs")]));
    return page;
  }

  test("an edit of my message sends its id and new text", () => {
    const page = withMessages();
    assert.deepEqual(sent(page.requestEdit(1, "mine!")), [
      { type: "edit", id: "m1", message: "mine!" },
    ]);
  });

  test("an edit that changes nothing, or of someone else's message, sends nothing", () => {
    const page = withMessages();
    assert.deepEqual(page.requestEdit(1, "mine"), []);
    assert.deepEqual(page.requestEdit(2, "hijacked"), []);
    assert.deepEqual(page.requestEdit(99, "unknown"), []);
  });

  test("an edit is held to a message's limits: not blank, not too long", () => {
    const page = withMessages();
    const blank = page.requestEdit(1, "   ");
    assert.deepEqual(of(blank, "refused").map((e) => e.code), ["empty_message"]);
    const long = page.requestEdit(1, "x".repeat(MESSAGE_MAX_CHARS + 1));
    assert.deepEqual(of(long, "refused").map((e) => e.code), ["message_too_long"]);
    assert.equal(sent(page.requestEdit(1, "é".repeat(MESSAGE_MAX_CHARS))).length, 1);
  });

  test("a delete sends the id: my own as a member, anyone's as a moderator", () => {
    const member = withMessages();
    assert.deepEqual(sent(member.requestDelete(1)), [{ type: "delete", id: "m1" }]);
    assert.deepEqual(member.requestDelete(2), []);
    const moderator = withMessages({ moderator: true });
    assert.deepEqual(sent(moderator.requestDelete(2)), [
      { type: "delete", id: "m2" },
    ]);
  });

  test("offline, an edit or delete is refused rather than lost silently", () => {
    const page = withMessages();
    page.drop();
    for (const effects of [page.requestEdit(1, "new"), page.requestDelete(1)]) {
      assert.deepEqual(effects.map((e) => [e.kind, e.code]), [["refused", "offline"]]);
    }
  });

  test("a kick goes out only from a moderator, for someone else, in range", () => {
    const member = new Page();
    assert.deepEqual(member.requestKick("a", 10), []);
    const moderator = new Page({ moderator: true });
    assert.deepEqual(moderator.requestKick(ME, 10), []);
    assert.deepEqual(sent(moderator.requestKick("a", 10)), [
      { type: "kick", clientId: "a", minutes: 10 },
    ]);
    for (const minutes of [0, 1.5, KICK_MAX_MINUTES + 1, NaN]) {
      const effects = moderator.requestKick("a", minutes);
      assert.deepEqual(effects.map((e) => e.code), ["bad_minutes"], String(minutes));
    }
  });
});

describe("refusals and the end of a session", () => {
  test("a refused edit or delete is shown like any refusal", () => {
    const page = new Page();
    const effects = page.receive({ type: "error", code: "not_author", message: "not yours" });
    assert.deepEqual(effects, [
      { kind: "refused", code: "not_author", message: "not yours", retryAfterMs: undefined },
    ]);
  });

  test("an expired token and a removal end the session", () => {
    const page = new Page();
    assert.deepEqual(page.receive({ type: "error", code: "token_expired", message: "" }), [
      { kind: "ended", why: "expired" },
    ]);
    assert.deepEqual(page.receive({ type: "error", code: "kicked", message: "" }), [
      { kind: "ended", why: "removed" },
    ]);
  });
});
