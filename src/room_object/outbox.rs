//! The send path's state and its executor: the coalescer's held broadcasts,
//! the messages waiting to be written, and the code that carries out a
//! [`fanout`] plan step by step.
//!
//! It is shared (`Rc`) with the flush timer, which runs outside any event.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use worker::{js_sys, SqlStorage, WebSocket};

use super::js::{now, send, text};
use super::sockets::Sockets;
use super::webhooks::Webhooks;
use crate::coalesce::{self, Coalescer, Held};
use crate::error::INTERNAL_CLOSE;
use crate::fanout::{self, Step};
use crate::log::LogLine;
use crate::protocol;
use crate::roster::Roster;
use crate::sql_history::SqlHistory;
use crate::worker_entry::emit;
use crate::write_behind::WriteBehind;

pub(super) struct Outbox {
    pub(super) sockets: Sockets,
    pub(super) sql: SqlStorage,
    /// Held broadcasts, naming sockets by connection key.
    pub(super) coalescer: RefCell<Coalescer<u64>>,
    pub(super) behind: RefCell<WriteBehind>,
    /// Webhook events, written in the same commit as their messages; `None`
    /// when webhooks are off.
    pub(super) webhooks: Option<Webhooks>,
    /// When the pending alarm fires, if this instance knows. It saves a
    /// storage read on every join, and a write on every commit of webhook
    /// events; a new instance starts without it and asks storage once.
    pub(super) alarm_at: Cell<Option<u64>>,
}

impl Outbox {
    /// Carries out `steps` in order; `sender` is the event's socket. Returns
    /// false if a write failed: then nothing after it is carried out,
    /// because it may mention a message that was never written.
    pub(super) fn execute(
        self: &Rc<Self>,
        sender: Option<&WebSocket>,
        steps: Vec<Step<u64>>,
    ) -> bool {
        for step in steps {
            match step {
                Step::Commit if !self.commit() => return false,
                Step::Commit => {}
                Step::ToSender(json) => sender.iter().for_each(|ws| send(ws, &text(&json))),
                Step::Release(held) => release(&self.sockets.roster(), &held),
                Step::ArmFlushTimer(delay_ms) => self.arm_flush_timer(delay_ms),
                // A socket that is already closing cannot be closed again;
                // there is nobody left to tell.
                Step::CloseSender(close) => {
                    if let Some(ws) = sender {
                        let _ = ws.close(Some(close.code), Some(close.reason));
                    }
                }
            }
        }
        true
    }

    /// Writes what waits, then sends what is held. False if storage failed.
    pub(super) fn flush(self: &Rc<Self>) -> bool {
        let steps = fanout::flush(&mut self.coalescer.borrow_mut(), now());
        self.execute(None, steps)
    }

    fn arm_flush_timer(self: &Rc<Self>, delay_ms: u64) {
        let outbox = Rc::clone(self);
        worker::wasm_bindgen_futures::spawn_local(async move {
            worker::Delay::from(std::time::Duration::from_millis(delay_ms)).await;
            outbox.flush();
        });
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
        let mut sql = SqlHistory::new(self.sql.clone());
        let written = self.behind.borrow_mut().commit(&mut sql);
        let written = match (written, events) {
            (Ok(_), Some(hooks)) => hooks.write(&sql, &self.alarm_at),
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

/// Sends released frames to every member they are meant for: a plain socket
/// gets each as its own frame, a batch socket gets them packed. Each frame
/// becomes a JavaScript string once, however many sockets get it.
fn release(roster: &Roster<WebSocket>, held: &[Held<u64>]) {
    // Built on first use: a room of batch sockets only never needs them.
    let mut frames = None;
    let mut common = None;
    for member in roster.iter() {
        let key = &member.session.conn;
        if !member.session.batch {
            let frames = frames.get_or_insert_with(|| {
                held.iter()
                    .map(|h| text(&h.json))
                    .collect::<Vec<js_sys::JsString>>()
            });
            for (h, frame) in held.iter().zip(frames.iter()) {
                if h.to.includes(key) {
                    send(&member.socket, frame);
                }
            }
            continue;
        }
        let own;
        let packs = if held.iter().all(|h| !h.to.names(key)) {
            common.get_or_insert_with(|| packed(&coalesce::frames_for_unnamed(held)))
        } else {
            own = packed(&coalesce::frames_for(held, key));
            &own
        };
        for frame in packs.iter() {
            send(&member.socket, frame);
        }
    }
}

/// Frames packed for sending: a lone frame as itself, several as `batch`
/// frames of at most [`coalesce::MAX_BATCH_BYTES`] each.
fn packed(frames: &[&str]) -> Vec<js_sys::JsString> {
    coalesce::runs(frames, coalesce::MAX_BATCH_BYTES)
        .into_iter()
        .map(|run| match run {
            [one] => text(one),
            many => text(&protocol::batch_json(many, now())),
        })
        .collect()
}
