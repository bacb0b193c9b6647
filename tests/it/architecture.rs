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

/// The lines of `text` that are code: comments (doc comments included) left out.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
}

/// `fn` items of rustfmt-formatted code: name, first line, length in lines. A function ends at
/// the first line that closes a brace at the indentation its `fn` line started at.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let signature =
        regex::Regex::new(r"^(\s*)(pub(\([a-z]+\))? )?(async )?fn ([a-z0-9_]+)").unwrap();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(c) = signature.captures(line) else {
            continue;
        };
        let indent = &c[1];
        let close = format!("{indent}}}");
        if let Some(end) = lines[start..].iter().position(|l| *l == close) {
            found.push((c[5].to_string(), start + 1, end + 1));
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
    let uses = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    for (path, text) in sources(&repo_root().join("src/commands")) {
        for (name, line, length) in functions(&text) {
            if length > 60 {
                too_long.push(format!(
                    "{}:{line} fn {name}: {length} lines",
                    path.display()
                ));
            }
        }
        for (number, line) in code_lines(&text) {
            for c in uses.captures_iter(line) {
                if !allowed.contains(&&c[1]) {
                    domain.push(format!("{}:{number}: {}", path.display(), line.trim()));
                }
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
    let text = "fn a() {\n    x();\n}\n\nimpl T {\n    pub async fn b(&self) {\n        if y {\n        }\n    }\n}\n";
    assert_eq!(
        functions(text),
        vec![("a".to_string(), 1, 3), ("b".to_string(), 6, 4)]
    );
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
            if writes.is_match(line) {
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

/// Which top-level module of `src/` uses which, from `crate::…` paths in code.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = repo_root().join("src");
    let uses = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in sources(&src) {
        let relative = path.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let edges = graph.entry(top.clone()).or_default();
        for (_, line) in code_lines(&text) {
            for c in uses.captures_iter(line) {
                if c[1] != top {
                    edges.insert(c[1].to_string());
                }
            }
        }
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
