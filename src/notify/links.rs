//! Signed acknowledge/resolve links: HMAC-SHA256 over (incident, action, person, expiry) with
//! the server's secret. Following a link shows a confirmation page; only its POST acts, so
//! mail scanners that prefetch links never acknowledge anything.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::settings::{LinkSettings, Secret};

type HmacSha256 = Hmac<Sha256>;

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAction {
    Acknowledge,
    Resolve,
}

impl LinkAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Acknowledge => "ack",
            Self::Resolve => "resolve",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "ack" => Some(Self::Acknowledge),
            "resolve" => Some(Self::Resolve),
            _ => None,
        }
    }
}

/// A verified link's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub incident_id: i64,
    pub action: LinkAction,
    pub person: String,
    pub expires: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link is not valid (it was changed or made for another server)")]
    Forged,
    #[error("this link expired at {0}")]
    Expired(DateTime<Utc>),
}

/// Signs and checks links; cheap to clone.
#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
    base: String,
    ttl: Duration,
}

impl LinkSigner {
    pub fn new(secret: &[u8], public_url: &str, ttl: Duration) -> Self {
        Self {
            key: secret.to_vec(),
            base: public_url.trim_end_matches('/').to_string(),
            ttl,
        }
    }

    /// From settings: the configured secret (inline or file), else the one generated into
    /// `data_dir/link-secret` on first start (kept, so links survive restarts).
    pub fn from_settings(links: &LinkSettings, data_dir: &Path) -> anyhow::Result<Self> {
        let secret = match crate::config::channels::resolve_secret(
            &links.secret,
            &links.secret_file,
            "links.secret",
        )? {
            Some(s) => s,
            None => generated_secret(&data_dir.join("link-secret"))?,
        };
        Ok(Self::new(
            secret.expose().as_bytes(),
            &links.public_url,
            links.ttl,
        ))
    }

    /// A signer for another kind of link, under a key derived from this one (so a token of
    /// one kind never verifies as another's), with its own lifetime.
    pub fn derive(&self, purpose: &str, ttl: Duration) -> Self {
        let key = self.mac(purpose).finalize().into_bytes().to_vec();
        Self {
            key,
            base: self.base.clone(),
            ttl,
        }
    }

    /// The public base URL links start with.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// How long a link works.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// HMAC-SHA256 of `payload` under this signer's key.
    pub fn sign_bytes(&self, payload: &str) -> Vec<u8> {
        self.mac(payload).finalize().into_bytes().to_vec()
    }

    /// Whether `sig` is this signer's HMAC of `payload` (compared in constant time).
    pub fn check_bytes(&self, payload: &str, sig: &[u8]) -> bool {
        self.mac(payload).verify_slice(sig).is_ok()
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac
    }

    /// The token for one action, valid until `now + ttl`.
    pub fn token(
        &self,
        incident_id: i64,
        action: LinkAction,
        person: &str,
        now: DateTime<Utc>,
    ) -> String {
        let expires = now + chrono::Duration::from_std(self.ttl).unwrap_or_default();
        let payload = format!(
            "v1:{incident_id}:{}:{person}:{}",
            action.as_str(),
            expires.timestamp()
        );
        let sig = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// The full URL of a link.
    pub fn url(
        &self,
        incident_id: i64,
        action: LinkAction,
        person: &str,
        now: DateTime<Utc>,
    ) -> String {
        format!(
            "{}/act/{}",
            self.base,
            self.token(incident_id, action, person, now)
        )
    }

    /// Checks signature (in constant time) and expiry.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, LinkError> {
        let (payload_b64, sig_b64) = token.split_once('.').ok_or(LinkError::Forged)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .ok()
            .and_then(|p| String::from_utf8(p).ok())
            .ok_or(LinkError::Forged)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig_b64)
            .map_err(|_| LinkError::Forged)?;
        self.mac(&payload)
            .verify_slice(&sig)
            .map_err(|_| LinkError::Forged)?;
        let parts: Vec<&str> = payload.split(':').collect();
        let [version, id, action, person, expires] = parts[..] else {
            return Err(LinkError::Forged);
        };
        let (Some(action), Ok(incident_id), Ok(expires), "v1") = (
            LinkAction::parse(action),
            id.parse::<i64>(),
            expires.parse::<i64>(),
            version,
        ) else {
            return Err(LinkError::Forged);
        };
        let expires = DateTime::from_timestamp(expires, 0).ok_or(LinkError::Forged)?;
        if now >= expires {
            return Err(LinkError::Expired(expires));
        }
        Ok(Claims {
            incident_id,
            action,
            person: person.to_string(),
            expires,
        })
    }
}

/// Reads the generated secret, creating it (32 random bytes, hex, mode 0600) if missing.
fn generated_secret(path: &Path) -> anyhow::Result<Secret> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let line = text.trim();
        if !line.is_empty() {
            return Ok(Secret::new(line));
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data_dir {}", dir.display()))?;
    }
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(secret.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated the link signing secret");
    Ok(Secret::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new(b"secret", "http://pagerd.test/", Duration::from_secs(3600))
    }

    fn now() -> DateTime<Utc> {
        "2026-03-02T17:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_link_verifies_until_it_expires() {
        let s = signer();
        let url = s.url(12, LinkAction::Acknowledge, "alice", now());
        assert!(url.starts_with("http://pagerd.test/act/"), "{url}");
        let token = url.rsplit('/').next().unwrap();
        let claims = s.verify(token, now()).unwrap();
        assert_eq!(
            (claims.incident_id, claims.action, claims.person.as_str()),
            (12, LinkAction::Acknowledge, "alice")
        );
        let later = now() + chrono::Duration::hours(1);
        assert_eq!(s.verify(token, later), Err(LinkError::Expired(later)));
    }

    #[test]
    fn changed_or_foreign_links_are_refused() {
        let s = signer();
        let token = s.token(12, LinkAction::Acknowledge, "alice", now());
        let (payload, sig) = token.split_once('.').unwrap();
        // Another incident, same signature.
        let other = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap())
                .unwrap()
                .replace(":12:", ":13:"),
        );
        let table = [
            format!("{other}.{sig}"),
            format!("{payload}.AAAA"),
            payload.to_string(),
            "garbage".to_string(),
            String::new(),
        ];
        for t in table {
            assert_eq!(s.verify(&t, now()), Err(LinkError::Forged), "{t}");
        }
        let stranger = LinkSigner::new(b"other", "http://x", Duration::from_secs(3600));
        assert_eq!(stranger.verify(&token, now()), Err(LinkError::Forged));
    }

    #[test]
    fn the_generated_secret_is_kept_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/link-secret");
        let a = generated_secret(&path).unwrap();
        let b = generated_secret(&path).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.expose().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
