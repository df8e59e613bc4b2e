//! What the room's relays ask of it ([`crate::send::relay`]): to admit a
//! socket, and to hear what their sockets said. And the other half of
//! placement: the room's answer to an upgrade it sends to a relay.

use worker::{Request, Response, Result};

use super::js::now;
use super::send_path::Peer;
use super::{unavailable, ChatRoom};
use crate::platform::log::emit;
use crate::platform::respond;
use crate::send::relay::{
    FromRelay, FromRelayCall, JoinAsk, Place, ToRelay, FROM_RELAY_PATH, JOIN_PATH, RELAY_HEADER,
};
use crate::wire::log_line::LogLine;

/// Whether `path` is a relay's call. The Worker never forwards such a path
/// (its routes are `/ws` and `/api`), so only relays can make one.
pub(super) fn is_relay_call(path: &str) -> bool {
    path.starts_with("/_relay/")
}

impl ChatRoom {
    pub(super) async fn relay_call(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            JOIN_PATH => self.relay_join(req.json().await?).await,
            FROM_RELAY_PATH => {
                let call: FromRelayCall = req.json().await?;
                for item in call.items {
                    match item {
                        FromRelay::Frame { k, t } => self.relay_frame(k, t.as_deref()),
                        FromRelay::Left { k, s } => self.send.relay_left(k, s),
                    }
                }
                Response::ok("")
            }
            _ => Response::error("No such relay call.\n", 404),
        }
    }

    /// Where a newcomer's socket goes: `None` for this object; otherwise
    /// the answer that sends the Worker on to a relay.
    pub(super) fn place(&self, room: &str) -> Result<Option<Response>> {
        let here = self.send.sockets.roster().len();
        let place = (self.send.relays.seats.borrow_mut()).place(here, &self.config, now());
        let Place::Relay { index, opened } = place else {
            return Ok(None);
        };
        self.send.relays.learn_room(room);
        if opened {
            let (line, why) = match self.send.db.relays().opened(index, room) {
                Ok(()) => (LogLine::info("relay_opened"), String::new()),
                Err(err) => (LogLine::error("relay_open_failed"), format!(": {}", err.0)),
            };
            emit(line.room(room).detail(&format!("relay {index}{why}")));
        }
        let resp = Response::empty()?.with_status(307);
        resp.headers().set(RELAY_HEADER, &index.to_string())?;
        Ok(Some(resp))
    }

    /// A relay accepted a socket the room placed there: the room checks
    /// the ban (the relay checked the token and the origin), then admits it
    /// as it would its own. What the newcomer is told goes through the
    /// relay's queue, after everything the room released before it.
    async fn relay_join(&self, ask: JoinAsk) -> Result<Response> {
        let session = ask.session;
        let Some(index) = session.relay else {
            return Response::error("A relay's socket names its relay.\n", 400);
        };
        self.send.relays.learn_room(&session.room);
        let ban = self.ban_on(&session.client_id, session.role);
        let denial = match ban {
            Ok(None) if self.send.flush() => None,
            Ok(Some(denial)) => Some(Ok(denial)),
            _ => Some(Err(())),
        };
        if let Some(denied) = denial {
            if self.send.relays.seats.borrow_mut().refused(index, now()) {
                self.send.retire_relay(index);
            }
            return match denied {
                Ok(denial) => respond::refusal(&denial.refusal(), None),
                Err(()) => unavailable(),
            };
        }
        self.send.tell_relay(index, &ToRelay::Admit(session.conn));
        let peer = Peer::Relay(index);
        let outcome = self.join(peer, &session, (ask.since, ask.epoch.as_deref()));
        let admitted = outcome.close.is_none();
        if !admitted && self.send.relays.seats.borrow_mut().refused(index, now()) {
            self.send.retire_relay(index);
        }
        self.carry_out(peer, &session, outcome);
        if admitted {
            self.check_retention().await;
        }
        Response::ok("")
    }

    /// A frame from a socket on a relay. One the room does not know (it
    /// closed it a moment ago) is dropped, as a departed socket's are here.
    fn relay_frame(&self, key: u64, text: Option<&str>) {
        let Some((index, session)) = self.send.relays.find(key) else {
            return;
        };
        let members = self.send.relays.members.borrow();
        let bucket = members.bucket(key, self.config.rate_burst, now());
        drop(members);
        self.follow_rules(Peer::Relay(index), session, bucket, text);
    }
}
