// joinRoom (client/src/client.js) with the socket a stand-in and the clock
// node's mock timers: what it does with the token's life (ended at `exp`,
// or refreshed a minute before and rejoined with), the promise a send
// returns, a session a kick ends, and asking the HTTP API why a handshake
// failed. tests/client_library.rs does the same against the real runtime.

import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";

import { joinRoom } from "../src/client.js";
import { TOKEN_REFRESH_LEAD_MS } from "../src/limits.js";
import { StandIn, install, restore } from "./standin.mjs";

const T0 = 1_700_000_000_000;
const URL_ = "http://room.test/";

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
/** An unsigned token for `sub` expiring at `expMs`: the client never
 *  checks a signature. */
const tokenFor = (sub, expMs, extra = {}) =>
  `${b64url({ alg: "HS256" })}.${b64url({ sub, rooms: ["lobby"], exp: Math.floor(expMs / 1000), ...extra })}.c2ln`;

/** Lets pending promise callbacks run (the clock is mocked). */
const settle = async () => {
  for (let i = 0; i < 10; i += 1) await Promise.resolve();
};

let events;
const socket = () => StandIn.made.at(-1);
const ofType = (type) => events.filter((e) => e.type === type);

beforeEach(() => {
  install();
  mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: T0 });
  events = [];
});

afterEach(() => {
  mock.timers.reset();
  restore();
});

test("an expired token ends the session before any socket is tried", () => {
  const client = joinRoom({ url: URL_, token: tokenFor("al", T0 - 1000), on: (e) => events.push(e) });
  assert.deepEqual(ofType("end").map((e) => e.code), ["token_expired"]);
  assert.equal(StandIn.made.length, 0);
  assert.equal(client.ended.code, "token_expired");
});

test("without a refresh, the session ends at exp, even offline, and stays ended", () => {
  const client = joinRoom({ url: URL_, token: tokenFor("al", T0 + 10_000), on: (e) => events.push(e) });
  assert.equal(client.me, "al", "the id is the token's sub");
  assert.match(socket().url, /^ws:\/\/room\.test\/ws\/al\?room=lobby&batch=1&receipts=1&token=/);
  socket().fail();
  mock.timers.tick(10_000);
  assert.deepEqual(ofType("end").map((e) => e.code), ["token_expired"]);
  const made = StandIn.made.length;
  mock.timers.tick(60_000);
  assert.equal(StandIn.made.length, made, "no attempt after the end");
});

test("a refresh comes a minute before exp, and the client rejoins with the new token", async () => {
  const fresh = tokenFor("al", T0 + 7_200_000);
  const asked = [];
  const first = tokenFor("al", T0 + 3_600_000);
  joinRoom({
    url: URL_,
    token: first,
    refreshToken: async (current) => (asked.push(current), fresh),
    on: (e) => events.push(e),
  });
  socket().accept();
  mock.timers.tick(3_600_000 - TOKEN_REFRESH_LEAD_MS - 1);
  assert.deepEqual(asked, [], "not before a minute before exp");
  mock.timers.tick(1);
  await settle();
  assert.deepEqual(asked, [first]);
  assert.deepEqual(ofType("token").map((e) => e.token), [fresh]);
  assert.deepEqual(socket().closedWith, [1000, "renamed"], "a quiet rejoin");
  socket().hangUp("renamed");
  assert.equal(new URL(socket().url).searchParams.get("token"), fresh);
  assert.deepEqual(ofType("end"), []);
});

test("a room's `token expired` close with a refresh at hand reconnects with a fresh token", async () => {
  const fresh = tokenFor("al", T0 + 7_200_000);
  joinRoom({
    url: URL_,
    token: tokenFor("al", T0 + 3_600_000),
    refreshToken: () => fresh,
    on: (e) => events.push(e),
  });
  socket().accept();
  socket().deliver('{"type":"error","code":"token_expired","message":"expired"}');
  socket().hangUp("token expired");
  await settle();
  assert.equal(StandIn.made.length, 2);
  assert.equal(new URL(socket().url).searchParams.get("token"), fresh);
  assert.deepEqual(ofType("end"), []);
});

test("send resolves with the ack; a kick rejects what is pending and never reconnects", async () => {
  const client = joinRoom({ url: URL_, clientId: "al", on: (e) => events.push(e) });
  socket().accept();
  socket().deliver('{"type":"history","messages":[],"latestSeq":0}');
  const acked = client.send("hi", { clientMsgId: "c1" });
  assert.equal(socket().sent.at(-1), '{"type":"message","message":"hi","clientMsgId":"c1"}');
  socket().deliver('{"type":"ack","clientMsgId":"c1","seq":1,"id":"m1"}');
  assert.deepEqual(await acked, { clientMsgId: "c1", seq: 1, id: "m1" });

  const stranded = client.send("bye", { clientMsgId: "c2" });
  socket().deliver('{"type":"error","code":"kicked","message":"removed"}');
  await assert.rejects(stranded, { name: "ChatError", code: "kicked" });
  await assert.rejects(client.send("again"), { code: "kicked" });
  assert.deepEqual(socket().closedWith, [1000, "session ended"]);
  socket().deliver('{"type":"message","seq":2,"id":"m2","clientId":"bo","message":"late"}');
  assert.equal(events.at(-1).type, "end", "nothing is heard after the end");
  socket().hangUp("removed by a moderator");
  mock.timers.tick(60_000);
  assert.equal(StandIn.made.length, 1, "no reconnect after a kick");
  assert.deepEqual(ofType("end").map((e) => e.code), ["kicked"]);
});

test("a failed handshake in token mode asks the API why; a ban ends the session", async () => {
  const asked = [];
  const fetch = async (target, init) => {
    asked.push([String(target), init.headers.authorization]);
    return new Response('{"error":"banned","message":"a moderator removed you"}', { status: 403 });
  };
  const token = tokenFor("al", T0 + 3_600_000);
  joinRoom({ url: URL_, token, fetch, on: (e) => events.push(e) });
  socket().fail();
  await settle();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(asked, [["http://room.test/api/rooms/lobby/presence", `Bearer ${token}`]]);
  assert.deepEqual(ofType("end").map((e) => [e.code, e.message]), [["banned", "a moderator removed you"]]);
  mock.timers.tick(60_000);
  assert.equal(StandIn.made.length, 1, "no attempt after the ban was known");
});

test("a room that is down keeps being retried; open mode never asks the API", async () => {
  let asked = 0;
  const fetch = async () => {
    asked += 1;
    throw new TypeError("fetch failed");
  };
  joinRoom({ url: URL_, token: tokenFor("al", T0 + 3_600_000), fetch });
  socket().fail();
  await settle();
  await new Promise((resolve) => setImmediate(resolve));
  mock.timers.tick(1000);
  assert.equal(StandIn.made.length, 2, "retried after a failed probe");
  assert.equal(asked, 1);

  const openFetch = async () => assert.fail("open mode asked the API");
  joinRoom({ url: URL_, clientId: "bo", fetch: openFetch });
  socket().fail();
  await settle();
});

test("bad options are refused at once, with the room's words", () => {
  assert.throws(() => joinRoom({ url: URL_, room: "Not A Room" }), { code: "bad_request" });
  assert.throws(() => joinRoom({ url: URL_, clientId: "no spaces" }), { code: "bad_request" });
  assert.throws(() => joinRoom({ room: "lobby" }), { code: "bad_request" });
});
