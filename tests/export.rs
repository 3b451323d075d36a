//! The coordinator's hand-over commands through the real binary (issue 9, item 6): `export --out
//! DIR` (the same tree twice, only current valid files, hostile names kept inside DIR),
//! `recheck` after a limit was raised (states change, nobody is emailed), and `report --xlsx`.
//! Each test runs `reportbox` on its own database, storage directory and roster, with the
//! messages imported from .eml files as a coordinator would.

mod common;

use common::bin::Out;
use common::{mp4, report_txt, table_with_youth, uniq, write_roster, Mail, XLSX};
use reportbox::store::sha256_hex;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A debug build on a busy machine; a hang still fails.
const TIMEOUT: Duration = Duration::from_secs(180);

/// One coordinator's world: the test's database, a storage directory, a roster, mail to import.
struct Desk {
    url: String,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Desk {
    fn new(pool: &PgPool, roster: &[(&str, &str, &str, &str)]) -> Desk {
        let name = pool.connect_options().get_database().unwrap().to_string();
        let base = std::env::var("DATABASE_URL").expect("DATABASE_URL (deploy/testenv/up.sh)");
        let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mail")).unwrap();
        write_roster(dir.path(), roster);
        Desk {
            url,
            dir,
            env: Vec::new(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    async fn run(&self, args: &[&str]) -> Out {
        let mut cmd = common::bin::command(args);
        cmd.env("REPORTBOX_DATABASE__URL", &self.url)
            .env("REPORTBOX_STORAGE__DIR", self.path("storage"))
            .env("REPORTBOX_CAMPAIGN__ROSTER", self.path("roster.csv"))
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        common::bin::output(cmd, TIMEOUT).await
    }

    async fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args).await;
        assert_eq!(out.code, 0, "reportbox {args:?}:\n{out}");
        out
    }

    /// Imports one message through the binary.
    async fn import(&self, raw: Vec<u8>) {
        let path = self.path(&format!("mail/{}.eml", uniq()));
        std::fs::write(&path, raw).unwrap();
        let out = self.ok(&["import", path.to_str().unwrap()]).await;
        assert!(out.stdout.contains("新增 1 封"), "{out}");
    }

    async fn status(&self) -> Value {
        let out = self.ok(&["status", "--format", "json"]).await;
        serde_json::from_str(&out.stdout).unwrap()
    }
}

/// Every file under `dir`, relative, with the sha256 of its content.
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, sha256_hex(&std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out
}

fn at(path: &str) -> PathBuf {
    PathBuf::from(path)
}

fn unit_of<'a>(status: &'a Value, id: &str) -> &'a Value {
    common::unit(status, id)
}

#[sqlx::test(migrations = "./migrations")]
async fn export_twice_gives_the_same_tree_of_current_valid_files(pool: PgPool) {
    let desk = Desk::new(
        &pool,
        &[
            ("police", "市公安局", "", "police@unit.example"),
            ("edu", "市教育局", "", "edu@unit.example"),
            ("daily", "太原日报社", "", ""),
        ],
    );
    let (table, report, video) = (
        table_with_youth("市公安局", "2023", 300.0),
        report_txt(),
        mp4(150),
    );
    desk.import(
        Mail::new("police@unit.example", "市公安局报送科技活动周材料")
            .attach("附件2 统计表（终稿）.xlsx", XLSX, table.clone())
            .attach("../../总结.txt", "text/plain", report.clone())
            .attach("CON.mp4", "video/mp4", video.clone())
            .build(),
    )
    .await;
    // The table is wrong (其中 above its total): only the report and the video are exported.
    desk.import(
        Mail::new("edu@unit.example", "市教育局报送科技活动周材料")
            .attach(
                "统计表.xlsx",
                XLSX,
                table_with_youth("市教育局", "2023", 5000.0),
            )
            .attach("总结.txt", "text/plain", report.clone())
            .attach("视频.mp4", "video/mp4", mp4(120))
            .build(),
    )
    .await;

    let out_dir = desk.path("交付");
    let out = out_dir.to_str().unwrap();
    let first = desk.ok(&["export", "--out", out]).await;
    let tree1 = tree(&out_dir);
    let mut want: Vec<PathBuf> = [
        ".reportbox-export",
        "edu 市教育局/影像资料.mp4",
        "edu 市教育局/总结报告.txt",
        "police 市公安局/影像资料.mp4",
        "police 市公安局/总结报告.txt",
        "police 市公安局/统计表.xlsx",
        "状态.csv",
        "汇总表.xlsx",
    ]
    .iter()
    .map(|p| at(p))
    .collect();
    want.sort();
    assert_eq!(tree1.keys().cloned().collect::<Vec<_>>(), want, "{first}");
    // The unit's own bytes, under clean names.
    assert_eq!(
        tree1[&at("police 市公安局/统计表.xlsx")],
        sha256_hex(&table)
    );
    assert_eq!(
        tree1[&at("police 市公安局/总结报告.txt")],
        sha256_hex(&report)
    );
    assert_eq!(
        tree1[&at("police 市公安局/影像资料.mp4")],
        sha256_hex(&video)
    );
    assert!(
        first.stdout.contains("新写入 7 个文件，未变 0 个"),
        "{first}"
    );

    // Every unit of the roster in 状态.csv (UTF-8 with a BOM for Excel), the missing one too.
    let csv = std::fs::read(out_dir.join("状态.csv")).unwrap();
    assert!(csv.starts_with("\u{FEFF}".as_bytes()));
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].contains("编号,单位名称,分组,状态"), "{csv}");
    assert!(
        lines[1].starts_with("police,市公安局,") && lines[1].contains("已完成,否,2023-06-05 10:00"),
        "{csv}"
    );
    assert!(
        lines[2].starts_with("edu,市教育局,") && lines[2].contains("不合格"),
        "{csv}"
    );
    assert!(
        lines[2].contains("青少年参与人数"),
        "the problem is named: {csv}"
    );
    assert!(
        lines[3].starts_with("daily,太原日报社,") && lines[3].contains("未报送"),
        "{csv}"
    );

    // Again: the very same tree, nothing rewritten.
    let second = desk.ok(&["export", "--out", out]).await;
    assert_eq!(tree(&out_dir), tree1, "{second}");
    assert!(
        second.stdout.contains("新写入 0 个文件，未变 7 个"),
        "{second}"
    );

    // A newer video too long: the unit's video is no longer valid and leaves the export; a
    // file the coordinator put beside the unit's files stays.
    std::fs::write(out_dir.join("edu 市教育局/备注.txt"), "电话确认过").unwrap();
    let mut late = Mail::new("edu@unit.example", "市教育局重新报送视频").attach(
        "视频.mp4",
        "video/mp4",
        mp4(400),
    );
    late.date = "Tue, 6 Jun 2023 10:00:00 +0800".into();
    desk.import(late.build()).await;
    let third = desk.ok(&["export", "--out", out]).await;
    let tree3 = tree(&out_dir);
    assert!(
        !tree3.contains_key(&at("edu 市教育局/影像资料.mp4")),
        "{third}"
    );
    assert!(tree3.contains_key(&at("edu 市教育局/总结报告.txt")));
    assert!(tree3.contains_key(&at("edu 市教育局/备注.txt")));
    assert!(
        third.stdout.contains("删除不再是当前合格材料的 1 个"),
        "{third}"
    );
    assert_ne!(
        tree3[&at("汇总表.xlsx")],
        tree1[&at("汇总表.xlsx")],
        "as of the new message"
    );
}

/// A name no file system may see as it is: no separator, control or invisible character, no
/// leading dot, not a device name, not too long.
fn harmless(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.chars().any(|c| {
            c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
        })
        && !["CON", "PRN", "AUX", "NUL", "COM1", "LPT1"].contains(
            &name
                .split('.')
                .next()
                .unwrap()
                .to_ascii_uppercase()
                .as_str(),
        )
}

#[sqlx::test(migrations = "./migrations")]
async fn hostile_unit_and_file_names_stay_inside_the_export_folder(pool: PgPool) {
    let long = "很长的单位名称".repeat(60);
    let hostile: Vec<(&str, String)> = vec![
        ("up", "../../../逃逸单位".to_string()),
        ("abs", "/etc/cron.d/单位".to_string()),
        ("ctl", "控制\u{1b}[31m字符\u{7}单位\u{202E}".to_string()),
        ("win", "CON".to_string()),
        ("dots", "..".to_string()),
        ("long", long.clone()),
    ];
    let rows: Vec<(String, String, String, String)> = hostile
        .iter()
        .map(|(id, name)| {
            (
                id.to_string(),
                name.clone(),
                String::new(),
                format!("{id}@unit.example"),
            )
        })
        .collect();
    let rows: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
        .collect();
    let desk = Desk::new(&pool, &rows);
    for (id, _) in &hostile {
        desk.import(
            Mail::new(&format!("{id}@unit.example"), "报送科技活动周材料")
                .attach(
                    "../../../../tmp/统计表.xlsx",
                    XLSX,
                    table_with_youth("", "2023", 0.0),
                )
                .attach("/etc/passwd总结.txt", "text/plain", report_txt())
                .attach("NUL\u{0}.mp4", "video/mp4", mp4(100))
                .build(),
        )
        .await;
    }
    // A symbolic link where a unit's folder goes must not carry the files elsewhere.
    let box_dir = desk.path("box");
    let out_dir = box_dir.join("out");
    let elsewhere = desk.path("elsewhere");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::create_dir(&elsewhere).unwrap();
    let abs_folder = reportbox::export::component("abs /etc/cron.d/单位");
    std::os::unix::fs::symlink(&elsewhere, out_dir.join(&abs_folder)).unwrap();

    let out = desk
        .ok(&["export", "--out", out_dir.to_str().unwrap()])
        .await;
    assert_eq!(
        std::fs::read_dir(&box_dir).unwrap().count(),
        1,
        "only the export folder in its parent:\n{out}"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "{out}");
    let files = tree(&out_dir);
    let folders: std::collections::BTreeSet<String> = files
        .keys()
        .filter(|p| p.components().count() == 2)
        .map(|p| {
            p.components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        folders.len(),
        hostile.len(),
        "a folder per unit: {folders:?}\n{out}"
    );
    assert!(folders.contains(&abs_folder), "{folders:?}");
    for path in files.keys() {
        assert!(path.components().count() <= 2, "{}", path.display());
        for c in path.components() {
            let name = c.as_os_str().to_str().unwrap();
            assert!(
                harmless(name) || name == ".reportbox-export",
                "{name:?} in {}",
                path.display()
            );
        }
        let real = out_dir.join(path).canonicalize().unwrap();
        assert!(
            real.starts_with(out_dir.canonicalize().unwrap()),
            "{}",
            real.display()
        );
    }
    for folder in &folders {
        for f in ["影像资料.mp4", "总结报告.txt"] {
            assert!(
                files.contains_key(&Path::new(folder).join(f)),
                "{folder}/{f}"
            );
        }
    }
    assert!(
        folders.iter().any(|f| f.starts_with("long 很长的单位名称")),
        "{folders:?}"
    );
    // Run again: the same tree.
    desk.ok(&["export", "--out", out_dir.to_str().unwrap()])
        .await;
    assert_eq!(tree(&out_dir), files);
}

async fn rows(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn recheck_after_raising_the_video_limit_makes_the_video_valid_and_sends_nothing(
    pool: PgPool,
) {
    let mut desk = Desk::new(
        &pool,
        &[
            ("archives", "市档案馆", "", "archives@unit.example"),
            ("edu", "市教育局", "", "edu@unit.example"),
        ],
    );
    for (addr, unit) in [
        ("archives@unit.example", "市档案馆"),
        ("edu@unit.example", "市教育局"),
    ] {
        desk.import(
            Mail::new(addr, &format!("{unit}报送科技活动周材料"))
                .attach("统计表.xlsx", XLSX, table_with_youth(unit, "2023", 300.0))
                .attach("总结.txt", "text/plain", report_txt())
                .attach("视频.mp4", "video/mp4", mp4(240))
                .build(),
        )
        .await;
    }
    let before = desk.status().await;
    let archives = unit_of(&before, "archives");
    assert_eq!(archives["items"]["video"]["state"], "invalid");
    assert_eq!(archives["status"], "incomplete");
    let outbox = "SELECT count(*) FROM outbox";
    let pending = "SELECT count(*) FROM outbox WHERE state = 'pending'";
    let (queued, waiting) = (rows(&pool, outbox).await, rows(&pool, pending).await);
    assert_eq!(queued, 2, "the two acknowledgements of the import");

    // Nothing changed in the configuration: nothing changes.
    let same = desk.ok(&["recheck"]).await;
    assert!(
        same.stdout.contains("重新检查 2 封邮件：0 个文件结论有变"),
        "{same}"
    );

    // The limit is raised to 5 minutes, then one unit is rechecked by (the start of) its name.
    desk.env
        .push(("REPORTBOX_VIDEO__MAX_SECONDS".into(), "300".into()));
    let one = desk.ok(&["recheck", "--unit", "市档案"]).await;
    assert!(
        one.stdout
            .contains("市档案馆（编号 1）视频.mp4：影像资料，不合格 → 合格"),
        "{one}"
    );
    assert!(one.stdout.contains("市档案馆：未完成 → 已完成"), "{one}");
    assert!(
        one.stdout
            .contains("重新检查 1 封邮件：1 个文件结论有变，1 个单位状态有变；未发送任何邮件"),
        "{one}"
    );
    let mid = desk.status().await;
    assert_eq!(
        unit_of(&mid, "archives")["items"]["video"]["state"],
        "valid"
    );
    assert_eq!(unit_of(&mid, "archives")["status"], "complete");
    assert_eq!(
        unit_of(&mid, "edu")["items"]["video"]["state"],
        "invalid",
        "not asked for"
    );
    assert_eq!(
        unit_of(&mid, "archives")["last_received_at"],
        archives["last_received_at"]
    );

    let all = desk.ok(&["recheck"]).await;
    assert!(all.stdout.contains("市教育局：未完成 → 已完成"), "{all}");
    assert!(all.stdout.contains("2 封邮件：1 个文件结论有变"), "{all}");
    let again = desk.ok(&["recheck"]).await;
    assert!(
        again.stdout.contains("0 个文件结论有变，0 个单位状态有变"),
        "{again}"
    );

    // Nobody is acknowledged again; the history says what changed and why the status moved.
    assert_eq!(rows(&pool, outbox).await, queued);
    assert_eq!(rows(&pool, pending).await, waiting);
    let audit: Vec<(String, Value)> =
        sqlx::query_as("SELECT kind, detail FROM audit WHERE unit_id = 'archives' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let rechecked = audit
        .iter()
        .find(|(k, _)| k == "file_rechecked")
        .expect("audited");
    assert_eq!(rechecked.1["state"]["from"], "invalid");
    assert_eq!(rechecked.1["state"]["to"], "valid");
    assert_eq!(rechecked.1["problems"]["from"][0], "video.too_long");
    assert_eq!(rechecked.1["name"], "视频.mp4");
    let last = audit.last().unwrap();
    assert_eq!(last.0, "status_changed");
    assert_eq!(last.1["to"], "complete");
}

#[sqlx::test(migrations = "./migrations")]
async fn report_xlsx_writes_a_workbook_with_every_unit(pool: PgPool) {
    use calamine::{Reader, Xlsx};
    let desk = Desk::new(
        &pool,
        &[
            ("police", "市公安局", "", "police@unit.example"),
            ("edu", "市教育局", "", ""),
            ("daily", "太原日报社", "", ""),
        ],
    );
    desk.import(
        Mail::new("police@unit.example", "市公安局报送科技活动周材料")
            .attach(
                "统计表.xlsx",
                XLSX,
                table_with_youth("市公安局", "2023", 300.0),
            )
            .build(),
    )
    .await;
    let path = desk.path("报表/汇总.xlsx");
    std::fs::create_dir(desk.path("报表")).unwrap();
    let out = desk.ok(&["report", "--xlsx", path.to_str().unwrap()]).await;
    assert!(
        out.stdout.contains("汇总表已写入") && out.stdout.contains("3 个单位"),
        "{out}"
    );
    let mut book = Xlsx::new(std::io::Cursor::new(std::fs::read(&path).unwrap())).unwrap();
    for sheet in ["汇总表", "报送情况"] {
        let range = book.worksheet_range(sheet).unwrap();
        let names: Vec<String> = range.rows().skip(2).map(|r| r[1].to_string()).collect();
        for unit in ["市公安局", "市教育局", "太原日报社"] {
            assert!(
                names.iter().any(|n| n == unit),
                "{sheet}: {unit} in {names:?}"
            );
        }
    }
    let first = book.worksheet_range("汇总表").unwrap();
    let police: Vec<String> = first
        .rows()
        .find(|r| r[1] == "市公安局")
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert!(
        police.contains(&"1200".to_string()),
        "its figures: {police:?}"
    );
    // Nothing but the workbook in the folder: no temporary file left behind.
    assert_eq!(std::fs::read_dir(desk.path("报表")).unwrap().count(), 1);
}

/// Text PostgreSQL cannot hold (a NUL quoted from a table cell into a problem) is stored without
/// it; deciding the same again must not count as a change on every run.
#[sqlx::test(migrations = "./migrations")]
async fn a_verdict_with_a_nul_is_recorded_once_then_unchanged(pool: PgPool) {
    use reportbox::problem::Problem;
    use reportbox::store::Rechecked;
    let env =
        common::env_with_roster(pool, &[("edu", "市教育局", "", "edu@unit.example")], &[]).await;
    env.process(
        Mail::new("edu@unit.example", "市教育局报送科技活动周材料")
            .attach("总结.txt", "text/plain", report_txt())
            .build(),
        "nul",
    )
    .await;
    let campaign = env.settings.campaign_view();
    let target = env
        .store
        .recheck_targets(Some("edu"))
        .await
        .unwrap()
        .remove(0);
    let (_, message, _, _) = env.store.message_for_ack("1").await.unwrap();
    let mut files = message.files;
    files[0]
        .problems
        .push(Problem::warning("report.off_topic", "引用“科技\0活动周”"));
    let first = env
        .store
        .apply_recheck(&target, &files, &campaign)
        .await
        .unwrap();
    assert!(matches!(first, Rechecked::Changed { .. }), "{first:?}");
    let again = env
        .store
        .apply_recheck(&target, &files, &campaign)
        .await
        .unwrap();
    assert_eq!(again, Rechecked::Unchanged);
}
