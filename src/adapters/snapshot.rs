//! Observations read from a directory of `kubectl get -o yaml` dumps, for pipelines that cannot reach the clusters.
//!
//! The layout, one file per command (README "Gates from a snapshot" gives the commands):
//! `asm/asmmigratefromistio.yaml`, and for each cluster `clusters/<name>/{pods,deployments,statefulsets,daemonsets,istio-system}.yaml`,
//! plus, read when present, `clusters/<name>/<read>.yaml` for each list the plan's kinds read (`ClusterRead`:
//! `virtualservices.yaml` and `istio-system-services.yaml` today),
//! `asm/istio-objects.yaml` and `clusters/<name>/istio-objects.yaml` (the import `finished` checks), and, where the
//! plan names the object that applies them, `asm/synced-by.yaml` and `clusters/<name>/synced-by.yaml`.

use std::path::Path;

use serde_json::Value;

use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::observe::{
    items, AsmObservation, ClusterObservation, ClusterRead, IstioObjectObservation, Observation, PodObservation,
    RolloutObservation, SyncObservation,
};
use crate::core::settings::{Settings, SyncedBy};
use crate::core::workload::WorkloadKind;

pub const WORKLOAD_FILES: [(WorkloadKind, &str); 3] = [
    (WorkloadKind::Deployment, "deployments.yaml"),
    (WorkloadKind::StatefulSet, "statefulsets.yaml"),
    (WorkloadKind::DaemonSet, "daemonsets.yaml"),
];

fn read(dir: &Path, relative: &str) -> Result<Value, Diagnostic> {
    let path = dir.join(relative);
    let text = std::fs::read_to_string(&path).map_err(|error| {
        Diagnostic::in_file(&path, format!("cannot read the snapshot file: {error}"))
            .with_help("see README, \"Gates from a snapshot\", for the kubectl command that writes it")
    })?;
    crate::core::yaml::document(&text).map_err(|error| Diagnostic::from_yaml(&path, &text, &error))
}

/// The items of `relative`, each read by `from_object`, when the file exists (None when it does not).
fn optional_list<T>(
    dir: &Path,
    relative: &str,
    from_object: fn(&Value) -> T,
    problems: &mut Vec<Diagnostic>,
) -> Option<Vec<T>> {
    if !dir.join(relative).exists() {
        return None;
    }
    match read(dir, relative) {
        Ok(value) => Some(items(&value).into_iter().map(from_object).collect()),
        Err(problem) => {
            problems.push(problem);
            None
        }
    }
}

/// The objects of Istio's config API groups in `relative` (a dump of several kinds), when the file exists.
fn istio_objects(dir: &Path, relative: &str, problems: &mut Vec<Diagnostic>) -> Option<Vec<IstioObjectObservation>> {
    let listed = optional_list(dir, relative, IstioObjectObservation::from_object, problems)?;
    Some(listed.into_iter().flatten().collect())
}

/// Everything the gates need, from the snapshot directory `dir`.
pub fn read_snapshot(dir: &Path, plan: &Settings, reads: &[ClusterRead]) -> Result<Observation, Diagnostics> {
    let mut problems = Vec::new();
    let mut observation = Observation::default();
    match read(dir, "asm/asmmigratefromistio.yaml") {
        Ok(value) => observation.asm = items(&value).first().map(|object| AsmObservation::from_object(object)),
        Err(problem) => problems.push(problem),
    }
    let applier = |synced_by: &SyncedBy, file: &str, problems: &mut Vec<Diagnostic>| {
        let object = format!("{} {}/{}", plan.engine.applier_kind(), synced_by.namespace, synced_by.name);
        match read(dir, file) {
            Ok(value) => Some(SyncObservation::from_object(object, items(&value).first().copied())),
            Err(problem) => {
                problems.push(problem);
                None
            }
        }
    };
    if let Some(synced_by) = &plan.asm.synced_by {
        observation.synced.extend(applier(synced_by, "asm/synced-by.yaml", &mut problems));
    }
    // Added with the import's check: a snapshot without them still serves the other gates.
    observation.asm_istio_objects = istio_objects(dir, "asm/istio-objects.yaml", &mut problems);
    for cluster in &plan.clusters {
        let base = format!("clusters/{}", cluster.name);
        if let Some(synced_by) = &cluster.synced_by {
            observation.synced.extend(applier(synced_by, &format!("{base}/synced-by.yaml"), &mut problems));
        }
        let mut observed = ClusterObservation::default();
        match read(dir, &format!("{base}/pods.yaml")) {
            Ok(value) => observed.pods = items(&value).into_iter().map(PodObservation::from_object).collect(),
            Err(problem) => problems.push(problem),
        }
        for (kind, file) in WORKLOAD_FILES {
            match read(dir, &format!("{base}/{file}")) {
                Ok(value) => observed
                    .rollouts
                    .extend(items(&value).into_iter().map(|object| RolloutObservation::from_object(kind, object))),
                Err(problem) => problems.push(problem),
            }
        }
        match read(dir, &format!("{base}/istio-system.yaml")) {
            Ok(value) => {
                if let Some(labels) = value.pointer("/metadata/labels").and_then(Value::as_object) {
                    observed.istio_system_labels = labels
                        .iter()
                        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                        .collect();
                }
            }
            Err(problem) => problems.push(problem),
        }
        // What the kinds read besides: a snapshot without a read's file still serves the other gates.
        for read in reads {
            let file = format!("{base}/{}.yaml", read.name);
            if let Some(listed) = optional_list(dir, &file, Value::clone, &mut problems) {
                observed.lists.insert(read.name, listed);
            }
        }
        observed.istio_objects = istio_objects(dir, &format!("{base}/istio-objects.yaml"), &mut problems);
        observation.clusters.insert(cluster.name.clone(), observed);
    }
    if problems.is_empty() {
        Ok(observation)
    } else {
        Err(Diagnostics(problems))
    }
}
