//! The store's contract (see `store/mod.rs`) as tests every backend must pass: each test is
//! an async body over a [`Place`] (where a store lives), and [`contract!`] instantiates every
//! body twice, `on_sqlite::NAME` (a temporary file) and `on_postgres::NAME` (a fresh database
//! of the test process's PostgreSQL server, `store::pg_server`). Backend-specific tests (a
//! full disk on SQLite, a lost connection on PostgreSQL) stay with their backend.

mod outbox;
mod records;
mod ui;
mod writes;

use chrono::{DateTime, Utc};

use crate::config::settings::StoreSettings;
use crate::domain::{NewAlert, Position, Severity};
use crate::store::{Store, WriterDone};

/// Where a test's store lives; [`Place::open`] may be called again to reopen it.
pub(super) enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Place {
    fn sqlite() -> Self {
        Place::Sqlite(tempfile::tempdir().unwrap())
    }

    fn postgres() -> Self {
        Place::Postgres(crate::store::pg_server::PgServer::shared().fresh_database())
    }

    async fn open(&self) -> (Store, WriterDone) {
        let settings = StoreSettings::default();
        match self {
            Place::Sqlite(dir) => Store::open(&dir.path().join("t.db"), &settings)
                .await
                .unwrap(),
            Place::Postgres(url) => {
                let url = crate::store::url::StoreUrl::Postgres(url.clone());
                Store::open_url(&url, &settings).await.unwrap()
            }
        }
    }
}

/// A test's store, open.
pub(super) struct Opened {
    store: Store,
    writer: WriterDone,
}

impl Opened {
    async fn new(place: &Place) -> Self {
        let (store, writer) = place.open().await;
        Self { store, writer }
    }

    /// Drops the store and waits until its writer committed everything and stopped.
    async fn close(self) {
        drop(self.store);
        self.writer.wait().await;
    }
}

pub(super) fn alert(key: &str) -> NewAlert {
    alert_of("svc", key, Severity::High)
}

fn alert_of(service: &str, key: &str, severity: Severity) -> NewAlert {
    NewAlert {
        service: service.into(),
        dedup_key: key.into(),
        severity,
        summary: "s".into(),
        source: String::new(),
        details: Default::default(),
        links: vec![],
    }
}

/// Instants to the millisecond (what the store keeps), from a fixed origin.
fn at(ms: i64) -> DateTime<Utc> {
    "2026-03-02T17:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::milliseconds(ms)
}

/// Inserts an open incident and returns its id.
async fn incident(store: &Store, service: &'static str, key: &'static str, sev: Severity) -> i64 {
    store
        .write(move |tx| {
            Ok(tx.insert_incident(
                &alert_of(service, key, sev),
                "p",
                Position::default(),
                at(0),
            )?)
        })
        .await
        .unwrap()
}

/// `on_sqlite::NAME` and `on_postgres::NAME` for each body `NAME(place: Place)`.
macro_rules! contract {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$module::$name(super::Place::sqlite()).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$module::$name(super::Place::postgres()).await
                }
            )*
        }
    };
}

contract! {
    writes::a_failing_job_rolls_back_alone_while_its_batch_commits,
    writes::the_writer_drains_queued_jobs_before_it_stops,
    writes::committed_events_are_published_in_sequence_order_and_rolled_back_ones_never,
    writes::the_dedup_rule_is_a_unique_constraint_on_open_incidents,
    writes::incidents_change_state_and_list_newest_first_with_filters,
    writes::timelines_page_by_sequence_and_events_after_filters,
    writes::every_due_action_kind_round_trips_earliest_first,
    writes::ensure_and_cancel_due_touch_only_their_scope,
    outbox::pending_pages_come_most_urgent_then_oldest_without_skipped_ones,
    outbox::attempts_holds_and_cancellation_change_what_is_pending,
    outbox::reply_codes_are_kept_per_person_and_found_while_open,
    records::overrides_are_stored_listed_and_removed_once,
    records::a_recorded_shift_never_changes,
    records::tokens_are_found_by_hash_named_once_and_revoked_once,
    records::audit_entries_come_back_oldest_first_from_since,
    records::maintenance_windows_heartbeats_and_url_secrets_round_trip,
    records::rotation_phases_are_replaced_per_layer,
    ui::sessions_round_trip_end_once_and_expire,
    ui::a_sign_in_link_is_used_once_until_it_is_forgotten,
}
