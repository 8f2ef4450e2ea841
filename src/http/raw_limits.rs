//! 414 and 431 as problem+json, with an access-log line.
//!
//! hyper refuses a request line over 64 KiB (a limit of the `http` crate's `Uri`, not
//! configurable) and a head over its read buffer before any service sees the request, and
//! answers with a bare status line and an empty body. This listener wraps every connection:
//! when hyper starts such an automatic answer, the wrapper writes the contract's problem
//! document instead (with `X-Content-Type-Options: nosniff`, an `X-Request-Id` and
//! `Connection: close`), logs and counts it like any request, and then drains what the
//! client is still sending for a moment, so closing does not reset the connection before
//! the client has read the answer.
//!
//! Nothing else produces 414 or 431, so a status line with one of them at the start of a
//! write is always hyper's automatic answer.

use super::telemetry;
use crate::error::AppError;
use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};

/// Bytes of a request's start kept to name its method and path in the access log.
const HEAD_PREFIX: usize = 256;
/// How long, and how much, a refused client's remaining request is read and dropped.
const DRAIN_FOR: Duration = Duration::from_secs(2);
const DRAIN_BYTES: usize = 8 << 20;

/// A TCP listener whose connections answer hyper's 414 and 431 as problem+json.
pub struct Listener(pub TcpListener);

/// The peer address of a connection accepted by [`Listener`], as request extension
/// (`ConnectInfo<PeerAddr>`): login throttling needs the client IP. A type of our own because
/// axum implements `Connected` for `SocketAddr` only on its own listeners.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub std::net::SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Listener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, Listener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl axum::serve::Listener for Listener {
    type Io = Guarded;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (Guarded::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// One connection (see the module docs).
pub struct Guarded {
    /// `None` only once dropped (moved to the drain task).
    io: Option<TcpStream>,
    /// The start of the request being read: the first bytes read after the last write.
    head: Vec<u8>,
    /// Set by every write: the next read begins a new request.
    fresh: bool,
    /// Our replacement answer, and how much of it is written.
    answer: Option<(Vec<u8>, usize)>,
    /// Whether this connection answered 414/431 (then it is drained on drop).
    refused: bool,
}

impl Guarded {
    fn new(io: TcpStream) -> Self {
        Self {
            io: Some(io),
            head: Vec::new(),
            fresh: true,
            answer: None,
            refused: false,
        }
    }

    fn io(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        self.io
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// Writes what is left of the replacement answer.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = self.answer.take() {
            if written == bytes.len() {
                break;
            }
            let poll = match self.io.as_mut() {
                Some(io) => Pin::new(io).poll_write(cx, &bytes[written..]),
                None => return Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
            };
            match poll {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.answer = Some((bytes, written + n)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.answer = Some((bytes, written));
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// If `first` starts hyper's automatic 414/431, replaces it; returns whether it did.
    fn intercept(&mut self, first: &[u8]) -> bool {
        if self.refused {
            return false;
        }
        let error = if first.starts_with(b"HTTP/1.1 414 ") {
            AppError::UriTooLong
        } else if first.starts_with(b"HTTP/1.1 431 ") {
            AppError::HeadersTooLarge
        } else {
            return false;
        };
        self.refused = true;
        let (method, path) = request_line(&self.head);
        let started = Instant::now();
        let (status, body) = error.problem_json();
        let request_id = telemetry::new_request_id();
        let body = body.to_string();
        let answer = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
             x-content-type-options: nosniff\r\n{}: {request_id}\r\nconnection: close\r\n\r\n{body}",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default(),
            super::error::PROBLEM_JSON,
            body.len(),
            telemetry::REQUEST_ID.as_str(),
        );
        self.answer = Some((answer.into_bytes(), 0));
        telemetry::record_unrouted(&request_id, &method, &path, status, started.elapsed());
        true
    }
}

/// Method and path (query cut off, at most [`HEAD_PREFIX`] bytes) of a request's start.
fn request_line(head: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(head);
    let mut parts = text.splitn(3, ' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let path = target.split(['?', '\r', '\n']).next().unwrap_or_default();
    let method = if method.bytes().all(|b| b.is_ascii_uppercase()) && !method.is_empty() {
        method
    } else {
        "-"
    };
    (method.to_owned(), path.to_owned())
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        ready!(this.io()?.poll_read(cx, buf))?;
        let new = &buf.filled()[before..];
        if !new.is_empty() {
            if this.fresh {
                this.head.clear();
                this.fresh = false;
            }
            let room = HEAD_PREFIX.saturating_sub(this.head.len());
            this.head.extend_from_slice(&new[..room.min(new.len())]);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_answer(cx))?;
        this.fresh = true;
        if this.intercept(buf) {
            // hyper's own bytes are dropped; ours go out on the next write or flush.
            return Poll::Ready(Ok(buf.len()));
        }
        this.io()?.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_answer(cx))?;
        this.fresh = true;
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        if this.intercept(first) {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        this.io()?.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_answer(cx))?;
        self.io()?.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_answer(cx))?;
        self.io()?.poll_shutdown(cx)
    }
}

impl Drop for Guarded {
    /// A refused client may still be sending the rest of its oversized head; closing with
    /// unread bytes would reset the connection and could destroy our answer in flight. So
    /// the rest is read and dropped, for a bounded time and amount.
    fn drop(&mut self) {
        if !self.refused {
            return;
        }
        let (Some(mut io), Ok(runtime)) = (self.io.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(async move {
            let drain = async {
                let mut sink = vec![0u8; 16 * 1024];
                let mut total = 0;
                while total < DRAIN_BYTES {
                    match io.read(&mut sink).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => total += n,
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_FOR, drain).await;
        });
    }
}
