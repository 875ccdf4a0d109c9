//! The layers of docs/architecture.md, checked on the sources: a module may use only modules of
//! lower layers (and `gpu` the `backend` trait beside it), no files of one folder module form
//! a cycle, and clap, indicatif and printing stay in the application (`src/app/`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Top-level library modules by layer rank: a module may use modules of a lower rank only.
const RANKS: &[(&str, u32)] = &[
    ("error", 0),
    ("channel", 1),
    ("library", 2),
    ("power", 3),
    ("selection", 3),
    ("solve", 4),
    ("latency", 4),
    ("backend", 5),
    ("gpu", 5),
    ("study", 6),
];

/// Same-rank uses that the architecture allows: the GPU backend implements the backend trait.
const ALLOWED_SIDEWAYS: &[(&str, &str)] = &[("gpu", "backend")];

/// The sources checked: this crate's, or another tree's `src/` named by `MBA_LAYERS_SRC` (to
/// see the checks fail on an older layout).
fn src() -> PathBuf {
    std::env::var_os("MBA_LAYERS_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The source without `//` comments (doc links are not dependencies).
fn code(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module name that follows `prefix` in `text`: `crate::library` -> `library`, and for a
/// grouped `crate::{library::X, power}` each item's first name.
fn after(text: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices(prefix) {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    _ if item_start && !c.is_whitespace() => {
                        item_start = false;
                        out.insert(ident(&group[j..]));
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out
}

/// The top-level module a file under `src/` belongs to (`src/study/run.rs` -> `study`).
fn top_module(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

fn rank(module: &str) -> Option<u32> {
    RANKS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

#[test]
fn every_library_module_has_a_layer() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for f in files {
        let top = top_module(&f);
        if top == "app" || top == "lib" {
            continue;
        }
        assert!(
            rank(&top).is_some(),
            "{}: module `{top}` is in no layer",
            f.display()
        );
    }
}

#[test]
fn no_module_uses_a_higher_layer() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut bad = Vec::new();
    for f in files {
        let top = top_module(&f);
        let Some(mine) = rank(&top) else { continue };
        for used in after(&code(&f), "crate::") {
            if used == top || ALLOWED_SIDEWAYS.contains(&(top.as_str(), used.as_str())) {
                continue;
            }
            match rank(&used) {
                Some(r) if r < mine => {}
                Some(_) => bad.push(format!("{} ({top}) uses crate::{used}", f.display())),
                None => bad.push(format!("{}: unknown module crate::{used}", f.display())),
            }
        }
    }
    assert!(bad.is_empty(), "layer violations:\n{}", bad.join("\n"));
}

#[test]
fn application_concerns_stay_in_the_application() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut bad = Vec::new();
    for f in files.iter().filter(|f| top_module(f) != "app") {
        let text = code(f);
        for needle in [
            "clap",
            "indicatif",
            "println!",
            "eprintln!",
            "print!(",
            "std::process::exit",
        ] {
            if text.contains(needle) {
                bad.push(format!("{}: {needle}", f.display()));
            }
        }
    }
    assert!(bad.is_empty(), "outside src/app:\n{}", bad.join("\n"));
}

/// Edges between the files of one folder module: `super::x` and `crate::<folder path>::x` for a
/// sibling `x` (a file, or a folder with the files below it, test modules left out). The
/// folder's `mod.rs` is its front (it declares the types its files share and calls into them),
/// so edges to and from it are not counted: only cycles among the files themselves are defects.
fn sibling_edges(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let rel = dir.strip_prefix(src()).unwrap();
    let path: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into())
        .collect();
    let absolute = format!("crate::{}::", path.join("::"));
    let mut names = BTreeSet::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let stem = p.file_stem().unwrap().to_string_lossy().to_string();
        if stem != "mod" && (p.is_dir() || p.extension().is_some_and(|x| x == "rs")) {
            names.insert(stem);
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in &names {
        let mut files = Vec::new();
        if dir.join(format!("{name}.rs")).is_file() {
            files.push(dir.join(format!("{name}.rs")));
        }
        if dir.join(name).is_dir() {
            rust_files(&dir.join(name), &mut files);
        }
        let out = edges.entry(name.clone()).or_default();
        for f in files
            .iter()
            .filter(|f| f.file_name().is_some_and(|n| n != "tests.rs"))
        {
            let text = code(f);
            let mut used = after(&text, &absolute);
            let direct = f.parent() == Some(dir) || f.ends_with(format!("{name}/mod.rs"));
            if direct {
                used.extend(after(&text, "super::"));
            }
            out.extend(used.into_iter().filter(|u| names.contains(u) && u != name));
        }
    }
    edges
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_cycles_between_sibling_modules() {
    let mut dirs = vec![src()];
    let mut bad = Vec::new();
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            }
        }
        if d == src() || !d.join("mod.rs").is_file() {
            continue;
        }
        if let Some(c) = find_cycle(&sibling_edges(&d)) {
            bad.push(format!("{}: {}", d.display(), c.join(" -> ")));
        }
    }
    assert!(bad.is_empty(), "module cycles:\n{}", bad.join("\n"));
}

/// The checker itself finds a planted cycle and a planted upward use.
#[test]
fn the_checks_can_fail() {
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert!(find_cycle(&edges).is_some());
    edges.get_mut("b").unwrap().clear();
    assert!(find_cycle(&edges).is_none());
    assert_eq!(
        after("use crate::study::Study; x crate::gpu", "crate::"),
        BTreeSet::from(["gpu".into(), "study".into()])
    );
    assert_eq!(
        after("use super::{run::{A, B}, shard,\n plot::C};", "super::"),
        BTreeSet::from(["plot".into(), "run".into(), "shard".into()])
    );
    assert!(rank("study") > rank("library"));
}
