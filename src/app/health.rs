//! Two supervised tasks that tell the outside how pagerd is doing:
//! - the readiness monitor: gRPC health (`grpc.health.v1`, every service and the overall
//!   `""`) follows what `/readyz` says, NOT_SERVING while not ready, SERVING again after;
//! - the systemd watchdog: `WATCHDOG=1` only while the timer loop and the outbox dispatcher
//!   are turning (`domain::health::may_ping`), never from this task's own timer alone, so a
//!   wedged daemon with a live process stops pinging and systemd restarts it.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::domain::health::{self, Problem};
use crate::engine::Engine;

/// The watchdog period systemd asked for (`WATCHDOG_USEC`, `WATCHDOG_PID`), if any.
pub fn watchdog_from_env() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    health::watchdog_period(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// Sleeps `every` (or until `stop`: then `None`); says how late the wake-up was.
async fn tick(every: Duration, stop: &CancellationToken) -> Option<Duration> {
    let due = Instant::now() + every;
    tokio::select! {
        _ = stop.cancelled() => None,
        _ = tokio::time::sleep_until(due) => Some(Instant::now().saturating_duration_since(due)),
    }
}

fn listed(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Keeps gRPC health in step with readiness until `stop`.
pub async fn monitor(
    engine: Engine,
    reporter: HealthReporter,
    services: Vec<&'static str>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let stall = engine.loop_beats().limits().stall;
    let every = health::beat_every(stall).min(Duration::from_secs(5));
    let mut ready = true;
    while let Some(late) = tick(every, &stop).await {
        if !health::judge_round(late, stall) {
            continue;
        }
        let problems = engine.readiness().await;
        if problems.is_empty() == ready {
            continue;
        }
        ready = problems.is_empty();
        let status = if ready {
            tracing::info!("ready again: gRPC health SERVING");
            ServingStatus::Serving
        } else {
            tracing::warn!(problems = %listed(&problems), "not ready: gRPC health NOT_SERVING (see /readyz)");
            ServingStatus::NotServing
        };
        for name in std::iter::once("").chain(services.iter().copied()) {
            reporter.set_service_status(name, status).await;
        }
    }
    Ok(())
}

/// Sends `WATCHDOG=1` every quarter `period` while every loop is turning, until `stop`.
pub async fn watchdog(
    engine: Engine,
    period: Duration,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let every = (period / 4).max(Duration::from_millis(10));
    let beats = engine.loop_beats().clone();
    let stall = beats.limits().stall;
    let mut withheld = false;
    tracing::info!(period_ms = period.as_millis() as u64, "systemd watchdog on");
    while let Some(late) = tick(every, &stop).await {
        // After a suspend the loops had no chance to turn either: look again next tick.
        if !health::judge_round(late, stall) {
            continue;
        }
        let now = health::Now {
            mono: beats.now_mono(),
            utc: engine.clock().now(),
        };
        let (turns, limits) = (beats.turns(), beats.limits());
        if health::may_ping(&turns, now, limits) {
            if withheld {
                tracing::warn!("loops turn again: watchdog pings resume");
                withheld = false;
            }
            if let Err(e) = ping() {
                tracing::warn!(error = %e, "watchdog ping not sent");
            }
        } else if !withheld {
            withheld = true;
            tracing::error!(
                problems = %listed(&health::liveness(&turns, now, limits)),
                "watchdog pings withheld: systemd restarts pagerd unless the loops turn again"
            );
        }
    }
    Ok(())
}

/// Sends `WATCHDOG=1` to `NOTIFY_SOCKET` without blocking: a datagram socket whose reader
/// lags blocks its senders once its queue is full, and a blocked runtime worker would stall
/// pagerd itself. A ping that does not fit is dropped (the next one comes a quarter period on).
fn ping() -> std::io::Result<()> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let socket = std::os::unix::net::UnixDatagram::unbound()?;
    socket.set_nonblocking(true)?;
    socket.connect(path)?;
    socket.send(b"WATCHDOG=1\n").map(|_| ())
}
