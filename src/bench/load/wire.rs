//! The load client's HTTP/1.1 on the wire: each request written from one buffer with one write,
//! each response read into one buffer and parsed in place.
//!
//! Why not hyper's client: its connection is a second task fed through a channel, with a
//! oneshot per response, a timer and a body stream per request. On the benchmark machine (2
//! vCPUs shared by client, server and HSM) that cost ~40 µs of CPU per request (perf, `qtsp
//! bench tsa`), time taken from the server being measured. The benchmark needs far less: one
//! request at a time per connection, responses with a `Content-Length` (ours, openssl's
//! responder) or chunked, and to notice when the server closes.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};

/// Largest response the client accepts (the biggest the benchmarks get is a CRL or a token
/// with its certificate, a few KiB).
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// Bytes read at once, at least.
const READ_CHUNK: usize = 16 * 1024;

/// Response header fields parsed, at most.
const MAX_HEADERS: usize = 32;

/// Why an exchange ended without a response.
#[derive(Debug)]
pub(super) enum WireError {
    /// The connection ended before the first byte of the response: on a kept-alive
    /// connection, the server closed it while idle (or dropped the request).
    ClosedBeforeResponse,
    /// Reading or writing failed, or the connection ended inside the response.
    Io(io::Error),
    /// The bytes received are not an HTTP/1.x response the client understands.
    Malformed(&'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClosedBeforeResponse => f.write_str("the connection ended before the response"),
            Self::Io(error) => write!(f, "{error}"),
            Self::Malformed(what) => write!(f, "malformed response: {what}"),
        }
    }
}

impl From<io::Error> for WireError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// A complete response: its status, where its body lies in the link's buffers, and whether the
/// server closes the connection after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reply {
    pub status: u16,
    /// The connection cannot carry another request.
    pub close: bool,
    body: BodyAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyAt {
    /// `buf[start..end]`.
    Buffer { start: usize, end: usize },
    /// The decoded chunks, in `chunks`.
    Chunks,
}

/// How the body of a response is delimited (RFC 9112, section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// The parts of a response head the client acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    len: usize,
    status: u16,
    framing: Framing,
    close: bool,
}

/// One connection to the server.
#[derive(Debug)]
pub(super) struct Link {
    stream: TcpStream,
    /// Bytes received and not yet consumed; a response's head and (unless chunked) body.
    buf: Vec<u8>,
    /// The decoded body of a chunked response.
    chunks: Vec<u8>,
}

impl Link {
    pub async fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        // Requests are small and written at once; Nagle would hold them for the previous ACK.
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(READ_CHUNK),
            chunks: Vec::new(),
        })
    }

    /// Sends `request` (complete, head and body) and reads its response.
    pub async fn exchange(&mut self, request: &[u8]) -> Result<Reply, WireError> {
        self.buf.clear();
        self.stream.write_all(request).await.map_err(|error| {
            // A write refused by a connection the server already closed is the idle-close case.
            if matches!(
                error.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) {
                WireError::ClosedBeforeResponse
            } else {
                WireError::Io(error)
            }
        })?;
        let head = loop {
            if let Some(head) = parse_head(&self.buf)? {
                if (100..200).contains(&head.status) {
                    // An interim response (100 Continue...): the final one follows.
                    self.buf.drain(..head.len);
                    continue;
                }
                break head;
            }
            match self.fill().await {
                Ok(0) if self.buf.is_empty() => return Err(WireError::ClosedBeforeResponse),
                Ok(0) => return Err(WireError::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(_) => {}
                // A server may close an idle connection with a reset rather than a FIN.
                Err(WireError::Io(error))
                    if self.buf.is_empty() && error.kind() == io::ErrorKind::ConnectionReset =>
                {
                    return Err(WireError::ClosedBeforeResponse);
                }
                Err(error) => return Err(error),
            }
        };
        let bodiless = matches!(head.status, 204 | 304);
        let (body, close) = match head.framing {
            _ if bodiless => (
                BodyAt::Buffer {
                    start: head.len,
                    end: head.len,
                },
                head.close,
            ),
            Framing::Length(len) => {
                let end = head
                    .len
                    .checked_add(len)
                    .filter(|end| *end <= MAX_RESPONSE)
                    .ok_or(WireError::Malformed("the body is too large"))?;
                while self.buf.len() < end {
                    if self.fill().await? == 0 {
                        return Err(WireError::Io(io::ErrorKind::UnexpectedEof.into()));
                    }
                }
                (
                    BodyAt::Buffer {
                        start: head.len,
                        end,
                    },
                    head.close,
                )
            }
            Framing::Chunked => {
                let body = |link: &mut Self| {
                    decode_chunked(link.buf.get(head.len..).unwrap_or(&[]), &mut link.chunks)
                };
                while body(self)?.is_none() {
                    if self.fill().await? == 0 {
                        return Err(WireError::Io(io::ErrorKind::UnexpectedEof.into()));
                    }
                }
                (BodyAt::Chunks, head.close)
            }
            Framing::UntilClose => {
                while self.fill().await? > 0 {}
                let end = self.buf.len();
                (
                    BodyAt::Buffer {
                        start: head.len,
                        end,
                    },
                    true,
                )
            }
        };
        Ok(Reply {
            status: head.status,
            close,
            body,
        })
    }

    /// The body of `reply`, the last response [`Link::exchange`] returned.
    pub fn body(&self, reply: &Reply) -> &[u8] {
        match reply.body {
            BodyAt::Buffer { start, end } => self.buf.get(start..end).unwrap_or(&[]),
            BodyAt::Chunks => &self.chunks,
        }
    }

    /// Waits until `when` while watching the idle connection: `false` as soon as the server
    /// closes it (or sends something unasked), so that it is replaced now rather than inside the
    /// next request's latency.
    pub async fn idle_until(&mut self, when: Instant) -> bool {
        loop {
            tokio::select! {
                () = sleep_until(when) => return true,
                ready = self.stream.readable() => {
                    if ready.is_err() {
                        return false;
                    }
                    let mut probe = [0u8; 1];
                    match self.stream.try_read(&mut probe) {
                        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                        // End of stream, unsolicited bytes or an error: the link is done.
                        _ => return false,
                    }
                }
            }
        }
    }

    /// Reads what is available into `buf`; 0 at the end of the stream.
    async fn fill(&mut self) -> Result<usize, WireError> {
        if self.buf.len() >= MAX_RESPONSE {
            return Err(WireError::Malformed("the response is too large"));
        }
        self.buf.reserve(READ_CHUNK);
        Ok(self.stream.read_buf(&mut self.buf).await?)
    }
}

/// The head of the response at the start of `buf`, or `None` while it is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, WireError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(WireError::Malformed("not an HTTP/1.x response head")),
    };
    let status = response
        .code
        .ok_or(WireError::Malformed("no status code"))?;
    // HTTP/1.0 closes after each response unless it says otherwise; HTTP/1.1 keeps alive.
    let mut close = response.version != Some(1);
    let mut length = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or(WireError::Malformed("invalid Content-Length"))?;
            if length.is_some_and(|known| known != value) {
                return Err(WireError::Malformed("conflicting Content-Length"));
            }
            length = Some(value);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = header
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            if !chunked {
                return Err(WireError::Malformed("a transfer coding other than chunked"));
            }
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
    }
    let framing = match (chunked, length) {
        // Transfer-Encoding overrides Content-Length (RFC 9112, section 6.3).
        (true, _) => Framing::Chunked,
        (false, Some(len)) => Framing::Length(len),
        (false, None) => Framing::UntilClose,
    };
    Ok(Some(Head {
        len,
        status,
        framing,
        close,
    }))
}

/// Decodes a chunked body from `bytes` into `out`: `Some(consumed)` once the last chunk and the
/// trailer section are in, `None` while more bytes are needed. Starts over on every call (the
/// benchmarks' bodies are small).
fn decode_chunked(bytes: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, WireError> {
    out.clear();
    let mut at = 0usize;
    loop {
        let rest = bytes.get(at..).unwrap_or(&[]);
        let (header_len, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete((len, size))) => (len, size),
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(WireError::Malformed("invalid chunk size")),
        };
        at += header_len;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let rest = bytes.get(at..).unwrap_or(&[]);
                let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some(at));
                }
            }
        }
        let size = usize::try_from(size)
            .ok()
            .filter(|size| out.len().saturating_add(*size) <= MAX_RESPONSE)
            .ok_or(WireError::Malformed("the body is too large"))?;
        let Some(data) = bytes.get(at..at + size) else {
            return Ok(None);
        };
        match bytes.get(at + size..at + size + 2) {
            Some(b"\r\n") => {}
            Some(_) => return Err(WireError::Malformed("a chunk without its CRLF")),
            None => return Ok(None),
        }
        out.extend_from_slice(data);
        at += size + 2;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn head(bytes: &[u8]) -> Head {
        parse_head(bytes).unwrap().unwrap()
    }

    #[test]
    fn a_head_with_content_length_keeps_alive() {
        let h = head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
        assert_eq!(h.status, 200);
        assert_eq!(h.framing, Framing::Length(5));
        assert!(!h.close);
        assert_eq!(h.len, 38);
    }

    #[test]
    fn http_1_0_closes_unless_keep_alive() {
        assert!(head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").close);
        let h = head(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.close);
        assert!(head(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").close);
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let chunked = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(head(chunked).framing, Framing::Chunked);
        assert_eq!(
            head(b"HTTP/1.1 200 OK\r\n\r\n").framing,
            Framing::UntilClose
        );
    }

    #[test]
    fn incomplete_heads_wait_and_garbage_is_malformed() {
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le")
                .unwrap()
                .is_none()
        );
        assert!(parse_head(b"").unwrap().is_none());
        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        ] {
            assert!(
                matches!(parse_head(bad), Err(WireError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn chunked_bodies_decode_and_wait_for_their_end() {
        let mut out = Vec::new();
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n";
        assert_eq!(decode_chunked(body, &mut out).unwrap(), Some(body.len()));
        assert_eq!(out, b"hello world");
        for cut in 0..body.len() {
            assert_eq!(
                decode_chunked(&body[..cut], &mut out).unwrap(),
                None,
                "{cut}"
            );
        }
        assert!(matches!(
            decode_chunked(b"5\r\nhelloXX0\r\n\r\n", &mut out),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            decode_chunked(b"zz\r\n", &mut out),
            Err(WireError::Malformed(_))
        ));
    }
}
