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
        // Unit tests may use what they like (the test kit, a whole migration): the shape is the shipped code's.
        let text = code_of(&std::fs::read_to_string(&path).expect("a source file"));
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

/// A step kind as the registry in `src/core/steps/mod.rs` lists it: `module::Type`, `[section]` when it reads one.
struct RegisteredKind {
    module: String,
    section: Option<String>,
}

fn registered_kinds() -> Vec<RegisteredKind> {
    let text = std::fs::read_to_string(manifest_dir().join("src/core/steps/mod.rs")).expect("steps/mod.rs");
    let start = text.find("macro_rules! step_kinds").expect("the registry");
    let body = &text[start..text[start..].find("};").map(|end| start + end).expect("its end")];
    body.lines()
        .filter_map(|line| {
            let (module, rest) = line.trim().trim_end_matches(',').split_once("::")?;
            let section = rest.split_once(" [").map(|(_, section)| section.trim_end_matches(']').to_owned());
            Some(RegisteredKind { module: module.to_owned(), section })
        })
        .collect()
}

/// The code of a source file: without comments and without its unit tests (`#[cfg(test)]` to the end).
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Where code outside the kinds may name one, and why.
const NAMING_A_KIND_ALLOWED: [(&str, &str, &str); 1] = [(
    "src/commands/demo.rs",
    "\"setup\"",
    "the demo walks its built-in example, whose snapshot of the clusters was taken after that example's `setup`",
)];

/// Only a kind's own file says what the kind is: code elsewhere goes through `StepKind`, `ReadKind` and the
/// registry, so that a new kind is one file and one registry line (README, "Architecture"). A kind's type can only
/// be reached through its module (`steps::<kind>`); its name, its section and its step ids are string literals.
#[test]
fn no_file_outside_the_step_kinds_names_a_particular_kind() {
    let kinds = registered_kinds();
    let registered: Vec<&str> = asm_migrate::core::steps::references().iter().map(|kind| kind.name).collect();
    assert_eq!(kinds.iter().map(|kind| kind.module.as_str()).collect::<Vec<_>>(), registered, "the registry is read");
    let steps_dir = manifest_dir().join("src/core/steps");
    let mut named = Vec::new();
    for path in rust_files(&manifest_dir().join("src")).into_iter().filter(|path| !path.starts_with(&steps_dir)) {
        let code = code_of(&std::fs::read_to_string(&path).expect("a source file"));
        let shown = path.strip_prefix(manifest_dir()).expect("inside").display().to_string().replace('\\', "/");
        for kind in &kinds {
            let mut needles = vec![format!("steps::{}", kind.module), format!("\"{}\"", kind.module)];
            needles.extend(kind.section.iter().map(|section| format!("\"{section}\"")));
            let mut found: Vec<String> = needles.into_iter().filter(|needle| code.contains(needle.as_str())).collect();
            // A step id of the kind (`"wave/canary"`), not a template's path (`"init/migration.yaml.j2"`).
            let prefix = format!("\"{}/", kind.module);
            let literal = |at: usize| code[at + 1..].split('"').next().unwrap_or_default().to_owned();
            found.extend(code.match_indices(&prefix).map(|(at, _)| literal(at)).filter(|text| !text.ends_with(".j2")));
            for needle in found {
                if !NAMING_A_KIND_ALLOWED.iter().any(|(file, allowed, _)| *file == shown && *allowed == needle) {
                    named.push(format!("{shown} names kind `{}`: {needle}", kind.module));
                }
            }
        }
    }
    assert!(named.is_empty(), "code outside src/core/steps/ names a particular kind:\n{}", named.join("\n"));
}
