//! Headless Chromium for browser tests, driven over the DevTools protocol
//! with the WebSocket client the other tests already use: no WebDriver, no
//! extra crates. Each tab lives in its own browser context, so two tabs are
//! two independent users (separate sessionStorage and localStorage). A tab
//! can also be opened behind a [`Wire`] that loses or holds back what the
//! server sends, to stage network failures a restart alone cannot.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{http, runtime};

/// How long a DOM condition may take to become true.
pub const UI_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Browser {
    child: Child,
    profile: PathBuf,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Protocol events received so far (dialogs, mostly).
    events: Vec<Value>,
}

/// What the network between a page and the server does with the frames the
/// server sends, for a tab opened with [`Browser::open_wired`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Delivers every frame, first any that were held.
    Pass,
    /// Loses every frame, as a connection that died with frames in flight
    /// does.
    Drop,
    /// Holds every frame back, as a slow link does, until [`Wire::Pass`].
    Hold,
}

/// Installed before the page's own script: wraps `WebSocket` so the test
/// decides what becomes of each frame the server sends. The page listens
/// with `addEventListener("message", …)`, which is what it wraps. In the
/// page, `__wire.lostFrames()` lists what a drop lost, batches unpacked,
/// `__wire.sent` every frame the page sent, and `__wire.urls` every socket
/// URL it opened. `__wire.cut()` takes this one tab off the network (its
/// sockets close, and new ones go to a port where nothing listens) until
/// `__wire.restore()`, which then fires `online` as a browser does when its
/// network comes back. `DEAD_URL` is that port's URL, filled in by
/// [`Browser::open_wired`].
const WIRE_SHIM: &str = r#"(() => {
  const wire = { mode: "pass", lost: [], held: [], urls: [], sockets: [], offline: false };
  wire.cut = () => {
    wire.offline = true;
    wire.sockets.splice(0).forEach((socket) => socket.close());
  };
  wire.restore = () => {
    wire.offline = false;
    window.dispatchEvent(new Event("online"));
  };
  wire.set = (mode) => {
    wire.mode = mode;
    if (mode === "pass") wire.held.splice(0).forEach((deliver) => deliver());
  };
  wire.lostFrames = () =>
    wire.lost.map((data) => JSON.parse(data)).flatMap((f) => (f.type === "batch" ? f.frames : [f]));
  wire.sent = [];
  Object.defineProperty(window, "__wire", { value: wire });
  window.WebSocket = class extends WebSocket {
    constructor(url, protocols) {
      super(wire.offline ? "DEAD_URL" : url, protocols);
      if (!wire.offline) wire.urls.push(String(url));
      wire.sockets.push(this);
    }
    send(data) {
      wire.sent.push(JSON.parse(data));
      return super.send(data);
    }
    addEventListener(type, listener, options) {
      if (type !== "message") return super.addEventListener(type, listener, options);
      return super.addEventListener(type, (event) => {
        if (wire.mode === "drop") wire.lost.push(event.data);
        else if (wire.mode === "hold") wire.held.push(() => listener.call(this, event));
        else listener.call(this, event);
      }, options);
    }
  };
})();"#;

/// A key the tests press.
#[derive(Debug, Clone, Copy)]
pub enum Key {
    Enter,
    Escape,
}

/// One page, attached with its own DevTools session.
#[derive(Debug, Clone)]
pub struct Tab {
    session: String,
    target: String,
}

impl Browser {
    pub async fn launch() -> Browser {
        let port = runtime::free_port();
        let profile = runtime::fresh_state_dir().with_extension("chromium");
        let child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                "--disable-quic",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--remote-debugging-port={port}"))
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium (run scripts/install-browser.sh)");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let url = loop {
            let version = http::get_blocking(port, "/json/version", Duration::from_secs(2));
            if let Ok(resp) = version {
                let v: Value = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
                if let Some(url) = v["webSocketDebuggerUrl"].as_str() {
                    break url.to_owned();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromium did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect to chromium's DevTools socket");
        Browser {
            child,
            profile,
            ws,
            next_id: 0,
            events: Vec::new(),
        }
    }

    /// Sends one DevTools command and waits for its answer.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .expect("send a DevTools command");
        loop {
            let next = tokio::time::timeout(UI_TIMEOUT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("chromium did not answer {method}"));
            let Some(Ok(Message::Text(text))) = next else {
                panic!("chromium's DevTools socket ended during {method}");
            };
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    /// Opens `url` in a new, independent browser context.
    pub async fn open(&mut self, url: &str, width: u32, height: u32) -> Tab {
        let tab = self.blank(width, height).await;
        self.navigate(&tab, url).await;
        tab
    }

    /// [`Browser::open`], with the page's socket frames passing through a
    /// [`Wire`] the test controls with [`Browser::set_wire`].
    pub async fn open_wired(&mut self, url: &str, width: u32, height: u32) -> Tab {
        // A port where nothing listens, so an attempt is refused as when the
        // server is down. A fixed one will not do: Chromium will not dial
        // port 9 at all, for one.
        let dead = format!("ws://127.0.0.1:{}/", runtime::free_port());
        let shim = WIRE_SHIM.replace("DEAD_URL", &dead);
        self.open_with(url, width, height, &[&shim]).await
    }

    /// [`Browser::open`], with `scripts` run before the page's own on every
    /// document the tab loads (a [`Wire`], a clock set wrong).
    pub async fn open_with(&mut self, url: &str, width: u32, height: u32, scripts: &[&str]) -> Tab {
        let tab = self.blank(width, height).await;
        for source in scripts {
            self.add_script(&tab, source).await;
        }
        self.navigate(&tab, url).await;
        tab
    }

    /// Runs `source` in every document `tab` loads from now on.
    pub async fn add_script(&mut self, tab: &Tab, source: &str) {
        self.call(
            Some(&tab.session),
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": source }),
        )
        .await;
    }

    pub async fn set_wire(&mut self, tab: &Tab, wire: Wire) {
        let mode = match wire {
            Wire::Pass => "pass",
            Wire::Drop => "drop",
            Wire::Hold => "hold",
        };
        self.eval(tab, &format!("window.__wire.set({mode:?})"))
            .await;
    }

    /// A tab on `about:blank` in a new, independent browser context.
    async fn blank(&mut self, width: u32, height: u32) -> Tab {
        let context = self
            .call(None, "Target.createBrowserContext", json!({}))
            .await;
        let target = self
            .call(
                None,
                "Target.createTarget",
                json!({"url": "about:blank", "browserContextId": context["browserContextId"]}),
            )
            .await["targetId"]
            .as_str()
            .expect("targetId")
            .to_owned();
        let session = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .await["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_owned();
        let tab = Tab { session, target };
        for method in ["Page.enable", "Runtime.enable"] {
            self.call(Some(&tab.session), method, json!({})).await;
        }
        self.resize(&tab, width, height).await;
        tab
    }

    pub async fn resize(&mut self, tab: &Tab, width: u32, height: u32) {
        let params = json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500});
        self.call(
            Some(&tab.session),
            "Emulation.setDeviceMetricsOverride",
            params,
        )
        .await;
    }

    pub async fn dark_mode(&mut self, tab: &Tab, dark: bool) {
        let value = if dark { "dark" } else { "light" };
        let params = json!({"features": [{"name": "prefers-color-scheme", "value": value}]});
        self.call(Some(&tab.session), "Emulation.setEmulatedMedia", params)
            .await;
    }

    pub async fn navigate(&mut self, tab: &Tab, url: &str) {
        self.call(Some(&tab.session), "Page.navigate", json!({"url": url}))
            .await;
    }

    pub async fn reload(&mut self, tab: &Tab) {
        self.call(Some(&tab.session), "Page.reload", json!({}))
            .await;
    }

    pub async fn close(&mut self, tab: Tab) {
        self.call(None, "Target.closeTarget", json!({"targetId": tab.target}))
            .await;
    }

    /// Evaluates `expr` in the page and returns its value.
    pub async fn eval(&mut self, tab: &Tab, expr: &str) -> Value {
        let params = json!({"expression": expr, "returnByValue": true, "awaitPromise": true});
        let result = self
            .call(Some(&tab.session), "Runtime.evaluate", params)
            .await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expr} threw: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Polls until `expr` is true in the page, or fails naming `what`.
    pub async fn wait_for(&mut self, tab: &Tab, what: &str, expr: &str) {
        let deadline = tokio::time::Instant::now() + UI_TIMEOUT;
        loop {
            // The page may still be loading: a throw means "not yet".
            let probe = format!(
                "(() => {{ try {{ return Boolean({expr}); }} catch {{ return false; }} }})()"
            );
            if self.eval(tab, &probe).await == json!(true) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let body = self.eval(tab, "document.body.innerText").await;
                panic!("timed out waiting for {what}; the page shows:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types into the message box as a user would, then presses Enter.
    pub async fn type_and_send(&mut self, tab: &Tab, text: &str) {
        self.eval(tab, "document.getElementById('input').focus()")
            .await;
        self.insert_text(tab, text).await;
        self.press(tab, Key::Enter).await;
    }

    /// Types `text` where the focus is, as an input method would.
    pub async fn insert_text(&mut self, tab: &Tab, text: &str) {
        self.call(
            Some(&tab.session),
            "Input.insertText",
            json!({"text": text}),
        )
        .await;
    }

    /// Presses and releases `key` where the focus is.
    pub async fn press(&mut self, tab: &Tab, key: Key) {
        let (name, code, text) = match key {
            Key::Enter => ("Enter", 13, "\r"),
            Key::Escape => ("Escape", 27, ""),
        };
        let mut down = json!({"type": "keyDown", "key": name, "code": name,
                              "windowsVirtualKeyCode": code});
        if !text.is_empty() {
            down["text"] = json!(text);
        }
        self.call(Some(&tab.session), "Input.dispatchKeyEvent", down)
            .await;
        let up = json!({"type": "keyUp", "key": name, "code": name, "windowsVirtualKeyCode": code});
        self.call(Some(&tab.session), "Input.dispatchKeyEvent", up)
            .await;
    }

    /// Whether any JavaScript dialog (alert, confirm, prompt) has opened.
    pub fn dialog_opened(&self) -> bool {
        self.events
            .iter()
            .any(|e| e["method"] == "Page.javascriptDialogOpening")
    }

    /// Saves a PNG of the tab under `tests/artifacts/`.
    pub async fn screenshot(&mut self, tab: &Tab, name: &str) -> PathBuf {
        let shot = self
            .call(
                Some(&tab.session),
                "Page.captureScreenshot",
                json!({"format": "png"}),
            )
            .await;
        let png = decode_base64(shot["data"].as_str().expect("screenshot data"));
        let dir = runtime::repo_root().join("tests/artifacts");
        std::fs::create_dir_all(&dir).expect("create tests/artifacts");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Standard base64, as DevTools sends screenshots.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The page's URL for `path` on `port`.
pub fn page_url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}
