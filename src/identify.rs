//! Which unit sent a message (contract §2): the roster, name normalisation, and the three rules
//! applied in order — sender address, the table's 填报单位, then subject and file names.
//!
//! Pure: the roster is loaded from bytes, learned addresses are passed in.

use crate::problem::Problem;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use unicode_normalization::UnicodeNormalization;

/// One unit of the roster (contract §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub emails: Vec<String>,
    pub group: String,
    pub contact: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Roster {
    pub units: Vec<Unit>,
}

#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error("cannot read roster {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("roster is not valid CSV: {0}; {SAVE_AS}")]
    Csv(#[from] csv::Error),
    #[error("名册既不是 UTF-8 也不是 GBK/GB18030 编码；{SAVE_AS}")]
    Encoding,
    #[error("roster spreadsheet cannot be read: {0}")]
    Sheet(String),
    #[error("roster: {0}")]
    Invalid(String),
}

const REQUIRED_COLUMNS: [&str; 5] = ["id", "name", "aliases", "emails", "group"];

/// How to save a roster that cannot be read, in the words of Excel's and WPS's menus.
pub const SAVE_AS: &str =
    "请在 Excel 或 WPS 中用“文件 → 另存为”，保存类型选“CSV UTF-8（逗号分隔）(*.csv)”\
     （GBK 编码的普通 CSV 也可以），或直接保存为 .xlsx；第一行是表头：\
     单位编号,单位名称,别名,邮箱,分组,联系人,电话（或 id,name,aliases,emails,group,contact,phone）";

/// The Chinese headers a coordinator writes, and the column each one is.
const CHINESE_HEADERS: [(&str, &str); 12] = [
    ("单位编号", "id"),
    ("编号", "id"),
    ("单位名称", "name"),
    ("名称", "name"),
    ("别名", "aliases"),
    ("邮箱", "emails"),
    ("电子邮箱", "emails"),
    ("分组", "group"),
    ("联系人", "contact"),
    ("电话", "phone"),
    ("联系电话", "phone"),
    ("手机", "phone"),
];

fn header_key(h: &str) -> String {
    let h = h
        .trim()
        .trim_start_matches('\u{feff}')
        .trim()
        .to_lowercase();
    CHINESE_HEADERS
        .iter()
        .find(|(zh, _)| *zh == h)
        .map_or(h, |(_, key)| key.to_string())
}

/// The text encoding of a CSV roster, as ops should hear it named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvEncoding {
    Utf8,
    /// What Excel writes for "CSV (逗号分隔)" on a Chinese Windows.
    Gb18030,
}

/// The roster CSV as text: UTF-8 (with or without BOM) when it is valid UTF-8, else GB18030
/// (a superset of GBK).
pub fn decode_csv(bytes: &[u8]) -> Result<(String, CsvEncoding), RosterError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((s.to_string(), CsvEncoding::Utf8));
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(RosterError::Encoding);
    }
    Ok((text.into_owned(), CsvEncoding::Gb18030))
}

impl Roster {
    /// Loads a `.csv` or `.xlsx` roster, by extension.
    pub fn load(path: &Path) -> Result<Roster, RosterError> {
        let bytes = std::fs::read(path).map_err(|source| RosterError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let is_xlsx = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
        if is_xlsx {
            Self::from_xlsx(&bytes)
        } else {
            Self::from_csv(&bytes)
        }
    }

    pub fn from_csv(bytes: &[u8]) -> Result<Roster, RosterError> {
        let (text, _) = decode_csv(bytes)?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers()?.iter().map(header_key).collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record?;
            rows.push(record.iter().map(str::to_string).collect::<Vec<_>>());
        }
        Self::from_rows(&header, &rows)
    }

    pub fn from_xlsx(bytes: &[u8]) -> Result<Roster, RosterError> {
        use calamine::{Reader, Xlsx};
        let mut book = Xlsx::new(std::io::Cursor::new(bytes.to_vec()))
            .map_err(|e| RosterError::Sheet(e.to_string()))?;
        let range = book
            .worksheet_range_at(0)
            .ok_or_else(|| RosterError::Sheet("no sheet".into()))?
            .map_err(|e| RosterError::Sheet(e.to_string()))?;
        let mut rows = range.rows().map(|r| {
            r.iter()
                .map(|c| match c {
                    calamine::Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
        });
        let header: Vec<String> = rows
            .next()
            .unwrap_or_default()
            .iter()
            .map(|h| header_key(h))
            .collect();
        let rows: Vec<Vec<String>> = rows.collect();
        Self::from_rows(&header, &rows)
    }

    fn from_rows(header: &[String], rows: &[Vec<String>]) -> Result<Roster, RosterError> {
        let col = |name: &str| header.iter().position(|h| h == name);
        let missing: Vec<&str> = REQUIRED_COLUMNS
            .iter()
            .copied()
            .filter(|c| col(c).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(RosterError::Invalid(format!(
                "header must have columns id,name,aliases,emails,group; missing: {}（表头缺少这些列；{SAVE_AS}）",
                missing.join(",")
            )));
        }
        let get = |row: &[String], name: &str| -> String {
            col(name)
                .and_then(|i| row.get(i))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let split = |s: String| -> Vec<String> {
            s.split([';', '；'])
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        };
        let mut problems = Vec::new();
        let mut units = Vec::new();
        let mut seen_ids = BTreeSet::new();
        let mut seen_emails: HashMap<String, String> = HashMap::new();
        for (n, row) in rows.iter().enumerate() {
            let line = n + 2;
            if row.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let id = get(row, "id");
            let name = get(row, "name");
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(format!(
                    "row {line}: id {id:?} must be a non-empty ASCII slug"
                ));
                continue;
            }
            if name.is_empty() {
                problems.push(format!("row {line}: unit {id} has no name"));
            }
            if !seen_ids.insert(id.clone()) {
                problems.push(format!("row {line}: duplicate id {id}"));
            }
            let emails: Vec<String> = split(get(row, "emails"))
                .into_iter()
                .map(|e| e.to_lowercase())
                .collect();
            for e in &emails {
                if !e.contains('@') {
                    problems.push(format!("row {line}: {e:?} is not an email address"));
                }
                if let Some(other) = seen_emails.insert(e.clone(), id.clone()) {
                    if other != id {
                        problems.push(format!(
                            "row {line}: address {e} is listed for both {other} and {id}"
                        ));
                    }
                }
            }
            let optional = |s: String| if s.is_empty() { None } else { Some(s) };
            units.push(Unit {
                aliases: split(get(row, "aliases")),
                group: get(row, "group"),
                contact: optional(get(row, "contact")),
                phone: optional(get(row, "phone")),
                id,
                name,
                emails,
            });
        }
        if units.is_empty() {
            problems.push("no units".to_string());
        }
        if problems.is_empty() {
            Ok(Roster { units })
        } else {
            Err(RosterError::Invalid(problems.join("; ")))
        }
    }

    pub fn get(&self, id: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.id == id)
    }
}

/// Normalises a unit name, or text searched for one, as contract §2 says: NFKC, no white space,
/// no leading campaign prefix, no `(盖章)`, no trailing punctuation.
pub fn normalize(text: &str, strip_prefixes: &[String]) -> String {
    let mut s: String = text.nfkc().filter(|c| !c.is_whitespace()).collect();
    s = s.replace("(盖章)", "");
    for prefix in strip_prefixes {
        let p: String = prefix.nfkc().filter(|c| !c.is_whitespace()).collect();
        if !p.is_empty() {
            if let Some(rest) = s.strip_prefix(&p) {
                s = rest.to_string();
                break;
            }
        }
    }
    let trimmed = s.trim_end_matches(|c: char| c.is_ascii_punctuation() || is_cjk_punctuation(c));
    trimmed.to_string()
}

fn is_cjk_punctuation(c: char) -> bool {
    matches!(
        c,
        '。' | '、' | '，' | '：' | '；' | '！' | '？' | '…' | '·' | '—'
    ) || ('\u{3000}'..='\u{303F}').contains(&c)
}

/// Which rule of contract §2 attributed a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Sender,
    Table,
    Subject,
    FileName,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Sender => "sender",
            Rule::Table => "table",
            Rule::Subject => "subject",
            Rule::FileName => "file_name",
        }
    }
}

/// What a message offers to identify its unit.
#[derive(Debug, Default)]
pub struct Evidence<'a> {
    /// From, else Sender, lowercased.
    pub sender: Option<&'a str>,
    /// 填报单位 of each statistics table that passed the template check.
    pub table_units: Vec<&'a str>,
    pub subject: &'a str,
    pub file_names: Vec<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    pub unit_id: Option<String>,
    pub rule: Option<Rule>,
    /// `unit.sender_mismatch` when the sender's unit and the table's differ.
    pub problems: Vec<Problem>,
}

/// Looks units up by address and by name.
pub struct Matcher<'r> {
    roster: &'r Roster,
    /// (normalised name or alias, unit index), longest first.
    names: Vec<(String, usize)>,
}

impl<'r> Matcher<'r> {
    pub fn new(roster: &'r Roster, strip_prefixes: &[String]) -> Self {
        let mut names = Vec::new();
        for (i, unit) in roster.units.iter().enumerate() {
            for n in std::iter::once(&unit.name).chain(unit.aliases.iter()) {
                let norm = normalize(n, strip_prefixes);
                if !norm.is_empty() {
                    names.push((norm, i));
                }
            }
        }
        names.sort_by_key(|(n, i)| (std::cmp::Reverse(n.chars().count()), n.clone(), *i));
        names.dedup();
        Matcher { roster, names }
    }

    /// The unit whose roster address this is.
    pub fn by_address(&self, address: &str) -> Option<&'r Unit> {
        let address = address.trim().to_lowercase();
        self.roster
            .units
            .iter()
            .find(|u| u.emails.contains(&address))
    }

    /// Text to search for names in. Normalised like the names, except that a leading prefix is
    /// kept: names are found inside the text, so the prefix costs nothing when a name is found
    /// without it, and it is needed when the roster writes the name with `市` only (`市医保局`)
    /// and the unit writes `太原市医保局`.
    fn haystack(&self, text: &str) -> String {
        normalize(text, &[])
    }

    /// The one unit a text names: the longest name or alias found in it; two different units
    /// matching at that length name none.
    pub fn in_text(&self, text: &str) -> Option<&'r Unit> {
        self.in_texts(&[text])
    }

    /// The longest names found in one text, with their length.
    fn longest_in(&self, text: &str) -> Option<(usize, BTreeSet<usize>)> {
        let hay = self.haystack(text);
        if hay.is_empty() {
            return None;
        }
        let mut best: Option<(usize, BTreeSet<usize>)> = None;
        for (name, idx) in &self.names {
            let len = name.chars().count();
            if best.as_ref().is_some_and(|(l, _)| len < *l) {
                break;
            }
            if hay.contains(name.as_str()) {
                best.get_or_insert_with(|| (len, BTreeSet::new()))
                    .1
                    .insert(*idx);
            }
        }
        best
    }

    /// The unit several texts name together: the longest match over all of them; two
    /// different units at that length name none.
    fn in_texts(&self, texts: &[&str]) -> Option<&'r Unit> {
        let mut best: Option<(usize, BTreeSet<usize>)> = None;
        for (len, found) in texts.iter().filter_map(|t| self.longest_in(t)) {
            match &mut best {
                Some((l, ids)) if *l == len => ids.extend(found),
                Some((l, _)) if *l > len => {}
                _ => best = Some((len, found)),
            }
        }
        match best {
            Some((_, ids)) if ids.len() == 1 => ids.first().map(|&i| &self.roster.units[i]),
            _ => None,
        }
    }

    /// Applies the rules of contract §2 in order. `learned` maps addresses learned at run time
    /// to unit ids.
    pub fn identify(
        &self,
        evidence: &Evidence<'_>,
        learned: &HashMap<String, String>,
    ) -> Identification {
        let by_sender: Option<&Unit> = evidence.sender.and_then(|s| {
            self.by_address(s).or_else(|| {
                learned
                    .get(&s.trim().to_lowercase())
                    .and_then(|id| self.roster.get(id))
            })
        });
        let table_units: BTreeSet<&str> = evidence
            .table_units
            .iter()
            .filter_map(|t| self.in_text(t))
            .map(|u| u.id.as_str())
            .collect();
        let by_table = if table_units.len() == 1 {
            table_units.first().and_then(|id| self.roster.get(id))
        } else {
            None
        };
        let mut problems = Vec::new();
        let (unit, rule) = match (by_sender, by_table) {
            (Some(s), Some(t)) if s.id != t.id => {
                problems.push(Problem::warning(
                    "unit.sender_mismatch",
                    format!(
                        "发件邮箱登记为“{}”，但统计表填报单位为“{}”，已按统计表计入“{}”",
                        s.name, t.name, t.name
                    ),
                ));
                (Some(t), Some(Rule::Table))
            }
            (Some(s), _) => (Some(s), Some(Rule::Sender)),
            (None, Some(t)) => (Some(t), Some(Rule::Table)),
            (None, None) => {
                if let Some(u) = self.in_text(evidence.subject) {
                    (Some(u), Some(Rule::Subject))
                } else if let Some(u) = self.in_texts(&evidence.file_names) {
                    (Some(u), Some(Rule::FileName))
                } else {
                    (None, None)
                }
            }
        };
        Identification {
            unit_id: unit.map(|u| u.id.clone()),
            rule,
            problems,
        }
    }
}

/// Why what the coordinator typed names no single unit (issue 9). The words are the
/// coordinator's: Chinese, with each candidate's id so the next attempt can use it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    #[error(
        "“{typed}”可指 {} 个单位：{}；请写完整名称，或使用括号中的单位编号",
        candidates.len(),
        candidates.iter().map(|(id, name)| format!("{name}（{id}）")).collect::<Vec<_>>().join("、")
    )]
    Ambiguous {
        typed: String,
        /// (id, name) of each unit it could mean, in roster order.
        candidates: Vec<(String, String)>,
    },
    #[error(
        "单位名单中没有“{typed}”（按单位编号、名称、别名或名称开头查找）；\
         运行 reportbox units 可查看各单位的编号和名称"
    )]
    Unknown { typed: String },
}

impl Roster {
    /// The one unit the coordinator means by `typed` in a command: its id (any case), else a
    /// name or alias equal after [`normalize`], else the units whose name or alias starts with
    /// it, when there is exactly one. Both the text and the names are compared with and without
    /// the campaign prefixes, so `太原市档案馆`, `档案馆` and `市档案馆` all reach a unit the
    /// roster calls `市档案馆`, whether or not it lists a `太原市…` alias.
    pub fn resolve(&self, typed: &str, strip_prefixes: &[String]) -> Result<&Unit, Unresolved> {
        let typed = typed.trim();
        let unknown = || Unresolved::Unknown {
            typed: typed.to_string(),
        };
        // Ids are ASCII; one typed with a Chinese input method may come full width.
        let folded: String = typed.nfkc().filter(|c| !c.is_whitespace()).collect();
        if let Some(u) = self
            .units
            .iter()
            .find(|u| u.id.eq_ignore_ascii_case(&folded))
        {
            return Ok(u);
        }
        let forms = |text: &str| -> Vec<String> {
            let mut f = vec![normalize(text, strip_prefixes), normalize(text, &[])];
            f.retain(|s| !s.is_empty());
            f.dedup();
            f
        };
        let wanted = forms(typed);
        if wanted.is_empty() {
            return Err(unknown());
        }
        let names: Vec<(&Unit, Vec<String>)> = self
            .units
            .iter()
            .map(|u| {
                let all = std::iter::once(&u.name)
                    .chain(&u.aliases)
                    .flat_map(|n| forms(n))
                    .collect();
                (u, all)
            })
            .collect();
        let exact: Vec<&Unit> = names
            .iter()
            .filter(|(_, ns)| ns.iter().any(|n| wanted.contains(n)))
            .map(|(u, _)| *u)
            .collect();
        let found = if exact.is_empty() {
            names
                .iter()
                .filter(|(_, ns)| ns.iter().any(|n| wanted.iter().any(|w| n.starts_with(w))))
                .map(|(u, _)| *u)
                .collect()
        } else {
            exact
        };
        match found.as_slice() {
            [] => Err(unknown()),
            [one] => Ok(one),
            many => Err(Unresolved::Ambiguous {
                typed: typed.to_string(),
                candidates: many
                    .iter()
                    .map(|u| (u.id.clone(), u.name.clone()))
                    .collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster() -> Roster {
        Roster::from_csv(
            "\u{feff}id,name,aliases,emails,group\n\
             city-police,市公安局,太原市公安局,tygaj_kxk@163.com;gaj@qq.com,联席会议成员单位\n\
             city-education,市教育局,太原市教育局,,联席会议成员单位\n\
             city-urban,市城乡管理局,太原市城乡管理局;市城管局,cx@163.com,联席会议成员单位\n\
             xiaodian,小店区科技局,太原市小店区科学技术局;小店区,,县(市、区)\n\
             yingze,迎泽区科技局,迎泽区,,县(市、区)\n"
                .as_bytes(),
        )
        .unwrap()
    }

    fn prefixes() -> Vec<String> {
        vec!["太原市".to_string()]
    }

    fn ev<'a>(sender: Option<&'a str>, subject: &'a str) -> Evidence<'a> {
        Evidence {
            sender,
            subject,
            ..Default::default()
        }
    }

    #[test]
    fn normalisation_folds_width_space_prefix_seal_and_trailing_punctuation() {
        let p = prefixes();
        assert_eq!(normalize("太原市 公安局（盖章）：", &p), "公安局");
        assert_eq!(normalize("ＡＢＣ　市教育局。", &p), "ABC市教育局");
        assert_eq!(normalize("市教育局(盖章)", &p), "市教育局");
    }

    #[test]
    fn roster_reads_bom_aliases_and_lowercases_addresses() {
        let r = Roster::from_csv(
            "\u{feff}id,name,aliases,emails,group,contact,phone\na,甲,乙;丙,X@QQ.com; y@163.com ,g,王,123\n"
                .as_bytes(),
        )
        .unwrap();
        let u = &r.units[0];
        assert_eq!(u.aliases, vec!["乙", "丙"]);
        assert_eq!(u.emails, vec!["x@qq.com", "y@163.com"]);
        assert_eq!(u.contact.as_deref(), Some("王"));
    }

    #[test]
    fn roster_reads_gbk_csv_with_chinese_headers() {
        let text = "单位编号,单位名称,别名,邮箱,分组,联系人,电话\r\na,小店区科技局,小店区,x@qq.com,县(市、区),王,0351-1\r\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert!(std::str::from_utf8(&gbk).is_err());
        assert_eq!(decode_csv(&gbk).unwrap().1, CsvEncoding::Gb18030);
        let r = Roster::from_csv(&gbk).unwrap();
        let u = &r.units[0];
        assert_eq!(u.name, "小店区科技局");
        assert_eq!(u.group, "县(市、区)");
        assert_eq!(u.phone.as_deref(), Some("0351-1"));
        let bad = Roster::from_csv(b"\xff\xfe\x00i\x00d")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("CSV UTF-8"), "{bad}");
    }

    #[test]
    fn roster_rejects_duplicate_ids_and_shared_addresses_and_missing_columns() {
        let dup = Roster::from_csv(b"id,name,aliases,emails,group\na,A,,x@a.cn,g\na,B,,x@a.cn,g\n");
        let msg = dup.unwrap_err().to_string();
        assert!(msg.contains("duplicate id a"), "{msg}");
        let missing = Roster::from_csv(b"id,name\na,A\n").unwrap_err().to_string();
        assert!(missing.contains("aliases"), "{missing}");
    }

    #[test]
    fn rule_1_a_roster_address_identifies_the_unit_whatever_the_case() {
        let r = roster();
        let m = Matcher::new(&r, &prefixes());
        let id = m.identify(&ev(Some("TYGAJ_KXK@163.com"), "材料"), &HashMap::new());
        assert_eq!(id.unit_id.as_deref(), Some("city-police"));
        assert_eq!(id.rule, Some(Rule::Sender));
    }

    #[test]
    fn rule_1_a_learned_address_identifies_the_unit() {
        let r = roster();
        let m = Matcher::new(&r, &prefixes());
        let learned = HashMap::from([("someone@qq.com".to_string(), "yingze".to_string())]);
        let id = m.identify(&ev(Some("someone@qq.com"), "材料"), &learned);
        assert_eq!(id.unit_id.as_deref(), Some("yingze"));
    }

    #[test]
    fn rule_2_the_tables_unit_identifies_an_unknown_sender() {
        let r = roster();
        let m = Matcher::new(&r, &prefixes());
        let e = Evidence {
            sender: Some("nobody@qq.com"),
            table_units: vec!["太原市教育局（盖章）"],
            subject: "材料",
            file_names: vec![],
        };
        let id = m.identify(&e, &HashMap::new());
        assert_eq!(id.unit_id.as_deref(), Some("city-education"));
        assert_eq!(id.rule, Some(Rule::Table));
        assert!(id.problems.is_empty());
    }

    #[test]
    fn rule_2_the_table_wins_over_the_sender_with_a_mismatch_warning() {
        let r = roster();
        let m = Matcher::new(&r, &prefixes());
        let e = Evidence {
            sender: Some("tygaj_kxk@163.com"),
            table_units: vec!["市教育局"],
            subject: "",
            file_names: vec![],
        };
        let id = m.identify(&e, &HashMap::new());
        assert_eq!(id.unit_id.as_deref(), Some("city-education"));
        assert_eq!(id.problems[0].code, "unit.sender_mismatch");
        assert_eq!(id.problems[0].severity, crate::problem::Severity::Warning);
    }

    #[test]
    fn rule_2_a_table_naming_no_roster_unit_falls_back_to_the_sender() {
        let r = roster();
        let m = Matcher::new(&r, &prefixes());
        let e = Evidence {
            sender: Some("tygaj_kxk@163.com"),
            table_units: vec!["某某公司"],
            subject: "",
            file_names: vec![],
        };
        let id = m.identify(&e, &HashMap::new());
        assert_eq!(id.unit_id.as_deref(), Some("city-police"));
        assert!(id.problems.is_empty());
    }

    #[test]
    fn rule_3_the_subject_names_the_unit_by_alias_after_normalisation() {
        let r = roster();
        let m = Matcher::new(&r, &prefixes());
        let id = m.identify(
            &ev(Some("x@qq.com"), "关于 市城管局 报送科技活动周材料的函"),
            &HashMap::new(),
        );
        assert_eq!(id.unit_id.as_deref(), Some("city-urban"));
        assert_eq!(id.rule, Some(Rule::Subject));
    }

    #[test]
    fn rule_3_the_longest_name_wins() {
        let r = roster();
        let m = Matcher::new(&r, &prefixes());
        // 小店区 (3) and 小店区科学技术局 (8) are both in the text: one unit either way, but a
        // longer name of another unit must beat a shorter alias.
        let id = m.identify(&ev(None, "太原市小店区科学技术局材料"), &HashMap::new());
        assert_eq!(id.unit_id.as_deref(), Some("xiaodian"));
        let id = m.identify(&ev(None, "小店区市公安局联合材料"), &HashMap::new());
        assert_eq!(id.unit_id.as_deref(), Some("city-police"));
    }

    #[test]
    fn rule_3_two_units_of_equal_length_match_none() {
        let r = roster();
        let m = Matcher::new(&r, &prefixes());
        let id = m.identify(&ev(None, "小店区、迎泽区材料"), &HashMap::new());
        assert_eq!(id.unit_id, None);
    }

    #[test]
    fn rule_3_file_names_are_tried_after_the_subject() {
        let r = roster();
        let m = Matcher::new(&r, &prefixes());
        let e = Evidence {
            sender: Some("x@qq.com"),
            table_units: vec![],
            subject: "科技活动周资料",
            file_names: vec!["视频.mp4", "市教育局总结.docx"],
        };
        let id = m.identify(&e, &HashMap::new());
        assert_eq!(id.unit_id.as_deref(), Some("city-education"));
        assert_eq!(id.rule, Some(Rule::FileName));
    }

    #[test]
    fn nothing_identifies_a_message_with_no_clue() {
        let r = roster();
        let m = Matcher::new(&r, &prefixes());
        let e = Evidence {
            sender: Some("1092837465@qq.com"),
            table_units: vec![],
            subject: "科技活动周资料",
            file_names: vec!["VID20230525153012.mp4"],
        };
        assert_eq!(m.identify(&e, &HashMap::new()).unit_id, None);
    }

    fn typed(r: &Roster, text: &str) -> Result<String, Unresolved> {
        r.resolve(text, &prefixes()).map(|u| u.id.clone())
    }

    #[test]
    fn a_unit_is_found_by_id_name_alias_or_prefixed_name() {
        let r = roster();
        assert_eq!(typed(&r, "city-police").unwrap(), "city-police");
        assert_eq!(typed(&r, " CITY-POLICE ").unwrap(), "city-police");
        assert_eq!(typed(&r, "市公安局").unwrap(), "city-police");
        assert_eq!(typed(&r, "市城管局").unwrap(), "city-urban");
        assert_eq!(typed(&r, "太原市教育局").unwrap(), "city-education");
        // 太原市 before a name the roster writes without it, and no such alias listed.
        assert_eq!(typed(&r, "太原市迎泽区科技局").unwrap(), "yingze");
        assert_eq!(typed(&r, "小店区科技局（盖章）").unwrap(), "xiaodian");
    }

    #[test]
    fn full_width_letters_and_spaces_are_folded() {
        let r = roster();
        assert_eq!(typed(&r, "市 公安局").unwrap(), "city-police");
        assert_eq!(typed(&r, "ｃｉｔｙ－ｐｏｌｉｃｅ").unwrap(), "city-police");
        assert_eq!(typed(&r, "市公安局。").unwrap(), "city-police");
        let wide =
            Roster::from_csv("id,name,aliases,emails,group\nctv,ＣＣＴＶ站,,,g\n".as_bytes())
                .unwrap();
        assert_eq!(wide.resolve("CCTV站", &[]).unwrap().id, "ctv");
        assert_eq!(wide.resolve("ＣＣ", &[]).unwrap().id, "ctv");
    }

    #[test]
    fn a_unique_prefix_names_its_unit() {
        let r = roster();
        assert_eq!(typed(&r, "市公").unwrap(), "city-police");
        assert_eq!(typed(&r, "迎泽").unwrap(), "yingze");
        assert_eq!(typed(&r, "太原市小店").unwrap(), "xiaodian");
    }

    #[test]
    fn an_ambiguous_prefix_lists_every_candidate_with_its_id() {
        let r = roster();
        let err = typed(&r, "市").unwrap_err();
        let Unresolved::Ambiguous { candidates, .. } = &err else {
            panic!("{err:?}");
        };
        let ids: Vec<&str> = candidates.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["city-police", "city-education", "city-urban"]);
        let text = err.to_string();
        assert!(text.contains("“市”可指 3 个单位"), "{text}");
        assert!(text.contains("市公安局（city-police）"), "{text}");
        assert!(text.contains("市城乡管理局（city-urban）"), "{text}");
    }

    #[test]
    fn an_unknown_unit_points_to_the_units_command() {
        let r = roster();
        for text in ["no-such-unit", "市档案馆", "", " "] {
            let err = typed(&r, text).unwrap_err();
            assert!(matches!(err, Unresolved::Unknown { .. }), "{text}: {err:?}");
            assert!(err.to_string().contains("reportbox units"), "{err}");
        }
    }
}
