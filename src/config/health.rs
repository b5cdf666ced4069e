//! `[health]`: when pagerd counts as alive and as ready (`/healthz`, `/readyz`, gRPC health,
//! the systemd watchdog); the rules are `domain::health`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

use super::settings::de_duration;
use crate::domain::health::Limits;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSettings {
    /// A loop (timer, outbox dispatcher) that has not turned this long is stalled: not
    /// alive, and the watchdog pings stop.
    #[serde(deserialize_with = "de_duration")]
    pub stall_limit: Duration,
    /// Work (a due action, a due page) overdue by more than this: not ready.
    #[serde(deserialize_with = "de_duration")]
    pub behind_limit: Duration,
    /// For tests only: while this file exists the timer loop stops turning, as a stuck loop
    /// would (how the watchdog test wedges the real binary).
    pub wedge_timer_file: Option<PathBuf>,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            stall_limit: Duration::from_secs(30),
            behind_limit: Duration::from_secs(60),
            wedge_timer_file: None,
        }
    }
}

impl HealthSettings {
    pub fn limits(&self) -> Limits {
        Limits {
            stall: self.stall_limit,
            behind: self.behind_limit,
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        // Shorter would call a loop stalled while it is merely busy with one store write.
        if self.stall_limit < Duration::from_secs(1) {
            bail!("health.stall_limit: must be at least 1s");
        }
        if self.behind_limit < Duration::from_secs(1) {
            bail!("health.behind_limit: must be at least 1s");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::Settings;

    fn load(vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(None, env)
    }

    #[test]
    fn health_limits_are_read_and_checked_by_name() {
        let s = load(&[
            ("PAGERD_HEALTH__STALL_LIMIT", "2s"),
            ("PAGERD_HEALTH__BEHIND_LIMIT", "5m"),
            ("PAGERD_HEALTH__WEDGE_TIMER_FILE", "/tmp/wedge"),
        ])
        .unwrap();
        assert_eq!(s.health.stall_limit.as_secs(), 2);
        assert_eq!(s.health.behind_limit.as_secs(), 300);
        assert_eq!(
            s.health.wedge_timer_file.as_deref(),
            Some(std::path::Path::new("/tmp/wedge"))
        );
        for (key, value, message) in [
            (
                "PAGERD_HEALTH__STALL_LIMIT",
                "500ms",
                "health.stall_limit: must be at least 1s",
            ),
            (
                "PAGERD_HEALTH__BEHIND_LIMIT",
                "10ms",
                "health.behind_limit: must be at least 1s",
            ),
            ("PAGERD_HEALTH__STALL_LIMIT", "soon", "invalid duration"),
        ] {
            let err = format!("{:#}", load(&[(key, value)]).unwrap_err());
            assert!(err.contains(message), "{key}={value}: {err}");
        }
    }
}
