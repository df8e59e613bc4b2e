// The room state's pure functions (client/src/room.js), by the events they
// hand on: each stored message once, `since` past every seq, a message
// pending until stored and resent after every catch-up, the refusals made
// before anything goes out, and the codes that end a session.
// tests/page/ runs the same functions under the page's view.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { KICK_MAX_MINUTES, MESSAGE_MAX_CHARS, TYPING_SEND_EVERY_MS } from "../src/limits.js";
import * as room from "../src/room.js";

const ME = "me";
const T0 = 1_700_000_000_000;

const online = () => room.setOnline(room.initialRoom(ME), true).state;
const types = (events) => events.map((e) => e.type);
const sends = (events) => events.filter((e) => e.type === "send").map((e) => e.frame);
const message = (seq, clientId, text, extra = {}) => ({
  type: "message",
  seq,
  id: `m${seq}`,
  clientId,
  message: text,
  ts: T0 + seq,
  ...extra,
});
const history = (messages, extra = {}) => ({
  type: "history",
  messages,
  latestSeq: messages.length ? messages.at(-1).seq : 0,
  truncated: false,
  ...extra,
});

/** Runs `steps` (functions of the state) in turn, collecting every event. */
function run(state, ...steps) {
  const events = [];
  for (const stepFn of steps) {
    const result = stepFn(state);
    state = result.state;
    events.push(...result.events);
  }
  return { state, events };
}

describe("messages", () => {
  test("a first history is backlog; later messages and catch-ups are not", () => {
    const { state, events } = run(
      online(),
      (s) => room.receive(s, history([message(1, "a", "old")]), T0),
      (s) => room.receive(s, message(2, "a", "live"), T0),
      (s) => room.receive(s, history([message(3, "a", "missed")]), T0),
    );
    assert.deepEqual(
      events.map((e) => [e.message.seq, e.backlog]),
      [
        [1, true],
        [2, false],
        [3, false],
      ],
    );
    assert.equal(state.lastSeq, 3);
    assert.deepEqual(events[0].message, {
      seq: 1,
      id: "m1",
      clientId: "a",
      name: "",
      ts: T0 + 1,
      mine: false,
      text: "old",
      edited: null,
      deleted: false,
      reactions: [],
      mentions: [],
      mentionsMe: false,
    });
  });

  test("each seq is handed on once, live, batched or in a catch-up", () => {
    const { events } = run(
      online(),
      (s) => room.receive(s, message(5, "a", "x"), T0),
      (s) => room.receive(s, { type: "batch", frames: [message(5, "a", "x"), message(6, "a", "y")] }, T0),
      (s) => room.receive(s, history([message(5, "a", "x"), message(6, "a", "y")]), T0),
    );
    assert.deepEqual(events.map((e) => e.message.seq), [5, 6]);
  });

  test("an edit and a delete update the message and move `since` past their seqs", () => {
    const { state, events } = run(
      online(),
      (s) => room.receive(s, history([message(1, "a", "helo")]), T0),
      (s) => room.receive(s, { type: "edit", id: "m1", seq: 2, message: "hello", editedTs: T0 + 9 }, T0),
      (s) => room.receive(s, { type: "delete", id: "m1", seq: 3 }, T0),
    );
    assert.deepEqual(
      events.slice(1).map((e) => [e.type, e.message.text, e.message.edited, e.message.deleted]),
      [
        ["update", "hello", T0 + 9, false],
        ["update", "", T0 + 9, true],
      ],
    );
    assert.equal(state.lastSeq, 3);
  });
});

describe("sending", () => {
  test("a message is pending and sent under its id until its ack, which carries seq and id", () => {
    const { state, events } = run(
      online(),
      (s) => room.receive(s, history([]), T0),
      (s) => room.compose(s, "hi", "c1", T0),
      (s) => room.receive(s, { type: "ack", clientMsgId: "c1", seq: 1, id: "m1" }, T0),
    );
    assert.deepEqual(events, [
      { type: "pending", clientMsgId: "c1", text: "hi", ts: T0 },
      { type: "send", frame: { type: "message", message: "hi", clientMsgId: "c1" } },
      { type: "ack", clientMsgId: "c1", seq: 1, id: "m1" },
    ]);
    assert.equal(state.pending.size, 0);
  });

  test("offline it is queued; every catch-up resends what is still pending, in order", () => {
    const { events } = run(
      room.initialRoom(ME),
      (s) => room.compose(s, "one", "c1", T0),
      (s) => room.compose(s, "two", "c2", T0),
      (s) => room.setOnline(s, true),
      (s) => room.receive(s, history([message(1, ME, "one", { clientMsgId: "c1" })]), T0),
    );
    assert.deepEqual(types(events), ["pending", "queued", "pending", "queued", "ack", "message", "send"]);
    assert.deepEqual(sends(events), [{ type: "message", message: "two", clientMsgId: "c2" }]);
  });

  test("blank text is no message; text over the limit is refused, not kept", () => {
    assert.deepEqual(room.compose(online(), " \n", "c1", T0).events, []);
    const long = room.compose(online(), "x".repeat(MESSAGE_MAX_CHARS + 1), "c1", T0);
    assert.deepEqual(types(long.events), ["error"]);
    assert.equal(long.events[0].code, "message_too_long");
    assert.equal(long.state.pending.size, 0);
  });

  test("typing goes out at most once per interval, and only online", () => {
    assert.deepEqual(room.typing(room.initialRoom(ME), T0).events, []);
    const first = room.typing(online(), T0);
    assert.deepEqual(sends(first.events), [{ type: "typing" }]);
    assert.deepEqual(room.typing(first.state, T0 + TYPING_SEND_EVERY_MS).events, []);
    assert.equal(sends(room.typing(first.state, T0 + TYPING_SEND_EVERY_MS + 1).events).length, 1);
  });
});

describe("edit, delete and kick", () => {
  test("each sends its frame online, and is refused offline", () => {
    const s = online();
    assert.deepEqual(sends(room.edit(s, "m1", "new").events), [{ type: "edit", id: "m1", message: "new" }]);
    assert.deepEqual(sends(room.remove(s, "m1").events), [{ type: "delete", id: "m1" }]);
    assert.deepEqual(sends(room.kick(s, "a", 5).events), [{ type: "kick", clientId: "a", minutes: 5 }]);
    const off = room.initialRoom(ME);
    for (const result of [room.edit(off, "m1", "x"), room.remove(off, "m1"), room.kick(off, "a", 5)]) {
      assert.deepEqual(result.events.map((e) => e.code), ["offline"]);
    }
  });

  test("an edit is held to a message's limits; a kick to whole minutes in range", () => {
    const s = online();
    assert.equal(room.edit(s, "m1", "  ").events[0].code, "empty_message");
    assert.equal(room.edit(s, "m1", "x".repeat(MESSAGE_MAX_CHARS + 1)).events[0].code, "message_too_long");
    for (const minutes of [0, 1.5, KICK_MAX_MINUTES + 1, NaN]) {
      assert.equal(room.kick(s, "a", minutes).events[0].code, "bad_minutes", String(minutes));
    }
  });
});

describe("errors and the end", () => {
  test("a refusal is an error event; the room's closing codes end the session", () => {
    const refused = room.receive(online(), { type: "error", code: "rate_limited", message: "slow", retryAfterMs: 250 }, T0);
    assert.deepEqual(refused.events, [{ type: "error", code: "rate_limited", message: "slow", retryAfterMs: 250 }]);
    for (const code of ["kicked", "token_expired"]) {
      assert.deepEqual(types(room.receive(online(), { type: "error", code, message: "" }, T0).events), ["end"]);
    }
  });

  test("members, joins and leaves say which one is me", () => {
    const { events } = run(
      online(),
      (s) => room.receive(s, { type: "presence", members: [{ clientId: "b", name: "Bo" }, { clientId: ME }] }, T0),
      (s) => room.receive(s, { type: "join", clientId: "c", ts: T0 }, T0),
      (s) => room.receive(s, { type: "typing", clientId: ME }, T0),
    );
    assert.deepEqual(events[0].members, [
      { clientId: "b", name: "Bo", me: false },
      { clientId: ME, name: "", me: true },
    ]);
    assert.deepEqual(types(events), ["members", "members", "join"], "my own typing is no event");
  });

  test("a big room's count is exact where its list names only some", () => {
    const listed = Array.from({ length: 500 }, (_, i) => ({ clientId: `m${String(i).padStart(4, "0")}` }));
    const { events, state } = run(
      online(),
      (s) => room.receive(s, { type: "presence", members: listed, count: 1200, relays: 3 }, T0),
      (s) => room.receive(s, { type: "join", clientId: "zed", ts: T0 }, T0),
      (s) => room.receive(s, { type: "leave", clientId: "m0001", ts: T0 }, T0),
      (s) => room.receive(s, { type: "leave", clientId: "unlisted", ts: T0 }, T0),
      (s) => room.receive(s, { type: "crowd", joined: 37, left: 5, count: 1231, relays: 4 }, T0),
    );
    const counts = events.filter((e) => e.type === "members").map((e) => e.count);
    assert.deepEqual(counts, [1200, 1201, 1200, 1199, 1231]);
    assert.deepEqual(events.find((e) => e.type === "crowd"), { type: "crowd", joined: 37, left: 5, count: 1231, relays: 4 });
    assert.equal(state.relays, 4);
  });

  test("no function changes the state it was given", () => {
    const before = run(online(), (s) => room.receive(s, history([message(1, "a", "x")]), T0), (s) =>
      room.compose(s, "mine", "c1", T0),
    ).state;
    const snapshot = structuredClone(before);
    room.receive(before, { type: "batch", frames: [message(2, "b", "y"), { type: "leave", clientId: "a" }] }, T0);
    room.receive(before, { type: "ack", clientMsgId: "c1" }, T0);
    room.receive(before, { type: "delete", id: "m1", seq: 3 }, T0);
    room.compose(before, "more", "c2", T0);
    room.typing(before, T0);
    room.setOnline(before, false);
    assert.deepEqual(before, snapshot);
  });
});

describe("history people keep", () => {
  test("a page of scrollback is one event, kept so later edits reach it, never new messages", () => {
    const { state, events } = run(
      online(),
      (s) => room.receive(s, history([message(5, "a", "now")]), T0),
      (s) => room.receive(s, { type: "older", before: 5, more: true, messages: [message(3, "a", "then")] }, T0),
      (s) => room.receive(s, { type: "edit", id: "m3", seq: 6, message: "then, edited", editedTs: T0 }, T0),
    );
    const page = events.find((e) => e.type === "older");
    assert.deepEqual([page.before, page.more, page.messages.map((m) => m.seq)], [5, true, [3]]);
    assert.equal(events.filter((e) => e.type === "message").length, 1, "only the history's");
    assert.equal(state.messages.get(3).text, "then, edited");
    assert.equal(state.lastSeq, 6);
  });

  test("a search needs words and a page size the room takes", () => {
    assert.deepEqual(sends(room.search(online(), "deploy", 40).events), [{ type: "search", q: "deploy", before: 40, limit: 50 }]);
    assert.equal(room.search(online(), "  ").events[0].code, "bad_query");
    assert.equal(room.older(online(), 9, 101).events[0].code, "bad_request");
    assert.deepEqual(sends(room.older(online()).events), [{ type: "older", limit: 50 }]);
    assert.equal(room.older(room.initialRoom(ME)).events[0].code, "offline");
  });

  test("the epoch is kept for the next since, and a reset starts over", () => {
    const { state, events } = run(
      online(),
      (s) => room.receive(s, history([message(9, "a", "x")], { epoch: "e1" }), T0),
      (s) => room.receive(s, history([message(2, "a", "y")], { epoch: "e2", reset: true, truncated: true }), T0),
    );
    assert.equal(state.epoch, "e2");
    assert.deepEqual(events.find((e) => e.type === "missed"), { type: "missed", ts: T0, reset: true });
    assert.equal(state.lastSeq, 2, "since starts over in the new history");
  });
});

describe("conversation", () => {
  test("a reaction's counts come from the room, and mine moves only with my own toggles", () => {
    const frame = (clientId, emoji, on, reactions, seq) => ({ type: "reaction", id: "m1", seq, emoji, on, clientId, reactions });
    const { state } = run(
      online(),
      (s) => room.receive(s, history([message(1, "a", "vote")]), T0),
      (s) => room.receive(s, frame(ME, "👍", true, [{ emoji: "👍", count: 1 }], 2), T0),
      (s) => room.receive(s, frame("b", "👍", true, [{ emoji: "👍", count: 2 }], 3), T0),
      (s) => room.receive(s, frame("b", "🎉", true, [{ emoji: "👍", count: 2 }, { emoji: "🎉", count: 1 }], 4), T0),
    );
    assert.deepEqual(state.messages.get(1).reactions, [
      { emoji: "👍", count: 2, mine: true },
      { emoji: "🎉", count: 1, mine: false },
    ]);
    const off = room.receive(state, frame(ME, "👍", false, [{ emoji: "👍", count: 1 }, { emoji: "🎉", count: 1 }], 5), T0);
    assert.equal(off.state.messages.get(1).reactions[0].mine, false);
    assert.equal(off.state.lastSeq, 5);
    assert.deepEqual(sends(room.react(state, "m1", "👍").events), [{ type: "react", id: "m1", emoji: "👍" }]);
  });

  test("a reply's quote follows its original's edit and delete", () => {
    const reply = message(2, "b", "yes", { replyTo: { id: "m1", clientId: "a", quote: "lunch?" } });
    const { state } = run(
      online(),
      (s) => room.receive(s, history([message(1, "a", "lunch?"), reply]), T0),
      (s) => room.receive(s, { type: "edit", id: "m1", seq: 3, message: "x".repeat(120), editedTs: T0 }, T0),
    );
    assert.equal(state.messages.get(2).replyTo.quote, `${"x".repeat(100)}…`);
    const gone = room.receive(state, { type: "delete", id: "m1", seq: 4 }, T0).state;
    assert.deepEqual(gone.messages.get(2).replyTo, { id: "m1", clientId: "a", quote: "", deleted: true });
    assert.deepEqual(gone.messages.get(1).reactions, []);
    const sent = room.compose(state, "me too", "c9", T0, "m1");
    assert.deepEqual(sends(sent.events), [{ type: "message", message: "me too", clientMsgId: "c9", replyTo: "m1" }]);
  });

  test("a message that mentions me says so, and an edit can take it back", () => {
    const { state } = run(
      online(),
      (s) => room.receive(s, history([message(1, "a", "hi @me", { mentions: [ME] })]), T0),
    );
    assert.equal(state.messages.get(1).mentionsMe, true);
    const edited = room.receive(state, { type: "edit", id: "m1", seq: 2, message: "hi all", mentions: [] }, T0);
    assert.equal(edited.state.messages.get(1).mentionsMe, false);
  });

  test("the read pointer only moves forward, and is sent only when ahead", () => {
    const { state, events } = run(
      online(),
      (s) => room.receive(s, history([message(4, "a", "x")], { read: { seq: 2, unread: 1 } }), T0),
      (s) => room.receive(s, { type: "read", seq: 1, unread: 3 }, T0),
    );
    assert.deepEqual(state.read, { seq: 2, unread: 1 });
    assert.deepEqual(events.filter((e) => e.type === "read"), [{ type: "read", seq: 2, unread: 1 }]);
    assert.deepEqual(sends(room.markRead(state, 2).events), []);
    assert.deepEqual(sends(room.markRead(state, 4).events), [{ type: "read", seq: 4 }]);
  });
});
