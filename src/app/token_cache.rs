//! Verified tokens kept in memory, so checking a request's token costs a hash and a map
//! probe instead of a store read (the store read cost a quarter of trigger throughput).
//!
//! A revocation must still hold from the next request on, including one made by
//! `pagerd token revoke` in another process. Every change to the tokens table is followed
//! by a write of the *stamp file* (`DATA_DIR/tokens.changed`, replaced by rename so its
//! inode changes); each check compares the file's metadata (one `stat`) with the stamp the
//! cache was filled under and empties the cache when it differs. A revocation through the
//! daemon itself also empties the cache directly. Entries are re-read after
//! [`MAX_AGE`] in any case: the backstop for a `pagerd token revoke` killed between its
//! commit and its stamp write.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::store::StoredToken;

/// Name of the stamp file in the data directory.
pub const STAMP_FILE: &str = "tokens.changed";
/// How long a verified token is trusted without a store read (see the module doc).
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// Bound on remembered tokens; only real tokens are remembered, so this is never reached in
/// practice, but memory stays bounded whatever happens.
const CAPACITY: usize = 10_000;

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
/// directory drops what it remembers. Called after the change is committed.
pub fn touch_stamp(data_dir: &Path) -> std::io::Result<()> {
    let path = data_dir.join(STAMP_FILE);
    let tmp = data_dir.join(format!("{STAMP_FILE}.tmp"));
    // A renamed new file has a new inode, so its metadata differs from the one it replaces
    // even where timestamps are coarse.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::fs::write(&tmp, format!("{nanos}\n"))?;
    std::fs::rename(&tmp, &path)
}

struct Entry {
    token: StoredToken,
    verified: Instant,
}

struct Inner {
    stamp: Stamp,
    entries: HashMap<String, Entry>,
}

/// The cache: secret hash → the stored token, valid under one stamp.
#[derive(Clone)]
pub struct TokenCache {
    stamp_path: PathBuf,
    inner: Arc<Mutex<Inner>>,
}

/// What the cache knows of a secret hash.
pub enum Cached {
    /// Verified under the current stamp; liveness (expiry) is the caller's to check.
    Hit(StoredToken),
    /// Not known: read the store, then [`TokenCache::insert`] with this stamp.
    Miss(StampGuard),
}

/// The stamp a store read started under: an insert is dropped if the stamp moved since,
/// so a read that raced with a revocation is never remembered.
pub struct StampGuard(Stamp);

impl TokenCache {
    pub fn new(data_dir: &Path) -> Self {
        let stamp_path = data_dir.join(STAMP_FILE);
        let stamp = read_stamp(&stamp_path);
        Self {
            stamp_path,
            inner: Arc::new(Mutex::new(Inner {
                stamp,
                entries: HashMap::new(),
            })),
        }
    }

    /// Looks `hash` up, first emptying the cache if the tokens changed since it was filled.
    pub fn get(&self, hash: &str) -> Cached {
        let now_stamp = read_stamp(&self.stamp_path);
        let mut inner = self.inner.lock().expect("token cache lock");
        if inner.stamp != now_stamp {
            inner.stamp = now_stamp;
            inner.entries.clear();
        }
        match inner.entries.get(hash) {
            Some(e) if e.verified.elapsed() < MAX_AGE => Cached::Hit(e.token.clone()),
            _ => Cached::Miss(StampGuard(now_stamp)),
        }
    }

    /// Remembers a token read from the store under `guard`. Only live tokens are worth
    /// remembering: a refused one is read again, which costs only the refused caller.
    pub fn insert(&self, hash: String, token: StoredToken, guard: StampGuard, now: DateTime<Utc>) {
        if !token.is_live(now) {
            return;
        }
        let mut inner = self.inner.lock().expect("token cache lock");
        if inner.stamp != guard.0 {
            return;
        }
        if inner.entries.len() >= CAPACITY {
            inner.entries.clear();
        }
        inner.entries.insert(
            hash,
            Entry {
                token,
                verified: Instant::now(),
            },
        );
    }

    /// Forgets every token: this process changed the tokens table.
    pub fn invalidate(&self) {
        self.inner.lock().expect("token cache lock").entries.clear();
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

    fn fill(cache: &TokenCache, hash: &str) {
        let Cached::Miss(guard) = cache.get(hash) else {
            panic!("expected a miss");
        };
        cache.insert(hash.into(), token(hash), guard, Utc::now());
    }

    #[test]
    fn a_verified_token_is_a_hit_until_the_stamp_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        fill(&cache, "h1");
        assert!(matches!(cache.get("h1"), Cached::Hit(t) if t.name == "h1"));
        // Another process revokes: it touches the stamp after committing.
        touch_stamp(dir.path()).unwrap();
        assert!(matches!(cache.get("h1"), Cached::Miss(_)));
        fill(&cache, "h1");
        touch_stamp(dir.path()).unwrap();
        assert!(matches!(cache.get("h1"), Cached::Miss(_)), "second touch");
    }

    #[test]
    fn a_read_that_raced_a_revocation_is_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        let Cached::Miss(guard) = cache.get("h1") else {
            panic!("expected a miss");
        };
        // The revocation commits and stamps while the read is in flight…
        touch_stamp(dir.path()).unwrap();
        assert!(matches!(cache.get("h2"), Cached::Miss(_)));
        // …so the (stale, live) result of the read is dropped.
        cache.insert("h1".into(), token("h1"), guard, Utc::now());
        assert!(matches!(cache.get("h1"), Cached::Miss(_)));
    }

    #[test]
    fn dead_tokens_are_not_remembered_and_invalidate_forgets_all() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path());
        let Cached::Miss(guard) = cache.get("h1") else {
            panic!("expected a miss");
        };
        let mut revoked = token("h1");
        revoked.revoked_at = Some(Utc::now());
        cache.insert("h1".into(), revoked, guard, Utc::now());
        assert!(matches!(cache.get("h1"), Cached::Miss(_)));
        fill(&cache, "h2");
        cache.invalidate();
        assert!(matches!(cache.get("h2"), Cached::Miss(_)));
    }
}
