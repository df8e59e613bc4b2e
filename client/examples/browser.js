// In a page on the chat's own origin: join a room, list what is said, say hello.
import { joinRoom } from "edge-chat-client";

const list = document.body.appendChild(document.createElement("ul"));
const chat = joinRoom({ url: location.href, room: "demo", name: "Browser" });
chat.on("message", ({ message }) => {
  const item = list.appendChild(document.createElement("li"));
  item.textContent = `${message.name || message.clientId}: ${message.text}`;
});
chat.on("open", () => chat.send("hello from a browser"));
