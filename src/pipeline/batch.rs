//! A fetched batch processed together (issue 12 item 1): hashing, parsing and deciding on a
//! pool of threads sized to the cores, the batch's originals written and made durable
//! together, and the rows left for the caller to commit in one transaction. The decisions are
//! the ones [`super::process`] makes one message at a time.

use super::routing::{self, Routed};
use super::{blocking, body_of, decide, sender_of, Known, Meta, PipelineError};
use crate::config::Settings;
use crate::intake;
use crate::store::{sha256_hex, CampaignId, NewMessage, Store};
use chrono::{DateTime, Utc};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One fetched message of a batch; the bytes stay with the caller.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub raw: &'a [u8],
    pub source: &'a str,
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
    settings: &Settings,
    store: &Store,
    items: &[Item<'_>],
) -> Result<Vec<Prepared>, PipelineError> {
    let hashes: Vec<String> = blocking(|| par_map(items.iter().collect(), |i| sha256_hex(i.raw)));
    let stored = store.find_raws(&hashes).await?;
    let fresh: Vec<usize> = (0..items.len())
        .filter(|&i| !stored.contains_key(&hashes[i]))
        .collect();
    let parsed = blocking(|| {
        par_map(fresh.clone(), |i| {
            (
                intake::parse(items[i].raw, &settings.limits),
                sha256_hex(body_of(items[i].raw)),
            )
        })
    });
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
            source: items[i].source.to_string(),
            internal_date: items[i].internal_date,
        };
        work.push((parsed, known, meta, route));
    }
    let decided = blocking(|| {
        par_map(work, |(p, k, m, route)| {
            let s = route.as_ref().map_or(settings, |r| &r.settings);
            let (message, blobs) = decide(s, p, &k, m);
            (message, blobs, route)
        })
    });
    let mut originals: Vec<(&str, &[u8])> = Vec::new();
    for (&i, (message, blobs, _)) in fresh.iter().zip(&decided) {
        originals.push((message.raw_sha256.as_str(), items[i].raw));
        originals.extend(blobs.iter().map(|(s, b)| (s.as_str(), b.as_slice())));
    }
    store.objects.put_all(&originals).await?;
    let mut decided = decided.into_iter();
    Ok(hashes
        .iter()
        .map(|h| match stored.get(h) {
            Some(&id) => Prepared::AlreadyStored { id },
            None => {
                let (message, _, route) = decided.next().expect("one decision per fresh message");
                Prepared::New(Box::new(message), route.map(Box::new))
            }
        })
        .collect())
}

/// How many of `prepared` can be committed together: a message is decided with the addresses
/// learned before it, so one whose sender an earlier message of the batch teaches must be
/// decided again after that one is committed (as one-at-a-time processing would have).
pub fn independent_prefix(prepared: &[Prepared]) -> usize {
    let mut taught = std::collections::HashSet::new();
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

/// `f` over `items` on up to as many threads as there are cores, results in order.
fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len());
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let results: Vec<Mutex<Option<R>>> = slots.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = slots.get(i) else { break };
                let item = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(item) = item {
                    let r = f(item);
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every item mapped")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_map_keeps_the_order() {
        let out = par_map((0..100).collect(), |i: u32| i * 2);
        assert_eq!(out, (0..100).map(|i| i * 2).collect::<Vec<_>>());
    }
}
