//! Secrets of the public HTTP URLs: each heartbeat's ping token and each calendar feed's
//! token (see SQLite's `secrets.rs` for why they are kept in clear).

use chrono::{DateTime, Utc};

use super::{Context, RowExt, Tx, to_ms};
use crate::store::Result;

impl Tx<'_, '_> {
    pub fn url_secret(&self, kind: &str, name: &str) -> Result<Option<String>> {
        self.query_opt(
            "SELECT token FROM url_secrets WHERE kind = $1 AND name = $2",
            &[&kind, &name],
        )
        .context("loading a URL secret")?
        .map(|r| r.at(0))
        .transpose()
    }

    pub fn set_url_secret(
        &self,
        kind: &str,
        name: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO url_secrets (kind, name, token, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind, name) DO UPDATE SET token = excluded.token,
                 created_at = excluded.created_at",
            &[&kind, &name, &token, &to_ms(now)],
        )
        .context("storing a URL secret")?;
        Ok(())
    }
}
