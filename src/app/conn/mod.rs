//! Connection hygiene on both listeners: how many connections are served at once, what
//! happens to the rest, and how long a quiet one may stay.
//!
//! One accept loop per listener takes every connection off the socket at once, so the
//! kernel's backlog never fills and no client is left hanging. A connection that finds a
//! free slot ([`Gate`]) is served, wrapped in [`Admitted`], which gives the slot back when
//! the connection is dropped and closes it after its idle time without a byte read or
//! written. A connection over the limit is refused with an answer: the HTTP listener sends
//! `503` with `Retry-After` and closes; the gRPC listener answers its calls UNAVAILABLE
//! (which clients retry) and says GOAWAY. The limits fit the open-file budget ([`fds`]), so
//! `accept` never runs out.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub mod fds;
mod grpc;
mod http;

pub use grpc::{grpc_incoming, grpc_incoming_tls};
pub use http::serve_http;

/// How an over-limit connection is turned away (over TLS when `tls` is set).
#[derive(Clone)]
pub enum Refusal {
    /// HTTP: answer `503` with `Retry-After`, then close.
    Busy {
        tls: Option<(TlsAcceptor, Duration)>,
    },
    /// gRPC: answer every call on the connection UNAVAILABLE, then close (GOAWAY).
    Unavailable {
        tls: Option<(TlsAcceptor, Duration)>,
    },
}

/// The connection limit of one listener.
#[derive(Clone)]
pub struct Gate {
    /// Which listener, for the log.
    name: &'static str,
    max: usize,
    slots: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    idle: Duration,
    refusal: Refusal,
    /// Refusals since the last warning, and when that was: one line a minute at most.
    refused: Arc<std::sync::Mutex<(u64, Option<Instant>)>>,
}

impl Gate {
    pub fn new(name: &'static str, max: usize, idle: Duration, refusal: Refusal) -> Self {
        Self {
            name,
            max,
            slots: Arc::new(Semaphore::new(max)),
            refusals: Arc::new(Semaphore::new(fds::REFUSALS_AT_ONCE)),
            idle,
            refusal,
            refused: Default::default(),
        }
    }

    /// Serves `tcp` if a slot is free; otherwise turns it away.
    fn admit(&self, tcp: TcpStream) -> Option<Admitted<TcpStream>> {
        match self.slots.clone().try_acquire_owned() {
            Ok(slot) => Some(Admitted::new(tcp, slot, self.idle)),
            Err(_) => {
                self.refuse(tcp);
                None
            }
        }
    }

    /// Operators hear of refusals, without one log line per refused connection.
    fn note_refusal(&self) {
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        refused.0 += 1;
        let now = Instant::now();
        if refused
            .1
            .is_none_or(|at| now >= at + Duration::from_secs(60))
        {
            tracing::warn!(
                listener = self.name,
                max_connections = self.max,
                refused = refused.0,
                "connection limit reached: refusing new connections"
            );
            *refused = (0, Some(now));
        }
    }

    fn refuse(&self, tcp: TcpStream) {
        self.note_refusal();
        // Answering holds a descriptor for a moment; past REFUSALS_AT_ONCE, just close.
        let Ok(permit) = self.refusals.clone().try_acquire_owned() else {
            return;
        };
        let refusal = self.refusal.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let (tls, busy) = match refusal {
                Refusal::Busy { tls } => (tls, true),
                Refusal::Unavailable { tls } => (tls, false),
            };
            let answer = async {
                match tls {
                    None => answer_refused(tcp, busy).await,
                    Some((acceptor, handshake)) => {
                        let shaken = tokio::time::timeout(handshake, acceptor.accept(tcp)).await;
                        if let Ok(Ok(s)) = shaken {
                            answer_refused(s, busy).await;
                        }
                    }
                }
            };
            let _ = tokio::time::timeout(REFUSAL_TIME, answer).await;
        });
    }
}

/// How long a refused connection may take to be answered, TLS handshake included.
const REFUSAL_TIME: Duration = Duration::from_secs(5);
/// How long a refused connection is served before it is closed: a client sends its request
/// at once; one that sends nothing must not hold a descriptor by being refused.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Serves a refused connection (HTTP/1 or HTTP/2, whichever the client speaks) for a
/// moment, answering every request `503` with `Retry-After` (`busy`) or every gRPC call
/// UNAVAILABLE (which clients retry), then closes it (GOAWAY on HTTP/2).
async fn answer_refused<S>(s: S, busy: bool)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let service = hyper::service::service_fn(move |req: axum::http::Request<_>| async move {
        Ok::<_, std::convert::Infallible>(if busy {
            busy_response(req.version())
        } else {
            tonic::Status::unavailable(
                "pagerd: too many connections open (connections.grpc.max_connections); \
                 retry in a moment",
            )
            .into_http::<axum::body::Body>()
        })
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(s), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = tokio::time::sleep(REFUSAL_LINGER) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

fn busy_response(version: axum::http::Version) -> axum::http::Response<axum::body::Body> {
    use axum::http::{Response, StatusCode, Version, header};
    let mut response = Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .header(header::RETRY_AFTER, "1")
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8");
    if version <= Version::HTTP_11 {
        response = response.header(header::CONNECTION, "close");
    }
    response
        .body(axum::body::Body::from(
            "pagerd: too many connections open; retry in a moment\n",
        ))
        .expect("a valid response")
}

/// Takes connections off `listener` until `stop`, handing each admitted one to `admit`.
/// Accept errors (a descriptor shortage despite the budget) pause the loop briefly.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    gate: Gate,
    stop: CancellationToken,
    mut admit: impl FnMut(Admitted<TcpStream>, SocketAddr),
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                if let Some(conn) = gate.admit(tcp) {
                    admit(conn, peer);
                }
            }
            Err(e) => {
                tracing::warn!(listener = gate.name, error = %e, "accept failed");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
}

/// An admitted connection: holds its slot until dropped, and fails reads and writes with
/// `TimedOut` once nothing has been read or written for `idle` (the server then closes it).
pub struct Admitted<S> {
    inner: S,
    _slot: OwnedSemaphorePermit,
    idle: Duration,
    last: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<S> Admitted<S> {
    fn new(inner: S, slot: OwnedSemaphorePermit, idle: Duration) -> Self {
        let last = Instant::now();
        Self {
            inner,
            _slot: slot,
            idle,
            last,
            timer: Box::pin(tokio::time::sleep_until(last + idle)),
        }
    }

    fn touch(&mut self) {
        self.last = Instant::now();
    }

    /// Whether the idle time is up; otherwise the timer is armed to wake this task at the
    /// new deadline. The timer is re-armed lazily, not on every byte.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let deadline = self.last + self.idle;
            if deadline <= Instant::now() {
                return true;
            }
            self.timer.as_mut().reset(deadline);
        }
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle too long")
}

impl<S: AsyncRead + Unpin> AsyncRead for Admitted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Admitted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // A peer that stopped reading is as idle as one that stopped writing.
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Admitted<TcpStream> {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests;
