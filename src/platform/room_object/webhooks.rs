//! Carries out [`crate::hooks::webhook`]: events wait in memory beside the messages
//! they are about and are written in the same commit; the alarm drains the
//! outbox, one event in flight at a time.
//!
//! Chat first: a delivery is an awaited `fetch` inside the alarm handler,
//! and no state is borrowed across that await, so socket events keep being
//! handled while a receiver is slow or hangs. The runtime only holds events
//! back while storage is written, never while a fetch is out.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use wasm_bindgen::JsValue;
use worker::{
    AbortController, Delay, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

use super::alarm_clock::AlarmClock;
use super::js::now;
use crate::hooks::outbox::EventStore;
use crate::hooks::webhook::{self, Event, Queued, Settings, SIGNATURE_HEADER};
use crate::platform::entry;
use crate::platform::log::{emit, kind};
use crate::platform::sqlite::SqlEvents;
use crate::room::Delivery;
use crate::settings::limits::ATTEMPT_TIMEOUT_MS;
use crate::wire::error::StoreError;
use crate::wire::log_line::LogLine;

/// An alarm delivers for at most this long, then hands over to the next
/// one, so the idle sweep it shares the alarm with is never held up long.
const DRAIN_BUDGET_MS: u64 = 30_000;

/// Once the outbox is empty, the drain waits this long for new events
/// before it ends, looking every [`LINGER_POLL_MS`]: a busy room's events
/// then cost no alarm each (setting one is a storage write, and the
/// runtime holds outgoing frames while a write is made durable).
const LINGER_MS: u64 = 1_000;
const LINGER_POLL_MS: u64 = 5;

/// Delivered events' rows are deleted this many at a time, and whenever a
/// drain ends: one write instead of one per event. A crash before a sweep
/// repeats at most this many events, which receivers dedupe by id.
const SWEEP_EVERY: u32 = 64;

pub(super) struct Webhooks {
    settings: Settings,
    /// Events whose messages wait in memory to be written (see
    /// [`crate::store::write_behind`]); they are written in the same commit.
    pending: RefCell<Vec<Event>>,
    /// An alarm is delivering: it reads the outbox again after each event,
    /// so new events need no alarm of their own.
    draining: Cell<bool>,
    /// The head event is not tried again before this (0: no wait).
    retry_at: Cell<u64>,
    /// The newest event the room is done with (delivered or given up on);
    /// rows up to it are deleted in sweeps, not one write each.
    acked: Cell<u64>,
    /// Events done with since the last sweep.
    unswept: Cell<u32>,
    /// The room's alarm, which delivers the outbox.
    clock: Rc<AlarmClock>,
}

impl Webhooks {
    /// The webhooks of a room, or `None` when they are off (or set up
    /// wrongly, which is logged).
    pub(super) fn new(env: &Env, clock: &Rc<AlarmClock>) -> Option<Webhooks> {
        let settings = match entry::webhook_settings(env) {
            Ok(settings) => settings?,
            Err(why) => {
                emit(LogLine::error("webhook_misconfigured").detail(&why));
                return None;
            }
        };
        Some(Webhooks {
            settings,
            pending: RefCell::default(),
            draining: Cell::new(false),
            retry_at: Cell::new(0),
            acked: Cell::new(0),
            unswept: Cell::new(0),
            clock: Rc::clone(clock),
        })
    }

    /// Keeps the room events among `deliveries` for the next commit.
    pub(super) fn note(&self, room: &str, deliveries: &[Delivery]) {
        let events = webhook::events(room, deliveries);
        if !events.is_empty() {
            self.pending.borrow_mut().extend(events);
        }
    }

    pub(super) fn has_pending(&self) -> bool {
        !self.pending.borrow().is_empty()
    }

    /// The messages they were about were never written: nobody hears of
    /// them, the receiver included.
    pub(super) fn discard(&self) {
        self.pending.borrow_mut().clear();
    }

    /// Writes the waiting events to the outbox, in the caller's event
    /// without an await, so the runtime commits them with the messages, and
    /// makes sure an alarm will deliver them.
    pub(super) fn write(&self, sql: &mut SqlEvents) -> Result<(), StoreError> {
        let events = std::mem::take(&mut *self.pending.borrow_mut());
        if events.is_empty() {
            return Ok(());
        }
        let dropped = sql.queue(&events, self.settings.outbox_cap, self.acked.get())?;
        if dropped > 0 {
            let room = &events[0].room;
            let line = LogLine::warn("webhook_dropped").room(room);
            emit(line.detail(&format!("{dropped} oldest events dropped: outbox full")));
        }
        if !self.draining.get() {
            self.clock.wake_by(now().max(self.retry_at.get()));
        }
        Ok(())
    }

    /// A woken room whose outbox still holds events makes sure an alarm
    /// will deliver them.
    pub(super) fn resume(&self, sql: &mut SqlEvents) {
        if let Ok(Some((_, next_at))) = sql.next(0) {
            self.clock.wake_by(now().max(next_at));
        }
    }

    /// Delivers due events oldest first until the outbox is empty, an
    /// event fails, or the budget is spent. Returns when the outbox next
    /// wants the alarm.
    pub(super) async fn drain(&self, sql: &mut SqlEvents) -> Option<u64> {
        self.draining.set(true);
        let next = self.deliver_due(sql).await;
        // Set in the same turn as the last read of the outbox: an event
        // written after it finds `draining` false and sets the alarm.
        self.draining.set(false);
        next
    }

    async fn deliver_due(&self, sql: &mut SqlEvents) -> Option<u64> {
        let next = self.deliver_while_due(sql).await;
        match self.sweep(sql) {
            Ok(()) => next,
            Err(err) => Some(self.store_failed(&err)),
        }
    }

    async fn deliver_while_due(&self, sql: &mut SqlEvents) -> Option<u64> {
        let started = now();
        let mut idle_since = None;
        while now() < started + DRAIN_BUDGET_MS {
            let head = match sql.next(self.acked.get()) {
                Ok(head) => head,
                Err(err) => return Some(self.store_failed(&err)),
            };
            let Some((event, next_at)) = head else {
                // In a busy room the next event is moments away: waiting
                // for it spares every event an alarm of its own.
                let since = *idle_since.get_or_insert(now());
                if now() >= since + LINGER_MS {
                    return None;
                }
                Delay::from(Duration::from_millis(LINGER_POLL_MS)).await;
                continue;
            };
            idle_since = None;
            if next_at > now() {
                return Some(next_at);
            }
            if let Err(at) = self.try_once(sql, event).await {
                return Some(at);
            }
            if self.unswept.get() >= SWEEP_EVERY {
                if let Err(err) = self.sweep(sql) {
                    return Some(self.store_failed(&err));
                }
            }
        }
        Some(now())
    }

    /// One try of `event`. `Err(at)`: the drain stops until `at`.
    async fn try_once(&self, sql: &mut SqlEvents, event: Queued) -> Result<(), u64> {
        let dropped = sql.dropped().unwrap_or_default();
        let Err(why) = post(&self.settings, &event.body(dropped)).await else {
            self.retry_at.set(0);
            self.done_with(event.id);
            return Ok(());
        };
        let room = event.room.as_str();
        emit(LogLine::warn("webhook_failed").room(room).detail(&why));
        let attempts = event.attempts + 1;
        if let Some(at) = self.settings.retry_at(attempts, now()) {
            self.retry_at.set(at);
            return match sql.failed(event.id, attempts, at) {
                Ok(()) => Err(at),
                Err(err) => Err(self.store_failed(&err)),
            };
        }
        let detail = format!("event {} after {attempts} tries", event.event_id());
        emit(LogLine::error("webhook_gave_up").room(room).detail(&detail));
        self.done_with(event.id);
        sql.count_dropped(1).map_err(|err| self.store_failed(&err))
    }

    /// Event `id` needs no more tries; its row goes at the next sweep.
    fn done_with(&self, id: u64) {
        self.acked.set(id);
        self.unswept.set(self.unswept.get() + 1);
    }

    /// Deletes the rows of events the room is done with, in one write.
    fn sweep(&self, sql: &mut SqlEvents) -> Result<(), StoreError> {
        if self.unswept.get() == 0 {
            return Ok(());
        }
        sql.done_through(self.acked.get())?;
        self.unswept.set(0);
        Ok(())
    }

    fn store_failed(&self, err: &StoreError) -> u64 {
        emit(LogLine::error("webhook_store_failed").detail(&err.0));
        now() + self.settings.retry_base_ms
    }
}

/// One signed POST of `body`. `Err` says why it did not count: a
/// status other than 2xx (a redirect included), a network failure, or no
/// answer in time.
async fn post(settings: &Settings, body: &str) -> Result<(), String> {
    let headers = Headers::new();
    let signature = settings.sign(now() / 1000, body);
    let set = headers
        .set("Content-Type", "application/json")
        .and_then(|()| headers.set(SIGNATURE_HEADER, &signature))
        .and_then(|()| headers.set("User-Agent", "edge-chat-webhooks"));
    set.map_err(|err| format!("could not set the request headers ({})", kind(&err)))?;
    let mut init = RequestInit::new();
    // A redirect is answered, not followed: following it would send the
    // signed body on to wherever the receiver points.
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(body)))
        .with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(&settings.url, &init)
        .map_err(|err| format!("could not build the request ({})", kind(&err)))?;
    let controller = AbortController::default();
    let fetch = Fetch::Request(request);
    let signal = controller.signal();
    let sent = fetch.send_with_signal(&signal);
    let timeout = Delay::from(Duration::from_millis(ATTEMPT_TIMEOUT_MS));
    match first(sent, timeout).await {
        Ok(Ok(resp)) if webhook::accepted(resp.status_code()) => Ok(()),
        Ok(Ok(resp)) => Err(webhook::failed_status(resp.status_code())),
        // The runtime's message may quote the URL, a secret in itself.
        Ok(Err(err)) => Err(format!("the request failed ({})", kind(&err))),
        Err(()) => {
            // Frees the connection; the fetch future is dropped anyway.
            controller.abort();
            Err(format!("no answer in {ATTEMPT_TIMEOUT_MS} ms"))
        }
    }
}

/// Whichever of `a` and `b` finishes first: `Ok` for `a`, `Err` for `b`.
async fn first<A: Future, B: Future>(a: A, b: B) -> Result<A::Output, B::Output> {
    let (mut a, mut b) = (pin!(a), pin!(b));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        b.as_mut().poll(cx).map(Err)
    })
    .await
}
