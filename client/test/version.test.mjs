// The package's version follows the wire protocol's: its major version is
// PROTOCOL_VERSION, which is the version docs/protocol.md states.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { PROTOCOL_VERSION } from "../src/index.js";

const read = (path) => readFileSync(new URL(path, import.meta.url), "utf8");

test("the package's major version is the protocol's, as the docs state it", () => {
  const { version } = JSON.parse(read("../package.json"));
  assert.equal(Number(version.split(".")[0]), PROTOCOL_VERSION);
  const stated = read("../../docs/protocol.md").match(/^This is version (\d+) of the wire protocol\./m);
  assert.ok(stated, "docs/protocol.md states no version");
  assert.equal(Number(stated[1]), PROTOCOL_VERSION);
});
