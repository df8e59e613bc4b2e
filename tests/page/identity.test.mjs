// The sign-in token as the page handles it (public/identity.js): read from
// the URL fragment, taken out of it, and its payload decoded for display.

import assert from "node:assert/strict";
import { test } from "node:test";

import { expired, fragmentWithoutToken, readClaims, tokenFromFragment } from "../../public/identity.js";

const b64url = (text) => Buffer.from(text).toString("base64url");

/** A token with these claims; the signature is junk, as the page never
 *  checks one. */
function tokenWith(claims) {
  return `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify(claims))}.c2ln`;
}

const ALICE = { sub: "alice", name: "Zoë <b>", rooms: ["lobby"], role: "moderator", exp: 1_700_000_000 };

test("the token comes from the fragment, with or without other parameters", () => {
  const token = tokenWith(ALICE);
  assert.equal(tokenFromFragment(`#token=${token}`), token);
  assert.equal(tokenFromFragment(`#x=1&token=${token}`), token);
  assert.equal(tokenFromFragment(""), null);
  assert.equal(tokenFromFragment("#token="), null);
  assert.equal(tokenFromFragment("#section-2"), null);
});

test("taking the token out leaves the rest of the fragment", () => {
  assert.equal(fragmentWithoutToken("#token=abc"), "");
  assert.equal(fragmentWithoutToken("#x=1&token=abc"), "#x=1");
});

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
