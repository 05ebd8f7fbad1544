//! `init`: the ASMMigrateFromIstio resource at Init, and istio-system given back to Istio's injector for east-west gateways.

use crate::core::desired::Desired;
use crate::core::settings::{Checker, Settings};
use crate::core::step_id::{Phase, StepId};
use crate::core::steps::{KindInfo, ReadKind, StepContext, StepKind};

#[derive(Debug, Clone)]
pub struct Init;

impl ReadKind for Init {
    type Raw = ();

    fn read(_raw: (), _settings: &Settings, _check: &mut Checker<'_>) -> Init {
        Init
    }
}

impl StepKind for Init {
    fn info(&self) -> KindInfo {
        KindInfo { name: "init", plural: "init", phase: Phase::Init, switches_phase: true }
    }

    fn add_to_desired(&self, _step: &StepId, context: &StepContext<'_>, desired: &mut Desired) {
        // East-west gateway pods in istio-system must be re-injected through the webhook, which ASM's
        // `istio-injection: disable` label on the namespace would prevent.
        desired.release_istio_system = context.settings.clusters.iter().any(|cluster| cluster.east_west_gateway);
    }
}
