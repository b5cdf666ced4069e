//! Dashboard sessions and the used sign-in links (see `api::ui::session`). Only hashes of
//! cookies are stored; a link's nonce is not a secret once used.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Context, Tx, from_ms, to_ms};
use crate::domain::access::Role;
use crate::store::{Result, UiSession};

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<UiSession> {
    let role: String = r.get(4)?;
    Ok(UiSession {
        id_hash: r.get(0)?,
        person: r.get(1)?,
        token_hash: r.get(2)?,
        label: r.get(3)?,
        // An unknown role reads as the least one; the schema's CHECK keeps it from happening.
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        csrf: r.get(5)?,
        created_at: from_ms(r.get(6)?),
        expires_at: from_ms(r.get(7)?),
    })
}

impl Tx<'_> {
    pub fn ui_session(&self, id_hash: &str) -> Result<Option<UiSession>> {
        self.conn()
            .prepare_cached(
                "SELECT id_hash, person, token_hash, label, role, csrf, created_at, expires_at
                 FROM ui_sessions WHERE id_hash = ?1",
            )?
            .query_row([id_hash], session_from_row)
            .optional()
            .context("loading a dashboard session")
    }

    pub fn insert_ui_session(&self, s: &UiSession, now: DateTime<Utc>) -> Result<()> {
        self.conn()
            .prepare_cached("DELETE FROM ui_sessions WHERE expires_at < ?1")?
            .execute([to_ms(now)])
            .context("dropping expired dashboard sessions")?;
        self.conn()
            .prepare_cached(
                "INSERT INTO ui_sessions (id_hash, person, token_hash, label, role, csrf,
                                          created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                s.id_hash,
                s.person,
                s.token_hash,
                s.label,
                s.role.as_str(),
                s.csrf,
                to_ms(s.created_at),
                to_ms(s.expires_at)
            ])
            .context("storing a dashboard session")?;
        Ok(())
    }

    pub fn delete_ui_session(&self, id_hash: &str) -> Result<bool> {
        let n = self
            .conn()
            .prepare_cached("DELETE FROM ui_sessions WHERE id_hash = ?1")?
            .execute([id_hash])
            .context("ending a dashboard session")?;
        Ok(n > 0)
    }

    pub fn use_signin_link(
        &self,
        nonce: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.conn()
            .prepare_cached("DELETE FROM ui_used_links WHERE expires_at < ?1")?
            .execute([to_ms(now)])
            .context("forgetting expired sign-in links")?;
        let n = self
            .conn()
            .prepare_cached(
                "INSERT INTO ui_used_links (nonce, expires_at) VALUES (?1, ?2)
                 ON CONFLICT (nonce) DO NOTHING",
            )?
            .execute(params![nonce, to_ms(expires_at)])
            .context("marking a sign-in link used")?;
        Ok(n == 1)
    }
}
