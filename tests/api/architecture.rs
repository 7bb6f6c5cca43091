//! The layering STYLE asks for, checked on the source itself: only the HTTP layer
//! (`routes/`) and the server's start-up (`startup.rs`) may use actix, and the
//! top-level modules of `src/` depend on one another without a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where actix may be named.
const HTTP_LAYER: [&str; 2] = ["routes", "startup"];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
    found
}

/// The code of a file without its comments (doc comments name modules in prose).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file belongs to (`src/vault/users.rs` → `vault`).
fn module_of(src: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The modules `code` names as `crate::name`, also inside `use crate::{a, b::c}`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first segment of each item at the group's own depth.
            let mut depth = 0;
            let mut item_start = true;
            for (index, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && is_name(c) => {
                        let name: String =
                            group[index..].chars().take_while(|c| is_name(*c)).collect();
                        if name != "self" {
                            names.insert(name);
                        }
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| is_name(*c)).collect();
            names.insert(name);
        }
    }
    names
}

fn module_graph() -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut actix_outside = Vec::new();
    for path in sources(&src) {
        let module = module_of(&src, &path);
        if module == "lib" || module == "main" {
            continue;
        }
        let code = code(&path);
        if code.contains("actix") && !HTTP_LAYER.contains(&module.as_str()) {
            actix_outside.push(path.strip_prefix(&src).unwrap().display().to_string());
        }
        let mut uses = crate_paths(&code);
        uses.remove(&module);
        graph.entry(module).or_default().extend(uses);
    }
    (graph, actix_outside)
}

/// A cycle through `start`, as the modules along it, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((module, path)) = stack.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn only_the_http_layer_uses_actix() {
    let (_, actix_outside) = module_graph();
    assert!(
        actix_outside.is_empty(),
        "actix used outside routes/ and startup.rs: {actix_outside:?}"
    );
}

#[test]
fn top_level_modules_form_no_cycle() {
    let (graph, _) = module_graph();
    assert!(graph.contains_key("vault") && graph["routes"].contains("vault"));
    assert!(
        graph["config"].is_empty(),
        "config depends on nothing of ours: {:?}",
        graph["config"]
    );
    for module in graph.keys() {
        if let Some(cycle) = cycle_through(&graph, module) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_checks_see_cycles_and_grouped_imports() {
    let names = crate_paths(
        "use crate::{access::Caller, db::{self, DbPool}};\nlet x = crate::time::now();",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["access", "db", "time"]
    );
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(cycle_through(&graph, "a").unwrap(), ["a", "b", "a"]);
}
