//! `apply`: a step written into the working tree, or committed onto a branch and pushed, never losing work.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use git2::Oid;

use crate::app::{Session, SessionOptions};
use crate::diagnostic::Diagnostics;
use crate::git::GitRepo;
use crate::lock::RepoLock;
use crate::remote::{PushOutcome, Remote};
use crate::render::RenderedStep;
use crate::repo::{is_within, Inventory};
use crate::state::StateChange;
use crate::steps::StepId;
use crate::workspace::{self, FileChange, Workspace};

/// Workload names a commit message lists per effect before "and N more".
const NAMES_IN_COMMIT: usize = 50;
/// How many times a push that lost a race is rebuilt on the remote's new tip before giving up.
const PUSH_ATTEMPTS: usize = 3;

pub struct ApplyOptions<'a> {
    pub step: &'a str,
    pub commit: bool,
    pub message: Option<&'a str>,
    pub allow_dirty: bool,
    pub branch: Option<&'a str>,
    pub push: Option<&'a str>,
    /// Confirmations, skipped gates or a retry to record with the step.
    pub state_change: StateChange,
}

/// A step rendered against one state of the repository, with what it changes there.
struct PreparedStep {
    step: StepId,
    rendered: RenderedStep,
    inventory: Inventory,
    changes: Vec<FileChange>,
}

fn prepare(session: &mut Session, wanted: &str, change: &StateChange) -> anyhow::Result<PreparedStep> {
    session.state = change.applied_to(&session.state);
    let step = session.resolve_step(wanted)?;
    if let Some(current) = session.current_step() {
        if step.phase() < current.phase() {
            bail!(
                "step `{step}` would move ASMMigrateFromIstio's desiredState back from {} to {}: ASM only moves forward \
                 (waves, egress weights and ingress can go back, phases cannot)",
                current.phase().name(),
                step.phase().name()
            );
        }
    }
    let (rendered, inventory) = session.render(&step)?;
    let changes = workspace::changes(session.files.as_ref(), &rendered).map_err(Diagnostics::from)?;
    Ok(PreparedStep { step, rendered, inventory, changes })
}

pub fn apply(
    session_options: &SessionOptions<'_>,
    options: &ApplyOptions<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let root = session_options.root();
    let git = GitRepo::open(&root).ok();
    // One asm-migrate at a time: taken before anything is read, so what is read stays true until written.
    let _lock = match &git {
        Some(git) => Some(RepoLock::acquire(&git.git_dir(), "asm-migrate apply")?),
        None => None,
    };
    let mut session = Session::open(session_options)?;
    check_output_stays_inside(&session)?;
    let on_other_branch = |branch: &str| git.as_ref().and_then(GitRepo::current_branch).as_deref() != Some(branch);
    match (options.branch, &git) {
        (Some(branch), Some(git)) if on_other_branch(branch) => {
            if !options.commit {
                bail!(
                    "--branch needs --commit: the step is committed onto {branch}, and the working tree is left alone"
                );
            }
            apply_to_branch(session_options, git, branch, options, out)
        }
        (Some(_), None) | (None, None) if options.commit || options.push.is_some() => {
            bail!("--commit: {} is not inside a git repository", root.display())
        }
        _ => apply_to_work_tree(&mut session, git.as_ref(), options, out),
    }
}

/// The step written into the working tree and, with `--commit`, committed on the checked-out branch.
fn apply_to_work_tree(
    session: &mut Session,
    git: Option<&GitRepo>,
    options: &ApplyOptions<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let prepared = prepare(session, options.step, &options.state_change)?;
    let session = &*session;
    let step = &prepared.step;
    if prepared.changes.is_empty() {
        writeln!(out, "step {step} is already in the repository: nothing to change")?;
        return Ok(0);
    }
    let paths: Vec<&str> = prepared.changes.iter().map(|change| change.path.as_str()).collect();
    // Everything that can stop the commit is checked before the first file is written.
    let committer = match (git, options.commit) {
        (Some(git), true) => Some((git, git.identity()?)),
        _ => None,
    };
    let pushed_branch = match (git, options.push) {
        (Some(git), Some(_)) => {
            Some(git.current_branch().context("HEAD is detached: name the branch to commit onto with --branch")?)
        }
        _ => None,
    };
    if !options.allow_dirty {
        if let Some(git) = git {
            let dirty = git.uncommitted(&paths)?;
            if !dirty.is_empty() {
                bail!(
                    "uncommitted changes in files this step rewrites: {}\ncommit or stash them first (or pass --allow-dirty)",
                    dirty.join(", ")
                );
            }
        }
    }
    workspace::write(&Workspace::new(&session.root), &prepared.changes)
        .context("cannot write the step into the repository (it is as it was)")?;
    report_changes(out, step, &prepared.changes)?;
    if let Some((git, identity)) = committer {
        let message = commit_message(session, &prepared, options);
        let id = git.commit_work_tree(&identity, &paths, &message)?;
        writeln!(out, "committed {}: {}", short(id), subject(&message))?;
        if let (Some(remote), Some(branch)) = (options.push, pushed_branch) {
            let remote = Remote::new(&git.work_tree().unwrap_or_else(|| session.root.clone()), remote);
            match remote.push(&branch)? {
                PushOutcome::Pushed => writeln!(out, "pushed {branch} to {}", remote.name)?,
                PushOutcome::Behind => bail!(
                    "{} has commits on {branch} that this checkout does not: pull them and apply again \
                     (with --branch, asm-migrate rebuilds the step on the remote's tip by itself)",
                    remote.name
                ),
            }
        }
    }
    Ok(0)
}

/// The step committed onto `branch` (created from HEAD, or from the remote's branch when it has one) without
/// touching the checkout or the index; with `--push`, pushed, rebuilding the step on the remote's tip when
/// someone else pushed first.
fn apply_to_branch(
    session_options: &SessionOptions<'_>,
    git: &GitRepo,
    branch: &str,
    options: &ApplyOptions<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let identity = git.identity()?;
    let work_tree = git.work_tree().unwrap_or_else(|| session_options.root());
    let remote = options.push.map(|name| Remote::new(&work_tree, name));
    let mut local_tip = git.branch_tip(branch)?;
    let remote_tip = match &remote {
        Some(remote) => remote.fetch(branch)?.and_then(|reference| git.reference_target(&reference)),
        None => None,
    };
    let mut base = match (local_tip, remote_tip) {
        (Some(local), Some(remote_commit)) if git.is_ancestor(remote_commit, local)? => local,
        (Some(local), Some(remote_commit)) if git.is_ancestor(local, remote_commit)? => {
            git.move_branch(branch, Some(local), remote_commit, "fast-forward to the remote")?;
            local_tip = Some(remote_commit);
            remote_commit
        }
        (Some(_), Some(_)) => bail!(
            "the local branch {branch} and the remote's have diverged: reconcile them (or use another branch name); \
             asm-migrate never drops a commit"
        ),
        (Some(local), None) => local,
        (None, Some(remote_commit)) => remote_commit,
        (None, None) => git.head_commit().context("the repository has no commit to branch from")?,
    };

    let mut session = Session::open_with(session_options, Box::new(git.tree_files(base)?))?;
    let mut prepared = prepare(&mut session, options.step, &options.state_change)?;
    if prepared.changes.is_empty() {
        writeln!(out, "step {} is already on {branch}: nothing to change", prepared.step)?;
        return Ok(0);
    }
    let mut message = commit_message(&session, &prepared, options);
    let mut commit = git.commit_to_branch(&identity, branch, local_tip, base, &prepared.changes, &message)?;
    report_changes(out, &prepared.step, &prepared.changes)?;
    writeln!(out, "committed {} on {branch}: {}", short(commit), subject(&message))?;
    let Some(remote) = remote else { return Ok(0) };

    for attempt in 1..=PUSH_ATTEMPTS {
        match remote.push(branch)? {
            PushOutcome::Pushed => {
                writeln!(out, "pushed {branch} to {}", remote.name)?;
                return Ok(0);
            }
            PushOutcome::Behind if attempt == PUSH_ATTEMPTS => break,
            PushOutcome::Behind => {}
        }
        let tip = remote
            .fetch(branch)?
            .and_then(|reference| git.reference_target(&reference))
            .context("the remote rejected the push, then had no such branch")?;
        if !git.is_ancestor(base, tip)? {
            bail!(
                "{}'s {branch} no longer contains {}: it was rewritten; asm-migrate never force-pushes",
                remote.name,
                short(base)
            );
        }
        writeln!(out, "{} moved {branch} to {}: rendering {} again on it", remote.name, short(tip), prepared.step)?;
        let moved = git.changed_paths(base, tip)?;
        let mut session = Session::open_with(session_options, Box::new(git.tree_files(tip)?))?;
        let again = prepare(&mut session, options.step, &options.state_change)?;
        if again.changes.is_empty() {
            git.move_branch(branch, Some(commit), tip, "the remote has the step already")?;
            writeln!(out, "step {} is already on {}'s {branch}: nothing to push", again.step, remote.name)?;
            return Ok(0);
        }
        let output = &session.plan.output.value;
        let conflicts: Vec<&String> = moved
            .iter()
            .filter(|path| is_within(path, output) || prepared.changes.iter().any(|change| &change.path == *path))
            .collect();
        if !conflicts.is_empty() {
            let names: Vec<&str> = conflicts.iter().map(|path| path.as_str()).collect();
            bail!(
                "conflict: {}'s {branch} changed files this step writes: {}\nyour commit {} stays on the local {branch}, \
                 unpushed; reconcile the branches, then apply again",
                remote.name,
                names.join(", "),
                short(commit)
            );
        }
        message = commit_message(&session, &again, options);
        commit = git.commit_to_branch(&identity, branch, Some(commit), tip, &again.changes, &message)?;
        writeln!(out, "committed {} on {branch}: {}", short(commit), subject(&message))?;
        base = tip;
        prepared = again;
    }
    bail!(
        "{}'s {branch} kept moving: gave up after {PUSH_ATTEMPTS} attempts; the step is committed on the local {branch}",
        remote.name
    )
}

fn report_changes(out: &mut dyn Write, step: &StepId, changes: &[FileChange]) -> std::io::Result<()> {
    writeln!(out, "step {step}: {} file(s) changed", changes.len())?;
    for change in changes {
        let verb = match (&change.before, &change.after) {
            (None, _) => "create",
            (_, None) => "remove",
            _ => "update",
        };
        writeln!(out, "  {verb} {}", change.path)?;
    }
    Ok(())
}

fn short(id: Oid) -> String {
    id.to_string()[..12].to_owned()
}

fn subject(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}

/// `asm-migrate(<plan>): <step> (<i>/<n>)`, the effects in words, the user's words, and trailers.
fn commit_message(session: &Session, prepared: &PreparedStep, options: &ApplyOptions<'_>) -> String {
    let plan = &session.plan;
    let step = &prepared.step;
    let index = plan.step_index(step).map(|index| index + 1).unwrap_or(0);
    let mut message = format!("asm-migrate({}): {step} ({index}/{})\n\n", plan.name, plan.steps.len());
    for effect in session.effects(step, &prepared.inventory, &prepared.changes).lines(NAMES_IN_COMMIT) {
        message.push_str(&format!("- {effect}\n"));
    }
    if let Some(user) = options.message {
        message.push_str(&format!("\n{}\n", user.trim_end()));
    }
    let previous = session.state.step.clone().unwrap_or_else(|| "none".to_owned());
    message.push_str(&format!(
        "\nMigration-Plan: {}\nMigration-Step: {step}\nMigration-Previous-Step: {previous}\nMigration-Render-Digest: {}\n",
        plan.name,
        prepared.rendered.digest()
    ));
    message.push_str(&options.state_change.trailers());
    message
}

/// The output directory must stay inside the repository, also through symbolic links.
fn check_output_stays_inside(session: &Session) -> anyhow::Result<()> {
    let root = session.root.canonicalize().with_context(|| format!("cannot resolve {}", session.root.display()))?;
    let output = &session.plan.output;
    let mut existing = session.root.join(&output.value);
    while !existing.exists() {
        match existing.parent() {
            Some(parent) => existing = parent.to_owned(),
            None => return Ok(()),
        }
    }
    let resolved = existing.canonicalize().with_context(|| format!("cannot resolve {}", existing.display()))?;
    if !resolved.starts_with(&root) {
        let shown = existing.strip_prefix(&session.root).unwrap_or(Path::new(&output.value)).display().to_string();
        return Err(Diagnostics::from(session.plan.error_at(
            output.pos,
            format!("output `{}` leaves the repository through the symbolic link {shown}", output.value),
        ))
        .into());
    }
    Ok(())
}
