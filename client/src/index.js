// edge-chat-client: a client for edge-chat rooms in browsers, Node, Deno
// and Workers. `joinRoom` is what most apps need; the pure parts (the room
// state, the reconnect loop's decisions, the token's claims) are exported
// too, for apps that drive their own socket or test their own view.

export { RoomClient, joinRoom } from "./client.js";
export { chatApi } from "./http.js";
export {
  ChatError,
  PROTOCOL_VERSION,
  endingCode,
  finalClose,
  frames,
  receiptFor,
  refusedForGood,
  socketUrl,
} from "./protocol.js";
export * as limits from "./limits.js";
export * as roomState from "./room.js";
export { readClaims, expired, refreshInMs } from "./token.js";
export { afterClose, afterOpen, backoffMs, connect, initialLoop, quietSlowClose } from "./connection.js";
