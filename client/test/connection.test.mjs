// The socket's pure parts (client/src/connection.js and protocol.js): the
// socket URL, the backoff schedule, which closes end a session for good,
// receipts, which closes rejoin quietly, and what the reconnect loop does
// after each open and close.

import assert from "node:assert/strict";
import { test } from "node:test";

import { afterClose, afterOpen, backoffMs, initialLoop, quietSlowClose } from "../src/connection.js";
import { TOO_SLOW, finalClose, receiptFor, socketUrl } from "../src/protocol.js";
import {
  BACKOFF_JITTER,
  BACKOFF_MAX_MS,
  BACKOFF_START_MS,
  SLOW_CLOSE_WINDOW_MS,
  SLOW_CLOSES_BEFORE_WARNING,
} from "../src/limits.js";

const page = "http://127.0.0.1:8787/r/team";

test("a reconnect asks for what came after the newest seq seen", () => {
  const url = new URL(socketUrl(page, { clientId: "u-1", room: "team", name: "", since: 42 }));
  assert.equal(url.href.split("?")[0], "ws://127.0.0.1:8787/ws/u-1");
  assert.equal(url.searchParams.get("since"), "42");
  assert.equal(url.searchParams.get("room"), "team");
  assert.equal(url.searchParams.get("batch"), "1");
  assert.equal(url.searchParams.has("name"), false);
});

test("a first connect has no `since`, and since=0 is kept", () => {
  const first = new URL(socketUrl(page, { clientId: "u", room: "lobby", name: "", since: null }));
  assert.equal(first.searchParams.has("since"), false);
  const empty = new URL(socketUrl(page, { clientId: "u", room: "lobby", name: "", since: 0 }));
  assert.equal(empty.searchParams.get("since"), "0");
});

test("a display name travels encoded, and https pages use wss", () => {
  const secure = "https://chat.example/";
  const url = new URL(socketUrl(secure, { clientId: "u", room: "lobby", name: "Zoë & co", since: null }));
  assert.equal(url.protocol, "wss:");
  assert.equal(url.searchParams.get("name"), "Zoë & co");
});

test("backoff doubles from the start to the cap, jittered both ways", () => {
  const low = 1 - BACKOFF_JITTER;
  const high = 1 + BACKOFF_JITTER;
  assert.equal(backoffMs(0, 0), BACKOFF_START_MS * low);
  assert.equal(backoffMs(1, 0), 2 * BACKOFF_START_MS * low);
  assert.ok(backoffMs(0, 0.999) <= BACKOFF_START_MS * high);
  assert.equal(backoffMs(30, 0), BACKOFF_MAX_MS * low);
  assert.ok(backoffMs(30, 0.999) <= BACKOFF_MAX_MS * high);
});

test("a token travels as ?token=, and replaces the display name", () => {
  const url = new URL(socketUrl(page, { clientId: "alice", room: "team", name: "Al", since: 3, token: "a.b.c" }));
  assert.equal(url.searchParams.get("token"), "a.b.c");
  assert.equal(url.searchParams.has("name"), false);
  assert.equal(url.searchParams.get("since"), "3");
});

test("an expired token and a removal end the session; other closes retry", () => {
  assert.equal(finalClose("token expired"), "token_expired");
  assert.equal(finalClose("removed by a moderator"), "kicked");
  for (const reason of ["", "renamed", "idle timeout", "constructor", "toString"]) {
    assert.equal(finalClose(reason), null, reason);
  }
});

test("a mark from the room is echoed as a receipt, in the shape the room reads", () => {
  const receipt = receiptFor('{"type":"mark","mark":"00abcdef01234567"}');
  assert.equal(JSON.stringify(receipt), '{"type":"seen","mark":"00abcdef01234567"}');
});

test("nothing but a mark is answered, however much is read", () => {
  const counter = { read: receiptFor };
  for (let i = 0; i < 300; i += 1) assert.equal(counter.read("a".repeat(2000)), null);
  assert.equal(counter.read('{"type":"pong"}'), null);
  assert.equal(counter.read('{"type":"message","message":"{\\"type\\":\\"mark\\""}'), null);
  assert.equal(counter.read('{"type":"mark"'), null, "cut short: no receipt");
  assert.equal(counter.read('{"type":"mark","mark":7}'), null, "not a mark string");
});

test("a too-slow close rejoins quietly until it keeps happening", () => {
  const recent = [];
  const quiet = [];
  for (let i = 0; i < SLOW_CLOSES_BEFORE_WARNING; i += 1) quiet.push(quietSlowClose(TOO_SLOW, recent, i * 1000));
  assert.deepEqual(quiet.slice(0, -1), Array(SLOW_CLOSES_BEFORE_WARNING - 1).fill(true));
  assert.equal(quiet.at(-1), false, "the person is told once it keeps happening");
  const later = SLOW_CLOSE_WINDOW_MS * 3;
  assert.equal(quietSlowClose(TOO_SLOW, recent, later), true, "an old streak is forgotten");
  assert.equal(quietSlowClose("idle timeout", [], 0), false);
});

/** A `random` for afterClose that fails the test if a backoff is drawn. */
const noDraw = () => assert.fail("no backoff should be drawn");

/** The loop after a first open and then `closes` closes at `now`. */
function loopAfter(closes, now = 0) {
  let { loop } = afterOpen(initialLoop());
  for (const reason of closes) loop = afterClose(loop, reason, now, () => 0).loop;
  return loop;
}

test("an open says it reconnected only after an earlier open, and not after a quiet rejoin", () => {
  const first = afterOpen(initialLoop());
  assert.equal(first.reconnected, false, "a first connect is no reconnect");
  assert.equal(afterOpen(loopAfter([""])).reconnected, true);
  assert.equal(afterOpen(loopAfter([TOO_SLOW])).reconnected, false, "a quiet rejoin stays quiet");
  assert.equal(afterOpen(loopAfter([TOO_SLOW, ""])).reconnected, false, "also after a failed attempt");
  assert.equal(afterOpen(loopAfter(["", ""])).loop.attempt, 0, "an open starts the backoff afresh");
});

test("a drop retries after the backoff of its attempt, and counts it", () => {
  const draws = [];
  const random = () => (draws.push("drawn"), 0.25);
  const first = afterClose(afterOpen(initialLoop()).loop, "idle timeout", 0, random);
  assert.deepEqual(first.next, { kind: "retry", attempt: 1, waitMs: backoffMs(0, 0.25) });
  const second = afterClose(first.loop, "", 0, random);
  assert.deepEqual(second.next, { kind: "retry", attempt: 2, waitMs: backoffMs(1, 0.25) });
  assert.equal(second.loop.attempt, 2);
  assert.equal(draws.length, 2, "one draw a backoff");
});

test("a rename reopens at once and leaves the loop as it was", () => {
  const quiet = loopAfter([TOO_SLOW, ""]);
  const { loop, next } = afterClose(quiet, "renamed", 0, noDraw);
  assert.deepEqual(next, { kind: "reopen" });
  assert.deepEqual(loop, quiet, "a quiet rejoin in progress stays quiet");
});

test("a too-slow close reopens quietly, until it keeps happening", () => {
  let loop = afterOpen(initialLoop()).loop;
  for (let i = 1; i < SLOW_CLOSES_BEFORE_WARNING; i += 1) {
    const after = afterClose(loop, TOO_SLOW, i * 1000, noDraw);
    assert.deepEqual(after.next, { kind: "reopen" });
    assert.equal(after.loop.quietly, true);
    loop = afterOpen(after.loop).loop;
  }
  const warned = afterClose(loop, TOO_SLOW, SLOW_CLOSES_BEFORE_WARNING * 1000, () => 0);
  assert.deepEqual(warned.next, { kind: "retry", attempt: 1, waitMs: backoffMs(0, 0) });
  assert.equal(warned.loop.slowCloses.length, SLOW_CLOSES_BEFORE_WARNING, "the streak is kept");
});

test("an expired token or a removal ends the loop without a backoff", () => {
  const end = (reason) => afterClose(initialLoop(), reason, 0, noDraw).next;
  assert.deepEqual(end("token expired"), { kind: "end", code: "token_expired" });
  assert.deepEqual(end("removed by a moderator"), { kind: "end", code: "kicked" });
});

test("the loop passed in is never changed", () => {
  const loop = loopAfter([TOO_SLOW, ""]);
  const snapshot = structuredClone(loop);
  afterOpen(loop);
  for (const reason of ["", "renamed", TOO_SLOW, "token expired"]) afterClose(loop, reason, 1, () => 0);
  assert.deepEqual(loop, snapshot);
});
