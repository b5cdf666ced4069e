//! API tokens: minting (random secret, stored hashed), the local admin token file written on
//! first start, and the operations `pagerd token …` runs on the daemon's database.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::TryRngCore;
use sha2::{Digest, Sha256};

use crate::domain::access::Role;
use crate::domain::audit::{Actor, AuditEntry};
use crate::store::{NewToken, Store, StoredToken};

/// Why a token operation was refused, apart from the store failing.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token named `{0}` exists already (names are never reused, even revoked)")]
    Exists(String),
    #[error("no live token named `{0}`")]
    NotLive(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The token operations the daemon offers through `DaemonService` (admin): its database,
/// its data directory (for the stamp file) and its token cache, emptied on revocation.
#[derive(Clone)]
pub struct TokenAdmin {
    pub store: Store,
    pub data_dir: PathBuf,
    pub cache: super::token_cache::TokenCache,
}

impl TokenAdmin {
    /// Revokes `name` and forgets every cached token, so this daemon refuses it from the
    /// next request on (the stamp file tells other processes).
    pub async fn revoke(
        &self,
        name: &str,
        by: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), TokenError> {
        let result = revoke(&self.store, &self.data_dir, name, by, now).await;
        self.cache.invalidate();
        result
    }
}

/// Prefix of every token: recognizable in logs and by secret scanners.
pub const TOKEN_PREFIX: &str = "pgd_";
/// Name of the token written to `DATA_DIR/admin.token` on first start.
pub const LOCAL_ADMIN: &str = "local-admin";
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// A new secret: `pgd_` + 32 bytes from the OS RNG, base64url without padding.
pub fn mint_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .context("reading the OS random number generator")?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// What the store keeps of a secret: hex SHA-256. The secret has 256 random bits, so a
/// plain hash (no salt, no slow KDF) is enough and keeps the per-request lookup one index
/// probe.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(secret_digest(secret))
}

/// The raw SHA-256 of a secret: what the daemon's token cache is keyed on.
pub fn secret_digest(secret: &str) -> super::token_cache::Digest {
    Sha256::digest(secret.as_bytes()).into()
}

/// A token name: 1–64 characters of letters, digits, `-`, `_`, `.`, `@`.
pub fn parse_name(name: &str) -> anyhow::Result<String> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    anyhow::ensure!(
        ok,
        "token name `{name}`: 1-64 characters of letters, digits, `-`, `_`, `.`, `@`"
    );
    Ok(name.to_string())
}

/// The audit trail's actor for `pagerd token …`: whoever can write the database on the
/// daemon's host, named by the OS user when the environment says it.
pub fn cli_actor() -> Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "local operator".to_string());
    Actor::new(user, "pagerd token on the database")
}

/// Creates a token and returns its secret (shown once; only its hash is stored).
/// `by` is recorded in the audit trail in the same transaction.
pub async fn create(
    store: &Store,
    name: &str,
    role: Role,
    person: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    by: &Actor,
    now: DateTime<Utc>,
) -> Result<String, TokenError> {
    let name = parse_name(name)?;
    let secret = mint_secret()?;
    let token = NewToken {
        name: name.clone(),
        role,
        person,
        secret_hash: secret_hash(&secret),
        expires_at,
    };
    let audit = AuditEntry::new(
        by,
        "create token",
        format!(
            "token {name} (role {role}{})",
            token
                .person
                .as_ref()
                .map(|p| format!(", person {p}"))
                .unwrap_or_default()
        ),
        now,
    );
    let stored = store
        .write(move |tx| {
            let stored = tx.insert_token(&token, now)?;
            if stored {
                tx.add_audit(&audit)?;
            }
            Ok(stored)
        })
        .await?;
    if !stored {
        return Err(TokenError::Exists(name));
    }
    Ok(secret)
}

pub async fn list(store: &Store) -> anyhow::Result<Vec<StoredToken>> {
    Ok(store.read(|tx| tx.list_tokens()).await?)
}

/// Revokes `name`; an error if there is no live token of that name. `data_dir` is the
/// daemon's: its stamp file is touched after the commit, so a running daemon drops the
/// token from its cache before its next request (see [`super::token_cache`]).
pub async fn revoke(
    store: &Store,
    data_dir: &Path,
    name: &str,
    by: &Actor,
    now: DateTime<Utc>,
) -> Result<(), TokenError> {
    let owned = name.to_string();
    let audit = AuditEntry::new(by, "revoke token", format!("token {name}"), now);
    let done = store
        .write(move |tx| {
            let done = tx.revoke_token(&owned, now)?;
            if done {
                tx.add_audit(&audit)?;
            }
            Ok(done)
        })
        .await?;
    if !done {
        return Err(TokenError::NotLive(name.to_string()));
    }
    super::token_cache::touch_stamp(data_dir).with_context(|| {
        format!(
            "token `{name}` is revoked, but a running pagerd may accept it for up to {} s: \
             writing {}",
            super::token_cache::MAX_AGE.as_secs(),
            data_dir.join(super::token_cache::STAMP_FILE).display()
        )
    })?;
    Ok(())
}

/// On first start, creates the `local-admin` token and writes it to `DATA_DIR/admin.token`
/// (mode 0600), so the local walkthrough needs no setup. Nothing happens if the token exists
/// (the file is then the operator's: deleted or kept, it is not rewritten).
pub async fn ensure_local_admin(
    store: &Store,
    data_dir: &Path,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<PathBuf>> {
    let exists = store
        .read(|tx| Ok(tx.list_tokens()?.iter().any(|t| t.name == LOCAL_ADMIN)))
        .await?;
    if exists {
        return Ok(None);
    }
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    let secret = mint_secret()?;
    // The file first: a crash between the two leaves a file whose token does not work (and
    // is replaced at the next start), never a stored admin token nobody can read.
    write_private(&path, &secret)?;
    let token = NewToken {
        name: LOCAL_ADMIN.to_string(),
        role: Role::Admin,
        person: None,
        secret_hash: secret_hash(&secret),
        expires_at: None,
    };
    store
        .write(move |tx| Ok(tx.insert_token(&token, now)?))
        .await?;
    Ok(Some(path))
}

/// Writes `secret` to a new file only its owner can read (replacing an old one).
fn write_private(path: &Path, secret: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("token.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(format!("{secret}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_hash_to_hex() {
        let a = mint_secret().unwrap();
        let b = mint_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        // 32 bytes in base64url without padding: 43 characters.
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(secret_hash(&a).len(), 64);
        assert_ne!(secret_hash(&a), secret_hash(&b));
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(parse_name(" ci-bot ").unwrap(), "ci-bot");
        for bad in ["", "a b", "x/y", &"n".repeat(65)] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
    }
}
