//! `setup`: SetupIstioForMigrate, PROXY_CONFIG_XDS_AGENT in Istio's mesh config, and a restart of every Istio-injected workload.

use super::{Desired, Phase, StepContext};

pub fn add(context: &StepContext<'_>, desired: &mut Desired) {
    desired.phase = Some(Phase::SetupIstioForMigrate);
    desired.xds_agent = true;
    // The stamp is written once into state.yaml: re-rendering must not restart anything again.
    let stamp = context.state.restarted_at.as_deref().unwrap_or(context.fresh_stamp);
    desired.restarted_at = Some(stamp.to_owned());
    for (cluster, inventory) in &context.inventory.clusters {
        let injected =
            inventory.workloads.iter().filter(|workload| workload.injected).map(|workload| workload.key.clone());
        desired.restarts.entry(cluster.clone()).or_default().extend(injected);
    }
}
