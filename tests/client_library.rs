//! The client library (`client/`, npm `edge-chat-client`) against the real
//! runtime. Each scenario is a Node script (`client/test/live/scenarios.mjs`)
//! that uses the package as an app would; this file starts the runtime,
//! runs the script against it, SIGKILLs and restarts the runtime when the
//! script asks, and fails unless the script exits 0. The README's two
//! examples run here too: the Node bot answers a `!ping`, and the browser
//! example runs in Chromium on the chat's own origin.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use common::browser::{page_url, Browser};
use common::runtime::{free_port, fresh_state_dir, repo_root};
use common::tokens::SECRET;
use common::{Client, Runtime, Server};

/// Open mode for the shared runtime, with rate limits out of the way (the
/// scenarios send faster than a person), a history long enough to hold a
/// flood, and the smallest per-socket budget the room allows, so that a
/// reader that did not prove its reading would be closed many times over.
const VARS: &[(&str, &str)] = &[
    ("RATE_PER_SEC", "100000"),
    ("RATE_BURST", "10000"),
    ("HISTORY_LIMIT", "10000"),
    ("FLOW_SOCKET_BUDGET_KB", "512"),
];

const TOKEN_MODE: &[(&str, &str)] = &[("AUTH_SECRET", SECRET)];

/// The longest a scenario may run.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(150);

/// A Node process this test started, its stdout lines arriving on a channel.
struct Node {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

/// `node`, with the flag Node 20 needs for its WebSocket (22 has it built
/// in, and the flag would only warn there).
fn node() -> Command {
    let built_in = Command::new("node")
        .args([
            "-e",
            "process.exit(typeof WebSocket === 'function' ? 0 : 1)",
        ])
        .status()
        .expect("node on PATH")
        .success();
    let mut command = Command::new("node");
    if !built_in {
        command.arg("--experimental-websocket");
    }
    command.arg("--no-warnings");
    command
}

impl Node {
    /// Runs `script` (relative to the repository) with `args`, talking to
    /// the chat on `port`, with `env` set.
    fn spawn(script: &str, args: &[&str], port: u16, env: &[(&str, &str)]) -> Node {
        let mut child = node()
            .arg(repo_root().join(script))
            .args(args)
            .env("CHAT_URL", format!("http://127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node");
        let (tx, lines) = channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for (stream, prefix) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, ""),
            (Box::new(stderr), "stderr: "),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(format!("{prefix}{line}"));
                }
            });
        }
        Node {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line containing `needle`.
    fn wait_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.stop();
                    panic!("no line with {needle:?}; node printed:\n{}", self.output());
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().expect("wait for node");
                    panic!(
                        "node exited ({status}) before printing {needle:?}:\n{}",
                        self.output()
                    );
                }
            }
        }
    }

    /// Waits for the script to exit, and fails unless it exits 0.
    fn succeeds(mut self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            if let Some(status) = self.child.try_wait().expect("node status") {
                // What the reader threads still hold.
                std::thread::sleep(Duration::from_millis(50));
                while let Ok(line) = self.lines.try_recv() {
                    self.seen.push(line);
                }
                assert!(
                    status.success(),
                    "node failed ({status}):\n{}",
                    self.output()
                );
                return std::mem::take(&mut self.seen);
            }
            if Instant::now() > deadline {
                self.stop();
                panic!("node still ran after {timeout:?}:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn output(&self) -> String {
        self.seen.join("\n")
    }

    /// Ends the process this test started.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

fn scenario(name: &str, port: u16, env: &[(&str, &str)]) -> Node {
    Node::spawn("client/test/live/scenarios.mjs", &[name], port, env)
}

async fn a_drop_mid_send_loses_nothing_and_doubles_nothing(server: Server) {
    let port = server.port;
    tokio::task::spawn_blocking(move || scenario("drops", port, &[]).succeeds(SCENARIO_TIMEOUT))
        .await
        .unwrap();
}

async fn sends_survive_a_runtime_sigkill_and_restart(_server: Server) {
    tokio::task::spawn_blocking(|| {
        let port = free_port();
        let state = fresh_state_dir();
        let mut rt = Runtime::start_on(port, state.clone(), VARS);
        let mut node = scenario("crash", port, &[]);
        node.wait_line(r#""step":"kill""#, SCENARIO_TIMEOUT);
        rt.kill();
        let mut rt = Runtime::start_on(port, state.clone(), VARS);
        node.succeeds(SCENARIO_TIMEOUT);
        rt.stop();
        let _ = std::fs::remove_dir_all(state);
    })
    .await
    .unwrap();
}

async fn a_kicked_client_ends_its_session_and_meets_the_ban(_server: Server) {
    tokio::task::spawn_blocking(|| {
        let mut rt = Runtime::start(TOKEN_MODE);
        scenario("kick", rt.port, &[("AUTH_SECRET", SECRET)]).succeeds(SCENARIO_TIMEOUT);
        rt.stop();
    })
    .await
    .unwrap();
}

async fn an_expired_token_ends_the_session_and_a_refreshed_one_keeps_it(_server: Server) {
    tokio::task::spawn_blocking(|| {
        let mut rt = Runtime::start(TOKEN_MODE);
        scenario("expiry", rt.port, &[("AUTH_SECRET", SECRET)]).succeeds(SCENARIO_TIMEOUT);
        rt.stop();
    })
    .await
    .unwrap();
}

async fn ten_thousand_messages_are_read_under_the_socket_budget(server: Server) {
    let port = server.port;
    tokio::task::spawn_blocking(move || scenario("flood", port, &[]).succeeds(SCENARIO_TIMEOUT))
        .await
        .unwrap();
}

/// The README's Node bot: it posts through the API as it starts, then
/// answers a `!ping` from someone else in the room.
async fn the_node_bot_example_answers_ping(server: Server) {
    let port = server.port;
    let mut bot = tokio::task::spawn_blocking(move || {
        let mut bot = Node::spawn(
            "client/examples/bot.mjs",
            &[],
            port,
            &[("CHAT_ROOM", "cl-bot")],
        );
        bot.wait_line("pingbot in cl-bot", SCENARIO_TIMEOUT);
        bot
    })
    .await
    .unwrap();
    let (mut alice, frames) = Client::join_with(&server, "alice", "room=cl-bot").await;
    let up = common::history_messages(common::frame_of(&frames, "history"))
        .iter()
        .any(|m| m["clientId"] == "pingbot" && m["message"] == "pingbot is up");
    assert!(
        up,
        "the bot's post through the API is not in the history: {frames:?}"
    );
    alice.send("!ping").await;
    let pong = alice
        .next_matching("the bot's pong", |f| {
            f["clientId"] == "pingbot"
                && f["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("pong to #"))
        })
        .await;
    assert_eq!(pong["name"], "Ping Bot");
    bot.stop();
}

/// The README's browser example, run in Chromium on a page of the chat's
/// origin, with its import pointed at the copy the Worker serves.
async fn the_browser_example_joins_and_says_hello(server: Server) {
    let source = std::fs::read_to_string(repo_root().join("client/examples/browser.js"))
        .expect("client/examples/browser.js");
    let import = r#"import { joinRoom } from "edge-chat-client";"#;
    assert!(source.contains(import), "the example's import changed");
    let script = format!(
        "(async () => {{ {} }})()",
        source.replace(
            import,
            r#"const { joinRoom } = await import("/client/index.js");"#
        )
    );
    let mut browser = Browser::launch().await;
    let tab = browser
        .open(&page_url(server.port, "/r/cl-browser"), 1000, 700)
        .await;
    browser.eval(&tab, &script).await;
    browser
        .wait_for(
            &tab,
            "the example's own hello",
            "[...document.querySelectorAll('body > ul li')].some(li => li.textContent === 'Browser: hello from a browser')",
        )
        .await;
    let (mut alice, _) = Client::join_with(&server, "alice", "room=demo").await;
    alice.send("hi, example").await;
    browser
        .wait_for(
            &tab,
            "alice's message in the example's list",
            "[...document.querySelectorAll('body > ul li')].some(li => li.textContent === 'alice: hi, example')",
        )
        .await;
}

suite![
    vars: VARS;
    timeout_secs: 240;
    a_drop_mid_send_loses_nothing_and_doubles_nothing,
    sends_survive_a_runtime_sigkill_and_restart,
    a_kicked_client_ends_its_session_and_meets_the_ban,
    an_expired_token_ends_the_session_and_a_refreshed_one_keeps_it,
    ten_thousand_messages_are_read_under_the_socket_budget,
    the_node_bot_example_answers_ping,
    the_browser_example_joins_and_says_hello,
];
