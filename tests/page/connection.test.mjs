// The socket's pure parts (public/connection.js): the reconnect URL, the
// backoff schedule, which closes end a session for good, receipts, and
// which closes rejoin quietly.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  TOO_SLOW,
  backoffMs,
  finalClose,
  quietSlowClose,
  receipts,
  socketUrl,
} from "../../public/connection.js";
import {
  BACKOFF_JITTER,
  BACKOFF_MAX_MS,
  BACKOFF_START_MS,
  SLOW_CLOSE_WINDOW_MS,
  SLOW_CLOSES_BEFORE_WARNING,
} from "../../public/limits.js";

const page = { protocol: "http:", host: "127.0.0.1:8787" };

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
  const secure = { protocol: "https:", host: "chat.example" };
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
  assert.equal(finalClose("token expired"), "expired");
  assert.equal(finalClose("removed by a moderator"), "removed");
  for (const reason of ["", "renamed", "idle timeout", "constructor", "toString"]) {
    assert.equal(finalClose(reason), null, reason);
  }
});

test("a receipt goes after each 64 KiB read and counts every frame", () => {
  const counter = receipts(100, 0);
  const sent = [];
  for (let i = 0; i < 25; i += 1) {
    const receipt = counter.read("x".repeat(30));
    if (receipt) sent.push(receipt);
  }
  // 30 chars a frame: the 4th, 8th, ... frame passes another 100.
  assert.deepEqual(sent.map((r) => r.frames), [4, 8, 12, 16, 20, 24]);
  assert.deepEqual(Object.keys(sent[0]), ["type", "frames"], "the server reads this shape first");
  assert.equal(JSON.stringify(sent[0]), '{"type":"seen","frames":4}');
});

test("the runtime's pongs are not counted as the room's frames", () => {
  const counter = receipts(10, 0);
  assert.equal(counter.read('{"type":"pong"}'), null);
  assert.deepEqual(counter.read("x".repeat(10)), { type: "seen", frames: 1 });
});

test("sockets start their receipts at different points", () => {
  const counter = receipts(100, 40);
  const sent = [];
  for (let i = 0; i < 12; i += 1) {
    const receipt = counter.read("x".repeat(30));
    if (receipt) sent.push(receipt.frames);
  }
  assert.deepEqual(sent, [5, 9], "140 chars for the first, 100 after");
  const firsts = new Set();
  for (let i = 0; i < 50; i += 1) {
    const random = receipts(1000);
    let n = 1;
    while (!random.read("x".repeat(10))) n += 1;
    firsts.add(n);
  }
  assert.ok(firsts.size > 10, `random leads spread the first receipts: ${[...firsts]}`);
  assert.ok(Math.min(...firsts) >= 100, "never before a whole interval");
});

test("a quiet socket sends no receipt at all", () => {
  const counter = receipts();
  for (let i = 0; i < 300; i += 1) assert.equal(counter.read("a".repeat(200)), null);
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
