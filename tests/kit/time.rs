//! Time in tests: tokio's paused clock, moved only by the test, and waits bounded in real
//! time (which the paused clock cannot bound).

use std::time::Duration;

/// Stops tokio's paused clock from jumping ahead on its own.
///
/// A paused clock auto-advances whenever the runtime looks idle, and a task woken by socket
/// I/O does not count as busy, so with real sockets time could leap while a request is in
/// flight. A blocking task inhibits auto-advance for as long as it runs, so while this guard
/// lives the clock moves only by `tokio::time::advance`.
pub struct Frozen(#[allow(dead_code)] std::sync::mpsc::Sender<()>);

pub fn freeze_time() -> Frozen {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        let _ = rx.recv();
    });
    Frozen(tx)
}

/// Moves the frozen clock forward; due timers fire.
pub async fn advance(d: Duration) {
    tokio::time::advance(d).await;
}

/// Runs `f` for at most `limit` of real time (the virtual clock does not move by itself).
pub async fn real_timeout<F: std::future::Future>(limit: Duration, f: F) -> Option<F::Output> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    // Ends early when `tx` is dropped, so no thread outlives the wait.
    let timer = tokio::task::spawn_blocking(move || {
        let _ = rx.recv_timeout(limit);
    });
    let out = tokio::select! {
        v = f => Some(v),
        _ = timer => None,
    };
    drop(tx);
    out
}

/// Like [`real_timeout`], failing the test after 20 s.
pub async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    real_timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}
