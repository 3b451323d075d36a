//! Per-folder progress (UIDVALIDITY, last committed UID) and attempt bookkeeping. The lock that
//! makes one instance the leader is `store::Leadership`.

use sqlx::{PgPool, Row};
use std::sync::Mutex;

/// One folder of one account under one UIDVALIDITY: where a UID means one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Folder<'a> {
    pub account: &'a str,
    pub folder: &'a str,
    pub uidvalidity: u32,
}

impl<'a> Folder<'a> {
    pub fn new(account: &'a str, folder: &'a str, uidvalidity: u32) -> Folder<'a> {
        Folder {
            account,
            folder,
            uidvalidity,
        }
    }

    /// Binds `$1..$3` of a statement that names the folder's rows.
    fn bind<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>
    where
        'a: 'q,
    {
        q.bind(self.account)
            .bind(self.folder)
            .bind(i64::from(self.uidvalidity))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

pub async fn load(
    pool: &PgPool,
    account: &str,
    folder: &str,
) -> Result<Option<Progress>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT uidvalidity, last_uid FROM mailbox_progress WHERE account = $1 AND folder = $2",
    )
    .bind(account)
    .bind(folder)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Progress {
        uidvalidity: r.get::<i64, _>("uidvalidity") as u32,
        last_uid: r.get::<i64, _>("last_uid") as u32,
    }))
}

/// Records `p`, replacing whatever was there (a new UIDVALIDITY starts again from 0).
pub async fn save(
    pool: &PgPool,
    account: &str,
    folder: &str,
    p: Progress,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mailbox_progress (account, folder, uidvalidity, last_uid) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account, folder) DO UPDATE SET uidvalidity = $3, last_uid = $4, updated_at = now()",
    )
    .bind(account)
    .bind(folder)
    .bind(i64::from(p.uidvalidity))
    .bind(i64::from(p.last_uid))
    .execute(pool)
    .await?;
    Ok(())
}

/// Moves the mark past `uid` and forgets its attempts, in one transaction. Never moves it back
/// (two instances briefly overlapping must not undo each other's progress).
pub async fn advance(pool: &PgPool, at: Folder<'_>, uid: u32) -> Result<(), sqlx::Error> {
    let r = advance_now(pool, at, uid).await;
    if r.is_err() {
        // The message is done; the pass ends on this error and fetches it again, so its
        // attempts must not be read as failures then.
        owe(Owed::new(at, uid, Settle::Forget));
    }
    r
}

async fn advance_now(pool: &PgPool, at: Folder<'_>, uid: u32) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    advance_in(&mut tx, at, uid, &[uid]).await?;
    tx.commit().await
}

/// Counts one more attempt at a message before it is made; returns the count including this one.
pub async fn begin_attempt(pool: &PgPool, at: Folder<'_>, uid: u32) -> Result<i32, sqlx::Error> {
    settle_owed(pool, at.account).await?;
    let charged = at.bind(sqlx::query(
        "INSERT INTO mailbox_failures (account, folder, uidvalidity, uid, attempts) VALUES ($1, $2, $3, $4, 1)
         ON CONFLICT (account, folder, uidvalidity, uid)
         DO UPDATE SET attempts = mailbox_failures.attempts + 1, last_at = now()
         RETURNING attempts",
    ))
    .bind(i64::from(uid))
    .fetch_one(pool)
    .await;
    // A fault here may come after the charge was committed (its reply lost): take it back
    // before the next attempt, or that attempt reads it as the message's failure.
    let row = charged.inspect_err(|_| owe(Owed::new(at, uid, Settle::Refund)))?;
    Ok(row.get("attempts"))
}

pub async fn record_error(
    pool: &PgPool,
    at: Folder<'_>,
    uid: u32,
    error: &str,
    gave_up: bool,
) -> Result<(), sqlx::Error> {
    at.bind(sqlx::query(
        "UPDATE mailbox_failures SET last_error = COALESCE($5, last_error), gave_up = gave_up OR $6,
           retry_requested_at = CASE WHEN $6 THEN NULL ELSE retry_requested_at END, last_at = now()
         WHERE account = $1 AND folder = $2 AND uidvalidity = $3 AND uid = $4",
    ))
    .bind(i64::from(uid))
    .bind((!error.is_empty()).then_some(error))
    .bind(gave_up)
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes back the attempt `begin_attempt` charged, when the failure was not the message's.
/// The failure is often the database's, and then so is this refund's: it is kept and made
/// before the next attempt, else a later attempt would read the charge as the message's
/// failure (with `max_attempts = 1`, give it up; a recorded one too).
pub async fn refund_attempt(pool: &PgPool, at: Folder<'_>, uid: u32) -> Result<(), sqlx::Error> {
    let r = refund_now(pool, at, uid).await;
    if r.is_err() {
        owe(Owed::new(at, uid, Settle::Refund));
    }
    r
}

async fn refund_now(pool: &PgPool, at: Folder<'_>, uid: u32) -> Result<(), sqlx::Error> {
    at.bind(sqlx::query(
        "UPDATE mailbox_failures SET attempts = GREATEST(attempts - 1, 0)
         WHERE account = $1 AND folder = $2 AND uidvalidity = $3 AND uid = $4",
    ))
    .bind(i64::from(uid))
    .execute(pool)
    .await?;
    Ok(())
}

/// A pass over `folder` ended without error: `status` and the metrics show when.
pub async fn polled(pool: &PgPool, account: &str, folder: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE mailbox_progress SET last_poll_at = now() WHERE account = $1 AND folder = $2",
    )
    .bind(account)
    .bind(folder)
    .execute(pool)
    .await?;
    Ok(())
}

/// Given-up messages of this folder (and UIDVALIDITY) that `reportbox retry` asked to be
/// fetched again, lowest UID first.
pub async fn retries(pool: &PgPool, at: Folder<'_>) -> Result<Vec<u32>, sqlx::Error> {
    let uids: Vec<i64> = sqlx::query_scalar(
        "SELECT uid FROM mailbox_failures
         WHERE account = $1 AND folder = $2 AND uidvalidity = $3 AND retry_requested_at IS NOT NULL
         ORDER BY uid",
    )
    .bind(at.account)
    .bind(at.folder)
    .bind(i64::from(at.uidvalidity))
    .fetch_all(pool)
    .await?;
    Ok(uids
        .into_iter()
        .filter_map(|u| u32::try_from(u).ok())
        .collect())
}

/// A retried message is recorded now: nothing is left to show for it.
pub async fn forget(pool: &PgPool, at: Folder<'_>, uid: u32) -> Result<(), sqlx::Error> {
    at.bind(sqlx::query(
        "DELETE FROM mailbox_failures
         WHERE account = $1 AND folder = $2 AND uidvalidity = $3 AND uid = $4",
    ))
    .bind(i64::from(uid))
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets the attempts and given-up messages of `folder` under any other UIDVALIDITY: after a
/// change the folder is scanned again from the start, so each of them is tried again anyway.
pub async fn forget_uidvalidity_other_than(
    pool: &PgPool,
    at: Folder<'_>,
) -> Result<(), sqlx::Error> {
    at.bind(sqlx::query(
        "DELETE FROM mailbox_failures WHERE account = $1 AND folder = $2 AND uidvalidity <> $3",
    ))
    .execute(pool)
    .await?;
    Ok(())
}

/// Attempt bookkeeping a database fault kept from landing, made before this process's next
/// attempt on the account. Held in memory: the fault that lost it is a database one, so the
/// database cannot hold it either. Applying one twice (its first commit's reply was lost) costs
/// at most a refunded attempt too many, never a message.
static OWED: Mutex<Vec<Owed>> = Mutex::new(Vec::new());

#[derive(Debug, Clone, PartialEq, Eq)]
enum Settle {
    /// The attempt failed for a reason not the message's: take it back.
    Refund,
    /// The message was committed: its attempts mean nothing any more.
    Forget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Owed {
    account: String,
    folder: String,
    uidvalidity: u32,
    uid: u32,
    settle: Settle,
}

impl Owed {
    fn new(at: Folder<'_>, uid: u32, settle: Settle) -> Owed {
        Owed {
            account: at.account.to_string(),
            folder: at.folder.to_string(),
            uidvalidity: at.uidvalidity,
            uid,
            settle,
        }
    }

    async fn apply(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let at = Folder::new(&self.account, &self.folder, self.uidvalidity);
        match self.settle {
            Settle::Refund => refund_now(pool, at, self.uid).await,
            Settle::Forget => {
                at.bind(sqlx::query(
                    "DELETE FROM mailbox_failures
                     WHERE account = $1 AND folder = $2 AND uidvalidity = $3 AND uid = $4
                       AND NOT gave_up",
                ))
                .bind(i64::from(self.uid))
                .execute(pool)
                .await?;
                Ok(())
            }
        }
    }
}

fn owed() -> std::sync::MutexGuard<'static, Vec<Owed>> {
    OWED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn owe(o: Owed) {
    let mut list = owed();
    if !list.contains(&o) {
        list.push(o);
    }
}

/// Makes what is owed on `account`; what fails stays owed and the error is returned.
async fn settle_owed(pool: &PgPool, account: &str) -> Result<(), sqlx::Error> {
    let mine: Vec<Owed> = {
        let mut list = owed();
        let (mine, others) = std::mem::take(&mut *list)
            .into_iter()
            .partition(|o| o.account == account);
        *list = others;
        mine
    };
    let mut pending = mine.into_iter();
    while let Some(o) = pending.next() {
        if let Err(e) = o.apply(pool).await {
            let mut list = owed();
            list.push(o);
            list.extend(pending);
            return Err(e);
        }
    }
    Ok(())
}

/// Marks a batch of messages as in flight together, in one statement, without charging any
/// of them an attempt: a crash during a batch cannot be blamed on one message. Returns false
/// when one of them was in flight or failed before (its row is there): the batch must then go
/// one message at a time, where each attempt is charged to its message.
pub async fn claim_batch(pool: &PgPool, at: Folder<'_>, uids: &[u32]) -> Result<bool, sqlx::Error> {
    let ids: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
    let claimed = at
        .bind(sqlx::query(
            "INSERT INTO mailbox_failures (account, folder, uidvalidity, uid, attempts)
         SELECT $1, $2, $3, u, 0 FROM unnest($4::bigint[]) AS u
         ON CONFLICT (account, folder, uidvalidity, uid) DO NOTHING",
        ))
        .bind(&ids)
        .execute(pool)
        .await?;
    Ok(claimed.rows_affected() == ids.len() as u64)
}

/// Takes back [`claim_batch`] for messages not recorded, when the failure was not theirs (the
/// database, the disk): the next pass tries them as a batch again.
pub async fn release_batch(pool: &PgPool, at: Folder<'_>, uids: &[u32]) -> Result<(), sqlx::Error> {
    let ids: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
    at.bind(sqlx::query(
        "DELETE FROM mailbox_failures
         WHERE account = $1 AND folder = $2 AND uidvalidity = $3 AND uid = ANY($4)
           AND attempts = 0 AND NOT gave_up AND retry_requested_at IS NULL",
    ))
    .bind(&ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// [`advance`] past `last` inside the transaction that records the batch `uids`, so that the
/// mark moves exactly when their rows are committed.
pub async fn advance_in(
    conn: &mut sqlx::PgConnection,
    at: Folder<'_>,
    last: u32,
    uids: &[u32],
) -> Result<(), sqlx::Error> {
    let ids: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
    at.bind(sqlx::query(
        "UPDATE mailbox_progress SET last_uid = GREATEST(last_uid, $4), updated_at = now()
         WHERE account = $1 AND folder = $2 AND uidvalidity = $3",
    ))
    .bind(i64::from(last))
    .execute(&mut *conn)
    .await?;
    at.bind(sqlx::query(
        "DELETE FROM mailbox_failures
         WHERE account = $1 AND folder = $2 AND uidvalidity = $3 AND uid = ANY($4) AND NOT gave_up",
    ))
    .bind(&ids)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
