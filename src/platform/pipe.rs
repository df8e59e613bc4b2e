//! An ordered queue of calls from one Durable Object to another: the room's
//! to each relay, and each relay's to its room.
//!
//! Items queue while a call is in flight and leave together in the next, so
//! a busy sender makes one call per round trip or per gap, whichever is
//! longer ([`call_wait`]), instead of one per item, and the other side sees
//! every item in the order it was queued: never two calls racing each other.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use wasm_bindgen::JsValue;
use worker::{Delay, Method, Request, RequestInit, Response, Result, Stub};

use crate::platform::log::kind;
use crate::platform::room_object::js::now;
use crate::send::relay::{call_body, call_wait};

#[derive(Default)]
pub(crate) struct Pipe {
    queued: RefCell<Vec<String>>,
    busy: Cell<bool>,
    /// When the last call started (ms since the epoch), if one did.
    last_call: Cell<Option<u64>>,
}

impl Pipe {
    /// Queues one item, already JSON. True if no call is in flight, so the
    /// caller starts one ([`Self::next_call`] until it says `None`).
    pub(crate) fn push(&self, item: String) -> bool {
        self.queued.borrow_mut().push(item);
        !self.busy.replace(true)
    }

    /// The body of the next call, once the gap since the last has passed
    /// ([`call_wait`]), or `None` when nothing waits: then the pipe is idle
    /// until the next push.
    pub(crate) async fn next_call(&self) -> Option<String> {
        if !self.queued.borrow().is_empty() {
            let wait = call_wait(self.last_call.get(), now());
            if wait > 0 {
                Delay::from(Duration::from_millis(wait)).await;
            }
        }
        let items = std::mem::take(&mut *self.queued.borrow_mut());
        if items.is_empty() {
            self.busy.set(false);
            return None;
        }
        self.last_call.set(Some(now()));
        Some(call_body(&items))
    }

    /// Forgets what waits: the other side is gone.
    pub(crate) fn clear(&self) {
        self.queued.borrow_mut().clear();
        self.busy.set(false);
    }
}

/// POSTs `body` to `path` on the object behind `stub`, and gives whatever
/// it answered.
pub(crate) async fn call(stub: &Stub, path: &str, body: String) -> Result<Response> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(JsValue::from_str(&body)));
    let req = Request::new_with_init(&format!("https://object{path}"), &init)?;
    stub.fetch_with_request(req).await
}

/// [`call`], where an answer other than 2xx is an error, with its status.
pub(crate) async fn post(stub: &Stub, path: &str, body: String) -> Result<Response> {
    let resp = call(stub, path, body).await?;
    match resp.status_code() {
        200..=299 => Ok(resp),
        status => Err(worker::Error::RustError(format!("{ANSWERED}{status}"))),
    }
}

const ANSWERED: &str = "answered ";

/// Why [`post`] failed, in words a log line may carry: the status the
/// other object answered, or the runtime error's kind, never its message
/// (docs/operations.md, "Logs").
pub(crate) fn failure(err: &worker::Error) -> String {
    match err {
        worker::Error::RustError(said) if said.starts_with(ANSWERED) => said.clone(),
        other => format!("the call failed ({})", kind(other)),
    }
}
