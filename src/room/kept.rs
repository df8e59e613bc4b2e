//! Kept messages as every reader gets them (history, scrollback, search,
//! the API, an export): the text as it is now or a tombstone, each
//! message's reactions with `mine` for the reader, and a reply's quote of
//! its original as the original is now.

use std::collections::HashMap;

use crate::room::{reactions, replies};
use crate::store::history::{CatchUp, HistoryStore, StoredMessage};
use crate::wire::error::StoreError;
use crate::wire::protocol::{KeptLine, ServerFrame};

/// `messages` as history shows them, for `me` when the answer is for one
/// client. One read for the reactions of them all, and one per reply.
pub fn kept_lines<S: HistoryStore>(
    store: &mut S,
    messages: &[StoredMessage],
    me: Option<&str>,
) -> Result<Vec<KeptLine>, StoreError> {
    let mut kept: Vec<KeptLine> = messages.iter().map(StoredMessage::to_kept).collect();
    let at: HashMap<u64, usize> = (kept.iter().enumerate())
        .map(|(i, k)| (k.chat.seq, i))
        .collect();
    let seqs: Vec<u64> = kept
        .iter()
        .filter(|k| !k.deleted)
        .map(|k| k.chat.seq)
        .collect();
    for (seq, count) in store.reactions(&seqs, me)? {
        if let Some(&i) = at.get(&seq) {
            kept[i].reactions.push(count);
        }
    }
    for (line, msg) in kept.iter_mut().zip(messages) {
        let Some(id) = msg.reply_to.as_deref().filter(|_| !msg.deleted()) else {
            continue;
        };
        let original = match StoredMessage::seq_of_id(id) {
            Some(seq) => store.get(seq)?,
            None => None,
        };
        line.chat.reply_to = Some(replies::quote(id, original.as_ref()));
    }
    Ok(kept)
}

/// A catch-up's `changes` for `me`: the `edit`, `delete` and `reactions`
/// frames of messages the client already had, in `seq` order, as a
/// socket's history and an HTTP page both carry them.
pub fn change_frames<S: HistoryStore>(
    store: &mut S,
    catch_up: &CatchUp,
    me: Option<&str>,
    now: u64,
) -> Result<Vec<ServerFrame>, StoreError> {
    let mut changes: Vec<ServerFrame> = (catch_up.changes.iter())
        .filter_map(StoredMessage::change_frame)
        .collect();
    changes.extend(reactions::catch_up_frames(
        store,
        &catch_up.reacted,
        me,
        now,
    )?);
    changes.sort_by_key(|f| match f {
        ServerFrame::Edit(c) | ServerFrame::Delete(c) => c.seq,
        ServerFrame::Reactions(r) => r.seq,
        _ => 0,
    });
    Ok(changes)
}
