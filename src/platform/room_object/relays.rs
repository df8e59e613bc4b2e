//! The room's side of its relays ([`crate::send::relay`]): the sockets they
//! hold, as a roster keyed like the room's own, the seats that place
//! newcomers, and one ordered [`Pipe`] to each relay that carries what the
//! room releases, admits and closes.
//!
//! A relay that fails a call has lost its sockets, or cannot reach them:
//! the room counts them gone at once and tells the others, and their
//! clients reconnect and catch up with `since`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde::Serialize;
use worker::ObjectNamespace;

use super::js::now;
use super::send_path::SendPath;
pub(crate) use crate::platform::entry::RELAYS_BINDING;
use crate::platform::log::emit;
use crate::platform::pipe::{failure, post, Pipe};
use crate::room::session::Session;
use crate::send::coalesce::{Held, To};
use crate::send::flow::MarkKey;
use crate::send::relay::{
    relay_name, Departed, Seats, SyncAnswer, ToRelay, SYNC_PATH, TO_RELAY_PATH,
};
use crate::send::roster::Roster;
use crate::settings::config::Budgets;
use crate::wire::error::Close;
use crate::wire::log_line::LogLine;

pub(super) struct Relays {
    namespace: Option<ObjectNamespace>,
    /// Sockets on relays; a member's "socket" is its relay's index.
    pub(super) members: RefCell<Roster<u32>>,
    pub(super) seats: RefCell<Seats>,
    pipes: RefCell<Vec<(u32, Rc<Pipe>)>>,
    /// The room's name, which relays' names are made from.
    room: RefCell<String>,
    /// Whether this instance asked the relays in storage what they hold.
    pub(super) synced: Cell<bool>,
    /// Sockets on relays the room let go of lately.
    departed: RefCell<Departed>,
}

/// `ToRelay::Frames` over borrowed frames: one serialisation per release,
/// however many relays get it.
#[derive(Serialize)]
struct FramesRef<'a> {
    f: &'a [Held<u64>],
}

impl Relays {
    pub(super) fn new(namespace: Option<ObjectNamespace>, budgets: Budgets) -> Self {
        Relays {
            namespace,
            members: RefCell::new(Roster::new(budgets, MarkKey(0, 0))),
            seats: RefCell::default(),
            pipes: RefCell::default(),
            room: RefCell::default(),
            synced: Cell::new(false),
            departed: RefCell::default(),
        }
    }

    pub(super) fn learn_room(&self, room: &str) {
        if self.room.borrow().as_str() != room {
            *self.room.borrow_mut() = room.to_owned();
        }
    }

    pub(super) fn room(&self) -> String {
        self.room.borrow().clone()
    }

    pub(super) fn namespace(&self) -> Option<ObjectNamespace> {
        self.namespace.clone()
    }

    /// The queue to relay `index`, made on first use.
    fn pipe(&self, index: u32) -> Rc<Pipe> {
        let mut pipes = self.pipes.borrow_mut();
        match pipes.iter().find(|(i, _)| *i == index) {
            Some((_, pipe)) => Rc::clone(pipe),
            None => {
                let pipe = Rc::new(Pipe::default());
                pipes.push((index, Rc::clone(&pipe)));
                pipe
            }
        }
    }

    /// Takes in a socket a relay holds.
    pub(super) fn admit(&self, relay: u32, session: &Session) {
        self.members.borrow_mut().insert(relay, session.clone());
        self.seats.borrow_mut().joined(relay);
    }

    /// Where socket `key` lives and its session, if on a relay.
    pub(super) fn find(&self, key: u64) -> Option<(u32, Session)> {
        let members = self.members.borrow();
        members.get(key).map(|m| (m.socket, m.session.clone()))
    }

    /// Every socket of `client_id` on a relay: its relay and session.
    pub(super) fn of_client(&self, client_id: &str) -> Vec<(u32, Session)> {
        (self.members.borrow().iter())
            .filter(|m| m.session.client_id == client_id)
            .map(|m| (m.socket, m.session.clone()))
            .collect()
    }
}

impl SendPath {
    /// Queues `item` for relay `index`, starting a call if none is in
    /// flight.
    pub(super) fn tell_relay(self: &Rc<Self>, index: u32, item: &ToRelay) {
        match serde_json::to_string(item) {
            Ok(json) => self.queue_for_relay(index, json),
            Err(_) => emit(LogLine::error("relay_item_unwritable")),
        }
    }

    fn queue_for_relay(self: &Rc<Self>, index: u32, json: String) {
        let pipe = self.relays.pipe(index);
        if pipe.push(json) {
            let path = Rc::clone(self);
            worker::wasm_bindgen_futures::spawn_local(path.pump(index, pipe));
        }
    }

    async fn pump(self: Rc<Self>, index: u32, pipe: Rc<Pipe>) {
        let name = relay_name(&self.relays.room(), index);
        let stub = self.relays.namespace().map(|ns| ns.get_by_name(&name));
        let Some(Ok(stub)) = stub else {
            pipe.clear();
            return self.relay_failed(index, "no stub");
        };
        while let Some(body) = pipe.next_call().await {
            if let Err(err) = post(&stub, TO_RELAY_PATH, body).await {
                pipe.clear();
                return self.relay_failed(index, &failure(&err));
            }
        }
    }

    /// A frame for the sender alone, whose socket is on relay `index`.
    pub(super) fn to_relay_sender(self: &Rc<Self>, index: u32, key: u64, json: String) {
        let to = To::Only(key);
        self.tell_relay(index, &ToRelay::Frames(vec![Held { json, to }]));
    }

    pub(super) fn close_on_relay(self: &Rc<Self>, index: u32, key: u64, close: Close) {
        let reason = close.reason.to_owned();
        let item = ToRelay::Close {
            k: key,
            code: close.code,
            reason,
        };
        self.tell_relay(index, &item);
    }

    /// Released frames go to every relay in use, in one item each.
    pub(super) fn release_to_relays(self: &Rc<Self>, held: &[Held<u64>]) {
        let indexes: Vec<u32> = self.relays.seats.borrow().indexes().collect();
        if indexes.is_empty() {
            return;
        }
        let Ok(json) = serde_json::to_string(&FramesRef { f: held }) else {
            return emit(LogLine::error("relay_item_unwritable"));
        };
        for index in indexes {
            self.queue_for_relay(index, json.clone());
        }
    }

    /// A relay says socket `key` left. One the room let go of already is
    /// old news; one it never knew (it restarted since, and the relay no
    /// longer listed it) still gets its leave notice.
    pub(super) fn relay_left(self: &Rc<Self>, key: u64, session: Option<Session>) {
        if self.relays.members.borrow().get(key).is_some() {
            return self.depart_remote(key);
        }
        match session {
            Some(session) if !self.relays.departed.borrow().contains(key) => {
                self.relays.departed.borrow_mut().note(key);
                self.announce_leave(&session, None);
            }
            _ => {}
        }
    }

    /// A socket on a relay left (or was closed by the room): forget it,
    /// retire its relay if that was its last, and tell the room.
    pub(super) fn depart_remote(self: &Rc<Self>, key: u64) {
        let Some(member) = self.relays.members.borrow_mut().remove(key) else {
            return;
        };
        self.relays.departed.borrow_mut().note(key);
        let retired = (self.relays.seats.borrow_mut()).left(member.socket, now());
        if retired {
            self.retire_relay(member.socket);
        }
        self.announce_leave(&member.session, None);
    }

    pub(super) fn retire_relay(&self, index: u32) {
        if let Err(err) = self.db.relays().retired(index) {
            emit(LogLine::error("relay_retire_failed").detail(&err.0));
        }
        let room = self.relays.room();
        let line = LogLine::info("relay_retired").room(&room);
        emit(line.detail(&format!("relay {index}")));
    }

    /// Relay `index` did not take a call: its sockets are gone to the room.
    fn relay_failed(self: &Rc<Self>, index: u32, why: &str) {
        let room = self.relays.room();
        let line = LogLine::error("relay_failed").room(&room);
        emit(line.detail(&format!("relay {index}: {why}")));
        // Out of use first: the leaves below are released to the relays
        // still in use, never queued for this one again.
        self.relays.seats.borrow_mut().forget(index);
        let keys: Vec<u64> = (self.relays.members.borrow().iter())
            .filter(|m| m.socket == index)
            .map(|m| m.session.conn)
            .collect();
        for key in keys {
            self.depart_remote(key);
        }
        self.retire_relay(index);
    }

    /// What the relays in storage hold, asked once per instance: the
    /// room's memory of its relays' sockets does not survive an eviction.
    /// Runs with every other event held back, so none sees half of it.
    pub(super) async fn sync_relays(self: &Rc<Self>, state: &worker::State) {
        if self.relays.synced.replace(true) {
            return;
        }
        let listed = match self.db.relays().list() {
            Ok(listed) if !listed.is_empty() => listed,
            Ok(_) => return,
            Err(err) => return emit(LogLine::error("relay_list_failed").detail(&err.0)),
        };
        let Some(namespace) = self.relays.namespace() else {
            return;
        };
        let asked = state.block_concurrency_while(ask_relays(namespace, listed.clone()));
        let answers = asked.await.unwrap_or_default();
        for ((index, room), answer) in listed.into_iter().zip(answers) {
            self.relays.learn_room(&room);
            self.relays.seats.borrow_mut().remember(index);
            for session in answer.unwrap_or_default() {
                self.relays.admit(index, &session);
            }
            if self.relays.seats.borrow_mut().retire_if_empty(index, now()) {
                self.retire_relay(index);
            }
        }
    }
}

/// Each listed relay's sockets, or `None` for one that did not answer.
async fn ask_relays(
    namespace: ObjectNamespace,
    listed: Vec<(u32, String)>,
) -> worker::Result<Vec<Option<SyncAnswer>>> {
    let mut answers = Vec::with_capacity(listed.len());
    for (index, room) in listed {
        let answer = async {
            let stub = namespace.get_by_name(&relay_name(&room, index))?;
            let mut resp = post(&stub, SYNC_PATH, String::new()).await?;
            resp.json::<SyncAnswer>().await
        };
        answers.push(answer.await.ok());
    }
    Ok(answers)
}
