//! Secrets of the public HTTP URLs: each heartbeat's ping token and each calendar feed's
//! token. Kept in clear because admins are shown the URLs again (`pagerctl heartbeat list`,
//! `pagerctl feed-url`); they grant only a ping or a read of one feed.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Context, Tx, to_ms};
use crate::store::Result;

impl Tx<'_> {
    pub fn url_secret(&self, kind: &str, name: &str) -> Result<Option<String>> {
        self.conn()
            .prepare_cached("SELECT token FROM url_secrets WHERE kind = ?1 AND name = ?2")?
            .query_row(params![kind, name], |r| r.get(0))
            .optional()
            .context("loading a URL secret")
    }

    pub fn set_url_secret(
        &self,
        kind: &str,
        name: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO url_secrets (kind, name, token, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kind, name) DO UPDATE SET token = excluded.token,
                     created_at = excluded.created_at",
            )?
            .execute(params![kind, name, token, to_ms(now)])
            .context("storing a URL secret")?;
        Ok(())
    }
}
