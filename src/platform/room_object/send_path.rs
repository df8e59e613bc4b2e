//! The send path's state and its executor: the coalescer's held broadcasts,
//! the messages waiting to be written, and the code that carries out a
//! [`fanout`] plan step by step, booking every frame with [`crate::send::flow`]
//! and closing the sockets that fell too far behind.
//!
//! It is shared (`Rc`) with the flush timer, which runs outside any event;
//! so announcing a departure lives here too, since a flush can close a
//! socket that is too slow.

use std::cell::RefCell;
use std::rc::Rc;

use worker::{js_sys, WebSocket};

use super::alarm_clock::AlarmClock;
use super::js::{now, send, text};
use super::relays::Relays;
use super::sockets::Sockets;
use super::webhooks::Webhooks;
use crate::platform::log::emit;
use crate::platform::sqlite::Db;
use crate::room;
use crate::room::presence::{self, Crowd};
use crate::room::session::Session;
use crate::send::coalesce::{self, Coalescer, Held, To};
use crate::send::fanout::{self, Step};
use crate::send::flow::{self, Flow, Meter, Overdrawn};
use crate::send::roster::{Connection, Roster};
use crate::settings::limits::CROWD_NOTICE_MS;
use crate::store::retention::Tally;
use crate::store::write_behind::WriteBehind;
use crate::wire::error::{INTERNAL_CLOSE, TOO_SLOW_CLOSE};
use crate::wire::log_line::LogLine;
use crate::wire::protocol;

pub(super) struct SendPath {
    pub(super) sockets: Sockets,
    /// The room's sockets on relay objects, and the queues to them.
    pub(super) relays: Relays,
    pub(super) db: Db,
    /// Held broadcasts, naming sockets by connection key.
    pub(super) coalescer: RefCell<Coalescer<u64>>,
    pub(super) behind: RefCell<WriteBehind>,
    /// Webhook events, written in the same commit as their messages; `None`
    /// when webhooks are off.
    pub(super) webhooks: Option<Webhooks>,
    /// Messages kept, counted as they are written, and the most the room
    /// keeps: past it, the alarm is called to prune.
    pub(super) tally: RefCell<Tally>,
    pub(super) retain_max: u64,
    /// Join and leave notices held in a crowded room, and from how many
    /// sockets a room is crowded.
    pub(super) crowd: RefCell<Crowd>,
    pub(super) group_at: usize,
    pub(super) clock: Rc<AlarmClock>,
}

/// Where the socket an event came from lives.
#[derive(Clone, Copy)]
pub(super) enum Peer<'a> {
    /// On the room's own object.
    Here(&'a WebSocket),
    /// On this relay ([`crate::send::relay`]).
    Relay(u32),
}

/// The event's socket, if it has one (the API and timers do not), and its
/// connection key.
pub(super) type Sender<'a> = (Option<Peer<'a>>, u64);

impl SendPath {
    /// Hands an event's `deliveries` to the webhooks, then plans and sends
    /// them (and `close`, for the sender) from the socket keyed `conn`. Every
    /// path that tells the room something comes through here, so a backend
    /// hears exactly what the sockets hear. False as for [`Self::execute`].
    pub(super) fn deliver(
        self: &Rc<Self>,
        sender: Sender<'_>,
        room: &str,
        mut deliveries: Vec<room::Delivery>,
        close: Option<crate::wire::error::Close>,
    ) -> bool {
        if let Some(hooks) = &self.webhooks {
            hooks.note(room, &deliveries);
        }
        let sockets = self.sockets.roster().len() + self.relays.seats.borrow().members();
        let crowd = self
            .crowd
            .borrow_mut()
            .absorb(&mut deliveries, sockets, self.group_at);
        if crowd {
            self.arm_crowd_timer(room);
        }
        let mut coalescer = self.coalescer.borrow_mut();
        let steps = fanout::plan(
            &sender.1,
            deliveries,
            close,
            &mut coalescer,
            (now(), sockets),
        );
        // Executing may flush, which borrows the coalescer again.
        drop(coalescer);
        self.execute(sender, steps)
    }

    /// Carries out `steps` in order; `sender` is the event's socket. Returns
    /// false if a write failed: then nothing after it is carried out,
    /// because it may mention a message that was never written.
    pub(super) fn execute(self: &Rc<Self>, sender: Sender<'_>, steps: Vec<Step<u64>>) -> bool {
        let mut over = Overdrawn::default();
        for step in steps {
            match step {
                Step::Commit if !self.commit() => return false,
                Step::Commit => {}
                Step::ToSender(json) => match sender {
                    (Some(Peer::Here(ws)), key) => self.to_sender(ws, key, &json, &mut over),
                    (Some(Peer::Relay(index)), key) => self.to_relay_sender(index, key, json),
                    (None, _) => {}
                },
                Step::Release(held) => {
                    release(&mut self.sockets.books(), &held, &mut over, now());
                    self.release_to_relays(&held);
                }
                Step::ArmFlushTimer(delay_ms) => self.arm_flush_timer(delay_ms),
                // A socket that is already closing cannot be closed again;
                // there is nobody left to tell.
                Step::CloseSender(close) => match sender {
                    (Some(Peer::Here(ws)), _) => {
                        let _ = ws.close(Some(close.code), Some(close.reason));
                    }
                    (Some(Peer::Relay(index)), key) => self.close_on_relay(index, key, close),
                    (None, _) => {}
                },
            }
        }
        self.close_overdrawn(over);
        true
    }

    /// Takes `ws` out of the room and tells the others, once.
    pub(super) fn depart(self: &Rc<Self>, ws: &WebSocket) {
        let Some(session) = self.sockets.depart(ws) else {
            return;
        };
        self.announce_leave(&session, Some(Peer::Here(ws)));
        self.sockets.forget_closed();
    }

    /// Tells the room `session`'s socket left, if it was its client's last.
    pub(super) fn announce_leave(self: &Rc<Self>, session: &Session, peer: Option<Peer<'_>>) {
        let at = now();
        let deliveries =
            self.with_sessions(Some(session.conn), |rest| room::leave(session, rest, at));
        let line = LogLine::info("disconnected").room(&session.room);
        emit(line.client(&session.client_id));
        self.deliver((peer, session.conn), &session.room, deliveries, None);
    }

    /// Runs `f` over the sessions of every socket in the room, on its own
    /// object and on its relays, but the one keyed `except`.
    pub(super) fn with_sessions<R>(
        &self,
        except: Option<u64>,
        f: impl FnOnce(&[&Session]) -> R,
    ) -> R {
        let here = self.sockets.roster();
        let there = self.relays.members.borrow();
        let all: Vec<&Session> = (here.iter().map(|m| &m.session))
            .chain(there.iter().map(|m| &m.session))
            .filter(|s| Some(s.conn) != except)
            .collect();
        f(&all)
    }

    fn to_sender(&self, ws: &WebSocket, key: u64, json: &str, over: &mut Overdrawn<u64>) {
        let now = now();
        let mut books = self.sockets.books();
        let booked = books.with_meter(key, |flow, meter| {
            (!meter.is_cut()).then(|| book(flow, meter, (key, json.len(), now), over))
        });
        match booked {
            // Not a member (a refused socket, say): nothing to book.
            None => send(ws, &text(json)),
            Some(None) | Some(Some(Booked::Cut)) => {}
            Some(Some(Booked::Send(mark))) => {
                send(ws, &text(json));
                if let Some(mark) = mark {
                    books.with_meter(key, |flow, meter| {
                        send_mark(ws, flow, meter, (key, mark, now), over)
                    });
                }
            }
        }
    }

    /// Closes the sockets a send put over their budget, then, if the room
    /// is over its own, the plain sockets with the biggest backlogs.
    fn close_overdrawn(self: &Rc<Self>, over: Overdrawn<u64>) {
        let mut closing: Vec<(u64, &str)> = (over.sockets.into_iter())
            .map(|key| (key, flow::SOCKET_BUDGET))
            .collect();
        if over.room {
            closing.extend(self.evict().into_iter().map(|key| (key, flow::ROOM_BUDGET)));
        }
        for (key, why) in closing {
            self.close_too_slow(key, why);
        }
    }

    /// Picks and marks the sockets to close for the room's budget.
    fn evict(&self) -> Vec<u64> {
        self.sockets.books().evict(now())
    }

    fn close_too_slow(self: &Rc<Self>, key: u64, why: &str) {
        let Some(member) = self.sockets.roster().get(key).cloned() else {
            return;
        };
        let close = TOO_SLOW_CLOSE;
        let _ = member.socket.close(Some(close.code), Some(close.reason));
        let line = LogLine::warn("closed_by_room").room(&member.session.room);
        let line = line.client(&member.session.client_id);
        emit(line.close(close.code, close.reason).detail(why));
        self.depart(&member.socket);
    }

    /// Writes what waits, then sends what is held. False if storage failed.
    pub(super) fn flush(self: &Rc<Self>) -> bool {
        let steps = fanout::flush(&mut self.coalescer.borrow_mut(), now());
        self.execute((None, 0), steps)
    }

    /// A crowded room's grouped join and leave notice goes out
    /// [`CROWD_NOTICE_MS`] after the first it counted.
    fn arm_crowd_timer(self: &Rc<Self>, room: &str) {
        let (path, room) = (Rc::clone(self), room.to_owned());
        worker::wasm_bindgen_futures::spawn_local(async move {
            worker::Delay::from(std::time::Duration::from_millis(CROWD_NOTICE_MS)).await;
            let count = path.with_sessions(None, |all| presence::count(all.iter().copied()));
            let relays = path.relays.seats.borrow().count();
            let notice = path.crowd.borrow_mut().notice(count, relays, now());
            if let Some(notice) = notice {
                path.deliver((None, 0), &room, vec![notice], None);
            }
        });
    }

    fn arm_flush_timer(self: &Rc<Self>, delay_ms: u64) {
        let outbox = Rc::clone(self);
        worker::wasm_bindgen_futures::spawn_local(async move {
            worker::Delay::from(std::time::Duration::from_millis(delay_ms)).await;
            outbox.flush();
        });
    }

    /// After a rule: a read that had to write the waiting messages first
    /// (history, a page, a reaction) wrote them without their webhook
    /// events, so those are written now, in the same event, and the runtime
    /// commits both at once.
    pub(super) fn settle(&self) {
        let orphaned = self.webhooks.as_ref().is_some_and(|w| w.has_pending());
        if orphaned && self.behind.borrow().is_empty() {
            self.commit();
        }
    }

    /// Writes every waiting message. On failure nothing held may go out, so
    /// it is dropped, and every socket is closed: each client reconnects,
    /// gets history as it truly is, and resends what was never acknowledged.
    ///
    /// Webhook events are written right after their messages, in the same
    /// event with no await between, so the runtime commits both at once:
    /// an event exists exactly when its message does.
    fn commit(&self) -> bool {
        let events = self.webhooks.as_ref().filter(|w| w.has_pending());
        if self.behind.borrow().is_empty() && events.is_none() {
            return true;
        }
        let mut sql = self.db.messages();
        let written = self.behind.borrow_mut().commit(&mut sql);
        if let Ok(n) = written {
            if self.tally.borrow_mut().wrote(n as u64, self.retain_max) {
                self.clock.wake_by(now());
            }
        }
        let written = match (written, events) {
            (Ok(_), Some(hooks)) => hooks.write(&mut self.db.events()),
            (Ok(_), None) => Ok(()),
            (Err(err), _) => Err(err),
        };
        let Err(err) = written else {
            return true;
        };
        if let Some(hooks) = &self.webhooks {
            hooks.discard();
        }
        emit(LogLine::error("store_failed").detail(&err.0));
        self.coalescer.borrow_mut().flush(now());
        self.sockets.close_all(INTERNAL_CLOSE);
        false
    }
}

/// A frame as a JavaScript string, with its UTF-8 length for the books.
type Frame = (js_sys::JsString, usize);

/// Sends released frames to every member they are meant for: a plain socket
/// gets each as its own frame, a batch socket gets them packed. Each frame
/// becomes a JavaScript string once, however many sockets get it. Every
/// frame is booked; a socket put over its budget gets nothing more.
pub(crate) fn release(
    roster: &mut Roster<WebSocket>,
    held: &[Held<u64>],
    over: &mut Overdrawn<u64>,
    now: u64,
) {
    // Built on first use: a room of batch sockets only never needs them.
    let mut frames: Option<Vec<Frame>> = None;
    let mut common = None;
    let (members, flow) = roster.books();
    for member in members.iter_mut().filter(|m| !m.meter.is_cut()) {
        let (key, batch) = (member.session.conn, member.session.batch);
        let mut deliver = |frame: &Frame| deliver_to(member, flow, frame, now, over);
        if !batch {
            let frames = frames.get_or_insert_with(|| {
                held.iter().map(|h| (text(&h.json), h.json.len())).collect()
            });
            let mut mine = held
                .iter()
                .zip(frames.iter())
                .filter(|(h, _)| h.to.includes(&key) && h.to != To::Batching);
            let _ = mine.try_for_each(|(_, frame)| deliver(frame).then_some(()));
            continue;
        }
        let own;
        let packs = if held.iter().all(|h| !h.to.names(&key)) {
            common.get_or_insert_with(|| packed(&coalesce::frames_for_unnamed(held)))
        } else {
            own = packed(&coalesce::frames_for(held, &key));
            &own
        };
        let _ = packs
            .iter()
            .try_for_each(|frame| deliver(frame).then_some(()));
    }
}

/// Books and sends one frame to `member`, and a mark after it if one is
/// due. False once the member is cut: it gets nothing more.
fn deliver_to(
    member: &mut Connection<WebSocket>,
    flow: &mut Flow,
    frame: &Frame,
    now: u64,
    over: &mut Overdrawn<u64>,
) -> bool {
    let key = member.session.conn;
    match book(flow, &mut member.meter, (key, frame.1, now), over) {
        Booked::Cut => false,
        Booked::Send(mark) => {
            send(&member.socket, &frame.0);
            if let Some(mark) = mark {
                send_mark(
                    &member.socket,
                    flow,
                    &mut member.meter,
                    (key, mark, now),
                    over,
                );
            }
            true
        }
    }
}

/// What booking a frame said to do with it.
enum Booked {
    /// The socket is over its budget: send it nothing more.
    Cut,
    /// Send the frame, then this mark if there is one.
    Send(Option<u64>),
}

/// Books a frame of `bytes` for the socket `key` at `now`.
fn book(
    flow: &mut Flow,
    meter: &mut Meter,
    (key, bytes, now): (u64, usize, u64),
    over: &mut Overdrawn<u64>,
) -> Booked {
    let sent = flow.sent(meter, bytes, now);
    match over.note(key, sent) {
        true => Booked::Cut,
        false => Booked::Send(sent.mark),
    }
}

/// Sends `mark` to a socket that proves its reading, right after the frame
/// that made it due, and books it like any frame.
fn send_mark(
    ws: &WebSocket,
    flow: &mut Flow,
    meter: &mut Meter,
    (key, mark, now): (u64, u64, u64),
    over: &mut Overdrawn<u64>,
) {
    let json = protocol::mark_frame(mark);
    let sent = flow.sent(meter, json.len(), now);
    over.note(key, sent);
    send(ws, &text(&json));
}

/// Frames packed for sending: a lone frame as itself, several as `batch`
/// frames of at most [`coalesce::MAX_BATCH_BYTES`] each.
fn packed(frames: &[&str]) -> Vec<Frame> {
    coalesce::runs(frames, coalesce::MAX_BATCH_BYTES)
        .into_iter()
        .map(|run| match run {
            [one] => (text(one), one.len()),
            many => {
                let json = protocol::batch_json(many, now());
                (text(&json), json.len())
            }
        })
        .collect()
}
