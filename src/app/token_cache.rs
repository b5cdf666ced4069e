//! Verified tokens kept in memory, so checking a request's token costs a hash and a map
//! probe instead of a store read (the store read cost a quarter of trigger throughput). A
//! hit allocates nothing: the key is the raw SHA-256 of the secret and the answer a shared
//! [`Identity`].
//!
//! A revocation must still hold from the next request on, including one made by
//! `pagerd token revoke` in another process. Every change to the tokens table is followed
//! by a write of the *stamp file* (`DATA_DIR/tokens.changed`, replaced by rename so its
//! inode changes). The cache compares the file's metadata (one `stat`) with the stamp it
//! was filled under, at most once per [`STAT_EVERY`], and empties itself when it differs;
//! so a request sees every stamp written more than `STAT_EVERY` before it began, and
//! [`touch_stamp`] returns only after that long (see [`settle`]). A revocation through the
//! daemon itself also empties the cache directly. Entries are re-read after [`MAX_AGE`] in
//! any case: the backstop for a `pagerd token revoke` killed between its commit and its
//! stamp write.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::domain::access::Identity;
use crate::store::StoredToken;

/// Name of the stamp file in the data directory.
pub const STAMP_FILE: &str = "tokens.changed";
/// How long a verified token is trusted without a store read (see the module doc).
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// The stamp file is read at most once per this long: one `stat` per request cost more
/// than the rest of the token check together.
pub const STAT_EVERY: Duration = Duration::from_millis(1);
/// Bound on remembered tokens; only real tokens are remembered, so this is never reached in
/// practice, but memory stays bounded whatever happens.
const CAPACITY: usize = 10_000;

/// SHA-256 of a token's secret (the store keeps it hex-encoded).
pub type Digest = [u8; 32];

/// What identifies one version of the stamp file; `None` while there is none.
type Stamp = Option<(u64, i128, u64)>;

fn read_stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let ino = 0;
    Some((ino, modified, meta.len()))
}

/// Records that the tokens table changed: every process checking tokens against this data
/// directory drops what it remembers before its next request. Called after the change is
/// committed; returns once a running daemon can no longer miss the new stamp.
pub fn touch_stamp(data_dir: &Path) -> std::io::Result<()> {
    let path = data_dir.join(STAMP_FILE);
    let tmp = data_dir.join(format!("{STAMP_FILE}.tmp"));
    // A renamed new file has a new inode, so its metadata differs from the one it replaces
    // even where timestamps are coarse.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::fs::write(&tmp, format!("{nanos}\n"))?;
    std::fs::rename(&tmp, &path)?;
    settle();
    Ok(())
}

/// Waits past [`STAT_EVERY`] in real time (not tokio's clock, which tests pause): a request
/// that begins after this returns reads a stamp no older than the one just written.
fn settle() {
    std::thread::sleep(STAT_EVERY * 2);
}

/// A verified token: who it is and until when it is good (revoked ones are never kept).
#[derive(Debug, Clone)]
pub struct Verified {
    pub identity: Identity,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Verified {
    pub fn from_stored(t: &StoredToken) -> Self {
        Self {
            identity: Identity::new(&t.name, t.role, t.person.as_deref()),
            expires_at: t.expires_at,
        }
    }

    /// Whether the token still identifies its caller at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
}

struct Entry {
    token: Verified,
    verified: Instant,
}

struct Inner {
    stamp: Stamp,
    /// When the stamp file was last read; `None` makes the next probe read it.
    stat_at: Option<Instant>,
    /// Bumped by [`TokenCache::invalidate`], so a read that began before cannot insert.
    generation: u64,
    entries: HashMap<Digest, Entry>,
}

struct Shared {
    stamp_path: PathBuf,
    inner: Mutex<Inner>,
}

/// The cache: secret digest → the verified token, valid under one stamp.
#[derive(Clone)]
pub struct TokenCache(Arc<Shared>);

/// What the cache knows of a secret digest.
pub enum Cached {
    /// Verified under the current stamp; liveness (expiry) is the caller's to check.
    Hit(Verified),
    /// Not known: read the store, then [`TokenCache::insert`] with this guard.
    Miss(StampGuard),
}

/// The stamp (and generation) a store read started under: an insert is dropped if either
/// moved since, so a read that raced with a revocation is never remembered.
pub struct StampGuard(Stamp, u64);

impl TokenCache {
    pub fn new(data_dir: &Path) -> Self {
        let stamp_path = data_dir.join(STAMP_FILE);
        let stamp = read_stamp(&stamp_path);
        Self(Arc::new(Shared {
            stamp_path,
            inner: Mutex::new(Inner {
                stamp,
                stat_at: Some(Instant::now()),
                generation: 0,
                entries: HashMap::new(),
            }),
        }))
    }

    /// Looks `digest` up, first emptying the cache if the tokens changed since it was
    /// filled (the stamp file is read if it was not in the last [`STAT_EVERY`]).
    pub fn get(&self, digest: &Digest) -> Cached {
        // Taken before the lock: a stamp read by another request after this instant is at
        // least as fresh as one this request would read.
        let now = Instant::now();
        let mut inner = self.0.inner.lock().expect("token cache lock");
        let due = inner
            .stat_at
            .is_none_or(|at| now.saturating_duration_since(at) >= STAT_EVERY);
        if due {
            let stamp = read_stamp(&self.0.stamp_path);
            inner.stat_at = Some(now);
            if inner.stamp != stamp {
                inner.stamp = stamp;
                inner.entries.clear();
            }
        }
        match inner.entries.get(digest) {
            Some(e) if now.saturating_duration_since(e.verified) < MAX_AGE => {
                Cached::Hit(e.token.clone())
            }
            _ => Cached::Miss(StampGuard(inner.stamp, inner.generation)),
        }
    }

    /// Remembers a token read from the store under `guard`. Only live tokens are worth
    /// remembering: a refused one is read again, which costs only the refused caller.
    pub fn insert(
        &self,
        digest: Digest,
        token: &StoredToken,
        guard: StampGuard,
        now: DateTime<Utc>,
    ) {
        if !token.is_live(now) {
            return;
        }
        let mut inner = self.0.inner.lock().expect("token cache lock");
        if (inner.stamp, inner.generation) != (guard.0, guard.1) {
            return;
        }
        if inner.entries.len() >= CAPACITY {
            inner.entries.clear();
        }
        inner.entries.insert(
            digest,
            Entry {
                token: Verified::from_stored(token),
                verified: Instant::now(),
            },
        );
    }

    /// Forgets every token: this process changed the tokens table. Reads that began
    /// before cannot insert, and the next probe reads the stamp file.
    pub fn invalidate(&self) {
        let mut inner = self.0.inner.lock().expect("token cache lock");
        inner.entries.clear();
        inner.generation += 1;
        inner.stat_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::Role;

    fn token(name: &str) -> StoredToken {
        StoredToken {
            name: name.into(),
            role: Role::Viewer,
            person: None,
            created_at: DateTime::UNIX_EPOCH,
            expires_at: None,
            revoked_at: None,
        }
    }

    fn digest(n: u8) -> Digest {
        [n; 32]
    }

    fn fill(cache: &TokenCache, n: u8) {
        let Cached::Miss(guard) = cache.get(&digest(n)) else {
            panic!("expected a miss");
        };
        cache.insert(digest(n), &token(&format!("t{n}")), guard, Utc::now());
    }

    fn is_hit(cache: &TokenCache, n: u8) -> bool {
        match cache.get(&digest(n)) {
            Cached::Hit(v) => {
                assert_eq!(&*v.identity.token, format!("t{n}"));
                true
            }
            Cached::Miss(_) => false,
        }
    }

    #[test]
    fn a_verified_token_is_a_hit_until_the_stamp_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        fill(&cache, 1);
        assert!(is_hit(&cache, 1));
        // Another process revokes: it touches the stamp after committing, and the very
        // next probe (within the stat interval of the last one) sees it.
        assert!(is_hit(&cache, 1));
        touch_stamp(dir.path()).unwrap();
        assert!(!is_hit(&cache, 1));
        fill(&cache, 1);
        assert!(is_hit(&cache, 1));
        touch_stamp(dir.path()).unwrap();
        assert!(!is_hit(&cache, 1), "second touch");
    }

    #[test]
    fn hits_share_one_identity() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        fill(&cache, 1);
        let (Cached::Hit(a), Cached::Hit(b)) = (cache.get(&digest(1)), cache.get(&digest(1)))
        else {
            panic!("expected hits");
        };
        assert!(Arc::ptr_eq(&a.identity.token, &b.identity.token));
    }

    #[test]
    fn a_read_that_raced_a_revocation_is_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        let Cached::Miss(guard) = cache.get(&digest(1)) else {
            panic!("expected a miss");
        };
        // The revocation commits and stamps while the read is in flight…
        touch_stamp(dir.path()).unwrap();
        assert!(!is_hit(&cache, 2));
        // …so the (stale, live) result of the read is dropped.
        cache.insert(digest(1), &token("t1"), guard, Utc::now());
        assert!(!is_hit(&cache, 1));
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        let Cached::Miss(guard) = cache.get(&digest(1)) else {
            panic!("expected a miss");
        };
        cache.invalidate();
        cache.insert(digest(1), &token("t1"), guard, Utc::now());
        assert!(!is_hit(&cache, 1));
    }

    #[test]
    fn dead_tokens_are_not_remembered_and_invalidate_forgets_all() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        let Cached::Miss(guard) = cache.get(&digest(1)) else {
            panic!("expected a miss");
        };
        let mut revoked = token("t1");
        revoked.revoked_at = Some(Utc::now());
        cache.insert(digest(1), &revoked, guard, Utc::now());
        assert!(!is_hit(&cache, 1));
        fill(&cache, 2);
        cache.invalidate();
        assert!(!is_hit(&cache, 2));
    }

    #[test]
    fn expiry_is_the_callers_to_check() {
        let at = DateTime::UNIX_EPOCH + chrono::Duration::hours(1);
        let v = Verified::from_stored(&StoredToken {
            expires_at: Some(at),
            ..token("t1")
        });
        assert!(v.is_live(at - chrono::Duration::seconds(1)));
        assert!(!v.is_live(at));
    }
}
