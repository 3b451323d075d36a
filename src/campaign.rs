//! A campaign as plain data: what it asks for (items), from whom (the roster is loaded beside
//! it), until when, and who runs it. The bottom layer: it imports nothing above `intake`'s file
//! kinds, and every stage that needs a campaign takes `&Campaign` rather than the settings.
//! The states a message and an outbox email reach ([`Disposition`], [`EmailState`]) are here too:
//! `store` writes them and the pure `status` and `history` read them, so only the bottom layer can
//! hold them without an import cycle.

use crate::intake::FileKind;
use chrono::{DateTime, FixedOffset};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::str::FromStr;

/// Which content check an item gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidatorKind {
    Table,
    Report,
    Video,
    None,
}

/// One item the campaign asks for (contract §3 as data).
#[derive(Debug, Clone)]
pub struct ItemDef {
    pub key: String,
    pub label: String,
    pub code: String,
    pub required: bool,
    pub validator: ValidatorKind,
    /// The file kinds (by content) this item accepts, from its extensions.
    pub kinds: Vec<FileKind>,
    pub extensions: Vec<String>,
    /// A document whose name contains one of these is a scan of this item (`table_scan`).
    pub scan_name_contains: Vec<String>,
    /// Among several candidates, prefer a name containing one of these.
    pub prefer_name_contains: Vec<String>,
    /// The file's name in `export` (统计表 → 统计表.xlsx), without extension.
    pub export_name: String,
}

/// A reminder round: `days` after the deadline's date (negative: before), at a local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderRound {
    pub days: i64,
    pub at: chrono::NaiveTime,
}

#[derive(Debug, Clone)]
pub struct Campaign {
    /// What commands name it by (`--campaign KEY`) and what the database files its rows under.
    pub key: String,
    pub name: String,
    pub deadline: DateTime<FixedOffset>,
    pub year: i32,
    pub tz: Tz,
    pub mailbox: String,
    /// The campaign's own addresses (its mailbox first), lowercased: mail from them is set aside.
    pub own_addresses: Vec<String>,
    pub roster_path: PathBuf,
    pub strip_prefixes: Vec<String>,
    pub acks_per_sender_per_hour: u32,
    pub items: Vec<ItemDef>,
    pub coordinators: Vec<String>,
    pub opens: DateTime<FixedOffset>,
    pub contact: String,
    pub template_file: Option<PathBuf>,
    /// Contract §8 (d): a message naming none of these, from nobody known, is `unrelated`.
    pub keywords: Vec<String>,
}

impl Campaign {
    pub fn item(&self, key: &str) -> Option<&ItemDef> {
        self.items.iter().find(|i| i.key == key)
    }

    /// The item a file of this content kind counts as, if any.
    pub fn item_for_kind(&self, kind: FileKind) -> Option<&ItemDef> {
        self.items.iter().find(|i| i.kinds.contains(&kind))
    }

    /// The statistics-table item, if the campaign asks for one: what identification reads the
    /// 填报单位 from and what the daily workbook summarises.
    pub fn table_item(&self) -> Option<&ItemDef> {
        self.items
            .iter()
            .find(|i| i.validator == ValidatorKind::Table)
    }
}

/// What became of a message (contract §8): it counts for a unit, it is a note to the staff, or it
/// is set aside and why. Stored as [`Disposition::as_str`] in `messages.disposition`; serde gives
/// the same words, so the golden files of `decide` read as they did when this was a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// A submission: counted for its unit, or waiting for one to be assigned.
    Processed,
    /// A unit wrote without a file: listed under 单位来信, counts for no item.
    Note,
    /// The same Message-ID as a message recorded before, with other bytes.
    Duplicate,
    /// From nobody known, naming nothing of the campaign.
    Unrelated,
    Spam,
    /// List mail, or from an address that takes no replies.
    Bulk,
    /// From the campaign's own mailbox or `own_addresses`.
    OwnAddress,
    /// A delivery report.
    Bounce,
    AutoReply,
}

impl Disposition {
    pub const ALL: [Disposition; 9] = [
        Disposition::Processed,
        Disposition::Note,
        Disposition::Duplicate,
        Disposition::Unrelated,
        Disposition::Spam,
        Disposition::Bulk,
        Disposition::OwnAddress,
        Disposition::Bounce,
        Disposition::AutoReply,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Processed => "processed",
            Disposition::Note => "note",
            Disposition::Duplicate => "duplicate",
            Disposition::Unrelated => "unrelated",
            Disposition::Spam => "spam",
            Disposition::Bulk => "bulk",
            Disposition::OwnAddress => "own_address",
            Disposition::Bounce => "bounce",
            Disposition::AutoReply => "auto_reply",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The message belongs to the unit it is attributed to (a submission or a note), rather
    /// than being set aside: it is acknowledged, and `assign` may move it.
    pub fn is_attributed(self) -> bool {
        matches!(self, Disposition::Processed | Disposition::Note)
    }

    /// A set-aside reason that is a judgement the coordinator may overrule by `assign`
    /// (contract §8): the message is then counted, as if it had been attributed on arrival.
    /// An auto-reply, a bounce, a duplicate or our own mail is a fact, not a judgement.
    pub fn is_overridable(self) -> bool {
        matches!(
            self,
            Disposition::Unrelated | Disposition::Spam | Disposition::Bulk
        )
    }

    /// The contract §8 reason code (`message.spam`) of a disposition that sets a message aside.
    pub fn reason(self) -> Option<String> {
        (!self.is_attributed()).then(|| format!("message.{}", self.as_str()))
    }
}

impl std::fmt::Display for Disposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that names no [`Disposition`] or [`EmailState`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for Disposition {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// Where an outbox email stands. Stored as [`EmailState::as_str`] in `outbox.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailState {
    /// Waiting for its (next) attempt.
    Pending,
    /// Being transmitted: the mark is committed before DATA, so a crash leaves it here.
    Sending,
    Sent,
    /// Given up: refused for good, or out of attempts. `retry` makes it pending again.
    Failed,
}

impl EmailState {
    pub const ALL: [EmailState; 4] = [
        EmailState::Pending,
        EmailState::Sending,
        EmailState::Sent,
        EmailState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EmailState::Pending => "pending",
            EmailState::Sending => "sending",
            EmailState::Sent => "sent",
            EmailState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl std::fmt::Display for EmailState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EmailState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored words, the serde words and `parse` agree: a row written by one reads back as
    /// the same state, and the golden files keep their strings.
    #[test]
    fn every_state_reads_back_as_itself() {
        for d in Disposition::ALL {
            assert_eq!(d.as_str().parse::<Disposition>(), Ok(d));
            assert_eq!(
                serde_json::to_value(d).unwrap(),
                serde_json::json!(d.as_str())
            );
        }
        for e in EmailState::ALL {
            assert_eq!(e.as_str().parse::<EmailState>(), Ok(e));
            assert_eq!(
                serde_json::to_value(e).unwrap(),
                serde_json::json!(e.as_str())
            );
        }
        assert!("Processed".parse::<Disposition>().is_err());
        assert!("delivered".parse::<EmailState>().is_err());
    }

    #[test]
    fn only_judgements_are_overridable_and_only_set_aside_mail_has_a_reason() {
        let overridable: Vec<_> = Disposition::ALL
            .into_iter()
            .filter(|d| d.is_overridable())
            .collect();
        assert_eq!(
            overridable,
            [Disposition::Unrelated, Disposition::Spam, Disposition::Bulk]
        );
        assert_eq!(Disposition::Processed.reason(), None);
        assert_eq!(Disposition::Note.reason(), None);
        assert_eq!(
            Disposition::OwnAddress.reason().as_deref(),
            Some("message.own_address")
        );
    }
}
