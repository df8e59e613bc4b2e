// The hand-written declarations (index.d.ts) and the code agree on what
// the package exports: a name declared but not exported fails at a user's
// import, and one exported but not declared is invisible to TypeScript.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import * as pkg from "../src/index.js";

test("index.d.ts declares exactly what src/index.js exports", () => {
  const dts = readFileSync(new URL("../index.d.ts", import.meta.url), "utf8");
  const declared = [...dts.matchAll(/^export (?:const|function|class|namespace) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual([...new Set(declared)].sort(), Object.keys(pkg).sort());
});
