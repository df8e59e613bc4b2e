// The page without a browser, as app.js runs it: the client library's room
// state (catch-up, dedupe, the pending/ack cycle, resends after a
// reconnect, members) and the page's view state over its events (grouping,
// typing, who may remove whom), each fed the frames the server sends
// (docs/protocol.md).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { GROUP_WITHIN_MS, TYPING_SHOW_MS } from "../../public/limits.js";
import { onEvent, typingTimedOut } from "../../public/state.js";
import { ME, Page, T0, history, message, of, sent } from "./page.mjs";

describe("catch-up", () => {
  test("a first history shows its window in order and remembers the newest seq", () => {
    const page = new Page();
    page.receive(history([message(1, "a", "one"), message(2, "b", "two")]));
    assert.deepEqual(page.shown(), [1, 2]);
    assert.equal(page.state.lastSeq, 2);
  });

  test("nothing seen yet asks for no `since`", () => {
    assert.equal(new Page().state.lastSeq, null);
  });

  test("an empty room's history still moves `since` to its latest seq", () => {
    const page = new Page();
    page.receive(history([], { latestSeq: 0 }));
    assert.equal(page.state.lastSeq, 0);
    page.receive(history([], { latestSeq: 7 }));
    assert.equal(page.state.lastSeq, 7);
  });

  test("a reconnect's history shows each missed message once, without gaps", () => {
    const page = new Page();
    page.receive(history([1, 2, 3].map((s) => message(s, "a", `m${s}`))));
    page.receive(message(4, "b", "live"));
    assert.equal(page.state.lastSeq, 4, "the reconnect asks since=4");
    page.drop();
    page.reconnect();
    // Overlapping by one, as a server racing a broadcast could.
    page.receive(history([4, 5, 6].map((s) => message(s, "a", `m${s}`))));
    assert.deepEqual(page.shown(), [1, 2, 3, 4, 5, 6]);
    assert.equal(page.state.lastSeq, 6);
  });

  test("a truncated history on a reconnect says messages were missed, before them", () => {
    const page = new Page();
    page.receive(history([message(1, "a", "old")]));
    const effects = page.receive(
      history([message(150, "a", "new")], { latestSeq: 150, truncated: true }),
    );
    assert.deepEqual(
      effects.map((e) => e.kind),
      ["restart", "event", "show"],
      "the conversation with a gap goes: scrollback fills the rest",
    );
    assert.equal(effects[1].event, "missed");
    assert.equal(page.state.lastSeq, 150);
  });

  test("a truncated history on a first visit is just the kept window", () => {
    const page = new Page();
    const effects = page.receive(history([message(150, "a", "x")], { truncated: true }));
    assert.deepEqual(of(effects, "event"), []);
  });
});

describe("dedupe", () => {
  test("a seq seen twice shows once, live, batched or in a history", () => {
    const page = new Page();
    page.receive(history([]));
    page.receive(message(5, "a", "once"));
    page.receive(message(5, "a", "once"));
    page.receive({ type: "batch", frames: [message(5, "a", "once"), message(6, "a", "next")] });
    page.receive(history([message(5, "a", "once"), message(6, "a", "next")]));
    assert.deepEqual(page.shown(), [5, 6]);
  });

  test("a message without a seq is not shown", () => {
    const page = new Page();
    assert.deepEqual(page.receive({ type: "message", clientId: "a", message: "x" }), []);
  });
});

describe("pending and ack", () => {
  test("a written message is pending and sent under its id until its ack", () => {
    const page = new Page();
    page.receive(history([]));
    const effects = page.write("hello", "id-1");
    assert.deepEqual(effects, [
      { kind: "pending", clientMsgId: "id-1", text: "hello", ts: T0 },
      { kind: "send", frame: { type: "message", message: "hello", clientMsgId: "id-1" } },
    ]);
    assert.deepEqual([...page.state.pending.keys()], ["id-1"]);
    const acked = page.receive({ type: "ack", clientMsgId: "id-1", seq: 1 });
    assert.deepEqual(acked, [{ kind: "settle", clientMsgId: "id-1" }]);
    assert.equal(page.state.pending.size, 0);
    assert.deepEqual(page.receive({ type: "ack", clientMsgId: "id-1", seq: 1 }), []);
  });

  test("our own message coming back settles it, shown as ours", () => {
    const page = new Page();
    page.receive(history([]));
    page.write("hello", "id-1");
    const effects = page.receive(message(1, ME, "hello", { clientMsgId: "id-1" }));
    assert.deepEqual(
      effects.map((e) => e.kind),
      ["settle", "show"],
    );
    assert.equal(effects[1].message.mine, true);
    assert.equal(page.state.pending.size, 0);
  });

  test("someone else's message with the same clientMsgId settles nothing", () => {
    const page = new Page();
    page.receive(history([]));
    page.write("hello", "id-1");
    page.receive(message(1, "other", "hi", { clientMsgId: "id-1" }));
    assert.deepEqual([...page.state.pending.keys()], ["id-1"]);
  });

  test("blank text is not a message", () => {
    const page = new Page();
    assert.deepEqual(page.write("  \n ", "id-1"), []);
    assert.equal(page.state.pending.size, 0);
  });

  test("written offline, a message is queued, not sent", () => {
    const page = new Page();
    page.drop();
    const effects = page.write("later", "id-1");
    assert.deepEqual(
      effects.map((e) => e.kind),
      ["pending", "queued"],
    );
  });
});

describe("resend after a reconnect", () => {
  test("exactly the unacknowledged messages go again, under their ids, in order", () => {
    const page = new Page();
    page.receive(history([]));
    page.write("acked", "a");
    page.write("stored, ack lost", "b");
    page.write("lost on the way", "c");
    page.receive({ type: "ack", clientMsgId: "a", seq: 1 });
    page.receive(message(1, ME, "acked", { clientMsgId: "a" }));
    page.drop();
    page.write("written offline", "d");
    page.reconnect();
    const effects = page.receive(
      history([message(2, ME, "stored, ack lost", { clientMsgId: "b" })]),
    );
    assert.deepEqual(of(effects, "settle"), [{ kind: "settle", clientMsgId: "b" }]);
    assert.deepEqual(sent(effects), [
      { type: "message", message: "lost on the way", clientMsgId: "c" },
      { type: "message", message: "written offline", clientMsgId: "d" },
    ]);
  });

  test("a resend the server already stored is settled by its ack alone", () => {
    const page = new Page();
    page.receive(history([]));
    page.write("sent twice", "x");
    page.drop();
    page.reconnect();
    assert.equal(sent(page.receive(history([], { latestSeq: 3 }))).length, 1);
    // The server dedupes on (client id, clientMsgId): an ack, no new message.
    const effects = page.receive({ type: "ack", clientMsgId: "x", seq: 3 });
    assert.deepEqual(effects, [{ kind: "settle", clientMsgId: "x" }]);
  });

  test("nothing is resent when nothing is pending", () => {
    const page = new Page();
    page.receive(history([]));
    page.drop();
    page.reconnect();
    assert.deepEqual(sent(page.receive(history([]))), []);
  });
});

describe("members", () => {
  const names = (page) => of(page.effects, "members").at(-1).members;

  test("presence lists everyone, sorted, with names and which one is me", () => {
    const page = new Page();
    page.receive({
      type: "presence",
      members: [{ clientId: "zoe" }, { clientId: ME }, { clientId: "al", name: "Al" }],
      count: 3,
    });
    assert.deepEqual(names(page), [
      { clientId: "al", name: "Al", me: false, removable: false },
      { clientId: ME, name: "", me: true, removable: false },
      { clientId: "zoe", name: "", me: false, removable: false },
    ]);
  });

  test("a big room shows its exact count and one line for its crowd", () => {
    const page = new Page();
    page.receive({ type: "presence", members: [{ clientId: ME }], count: 1500, relays: 2 });
    page.receive({ type: "crowd", joined: 37, left: 5, count: 1532, relays: 2 });
    assert.equal(of(page.effects, "members").at(-1).count, 1532);
    const line = of(page.effects, "event").at(-1);
    assert.deepEqual([line.event, line.joined, line.left], ["crowd", 37, 5]);
  });

  test("join and leave keep the list; a second tab of one client counts once", () => {
    const page = new Page();
    page.receive({ type: "presence", members: [{ clientId: ME }], count: 1 });
    page.receive({ type: "join", clientId: "bob", name: "Bob", ts: T0 });
    // Bob opens another tab: its own join at most, never a second entry.
    page.receive({ type: "join", clientId: "bob", name: "Bob", ts: T0 });
    assert.deepEqual(
      names(page).map((m) => m.clientId),
      ["bob", ME],
    );
    // The server says leave only when Bob's last tab closes.
    page.receive({ type: "leave", clientId: "bob", name: "Bob", ts: T0 });
    assert.deepEqual(
      names(page).map((m) => m.clientId),
      [ME],
    );
    const events = of(page.effects, "event").map((e) => `${e.clientId} ${e.event}`);
    assert.deepEqual(events, ["bob joined", "bob joined", "bob left"]);
  });

  test("my own join adds me without a notice", () => {
    const page = new Page();
    page.receive({ type: "join", clientId: ME, ts: T0 });
    assert.deepEqual(of(page.effects, "event"), []);
    assert.deepEqual(names(page), [{ clientId: ME, name: "", me: true, removable: false }]);
  });

  test("the list outlives a dropped connection until the next presence", () => {
    const page = new Page();
    page.receive({ type: "presence", members: [{ clientId: ME }, { clientId: "a" }], count: 2 });
    page.drop();
    assert.deepEqual([...page.state.members.keys()], [ME, "a"]);
    page.reconnect();
    page.receive({ type: "presence", members: [{ clientId: ME }], count: 1 });
    assert.deepEqual([...page.state.members.keys()], [ME]);
  });
});

describe("grouping", () => {
  const continues = (page) => of(page.effects, "show").map((e) => e.message.continues);

  test("one sender's messages within the window share a header", () => {
    const page = new Page();
    page.receive(
      history([
        message(1, "a", "x", { ts: T0 }),
        message(2, "a", "y", { ts: T0 + GROUP_WITHIN_MS - 1 }),
        message(3, "a", "z", { ts: T0 + 2 * GROUP_WITHIN_MS }),
        message(4, "b", "w", { ts: T0 + 2 * GROUP_WITHIN_MS }),
      ]),
    );
    assert.deepEqual(continues(page), [false, true, false, false]);
  });

  test("a notice between two messages ends the group", () => {
    const page = new Page();
    page.receive(message(1, "a", "x"));
    page.receive({ type: "join", clientId: "c", ts: T0 });
    page.receive(message(2, "a", "y"));
    assert.deepEqual(continues(page), [false, false]);
  });
});

describe("typing", () => {
  test("a notice shows the typist by name until it times out", () => {
    const page = new Page();
    page.receive({ type: "presence", members: [{ clientId: "a", name: "Ann" }], count: 1 });
    const effects = page.receive({ type: "typing", clientId: "a", ts: T0 }, T0);
    assert.deepEqual(of(effects, "typing"), [{ kind: "typing", names: ["Ann"] }]);
    const [timer] = of(effects, "timer");
    assert.equal(timer.afterMs, TYPING_SHOW_MS);
    // A newer notice restarts the clock: the older timer changes nothing.
    page.receive({ type: "typing", clientId: "a", ts: T0 }, T0 + 1000);
    assert.deepEqual(page.typingTimedOut("a", timer.until), []);
    const later = of(page.effects, "timer").at(-1).until;
    const ended = page.typingTimedOut("a", later);
    assert.deepEqual(ended, [{ kind: "typing", names: [] }]);
  });

  test("a typist's message ends their typing; my own notices are ignored", () => {
    const page = new Page();
    page.receive({ type: "typing", clientId: ME, ts: T0 });
    assert.equal(page.state.typing.size, 0);
    page.receive({ type: "typing", clientId: "a", ts: T0 });
    const effects = page.receive(message(1, "a", "done"));
    assert.deepEqual(of(effects, "typing"), [{ kind: "typing", names: [] }]);
  });

  test("a typist who leaves stops typing at once, not at the timeout", () => {
    const page = new Page();
    page.receive({ type: "typing", clientId: "a", ts: T0 });
    const effects = page.receive({ type: "leave", clientId: "a", ts: T0 });
    assert.deepEqual(of(effects, "typing"), [{ kind: "typing", names: [] }]);
    assert.equal(page.state.typing.size, 0);
  });
});

describe("purity", () => {
  test("no function changes the view state it was given", () => {
    const page = new Page();
    page.receive({ type: "presence", members: [{ clientId: "a" }], count: 1 });
    page.receive(history([message(1, "a", "x")]));
    page.receive({ type: "typing", clientId: "b", ts: T0 });
    const before = page.view;
    const snapshot = structuredClone(before);
    const shown = { seq: 2, id: "m2", clientId: "b", name: "", text: "y", ts: T0, mine: false, edited: null, deleted: false };
    onEvent(before, { type: "message", message: shown }, T0);
    onEvent(before, { type: "members", members: [] }, T0);
    onEvent(before, { type: "typing", clientId: "c", name: "", ts: T0 }, T0);
    onEvent(before, { type: "leave", clientId: "b", name: "", ts: T0, me: false }, T0);
    typingTimedOut(before, "b", T0 + TYPING_SHOW_MS);
    assert.deepEqual(before, snapshot);
  });

  test("errors become refusals; unknown and malformed frames change nothing", () => {
    const page = new Page();
    const effects = page.receive({ type: "error", code: "rate_limited", message: "slow down", retryAfterMs: 250 });
    assert.deepEqual(effects, [
      { kind: "refused", code: "rate_limited", message: "slow down", retryAfterMs: 250 },
    ]);
    for (const frame of [{ type: "pong" }, { type: "from-the-future" }, null, 7, { type: "batch", frames: [null] }]) {
      assert.deepEqual(page.receive(frame), []);
    }
  });
});
