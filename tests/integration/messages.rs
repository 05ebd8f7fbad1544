//! Issue 11, point 6: every user-facing message is pinned by a test.
//!
//! `every_message_is_pinned_by_a_test` reads `src/` for the tool's messages (`scan.rs` says which) and checks that
//! the longest fixed fragment of each appears in a test or a golden file. The scenarios of `scenarios.rs` make the
//! real binary print the messages no other test shows; each pins what a user sees (the command, its exit code, its
//! stderr) in `fixtures/golden/messages/<scenario>.txt`, written with `UPDATE_GOLDEN=1`. This file and its
//! directory are not part of what is searched: a message is pinned by a golden file or another test, never by the
//! lists below.

mod scan;
mod scenarios;

use std::path::{Path, PathBuf};

use crate::support::{self, Repo, Run};

use scenarios::Scenario;

const GOLDEN_DIR: &str = "fixtures/golden/messages";

/// Messages no run of the binary in a test can print, with why.
const EXEMPT: [(&str, &str, &str); 8] = [
    (
        "src/adapters/cluster.rs",
        "cannot start the client's runtime",
        "tokio's current-thread runtime fails to build only when the kernel refuses an epoll or eventfd descriptor",
    ),
    (
        "src/adapters/cluster.rs",
        "cannot read the answer: ",
        "serde_json::to_value of an object kube has just deserialized cannot fail",
    ),
    (
        "src/adapters/git.rs",
        " to the disk (is it full?)",
        "needs an object or a ref missing right after libgit2 wrote it; write_path.rs drives full disks, not this text",
    ),
    (
        "src/commands/take.rs",
        "--branch needs --commit: the step is committed onto ",
        "clap refuses --branch without --commit first (`requires = \"commit\"` on apply, advance and retry)",
    ),
    (
        "src/commands/take.rs",
        "cannot resolve ",
        "canonicalizes directories found to exist just before: fails only if they vanish in between",
    ),
    (
        "src/commands/demo.rs",
        " left no commit in ",
        "the demo reads HEAD right after apply --commit made a commit there",
    ),
    (
        "src/core/discovery/mod.rs",
        " builds nothing",
        "Inventory::build returns Ok only when it built every cluster of the settings, the one read_source names included",
    ),
    (
        "src/core/repository.rs",
        "was not loaded: asm-migrate cannot use this file here",
        "(texts and documents) an invariant of adapters::load: the core asks only for files the loader read",
    ),
];

/// Messages composed before they reach what the scan reads (a reason returned as a String, a parser's message in
/// the tool's words, what a cluster source holds that asm-migrate cannot see): each fragment must still be in its
/// file, and pinned like the others.
const BUILT_ELSEWHERE: [(&str, &str); 14] = [
    ("src/core/plan.rs", "` cannot come after `"),
    ("src/core/steps/egress.rs", "`: the weights of one egress move forward, in increasing order"),
    ("src/core/migration.rs", "without its state the next step would render Init and move ASM backwards; "),
    (
        "src/core/migration.rs",
        ": the two were written together and one of them was changed by hand, and ASM's phase never moves backwards; ",
    ),
    ("src/core/migration.rs", "restore state.yaml as asm-migrate last committed it: find the commit with `git log -1"),
    ("src/core/yaml.rs", "`: a key is written once in a mapping"),
    ("src/core/yaml.rs", "a value is missing here: expected a "),
    ("src/core/yaml.rs", "` reads as a boolean or a number here, where text is expected: quote it ("),
    ("src/core/yaml.rs", "expected a string here"),
    ("src/core/yaml.rs", "too large for asm-migrate to read ("),
    ("src/core/inventory.rs", " renders a Helm chart at build time"),
    ("src/core/inventory.rs", " is built by kustomize from elsewhere"),
    ("src/core/inventory.rs", " has Flux render a Helm chart in the cluster"),
    ("src/core/delivery.rs", " deploys the Helm chart "),
];

#[test]
fn every_message_is_pinned_by_a_test() {
    let root = support::manifest_dir();
    let messages = scan::messages(&root);
    assert!(messages.len() > 150, "the scan finds the tool's messages: {}", messages.len());
    let corpus = corpus(&root);
    let pinned = |fragment: &str| corpus.iter().any(|text| text.contains(fragment));
    let mut problems = Vec::new();

    let exempt = |message: &scan::Message| {
        EXEMPT.iter().any(|(file, fragment, _)| message.file == *file && message.fragment == *fragment)
    };
    for (file, fragment, _) in EXEMPT {
        let matching: Vec<&scan::Message> =
            messages.iter().filter(|message| message.file == file && message.fragment == fragment).collect();
        if matching.is_empty() {
            problems
                .push(format!("  {file}: exempted \"{fragment}\" is no message of it any more: drop the exemption"));
        } else if pinned(fragment) {
            problems.push(format!("  {file}: exempted \"{fragment}\" is pinned now: drop the exemption"));
        }
    }
    for (file, fragment) in BUILT_ELSEWHERE {
        let source = std::fs::read_to_string(root.join(file)).expect("a source file");
        if !scan::unescaped(&source).contains(&scan::unescaped(fragment)) {
            problems.push(format!("  {file}: \"{fragment}\" is not in it any more: update BUILT_ELSEWHERE"));
        } else if !pinned(&scan::unescaped(fragment)) {
            problems.push(format!("  {file}: \"{fragment}\" (a message built before it is reported)"));
        }
    }
    for message in messages.iter().filter(|message| !exempt(message)) {
        if !pinned(&message.fragment) {
            problems.push(format!("  {}:{}: {:?}", message.file, message.line, message.text));
        }
    }
    println!(
        "{} messages in src/ ({} built elsewhere besides), {} exempted",
        messages.len(),
        BUILT_ELSEWHERE.len(),
        messages.iter().filter(|message| exempt(message)).count()
    );
    assert!(
        problems.is_empty(),
        "{} message(s) of src/ appear in no test or golden file. Make the binary print each in a scenario of \
         tests/integration/messages/scenarios.rs (UPDATE_GOLDEN=1 writes its golden file, which pins it), or, if no \
         run of the binary can print it, add it to EXEMPT in tests/integration/messages.rs with the reason:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_message_golden_file_has_its_scenario() {
    let names: Vec<&str> = scenarios::all().map(|scenario| scenario.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "scenario names are unique");
    let dir = support::manifest_dir().join(GOLDEN_DIR);
    let orphans: Vec<String> = std::fs::read_dir(&dir)
        .expect("the golden directory")
        .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
        .filter(|file| file.strip_suffix(".txt").is_none_or(|name| !names.contains(&name)))
        .collect();
    assert!(orphans.is_empty(), "golden files without a scenario in {GOLDEN_DIR} (remove them): {orphans:?}");
}

/// What can pin a message: every file of `tests/` (the Rust ones also with their strings' escapes read) but this
/// module's, and every golden file (of `fixtures/golden/messages/`, those a scenario writes).
fn corpus(root: &Path) -> Vec<String> {
    let mine = [root.join("tests/integration/messages.rs"), root.join("tests/integration/messages")];
    let scenario_goldens: Vec<PathBuf> =
        scenarios::all().map(|scenario| root.join(golden_path(scenario.name))).collect();
    let mut texts = Vec::new();
    for path in
        scan::files_under(&root.join("tests")).into_iter().chain(scan::files_under(&root.join("fixtures/golden")))
    {
        if mine.iter().any(|excluded| path.starts_with(excluded)) {
            continue;
        }
        if path.starts_with(root.join(GOLDEN_DIR)) && !scenario_goldens.contains(&path) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        if path.extension().is_some_and(|extension| extension == "rs") {
            texts.push(scan::unescaped(&text));
        }
        texts.push(text);
    }
    texts
}

fn golden_path(name: &str) -> String {
    format!("{GOLDEN_DIR}/{name}.txt")
}

/// One run of the binary for its message: the repository it runs in, its arguments and environment, and what of
/// this run only (temporary paths, server addresses) the golden file shows by a name.
pub struct Case {
    repo: Repo,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// A program asm-migrate runs under, given the binary and the arguments (`sh -c 'ulimit -f 0; ...'`).
    wrapper: Vec<String>,
    /// How the golden file says it: the wrapper's effect, in words.
    wrapper_shown: String,
    names: Vec<(String, String)>,
    /// What must live while the command runs: temporary directories, a bare remote, a colleague's clone.
    keep: Vec<Box<dyn std::any::Any>>,
    /// The command fails after committing the step locally (its push lost): the commit stays, as the message says.
    committed_first: bool,
}

impl Case {
    pub fn new(repo: Repo, args: &[&str]) -> Case {
        Case {
            repo,
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            env: Vec::new(),
            wrapper: Vec::new(),
            wrapper_shown: String::new(),
            names: Vec::new(),
            keep: Vec::new(),
            committed_first: false,
        }
    }

    /// The command fails after committing the step locally: exit 2 then leaves that commit, and nothing else.
    pub fn committed_first(mut self) -> Case {
        self.committed_first = true;
        self
    }

    /// The command line with `args` added.
    pub fn args(mut self, args: &[&str]) -> Case {
        self.args.extend(args.iter().map(|arg| (*arg).to_owned()));
        self
    }

    /// The variable `key` set to `value` (replacing an earlier value).
    pub fn env(mut self, key: &str, value: &str) -> Case {
        self.env.retain(|(set, _)| set != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// `text` (a path, an address) shown as `<name>`.
    pub fn named(mut self, text: impl Into<String>, name: &str) -> Case {
        self.names.push((text.into(), format!("<{name}>")));
        self
    }

    pub fn keep(mut self, value: impl std::any::Any) -> Case {
        self.keep.push(Box::new(value));
        self
    }

    /// Runs asm-migrate through `sh -c script`, shown as `shown` before the command.
    pub fn under_shell(mut self, script: &str, shown: &str) -> Case {
        self.wrapper = vec!["sh".to_owned(), "-c".to_owned(), format!("{script}\nexec \"$0\" \"$@\"")];
        self.wrapper_shown = shown.to_owned();
        self
    }

    /// A new temporary directory, kept while the case lives and shown as `<name>`.
    pub fn temp_dir(&mut self, name: &str) -> PathBuf {
        let dir = tempfile::Builder::new().prefix(&format!("asm-migrate-{name}-")).tempdir().expect("a directory");
        let path = dir.path().to_owned();
        self.names.push((path.display().to_string(), format!("<{name}>")));
        self.keep.push(Box::new(dir));
        path
    }

    /// Runs the command; returns what the golden file holds: what the scenario is about, the command line, the
    /// exit code, stdout when there is any, and stderr.
    fn golden(mut self, about: &str) -> String {
        self.names.push((self.repo.path().display().to_string(), "<repo>".to_owned()));
        self.names.sort_by_key(|(text, _)| std::cmp::Reverse(text.len()));
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let wrapper: Vec<&str> = self.wrapper.iter().map(String::as_str).collect();
        let mut command = self.repo.command_under(&wrapper, &args);
        command.envs(self.env.iter().map(|(key, value)| (key, value)));
        let before = repository_state(self.repo.path());
        let run = Run::of(command.output().expect("the asm-migrate binary runs"));
        assert!(run.code != 101 && !run.stderr.contains("panicked at"), "asm-migrate panicked:\n{}", run.stderr);
        if run.code == 2 && !self.committed_first {
            let after = repository_state(self.repo.path());
            let changed: Vec<&String> = before
                .keys()
                .chain(after.keys())
                .filter(|path| before.get(*path) != after.get(*path))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            assert!(changed.is_empty(), "exit 2 left the repository changed: {changed:?}\n{}", run.stderr);
        }
        let shown = |text: &str| {
            short_commits(&self.names.iter().fold(text.to_owned(), |text, (from, to)| text.replace(from, to)))
        };
        let mut line: Vec<String> = self.env.iter().map(|(key, value)| format!("{key}={}", quoted(value))).collect();
        line.push("asm-migrate".to_owned());
        line.extend(self.args.iter().map(|arg| quoted(arg)));
        let mut text = format!("# {about}\n");
        if !self.wrapper_shown.is_empty() {
            text.push_str(&format!("# under: {}\n", self.wrapper_shown));
        }
        text.push_str(&format!("$ {}\nexit {}\n", shown(&line.join(" ")), run.code));
        if !run.stdout.is_empty() {
            text.push_str(&format!("--- stdout\n{}", shown(&run.stdout)));
        }
        text.push_str(&format!("--- stderr\n{}", shown(&run.stderr)));
        text
    }
}

/// The repository as a user compares it before and after a failed run: every file of the work tree with its
/// bytes and mode (a symbolic link with its target), git's index and HEAD, every ref, and asm-migrate's own lock
/// and journal; git's object store is left out (an unreferenced object is no change a user can see).
fn repository_state(root: &Path) -> std::collections::BTreeMap<String, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut state = std::collections::BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).expect("inside").display().to_string();
            let Ok(metadata) = std::fs::symlink_metadata(&path) else { continue };
            let mode = metadata.permissions().mode();
            if metadata.is_symlink() {
                let target = std::fs::read_link(&path).map(|t| t.display().to_string()).unwrap_or_default();
                state.insert(relative, (target.into_bytes(), mode));
            } else if metadata.is_dir() && relative != ".git" {
                state.insert(format!("{relative}/"), (Vec::new(), mode));
                pending.push(path);
            } else if metadata.is_file() {
                state.insert(relative, (std::fs::read(&path).unwrap_or_default(), mode));
            }
        }
    }
    let git = root.join(".git");
    for file in ["index", "HEAD", "asm-migrate.lock", "index.lock", "MERGE_HEAD"] {
        if let Ok(bytes) = std::fs::read(git.join(file)) {
            state.insert(format!(".git/{file}"), (bytes, 0));
        }
    }
    for dir in ["asm-migrate"] {
        let mut stack = vec![git.join(dir)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                match entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    true => stack.push(entry.path()),
                    false => drop(state.insert(
                        entry.path().strip_prefix(root).expect("inside").display().to_string(),
                        (std::fs::read(entry.path()).unwrap_or_default(), 0),
                    )),
                }
            }
        }
    }
    if git.is_dir() {
        let refs = std::process::Command::new("git")
            // Remote-tracking refs move with every fetch, as `git fetch` moves them: not the user's work.
            .args(["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags", "refs/stash"])
            .current_dir(root)
            .output()
            .map(|output| output.stdout)
            .unwrap_or_default();
        state.insert(".git refs".to_owned(), (refs, 0));
    }
    state
}

/// An argument as a shell would need it.
fn quoted(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,<>@+".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Commit ids as asm-migrate shortens them (12 hexadecimal digits) change with the time of each commit: shown as
/// `<commit>`.
fn short_commits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let is_commit = word.len() == 12 && word.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        out.push_str(if is_commit { "<commit>" } else { word.as_str() });
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Runs each scenario and compares what it prints with its golden file; reports every scenario that differs.
fn check(scenarios: &[Scenario]) {
    let mut failed = Vec::new();
    for scenario in scenarios {
        let outcome = std::panic::catch_unwind(|| {
            let text = (scenario.setup)().golden(scenario.about);
            support::matches_golden(&golden_path(scenario.name), &text);
        });
        if outcome.is_err() {
            failed.push(scenario.name);
        }
    }
    assert!(failed.is_empty(), "scenarios whose output is not their golden file (see above): {failed:?}");
}

#[test]
fn plan_messages() {
    check(scenarios::PLAN);
}

#[test]
fn repository_messages() {
    check(scenarios::REPOSITORY);
}

#[test]
fn command_messages() {
    check(scenarios::COMMANDS);
}

#[test]
fn git_messages() {
    check(scenarios::GIT);
}

#[test]
fn cluster_messages() {
    check(scenarios::CLUSTERS);
}
