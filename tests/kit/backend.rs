//! Which store a test daemon runs on: SQLite in its data directory (the default) or a fresh
//! database of this process's PostgreSQL test server (`pagerd::store::pg_server`, started on
//! first use). [`on_both_backends!`] runs one test body on each.

use pagerd::store::pg_server::PgServer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `store.url` for a new installation: none (SQLite in the data directory), or a fresh
    /// PostgreSQL database.
    pub fn fresh_store_url(self) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgServer::shared().fresh_database()),
        }
    }
}

/// `mod NAME { fn sqlite; fn postgres }`: the body runs once per backend, with `$backend`
/// bound to it; the attributes (e.g. `#[tokio::test(start_paused = true)]`) go on both.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($(#[$attr:meta])* async fn $name:ident($backend:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($backend: $crate::kit::Backend) $body

            $(#[$attr])*
            async fn sqlite() {
                run($crate::kit::Backend::Sqlite).await
            }

            $(#[$attr])*
            async fn postgres() {
                run($crate::kit::Backend::Postgres).await
            }
        }
    };
}
pub(crate) use on_both_backends;
