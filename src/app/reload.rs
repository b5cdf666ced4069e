//! Hot reload of the schedules directory: on file changes (debounced) and on SIGHUP. The
//! `Reload` RPC calls the engine directly. Every path ends in `Engine::reload`, which reads
//! the files through [`dir_source`] (validated as a whole) and swaps the set in atomically
//! or refuses it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::engine::{Engine, PolicySource};

/// Reads and validates the policy files of `dir`; a refused set's reasons are its file:line
/// messages.
pub(crate) fn dir_source(dir: PathBuf) -> PolicySource {
    Arc::new(move || {
        crate::config::load_dir(&dir).map_err(|e| e.0.iter().map(ToString::to_string).collect())
    })
}

pub struct Reloader {
    engine: Engine,
    dir: PathBuf,
    watch: bool,
    debounce: Duration,
}

impl Reloader {
    pub fn new(engine: Engine, settings: &Settings) -> Self {
        Self {
            engine,
            dir: settings.schedules_dir.clone(),
            watch: settings.reload.watch,
            debounce: settings.reload.debounce,
        }
    }

    /// Runs until `stop`. A watcher that cannot start (no inotify, say) is logged and
    /// SIGHUP and the RPC keep working: reload is a convenience, paging is not at stake.
    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        let (tx, mut changes) = mpsc::unbounded_channel::<&'static str>();
        let _watcher = if self.watch {
            match watch(&self.dir, self.debounce, tx.clone()) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(dir = %self.dir.display(), error = format!("{e:#}"), "cannot watch the schedules directory; reload with SIGHUP or the Reload RPC");
                    None
                }
            }
        } else {
            None
        };
        #[cfg(unix)]
        tokio::spawn(forward_sighup(tx, stop.clone()));
        loop {
            let trigger = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                Some(t) = changes.recv() => t,
            };
            // Take whatever else queued meanwhile: one reload covers them.
            while changes.try_recv().is_ok() {}
            if let Err(e) = self.engine.reload(trigger).await {
                tracing::error!(trigger, error = format!("{e:#}"), "reload failed");
            }
        }
    }
}

/// Watches `dir` for changes to `*.toml` files; sends one message per quiet period.
fn watch(
    dir: &Path,
    debounce: Duration,
    tx: mpsc::UnboundedSender<&'static str>,
) -> anyhow::Result<Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>> {
    // The debouncer runs on its own thread and real time, independent of the runtime's clock.
    let mut debouncer = new_debouncer(debounce, move |res: DebounceEventResult| match res {
        Ok(events) => {
            if events
                .iter()
                .any(|e| e.path.extension().is_some_and(|x| x == "toml"))
            {
                let _ = tx.send("file change");
            }
        }
        Err(e) => tracing::warn!(error = %e, "schedules watcher error"),
    })?;
    debouncer
        .watcher()
        .watch(dir, RecursiveMode::NonRecursive)?;
    tracing::info!(dir = %dir.display(), "watching the schedules directory for changes");
    Ok(debouncer)
}

#[cfg(unix)]
async fn forward_sighup(tx: mpsc::UnboundedSender<&'static str>, stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            Some(()) = hup.recv() => {
                tracing::info!("SIGHUP received: reloading schedules");
                let _ = tx.send("SIGHUP");
            }
        }
    }
}
