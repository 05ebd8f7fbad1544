//! The shape the code keeps: the core reads no disk, git, cluster, clock or environment, and its modules depend
//! on each other without a cycle (README, "Architecture").

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::manifest_dir;

/// The core's modules (a directory counts as one module) and the core modules each names.
fn core_modules() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let core = manifest_dir().join("src/core");
    let mut modules: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for path in rust_files(&core) {
        let relative = path.strip_prefix(&core).expect("inside").to_string_lossy().replace('\\', "/");
        let module = match relative.split_once('/') {
            Some((dir, _)) => dir.to_owned(),
            None => relative.trim_end_matches(".rs").to_owned(),
        };
        if module == "mod" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        let names: BTreeSet<String> = text
            .match_indices("crate::core::")
            .map(|(at, prefix)| {
                text[at + prefix.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
            })
            .filter(|name: &String| *name != module)
            .collect();
        let entry = modules.entry(module).or_default();
        entry.0.push_str(&text);
        entry.1.extend(names);
    }
    modules
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_core_reads_nothing_from_the_outside_world() {
    let forbidden = [
        "std::fs",
        "std::env",
        "std::process",
        "std::io",
        "std::time",
        "git2::",
        "kube::",
        "tokio::",
        "crate::adapters",
        "crate::commands",
    ];
    for (module, (text, _)) in core_modules() {
        for word in forbidden {
            assert!(!text.contains(word), "core module `{module}` uses `{word}`: the core takes values, adapters read");
        }
    }
}

#[test]
fn core_modules_depend_on_each_other_without_a_cycle() {
    let modules = core_modules();
    // Depth-first search for a path back to where it started.
    fn cycle_from(
        module: &str,
        modules: &BTreeMap<String, (String, BTreeSet<String>)>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|seen| seen == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if !done.insert(module.to_owned()) {
            return None;
        }
        path.push(module.to_owned());
        for dependency in modules.get(module).map(|(_, names)| names.clone()).unwrap_or_default() {
            if let Some(cycle) = cycle_from(&dependency, modules, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    for module in modules.keys() {
        let mut done = BTreeSet::new();
        if let Some(cycle) = cycle_from(module, &modules, &mut Vec::new(), &mut done) {
            panic!("core modules import each other in a cycle: {}", cycle.join(" -> "));
        }
    }
    assert!(
        modules["plan"].1.contains("steps") && !modules["steps"].1.contains("plan"),
        "kinds never see the plan document"
    );
}

/// A clone of the repository alone builds and tests itself (issue 14): no source, test or build script reads a
/// path that leaves the repository, such as the `../shared` checkout the third-party fixtures were copied from.
#[test]
fn nothing_reads_outside_the_repository() {
    let root = manifest_dir();
    let mut files = rust_files(&root.join("src"));
    files.extend(rust_files(&root.join("tests")));
    files.push(root.join("build.rs"));
    let this_file = root.join("tests/integration/architecture.rs");
    let mut leaving = Vec::new();
    for path in files.iter().filter(|path| **path != this_file) {
        let text = std::fs::read_to_string(path).expect("a source file");
        for (number, line) in text.lines().enumerate() {
            let from_root = line.contains("manifest_dir()") || line.contains("CARGO_MANIFEST_DIR");
            let climbs = line.contains(".join(\"..") || line.contains("CARGO_MANIFEST_DIR/..");
            if (from_root && climbs) || line.contains("../shared/") || line.contains("realworld/") {
                leaving.push(format!("{}:{}: {}", path.display(), number + 1, line.trim()));
            }
        }
    }
    assert!(leaving.is_empty(), "paths outside the repository (copy the data into fixtures/):\n{}", leaving.join("\n"));
}
