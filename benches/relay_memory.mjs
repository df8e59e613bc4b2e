// How much the runtime process grows under a flood, in one object or
// spread over relays of three: the liars suite's load (a proving page, nine
// plain listeners that never read, and a flooder sending 6,000 messages of
// 1.9 KB, 2 ms apart) on Miniflare/workerd alone, no wrangler proxy.
// Usage: node benches/relay_memory.mjs <build dir> <one|relays> [repeats]
// Prints one line per run: the workerd process's resident size before the
// flood and at its peak, sampled every 200 ms, in MiB.
// `ws` comes with Miniflare (package-lock.json), as Node 20 has no client.
import { spawn, execSync } from "node:child_process";
import WebSocket from "ws";

const [build, layout, repeats = "1"] = process.argv.slice(2);
const FLOOD = 6000;
const GAP_MS = 2;
const LIARS = 9;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const vars = {
  RATE_PER_SEC: "100000",
  RATE_BURST: "10000",
  MAX_SOCKETS_PER_ADDRESS: "1000",
  // wrangler.toml's: the benchmark's Miniflare presumes plain clients read
  // 100 MB/s, so the listeners would never be closed.
  FLOW_PLAIN_READ_KB_PER_SEC: "32",
  AUTH_MODE: "open",
  AUTH_SECRET: "",
  ...(layout === "relays" ? { RELAY_THRESHOLD: "0", RELAY_CAPACITY: "3" } : {}),
};

function rssMiB(pid) {
  const kb = execSync(`ps -o rss= --ppid ${pid}`).toString();
  return kb.trim().split(/\s+/).map(Number).reduce((a, b) => a + b, 0) / 1024;
}

async function start(port) {
  const child = spawn("node", ["benches/baselines/miniflare.mjs", String(port), "edge-chat", build], {
    env: { ...process.env, BENCH_MINIFLARE_VARS: JSON.stringify(vars) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((ready) => child.stdout.on("data", (d) => String(d).includes("ready") && ready()));
  return child;
}

function open(port, id, query, reads) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/${id}?room=flood&${query}`, {
      headers: { Origin: `http://127.0.0.1:${port}` },
    });
    ws.on("open", () => {
      if (!reads) ws._socket.pause();
      resolve(ws);
    });
    ws.on("message", (data) => {
      const text = String(data);
      if (text.includes('"type":"mark"')) {
        ws.send(JSON.stringify({ type: "seen", mark: JSON.parse(text).mark }));
      }
    });
    ws.on("error", reject);
  });
}

const body = (i) => {
  const head = `msg ${String(i).padStart(5, "0")} `;
  return head + "x".repeat(1900 - head.length);
};

async function run(port) {
  const server = await start(port);
  const sockets = [await open(port, "page", "batch=1&receipts=1", true)];
  for (let i = 0; i < LIARS; i++) sockets.push(await open(port, `liar-${i}`, "plain=1", false));
  const flood = await open(port, "flood", "batch=1&receipts=1", true);
  sockets.push(flood);
  await sleep(500);
  const before = rssMiB(server.pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(server.pid))), 200);
  for (let i = 0; i < FLOOD; i++) {
    flood.send(body(i));
    await sleep(GAP_MS);
  }
  await sleep(2000);
  clearInterval(sampler);
  console.log(`${build} ${layout}: ${before.toFixed(0)} MiB before, ${peak.toFixed(0)} at peak, +${(peak - before).toFixed(0)}`);
  sockets.forEach((ws) => ws.terminate());
  server.kill("SIGTERM");
  await new Promise((done) => server.on("exit", done));
}

for (let r = 0; r < Number(repeats); r++) await run(8900 + r);
process.exit(0);
