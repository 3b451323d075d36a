//! Which campaign a message belongs to, when several campaigns read one mailbox (issue 11).
//! Pure: what the message says and what each campaign knows in, a campaign key out. The caller
//! looks up beforehand which campaigns the message's reply chain answers (our Message-IDs name
//! outbox rows, and each row belongs to one campaign) and which addresses each campaign learned.
//!
//! The rules, strongest first: the sender is on a campaign's roster (or was learned for one of its
//! units); the message answers an email sent for a campaign; the message names a campaign's
//! keywords (subject, body start, file names). Each rule only narrows the campaigns the
//! stronger ones left, so a unit on two rosters is placed by its reply chain or its words. When
//! no rule picks anyone, the message goes to the default campaign, where it is unmatched.

use std::collections::HashSet;

/// What routing reads of a message.
#[derive(Debug, Clone, Default)]
pub struct MessageFacts<'a> {
    /// From, Reply-To and Sender, any case.
    pub senders: Vec<&'a str>,
    pub subject: &'a str,
    /// The start of the body text.
    pub body_start: &'a str,
    pub file_names: Vec<&'a str>,
}

/// What routing knows of one campaign.
#[derive(Debug, Clone)]
pub struct CampaignFacts<'a> {
    pub key: &'a str,
    /// Its roster's addresses and those learned for its units, lowercase.
    pub addresses: HashSet<String>,
    /// Whether the message's In-Reply-To/References name an email sent for this campaign.
    pub answered: bool,
    /// Its keywords, lowercase (`campaign.keywords`).
    pub keywords: &'a [String],
}

/// Why a message went where it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteRule {
    Address,
    ReplyChain,
    Keywords,
    /// Nothing matched: the default campaign's unmatched list.
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub key: String,
    pub rule: RouteRule,
}

/// The campaign `message` belongs to among `campaigns` (configuration order; the default one is
/// `default`, an index). `None` only when `campaigns` is empty.
pub fn route(
    message: &MessageFacts<'_>,
    campaigns: &[CampaignFacts<'_>],
    default: usize,
) -> Option<Routed> {
    let senders: Vec<String> = message
        .senders
        .iter()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let mut left: Vec<&CampaignFacts<'_>> = campaigns.iter().collect();
    let mut rule = None;
    let by_address = |c: &&CampaignFacts<'_>| senders.iter().any(|s| c.addresses.contains(s));
    let by_reply = |c: &&CampaignFacts<'_>| c.answered;
    for (r, matches) in [
        (
            RouteRule::Address,
            &by_address as &dyn Fn(&&CampaignFacts<'_>) -> bool,
        ),
        (RouteRule::ReplyChain, &by_reply),
    ] {
        let narrowed: Vec<_> = left.iter().copied().filter(|c| matches(c)).collect();
        if !narrowed.is_empty() {
            left = narrowed;
            rule.get_or_insert(r);
            if left.len() == 1 {
                break;
            }
        }
    }
    if left.len() > 1 {
        let text = haystack(message);
        let hits = |c: &CampaignFacts<'_>| {
            c.keywords
                .iter()
                .filter(|k| !k.is_empty() && text.contains(k.as_str()))
                .count()
        };
        let best = left.iter().map(|c| hits(c)).max().unwrap_or(0);
        if best > 0 {
            left.retain(|c| hits(c) == best);
            rule.get_or_insert(RouteRule::Keywords);
        }
    }
    match rule {
        // Still more than one: the first configured of them.
        Some(rule) => left.first().map(|c| Routed {
            key: c.key.to_string(),
            rule,
        }),
        None => campaigns
            .get(default)
            .or(campaigns.first())
            .map(|c| Routed {
                key: c.key.to_string(),
                rule: RouteRule::Default,
            }),
    }
}

/// Where keywords are looked for, lowercase.
fn haystack(m: &MessageFacts<'_>) -> String {
    let mut text = format!("{}\n{}", m.subject, m.body_start);
    for name in &m.file_names {
        text.push('\n');
        text.push_str(name);
    }
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign<'a>(key: &'a str, addresses: &[&str], keywords: &'a [String]) -> CampaignFacts<'a> {
        CampaignFacts {
            key,
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            answered: false,
            keywords,
        }
    }

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    fn from(sender: &'static str, subject: &'static str) -> MessageFacts<'static> {
        MessageFacts {
            senders: vec![sender],
            subject,
            ..MessageFacts::default()
        }
    }

    #[test]
    fn a_roster_address_decides_before_any_word() {
        let (kj, kp) = (words(&["科技活动周"]), words(&["科普日"]));
        let cs = [
            campaign("kjhdz", &["a@163.com"], &kj),
            campaign("kpr", &["b@qq.com"], &kp),
        ];
        let r = route(&from("B@QQ.com", "科技活动周材料"), &cs, 0).unwrap();
        assert_eq!(
            r,
            Routed {
                key: "kpr".into(),
                rule: RouteRule::Address
            }
        );
    }

    #[test]
    fn a_unit_on_both_rosters_is_placed_by_its_reply_chain_then_its_words() {
        let (kj, kp) = (words(&["科技活动周"]), words(&["科普日"]));
        let mut cs = [
            campaign("kjhdz", &["a@163.com"], &kj),
            campaign("kpr", &["a@163.com"], &kp),
        ];
        let r = route(&from("a@163.com", "全国科普日总结"), &cs, 0).unwrap();
        assert_eq!(
            r,
            Routed {
                key: "kpr".into(),
                rule: RouteRule::Address
            }
        );
        cs[0].answered = true;
        let r = route(&from("a@163.com", "全国科普日总结"), &cs, 0).unwrap();
        assert_eq!(r.key, "kjhdz", "the reply chain is stronger than words");
        // Nothing tells them apart: the first configured.
        cs[0].answered = false;
        assert_eq!(
            route(&from("a@163.com", "材料"), &cs, 1).unwrap().key,
            "kjhdz"
        );
    }

    #[test]
    fn a_stranger_is_placed_by_reply_chain_or_by_the_most_keywords_in_subject_body_or_file_names() {
        let (kj, kp) = (words(&["科技活动周", "统计表"]), words(&["科普日", "总结"]));
        let mut cs = [campaign("kjhdz", &[], &kj), campaign("kpr", &[], &kp)];
        let mut m = from("x@qq.com", "材料");
        m.file_names = vec!["全国科普日活动总结.docx"];
        assert_eq!(
            route(&m, &cs, 0).unwrap(),
            Routed {
                key: "kpr".into(),
                rule: RouteRule::Keywords
            }
        );
        m.file_names = vec![];
        m.body_start = "附件是科技活动周统计表，另附总结";
        assert_eq!(route(&m, &cs, 1).unwrap().key, "kjhdz");
        cs[1].answered = true;
        assert_eq!(
            route(&m, &cs, 0).unwrap(),
            Routed {
                key: "kpr".into(),
                rule: RouteRule::ReplyChain
            }
        );
    }

    #[test]
    fn what_matches_nothing_goes_to_the_default_campaign() {
        let (kj, kp) = (words(&["科技活动周"]), words(&["科普日"]));
        let cs = [campaign("kjhdz", &[], &kj), campaign("kpr", &[], &kp)];
        assert_eq!(
            route(&from("x@qq.com", "发票"), &cs, 1).unwrap(),
            Routed {
                key: "kpr".into(),
                rule: RouteRule::Default
            }
        );
        assert_eq!(route(&from("x@qq.com", "发票"), &[], 0), None);
    }
}
