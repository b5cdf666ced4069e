//! Hands the inherent operations of [`Tx`] (in `read.rs`, `write.rs`, `ingest.rs`,
//! `schedules.rs`, `ledger.rs`) to the store's `ReadTx` and `WriteTx` traits. A trait impl
//! cannot be split over files; this one only forwards, so each operation's SQL stays in the
//! file of its area.

use chrono::{DateTime, Utc};

use crate::domain::audit::AuditEntry;
use crate::domain::due::{Due, DueScope};

use super::Tx;
use crate::domain::ingest::MaintenanceWindow;
use crate::domain::{
    Event, Incident, IncidentState, NewAlert, NewEvent, Page, PageKind, Position, ScheduleOverride,
    Severity,
};
use crate::store::{
    AttemptInfo, AttemptOutcome, DeliveredPage, HeartbeatState, IncidentFilter, LedgerEntry,
    NewToken, ReadTx, Result, StoredPhase, StoredToken, StoredWindow, UiSession, WriteTx,
};

/// `fn name(&self, arg: Type, …) -> Ret;` becomes a method calling `Tx`'s inherent `name`.
/// (Inherent methods win over trait methods in `Tx::name`, so this never recurses; rustc's
/// `unconditional_recursion` lint would say so if an inherent method went missing.)
macro_rules! forward {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(
            fn $name(&self $(, $arg: $ty)*) -> $ret {
                Tx::$name(self $(, $arg)*)
            }
        )*
    };
}

impl ReadTx for Tx<'_, '_> {
    forward! {
        fn incident(&self, id: i64) -> Result<Option<Incident>>;
        fn open_incident_id(&self, service: &str, dedup_key: &str) -> Result<Option<i64>>;
        fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>>;
        fn timeline(&self, incident_id: i64) -> Result<Vec<Event>>;
        fn timeline_after(
            &self,
            incident_id: i64,
            after_id: i64,
            limit: usize
        ) -> Result<Vec<Event>>;
        fn events_after(
            &self,
            after_id: i64,
            incident_id: Option<i64>,
            service: Option<&str>,
            limit: usize
        ) -> Result<Vec<Event>>;
        fn last_event_id(&self) -> Result<i64>;
        fn open_incidents_of(&self, services: &[&str], limit: usize) -> Result<Vec<Incident>>;
        fn open_incident_count(&self) -> Result<u64>;
        fn open_incidents_by_state(&self) -> Result<Vec<(IncidentState, u64)>>;
        fn outbox_summary(&self) -> Result<(u64, Option<DateTime<Utc>>)>;
        fn openings_since(
            &self,
            service: &str,
            dedup_key: &str,
            since: DateTime<Utc>
        ) -> Result<Vec<DateTime<Utc>>>;
        fn open_since(
            &self,
            service: &str,
            since: DateTime<Utc>,
            shared: &[(String, String)],
            limit: usize
        ) -> Result<Vec<crate::domain::threshold::OpenAlert>>;
        fn next_due_at(&self) -> Result<Option<DateTime<Utc>>>;
        fn is_held(&self, incident_id: i64) -> Result<bool>;
        fn scheduled_handoffs(&self) -> Result<Vec<(String, DateTime<Utc>)>>;
        fn scheduled_shifts(&self) -> Result<Vec<(String, DateTime<Utc>)>>;
        fn pending_pages(
            &self,
            channel: &str,
            now: DateTime<Utc>,
            skip_ids: &[i64],
            skip_people: &[String],
            limit: usize
        ) -> Result<Vec<Page>>;
        fn next_page_after(&self, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>>;
        fn oldest_pending_page_at(&self) -> Result<Option<DateTime<Utc>>>;
        fn pending_channels(&self) -> Result<Vec<String>>;
        fn recent_sends(
            &self,
            person: &str,
            channel: &str,
            since: DateTime<Utc>
        ) -> Result<Vec<DateTime<Utc>>>;
        fn channels_tried(
            &self,
            incident_id: i64,
            person: &str,
            pos: Position
        ) -> Result<Vec<String>>;
        fn incident_for_reply_code(
            &self,
            person: &str,
            code: &str,
            now: DateTime<Utc>
        ) -> Result<Option<i64>>;
        fn live_maintenance(&self, since: DateTime<Utc>) -> Result<Vec<StoredWindow>>;
        fn list_maintenance(
            &self,
            service: Option<&str>,
            since: DateTime<Utc>,
            include_removed: bool
        ) -> Result<Vec<StoredWindow>>;
        fn heartbeat_states(&self) -> Result<Vec<HeartbeatState>>;
        fn url_secret(&self, kind: &str, name: &str) -> Result<Option<String>>;
        fn ui_session(&self, id_hash: &str) -> Result<Option<UiSession>>;
        fn live_overrides(&self, since: DateTime<Utc>) -> Result<Vec<ScheduleOverride>>;
        fn list_overrides(
            &self,
            schedule: Option<&str>,
            since: DateTime<Utc>,
            include_removed: bool
        ) -> Result<Vec<ScheduleOverride>>;
        fn schedule_override(&self, id: i64) -> Result<Option<ScheduleOverride>>;
        fn rotation_phases(&self) -> Result<Vec<StoredPhase>>;
        fn ledger(&self, schedule: &str, since: DateTime<Utc>) -> Result<Vec<LedgerEntry>>;
        fn ledger_between(
            &self,
            schedule: Option<&str>,
            from: DateTime<Utc>,
            to: DateTime<Utc>
        ) -> Result<Vec<LedgerEntry>>;
        fn delivered_pages(
            &self,
            from: DateTime<Utc>,
            to: DateTime<Utc>
        ) -> Result<Vec<DeliveredPage>>;
        fn token_by_hash(&self, secret_hash: &str) -> Result<Option<StoredToken>>;
        fn list_tokens(&self) -> Result<Vec<StoredToken>>;
        fn list_audit(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<AuditEntry>>;
        fn cluster_nodes(&self) -> Result<Vec<crate::store::cluster::NodeRecord>>;
    }
}

impl WriteTx for Tx<'_, '_> {
    forward! {
        fn insert_incident(
            &self,
            alert: &NewAlert,
            policy: &str,
            pos: Position,
            now: DateTime<Utc>
        ) -> Result<i64>;
        fn record_duplicate(&self, id: i64, alert: &NewAlert, now: DateTime<Utc>) -> Result<u32>;
        fn set_postmortem_required(&self, id: i64) -> Result<()>;
        fn set_postmortem_url(&self, id: i64, url: &str) -> Result<()>;
        fn coalesce_repeat(
            &self,
            incident_id: i64,
            service: &str,
            message: &str,
            now: DateTime<Utc>
        ) -> Result<Event>;
        fn set_position(&self, id: i64, pos: Position) -> Result<()>;
        fn set_acknowledged(&self, id: i64, by: &str, now: DateTime<Utc>) -> Result<()>;
        fn set_resolved(&self, id: i64, by: &str, note: &str, now: DateTime<Utc>) -> Result<()>;
        fn set_triggered(&self, id: i64) -> Result<()>;
        fn set_severity(&self, id: i64, severity: Severity) -> Result<()>;
        fn add_event(
            &self,
            incident_id: i64,
            service: &str,
            ev: NewEvent,
            now: DateTime<Utc>
        ) -> Result<Event>;
        fn set_due(&self, due: &Due, due_at: DateTime<Utc>) -> Result<()>;
        fn ensure_due(&self, due: &Due, due_at: DateTime<Utc>) -> Result<bool>;
        fn cancel_due(&self, scope: &DueScope) -> Result<()>;
        fn take_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<(Due, DateTime<Utc>)>>;
        fn advance_releases(&self, service: &str, at: DateTime<Utc>) -> Result<usize>;
        fn enqueue_page(
            &self,
            incident_id: i64,
            kind: PageKind,
            person: &str,
            channel: &str,
            pos: Position,
            due_at: DateTime<Utc>,
            now: DateTime<Utc>
        ) -> Result<i64>;
        fn enqueue_notice(
            &self,
            kind: PageKind,
            person: &str,
            channel: &str,
            subject: &str,
            body: &str,
            due_at: DateTime<Utc>,
            now: DateTime<Utc>
        ) -> Result<i64>;
        fn cancel_pending_pages(&self, incident_id: i64) -> Result<usize>;
        fn record_attempt(
            &self,
            page_id: i64,
            outcome: &AttemptOutcome,
            attempt: &AttemptInfo,
            now: DateTime<Utc>
        ) -> Result<()>;
        fn hold_pages(&self, ids: &[i64], until: DateTime<Utc>) -> Result<Vec<i64>>;
        fn reply_code(&self, incident_id: i64, person: &str, now: DateTime<Utc>) -> Result<String>;
        fn set_reply_code(&self, page_id: i64, code: &str) -> Result<()>;
        fn insert_maintenance(
            &self,
            window: &MaintenanceWindow,
            now: DateTime<Utc>
        ) -> Result<MaintenanceWindow>;
        fn remove_maintenance(
            &self,
            id: i64,
            by: &str,
            now: DateTime<Utc>
        ) -> Result<Option<(StoredWindow, bool)>>;
        fn record_ping(&self, name: &str, now: DateTime<Utc>) -> Result<()>;
        fn insert_ui_session(&self, session: &UiSession, now: DateTime<Utc>) -> Result<()>;
        fn delete_ui_session(&self, id_hash: &str) -> Result<bool>;
        fn use_signin_link(
            &self,
            nonce: &str,
            expires_at: DateTime<Utc>,
            now: DateTime<Utc>
        ) -> Result<bool>;
        fn set_url_secret(
            &self,
            kind: &str,
            name: &str,
            token: &str,
            now: DateTime<Utc>
        ) -> Result<()>;
        fn insert_override(
            &self,
            schedule: &str,
            person: &str,
            start: DateTime<Utc>,
            end: DateTime<Utc>,
            reason: &str,
            by: &str,
            now: DateTime<Utc>
        ) -> Result<ScheduleOverride>;
        fn remove_override(
            &self,
            id: i64,
            by: &str,
            now: DateTime<Utc>
        ) -> Result<Option<(ScheduleOverride, bool)>>;
        fn set_rotation_phase(&self, phase: &StoredPhase, now: DateTime<Utc>) -> Result<()>;
        fn record_shift(&self, entry: &LedgerEntry, now: DateTime<Utc>) -> Result<bool>;
        fn insert_token(&self, token: &NewToken, now: DateTime<Utc>) -> Result<bool>;
        fn revoke_token(&self, name: &str, now: DateTime<Utc>) -> Result<bool>;
        fn add_audit(&self, entry: &AuditEntry) -> Result<()>;
        fn probe_space(&self, fill: bool, bytes: usize) -> Result<()>;
        fn fence(&self, token: i64) -> Result<()>;
    }
}
