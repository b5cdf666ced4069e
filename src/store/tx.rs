//! The store interface: the domain operations a transaction offers, as two traits a backend
//! implements. `ReadTx` is a consistent snapshot; `WriteTx` is one write transaction and
//! offers every read too (reads inside it see its own writes).
//!
//! Ids (`i64`) are the store's: incidents, events, pages, windows and overrides get one when
//! they are inserted, and callers only hand them back. Instants are kept to the millisecond.

use chrono::{DateTime, Utc};

use crate::domain::audit::AuditEntry;
use crate::domain::due::{Due, DueScope};

use super::Result;
use super::types::{
    AttemptInfo, AttemptOutcome, DeliveredPage, HeartbeatState, IncidentFilter, LedgerEntry,
    NewToken, StoredPhase, StoredToken, StoredWindow, UiSession,
};
use crate::domain::ingest::MaintenanceWindow;
use crate::domain::{
    Event, Incident, IncidentState, NewAlert, NewEvent, Page, PageKind, Position, ScheduleOverride,
    Severity,
};

/// Read operations: on a read snapshot (`Store::read`) or inside a write (`Store::write`).
pub trait ReadTx {
    // Incidents and their timelines.

    fn incident(&self, id: i64) -> Result<Option<Incident>>;

    /// The id of the open (not resolved) incident of `service` with `dedup_key`, if any.
    fn open_incident_id(&self, service: &str, dedup_key: &str) -> Result<Option<i64>>;

    /// Incidents matching `filter`, newest (highest id) first.
    fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>>;

    /// The incident's timeline, oldest first.
    fn timeline(&self, incident_id: i64) -> Result<Vec<Event>>;

    /// Up to `limit` events of the incident with ids (sequences) above `after_id`, oldest
    /// first: one page of a long timeline.
    fn timeline_after(&self, incident_id: i64, after_id: i64, limit: usize) -> Result<Vec<Event>>;

    /// Up to `limit` events committed after sequence `after_id`, of every incident, or of
    /// one incident or one service, in sequence (commit) order: what `Watch` replays.
    fn events_after(
        &self,
        after_id: i64,
        incident_id: Option<i64>,
        service: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Event>>;

    /// The highest event sequence committed (0 before the first event).
    fn last_event_id(&self) -> Result<i64>;

    /// Open incidents of these services, newest first (at most `limit`).
    fn open_incidents_of(&self, services: &[&str], limit: usize) -> Result<Vec<Incident>>;

    /// Number of incidents not yet resolved (for status and start-up logs).
    fn open_incident_count(&self) -> Result<u64>;

    /// Open incidents per state, for `/metrics` (states with none are left out).
    fn open_incidents_by_state(&self) -> Result<Vec<(IncidentState, u64)>>;

    /// Pending pages in the outbox and the earliest next attempt among them, for `/metrics`.
    fn outbox_summary(&self) -> Result<(u64, Option<DateTime<Utc>>)>;

    /// When incidents of `service` with `dedup_key` opened after `since`, in any state (the
    /// threshold rule's flapping count).
    fn openings_since(
        &self,
        service: &str,
        dedup_key: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>>;

    /// Open incidents of `service` opened after `since` whose details have every `(name,
    /// value)` of `shared`, at most `limit`, newest first: when each opened and its details
    /// (the threshold rule's related alerts).
    fn open_since(
        &self,
        service: &str,
        since: DateTime<Utc>,
        shared: &[(String, String)],
        limit: usize,
    ) -> Result<Vec<crate::domain::threshold::OpenAlert>>;

    // Due actions.

    /// The earliest due action, for the timer task.
    fn next_due_at(&self) -> Result<Option<DateTime<Utc>>>;

    /// Whether the incident waits for a release (maintenance window, support hours).
    fn is_held(&self, incident_id: i64) -> Result<bool>;

    /// Every scheduled handoff: (schedule, due).
    fn scheduled_handoffs(&self) -> Result<Vec<(String, DateTime<Utc>)>>;

    /// Every scheduled ledger recording: (schedule, due).
    fn scheduled_shifts(&self) -> Result<Vec<(String, DateTime<Utc>)>>;

    // The outbox.

    /// Pending pages of `channel` whose next attempt is due, most urgent (the incident's
    /// severity when the page was queued) and then oldest first, with their incident (or, for
    /// notifications without one, their own text); without the pages `skip_ids` and the
    /// pages to `skip_people`.
    fn pending_pages(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        skip_ids: &[i64],
        skip_people: &[String],
        limit: usize,
    ) -> Result<Vec<Page>>;

    /// When the earliest pending page (including retries) due after `after` becomes due.
    fn next_page_after(&self, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>>;

    /// When the earliest pending page (including retries) was or is due.
    fn oldest_pending_page_at(&self) -> Result<Option<DateTime<Utc>>>;

    /// The channels pending pages are queued for.
    fn pending_channels(&self) -> Result<Vec<String>>;

    /// When messages went to `person` on `channel` since `since` (a coalesced message once).
    fn recent_sends(
        &self,
        person: &str,
        channel: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>>;

    /// Channels already used (or queued) to page `person` about the incident at `pos`.
    fn channels_tried(&self, incident_id: i64, person: &str, pos: Position) -> Result<Vec<String>>;

    /// The incident an SMS reply code of `person` belongs to (their latest page with it),
    /// while that incident is open and the page was due less than
    /// [`REPLY_CODE_TTL`](crate::domain::contact::REPLY_CODE_TTL) before `now`.
    fn incident_for_reply_code(
        &self,
        person: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>>;

    // Alert intake: maintenance windows and heartbeats.

    /// Windows not removed that end after `since`, oldest first.
    fn live_maintenance(&self, since: DateTime<Utc>) -> Result<Vec<StoredWindow>> {
        self.list_maintenance(None, since, false)
    }

    /// Windows (of one service or all) ending after `since`, oldest first; removed ones too
    /// when asked.
    fn list_maintenance(
        &self,
        service: Option<&str>,
        since: DateTime<Utc>,
        include_removed: bool,
    ) -> Result<Vec<StoredWindow>>;

    /// Every heartbeat with a stored ping or a scheduled expiry, by name.
    fn heartbeat_states(&self) -> Result<Vec<HeartbeatState>>;

    /// The secret in a public URL (`kind`: "heartbeat", "schedule" or "person"), if made.
    fn url_secret(&self, kind: &str, name: &str) -> Result<Option<String>>;

    /// The dashboard session whose cookie hashes to `id_hash`, if it exists (expired ones
    /// too: the caller compares `expires_at`).
    fn ui_session(&self, id_hash: &str) -> Result<Option<UiSession>>;

    // Schedules: overrides and rotation phases.

    /// Overrides not removed that end after `since`, oldest first (the order they apply in:
    /// a later one wins where two overlap).
    fn live_overrides(&self, since: DateTime<Utc>) -> Result<Vec<ScheduleOverride>>;

    /// Overrides of one schedule (or all) ending after `since`, newest first; removed ones
    /// too when asked.
    fn list_overrides(
        &self,
        schedule: Option<&str>,
        since: DateTime<Utc>,
        include_removed: bool,
    ) -> Result<Vec<ScheduleOverride>>;

    fn schedule_override(&self, id: i64) -> Result<Option<ScheduleOverride>>;

    fn rotation_phases(&self) -> Result<Vec<StoredPhase>>;

    // The shift ledger and the on-call load report.

    /// A schedule's ledger rows ending after `since`, in start order.
    fn ledger(&self, schedule: &str, since: DateTime<Utc>) -> Result<Vec<LedgerEntry>>;

    /// Ledger rows (of one schedule or all) starting in `[from, to)`, in start order.
    fn ledger_between(
        &self,
        schedule: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LedgerEntry>>;

    /// Incident pages that went out in `[from, to)`.
    fn delivered_pages(&self, from: DateTime<Utc>, to: DateTime<Utc>)
    -> Result<Vec<DeliveredPage>>;

    // API tokens.

    /// The token whose secret hashes to `secret_hash` (one indexed lookup; on every RPC).
    fn token_by_hash(&self, secret_hash: &str) -> Result<Option<StoredToken>>;

    /// Every token, revoked ones too, by name.
    fn list_tokens(&self) -> Result<Vec<StoredToken>>;

    // The audit trail.

    /// Audit entries at or after `since`, oldest first, at most `limit`.
    fn list_audit(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<AuditEntry>>;

    // Several nodes.

    /// Every node that reported itself, by name (none on a single-node backend).
    fn cluster_nodes(&self) -> Result<Vec<super::cluster::NodeRecord>> {
        Ok(Vec::new())
    }
}

/// Write operations, all inside one transaction (see the module doc of `store`).
pub trait WriteTx: ReadTx {
    // Incidents.

    /// Inserts a new incident at `pos` and returns its id. Fails if an open incident with the
    /// same (service, dedup_key) exists: the store enforces the dedup rule even for a caller
    /// that did not look first.
    fn insert_incident(
        &self,
        alert: &NewAlert,
        policy: &str,
        pos: Position,
        now: DateTime<Utc>,
    ) -> Result<i64>;

    /// Counts another alert against an open incident and keeps it as the incident's last
    /// payload (summary and details); returns the new count.
    fn record_duplicate(&self, id: i64, alert: &NewAlert, now: DateTime<Utc>) -> Result<u32>;

    fn set_position(&self, id: i64, pos: Position) -> Result<()>;

    fn set_acknowledged(&self, id: i64, by: &str, now: DateTime<Utc>) -> Result<()>;

    fn set_resolved(&self, id: i64, by: &str, note: &str, now: DateTime<Utc>) -> Result<()>;

    /// Back to triggered (ack timeout or manual escalation of an acknowledged incident).
    fn set_triggered(&self, id: i64) -> Result<()>;

    /// Marks the incident as needing a post-mortem (`postmortem.required_for`).
    fn set_postmortem_required(&self, id: i64) -> Result<()>;

    /// Records where the incident's post-mortem went (clears "post-mortem pending").
    fn set_postmortem_url(&self, id: i64, url: &str) -> Result<()>;

    fn set_severity(&self, id: i64, severity: Severity) -> Result<()>;

    /// Appends to the timeline and returns the stored event (for `Watch`).
    fn add_event(
        &self,
        incident_id: i64,
        service: &str,
        ev: NewEvent,
        now: DateTime<Utc>,
    ) -> Result<Event>;

    /// Records a repeat of an open incident on its timeline without growing it: if the
    /// incident's latest event is a repeat record (`Deduplicated`), that event is rewritten
    /// with `message` and `now` and moved to the next sequence (so `Watch` sees it again and
    /// sequences never go back); otherwise a new one is appended. Returns the stored event.
    fn coalesce_repeat(
        &self,
        incident_id: i64,
        service: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<Event>;

    // Due actions.

    /// Sets a due action. Incident actions add one each; a schedule's handoff or shift
    /// recording and a heartbeat's expiry are one each, moved to the new time.
    fn set_due(&self, due: &Due, due_at: DateTime<Utc>) -> Result<()>;

    /// Sets a schedule's due action unless one of its kind is pending already (a restart or
    /// reload never moves it); returns whether it was set.
    fn ensure_due(&self, due: &Due, due_at: DateTime<Utc>) -> Result<bool>;

    /// Drops the pending due actions in `scope`.
    fn cancel_due(&self, scope: &DueScope) -> Result<()>;

    /// Removes and returns up to `limit` actions due at or before `now`, earliest first. A
    /// stored action of no known kind is an [`Error::Corrupt`](super::Error::Corrupt), never
    /// a guess.
    fn take_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<(Due, DateTime<Utc>)>>;

    /// Moves the releases of a service's held incidents to `at` (a window ended early); the
    /// release decides again whether they page. Returns how many moved.
    fn advance_releases(&self, service: &str, at: DateTime<Utc>) -> Result<usize>;

    // The outbox.

    /// Queues one page in the outbox and returns its id. `due_at` is when the decision was
    /// due.
    #[allow(clippy::too_many_arguments)]
    fn enqueue_page(
        &self,
        incident_id: i64,
        kind: PageKind,
        person: &str,
        channel: &str,
        pos: Position,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64>;

    /// Queues a notification that belongs to no incident (a handoff summary).
    #[allow(clippy::too_many_arguments)]
    fn enqueue_notice(
        &self,
        kind: PageKind,
        person: &str,
        channel: &str,
        subject: &str,
        body: &str,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64>;

    /// Acknowledged or resolved: pages not yet sent are not wanted any more. Returns how
    /// many were cancelled.
    fn cancel_pending_pages(&self, incident_id: i64) -> Result<usize>;

    /// Records one delivery attempt: sent, retry at a later time, or failed for good, with
    /// the address used and the provider's answer. A page cancelled while in flight stays
    /// cancelled; the attempt is still counted.
    fn record_attempt(
        &self,
        page_id: i64,
        outcome: &AttemptOutcome,
        attempt: &AttemptInfo,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Holds pages back until `until` (a rate limit); returns the ids held for the first time.
    fn hold_pages(&self, ids: &[i64], until: DateTime<Utc>) -> Result<Vec<i64>>;

    /// The person's SMS reply code for this incident: the one they already have, else a new
    /// random code (see [`crate::domain::contact::REPLY_CODE_ALPHABET`]) none of their
    /// recent pages uses.
    fn reply_code(&self, incident_id: i64, person: &str, now: DateTime<Utc>) -> Result<String>;

    fn set_reply_code(&self, page_id: i64, code: &str) -> Result<()>;

    // Alert intake: maintenance windows and heartbeats.

    /// Stores a window and returns it with its id.
    fn insert_maintenance(
        &self,
        window: &MaintenanceWindow,
        now: DateTime<Utc>,
    ) -> Result<MaintenanceWindow>;

    /// Marks a window removed; returns it and whether this call removed it; `None` if there
    /// is no such id.
    fn remove_maintenance(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(StoredWindow, bool)>>;

    fn record_ping(&self, name: &str, now: DateTime<Utc>) -> Result<()>;

    /// Stores a new dashboard session, and drops sessions that expired before `now`.
    fn insert_ui_session(&self, session: &UiSession, now: DateTime<Utc>) -> Result<()>;

    /// Ends a dashboard session; false if there was none.
    fn delete_ui_session(&self, id_hash: &str) -> Result<bool>;

    /// Marks a sign-in link (its nonce) used: true the first time, false ever after until it
    /// expires. Forgets links that expired before `now`.
    fn use_signin_link(
        &self,
        nonce: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Stores (or replaces: rotation) the secret of a public URL.
    fn set_url_secret(&self, kind: &str, name: &str, token: &str, now: DateTime<Utc>)
    -> Result<()>;

    // Schedules: overrides and rotation phases.

    /// Stores an override and returns it with its id.
    #[allow(clippy::too_many_arguments)]
    fn insert_override(
        &self,
        schedule: &str,
        person: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        reason: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<ScheduleOverride>;

    /// Marks an override removed; returns it as it is now and whether this call removed it
    /// (false: it already was); `None` if there is no such id.
    fn remove_override(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(ScheduleOverride, bool)>>;

    /// Stores (or replaces) a rotation layer's definition and phase.
    fn set_rotation_phase(&self, phase: &StoredPhase, now: DateTime<Utc>) -> Result<()>;

    // The shift ledger.

    /// Records who took a shift and returns true; a row already there (same schedule, layer,
    /// start, end, person) is kept as it was and false is returned: a past decision never
    /// changes.
    fn record_shift(&self, entry: &LedgerEntry, now: DateTime<Utc>) -> Result<bool>;

    // API tokens.

    /// Stores a token; false (nothing stored) if one with this name exists, revoked or not.
    fn insert_token(&self, token: &NewToken, now: DateTime<Utc>) -> Result<bool>;

    /// Revokes the token `name`; false if there is no such token or it already was.
    fn revoke_token(&self, name: &str, now: DateTime<Utc>) -> Result<bool>;

    // The audit trail.

    /// Appends an audit entry (in the transaction of the action it records).
    fn add_audit(&self, entry: &AuditEntry) -> Result<()>;

    // Several nodes.

    /// Refuses the transaction ([`Error::Fenced`](super::Error::Fenced)) unless the cluster
    /// lease is still held under `token`, and keeps it so until the commit: what the leader
    /// takes (due actions) is taken under its fencing token, so a paused old leader cannot
    /// act after a new one took over. A single-node backend has nothing to fence.
    fn fence(&self, token: i64) -> Result<()> {
        let _ = token;
        Ok(())
    }

    // Health.

    /// Writes (`fill`) or removes about `bytes` of filler: a write that must grow the store,
    /// so its commit shows whether the store can take writes again (disk full).
    fn probe_space(&self, fill: bool, bytes: usize) -> Result<()>;
}

/// Implements [`ReadTx`] and [`WriteTx`] for a backend's transaction type by handing each
/// operation to its inherent method of the same name (`read.rs`, `write.rs`, … of the
/// backend): a trait impl cannot be split over files, and this keeps each operation's SQL in
/// the file of its area. `read { … }` and `write { … }` add the backend's own operations
/// (trait methods with a default elsewhere).
macro_rules! forward_tx {
    ($tx:ty; read { $($read:tt)* } write { $($write:tt)* }) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use $crate::domain::audit::AuditEntry;
            use $crate::domain::due::{Due, DueScope};
            use $crate::domain::ingest::MaintenanceWindow;
            use $crate::domain::{
                Event, Incident, IncidentState, NewAlert, NewEvent, Page, PageKind, Position,
                ScheduleOverride, Severity,
            };
            use $crate::store::{
                AttemptInfo, AttemptOutcome, DeliveredPage, HeartbeatState, IncidentFilter,
                LedgerEntry, NewToken, ReadTx, Result, StoredPhase, StoredToken, StoredWindow,
                UiSession, WriteTx,
            };

            impl ReadTx for $tx {
                $crate::store::tx::forward_fns! { $tx;
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
                    $($read)*
                }
            }

            impl WriteTx for $tx {
                $crate::store::tx::forward_fns! { $tx;
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
                    $($write)*
                }
            }
        };
    };
}
pub(crate) use forward_tx;

/// `fn name(&self, arg: Type, …) -> Ret;` becomes a method calling the inherent `name` of
/// `$tx`. (Inherent methods win over trait methods, so this never recurses; rustc's
/// `unconditional_recursion` lint would say so if an inherent method went missing.)
macro_rules! forward_fns {
    ($tx:ty; $(fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;)*) => {
        $(
            fn $name(&self $(, $arg: $ty)*) -> $ret {
                <$tx>::$name(self $(, $arg)*)
            }
        )*
    };
}
pub(crate) use forward_fns;
