//! Configuration at the edge: daemon [`Settings`] (defaults → TOML file → `PAGERD_*`
//! environment) and the policy files in `schedules/` (people, services, escalation policies),
//! parsed and validated into a [`crate::domain::PolicySet`] with `file:line` error messages.
//!
//! Nothing here is global: the binary loads both once at start and passes them down.

pub mod channels;
pub mod cluster;
pub mod connections;
pub mod health;
pub mod policy;
pub mod postmortem;
pub mod settings;
pub mod ui;

pub use policy::{CheckSummary, PolicyError, PolicyErrors, check_dir, load_dir};
pub use settings::Settings;
