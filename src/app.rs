//! The commands: each loads what it needs through the adapters, runs the pure core, and reports.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::json;

use crate::checks::{check_plan_against_repo, notices};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::diff;
use crate::effects::{step_effects, EffectsInput, StepEffects};
use crate::git::GitRepo;
use crate::plan::{self, Plan};
use crate::render::{render_step, RenderInput, RenderedStep};
use crate::repo::{inventory, join, Inventory, RepoFiles};
use crate::state::State;
use crate::steps::{desired_after, StepContext, StepId};
use crate::templates::Templates;
use crate::workspace::{self, FileChange, Workspace};

/// What every command starts from: the plan, the repository, the state the repository is in.
pub struct Session {
    pub plan: Plan,
    /// The working tree the command runs in.
    pub root: PathBuf,
    /// What steps are rendered against: the working tree, or the tip of the branch being committed to.
    pub files: Box<dyn RepoFiles>,
    pub state: State,
    pub templates: Templates,
}

pub struct SessionOptions<'a> {
    pub plan: Option<&'a Path>,
    pub repo: Option<&'a Path>,
    pub templates: Option<&'a Path>,
}

impl SessionOptions<'_> {
    /// The repository: `--repo`, else the plan's directory, else the current directory.
    pub fn root(&self) -> PathBuf {
        match (self.repo, self.plan) {
            (Some(repo), _) => repo.to_owned(),
            (None, Some(plan)) => {
                plan.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned()
            }
            (None, None) => PathBuf::from("."),
        }
    }
}

impl Session {
    /// A session on the working tree.
    pub fn open(options: &SessionOptions<'_>) -> anyhow::Result<Session> {
        Session::open_with(options, Box::new(Workspace::new(&options.root())))
    }

    /// A session rendering against `files` (a commit's tree, say); the plan is read from the working tree.
    pub fn open_with(options: &SessionOptions<'_>, files: Box<dyn RepoFiles>) -> anyhow::Result<Session> {
        let repo_root = options.root();
        if !repo_root.is_dir() {
            bail!("repository directory {} does not exist", repo_root.display());
        }
        let (plan_file, plan_display) = match options.plan {
            Some(plan) => (plan.to_owned(), plan.to_owned()),
            None => (repo_root.join("migration.yaml"), PathBuf::from("migration.yaml")),
        };
        if !plan_file.is_file() {
            return Err(Diagnostics::from(
                Diagnostic::in_file(&plan_display, "no plan here")
                    .with_help("write one (see `asm-migrate schema`) or point at it with --plan FILE"),
            )
            .into());
        }
        let plan = plan::load(&plan_file, &plan_display)?;
        let state_path = join(&plan.output.value, "state.yaml");
        let state = match files.read(&state_path).map_err(Diagnostics::from)? {
            Some(text) => State::parse(Path::new(&state_path), &text, &plan.name)?,
            None => State::new(&plan.name),
        };
        if let Some(step) = &state.step {
            if StepId::find(&plan, step).is_none() {
                return Err(Diagnostics::from(Diagnostic::in_file(
                    Path::new(&state_path),
                    format!("the repository is at step `{step}`, which the plan no longer has: restore that step in the plan"),
                ))
                .into());
            }
        }
        let templates = Templates::new(options.templates);
        Ok(Session { plan, root: repo_root, files, state, templates })
    }

    pub fn current_step(&self) -> Option<StepId> {
        self.state.step.as_deref().and_then(|step| StepId::find(&self.plan, step))
    }

    /// `current`, `next` or a step id.
    pub fn resolve_step(&self, wanted: &str) -> anyhow::Result<StepId> {
        let current = self.current_step();
        match wanted {
            "current" => {
                current.ok_or_else(|| anyhow::anyhow!("no step has been applied yet: use --step init (or --step next)"))
            }
            "next" => {
                let next_index =
                    current.as_ref().and_then(|step| self.plan.step_index(step)).map(|index| index + 1).unwrap_or(0);
                self.plan
                    .steps
                    .get(next_index)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("the migration is finished: there is no next step"))
            }
            id => StepId::find(&self.plan, id).ok_or_else(|| {
                let known: Vec<String> = self.plan.steps.iter().map(ToString::to_string).collect();
                anyhow::anyhow!("unknown step `{id}`; the plan's steps are: {}", known.join(", "))
            }),
        }
    }

    /// The repository as the step sees it: the tool's own output is never read back as input, and once Istio's
    /// install paths are gone (`finished`) they are not followed either.
    pub fn inventory(&self, step: &StepId) -> anyhow::Result<Inventory> {
        let mut excluded = vec![self.plan.output.value.clone()];
        if *step == StepId::Finished {
            excluded.extend(self.plan.istio.install_paths.iter().map(|path| path.value.clone()));
        }
        Ok(inventory(self.files.as_ref(), &self.plan, &excluded)?)
    }

    /// What taking `step` from the current one does, as data.
    pub fn effects(&self, step: &StepId, inventory: &Inventory, changes: &[FileChange]) -> StepEffects {
        let stamp = fresh_stamp(&self.root);
        let context = StepContext { plan: &self.plan, inventory, state: &self.state, fresh_stamp: &stamp };
        let after = desired_after(&context, step);
        let before = self.current_step().map(|current| desired_after(&context, &current));
        let mut notes = Vec::new();
        if *step == StepId::Migrating && self.plan.multi_network() {
            notes.push(
                "several networks: configure ASM's cross-cluster gateway and give each cluster its Istio network name \
                 in ASM before any wave"
                    .to_owned(),
            );
        }
        if *step == StepId::Finished {
            let (major, minor, patch) = self.plan.istio.version;
            notes.push(format!(
                "Istio installed with istioctl rather than these manifests? run istioctl {major}.{minor}.{patch}'s \
                 `istioctl uninstall --purge`"
            ));
        }
        step_effects(&EffectsInput {
            plan: &self.plan.name,
            step: step.to_string(),
            index: self.plan.step_index(step).map(|index| index + 1).unwrap_or(0),
            total: self.plan.steps.len(),
            before: before.as_ref(),
            after: &after,
            inventory,
            changes,
            output: &self.plan.output.value,
            notes,
        })
    }

    pub fn render(&self, step: &StepId) -> anyhow::Result<(RenderedStep, Inventory)> {
        let inventory = self.inventory(step)?;
        check_plan_against_repo(&self.plan, &inventory, self.files.as_ref(), *step == StepId::Finished)?;
        let stamp = fresh_stamp(&self.root);
        let input = RenderInput {
            plan: &self.plan,
            inventory: &inventory,
            state: &self.state,
            fresh_stamp: &stamp,
            templates: &self.templates,
            files: self.files.as_ref(),
        };
        Ok((render_step(&input, step)?, inventory))
    }
}

/// The restart stamp for a first `setup`: `SOURCE_DATE_EPOCH` when set (reproducible builds' convention), else
/// the HEAD commit's time, so rendering the same repository twice gives the same bytes.
pub fn fresh_stamp(repo_root: &Path) -> String {
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|value| value.parse::<i64>().ok())
        .or_else(|| GitRepo::open(repo_root).ok().and_then(|git| git.head_time()))
        .unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
        });
    rfc3339(seconds)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC), the format `kubectl rollout restart` writes.
pub fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

pub fn validate(session: &Session, out: &mut dyn Write) -> anyhow::Result<i32> {
    let step = session.current_step().unwrap_or(StepId::Init);
    let inventory = session.inventory(&step)?;
    check_plan_against_repo(&session.plan, &inventory, session.files.as_ref(), step == StepId::Finished)?;
    let workloads: usize = inventory.clusters.values().map(|cluster| cluster.workloads.len()).sum();
    let injected: usize =
        inventory.clusters.values().map(|cluster| cluster.workloads.iter().filter(|w| w.injected).count()).sum();
    writeln!(
        out,
        "plan {} is valid: {} cluster(s), {} workload(s) of which {} Istio-injected, {} step(s)",
        session.plan.name,
        session.plan.clusters.len(),
        workloads,
        injected,
        session.plan.steps.len()
    )?;
    let asm = &session.plan.asm;
    writeln!(
        out,
        "  ASM control plane: context {}, {}",
        asm.context.as_deref().unwrap_or("(not set)"),
        asm.api_version
    )?;
    for cluster in &session.plan.clusters {
        let Some(found) = inventory.clusters.get(&cluster.name) else { continue };
        writeln!(
            out,
            "  cluster {}: context {}, network {}, {} workload(s), {} Istio-injected",
            cluster.name,
            cluster.context.as_deref().unwrap_or("(not set)"),
            cluster.network,
            found.workloads.len(),
            found.workloads.iter().filter(|workload| workload.injected).count()
        )?;
    }
    for notice in notices(&session.plan, &inventory) {
        writeln!(out, "note: {notice}")?;
    }
    Ok(0)
}

pub fn steps(session: &Session, json_output: bool, out: &mut dyn Write) -> anyhow::Result<i32> {
    let current = session.current_step();
    let current_index = current.as_ref().and_then(|step| session.plan.step_index(step));
    let rows: Vec<(usize, &StepId, bool, bool)> = session
        .plan
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| (index, step, Some(index) == current_index, current_index.is_some_and(|c| index <= c)))
        .collect();
    if json_output {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(index, step, is_current, applied)| {
                json!({"index": index + 1, "id": step.to_string(), "phase": step.phase().name(), "current": is_current, "applied": applied})
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(0);
    }
    let width = rows.iter().map(|(_, step, _, _)| step.to_string().len()).max().unwrap_or(4).max(4);
    writeln!(out, "   #  {:width$}  PHASE", "STEP")?;
    for (index, step, is_current, _) in rows {
        let marker = if is_current { "*" } else { " " };
        writeln!(out, "{marker} {:>2}  {:width$}  {}", index + 1, step.to_string(), step.phase().name())?;
    }
    Ok(0)
}

/// `render`: the step's files under the output directory, into `target` or (`-`) to stdout. With `only: asm`, just
/// the ASM control plane's manifests, as the one YAML stream an Argo CD Config Management Plugin returns.
pub fn render(
    session: &Session,
    wanted: &str,
    target: &str,
    only: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let step = session.resolve_step(wanted)?;
    let (rendered, _) = session.render(&step)?;
    let output = &session.plan.output.value;
    let part = match only {
        None => output.clone(),
        Some("asm") => join(output, "asm"),
        Some(other) => {
            match other.strip_prefix("cluster/").filter(|name| session.plan.clusters.iter().any(|c| c.name == *name)) {
                Some(name) => join(output, &format!("clusters/{name}")),
                None => bail!("--only takes `asm` or `cluster/<name>` of a cluster of the plan, not `{other}`"),
            }
        }
    };
    let output_files = rendered.writes.iter().filter(|(path, _)| crate::repo::is_within(path, &part));
    if target == "-" && only == Some("asm") {
        // Manifests only: the kustomization that lists them is for kustomize, not for the API server.
        let manifests = output_files.filter(|(path, _)| !path.ends_with("/kustomization.yaml"));
        for (index, (_, text)) in manifests.enumerate() {
            if index > 0 {
                writeln!(out, "---")?;
            }
            write!(out, "{text}")?;
        }
        return Ok(0);
    }
    if target == "-" {
        for (index, (path, text)) in output_files.enumerate() {
            if index > 0 {
                writeln!(out, "---")?;
            }
            write!(out, "# Source: {path}\n{text}")?;
        }
        return Ok(0);
    }
    let prefix = format!("{}/", session.plan.output.value);
    for (path, text) in output_files {
        let destination = Path::new(target).join(path.strip_prefix(&prefix).unwrap_or(path));
        if let Some(dir) = destination.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&destination, text).with_context(|| format!("cannot write {}", destination.display()))?;
    }
    writeln!(out, "rendered step {step} into {target}")?;
    Ok(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    Unified,
    Markdown,
    Json,
}

/// Exit 0, or 1 with `exit_code` when the step differs from the repository.
pub fn diff(
    session: &Session,
    wanted: &str,
    format: DiffFormat,
    exit_code: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let step = session.resolve_step(wanted)?;
    let (rendered, inventory) = session.render(&step)?;
    let changes = workspace::changes(session.files.as_ref(), &rendered).map_err(Diagnostics::from)?;
    match format {
        DiffFormat::Unified => {
            let color =
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
            write!(out, "{}", diff::unified(&changes, color))?;
        }
        DiffFormat::Markdown => {
            let effects = session.effects(&step, &inventory, &changes);
            write!(out, "{}", diff::markdown(&effects, &changes, diff::COMMENT_LIMIT))?;
        }
        DiffFormat::Json => {
            let effects = session.effects(&step, &inventory, &changes);
            writeln!(out, "{}", serde_json::to_string_pretty(&diff::json(&effects, &changes))?)?;
        }
    }
    Ok(if exit_code && !changes.is_empty() { 1 } else { 0 })
}
