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
