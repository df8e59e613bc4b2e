// The package against the real runtime: each scenario joins rooms of a
// running `wrangler dev` (CHAT_URL) with joinRoom, makes something happen
// (drops, a kill, a kick, an expiry, a flood) and checks what the room and
// the client say afterwards. tests/client_library.rs starts the runtime,
// runs `node scenarios.mjs <name>`, kills and restarts the runtime when a
// scenario prints {"step":"kill"}, and fails unless the scenario exits 0.
// Every line on stdout is JSON; a failure throws, with its reason on stderr.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";

import { chatApi, joinRoom } from "../../src/index.js";

const url = process.env.CHAT_URL;

function say(line) {
  console.log(JSON.stringify(line));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `ready()` is true, polling, or fails naming `what`. */
async function until(what, ready, ms = 30000) {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Resolves with the client's first event of `type`, or fails. */
function next(client, type, ms = 30000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} event in ${ms} ms`)), ms);
    const off = client.on(type, (event) => {
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

/** `promise`, or a failure naming `what` after `ms`. */
function within(what, promise, ms) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A WebSocket that counts the sockets made with it, and can stage a link
 *  that dies with frames in flight: `cut()` loses every frame either way
 *  from then on, and closes the socket a moment later. */
function socketKind() {
  const kind = class extends WebSocket {
    constructor(socketUrl) {
      super(socketUrl);
      this.lost = false;
      kind.made.push(this);
    }
    send(data) {
      if (!this.lost) super.send(data);
    }
    addEventListener(type, listener) {
      if (type !== "message") return super.addEventListener(type, listener);
      return super.addEventListener(type, (event) => {
        if (!this.lost) listener(event);
      });
    }
    cut() {
      this.lost = true;
      setTimeout(() => this.close(4000, "cut"), 30);
    }
  };
  kind.made = [];
  return kind;
}

/** Every message in `room`, read through the HTTP API page by page (with
 *  `token` in token mode). */
async function stored(room, token) {
  const api = chatApi({ url, token });
  const all = [];
  let since = 0;
  for (;;) {
    const page = await api.readMessages(room, { since, limit: 1000 });
    all.push(...page.messages);
    if (!page.messages.length || page.messages.at(-1).seq >= page.latestSeq) return all;
    since = page.messages.at(-1).seq;
  }
}

/** How often each of `texts` was stored, and seen by a watcher. */
function once(what, texts, seen) {
  const counts = new Map(texts.map((t) => [t, 0]));
  for (const text of seen) if (counts.has(text)) counts.set(text, counts.get(text) + 1);
  const wrong = [...counts].filter(([, n]) => n !== 1);
  assert.deepEqual(wrong, [], `${what}: texts not there exactly once`);
}

/** A signed token, as docs/identity.md shows a backend making one. */
function mint(sub, { room, role = "member", ttlSecs = 3600 }) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const claims = { sub, rooms: [room], role, exp: Math.floor(Date.now() / 1000) + ttlSecs };
  const signed = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  const mac = createHmac("sha256", process.env.AUTH_SECRET).update(signed).digest("base64url");
  return `${signed}.${mac}`;
}

const scenarios = {
  /** The sender's link dies five times with frames in flight (acks lost,
   *  messages lost on the way): every message is stored once, acked once,
   *  and a watcher sees each once. */
  async drops() {
    const room = "cl-drops";
    const watcher = joinRoom({ url, room, clientId: "watcher" });
    const seen = [];
    watcher.on("message", ({ message }) => message.clientId === "sender" && seen.push(message.text));
    await next(watcher, "open");
    const Flaky = socketKind();
    const sender = joinRoom({ url, room, clientId: "sender", WebSocket: Flaky });
    await next(sender, "open");
    const texts = Array.from({ length: 300 }, (_, i) => `drop test ${i}`);
    const acks = [];
    let reopened = null;
    for (const [i, text] of texts.entries()) {
      acks.push(sender.send(text));
      if (i % 60 === 30) {
        reopened = next(sender, "open");
        Flaky.made.at(-1).cut();
      }
      // Ten more go into the dying link or wait offline; then the next
      // cut waits for a link to cut.
      if (i % 60 === 40) await reopened;
      if (i % 10 === 0) await sleep(5);
    }
    const results = await within("every ack", Promise.all(acks), 60000);
    assert.equal(new Set(results.map((r) => r.seq)).size, texts.length, "one seq per message");
    await until("the watcher to see all", () => seen.length >= texts.length);
    once("watched", texts, seen);
    once("stored", texts, (await stored(room)).map((m) => m.message));
    assert.ok(Flaky.made.length >= 6, `only ${Flaky.made.length} sockets: the drops never happened`);
    say({ ok: true, sent: texts.length, sockets: Flaky.made.length });
    sender.close();
    watcher.close();
  },

  /** Messages keep flowing while tests/client_library.rs SIGKILLs the
   *  runtime and starts it again on the same port and storage: every one
   *  is stored exactly once, and all are acked. */
  async crash() {
    const room = "cl-crash";
    const sender = joinRoom({ url, room, clientId: "sender" });
    await next(sender, "open");
    const texts = Array.from({ length: 200 }, (_, i) => `crash test ${i}`);
    const acks = [];
    for (const [i, text] of texts.entries()) {
      // At most 50 unacknowledged, as the room's own crash tests send.
      while (sender.pending.size >= 50) await sleep(5);
      acks.push(sender.send(text));
      if (i === 60) say({ step: "kill" });
      await sleep(10);
    }
    await within("every ack after the restart", Promise.all(acks), 90000);
    once("stored", texts, (await stored(room)).map((m) => m.message));
    say({ ok: true, sent: texts.length });
    sender.close();
  },

  /** A moderator removes a member: the member's session ends with
   *  `kicked` and never reconnects; joining again meets the ban, which
   *  ends that session too, with `banned`, after one refused handshake. */
  async kick() {
    const room = "cl-kick";
    const mo = joinRoom({ url, room, token: mint("mo", { room, role: "moderator" }) });
    const Counted = socketKind();
    const token = mint("mallory", { room });
    const mallory = joinRoom({ url, room, token, WebSocket: Counted });
    await Promise.all([next(mo, "open"), next(mallory, "open")]);
    const ended = next(mallory, "end");
    mo.kick("mallory", 5);
    assert.equal((await ended).code, "kicked");
    await assert.rejects(mallory.send("still here?"), { code: "kicked" });
    // Longer than two backoffs: a reconnect loop would have tried by now.
    await sleep(2000);
    assert.equal(Counted.made.length, 1, "the kicked client reconnected");

    const Again = socketKind();
    const again = joinRoom({ url, room, token, WebSocket: Again });
    const refused = await next(again, "end", 20000);
    assert.equal(refused.code, "banned");
    assert.ok(Again.made.length <= 2, `${Again.made.length} attempts against a ban`);
    say({ ok: true, attempts: Again.made.length });
    mo.close();
  },

  /** A token that expires ends its session with `token_expired`, without
   *  reconnecting; one already expired never opens a socket; and one the
   *  app refreshes keeps its session going across expiries, every message
   *  acked once. */
  async expiry() {
    const room = "cl-expiry";
    const Short = socketKind();
    const short = joinRoom({ url, room, token: mint("shorty", { room, ttlSecs: 3 }), WebSocket: Short });
    const ended = await next(short, "end", 20000);
    assert.equal(ended.code, "token_expired");
    await sleep(2000);
    assert.equal(Short.made.length, 1, "the expired client reconnected");

    const Stale = socketKind();
    const stale = joinRoom({ url, room, token: mint("stale", { room, ttlSecs: -120 }), WebSocket: Stale });
    assert.equal(stale.ended?.code, "token_expired");
    assert.equal(Stale.made.length, 0, "an expired token tried a socket");

    const Renewed = socketKind();
    let refreshes = 0;
    const renewed = joinRoom({
      url,
      room,
      token: mint("renewed", { room, ttlSecs: 4 }),
      WebSocket: Renewed,
      refreshToken: () => {
        refreshes += 1;
        return mint("renewed", { room, ttlSecs: 4 });
      },
    });
    const ends = [];
    const off = renewed.on("end", (event) => ends.push(event.code));
    await next(renewed, "open");
    const texts = Array.from({ length: 10 }, (_, i) => `renewed ${i}`);
    const acks = [];
    for (const text of texts) {
      acks.push(renewed.send(text));
      await sleep(1000);
    }
    await within("every ack", Promise.all(acks), 20000);
    assert.ok(refreshes >= 2, `${refreshes} refreshes in 10 s of 4-second tokens`);
    assert.deepEqual(ends, [], "the refreshed session ended");
    off();
    once("stored", texts, (await stored(room, mint("auditor", { room }))).map((m) => m.message));
    say({ ok: true, refreshes, sockets: Renewed.made.length });
    renewed.close();
  },

  /** 10,000 messages of 200 characters (about 3 MB, six times the room's
   *  per-socket budget in this suite) read by a client that proves its
   *  reading with receipts: it is never closed as too slow (one socket
   *  all along) and sees every message once. */
  async flood() {
    const room = "cl-flood";
    const Reader = socketKind();
    const reader = joinRoom({ url, room, clientId: "reader", WebSocket: Reader });
    const seen = [];
    reader.on("message", ({ message }) => message.clientId === "writer" && seen.push(message.text));
    await next(reader, "open");
    const writer = joinRoom({ url, room, clientId: "writer" });
    await next(writer, "open");
    const texts = Array.from({ length: 10000 }, (_, i) => `flood ${String(i).padStart(5, "0")} `.padEnd(200, "x"));
    const acks = [];
    for (const text of texts) {
      while (writer.pending.size >= 200) await sleep(1);
      acks.push(writer.send(text));
    }
    await within("every ack", Promise.all(acks), 120000);
    await until("the reader to read all", () => seen.length >= texts.length, 60000);
    once("read", texts, seen);
    assert.equal(Reader.made.length, 1, "the reader was closed and rejoined");
    say({ ok: true, read: seen.length, sockets: Reader.made.length });
    reader.close();
    writer.close();
  },
};

const name = process.argv[2];
if (!Object.hasOwn(scenarios, name)) throw new Error(`no scenario ${name}`);
await scenarios[name]();
// Pings and timers of clients a failure left open must not hold the exit.
process.exit(0);
