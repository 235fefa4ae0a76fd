//! The one HTTP client of the tests: `GET` (and `POST`) over HTTP/1.0 (no
//! chunked bodies, the server closes), status, head and body.

use std::io::{self, Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// One response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// `GET path` on `addr`, reading until the server closes (30 s at most per
/// read). Checks `Content-Length` when the server sends one.
pub fn get(addr: impl ToSocketAddrs, path: &str) -> io::Result<Response> {
    request(
        addr,
        &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
    )
}

/// [`get`] with extra request headers (name, value).
pub fn get_with(
    addr: impl ToSocketAddrs,
    path: &str,
    headers: &[(&str, &str)],
) -> io::Result<Response> {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    request(
        addr,
        &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{extra}\r\n"),
    )
}

/// `POST path` with a JSON `body` on `addr`, read like [`get`].
pub fn post_json(addr: impl ToSocketAddrs, path: &str, body: &str) -> io::Result<Response> {
    request(
        addr,
        &format!(
            "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn request(addr: impl ToSocketAddrs, request: &str) -> io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw).map_err(|e| invalid(e.to_string()))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| invalid("no header end"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("no status"))?;
    let length: Option<usize> = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|l| l.trim().parse().ok());
    if length.is_some_and(|n| n != body.len()) {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("body of {} bytes, Content-Length {length:?}", body.len()),
        ));
    }
    Ok(Response {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}
