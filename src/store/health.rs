//! Whether the store takes writes. A write refused as unavailable (disk full, an I/O error,
//! the database locked) marks the store unhealthy; only a probe — a write that must grow the
//! store, committed — marks it healthy again, so a write that happened to fit in free space
//! does not hide a full disk.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub(super) struct Health {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Since when, and the last reason.
    refused: Option<(Instant, String)>,
    last_probe: Option<Instant>,
}

impl Health {
    /// Probes at most this often, however often health is asked.
    const PROBE_EVERY: Duration = Duration::from_millis(250);

    pub(super) fn refused(&self, reason: String) {
        let mut s = self.state.lock().expect("store health poisoned");
        // The first reason of a spell is kept: later ones are mostly its echoes.
        match &s.refused {
            Some(_) => {}
            None => {
                tracing::error!(reason = %reason, "the store refuses writes; retrying (see /readyz)");
                s.refused = Some((Instant::now(), reason));
            }
        }
    }

    pub(super) fn recovered(&self) {
        let mut s = self.state.lock().expect("store health poisoned");
        if let Some((since, _)) = s.refused.take() {
            tracing::warn!(
                after_ms = since.elapsed().as_millis() as u64,
                "the store takes writes again"
            );
        }
    }

    /// `None` while healthy; else why not, and whether a probe is due now (and is counted as
    /// started).
    pub(super) fn problem(&self) -> Option<(String, bool)> {
        let mut s = self.state.lock().expect("store health poisoned");
        let (since, reason) = s.refused.as_ref()?;
        let text = format!(
            "the store refuses writes (for {}s): {reason}",
            since.elapsed().as_secs()
        );
        let due = s
            .last_probe
            .is_none_or(|t| t.elapsed() >= Self::PROBE_EVERY);
        if due {
            s.last_probe = Some(Instant::now());
        }
        Some((text, due))
    }
}
