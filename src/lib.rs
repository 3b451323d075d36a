//! reportbox collects the reports a campaign's units send by email.
//!
//! A message travels through the modules in this order:
//! [`intake`] (parse, unpack) → [`identify`] (which unit) → [`classify`] (which item) →
//! [`validate`] (table, report, video) → [`store`] (PostgreSQL and the originals), all driven by
//! [`pipeline`]; [`status`] says where every unit stands; [`notify`] sends acknowledgements,
//! reminders and the daily report, as [`schedule`] says when. [`config`] feeds them all and
//! [`cli`] is the command line (reading mbox files through [`mbox`]), [`check`] its ops
//! preflight, [`service`] what systemd sees.
//!
//! [`campaign`] is a campaign as plain data at the bottom: stages that need one take `&Campaign`
//! (or their own settings, like [`schedule::ScheduleSettings`] and [`validate::Rules`]) rather than
//! the settings. A deployment serves several campaigns (`config/campaigns/<key>.toml`); the store
//! reads and writes one at a time ([`store::Store::for_campaign`]), and [`route`] says which
//! campaign a message of a shared mailbox belongs to.
//!
//! # The dependency rule
//!
//! Imports point down this list, never up (tests/layout.rs checks it on the source: no import
//! cycle between files, and no stage module importing `config`):
//!
//! 1. **Plain data**: [`problem`], [`campaign`], [`net`], [`secret`], [`source`], [`liveness`],
//!    [`shutdown`], [`notes`]. No I/O; they import nothing above them.
//! 2. **Stages**, each taking the part of the configuration it needs as a value, never
//!    `Settings`: [`intake`], [`identify`], [`route`], [`classify`], [`validate`] (its
//!    [`validate::Rules`]), [`status`], [`schedule`] (its [`schedule::ScheduleSettings`]),
//!    [`store`] (its [`store::StorageSettings`]; all SQL lives here), [`history`],
//!    `notify::{compose, summary, desk}` (a [`notify::compose::Context`]), `notify::connection`,
//!    `mailbox::{client, settings, error}`.
//! 3. **The loader**, [`config`]: builds every stage's settings from the file and the
//!    environment, and hands a stage its part (`Settings::compose`, `Settings::select`).
//! 4. **Orchestrators**, which may see `Settings`: [`pipeline`], `mailbox::{poll, batch,
//!    record, daemon}`, the sender and scheduler in [`notify`], [`recheck`], [`export`],
//!    [`check`], [`service`], [`metrics`], [`health`], [`run`].
//! 5. [`cli`], then `main`.

pub mod campaign;
pub mod check;
pub mod classify;
pub mod cli;
pub mod config;
pub mod export;
pub mod health;
pub mod history;
pub mod identify;
pub mod intake;
pub mod liveness;
pub mod logging;
pub mod mailbox;
pub mod mbox;
pub mod metrics;
pub mod net;
pub mod notes;
pub mod notify;
pub mod pipeline;
pub mod problem;
pub mod recheck;
pub mod route;
pub mod run;
pub mod schedule;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod source;
pub mod status;
pub mod store;
pub mod validate;
