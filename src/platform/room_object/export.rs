//! `GET export`: a room's kept history as NDJSON, streamed.
//!
//! The answer is a JavaScript `ReadableStream` the runtime pulls: each
//! pull reads the next [`EXPORT_BATCH`] messages by `seq` and enqueues them
//! as one piece, so the room holds one batch in memory however big it is,
//! and a slow reader slows the reads rather than filling memory. Every
//! message up to the newest at the start is exported once, in order, as it
//! is when its batch is read. Built by hand rather than from a Rust
//! `Stream`: the adapters for that cost the `.wasm` 19 KB gzip.

use std::cell::Cell;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, web_sys};

use crate::http::api::export_line;
use crate::platform::log::emit;
use crate::platform::sqlite::Db;
use crate::room::kept::kept_lines;
use crate::settings::limits::EXPORT_BATCH;
use crate::store::history::HistoryStore;
use crate::wire::log_line::LogLine;

/// A stream of every kept message with `seq <= through`.
pub(super) fn stream(db: Db, room: &str, through: u64) -> worker::Result<web_sys::ReadableStream> {
    let room = room.to_owned();
    let after = Cell::new(0);
    let pull = Closure::<dyn FnMut(JsValue)>::new(move |controller: JsValue| {
        let step = next_piece(&db, after.get(), through);
        let (method, arg) = match step {
            Ok(Some((piece, last))) => {
                after.set(last);
                ("enqueue", js_sys::Uint8Array::from(piece.as_bytes()).into())
            }
            Ok(None) => ("close", JsValue::UNDEFINED),
            Err(detail) => {
                // The status is sent; a cut stream is how the reader learns.
                emit(LogLine::error("export_failed").room(&room).detail(&detail));
                ("error", JsValue::from_str("export failed"))
            }
        };
        let _ = call(&controller, method, &arg);
    });
    let source = js_sys::Object::new();
    js_sys::Reflect::set(&source, &"pull".into(), &pull.into_js_value())?;
    Ok(web_sys::ReadableStream::new_with_underlying_source(
        &source,
    )?)
}

/// The lines after `after`, up to `through`, and the last `seq` in them;
/// `None` once there are none.
fn next_piece(db: &Db, after: u64, through: u64) -> Result<Option<(String, u64)>, String> {
    if after >= through {
        return Ok(None);
    }
    let mut sql = db.messages();
    let batch = (sql.after(after, EXPORT_BATCH)).map_err(|e| e.0)?;
    let full = batch.len() as u64 == EXPORT_BATCH;
    let batch: Vec<_> = batch.into_iter().take_while(|m| m.seq <= through).collect();
    let Some(last) = batch.last().map(|m| m.seq) else {
        return Ok(None);
    };
    // A short batch is the end: nothing newer than `through` is exported.
    let last = if full { last } else { through };
    let kept = kept_lines(&mut sql, &batch, None).map_err(|e| e.0)?;
    Ok(Some((kept.iter().map(export_line).collect(), last)))
}

fn call(target: &JsValue, method: &str, arg: &JsValue) -> Result<JsValue, JsValue> {
    let f: js_sys::Function = js_sys::Reflect::get(target, &method.into())?.dyn_into()?;
    f.call1(target, arg)
}
