//! The gRPC listener's connections, as the stream tonic serves: admitted by the [`Gate`]
//! (over the limit: closed at once), with TLS handshakes in their own tasks under a timeout
//! so a client that stalls mid-handshake holds up no one else.

use std::io;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;

use super::{Admitted, Gate, accept_loop};

/// Plaintext connections of `listener` until `stop`.
// Unbounded is bounded here: every queued connection holds one of the gate's slots.
pub fn grpc_incoming(
    listener: TcpListener,
    gate: Gate,
    stop: CancellationToken,
) -> UnboundedReceiverStream<io::Result<Admitted<TcpStream>>> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(accept_loop(listener, gate, stop, move |conn, _peer| {
        let _ = tx.send(Ok(conn));
    }));
    UnboundedReceiverStream::new(rx)
}

/// TLS connections of `listener` until `stop`, each with the configuration `acceptor` gives
/// when it arrives; a handshake not done within `handshake` is dropped.
pub fn grpc_incoming_tls(
    listener: TcpListener,
    gate: Gate,
    acceptor: impl Fn() -> TlsAcceptor + Send + Sync + 'static,
    handshake: Duration,
    stop: CancellationToken,
) -> UnboundedReceiverStream<io::Result<TlsStream<Admitted<TcpStream>>>> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(accept_loop(listener, gate, stop, move |conn, peer| {
        let (acceptor, tx) = (acceptor(), tx.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(handshake, acceptor.accept(conn)).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send(Ok(stream));
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }));
    UnboundedReceiverStream::new(rx)
}
