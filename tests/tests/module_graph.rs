//! The module graph has no cycle: in the core crate, no top-level module imports one that imports
//! it back (the domain at the bottom, then configuration, events, mapping, the planners, the
//! engine); in the CLI, `serve` and `demo` do not import each other both ways.
//!
//! The graph is read from the sources: every `crate::<module>` path (in `use` lines and in code)
//! outside test modules is an edge from the file's top-level module to `<module>`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's text without its test modules: a `tests.rs` file, or what follows a `#[cfg(test)]`
/// line that opens an inline `mod tests`.
fn production_text(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") || path.components().any(|c| c.as_os_str() == "tests") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).expect("source");
    let mut kept = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| next.trim_start().starts_with("mod tests {"))
        {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// The edges between the top-level modules of the crate whose sources are in `src`.
fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src");
        let first = relative.components().next().expect("a component").as_os_str().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = production_text(&file);
        let targets = graph.entry(module.clone()).or_default();
        for (at, _) in text.match_indices("crate::") {
            // `qalita_gitlab_core::` and other crates' paths are not this crate's.
            if text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &text[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != module {
                targets.insert(name);
            }
        }
    }
    graph
}

/// The cycles of `graph`, each as the modules on it (one per strongly connected component of
/// more than one module), found by Tarjan's algorithm.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, node: &'a str) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.graph.get(node).into_iter().flatten() {
                let next = next.as_str();
                if !self.graph.contains_key(next) {
                    continue;
                }
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    component.push(top.to_owned());
                    if top == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            walk.visit(node);
        }
    }
    walk.found
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf()
}

#[test]
fn the_core_crate_has_no_import_cycle_between_its_modules() {
    let graph = graph(&workspace().join("shared/src"));
    for expected in ["domain", "config", "events", "mapping", "plan", "engine", "ports", "adapters", "webhook"] {
        assert!(graph.contains_key(expected), "module {expected} not found: {:?}", graph.keys());
    }
    assert_eq!(cycles(&graph), Vec::<Vec<String>>::new(), "import cycles in shared/src; the graph: {graph:#?}");
    // The layers: the domain imports nothing of the crate, the planners no port or adapter.
    assert_eq!(graph["domain"], BTreeSet::new(), "the domain imports nothing");
    for pure in ["plan", "mapping", "events", "config"] {
        for io in ["ports", "adapters", "engine"] {
            assert!(!graph[pure].contains(io), "{pure} imports {io}: {:?}", graph[pure]);
        }
    }
}

#[test]
fn serve_and_the_demo_do_not_import_each_other_both_ways() {
    let graph = graph(&workspace().join("cli/src"));
    let uses = |a: &str, b: &str| graph.get(a).is_some_and(|targets| targets.contains(b));
    assert!(graph.contains_key("serve") && graph.contains_key("demo"), "{:?}", graph.keys());
    assert!(!(uses("serve", "demo") && uses("demo", "serve")), "serve and demo import each other: {graph:#?}");
    assert_eq!(cycles(&graph), Vec::<Vec<String>>::new(), "import cycles in cli/src: {graph:#?}");
}

#[test]
fn the_functions_have_no_import_cycle_between_their_modules() {
    for crate_dir in ["functions/worker/src", "functions/webhook/src"] {
        let graph = graph(&workspace().join(crate_dir));
        assert!(!graph.is_empty(), "{crate_dir} was read");
        assert_eq!(cycles(&graph), Vec::<Vec<String>>::new(), "import cycles in {crate_dir}: {graph:#?}");
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    graph.entry("d".into()).or_default().insert("a".into());
    assert_eq!(cycles(&graph), vec![vec!["a".to_owned(), "b".into(), "c".into()]]);
}

/// The port methods that write to GitLab or QALITA.
const REMOTE_WRITES: [&str; 6] =
    [".create_issue(", ".update_issue(", ".create_note(", ".update_note(", ".create_comment(", ".update_comment("];

/// The calls of a remote-write port method in the production code under `dir`, as `file: call`.
fn remote_writes(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let mut found = Vec::new();
    for file in files {
        let text = production_text(&file);
        for call in REMOTE_WRITES {
            if text.contains(call) {
                found.push(format!("{}: {call}", file.display()));
            }
        }
    }
    found
}

/// Every remote write of the sync is an `Op` a planner returned, applied by the one interpreter:
/// no other file of the engine, the worker or the CLI's commands calls a writing port method.
/// (The demo's scripted people edit through the ports on purpose, as people do; adapters and
/// simulators implement the ports.)
#[test]
fn every_remote_write_of_the_sync_goes_through_the_interpreter() {
    let root = workspace();
    let interpreter = root.join("shared/src/engine/interpreter.rs");
    let applied = production_text(&interpreter);
    for call in REMOTE_WRITES {
        assert!(applied.contains(call), "the interpreter makes {call}");
    }
    let mut outside = Vec::new();
    for dir in ["shared/src/engine", "shared/src/plan", "functions/worker/src", "cli/src/commands", "cli/src/serve"] {
        outside.extend(
            remote_writes(&root.join(dir)).into_iter().filter(|w| !w.starts_with(&*interpreter.to_string_lossy())),
        );
    }
    assert!(outside.is_empty(), "remote writes outside the interpreter: {outside:#?}");
}

#[test]
fn the_remote_write_finder_finds_a_write() {
    let dir = std::env::temp_dir().join(format!("remote-writes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("folder");
    std::fs::write(dir.join("rogue.rs"), "async fn f(g: &G) { g.gitlab.update_issue(&p, iid, &u, &c).await; }\n")
        .expect("file");
    let found = remote_writes(&dir);
    std::fs::remove_dir_all(&dir).expect("cleanup");
    assert_eq!(found.len(), 1, "{found:?}");
}
