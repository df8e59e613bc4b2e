// What a sign-in token says (client/src/token.js): its payload decoded,
// never checked (the room verifies it), and when to refresh it.

import assert from "node:assert/strict";
import { test } from "node:test";

import { TOKEN_REFRESH_LEAD_MS } from "../src/limits.js";
import { expired, readClaims, refreshInMs } from "../src/token.js";

const b64url = (text) => Buffer.from(text).toString("base64url");

/** A token with these claims; the signature is junk, as the client never
 *  checks one. */
function tokenWith(claims) {
  return `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify(claims))}.c2ln`;
}

const ALICE = { sub: "alice", name: "Zoë <b>", rooms: ["lobby"], role: "moderator", exp: 1_700_000_000 };

test("the payload gives sub, name, role, rooms and exp in milliseconds", () => {
  assert.deepEqual(readClaims(tokenWith(ALICE)), {
    sub: "alice",
    name: "Zoë <b>",
    role: "moderator",
    exp: 1_700_000_000_000,
    rooms: ["lobby"],
  });
});

test("missing optional claims default: a member without a name", () => {
  const claims = readClaims(tokenWith({ sub: "bob", rooms: ["*"], exp: 1 }));
  assert.deepEqual([claims.name, claims.role], ["", "member"]);
  assert.equal(readClaims(tokenWith({ sub: "bob", role: "admin" })).role, "member");
});

test("anything but three parts with a JSON payload and a valid sub is no token", () => {
  for (const bad of [
    "",
    "a.b",
    "a.b.c.d",
    `x.${b64url("not json")}.y`,
    `x.${b64url(JSON.stringify({ name: "no sub" }))}.y`,
    `x.${b64url(JSON.stringify({ sub: "bad id!" }))}.y`,
    "x.@@@.y",
    null,
  ]) {
    assert.equal(readClaims(bad), null, String(bad));
  }
});

test("a token has expired from its exp on, and one without exp never does", () => {
  const claims = readClaims(tokenWith(ALICE));
  assert.equal(expired(claims, claims.exp - 1), false);
  assert.equal(expired(claims, claims.exp), true);
  assert.equal(expired(readClaims(tokenWith({ sub: "a" })), Date.now()), false);
});

test("a token is refreshed a minute before exp, or halfway for a short one", () => {
  const claims = readClaims(tokenWith(ALICE));
  const hour = 3_600_000;
  assert.equal(refreshInMs(claims, claims.exp - hour), hour - TOKEN_REFRESH_LEAD_MS);
  assert.equal(refreshInMs(claims, claims.exp - 4000), 2000, "not in a tight loop");
  assert.equal(refreshInMs(claims, claims.exp + 5), 0, "already expired: at once");
  assert.equal(refreshInMs(readClaims(tokenWith({ sub: "a" })), 0), null, "no exp: never");
});
