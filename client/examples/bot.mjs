// A bot: says it is up through the HTTP API, then answers `!ping` in the room.
// CHAT_URL, CHAT_ROOM and (token mode) CHAT_TOKEN say where; Node 20 needs
// `node --experimental-websocket bot.mjs` (Node 22 has WebSocket built in).
import { chatApi, joinRoom } from "edge-chat-client";

const url = process.env.CHAT_URL ?? "http://127.0.0.1:8787";
const room = process.env.CHAT_ROOM ?? "lobby";
const token = process.env.CHAT_TOKEN; // token mode: the token names the bot
const me = token ? {} : { clientId: "pingbot", name: "Ping Bot" };

await chatApi({ url, token }).postMessage(room, { message: "pingbot is up", ...me });

const chat = joinRoom({ url, room, token, ...me });
chat.on("message", async ({ message, backlog }) => {
  if (backlog || message.mine || message.text.trim() !== "!ping") return;
  const { seq } = await chat.send(`pong to #${message.seq}`);
  console.log(`answered #${message.seq} with #${seq}`);
});
chat.on("open", () => console.log(`pingbot in ${room} as ${chat.me}`));
chat.on("end", ({ code, message }) => {
  console.error(`session over: ${code} (${message})`);
  process.exit(1);
});
