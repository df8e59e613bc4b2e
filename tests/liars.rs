//! Strangers who lie to flow control, against the real runtime with the
//! room's default budgets: sockets that read a trickle and chat, sockets
//! that ask to prove their reading and then only ping, and sockets that
//! send receipts claiming everything, all in a flooded room. Each is closed
//! at its own budget, the runtime's memory stays far under an object's
//! 128 MB, an honest reader gets every message, and a newcomer still gets
//! in.

#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use common::readers::*;
use common::{history_messages, Client, Server};

/// The defaults but for the flooder's rate, which must outrun one socket's
/// limit to flood at all, and the sockets one address may open (every
/// client here is 127.0.0.1).
const VARS: &[(&str, &str)] = &[
    ("RATE_PER_SEC", "100000"),
    ("RATE_BURST", "10000"),
    ("MAX_SOCKETS_PER_ADDRESS", "1000"),
];

/// 6,000 messages of 1.9 KB, 2 ms apart: about 11 MB at 950 KB a second,
/// thirty times what a plain socket is presumed to read.
const FLOOD: usize = 6000;
const GAP: Duration = Duration::from_millis(2);

/// How much the runtime may grow while it is lied to: half of what one
/// object may hold. Before flow control believed only proof, four
/// trickle-reading chatterers grew it by 292 MiB in three minutes.
const MAX_GROWTH: u64 = 64 << 20;

/// What a liar does besides not reading.
#[derive(Clone, Copy)]
enum Lie {
    /// Reads one frame a second and says something every 5 s.
    Chatter,
    /// Asked to prove its reading, then only pings (the runtime answers).
    Pinger,
    /// Asked to prove its reading, then claims everything, every second.
    Claimer,
}

/// A liar's socket and the task that tells its lie; the task ends with the
/// close the room sent it (or `None` if it never came).
fn liar(client: Client, lie: Lie) -> JoinHandle<Option<(u16, String)>> {
    let (sink, mut stream) = client.into_socket().split();
    let sink = Arc::new(tokio::sync::Mutex::new(sink));
    let talker = Arc::clone(&sink);
    let talking = tokio::spawn(async move {
        for i in 0u64.. {
            let said = match lie {
                Lie::Chatter if i % 5 == 0 => "still here".to_owned(),
                Lie::Chatter => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Lie::Pinger => r#"{"type":"ping"}"#.to_owned(),
                Lie::Claimer if i % 2 == 0 => {
                    r#"{"type":"seen","frames":18446744073709551615}"#.to_owned()
                }
                Lie::Claimer => format!(r#"{{"type":"seen","mark":"{:016x}"}}"#, i * 7919),
            };
            let sent = talker.lock().await.send(Message::text(said)).await;
            if sent.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    tokio::spawn(async move {
        // A trickle for the chatterers while the room floods; then every
        // liar reads what piled up, to the close.
        if matches!(lie, Lie::Chatter) {
            let trickle = tokio::time::sleep(Duration::from_secs(25));
            tokio::pin!(trickle);
            loop {
                tokio::select! {
                    _ = &mut trickle => break,
                    frame = stream.next() => match frame {
                        Some(Ok(Message::Close(f))) => {
                            talking.abort();
                            return f.map(|f| (f.code.into(), f.reason.to_string()));
                        }
                        Some(Ok(_)) => tokio::time::sleep(Duration::from_secs(1)).await,
                        _ => return None,
                    },
                }
            }
        } else {
            tokio::time::sleep(Duration::from_secs(25)).await;
        }
        let closed = Some(close_of_stalled(stream).await);
        talking.abort();
        closed
    })
}

/// `read` holds at least `n` messages with consecutive seqs (a batch may
/// bring a few more), and was not closed.
fn assert_unbroken(read: &Read, who: &str, n: usize) {
    assert_eq!(read.closed, None, "{who} was closed");
    assert!(read.seqs.len() >= n, "{who} read only {}", read.seqs.len());
    let gap = read.seqs.windows(2).position(|w| w[1] != w[0] + 1);
    assert_eq!(
        gap.map(|at| &read.seqs[at..at + 2]),
        None,
        "{who} missed or repeated"
    );
}

/// The runtime's largest resident size while `work` runs, sampled every
/// 200 ms.
async fn peak_rss_during<T>(server: &Server, work: JoinHandle<T>) -> (u64, T) {
    let mut peak = server.rss_bytes();
    let mut work = work;
    loop {
        tokio::select! {
            done = &mut work => return (peak, done.expect("the work")),
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                peak = peak.max(server.rss_bytes());
            }
        }
    }
}

async fn liars_in_a_flooded_room_are_closed_and_memory_stays_bounded(server: Server) {
    let page = join(&server, "lie-page", &format!("room=lie&{PROVING}")).await;
    let page = page_reader(page, FLOOD, Duration::ZERO);
    let mut liars = Vec::new();
    for (i, lie) in [Lie::Chatter, Lie::Pinger, Lie::Claimer]
        .iter()
        .cycle()
        .take(9)
        .enumerate()
    {
        let query = match lie {
            Lie::Chatter => "room=lie".to_owned(),
            _ => format!("room=lie&{PROVING}"),
        };
        let id = format!("lie-{i}");
        liars.push((id.clone(), liar(join(&server, &id, &query).await, *lie)));
    }
    let before = server.rss_bytes();
    let flood = join(&server, "lie-flood", &format!("room=lie&{PROVING}")).await;
    let (peak, flooded) = peak_rss_during(&server, sender(flood, FLOOD, GAP)).await;
    let growth = peak.saturating_sub(before);
    println!(
        "runtime: {} MiB before, {} MiB at peak",
        before >> 20,
        peak >> 20
    );
    assert!(
        growth < MAX_GROWTH,
        "the runtime grew by {} MiB",
        growth >> 20
    );
    // The chatterers' messages take seqs too: every reader must see one
    // unbroken run of them.
    assert_unbroken(&flooded, "the flooder", FLOOD);
    assert_unbroken(&page.await.expect("page"), "the honest page", FLOOD);
    for (id, liar) in liars {
        let closed = liar.await.expect("liar");
        assert_eq!(closed, Some((1013, "too slow, reconnect".into())), "{id}");
        let line = wait_for_close_log(&server, &id).await;
        assert!(line.contains("socket_budget"), "{line}");
    }
    let (mut newcomer, frames) = Client::join_with(&server, "lie-new", "room=lie").await;
    let history = frames
        .iter()
        .find(|f| f["type"] == "history")
        .expect("history");
    assert!(
        !history_messages(history).is_empty(),
        "the newcomer got history"
    );
    newcomer.say("made it", "lie-new-1").await;
    newcomer.expect_message("lie-new", "made it").await;
}

suite![
    vars: VARS;
    liars_in_a_flooded_room_are_closed_and_memory_stays_bounded,
];
