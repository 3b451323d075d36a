//! Outgoing mail. Emails are composed into the outbox (in the same transaction as whatever
//! causes them), then a sender drains the outbox over SMTP within the configured rate.
//!
//! Duplicates: a row is locked (`FOR UPDATE SKIP LOCKED`) while the server takes the envelope,
//! then marked "sending" (committed) just before the message is transmitted, and marked sent
//! right after the server's `250`. A crash before the mark leaves the row pending: nothing was
//! transmitted, and it is sent at once on restart. A crash (or a database failure) between the
//! mark and the commit of "sent" - the time the server takes to read the message, plus one
//! commit - is the only way an email can go out twice: such a row is sent again with the same
//! Message-ID, after `smtp.resend_grace_seconds`.

pub mod compose;
mod connection;
pub mod desk;
pub mod smtp;
pub mod summary;

use crate::campaign::Disposition;
use crate::classify;
use crate::config::Settings;
use crate::problem::ItemState;
use crate::schedule::{self, Round};
use crate::status::{Status, UnitStatus, UnitView};
use crate::store::{
    AfterSave, CampaignId, Delivery, NewOutbox, OutboxAttachment, Store, StoreError,
};
use chrono::{DateTime, Days, TimeZone, Utc};
use rand::Rng;
use smtp::{FailureClass, Mailer};
use std::time::Duration;

pub use smtp::SetupError;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("汇总表生成失败：{0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("空白统计表 {0} 无法读取：{1}")]
    Template(String, std::io::Error),
}

/// Transient failures are retried this many times (backoff capped at an hour: about a day).
const MAX_ATTEMPTS: i32 = 30;

/// The acknowledgement `pipeline` asks for when it records a message.
pub fn compose_ack(settings: &Settings, saved: &AfterSave<'_>) -> Vec<NewOutbox> {
    let unit = saved
        .message
        .unit_id
        .as_deref()
        .and_then(|u| settings.roster.get(u));
    if saved.disposition == Disposition::Note {
        return desk::note_reply(&settings.compose(), saved, unit)
            .into_iter()
            .collect();
    }
    compose::ack(&settings.compose(), saved, unit)
        .into_iter()
        .collect()
}

/// What one pass of the sender did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SendReport {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    /// Sending is paused (by the server) until then.
    pub paused_until: Option<DateTime<Utc>>,
    /// Why, as recorded in `sender_state` (starts with [`AUTH_REJECTED`] for a refused code).
    pub pause_reason: Option<String>,
}

/// The start of a pause's reason when the server refused the authorisation code; STATUS and
/// the commands recognise it by this.
pub const AUTH_REJECTED: &str = "邮箱授权码被拒绝";

/// When a refused code was last logged at ERROR: once an hour is enough for a journal that a
/// person reads, while the pause is retried every `smtp.auth_retry_seconds`.
static AUTH_LOGGED: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);

fn auth_refused(message: &str) {
    let mut last = AUTH_LOGGED.lock().unwrap_or_else(|p| p.into_inner());
    if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
        tracing::error!(error = %message, "SMTP server refused the authorisation code; sending paused, nothing marked failed (fix smtp.password_file: it is read again on the next try)");
        *last = Some(std::time::Instant::now());
    } else {
        tracing::debug!(error = %message, "SMTP authorisation code still refused; sending stays paused");
    }
}

fn auth_accepted() {
    if AUTH_LOGGED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .is_some()
    {
        tracing::info!("SMTP server accepted the authorisation code; sending resumed");
    }
}

fn backoff(attempts: i32, now: DateTime<Utc>) -> DateTime<Utc> {
    let base = 60f64 * 2f64.powi(attempts.clamp(0, 6));
    let capped = base.min(3600.0);
    let jitter = rand::rng().random_range(0.8..1.2);
    now + chrono::Duration::milliseconds((capped * jitter * 1000.0) as i64)
}

/// The account whose pauses (a refused code, 163's limits) stop this sender: the address it
/// sends as, which the campaigns reading one mailbox share.
pub fn sender_account(settings: &Settings) -> &str {
    &settings.campaign.mailbox
}

/// The campaigns whose emails this sender sends: those reading the selected campaign's mailbox
/// (their account sends as its address). Empty, meaning every row, when the deployment reads one
/// mailbox: rows of a campaign no longer configured still go out then.
async fn sender_scope(settings: &Settings, store: &Store) -> Result<Vec<CampaignId>, StoreError> {
    if settings.mailbox_groups().len() < 2 {
        return Ok(Vec::new());
    }
    let mut scope = Vec::new();
    for c in settings.mailbox_peers() {
        if let Some(id) = store.campaign_by_key(&c.campaign.key).await? {
            scope.push(id);
        }
    }
    Ok(scope)
}

/// The next local midnight: 163's daily quota resets then.
fn next_midnight(settings: &Settings, now: DateTime<Utc>) -> DateTime<Utc> {
    let tz = settings.campaign.tz;
    let tomorrow = now
        .with_timezone(&tz)
        .date_naive()
        .checked_add_days(Days::new(1))
        .unwrap_or_default();
    tz.from_local_datetime(&tomorrow.and_hms_opt(0, 5, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now + chrono::Duration::hours(24))
}

/// Sends due outbox rows, at most `limit`, pacing them at `smtp.max_per_minute`. `now` decides
/// what is due (tests move it forward instead of waiting).
pub async fn send_due(
    settings: &Settings,
    store: &Store,
    mailer: &Mailer,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<SendReport, NotifyError> {
    let mut report = SendReport::default();
    // A refused code stays recorded past its pause: the first email the server then accepts
    // clears it, so STATUS stops saying the code is wrong.
    let mut auth_pause = false;
    if let Some((until, reason)) = store.sender_paused_until(sender_account(settings)).await? {
        auth_pause = reason.starts_with(AUTH_REJECTED);
        if until > now {
            report.paused_until = Some(until);
            report.pause_reason = Some(reason);
            return Ok(report);
        }
    }
    let scope = sender_scope(settings, store).await?;
    let pace = Duration::from_secs_f64(60.0 / f64::from(settings.smtp.max_per_minute.max(1)));
    let mut first = true;
    while report.sent + report.retried + report.failed < limit {
        let claim = store.claim_due(now, settings.smtp.resend_grace, &scope);
        let Some(mut claimed) = claim.await? else {
            break;
        };
        if !first {
            tokio::time::sleep(pace).await;
        }
        first = false;
        let files = match attachments(store, &claimed.row).await {
            Ok(f) => f,
            // The bucket does not answer: not this email's fault, and the next would fail the
            // same way. It stays due, uncharged, for the next pass.
            Err((error, true)) => {
                tracing::warn!(id = claimed.row.id, error = %error, "email held: the object store cannot be read");
                store.complete(claimed, &Delivery::Held { error }).await?;
                break;
            }
            // One email whose file is gone must not stop every email queued after it.
            Err((error, false)) => {
                tracing::error!(id = claimed.row.id, error = %error, "email not sent: an attachment cannot be read");
                report.failed += 1;
                store.complete(claimed, &Delivery::Failed { error }).await?;
                continue;
            }
        };
        let row = claimed.row.clone();
        let sent = mailer.send(&row, files, || claimed.mark_sending()).await?;
        // `stop`: this failure says the rest would fail too; they stay due for the next pass.
        let (outcome, stop) = match sent {
            Ok(reply) => {
                auth_accepted();
                if std::mem::take(&mut auth_pause) {
                    store.resume_sender(sender_account(settings)).await?;
                }
                report.sent += 1;
                crate::metrics::email_sent(&claimed.row.email.kind);
                tracing::info!(id = claimed.row.id, kind = %claimed.row.email.kind, "email sent");
                (Delivery::Sent { reply }, false)
            }
            Err(f) => {
                // A refused code is logged by `auth_refused`, hourly, not for every retry.
                if f.class != FailureClass::Auth {
                    tracing::warn!(id = claimed.row.id, error = %f.message, class = ?f.class, "email not sent");
                }
                match f.class {
                    // Before the attempt limit: a wrong code is not the email's failure, and
                    // it must not use up the attempts of every queued email either.
                    FailureClass::Auth => {
                        auth_refused(&f.message);
                        let until = now
                            + chrono::Duration::from_std(settings.smtp.auth_retry)
                                .unwrap_or(chrono::Duration::minutes(5));
                        let reason = format!("{AUTH_REJECTED}：{}", f.message);
                        store
                            .pause_sender(sender_account(settings), until, &reason)
                            .await?;
                        report.paused_until = Some(until);
                        report.pause_reason = Some(reason);
                        (Delivery::Held { error: f.message }, true)
                    }
                    FailureClass::Permanent => {
                        report.failed += 1;
                        crate::metrics::email_failed();
                        (Delivery::Failed { error: f.message }, false)
                    }
                    _ if claimed.row.attempts + 1 >= MAX_ATTEMPTS => {
                        report.failed += 1;
                        crate::metrics::email_failed();
                        (Delivery::Failed { error: f.message }, false)
                    }
                    // No server answering: trying the rest now would only wait out the pace
                    // for each of them (minutes for a command like `resend-ack`).
                    FailureClass::Transient | FailureClass::Unreachable => {
                        report.retried += 1;
                        let retry = Delivery::Retry {
                            error: f.message,
                            retry_at: backoff(claimed.row.attempts, now),
                        };
                        (retry, f.class == FailureClass::Unreachable)
                    }
                    FailureClass::SlowDown | FailureClass::DailyQuota => {
                        let until = if f.class == FailureClass::SlowDown {
                            now + chrono::Duration::minutes(16)
                        } else {
                            next_midnight(settings, now)
                        };
                        store
                            .pause_sender(sender_account(settings), until, &f.message)
                            .await?;
                        report.retried += 1;
                        report.paused_until = Some(until);
                        let retry = Delivery::Retry {
                            error: f.message,
                            retry_at: until,
                        };
                        (retry, true)
                    }
                }
            }
        };
        store.complete(claimed, &outcome).await?;
        if stop {
            break;
        }
    }
    mailer.close().await;
    Ok(report)
}

/// The files of an email, read from the object store; why not, in Chinese, for the row, and
/// whether the store itself is in trouble (worth trying again) rather than the file missing.
async fn attachments(
    store: &Store,
    row: &crate::store::OutboxRow,
) -> Result<Vec<(String, String, Vec<u8>)>, (String, bool)> {
    let mut files = Vec::with_capacity(row.email.attachments.len());
    for a in &row.email.attachments {
        let bytes = store
            .objects
            .get(&a.sha256)
            .await
            .map_err(|e| (format!("附件“{}”无法读取：{e}", a.name), e.is_transient()))?;
        files.push((a.name.clone(), a.content_type.clone(), bytes));
    }
    Ok(files)
}

/// Who a reminder round goes to, and who must be phoned instead.
pub struct ReminderPlan<'a> {
    pub emails: Vec<NewOutbox>,
    /// Units that owe something and have no address.
    pub phone: Vec<compose::PhoneCall<'a>>,
    /// (unit name, why) for every unit reminded, for `remind --dry-run`.
    pub why: Vec<(String, String, Vec<String>)>,
}

/// A required item is missing or invalid: what a reminder or a phone call asks a unit for. An
/// item waiting for the coordinator's review is not the unit's to do (issue 9 item 1).
fn owed(state: ItemState) -> bool {
    matches!(state, ItemState::Missing | ItemState::Invalid)
}

fn owes(settings: &Settings, view: &UnitView) -> bool {
    view.status != UnitStatus::Exempt
        && settings
            .campaign
            .items
            .iter()
            .any(|i| i.required && owed(view.items[&i.key].state))
}

async fn template_attachment(
    settings: &Settings,
    store: &Store,
) -> Result<Option<OutboxAttachment>, NotifyError> {
    let Some(path) = &settings.campaign.template_file else {
        return Ok(None);
    };
    let bytes =
        std::fs::read(path).map_err(|e| NotifyError::Template(path.display().to_string(), e))?;
    let sha = crate::store::sha256_hex(&bytes);
    store.objects.put(&sha, &bytes).await?;
    let label = settings
        .campaign
        .table_item()
        .map_or("统计表".to_string(), |i| i.label.clone());
    Ok(Some(OutboxAttachment {
        name: format!("{}{}（空白）.xlsx", settings.campaign.name, label),
        content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".into(),
        sha256: sha,
    }))
}

/// Plans the reminders of a round at `now`.
pub async fn plan_reminders<'s>(
    settings: &'s Settings,
    store: &Store,
    status: &Status,
    round_key: &str,
    now: DateTime<Utc>,
) -> Result<ReminderPlan<'s>, NotifyError> {
    let table_key = settings.campaign.table_item().map(|i| i.key.clone());
    let template = template_attachment(settings, store).await?;
    let mut plan = ReminderPlan {
        emails: Vec::new(),
        phone: Vec::new(),
        why: Vec::new(),
    };
    for view in status.units.iter().filter(|u| owes(settings, u)) {
        let Some(unit) = settings.roster.get(&view.id) else {
            continue;
        };
        let addresses = store.unit_addresses(&unit.id).await?;
        let reasons: Vec<String> = settings
            .campaign
            .items
            .iter()
            .filter(|i| i.required && owed(view.items[&i.key].state))
            .map(|i| format!("{}：{}", i.label, view.items[&i.key].state.label_zh()))
            .collect();
        if addresses.is_empty() {
            plan.phone.push(compose::PhoneCall {
                unit,
                status: view.status,
            });
            plan.why
                .push((unit.name.clone(), "无邮箱地址，需电话联系".into(), reasons));
            continue;
        }
        let table_missing = table_key
            .as_ref()
            .is_some_and(|k| view.items[k].state == ItemState::Missing);
        plan.why
            .push((unit.name.clone(), addresses.join("，"), reasons));
        plan.emails.push(compose::reminder(
            &settings.compose(),
            round_key,
            now,
            unit,
            view,
            addresses,
            if table_missing {
                template.clone()
            } else {
                None
            },
        ));
    }
    Ok(plan)
}

/// Composes the daily report for `date_key` (with its 汇总表.xlsx stored as an object).
pub async fn compose_report(
    settings: &Settings,
    store: &Store,
    date_key: &str,
    now: DateTime<Utc>,
) -> Result<NewOutbox, NotifyError> {
    let status = store.status(&settings.campaign_view(), now).await?;
    let failed = store.failed_outbox().await?;
    let mut phone = Vec::new();
    for view in status.units.iter().filter(|u| owes(settings, u)) {
        if let Some(unit) = settings.roster.get(&view.id) {
            if store.unit_addresses(&unit.id).await?.is_empty() {
                phone.push(compose::PhoneCall {
                    unit,
                    status: view.status,
                });
            }
        }
    }
    let table_item = settings
        .campaign
        .table_item()
        .map_or(classify::OTHER.to_string(), |i| i.key.clone());
    let values = store.table_values(&table_item).await?;
    let bytes = summary::workbook(&settings.compose(), &status, &values)?;
    let sha = crate::store::sha256_hex(&bytes);
    store.objects.put(&sha, &bytes).await?;
    let xlsx = OutboxAttachment {
        name: "汇总表.xlsx".into(),
        content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".into(),
        sha256: sha,
    };
    Ok(compose::daily_report(
        &settings.compose(),
        date_key,
        &status,
        &failed,
        &phone,
        Some(xlsx),
    ))
}

/// What a scheduler tick queued.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub reminder_round: Option<String>,
    pub reminders: usize,
    pub report: Option<String>,
}

async fn reminder_round(
    settings: &Settings,
    store: &Store,
    round: &Round,
    now: DateTime<Utc>,
) -> Result<usize, NotifyError> {
    let status = store.status(&settings.campaign_view(), now).await?;
    let plan = plan_reminders(settings, store, &status, &round.key, now).await?;
    let phone: Vec<&str> = plan.phone.iter().map(|p| p.unit.id.as_str()).collect();
    let detail = serde_json::json!({ "reminded": plan.emails.len(), "phone": phone });
    store
        .run_round(&round.key, "reminder", round.due_at, &plan.emails, detail)
        .await?;
    Ok(plan.emails.len())
}

/// Queues the latest due reminder round and daily report, each once.
pub async fn schedule_tick(
    settings: &Settings,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<TickReport, NotifyError> {
    let mut report = TickReport::default();
    if let Some(round) =
        schedule::latest_reminder_round(&settings.campaign, &settings.schedule, now)
    {
        if !store.round_done(&round.key).await? {
            report.reminders = reminder_round(settings, store, &round, now).await?;
            report.reminder_round = Some(round.key);
        }
    }
    if let Some(day) = schedule::latest_daily_report(&settings.campaign, &settings.schedule, now) {
        if !settings.campaign.coordinators.is_empty() && !store.round_done(&day.key).await? {
            let email = compose_report(settings, store, &day.date.to_string(), now).await?;
            store
                .run_round(
                    &day.key,
                    "report",
                    day.due_at,
                    &[email],
                    serde_json::json!({}),
                )
                .await?;
            report.report = Some(day.key);
        }
    }
    Ok(report)
}

/// [`schedule_tick`] for every campaign this sender sends for (those reading the selected
/// campaign's mailbox), each with its own settings (deadline, schedule, roster, coordinators)
/// and its own rows: two campaigns' reminders and daily emails never mix. A campaign no command
/// has registered in the database yet is skipped.
pub async fn schedule_all(
    settings: &Settings,
    store: &Store,
    now: DateTime<Utc>,
) -> Vec<(String, Result<TickReport, NotifyError>)> {
    let mut out = Vec::new();
    let peers = settings.mailbox_peers();
    for key in peers.iter().map(|c| c.campaign.key.as_str()) {
        let result = async {
            let Ok(s) = settings.select(Some(key)) else {
                return Ok(TickReport::default());
            };
            match store.campaign_by_key(key).await? {
                Some(id) => schedule_tick(&s, &store.for_campaign(id), now).await,
                None => Ok(TickReport::default()),
            }
        }
        .await;
        out.push((key.to_string(), result));
    }
    out
}

/// Queues the acknowledgement of a stored message again (the coordinator's `resend-ack`).
pub async fn resend_ack(
    settings: &Settings,
    store: &Store,
    reference: &str,
) -> Result<Option<NewOutbox>, NotifyError> {
    let (id, msg, disposition, _) = store.message_for_ack(reference).await?;
    let view = match &msg.unit_id {
        Some(u) => store.unit_status_view(&settings.campaign_view(), u).await?,
        None => None,
    };
    let saved = AfterSave {
        id,
        message: &msg,
        disposition,
        rate_limited: false,
        unit: view.as_ref(),
    };
    let Some(mut email) = compose_ack(settings, &saved).into_iter().next() else {
        return Ok(None);
    };
    let n = store
        .outbox(Some("ack"))
        .await?
        .iter()
        .filter(|r| r.email.message_id == Some(id))
        .count();
    email.dedupe_key = format!("ack:{id}:resend:{n}");
    store.enqueue(std::slice::from_ref(&email)).await?;
    Ok(Some(email))
}

/// The advisory lock that makes one instance the sender for this campaign's mailbox: the rate
/// limit is per account, so two senders must never run side by side.
fn sender_lock_key(settings: &Settings) -> String {
    format!("reportbox-sender:{}", settings.campaign.mailbox)
}

/// How often the scheduler looks for due rounds, and how long an idle sender waits.
const TICK: Duration = Duration::from_secs(30);

/// One full cycle for `once`: due rounds queued, then every due email sent (paced). Skipped,
/// with `None`, when a running service is already the sender.
pub async fn cycle(
    settings: &Settings,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Option<(TickReport, SendReport)>, NotifyError> {
    let mut lead =
        crate::store::Leadership::connect(&settings.database.url, sender_lock_key(settings))
            .await
            .map_err(StoreError::from)?;
    if !lead.try_lock().await.map_err(StoreError::from)? {
        lead.release().await;
        return Ok(None);
    }
    let result = async {
        let mailer = Mailer::new(settings)?;
        let mut tick = TickReport::default();
        for (_, t) in schedule_all(settings, store, now).await {
            let t = t?;
            if t.reminder_round.is_some() || t.report.is_some() {
                tick = t;
            }
        }
        let sent = send_due(settings, store, &mailer, Utc::now(), usize::MAX).await?;
        Ok::<_, NotifyError>((tick, sent))
    }
    .await;
    lead.release().await;
    result.map(Some)
}

/// SIGHUP: the code is read again before the next email, and a pause for a refused code ends
/// so that it is tried now.
async fn reread_code(settings: &Settings, store: &Store, mailer: &Mailer) {
    mailer.reload_on_next_send();
    match store.sender_paused_until(sender_account(settings)).await {
        Ok(Some((_, reason))) if reason.starts_with(AUTH_REJECTED) => {
            match store.resume_sender(sender_account(settings)).await {
                Ok(()) => tracing::info!("reloaded: the authorisation code is tried again now"),
                Err(e) => tracing::warn!(error = %e, "reloaded, but the pause could not be ended"),
            }
        }
        Ok(_) => {
            tracing::info!("reloaded: the authorisation code is read again before the next email")
        }
        Err(e) => tracing::warn!(error = %e, "reloaded, but the sender's pause could not be read"),
    }
}

/// The sender and scheduler of the service: runs until `shutdown` fires. Only one instance
/// sends at a time; the others stand by. Errors (database or SMTP down) are logged once each
/// and retried; only a configuration error ends it.
pub async fn run(
    settings: &Settings,
    store: &Store,
    shutdown: crate::shutdown::Shutdown,
) -> Result<(), NotifyError> {
    run_with_reload(settings, store, shutdown, &tokio::sync::Notify::new()).await
}

/// [`run`], and on each `reload` notice (the daemon's SIGHUP): the code is read again from
/// `smtp.password_file` before the next email, a pause for a refused code ends, and the sender
/// tries at once instead of waiting out `smtp.auth_retry_seconds`. A pause 163 imposed for
/// sending too much is kept: re-reading changes nothing about it.
pub async fn run_with_reload(
    settings: &Settings,
    store: &Store,
    mut shutdown: crate::shutdown::Shutdown,
    reload: &tokio::sync::Notify,
) -> Result<(), NotifyError> {
    let mailer = Mailer::new(settings)?;
    let pace = Duration::from_secs_f64(60.0 / f64::from(settings.smtp.max_per_minute.max(1)));
    'standby: loop {
        // While the database is unreachable: wait longer each time (up to 30 s) and say so
        // once per distinct error, not every second into the journal.
        let mut db_wait = Duration::from_secs(1);
        let mut db_error = String::new();
        let mut lead = loop {
            let attempt = async {
                let mut l = crate::store::Leadership::connect(
                    &settings.database.url,
                    sender_lock_key(settings),
                )
                .await?;
                let got = l.try_lock().await?;
                Ok::<_, StoreError>((l, got))
            }
            .await;
            let wait = match attempt {
                Ok((l, true)) => break l,
                Ok((l, false)) => {
                    l.release().await;
                    db_wait = Duration::from_secs(1);
                    db_wait
                }
                Err(e) => {
                    let text = e.to_string();
                    if text != db_error {
                        tracing::warn!(error = %text, "sender: cannot reach the database; will retry");
                        db_error = text;
                    }
                    let wait = db_wait;
                    db_wait = (db_wait * 2).min(Duration::from_secs(30));
                    wait
                }
            };
            crate::liveness::SENDER.beat(wait);
            tokio::select! {
                _ = shutdown.fired() => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
        };
        tracing::info!("sending mail for {}", settings.campaign.mailbox);
        let idle = settings.smtp.idle_poll;
        let mut wake = store.outbox_wake().await;
        let mut last_tick: Option<std::time::Instant> = None;
        let mut last_error = String::new();
        loop {
            if !lead.still_held().await {
                tracing::warn!("sender: lost the database connection holding the sender lock");
                continue 'standby;
            }
            let now = Utc::now();
            if last_tick.is_none_or(|t| t.elapsed() >= TICK) {
                last_tick = Some(std::time::Instant::now());
                for (campaign, tick) in schedule_all(settings, store, now).await {
                    match tick {
                        Ok(t) if t.reminder_round.is_some() || t.report.is_some() => {
                            tracing::info!(campaign, ?t, "scheduled emails queued");
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(campaign, error = %e, "scheduler failed; will retry")
                        }
                    }
                }
            }
            let wait = match send_due(settings, store, &mailer, now, 1).await {
                Ok(r) => {
                    last_error.clear();
                    match r.paused_until {
                        Some(until) if until > now => (until - now)
                            .to_std()
                            .unwrap_or(idle)
                            .min(Duration::from_secs(60)),
                        _ if r.sent + r.retried + r.failed > 0 => pace,
                        _ => idle,
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    if text != last_error {
                        tracing::warn!(error = %text, "sender failed; will retry");
                        if let Err(e) = store.service_error("sender", &text).await {
                            tracing::debug!(error = %e, "cannot record the sender's error");
                        }
                        last_error = text;
                    }
                    idle
                }
            };
            crate::liveness::SENDER.beat(wait);
            // Only an idle sender is woken early: pacing and a server's pause are kept.
            let listen = wait == idle;
            tokio::select! {
                _ = shutdown.fired() => {
                    lead.release().await;
                    return Ok(());
                }
                _ = tokio::time::sleep(wait) => {}
                _ = wake.woken(), if listen => {}
                _ = reload.notified() => reread_code(settings, store, &mailer).await,
            }
        }
    }
}
