//! The shape of `src/` that `docs/architecture.md` promises, checked on the source text:
//! commands are thin, only the report layer writes to the terminal, and the top-level
//! modules depend on each other without a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::repo_root;

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap();
            (e.path().to_path_buf(), text)
        })
        .collect();
    files.sort();
    files
}

/// The lines of `text` that are code: line comments (doc comments included) and block
/// comments left out, blanked so that line numbers stay right.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut in_block = false;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut code = String::new();
        let mut rest = line;
        loop {
            if in_block {
                match rest.find("*/") {
                    Some(end) => {
                        rest = &rest[end + 2..];
                        in_block = false;
                    }
                    None => break,
                }
            } else {
                match (rest.find("/*"), rest.find("//")) {
                    (Some(start), comment) if comment.is_none_or(|c| start < c) => {
                        code.push_str(&rest[..start]);
                        rest = &rest[start + 2..];
                        in_block = true;
                    }
                    (_, Some(comment)) => {
                        code.push_str(&rest[..comment]);
                        break;
                    }
                    (_, None) => {
                        code.push_str(rest);
                        break;
                    }
                }
            }
        }
        lines.push((i + 1, code));
    }
    lines
}

/// The top-level modules `text` (the source of the module at `module`, e.g. `["ops",
/// "deps"]`) names: `crate::x`, `crate::{x, y::z}` (over several lines too), and `super::x`
/// or `super::super::x` where they climb to the crate root.
fn modules_used(module: &[String], text: &str) -> BTreeSet<String> {
    let code: String = code_lines(text)
        .into_iter()
        .map(|(_, line)| line)
        .collect::<Vec<_>>()
        .join("\n");
    let mut used = BTreeSet::new();
    let single = regex::Regex::new(r"\bcrate::([a-z_][a-z0-9_]*)").unwrap();
    used.extend(single.captures_iter(&code).map(|c| c[1].to_string()));
    let group = regex::Regex::new(r"\bcrate::\{([^}]*)\}").unwrap();
    let name = regex::Regex::new(r"(?:^|[,{\s])([a-z_][a-z0-9_]*)").unwrap();
    for c in group.captures_iter(&code) {
        used.extend(name.captures_iter(&c[1]).map(|n| n[1].to_string()));
    }
    let supers = regex::Regex::new(r"\b((?:super::)+)([a-z_][a-z0-9_]*)").unwrap();
    for c in supers.captures_iter(&code) {
        let ups = c[1].matches("super::").count();
        if ups >= module.len() {
            used.insert(c[2].to_string());
        }
    }
    used.retain(|m| m != "self" && m != "super" && m != "crate");
    used
}

/// `fn` items of rustfmt-formatted code: name, first line, length in lines. A function whose
/// body opens and closes on its first line is one line long; any other ends at the first line
/// that closes a brace at the indentation its `fn` line started at.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let signature = regex::Regex::new(
        r#"^(\s*)(pub(\([^)]*\))? )?(const )?(async )?(unsafe )?(extern "[^"]*" )?fn ([a-z0-9_]+)"#,
    )
    .unwrap();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(c) = signature.captures(line) else {
            continue;
        };
        let name = c[8].to_string();
        if line.trim_end().ends_with('}') && line.matches('{').count() == line.matches('}').count()
        {
            found.push((name, start + 1, 1));
            continue;
        }
        let close = format!("{}}}", &c[1]);
        if let Some(end) = lines[start..].iter().position(|l| *l == close) {
            found.push((name, start + 1, end + 1));
        }
    }
    found
}

#[test]
fn commands_are_thin() {
    let mut too_long = Vec::new();
    let mut domain = Vec::new();
    // What a command may reach: the command line, one operation, the report layer.
    let allowed = ["cli", "error", "ops", "process", "report"];
    for (path, text) in sources(&repo_root().join("src/commands")) {
        for (name, line, length) in functions(&text) {
            if length > 60 {
                too_long.push(format!(
                    "{}:{line} fn {name}: {length} lines",
                    path.display()
                ));
            }
        }
        let relative = path.strip_prefix(repo_root().join("src")).unwrap();
        for used in modules_used(&module_path(relative), &text) {
            if !allowed.contains(&used.as_str()) && used != "commands" {
                domain.push(format!("{}: uses crate::{used}", path.display()));
            }
        }
    }
    assert!(
        too_long.is_empty(),
        "command functions over 60 lines (move the work into an operation):\n{}",
        too_long.join("\n")
    );
    assert!(
        domain.is_empty(),
        "commands reach past ops/ and report/ into the domain:\n{}",
        domain.join("\n")
    );
}

#[test]
fn the_function_finder_measures_what_it_should() {
    let text = "fn a() {\n    x();\n}\n\nimpl T {\n    pub async fn b(&self) {\n        if y {\n        }\n    }\n    pub(super) const fn c() -> u8 { 1 }\n    pub(in crate::x) unsafe fn d() {\n    }\n}\n";
    assert_eq!(
        functions(text),
        vec![
            ("a".to_string(), 1, 3),
            ("b".to_string(), 6, 4),
            ("c".to_string(), 10, 1),
            ("d".to_string(), 11, 2),
        ]
    );
}

#[test]
fn the_module_finder_reads_every_way_of_naming_a_module() {
    let text = "use crate::{\n    engine::Workspace,\n    rules,\n};\nuse super::super::helm::Helm;\nuse super::sibling;\n// crate::commented\nlet x = crate::oci::thing(); /* crate::blocked */\n";
    let used = modules_used(&["ops".to_string(), "deps".to_string()], text);
    let expected: BTreeSet<String> = ["engine", "rules", "helm", "oci"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(used, expected);
}

#[test]
fn only_the_report_layer_writes_to_the_terminal() {
    let writes = regex::Regex::new(
        r"\b(println!|eprintln!|print!|eprint!|dbg!)|io::stdout\(|io::stderr\b|anstream::(stdout|stderr)\b",
    )
    .unwrap();
    let src = repo_root().join("src");
    let mut offenders = Vec::new();
    for (path, text) in sources(&src) {
        let relative = path.strip_prefix(&src).unwrap();
        if relative.starts_with("report") || relative == Path::new("main.rs") {
            continue;
        }
        for (number, line) in code_lines(&text) {
            if writes.is_match(&line) {
                offenders.push(format!(
                    "src/{}:{number}: {}",
                    relative.display(),
                    line.trim()
                ));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "only src/report/ (results, progress, errors) writes to stdout or stderr:\n{}",
        offenders.join("\n")
    );
}

/// The module path of a file of `src/`: `ops/deps.rs` is `["ops", "deps"]`, `ops/mod.rs` is
/// `["ops"]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut path: Vec<String> = relative
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    path
}

/// Which top-level module of `src/` uses which.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = repo_root().join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in sources(&src) {
        let module = module_path(path.strip_prefix(&src).unwrap());
        let top = module[0].clone();
        if top == "lib" || top == "main" {
            continue;
        }
        let edges = graph.entry(top.clone()).or_default();
        edges.extend(
            modules_used(&module, &text)
                .into_iter()
                .filter(|m| *m != top),
        );
    }
    graph
}

/// A cycle of `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if !done.insert(node.to_string()) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(node, graph, &mut path, &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = module_graph();
    assert!(graph.len() > 10, "{graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        let shown: Vec<String> = graph
            .iter()
            .map(|(m, uses)| {
                format!(
                    "  {m} -> {}",
                    uses.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        panic!(
            "the modules {} depend on each other in a cycle\n{}",
            cycle.join(" -> "),
            shown.join("\n")
        );
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])),
        None
    );
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
