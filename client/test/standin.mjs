// A stand-in for the platform's WebSocket, for the tests that drive
// connect() (client/src/connection.js) and joinRoom under node: it does only
// what the test makes it do, and records what the client does to it.

/** A socket that opens, delivers, fails and closes when the test says. */
export class StandIn extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 3;
  /** Every socket made since the test last emptied this, in order. */
  static made = [];

  constructor(url) {
    super();
    this.url = url;
    this.readyState = StandIn.CONNECTING;
    this.closedByPage = false;
    /** `[code, reason]` of the page's close, if it closed this socket. */
    this.closedWith = null;
    /** The frames the page sent, as sent. */
    this.sent = [];
    StandIn.made.push(this);
  }

  send(data) {
    this.sent.push(data);
  }

  close(code, reason) {
    this.closedByPage = true;
    this.closedWith = [code, reason];
    this.readyState = StandIn.CLOSED;
  }

  /** The network's side: the handshake succeeds. */
  accept() {
    this.readyState = StandIn.OPEN;
    this.dispatchEvent(new Event("open"));
  }

  /** The network's side: a frame arrives. */
  deliver(data) {
    const event = new Event("message");
    event.data = data;
    this.dispatchEvent(event);
  }

  /** The network's side: the handshake fails. */
  fail() {
    this.readyState = StandIn.CLOSED;
    this.dispatchEvent(new Event("error"));
  }

  /** The socket closes with `reason`: the server's doing, or the echo of
   *  the page's own close. */
  hangUp(reason) {
    this.readyState = StandIn.CLOSED;
    const event = new Event("close");
    event.reason = reason;
    this.dispatchEvent(event);
  }

  /** The late `close` Chromium may fire long after the `error`. */
  lateClose() {
    const event = new Event("close");
    event.reason = "";
    this.dispatchEvent(event);
  }
}

/** Puts the stand-in where the page looks for WebSocket, and a window for
 *  the `online` event; `restore()` takes both away. */
export function install() {
  StandIn.made = [];
  globalThis.WebSocket = StandIn;
  const window = new EventTarget();
  globalThis.addEventListener = window.addEventListener.bind(window);
  globalThis.removeEventListener = window.removeEventListener.bind(window);
  globalThis.dispatchEvent = window.dispatchEvent.bind(window);
}

export function restore() {
  delete globalThis.WebSocket;
  delete globalThis.addEventListener;
  delete globalThis.removeEventListener;
  delete globalThis.dispatchEvent;
}
