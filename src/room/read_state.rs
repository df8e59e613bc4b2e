//! Read state: each person (a token's `sub`, or the client id in open
//! mode) has a read pointer per room, the last `seq` they have seen,
//! moved forward by their client and kept by the room. A newcomer learns
//! it, with how many messages are unread, in its `history` frame; when it
//! moves, every socket of that person hears of it, so all their tabs stay
//! in step; the HTTP API reads anyone's for a backend.
//!
//! A pointer only moves forward, and never past the newest `seq`: a tab
//! that reads late, or a client that sends a seq from the future, cannot
//! move it back or past what exists. Unread counts others' messages that
//! are not deleted, up to [`UNREAD_MAX`].

use crate::room::session::Session;
use crate::room::{Ctx, Outcome};
use crate::settings::limits::UNREAD_MAX;
use crate::store::history::HistoryStore;
use crate::wire::error::{Refusal, StoreError};
use crate::wire::protocol::{Line, ReadLine, ReadState, ServerFrame};

/// `client_id`'s read state now.
pub fn of<S: HistoryStore>(store: &mut S, client_id: &str) -> Result<ReadState, StoreError> {
    let seq = store.read_pointer(client_id)?;
    let unread = store.unread(seq, client_id, UNREAD_MAX)?;
    Ok(ReadState { seq, unread })
}

/// The sender has seen everything up to `seq`: its pointer moves there
/// (never back, never past the newest), and all its sockets hear of it. A
/// pointer that does not move is answered to the sender alone, so a tab
/// that was behind catches up.
pub fn mark<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    session: &Session,
    seq: u64,
) -> Result<Outcome, Refusal> {
    let me = session.client_id.as_str();
    let latest = ctx.store.latest_seq().map_err(Refusal::Storage)?;
    let now_at = ctx.store.read_pointer(me).map_err(Refusal::Storage)?;
    let to = seq.min(latest);
    let moved = to > now_at;
    if moved {
        (ctx.store.set_read_pointer(me, to, ctx.now)).map_err(Refusal::Storage)?;
    }
    let read = of(ctx.store, me).map_err(Refusal::Storage)?;
    let frame = ServerFrame::Read(ReadLine {
        line: Line::server("", ctx.now),
        read,
    });
    Ok(match moved {
        true => Outcome {
            to_tabs: Some(frame),
            ..Outcome::default()
        },
        false => Outcome::deliver(vec![crate::room::Delivery {
            to: crate::room::Audience::Sender,
            frame,
        }]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::config::Config;
    use crate::store::history::{MemoryHistory, StoredMessage};

    fn msg(seq: u64, who: &str) -> StoredMessage {
        StoredMessage::said(seq, seq, who, "x")
    }

    fn room() -> MemoryHistory {
        let mut s = MemoryHistory::default();
        let said = [
            (1, "alice"),
            (2, "bob"),
            (3, "bob"),
            (4, "alice"),
            (5, "bob"),
        ];
        for (seq, who) in said {
            s.append(&msg(seq, who)).unwrap();
        }
        s
    }

    fn mark_as(store: &mut MemoryHistory, who: &str, seq: u64) -> Outcome {
        let config = Config::default();
        let mut ctx = Ctx {
            config: &config,
            store,
            now: 9,
        };
        mark(&mut ctx, &Session::of(who, None), seq).unwrap()
    }

    fn read_of(o: &Outcome) -> ReadState {
        let frame = o
            .to_tabs
            .as_ref()
            .or(o.deliveries.first().map(|d| &d.frame));
        match frame {
            Some(ServerFrame::Read(r)) => r.read,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unread_counts_others_messages_after_the_pointer() {
        let mut s = room();
        assert_eq!(
            of(&mut s, "alice").unwrap(),
            ReadState { seq: 0, unread: 3 }
        );
        let moved = mark_as(&mut s, "alice", 2);
        assert!(moved.to_tabs.is_some(), "every tab hears of it");
        assert_eq!(read_of(&moved), ReadState { seq: 2, unread: 2 });
    }

    #[test]
    fn a_pointer_never_moves_back_nor_past_the_newest() {
        let mut s = room();
        mark_as(&mut s, "alice", 4);
        let back = mark_as(&mut s, "alice", 1);
        assert!(
            back.to_tabs.is_none(),
            "the sender alone is told where it is"
        );
        assert_eq!(read_of(&back), ReadState { seq: 4, unread: 1 });
        let ahead = mark_as(&mut s, "alice", 99);
        assert_eq!(read_of(&ahead), ReadState { seq: 5, unread: 0 });
    }

    #[test]
    fn unread_stops_counting_at_the_cap() {
        let mut s = MemoryHistory::default();
        for seq in 1..=UNREAD_MAX + 5 {
            s.append(&msg(seq, "bob")).unwrap();
        }
        assert_eq!(of(&mut s, "alice").unwrap().unread, UNREAD_MAX);
    }
}
