//! End-to-end tests of the real daemon over its gRPC and HTTP interfaces.

#[path = "../kit/mod.rs"]
mod kit;

mod helpers;

mod access;
mod alertmanager;
mod api;
mod burnout;
mod channels;
mod check;
mod dedup;
mod delivery;
mod escalation;
mod ingest;
mod restart;
mod schedules;
mod validation;
