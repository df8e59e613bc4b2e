// connect() (client/src/connection.js) over whole sessions, with the socket a
// stand-in and the clock node's mock timers: every callback in the order
// the page gets it, the frames the page sends, and which timers start or
// stop. These pin down what the socket loop does, so that a change to how
// it is written cannot change what it does unnoticed.

import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";

import { backoffMs, connect } from "../src/connection.js";
import { TOO_SLOW } from "../src/protocol.js";
import {
  CONNECT_TIMEOUT_MS,
  PING_EVERY_MS,
  SLOW_CLOSES_BEFORE_WARNING,
} from "../src/limits.js";
import { StandIn, install, restore } from "./standin.mjs";

/** With Math.random at 0 the first receipt has no lead and each backoff is
 *  its shortest. */
const wait = (attempt) => backoffMs(attempt, 0);

let session;
let log;

/** The socket the page made `back` sockets ago (0: the newest). */
const socket = (back = 0) => StandIn.made.at(-1 - back);

/** Empties the log, returning what was in it. */
function drain() {
  return log.splice(0);
}

beforeEach(() => {
  install();
  mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  mock.method(Math, "random", () => 0);
  log = [];
  session = connect(() => `ws://room.test/ws/a?n=${StandIn.made.length}`, {
    connecting: (attempt) => log.push(["connecting", attempt]),
    open: (reconnected) => log.push(["open", reconnected]),
    frame: (frame) => log.push(["frame", frame]),
    closed: () => log.push(["closed"]),
    retrying: (retry) => log.push(["retrying", retry]),
    ended: (why) => log.push(["ended", why]),
  });
});

afterEach(() => {
  session.stop();
  mock.restoreAll();
  mock.timers.reset();
  restore();
});

test("a first connect opens, hands over frames, sends receipts and pings", () => {
  assert.deepEqual(drain(), [["connecting", 0]]);
  assert.equal(socket().url, "ws://room.test/ws/a?n=0", "the url is asked for at the attempt");
  socket().accept();
  assert.deepEqual(drain(), [["open", false]]);
  mock.timers.tick(CONNECT_TIMEOUT_MS);
  assert.equal(socket().closedByPage, false, "an open socket is not given up");

  socket().deliver('{"type":"message","seq":1}');
  socket().deliver("not json");
  socket().deliver('{"type":"pong"}');
  assert.deepEqual(drain(), [["frame", { type: "message", seq: 1 }], ["frame", { type: "pong" }]]);
  assert.deepEqual(socket().sent, [], "no receipt without a mark");
  socket().deliver('{"type":"mark","mark":"0123456789abcdef"}');
  assert.deepEqual(socket().sent, ['{"type":"seen","mark":"0123456789abcdef"}'], "a mark is echoed");

  mock.timers.tick(PING_EVERY_MS - CONNECT_TIMEOUT_MS);
  assert.equal(socket().sent.at(-1), '{"type":"ping"}');
  assert.equal(session.send({ type: "typing" }), true);
  assert.equal(socket().sent.at(-1), '{"type":"typing"}');
  assert.deepEqual(drain(), []);
});

test("a drop retries after a growing backoff; the next open says it reconnected", () => {
  drain();
  socket().accept();
  socket().hangUp("idle timeout");
  assert.deepEqual(drain(), [
    ["open", false],
    ["closed"],
    ["retrying", { attempt: 1, waitMs: wait(0), reason: "idle timeout", opened: true }],
  ]);
  assert.equal(session.send({ type: "typing" }), false, "nothing goes out while offline");
  mock.timers.tick(wait(0) - 1);
  assert.equal(StandIn.made.length, 1, "not before the backoff");
  mock.timers.tick(1);
  assert.deepEqual(drain(), [["connecting", 1]]);
  assert.equal(socket().url, "ws://room.test/ws/a?n=1");

  socket().fail();
  mock.timers.tick(wait(1));
  socket().accept();
  assert.deepEqual(drain(), [
    ["closed"],
    ["retrying", { attempt: 2, waitMs: wait(1), reason: "", opened: false }],
    ["connecting", 2],
    ["open", true],
  ]);
  socket().hangUp("");
  assert.deepEqual(drain(), [
    ["closed"],
    ["retrying", { attempt: 1, waitMs: wait(0), reason: "", opened: true }],
  ], "an open starts the backoff afresh");
});

test("a too-slow close rejoins at once and quietly, until it keeps happening", () => {
  drain();
  socket().accept();
  for (let i = 1; i < SLOW_CLOSES_BEFORE_WARNING; i += 1) {
    socket().hangUp(TOO_SLOW);
    socket().accept();
  }
  const quiet = [["closed"], ["connecting", 0], ["open", false]];
  assert.deepEqual(drain(), [["open", false], ...Array(SLOW_CLOSES_BEFORE_WARNING - 1).fill(quiet).flat()]);
  socket().hangUp(TOO_SLOW);
  assert.deepEqual(drain(), [
    ["closed"],
    ["retrying", { attempt: 1, waitMs: wait(0), reason: TOO_SLOW, opened: true }],
  ]);
  mock.timers.tick(wait(0));
  socket().accept();
  assert.deepEqual(drain(), [["connecting", 1], ["open", true]]);
});

test("a quiet rejoin stays quiet through attempts that fail", () => {
  drain();
  socket().accept();
  socket().hangUp(TOO_SLOW);
  socket().fail();
  mock.timers.tick(wait(0));
  socket().accept();
  assert.deepEqual(drain(), [
    ["open", false],
    ["closed"],
    ["connecting", 0],
    ["closed"],
    ["retrying", { attempt: 1, waitMs: wait(0), reason: "", opened: false }],
    ["connecting", 1],
    ["open", false],
  ]);
});

test("a rename closes the socket and rejoins at once", () => {
  drain();
  socket().accept();
  session.rejoin();
  assert.deepEqual(socket().closedWith, [1000, "renamed"]);
  socket().hangUp("renamed");
  socket().accept();
  assert.deepEqual(drain(), [["open", false], ["closed"], ["connecting", 0], ["open", true]]);
  socket().hangUp("");
  drain();
  session.rejoin();
  assert.equal(StandIn.made.length, 2, "waiting out a backoff, there is no socket to close");
  assert.deepEqual(drain(), []);
});

test("a final close ends the session: no reconnect, online ignored", () => {
  for (const [reason, why] of [["token expired", "token_expired"], ["removed by a moderator", "kicked"]]) {
    session.stop();
    StandIn.made = [];
    log = [];
    session = connect(() => "ws://room.test/ws/a", {
      connecting: () => {},
      open: () => {},
      frame: () => {},
      closed: () => log.push(["closed"]),
      retrying: (retry) => log.push(["retrying", retry]),
      ended: (why) => log.push(["ended", why]),
    });
    socket().accept();
    socket().hangUp(reason);
    assert.deepEqual(drain(), [["closed"], ["ended", why]]);
    assert.equal(socket().closedByPage, false, "the socket had closed already");
    globalThis.dispatchEvent(new Event("online"));
    mock.timers.tick(PING_EVERY_MS);
    assert.equal(session.send({ type: "typing" }), false);
    assert.equal(StandIn.made.length, 1, "no attempt after the end");
    assert.deepEqual(drain(), []);
  }
});

test("stop closes the socket for good, and its close is not reported", () => {
  drain();
  socket().accept();
  session.stop();
  assert.deepEqual(socket().closedWith, [1000, "session ended"]);
  socket().hangUp("session ended");
  assert.equal(session.send({ type: "typing" }), false);
  globalThis.dispatchEvent(new Event("online"));
  mock.timers.tick(PING_EVERY_MS);
  assert.equal(StandIn.made.length, 1);
  assert.deepEqual(drain(), [["open", false]]);
});

test("stop while waiting out a backoff cancels the attempt to come", () => {
  drain();
  socket().fail();
  session.stop();
  mock.timers.tick(CONNECT_TIMEOUT_MS);
  assert.equal(StandIn.made.length, 1);
  assert.deepEqual(drain().map(([kind]) => kind), ["closed", "retrying"]);
});

test("the network back while connecting replaces the attempt; while open, nothing", () => {
  drain();
  mock.timers.tick(1); // so the two attempts time out at different moments
  globalThis.dispatchEvent(new Event("online"));
  assert.equal(socket(1).closedByPage, true, "the stale attempt is closed");
  assert.deepEqual(drain(), [["connecting", 0]], "with no `closed`: it never opened");
  socket(1).hangUp("");
  mock.timers.tick(CONNECT_TIMEOUT_MS - 1);
  assert.deepEqual(drain(), [], "the stale attempt's close and timeout are not ours");
  socket().accept();
  globalThis.dispatchEvent(new Event("online"));
  assert.equal(StandIn.made.length, 2);
  assert.equal(socket().closedByPage, false);
  assert.deepEqual(drain(), [["open", false]]);
});

test("an attempt given up at the timeout is closed, then retried", () => {
  drain();
  mock.timers.tick(CONNECT_TIMEOUT_MS);
  assert.equal(socket().closedByPage, true);
  assert.deepEqual(socket().closedWith, [undefined, undefined], "closed without a code");
  assert.deepEqual(drain(), [
    ["closed"],
    ["retrying", { attempt: 1, waitMs: wait(0), reason: "", opened: false }],
  ]);
  socket().lateClose();
  assert.deepEqual(drain(), []);
});
