//! `reportbox import`: files, directories and mbox files of mail, read one message at a time
//! and processed as the mailbox daemon processes them.

use crate::campaign::Disposition;
use crate::config::Settings;
use crate::pipeline::{self, Incoming};
use crate::store::{Saved, Store};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The files `import` was given, found before any is read.
#[derive(Debug, Default)]
pub struct Found {
    /// Files to read, in a stable order.
    pub files: Vec<PathBuf>,
    /// Files inside a directory that are not mail by their extension: left alone.
    pub skipped: Vec<PathBuf>,
    /// Paths that do not exist or cannot be listed, each with why (in Chinese).
    pub unreadable: Vec<String>,
}

/// The files under `paths`, in a stable order: directories are read by file name (which is
/// arrival order for exported mail), keeping `.eml` and mbox files. A path that cannot be read
/// is noted and the others are still found. Only names are gathered here; each file is read
/// when its turn comes.
pub fn find_files(paths: &[PathBuf]) -> Found {
    let mut found = Found::default();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut found);
        } else if p.is_file() {
            found.files.push(p.clone());
        } else {
            found
                .unreadable
                .push(format!("{}：路径不存在", p.display()));
        }
    }
    found
}

fn walk(dir: &Path, found: &mut Found) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            found
                .unreadable
                .push(format!("{}：无法读取：{e}", dir.display()));
            return;
        }
    };
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, found);
        } else {
            let ext = e
                .extension()
                .map(|x| x.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            if matches!(ext.as_str(), "eml" | "mbox" | "mbx") {
                found.files.push(e);
            } else {
                found.skipped.push(e);
            }
        }
    }
}

/// What became of the messages of one `import`.
#[derive(Debug, Default)]
struct Tally {
    new: usize,
    known: usize,
    failed: usize,
}

impl Tally {
    fn messages(&self) -> usize {
        self.new + self.known + self.failed
    }
}

/// Imports the messages under `paths` as `reportbox import` does, printing a line per message
/// and a summary. Files, and the messages of an mbox, are read and processed one at a time, so
/// memory follows the largest message, not the input.
pub async fn import(
    settings: &Settings,
    store: &Store,
    paths: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let Found {
        files,
        skipped,
        mut unreadable,
    } = find_files(paths);
    for problem in &unreadable {
        eprintln!("{problem}");
    }
    for f in &skipped {
        println!("{}：不是邮件文件（只导入 .eml 和 mbox），跳过", f.display());
    }
    let mut tally = Tally::default();
    for f in &files {
        if let Err(problem) = import_file(settings, store, f, &mut tally).await {
            eprintln!("{problem}");
            unreadable.push(problem);
        }
    }
    if tally.messages() == 0 {
        eprintln!("没有找到邮件文件（.eml 或 mbox）");
        return Ok(ExitCode::FAILURE);
    }
    let Tally { new, known, failed } = tally;
    let mut summary = format!("导入完成：新增 {new} 封，已存在 {known} 封，失败 {failed} 封");
    if !skipped.is_empty() {
        summary.push_str(&format!("，跳过非邮件文件 {} 个", skipped.len()));
    }
    if !unreadable.is_empty() {
        summary.push_str(&format!("，未导入的路径 {} 个", unreadable.len()));
    }
    println!("{summary}");
    Ok(if failed == 0 && unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One file: an mbox message by message, anything else as one message when it starts like
/// one. `Err` names the file and why it was not (wholly) imported, in Chinese.
async fn import_file(
    settings: &Settings,
    store: &Store,
    path: &Path,
    tally: &mut Tally,
) -> Result<(), String> {
    use std::io::{BufRead, Read};
    let cannot = |e: std::io::Error| format!("{}：无法读取：{e}", path.display());
    let file = std::fs::File::open(path).map_err(cannot)?;
    let size = file.metadata().map_or(0, |m| m.len());
    let mut input = std::io::BufReader::with_capacity(64 << 10, file);
    let label = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if crate::mbox::is_mbox(input.fill_buf().map_err(cannot)?) {
        for (i, raw) in crate::mbox::Messages::new(input).enumerate() {
            let raw = raw.map_err(cannot)?;
            import_one(settings, store, format!("{label}#{}", i + 1), raw, tally).await;
        }
        return Ok(());
    }
    let mut raw = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    input.read_to_end(&mut raw).map_err(cannot)?;
    if !crate::intake::looks_like_message(&raw) {
        return Err(format!(
            "{}：不是邮件（开头没有邮件头），未导入",
            path.display()
        ));
    }
    import_one(settings, store, label, raw, tally).await;
    Ok(())
}

async fn import_one(
    settings: &Settings,
    store: &Store,
    label: String,
    raw: Vec<u8>,
    tally: &mut Tally,
) {
    let incoming = Incoming {
        raw,
        source: format!("import:{label}"),
        internal_date: None,
    };
    match pipeline::process(settings, store, incoming).await {
        Ok(outcome) => match outcome.saved {
            Saved::AlreadyStored { .. } => {
                tally.known += 1;
                println!("{label}：已导入过，跳过");
            }
            Saved::Recorded {
                id,
                disposition,
                unit_id,
                ..
            } => {
                tally.new += 1;
                let unit = unit_id
                    .as_deref()
                    .and_then(|u| settings.roster.get(u))
                    .map(|u| u.name.as_str());
                let what = match (disposition, unit) {
                    (Disposition::Processed, Some(u)) => format!("计入“{u}”"),
                    (Disposition::Note, Some(u)) => {
                        format!("“{u}”的来信（无附件），列入单位来信")
                    }
                    (Disposition::Note, None) => "来信（无附件），列入单位来信".to_string(),
                    (Disposition::Processed, None) => "无法确定单位，待指定".to_string(),
                    (d, _) => format!(
                        "未计入（{}）",
                        crate::status::reason_zh(&format!("message.{d}"))
                    ),
                };
                println!("{label}：编号 {id}，{what}");
            }
        },
        Err(e) => {
            tally.failed += 1;
            eprintln!("{label}：处理失败：{e}");
        }
    }
}
