//! API tokens: looked up by the hash of their secret on every RPC (a unique index).

use chrono::{DateTime, Utc};
use postgres::Row;

use super::{Context, RowExt, Tx, to_ms};
use crate::domain::access::Role;
use crate::store::{Error, NewToken, Result, StoredToken};

const TOKEN_COLUMNS: &str = "name, role, person, created_at, expires_at, revoked_at";

fn token_from_row(r: &Row) -> Result<StoredToken> {
    let role: String = r.at(1)?;
    let role = Role::parse(&role).map_err(|e| Error::Corrupt(format!("token role: {e}")))?;
    Ok(StoredToken {
        name: r.at(0)?,
        role,
        person: r.at(2)?,
        created_at: r.ms_at(3)?,
        expires_at: r.opt_ms_at(4)?,
        revoked_at: r.opt_ms_at(5)?,
    })
}

impl Tx<'_, '_> {
    pub fn token_by_hash(&self, secret_hash: &str) -> Result<Option<StoredToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE secret_hash = $1");
        self.query_opt(&sql, &[&secret_hash])
            .context("looking up a token")?
            .map(|r| token_from_row(&r))
            .transpose()
    }

    pub fn list_tokens(&self) -> Result<Vec<StoredToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY name");
        let rows = self.query(&sql, &[]).context("listing tokens")?;
        rows.iter().map(token_from_row).collect()
    }

    pub fn insert_token(&self, t: &NewToken, now: DateTime<Utc>) -> Result<bool> {
        let n = self
            .execute(
                "INSERT INTO tokens (name, role, person, secret_hash, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
                &[
                    &t.name,
                    &t.role.as_str(),
                    &t.person,
                    &t.secret_hash,
                    &to_ms(now),
                    &t.expires_at.map(to_ms),
                ],
            )
            .context("storing a token")?;
        Ok(n == 1)
    }

    pub fn revoke_token(&self, name: &str, now: DateTime<Utc>) -> Result<bool> {
        let n = self
            .execute(
                "UPDATE tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
                &[&name, &to_ms(now)],
            )
            .context("revoking a token")?;
        Ok(n == 1)
    }
}
