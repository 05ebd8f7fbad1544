//! `wave/<name>`: the wave's workloads get the pod-template label that puts them on the ASM proxy.

use super::{Desired, StepContext, WorkloadKey};
use crate::plan::WaveSelection;

const ISTIO_SYSTEM: &str = "istio-system";

pub fn add(context: &StepContext<'_>, name: &str, desired: &mut Desired) {
    let Some(wave) = context.plan.waves.iter().find(|wave| wave.name == name) else { return };
    for cluster in &wave.clusters {
        let Some(inventory) = context.inventory.clusters.get(cluster) else { continue };
        let moved = desired.asm_proxy.entry(cluster.clone()).or_default();
        // Istio's own gateways in istio-system stay Istio's until `finished` removes them.
        let injected =
            inventory.workloads.iter().filter(|workload| workload.injected && workload.key.namespace != ISTIO_SYSTEM);
        let selected: Vec<WorkloadKey> = match &wave.selection {
            WaveSelection::Workloads(refs) => {
                let wanted: Vec<WorkloadKey> = refs.iter().map(|workload| WorkloadKey::from(&workload.value)).collect();
                injected
                    .filter(|workload| wanted.contains(&workload.key))
                    .map(|workload| workload.key.clone())
                    .collect()
            }
            WaveSelection::Namespaces(namespaces) => injected
                .filter(|workload| namespaces.iter().any(|namespace| namespace.value == workload.key.namespace))
                .map(|workload| workload.key.clone())
                .collect(),
            WaveSelection::All => injected.map(|workload| workload.key.clone()).collect(),
        };
        moved.extend(selected);
    }
}
