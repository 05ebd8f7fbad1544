//! The waves `init` proposes: one small canary first, then one wave per namespace, then the rest.

use std::collections::BTreeSet;

use super::clusters::injected_releases;
use super::clusters::SourceFound;
use super::dns_label;
use crate::core::inventory::{ClusterInventory, Workload};
use crate::core::workload::WorkloadKind;

/// What a proposed wave moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaveSelects {
    /// `[Kind/]namespace/name` entries.
    Workloads(Vec<String>),
    Namespaces(Vec<String>),
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveFound {
    pub name: String,
    /// The clusters it moves workloads in; `None`: every cluster.
    pub clusters: Option<Vec<String>>,
    pub selects: WaveSelects,
    pub from: String,
}

fn movable(workload: &Workload) -> bool {
    workload.injected && &*workload.workload.namespace != "istio-system"
}

pub fn proposed(sources: &[(&SourceFound, &ClusterInventory)]) -> Vec<WaveFound> {
    let mut waves = Vec::new();
    let several_clusters = sources.len() > 1;
    let canary_namespace = match canary(sources) {
        Some((cluster, workload)) => {
            let reference = match workload.workload.kind {
                WorkloadKind::Deployment => format!("{}/{}", workload.workload.namespace, workload.workload.name),
                _ => workload.workload.to_string(),
            };
            let replicas = workload.replicas.map_or("one pod per node".to_owned(), |n| format!("{n} replica(s)"));
            waves.push(WaveFound {
                name: "canary".to_owned(),
                clusters: several_clusters.then(|| vec![cluster.to_owned()]),
                selects: WaveSelects::Workloads(vec![reference]),
                from: format!("the smallest Istio-injected workload of cluster {cluster} ({replicas})"),
            });
            workload.workload.namespace.to_string()
        }
        None => {
            // Only Helm releases: the first Flux release of the first cluster, by name, is the canary.
            let release = sources.iter().find_map(|(source, inventory)| {
                let release = inventory.helm_releases.iter().find(|release| release.injected && !release.istio_own)?;
                Some((source.name.as_str(), release))
            });
            let Some((cluster, release)) = release else { return waves };
            waves.push(WaveFound {
                name: "canary".to_owned(),
                clusters: several_clusters.then(|| vec![cluster.to_owned()]),
                selects: WaveSelects::Workloads(vec![release.id.clone()]),
                from: format!("a Helm release of cluster {cluster}: its workloads are not in the repository"),
            });
            String::new()
        }
    };
    let canary_namespace = canary_namespace.as_str();
    let releases: Vec<(&str, &str)> = sources.iter().flat_map(|(_, inventory)| injected_releases(inventory)).collect();
    let namespaces: BTreeSet<&str> = sources
        .iter()
        .flat_map(|(_, inventory)| inventory.workloads.iter().filter(|w| movable(w)))
        .map(|workload| &*workload.workload.namespace)
        .chain(releases.iter().map(|(_, namespace)| *namespace))
        .collect();
    for namespace in namespaces {
        let workloads = sources
            .iter()
            .flat_map(|(_, inventory)| inventory.workloads.iter())
            .filter(|w| movable(w) && &*w.workload.namespace == namespace)
            .count();
        let rendered: BTreeSet<&str> =
            releases.iter().filter(|(_, in_namespace)| *in_namespace == namespace).map(|(id, _)| *id).collect();
        let canary_release = waves.first().and_then(|canary| match &canary.selects {
            WaveSelects::Workloads(references) => references.first().map(String::as_str),
            _ => None,
        });
        let only_the_canary = (workloads == 1 && rendered.is_empty() && canary_namespace == namespace)
            || (workloads == 0 && rendered.len() == 1 && rendered.iter().next().copied() == canary_release);
        if only_the_canary {
            continue;
        }
        let label = dns_label(namespace);
        let name = if ["canary", "rest"].contains(&label.as_str()) { dns_label(&format!("ns-{label}")) } else { label };
        waves.push(WaveFound {
            name,
            clusters: None,
            selects: WaveSelects::Namespaces(vec![namespace.to_owned()]),
            from: match rendered.is_empty() {
                true => format!("{workloads} Istio-injected workload(s) in namespace {namespace}"),
                false => format!(
                    "{workloads} Istio-injected workload(s) and what {} render(s) in namespace {namespace}",
                    rendered.into_iter().collect::<Vec<_>>().join(", ")
                ),
            },
        });
    }
    waves.push(WaveFound {
        name: "rest".to_owned(),
        clusters: None,
        selects: WaveSelects::All,
        from: "whatever is Istio-injected and not moved yet when the step is taken".to_owned(),
    });
    waves
}

/// The canary: the Istio-injected Deployment (else workload) with the fewest replicas, in the first cluster that
/// has one.
fn canary<'i>(sources: &[(&'i SourceFound, &'i ClusterInventory)]) -> Option<(&'i str, &'i Workload)> {
    sources.iter().find_map(|(source, inventory)| {
        let movable: Vec<&Workload> = inventory.workloads.iter().filter(|w| movable(w)).collect();
        let deployments = movable.iter().copied().filter(|w| w.workload.kind == WorkloadKind::Deployment);
        let smallest = deployments
            .min_by_key(|w| w.replicas.unwrap_or(1))
            .or_else(|| movable.iter().copied().min_by_key(|w| w.replicas.unwrap_or(u64::MAX)))?;
        Some((source.name.as_str(), smallest))
    })
}
