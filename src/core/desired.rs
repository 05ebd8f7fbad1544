//! What the migration looks like after a step: the sum of that step and every step before it.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::helm::ReleasesByCluster;
use crate::core::inventory::Inventory;
use crate::core::step_id::Phase;
use crate::core::workload::WorkloadRef;

/// Workloads per cluster name.
pub type ByCluster = BTreeMap<String, BTreeSet<WorkloadRef>>;

/// Adds `workloads` to `cluster`'s set. The set is built in bulk and merged in one pass rather than searched once
/// per workload: a fleet's sets hold every workload of every cluster.
pub fn add_to(set: &mut ByCluster, cluster: &str, workloads: impl Iterator<Item = WorkloadRef>) {
    let mut added: BTreeSet<WorkloadRef> = workloads.collect();
    set.entry(cluster.to_owned()).or_default().append(&mut added);
}

/// The workloads of `set` (as the plan and the component name them) as each cluster shows them, after its source's
/// own renaming: what the pods and rollouts the gates look at belong to.
pub fn in_clusters(set: &ByCluster, inventory: &Inventory) -> ByCluster {
    set.iter()
        .map(|(cluster, workloads)| {
            let shown = inventory.clusters.get(cluster).map(|found| found.as_in_cluster(workloads)).unwrap_or_default();
            (cluster.clone(), shown)
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct Desired {
    pub phase: Option<Phase>,
    /// ASM stops labelling istio-system, and the label it already set is removed (east-west gateways).
    pub release_istio_system: bool,
    /// `PROXY_CONFIG_XDS_AGENT: "true"` in Istio's mesh config.
    pub xds_agent: bool,
    /// The pod-template stamp that restarts Istio-injected workloads.
    pub restarted_at: Option<String>,
    /// Istio-injected workloads to restart.
    pub restarts: ByCluster,
    /// Workloads moved to the ASM proxy.
    pub asm_proxy: ByCluster,
    /// Helm releases whose workloads restart, and those moved to the ASM proxy (through their post renderers).
    pub helm_restarts: ReleasesByCluster,
    pub helm_asm_proxy: ReleasesByCluster,
    /// ASM's egress and ingress gateways exist (from `migrating` on), before any traffic moves to them.
    pub asm_gateways: bool,
    /// Per step kind and plan entry, the percentage of the entry's traffic sent to ASM's gateways (an egress
    /// route's weight; 100 for an ingress whose traffic moved): the kinds that shift traffic keep it here and say
    /// its changes as their effects.
    pub traffic: BTreeMap<(&'static str, String), u32>,
    /// Istio is uninstalled: its install paths are gone, and its egress gateway out of every route.
    pub finished: bool,
}

impl Desired {
    /// The entries of `kind` whose traffic moves, with the percentage sent to ASM.
    pub fn traffic_of(&self, kind: &'static str) -> impl Iterator<Item = (&str, u32)> + '_ {
        self.traffic
            .iter()
            .filter(move |((owner, _), _)| *owner == kind)
            .map(|((_, name), share)| (name.as_str(), *share))
    }

    /// The percentage of `kind`'s entry `name` sent to ASM, when the entry has moved any.
    pub fn traffic(&self, kind: &'static str, name: &str) -> Option<u32> {
        self.traffic.get(&(kind, name.to_owned())).copied()
    }
}
