//! Secrets in public HTTP URLs: a heartbeat's ping token and a calendar feed's token. The
//! HTTP listener faces the internet, so a URL without its secret must do nothing and reveal
//! nothing: `check_url_secret` costs the same and answers the same for an unknown name as
//! for a wrong token.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::{Engine, EngineError, EngineResult};
use crate::domain::PolicySet;

/// What a URL secret opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// `/heartbeats/{name}/{token}` (or the token as a Bearer header).
    Heartbeat,
    /// `/schedules/{name}/{token}.ics`
    Schedule,
    /// `/people/{name}/{token}.ics`
    Person,
}

impl UrlKind {
    fn as_str(self) -> &'static str {
        match self {
            UrlKind::Heartbeat => "heartbeat",
            UrlKind::Schedule => "schedule",
            UrlKind::Person => "person",
        }
    }

    fn exists(self, set: &PolicySet, name: &str) -> bool {
        match self {
            UrlKind::Heartbeat => set.heartbeats.contains_key(name),
            UrlKind::Schedule => set.schedules.contains_key(name),
            UrlKind::Person => set.people.contains_key(name),
        }
    }

    /// The URL path carrying `token`.
    pub fn path(self, name: &str, token: &str) -> String {
        match self {
            UrlKind::Heartbeat => format!("/heartbeats/{name}/{token}"),
            UrlKind::Schedule => format!("/schedules/{name}/{token}.ics"),
            UrlKind::Person => format!("/people/{name}/{token}.ics"),
        }
    }
}

/// A new secret: 256 random bits, URL-safe base64 (43 characters).
pub(super) fn new_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Compares the SHA-256 digests, byte by byte without an early exit, so the time taken says
/// nothing about how much of a guess was right.
fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

impl Engine {
    /// Where the HTTP listener is reached from outside (`links.public_url`, else the
    /// listener's own address); URLs handed to admins start with it.
    pub fn set_public_base(&self, url: &str) {
        self.inner
            .public_base
            .store(std::sync::Arc::new(url.trim_end_matches('/').to_string()));
    }

    /// The full URL of `path` on the HTTP listener.
    pub fn public_url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.public_base.load())
    }

    /// The secret of `name`'s URL, made if there is none yet or replaced when `rotate` (the
    /// old URL stops working at once).
    pub async fn url_secret(
        &self,
        kind: UrlKind,
        name: &str,
        rotate: bool,
    ) -> EngineResult<String> {
        if !kind.exists(&self.policies(), name) {
            return Err(EngineError::NotFound(format!(
                "name: no {} `{name}`",
                kind.as_str()
            )));
        }
        let now = self.inner.clock.now();
        let key = name.to_string();
        let token = self
            .inner
            .store
            .write(move |tx| {
                let current = tx.url_secret(kind.as_str(), &key)?;
                let token = match current {
                    Some(t) if !rotate => t,
                    _ => {
                        let t = new_token();
                        tx.set_url_secret(kind.as_str(), &key, &t, now)?;
                        t
                    }
                };
                Ok(token)
            })
            .await?;
        if rotate {
            tracing::info!(kind = kind.as_str(), name, "URL secret rotated");
        }
        Ok(token)
    }

    /// Whether `presented` is the secret of `name`'s URL. An unknown name, a name with no
    /// secret yet and a wrong secret all answer `false` after the same work.
    pub async fn check_url_secret(
        &self,
        kind: UrlKind,
        name: &str,
        presented: &str,
    ) -> EngineResult<bool> {
        let exists = kind.exists(&self.policies(), name);
        let key = name.to_string();
        let stored = self
            .inner
            .store
            .read(move |r| r.url_secret(kind.as_str(), &key))
            .await?;
        // Compare against a throwaway value when there is nothing stored, so both paths hash.
        let matches = same_secret(stored.as_deref().unwrap_or("\u{0}none"), presented);
        Ok(exists && stored.is_some() && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_url_safe_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn secrets_compare_equal_only_when_identical() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", ""));
    }
}
