//! `demo` as a new user runs it: each step's effects and files, the gates of a built-in snapshot, where to look.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{manifest_dir, tool_environment, Run};

/// One run of the demo, in a directory of its own.
struct Demo {
    dir: tempfile::TempDir,
    run: Run,
}

impl Demo {
    fn run(extra: &[&str]) -> Demo {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let target = dir.path().join("demo");
        let mut command = Command::new(env!("CARGO_BIN_EXE_asm-migrate"));
        command.args(["demo", "--dir", target.to_str().expect("UTF-8")]).args(extra);
        let run = Run::of(tool_environment(&mut command).output().expect("the demo runs")).success();
        Demo { dir, run }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("demo")
    }

    fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git").args(args).current_dir(self.root().join("shop")).output().expect("git runs");
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The output with the demo's directory and the commits' ids (they hold the time) written as placeholders.
    fn normalized(&self) -> String {
        let text = self.run.stdout.replace(self.root().to_str().expect("UTF-8"), "<dir>");
        let lines = text.lines().map(|line| match line.strip_prefix("committed ") {
            Some(rest) if rest.len() > 12 => format!("committed <commit>{}", &rest[12..]),
            _ => line.to_owned(),
        });
        lines.map(|line| line + "\n").collect()
    }

    /// The output of each step, from its `=== step` line to the next blank line.
    fn step_sections(&self) -> Vec<String> {
        self.run
            .stdout
            .split("\n=== step ")
            .skip(1)
            .map(|section| section.split("\n\n").next().unwrap_or("").to_owned())
            .collect()
    }
}

fn shared() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| Demo::run(&[]))
}

/// Regenerate with `UPDATE_GOLDEN=1 cargo test --test integration demo`, then review the change.
#[test]
fn the_demo_output_is_pinned() {
    crate::support::matches_golden("fixtures/golden/demo/demo.txt", &shared().normalized());
}

#[test]
fn demo_walks_every_step_with_one_commit_each_and_says_where_it_is() {
    let demo = shared();
    let stdout = &demo.run.stdout;
    assert!(stdout.contains("=== step 1/12: init ===\n"));
    assert!(stdout.contains("=== step 12/12: finished ===\n"));
    let subjects = demo.git(&["log", "--format=%s"]);
    assert_eq!(subjects.lines().count(), 13, "the example's own commit and one per step:\n{subjects}");
    assert_eq!(subjects.lines().next(), Some("asm-migrate(shop-prod): finished (12/12)"));
    let repo = demo.root().join("shop");
    assert!(stdout.contains(&format!("=== the migration is 12 commits in {} ===\n", repo.display())));
    assert!(stdout.contains("\n  git log --stat "), "the command to look further");
    assert!(!stdout.contains("diff --git"), "no raw diff without --verbose");
    assert!(stdout.lines().count() < 250, "a page a user reads: {} lines", stdout.lines().count());
}

#[test]
fn each_step_says_the_effects_its_commit_message_carries() {
    let demo = shared();
    let sections = demo.step_sections();
    let commits = demo.git(&["log", "--reverse", "--format=%H", "HEAD~12..HEAD"]);
    assert_eq!(sections.len(), 12);
    for (section, commit) in sections.iter().zip(commits.lines()) {
        let body = demo.git(&["log", "-1", "--format=%b", commit]);
        let in_commit: Vec<&str> = body.lines().take_while(|line| !line.is_empty()).collect();
        let in_demo: Vec<&str> = section.lines().filter(|line| line.starts_with("- ")).collect();
        assert!(!in_commit.is_empty(), "commit {commit} lists its effects:\n{body}");
        assert_eq!(in_demo, in_commit, "step {}", section.lines().next().unwrap_or(""));
    }
}

#[test]
fn each_step_lists_its_files_with_the_lines_git_counts() {
    let demo = shared();
    let commits = demo.git(&["log", "--reverse", "--format=%H", "HEAD~12..HEAD"]);
    for (section, commit) in demo.step_sections().iter().zip(commits.lines()) {
        let numstat = demo.git(&["show", "--numstat", "--format=", commit]);
        let from_git: Vec<String> = numstat
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                format!("+{} -{} {}", fields[0], fields[1], fields[2])
            })
            .collect();
        let in_demo: Vec<String> = section
            .lines()
            .filter(|line| line.starts_with("  "))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(in_demo, from_git, "step {}", section.lines().next().unwrap_or(""));
    }
}

#[test]
fn the_gates_come_from_the_built_in_snapshot_written_beside_the_repository() {
    let demo = shared();
    let snapshot = demo.root().join("snapshot");
    let fixture = manifest_dir().join("fixtures/snapshots/shop-setup");
    for file in files_under(&fixture) {
        let relative = file.strip_prefix(&fixture).expect("inside");
        let written =
            std::fs::read(snapshot.join(relative)).unwrap_or_else(|_| panic!("{} written", relative.display()));
        assert_eq!(written, std::fs::read(&file).expect("the fixture"), "{} as embedded", relative.display());
    }
    let stdout = &demo.run.stdout;
    let status = format!("\n$ asm-migrate status --snapshot {}\n", snapshot.display());
    let after_setup = stdout.split_once(&status).expect("status runs after setup").1;
    assert!(stdout.find(&status) > stdout.find("=== step 2/12: setup ==="), "after setup");
    assert!(
        after_setup.contains("proxies carry PROXY_CONFIG_XDS_AGENT  unmet  1 Istio-injected pod(s) without"),
        "{after_setup}"
    );
    assert!(after_setup.contains("hz: catalog/web-7b9c4-q8d2m\n"), "the pod not restarted yet is named");
    assert!(after_setup.contains("1 gate(s) unmet: `asm-migrate advance` stops here"));
}

#[test]
fn verbose_demo_prints_every_diff_too() {
    let demo = Demo::run(&["--verbose"]);
    let stdout = &demo.run.stdout;
    assert!(stdout.contains("+  desiredState: Finished\n"), "each step shows its diff");
    assert!(stdout.contains("diff --git a/infra/istio/operator.yaml b/infra/istio/operator.yaml\n"));
    let short = shared().step_sections();
    for (verbose, short) in demo.step_sections().iter().zip(&short) {
        let effects: Vec<&str> = short.lines().filter(|line| line.starts_with("- ")).collect();
        let first: Vec<&str> = verbose.lines().skip(1).take(effects.len()).collect();
        assert_eq!(first, effects, "the same effects, then the diff");
        assert!(verbose.lines().nth(effects.len() + 1).is_some_and(|line| line.starts_with("diff --git ")));
    }
}

#[test]
fn the_demo_writes_only_into_a_new_or_empty_directory() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("notes.txt"), "mine").expect("written");
    let mut command = Command::new(env!("CARGO_BIN_EXE_asm-migrate"));
    command.args(["demo", "--dir", dir.path().to_str().expect("UTF-8")]);
    let run = Run::of(tool_environment(&mut command).output().expect("the demo runs")).failure(2);
    assert!(run.stderr.contains("is not empty: the demo only writes into a new or empty directory"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(dir.path()).expect("listed").count(), 1, "nothing written");
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a directory").flatten() {
        match entry.path().is_dir() {
            true => files.extend(files_under(&entry.path())),
            false => files.push(entry.path()),
        }
    }
    files
}
