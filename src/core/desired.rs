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
    /// Per egress name: the percentage sent to ASM's egress gateway.
    pub egress_weights: BTreeMap<String, u32>,
    /// Ingress names whose traffic moved to ASM's ingress gateway.
    pub ingress: BTreeSet<String>,
    /// Istio is uninstalled: its install paths are gone, and its egress gateway out of every route.
    pub finished: bool,
}
