//! Taking a step: rendered from one reading of the repository inside its lock, then written into the working tree
//! (and with `--commit` committed there), or committed onto a branch and pushed, never losing work; what `apply`,
//! `advance`, `retry` and `demo` share.

use std::io::Write;
use std::path::{Path, PathBuf};

use git2::Oid;

use crate::adapters::git::GitRepo;
use crate::adapters::lock::RepoLock;
use crate::adapters::remote::{PushOutcome, Remote};
use crate::adapters::transaction::{self, TransactionError};
use crate::adapters::workspace::{self, Workspace};
use crate::adapters::RepoFiles;
use crate::commands::Workplace;
use crate::core::change::{FileChange, RenderedStep};
use crate::core::diagnostic::Diagnostics;
use crate::core::effects::StepEffects;
use crate::core::migration::{Migration, StepSelector};
use crate::core::paths::is_within;
use crate::core::plan::Plan;
use crate::core::render::render_step;
use crate::core::state::{Confirmation, StateChange};
use crate::core::step_id::StepId;
use crate::core::templates::Templates;

/// Workload names a commit message lists per effect before "and N more".
const NAMES_IN_COMMIT: usize = 50;
/// How many times a push that lost a race is rebuilt on the remote's new tip before giving up.
const PUSH_ATTEMPTS: usize = 3;

/// Who has checked what must hold before the step: `advance` against the clusters, the user (`apply --force`),
/// or nobody (`apply`, which then refuses a step that has preconditions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precheck {
    /// `advance` (or `retry`, re-taking the current step) judged what the clusters show.
    Checked,
    /// `apply`: nothing was checked.
    Unchecked,
    /// `apply --force`: the user (`by`) takes the step as it is (`at`, RFC 3339), preconditions and skipped
    /// phases included; the state and a commit trailer record it.
    Forced { by: String, at: String },
}

/// How a step is written: `apply`'s flags, which `advance` and `retry` share.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct WriteOptions {
    /// Make one commit of the step (author: git's configured identity), with trailers naming the step.
    #[arg(long)]
    pub commit: bool,
    /// Words of your own for the commit message.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Write even when files the step rewrites have uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
    /// Commit onto this branch (created from HEAD, or from the remote's branch, when missing) without touching
    /// the checkout or the index.
    #[arg(long, requires = "commit", value_name = "NAME")]
    pub branch: Option<String>,
    /// Push the branch to this remote; when someone pushed first, the step is rendered again on their tip.
    #[arg(long, requires = "commit", value_name = "REMOTE")]
    pub push: Option<String>,
}

/// Why a step cannot be written or committed.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error("--branch needs --commit: the step is committed onto {0}, and the working tree is left alone")]
    BranchNeedsCommit(String),
    #[error("--commit: {} is not inside a git repository", .0.display())]
    NotInGit(PathBuf),
    #[error("cannot resolve {}", .path.display())]
    Resolve {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("HEAD is detached: name the branch to commit onto with --branch")]
    DetachedHead,
    #[error("{what} is in progress in this repository: {finish}, then run asm-migrate again")]
    InProgress { what: &'static str, finish: &'static str },
    #[error("uncommitted changes in files this step rewrites: {}\ncommit or stash them first (or pass --allow-dirty)", .0.join(", "))]
    Dirty(Vec<String>),
    #[error(
        "step `{step}` has preconditions `apply` cannot check: {}; `asm-migrate advance` checks them against the \
         clusters (or pass --force if you checked them yourself)", .preconditions.join(", ")
    )]
    Unchecked { step: StepId, preconditions: Vec<&'static str> },
    #[error("cannot write the step into the repository (it is as it was)")]
    Write(#[source] std::io::Error),
    #[error("cannot write the step into the repository (it is as it was)")]
    Transaction(#[source] TransactionError),
    #[error(
        "{remote} has commits on {branch} that this checkout does not: the step is committed here as {commit}, \
         unpushed; pull with `git pull --rebase {remote} {branch}` and push with `git push {remote} {branch}` \
         (with --branch, asm-migrate rebuilds the step on the remote's tip and pushes by itself)"
    )]
    Behind { remote: String, branch: String, commit: String },
    #[error(
        "the local branch {0} and the remote's have diverged: reconcile them (or use another branch name); \
         asm-migrate never drops a commit"
    )]
    Diverged(String),
    #[error("the repository has no commit to branch from")]
    NoCommit,
    #[error("the remote rejected the push, then had no such branch")]
    RemoteBranchGone,
    #[error("{remote}'s {branch} no longer contains {commit}: it was rewritten; asm-migrate never force-pushes")]
    Rewritten { remote: String, branch: String, commit: String },
    #[error(
        "conflict: {remote}'s {branch} changed files this step writes: {}\nyour commit {commit} stays on the local \
         {branch}, unpushed; reconcile the branches, then apply again", .files.join(", ")
    )]
    Conflict { remote: String, branch: String, files: Vec<String>, commit: String },
    #[error(
        "{remote}'s {branch} kept moving: gave up after {PUSH_ATTEMPTS} attempts; the step is committed on the local \
         {branch}"
    )]
    KeptMoving { remote: String, branch: String },
}

/// Where a step goes, settled before anything is read: the repository's git and its lock, and with `--branch`
/// the commit the step is rendered on.
pub struct Target {
    pub root: PathBuf,
    pub git: Option<GitRepo>,
    /// One asm-migrate at a time: held until the step is written.
    _lock: Option<RepoLock>,
    branch: Option<BranchTarget>,
    /// A commit of the checked-out branch is rendered from HEAD, not from work in progress beside it (except with
    /// --allow-dirty, which takes the working tree as it is).
    from_head: Option<Oid>,
    /// The plan's text, as read: part of what a render is a function of.
    plan_source: String,
}

/// A branch the step is committed onto without touching the checkout.
struct BranchTarget {
    name: String,
    /// Where the local branch points, if it exists.
    local_tip: Option<Oid>,
    /// The commit the step is rendered on: the local branch, the remote's, or HEAD.
    base: Oid,
    remote: Option<Remote>,
}

impl Target {
    /// The commit the step is rendered on, when it is rendered on one (`--commit` of a clean checkout, `--branch`).
    pub fn rendered_on(&self) -> Option<(&GitRepo, Oid)> {
        let base = self.branch.as_ref().map(|branch| branch.base).or(self.from_head)?;
        Some((self.git.as_ref()?, base))
    }

    /// The commit the migration is read at: the branch's base with `--branch`, else HEAD.
    pub fn read_at(&self) -> Option<(&GitRepo, Oid)> {
        let git = self.git.as_ref()?;
        let at = self.branch.as_ref().map(|branch| branch.base).or(self.from_head).or_else(|| git.head_commit())?;
        Some((git, at))
    }

    /// Takes the lock, then reads the plan and settles where the step goes (fetching the remote's branch for
    /// `--branch` with `--push`).
    pub fn open(workplace: &Workplace, options: &WriteOptions, command: &str) -> anyhow::Result<(Target, Plan)> {
        let root = workplace.root();
        let git = GitRepo::open(&root).ok();
        let lock = git.as_ref().map(|git| RepoLock::acquire(&git.git_dir(), command)).transpose()?;
        // A step written in the middle of a merge or a rebase would mix with the user's resolution of it.
        if let Some((what, finish)) = git.as_ref().and_then(GitRepo::operation_in_progress) {
            return Err(TakeError::InProgress { what, finish }.into());
        }
        for note in lock.iter().flat_map(|lock| &lock.notes) {
            crate::output::note(note);
        }
        // An interrupted run is put back in order before anything is read.
        if let Some(git) = &git {
            for note in transaction::recover(git)? {
                crate::output::note(&note);
            }
        }
        let (plan, plan_source) = workplace.read_plan_and_source()?;
        check_output_stays_inside(&root, &plan)?;
        let on_other_branch = |git: &GitRepo, branch: &str| git.current_branch().as_deref() != Some(branch);
        let branch = match (&options.branch, &git) {
            (Some(branch), Some(git)) if on_other_branch(git, branch) => {
                if !options.commit {
                    return Err(TakeError::BranchNeedsCommit(branch.clone()).into());
                }
                Some(BranchTarget::settle(git, branch, options.push.as_deref(), &root)?)
            }
            (_, None) if options.commit || options.push.is_some() => return Err(TakeError::NotInGit(root).into()),
            _ => None,
        };
        let from_head = match (&branch, &git, options.commit && !options.allow_dirty) {
            (None, Some(git), true) => git.head_commit(),
            _ => None,
        };
        Ok((Target { root, git, _lock: lock, branch, from_head, plan_source }, plan))
    }

    /// The plan's text, as read.
    pub fn plan_source(&self) -> &str {
        &self.plan_source
    }

    /// The branch the step is committed onto, with `--branch` naming another than the checked-out one.
    pub fn branch_name(&self) -> Option<&str> {
        self.branch.as_ref().map(|branch| branch.name.as_str())
    }

    /// Who is at work, as git's identity says, for what the state records.
    pub fn who(&self) -> String {
        match self.git.as_ref().map(GitRepo::identity) {
            Some(Ok(identity)) => format!(
                "{} <{}>",
                identity.author.name().unwrap_or_default(),
                identity.author.email().unwrap_or_default()
            ),
            _ => "someone without a git identity".to_owned(),
        }
    }

    /// The files of the step's base: the branch's commit, HEAD for a commit of the checkout, or the working tree.
    pub fn files(&self) -> anyhow::Result<Box<dyn RepoFiles>> {
        Ok(match self.rendered_on() {
            Some((git, commit)) => Box::new(git.tree_files(commit)?),
            None => Box::new(Workspace::new(&self.root)),
        })
    }

    /// The migration as the step's base holds it, read once.
    pub fn load(&self, workplace: &Workplace, plan: Plan) -> anyhow::Result<Migration> {
        Ok(workplace.load(plan, self.files()?.as_ref(), self.git.as_ref())?)
    }
}

impl BranchTarget {
    /// The base of a step committed onto `name`: the local branch, fast-forwarded to the remote's when the remote
    /// is ahead; the remote's when only it has one; else HEAD.
    fn settle(git: &GitRepo, name: &str, push: Option<&str>, root: &Path) -> anyhow::Result<BranchTarget> {
        let work_tree = git.work_tree().unwrap_or_else(|| root.to_owned());
        let remote = push.map(|remote| Remote::new(&work_tree, remote));
        let mut local_tip = git.branch_tip(name)?;
        let remote_tip = match &remote {
            Some(remote) => remote.fetch(name)?.and_then(|reference| git.reference_target(&reference)),
            None => None,
        };
        let base = match (local_tip, remote_tip) {
            (Some(local), Some(remote_commit)) if git.is_ancestor(remote_commit, local)? => local,
            (Some(local), Some(remote_commit)) if git.is_ancestor(local, remote_commit)? => {
                git.move_branch(name, Some(local), remote_commit, "fast-forward to the remote")?;
                local_tip = Some(remote_commit);
                remote_commit
            }
            (Some(_), Some(_)) => return Err(TakeError::Diverged(name.to_owned()).into()),
            (Some(local), None) => local,
            (None, Some(remote_commit)) => remote_commit,
            (None, None) => git.head_commit().ok_or(TakeError::NoCommit)?,
        };
        Ok(BranchTarget { name: name.to_owned(), local_tip, base, remote })
    }
}

/// The step to take: which one, what changes in the state besides, and who checked its preconditions.
pub struct StepRequest<'a> {
    pub selector: &'a StepSelector,
    pub change: &'a StateChange,
    pub precheck: Precheck,
}

/// What taking a step did, as `--output json` reports it (text mode says the same in lines as it happens).
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepOutcome {
    pub step: String,
    /// False when the step was in the repository already: nothing written, no commit.
    pub changed: bool,
    /// The files written, each with its change: `create`, `update` or `delete`.
    pub files: Vec<WrittenFile>,
    /// The commit made, when `--commit` made one.
    pub commit: Option<CommitMade>,
    /// The remote and branch pushed to, when `--push` pushed.
    pub pushed: Option<Pushed>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenFile {
    pub path: String,
    pub change: &'static str,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CommitMade {
    pub id: String,
    /// The branch the commit is on.
    pub branch: Option<String>,
    pub subject: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    pub remote: String,
    pub branch: String,
}

impl StepOutcome {
    fn unchanged(step: &StepId) -> StepOutcome {
        StepOutcome { step: step.to_string(), ..StepOutcome::default() }
    }

    fn written(step: &StepId, changes: &[FileChange]) -> StepOutcome {
        let files = changes
            .iter()
            .map(|change| WrittenFile { path: change.path.clone(), change: change.kind().verb() })
            .collect();
        StepOutcome { step: step.to_string(), changed: true, files, commit: None, pushed: None }
    }

    fn committed(mut self, id: Oid, branch: Option<&str>, message: &str) -> StepOutcome {
        let subject = subject(message).to_owned();
        self.commit = Some(CommitMade { id: id.to_string(), branch: branch.map(str::to_owned), subject });
        self
    }
}

/// Takes a step from the migration as loaded: records `change` in the state, renders the step, writes it where
/// `target` says, commits and pushes as `options` say; `out` gets the lines that tell it as it happens.
pub fn take_step(
    workplace: &Workplace,
    target: &Target,
    mut migration: Migration,
    request: &StepRequest<'_>,
    options: &WriteOptions,
    out: &mut dyn Write,
) -> anyhow::Result<StepOutcome> {
    let templates = workplace.templates()?;
    let prepared = Prepared::new(&mut migration, request, &templates, options)?;
    match (&target.branch, &target.git) {
        (Some(branch), Some(git)) => {
            let retake = StepRetake { workplace, git, plan: &migration.plan, request, templates: &templates };
            commit_to_branch(git, branch, &retake, prepared, options, out)
        }
        _ => write_to_work_tree(&target.root, target.git.as_ref(), prepared, options, out),
    }
}

/// A step rendered against one state of the repository, with what it changes there and its commit message.
pub(crate) struct Prepared {
    pub step: StepId,
    pub changes: Vec<FileChange>,
    message: String,
}

impl Prepared {
    pub(crate) fn new(
        migration: &mut Migration,
        request: &StepRequest<'_>,
        templates: &Templates,
        options: &WriteOptions,
    ) -> anyhow::Result<Prepared> {
        let forced = matches!(request.precheck, Precheck::Forced { .. });
        let step = migration.resolve_forward(request.selector, forced)?;
        let mut change = request.change.clone();
        // The current step, taken again, was checked when it was first taken.
        let preconditions = match migration.current_step() == Some(&step) {
            true => Vec::new(),
            false => migration.precondition_names(&step)?,
        };
        match &request.precheck {
            Precheck::Unchecked if !preconditions.is_empty() => {
                return Err(TakeError::Unchecked { step, preconditions }.into());
            }
            Precheck::Forced { by, at }
                if !preconditions.is_empty() || migration.resolve_forward(request.selector, false).is_err() =>
            {
                change.gates_skipped = Some(Confirmation { step: step.clone(), at: at.clone(), by: by.clone() });
            }
            _ => {}
        }
        let change = &change;
        migration.record(change);
        let pending = migration.pending(&step)?;
        let rendered = render_step(migration, &pending, templates)?;
        let changes = rendered.changes(&migration.repository).map_err(Diagnostics::from)?;
        let message = match options.commit && !changes.is_empty() {
            true => {
                let effects = StepEffects::of(migration, &pending, &changes);
                commit_message(migration, &effects, &rendered, change, options)
            }
            false => String::new(),
        };
        Ok(Prepared { step, changes, message })
    }

    fn paths(&self) -> Vec<&str> {
        self.changes.iter().map(|change| change.path.as_str()).collect()
    }
}

/// What a run says when `step` is already where it goes: in the checkout, or on `branch`.
pub fn nothing_to_change(step: &dyn std::fmt::Display, branch: Option<&str>) -> String {
    match branch {
        Some(branch) => format!("step {step} is already on {branch}: nothing to change"),
        None => format!("step {step} is already in the repository: nothing to change"),
    }
}

/// The step written into the working tree and, with `--commit`, committed on the checked-out branch.
fn write_to_work_tree(
    root: &Path,
    git: Option<&GitRepo>,
    prepared: Prepared,
    options: &WriteOptions,
    out: &mut dyn Write,
) -> anyhow::Result<StepOutcome> {
    if prepared.changes.is_empty() {
        writeln!(out, "{}", nothing_to_change(&prepared.step, None))?;
        return Ok(StepOutcome::unchanged(&prepared.step));
    }
    let paths = prepared.paths();
    // Everything that can stop the commit is checked before the first file is written.
    let committer = match (git, options.commit) {
        (Some(git), true) => Some((git, git.identity()?)),
        _ => None,
    };
    let pushed_branch = match (git, &options.push) {
        (Some(git), Some(_)) => Some(git.current_branch().ok_or(TakeError::DetachedHead)?),
        _ => None,
    };
    if let (Some(git), false) = (git, options.allow_dirty) {
        let work_tree = Workspace::new(root);
        // A file already holding what the step writes (an earlier run without --commit) is no work at risk.
        let at_risk: Vec<String> = git
            .uncommitted(&paths)?
            .into_iter()
            .filter(|path| {
                let wanted = prepared.changes.iter().find(|change| &change.path == path).and_then(|c| c.after.clone());
                work_tree.read(path).ok().flatten() != wanted
            })
            .collect();
        if !at_risk.is_empty() {
            return Err(TakeError::Dirty(at_risk).into());
        }
    }
    let work_tree = Workspace::new(root);
    workspace::refuse_symlinks(&work_tree, &prepared.changes).map_err(TakeError::Write)?;
    let outcome = StepOutcome::written(&prepared.step, &prepared.changes);
    let Some(git) = git else {
        workspace::write(&work_tree, &prepared.changes).map_err(TakeError::Write)?;
        report_changes(out, &prepared.step, &prepared.changes)?;
        return Ok(outcome);
    };
    let commit = committer.as_ref().map(|(_, identity)| (identity, prepared.message.as_str()));
    let committed = transaction::write_step(git, &prepared.step.to_string(), &prepared.changes, commit)
        .map_err(TakeError::Transaction)?;
    report_changes(out, &prepared.step, &prepared.changes)?;
    let Some(id) = committed else { return Ok(outcome) };
    writeln!(out, "committed {}: {}", short(id), subject(&prepared.message))?;
    let mut outcome = outcome.committed(id, git.current_branch().as_deref(), &prepared.message);
    if let (Some(remote), Some(branch)) = (&options.push, pushed_branch) {
        let remote = Remote::new(&git.work_tree().unwrap_or_else(|| root.to_owned()), remote);
        match remote.push(&branch)? {
            PushOutcome::Pushed => writeln!(out, "pushed {branch} to {}", remote.name)?,
            PushOutcome::Behind => {
                return Err(TakeError::Behind { remote: remote.name, branch, commit: short(id) }.into())
            }
        }
        outcome.pushed = Some(Pushed { remote: remote.name, branch });
    }
    Ok(outcome)
}

/// What is needed to render the step again on a commit someone pushed meanwhile.
struct StepRetake<'a> {
    workplace: &'a Workplace,
    git: &'a GitRepo,
    plan: &'a Plan,
    request: &'a StepRequest<'a>,
    templates: &'a Templates,
}

impl StepRetake<'_> {
    fn on(&self, commit: Oid, options: &WriteOptions) -> anyhow::Result<Prepared> {
        let files = self.git.tree_files(commit)?;
        let mut migration = self.workplace.load(self.plan.clone(), &files, Some(self.git))?;
        Prepared::new(&mut migration, self.request, self.templates, options)
    }
}

/// The step committed onto the branch without touching the checkout or the index; with `--push`, pushed,
/// rendered again on the remote's tip when someone else pushed first.
fn commit_to_branch(
    git: &GitRepo,
    target: &BranchTarget,
    retake: &StepRetake<'_>,
    mut prepared: Prepared,
    options: &WriteOptions,
    out: &mut dyn Write,
) -> anyhow::Result<StepOutcome> {
    let branch = &target.name;
    if prepared.changes.is_empty() {
        writeln!(out, "{}", nothing_to_change(&prepared.step, Some(branch)))?;
        return Ok(StepOutcome::unchanged(&prepared.step));
    }
    let identity = git.identity()?;
    let mut base = target.base;
    let mut commit =
        git.commit_to_branch(&identity, branch, target.local_tip, base, &prepared.changes, &prepared.message)?;
    report_changes(out, &prepared.step, &prepared.changes)?;
    writeln!(out, "committed {} on {branch}: {}", short(commit), subject(&prepared.message))?;
    let outcome = |prepared: &Prepared, commit: Oid| {
        StepOutcome::written(&prepared.step, &prepared.changes).committed(commit, Some(branch), &prepared.message)
    };
    let Some(remote) = &target.remote else { return Ok(outcome(&prepared, commit)) };
    for attempt in 1..=PUSH_ATTEMPTS {
        match remote.push(branch)? {
            PushOutcome::Pushed => {
                writeln!(out, "pushed {branch} to {}", remote.name)?;
                let pushed = Pushed { remote: remote.name.clone(), branch: branch.clone() };
                return Ok(StepOutcome { pushed: Some(pushed), ..outcome(&prepared, commit) });
            }
            PushOutcome::Behind if attempt == PUSH_ATTEMPTS => break,
            PushOutcome::Behind => {}
        }
        let tip = remote
            .fetch(branch)?
            .and_then(|reference| git.reference_target(&reference))
            .ok_or(TakeError::RemoteBranchGone)?;
        if !git.is_ancestor(base, tip)? {
            let (remote, branch, commit) = (remote.name.clone(), branch.clone(), short(base));
            return Err(TakeError::Rewritten { remote, branch, commit }.into());
        }
        writeln!(out, "{} moved {branch} to {}: rendering {} again on it", remote.name, short(tip), prepared.step)?;
        let moved = git.changed_paths(base, tip)?;
        let again = retake.on(tip, options)?;
        if again.changes.is_empty() {
            git.move_branch(branch, Some(commit), tip, "the remote has the step already")?;
            writeln!(out, "step {} is already on {}'s {branch}: nothing to push", again.step, remote.name)?;
            return Ok(StepOutcome::unchanged(&again.step));
        }
        let output = &retake.plan.settings.output.value;
        let conflicts: Vec<String> = moved
            .into_iter()
            .filter(|path| is_within(path, output) || prepared.changes.iter().any(|change| &change.path == path))
            .collect();
        if !conflicts.is_empty() {
            let (remote, branch, commit) = (remote.name.clone(), branch.clone(), short(commit));
            return Err(TakeError::Conflict { remote, branch, files: conflicts, commit }.into());
        }
        commit = git.commit_to_branch(&identity, branch, Some(commit), tip, &again.changes, &again.message)?;
        writeln!(out, "committed {} on {branch}: {}", short(commit), subject(&again.message))?;
        base = tip;
        prepared = again;
    }
    Err(TakeError::KeptMoving { remote: remote.name.clone(), branch: branch.clone() }.into())
}

fn report_changes(out: &mut dyn Write, step: &StepId, changes: &[FileChange]) -> std::io::Result<()> {
    writeln!(out, "step {step}: {} file(s) changed", changes.len())?;
    for change in changes {
        writeln!(out, "  {} {}", change.kind().verb(), change.path)?;
    }
    Ok(())
}

fn short(id: Oid) -> String {
    id.to_string()[..12].to_owned()
}

fn subject(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}

/// The effects in words, one line each, as a step's commit message lists them.
pub fn effect_lines(effects: &StepEffects) -> Vec<String> {
    effects.lines(NAMES_IN_COMMIT)
}

/// `asm-migrate(<plan>): <step> (<i>/<n>)`, the effects in words, the user's words, and trailers.
fn commit_message(
    migration: &Migration,
    effects: &StepEffects,
    rendered: &RenderedStep,
    change: &StateChange,
    options: &WriteOptions,
) -> String {
    let name = &migration.plan.settings.name;
    let mut message = format!("asm-migrate({name}): {} ({}/{})\n\n", effects.step, effects.index, effects.total);
    for effect in effect_lines(effects) {
        message.push_str(&format!("- {effect}\n"));
    }
    if let Some(user) = &options.message {
        message.push_str(&format!("\n{}\n", user.trim_end()));
    }
    let previous = migration.current_step().map(ToString::to_string).unwrap_or_else(|| "none".to_owned());
    message.push_str(&format!(
        "\nMigration-Plan: {name}\nMigration-Step: {}\nMigration-Previous-Step: {previous}\nMigration-Render-Digest: {}\n",
        effects.step,
        rendered.digest()
    ));
    message.push_str(&change.trailers());
    message
}

/// The output directory must stay inside the repository, also through symbolic links.
fn check_output_stays_inside(root: &Path, plan: &Plan) -> anyhow::Result<()> {
    let resolve =
        |path: &Path| path.canonicalize().map_err(|source| TakeError::Resolve { path: path.to_owned(), source });
    let canonical_root = resolve(root)?;
    let output = &plan.settings.output;
    let mut existing = root.join(&output.value);
    while !existing.exists() {
        match existing.parent() {
            Some(parent) => existing = parent.to_owned(),
            None => return Ok(()),
        }
    }
    if !resolve(&existing)?.starts_with(&canonical_root) {
        let shown = existing.strip_prefix(root).unwrap_or(Path::new(&output.value)).display().to_string();
        return Err(Diagnostics::from(plan.settings.error_at(
            output.pos,
            format!("output `{}` leaves the repository through the symbolic link {shown}", output.value),
        ))
        .into());
    }
    Ok(())
}
