// Runs a Worker under Miniflare/workerd directly from the pinned npm
// packages: no wrangler dev proxy hop, so closer to production.
// Usage: node benches/baselines/miniflare.mjs <port> [edge-chat|js-room|js-sqlite-room] [build dir]
//   edge-chat       this project's built Worker (build/index.js), the default;
//                   with a build dir, that build instead (an older one, to
//                   compare builds side by side)
//   js-room         the minimal JavaScript Durable Object baseline
//   js-sqlite-room  the same, writing each message to SQLite first
import { Miniflare } from "miniflare";

const port = Number(process.argv[2]);
const which = process.argv[3] ?? "edge-chat";
const build = process.argv[4] ?? "build";
const workers = {
  "edge-chat": {
    scriptPath: `${build}/index.js`,
    // Module names are paths below this, and a build may live anywhere.
    modulesRoot: build,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    durableObjects: { ROOMS: { className: "ChatRoom", useSQLite: true } },
    // The same limits the wrangler dev runs get, so they do not cap the benchmark.
    bindings: { RATE_PER_SEC: "100000", RATE_BURST: "10000", MAX_CONNECTIONS_PER_ROOM: "5000" },
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
const mf = new Miniflare({
  host: "127.0.0.1",
  port,
  modules: true,
  compatibilityDate: "2026-04-26",
  // Assets are not served here; the benchmark only needs /ws/<id>.
  ...workers[which],
});
await mf.ready;
console.log(`${which} ready on ${port}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
