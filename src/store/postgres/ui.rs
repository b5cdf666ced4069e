//! Dashboard sessions and the used sign-in links (see SQLite's `ui.rs`).

use chrono::{DateTime, Utc};

use super::{Context, RowExt, Tx, to_ms};
use crate::domain::access::Role;
use crate::store::{Result, UiSession};

fn session_from_row(r: &postgres::Row) -> Result<UiSession> {
    let role: String = r.at(4)?;
    Ok(UiSession {
        id_hash: r.at(0)?,
        person: r.at(1)?,
        token_hash: r.at(2)?,
        label: r.at(3)?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        csrf: r.at(5)?,
        created_at: r.ms_at(6)?,
        expires_at: r.ms_at(7)?,
    })
}

impl Tx<'_, '_> {
    pub fn ui_session(&self, id_hash: &str) -> Result<Option<UiSession>> {
        self.query_opt(
            "SELECT id_hash, person, token_hash, label, role, csrf, created_at, expires_at
             FROM ui_sessions WHERE id_hash = $1",
            &[&id_hash],
        )
        .context("loading a dashboard session")?
        .map(|r| session_from_row(&r))
        .transpose()
    }

    pub fn insert_ui_session(&self, s: &UiSession, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "DELETE FROM ui_sessions WHERE expires_at < $1",
            &[&to_ms(now)],
        )
        .context("dropping expired dashboard sessions")?;
        self.execute(
            "INSERT INTO ui_sessions (id_hash, person, token_hash, label, role, csrf,
                                      created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &s.id_hash,
                &s.person,
                &s.token_hash,
                &s.label,
                &s.role.as_str(),
                &s.csrf,
                &to_ms(s.created_at),
                &to_ms(s.expires_at),
            ],
        )
        .context("storing a dashboard session")?;
        Ok(())
    }

    pub fn delete_ui_session(&self, id_hash: &str) -> Result<bool> {
        let n = self
            .execute("DELETE FROM ui_sessions WHERE id_hash = $1", &[&id_hash])
            .context("ending a dashboard session")?;
        Ok(n > 0)
    }

    pub fn use_signin_link(
        &self,
        nonce: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.execute(
            "DELETE FROM ui_used_links WHERE expires_at < $1",
            &[&to_ms(now)],
        )
        .context("forgetting expired sign-in links")?;
        let n = self
            .execute(
                "INSERT INTO ui_used_links (nonce, expires_at) VALUES ($1, $2)
                 ON CONFLICT (nonce) DO NOTHING",
                &[&nonce, &to_ms(expires_at)],
            )
            .context("marking a sign-in link used")?;
        Ok(n == 1)
    }
}
