//! `migrating`: the switch to Migrating, after which workloads, egress and ingress move to ASM; with several
//! networks, a confirmation that ASM's cross-cluster gateway and network names are in place.

use crate::core::desired::Desired;
use crate::core::gate::{confirmation, Gate};
use crate::core::observe::Observation;
use crate::core::settings::Settings;
use crate::core::step_id::{Phase, StepId};
use crate::core::steps::{KindInfo, PendingStep, StepContext, StepKind};

pub struct Migrating;

impl StepKind for Migrating {
    fn info(&self) -> KindInfo {
        KindInfo { name: "migrating", plural: "migrating", phase: Phase::Migrating, switches_phase: true }
    }

    fn add_to_desired(&self, _step: &StepId, _context: &StepContext<'_>, _desired: &mut Desired) {}

    fn gates(&self, pending: &PendingStep<'_>, _observation: &Observation) -> Vec<Gate> {
        let (step, state) = (&pending.step, pending.context.state);
        if !pending.context.settings.multi_network() {
            return Vec::new();
        }
        vec![confirmation(
            step,
            state,
            "ASM's cross-cluster gateway is deployed and each cluster has its Istio network name in ASM",
        )]
    }

    fn notes(&self, _step: &StepId, settings: &Settings) -> Vec<String> {
        if !settings.multi_network() {
            return Vec::new();
        }
        vec!["several networks: configure ASM's cross-cluster gateway and give each cluster its Istio network name \
              in ASM before any wave"
            .to_owned()]
    }
}
