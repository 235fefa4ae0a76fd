//! The one HTTP client of the tests: `GET` over HTTP/1.0 (no chunked
//! bodies, the server closes), status, head and body.

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
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
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
