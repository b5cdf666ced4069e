//! The test kit: everything a test or benchmark needs to run pagerd and watch what it sends.
//! One copy, included by path (`#[path = "../kit/mod.rs"] mod kit;`) from the daemon suite
//! (`tests/daemon`), `tests/pagerctl/` and `examples/loadgen/`.
//!
//! - [`InProcess`]: `app::run` in this process on port 0, with a temporary data directory.
//! - [`DaemonProcess`]: the real `pagerd` binary with a settings file on port 0; the bound
//!   addresses are read from its "pagerd ready" log line.
//! - [`AppDirs`]: the temporary policy and data directories; [`write_policies`].
//! - [`Backend`]: SQLite or PostgreSQL (a fresh database of the test server) for a daemon's
//!   store, set on its [`AppDirs`]; [`on_both_backends!`] runs a test on each.
//! - [`WebhookSink`] and [`Recorder`]: loopback HTTP servers recording what they receive;
//!   [`HeldSink`]: one that holds every request until the test releases it.
//! - [`SmtpSink`]: a real SMTP server (`tests/support/smtp_sink.py`, aiosmtpd).
//! - [`admin_token`], [`with_token`]: the daemon's admin token, sent on the kit's clients.
//! - [`Browser`]: headless Chromium over WebDriver (one `chromedriver` per test process), with
//!   bounded waits and screenshots to `target/ui-screenshots/`.
//! - [`UiClient`]: the dashboard over plain HTTP, signed in with a session cookie.
//! - [`freeze_time`], [`advance`], [`within`]: the paused tokio clock and real-time bounds.

// Each crate that includes the kit (the daemon suite, tests/pagerctl/, examples/loadgen/)
// uses only part of it; the rest is not dead, only unused there.
#![allow(dead_code, unused_imports)]

mod auth;
mod backend;
mod browser;
mod dirs;
mod held;
mod http;
mod in_process;
mod process;
mod smtp;
mod time;
mod ui;

pub use auth::{AuthedChannel, Bearer, admin_token, with_token};
pub use backend::Backend;
pub(crate) use backend::on_both_backends;
pub use browser::{BROWSER_WAIT, Browser, png_size, screenshot_dir};
pub use dirs::{AppDirs, free_port, path_str, write_policies};
pub use held::HeldSink;
pub use http::{ReceivedPage, Recorded, Recorder, WebhookSink};
pub use in_process::InProcess;
pub use process::{DaemonProcess, ProcessSpec, log_field, strip_ansi};
pub use smtp::{Mail, SmtpSink};
pub use time::{Frozen, advance, freeze_time, real_timeout, within};
pub use ui::{UiClient, UiPage};
