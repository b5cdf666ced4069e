//! End-to-end tests of the real daemon over its gRPC and HTTP interfaces.

#[path = "../kit/mod.rs"]
mod kit;

mod helpers;

mod access;
mod alertmanager;
mod api;
mod audit;
mod burnout;
mod burnout_swaps;
mod channels;
mod check;
mod cluster;
mod dedup;
mod delivery;
mod escalation;
mod events_v2_content_type;
mod ingest;
mod public_edge;
mod rebalance;
mod restart;
mod schedules;
mod simulate;
mod sms_inbound;
mod tls;
mod ui;
// Dashboard maintenance and reports pages (issue 15).
mod ui_ops;
mod ui_schedules;
mod validation;
// Hardening (issue 12): deliveries, a full disk, hostile input, escaping, secrets, repeats
// and the threshold rule, Watch order and resume, connections, logs.
mod connections;
mod escaping;
mod hostile;
mod logs;
mod outbox;
mod postmortem;
mod secrets;
mod shutdown;
mod store_full;
mod threshold;
mod timeline;
mod watch;
// Operating pagerd (issue 14): metrics, the response-time report, liveness, readiness,
// gRPC health and the systemd watchdog.
mod health;
mod metrics;
mod response_report;
// Moving to PostgreSQL (issue 13): pagerd migrate.
mod migrate;
// The dashboard (issue 15): tests in a real browser (headless Chromium over WebDriver).
mod browser_smoke;
mod ui_browser;
