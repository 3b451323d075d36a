//! Which of the campaigns reading one mailbox a message is for (issue 11): what [`route`] reads,
//! looked up in the message and the store, and the settings of the campaign it chose. A mailbox
//! read by one campaign routes nothing.

use super::PipelineError;
use crate::config::{CampaignSettings, Settings};
use crate::intake::Parsed;
use crate::route::{route, CampaignFacts, MessageFacts, RouteRule};
use crate::store::{CampaignId, Store};
use std::borrow::Cow;
use std::collections::HashSet;

/// How much of the body keywords are looked for in, as contract §8 (d) reads it.
const BODY_START: usize = 2_000;

/// A message routed to a campaign other than the one the caller runs for.
#[derive(Debug, Clone)]
pub struct Routed {
    pub settings: Settings,
    pub campaign: CampaignId,
}

/// Where `parsed` goes: `None` for the campaign of `settings` (always, when its mailbox has no
/// other campaign), else that campaign's settings and row.
pub(crate) async fn routed(
    settings: &Settings,
    store: &Store,
    parsed: &Parsed,
) -> Result<Option<Routed>, PipelineError> {
    let peers = settings.mailbox_peers();
    if peers.len() < 2
        || !peers
            .iter()
            .any(|c| c.campaign.key == settings.campaign.key)
    {
        return Ok(None);
    }
    let senders = senders(parsed);
    let learned = store.learned_campaigns(&senders).await?;
    let answered: Vec<String> = store
        .answered_campaigns(&parsed.references)
        .await?
        .into_iter()
        .map(|(_, key)| key)
        .collect();
    let (key, rule) = choose(&peers, parsed, &senders, &learned, &answered);
    if key == settings.campaign.key {
        return Ok(None);
    }
    // A campaign no command registered yet has no rows to record into: the mailbox's own keeps
    // the message (the daemon registers every configured campaign before it reads mail).
    let (Some(id), Ok(s)) = (
        store.campaign_by_key(&key).await?,
        settings.select(Some(&key)),
    ) else {
        return Ok(None);
    };
    tracing::debug!(campaign = %key, ?rule, "message routed");
    Ok(Some(Routed {
        settings: s,
        campaign: id,
    }))
}

/// The settings and store `parsed` is decided and recorded with: [`routed`]'s campaign, or
/// the caller's.
pub(crate) async fn target<'s>(
    settings: &'s Settings,
    store: &Store,
    parsed: &Parsed,
) -> Result<(Cow<'s, Settings>, Store), PipelineError> {
    Ok(match routed(settings, store, parsed).await? {
        Some(r) => (Cow::Owned(r.settings), store.for_campaign(r.campaign)),
        None => (Cow::Borrowed(settings), store.clone()),
    })
}

/// From, Reply-To and Sender, lowercase.
fn senders(parsed: &Parsed) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in [&parsed.from, &parsed.reply_to, &parsed.sender]
        .into_iter()
        .flatten()
    {
        let a = m.address.trim().to_lowercase();
        if !a.is_empty() && !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// The key of the campaign among `peers` (configuration order; the first takes what matches
/// none) that `parsed` is for, given the campaigns that learned one of its `senders` and those
/// whose emails it answers.
fn choose(
    peers: &[&CampaignSettings],
    parsed: &Parsed,
    senders: &[String],
    learned: &[String],
    answered: &[String],
) -> (String, RouteRule) {
    let keywords: Vec<Vec<String>> = peers
        .iter()
        .map(|c| {
            c.campaign
                .keywords
                .iter()
                .map(|k| k.to_lowercase())
                .collect()
        })
        .collect();
    let facts: Vec<CampaignFacts<'_>> = peers
        .iter()
        .zip(&keywords)
        .map(|(c, keywords)| {
            let key = c.campaign.key.as_str();
            let mut addresses: HashSet<String> = c
                .roster
                .units
                .iter()
                .flat_map(|u| &u.emails)
                .map(|e| e.trim().to_lowercase())
                .filter(|e| senders.contains(e))
                .collect();
            if learned.iter().any(|k| k == key) {
                addresses.extend(senders.iter().cloned());
            }
            CampaignFacts {
                key,
                addresses,
                answered: answered.iter().any(|k| k == key),
                keywords,
            }
        })
        .collect();
    let body_start: String = parsed.body_text.chars().take(BODY_START).collect();
    let message = MessageFacts {
        senders: senders.iter().map(String::as_str).collect(),
        subject: &parsed.subject,
        body_start: &body_start,
        file_names: parsed.files.iter().map(|f| f.name.as_str()).collect(),
    };
    match route(&message, &facts, 0) {
        Some(r) => (r.key, r.rule),
        None => (peers[0].campaign.key.clone(), RouteRule::Default),
    }
}
