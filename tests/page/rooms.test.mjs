// Room names in the page (public/rooms.js): the room in the URL, what the
// person types, and a new private room's random name.

import assert from "node:assert/strict";
import { test } from "node:test";

import { ROOM_MAX_CHARS } from "../../client/src/limits.js";
import { PRIVATE_ROOM_ALPHABET, PRIVATE_ROOM_CHARS } from "../../public/limits.js";
import { privateRoomName, roomFromInput, roomFromPath, roomPath } from "../../public/rooms.js";

test("the URL names the room; 64 characters are allowed, 65 are not", () => {
  const longest = "r".repeat(ROOM_MAX_CHARS);
  assert.equal(ROOM_MAX_CHARS, 64, "src/settings/limits.rs MAX_ROOM_NAME_LEN");
  assert.equal(roomFromPath(`/r/${longest}`), longest);
  assert.equal(roomFromPath(`/r/${longest}r`), "lobby");
  assert.equal(roomFromPath("/"), "lobby");
  assert.equal(roomFromPath("/r/Team"), "lobby");
  assert.equal(roomFromPath("/r/%E0%A4%A"), "lobby");
});

test("typed names are made into room names, up to 64 characters", () => {
  assert.equal(roomFromInput("  Team Chat! "), "team-chat");
  assert.equal(roomFromInput("x".repeat(70)), "x".repeat(64));
  assert.equal(roomFromInput("!!!"), null);
  assert.equal(roomPath("lobby"), "/");
  assert.equal(roomPath("team"), "/r/team");
});

test("a private room name has at least 96 random bits in the room charset", () => {
  const bits = PRIVATE_ROOM_CHARS * Math.log2(PRIVATE_ROOM_ALPHABET.length);
  assert.ok(bits >= 96, `${bits} bits`);
  const name = privateRoomName((n) => Uint8Array.from({ length: n }, (_, i) => i * 7));
  assert.equal(name.length, PRIVATE_ROOM_CHARS);
  assert.match(name, /^[a-z0-9]+$/);
  // It survives the room box and the page's own URL check unchanged.
  assert.equal(roomFromInput(name), name);
  assert.equal(roomFromPath(roomPath(name)), name);
});

test("bytes that would bias the draw are skipped, not folded", () => {
  // 252 is the first byte past the last whole multiple of 36: skipped.
  let calls = 0;
  const name = privateRoomName((n) => {
    calls += 1;
    return new Uint8Array(n).fill(calls === 1 ? 252 : 37);
  });
  assert.equal(calls, 2, "a draw of only biased bytes asks again");
  assert.equal(name, PRIVATE_ROOM_ALPHABET[1].repeat(PRIVATE_ROOM_CHARS));
});
