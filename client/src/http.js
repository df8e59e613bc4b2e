// The room's HTTP API (docs/http-api.md, api/openapi.yaml) for a backend or
// a bot: read a room's messages, post into it, see who is online. Each
// refusal becomes a ChatError with the room's code, its status and, for
// 429, when to retry. Uses only the platform's `fetch`.

import { ChatError } from "./protocol.js";

/**
 * A client of the HTTP API at `url` (the chat's address). `token` is the
 * bearer token for token mode: a string, or a function that returns one (or
 * a promise of one), asked before every call so a refreshed token is used.
 */
export function chatApi({ url, token, fetch: fetchImpl } = {}) {
  const base = new URL(String(url));

  /** The response itself, or a ChatError for a refusal. */
  async function fetchOk(method, path, { query, body } = {}) {
    const target = new URL(path, base);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null) target.searchParams.set(key, String(value));
    }
    const headers = {};
    const bearer = typeof token === "function" ? await token() : token;
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const doFetch = fetchImpl ?? globalThis.fetch;
    const response = await doFetch(target, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.ok) return response;
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // A proxy's page, not the room's answer: the status says enough.
    }
    const retry = Number(response.headers.get("retry-after"));
    throw new ChatError(json?.error || `http_${response.status}`, json?.message || text, {
      status: response.status,
      retryAfterMs: Number.isFinite(retry) && retry > 0 ? retry * 1000 : undefined,
    });
  }

  async function call(method, path, options) {
    const response = await fetchOk(method, path, options);
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : null };
  }

  const roomPath = (room, what) => `/api/rooms/${encodeURIComponent(room)}/${what}`;

  return {
    /** Posts `message` into `room`. `clientMsgId` makes a retry safe: the
     *  room answers the original instead of storing it again
     *  (`duplicate: true`). In open mode `clientId` and `name` say who
     *  speaks; in token mode only a service token may set them. */
    async postMessage(room, { message, clientMsgId, clientId, name, replyTo }) {
      const body = { message };
      if (clientMsgId !== undefined) body.clientMsgId = clientMsgId;
      if (replyTo !== undefined) body.replyTo = replyTo;
      if (clientId !== undefined) body.clientId = clientId;
      if (name !== undefined) body.name = name;
      const { status, json } = await call("POST", roomPath(room, "messages"), { body });
      return { seq: json.seq, id: json.id, duplicate: status === 200 };
    },

    /** Messages after `since` (or the newest `limit`), as a history frame
     *  carries them, with `changes`, `latestSeq` and `truncated`. */
    async readMessages(room, { since, limit, before, epoch } = {}) {
      const query = { since, limit, before, epoch };
      return (await call("GET", roomPath(room, "messages"), { query })).json;
    },

    /** Messages whose text has every word of `q`, newest first:
     *  `{ messages, more }`; page on with `before` = the last hit's seq. */
    async search(room, q, { before, limit } = {}) {
      return (await call("GET", roomPath(room, "search"), { query: { q, before, limit } })).json;
    },

    /** Toggles a reaction on message `id`: `{ on, seq, reactions }`. */
    async react(room, id, emoji, { clientId } = {}) {
      const body = clientId === undefined ? { emoji } : { emoji, clientId };
      const path = roomPath(room, `messages/${encodeURIComponent(id)}/reactions`);
      return (await call("POST", path, { body })).json;
    },

    /** A person's read pointer and unread count: `{ clientId, seq, unread }`. */
    async readState(room, clientId) {
      return (await call("GET", roomPath(room, `read/${encodeURIComponent(clientId)}`))).json;
    },

    /** Every kept message of `room`, oldest first, read from the streamed
     *  export line by line (a moderator's or a service token). */
    async *exportHistory(room) {
      const response = await fetchOk("GET", roomPath(room, "export"));
      const decoder = new TextDecoder();
      let rest = "";
      for await (const piece of response.body) {
        rest += decoder.decode(piece, { stream: true });
        const lines = rest.split("\n");
        rest = lines.pop();
        for (const line of lines) if (line) yield JSON.parse(line);
      }
      if (rest.trim()) yield JSON.parse(rest);
    },

    /** Who is in `room` now: `{ members, count }`. */
    async presence(room) {
      return (await call("GET", roomPath(room, "presence"))).json;
    },
  };
}
