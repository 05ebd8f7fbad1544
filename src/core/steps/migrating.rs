//! `migrating`: the switch to Migrating, after which workloads, egress and ingress move to ASM; with several
//! networks, a confirmation that ASM's cross-cluster gateway and network names are in place.

use crate::core::desired::Desired;
use crate::core::gate::{confirmation, Gate};
use crate::core::observe::Observation;
use crate::core::settings::{Checker, Settings};
use crate::core::step_id::{Phase, StepId};
use crate::core::steps::{KindInfo, PendingStep, PlannedGateway, ReadKind, StepContext, StepKind, gateways_rolled_out};

#[derive(Debug, Clone)]
pub struct Migrating;

impl ReadKind for Migrating {
    type Raw = ();

    fn read(_raw: (), _settings: &Settings, _check: &mut Checker<'_>) -> Migrating {
        Migrating
    }
}

impl StepKind for Migrating {
    fn info(&self) -> KindInfo {
        KindInfo { name: "migrating", plural: "migrating", phase: Phase::Migrating, switches_phase: true }
    }

    /// ASM's gateways are created now, before any traffic moves to them.
    fn add_to_desired(&self, _step: &StepId, _context: &StepContext<'_>, desired: &mut Desired) {
        desired.asm_gateways = true;
    }

    /// ASM's gateways rolled out; with several networks, a confirmation of what no API shows.
    fn gates(&self, pending: &PendingStep<'_>, observation: &Observation) -> Vec<Gate> {
        let (step, context) = (&pending.step, &pending.context);
        let mut gates = Vec::new();
        if !context.asm_gateways.is_empty() {
            let gateways: Vec<&PlannedGateway> = context.asm_gateways.iter().collect();
            gates.push(gateways_rolled_out("ASM gateways rolled out", &gateways, observation));
        }
        if context.settings.multi_network() {
            gates.push(confirmation(
                step,
                context.state,
                "ASM's cross-cluster gateway is deployed and each cluster has its Istio network name in ASM",
            ));
        }
        gates
    }

    fn notes(&self, pending: &PendingStep<'_>) -> Vec<String> {
        if !pending.context.settings.multi_network() {
            return Vec::new();
        }
        vec!["several networks: configure ASM's cross-cluster gateway and give each cluster its Istio network name \
              in ASM before any wave"
            .to_owned()]
    }
}

#[cfg(test)]
mod tests {
    use crate::core::gate::GateOutcome;
    use crate::core::observe::{ClusterObservation, Observation, RolloutObservation};
    use crate::core::workload::WorkloadKind;
    use crate::testkit::MemoryRepo;
    use serde_json::json;

    /// Each cluster of the shop at `migrating`, with `rollouts` of ASM's gateways observed there.
    fn gates_at_migrating(rollouts: &[&str]) -> Vec<(String, GateOutcome)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repos/shop");
        let migration = MemoryRepo::read_dir(&root).unwrap().at("migrating").unwrap().migration().unwrap();
        let complete = |name: &str| {
            let deployment = json!({"metadata": {"namespace": "istio-system", "name": name, "generation": 1},
                "spec": {"replicas": 1}, "status": {"observedGeneration": 1, "updatedReplicas": 1, "readyReplicas": 1}});
            RolloutObservation::from_object(WorkloadKind::Deployment, &deployment)
        };
        let observed = ClusterObservation {
            rollouts: rollouts.iter().map(|name| complete(name)).collect(),
            ..ClusterObservation::default()
        };
        let clusters = migration.plan.settings.clusters.iter();
        let observation = Observation {
            clusters: clusters.map(|cluster| (cluster.name.clone(), observed.clone())).collect(),
            ..Observation::default()
        };
        let (_, gates) = migration.gates(&observation).unwrap().expect("a current step");
        gates.into_iter().map(|gate| (gate.name.to_owned(), gate.outcome)).collect()
    }

    fn outcome_of(gates: &[(String, GateOutcome)], name: &str) -> GateOutcome {
        gates.iter().find(|(gate, _)| gate == name).map(|(_, outcome)| outcome.clone()).expect("the gate")
    }

    #[test]
    fn asms_gateways_must_be_rolled_out_where_they_run_and_several_networks_confirmed() {
        let none = gates_at_migrating(&[]);
        let GateOutcome::Unmet(reason) = outcome_of(&none, "ASM gateways rolled out") else {
            panic!("gateways nobody saw are not rolled out")
        };
        assert!(reason.contains("istio-system/istio-asm-egressgateway (not found)"), "{reason}");
        assert!(reason.contains("istio-system/istio-ingressgateway-asm (not found)"), "{reason}");
        let both = gates_at_migrating(&["istio-asm-egressgateway", "istio-ingressgateway-asm"]);
        assert_eq!(outcome_of(&both, "ASM gateways rolled out"), GateOutcome::Met);
        let GateOutcome::NeedsConfirmation(what) = outcome_of(&both, "confirmed") else {
            panic!("the shop's two networks need ASM's cross-cluster gateway, which no API shows")
        };
        assert!(what.contains("asm-migrate advance --confirm migrating"), "{what}");
    }
}
