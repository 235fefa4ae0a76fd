//! The little HTTP/1.x that `/metrics` needs: where a request head ends,
//! its request line and `Host`, the route, and the responses we send. Pure
//! functions over bytes; the sockets are in `listener.rs`.

use std::str::FromStr;

use crate::error::Error;
use crate::exporter::openmetrics::{PROMETHEUS_TEXT, wants_openmetrics};
use crate::exporter::outcome::Outcome;

/// The longest request head read; longer ones get `431`.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// Where the head in `buf` ends (just past its blank line), looking only at
/// bytes from `from` on (less the two a line end can span). A bare LF ends a
/// line as well as CRLF does (RFC 9112 §2.2).
pub(crate) fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from.saturating_sub(2);
    while let Some(p) = buf[at..].iter().position(|&b| b == b'\n') {
        let next = &buf[at + p + 1..];
        if next.starts_with(b"\n") {
            return Some(at + p + 2);
        }
        if next.starts_with(b"\r\n") {
            return Some(at + p + 3);
        }
        at += p + 1;
    }
    None
}

/// Whether `buf` can still begin a request line: printable ASCII and
/// spaces up to its first line end. A TLS hello or other binary is refused
/// at its first byte instead of waiting out the head deadline.
pub(crate) fn may_be_request(buf: &[u8]) -> bool {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(buf);
    line.iter().all(|&b| matches!(b, b' '..=b'~' | b'\r'))
}

/// A request line and the headers we look at.
#[derive(Debug, PartialEq)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) host: Option<&'a str>,
    /// The first `Accept` header: it picks OpenMetrics or the text format.
    pub(crate) accept: Option<&'a str>,
}

/// Parses a complete head (as delimited by [`head_end`]); `None` when it is
/// not HTTP/1.x, or has more than one `Host` (RFC 9112 §3.2: `400`).
pub(crate) fn parse_head(head: &[u8]) -> Option<Request<'_>> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || method.is_empty() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let (mut host, mut accept) = (None, None);
    for (name, value) in lines.filter_map(|l| l.split_once(':')) {
        if name.eq_ignore_ascii_case("accept") && accept.is_none() {
            accept = Some(value.trim_matches([' ', '\t']));
        }
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return None;
            }
            host = Some(value.trim_matches([' ', '\t']));
        }
    }
    Some(Request {
        method,
        target,
        host,
        accept,
    })
}

/// What to do with a request.
#[derive(Debug, PartialEq)]
pub(crate) enum Route {
    /// Render the exposition (without the body for `HEAD`): OpenMetrics
    /// text when the `Accept` header prefers it.
    Metrics { head_only: bool, openmetrics: bool },
    /// Send this response.
    Reply(Vec<u8>),
}

/// Routes a complete head: `GET`/`HEAD` of `/metrics` or `/` render, the
/// rest get an error status. Hosts outside `hosts` (when set) get `421`.
pub(crate) fn route(head: &[u8], hosts: &[HostName]) -> (Route, Outcome) {
    let Some(req) = parse_head(head) else {
        return (Route::Reply(error(400)), Outcome::BadRequest);
    };
    let host_ok = hosts.is_empty() || req.host.is_some_and(|h| hosts.iter().any(|a| a.matches(h)));
    if !host_ok {
        return (Route::Reply(error(421)), Outcome::RefusedHost);
    }
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        return (Route::Reply(error(405)), Outcome::Served);
    }
    match req.target.split('?').next() {
        Some("/metrics" | "/") => {
            let openmetrics = wants_openmetrics(req.accept);
            (
                Route::Metrics {
                    head_only,
                    openmetrics,
                },
                Outcome::Served,
            )
        }
        _ => (
            Route::Reply(response(404, b"not found\n", head_only)),
            Outcome::Served,
        ),
    }
}

// === responses ===

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// The error response for `status`, with a one-line body.
pub(crate) fn error(status: u16) -> Vec<u8> {
    let body: &[u8] = match status {
        400 => b"bad request\n",
        403 => b"forbidden\n",
        405 => b"method not allowed\n",
        408 => b"request timeout\n",
        421 => b"host not allowed\n",
        431 => b"request head too large\n",
        503 => b"busy\n",
        _ => b"error\n",
    };
    response(status, body, false)
}

/// A complete `Connection: close` response.
pub(crate) fn response(status: u16, body: &[u8], head_only: bool) -> Vec<u8> {
    let content_type = if status == 200 {
        PROMETHEUS_TEXT
    } else {
        "text/plain; charset=utf-8"
    };
    typed_response(status, content_type, body, head_only)
}

/// [`response`] with its `Content-Type`.
pub(crate) fn typed_response(
    status: u16,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> Vec<u8> {
    let allow = if status == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

// === HostName ===

/// An allowed `Host`: a name or address, with or without a port
/// (`localhost`, `127.0.0.1:9000`, `[::1]:9000`, `metrics.internal`).
/// Without a port it matches any port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostName {
    host: String,
    port: Option<u16>,
}

impl HostName {
    /// Whether a `Host` header value names this host (names compare
    /// case-insensitively, a trailing dot ignored).
    pub(crate) fn matches(&self, header: &str) -> bool {
        let Ok(other) = header.parse::<HostName>() else {
            return false;
        };
        other.host == self.host && (self.port.is_none() || self.port == other.port)
    }
}

impl FromStr for HostName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Config(format!(
                "allowed host {s:?} is not a host name or host:port"
            ))
        };
        let (host, port) = split_port(s).ok_or_else(bad)?;
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let plain = |b: u8| b.is_ascii_alphanumeric() || b"-._".contains(&b);
        let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
        let ok = if bracketed {
            (host[1..host.len() - 1].bytes()).all(|b| b.is_ascii_hexdigit() || b".:".contains(&b))
        } else {
            !host.is_empty() && host.bytes().all(plain)
        };
        match ok {
            true => Ok(HostName { host, port }),
            false => Err(bad()),
        }
    }
}

/// `host[:port]` (IPv6 in brackets); `None` for a bad port.
fn split_port(s: &str) -> Option<(&str, Option<u16>)> {
    let colon = match s.rfind(':') {
        Some(i) if !s[i..].contains(']') => i,
        _ => return Some((s, None)),
    };
    let port = s[colon + 1..].parse().ok()?;
    Some((&s[..colon], Some(port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(s: &str) -> Option<usize> {
        head_end(s.as_bytes(), 0)
    }

    #[test]
    fn heads_end_at_a_blank_line_with_crlf_or_bare_lf() {
        assert_eq!(end("GET / HTTP/1.1\r\nHost: x\r\n\r\nrest"), Some(27));
        assert_eq!(end("GET /metrics HTTP/1.0\n\n"), Some(23));
        assert_eq!(end("GET / HTTP/1.0\r\n\n"), Some(17));
        assert_eq!(end("GET / HTTP/1.0\n\r\n"), Some(17));
        assert_eq!(end("GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(end("GET / HTTP/1.1\r\n\r"), None);
        assert_eq!(end(""), None);
    }

    #[test]
    fn head_ends_are_found_when_the_blank_line_arrives_byte_by_byte() {
        let full = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut found = None;
        for len in 1..=full.len() {
            if let Some(e) = head_end(&full[..len], len - 1) {
                found = Some((len, e));
                break;
            }
        }
        assert_eq!(found, Some((full.len(), full.len())));
    }

    #[test]
    fn binary_is_told_apart_from_a_request_line_at_once() {
        assert!(may_be_request(b"GET /met"));
        assert!(may_be_request(b"GET / HTTP/1.1\r\nX: \xff"));
        assert!(may_be_request(b""));
        assert!(!may_be_request(b"\x16\x03\x01\x02\x00"));
        assert!(!may_be_request(b"GET /\x00"));
        assert!(!may_be_request(b"GET /\xc3\xa9 HTTP/1.1\r\n"));
    }

    #[test]
    fn request_lines_and_hosts_are_parsed() {
        let req =
            parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nAccept: */*\r\nHOST:  a.b:9000 \r\n\r\n");
        assert_eq!(
            req,
            Some(Request {
                method: "GET",
                target: "/metrics?x=1",
                host: Some("a.b:9000"),
                accept: Some("*/*"),
            })
        );
        assert_eq!(
            parse_head(b"GET / HTTP/1.0\n\n").map(|r| r.host),
            Some(None)
        );
        for bad in [
            "hello\r\n\r\n",
            "GET /\r\n\r\n",
            "GET / HTTP/2\r\n\r\n",
            "GET / HTTP/1.1 x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ] {
            assert_eq!(parse_head(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse_head(b"GET /\xff HTTP/1.1\r\n\r\n"), None);
    }

    #[test]
    fn routes_answer_each_method_path_and_host() {
        let hosts: Vec<HostName> = vec![
            "localhost".parse().unwrap(),
            "127.0.0.1:9000".parse().unwrap(),
        ];
        let r = |head: &str, hosts: &[HostName]| route(head.as_bytes(), hosts);
        assert_eq!(
            r("GET /metrics HTTP/1.1\r\n\r\n", &[]),
            (
                Route::Metrics {
                    head_only: false,
                    openmetrics: false
                },
                Outcome::Served
            )
        );
        assert_eq!(
            r(
                "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n\r\n",
                &[]
            ),
            (
                Route::Metrics {
                    head_only: false,
                    openmetrics: true
                },
                Outcome::Served
            )
        );
        assert_eq!(
            r("HEAD /?a HTTP/1.0\r\n\r\n", &[]),
            (
                Route::Metrics {
                    head_only: true,
                    openmetrics: false
                },
                Outcome::Served
            )
        );
        assert_eq!(
            r("GET /x HTTP/1.1\r\n\r\n", &[]),
            (
                Route::Reply(response(404, b"not found\n", false)),
                Outcome::Served
            )
        );
        assert_eq!(
            r("POST /metrics HTTP/1.1\r\n\r\n", &[]),
            (Route::Reply(error(405)), Outcome::Served)
        );
        assert_eq!(
            r("x\r\n\r\n", &[]),
            (Route::Reply(error(400)), Outcome::BadRequest)
        );
        let refused = (Route::Reply(error(421)), Outcome::RefusedHost);
        assert_eq!(
            r(
                "GET /metrics HTTP/1.1\r\nHost: evil.example\r\n\r\n",
                &hosts
            ),
            refused
        );
        assert_eq!(
            r(
                "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n",
                &hosts
            ),
            refused
        );
        assert_eq!(r("GET /metrics HTTP/1.0\r\n\r\n", &hosts), refused);
        for ok in ["LOCALHOST:1234", "localhost.", "127.0.0.1:9000"] {
            let head = format!("GET /metrics HTTP/1.1\r\nHost: {ok}\r\n\r\n");
            assert_eq!(r(&head, &hosts).1, Outcome::Served, "{ok}");
        }
    }

    #[test]
    fn error_responses_are_complete_and_say_close() {
        assert_eq!(
            String::from_utf8(error(503)).unwrap(),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n"
        );
        assert_eq!(
            String::from_utf8(error(405)).unwrap(),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\nmethod not allowed\n"
        );
    }

    #[test]
    fn allowed_hosts_parse_with_or_without_port() {
        let h = |s: &str| s.parse::<HostName>();
        assert!(h("[::1]:9000").unwrap().matches("[::1]:9000"));
        assert!(!h("[::1]:9000").unwrap().matches("[::1]:9001"));
        assert!(h("[::1]").unwrap().matches("[::1]:1"));
        assert!(
            h("Metrics.Internal")
                .unwrap()
                .matches("metrics.internal:9000")
        );
        assert!(
            !h("metrics.internal")
                .unwrap()
                .matches("metrics.internal.evil.example")
        );
        for bad in ["", ":9000", "a b", "a:99999", "a/b", "[]", "a:"] {
            assert_eq!(
                h(bad).unwrap_err().to_string(),
                format!(
                    "invalid configuration: allowed host {bad:?} is not a host name or host:port"
                ),
            );
        }
    }
}
