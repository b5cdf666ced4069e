//! pagerd: an on-call paging daemon.
//!
//! # Layout
//! - [`domain`]: pure types and decisions (severities, policies, the escalation step, routing,
//!   the roles and the per-method access table in `domain::access`,
//!   holds, the threshold rule in `domain::threshold` (what counts as an alert firing again),
//!   who takes a turn under the burnout limits, the due actions in `domain::due`, the reload
//!   diff in `domain::reload`, what the outbox sends next in `domain::dispatch`, the
//!   rebalance signal in `domain::rebalance`, the what-if replay of `pagerd check --simulate`
//!   in `domain::simulate`, MTTA/MTTR/SLA in `domain::response_report`, the post-mortem
//!   draft and its Markdown in `domain::postmortem`). No I/O.
//! - [`config`]: daemon settings (`config` crate) and the policy files in `schedules/`,
//!   validated as a whole with file:line errors (`config::policy`: raw schema, cross-file
//!   checker, syntax parsers, gap report, burnout-limit warnings; error cases are fixtures in
//!   `tests/policy_cases/`).
//! - [`store`]: the storage interface — the [`store::ReadTx`] / [`store::WriteTx`] domain
//!   operations, one write closure = one transaction, answered once committed, the store's own
//!   [`store::Error`] — and its backend, `store/sqlite/` (the only place with SQL or the SQLite
//!   driver: migrations, one group-commit writer, a read pool). The writer assigns event
//!   sequences in commit order and publishes committed events to the [`store::EventFeed`]
//!   itself, so watchers see them in that order; `store::health` says whether writes are
//!   taken (disk full) for `/readyz`.
//!   `store/postgres/` is the second backend (`store.url = "postgres://…"`; the only place
//!   that names the `postgres` driver): the same operations on a writer thread that takes a
//!   cluster-wide advisory lock per batch, reader threads, its own migrations; `cluster.rs`
//!   the lease row with its fencing token and node reports, `feed.rs` every node's Watch feed
//!   (LISTEN/NOTIFY). `store::cluster` is the lease interface; `store::url` parses
//!   `store.url`; `store::pg_server` starts a real PostgreSQL for tests and benchmarks.
//!   `store::migrate` is `pagerd migrate`: a SQLite file copied into an empty PostgreSQL
//!   database in one transaction, verified per table before the commit.
//! - [`engine`]: applies decisions in one transaction per change. `incidents` (trigger, ack,
//!   resolve, escalate), `paging` (deciding and queueing pages), `due` (runs each due action
//!   with one match), `reload` (installs a policy set the caller read), `overrides`,
//!   `handoff`, `ingest` (holds, heartbeats, maintenance), `burnout`, `queries` (reads for
//!   the edges), `events` (timeline pages and events after a sequence), `rebalance` (the
//!   weekly owner notice), `response_report` (reads for the response-time report),
//!   `postmortem` (notes, drafts, the notice a required post-mortem sends on resolution),
//!   `secrets` (the tokens in heartbeat and calendar feed URLs); the one
//!   [`engine::TimerTask`] that runs due actions and the [`engine::OutboxWorker`] that
//!   delivers pages (`engine/outbox/`: a dispatcher, one job per delivery, its recording).
//!   `engine::Leadership` says whether this node runs time: the timer and the outbox run
//!   only while it holds the cluster lease (always, for a single node).
//! - [`notify`]: the channel trait and its implementations (email, SMS, Slack, webhook, log);
//!   `notify::http` is the one HTTP outcome rule every HTTP channel uses.
//! - [`api`]: the edges, which talk to the engine only. `api::grpc` has one file per gRPC
//!   service (and `watch.rs` for the resumable `Watch` stream); `api::http` one file per route group (health, iCalendar feeds, actions from a
//!   page, SMS replies, alert intake: Events v2, Alertmanager, heartbeats). `api::convert` holds every
//!   wire ↔ domain conversion and the enums' names (clients use it too); `api::limits` the
//!   size limits every edge enforces. Parse at the edge, map errors to status codes there.
//!   `api::ui` is the web dashboard under `/ui/` (server-rendered askama templates in
//!   `templates/ui/`, embedded CSS/JS, sessions with CSRF checks, live updates over SSE).
//! - [`metrics`]: the Prometheus counters and histograms the engine, outbox and store writer
//!   bump after their commits, and the exposition `api::http::metrics` serves at `/metrics`.
//! - [`clock`]: the one place that reads the time (wall clock, or anchored to tokio's clock in
//!   tests).
//! - [`app`]: wires everything together (and reads the schedules directory on reload); `run`
//!   is what the binary and the tests start. `app::tls` puts both listeners behind rustls
//!   (certificate re-read on SIGHUP, client certificates on gRPC with `tls.client_ca_file`).
//!   `app::tokens` mints API tokens and writes the
//!   local admin token; `api::grpc::auth` is the one layer that checks them.
//!   `app::conn` admits connections on both listeners (limits answered with 503/UNAVAILABLE,
//!   idle and header timeouts, the open-file budget); `api::grpc::watch_cap` caps `Watch`.
//!   `app::health` keeps gRPC health in step with readiness and pings the systemd watchdog
//!   while the loops turn (`engine::health` records their turns; `domain::health` decides
//!   alive / ready / may ping).
//!   `app::cluster` is a PostgreSQL node's lease loop (win, renew, report the node).

pub mod alloc;
pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod domain;
pub mod engine;
pub mod metrics;
pub mod notify;
pub mod store;

/// Generated from `proto/pagerd/v1/pagerd.proto`.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("pagerd.v1");

    /// Encoded descriptors for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/pagerd_descriptor.bin"));
}
