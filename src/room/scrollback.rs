//! Reading what the room keeps, beyond the window a newcomer gets: pages
//! of scrollback and of search hits, as they are now (edits applied,
//! tombstones in place), to the socket that asked and to the HTTP API.
//!
//! A page asks for one more than it returns: that one says whether there
//! is more, without counting.

use crate::room::kept::kept_lines;
use crate::room::{Audience, Ctx, Delivery};
use crate::store::history::{HistoryStore, StoredMessage};
use crate::store::search::SearchQuery;
use crate::wire::error::Refusal;
use crate::wire::protocol::{Line, PageLine, ServerFrame};

/// A page of messages and whether more lie beyond it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub messages: Vec<StoredMessage>,
    pub more: bool,
}

/// The newest `limit` messages before `before` (or the newest of all),
/// oldest first.
pub fn older<S: HistoryStore>(
    store: &mut S,
    before: Option<u64>,
    limit: u64,
) -> Result<Page, Refusal> {
    let mut messages =
        (store.before(before.unwrap_or(u64::MAX), limit + 1)).map_err(Refusal::Storage)?;
    let more = messages.len() as u64 > limit;
    if more {
        messages.remove(0);
    }
    Ok(Page { messages, more })
}

/// The newest `limit` messages before `before` matching `query`, newest
/// first.
pub fn search<S: HistoryStore>(
    store: &mut S,
    query: &SearchQuery,
    before: Option<u64>,
    limit: u64,
) -> Result<Page, Refusal> {
    let mut messages =
        (store.search(query, before.unwrap_or(u64::MAX), limit + 1)).map_err(Refusal::Storage)?;
    let more = messages.len() as u64 > limit;
    messages.truncate(limit as usize);
    Ok(Page { messages, more })
}

/// A socket's `older` frame, answered to it alone.
pub fn older_frame<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    me: &str,
    before: Option<u64>,
    limit: u64,
) -> Result<Vec<Delivery>, Refusal> {
    let page = older(ctx.store, before, limit)?;
    let line = page_line(ctx.store, page, (None, before), (me, ctx.now))?;
    Ok(answer(ServerFrame::Older(line)))
}

/// A socket's `search` frame, answered to it alone.
pub fn search_frame<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    me: &str,
    text: String,
    before: Option<u64>,
    limit: u64,
) -> Result<Vec<Delivery>, Refusal> {
    let query = SearchQuery::parse(&text)?;
    let page = search(ctx.store, &query, before, limit)?;
    let line = page_line(ctx.store, page, (Some(text), before), (me, ctx.now))?;
    Ok(answer(ServerFrame::Search(line)))
}

/// A page as its frame, each message with its reactions for `me`.
fn page_line<S: HistoryStore>(
    store: &mut S,
    page: Page,
    (q, before): (Option<String>, Option<u64>),
    (me, now): (&str, u64),
) -> Result<PageLine, Refusal> {
    let messages = kept_lines(store, &page.messages, Some(me)).map_err(Refusal::Storage)?;
    Ok(PageLine {
        line: Line::server("", now),
        q,
        before,
        messages,
        more: page.more,
    })
}

fn answer(frame: ServerFrame) -> Vec<Delivery> {
    vec![Delivery {
        to: Audience::Sender,
        frame,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::history::{Change, MemoryHistory};

    fn store(bodies: &[&str]) -> MemoryHistory {
        let mut s = MemoryHistory::default();
        for (i, body) in bodies.iter().enumerate() {
            let seq = i as u64 + 1;
            s.append(&StoredMessage::said(seq, 1_000 + seq, "a", body))
                .unwrap();
        }
        s
    }

    fn seqs(page: &Page) -> Vec<u64> {
        page.messages.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn scrolling_back_page_by_page_gives_every_message_once_in_order() {
        let mut s = store(&["x"; 7]);
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = older(&mut s, before, 3).unwrap();
            seen.splice(0..0, seqs(&page));
            if !page.more {
                break;
            }
            before = page.messages.first().map(|m| m.seq);
        }
        assert_eq!(seen, (1..=7).collect::<Vec<_>>());
    }

    #[test]
    fn the_last_page_says_there_is_no_more() {
        let mut s = store(&["x"; 3]);
        let page = older(&mut s, None, 3).unwrap();
        assert_eq!((seqs(&page), page.more), (vec![1, 2, 3], false));
        assert!(older(&mut s, Some(4), 2).unwrap().more);
    }

    #[test]
    fn scrollback_shows_edits_and_tombstones_as_they_are_now() {
        let mut s = store(&["one", "two"]);
        let mut gone = s.get(1).unwrap().unwrap();
        gone.body.clear();
        gone.change = Some(Change {
            rev: 3,
            ts: 9,
            deleted: true,
        });
        s.revise(&gone).unwrap();
        let mut ctx = Ctx {
            config: &crate::settings::config::Config::default(),
            store: &mut s,
            now: 5,
        };
        let d = older_frame(&mut ctx, "a", None, 10).unwrap();
        let ServerFrame::Older(page) = &d[0].frame else {
            panic!("{d:?}")
        };
        assert_eq!(d[0].to, Audience::Sender);
        assert!(page.messages[0].deleted && page.messages[0].chat.line.message.is_empty());
        assert_eq!(page.messages[1].chat.line.message, "two");
    }

    #[test]
    fn search_pages_newest_first_and_a_bad_query_is_refused() {
        let mut s = store(&["ship it", "no", "ship again", "ship more"]);
        let q = SearchQuery::parse("ship").unwrap();
        let first = search(&mut s, &q, None, 2).unwrap();
        assert_eq!((seqs(&first), first.more), (vec![4, 3], true));
        let next = search(&mut s, &q, Some(3), 2).unwrap();
        assert_eq!((seqs(&next), next.more), (vec![1], false));
        let mut ctx = Ctx {
            config: &crate::settings::config::Config::default(),
            store: &mut s,
            now: 5,
        };
        let refused = search_frame(&mut ctx, "a", " ".into(), None, 2);
        assert!(matches!(refused, Err(Refusal::BadQuery(_))));
    }
}
