//! The module structure has no import cycle (docs/architecture.md, "Layout"): modules import only
//! downward, edge → pipeline → services → building blocks → platform.
//!
//! This reads the crate's source and lists every `crate::…` path between its modules: the
//! top-level modules (`src/x.rs`, `src/x/`), with each stage of the pipeline (`src/pipeline/x.rs`)
//! its own module, since the stages and the layers below them must not reach back up into
//! `pipeline`. `super::x` in a pipeline stage names its sibling `pipeline::x` (or `pipeline`).
//! Test code (`#[cfg(test)] mod tests`, `tests.rs`) may reach anywhere and is not read; comments
//! are not read either.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The modules split into their submodules in the graph: `pipeline`, each stage its own node;
/// `session` and `signing` too: `config` reads the `session::settings` leaf while the session
/// endpoints read the configuration, and `platform` signs with a `signing::keys` key while minting
/// (`signing::mint`) runs on the platform.
const SPLIT: &[&str] = &["pipeline", "session", "signing"];

type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The graph node a file belongs to: `a` for `src/a.rs` and everything under `src/a/`, or
/// `pipeline::b` for `src/pipeline/b.rs`. `None` for the crate root and test-only files.
fn node_of(relative: &Path) -> Option<String> {
    let parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts == ["lib"] || parts.last().is_some_and(|p| p == "tests") {
        return None;
    }
    let top = parts[0].clone();
    match parts.get(1) {
        Some(sub) if SPLIT.contains(&top.as_str()) && sub != "mod" => Some(format!("{top}::{sub}")),
        _ => Some(top),
    }
}

/// The source without comments and without `#[cfg(test)] mod … { … }` blocks.
fn code_of(source: &str) -> String {
    let without_comments: String = source
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut code = String::new();
    let mut rest = without_comments.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        code.push_str(&rest[..at]);
        let after = rest[at + "#[cfg(test)]".len()..].trim_start();
        // A test module may be visible to its siblings' tests (`pub(crate) mod tests`).
        let item = ["pub(crate) ", "pub(super) ", "pub "]
            .iter()
            .find_map(|vis| after.strip_prefix(vis))
            .unwrap_or(after);
        if !item.starts_with("mod ") {
            code.push_str("#[cfg(test)]");
            rest = &rest[at + "#[cfg(test)]".len()..];
            continue;
        }
        // `mod tests;` ends at its `;`, `mod tests { … }` at the matching brace.
        let open = after.find(['{', ';']).expect("a module item ends");
        if after.as_bytes()[open] == b';' {
            rest = &after[open + 1..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after.char_indices().skip(open) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    code.push_str(rest);
    code
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first two segments (the second may be empty) of the path at the start of `rest`.
fn segments(rest: &str) -> (&str, &str) {
    let rest = rest.trim_start();
    let first_len = rest.find(|c| !is_ident(c)).unwrap_or(rest.len());
    let second = rest[first_len..]
        .strip_prefix("::")
        .map(|r| &r[..r.find(|c| !is_ident(c)).unwrap_or(r.len())])
        .unwrap_or("");
    (&rest[..first_len], second)
}

/// Every `prefix` path in `code`, as its first two segments; a group (`prefix{a::X, b}`) gives
/// one path per item.
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<(&'a str, &'a str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find(prefix) {
        let start = from + i;
        from = start + prefix.len();
        if code[..start].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &code[from..];
        let Some(group) = rest.strip_prefix('{') else {
            found.push(segments(rest));
            continue;
        };
        // The group's items: split at its own commas, not at those of a nested group.
        let mut depth = 0usize;
        let mut item_start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    found.push(segments(&group[item_start..i]));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    found.push(segments(&group[item_start..i]));
                    item_start = i + 1;
                }
                _ => {}
            }
        }
    }
    found.retain(|(first, _)| !first.is_empty());
    found
}

/// node → imported node → the files that import it.
fn module_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    let relative: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(&src).expect("under src/").to_path_buf())
        .collect();
    let nodes: BTreeSet<String> = relative.iter().filter_map(|r| node_of(r)).collect();
    let target = |first: &str, second: &str| -> Option<String> {
        let split = format!("{first}::{second}");
        if nodes.contains(&split) {
            Some(split)
        } else {
            nodes.contains(first).then(|| first.to_string())
        }
    };
    let mut graph = Graph::new();
    for (file, rel) in files.iter().zip(&relative) {
        let Some(node) = node_of(rel) else { continue };
        let code = code_of(&fs::read_to_string(file).expect("a readable source file"));
        let mut targets: Vec<String> = paths_after(&code, "crate::")
            .into_iter()
            .filter_map(|(first, second)| target(first, second))
            .collect();
        if let Some((parent, _)) = node.split_once("::") {
            targets.extend(
                paths_after(&code, "super::")
                    .into_iter()
                    .map(|(first, _)| target(parent, first).expect("the parent is a node")),
            );
        }
        let edges = graph.entry(node.clone()).or_default();
        for t in targets.into_iter().filter(|t| *t != node) {
            edges
                .entry(t)
                .or_default()
                .insert(rel.display().to_string());
        }
    }
    graph
}

/// One cycle of `graph`, as the nodes along it (the first repeated at the end), if any.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|e| e.keys()) {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

fn edge(from: &str, to: &str) -> (String, BTreeMap<String, BTreeSet<String>>) {
    (
        from.to_string(),
        BTreeMap::from([(to.to_string(), BTreeSet::new())]),
    )
}

#[test]
fn the_modules_import_without_a_cycle() {
    let graph = module_graph();
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("  {} -> {} ({:?})", w[0], w[1], graph[&w[0]][&w[1]]))
            .collect();
        panic!("an import cycle:\n{}", steps.join("\n"));
    }
}

#[test]
fn the_scan_sees_the_imports_it_checks() {
    let graph = module_graph();
    let imports = |from: &str, to: &str| graph.get(from).is_some_and(|e| e.contains_key(to));
    // `use crate::…` in a top-level module, `crate::…::…` in an expression, `super::…` in a stage.
    assert!(imports("pipeline", "config"));
    assert!(imports("config", "route"));
    assert!(imports("pipeline::forward", "websocket"));
    assert!(imports("pipeline::forward", "pipeline::client_headers"));
    assert!(imports("pipeline::parse", "pipeline"));
    // Test code and comments are not read: `websocket`'s tests use `config`, its docs `edge`.
    assert!(!imports("websocket", "config"));
    assert!(!imports("websocket", "edge"));
}

#[test]
fn a_cycle_is_found() {
    let acyclic = Graph::from([edge("a", "b"), edge("b", "c")]);
    assert_eq!(find_cycle(&acyclic), None);
    let cyclic = Graph::from([edge("a", "b"), edge("b", "c"), edge("c", "a")]);
    assert_eq!(
        find_cycle(&cyclic),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

#[test]
fn test_code_and_comments_are_not_read() {
    let source = "use crate::a::X; // crate::b\n#[cfg(test)]\nmod tests {\n    use crate::c;\n    fn f() { {} }\n}\nuse crate::d;\nuse crate::{e::{F, G}, h};\n#[cfg(test)]\npub(crate) mod shared {\n    use crate::i;\n}\n";
    let code = code_of(source);
    let firsts: Vec<&str> = paths_after(&code, "crate::")
        .into_iter()
        .map(|(first, _)| first)
        .collect();
    assert_eq!(firsts, ["a", "d", "e", "h"]);
}
