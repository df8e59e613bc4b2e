// Baseline: the minimal JavaScript Durable Object of ../js-room, but each
// message is written to the object's SQLite (one INSERT) before it is
// broadcast, one frame per message. ../js-room stores nothing, which flatters
// it against our room; this one pays for durability as ours does. The
// runtime's output gate holds the broadcast until the write is durable, the
// same guarantee our room gives. Rows are never pruned: a run lasts minutes.
import { JsRoom } from "../js-room/worker.js";

export { default } from "../js-room/worker.js";

export class JsSqliteRoom extends JsRoom {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS messages (" +
        "id INTEGER PRIMARY KEY, client_id TEXT NOT NULL, body TEXT NOT NULL, ts INTEGER NOT NULL)",
    );
  }

  store(clientId, message) {
    this.ctx.storage.sql.exec(
      "INSERT INTO messages (client_id, body, ts) VALUES (?, ?, ?)",
      clientId,
      message,
      Date.now(),
    );
  }
}
