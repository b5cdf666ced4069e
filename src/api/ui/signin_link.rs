//! Sign-in links mailed to a person: `v1:PERSON:EXPIRES:NONCE`, signed with a key derived
//! from the link secret (so an acknowledge link never signs anyone in, nor the reverse).
//! Each works once: its nonce is recorded in the store when used. Pure; tested here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::notify::LinkSigner;

/// What a verified sign-in link says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigninClaims {
    pub person: String,
    pub expires: DateTime<Utc>,
    /// Recorded when the link is used; a second use finds it.
    pub nonce: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigninLinkError {
    #[error("this sign-in link is not valid (it was changed or made for another server)")]
    Forged,
    #[error("this sign-in link expired at {0}; ask for a new one")]
    Expired(DateTime<Utc>),
}

/// The token of a new link for `person`, valid until `now + signer.ttl()`; `nonce` must be
/// random (16 bytes or more).
pub fn make(signer: &LinkSigner, person: &str, nonce: &[u8], now: DateTime<Utc>) -> String {
    let expires = now + chrono::Duration::from_std(signer.ttl()).unwrap_or_default();
    let payload = format!(
        "v1:{}:{}:{}",
        URL_SAFE_NO_PAD.encode(person),
        expires.timestamp(),
        URL_SAFE_NO_PAD.encode(nonce)
    );
    let sig = signer.sign_bytes(&payload);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

/// Checks the signature (constant time) and expiry of a link's token.
pub fn verify(
    signer: &LinkSigner,
    token: &str,
    now: DateTime<Utc>,
) -> Result<SigninClaims, SigninLinkError> {
    use SigninLinkError::Forged;
    // A real token is ~150 bytes; refuse work on anything far larger.
    if token.len() > 1024 {
        return Err(Forged);
    }
    let (payload, sig) = token.split_once('.').ok_or(Forged)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|p| String::from_utf8(p).ok())
        .ok_or(Forged)?;
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| Forged)?;
    if !signer.check_bytes(&payload, &sig) {
        return Err(Forged);
    }
    let ["v1", person, expires, nonce] = payload.split(':').collect::<Vec<_>>()[..] else {
        return Err(Forged);
    };
    let person = URL_SAFE_NO_PAD
        .decode(person)
        .ok()
        .and_then(|p| String::from_utf8(p).ok())
        .ok_or(Forged)?;
    let expires = expires
        .parse::<i64>()
        .ok()
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .ok_or(Forged)?;
    if now >= expires {
        return Err(SigninLinkError::Expired(expires));
    }
    Ok(SigninClaims {
        person,
        expires,
        nonce: nonce.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn signer() -> LinkSigner {
        LinkSigner::new(b"secret", "https://p.example", Duration::from_secs(3600))
            .derive("ui-signin", Duration::from_secs(900))
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn a_link_verifies_until_it_expires() {
        let tok = make(&signer(), "ann:x", &[7; 16], t0());
        let c = verify(&signer(), &tok, t0()).unwrap();
        assert_eq!(c.person, "ann:x");
        assert_eq!(c.expires, t0() + chrono::Duration::minutes(15));
        let late = t0() + chrono::Duration::minutes(15);
        assert_eq!(
            verify(&signer(), &tok, late),
            Err(SigninLinkError::Expired(late))
        );
    }

    #[test]
    fn changed_foreign_and_other_kinds_of_link_are_forged() {
        let tok = make(&signer(), "ann", &[7; 16], t0());
        let other = LinkSigner::new(b"other", "https://p.example", Duration::from_secs(60))
            .derive("ui-signin", Duration::from_secs(900));
        let ack_signer = LinkSigner::new(b"secret", "https://p.example", Duration::from_secs(3600));
        let ack = ack_signer.token(
            1,
            crate::notify::links::LinkAction::Acknowledge,
            "ann",
            t0(),
        );
        let mut flipped = tok.clone().into_bytes();
        flipped[3] ^= 1;
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in [
            verify(&other, &tok, t0()),
            verify(&signer(), &ack, t0()),
            verify(&signer(), &flipped, t0()),
            verify(&signer(), "", t0()),
            verify(&signer(), "a.b", t0()),
            verify(&signer(), &"x".repeat(5000), t0()),
        ] {
            assert_eq!(bad, Err(SigninLinkError::Forged));
        }
        // Nor does a sign-in link act as an acknowledge link.
        assert!(ack_signer.verify(&tok, t0()).is_err());
    }

    #[test]
    fn nonces_differ_per_link() {
        let a = verify(&signer(), &make(&signer(), "ann", &[1; 16], t0()), t0()).unwrap();
        let b = verify(&signer(), &make(&signer(), "ann", &[2; 16], t0()), t0()).unwrap();
        assert_ne!(a.nonce, b.nonce);
    }
}
