//! The layout rule of `src/lib.rs`, checked on the source: the import graph between modules
//! (one node per file, `crate::a::b::…` resolved to the longest module path that is a file) has
//! no cycle, and no stage module imports `config`. A new edge that breaks either fails here
//! with the path that does it, before it spreads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that hold stage logic or plain data: they take the settings they need as values.
/// `config` (the loader) sits above them, and only orchestrators (pipeline, run, cli, …) see it.
const NO_CONFIG: &[&str] = &[
    "problem",
    "campaign",
    "net",
    "source",
    "shutdown",
    "liveness",
    "route",
    "notes",
    "intake",
    "identify",
    "classify",
    "validate",
    "status",
    "schedule",
    "store",
    "history",
    "notify::compose",
    "notify::summary",
    "notify::desk",
    "notify::connection",
    "mailbox::client",
    "mailbox::settings",
    "mailbox::utf7",
    "mailbox::error",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` → `a::b`, `src/a/mod.rs` → `a`, `src/lib.rs` → `` (the crate root).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// Drops comments and string literals, which may name paths without importing them.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path a file names from `crate::`, `super::` or `self::`, made absolute; brace groups
/// (`use crate::{a::B, c}`) expanded one level at a time.
fn paths_in(module: &str, code: &str) -> Vec<Vec<String>> {
    // `module_of` already names a mod.rs by its directory, so `super` is always one step up.
    let here: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_string).collect()
    };
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 8)].iter().collect();
        let preceded_by_ident =
            i > 0 && (bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
        let start = if preceded_by_ident {
            None
        } else if rest.starts_with("crate::") {
            Some((Vec::new(), 7))
        } else if rest.starts_with("super::") {
            let mut base = here.clone();
            base.pop();
            let mut skip = 7;
            while bytes[i + skip..].starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
                base.pop();
                skip += 7;
            }
            Some((base, skip))
        } else if rest.starts_with("self::") {
            Some((here.clone(), 6))
        } else {
            None
        };
        let Some((base, skip)) = start else {
            i += 1;
            continue;
        };
        i += skip;
        let (tail, used) = read_path(&bytes[i..]);
        for t in tail {
            let mut p = base.clone();
            p.extend(t);
            out.push(p);
        }
        i += used.max(1);
    }
    out
}

/// Reads `a::b::C` or `a::{b, c::D}` from the start of `s`: the paths and the characters used.
fn read_path(s: &[char]) -> (Vec<Vec<String>>, usize) {
    let mut segs = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
            i += 1;
        }
        if i > start {
            segs.push(s[start..i].iter().collect::<String>());
        }
        if i + 1 < s.len() && s[i] == ':' && s[i + 1] == ':' {
            i += 2;
            if i < s.len() && s[i] == '{' {
                // A group: split at top-level commas.
                let mut depth = 0;
                let mut j = i + 1;
                let mut item_start = j;
                let mut out = Vec::new();
                while j < s.len() {
                    match s[j] {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            let (sub, _) = read_path(trim(&s[item_start..j]));
                            out.extend(sub.into_iter().map(|t| [segs.clone(), t].concat()));
                            item_start = j + 1;
                        }
                        _ => {}
                    }
                    j += 1;
                }
                let (sub, _) = read_path(trim(&s[item_start..j]));
                out.extend(sub.into_iter().map(|t| [segs.clone(), t].concat()));
                return (out, j + 1);
            }
            continue;
        }
        return (vec![segs], i);
    }
}

fn trim(s: &[char]) -> &[char] {
    let a = s.iter().position(|c| !c.is_whitespace()).unwrap_or(s.len());
    let b = s
        .iter()
        .rposition(|c| !c.is_whitespace())
        .map_or(a, |b| b + 1);
    &s[a..b]
}

/// The import graph: module → modules it names (the longest prefix of each path that is a
/// module file), without itself.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut list = Vec::new();
    files(&src, &mut list);
    let modules: BTreeSet<String> = list.iter().map(|f| module_of(&src, f)).collect();
    let mut g = BTreeMap::new();
    for f in &list {
        let module = module_of(&src, f);
        let text = std::fs::read_to_string(f).unwrap();
        // Unit tests inside a file may use anything; they are not part of the layout.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let edges: &mut BTreeSet<String> = g.entry(module.clone()).or_default();
        for path in paths_in(&module, &code_only(text)) {
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|p| modules.contains(p) && !p.is_empty());
            if let Some(t) = target {
                // A module naming its own children (mod.rs re-exports) is containment.
                if t != module && !t.starts_with(&format!("{module}::")) {
                    edges.insert(t);
                }
            }
        }
    }
    g
}

fn is_under(module: &str, root: &str) -> bool {
    module == root || module.starts_with(&format!("{root}::"))
}

#[test]
fn no_stage_imports_config() {
    let g = graph();
    let offenders: Vec<String> = g
        .iter()
        .filter(|(m, _)| NO_CONFIG.iter().any(|r| is_under(m, r)))
        .filter(|(_, to)| to.iter().any(|t| is_under(t, "config")))
        .map(|(m, _)| m.clone())
        .collect();
    assert!(
        offenders.is_empty(),
        "these stage modules import config (take the settings they need as values instead): {offenders:?}"
    );
}

/// Strongly connected components with more than one module (Tarjan): each is a set of
/// modules that reach one another through imports.
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn go<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                go(t, w);
                let lw = t.low[w];
                let lv = t.low[v];
                t.low.insert(v, lv.min(lw));
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low[v];
                t.low.insert(v, lv.min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            go(&mut t, v);
        }
    }
    t.out
}

#[test]
fn the_import_graph_has_no_cycle() {
    let found = cycles(&graph());
    assert!(
        found.is_empty(),
        "modules that import one another (move what they share down a layer):\n{}",
        found
            .iter()
            .map(|c| format!("  {}", c.join(", ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_reader_sees_real_edges() {
    // The checks above are only as good as the graph: a few edges the code certainly has.
    let g = graph();
    let has = |a: &str, b: &str| g.get(a).is_some_and(|t| t.contains(b));
    assert!(has("pipeline", "intake"), "{:?}", g.get("pipeline"));
    assert!(has("intake::archive::tnef", "intake::archive"));
    assert!(has("cli", "config"));
    assert!(!has("problem", "store"));
}
