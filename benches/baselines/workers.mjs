// The Workers the benchmark and the profiler run under Miniflare, by name:
// this project's build and the two JavaScript Durable Object baselines.
//   edge-chat       this project's built Worker, from `build` (default
//                   build/; an older build to compare builds side by side)
//   js-room         the minimal JavaScript Durable Object baseline
//   js-sqlite-room  the same, writing each message to SQLite first
import { readFileSync } from "node:fs";

function hasRelays(build) {
  try {
    return readFileSync(`${build}/index.js`, "utf8").includes("ChatRelay");
  } catch {
    return false;
  }
}

export function worker(which, build = "build") {
  const workers = {
    "edge-chat": {
      scriptPath: `${build}/index.js`,
      // Module names are paths below this, and a build may live anywhere.
      modulesRoot: build,
      modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
      durableObjects: {
        ROOMS: { className: "ChatRoom", useSQLite: true },
        // Builds from before relays (src/send/relay.rs) have no ChatRelay.
        ...(hasRelays(build) ? { RELAYS: { className: "ChatRelay", useSQLite: true } } : {}),
      },
      // The same limits and open mode the wrangler dev runs get, so they do not cap the benchmark.
      bindings: {
        RATE_PER_SEC: "100000",
        RATE_BURST: "10000",
        MAX_CONNECTIONS_PER_ROOM: "5000",
        AUTH_MODE: "open",
        MAX_SOCKETS_PER_ADDRESS: "5000",
        // Throughput runs: the load generator's clients read everything,
        // but those without receipts cannot prove it. Presuming they read
        // at any speed keeps flow control's policy for plain clients out
        // of a measurement of the send path (its cost is measured by
        // tests/plain_listeners.rs and the silent bench, under wrangler dev
        // with the defaults).
        FLOW_PLAIN_READ_KB_PER_SEC: "102400",
      },
    },
    "js-room": {
      scriptPath: "benches/baselines/js-room/worker.js",
      durableObjects: { ROOMS: { className: "JsRoom", useSQLite: true } },
    },
    "js-sqlite-room": {
      scriptPath: "benches/baselines/js-sqlite-room/worker.js",
      // It imports ../js-room/worker.js: an ES module (Miniflare assumes
      // CommonJS for an imported .js), named by its path below modulesRoot.
      modulesRoot: "benches/baselines",
      modulesRules: [{ type: "ESModule", include: ["**/*.js"] }],
      durableObjects: { ROOMS: { className: "JsSqliteRoom", useSQLite: true } },
    },
  };
  if (!workers[which]) throw new Error(`no worker named ${which}: ${Object.keys(workers)}`);
  return workers[which];
}
