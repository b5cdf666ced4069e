//! API tokens: looked up by the hash of their secret on every RPC (a unique index).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Context, Tx, from_ms, to_ms};
use crate::domain::access::Role;
use crate::store::{NewToken, Result, StoredToken};

const TOKEN_COLUMNS: &str = "name, role, person, created_at, expires_at, revoked_at";

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<StoredToken> {
    let role: String = r.get(1)?;
    let role = Role::parse(&role).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into())
    })?;
    Ok(StoredToken {
        name: r.get(0)?,
        role,
        person: r.get(2)?,
        created_at: from_ms(r.get(3)?),
        expires_at: r.get::<_, Option<i64>>(4)?.map(from_ms),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
    })
}

impl Tx<'_> {
    pub fn token_by_hash(&self, secret_hash: &str) -> Result<Option<StoredToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE secret_hash = ?1");
        self.conn
            .prepare_cached(&sql)?
            .query_row([secret_hash], token_from_row)
            .optional()
            .context("looking up a token")
    }

    pub fn list_tokens(&self) -> Result<Vec<StoredToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY name");
        self.conn
            .prepare_cached(&sql)?
            .query_map([], token_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("listing tokens")
    }

    pub fn insert_token(&self, t: &NewToken, now: DateTime<Utc>) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO tokens (name, role, person, secret_hash, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
            )?
            .execute(params![
                t.name,
                t.role.as_str(),
                t.person,
                t.secret_hash,
                to_ms(now),
                t.expires_at.map(to_ms)
            ])
            .context("storing a token")?;
        Ok(n == 1)
    }

    pub fn revoke_token(&self, name: &str, now: DateTime<Utc>) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![name, to_ms(now)])
            .context("revoking a token")?;
        Ok(n == 1)
    }
}
