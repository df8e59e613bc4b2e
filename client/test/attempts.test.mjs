// How connect() (client/src/connection.js) treats attempts that never open: one
// that hangs in CONNECTING is given up, one that fails counts as failed at
// its `error`, and the browser's `online` event connects again at once.
// These are the cases a real browser only shows on a flaky network, so the
// page's socket is driven here by a stand-in with the WebSocket API and the
// clock by node's mock timers. The browser tests (tests/browser.rs) drive
// the same code over real sockets.

import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";

import { connect } from "../src/connection.js";
import { BACKOFF_JITTER, BACKOFF_START_MS, CONNECT_TIMEOUT_MS } from "../src/limits.js";
import { StandIn, install, restore } from "./standin.mjs";

/** The longest a first retry can wait. */
const FIRST_RETRY_MS = Math.ceil(BACKOFF_START_MS * (1 + BACKOFF_JITTER));

let session;
let retries;

beforeEach(() => {
  install();
  mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  retries = [];
  const ignore = () => {};
  session = connect(() => `ws://room.test/ws/a?n=${StandIn.made.length}`, {
    connecting: ignore,
    open: ignore,
    frame: ignore,
    closed: ignore,
    retrying: (r) => retries.push(r),
    ended: ignore,
  });
});

afterEach(() => {
  session.stop();
  mock.timers.reset();
  restore();
});

test("an attempt still connecting at the timeout is given up and retried", () => {
  assert.equal(StandIn.made.length, 1);
  mock.timers.tick(CONNECT_TIMEOUT_MS - 1);
  assert.equal(retries.length, 0, "not before the timeout");
  mock.timers.tick(1);
  assert.equal(StandIn.made[0].closedByPage, true, "the hanging socket is closed");
  assert.deepEqual(retries.map((r) => r.opened), [false]);
  mock.timers.tick(FIRST_RETRY_MS);
  assert.equal(StandIn.made.length, 2, "a new attempt after the backoff");
});

test("a failed attempt retries at its error, not at a late close", () => {
  StandIn.made[0].fail();
  assert.equal(retries.length, 1, "failed at the error");
  mock.timers.tick(FIRST_RETRY_MS);
  assert.equal(StandIn.made.length, 2);
  StandIn.made[0].lateClose();
  assert.equal(retries.length, 1, "the late close of an old attempt changes nothing");
  mock.timers.tick(CONNECT_TIMEOUT_MS);
  assert.equal(StandIn.made.length, 2, "and starts no attempt of its own");
});

test("the network coming back connects at once, not after the backoff", () => {
  StandIn.made[0].fail();
  assert.equal(StandIn.made.length, 1, "waiting out the backoff");
  globalThis.dispatchEvent(new Event("online"));
  assert.equal(StandIn.made.length, 2, "connected again at once");
  mock.timers.tick(FIRST_RETRY_MS);
  assert.equal(StandIn.made.length, 2, "the backoff's own attempt no longer comes");
});
