// The sign-in token as the page finds it (public/identity.js): read from
// the URL fragment, and taken out of it. Its payload is the client
// library's to read (client/test/token.test.mjs).

import assert from "node:assert/strict";
import { test } from "node:test";

import { fragmentWithoutToken, tokenFromFragment } from "../../public/identity.js";

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
