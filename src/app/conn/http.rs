//! The HTTP listener's server: hyper's own connection builder rather than `axum::serve`,
//! which has no header-read timeout. Each admitted connection runs in its own task (TLS
//! handshake included, under its timeout); on `stop` no more are accepted, idle ones close
//! and requests in flight finish.

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Gate, accept_loop};

type Service = TowerToHyperService<axum::Router>;

/// Serves `router` on `listener` until `stop`, then waits for the open connections.
pub async fn serve_http(
    listener: TcpListener,
    gate: Gate,
    tls: Option<(TlsAcceptor, Duration)>,
    router: axum::Router,
    header_timeout: Duration,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let service = TowerToHyperService::new(router);
    let tracker = TaskTracker::new();
    accept_loop(listener, gate, stop.clone(), |conn, peer| {
        let (builder, service, stop, tls) =
            (builder.clone(), service.clone(), stop.clone(), tls.clone());
        tracker.spawn(async move {
            match tls {
                None => serve_one(&builder, conn, service, stop).await,
                Some((acceptor, handshake)) => {
                    let shaken = tokio::select! {
                        // A handshake in progress does not hold up shutdown.
                        _ = stop.cancelled() => return,
                        r = tokio::time::timeout(handshake, acceptor.accept(conn)) => r,
                    };
                    match shaken {
                        Ok(Ok(stream)) => serve_one(&builder, stream, service, stop).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    })
    .await;
    tracker.close();
    tracker.wait().await;
    Ok(())
}

async fn serve_one<I>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    service: Service,
    stop: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let done = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    // Header timeouts, idle closes and clients going away all end here; none is news.
    if let Err(e) = done {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}
