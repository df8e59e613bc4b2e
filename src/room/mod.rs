//! The room's rules, free of any platform type: who gets which frame when a
//! client joins, speaks, types or leaves, and what is stored.
//!
//! The Durable Object feeds events in and carries the resulting deliveries
//! out. Everything the rules need to remember about a socket lives in its
//! [`Session`], which the object stores as the socket's hibernation
//! attachment, and in the [`HistoryStore`], so the rules work the same before
//! and after hibernation.

pub mod alarm;
pub mod kept;
pub mod mentions;
pub mod moderation;
pub mod presence;
pub mod rate_limit;
pub mod reactions;
pub mod read_state;
pub mod replies;
pub mod scrollback;
pub mod session;

use crate::settings::config::Config;
use crate::settings::limits::{MAX_FRAME_BYTES, TYPING_INTERVAL_MS};
use crate::store::history::{self, HistoryStore, Reach, StoredMessage};
use crate::wire::error::{Answer, Close, ErrorReply, Refusal, StoreError};
use moderation::Kick;

use crate::room::rate_limit::{TokenBucket, Verdict};
use crate::room::session::Session;
use crate::wire::protocol::{
    self, AckLine, ClientFrame, ErrorLine, HistoryLine, Line, ServerFrame, LEGACY_HELLO, OFFLINE,
    ONLINE,
};

/// Who receives a frame, relative to the socket the event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every open socket in the room, the event's own socket included.
    Everyone,
    /// Every open socket except the event's own.
    Others,
    /// Only the event's own socket.
    Sender,
    /// Every socket that speaks this protocol in full (connected with
    /// `batch=1`: the page, the client library), the event's own included:
    /// frames the originals' clients would show as empty messages.
    Batching,
}

/// One frame and who gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub to: Audience,
    pub frame: ServerFrame,
}

impl Delivery {
    fn new(to: Audience, frame: ServerFrame) -> Self {
        Delivery { to, frame }
    }
}

/// Everything the object must do after one event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub deliveries: Vec<Delivery>,
    /// The session changed and must be written back to the attachment.
    pub session_changed: bool,
    /// Close the sender's socket.
    pub close: Option<Close>,
    /// What failed inside the room, for the log line only.
    pub cause: Option<String>,
    /// A moderator removed a client: store the ban, close its sockets.
    pub kick: Option<Kick>,
    /// A frame for every socket of the sender's client: its tabs, kept in
    /// step (a read pointer that moved).
    pub to_tabs: Option<ServerFrame>,
}

impl Outcome {
    pub fn deliver(deliveries: Vec<Delivery>) -> Self {
        Outcome {
            deliveries,
            ..Outcome::default()
        }
    }

    /// The codes of the error frames this outcome sends: each is a refusal
    /// the room logs.
    pub fn refusal_codes(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.deliveries.iter().filter_map(|d| match &d.frame {
            ServerFrame::Error(e) => Some(e.code),
            _ => None,
        })
    }
}

/// What every rule needs: settings, storage, and the time.
pub struct Ctx<'a, S: HistoryStore> {
    pub config: &'a Config,
    pub store: &'a mut S,
    pub now: u64,
}

/// Whether the room takes `newcomer`'s socket, beside the sockets whose
/// sessions are `present`. The room's cap counts sockets; these count
/// people too: one client, and one address, may each hold only so many,
/// or one token (or, in open mode where ids are free, one machine) could
/// take every slot and multiply its send rate by its sockets. The
/// newcomer's own caps are checked first, so the answer names what it can
/// change.
pub fn admit<'a>(
    newcomer: &Session,
    present: impl IntoIterator<Item = &'a Session>,
    config: &Config,
) -> Result<(), Refusal> {
    let (mut open, mut theirs, mut from_there) = (0, 0, 0);
    for s in present {
        open += 1;
        theirs += usize::from(s.client_id == newcomer.client_id);
        from_there += usize::from(s.address == newcomer.address);
    }
    if theirs >= config.max_sockets_per_client {
        return Err(Refusal::TooManySockets);
    }
    if from_there >= config.max_sockets_per_address {
        return Err(Refusal::TooManySocketsFromAddress);
    }
    if open >= config.max_connections {
        return Err(Refusal::RoomFull);
    }
    Ok(())
}

/// A socket joined; `others` are the sessions of the sockets already in the
/// room. The newcomer gets the history it missed since `since` (the last
/// `seq` it saw, in history epoch `epoch`) and who is here; the room hears
/// of the newcomer only if this is the client's first socket.
pub fn join<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    newcomer: &Session,
    (others, relays): (&[&Session], usize),
    since: (Option<u64>, Option<&str>),
) -> Result<Vec<Delivery>, Refusal> {
    let limit = ctx.config.history_limit;
    let catch_up =
        history::catch_up(ctx.store, since, limit, Reach::Whole).map_err(Refusal::Storage)?;
    let me = Some(newcomer.client_id.as_str());
    let history = history_frame(ctx.store, &catch_up, me, ctx.now).map_err(Refusal::Storage)?;
    let presence = presence::frame(others.iter().copied().chain([newcomer]), relays, ctx.now);
    let already_online = presence::is_online(&newcomer.client_id, others.iter().copied());
    let join = ServerFrame::Join(newcomer.line(ONLINE, ctx.now));
    Ok(vec![
        Delivery::new(Audience::Sender, history),
        Delivery::new(Audience::Sender, presence),
        Delivery::new(
            if already_online {
                Audience::Sender
            } else {
                Audience::Everyone
            },
            join,
        ),
    ])
}

/// The `history` frame for what a newcomer (`me`) missed: the messages
/// with their reactions, then every change to ones it had, in `seq`
/// order.
fn history_frame<S: HistoryStore>(
    store: &mut S,
    catch_up: &history::CatchUp,
    me: Option<&str>,
    now: u64,
) -> Result<ServerFrame, StoreError> {
    let messages = kept::kept_lines(store, &catch_up.messages, me)?;
    let changes = kept::change_frames(store, catch_up, me, now)?;
    let read = match me {
        Some(me) => Some(read_state::of(store, me)?),
        None => None,
    };
    Ok(ServerFrame::History(HistoryLine {
        line: Line::server("", now),
        messages,
        changes,
        latest_seq: catch_up.latest_seq,
        truncated: catch_up.truncated,
        read,
        epoch: catch_up.epoch.clone(),
        reset: catch_up.reset,
    }))
}

/// A socket closed or failed. `remaining` are the sessions of the sockets
/// still open. The client goes offline only with its last socket.
pub fn leave(departed: &Session, remaining: &[&Session], now: u64) -> Vec<Delivery> {
    if presence::is_online(&departed.client_id, remaining.iter().copied()) {
        return Vec::new();
    }
    vec![Delivery::new(
        Audience::Others,
        ServerFrame::Leave(departed.line(OFFLINE, now)),
    )]
}

/// A text frame arrived from `session`'s socket.
pub fn receive<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    session: &mut Session,
    bucket: &mut TokenBucket,
    text: &str,
) -> Outcome {
    if text.len() > MAX_FRAME_BYTES {
        return refuse(&Refusal::FrameTooLarge, ctx.now);
    }
    let first = !session.spoke;
    session.spoke = true;
    let mut outcome = if first && text == LEGACY_HELLO {
        // The old React client's greeting: join already announced it.
        Outcome::default()
    } else {
        match rate_check(ctx, bucket).and_then(|()| protocol::parse(text)) {
            Ok(frame) => accept(ctx, session, frame),
            Err(refusal) => refuse(&refusal, ctx.now),
        }
    };
    let timeout_ms = ctx.config.idle_timeout_secs * 1000;
    outcome.session_changed |= first | note_activity(session, ctx.now, timeout_ms);
    outcome
}

/// A binary frame arrived; the protocol is text only.
pub fn receive_binary<S: HistoryStore>(ctx: &mut Ctx<'_, S>, bucket: &mut TokenBucket) -> Outcome {
    let refusal = rate_check(ctx, bucket)
        .err()
        .unwrap_or(Refusal::BinaryFrame);
    refuse(&refusal, ctx.now)
}

fn rate_check<S: HistoryStore>(ctx: &Ctx<'_, S>, bucket: &mut TokenBucket) -> Result<(), Refusal> {
    match bucket.take(ctx.now, ctx.config.rate_per_sec, ctx.config.rate_burst) {
        Verdict::Allow => Ok(()),
        Verdict::Limit { retry_after_ms } => Err(Refusal::RateLimited { retry_after_ms }),
        Verdict::Disconnect => Err(Refusal::Flooding),
    }
}

fn accept<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    session: &mut Session,
    frame: ClientFrame,
) -> Outcome {
    let result = match frame {
        ClientFrame::Chat {
            text,
            client_msg_id,
            reply_to,
        } => {
            let draft = Draft {
                text,
                client_msg_id,
                reply_to,
            };
            chat(ctx, session, draft).map(Outcome::deliver)
        }
        ClientFrame::Typing => Ok(typing(session, ctx.now)),
        ClientFrame::Delete { id } => moderation::delete(ctx, session, &id).map(Outcome::deliver),
        ClientFrame::Edit { id, text } => {
            moderation::edit(ctx, session, &id, text).map(Outcome::deliver)
        }
        ClientFrame::Kick { client_id, minutes } => {
            moderation::kick(session, client_id, minutes, ctx.now).map(|kick| Outcome {
                kick: Some(kick),
                ..Outcome::default()
            })
        }
        ClientFrame::Read { seq } => read_state::mark(ctx, session, seq),
        ClientFrame::React { id, emoji } => {
            reactions::react(ctx, session, &id, emoji).map(Outcome::deliver)
        }
        ClientFrame::Older { before, limit } => {
            scrollback::older_frame(ctx, &session.client_id, before, limit).map(Outcome::deliver)
        }
        ClientFrame::Search {
            query,
            before,
            limit,
        } => {
            let me = &session.client_id;
            scrollback::search_frame(ctx, me, query, before, limit).map(Outcome::deliver)
        }
        // The adapter already booked any news in it (crate::send::flow).
        ClientFrame::Seen => Ok(Outcome::default()),
    };
    result.unwrap_or_else(|refusal| refuse(&refusal, ctx.now))
}

/// A message as its sender wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub text: String,
    pub client_msg_id: Option<String>,
    /// The id of the message it answers.
    pub reply_to: Option<String>,
}

/// Stores a chat message, then broadcasts it. Storing first is what makes an
/// `ack` a promise: the runtime holds outgoing frames until the write is
/// durable, and a message that failed to store is never seen by anyone.
/// The HTTP API posts through it too ([`crate::http::api::post`]). A reply
/// must answer a kept message that is not deleted; its frame quotes it.
pub fn chat<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    session: &Session,
    draft: Draft,
) -> Result<Vec<Delivery>, Refusal> {
    let Draft {
        text,
        client_msg_id,
        reply_to,
    } = draft;
    check_message(&text, ctx.config.max_message_chars)?;
    if let Some(cmid) = &client_msg_id {
        let earlier = ctx
            .store
            .find(&session.client_id, cmid)
            .map_err(Refusal::Storage)?;
        if let Some(earlier) = earlier {
            // A resend after a reconnect: confirm, never store twice.
            return Ok(vec![ack(&earlier, ctx.now)]);
        }
    }
    let original = match &reply_to {
        Some(id) => Some(moderation::changeable(ctx.store, id)?),
        None => None,
    };
    let seq = ctx.store.latest_seq().map_err(Refusal::Storage)? + 1;
    let stored = StoredMessage {
        seq,
        ts: ctx.now,
        client_id: session.client_id.clone(),
        name: session.name.clone(),
        mentions: mentions::of(&text),
        body: text,
        client_msg_id,
        change: None,
        reply_to,
    };
    ctx.store.append(&stored).map_err(Refusal::Storage)?;
    let mut line = stored.to_line();
    line.reply_to = original.map(|o| replies::quote(&o.id(), Some(&o)));
    let mut deliveries = vec![Delivery::new(
        Audience::Everyone,
        ServerFrame::Message(line),
    )];
    if stored.client_msg_id.is_some() {
        deliveries.push(ack(&stored, ctx.now));
    }
    Ok(deliveries)
}

fn ack(stored: &StoredMessage, now: u64) -> Delivery {
    Delivery::new(
        Audience::Sender,
        ServerFrame::Ack(AckLine {
            line: Line::new(&stored.client_id, "", now),
            client_msg_id: stored.client_msg_id.clone().unwrap_or_default(),
            seq: stored.seq,
            id: stored.id(),
        }),
    )
}

/// Forwards a typing notice at most every [`TYPING_INTERVAL_MS`] per socket;
/// extra notices are dropped silently, as they carry nothing new.
fn typing(session: &mut Session, now: u64) -> Outcome {
    if now.saturating_sub(session.last_typing) < TYPING_INTERVAL_MS {
        return Outcome::default();
    }
    session.last_typing = now;
    Outcome {
        deliveries: vec![Delivery::new(
            Audience::Others,
            ServerFrame::Typing(session.line("", now)),
        )],
        session_changed: true,
        ..Outcome::default()
    }
}

/// Chat text must have something visible in it and fit the length limit.
pub fn check_message(text: &str, max_chars: usize) -> Result<(), Refusal> {
    if text.trim().is_empty() {
        return Err(Refusal::EmptyMessage);
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(Refusal::MessageTooLong {
            chars,
            max: max_chars,
        });
    }
    Ok(())
}

/// Whether a socket has been silent longer than the idle timeout.
///
/// Its last sign of life is the latest of: its last frame the room saw in
/// memory, its last `ping` (answered by the runtime without waking the room,
/// which keeps the time across hibernation), when it joined, and the frame
/// time saved in its session. The room forgets frame times when it
/// hibernates, and saves one only every [`ACTIVITY_SAVE_FRACTION`]th of the
/// timeout, so a saved time may be that much older than the real last frame:
/// it counts as that much later. An idle socket may so live up to a quarter
/// timeout extra after a sleep; an active one is never cut off.
pub fn is_idle(
    now: u64,
    last_frame: Option<u64>,
    last_ping: Option<u64>,
    session: &Session,
    timeout_ms: u64,
) -> bool {
    let saved =
        (session.active_at > 0).then(|| session.active_at + timeout_ms / ACTIVITY_SAVE_FRACTION);
    let last = [last_frame, last_ping, saved, Some(session.joined_at)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(session.joined_at);
    now.saturating_sub(last) > timeout_ms
}

/// How stale a saved frame time may get, as a fraction of the idle timeout.
pub const ACTIVITY_SAVE_FRACTION: u64 = 4;

/// Saves a frame at `now` as the session's sign of life when the saved one
/// is older than a quarter timeout. True when the session changed and its
/// attachment must be written: a busy socket costs one write per quarter
/// timeout, not one per frame.
pub fn note_activity(session: &mut Session, now: u64, timeout_ms: u64) -> bool {
    let stale = now.saturating_sub(session.active_at) >= timeout_ms / ACTIVITY_SAVE_FRACTION;
    if stale {
        session.active_at = now;
    }
    stale
}

/// The code to answer a client's close frame with. 1005 (no code), 1006
/// (abnormal) and 1015 (TLS) are reserved for reporting and must never be
/// sent, and anything outside the sendable ranges is answered as normal.
pub fn echo_close_code(received: usize) -> u16 {
    match u16::try_from(received) {
        Ok(code @ (1000..=1003 | 1007..=1014 | 3000..=4999)) => code,
        _ => crate::wire::error::close_code::NORMAL,
    }
}

/// Turns a refusal into what the sender receives: an error frame, a close,
/// or both (so a client learns why it was closed even if it cannot read
/// close reasons).
pub fn refuse(refusal: &Refusal, now: u64) -> Outcome {
    let Answer { frame, close } = refusal.answer();
    let error = |reply: ErrorReply| {
        Delivery::new(
            Audience::Sender,
            ServerFrame::Error(ErrorLine {
                code: reply.code,
                line: Line::server(&reply.message, now),
                retry_after_ms: reply.retry_after_ms,
            }),
        )
    };
    Outcome {
        deliveries: frame.map(error).into_iter().collect(),
        close,
        cause: refusal.cause().map(str::to_owned),
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::history::MemoryHistory;

    const NOW: u64 = 1_700_000_000_000;

    struct Fixture {
        config: Config,
        store: MemoryHistory,
        bucket: TokenBucket,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                config: Config::default(),
                store: MemoryHistory::default(),
                bucket: TokenBucket::full(1_000, NOW),
            }
        }

        fn ctx(&mut self) -> Ctx<'_, MemoryHistory> {
            Ctx {
                config: &self.config,
                store: &mut self.store,
                now: NOW,
            }
        }

        fn send(&mut self, session: &mut Session, text: &str) -> Outcome {
            let mut bucket = self.bucket.clone();
            let out = receive(&mut self.ctx(), session, &mut bucket, text);
            self.bucket = bucket;
            out
        }

        fn join(&mut self, s: &Session, others: &[&Session], since: Option<u64>) -> Vec<Delivery> {
            join(&mut self.ctx(), s, (others, 0), (since, None)).expect("join")
        }
    }

    fn session(id: &str) -> Session {
        Session::of(id, None)
    }

    fn only(deliveries: &[Delivery]) -> &Delivery {
        assert_eq!(deliveries.len(), 1, "{deliveries:?}");
        &deliveries[0]
    }

    fn error_code(outcome: &Outcome) -> &'static str {
        match &only(&outcome.deliveries).frame {
            ServerFrame::Error(e) => e.code,
            other => panic!("expected an error frame, got {other:?}"),
        }
    }

    fn chat_seq(d: &Delivery) -> u64 {
        match &d.frame {
            ServerFrame::Message(m) => m.seq,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn newcomer_gets_history_then_presence_then_everyone_gets_its_join() {
        let mut f = Fixture::new();
        let mut alice = session("alice");
        f.send(&mut alice, "earlier");
        let d = f.join(&session("bob"), &[&alice], None);
        assert!(
            matches!(&d[0].frame, ServerFrame::History(h) if h.messages.len() == 1 && h.latest_seq == 1)
        );
        assert_eq!(d[0].to, Audience::Sender);
        match &d[1].frame {
            ServerFrame::Presence(p) => {
                assert_eq!(p.count, 2);
                assert_eq!(p.members[0].client_id, "alice");
            }
            other => panic!("expected presence, got {other:?}"),
        }
        assert_eq!(d[2].to, Audience::Everyone);
        assert_eq!(
            d[2].frame,
            ServerFrame::Join(Line::new("bob", "Online", NOW))
        );
    }

    #[test]
    fn a_second_tab_of_an_online_client_is_told_alone() {
        let mut f = Fixture::new();
        let d = f.join(&session("bob"), &[&session("alice"), &session("bob")], None);
        assert_eq!(d[2].to, Audience::Sender);
        assert!(matches!(&d[1].frame, ServerFrame::Presence(p) if p.count == 2));
    }

    #[test]
    fn leave_goes_to_the_others_with_offline() {
        let d = leave(&session("bob"), &[&session("alice")], NOW);
        let d = only(&d);
        assert_eq!(d.to, Audience::Others);
        assert_eq!(
            d.frame,
            ServerFrame::Leave(Line::new("bob", "Offline", NOW))
        );
    }

    #[test]
    fn closing_one_of_two_tabs_announces_nothing() {
        assert!(leave(&session("bob"), &[&session("bob")], NOW).is_empty());
    }

    #[test]
    fn raw_text_is_stored_and_broadcast_with_consecutive_seqs() {
        let mut f = Fixture::new();
        let mut alice = session("alice");
        let first = f.send(&mut alice, "hello");
        let second = f.send(&mut alice, "again");
        assert_eq!(only(&first.deliveries).to, Audience::Everyone);
        assert_eq!(chat_seq(only(&first.deliveries)), 1);
        assert_eq!(chat_seq(only(&second.deliveries)), 2);
        assert_eq!(f.store.latest_seq().unwrap(), 2);
    }

    #[test]
    fn client_msg_id_gets_an_ack_and_a_resend_is_not_stored_twice() {
        let mut f = Fixture::new();
        let mut alice = session("alice");
        let frame = r#"{"type":"message","message":"once","clientMsgId":"c1"}"#;
        let out = f.send(&mut alice, frame);
        assert_eq!(out.deliveries.len(), 2);
        assert!(
            matches!(&out.deliveries[1].frame, ServerFrame::Ack(a) if a.seq == 1 && a.client_msg_id == "c1")
        );
        assert_eq!(out.deliveries[1].to, Audience::Sender);
        let again = f.send(&mut alice, frame);
        let d = only(&again.deliveries);
        assert_eq!(d.to, Audience::Sender);
        assert!(matches!(&d.frame, ServerFrame::Ack(a) if a.seq == 1));
        assert_eq!(f.store.latest_seq().unwrap(), 1);
    }

    #[test]
    fn the_same_client_msg_id_from_another_client_is_a_new_message() {
        let mut f = Fixture::new();
        let frame = r#"{"type":"message","message":"x","clientMsgId":"c1"}"#;
        f.send(&mut session("alice"), frame);
        f.send(&mut session("bob"), frame);
        assert_eq!(f.store.latest_seq().unwrap(), 2);
    }

    #[test]
    fn since_catches_a_reconnecting_client_up_exactly() {
        let mut f = Fixture::new();
        let mut alice = session("alice");
        for i in 0..5 {
            f.send(&mut alice, &format!("m{i}"));
        }
        let d = f.join(&session("bob"), &[], Some(3));
        match &d[0].frame {
            ServerFrame::History(h) => {
                let seqs: Vec<u64> = h.messages.iter().map(|m| m.chat.seq).collect();
                assert_eq!(seqs, [4, 5]);
                assert!(!h.truncated);
            }
            other => panic!("expected history, got {other:?}"),
        }
    }

    #[test]
    fn history_keeps_only_the_configured_window() {
        let mut f = Fixture::new();
        f.config.history_limit = 3;
        let mut alice = session("alice");
        for i in 0..10 {
            f.send(&mut alice, &format!("m{i}"));
        }
        let d = f.join(&session("bob"), &[], Some(2));
        assert!(
            matches!(&d[0].frame, ServerFrame::History(h) if h.truncated && h.messages.len() == 3)
        );
    }

    #[test]
    fn connect_as_first_frame_is_a_greeting_not_chat() {
        let mut f = Fixture::new();
        let mut s = session("alice");
        let out = f.send(&mut s, "Connect");
        assert!(out.deliveries.is_empty());
        assert!(out.session_changed, "the first frame must be remembered");
        assert_eq!(f.store.latest_seq().unwrap(), 0);
    }

    #[test]
    fn connect_after_the_first_frame_is_chat() {
        let mut f = Fixture::new();
        let mut s = session("alice");
        f.send(&mut s, "hi");
        let out = f.send(&mut s, "Connect");
        assert_eq!(only(&out.deliveries).to, Audience::Everyone);
        assert!(!out.session_changed);
    }

    #[test]
    fn typing_goes_to_the_others_at_most_every_interval() {
        let mut f = Fixture::new();
        let mut s = session("alice");
        s.spoke = true;
        let out = f.send(&mut s, r#"{"type":"typing"}"#);
        let d = only(&out.deliveries);
        assert_eq!(d.to, Audience::Others);
        assert!(matches!(d.frame, ServerFrame::Typing(_)));
        assert!(out.session_changed);
        assert!(f.send(&mut s, r#"{"type":"typing"}"#).deliveries.is_empty());
        assert_eq!(f.store.latest_seq().unwrap(), 0, "typing is never stored");
    }

    #[test]
    fn whitespace_only_message_is_refused_to_the_sender() {
        let mut f = Fixture::new();
        let out = f.send(&mut session("alice"), " \n\t ");
        assert_eq!(error_code(&out), "empty_message");
        assert_eq!(out.close, None);
        assert_eq!(f.store.latest_seq().unwrap(), 0);
    }

    #[test]
    fn message_at_the_limit_is_accepted_and_one_over_is_refused() {
        let mut f = Fixture::new();
        let mut s = session("alice");
        let at = "é".repeat(f.config.max_message_chars);
        assert_eq!(only(&f.send(&mut s, &at).deliveries).to, Audience::Everyone);
        let over = "é".repeat(f.config.max_message_chars + 1);
        assert_eq!(error_code(&f.send(&mut s, &over)), "message_too_long");
    }

    #[test]
    fn a_frame_far_over_the_limit_closes_with_1009() {
        let mut f = Fixture::new();
        let out = f.send(&mut session("alice"), &"x".repeat(MAX_FRAME_BYTES + 1));
        assert_eq!(out.close.map(|c| c.code), Some(1009));
    }

    #[test]
    fn flooding_is_limited_then_disconnected() {
        let mut f = Fixture::new();
        f.bucket = TokenBucket::full(2, NOW);
        let mut s = session("alice");
        s.spoke = true;
        assert!(f.send(&mut s, "1").close.is_none());
        assert!(f.send(&mut s, "2").close.is_none());
        let limited = f.send(&mut s, "3");
        assert_eq!(error_code(&limited), "rate_limited");
        let closed = (0..100).find_map(|_| f.send(&mut s, "x").close);
        assert_eq!(closed.map(|c| c.code), Some(1008));
        assert_eq!(
            f.store.latest_seq().unwrap(),
            2,
            "only the accepted were stored"
        );
    }

    #[test]
    fn malformed_json_is_refused_and_the_socket_kept() {
        let mut f = Fixture::new();
        let out = f.send(&mut session("alice"), "{oops");
        assert_eq!(error_code(&out), "malformed_json");
        assert_eq!(out.close, None);
    }

    #[test]
    fn binary_frames_are_refused_with_an_error_frame() {
        let mut f = Fixture::new();
        let mut bucket = TokenBucket::full(5, NOW);
        let out = receive_binary(&mut f.ctx(), &mut bucket);
        assert_eq!(error_code(&out), "binary_unsupported");
    }

    /// A socket of `id` from `address`.
    fn from(id: &str, address: &str) -> Session {
        Session {
            address: address.into(),
            ..session(id)
        }
    }

    #[test]
    fn a_full_room_refuses_with_1013() {
        let config = Config {
            max_connections: 2,
            ..Config::default()
        };
        let (a, b) = (from("a", "1.1.1.1"), from("b", "2.2.2.2"));
        let c = from("c", "3.3.3.3");
        assert_eq!(admit(&c, [&a], &config), Ok(()));
        assert_eq!(admit(&c, [&a, &b], &config), Err(Refusal::RoomFull));
        let out = refuse(&Refusal::RoomFull, NOW);
        assert_eq!(error_code(&out), "room_full");
        assert_eq!(out.close.map(|c| c.code), Some(1013));
    }

    #[test]
    fn one_client_holds_at_most_its_share_of_sockets_and_others_still_join() {
        let config = Config::default();
        let tabs: Vec<Session> = (0..config.max_sockets_per_client)
            .map(|i| from("alice", &format!("10.0.0.{i}")))
            .collect();
        let present = || tabs.iter().skip(1);
        assert_eq!(admit(&tabs[0], present(), &config), Ok(()), "one under");
        let one_more = from("alice", "10.0.1.1");
        assert_eq!(
            admit(&one_more, &tabs, &config),
            Err(Refusal::TooManySockets),
            "from any address"
        );
        assert_eq!(admit(&from("bob", "10.0.0.1"), &tabs, &config), Ok(()));
        let out = refuse(&Refusal::TooManySockets, NOW);
        assert_eq!(error_code(&out), "too_many_sockets");
        assert_eq!(out.close.map(|c| c.code), Some(1008));
    }

    #[test]
    fn one_address_holds_at_most_its_share_whatever_ids_it_claims() {
        let config = Config {
            max_sockets_per_address: 3,
            ..Config::default()
        };
        let liars: Vec<Session> = (0..3).map(|i| from(&format!("id{i}"), "6.6.6.6")).collect();
        let next = from("id3", "6.6.6.6");
        assert_eq!(admit(&next, &liars[..2], &config), Ok(()));
        assert_eq!(
            admit(&next, &liars, &config),
            Err(Refusal::TooManySocketsFromAddress)
        );
        assert_eq!(admit(&from("id3", "7.7.7.7"), &liars, &config), Ok(()));
        // Attachments from before the cap have no address: they count for none.
        let old = [session("a"), session("b"), session("c")];
        assert_eq!(admit(&next, &old, &config), Ok(()));
        let out = refuse(&Refusal::TooManySocketsFromAddress, NOW);
        assert_eq!(error_code(&out), "too_many_sockets_from_address");
    }

    #[test]
    fn idleness_counts_from_the_latest_sign_of_life() {
        let t = 1_000;
        let joined = |at| Session {
            joined_at: at,
            ..session("a")
        };
        assert!(!is_idle(5_000, Some(4_500), None, &joined(0), t));
        assert!(is_idle(5_000, Some(3_000), None, &joined(0), t));
        assert!(
            !is_idle(5_000, Some(3_000), Some(4_800), &joined(0), t),
            "a ping counts"
        );
        assert!(
            !is_idle(5_000, None, None, &joined(4_500), t),
            "so does joining"
        );
        assert!(is_idle(5_000, None, None, &joined(0), t));
    }

    #[test]
    fn a_room_woken_from_sleep_judges_by_the_saved_frame_time() {
        // The room slept: no frame time in memory, only the saved one.
        let t = 4_000;
        let mut s = session("a");
        s.active_at = 10_000;
        // Saved at most a quarter timeout late, so it counts as 11,000.
        assert!(!is_idle(15_000, None, None, &s, t), "never early");
        assert!(is_idle(15_001, None, None, &s, t), "at most a quarter late");
        s.active_at = 0;
        assert!(
            is_idle(15_001, None, None, &s, t),
            "nothing saved: joined at 0"
        );
    }

    #[test]
    fn a_frame_time_is_saved_once_per_quarter_timeout() {
        let mut s = session("a");
        assert!(note_activity(&mut s, 10_000, 4_000), "the first frame");
        assert!(!note_activity(&mut s, 10_999, 4_000));
        assert_eq!(s.active_at, 10_000);
        assert!(note_activity(&mut s, 11_000, 4_000));
        assert_eq!(s.active_at, 11_000);
    }

    #[test]
    fn close_codes_are_echoed_unless_reserved() {
        assert_eq!(echo_close_code(1000), 1000);
        assert_eq!(echo_close_code(1001), 1001);
        assert_eq!(echo_close_code(4000), 4000);
        assert_eq!(echo_close_code(1005), 1000);
        assert_eq!(echo_close_code(1006), 1000);
        assert_eq!(echo_close_code(70_000), 1000);
    }

    #[test]
    fn a_storage_failure_closes_with_1011_and_keeps_its_cause_for_the_log() {
        let mut store = crate::store::history::FailingHistory::default();
        let config = Config::default();
        let mut ctx = Ctx {
            config: &config,
            store: &mut store,
            now: NOW,
        };
        let mut bucket = TokenBucket::full(5, NOW);
        let out = receive(&mut ctx, &mut session("alice"), &mut bucket, "hi");
        assert_eq!(out.close, Some(crate::wire::error::INTERNAL_CLOSE));
        assert!(out.deliveries.is_empty(), "clients never see the cause");
        assert_eq!(out.cause.as_deref(), Some("disk full"));
        ctx.store.fail_reads = true;
        let joined = join(&mut ctx, &session("bob"), (&[], 0), (None, None)).unwrap_err();
        assert_eq!(joined.cause(), Some("disk I/O error"));
    }

    #[test]
    fn edit_delete_and_kick_frames_reach_their_rules() {
        let mut f = Fixture::new();
        let mut alice = session("alice");
        let id = match &only(&f.send(&mut alice, "hi").deliveries).frame {
            ServerFrame::Message(m) => m.id.clone(),
            other => panic!("expected a message, got {other:?}"),
        };
        let edit = serde_json::json!({"type": "edit", "id": id, "message": "hey"});
        let out = f.send(&mut alice, &edit.to_string());
        assert!(matches!(&only(&out.deliveries).frame, ServerFrame::Edit(e) if e.seq == 2));
        let delete = serde_json::json!({"type": "delete", "id": id}).to_string();
        assert_eq!(
            error_code(&f.send(&mut session("bob"), &delete)),
            "not_author"
        );
        let kick = r#"{"type":"kick","clientId":"bob","minutes":1}"#;
        assert_eq!(error_code(&f.send(&mut alice, kick)), "not_moderator");
        let mut moderator = session("mod");
        moderator.role = crate::access::auth::Role::Moderator;
        let out = f.send(&mut moderator, kick);
        assert_eq!(out.kick.map(|k| k.until), Some(NOW + 60_000));
        assert!(out.deliveries.is_empty() && out.close.is_none());
    }

    #[test]
    fn internal_refusal_closes_without_frames() {
        let out = refuse(&Refusal::Internal, NOW);
        assert!(out.deliveries.is_empty());
        assert_eq!(out.close, Some(crate::wire::error::INTERNAL_CLOSE));
        assert_eq!(out.cause, None);
    }
}
