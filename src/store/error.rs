//! The store's own error type: what every store operation returns, whatever the backend.
//!
//! A backend maps its driver's errors into these variants inside its own module, so no
//! driver type appears outside it. `Error` implements `std::error::Error`, so `?` turns it
//! into an `anyhow::Error` (with the `op` of a [`Error::Context`] as the outer message and
//! the backend's own message as its cause, as `{:#}` shows).

/// An error from a store operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The backend failed or refused an operation (I/O, a lock held too long, a broken
    /// uniqueness rule, a value it could not encode or decode); the message is the backend's.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// `op` is what the store was doing when `source` happened ("inserting incident").
    #[error("{op}")]
    Context {
        op: String,
        #[source]
        source: Box<Error>,
    },
    /// The backend cannot take this now but may later: the disk is full, an I/O error, the
    /// database is locked by someone else. Senders are told to retry (`UNAVAILABLE`, 503).
    #[error("store unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The store cannot do what was asked (a schema newer than this binary, no free reply
    /// code, a row that should exist does not).
    #[error("{0}")]
    Refused(String),
    /// Stored data is no valid value (a row written by a newer or broken binary); it is
    /// reported, never read as something else.
    #[error("{0}")]
    Corrupt(String),
    /// The transaction ran but its commit failed: none of its changes are kept.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The writer has stopped; nothing was queued.
    #[error("the store writer has stopped")]
    Stopped,
    /// The job was dropped unanswered: the writer stopped, or the batch it was queued in could
    /// not start (the database stayed locked). None of its changes are kept.
    #[error("the store writer stopped before committing")]
    StoppedBeforeCommit,
    /// A read job panicked.
    #[error("read task panicked")]
    ReadPanicked,
    /// A fenced write ([`WriteTx::fence`](super::WriteTx::fence)) found the cluster lease
    /// held under another token: this node is no longer the leader; nothing was kept.
    #[error("the cluster lease is no longer held under token {0}")]
    Fenced(i64),
}

/// The store error in `e`'s chain that says the store cannot take writes for now, if any
/// (see [`Error::is_unavailable`]).
pub fn unavailable(e: &anyhow::Error) -> Option<&Error> {
    e.chain()
        .filter_map(|c| c.downcast_ref::<Error>())
        .find(|s| s.is_unavailable())
}

/// The fencing token a refused fenced write carried, if `e` is one.
pub fn fenced(e: &anyhow::Error) -> Option<i64> {
    e.chain()
        .filter_map(|c| c.downcast_ref::<Error>())
        .find_map(|s| match s {
            Error::Fenced(t) => Some(*t),
            Error::Context { source, .. } => match source.as_ref() {
                Error::Fenced(t) => Some(*t),
                _ => None,
            },
            _ => None,
        })
}

/// What store operations return.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps a backend's own error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Backend(Box::new(e))
    }

    /// Whether this says the store cannot take writes for now (disk full, I/O error, locked,
    /// a failed commit, a stopped writer), rather than that the request itself is wrong.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Unavailable(_)
            | Error::Commit(_)
            | Error::Stopped
            | Error::StoppedBeforeCommit => true,
            Error::Context { source, .. } => source.is_unavailable(),
            _ => false,
        }
    }

    /// Says what the store was doing when `self` happened.
    pub fn context(self, op: impl Into<String>) -> Self {
        Error::Context {
            op: op.into(),
            source: Box::new(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_reads_like_anyhow_context_once_converted() {
        let e = Error::Refused("database is locked".into()).context("inserting incident");
        let any = anyhow::Error::from(e);
        assert_eq!(any.to_string(), "inserting incident");
        assert_eq!(format!("{any:#}"), "inserting incident: database is locked");
    }

    #[test]
    fn only_errors_that_may_pass_say_the_store_is_unavailable() {
        let full = || Error::Unavailable("database or disk is full".into());
        let table = [
            (full(), true),
            (full().context("queueing page"), true),
            (Error::Commit("disk I/O error".into()), true),
            (Error::StoppedBeforeCommit, true),
            (Error::Refused("no such row".into()), false),
            (Error::Corrupt("bad kind".into()), false),
            (Error::backend(std::fmt::Error).context("x"), false),
        ];
        for (i, (e, want)) in table.into_iter().enumerate() {
            assert_eq!(e.is_unavailable(), want, "row {i}: {e}");
            let any = anyhow::Error::from(e).context("engine step");
            assert_eq!(unavailable(&any).is_some(), want, "row {i}");
        }
    }
}
