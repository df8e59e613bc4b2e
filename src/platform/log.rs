//! The console: where structured log lines go, readable in `wrangler tail`.
//! What a line says is [`crate::wire::log_line`]'s; this file also names a
//! runtime error's kind for it, never its message, which may quote a URL.

use wasm_bindgen::{JsCast, JsValue};
use worker::js_sys;

use crate::wire::log_line::LogLine;

/// Prints one structured log line, readable in `wrangler tail`.
pub(crate) fn emit(line: LogLine<'_>) {
    let json = line.to_json();
    if line.level == "error" {
        worker::console_error!("{json}");
    } else {
        worker::console_log!("{json}");
    }
}

/// A workers-rs error's kind: its variant's name (`JsError`, `Json`, ...).
pub(crate) fn kind(err: &worker::Error) -> &'static str {
    err.into()
}

/// A thrown JavaScript value's kind: the standard error class it is, as a
/// fixed name, since a thrown object's own `name` is any text at all.
pub(crate) fn js_kind(err: &JsValue) -> &'static str {
    let Some(err) = err.dyn_ref::<js_sys::Error>() else {
        return "not an Error";
    };
    match String::from(err.name()).as_str() {
        "TypeError" => "TypeError",
        "RangeError" => "RangeError",
        "SyntaxError" => "SyntaxError",
        "ReferenceError" => "ReferenceError",
        "Error" => "Error",
        _ => "other Error",
    }
}
