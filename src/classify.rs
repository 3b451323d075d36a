//! Which item each file of a message is (contract §3): type by content first, then by name; the
//! statistics table is the spreadsheet that passes the template check; scans, photos, extras.
//!
//! Pure: facts about the files in, one placement per file out.

use crate::campaign::{Campaign, ItemDef, ValidatorKind};
use crate::intake::{kind_from_name, FileKind, FileRole, LargeLink};
use crate::problem::Problem;

/// Items that are not asked for but are still kept and shown.
pub const PHOTOS: &str = "photos";
pub const OTHER: &str = "other";
pub const ARCHIVE: &str = "archive";
/// What an office suite or an operating system writes next to the real files and a zip or a
/// file picker takes along: never an item, whatever its extension says.
pub const SYSTEM: &str = "system";

/// Office and WPS lock files (`~$统计表.xlsx`), LibreOffice's (`.~lock.统计表.xlsx#`), the
/// AppleDouble twins macOS puts under `__MACOSX/` (`._统计表.xlsx`), `.DS_Store`, and
/// Explorer's `Thumbs.db` and `desktop.ini`. A lock file named `.xlsx` is not a broken table:
/// taking it for one would replace the unit's valid table with an invalid one.
pub fn is_system_file(name: &str) -> bool {
    let lower = name.to_lowercase();
    name.starts_with("~$")
        || name.starts_with("._")
        || lower.starts_with(".~lock.")
        || matches!(
            lower.as_str(),
            ".ds_store" | "thumbs.db" | "ehthumbs.db" | "desktop.ini"
        )
}

/// What classification needs to know of one file.
#[derive(Debug, Clone)]
pub struct FileFacts<'a> {
    pub name: &'a str,
    pub kind: FileKind,
    pub role: FileRole,
    pub size: u64,
    /// Problems intake already found (`file.too_large`): such a file is not read further.
    pub blocked: bool,
    /// For spreadsheets: whether it could be read and whether it is the campaign's table.
    pub table: Option<TableFacts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableFacts {
    pub readable: bool,
    pub is_template: bool,
    /// Its 填报单位 is written: units re-attach the blank template next to the filled one.
    pub unit_named: bool,
    /// Errors the template check found, to prefer the better of two filled tables.
    pub errors: usize,
}

/// Where a file goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub item: String,
    pub problems: Vec<Problem>,
    /// The content validator should check it (its type is right and nothing blocked it).
    pub validate: bool,
}

fn other(item: &str) -> Placement {
    Placement {
        item: item.to_string(),
        problems: Vec::new(),
        validate: false,
    }
}

/// An extension other than `.txt` (not a version number like the `6` of `总结2023.6`).
fn names_another_type(ext: &str) -> bool {
    ext != "txt"
        && (1..=5).contains(&ext.len())
        && ext.chars().all(|c| c.is_ascii_alphanumeric())
        && !ext.chars().all(|c| c.is_ascii_digit())
}

fn ext_of(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_lowercase())
        .unwrap_or_default()
}

/// The first pass: each file on its own, by type.
fn place_one(campaign: &Campaign, f: &FileFacts<'_>) -> Placement {
    let by_name = kind_from_name(f.name);
    let name_item = by_name.and_then(|k| campaign.item_for_kind(k));
    let ext = ext_of(f.name);
    let content_item = match f.kind {
        // Plain text is only a report when it is called one: a .csv, .html or .xml is text too,
        // and a long activity list in csv would otherwise beat the real report on size.
        FileKind::Txt if names_another_type(&ext) => None,
        k => campaign.item_for_kind(k),
    };

    if f.role == FileRole::Archive {
        // An archive named like an item (a `统计表.xlsx` that is really a zip) lies about its type.
        if let Some(item) = name_item {
            return mismatch(item, f, &ext);
        }
        return other(ARCHIVE);
    }
    if is_system_file(f.name) {
        return other(SYSTEM);
    }
    if f.kind == FileKind::Empty {
        let item = name_item.or(content_item);
        return Placement {
            item: item.map_or(OTHER.to_string(), |i| i.key.clone()),
            problems: vec![Problem::error(
                "file.empty",
                format!("文件“{}”是空文件（0字节）", f.name),
            )],
            validate: false,
        };
    }
    if f.blocked {
        let item = name_item.or(content_item);
        return Placement {
            item: item.map_or(OTHER.to_string(), |i| i.key.clone()),
            problems: Vec::new(),
            validate: false,
        };
    }
    match (name_item, content_item) {
        (Some(n), Some(c)) if n.key == c.key => placed(campaign, c, f),
        (Some(n), _) => mismatch(n, f, &ext),
        (None, Some(c)) => placed(campaign, c, f),
        (None, None) => match f.kind.family() {
            crate::intake::FileFamily::Image => scan_or(campaign, f, PHOTOS),
            crate::intake::FileFamily::Document => scan_or(campaign, f, OTHER),
            _ => other(OTHER),
        },
    }
}

fn mismatch(item: &ItemDef, f: &FileFacts<'_>, ext: &str) -> Placement {
    let problem = if f.kind == FileKind::Unknown {
        Problem::error(
            "file.unreadable",
            format!("文件“{}”已损坏或无法识别，无法打开", f.name),
        )
    } else {
        Problem::error(
            "file.type_mismatch",
            format!(
                "文件“{}”的扩展名为.{}，但实际内容是{}文件，请另存为正确格式后重新发送",
                f.name,
                ext,
                f.kind.as_str()
            ),
        )
    };
    Placement {
        item: item.key.clone(),
        problems: vec![problem],
        validate: false,
    }
}

/// A document or image named as the scan of an item (a `统计表.pdf`) is that item's scan.
fn scan_or(campaign: &Campaign, f: &FileFacts<'_>, fallback: &str) -> Placement {
    for item in &campaign.items {
        if item.scan_name_contains.iter().any(|s| f.name.contains(s)) {
            return other(&format!("{}_scan", item.code));
        }
    }
    other(fallback)
}

fn placed(campaign: &Campaign, item: &ItemDef, f: &FileFacts<'_>) -> Placement {
    // A document named as another item's scan never counts as this item.
    let is_document = f.kind.family() == crate::intake::FileFamily::Document;
    if is_document {
        if let Some(owner) = campaign
            .items
            .iter()
            .find(|o| o.key != item.key && o.scan_name_contains.iter().any(|s| f.name.contains(s)))
        {
            return other(&format!("{}_scan", owner.code));
        }
    }
    Placement {
        item: item.key.clone(),
        problems: Vec::new(),
        validate: true,
    }
}

/// Places every file of one message, then keeps one file per item (contract §3).
pub fn classify(campaign: &Campaign, files: &[FileFacts<'_>]) -> Vec<Placement> {
    let mut placements: Vec<Placement> = files.iter().map(|f| place_one(campaign, f)).collect();
    for item in &campaign.items {
        let candidates: Vec<usize> = (0..files.len())
            .filter(|&i| placements[i].item == item.key)
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let chosen = if item.validator == ValidatorKind::Table {
            choose_table(&candidates, files, &mut placements)
        } else {
            choose_preferred(item, &candidates, files, &placements)
        };
        for i in candidates {
            if i != chosen {
                placements[i] = other(OTHER);
            }
        }
    }
    placements
}

/// The spreadsheet that passes the template check; failing that, the last one sent, which then
/// carries `table.not_template` if nothing worse is wrong with it. Among several that pass, the
/// filled one: the blank 附件2 re-attached also passes, but names no unit and holds no values.
fn choose_table(
    candidates: &[usize],
    files: &[FileFacts<'_>],
    placements: &mut [Placement],
) -> usize {
    let passing = candidates
        .iter()
        .copied()
        .filter(|&i| {
            placements[i].validate && files[i].table.is_some_and(|t| t.readable && t.is_template)
        })
        .max_by_key(|&i| {
            let t = files[i].table.unwrap_or_default();
            // On a tie the later attachment wins: a corrected table is attached after the old.
            (t.unit_named, std::cmp::Reverse(t.errors), i)
        });
    if let Some(i) = passing {
        return i;
    }
    let last = *candidates.last().expect("candidates is not empty");
    let p = &mut placements[last];
    if p.validate && files[last].table.is_some_and(|t| t.readable) {
        p.problems.push(Problem::error(
            "table.not_template",
            format!(
                "“{}”不是本次活动的统计表模板（未找到“统计指标”和“数量”表头），请使用通知所附统计表填写",
                files[last].name
            ),
        ));
        p.validate = false;
    }
    last
}

/// Prefer a name containing one of the item's preferred words, then the largest file. A file
/// whose content is not what its name says (a `.mp4` that is a thumbnail picture) only counts
/// when nothing of the right type was sent: it is not a candidate the unit meant as the item.
fn choose_preferred(
    item: &ItemDef,
    candidates: &[usize],
    files: &[FileFacts<'_>],
    placements: &[Placement],
) -> usize {
    candidates
        .iter()
        .copied()
        .max_by_key(|&i| {
            let preferred = item
                .prefer_name_contains
                .iter()
                .any(|s| files[i].name.contains(s));
            (
                placements[i].validate,
                preferred,
                files[i].size,
                std::cmp::Reverse(i),
            )
        })
        .expect("candidates is not empty")
}

/// Places a large-attachment link: the item its file name says (the video when it says none),
/// unless the message already attached a file for that item.
pub fn place_link(campaign: &Campaign, link: &LargeLink, taken: &[String]) -> Placement {
    let item = link
        .file_name
        .as_deref()
        .and_then(kind_from_name)
        .and_then(|k| campaign.item_for_kind(k))
        .or_else(|| {
            campaign
                .items
                .iter()
                .find(|i| i.validator == ValidatorKind::Video)
        });
    let Some(item) = item else {
        return other(OTHER);
    };
    if taken.contains(&item.key) {
        return other(OTHER);
    }
    let mut detail = Vec::new();
    if let Some(n) = &link.file_name {
        detail.push(format!("文件名：{n}"));
    }
    if let Some(s) = &link.size_text {
        detail.push(format!("大小：{s}"));
    }
    if let Some(e) = &link.expires {
        detail.push(format!("到期：{e}"));
    }
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!("（{}）", detail.join("，"))
    };
    Placement {
        item: item.key.clone(),
        problems: vec![Problem::review(
            &format!("{}.link_only", item.code),
            format!(
                "{}以下载链接（超大附件或网盘分享）形式发送{}，系统无法自动核验，将由工作人员下载查看；链接过期前请勿删除文件",
                item.label, detail
            ),
        )],
        validate: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::sniff;

    fn campaign() -> Campaign {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/reportbox.toml");
        crate::config::Settings::load(&path, Vec::new())
            .expect("shipped config")
            .campaign
    }

    fn facts<'a>(name: &'a str, bytes: &[u8], table: Option<TableFacts>) -> FileFacts<'a> {
        FileFacts {
            name,
            kind: sniff(bytes),
            role: FileRole::Member,
            size: bytes.len() as u64,
            blocked: false,
            table,
        }
    }

    #[test]
    fn system_file_names() {
        for n in [
            "~$统计表.xlsx",
            "~$总结.docx",
            "._统计表.xlsx",
            "._.DS_Store",
            ".DS_Store",
            "Thumbs.db",
            "desktop.ini",
            ".~lock.统计表.xlsx#",
        ] {
            assert!(is_system_file(n), "{n}");
        }
        for n in [
            "统计表.xlsx",
            "附件2 统计表(1).xlsx",
            "统计表.xlsx.xlsx",
            "~统计表.xlsx",
            "_总结.docx",
        ] {
            assert!(!is_system_file(n), "{n}");
        }
    }

    #[test]
    fn lock_files_and_appledouble_twins_are_never_an_item() {
        let c = campaign();
        // The unit's spreadsheet is not the template; its AppleDouble twin and an Excel lock
        // file come after it. The table is the unit's file, with table.not_template.
        let not_template = Some(TableFacts {
            readable: true,
            is_template: false,
            unit_named: false,
            errors: 0,
        });
        let xlsx = b"PK\x03\x04 not a real one, but sniffed by name below";
        let mut sheet = facts("附件2统计表.xlsx", xlsx, not_template);
        sheet.kind = FileKind::Xlsx;
        let apple_double = [0x00, 0x05, 0x16, 0x07, 0x00, 0x02, 0x00, 0x00, 0x4D, 0x61];
        let lock = [5, b'a', b'd', b'm', b'i', b'n', b' ', b' ', 0, 0];
        let files = [
            sheet,
            facts("._附件2统计表.xlsx", &apple_double, None),
            facts("~$附件2统计表.xlsx", &lock, None),
            facts(
                "Thumbs.db",
                &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0],
                None,
            ),
        ];
        let p = classify(&c, &files);
        assert_eq!(p[0].item, "statistics_table");
        assert_eq!(p[0].problems[0].code, "table.not_template");
        for q in &p[1..] {
            assert_eq!(q.item, SYSTEM);
            assert!(q.problems.is_empty() && !q.validate);
        }
    }
}
