//! What a step does, as data: the phase change, the workloads that restart or move, what each kind says of its own
//! part (traffic shifted), ASM's gateways, removals.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use serde::Serialize;

use crate::core::change::FileChange;
use crate::core::desired::{ByCluster, Desired};
use crate::core::helm::ReleasesByCluster;
use crate::core::inventory::Inventory;
use crate::core::migration::Migration;
use crate::core::paths::is_within;
use crate::core::step_id::Phase;
use crate::core::steps::{PendingStep, PlannedGateway};
use crate::core::text::{and_more, listed};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepEffects {
    pub plan: String,
    pub step: String,
    /// 1-based position of the step in the plan, and the number of steps.
    pub index: usize,
    pub total: usize,
    pub phase_from: Option<&'static str>,
    pub phase_to: &'static str,
    /// Where PROXY_CONFIG_XDS_AGENT is set, when this step sets it: `HelmRelease istio-system/istiod (file)`.
    pub mesh_config: Option<String>,
    /// Workloads restarted by this step (pod template stamp), with how many pods that is.
    pub restarts: Vec<WorkloadEffect>,
    /// Workloads this step puts on the ASM proxy.
    pub to_asm_proxy: Vec<WorkloadEffect>,
    /// Workloads this step takes back off the ASM proxy (a rollback).
    pub off_asm_proxy: Vec<WorkloadEffect>,
    /// Flux HelmReleases whose every workload this step restarts, moves onto the ASM proxy, or takes back off it
    /// (through the releases' post renderers: their workloads are not in the repository).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub helm_restarts: Vec<ReleaseEffect>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub helm_to_asm_proxy: Vec<ReleaseEffect>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub helm_off_asm_proxy: Vec<ReleaseEffect>,
    /// What the step kinds say of their own parts (`StepKind::effects`), field by field, in the registry's order.
    #[serde(flatten)]
    pub kinds: serde_json::Map<String, serde_json::Value>,
    /// The same, in words.
    #[serde(skip)]
    pub kind_lines: Vec<String>,
    /// ASM gateways this step creates or removes, as `name (type)`.
    pub gateways_created: Vec<String>,
    pub gateways_removed: Vec<String>,
    /// Files of the repository (outside the tool's output) this step removes.
    pub removed_files: Vec<String>,
    /// What the operator must do by hand around this step.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEffect {
    pub cluster: Rc<str>,
    pub kind: &'static str,
    pub namespace: Rc<str>,
    pub name: Rc<str>,
    /// `None` for a DaemonSet: one pod per node.
    pub replicas: Option<u64>,
}

/// A Flux HelmRelease, in the cluster it runs in: `HelmRelease/<namespace>/<name>`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseEffect {
    pub cluster: String,
    pub release: String,
}

/// The workloads in `to` and not in `from`, with their replicas.
fn workloads(inventory: &Inventory, from: &ByCluster, to: &ByCluster) -> Vec<WorkloadEffect> {
    let (mut found, nothing) = (Vec::new(), BTreeSet::new());
    for (cluster, refs) in to {
        let shared_cluster: Rc<str> = cluster.as_str().into();
        let listed = inventory.clusters.get(cluster);
        for workload in refs.difference(from.get(cluster).unwrap_or(&nothing)) {
            let replicas = listed.and_then(|listed| listed.workload(workload)).and_then(|found| found.replicas);
            found.push(WorkloadEffect {
                cluster: Rc::clone(&shared_cluster),
                kind: workload.kind.name(),
                namespace: Rc::clone(&workload.namespace),
                name: Rc::clone(&workload.name),
                replicas,
            });
        }
    }
    found
}

/// The releases in `to` and not in `from`.
fn releases(from: &ReleasesByCluster, to: &ReleasesByCluster) -> Vec<ReleaseEffect> {
    let nothing = BTreeSet::new();
    to.iter()
        .flat_map(|(cluster, ids)| {
            let before = from.get(cluster).unwrap_or(&nothing);
            ids.difference(before).map(|release| ReleaseEffect { cluster: cluster.clone(), release: release.clone() })
        })
        .collect()
}

/// `<object> (<file>)` when the step changes the mesh config file.
fn mesh_config_effect(pending: &PendingStep<'_>, changes: &[FileChange]) -> Option<String> {
    let path = &pending.context.settings.istio.mesh_config_path.value;
    let changed = changes.iter().any(|change| &change.path == path && change.after.is_some());
    let edit = pending.context.mesh_config.as_ref().ok().filter(|_| changed)?;
    Some(format!("{} ({path})", edit.target))
}

/// `name (type)` of each gateway, once, when `changed`.
fn gateways(planned: &[PlannedGateway], changed: bool) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for gateway in planned.iter().filter(|_| changed) {
        let shown = match gateway.serves.is_empty() {
            true => format!("{} ({})", gateway.name, gateway.gateway_type),
            false => {
                format!("{} ({}, serving Gateway {})", gateway.name, gateway.gateway_type, gateway.serves.join(", "))
            }
        };
        if !names.contains(&shown) {
            names.push(shown);
        }
    }
    names
}

impl StepEffects {
    /// What taking the pending step from the current one does.
    pub fn of(migration: &Migration, pending: &PendingStep<'_>, changes: &[FileChange]) -> StepEffects {
        let plan = &migration.plan;
        let before = migration.current_step().map(|current| migration.desired_after(&pending.context, current));
        let empty = Desired::default();
        let (from, after) = (before.as_ref().unwrap_or(&empty), &pending.desired);
        let inventory = pending.context.inventory;
        // A new stamp restarts everything stamped; the same stamp restarts only workloads not stamped before.
        let same_stamp = from.restarted_at == after.restarted_at;
        let restarts = match same_stamp {
            true => workloads(inventory, &from.restarts, &after.restarts),
            false => workloads(inventory, &ByCluster::new(), &after.restarts),
        };
        let helm_restarts = match same_stamp {
            true => releases(&from.helm_restarts, &after.helm_restarts),
            false => releases(&ReleasesByCluster::new(), &after.helm_restarts),
        };
        let (index, total) = plan.position(&pending.step);
        let (mut kinds, mut kind_lines) = (serde_json::Map::new(), Vec::new());
        for kind in plan.kinds() {
            let part = kind.effects(from, after);
            kinds.extend(part.fields.into_iter().map(|(key, value)| (key.to_owned(), value)));
            kind_lines.extend(part.lines);
        }
        StepEffects {
            plan: plan.settings.name.clone(),
            step: pending.step.to_string(),
            index,
            total,
            phase_from: before.as_ref().and_then(|desired| desired.phase).map(Phase::name),
            phase_to: after.phase.unwrap_or(Phase::Init).name(),
            mesh_config: mesh_config_effect(pending, changes),
            restarts,
            to_asm_proxy: workloads(inventory, &from.asm_proxy, &after.asm_proxy),
            off_asm_proxy: workloads(inventory, &after.asm_proxy, &from.asm_proxy),
            helm_restarts,
            helm_to_asm_proxy: releases(&from.helm_asm_proxy, &after.helm_asm_proxy),
            helm_off_asm_proxy: releases(&after.helm_asm_proxy, &from.helm_asm_proxy),
            kinds,
            kind_lines,
            gateways_created: gateways(&pending.context.asm_gateways, !from.asm_gateways && after.asm_gateways),
            gateways_removed: gateways(&pending.context.asm_gateways, from.asm_gateways && !after.asm_gateways),
            removed_files: changes
                .iter()
                .filter(|change| change.after.is_none() && !is_within(&change.path, &plan.settings.output.value))
                .map(|change| change.path.clone())
                .collect(),
            notes: plan.kind_of(&pending.step).notes(pending),
        }
    }
    /// The effects in words, one line each, each list of names cut to `max_names`.
    pub fn lines(&self, max_names: usize) -> Vec<String> {
        let mut lines = Vec::new();
        match self.phase_from {
            Some(from) if from != self.phase_to => {
                lines.push(format!("ASMMigrateFromIstio desiredState: {from} -> {}", self.phase_to))
            }
            Some(_) => {}
            None => lines.push(format!("ASMMigrateFromIstio desiredState: {}", self.phase_to)),
        }
        if let Some(target) = &self.mesh_config {
            lines.push(format!("set PROXY_CONFIG_XDS_AGENT in {target}"));
        }
        let workload_effects = [
            (&self.restarts, "restart", "Istio-injected workload(s)", "to pick up PROXY_CONFIG_XDS_AGENT"),
            (&self.to_asm_proxy, "move", "workload(s)", "onto the ASM proxy"),
            (&self.off_asm_proxy, "move", "workload(s)", "back off the ASM proxy"),
        ];
        for (workloads, verb, noun, purpose) in workload_effects {
            if !workloads.is_empty() {
                let (count, pods, names) = (workloads.len(), pods(workloads), names(workloads, max_names));
                lines.push(format!("{verb} {count} {noun}, {pods}, {purpose}: {names}"));
            }
        }
        let release_effects = [
            (&self.helm_restarts, "restart", "to pick up PROXY_CONFIG_XDS_AGENT"),
            (&self.helm_to_asm_proxy, "move", "onto the ASM proxy"),
            (&self.helm_off_asm_proxy, "move", "back off the ASM proxy"),
        ];
        for (releases, verb, purpose) in release_effects {
            if !releases.is_empty() {
                let shown: Vec<String> =
                    releases.iter().map(|effect| format!("{}: {}", effect.cluster, effect.release)).collect();
                lines.push(format!(
                    "{verb} every workload of {} Helm release(s) {purpose}: {}",
                    releases.len(),
                    listed(&shown, max_names)
                ));
            }
        }
        lines.extend(self.kind_lines.iter().cloned());
        if !self.gateways_created.is_empty() {
            lines.push(format!(
                "create ASM's gateways {}: no traffic moves to them before they are rolled out and a later step shifts it",
                self.gateways_created.join(", ")
            ));
        }
        if !self.gateways_removed.is_empty() {
            lines.push(format!("remove ASM's gateways {}", self.gateways_removed.join(", ")));
        }
        if !self.removed_files.is_empty() {
            lines.push(format!(
                "remove {} file(s): {}",
                self.removed_files.len(),
                listed(&self.removed_files, max_names)
            ));
        }
        lines.extend(self.notes.iter().cloned());
        lines
    }
}

/// How many pods the workloads run: replicas, plus one per node for each DaemonSet.
fn pods(workloads: &[WorkloadEffect]) -> String {
    let replicas: u64 = workloads.iter().filter_map(|workload| workload.replicas).sum();
    match workloads.iter().filter(|workload| workload.replicas.is_none()).count() {
        0 => format!("{replicas} replica(s)"),
        daemon_sets => format!("{replicas} replica(s) and {daemon_sets} DaemonSet(s) on every node"),
    }
}

/// `cluster: namespace/name, ...` per cluster, at most `max` names in all.
fn names(workloads: &[WorkloadEffect], max: usize) -> String {
    let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for workload in workloads.iter().take(max) {
        by_cluster.entry(&workload.cluster).or_default().push(format!("{}/{}", workload.namespace, workload.name));
    }
    let text: Vec<String> =
        by_cluster.into_iter().map(|(cluster, names)| format!("{cluster}: {}", names.join(", "))).collect();
    // "hz: a, b; sh: c; and 3 more"
    let more = and_more(workloads.len(), max);
    match more.is_empty() {
        true => text.join("; "),
        false => format!("{};{more}", text.join("; ")),
    }
}
