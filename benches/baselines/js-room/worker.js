// Baseline: a minimal JavaScript Durable Object with edge-chat's protocol,
// written here for the benchmark. One frame per message per socket, on the
// hibernation API, no coalescing: what Rust/WASM is compared against on the
// same runtime.
export class JsRoom {
  constructor(ctx) {
    this.ctx = ctx;
  }

  async fetch(request) {
    const id = new URL(request.url).pathname.split("/")[2] || "anon";
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    pair[1].serializeAttachment({ id });
    this.broadcast(id, "Online", "join");
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  webSocketMessage(ws, message) {
    const { id } = ws.deserializeAttachment();
    // The old React client's greeting: the join frame already announced it.
    if (message === "Connect") return;
    this.store(id, String(message));
    this.broadcast(id, String(message), "message");
  }

  // This room stores nothing; ../js-sqlite-room writes each message here.
  store() {}

  webSocketClose(ws, code) {
    const { id } = ws.deserializeAttachment();
    try {
      ws.close(code === 1005 ? 1000 : code, "bye");
    } catch {}
    this.broadcast(id, "Offline", "leave", ws);
  }

  webSocketError(ws) {
    const { id } = ws.deserializeAttachment();
    this.broadcast(id, "Offline", "leave", ws);
  }

  broadcast(clientId, message, type, except) {
    const ts = Date.now();
    const d = new Date(ts);
    const time = `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
    const frame = JSON.stringify({ type, time, clientId, message, ts });
    for (const ws of this.ctx.getWebSockets()) {
      if (ws === except) continue;
      try {
        ws.send(frame);
      } catch {}
    }
  }
}

export default {
  async fetch(request, env) {
    if (request.headers.get("Upgrade") !== "websocket") return new Response("js baseline");
    const stub = env.ROOMS.get(env.ROOMS.idFromName("bench"));
    return stub.fetch(request);
  },
};
