// Types for edge-chat-client, written by hand and checked with `tsc
// --noEmit` in CI (client/tsconfig.json, over these and the examples).
// The wire protocol they describe is docs/protocol.md, version 1.

/** The wire protocol this package speaks; the package's major version. */
export const PROTOCOL_VERSION: 1;

/** A refusal: from the room (an error frame, a handshake or HTTP API
 *  answer) or from the client before anything went out. */
export class ChatError extends Error {
  constructor(code: string, message?: string, extra?: { status?: number; retryAfterMs?: number });
  readonly name: "ChatError";
  /** The room's stable code (docs/security.md), or one of the client's own:
   *  `offline`, `empty_message`, `message_too_long`, `bad_minutes`,
   *  `bad_request`, `timeout` (a page the room did not answer), `closed`. */
  readonly code: ErrorCode;
  /** The HTTP status, for an HTTP API refusal. */
  readonly status?: number;
  /** For `rate_limited`: when to try again. */
  readonly retryAfterMs?: number;
}

/** Codes a room sends (docs/security.md), those the client makes itself,
 *  and any code a newer room may add. */
export type ErrorCode =
  | "empty_message"
  | "message_too_long"
  | "malformed_json"
  | "bad_frame"
  | "unknown_type"
  | "binary_unsupported"
  | "rate_limited"
  | "flooding"
  | "frame_too_large"
  | "idle_timeout"
  | "token_expired"
  | "kicked"
  | "room_full"
  | "too_many_sockets"
  | "too_many_sockets_from_address"
  | "not_author"
  | "not_moderator"
  | "cannot_kick_moderator"
  | "unknown_message"
  | "message_deleted"
  | "missing_token"
  | "bad_token"
  | "expired_token"
  | "room_forbidden"
  | "id_mismatch"
  | "banned"
  | "bad_request"
  | "not_found"
  | "service_only"
  | "bad_query"
  | "too_many_reactions"
  | "export_forbidden"
  | "read_forbidden"
  | "offline"
  | "bad_minutes"
  | "timeout"
  | "closed"
  | (string & {});

/** Why a session ended for good. */
export type EndCode =
  | "kicked"
  | "token_expired"
  | "banned"
  | "expired_token"
  | "bad_token"
  | "missing_token"
  | "room_forbidden"
  | "id_mismatch"
  | "closed";

/** Anything with the WebSocket API's constructor: the platform's own by
 *  default (browsers, Node 22+, Deno, Workers); on Node 20 pass one, or
 *  run with --experimental-websocket. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
}

export interface JoinOptions {
  /** The chat's address, e.g. `https://chat.example` (a page passes
   *  `location.href`); `https:` connects with `wss:`. */
  url: string | URL;
  /** The room, 1-64 of `[a-z0-9_-]`; default `lobby`. */
  room?: string;
  /** Open mode: who this client is (default: a random `client-…`). Token
   *  mode: the token's `sub`, which is the default. */
  clientId?: string;
  /** Open mode: the display name. Token mode takes the token's. */
  name?: string;
  /** Token mode: the signed token (docs/identity.md). */
  token?: string;
  /** Called with the current token a minute before it expires (or when the
   *  room says it did): return a fresh one for the same `sub`, and the
   *  client rejoins with it, catching up with `since`. Without it, or if it
   *  throws, the session ends with `token_expired` at `exp`. */
  refreshToken?: (current: string | null) => string | Promise<string>;
  /** Token mode: after a handshake fails, ask the HTTP API why, and end on
   *  a ban or a refused token instead of reconnecting. Default true. */
  explainRefusals?: boolean;
  /** Ask for `batch` frames (default true): fewer frames from a busy room. */
  batch?: boolean;
  /** Answer the room's marks with receipts (default true): the room then
   *  holds this client to its own reading, never presuming it slow. */
  receipts?: boolean;
  /** The WebSocket constructor (default: the platform's). */
  WebSocket?: WebSocketConstructor;
  /** The fetch to ask the HTTP API with (default: the platform's). */
  fetch?: typeof fetch;
  /** A listener for every event, attached before the first one. */
  on?: (event: ClientEvent) => void;
}

/** A stored message, as it is now. */
export interface Message {
  seq: number;
  id: string;
  clientId: string;
  /** The sender's display name, "" for none. */
  name: string;
  /** "" once deleted. */
  text: string;
  /** When it was stored, in ms since the epoch. */
  ts: number;
  /** Sent by this client id. */
  mine: boolean;
  /** When last edited, or null. */
  edited: number | null;
  deleted: boolean;
  clientMsgId?: string;
  /** The seq of the newest edit or delete applied. */
  changeSeq?: number;
  /** Each emoji given, its count, and whether this client gave it. */
  reactions: Reaction[];
  /** The client ids its text mentions (`@id`). */
  mentions: string[];
  /** Its text mentions this client. */
  mentionsMe: boolean;
  /** The message it answers, quoted as it is now. */
  replyTo?: ReplyRef;
}

export interface Reaction {
  emoji: string;
  count: number;
  mine?: boolean;
}

export interface ReplyRef {
  id: string;
  clientId?: string;
  name?: string;
  /** Up to 100 characters of the original now; "" once deleted. */
  quote: string;
  deleted?: boolean;
  /** The original is no longer kept. */
  gone?: boolean;
}

/** A page of scrollback (oldest first) or search hits (newest first). */
export interface Page {
  messages: Message[];
  /** More lie beyond: ask again before the first seq (scrollback) or the
   *  last one's (search). */
  more: boolean;
  before?: number;
  q?: string;
}

export interface ReadState {
  /** The last seq this person has seen. */
  seq: number;
  /** Others' messages after it, not deleted, up to 1,000. */
  unread: number;
}

export interface Member {
  clientId: string;
  name: string;
  me: boolean;
}

export interface Ack {
  clientMsgId: string;
  seq: number;
  id: string;
}

/** What happened in the room, each once and in the room's order. */
export type RoomEvent =
  /** A stored message, once per seq however often it arrives. `backlog`:
   *  it came in the first history, said before this client joined (a
   *  catch-up after a drop is not backlog: it was missed). */
  | { type: "message"; message: Message; backlog: boolean }
  /** A message seen before was edited or deleted. */
  | { type: "update"; message: Message }
  /** `send` wrote a message; it is pending until its `ack`. */
  | { type: "pending"; clientMsgId: string; text: string; ts: number }
  /** Offline: the pending message goes out after the next catch-up. */
  | { type: "queued"; clientMsgId: string }
  /** A pending message is stored (`seq`, `id`; absent when only a copy in
   *  a catch-up said so, without them). */
  | { type: "ack"; clientMsgId: string; seq?: number; id?: string }
  /** The member list, sorted by client id, after every change: everyone
   *  in a small room; in a big one the first 500 and whoever came since.
   *  `count` is exact; `relays` is how many relay objects hold the room. */
  | { type: "members"; members: Member[]; count: number; relays: number }
  /** A crowded room's joins and leaves of the last second, grouped
   *  (`+37 joined, 5 left`), instead of a `join` or `leave` each. */
  | { type: "crowd"; joined: number; left: number; count: number; relays: number }
  | { type: "join"; clientId: string; name: string; ts: number; me: boolean }
  | { type: "leave"; clientId: string; name: string; ts: number; me: boolean }
  /** Someone else is typing (the room forwards one notice per 3 s). */
  | { type: "typing"; clientId: string; name: string; ts: number }
  /** A catch-up after a drop could not be whole: more was missed than one
   *  history holds (the rest is scrollback), messages were pruned, or the
   *  room's history was replaced (`reset`); the client starts over. */
  | { type: "missed"; ts: number; reset: boolean }
  /** A reaction was added (`on`) or taken away by `clientId`. */
  | { type: "reaction"; id: string; seq: number; emoji: string; on: boolean; clientId: string; reactions: Reaction[] }
  /** This person's read pointer moved, in any of their tabs. */
  | { type: "read"; seq: number; unread: number }
  /** The answer to `scrollback`. */
  | ({ type: "older" } & Page)
  /** The answer to `search`. */
  | ({ type: "search" } & Page)
  /** The room refused a frame; the session goes on. */
  | { type: "error"; code: ErrorCode; message: string; retryAfterMs?: number };

/** What happened to the connection. */
export type ConnectionEvent =
  | { type: "connecting"; attempt: number }
  /** `reconnected` is false for the first open and for quiet rejoins. */
  | { type: "open"; reconnected: boolean }
  /** Closed, not for good: the next attempt comes after `waitMs`. */
  | { type: "retrying"; attempt: number; waitMs: number; reason: string; opened: boolean }
  /** The app's `refreshToken` gave a fresh token. */
  | { type: "token"; token: string }
  /** The session is over for good: no more reconnects. */
  | { type: "end"; code: EndCode | (string & {}); message: string };

export type ClientEvent = RoomEvent | ConnectionEvent;
export type ClientEventType = ClientEvent["type"];
export type EventOf<T extends ClientEventType> = Extract<ClientEvent, { type: T }>;

export class RoomClient {
  constructor(options: JoinOptions);
  readonly me: string;
  readonly room: string;
  readonly name: string;
  /** The newest seq seen: a reconnect asks for what came after it. */
  readonly since: number | null;
  readonly online: boolean;
  /** Every message seen, by seq, as it is now. */
  readonly messages: ReadonlyMap<number, Message>;
  /** Who is in the room: clientId -> display name (see the `members`
   *  event for big rooms). */
  readonly members: ReadonlyMap<string, string>;
  /** How many people are here, exactly. */
  readonly count: number;
  /** Relay objects holding the room's sockets; 0 while it is one object. */
  readonly relays: number;
  /** Written, not yet stored: clientMsgId -> text and time. */
  readonly pending: ReadonlyMap<string, { text: string; ts: number }>;
  /** Why the session ended, or null while it goes on. */
  readonly ended: { code: string; message: string } | null;
  /** The room's history epoch, once a history said it. */
  readonly epoch: string | null;
  /** This person's read pointer, once the room said. */
  readonly read: ReadState | null;

  on<T extends ClientEventType>(type: T, listener: (event: EventOf<T>) => void): () => void;
  on(type: "*", listener: (event: ClientEvent) => void): () => void;
  off(type: ClientEventType | "*", listener: (event: any) => void): void;

  /** Resolves once the room stored the message, through any reconnects
   *  and resends; rejects with a ChatError if refused before it goes out
   *  or if the session ends first. */
  send(text: string, options?: { clientMsgId?: string; replyTo?: string }): Promise<Ack>;
  /** A typing notice (at most one per 3 s goes out). */
  typing(): void;
  /** Throws a ChatError when refused before it goes out. */
  edit(id: string, text: string): void;
  delete(id: string): void;
  kick(clientId: string, minutes: number): void;
  /** Open mode: rejoin at once under a new display name. */
  rename(name: string): void;
  /** Leave for good (an `end` event with code `closed`). */
  close(): void;

  /** The newest `limit` (default 50, at most 100) kept messages before
   *  seq `before`, oldest first, as they are now. */
  scrollback(options?: { before?: number; limit?: number }): Promise<Page>;
  /** Messages with every word of `q`, newest first, before seq `before`. */
  search(q: string, options?: { before?: number; limit?: number }): Promise<Page>;
  /** Toggles this client's reaction on message `id`; throws when offline. */
  react(id: string, emoji: string): void;
  /** This client has seen everything up to `seq`. */
  markRead(seq: number): void;
}

/** Joins a room now. */
export function joinRoom(options: JoinOptions): RoomClient;

export interface ApiOptions {
  /** The chat's address. */
  url: string | URL;
  /** Token mode: the bearer token, or a function asked before each call. */
  token?: string | (() => string | Promise<string>);
  fetch?: typeof fetch;
}

export interface MessagesPage {
  /** Message frames as a history carries them (tombstones included). */
  messages: Array<{
    type: "message";
    seq: number;
    id: string;
    clientId: string;
    name?: string;
    message: string;
    ts: number;
    time: string;
    clientMsgId?: string;
    editedTs?: number;
    deleted?: boolean;
  }>;
  changes: Array<Record<string, unknown> & { type: "edit" | "delete" | "reactions"; id: string; seq: number }>;
  latestSeq: number;
  truncated: boolean;
  epoch: string;
  reset?: boolean;
  /** With `before`: older messages remain. */
  more?: boolean;
}

export interface ChatApi {
  postMessage(
    room: string,
    post: { message: string; clientMsgId?: string; clientId?: string; name?: string; replyTo?: string },
  ): Promise<{ seq: number; id: string; duplicate: boolean }>;
  readMessages(
    room: string,
    query?: { since?: number; limit?: number; before?: number; epoch?: string },
  ): Promise<MessagesPage>;
  search(room: string, q: string, query?: { before?: number; limit?: number }): Promise<{ messages: MessagesPage["messages"]; more: boolean }>;
  react(room: string, id: string, emoji: string, as?: { clientId?: string }): Promise<{ on: boolean; seq: number; reactions: Reaction[] }>;
  readState(room: string, clientId: string): Promise<{ clientId: string } & ReadState>;
  /** Every kept message, oldest first, from the streamed export. */
  exportHistory(room: string): AsyncGenerator<MessagesPage["messages"][number]>;
  presence(
    room: string,
  ): Promise<{ members: Array<{ clientId: string; name?: string }>; count: number; relays: number }>;
}

/** The room's HTTP API: for bots and backends. */
export function chatApi(options: ApiOptions): ChatApi;

// ---- the pure parts ------------------------------------------------------

export interface Claims {
  sub: string;
  name: string;
  role: "member" | "moderator";
  /** In ms since the epoch, or null. */
  exp: number | null;
  rooms: string[];
}
/** A token's payload, unchecked (the room checks it), or null. */
export function readClaims(token: string | null | undefined): Claims | null;
export function expired(claims: Claims, now: number): boolean;
/** How long after `now` to refresh; null: never. */
export function refreshInMs(claims: Claims | null, now: number): number | null;

export interface SocketUrlOptions {
  clientId: string;
  room: string;
  name?: string;
  since?: number | null;
  /** The history epoch `since` came from. */
  epoch?: string | null;
  token?: string | null;
  batch?: boolean;
  receipts?: boolean;
}
export function socketUrl(base: string | URL | { toString(): string }, options: SocketUrlOptions): string;
/** The receipt for one of the room's marks, or null for any other data. */
export function receiptFor(data: unknown): { type: "seen"; mark: string } | null;
/** The end code a close reason stands for, or null: reconnect. */
export function finalClose(reason: string): "token_expired" | "kicked" | null;
export function endingCode(code: string): boolean;
export function refusedForGood(code: string): boolean;

export type ClientFrame =
  | { type: "message"; message: string; clientMsgId: string; replyTo?: string }
  | { type: "older"; before?: number; limit?: number }
  | { type: "search"; q: string; before?: number; limit?: number }
  | { type: "react"; id: string; emoji: string }
  | { type: "read"; seq: number }
  | { type: "typing" }
  | { type: "ping" }
  | { type: "edit"; id: string; message: string }
  | { type: "delete"; id: string }
  | { type: "kick"; clientId: string; minutes: number };
export const frames: {
  message(message: string, clientMsgId: string, replyTo?: string): ClientFrame;
  older(before?: number, limit?: number): ClientFrame;
  search(q: string, before?: number, limit?: number): ClientFrame;
  react(id: string, emoji: string): ClientFrame;
  read(seq: number): ClientFrame;
  typing(): ClientFrame;
  ping(): ClientFrame;
  edit(id: string, message: string): ClientFrame;
  delete(id: string): ClientFrame;
  kick(clientId: string, minutes: number): ClientFrame;
};

/** The room state's pure functions (client/src/room.js): each returns the
 *  next state and the events, `send` events among them. */
export namespace roomState {
  interface State {
    readonly me: string;
    readonly online: boolean;
    readonly lastSeq: number | null;
    readonly messages: ReadonlyMap<number, Message>;
    readonly ids: ReadonlyMap<string, number>;
    readonly pending: ReadonlyMap<string, { text: string; ts: number }>;
    readonly members: ReadonlyMap<string, string>;
    readonly count: number;
    readonly relays: number;
    readonly typingSentAt: number;
    readonly epoch: string | null;
    readonly read: ReadState | null;
  }
  type Event = RoomEvent | { type: "send"; frame: ClientFrame } | { type: "end"; code: string; message: string };
  interface Result {
    state: State;
    events: Event[];
  }
  function initialRoom(me: string): State;
  function receive(state: State, frame: unknown, now: number): Result;
  function compose(state: State, text: string, clientMsgId: string, now: number, replyTo?: string): Result;
  function react(state: State, id: string, emoji: string): Result;
  function markRead(state: State, seq: number): Result;
  function older(state: State, before?: number, limit?: number): Result;
  function search(state: State, q: string, before?: number, limit?: number): Result;
  function quoteOf(text: string): string;
  function typing(state: State, now: number): Result;
  function setOnline(state: State, online: boolean): Result;
  function edit(state: State, id: string, text: string): Result;
  function remove(state: State, id: string): Result;
  function kick(state: State, clientId: string, minutes: number): Result;
}

export namespace limits {
  const ROOM_MAX_CHARS: number;
  const ROOM_RE: RegExp;
  const DEFAULT_ROOM: string;
  const CLIENT_ID_RE: RegExp;
  const MESSAGE_ID_BYTES: number;
  const NAME_MAX_CHARS: number;
  const MESSAGE_MAX_CHARS: number;
  const BACKOFF_START_MS: number;
  const BACKOFF_MAX_MS: number;
  const BACKOFF_JITTER: number;
  const CONNECT_TIMEOUT_MS: number;
  const KICK_MAX_MINUTES: number;
  const MAX_TIMER_MS: number;
  const TOKEN_REFRESH_LEAD_MS: number;
  const PING_EVERY_MS: number;
  const SLOW_CLOSES_BEFORE_WARNING: number;
  const SLOW_CLOSE_WINDOW_MS: number;
  const TYPING_SEND_EVERY_MS: number;
  const PAGE_DEFAULT: number;
  const PAGE_MAX: number;
  const QUOTE_CHARS: number;
  const READ_EVERY_MS: number;
  const PAGE_TIMEOUT_MS: number;
}

/** The reconnect loop's decisions (client/src/connection.js). */
export interface Loop {
  attempt: number;
  everConnected: boolean;
  quietly: boolean;
  slowCloses: number[];
}
export type NextStep =
  | { kind: "reopen" }
  | { kind: "end"; code: "token_expired" | "kicked" }
  | { kind: "retry"; attempt: number; waitMs: number };
export function initialLoop(): Loop;
export function afterOpen(loop: Loop): { loop: Loop; reconnected: boolean };
export function afterClose(loop: Loop, reason: string, now: number, random: () => number): { loop: Loop; next: NextStep };
export function backoffMs(attempt: number, random: number): number;
export function quietSlowClose(reason: string, recent: number[], now: number): boolean;

export interface ConnectCallbacks {
  connecting(attempt: number): void;
  open(reconnected: boolean): void;
  frame(frame: any): void;
  closed(): void;
  retrying(retry: { attempt: number; waitMs: number; reason: string; opened: boolean }): void;
  ended(code: "token_expired" | "kicked"): void;
}
/** The socket loop alone, for an app that keeps its own room state. */
export function connect(
  url: () => string,
  on: ConnectCallbacks,
  options?: { WebSocket?: WebSocketConstructor },
): { send(frame: object): boolean; rejoin(): void; stop(): void };
