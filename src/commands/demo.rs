//! `demo`: the whole migration of the built-in example repository, one commit per step, told as a user reads it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use include_dir::{include_dir, Dir};

use crate::adapters::git::GitRepo;
use crate::commands::apply;
use crate::commands::status::{self, Observer};
use crate::commands::take::{effect_lines, WriteOptions};
use crate::commands::{diff, steps, validate, Workplace};
use crate::core::migration::StepSelector;
use crate::output::{unified, OutputFormat, ReportFormat};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{} is not empty: the demo only writes into a new or empty directory", .0.display())]
    NotEmpty(PathBuf),
    #[error("step {step} left no commit in {}", .repo.display())]
    NoCommit { step: String, repo: PathBuf },
}

/// The example repository: Argo CD, clusters `hz` and `sh` on Istio 1.22 (its README says more).
static EXAMPLE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/fixtures/repos/shop");
/// What the example's clusters show once `setup` has synced, as `kubectl get -o yaml` dumps (its README says more).
static SNAPSHOT: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/fixtures/snapshots/shop-setup");
/// The step after which the demo evaluates the gates from `SNAPSHOT`.
const SNAPSHOT_STEP: &str = "setup";

/// Writes the example into `dir` (default: a new temporary directory, kept) beside the snapshot of its clusters,
/// then validates it, lists its steps and takes each step with a commit, saying what each does; `verbose` adds
/// every step's full diff.
pub fn run(dir: Option<&Path>, verbose: bool, out: &mut dyn Write) -> anyhow::Result<i32> {
    let root = demo_directory(dir)?;
    let (repo, snapshot) = (root.join("shop"), root.join("snapshot"));
    for (embedded, dir) in [(&EXAMPLE, &repo), (&SNAPSHOT, &snapshot)] {
        std::fs::create_dir(dir)
            .and_then(|()| embedded.extract(dir))
            .with_context(|| format!("cannot write {}", dir.display()))?;
    }
    commit_example(&repo)?;
    let git = GitRepo::open(&repo)?;
    writeln!(out, "The example repository, one commit on open-source Istio: {}", repo.display())?;
    writeln!(out, "(Argo CD, clusters hz and sh on two networks, an east-west gateway, an egress route, an ingress)")?;

    let workplace = Workplace { repo: Some(repo.clone()), ..Workplace::default() };
    writeln!(out, "\n$ asm-migrate validate")?;
    validate::run(&workplace, ReportFormat::Text, out)?;
    writeln!(out, "\n$ asm-migrate steps")?;
    steps::run(&workplace, OutputFormat::Table, out)?;

    let plan_steps = workplace.read_plan()?.steps;
    let options = WriteOptions { commit: true, ..WriteOptions::default() };
    for (index, step) in plan_steps.iter().enumerate() {
        writeln!(out, "\n=== step {}/{}: {step} ===", index + 1, plan_steps.len())?;
        let selector = StepSelector::Id(step.clone());
        let preview = diff::preview(&workplace, &selector)?;
        for effect in effect_lines(&preview.effects) {
            writeln!(out, "- {effect}")?;
        }
        if verbose {
            write!(out, "{}", unified::unified(&preview.changes, crate::output::colour::stdout()))?;
        }
        // The demo has no clusters to check a step's preconditions against: it takes them as checked. What `apply`
        // reports is said below from the commit itself.
        apply::run(&workplace, &selector, true, &options, ReportFormat::Text, &mut std::io::sink())?;
        let commit =
            git.head_commit().ok_or_else(|| DemoError::NoCommit { step: step.to_string(), repo: repo.clone() })?;
        for stat in git.file_stats(commit)? {
            let (added, removed) = (format!("+{}", stat.added), format!("-{}", stat.removed));
            writeln!(out, "  {added:>5} {removed:>5}  {}", stat.path)?;
        }
        writeln!(out, "committed {}: {}", &commit.to_string()[..12], git.subject(commit)?)?;
        if step.as_str() == SNAPSHOT_STEP {
            show_gates(&workplace, &snapshot, out)?;
        }
    }

    let (shown_repo, shown_snapshot) = (repo.display(), snapshot.display());
    let back_to_snapshot_step = plan_steps.iter().rev().position(|step| step.as_str() == SNAPSHOT_STEP).unwrap_or(0);
    writeln!(out, "\n=== the migration is {} commits in {shown_repo} ===", plan_steps.len())?;
    writeln!(out, "To look further:")?;
    let step_diff = format!("the full diff of one step (here `{SNAPSHOT_STEP}`)");
    let commands = [
        ("git log --stat".to_owned(), "one commit per step: its effects, as above, its files and its trailers"),
        (format!("git show HEAD~{back_to_snapshot_step}"), step_diff.as_str()),
        (format!("asm-migrate status --snapshot {shown_snapshot}"), "the gates of the step the repository is at"),
        ("asm-migrate demo --verbose".to_owned(), "this walk again, with every step's full diff"),
    ];
    writeln!(out, "  cd {shown_repo}")?;
    for (command, what) in commands {
        match command.len() < 28 {
            true => writeln!(out, "  {command:<28}{what}")?,
            false => writeln!(out, "  {command}\n  {:<28}{what}", "")?,
        }
    }
    writeln!(out, "In a repository of your own, `asm-migrate diff --step next` shows a step before it is taken.")?;
    Ok(0)
}

/// `dir`, which must be new or empty, or a new temporary directory, kept.
fn demo_directory(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            if std::fs::read_dir(dir)?.next().is_some() {
                return Err(DemoError::NotEmpty(dir.to_owned()).into());
            }
            Ok(dir.to_owned())
        }
        None => Ok(tempfile::Builder::new().prefix("asm-migrate-demo-").tempdir()?.keep()),
    }
}

/// The example as a git repository of one commit, with an identity of its own.
fn commit_example(root: &Path) -> anyhow::Result<()> {
    let repository = git2::Repository::init(root)?;
    {
        let mut config = repository.config()?;
        config.set_str("user.name", "asm-migrate demo")?;
        config.set_str("user.email", "demo@asm-migrate.invalid")?;
    }
    let mut index = repository.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repository.find_tree(index.write_tree()?)?;
    let signature = repository.signature()?;
    let message = "The shop's GitOps repository, on open-source Istio";
    repository.commit(Some("HEAD"), &signature, &signature, message, &tree, &[])?;
    Ok(())
}

/// `status --snapshot`: the gates of the step just taken, as the built-in snapshot of the clusters shows them.
fn show_gates(workplace: &Workplace, snapshot: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "\n$ asm-migrate status --snapshot {}", snapshot.display())?;
    writeln!(out, "(the clusters as a built-in snapshot shows them once Argo CD has synced `{SNAPSHOT_STEP}`)")?;
    let observer = Observer::Snapshot(snapshot.to_owned());
    let git = crate::adapters::git::GitRepo::open(&workplace.root())?;
    let report = observer.report(&workplace.open()?, git.head_commit().map(|head| (&git, head)))?;
    status::print(&report, OutputFormat::Table, out)?;
    match report.observed_unmet() {
        0 => writeln!(out, "Every gate is met: `asm-migrate advance` would take the next step.")?,
        unmet => writeln!(
            out,
            "{unmet} gate(s) unmet: `asm-migrate advance` stops here (exit 1, no commit) until the clusters show them \
             met. The demo goes on as if they did."
        )?,
    }
    Ok(())
}
