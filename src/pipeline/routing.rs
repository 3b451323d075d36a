//! Which of the campaigns reading one mailbox a message is for (issue 11): what [`route`] reads,
//! looked up in the message and the store, and the settings of the campaign it chose. A mailbox
//! read by one campaign routes nothing.

use super::PipelineError;
use crate::config::Settings;
use crate::identify::Roster;
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
    let peers: Vec<Peer<'_>> = peers
        .iter()
        .map(|c| Peer {
            key: &c.campaign.key,
            roster: &c.roster,
            keywords: &c.campaign.keywords,
        })
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

/// What routing needs of a campaign reading the mailbox.
struct Peer<'a> {
    key: &'a str,
    roster: &'a Roster,
    keywords: &'a [String],
}

/// The key of the campaign among `peers` (configuration order; the first takes what matches
/// none) that `parsed` is for, given the campaigns that learned one of its `senders` and those
/// whose emails it answers.
fn choose(
    peers: &[Peer<'_>],
    parsed: &Parsed,
    senders: &[String],
    learned: &[String],
    answered: &[String],
) -> (String, RouteRule) {
    let keywords: Vec<Vec<String>> = peers
        .iter()
        .map(|c| c.keywords.iter().map(|k| k.to_lowercase()).collect())
        .collect();
    let facts: Vec<CampaignFacts<'_>> = peers
        .iter()
        .zip(&keywords)
        .map(|(c, keywords)| {
            let key = c.key;
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
        None => (
            peers.first().map_or(String::new(), |p| p.key.to_string()),
            RouteRule::Default,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{parse, IntakeLimits};

    fn roster(csv: &str) -> Roster {
        Roster::from_csv(format!("id,name,aliases,emails,group\n{csv}\n").as_bytes()).unwrap()
    }

    fn mail(from: &str, subject: &str, refs: &str) -> Parsed {
        let raw = format!(
            "From: {from}\r\nTo: w251342595@163.com\r\nSubject: {subject}\r\n{refs}\
             Message-ID: <m1@qq.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n材料见附件。\r\n"
        );
        parse(raw.as_bytes(), &IntakeLimits::default())
    }

    fn key_of(parsed: &Parsed, learned: &[&str], answered: &[&str]) -> (String, RouteRule) {
        let (a, b) = (
            roster("a,甲县科协,,a@163.com,县"),
            roster("b,乙县科协,,B@qq.com,县"),
        );
        let (ka, kb) = (
            vec!["科技活动周".to_string()],
            vec!["全国科普日".to_string()],
        );
        let peers = [
            Peer {
                key: "kjz",
                roster: &a,
                keywords: &ka,
            },
            Peer {
                key: "kpr",
                roster: &b,
                keywords: &kb,
            },
        ];
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        choose(
            &peers,
            parsed,
            &senders(parsed),
            &owned(learned),
            &owned(answered),
        )
    }

    #[test]
    fn a_message_goes_to_the_campaign_its_sender_roster_reply_or_words_name() {
        let roster_unit = mail("乙县 <b@QQ.com>", "科技活动周材料", "");
        assert_eq!(
            key_of(&roster_unit, &[], &[]),
            ("kpr".into(), RouteRule::Address),
            "the roster (any case) outweighs the other campaign's words"
        );
        let learned = mail("x@126.com", "材料", "");
        assert_eq!(key_of(&learned, &["kpr"], &[]).0, "kpr");
        let reply = mail(
            "x@126.com",
            "Re: 科技活动周",
            "In-Reply-To: <reportbox.ack.7.abc@163.com>\r\n",
        );
        assert_eq!(
            key_of(&reply, &[], &["kpr"]),
            ("kpr".into(), RouteRule::ReplyChain)
        );
        let words = mail("x@126.com", "2024年全国科普日活动总结", "");
        assert_eq!(
            key_of(&words, &[], &[]),
            ("kpr".into(), RouteRule::Keywords)
        );
        let nothing = mail("x@126.com", "发票", "");
        assert_eq!(
            key_of(&nothing, &[], &[]),
            ("kjz".into(), RouteRule::Default),
            "the mailbox's first campaign takes what nothing places"
        );
    }
}
