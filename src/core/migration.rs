//! The migration as the repository holds it: the plan, the repository as loaded, its state and the restart stamp
//! a first `setup` would use. Everything a command computes (checks, the desired state, a rendered step, its
//! effects, the gates) is computed from this one value, without reading anything again.

use std::cell::OnceCell;
use std::path::Path;
use std::str::FromStr;

use crate::core::desired::Desired;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::gate::{asm_switched, Gate, GateOutcome};
use crate::core::inventory::Inventory;
use crate::core::mesh_config::{enable_xds_agent, MeshConfigEdit};
use crate::core::observe::Observation;
use crate::core::paths::join;
use crate::core::plan::Plan;
use crate::core::repository::Repository;
use crate::core::state::{State, StateChange};
use crate::core::step_id::{Phase, StepId, StepIdError};
use crate::core::steps::{PendingStep, StepContext};
use crate::core::text::listed;

/// Which step a command is about: `current`, `next`, or a step id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepSelector {
    Current,
    Next,
    Id(StepId),
}

impl FromStr for StepSelector {
    type Err = StepIdError;

    fn from_str(text: &str) -> Result<StepSelector, StepIdError> {
        match text {
            "current" => Ok(StepSelector::Current),
            "next" => Ok(StepSelector::Next),
            id => id.parse().map(StepSelector::Id),
        }
    }
}

/// Why a selected step cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("no step has been applied yet: use --step init (or --step next)")]
    NoneApplied,
    #[error("the migration is finished: there is no next step")]
    NoNext,
    #[error("unknown step `{id}`; the plan's steps are: {known}")]
    Unknown { id: StepId, known: String },
    #[error(
        "step `{step}` would move ASMMigrateFromIstio's desiredState back from {from} to {to}: ASM only moves forward \
         (waves, egress weights and ingress can go back, phases cannot)"
    )]
    Backwards { step: StepId, from: &'static str, to: &'static str },
    #[error(
        "step `{step}` ({to}) is more than one phase ahead of the repository, {from}: ASM switches one phase at \
         a time; take {between} first (or pass --force)"
    )]
    SkipsPhase { step: StepId, to: &'static str, from: String, between: String },
}

pub struct Migration {
    pub plan: Plan,
    pub repository: Repository,
    pub state: State,
    /// The restart stamp for a first `setup`.
    pub fresh_stamp: String,
    /// Istio's mesh config with PROXY_CONFIG_XDS_AGENT set, or why it cannot be.
    mesh_config: Result<MeshConfigEdit, Diagnostic>,
    /// The cluster sources with Istio's install paths, and without them (from `finished` on).
    installed: OnceCell<Result<Inventory, Diagnostics>>,
    uninstalled: OnceCell<Result<Inventory, Diagnostics>>,
}

impl Migration {
    /// The migration over a loaded repository: its `state.yaml` read and checked against the plan.
    pub fn new(plan: Plan, repository: Repository, fresh_stamp: String) -> Result<Migration, Diagnostics> {
        let state_path = plan.settings.state_path();
        let state = match repository.text(&state_path)? {
            Some(text) => State::parse(Path::new(&state_path), text, &plan.settings.name)?,
            None => State::new(&plan.settings.name),
        };
        if let Some(step) = state.step.as_ref().filter(|step| plan.step(step).is_none()) {
            return Err(Diagnostic::in_file(
                Path::new(&state_path),
                format!(
                    "the repository is at step `{step}`, which the plan no longer has: restore that step in the plan"
                ),
            )
            .into());
        }
        check_phase_in_repository(&plan, &repository, &state)?;
        let mesh_config = mesh_config_edit(&plan, &repository);
        Ok(Migration {
            plan,
            repository,
            state,
            fresh_stamp,
            mesh_config,
            installed: OnceCell::new(),
            uninstalled: OnceCell::new(),
        })
    }

    /// The object of the mesh config PROXY_CONFIG_XDS_AGENT goes into, in words, when it can be edited.
    pub fn mesh_config_target(&self) -> Option<&str> {
        self.mesh_config.as_ref().ok().map(|edit| edit.target.as_str())
    }

    /// The step the repository is at.
    pub fn current_step(&self) -> Option<&StepId> {
        self.state.step.as_ref()
    }

    pub fn resolve(&self, selector: &StepSelector) -> Result<StepId, StepError> {
        match selector {
            StepSelector::Current => self.current_step().cloned().ok_or(StepError::NoneApplied),
            StepSelector::Next => {
                let next = self.current_step().and_then(|step| self.plan.step_index(step)).map_or(0, |index| index + 1);
                self.plan.steps.get(next).cloned().ok_or(StepError::NoNext)
            }
            StepSelector::Id(id) => self.plan.step(id).cloned().ok_or_else(|| StepError::Unknown {
                id: id.clone(),
                known: self.plan.steps.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            }),
        }
    }

    /// The step selected, if ASM can go there from the current step: phases only move forward, and (unless
    /// `skip_phases`) one at a time.
    pub fn resolve_forward(&self, selector: &StepSelector, skip_phases: bool) -> Result<StepId, StepError> {
        let step = self.resolve(selector)?;
        let current = self.current_step();
        let from = current.map(|current| self.plan.phase_of(current));
        let to = self.plan.phase_of(&step);
        if let Some(from) = from.filter(|from| to < *from) {
            return Err(StepError::Backwards { step, from: from.name(), to: to.name() });
        }
        let phases_ahead = to as usize + 1 - from.map_or(0, |from| from as usize + 1);
        if phases_ahead > 1 && !skip_phases {
            let first = current.and_then(|current| self.plan.step_index(current)).map_or(0, |index| index + 1);
            let last = self.plan.step_index(&step).unwrap_or(first);
            let between: Vec<String> = self.plan.steps[first..last].iter().map(ToString::to_string).collect();
            let from = match current {
                Some(current) => format!("at {current} ({})", self.plan.phase_of(current).name()),
                None => "which has no step yet".to_owned(),
            };
            return Err(StepError::SkipsPhase { step, to: to.name(), from, between: listed(&between, 10) });
        }
        Ok(step)
    }

    /// Records what `advance` or `retry` changes besides the step (a confirmation, skipped gates, a retry).
    pub fn record(&mut self, change: &StateChange) {
        self.state = change.applied_to(&self.state);
    }

    /// Whether Istio's install paths are gone at `step`.
    pub fn uninstalls(&self, step: &StepId) -> bool {
        self.plan.kind_of(step).uninstalls_istio()
    }

    /// The repository as the step sees it: once Istio's install paths are gone (`finished`), they are not
    /// followed.
    pub fn inventory(&self, step: &StepId) -> Result<&Inventory, Diagnostics> {
        let uninstalled = self.uninstalls(step);
        let (cell, excluded) = match uninstalled {
            true => (&self.uninstalled, self.plan.settings.install_paths()),
            false => (&self.installed, Vec::new()),
        };
        cell.get_or_init(|| Inventory::build(&self.repository, &self.plan.settings, &excluded))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// What the step kinds compute from for `step`.
    pub fn context(&self, step: &StepId) -> Result<StepContext<'_>, Diagnostics> {
        let inventory = self.inventory(step)?;
        Ok(StepContext {
            settings: &self.plan.settings,
            repository: &self.repository,
            inventory,
            asm_gateways: self.plan.kinds().iter().flat_map(|kind| kind.asm_gateways(inventory)).collect(),
            uninstalled: self.uninstalls(step),
            state: &self.state,
            fresh_stamp: &self.fresh_stamp,
            mesh_config: &self.mesh_config,
        })
    }

    /// Every problem of the plan against the repository as `step` sees it.
    pub fn check(&self, step: &StepId) -> Result<(), Diagnostics> {
        let context = self.context(step)?;
        let mut problems: Vec<Diagnostic> = self.plan.kinds().iter().flat_map(|kind| kind.check(&context)).collect();
        problems.extend(self.gateway_name_problems(&context));
        problems.extend(self.cluster_id_problems(&context));
        problems.extend(self.unseen_problems(context.inventory));
        problems.extend(self.output_problems());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Diagnostics(problems))
        }
    }

    /// ASM's gateways need names of their own: not one of Istio's gateways, and an exclusive one (an ingress)
    /// shared with no other.
    fn gateway_name_problems(&self, context: &StepContext<'_>) -> Vec<Diagnostic> {
        let istio = context.inventory.istio_gateway_names();
        let planned = &context.asm_gateways;
        let mut problems = Vec::new();
        for (index, gateway) in planned.iter().enumerate() {
            let shared = planned.iter().enumerate().any(|(other, g)| other != index && g.name == gateway.name);
            let settings = &self.plan.settings;
            if gateway.exclusive && (istio.contains(&gateway.name) || shared) {
                problems.push(settings.error_at(
                    gateway.pos,
                    format!(
                        "{}: asmGateway `{}` is already the name of another gateway; ASM's {} gateway needs its own",
                        gateway.owner, gateway.name, gateway.gateway_type
                    ),
                ));
            } else if istio.contains(&gateway.name) {
                problems.push(settings.error_at(
                    gateway.pos,
                    format!("{}: asmGateway `{}` is the name of one of Istio's gateways", gateway.owner, gateway.name),
                ));
            }
        }
        problems
    }

    /// Every cluster an ASM gateway runs in has the ACK cluster ID ASM knows it by: the IstioGateway's
    /// `clusterIds` take nothing else.
    fn cluster_id_problems(&self, context: &StepContext<'_>) -> Vec<Diagnostic> {
        let settings = &self.plan.settings;
        let mut problems = Vec::new();
        for cluster in settings.clusters.iter().filter(|cluster| cluster.cluster_id.is_none()) {
            let gateways: Vec<String> = context
                .asm_gateways
                .iter()
                .filter(|gateway| gateway.clusters.contains(&cluster.name))
                .map(|gateway| format!("{} ({})", gateway.name, gateway.owner))
                .collect();
            if gateways.is_empty() {
                continue;
            }
            problems.push(
                settings
                    .error_at(
                        cluster.name_pos,
                        format!(
                            "cluster `{}` has no clusterId: ASM's gateway(s) {} run in it, and an IstioGateway's \
                             clusterIds take the ACK cluster ID ASM knows the cluster by",
                            cluster.name,
                            gateways.join(", ")
                        ),
                    )
                    .with_help(
                        "add `clusterId: c<32 hexadecimal digits>` to the cluster: the ASM console lists it on the \
                         instance's Cluster & Workload Management page, and `aliyun cs GET /api/v1/clusters` prints \
                         each cluster's cluster_id",
                    ),
            );
        }
        problems
    }

    /// The output is a directory the tool owns: no symbolic link on its path (it would write or remove files
    /// elsewhere), and, when it exists, its state.yaml (else what is there is someone else's).
    fn output_problems(&self) -> Vec<Diagnostic> {
        let settings = &self.plan.settings;
        let output = &settings.output;
        let mut path = String::new();
        for part in output.value.split('/') {
            path = join(&path, part);
            if let Some(target) = self.repository.symlink(&path) {
                let how = if path == output.value { "is".to_owned() } else { format!("goes through {path}, which is") };
                return vec![settings.error_at(
                    output.pos,
                    format!(
                        "output `{}` {how} a symbolic link (to {target}): asm-migrate writes only into a directory of its own",
                        output.value
                    ),
                )];
            }
        }
        let files: Vec<&String> = self.repository.files_under(&output.value).collect();
        let state = settings.state_path();
        if files.is_empty() || self.repository.is_file(&state) {
            return Vec::new();
        }
        vec![settings.error_at(
            output.pos,
            format!(
                "output `{}` holds files asm-migrate did not write ({}): give the tool a directory of its own",
                output.value,
                listed(&files.iter().map(|file| file.as_str()).collect::<Vec<_>>(), 10)
            ),
        )]
    }

    /// What asm-migrate cannot see in a cluster's source must be acknowledged in the plan (and an acknowledgment must
    /// name something it found); patches that decide injection are not followed; a cluster whose source shows no
    /// Istio-injected workload has nothing the plan can migrate.
    fn unseen_problems(&self, inventory: &Inventory) -> Vec<Diagnostic> {
        let settings = &self.plan.settings;
        let mut problems = Vec::new();
        for cluster in &settings.clusters {
            let Some(found) = inventory.clusters.get(&cluster.name) else { continue };
            problems.extend(found.findings.iter().cloned());
            let acknowledged = |id: &str| cluster.unseen.iter().any(|entry| entry.value == id);
            for unseen in found.delivery.unseen.iter().filter(|unseen| !acknowledged(&unseen.id)) {
                let problem = Diagnostic::in_file(
                    Path::new(&unseen.file),
                    format!(
                        "cluster `{}`: {}, whose workloads asm-migrate cannot see, so it neither restarts nor moves \
                         them: render them into the repository, or acknowledge it with `unseen: [{}]` on the cluster \
                         in the plan and restart and move them yourself",
                        cluster.name, unseen.what, unseen.id
                    ),
                );
                problems.push(match &unseen.help {
                    Some(help) => problem.with_help(help.clone()),
                    None => problem,
                });
            }
            // A release asm-migrate patches stays the operator's while the plan lists it (plans written before
            // asm-migrate patched releases keep their meaning); `validate` says the entry can go.
            let found_id = |id: &str| {
                found.delivery.unseen.iter().any(|u| u.id == id)
                    || found.helm_releases.iter().any(|r| r.id == id)
                    || found.helm_charts.iter().any(|charts| charts.charts.iter().any(|chart| chart == id))
            };
            for entry in cluster.unseen.iter().filter(|entry| !found_id(&entry.value)) {
                problems.push(settings.error_at(
                    entry.pos,
                    format!(
                        "cluster `{}`: unseen entry `{}` names nothing asm-migrate finds in its source",
                        cluster.name, entry.value
                    ),
                ));
            }
            let injected = found.workloads.iter().any(|workload| workload.injected)
                || found.helm_releases.iter().any(|release| release.patched())
                || found.helm_charts.iter().any(|charts| charts.patched());
            if cluster.unseen.is_empty() && !injected {
                problems.push(settings.error_at(
                    cluster.source.pos,
                    format!(
                        "cluster `{}`: asm-migrate sees no Istio-injected workload in {}: nothing for the plan to \
                         migrate there; if its workloads come from where it cannot see, acknowledge that with `unseen`",
                        cluster.name, cluster.source.value
                    ),
                ));
            }
        }
        problems
    }

    /// The desired state after `target`: every step up to and including it, in plan order.
    pub fn desired_after(&self, context: &StepContext<'_>, target: &StepId) -> Desired {
        let mut desired = Desired::default();
        for step in &self.plan.steps {
            let kind = self.plan.kind_of(step);
            desired.phase = Some(kind.phase());
            kind.add_to_desired(step, context, &mut desired);
            if step == target {
                break;
            }
        }
        desired
    }

    /// `step`, with the desired state after it.
    pub fn pending(&self, step: &StepId) -> Result<PendingStep<'_>, Diagnostics> {
        let context = self.context(step)?;
        let desired = self.desired_after(&context, step);
        Ok(PendingStep { step: step.clone(), context, desired })
    }

    /// The preconditions of `step` (the next one) over what was observed.
    pub fn preconditions(&self, step: &StepId, observation: &Observation) -> Result<Vec<Gate>, Diagnostics> {
        let pending = self.pending(step)?;
        Ok(self.plan.kind_of(step).preconditions(&pending, observation))
    }

    /// The names of the preconditions of `step`, which only `advance` can check.
    pub fn precondition_names(&self, step: &StepId) -> Result<Vec<&'static str>, Diagnostics> {
        // Which preconditions a step has does not depend on what it desires: the names are had without
        // computing that (for every workload of every cluster) a second time.
        let pending = PendingStep { step: step.clone(), context: self.context(step)?, desired: Desired::default() };
        let gates = self.plan.kind_of(step).preconditions(&pending, &Observation::default());
        Ok(gates.into_iter().map(|gate| gate.name).collect())
    }

    /// The gates of the current step over what was observed; `None` before the first step.
    pub fn gates(&self, observation: &Observation) -> Result<Option<(StepId, Vec<Gate>)>, Diagnostics> {
        let Some(step) = self.current_step() else { return Ok(None) };
        let pending = self.pending(step)?;
        let kind = self.plan.kind_of(step);
        let mut gates = Vec::new();
        if !observation.synced.is_empty() {
            gates.push(synced(step, observation));
        }
        gates.push(asm_switched(kind.phase(), &self.state, observation.asm.as_ref()));
        gates.extend(kind.gates(&pending, observation));
        Ok(Some((step.clone(), gates)))
    }
}

/// PROXY_CONFIG_XDS_AGENT set in the plan's mesh config file, as `setup` renders it and every step checks it.
/// The phase the repository already gives ASM (its rendered ASMMigrateFromIstio) wins over state.yaml: a state
/// that is missing or says another phase would have the next step render an earlier phase, and ASM move backwards.
fn check_phase_in_repository(plan: &Plan, repository: &Repository, state: &State) -> Result<(), Diagnostics> {
    let output = &plan.settings.output.value;
    let rendered_path = join(output, "asm/asmmigratefromistio.yaml");
    let Some(text) = repository.text(&rendered_path)? else { return Ok(()) };
    let documents = crate::core::yaml::documents(text)
        .map_err(|error| Diagnostic::from_yaml(Path::new(&rendered_path), text, &error))?;
    let desired = documents
        .iter()
        .filter(|document| document["kind"] == "ASMMigrateFromIstio")
        .find_map(|document| document.pointer("/spec/desiredState").and_then(serde_json::Value::as_str));
    let Some(rendered) = desired.and_then(|name| Phase::ALL.into_iter().find(|phase| phase.name() == name)) else {
        return Err(Diagnostic::in_file(
            Path::new(&rendered_path),
            "has no ASMMigrateFromIstio with a desiredState asm-migrate writes: restore the file as asm-migrate \
             last committed it",
        )
        .into());
    };
    let state_path = plan.settings.state_path();
    let restore = format!(
        "restore state.yaml as asm-migrate last committed it: find the commit with `git log -1 --format=%h \
         --grep=^Migration-Step: -- {state_path}`, run `git checkout <commit> -- {state_path}` and commit it"
    );
    let said = match (&state.step, repository.is_file(&state_path)) {
        (_, false) => format!(
            "{state_path} is missing, but {rendered_path} already has ASM at desiredState {}: without its state \
             the next step would render Init and move ASM backwards; {restore}",
            rendered.name()
        ),
        (Some(step), true) if plan.phase_of(step) == rendered => return Ok(()),
        (step, true) => format!(
            "state.yaml is at {}, but {rendered_path} has ASM at desiredState {}: the two were written together \
             and one of them was changed by hand, and ASM's phase never moves backwards; {restore}",
            step.as_ref()
                .map_or("no step (Init)".to_owned(), |step| format!("step `{step}` ({})", plan.phase_of(step).name())),
            rendered.name()
        ),
    };
    Err(Diagnostic::in_file(Path::new(&state_path), said).into())
}

fn mesh_config_edit(plan: &Plan, repository: &Repository) -> Result<MeshConfigEdit, Diagnostic> {
    let istio = &plan.settings.istio;
    let mesh = &istio.mesh_config_path;
    let text = repository
        .text(&mesh.value)?
        .ok_or_else(|| plan.settings.error_at(mesh.pos, format!("meshConfig.path `{}` does not exist", mesh.value)))?;
    enable_xds_agent(istio.mesh_config_kind, istio.mesh_config_release.as_deref(), text).map_err(|reason| {
        Diagnostic::in_file(Path::new(&mesh.value), format!("cannot set PROXY_CONFIG_XDS_AGENT here: {reason}"))
    })
}

/// Met when every GitOps object the plan names has applied the commit that rendered `step` (or a later one):
/// before that, what the clusters show is not the step yet.
fn synced(step: &StepId, observation: &Observation) -> Gate {
    let Some(commit) = &observation.step_commit else {
        return Gate::new(
            "synced",
            GateOutcome::Unmet(format!(
                "no commit carries `Migration-Step: {step}`, so what the engine applied cannot be told (commit each \
                 step with apply --commit)"
            )),
        );
    };
    let short = |sha: &str| sha.chars().take(12).collect::<String>();
    let behind: Vec<String> = observation
        .synced
        .iter()
        .filter_map(|synced| match (&synced.revision, synced.holds_step) {
            _ if !synced.found => Some(format!("{} (not found)", synced.object)),
            (None, _) => Some(format!("{} has applied no revision yet", synced.object)),
            (Some(_), Some(true)) => None,
            (Some(revision), Some(false)) => Some(format!("{} is at {}", synced.object, short(revision))),
            (Some(revision), None) => Some(format!(
                "{} is at {}, a commit this repository does not have (git fetch?)",
                synced.object,
                short(revision)
            )),
        })
        .collect();
    Gate::unless_found("synced", &behind, &format!("not synced yet with {} ({step})", short(commit)))
}
