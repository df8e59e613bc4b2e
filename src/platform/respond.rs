//! Every HTTP answer the platform writes: a refusal, in the one form all
//! refusals take, and a JSON answer from the API. Headers are decided here
//! alone, so a page, a handshake and an API call cannot drift apart.

use worker::{web_sys, Headers, Response, Result};

use crate::wire::error::{BodyForm, HttpRefusal};

/// `refusal` as a response. `cors` is the caller's origin, where the API
/// allows it to read the answer.
pub(crate) fn refusal(refusal: &HttpRefusal, cors: Option<&str>) -> Result<Response> {
    let headers = match refusal.form {
        BodyForm::Json => json_headers(cors)?,
        BodyForm::Text => base_headers(refusal.content_type())?,
    };
    if let Some(allow) = refusal.allow {
        headers.set("Allow", allow)?;
    }
    if let Some(secs) = refusal.retry_after_secs {
        headers.set("Retry-After", &secs.to_string())?;
    }
    Ok(Response::ok(refusal.body())?
        .with_status(refusal.status)
        .with_headers(headers))
}

/// A JSON answer with `status`.
pub(crate) fn json<T: serde::Serialize>(
    status: u16,
    value: &T,
    cors: Option<&str>,
) -> Result<Response> {
    // Plain structs of strings and numbers: serialising cannot fail.
    let body = serde_json::to_string(value).unwrap_or_default();
    Ok(Response::ok(body)?
        .with_status(status)
        .with_headers(json_headers(cors)?))
}

/// A streamed NDJSON answer (an export), saved as `filename` by a
/// browser. Like every JSON answer it is never cached and keys on origin.
pub(crate) fn ndjson_stream(
    stream: web_sys::ReadableStream,
    filename: &str,
    cors: Option<&str>,
) -> Result<Response> {
    let headers = json_headers(cors)?;
    headers.set("Content-Type", "application/x-ndjson")?;
    let disposition = format!("attachment; filename=\"{filename}\"");
    headers.set("Content-Disposition", &disposition)?;
    let body = worker::ResponseBody::Stream(stream);
    Ok(Response::from_body(body)?.with_headers(headers))
}

/// The headers every JSON answer carries.
pub(crate) fn json_headers(cors: Option<&str>) -> Result<Headers> {
    let headers = base_headers("application/json")?;
    headers.set("Cache-Control", "no-store")?;
    // Answers differ by origin (the CORS header), so caches must key on it.
    headers.set("Vary", "Origin")?;
    if let Some(origin) = cors {
        headers.set("Access-Control-Allow-Origin", origin)?;
    }
    Ok(headers)
}

fn base_headers(content_type: &str) -> Result<Headers> {
    let headers = Headers::new();
    headers.set("Content-Type", content_type)?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    Ok(headers)
}
