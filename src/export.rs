//! `export --out DIR`: the materials as the coordinator hands them on. At the top 汇总表.xlsx and
//! 状态.csv; per unit a folder `<id> <name>` holding its current valid files under clean names
//! (统计表.xlsx, 总结报告.docx, 影像资料.mp4: each item's `export_name` and the extension of the
//! file's real kind), copied from the object store.
//!
//! Every name is built here and sanitised, never taken from a unit, so nothing can land outside
//! DIR. A run writes each file to a temporary file beside it and renames it into place, leaves
//! a file whose content is already right untouched, and removes the files an earlier export
//! wrote that are no longer current (a table that became invalid, a unit that left the roster).
//! What it wrote is listed in `DIR/.reportbox-export`; files it did not write are never removed.
//! The summary is "as of" the last recorded change, so the same records give the same tree.

use crate::campaign::ItemDef;
use crate::config::Settings;
use crate::notify::summary;
use crate::problem::ItemState;
use crate::status::Status;
use crate::store::{sha256_hex, CurrentFile, ObjectStore, Store, StoreError};
use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

/// The list of what the last export wrote, at the top of DIR.
pub const MANIFEST: &str = ".reportbox-export";
pub const SUMMARY_NAME: &str = "汇总表.xlsx";
/// The start of a file being written; one a killed export left behind is removed by the next.
const PARTIAL: &str = ".reportbox-partial-";
pub const STATUS_NAME: &str = "状态.csv";

/// Characters of a folder or file name before it is cut (the extension is added after).
const MAX_NAME_CHARS: usize = 80;
/// Bytes of a name before it is cut: ext4 allows 255, and the extension needs room.
const MAX_NAME_BYTES: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("汇总表")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("状态.csv")]
    Csv(#[from] csv::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where one file of the export comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A stored original, by sha256.
    Object(String),
    Bytes(Vec<u8>),
}

impl Content {
    fn sha256(&self) -> String {
        match self {
            Content::Object(sha) => sha.clone(),
            Content::Bytes(b) => sha256_hex(b),
        }
    }
}

/// One file of the export: its path relative to DIR (one or two sanitised components).
#[derive(Debug, Clone)]
pub struct Planned {
    pub path: PathBuf,
    pub content: Content,
}

/// What one export did.
#[derive(Debug, Default)]
pub struct Exported {
    /// Every file of the export, relative to DIR, in order.
    pub files: Vec<PathBuf>,
    pub written: usize,
    pub unchanged: usize,
    /// Files of an earlier export no longer current, removed.
    pub removed: usize,
    /// Units with a folder.
    pub units: usize,
}

impl Exported {
    /// What the coordinator reads: every file of the export, then what was done.
    pub fn render_zh(&self, dir: &Path) -> String {
        let mut out: String = self
            .files
            .iter()
            .map(|f| format!("{}\n", f.display()))
            .collect();
        out.push_str(&format!(
            "已导出到 {}：{} 个单位的合格材料及{SUMMARY_NAME}、{STATUS_NAME}；新写入 {} 个文件，未变 {} 个，删除不再是当前合格材料的 {} 个\n",
            dir.display(),
            self.units,
            self.written,
            self.unchanged,
            self.removed
        ));
        out
    }
}

/// A name safe as one path component on Linux, macOS and Windows: no separators, no control or
/// invisible direction characters, no leading or trailing dots or spaces (`..`, hidden files,
/// names Windows cuts), not a reserved device name (CON, NUL, COM1, …), and short enough.
pub fn component(raw: &str) -> String {
    let s = clean(raw);
    if s.chars().count() <= MAX_NAME_CHARS && s.len() <= MAX_NAME_BYTES {
        return s;
    }
    let mut cut = String::new();
    for c in s.chars().take(MAX_NAME_CHARS) {
        if cut.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        cut.push(c);
    }
    clean(&cut)
}

/// [`component`] without the cut to length.
fn clean(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => '_',
            '\u{FEFF}' => '_',
            c => c,
        })
        .collect();
    let mut s = cleaned
        .trim_matches(|c: char| c == '.' || c.is_whitespace())
        .to_string();
    if s.is_empty() {
        return "_".to_string();
    }
    let stem = s
        .split('.')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    let reserved = matches!(
        stem.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || (stem.len() == 4
        && (stem.starts_with("COM") || stem.starts_with("LPT"))
        && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        s.insert(0, '_');
    }
    s
}

/// The extension of a file of `kind` (its type by content); `bin` for anything unexpected.
pub fn extension(kind: &str) -> &str {
    match kind {
        "xlsx" | "xls" | "ods" | "docx" | "doc" | "odt" | "pdf" | "txt" | "mp4" | "mov" | "m4v"
        | "3gp" | "mkv" | "webm" | "avi" | "flv" | "mpg" | "ts" => kind,
        "asf" => "wmv",
        _ => "bin",
    }
}

/// `name` made unique among `taken` (compared without case, as Windows and macOS do) by a
/// `（2）`, `（3）`, … before the extension.
fn unique(name: String, ext: &str, taken: &mut HashSet<String>) -> String {
    let full = |n: &str| {
        if ext.is_empty() {
            n.to_string()
        } else {
            format!("{n}.{ext}")
        }
    };
    let mut candidate = full(&name);
    let mut n = 2;
    while !taken.insert(candidate.to_lowercase()) {
        candidate = full(&format!("{name}（{n}）"));
        n += 1;
    }
    candidate
}

/// The files of the export: the two summaries, then per unit (roster order) its valid items.
pub fn plan(
    items: &[ItemDef],
    status: &Status,
    current: &[CurrentFile],
    summary_xlsx: Vec<u8>,
    status_csv: Vec<u8>,
) -> Vec<Planned> {
    let mut out = vec![
        Planned {
            path: PathBuf::from(SUMMARY_NAME),
            content: Content::Bytes(summary_xlsx),
        },
        Planned {
            path: PathBuf::from(STATUS_NAME),
            content: Content::Bytes(status_csv),
        },
    ];
    let mut top: HashSet<String> = [SUMMARY_NAME, STATUS_NAME, MANIFEST]
        .iter()
        .map(|n| n.to_lowercase())
        .collect();
    let by_unit: BTreeMap<(&str, &str), &CurrentFile> = current
        .iter()
        .map(|f| ((f.unit_id.as_str(), f.item.as_str()), f))
        .collect();
    for unit in &status.units {
        let valid: Vec<(&ItemDef, &str, &str)> = items
            .iter()
            .filter_map(|item| {
                let f = by_unit.get(&(unit.id.as_str(), item.key.as_str()))?;
                let sha = f.sha256.as_deref()?;
                (f.state == ItemState::Valid).then_some((item, sha, f.kind.as_str()))
            })
            .collect();
        if valid.is_empty() {
            continue;
        }
        let folder = unique(
            component(&format!("{} {}", unit.id, unit.name)),
            "",
            &mut top,
        );
        let mut inside = HashSet::new();
        for (item, sha, kind) in valid {
            let name = unique(component(&item.export_name), extension(kind), &mut inside);
            out.push(Planned {
                path: Path::new(&folder).join(name),
                content: Content::Object(sha.to_string()),
            });
        }
    }
    out
}

/// A spreadsheet program runs a cell starting with these as a formula: written as text.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// 状态.csv: one row per unit with its status, each item's state and the file the unit sent,
/// and every problem; UTF-8 with a BOM, so Excel opens the Chinese as it is.
pub fn status_csv(items: &[ItemDef], status: &Status) -> Result<Vec<u8>, ExportError> {
    let mut w = csv::Writer::from_writer(Vec::from("\u{FEFF}".as_bytes()));
    let mut head: Vec<String> = ["编号", "单位名称", "分组", "状态", "逾期", "最近报送"]
        .map(String::from)
        .to_vec();
    for item in items {
        head.push(item.label.clone());
        head.push(format!("{}（原文件名）", item.label));
    }
    head.push("问题".into());
    w.write_record(&head)?;
    for u in &status.units {
        let mut row = vec![
            u.id.clone(),
            u.name.clone(),
            u.group.clone(),
            u.status.label_zh().to_string(),
            if u.late { "是" } else { "否" }.to_string(),
            // In the campaign's zone already; written the way a spreadsheet reads a time.
            u.last_received_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
        ];
        let mut problems: Vec<String> = u.problems.iter().map(|p| p.message.clone()).collect();
        for item in items {
            match u.items.get(&item.key) {
                Some(v) => {
                    row.push(v.state_zh());
                    row.push(v.file.clone().unwrap_or_default());
                    problems.extend(
                        v.problems
                            .iter()
                            .map(|p| format!("{}：{}", item.label, p.message)),
                    );
                }
                None => row.extend([String::new(), String::new()]),
            }
        }
        row.push(problems.join("；"));
        w.write_record(row.iter().map(|c| cell(c)))?;
    }
    w.into_inner().map_err(|e| ExportError::Io {
        path: PathBuf::from(STATUS_NAME),
        source: e.into_error(),
    })
}

/// Exports into `dir` (created if need be). Safe to repeat and to interrupt: every file is
/// renamed into place whole, and the next run finishes the job.
pub async fn export(
    settings: &Settings,
    store: &Store,
    dir: &Path,
) -> Result<Exported, ExportError> {
    let campaign = settings.campaign_view();
    let as_of = store
        .last_change()
        .await?
        .unwrap_or_else(|| settings.campaign.opens.to_utc());
    let status = store.status(&campaign, as_of).await?;
    let xlsx = summary_workbook(settings, store, &status).await?;
    let csv = status_csv(&settings.campaign.items, &status)?;
    let current = store.current_files().await?;
    let planned = plan(&settings.campaign.items, &status, &current, xlsx, csv);
    write(dir, &planned, &store.objects).await
}

/// 汇总表.xlsx for `status`: the workbook the daily email carries.
pub async fn summary_workbook(
    settings: &Settings,
    store: &Store,
    status: &Status,
) -> Result<Vec<u8>, ExportError> {
    let table_item = settings.campaign.table_item();
    let values = match table_item {
        Some(item) => store.table_values(&item.key).await?,
        None => Default::default(),
    };
    Ok(summary::workbook(&settings.compose(), status, &values)?)
}

/// Writes `bytes` to `path` whole or not at all (a temporary file beside it, renamed).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    put(path, &parent, &mut &bytes[..])
}

/// Puts `planned` under `dir`, then removes what the previous export listed and this one does
/// not, then lists this one.
pub async fn write(
    dir: &Path,
    planned: &[Planned],
    objects: &ObjectStore,
) -> Result<Exported, ExportError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let root = dir.canonicalize().map_err(io(dir))?;
    let mut done = Exported::default();
    let mut folders = HashSet::new();
    remove_partial(&root);
    for p in planned {
        debug_assert!(is_ours(&p.path), "{}", p.path.display());
        let target = root.join(&p.path);
        let parent = target.parent().unwrap_or(&root).to_path_buf();
        if parent != root && folders.insert(parent.clone()) {
            real_dir(&parent)?;
            remove_partial(&parent);
        }
        if holds(&target, &p.content, objects).await {
            done.unchanged += 1;
        } else {
            match &p.content {
                Content::Bytes(b) => put(&target, &parent, &mut &b[..])?,
                Content::Object(sha) => match objects.local_path(sha) {
                    Some(from) => {
                        let mut src = std::fs::File::open(&from).map_err(io(&from))?;
                        put(&target, &parent, &mut src)?;
                    }
                    // In a bucket: one file in memory at a time, as intake held it.
                    None => {
                        let bytes = objects.get(sha).await?;
                        put(&target, &parent, &mut &bytes[..])?;
                    }
                },
            }
            done.written += 1;
        }
        done.files.push(p.path.clone());
    }
    done.units = folders.len();
    let keep: HashSet<&Path> = planned.iter().map(|p| p.path.as_path()).collect();
    for old in read_manifest(&root) {
        if keep.contains(old.as_path()) {
            continue;
        }
        let path = root.join(&old);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
            std::fs::remove_file(&path).map_err(io(&path))?;
            done.removed += 1;
        }
        if let Some(parent) = path.parent().filter(|p| *p != root) {
            remove_partial(parent);
            // Only when empty: a file the coordinator put there stays, and so does its folder.
            let _ = std::fs::remove_dir(parent);
        }
    }
    let mut listing = String::new();
    for p in planned {
        listing.push_str(&format!("{}  {}\n", p.content.sha256(), p.path.display()));
    }
    put(&root.join(MANIFEST), &root, &mut listing.as_bytes())?;
    std::fs::File::open(&root)
        .and_then(|d| d.sync_all())
        .map_err(io(&root))?;
    Ok(done)
}

/// A path this module could have made: one or two plain components, no `..`, not absolute.
/// Entries of a manifest that is not are ignored, so an edited manifest removes nothing else.
fn is_ours(path: &Path) -> bool {
    let parts: Vec<Component<'_>> = path.components().collect();
    (1..=2).contains(&parts.len())
        && parts.iter().all(|c| match c {
            Component::Normal(n) => n.to_str().is_some_and(|n| clean(n) == n),
            _ => false,
        })
}

fn read_manifest(root: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(root.join(MANIFEST))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once("  ").map(|(_, p)| PathBuf::from(p)))
        .filter(|p| is_ours(p))
        .collect()
}

/// Removes what a killed export was writing in `dir` (ours by its name alone).
fn remove_partial(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let ours = e.file_name().to_string_lossy().starts_with(PARTIAL);
        if ours && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// `path` as a real directory: a symbolic link or file in its place (which would send the
/// files elsewhere) is removed first.
fn real_dir(path: &Path) -> Result<(), ExportError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => std::fs::remove_file(path).map_err(io(path))?,
        Err(_) => {}
    }
    std::fs::create_dir(path).map_err(io(path))
}

/// `path` is a regular file (not a link) holding exactly `content`: compared byte for byte,
/// which costs a read and no hashing, so a re-run over large videos stays quick. An object in
/// a bucket is not fetched to compare: the file's own sha256 is its name there.
async fn holds(path: &Path, content: &Content, objects: &ObjectStore) -> bool {
    use std::io::Read;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    let mut want: Box<dyn Read> = match content {
        Content::Bytes(b) if meta.len() == b.len() as u64 => Box::new(&b[..]),
        Content::Object(sha) => match objects.local_path(sha) {
            Some(local) => match std::fs::File::open(local) {
                Ok(f) if f.metadata().is_ok_and(|m| m.len() == meta.len()) => Box::new(f),
                _ => return false,
            },
            None => {
                return meta.is_file()
                    && std::fs::read(path).is_ok_and(|have| sha256_hex(&have) == *sha)
            }
        },
        Content::Bytes(_) => return false,
    };
    let Ok(mut have) = std::fs::File::open(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let (mut a, mut b) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let Ok(n) = have.read(&mut a) else {
            return false;
        };
        if n == 0 {
            return want.read(&mut b[..1]).is_ok_and(|m| m == 0);
        }
        if want.read_exact(&mut b[..n]).is_err() || a[..n] != b[..n] {
            return false;
        }
    }
}

/// Writes what `content` reads to a temporary file in `parent`, then renames it over `target`.
fn put(target: &Path, parent: &Path, content: &mut dyn std::io::Read) -> Result<(), ExportError> {
    let mut tmp = tempfile::Builder::new()
        .prefix(PARTIAL)
        .tempfile_in(parent)
        .map_err(io(parent))?;
    std::io::copy(content, tmp.as_file_mut()).map_err(io(target))?;
    tmp.as_file().sync_all().map_err(io(target))?;
    if std::fs::symlink_metadata(target).is_ok_and(|m| m.is_dir()) {
        return Err(ExportError::Io {
            path: target.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a folder stands where the file goes",
            ),
        });
    }
    tmp.persist(target).map_err(|e| ExportError::Io {
        path: target.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_one_harmless_component() {
        for (raw, want) in [
            ("../../etc", "_.._etc"),
            ("/etc/passwd", "_etc_passwd"),
            ("..", "_"),
            (".", "_"),
            ("", "_"),
            ("a\0b", "a_b"),
            ("tab\there\nline", "tab_here_line"),
            ("CON", "_CON"),
            ("con.xlsx", "_con.xlsx"),
            ("COM1", "_COM1"),
            ("lpt9.txt", "_lpt9.txt"),
            ("COMPUTER", "COMPUTER"),
            (" 市档案馆. ", "市档案馆"),
            ("a:b*c?d\"e<f>g|h\\i", "a_b_c_d_e_f_g_h_i"),
            ("evil\u{202E}gpj.exe", "evil_gpj.exe"),
            ("city-archives 市档案馆", "city-archives 市档案馆"),
        ] {
            assert_eq!(component(raw), want, "{raw:?}");
        }
        let long = "很".repeat(500);
        let cut = component(&long);
        assert!(cut.len() <= MAX_NAME_BYTES && cut.chars().count() <= MAX_NAME_CHARS);
        assert!(is_ours(Path::new(&cut)));
    }

    #[test]
    fn only_plain_one_or_two_part_paths_are_ours() {
        assert!(is_ours(Path::new("汇总表.xlsx")));
        assert!(is_ours(Path::new("x 市档案馆/统计表.xlsx")));
        for bad in ["../x", "/etc/passwd", "a/b/c", "a/../b", "", "./a", "CON/x"] {
            assert!(!is_ours(Path::new(bad)), "{bad}");
        }
    }

    #[test]
    fn names_that_collide_get_a_number_without_case() {
        let mut taken = HashSet::new();
        assert_eq!(unique("统计表".into(), "xlsx", &mut taken), "统计表.xlsx");
        assert_eq!(
            unique("统计表".into(), "XLSX", &mut taken),
            "统计表（2）.XLSX"
        );
        assert_eq!(unique("a".into(), "", &mut taken), "a");
        assert_eq!(unique("A".into(), "", &mut taken), "A（2）");
    }

    fn bytes(path: &str, b: &str) -> Planned {
        Planned {
            path: PathBuf::from(path),
            content: Content::Bytes(b.as_bytes().to_vec()),
        }
    }

    #[tokio::test]
    async fn a_rerun_keeps_what_is_right_removes_what_it_wrote_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let objects = ObjectStore::new(tmp.path().join("objects"));
        let first = [bytes("状态.csv", "a"), bytes("u 单位/统计表.xlsx", "t")];
        let done = write(&dir, &first, &objects).await.unwrap();
        assert_eq!((done.written, done.unchanged, done.units), (2, 0, 1));
        // What a killed run left, a file of the coordinator's, and a manifest edited to point
        // outside: only the first goes.
        std::fs::write(dir.join("u 单位").join(format!("{PARTIAL}abc")), "half").unwrap();
        std::fs::write(dir.join("u 单位/备注.txt"), "mine").unwrap();
        std::fs::write(tmp.path().join("outside.txt"), "keep").unwrap();
        let mut manifest = std::fs::read_to_string(dir.join(MANIFEST)).unwrap();
        manifest.push_str("0  ../outside.txt\n");
        std::fs::write(dir.join(MANIFEST), manifest).unwrap();

        let second = [bytes("状态.csv", "b")];
        let done = write(&dir, &second, &objects).await.unwrap();
        assert_eq!((done.written, done.unchanged, done.removed), (1, 0, 1));
        assert_eq!(std::fs::read_to_string(dir.join("状态.csv")).unwrap(), "b");
        assert!(!dir.join("u 单位/统计表.xlsx").exists());
        assert!(dir.join("u 单位/备注.txt").exists());
        assert!(tmp.path().join("outside.txt").exists());
        let done = write(&dir, &second, &objects).await.unwrap();
        assert_eq!((done.written, done.unchanged, done.removed), (0, 1, 0));
        let left: Vec<String> = std::fs::read_dir(dir.join("u 单位"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["备注.txt"]);
    }

    #[test]
    fn a_cell_that_would_be_a_formula_is_text() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("市档案馆"), "市档案馆");
    }
}
