//! The room's side of the HTTP API: it passes the same gate the Worker
//! did (the room is the trust boundary), spends the caller's rate budget,
//! refuses a banned caller, and answers from the room's own state. A POST
//! goes through the socket's rule and send plan, and is answered only once
//! it is written, so a 201 promises what an `ack` promises.

use worker::{Request, Response, Result};

use super::js::now;
use super::ChatRoom;
use crate::http::api::{self, Call, API_CONN};
use crate::platform::api_gate::{self, refuse, Admitted, AdmittedPost};
use crate::platform::log::emit;
use crate::platform::respond::json as answer;
use crate::wire::error::{HttpRefusal, Refusal};
use crate::wire::log_line::LogLine;

impl ChatRoom {
    pub(super) async fn api(&self, mut req: Request) -> Result<Response> {
        let admitted = match api_gate::admit(&mut req, &self.config, &self.auth).await? {
            Ok(admitted) => admitted,
            Err(answered) => return Ok(answered),
        };
        let (room, cors) = (admitted.room.as_str(), admitted.cors.as_deref());
        let (rate, burst) = (self.config.rate_per_sec, self.config.rate_burst);
        let spent = self
            .api_buckets
            .borrow_mut()
            .take(&admitted.subject, now(), rate, burst);
        if let Err(refusal) = spent.and_then(|()| self.not_banned(&admitted)) {
            return refuse(&refusal, cors, Some(room));
        }
        match (&admitted.call, admitted.post) {
            (Call::ListMessages { since, limit }, _) => {
                match self.with_rules(now(), |ctx| api::messages_page(ctx, *since, *limit)) {
                    Ok(page) => answer(200, &page, cors),
                    Err(refusal) => refuse(&refusal, cors, Some(room)),
                }
            }
            (Call::Presence, _) => {
                let roster = self.send.sockets.roster();
                let present = api::presence(roster.iter().map(|m| &m.session));
                drop(roster);
                answer(200, &present, cors)
            }
            (Call::PostMessage, Some(post)) => match self.api_post(room, post) {
                Ok((status, posted)) => answer(status, &posted, cors),
                Err(refusal) => refuse(&refusal, cors, Some(room)),
            },
            (Call::PostMessage, None) => refuse(
                &HttpRefusal::from_refusal(&Refusal::Internal),
                cors,
                Some(room),
            ),
        }
    }

    /// 403 `banned` if the room bans anyone the call acts as
    /// ([`api::acting_as`]), for reads and posts alike.
    fn not_banned(&self, admitted: &Admitted) -> std::result::Result<(), HttpRefusal> {
        let speaker = admitted.post.as_ref().map(|p| &p.speaker);
        for (client_id, role) in api::acting_as(&admitted.who, speaker) {
            let ban = (self.ban_on(client_id, role))
                .map_err(|e| HttpRefusal::from_refusal(&Refusal::Storage(e)))?;
            if let Some(denial) = ban {
                return Err(HttpRefusal::from_denial(&denial));
            }
        }
        Ok(())
    }

    /// Stores and sends a posted message, like a socket's: the rule, then
    /// the send plan, then a flush, so the message is written (and every
    /// frame held before it has gone out, in order) before the answer.
    fn api_post(
        &self,
        room: &str,
        post: AdmittedPost,
    ) -> std::result::Result<(u16, api::Posted), HttpRefusal> {
        let sender = &post.speaker.client_id;
        let accepted =
            self.with_rules(now(), |ctx| api::post(ctx, &post.speaker, room, post.body))?;
        let status = accepted.status();
        let sent = (self.send).deliver((None, API_CONN), room, accepted.deliveries, None);
        if !sent || !self.send.flush() {
            return Err(HttpRefusal::from_refusal(&Refusal::Internal));
        }
        let line = LogLine::info("api_posted").room(room).client(sender);
        emit(line.status(status));
        Ok((status, accepted.posted))
    }
}
