// Runs a Worker under Miniflare/workerd directly from the pinned npm
// packages: no wrangler dev proxy hop, so closer to production.
// Usage: node benches/baselines/miniflare.mjs <port> [edge-chat|js-room|js-sqlite-room] [build dir]
// (the Workers are described in workers.mjs).
import { Miniflare } from "miniflare";
import { worker } from "./workers.mjs";

const port = Number(process.argv[2]);
const which = process.argv[3] ?? "edge-chat";
const build = process.argv[4] ?? "build";
const config = worker(which, build);
// The history bench raises retention and keeps one room across restarts:
// BENCH_MINIFLARE_VARS (a JSON object of extra vars) and
// BENCH_MINIFLARE_PERSIST (a directory for the Durable Objects' SQLite).
if (process.env.BENCH_MINIFLARE_VARS) {
  config.bindings = { ...config.bindings, ...JSON.parse(process.env.BENCH_MINIFLARE_VARS) };
}
const persist = process.env.BENCH_MINIFLARE_PERSIST;
const mf = new Miniflare({
  host: "127.0.0.1",
  port,
  modules: true,
  compatibilityDate: "2026-04-26",
  // Assets are not served here; the benchmark only needs /ws/<id>.
  ...config,
  ...(persist ? { durableObjectsPersist: persist } : {}),
});
await mf.ready;
console.log(`${which} ready on ${port}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
