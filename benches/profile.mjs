// Where a room spends its CPU: runs a Worker under Miniflare with V8's
// inspector on, floods one room with plain clients (one JSON frame per
// message per socket, the originals' protocol), takes a V8 CPU profile of
// every isolate while it does, and prints the functions with the most
// self time.
//
//   KEEP_NAMES=1 FORCE_BUILD=1 bash scripts/build-worker.sh   # wasm names
//   node --experimental-websocket benches/profile.mjs [edge-chat|js-room|js-sqlite-room] [clients] [msgs/s] [secs]
//   BUILD=<dir> profiles another build of edge-chat (an older one, say)
//   BATCH=1 connects the clients with `batch=1`, as our page does
//   RECEIPTS=1 has them send the page's read receipts too (its own code)
//   JOINS=1 profiles the clients joining (in waves of 50), not a flood
//   PROFILE=0 runs the same load unprofiled, for workerd's CPU alone
//   TOP=N prints the N functions with the most self time (default 20)
//
// workerd is pinned to core 1 and this process (the load) to core 0, as in
// the benchmark. The numbers are shares of the room's own CPU time; they say
// where the time goes, not how fast anything is.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Miniflare } from "miniflare";
import { worker } from "./baselines/workers.mjs";
import { receiptFor } from "../client/src/protocol.js";

const [which = "edge-chat", clients = "100", rate = "1000", secs = "10"] = process.argv.slice(2);
const inspectorPort = 9300 + Math.floor(Math.random() * 500);
const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  modules: true,
  compatibilityDate: "2026-04-26",
  inspectorPort,
  ...worker(which, process.env.BUILD || "build"),
});
const url = await mf.ready;
const workerd = pin();

// JOINS=1 profiles the clients' joins instead of the flood: one client
// first, so the room's isolate exists, then the rest while profiled.
const joins = process.env.JOINS === "1";
const sockets = await connectAll(joins ? 1 : Number(clients), url);
// PROFILE=0 runs the same load without the profiler, which costs the
// runtime more CPU than the room does: then the CPU figure is the room's.
const profiling = process.env.PROFILE !== "0";
const targets = profiling ? await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json() : [];
const sessions = await Promise.all(targets.map((t) => inspect(t.webSocketDebuggerUrl)));
await Promise.all(sessions.map((s) => s.call("Profiler.enable")));
await Promise.all(sessions.map((s) => s.call("Profiler.setSamplingInterval", { interval: 200 })));
await Promise.all(sessions.map((s) => s.call("Profiler.start")));
const cpu0 = cpuSeconds(workerd);
const joinStart = Date.now();
// In waves of 50 at once, as the benchmark's clients join.
for (let first = 1; joins && first < Number(clients); first += 50) {
  const wave = Math.min(50, Number(clients) - first);
  const groups = [...Array(wave).keys()].map((i) => connectAll(1, url, first + i));
  for (const group of await Promise.all(groups)) sockets.push(...group);
}
const joinMs = Date.now() - joinStart;
const sent = joins ? 0 : await flood(sockets, Number(rate), Number(secs));
const cpu = cpuSeconds(workerd) - cpu0;
if (joins) console.log(`${Number(clients) - 1} joins, in waves of 50, in ${joinMs} ms`);
const profiles = await Promise.all(sessions.map((s) => s.call("Profiler.stop")));
const received = sockets.reduce((n, s) => n + s.received, 0);
const receiptsSent = sockets.reduce((n, s) => n + s.receipts, 0);
report(profiles.map((p) => p.profile), sent, received, cpu, receiptsSent);
sockets.forEach((s) => s.ws.close());
await mf.dispose();
process.exit(0);

// workerd on core 1, the load on core 0. Returns workerd's pids.
function pin() {
  const workerd = execFileSync("pgrep", ["-P", String(process.pid)]).toString().trim().split("\n");
  for (const pid of workerd) execFileSync("taskset", ["-a", "-p", "-c", "1", pid], { stdio: "ignore" });
  execFileSync("taskset", ["-a", "-p", "-c", "0", String(process.pid)], { stdio: "ignore" });
  return workerd;
}

// CPU time the processes used (user + system), from /proc: unlike sampled
// time, it does not grow when another process shares the core.
function cpuSeconds(pids) {
  const ticks = pids.map((pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return Number(fields[11]) + Number(fields[12]);
  });
  return ticks.reduce((a, b) => a + b, 0) / 100;
}

async function connectAll(n, base, first = 0) {
  const out = [];
  for (let i = first; i < first + n; i++) {
    const batch = process.env.BATCH === "1" ? "&batch=1" : "";
    const ws = new WebSocket(`ws://${base.host}/ws/prof-${i}?room=profile${batch}`);
    const socket = { ws, received: 0, receipts: 0 };
    const read = process.env.RECEIPTS === "1" ? receiptFor : null;
    ws.onmessage = (e) => {
      socket.received++;
      const receipt = read?.(e.data);
      if (receipt) {
        socket.receipts++;
        ws.send(JSON.stringify(receipt));
      }
    };
    await new Promise((ok, fail) => {
      ws.onopen = ok;
      ws.onerror = fail;
    });
    out.push(socket);
  }
  return out;
}

// Sends `rate` messages a second in all, round-robin over the clients.
async function flood(sockets, rate, seconds) {
  const body = "x".repeat(100);
  const end = Date.now() + seconds * 1000;
  let sent = 0;
  while (Date.now() < end) {
    const tick = Date.now();
    for (let i = 0; i < rate / 100; i++) sockets[sent++ % sockets.length].ws.send(`${body} ${sent}`);
    await new Promise((ok) => setTimeout(ok, Math.max(0, 10 - (Date.now() - tick))));
  }
  await new Promise((ok) => setTimeout(ok, 1000));
  return sent;
}

function inspect(wsUrl) {
  const ws = new WebSocket(wsUrl);
  const pending = new Map();
  let next = 1;
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    pending.get(msg.id)?.(msg.result);
    pending.delete(msg.id);
  };
  const call = (method, params = {}) =>
    new Promise((ok) => {
      const id = next++;
      pending.set(id, ok);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return new Promise((ok) => (ws.onopen = () => ok({ call })));
}

// Self time by function across every isolate's profile, top 20.
function report(profiles, sent, received, cpu, receiptsSent) {
  const self = new Map();
  let total = 0;
  for (const p of profiles) {
    const deltas = new Map();
    p.samples.forEach((id, i) => deltas.set(id, (deltas.get(id) ?? 0) + p.timeDeltas[i]));
    for (const node of p.nodes) {
      const f = node.callFrame;
      const where = f.url ? ` ${f.url.split("/").pop()}` : "";
      const name = `${f.functionName || "(anonymous)"}${where}`;
      const us = deltas.get(node.id) ?? 0;
      self.set(name, (self.get(name) ?? 0) + us);
      if (!["(idle)", "(program)"].includes(f.functionName)) total += us;
    }
  }
  const kind = process.env.BATCH === "1" ? "batch=1" : "plain";
  console.log(`${which}: ${clients} ${kind} clients, ${sent} sent, ${received} frames received, ${receiptsSent} receipts`);
  // The profiler costs the runtime CPU too: compare shares, not this.
  const perFrame = received ? ((cpu * 1e6) / received).toFixed(2) : "-";
  console.log(`workerd CPU${profiling ? " while profiled" : ""}: ${cpu.toFixed(2)} s, ${perFrame} µs per frame received`);
  const top = [...self].filter(([n]) => !n.startsWith("(idle)")).sort((a, b) => b[1] - a[1]);
  for (const [name, us] of top.slice(0, Number(process.env.TOP || 20))) {
    console.log(`${((100 * us) / total).toFixed(1).padStart(5)} %  ${name.slice(0, 110)}`);
  }
}
