//! A campaign as plain data: what it asks for (items), from whom (the roster is loaded beside
//! it), until when, and who runs it. The bottom layer: it imports nothing above `intake`'s file
//! kinds, and every stage that needs a campaign takes `&Campaign` rather than the settings.

use crate::intake::FileKind;
use chrono::{DateTime, FixedOffset};
use chrono_tz::Tz;
use std::path::PathBuf;

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
