//! Connection hygiene on both listeners: how many connections are served at once, what
//! happens to the rest, and how long a quiet one may stay.
//!
//! One accept loop per listener takes every connection off the socket at once, so the
//! kernel's backlog never fills and no client is left unanswered. A connection that finds a
//! free slot ([`Gate`]) is served, wrapped in [`Admitted`], which gives the slot back when
//! the connection is dropped and closes it after its idle time without a byte read or
//! written. A connection over the limit is refused: the HTTP listener answers `503` with
//! `Retry-After` and closes; the gRPC listener closes at once (clients see UNAVAILABLE and
//! retry). The limits fit the open-file budget ([`fds`]), so `accept` never runs out.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
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

/// The answer to an HTTP connection over the limit.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain; charset=utf-8\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 52\r\n\
\r\n\
pagerd: too many connections open; retry in a moment\n";

/// How an over-limit connection is turned away.
#[derive(Clone)]
pub enum Refusal {
    /// Answer `503` (over TLS when `tls` is set), then close.
    Busy {
        tls: Option<(TlsAcceptor, Duration)>,
    },
    /// Close at once.
    Close,
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

    fn refuse(&self, tcp: TcpStream) {
        tracing::debug!(
            listener = self.name,
            max = self.max,
            "connection limit reached; refusing"
        );
        let Refusal::Busy { tls } = &self.refusal else {
            return; // dropping `tcp` closes it
        };
        // Answering takes a descriptor for a moment; past REFUSALS_AT_ONCE, just close.
        let Ok(permit) = self.refusals.clone().try_acquire_owned() else {
            return;
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let answer = async {
                match tls {
                    None => answer_busy(tcp).await,
                    Some((acceptor, handshake)) => {
                        if let Ok(Ok(s)) =
                            tokio::time::timeout(handshake, acceptor.accept(tcp)).await
                        {
                            answer_busy(s).await;
                        }
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), answer).await;
        });
    }
}

/// Writes the 503, then reads (and drops) what the client sent until it closes, so that
/// closing does not reset the connection before the client has read the answer.
async fn answer_busy<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    if s.write_all(BUSY).await.is_err() || s.shutdown().await.is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
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
