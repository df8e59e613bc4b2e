//! A minimal HTTP/1.1 client over a plain TCP socket: enough to check status
//! codes, headers and bodies of the Worker's responses without pulling in an
//! HTTP client crate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }
}

pub fn get_blocking(port: u16, path: &str, timeout: Duration) -> std::io::Result<HttpResponse> {
    request_blocking(port, "GET", path, &[], timeout)
}

pub fn request_blocking(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> std::io::Result<HttpResponse> {
    request_with_body(port, method, path, headers, b"", timeout)
}

/// [`request_blocking`] with a body, sent with its `Content-Length`.
pub fn request_with_body(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    // The dev server keeps connections alive despite `Connection: close`, so
    // read until the response is complete rather than until EOF.
    read_response(&mut stream)
}

/// POSTs a chunked body of `total` bytes of `fill` (no `Content-Length`)
/// from another thread, reading the answer meanwhile, as a client that
/// keeps sending after the server answered would. Returns the answer and
/// how many body bytes were written by then or until the server stopped
/// taking them. (`wrangler dev` reads an unread body to its end before it
/// answers; the platform answers at once.)
pub fn post_chunked(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    total: usize,
    fill: u8,
    timeout: Duration,
) -> std::io::Result<(HttpResponse, usize)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let mut writer = stream.try_clone()?;
    let written = std::thread::spawn(move || {
        const PIECE: usize = 64 * 1024;
        let piece = [vec![fill; PIECE], b"\r\n".to_vec()].concat();
        let mut sent = 0;
        while sent < total {
            let size = PIECE.min(total - sent);
            let chunk = [format!("{size:x}\r\n").as_bytes(), &piece[..size], b"\r\n"].concat();
            if writer.write_all(&chunk).is_err() {
                return sent;
            }
            sent += size;
        }
        let _ = writer.write_all(b"0\r\n\r\n");
        sent
    });
    let answer = read_response(&mut stream);
    // The server may stop reading without closing: end the upload.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let sent = written.join().unwrap_or_default();
    answer.map(|a| (a, sent))
}

fn read_response(stream: &mut TcpStream) -> std::io::Result<HttpResponse> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(resp) = parse(&raw) {
            return Ok(resp);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return parse(&raw).ok_or_else(|| std::io::Error::other("truncated HTTP response"));
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

fn parse(raw: &[u8]) -> Option<HttpResponse> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let body = match (chunked, length) {
        // These statuses never have a body (RFC 9110 §6.4.1).
        _ if status == 204 || status == 304 => Vec::new(),
        (true, _) => dechunk(body)?,
        (false, Some(len)) => body.get(..len)?.to_vec(),
        // Neither: the body ends at EOF, which only the caller can see.
        (false, None) => return None,
    };
    Some(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

pub fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}
