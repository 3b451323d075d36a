//! A fetched batch processed together (issue 12 item 1): hashing, parsing and deciding as jobs
//! on tokio's blocking pool, as many at once as there are cores, the batch's originals written
//! and made durable together, and the rows left for the caller to commit in one transaction.
//! The task awaits its jobs instead of blocking on them, so the next batch, fetched in the same
//! `join!` (mailbox/poll.rs), goes on meanwhile. The decisions are the ones [`super::process`]
//! makes one message at a time.

use super::routing::{self, Routed};
use super::{body_of, decide, sender_of, Known, Meta, PipelineError};
use crate::config::Settings;
use crate::intake;
use crate::store::{sha256_hex, CampaignId, Durable, NewMessage, Store};
use chrono::{DateTime, Utc};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};
use tokio::sync::Semaphore;

/// One fetched message of a batch. The jobs on the blocking pool need owned data, so the bytes
/// are shared with the caller rather than borrowed. `Arc<Vec<u8>>`: wrapping the fetched `Vec`
/// moves its buffer without a copy, where `Arc<[u8]>::from(Vec)` copies every byte; and
/// `bytes::Bytes`, also free, would be one more direct dependency for nothing used here (no
/// sub-slices are shared).
#[derive(Debug, Clone)]
pub struct Item {
    pub raw: Arc<Vec<u8>>,
    pub source: String,
    pub internal_date: Option<DateTime<Utc>>,
}

/// What a message of the batch comes to before the commit.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// These exact bytes were recorded before: nothing to do.
    AlreadyStored { id: i64 },
    /// Decided, its originals durable on disk: ready for [`super::save_in`], in the campaign
    /// it was routed to when that is not the batch's own.
    New(Box<NewMessage>, Option<Box<Routed>>),
}

impl Prepared {
    /// The address this message teaches (`learn_address`), lower-cased as the store keys it.
    fn teaches(&self) -> Option<String> {
        match self {
            Prepared::New(m, _) => m.learn_address.as_deref().map(|a| a.trim().to_lowercase()),
            Prepared::AlreadyStored { .. } => None,
        }
    }

    fn sender(&self) -> Option<String> {
        match self {
            Prepared::New(m, _) => m
                .from_addr
                .as_deref()
                .or(m.sender_addr.as_deref())
                .map(|a| a.trim().to_lowercase()),
            Prepared::AlreadyStored { .. } => None,
        }
    }
}

/// Decides every message of `items` and stores their originals durably (each file fsynced,
/// then each directory once). Nothing is recorded in the database: the caller commits.
pub async fn prepare(
    settings: &Arc<Settings>,
    store: &Store,
    items: &[Item],
) -> Result<Vec<Prepared>, PipelineError> {
    let hashes: Vec<String> = on_cores(
        "hashing",
        items.iter().map(|item| {
            let raw = Arc::clone(&item.raw);
            move || sha256_hex(&raw)
        }),
    )
    .await?;
    let stored = store.find_raws(&hashes).await?;
    let fresh: Vec<usize> = (0..items.len())
        .filter(|&i| !stored.contains_key(&hashes[i]))
        .collect();
    let parsed = on_cores(
        "parsing",
        fresh.iter().map(|&i| {
            let (raw, settings) = (Arc::clone(&items[i].raw), Arc::clone(settings));
            move || {
                (
                    intake::parse(&raw, &settings.limits),
                    sha256_hex(body_of(&raw)),
                )
            }
        }),
    )
    .await?;
    // Each message's campaign (the batch's own unless the mailbox is shared and it routes
    // elsewhere), then what that campaign learned of its sender and whether it answers us.
    let mut routes = Vec::with_capacity(parsed.len());
    for (p, _) in &parsed {
        routes.push(routing::routed(settings, store, p).await?);
    }
    let senders: Vec<String> = parsed.iter().filter_map(|(p, _)| sender_of(p)).collect();
    let learned = store.learned_units(&senders).await?;
    let mut elsewhere: HashMap<CampaignId, HashMap<String, String>> = HashMap::new();
    for r in routes.iter().flatten() {
        if let Entry::Vacant(v) = elsewhere.entry(r.campaign) {
            v.insert(
                store
                    .for_campaign(r.campaign)
                    .learned_units(&senders)
                    .await?,
            );
        }
    }
    let mut work = Vec::with_capacity(fresh.len());
    for ((&i, (parsed, body_sha256)), route) in fresh.iter().zip(parsed).zip(routes) {
        let (learned, at) = match &route {
            Some(r) => (
                elsewhere.get(&r.campaign).expect("looked up above"),
                store.for_campaign(r.campaign),
            ),
            None => (&learned, store.clone()),
        };
        let mut known = Known::default();
        if let Some(s) = sender_of(&parsed) {
            if let Some(unit) = learned.get(&s) {
                known.learned.insert(s, unit.clone());
            }
        }
        known.replies_to_us = at.answers_our_email(&parsed.references).await?;
        let meta = Meta {
            raw_sha256: hashes[i].clone(),
            body_sha256,
            size: items[i].raw.len(),
            source: items[i].source.clone(),
            internal_date: items[i].internal_date,
        };
        work.push((parsed, known, meta, route));
    }
    let decided = on_cores(
        "deciding",
        work.into_iter().map(|(parsed, known, meta, route)| {
            let settings = Arc::clone(settings);
            // A routed message is decided under its own campaign's settings, which it carries.
            move || {
                let s = route.as_ref().map_or(&*settings, |r| &r.settings);
                let (message, blobs) = decide(s, parsed, &known, meta);
                (message, blobs, route)
            }
        }),
    )
    .await?;
    let mut raws = Vec::with_capacity(decided.len());
    let mut files = Vec::new();
    let mut messages = Vec::with_capacity(decided.len());
    for (&i, (message, blobs, route)) in fresh.iter().zip(decided) {
        raws.push((message.raw_sha256.clone(), Arc::clone(&items[i].raw)));
        files.extend(blobs);
        messages.push((message, route));
    }
    put_durably(store, raws, files).await?;
    let mut messages = messages.into_iter();
    Ok(hashes
        .iter()
        .map(|h| match stored.get(h) {
            Some(&id) => Prepared::AlreadyStored { id },
            None => {
                let (message, route) = messages.next().expect("one decision per fresh message");
                Prepared::New(Box::new(message), route.map(Box::new))
            }
        })
        .collect())
}

/// The batch's originals (shared with the caller) and decoded files, durable on return. On disk
/// the writes and fsyncs block a thread: they go to the blocking pool, without a core's permit
/// (they wait on the device, not the CPU), and the files are dropped there once written.
async fn put_durably(
    store: &Store,
    raws: Vec<(String, Arc<Vec<u8>>)>,
    files: Vec<(String, Vec<u8>)>,
) -> Result<Durable, PipelineError> {
    fn pairs<'a>(
        raws: &'a [(String, Arc<Vec<u8>>)],
        files: &'a [(String, Vec<u8>)],
    ) -> Vec<(&'a str, &'a [u8])> {
        raws.iter()
            .map(|(s, b)| (s.as_str(), b.as_slice()))
            .chain(files.iter().map(|(s, b)| (s.as_str(), b.as_slice())))
            .collect()
    }
    Ok(match store.objects.fs() {
        Some(fs) => {
            let fs = fs.clone();
            blocking_job("storing originals", move || {
                fs.put_all(&pairs(&raws, &files))
            })
            .await??
        }
        None => store.objects.put_all(&pairs(&raws, &files)).await?,
    })
}

/// How many of `prepared` can be committed together: a message is decided with the addresses
/// learned before it, so one whose sender an earlier message of the batch teaches must be
/// decided again after that one is committed (as one-at-a-time processing would have).
pub fn independent_prefix(prepared: &[Prepared]) -> usize {
    let mut taught = HashSet::new();
    for (i, p) in prepared.iter().enumerate() {
        if p.sender().is_some_and(|s| taught.contains(&s)) {
            return i;
        }
        if let Some(a) = p.teaches() {
            taught.insert(a);
        }
    }
    prepared.len()
}

/// The addresses `prepared` teaches once committed.
pub fn taught(prepared: &[Prepared]) -> HashSet<String> {
    prepared.iter().filter_map(Prepared::teaches).collect()
}

/// Whether a message of `prepared` was decided without an address of `taught` (the batch
/// before it, committed while this one was decided, taught it): then it is decided again.
pub fn decided_too_early(prepared: &[Prepared], taught: &HashSet<String>) -> bool {
    !taught.is_empty()
        && prepared
            .iter()
            .any(|p| p.sender().is_some_and(|s| taught.contains(&s)))
}

/// Permits for the CPU jobs of every batch in the process, one per core. Each message's job is
/// its own blocking task holding a permit while it runs, rather than a thread pool per batch
/// (`par_map` before): several mailboxes may prepare batches at once, and a pool each would put
/// cores × mailboxes threads on the cores. Waiting for a permit is a future, so the task
/// yields then too.
static CORES: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())));

/// Each of `jobs` on the blocking pool under one of [`CORES`]'s permits; results in order.
async fn on_cores<T, F>(
    stage: &'static str,
    jobs: impl IntoIterator<Item = F>,
) -> Result<Vec<T>, PipelineError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    under(&CORES, stage, jobs).await
}

async fn under<T, F>(
    permits: &'static Semaphore,
    stage: &'static str,
    jobs: impl IntoIterator<Item = F>,
) -> Result<Vec<T>, PipelineError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let jobs = jobs.into_iter().map(|job| async move {
        let permit = permits
            .acquire()
            .await
            .map_err(|e| PipelineError::BlockingJob {
                stage,
                reason: e.to_string(),
            })?;
        blocking_job(stage, move || {
            // Given back when the job ends, even if the batch stopped waiting for it.
            let _permit = permit;
            job()
        })
        .await
    });
    futures_util::future::try_join_all(jobs).await
}

/// `job` on the blocking pool, awaited: unlike `block_in_place`, which blocks the whole task
/// (the futures joined with it included), the task yields until the job is done. A panic in the
/// job comes back as [`PipelineError::BlockingJob`] instead of unwinding through the daemon.
async fn blocking_job<T: Send + 'static>(
    stage: &'static str,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PipelineError> {
    tokio::task::spawn_blocking(job).await.map_err(|e| {
        let reason = if e.is_panic() {
            let panic = e.into_panic();
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panicked".to_string())
        } else {
            "cancelled: the runtime is shutting down".to_string()
        };
        PipelineError::BlockingJob { stage, reason }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// The job ends only once the other future of the `join!` has run. With `block_in_place`
    /// (the task blocked, on the runtime's only worker) that future is never polled and this
    /// never ends; with the jobs on the blocking pool it ends at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_future_joined_with_the_jobs_runs_while_they_do() {
        let (tx, rx) = mpsc::channel();
        let (done, ()) = tokio::join!(
            on_cores("testing", [move || rx.recv().expect("released")]),
            async move { tx.send(7).expect("the job waits for it") },
        );
        assert_eq!(done.unwrap(), vec![7]);
    }

    /// Three jobs under two permits: two run, the third starts only once one of them ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn jobs_never_outnumber_the_permits() {
        let permits: &'static Semaphore = Box::leak(Box::new(Semaphore::new(2)));
        let (started_tx, started) = mpsc::channel();
        let mut release = Vec::new();
        let jobs: Vec<_> = (0..3usize)
            .map(|i| {
                let (tx, rx) = mpsc::channel::<()>();
                release.push(tx);
                let started = started_tx.clone();
                move || {
                    started.send(i).expect("the test listens");
                    rx.recv().expect("released");
                    i
                }
            })
            .collect();
        drop(started_tx);
        let run = tokio::spawn(under(permits, "testing", jobs));
        tokio::task::spawn_blocking(move || {
            let first = [started.recv().unwrap(), started.recv().unwrap()];
            assert_eq!(permits.available_permits(), 0);
            assert!(
                started.try_recv().is_err(),
                "a third job ran without a permit"
            );
            release[first[0]].send(()).unwrap();
            let third = started.recv().unwrap();
            assert!(!first.contains(&third));
            release[first[1]].send(()).unwrap();
            release[third].send(()).unwrap();
        })
        .await
        .unwrap();
        assert_eq!(run.await.unwrap().unwrap(), vec![0, 1, 2]);
        assert_eq!(permits.available_permits(), 2);
    }

    /// A panic in a job is an error of the batch, not transient (the batch then goes one
    /// message at a time), and the daemon's task goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_panicking_job_is_an_error_that_is_not_transient() {
        let jobs: [fn() -> u8; 2] = [|| 1, || panic!("a validator's bug")];
        let e = on_cores("deciding", jobs).await.unwrap_err();
        assert!(matches!(
            e,
            PipelineError::BlockingJob {
                stage: "deciding",
                ..
            }
        ));
        assert!(!e.is_transient() && !e.is_fenced() && !e.is_storage());
        assert!(e.to_string().contains("a validator's bug"), "{e}");
    }
}
