//! The room's side of the HTTP API: it passes the same gate the Worker
//! did (the room is the trust boundary), spends the caller's rate budget,
//! refuses a banned caller, and answers from the room's own state. A POST
//! goes through the socket's rule and send plan, and is answered only once
//! it is written, so a 201 promises what an `ack` promises.

use worker::{Request, Response, Result};

use super::export;
use super::js::now;
use super::ChatRoom;
use crate::access::identity::Identity;
use crate::http::api::{self, Call, API_CONN};
use crate::platform::api_gate::{self, refuse, Admitted, AdmittedPost};
use crate::platform::log::emit;
use crate::platform::respond::{json as answer, ndjson_stream};
use crate::platform::sqlite::SqlMessages;
use crate::room::Ctx;
use crate::store::history::HistoryStore;
use crate::store::write_behind::Buffered;
use crate::wire::error::{HttpRefusal, Refusal, StoreError};
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
        match admitted.post {
            Some(post) => self.api_write(&admitted.call, post, cors, room).await,
            None => self.api_read(&admitted, cors, room),
        }
    }

    /// The calls that only read.
    fn api_read(&self, admitted: &Admitted, cors: Option<&str>, room: &str) -> Result<Response> {
        let (who, me) = (&admitted.who, admitted.who.client_id.as_deref());
        match &admitted.call {
            Call::ListMessages {
                since,
                limit,
                before,
                epoch,
            } => {
                let (page, of) = ((*since, *limit, *before), (epoch.as_deref(), me));
                self.read_answer(|ctx| api::messages_page(ctx, page, of), cors, room)
            }
            Call::Search { q, before, limit } => {
                let page = (q.as_str(), *before, *limit);
                self.read_answer(|ctx| api::search_page(ctx, page, me), cors, room)
            }
            Call::ReadState { client_id } => {
                self.read_answer(|ctx| api::read_answer(ctx, who, client_id), cors, room)
            }
            Call::Export => self.export(who, cors, room),
            Call::Presence => {
                let relays = self.send.relays.seats.borrow().count();
                let present = (self.send)
                    .with_sessions(None, |all| api::presence(all.iter().copied(), relays));
                answer(200, &present, cors)
            }
            // The gate read a body for these: never here without one.
            Call::PostMessage | Call::React { .. } => refuse(
                &HttpRefusal::from_refusal(&Refusal::Internal),
                cors,
                Some(room),
            ),
        }
    }

    /// The calls with a body: a post, a reaction.
    async fn api_write(
        &self,
        call: &Call,
        post: AdmittedPost,
        cors: Option<&str>,
        room: &str,
    ) -> Result<Response> {
        let done = match call {
            Call::React { id } => self.api_react(room, id, post).map(|r| (200, value(&r))),
            _ => self
                .api_post(room, post)
                .map(|(status, p)| (status, value(&p))),
        };
        match done {
            Ok((status, body)) => {
                self.check_retention().await;
                answer(status, &body, cors)
            }
            Err(refusal) => refuse(&refusal, cors, Some(room)),
        }
    }

    /// A read's answer: 200 with what `read` found, or its refusal.
    fn read_answer<T: serde::Serialize>(
        &self,
        read: impl FnOnce(
            &mut Ctx<'_, Buffered<'_, SqlMessages>>,
        ) -> std::result::Result<T, HttpRefusal>,
        cors: Option<&str>,
        room: &str,
    ) -> Result<Response> {
        match self.with_rules(now(), read) {
            Ok(found) => answer(200, &found, cors),
            Err(refusal) => refuse(&refusal, cors, Some(room)),
        }
    }

    /// Streams every kept message to a moderator or a backend, after
    /// writing what waits, up to the newest now.
    fn export(&self, who: &Identity, cors: Option<&str>, room: &str) -> Result<Response> {
        if let Err(refusal) = api::may_export(who) {
            return refuse(&refusal, cors, Some(room));
        }
        let newest = match self.send.flush() {
            true => self.with_rules(now(), |ctx| ctx.store.latest_seq()),
            false => Err(StoreError("the write before an export failed".into())),
        };
        let Ok(newest) = newest else {
            return refuse(
                &HttpRefusal::from_refusal(&Refusal::Internal),
                cors,
                Some(room),
            );
        };
        let detail = format!("through seq {newest}");
        emit(LogLine::info("api_export").room(room).detail(&detail));
        let export = export::stream(self.send.db.clone(), room, newest)?;
        ndjson_stream(export, &format!("{room}.ndjson"), cors)
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

    /// Toggles a reaction like a socket's: the rule, the send plan, a flush,
    /// then the answer.
    fn api_react(
        &self,
        room: &str,
        id: &str,
        post: AdmittedPost,
    ) -> std::result::Result<api::ReactedAnswer, HttpRefusal> {
        let emoji = post.body.emoji.unwrap_or_default();
        let reacted = self.with_rules(now(), |ctx| {
            api::react(ctx, &post.speaker, (room, id), emoji)
        })?;
        self.send_before_answering(room, reacted.deliveries)?;
        Ok(reacted.answer)
    }

    /// Sends what an API call decided through the socket's send plan, then
    /// flushes, so everything it wrote is stored and sent before the
    /// answer says so.
    fn send_before_answering(
        &self,
        room: &str,
        deliveries: Vec<crate::room::Delivery>,
    ) -> std::result::Result<(), HttpRefusal> {
        let sent = (self.send).deliver((None, API_CONN), room, deliveries, None);
        if !sent || !self.send.flush() {
            return Err(HttpRefusal::from_refusal(&Refusal::Internal));
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
        self.send_before_answering(room, accepted.deliveries)?;
        let line = LogLine::info("api_posted").room(room).client(sender);
        emit(line.status(status));
        Ok((status, accepted.posted))
    }
}

/// An answer as JSON text, so calls with different answers share one
/// path (without `serde_json::Value`, whose generic tree costs the .wasm).
fn value<T: serde::Serialize>(answer: &T) -> Box<serde_json::value::RawValue> {
    let text = serde_json::to_string(answer).unwrap_or_default();
    serde_json::value::RawValue::from_string(text).unwrap_or_default()
}
