//! `setup`: SetupIstioForMigrate, PROXY_CONFIG_XDS_AGENT in Istio's mesh config, and a restart of every
//! Istio-injected workload; gated on every Istio proxy carrying the variable.

use std::collections::BTreeSet;

use minijinja::context;
use serde_json::{json, Value};

use crate::core::component::Rendering;
use crate::core::desired::{add_to, in_clusters, Desired};
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::gate::{in_releases, pods, Gate, GateOutcome};
use crate::core::inventory::ClusterInventory;
use crate::core::observe::Observation;
use crate::core::observe::PodObservation;
use crate::core::paths::is_within;
use crate::core::state::State;
use crate::core::settings::{Checker, Settings};
use crate::core::step_id::{Phase, StepId};
use crate::core::steps::{KindInfo, PendingStep, ReadKind, StepContext, StepKind, proxy_judge};
use crate::core::text::listed;
use crate::core::workload::{WorkloadKind, WorkloadRef};

#[derive(Debug, Clone)]
pub struct Setup;

impl ReadKind for Setup {
    type Raw = ();

    fn read(_raw: (), _settings: &Settings, _check: &mut Checker<'_>) -> Setup {
        Setup
    }
}

impl StepKind for Setup {
    fn info(&self) -> KindInfo {
        KindInfo { name: "setup", plural: "setup", phase: Phase::SetupIstioForMigrate, switches_phase: true }
    }

    /// The mesh config must be editable, from the first step on: `setup` will need it.
    fn check(&self, context: &StepContext<'_>) -> Vec<Diagnostic> {
        match context.mesh_config {
            Err(problem) if !context.uninstalled => vec![problem.clone()],
            _ => Vec::new(),
        }
    }

    fn add_to_desired(&self, _step: &StepId, context: &StepContext<'_>, desired: &mut Desired) {
        desired.xds_agent = true;
        // The stamp is written once into state.yaml: re-rendering must not restart anything again.
        let stamp = context.state.restarted_at.as_deref().unwrap_or(context.fresh_stamp);
        desired.restarted_at = Some(stamp.to_owned());
        for (cluster, inventory) in &context.inventory.clusters {
            let injected = inventory.workloads.iter().filter(|w| w.injected).map(|w| w.workload.clone());
            add_to(&mut desired.restarts, cluster, injected);
            let releases = inventory.helm_releases.iter().filter(|release| release.patched());
            let charts = inventory.helm_charts.iter().filter(|charts| charts.patched()).map(|charts| charts.id.clone());
            desired
                .helm_restarts
                .entry(cluster.clone())
                .or_default()
                .extend(releases.map(|r| r.id.clone()).chain(charts));
        }
    }

    fn render(&self, pending: &PendingStep<'_>, rendering: &mut Rendering<'_>) -> Result<(), Diagnostics> {
        let (context, desired) = (&pending.context, &pending.desired);
        let settings = context.settings;
        let mesh_path = &settings.istio.mesh_config_path.value;
        let mesh_removed = desired.finished && settings.install_paths().iter().any(|dir| is_within(mesh_path, dir));
        if desired.xds_agent && !mesh_removed {
            if let Some(edited) = context.mesh_config.clone()?.text {
                rendering.writes.insert(mesh_path.clone(), edited);
            }
        }
        let Some(stamp) = &desired.restarted_at else { return Ok(()) };
        for cluster in &settings.clusters {
            let (Some(inventory), Some(workloads)) =
                (context.inventory.clusters.get(&cluster.name), desired.restarts.get(&cluster.name))
            else {
                continue;
            };
            // Kinds whose every workload restarts take kustomize's annotation transformer; the rest take
            // replacements from a local-config ConfigMap.
            let split = inventory.split_by_kind(workloads);
            let transformer = ("cluster/restart-transformer.yaml.j2", "restart-transformer.yaml");
            rendering.whole_kinds_transformer(
                &cluster.name,
                &split,
                transformer,
                context! { restarted_at => stamp },
            )?;
            if !split.rest.is_empty() {
                let replacements_in =
                    cluster.include_as.targets_file("kustomization.yaml", "transformers/restart-replacement.yaml");
                let text = rendering
                    .template("cluster/restart-values.yaml.j2", context! { restarted_at => stamp, replacements_in })?;
                let component = rendering.component(&cluster.name);
                component.resource("restart-values.yaml", text);
                component.restart_targets = replacement_targets(&split.rest, inventory);
            }
        }
        Ok(())
    }

    /// The plan's restarted workloads carry the variable; pods it does not restart are named apart, for the
    /// operator to restart and confirm.
    fn gates(&self, pending: &PendingStep<'_>, observation: &Observation) -> Vec<Gate> {
        let judge = proxy_judge(&pending.context);
        let planned = in_clusters(&pending.desired.restarts, pending.context.inventory);
        let (inventory, releases) = (pending.context.inventory, &pending.desired.helm_restarts);
        let restarted = |cluster: &String, pod: &PodObservation| {
            let planned = planned.get(cluster);
            pod.workload.as_ref().is_some_and(|workload| planned.is_some_and(|set| set.contains(workload)))
                || in_releases(inventory, observation, releases, cluster, pod)
        };
        let (mut missing, mut outside) = (Vec::new(), Vec::new());
        for (cluster, pod) in pods(observation).filter(|(_, pod)| judge.on_istio(pod) && !pod.xds_agent) {
            let shown = format!("{cluster}: {}", pod.display());
            if restarted(cluster, pod) {
                missing.push(shown);
            } else {
                outside.push(shown);
            }
        }
        let mut gates = vec![
            Gate::unless_found(
                "proxies carry PROXY_CONFIG_XDS_AGENT",
                &missing,
                "Istio-injected pod(s) without PROXY_CONFIG_XDS_AGENT=true (not restarted yet?)",
            ),
            outside_the_plan(&pending.step, pending.context.state, &outside),
        ];
        if pending.desired.release_istio_system {
            gates.push(istio_system_injectable(observation));
        }
        gates
    }
}

/// Replacement targets for the restart stamp. A target selects workloads by kind (and namespace) and rejects by
/// name those that must not restart; kustomize then sets the annotation in place, without the merge that makes a
/// patch per workload cost about as much as building the workload. kustomize compares every target with every
/// resource and every match with every reject, so for each kind the cheaper of two shapes is chosen: one target
/// for the kind, or one per namespace.
fn replacement_targets(workloads: &BTreeSet<WorkloadRef>, inventory: &ClusterInventory) -> Vec<Value> {
    let resources = inventory.object_count.max(1);
    let mut targets = Vec::new();
    for kind in WorkloadKind::ALL {
        let of_kind: Vec<&WorkloadRef> = inventory.of_kind(kind).collect();
        let restarted: Vec<&&WorkloadRef> = of_kind.iter().filter(|w| workloads.contains(**w)).collect();
        if restarted.is_empty() {
            continue;
        }
        let rejected: Vec<&&WorkloadRef> = of_kind.iter().filter(|w| !workloads.contains(**w)).collect();
        let namespaces: BTreeSet<&str> = restarted.iter().map(|w| &*w.namespace).collect();
        let per_namespace: Vec<(&str, Vec<&str>, usize)> = namespaces
            .iter()
            .map(|namespace| {
                let reject: Vec<&str> =
                    rejected.iter().filter(|w| &*w.namespace == *namespace).map(|w| &*w.name).collect();
                let matched = of_kind.iter().filter(|w| &*w.namespace == *namespace).count();
                (*namespace, reject, matched)
            })
            .collect();
        let one_target_cost = resources + of_kind.len() * rejected.len();
        let per_namespace_cost: usize =
            per_namespace.iter().map(|(_, reject, matched)| resources + matched * reject.len()).sum();
        if one_target_cost < per_namespace_cost {
            let reject: Vec<Value> =
                rejected.iter().map(|w| json!({"namespace": w.namespace, "name": w.name})).collect();
            targets.push(json!({"kind": kind.name(), "reject": reject}));
        } else {
            for (namespace, reject, _) in per_namespace {
                let reject: Vec<Value> = reject.iter().map(|name| json!({"name": name})).collect();
                targets.push(json!({"kind": kind.name(), "namespace": namespace, "reject": reject}));
            }
        }
    }
    targets
}

/// Pods with Istio's proxy in workloads the plan does not restart (an operator's or a Helm chart's): the operator
/// restarts them, then confirms.
fn outside_the_plan(step: &StepId, state: &State, outside: &[String]) -> Gate {
    const NAME: &str = "proxies outside the plan";
    if outside.is_empty() || state.confirmed(step) {
        return Gate::new(NAME, GateOutcome::Met);
    }
    Gate::new(
        NAME,
        GateOutcome::NeedsConfirmation(format!(
            "{} pod(s) run Istio's proxy without PROXY_CONFIG_XDS_AGENT=true in workloads the plan does not restart: \
             {}; restart them yourself (for a Deployment: kubectl rollout restart), then confirm it with \
             `asm-migrate advance --confirm {step}`",
            outside.len(),
            listed(outside, 10)
        )),
    )
}

/// No istio-system still carries ASM's `istio-injection` label, so the east-west gateway is injected again (Argo CD
/// replaces the namespace at `init`; Flux takes the label over at `init` and drops it at `setup`).
fn istio_system_injectable(observation: &Observation) -> Gate {
    let labelled: Vec<String> = observation
        .clusters
        .iter()
        .filter_map(|(cluster, observed)| {
            let value = observed.istio_system_labels.get("istio-injection")?;
            Some(format!("{cluster} (istio-injection: {value})"))
        })
        .collect();
    Gate::unless_found_with("istio-system injectable", &labelled, |names| {
        format!("istio-system still carries istio-injection in {names}: has the GitOps engine synced the namespace?")
    })
}
