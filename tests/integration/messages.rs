//! Issue 11, point 6: every user-facing message is pinned by a test.
//!
//! The scenarios of `scenarios.rs` make the real binary print the tool's messages; each pins what a user sees
//! (the command, its exit code, its stderr) in `fixtures/golden/messages/<scenario>.txt`, written with
//! `UPDATE_GOLDEN=1`.

mod scenarios;

use std::path::PathBuf;

use crate::support::{self, Repo, Run};

use scenarios::Scenario;

const GOLDEN_DIR: &str = "fixtures/golden/messages";

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
        }
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
        let run = Run::of(command.output().expect("the asm-migrate binary runs"));
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
